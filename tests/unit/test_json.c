// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_json.c - the buffer, the JSON writer and both escapers, with exact
 * expected output; a batch of random byte strings is checked by Python's
 * json module as an independent parser.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <math.h>
#include <float.h>
#include <cmocka.h>

#include "json.h"

static char out[4096];

/* JSON-escape n bytes of s; the result lives in out until the next call. */
static const char *jstr(const char *s, size_t n)
{
	struct mo_buf b;

	mo_buf_init(&b);
	mo_json_string(&b, s, n);
	assert_false(b.oom);
	assert_true(b.len < sizeof(out));
	assert_int_equal(strlen(b.data), b.len);
	memcpy(out, b.data, b.len + 1);
	mo_buf_release(&b);
	return out;
}

static const char *tesc(const char *s, size_t n)
{
	struct mo_buf b;

	mo_buf_init(&b);
	mo_text_escape(&b, s, n);
	assert_false(b.oom);
	assert_true(b.len < sizeof(out));
	memcpy(out, b.data ? b.data : "", b.len + 1);
	mo_buf_release(&b);
	return out;
}

#define J(lit) jstr(lit, sizeof(lit) - 1)
#define T(lit) tesc(lit, sizeof(lit) - 1)

static void test_buf_basics(void **state)
{
	struct mo_buf b;
	char big[10001];

	mo_buf_init(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);

	mo_buf_append(&b, "", 0);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	mo_buf_puts(&b, "head:");
	mo_buf_puts(&b, big);
	assert_int_equal(b.len, 5 + 10000);
	assert_true(b.cap > b.len);
	assert_memory_equal(b.data, "head:", 5);
	assert_string_equal(b.data + 5, big);

	mo_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_true(b.cap > 10000);

	mo_buf_printf(&b, "%s|%d|%s", big, -42, "end");
	assert_int_equal(b.len, 10000 + 8);
	assert_string_equal(b.data + 10000, "|-42|end");
	mo_buf_printf(&b, "%c", '!');
	assert_string_equal(b.data + 10000, "|-42|end!");

	mo_buf_release(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	mo_buf_release(&b);
	mo_buf_release(NULL);
}

static void test_buf_oom_sticks(void **state)
{
	struct mo_buf b;

	mo_buf_init(&b);
	mo_buf_puts(&b, "ok");
	/* A length that cannot fit marks the buffer failed without reading s. */
	mo_buf_append(&b, "", SIZE_MAX - 1);
	assert_true(b.oom);
	assert_int_equal(b.len, 2);
	mo_buf_puts(&b, "more");
	mo_buf_printf(&b, "%d", 7);
	assert_int_equal(b.len, 2);
	assert_string_equal(b.data, "ok");

	mo_buf_reset(&b);
	assert_false(b.oom);
	mo_buf_puts(&b, "again");
	assert_string_equal(b.data, "again");
	mo_buf_release(&b);
}

static void test_string_plain(void **state)
{
	assert_string_equal(J(""), "\"\"");
	assert_string_equal(J("abc xyz/~"), "\"abc xyz/~\"");
	assert_string_equal(J("a\"b\\c"), "\"a\\\"b\\\\c\"");
}

static void test_string_short_escapes(void **state)
{
	assert_string_equal(J("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
	assert_string_equal(J("x\ny"), "\"x\\ny\"");
}

static void test_string_control_escapes(void **state)
{
	assert_string_equal(J("\x01\x1f\x7f\x0b\x1b"),
			    "\"\\u0001\\u001f\\u007f\\u000b\\u001b\"");
	/* Embedded NUL is data, not a terminator. */
	assert_string_equal(J("a\0b"), "\"a\\u0000b\"");
	assert_string_equal(J("\0"), "\"\\u0000\"");
}

static void test_string_valid_utf8(void **state)
{
	/* U+0080, U+07FF, U+0800, U+D7FF, U+E000, U+FFFF, U+10000, U+10FFFF,
	 * and U+0085 (a C1 control, valid in JSON unescaped). */
	static const char s[] = "\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf"
				"\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80"
				"\xf4\x8f\xbf\xbf\xc2\x85 caf\xc3\xa9 \xe2\x82\xac";

	assert_string_equal(J(s), "\"" "\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf"
				  "\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80"
				  "\xf4\x8f\xbf\xbf\xc2\x85 caf\xc3\xa9 \xe2\x82\xac"
				  "\"");
}

static void test_string_invalid_utf8(void **state)
{
	/* Overlong encodings. */
	assert_string_equal(J("\xc0\x80"), "\"\\\\xc0\\\\x80\"");
	assert_string_equal(J("\xc1\xbf"), "\"\\\\xc1\\\\xbf\"");
	assert_string_equal(J("\xe0\x80\xaf"), "\"\\\\xe0\\\\x80\\\\xaf\"");
	assert_string_equal(J("\xf0\x8f\xbf\xbf"),
			    "\"\\\\xf0\\\\x8f\\\\xbf\\\\xbf\"");
	/* UTF-16 surrogates U+D800 and U+DFFF. */
	assert_string_equal(J("\xed\xa0\x80"), "\"\\\\xed\\\\xa0\\\\x80\"");
	assert_string_equal(J("\xed\xbf\xbf"), "\"\\\\xed\\\\xbf\\\\xbf\"");
	/* Above U+10FFFF, and lead bytes that can never occur. */
	assert_string_equal(J("\xf4\x90\x80\x80"),
			    "\"\\\\xf4\\\\x90\\\\x80\\\\x80\"");
	assert_string_equal(J("\xf5\x80\x80\x80"),
			    "\"\\\\xf5\\\\x80\\\\x80\\\\x80\"");
	assert_string_equal(J("\xfe\xff"), "\"\\\\xfe\\\\xff\"");
	/* Lone continuation byte between valid text. */
	assert_string_equal(J("a\x80z"), "\"a\\\\x80z\"");
	/* Truncated sequences: at the end, before ASCII, before valid UTF-8. */
	assert_string_equal(J("a\xe2\x82"), "\"a\\\\xe2\\\\x82\"");
	assert_string_equal(J("\xe2\x82" "A"), "\"\\\\xe2\\\\x82A\"");
	assert_string_equal(J("\xf0\x9f\x98\xc3\xa9"),
			    "\"\\\\xf0\\\\x9f\\\\x98\xc3\xa9\"");
	assert_string_equal(J("\xc3"), "\"\\\\xc3\"");
	/* The same bytes complete are left alone. */
	assert_string_equal(J("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");
}

static void test_text_escape(void **state)
{
	assert_string_equal(T(""), "");
	assert_string_equal(T("plain text"), "plain text");
	assert_string_equal(T("a\\b\"c"), "a\\\\b\"c");
	assert_string_equal(T("\n\t\x01\x7f\x1b[0m"),
			    "\\x0a\\x09\\x01\\x7f\\x1b[0m");
	assert_string_equal(T("a\0b"), "a\\x00b");
	assert_string_equal(T("\xff\xc0\x80\xed\xa0\x80"),
			    "\\xff\\xc0\\x80\\xed\\xa0\\x80");
	assert_string_equal(T("x\xe2\x82"), "x\\xe2\\x82");
	assert_string_equal(T("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
			    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	/* C1 controls are escaped byte by byte; NBSP (U+00A0) is not. */
	assert_string_equal(T("\xc2\x9b" "2J\xc2\x80\xc2\xa0"),
			    "\\xc2\\x9b2J\\xc2\\x80\xc2\xa0");
}

static void test_writer_nesting(void **state)
{
	struct mo_buf b;
	struct mo_json j;

	mo_buf_init(&b);
	mo_json_init(&j, &b);
	mo_json_obj_begin(&j);
	mo_json_key(&j, "a");
	mo_json_u64(&j, 1);
	mo_json_key(&j, "b");
	mo_json_arr_begin(&j);
	mo_json_i64(&j, -2);
	mo_json_str(&j, "x");
	mo_json_str(&j, NULL);
	mo_json_bool(&j, true);
	mo_json_bool(&j, false);
	mo_json_obj_begin(&j);
	mo_json_obj_end(&j);
	mo_json_arr_begin(&j);
	mo_json_arr_end(&j);
	mo_json_strn(&j, "n\0l", 3);
	mo_json_arr_end(&j);
	mo_json_key(&j, "c");
	mo_json_obj_begin(&j);
	mo_json_key(&j, "d");
	mo_json_double(&j, 0.5);
	mo_json_key(&j, "e");
	mo_json_arr_begin(&j);
	mo_json_obj_begin(&j);
	mo_json_key(&j, "f");
	mo_json_str(&j, "g");
	mo_json_obj_end(&j);
	mo_json_obj_begin(&j);
	mo_json_obj_end(&j);
	mo_json_arr_end(&j);
	mo_json_obj_end(&j);
	mo_json_key(&j, "q\"k");
	mo_json_u64(&j, UINT64_MAX);
	mo_json_key(&j, "min");
	mo_json_i64(&j, INT64_MIN);
	mo_json_obj_end(&j);
	assert_int_equal(j.depth, 0);
	assert_false(b.oom);
	assert_string_equal(b.data,
		"{\"a\":1,\"b\":[-2,\"x\",null,true,false,{},[],\"n\\u0000l\"],"
		"\"c\":{\"d\":0.5,\"e\":[{\"f\":\"g\"},{}]},"
		"\"q\\\"k\":18446744073709551615,"
		"\"min\":-9223372036854775808}");
	mo_buf_release(&b);
}

/* Successive top-level values are not comma-separated: NDJSON works. */
static void test_writer_ndjson(void **state)
{
	struct mo_buf b;
	struct mo_json j;

	mo_buf_init(&b);
	mo_json_init(&j, &b);
	for (int i = 0; i < 3; i++) {
		mo_json_obj_begin(&j);
		mo_json_key(&j, "i");
		mo_json_i64(&j, i);
		mo_json_key(&j, "ok");
		mo_json_bool(&j, i != 1);
		mo_json_obj_end(&j);
		mo_buf_puts(&b, "\n");
	}
	assert_string_equal(b.data, "{\"i\":0,\"ok\":true}\n"
				    "{\"i\":1,\"ok\":false}\n"
				    "{\"i\":2,\"ok\":true}\n");
	mo_buf_release(&b);
}

static void test_writer_depth_limit(void **state)
{
	struct mo_buf b;
	struct mo_json j;
	char expect[2 * 32 + 8];

	mo_buf_init(&b);
	mo_json_init(&j, &b);
	for (int i = 0; i < 32; i++)
		mo_json_arr_begin(&j);
	mo_json_u64(&j, 7);
	mo_json_u64(&j, 8);
	for (int i = 0; i < 32; i++)
		mo_json_arr_end(&j);
	assert_false(b.oom);
	memset(expect, '[', 32);
	strcpy(expect + 32, "7,8");
	memset(expect + 35, ']', 32);
	expect[67] = '\0';
	assert_string_equal(b.data, expect);

	/* One level deeper than the writer can track is reported, not guessed. */
	mo_buf_reset(&b);
	mo_json_init(&j, &b);
	for (int i = 0; i < 33; i++)
		mo_json_arr_begin(&j);
	assert_true(b.oom);
	for (int i = 0; i < 33; i++)
		mo_json_arr_end(&j);
	assert_int_equal(j.depth, 0);
	mo_buf_release(&b);
}

static const char *dbl(double v)
{
	struct mo_buf b;
	struct mo_json j;

	mo_buf_init(&b);
	mo_json_init(&j, &b);
	mo_json_double(&j, v);
	assert_true(b.len < sizeof(out));
	memcpy(out, b.data, b.len + 1);
	mo_buf_release(&b);
	return out;
}

static void test_double(void **state)
{
	volatile double tenth = 0.1, fifth = 0.2;

	assert_string_equal(dbl(0.0), "0");
	assert_string_equal(dbl(-0.0), "-0");
	assert_string_equal(dbl(1.0), "1");
	assert_string_equal(dbl(-2.5), "-2.5");
	assert_string_equal(dbl(0.1), "0.1");
	assert_string_equal(dbl(tenth + fifth), "0.30000000000000004");
	assert_string_equal(dbl(1.0 / 3.0), "0.3333333333333333");
	assert_string_equal(dbl(123456.0), "123456");
	assert_string_equal(dbl(1e21), "1e+21");
	assert_string_equal(dbl(1e-7), "1e-07");
	assert_string_equal(dbl(DBL_MAX), "1.7976931348623157e+308");
	assert_string_equal(dbl(5e-324), "5e-324");
	assert_string_equal(dbl(NAN), "null");
	assert_string_equal(dbl(INFINITY), "null");
	assert_string_equal(dbl(-INFINITY), "null");

	/* Every output reads back as the same value. */
	srand(7);
	for (int i = 0; i < 20000; i++) {
		uint64_t bits = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^
				(uint64_t)rand();
		double v;

		memcpy(&v, &bits, sizeof(v));
		if (!isfinite(v))
			continue;
		assert_true(strtod(dbl(v), NULL) == v);
	}
}

/* A small PRNG so the batch is the same on every libc. */
static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
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
	if (cp < 0x10000) {
		p[0] = 0xe0 | (cp >> 12);
		p[1] = 0x80 | ((cp >> 6) & 0x3f);
		p[2] = 0x80 | (cp & 0x3f);
		return 3;
	}
	p[0] = 0xf0 | (cp >> 18);
	p[1] = 0x80 | ((cp >> 12) & 0x3f);
	p[2] = 0x80 | ((cp >> 6) & 0x3f);
	p[3] = 0x80 | (cp & 0x3f);
	return 4;
}

/* Random bytes, random code points, or a mix of both. */
static size_t random_string(unsigned char *s, size_t max)
{
	unsigned int mode = next_rand() % 3;
	size_t target = next_rand() % (max - 4), n = 0;

	while (n < target) {
		if (mode == 0 || (mode == 2 && next_rand() % 2)) {
			s[n++] = (unsigned char)next_rand();
		} else {
			uint32_t cp;

			switch (next_rand() % 4) {
			case 0: cp = next_rand() % 0x80; break;
			case 1: cp = 0x80 + next_rand() % 0x780; break;
			case 2: cp = 0x800 + next_rand() % 0xf800; break;
			default: cp = 0x10000 + next_rand() % 0x100000; break;
			}
			if (cp >= 0xd800 && cp <= 0xdfff)
				cp = 0xfffd;
			n += put_utf8(s + n, cp);
		}
	}
	return n;
}

/*
 * Python reads "hex<TAB>json" lines as strict UTF-8, parses each with
 * json.loads, re-encodes the result as UTF-8, and, unless the input held
 * the text "\x" itself (the one ambiguous case), maps every "\xNN" back to
 * its byte and compares with the original.
 */
static const char checker[] =
	"import json, re, sys\n"
	"n = 0\n"
	"for raw in sys.stdin.buffer:\n"
	"    line = raw.decode('utf-8')\n"
	"    hexs, js = line.rstrip('\\n').split('\\t', 1)\n"
	"    orig = bytes.fromhex(hexs)\n"
	"    s = json.loads(js)\n"
	"    assert isinstance(s, str), js\n"
	"    enc = s.encode('utf-8')\n"
	"    if b'\\\\x' not in orig:\n"
	"        back = re.sub(rb'\\\\x([0-9a-f]{2})',\n"
	"                      lambda m: bytes([int(m.group(1), 16)]), enc)\n"
	"        assert back == orig, (orig, js)\n"
	"    n += 1\n"
	"sys.exit(0 if n == int(sys.argv[1]) else 3)\n";

static void test_random_strings_parse_in_python(void **state)
{
	enum { N = 1000 };
	char script[] = "/tmp/mo_test_json_XXXXXX";
	char cmd[128];
	unsigned char s[200];
	struct mo_buf b;
	void (*old_pipe)(int);
	FILE *p;
	int fd, status;

	if (system("python3 -c 'import json' >/dev/null 2>&1") != 0)
		skip();
	fd = mkstemp(script);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, checker, sizeof(checker) - 1),
			 (ssize_t)(sizeof(checker) - 1));
	close(fd);
	snprintf(cmd, sizeof(cmd), "python3 %s %d", script, N);
	/* If Python rejects a line and exits, report that instead of dying. */
	old_pipe = signal(SIGPIPE, SIG_IGN);
	p = popen(cmd, "w");
	assert_non_null(p);

	mo_buf_init(&b);
	for (int i = 0; i < N; i++) {
		size_t n = random_string(s, sizeof(s));

		mo_buf_reset(&b);
		for (size_t k = 0; k < n; k++)
			mo_buf_printf(&b, "%02x", s[k]);
		mo_buf_puts(&b, "\t");
		mo_json_string(&b, (const char *)s, n);
		mo_buf_puts(&b, "\n");
		assert_false(b.oom);
		if (fwrite(b.data, 1, b.len, p) != b.len)
			break;
	}
	mo_buf_release(&b);
	status = pclose(p);
	signal(SIGPIPE, old_pipe);
	unlink(script);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_basics),
		cmocka_unit_test(test_buf_oom_sticks),
		cmocka_unit_test(test_string_plain),
		cmocka_unit_test(test_string_short_escapes),
		cmocka_unit_test(test_string_control_escapes),
		cmocka_unit_test(test_string_valid_utf8),
		cmocka_unit_test(test_string_invalid_utf8),
		cmocka_unit_test(test_text_escape),
		cmocka_unit_test(test_writer_nesting),
		cmocka_unit_test(test_writer_ndjson),
		cmocka_unit_test(test_writer_depth_limit),
		cmocka_unit_test(test_double),
		cmocka_unit_test(test_random_strings_parse_in_python),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
