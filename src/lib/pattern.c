// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pattern.c - classify a stack's history of unfreed bytes (growing,
 * plateau, churn, fragmentation), predict time to OOM from a usage trend,
 * and find the memory limit that applies. The rules and their thresholds
 * are explained for users in docs/patterns.md; keep the two in step.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pattern.h"

#define MIN_SAMPLES 4		/* fewer cannot tell a trend from a step */
#define MIN_SPAN_TICKS 2	/* the history must cover two sampling intervals */
#define MIN_RISE_BYTES 4096	/* growth below one page is noise */
#define NOISE_SIGMAS 2.0	/* growth must also exceed this many residual sigmas */
#define MAX_RHO 0.9		/* autocorrelation beyond this is capped: n_eff >= n / 19 */
#define RECENT_FRACTION 0.4	/* the tail that must still rise, or be flat */
#define RECENT_MIN 3
#define RECENT_SLOPE_RATIO 0.25	/* tail slope vs whole-window slope: "still rising" */
#define PLATEAU_BAND 0.10	/* tail spread / tail max for "flat" */
#define COLLAPSE_RATIO 0.10	/* last <= this x peak: the memory was given back */
#define SMALL_BLOCK_BYTES 4096	/* average block below a page is "small" */
#define MANY_BLOCKS 64		/* and this many live blocks is "many" */
#define FULL_CONF_SAMPLES 12.0	/* samples needed for full confidence */
#define V1_UNLIMITED (1ULL << 62)	/* v1 reports "no limit" as ~2^63 rounded to pages */

/*
 * Least squares by Welford's co-moments: one pass, no catastrophic
 * cancellation when byte counts are large and the trend is small.
 */
struct lsq {
	double n, mx, my, sxx, syy, sxy;
};

static void lsq_add(struct lsq *a, double x, double y)
{
	double dx = x - a->mx, dy;

	a->n += 1;
	a->mx += dx / a->n;
	dy = y - a->my;
	a->my += dy / a->n;
	a->sxx += dx * (x - a->mx);
	a->syy += dy * (y - a->my);
	a->sxy += dx * (y - a->my);
}

static double lsq_slope(const struct lsq *a)
{
	return a->sxx > 0 ? a->sxy / a->sxx : 0;
}

static double lsq_at(const struct lsq *a, double x)
{
	return a->my + lsq_slope(a) * (x - a->mx);
}

static double lsq_ssres(const struct lsq *a)
{
	double r;

	if (a->sxx <= 0)
		return a->syy;
	r = a->syy - a->sxy * a->sxy / a->sxx;
	return r > 0 ? r : 0;
}

static double lsq_r2(const struct lsq *a)
{
	if (a->sxx <= 0 || a->syy <= 0)
		return 0;
	return a->sxy * a->sxy / (a->sxx * a->syy);
}

static double lsq_sigma(const struct lsq *a)
{
	return a->n > 2 ? sqrt(lsq_ssres(a) / (a->n - 2)) : 0;
}

/* Slope over its standard error; infinite for an exact line. */
static double lsq_t(const struct lsq *a)
{
	double b = lsq_slope(a), se;

	if (a->n < 3 || a->sxx <= 0)
		return 0;
	se = lsq_sigma(a) / sqrt(a->sxx);
	if (se == 0)
		return b > 0 ? INFINITY : b < 0 ? -INFINITY : 0;
	return b / se;
}

/*
 * One-sided Student t critical values: a rise this many standard errors
 * above zero happens by chance in 0.01 % ("growing") or 0.1 % (small-block
 * accumulation) of trendless histories with that many degrees of freedom.
 * The cut-off must depend on the number of samples: with four samples of
 * pure churn, t >= 3 happens by chance one time in twenty, and every
 * analysis tick is another draw.
 */
static const struct {
	unsigned df;
	double p0001, p001;
} t_table[] = {
	{ 1, 3183.1, 318.31 }, { 2, 70.70, 22.33 }, { 3, 22.20, 10.21 }, { 4, 13.03, 7.17 },
	{ 5, 9.68, 5.89 },     { 6, 8.02, 5.21 },   { 7, 7.06, 4.79 },   { 8, 6.44, 4.50 },
	{ 9, 6.01, 4.30 },     { 10, 5.69, 4.14 },  { 12, 5.26, 3.93 },  { 15, 4.88, 3.73 },
	{ 20, 4.54, 3.55 },    { 30, 4.23, 3.39 },  { 60, 3.96, 3.23 },
};

