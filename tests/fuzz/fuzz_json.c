// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_json.c - libFuzzer harness for the escapers. Arbitrary bytes go
 * through mo_json_string and mo_text_escape; the output must be valid
 * UTF-8, a well-formed JSON string (resp. control-free text), and must map
 * back to the input. The first 8 bytes also go through mo_json_double.
 *
 *   make fuzz-replay FUZZERS=json     its corpus, as the test suite runs it
 *   make fuzz-explore FUZZERS=json    random exploration (tests/fuzz/README)
 */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define CHECK(cond)                   \
	do {                          \
		if (!(cond))          \
			__builtin_trap(); \
	} while (0)

/*
 * Written independently of json.c on purpose: decode each code point and
 * reject overlongs, surrogates and anything above U+10FFFF.
 */
static bool valid_utf8(const unsigned char *s, size_t n)
{
	static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t len;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min_cp[len] || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static size_t put_utf8(unsigned char *p, uint32_t cp)
{
	if (cp < 0x80) {
		p[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		p[0] = 0xc0 | (cp >> 6);
		p[1] = 0x80 | (cp & 0x3f);
		return 2;
	}
	p[0] = 0xe0 | (cp >> 12);
	p[1] = 0x80 | ((cp >> 6) & 0x3f);
	p[2] = 0x80 | (cp & 0x3f);
	return 3;
}

/*
 * Check that s is exactly one JSON string: quotes only at both ends, no raw
 * control characters, only the escapes JSON defines (\u escapes are not
 * surrogates, which this writer never needs). Returns the decoded length
 * in dec (which must hold len bytes), or -1.
 */
static long json_string_decode(const unsigned char *s, size_t len,
			       unsigned char *dec)
{
	size_t i, n = 0;

	if (len < 2 || s[0] != '"' || s[len - 1] != '"')
		return -1;
	for (i = 1; i < len - 1; i++) {
		unsigned char c = s[i];

		if (c == '"' || c < 0x20)
			return -1;
		if (c != '\\') {
			dec[n++] = c;
			continue;
		}
		if (++i >= len - 1)
			return -1;	/* the closing quote was escaped */
		switch (s[i]) {
		case '"': dec[n++] = '"'; break;
		case '\\': dec[n++] = '\\'; break;
		case '/': dec[n++] = '/'; break;
		case 'b': dec[n++] = '\b'; break;
		case 'f': dec[n++] = '\f'; break;
		case 'n': dec[n++] = '\n'; break;
		case 'r': dec[n++] = '\r'; break;
		case 't': dec[n++] = '\t'; break;
		case 'u': {
			uint32_t cp = 0;

			if (len - 1 - i < 5)
				return -1;
			for (int k = 1; k <= 4; k++) {
				int h = hexval(s[i + k]);

				if (h < 0)
					return -1;
				cp = cp << 4 | (uint32_t)h;
			}
			if (cp >= 0xd800 && cp <= 0xdfff)
				return -1;
			n += put_utf8(dec + n, cp);
			i += 4;
			break;
		}
		default:
			return -1;
		}
	}
	return (long)n;
}

/* Map "\xNN" back to its byte; with escape_backslash, "\\" to '\'. */
static bool unescape_hex(const unsigned char *s, size_t n, bool escape_backslash,
			 const unsigned char *want, size_t want_len)
{
	size_t i = 0, k = 0;

	while (i < n) {
		unsigned char c = s[i];

		if (c == '\\' && i + 3 < n && s[i + 1] == 'x' &&
		    hexval(s[i + 2]) >= 0 && hexval(s[i + 3]) >= 0) {
			c = (unsigned char)(hexval(s[i + 2]) << 4 | hexval(s[i + 3]));
			i += 4;
		} else if (c == '\\' && escape_backslash) {
			if (i + 1 >= n || s[i + 1] != '\\')
				return false;
			i += 2;
		} else {
			i++;
		}
		if (k >= want_len || want[k++] != c)
			return false;
	}
	return k == want_len;
}

static bool contains_backslash_x(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (s[i] == '\\' && s[i + 1] == 'x')
			return true;
	return false;
}

static void check_json(const uint8_t *data, size_t size)
{
	struct mo_buf b;
	unsigned char *dec;
	long n;

	mo_buf_init(&b);
	mo_json_string(&b, (const char *)data, size);
	CHECK(!b.oom);
	CHECK(b.data && strlen(b.data) == b.len);
	CHECK(valid_utf8((const unsigned char *)b.data, b.len));
	dec = malloc(b.len);
	CHECK(dec);
	n = json_string_decode((const unsigned char *)b.data, b.len, dec);
	CHECK(n >= 0);
	CHECK(valid_utf8(dec, (size_t)n));
	/* Input that already holds the text "\x" is the one ambiguous case. */
	if (!contains_backslash_x(data, size))
		CHECK(unescape_hex(dec, (size_t)n, false, data, size));
	free(dec);
	mo_buf_release(&b);
}

static void check_text(const uint8_t *data, size_t size)
{
	struct mo_buf b;

	mo_buf_init(&b);
	mo_text_escape(&b, (const char *)data, size);
	CHECK(!b.oom);
	CHECK(b.len == 0 || strlen(b.data) == b.len);
	CHECK(valid_utf8((const unsigned char *)b.data, b.len));
	for (size_t i = 0; i < b.len; i++) {
		unsigned char c = (unsigned char)b.data[i];

		CHECK(c >= 0x20 && c != 0x7f);
	}
	/* Backslashes are doubled, so text escaping is always reversible. */
	CHECK(unescape_hex((const unsigned char *)b.data, b.len, true, data, size));
	mo_buf_release(&b);
}

static void check_double(const uint8_t *data, size_t size)
{
	struct mo_buf b;
	struct mo_json j;
	double v;

	if (size < sizeof(v))
		return;
	memcpy(&v, data, sizeof(v));
	mo_buf_init(&b);
	mo_json_init(&j, &b);
	mo_json_double(&j, v);
	CHECK(!b.oom);
	if (isfinite(v))
		CHECK(strtod(b.data, NULL) == v && b.len <= 24);
	else
		CHECK(strcmp(b.data, "null") == 0);
	mo_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_json(data, size);
	check_text(data, size);
	check_double(data, size);
	return 0;
}
