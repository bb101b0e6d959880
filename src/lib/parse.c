// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * parse.c - sizes, durations, counts and the key = value configuration file.
 * Everything here is strict: a value is either understood exactly or
 * rejected, so a typo in a threshold never silently becomes a default.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "parse.h"
#include "sampling.h"

#define SEC 1000000000ULL
#define DAY (86400 * SEC)

/* Larger than any sensible configuration; protects against being pointed
 * at a log file or a device by mistake. */
#define MAX_CONFIG_BYTES (1024 * 1024)

/* Longest value a configuration line may carry. The longest sensible value
 * (a 63-byte name) fits with room to spare. */
#define MAX_VALUE_LEN 256

/* How much of an offending key or value an error message quotes. */
#define MAX_QUOTED 48

/* A decimal number as written: digits, optionally '.' and more digits. */
struct decimal {
	const char *int_digits;
	size_t int_len;
	const char *frac_digits;
	size_t frac_len;
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Returns the first character after the number, or NULL when s does not
 * start with one. Both sides of a '.' need at least one digit. */
static const char *scan_decimal(const char *s, struct decimal *d)
{
	d->int_digits = s;
	while (is_digit(*s))
		s++;
	d->int_len = (size_t)(s - d->int_digits);
	d->frac_digits = s;
	d->frac_len = 0;
	if (d->int_len == 0)
		return NULL;
	if (*s != '.')
		return s;
	d->frac_digits = ++s;
	while (is_digit(*s))
		s++;
	d->frac_len = (size_t)(s - d->frac_digits);
	return d->frac_len ? s : NULL;
}

/*
 * *out = floor(d * mult), exactly, for any number of fraction digits.
 * The fraction is folded in from its last digit with integer division:
 * floor((mult * digit + x) / 10) == floor((mult * digit + floor(x)) / 10)
 * for real x >= 0, so no precision is lost. q stays below mult, so
 * mult * 9 + q cannot overflow while mult < UINT64_MAX / 10.
 */
static int scale_decimal(const struct decimal *d, uint64_t mult, uint64_t *out)
{
	uint64_t whole = 0, q = 0;

	for (size_t i = 0; i < d->int_len; i++) {
		unsigned digit = (unsigned)(d->int_digits[i] - '0');

		if (whole > (UINT64_MAX - digit) / 10)
			return -ERANGE;
		whole = whole * 10 + digit;
	}
	if (whole > UINT64_MAX / mult)
		return -ERANGE;
	whole *= mult;
	for (size_t i = d->frac_len; i > 0; i--)
		q = (mult * (uint64_t)(d->frac_digits[i - 1] - '0') + q) / 10;
	if (whole > UINT64_MAX - q)
		return -ERANGE;
	*out = whole + q;
	return 0;
}

/* Binary multiplier of a unit letter, 0 when c is not one. */
static uint64_t size_unit(char c)
{
	switch (c) {
	case 'k': case 'K':
		return 1ULL << 10;
	case 'm': case 'M':
		return 1ULL << 20;
	case 'g': case 'G':
		return 1ULL << 30;
	case 't': case 'T':
		return 1ULL << 40;
	}
	return 0;
}

int mo_parse_size(const char *s, uint64_t *bytes)
{
	const char *rest;
	struct decimal d;
	uint64_t mult;
	uint64_t v;
	int ret;

	if (!s || !bytes)
		return -EINVAL;
	rest = scan_decimal(s, &d);
	if (!rest)
		return -EINVAL;
	mult = size_unit(*rest);
	if (mult) {
		rest++;
		if (*rest && strcasecmp(rest, "b") != 0 && strcasecmp(rest, "ib") != 0)
			return -EINVAL;
	} else if (*rest && strcasecmp(rest, "b") != 0) {
		return -EINVAL;
	} else {
		mult = 1;
	}
	ret = scale_decimal(&d, mult, &v);
	if (ret)
		return ret;
	*bytes = v;
	return 0;
}

static const struct {
	const char *suffix;
	uint64_t ns;
} duration_units[] = {
	{ "", SEC },	/* a bare number is seconds */
	{ "ns", 1 },
	{ "us", 1000 },
	{ "ms", 1000000 },
	{ "s", SEC },
	{ "m", 60 * SEC },
	{ "h", 3600 * SEC },
	{ "d", DAY },
};

int mo_parse_duration(const char *s, uint64_t *ns)
{
	struct decimal d;
	const char *rest;
	uint64_t v;
	int ret;

	if (!s || !ns)
		return -EINVAL;
	rest = scan_decimal(s, &d);
	if (!rest)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
		if (strcmp(rest, duration_units[i].suffix) != 0)
			continue;
		ret = scale_decimal(&d, duration_units[i].ns, &v);
		if (ret)
			return ret;
		*ns = v;
		return 0;
	}
	return -EINVAL;
}