/* The critical value of the nearest tabulated df not above df: conservative. */
static double t_crit(double n, bool strict)
{
	unsigned df = n > 2 ? (unsigned)n - 2 : 0, k = 0;

	if (!df)
		return INFINITY;
	for (unsigned i = 0; i < sizeof(t_table) / sizeof(t_table[0]); i++)
		if (t_table[i].df <= df)
			k = i;
	return strict ? t_table[k].p0001 : t_table[k].p001;
}

void mo_history_add(struct mo_history *h, const struct mo_sample *s)
{
	if (!h || !s)
		return;
	h->s[h->head % MO_HISTORY_LEN] = *s;
	h->head = (h->head + 1) % MO_HISTORY_LEN;
	if (h->n < MO_HISTORY_LEN)
		h->n++;
}

/* i-th held sample, 0 = oldest */
static const struct mo_sample *at(const struct mo_history *h, unsigned i)
{
	return &h->s[(h->head + MO_HISTORY_LEN - h->n + i) % MO_HISTORY_LEN];
}

static double secs(uint64_t t_ns, uint64_t t0_ns)
{
	return (double)(int64_t)(t_ns - t0_ns) / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The sampling interval, robust to one late or doubled tick. */
static double median_interval(const struct mo_history *h)
{
	double d[MO_HISTORY_LEN];
	unsigned k = 0;

	for (unsigned i = 1; i < h->n; i++) {
		double v = secs(at(h, i)->t_ns, at(h, i - 1)->t_ns);

		if (v > 0)
			d[k++] = v;
	}
	if (!k)
		return 0;
	qsort(d, k, sizeof(d[0]), cmp_double);
	return d[k / 2];
}

/* Everything the rules look at, computed once. */
struct shape {
	unsigned n, tail;	/* samples, of which the last `tail` are "recent" */
	double span;		/* seconds covered */
	struct lsq all, recent;
	double peak, last, first;
	double tail_min, tail_max;
	unsigned flat_run;	/* trailing samples within the plateau band of the tail max */
	double rho;		/* lag-1 autocorrelation of the residuals, >= 0 */
	struct lsq steps;	/* rates between consecutive samples, bytes/s */
	bool fell;		/* unfreed bytes dropped between two samples */
	uint64_t frees, live;	/* frees during the window, live blocks at the end */
	uint64_t avg_block;
};

/*
 * Lag-1 autocorrelation of the residuals around the whole-window line,
 * clamped to [0, MAX_RHO]. Residuals of a detrended short series
 * understate it; the (2 + 8 rho) / n added back is an empirical
 * correction, calibrated on simulated drifting churn (docs/patterns.md).
 */
static double residual_rho(const struct mo_history *h, const struct lsq *fit)
{
	uint64_t t0 = at(h, 0)->t_ns;
	double prev = 0, num = 0, den = 0, r;

	for (unsigned i = 0; i < h->n; i++) {
		const struct mo_sample *s = at(h, i);
		double e = (double)s->unfreed_bytes - lsq_at(fit, secs(s->t_ns, t0));

		if (i)
			num += e * prev;
		den += e * e;
		prev = e;
	}
	/* an exact line has only rounding left in its residuals */
	if (den <= 1e-9 * fit->syy)
		return 0;
	r = fmax(num / den, 0);
	return fmin(r + (2 + 8 * r) / h->n, MAX_RHO);
}

static void measure(const struct mo_history *h, struct shape *sh)
{
	const struct mo_sample *s0 = at(h, 0), *sl = at(h, h->n - 1);
	unsigned tail = (unsigned)ceil(RECENT_FRACTION * h->n);

	memset(sh, 0, sizeof(*sh));
	sh->n = h->n;
	sh->tail = tail < RECENT_MIN ? RECENT_MIN : tail;
	if (sh->tail > h->n)
		sh->tail = h->n;
	sh->span = secs(sl->t_ns, s0->t_ns);
	sh->first = (double)s0->unfreed_bytes;
	sh->last = (double)sl->unfreed_bytes;
	sh->tail_min = INFINITY;
	for (unsigned i = 0; i < h->n; i++) {
		const struct mo_sample *s = at(h, i);
		double x = secs(s->t_ns, s0->t_ns), y = (double)s->unfreed_bytes;

		lsq_add(&sh->all, x, y);
		if (i >= h->n - sh->tail) {
			lsq_add(&sh->recent, x, y);
			if (y < sh->tail_min)
				sh->tail_min = y;
			if (y > sh->tail_max)
				sh->tail_max = y;
		}
		if (y > sh->peak)
			sh->peak = y;
		if (i) {
			const struct mo_sample *p = at(h, i - 1);
			double dt = secs(s->t_ns, p->t_ns);

			if (s->unfreed_bytes < p->unfreed_bytes)
				sh->fell = true;
			/* only the rates' mean and spread are used; x is a placeholder */
			if (dt > 0)
				lsq_add(&sh->steps, i, (y - (double)p->unfreed_bytes) / dt);
		}
	}
	for (unsigned i = h->n; i-- > 0;) {
		double y = (double)at(h, i)->unfreed_bytes;

		if (fabs(sh->tail_max - y) > PLATEAU_BAND * sh->tail_max)
			break;
		sh->flat_run++;
	}
	sh->rho = residual_rho(h, &sh->all);
	/* counters are cumulative; a reset (stack slot reused) counts as none */
	sh->frees = sl->frees_total > s0->frees_total ? sl->frees_total - s0->frees_total : 0;
	sh->live = sl->live_blocks;
	sh->avg_block = sl->live_blocks ? sl->unfreed_bytes / sl->live_blocks : 0;
}

/*
 * Is the rise significant? Two tests, either suffices:
 *
 * The level test: the whole-window slope over its standard error. Samples
 * that wander (a queue whose depth drifts up and down) are not independent:
 * each repeats much of the last, so the history holds fewer independent
 * observations than samples. The AR(1) correction shrinks the count to
 * n (1 - rho) / (1 + rho) and widens the error to match; without it,
 * churn whose depth drifts like a random walk read as growing in one
 * window out of six in simulation.
 *
 * The step test: the mean rate between consecutive samples over its
 * standard error. It catches growth that is steady in its steps but not
 * straight (slowing down, or in stairs), whose curved residuals the level
 * test would take for drift.
 */
static bool significant_rise(const struct shape *sh, bool strict)
{
	double k = (1 - sh->rho) / (1 + sh->rho), m = sh->steps.n, sd, t_steps;

	if (lsq_t(&sh->all) * sqrt(k) >= t_crit(sh->n * k, strict))
		return true;
	if (m < 3)
		return false;
	sd = sqrt(sh->steps.syy / (m - 1));
	t_steps = sd > 0 ? sh->steps.my / (sd / sqrt(m)) : sh->steps.my > 0 ? INFINITY : 0;
	return t_steps >= t_crit(m + 1, strict);
}

static double clamp01(double v)
{
	return v > 1 ? 1 : v > 0 ? v : 0;	/* NaN becomes 0 */
}

void mo_classify(const struct mo_history *h, struct mo_verdict *out)
{
	struct shape sh;
	double b, b_r, rise, samples, r2, flatness;
	bool collapsed, small, trend, recent_rising, tail_flat, rose, turnover;

	memset(out, 0, sizeof(*out));
	out->pattern = MO_PATTERN_UNKNOWN;
	if (!h || h->n < MIN_SAMPLES)
		return;
	measure(h, &sh);
	out->avg_block_bytes = sh.avg_block;
	b = lsq_slope(&sh.all);
	b_r = lsq_slope(&sh.recent);
	out->growth_bytes_per_s = b;
	if (sh.span <= 0 || sh.span < MIN_SPAN_TICKS * median_interval(h))
		return;

	rise = b * sh.span;
	r2 = lsq_r2(&sh.all);
	samples = clamp01(sh.n / FULL_CONF_SAMPLES);
	/* a burst given back: whatever it was, it is not held any more */
	collapsed = sh.peak >= MIN_RISE_BYTES && sh.last <= COLLAPSE_RATIO * sh.peak;
	small = sh.live >= MANY_BLOCKS && sh.avg_block < SMALL_BLOCK_BYTES;
	/* the tail must keep rising, else a cache that filled early looks like a leak */
	recent_rising = b > 0 && b_r > 0 && b_r >= RECENT_SLOPE_RATIO * b;
	trend = !collapsed && b > 0 && significant_rise(&sh, true) &&
		rise >= fmax(MIN_RISE_BYTES, NOISE_SIGMAS * lsq_sigma(&sh.all));

	if (trend && recent_rising) {
		out->pattern = small ? MO_PATTERN_FRAGMENTATION : MO_PATTERN_GROWING;
		out->confidence = clamp01(r2 * samples * clamp01(b_r / b));
		return;
	}
	/*
	 * Small blocks pile up in fits and starts: significance at 0.1 % and
	 * no noise floor beyond a page are enough.
	 */
	if (small && !collapsed && recent_rising && significant_rise(&sh, false) &&
	    rise >= MIN_RISE_BYTES) {
		out->pattern = MO_PATTERN_FRAGMENTATION;
		out->confidence = clamp01(r2 * samples * clamp01(b_r / b));
		return;
	}

	tail_flat = sh.tail_max > 0 && sh.tail_max - sh.tail_min <= PLATEAU_BAND * sh.tail_max;
	if (!collapsed && tail_flat) {
		/*
		 * Flat from the first sample with the whole set of blocks
		 * replaced meanwhile is steady-state churn (one buffer always
		 * in flight); flat after a rise, or flat and never freed, is
		 * a cache or a pool.
		 */
		rose = sh.first < (1 - PLATEAU_BAND) * sh.tail_max;
		turnover = sh.frees > 0 && sh.frees >= sh.live;
		flatness = 1 - (sh.tail_max - sh.tail_min) / (PLATEAU_BAND * sh.tail_max);

		out->pattern = rose || !turnover ? MO_PATTERN_PLATEAU : MO_PATTERN_CHURN;
		/* the fill is over: report how it moves now */
		out->growth_bytes_per_s = b_r;
		if (out->pattern == MO_PATTERN_PLATEAU)
			out->confidence = clamp01(samples * (0.5 * clamp01(flatness) +
							     0.5 * (double)sh.flat_run / sh.n));
		else
			out->confidence = clamp01(samples * clamp01(flatness));
		return;
	}
	if (collapsed || sh.frees > 0 || sh.fell) {
		out->pattern = MO_PATTERN_CHURN;
		out->growth_bytes_per_s = b_r;
		/* an upward drift that fell short of "growing" lowers the confidence */
		out->confidence = clamp01(samples * (collapsed || b <= 0 ? 1 : 1 - r2) *
					  (sh.frees > 0 || collapsed ? 1 : 0.5));
		return;
	}
	/* rising without release but not significantly, and not flat: wait and see */
}

bool mo_history_rss_backs(const struct mo_history *h)
{
	const struct mo_sample *last;

	if (!h || h->n < 2 || !(last = at(h, h->n - 1))->rss_bytes)
		return false;
	for (unsigned i = 0; i + 1 < h->n; i++) {
		const struct mo_sample *first = at(h, i);

		if (!first->rss_bytes)
			continue;
		return last->unfreed_bytes > first->unfreed_bytes &&
		       (double)last->rss_bytes - (double)first->rss_bytes >=
			       ((double)last->unfreed_bytes - (double)first->unfreed_bytes) / 2;
	}
	return false;
}

/*
 * Containers that double (hash tables, vectors, a garbage-collected heap)
 * grow in steps whose spacing doubles, flat in between: the window's
 * slope is not significant and its tail is flat most of the time, so the
 * rules above miss them. Stairs: STAIRS_RISES rises or more, a rise being
 * samples that each add STAIRS_RISE_FRAC of the level before them (one
 * step spread over consecutive samples is one rise); nothing given back
 * (no sample below STAIRS_KEEP of the highest before it); and the last
 * rise no longer ago than STAIRS_WAIT times the longest gap between two
 * rises, so the next step is still due. Two rises are enough when each
 * after the first at least halves again the level (STAIRS_DOUBLING_FRAC):
 * a container that doubles shows few steps in a window, each about +100 %.
 * A cache filled in such steps reads as stairs until that wait is over.
 * from_zero: the level was 0 before the first sample (a cumulative count
 * looked at from the first time it was large enough), so the first sample
 * is a rise.
 */
#define STAIRS_RISES 3
#define STAIRS_DOUBLING_RISES 2
#define STAIRS_DOUBLING_FRAC 0.50
#define STAIRS_RISE_FRAC 0.20
#define STAIRS_RISE_MIN_BYTES 65536.0
#define STAIRS_KEEP 0.90
#define STAIRS_WAIT 2.0

bool mo_stairs(const struct mo_history *h, bool from_zero, struct mo_verdict *out)
{
	uint64_t t0, t_last_rise = 0;
	double high = 0, max_gap = 0, span, base = 0, min_frac = INFINITY;
	unsigned rises = 0;
	bool in_rise = false;

	if (!h || h->n < MIN_SAMPLES)
		return false;
	t0 = at(h, 0)->t_ns;
	for (unsigned i = 0; i < h->n; i++) {
		const struct mo_sample *s = at(h, i);
		double y = (double)s->unfreed_bytes, prev;

		if (y < STAIRS_KEEP * high)
			return false;
		high = fmax(high, y);
		if (!i) {
			if (from_zero && y >= STAIRS_RISE_MIN_BYTES) {
				rises = 1;
				in_rise = true;
				t_last_rise = s->t_ns;
			}
			continue;
		}
		prev = (double)at(h, i - 1)->unfreed_bytes;
		if (y - prev < fmax(STAIRS_RISE_MIN_BYTES, STAIRS_RISE_FRAC * prev)) {
			if (in_rise && base > 0)	/* a step ended: how much it added */
				min_frac = fmin(min_frac, prev / base - 1);
			in_rise = false;
			continue;
		}
		if (in_rise) {	/* the same step: it ends later */
			t_last_rise = s->t_ns;
			continue;
		}
		if (rises)
			max_gap = fmax(max_gap, secs(s->t_ns, t_last_rise));
		rises++;
		in_rise = true;
		base = prev;
		t_last_rise = s->t_ns;
	}
	if (in_rise && base > 0)
		min_frac = fmin(min_frac, (double)at(h, h->n - 1)->unfreed_bytes / base - 1);
	span = secs(at(h, h->n - 1)->t_ns, t0);
	if (span <= 0 || secs(at(h, h->n - 1)->t_ns, t_last_rise) > STAIRS_WAIT * max_gap)
		return false;
	if (rises < STAIRS_RISES &&
	    (rises < STAIRS_DOUBLING_RISES || min_frac < STAIRS_DOUBLING_FRAC))
		return false;
	if (out) {
		memset(out, 0, sizeof(*out));
		out->pattern = MO_PATTERN_GROWING;
		out->growth_bytes_per_s =
			((double)at(h, h->n - 1)->unfreed_bytes - (double)at(h, 0)->unfreed_bytes) /
			span;
		/* each further step is more evidence; a history too short for
		 * full confidence stays below it */
		out->confidence = clamp01((double)rises / (STAIRS_RISES + 2)) *
				  clamp01(h->n / FULL_CONF_SAMPLES);
	}
	return true;
}

const char *mo_pattern_name(enum mo_pattern p)
{
	switch (p) {
	case MO_PATTERN_GROWING:
		return "growing";
	case MO_PATTERN_PLATEAU:
		return "plateau";
	case MO_PATTERN_CHURN:
		return "churn";
	case MO_PATTERN_FRAGMENTATION:
		return "fragmentation";
	case MO_PATTERN_UNKNOWN:
		break;
	}
	return "unknown";
}

double mo_predict_oom_seconds(const struct mo_usage_point *pts, size_t n, uint64_t limit_bytes)
{
	struct lsq a = { 0 };
	double b, now, est;

	if (!pts || n < 2 || !limit_bytes)
		return -1;
	for (size_t i = 0; i < n; i++)
		lsq_add(&a, secs(pts[i].t_ns, pts[0].t_ns), (double)pts[i].bytes);
	b = lsq_slope(&a);
	if (!(b > 0))
		return -1;
	/* the fitted value, not the last point: one spike must not move the alarm */
	now = secs(pts[n - 1].t_ns, pts[0].t_ns);
	est = lsq_at(&a, now);
	if (pts[n - 1].bytes >= limit_bytes || est >= (double)limit_bytes)
		return 0;
	return ((double)limit_bytes - est) / b;
}

static size_t line_len(const char *text, size_t len)
{
	const char *nl = memchr(text, '\n', len);

	return nl ? (size_t)(nl - text) : len;
}

/* Digits only (strtoull would take signs, blanks and wrap "-1"); -EINVAL
 * on none or on overflow. */
static int parse_u64(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || x > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -EINVAL;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*v = x;
	return 0;
}

int mo_parse_limit(const char *text, size_t len, uint64_t *v)
{
	uint64_t x;

	if (!text || !v)
		return -EINVAL;
	len = line_len(text, len);
	if (len == 3 && !memcmp(text, "max", 3)) {
		*v = UINT64_MAX;
		return 0;
	}
	if (parse_u64(text, len, &x))
		return -EINVAL;
	*v = x < V1_UNLIMITED ? x : UINT64_MAX;
	return 0;
}

/*
 * Read a limit file: 1 with *v set (UINT64_MAX for "max" or the v1
 * "unlimited" value), 0 for no such file, -errno for an unreadable or
 * malformed one.
 */
static int read_limit(const char *dir, const char *name, uint64_t *v)
{
	char path[PATH_MAX], buf[64];
	ssize_t len;
	int fd, err;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	len = read(fd, buf, sizeof(buf));
	err = -errno;
	close(fd);
	if (len < 0)
		return err;
	err = mo_parse_limit(buf, (size_t)len, v);
	return err ? err : 1;
}

static bool in_hierarchy(const char *dir)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= (int)sizeof(path))
		return false;
	return faccessat(AT_FDCWD, path, F_OK, AT_EACCESS) == 0;
}

