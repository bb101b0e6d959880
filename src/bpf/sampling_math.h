/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sampling_math.h - the integer math of byte sampling (--sample-bytes R),
 * shared by the BPF program (sampling.bpf.h) and user space so that the unit
 * tests run the very code the kernel runs. Include abi.h first (MO_WEIGHT_*,
 * __u32/__u64). mo_sample_countdown exists where MO_SAMPLE_NEXT() is
 * defined: a fresh countdown, mo_sample_draw of a new random number.
 *
 * Poisson sampling of bytes, as heap profilers do it (jemalloc's
 * prof_sample, tcmalloc, Go's MemProfileRate): sample points fall on the
 * stream of bytes a thread allocates as a Poisson process of rate 1/R. Each
 * thread counts down the bytes to the next point, drawn from an exponential
 * distribution of mean R; the allocation that reaches it is sampled and a
 * new countdown is drawn (the process is memoryless, so the overshoot is
 * dropped). A block of s bytes is then sampled with probability
 * p(s) = 1 - exp(-s/R), and a sampled one stands for 1/p(s) blocks of its
 * size: the sum of those weights is an unbiased estimate, whatever the
 * sizes.
 *
 * No floating point in BPF: both functions interpolate linearly in tables
 * that user space computes with libm before load (src/lib/sampling.c).
 */
#ifndef MO_SAMPLING_MATH_H
#define MO_SAMPLING_MATH_H

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* largest mean: the longest countdown (22.2 means, below) fits the 32 bits
 * of the thread's state */
#define MO_SAMPLE_BYTES_MAX (1ULL << 27)

/* log2tab[i] = log2(1 + i / 64) * 2^26, i = 0..64 */
#define MO_LOG2_BITS 6
#define MO_LOG2_N (1u << MO_LOG2_BITS)
#define MO_LOG2_FRAC 26
/* ln 2 * 2^32, rounded (tests/unit/test_sampling.c checks it against libm) */
#define MO_LN2_Q32 2977044472ULL

/* gtab[i] = g(i / 64) * 2^31 with g(x) = x / (e^x - 1), i = 0..2048: x < 32 */
#define MO_GTAB_BITS 6
#define MO_GTAB_N (32u << MO_GTAB_BITS)
#define MO_GTAB_FRAC 31

/*
 * The next countdown: floor(-mean * ln(U)) + 1 bytes, U = (rnd + 1) / 2^32
 * uniform on (0, 1]. -ln(U) = ln 2 * (32 - log2(rnd + 1)); log2 of the
 * mantissa is interpolated between 65 points. Accuracy: the interpolation
 * of the concave log2(1 + f) is below it by at most h^2/8 * 1/ln 2 =
 * 4.4e-5 (h = 1/64), so a draw is at most 3.1e-5 * mean too long and the
 * mean of the draws is within 2e-5 of mean: far below the sampling error of
 * any estimate. The fixed point's truncations make a draw at most
 * 2 + mean * 2^-25 bytes too short. U has 32 bits: draws stop at 22.2 *
 * mean, which the exponential exceeds with probability 2^-32. The + 1 makes
 * "sampled when
 * the size reaches the countdown" happen exactly when the exponential draw
 * is below the size: probability 1 - exp(-s / mean) for an integer size.
 */
static __always_inline __u64 mo_sample_draw(const volatile __u32 *log2tab, __u32 rnd, __u64 mean)
{
	__u64 q = (__u64)rnd + 1, v = q, e = 0, i, frac = 0, sh = 0, t, l, m;

	/* e = floor(log2 q), q in [1, 2^32] */
	if (v >> 32) {
		e += 32;
		v >>= 32;
	}
	if (v >> 16) {
		e += 16;
		v >>= 16;
	}
	if (v >> 8) {
		e += 8;
		v >>= 8;
	}
	if (v >> 4) {
		e += 4;
		v >>= 4;
	}
	if (v >> 2) {
		e += 2;
		v >>= 2;
	}
	if (v >> 1)
		e += 1;
	/* the 6 bits after the leading one index the table; those below
	 * interpolate */
	if (e >= MO_LOG2_BITS) {
		sh = e - MO_LOG2_BITS;
		i = (q >> sh) & (MO_LOG2_N - 1);
		frac = q & ((1ULL << sh) - 1);
	} else {
		i = (q << (MO_LOG2_BITS - e)) & (MO_LOG2_N - 1);
	}
	t = log2tab[i] + (((__u64)(log2tab[i + 1] - log2tab[i]) * frac) >> sh);
	/* 32 - log2 q, then times ln 2: -ln U, both * 2^26 (< 2^31) */
	l = (32ULL << MO_LOG2_FRAC) - ((e << MO_LOG2_FRAC) + t);
	m = (l * MO_LN2_Q32) >> 32;
	/* mean * m / 2^26 in two parts: mean < 2^41, m < 2^31 */
	return (mean >> MO_LOG2_FRAC) * m +
	       (((mean & ((1ULL << MO_LOG2_FRAC) - 1)) * m) >> MO_LOG2_FRAC) + 1;
}

/*
 * The weight of a sampled block of size bytes (0 counts as 1): the blocks it
 * stands for, 1 / (1 - exp(-x)) with x = size / mean, times MO_WEIGHT_ONE.
 * Written 1 + g(x) / x: g is smooth from 1 at 0 to nearly 0 at 32, where
 * the weight is 1 within 2^-40. Accuracy: linear interpolation of the
 * convex g (|g''| <= 1/6) overestimates it by at most h^2/48 = 5.1e-6
 * (h = 1/64) and x is known to 2^-16 (|g'| <= 1/2, 7.6e-6): the weight
 * (x + g) / x is off by at most 1.3e-5 / x, which is 1.3e-5 of it as
 * x + g >= 1, plus the 2^-16 of the fixed point.
 */
static __always_inline __u64 mo_sample_weight(const volatile __u32 *gtab, __u64 size, __u64 mean)
{
	__u64 xk, i, frac, g, q;

	if (!size)
		size = 1;
	if (size >= mean << 5)
		return MO_WEIGHT_ONE;
	xk = (size << 16) / mean;	/* x * 2^16 < 2^21 */
	i = xk >> (16 - MO_GTAB_BITS);
	if (i >= MO_GTAB_N)
		return MO_WEIGHT_ONE;
	frac = xk & ((1ULL << (16 - MO_GTAB_BITS)) - 1);
	g = gtab[i] - (((__u64)(gtab[i] - gtab[i + 1]) * frac) >> (16 - MO_GTAB_BITS));
	/* g / x * 2^16 = q * g / 2^31 with q = mean * 2^16 / size < 2^57,
	 * in two parts to stay in 64 bits */
	q = (mean << 16) / size;
	return MO_WEIGHT_ONE + (((q >> 32) * g) << (32 - MO_GTAB_FRAC)) +
	       (((q & 0xffffffffULL) * g) >> MO_GTAB_FRAC);
}

/*
 * Count a call of size bytes (0 counts as 1) down from *left, a countdown
 * drawn by mo_sample_draw. True when the call reaches the sample point: it
 * is sampled, and the caller draws the next countdown into *left.
 */
static __always_inline bool mo_sample_hit(__u32 *left, __u64 size)
{
	__u64 s = size ? size : 1;

	if (s >= *left)
		return true;
	*left -= s;
	return false;
}

#ifdef MO_SAMPLE_NEXT
/*
 * A thread's countdown *left (0: not drawn yet) meets a call of size bytes:
 * true when the call is sampled. Countdowns are drawn only at a sample
 * point (and at the thread's first call), so an unsampled call costs a
 * compare and a subtraction.
 */
static __always_inline bool mo_sample_countdown(__u32 *left, __u64 size)
{
	if (!*left)
		*left = MO_SAMPLE_NEXT();
	if (!mo_sample_hit(left, size))
		return false;
	*left = MO_SAMPLE_NEXT();
	return true;
}
#endif

/* size * weight / MO_WEIGHT_ONE, rounded down, without a 128-bit product:
 * the bytes a record stands for (exact split: (a*2^16 + b)*w / 2^16). A
 * constant MO_WEIGHT_ONE folds to size: the mapping programs' frames, near
 * the verifier's 512 bytes with the walker's, get no extra spill. */
static __always_inline __u64 mo_sample_bytes(__u64 size, __u64 weight)
{
	if (weight == MO_WEIGHT_ONE)
		return size;
	return (size >> MO_WEIGHT_SHIFT) * weight +
	       (((size & (MO_WEIGHT_ONE - 1)) * weight) >> MO_WEIGHT_SHIFT);
}

#endif /* MO_SAMPLING_MATH_H */