int mo_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	struct decimal d;
	const char *rest;
	uint64_t v;
	int ret;

	if (!s || !out)
		return -EINVAL;
	rest = scan_decimal(s, &d);
	if (!rest || *rest || d.frac_len)
		return -EINVAL;
	ret = scale_decimal(&d, 1, &v);
	if (ret)
		return ret;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int mo_parse_percent(const char *s, uint64_t *bp)
{
	struct decimal d;
	const char *rest;
	uint64_t v;
	int ret;

	if (!s || !bp)
		return -EINVAL;
	rest = scan_decimal(s, &d);
	if (!rest || (*rest && strcmp(rest, "%")))
		return -EINVAL;
	ret = scale_decimal(&d, 100, &v);
	if (ret)
		return ret;
	if (v > 10000)
		return -ERANGE;
	*bp = v;
	return 0;
}

enum setting_kind {
	SET_NAME,
	SET_MODE,
	SET_TIER,
	SET_BOOL,
	SET_U32,
	SET_SIZE,
	SET_DURATION,
	SET_PERCENT,	/* uint32_t field, basis points */
	SET_POW2_SIZE,	/* uint32_t field, a size that is a power of two */
	SET_DIR,	/* char[256] field: a directory path, or "off" for "" */
	SET_SCAN,	/* enum mo_scan_mode */
};

/*
 * Every key, its field and its accepted range. The ranges mirror the checks
 * in mo_config_resolve (config.c), so a file that parses always resolves;
 * the unit tests pin each bound against mo_config_resolve. 0 for a
 * threshold means "take it from the mode" and is accepted.
 */
static const struct setting {
	const char *key;
	enum setting_kind kind;
	size_t offset;
	uint64_t min;
	uint64_t max;
} settings[] = {
	{ "name", SET_NAME, offsetof(struct mo_config, name), 0, 0 },
	{ "buffer_size", SET_U32, offsetof(struct mo_config, buffer_size), 1, 10000000 },
	{ "min_allocation_size", SET_SIZE, offsetof(struct mo_config, min_allocation_size),
	  0, 1ULL << 46 },
	{ "min_unfreed_age", SET_DURATION, offsetof(struct mo_config, min_unfreed_age_ns),
	  0, 30 * DAY },
	{ "rss_growth_threshold", SET_SIZE, offsetof(struct mo_config, rss_growth_threshold),
	  0, UINT64_MAX },
	{ "mode", SET_MODE, offsetof(struct mo_config, mode), 0, 0 },
	{ "enable_ebpf", SET_BOOL, offsetof(struct mo_config, enable_ebpf), 0, 0 },
	{ "stack_dedup_window", SET_DURATION,
	  offsetof(struct mo_config, stack_dedup_window_ns), 0, DAY },
	{ "sampling_rate", SET_U32, offsetof(struct mo_config, sampling_rate), 1, 1000000 },
	{ "sample_bytes", SET_SIZE, offsetof(struct mo_config, sample_bytes), 0,
	  MO_SAMPLE_BYTES_MAX },
	{ "max_allocations", SET_U32, offsetof(struct mo_config, max_allocations),
	  1024, 100000000 },
	{ "max_stacks", SET_U32, offsetof(struct mo_config, max_stacks), 64, 10000000 },
	{ "max_stack_depth", SET_U32, offsetof(struct mo_config, max_stack_depth), 1, 32 },
	{ "report_interval", SET_DURATION, offsetof(struct mo_config, report_interval_ns),
	  SEC / 100, DAY },
	{ "unwind_rows", SET_U32, offsetof(struct mo_config, unwind_rows), 1024, 50000000 },
	{ "large_allocation_threshold", SET_SIZE,
	  offsetof(struct mo_config, large_allocation_threshold), 0, UINT64_MAX },
	{ "max_overhead", SET_PERCENT, offsetof(struct mo_config, max_overhead_bp), 0, 10000 },
	{ "ring_buffer_size", SET_POW2_SIZE, offsetof(struct mo_config, ring_buffer_size), 4096,
	  1u << 30 },
	{ "session_uprobes", SET_BOOL, offsetof(struct mo_config, session_uprobes), 0, 0 },
	{ "rss_stat", SET_BOOL, offsetof(struct mo_config, rss_stat), 0, 0 },
	{ "tier", SET_TIER, offsetof(struct mo_config, tier), 0, 0 },
	{ "escalate", SET_BOOL, offsetof(struct mo_config, escalate), 0, 0 },
	{ "escalate_window", SET_DURATION, offsetof(struct mo_config, escalate_window_ns), SEC, DAY },
	{ "max_escalations", SET_U32, offsetof(struct mo_config, max_escalations), 0, 64 },
	{ "privsep", SET_BOOL, offsetof(struct mo_config, privsep), 0, 0 },
	{ "k8s_log_dir", SET_DIR, offsetof(struct mo_config, k8s_log_dir), 0, 0 },
	{ "scan", SET_BOOL, offsetof(struct mo_config, scan), 0, 0 },
	{ "scan_mode", SET_SCAN, offsetof(struct mo_config, scan_mode), 0, 0 },
	{ "scan_max_pause", SET_DURATION, offsetof(struct mo_config, scan_max_pause_ns),
	  SEC / 1000, 60 * SEC },
};