/*
 * Every ancestor's limit applies, so take the smallest over the path up
 * to the root of the hierarchy. A level without the memory files (the
 * controller not enabled there) does not end the walk; leaving the
 * hierarchy (no cgroup.procs either) does.
 */
static int cgroup_limit(const char *cgroup_dir, uint64_t *bytes)
{
	static const char *const files[] = { "memory.max", "memory.limit_in_bytes" };
	char dir[PATH_MAX];
	uint64_t best = UINT64_MAX;
	size_t len = strlen(cgroup_dir);

	if (len >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, cgroup_dir, len + 1);
	for (;;) {
		char *slash;
		bool in_tree;

		while (len > 1 && dir[len - 1] == '/')
			dir[--len] = '\0';
		in_tree = false;
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			uint64_t v = UINT64_MAX;
			int r = read_limit(dir, files[i], &v);

			if (r < 0)
				return r;
			if (r > 0) {
				in_tree = true;
				if (v < best)
					best = v;
			}
		}
		if (!in_tree)
			in_tree = in_hierarchy(dir);
		if (!in_tree)
			break;
		slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			break;
		*slash = '\0';
		len = (size_t)(slash - dir);
	}
	if (best == UINT64_MAX)
		return 0;
	*bytes = best;
	return 1;
}

int mo_parse_meminfo_total(const char *text, size_t len, uint64_t *bytes)
{
	static const char key[] = "MemTotal:";
	const char *p = text, *end = text + len;

	if (!text || !bytes)
		return -EINVAL;
	while (p < end) {
		size_t n = line_len(p, (size_t)(end - p));
		const char *q = p + sizeof(key) - 1, *eol = p + n, *d;
		uint64_t kb;

		if (n >= sizeof(key) - 1 && !memcmp(p, key, sizeof(key) - 1)) {
			while (q < eol && (*q == ' ' || *q == '\t'))
				q++;
			for (d = q; d < eol && *d >= '0' && *d <= '9'; d++)
				;
			if (parse_u64(q, (size_t)(d - q), &kb) || kb > UINT64_MAX / 1024)
				return -EINVAL;
			*bytes = kb * 1024;
			return 0;
		}
		p = eol < end ? eol + 1 : end;
	}
	return -ENODATA;
}

/* /proc/meminfo is about 1.5 KiB; MemTotal is its first line. */
#define MEMINFO_MAX (64u * 1024)

static int meminfo_total(const char *path, uint64_t *bytes)
{
	size_t len = 0;
	char *buf;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(MEMINFO_MAX);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (len < MEMINFO_MAX) {
		ssize_t n = read(fd, buf + len, MEMINFO_MAX - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err = -errno;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (!err)
		err = mo_parse_meminfo_total(buf, len, bytes);
	free(buf);
	return err;
}

int mo_memory_limit(const char *cgroup_dir, const char *meminfo_path, uint64_t *bytes)
{
	if (!bytes)
		return -EINVAL;
	if (cgroup_dir && cgroup_dir[0]) {
		int r = cgroup_limit(cgroup_dir, bytes);

		if (r)
			return r < 0 ? r : 0;
	}
	return meminfo_total(meminfo_path ? meminfo_path : "/proc/meminfo", bytes);
}