static int parse_bool(const char *s, bool *out)
{
	if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1")) {
		*out = true;
		return 0;
	}
	if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcmp(s, "0")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

/* The name ends up in events, metrics labels and log lines: keep it to one
 * printable line that fits the field with its terminator. */
static int set_name(char *field, size_t size, const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len >= size)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return -EINVAL;
	}
	memcpy(field, s, len + 1);
	return 0;
}

static int apply(struct mo_config *cfg, const struct setting *set, const char *value)
{
	char *field = (char *)cfg + set->offset;
	enum mo_mode mode;
	enum mo_tier tier;
	enum mo_scan_mode scan;
	uint64_t v;
	bool b;
	int ret;

	switch (set->kind) {
	case SET_NAME:
		return set_name(field, sizeof(cfg->name), value);
	case SET_DIR:
		if (!strcmp(value, "off")) {
			field[0] = '\0';
			return 0;
		}
		return set_name(field, sizeof(cfg->k8s_log_dir), value);
	case SET_MODE:
		if (mo_mode_parse(value, &mode))
			return -EINVAL;
		cfg->mode = mode;
		return 0;
	case SET_TIER:
		if (mo_tier_parse(value, &tier))
			return -EINVAL;
		cfg->tier = tier;
		return 0;
	case SET_SCAN:
		if (mo_scan_mode_parse(value, &scan))
			return -EINVAL;
		cfg->scan_mode = scan;
		return 0;
	case SET_BOOL:
		if (parse_bool(value, &b))
			return -EINVAL;
		*(bool *)field = b;
		return 0;
	case SET_U32:
		if (mo_parse_uint(value, set->min, set->max, &v))
			return -EINVAL;
		*(uint32_t *)field = (uint32_t)v;
		return 0;
	case SET_PERCENT:
		if (mo_parse_percent(value, &v) || v < set->min || v > set->max)
			return -EINVAL;
		*(uint32_t *)field = (uint32_t)v;
		return 0;
	case SET_SIZE:
		ret = mo_parse_size(value, &v);
		break;
	case SET_POW2_SIZE:
		if (mo_parse_size(value, &v) || v < set->min || v > set->max || (v & (v - 1)))
			return -EINVAL;
		*(uint32_t *)field = (uint32_t)v;
		return 0;
	case SET_DURATION:
		ret = mo_parse_duration(value, &v);
		break;
	default:
		return -EINVAL;
	}
	if (ret || v < set->min || v > set->max)
		return -EINVAL;
	*(uint64_t *)field = v;
	return 0;
}

/* The setting named by the n bytes at key, or NULL. */
static const struct setting *find_setting(const char *key, size_t n)
{
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		if (strlen(settings[i].key) == n && memcmp(key, settings[i].key, n) == 0)
			return &settings[i];
	}
	return NULL;
}

int mo_config_set(struct mo_config *cfg, const char *key, const char *value)
{
	const struct setting *set;

	if (!cfg || !key || !value)
		return -EINVAL;
	set = find_setting(key, strlen(key));
	if (!set)
		return -ENOENT;
	return apply(cfg, set, value);
}

/*
 * Copy n bytes of s into dst for an error message: printable ASCII as is,
 * anything else as \xNN so a hostile file cannot put escape sequences on
 * the user's terminal, and long text cut short with "...".
 */
static void quote_span(char *dst, size_t size, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t need = (c >= 0x20 && c < 0x7f) ? 1 : 4;

		/* Keep room for "..." and the terminator. */
		if (o + need + 4 > size || i >= MAX_QUOTED) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (need == 1) {
			dst[o++] = (char)c;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 0xf];
		}
	}
	dst[o] = '\0';
}

__attribute__((format(printf, 5, 6)))
static int fail(char *err, size_t errlen, int ret, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || errlen == 0)
		return ret;
	n = snprintf(err, errlen, "line %u: ", line);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return ret;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static const char *skip_blanks(const char *s, const char *end)
{
	while (s < end && is_blank(*s))
		s++;
	return s;
}

/* One line of n bytes at s, without its '\n'. */
static int parse_line(struct mo_config *cfg, const char *s, size_t n,
		      unsigned line, char *err, size_t errlen)
{
	char value[MAX_VALUE_LEN];
	char quoted[4 * MAX_QUOTED + 8];
	const struct setting *set;
	const char *k, *v, *vend, *end;
	size_t klen, vlen;
	int ret;

	if (n && s[n - 1] == '\r')
		n--;
	if (memchr(s, '\0', n))
		return fail(err, errlen, -EINVAL, line, "NUL byte in text");
	end = s + n;
	s = skip_blanks(s, end);
	if (s == end || *s == '#')
		return 0;

	k = s;
	while (s < end && !is_blank(*s) && *s != '=')
		s++;
	klen = (size_t)(s - k);
	s = skip_blanks(s, end);
	if (s == end || *s != '=') {
		quote_span(quoted, sizeof(quoted), k, (size_t)(end - k));
		return fail(err, errlen, -EINVAL, line, "expected 'key = value', got '%s'",
			    quoted);
	}
	if (klen == 0)
		return fail(err, errlen, -EINVAL, line, "missing key before '='");
	s = skip_blanks(s + 1, end);

	if (s < end && *s == '"') {
		/* No escapes: a quoted value runs to the next double quote. */
		v = s + 1;
		vend = memchr(v, '"', (size_t)(end - v));
		if (!vend)
			return fail(err, errlen, -EINVAL, line, "missing closing '\"'");
		s = skip_blanks(vend + 1, end);
		if (s < end && *s != '#')
			return fail(err, errlen, -EINVAL, line,
				    "unexpected text after closing '\"'");
	} else {
		/* '#' starts a comment only after a blank, so "a#b" stays a
		 * value. v > the '=' here, so vend[-1] is always readable. */
		v = s;
		for (vend = v; vend < end; vend++) {
			if (*vend == '#' && is_blank(vend[-1]))
				break;
		}
		while (vend > v && is_blank(vend[-1]))
			vend--;
	}
	vlen = (size_t)(vend - v);

	set = find_setting(k, klen);
	if (!set) {
		quote_span(quoted, sizeof(quoted), k, klen);
		return fail(err, errlen, -ENOENT, line, "unknown key '%s'", quoted);
	}
	if (vlen >= sizeof(value))
		return fail(err, errlen, -EINVAL, line, "value too long for %s", set->key);
	memcpy(value, v, vlen);
	value[vlen] = '\0';
	ret = apply(cfg, set, value);
	if (ret) {
		quote_span(quoted, sizeof(quoted), v, vlen);
		return fail(err, errlen, ret, line, "invalid value '%s' for %s", quoted,
			    set->key);
	}
	return 0;
}

/* All or nothing: cfg is only updated when every line is valid, so a
 * caller never runs with half a file applied. */
int mo_config_parse(struct mo_config *cfg, const char *text, size_t len, char *err,
		    size_t errlen)
{
	const char *p, *end;
	struct mo_config tmp;
	unsigned line = 0;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!cfg || (!text && len))
		return -EINVAL;
	if (len == 0)
		return 0;
	p = text;
	end = text + len;
	tmp = *cfg;
	/* Editors on some systems start UTF-8 files with a byte order mark. */
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);

		ret = parse_line(&tmp, p, n, ++line, err, errlen);
		if (ret)
			return ret;
		p += n + (eol != NULL);
	}
	*cfg = tmp;
	return 0;
}

static int read_error(char *err, size_t errlen, const char *path, int ret)
{
	char buf[128];

	if (err && errlen)
		snprintf(err, errlen, "cannot read '%s': %s", path,
			 strerror_r(-ret, buf, sizeof(buf)));
	return ret;
}

int mo_config_load(struct mo_config *cfg, const char *path, char *err, size_t errlen)
{
	size_t len = 0;
	char *text;
	int fd, ret;

	if (err && errlen)
		err[0] = '\0';
	if (!cfg || !path)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return read_error(err, errlen, path, -errno);
	/* One byte more than allowed tells "exactly 1 MiB" from "too big",
	 * and works for pipes and /dev/stdin where st_size means nothing. */
	text = malloc(MAX_CONFIG_BYTES + 1);
	if (!text) {
		ret = read_error(err, errlen, path, -ENOMEM);
		goto cleanup;
	}
	while (len <= MAX_CONFIG_BYTES) {
		ssize_t n = read(fd, text + len, MAX_CONFIG_BYTES + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = read_error(err, errlen, path, -errno);
			goto cleanup;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > MAX_CONFIG_BYTES) {
		if (err && errlen)
			snprintf(err, errlen, "cannot read '%s': larger than 1 MiB", path);
		ret = -EFBIG;
		goto cleanup;
	}
	ret = mo_config_parse(cfg, text, len, err, errlen);
cleanup:
	free(text);
	close(fd);
	return ret;
}
