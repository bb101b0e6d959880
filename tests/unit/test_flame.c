// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_flame.c - folded stacks and the SVG flame graph on reports built by
 * hand: the exact folded text (merging, root-first order, unknown frames,
 * hostile names); the SVG parsed by python3's XML parser, its rectangles
 * checked against the bytes of a known tree; the write helpers' error
 * paths. With MO_FLAME_SVG_OUT set, the demo graph is also written there
 * (tests/bpf/test_flamegraph_render.sh screenshots it in a browser).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "sinks/flame.h"

static char dir[] = "/tmp/test_flame.XXXXXX";

/*
 * The handcrafted report. Leaks 1 and 2 share a stack (merged): an inlined
 * frame, an unknown frame of the executable, main. Leak 3 has a hostile
 * symbol, leak 4 a hostile command and an address in no module, leak 5
 * no bytes (left out), leak 6 no frames at all.
 */
#define HOSTILE_SYMBOL "evil;name\nwith<&>\xff back\\slash \xc3\xa9 \xef\xbf\xbe"

static struct mo_frame frames1[] = {
	{ .address = 0x5000, .symbol = "inner_alloc", .module = "/usr/bin/leaky",
	  .module_offset = 0x1000, .inlined = true },
	{ .address = 0x5000, .symbol = "outer", .offset = 0x10, .module = "/usr/bin/leaky",
	  .module_offset = 0x1000 },
	{ .address = 0x6000, .module = "/usr/bin/leaky", .module_offset = 0x2000 },
	{ .address = 0x7000, .symbol = "main", .module = "/usr/bin/leaky" },
};
static struct mo_frame frames3[] = {
	{ .address = 0x5800, .symbol = HOSTILE_SYMBOL },
	{ .address = 0x7000, .symbol = "main" },
};
static struct mo_frame frames4[] = {
	{ .address = 0xdeadbeef, .symbol = "" },
	{ .address = 0x7100, .symbol = "main" },
};

static struct mo_leak leaks[] = {
	{ .pid = 100, .command = "leaky", .unfreed_bytes = 4096,
	  .stack = { .nframes = 4, .frames = frames1 } },
	{ .pid = 100, .command = "leaky", .unfreed_bytes = 1024,
	  .stack = { .nframes = 4, .frames = frames1 } },
	{ .pid = 100, .command = "leaky", .unfreed_bytes = 100,
	  .stack = { .nframes = 2, .frames = frames3 } },
	{ .pid = 200, .command = "a;b\tc", .unfreed_bytes = 2048,
	  .stack = { .nframes = 2, .frames = frames4 } },
	{ .pid = 200, .command = "a;b\tc", .unfreed_bytes = 0,
	  .stack = { .nframes = 2, .frames = frames4 } },
	{ .pid = 300, .command = "bare", .unfreed_bytes = 7 },
};

static struct mo_report report = {
	.nleaks = sizeof(leaks) / sizeof(leaks[0]),
	.leaks = leaks,
};

static const char expected_folded[] =
	"a\\x3bb\\x09c (200);main;0xdeadbeef 2048\n"
	"bare (300) 7\n"
	"leaky (100);main;evil\\x3bname\\x0awith<&>\\xff back\\\\slash \xc3\xa9 \xef\xbf\xbe 100\n"
	"leaky (100);main;leaky+0x2000;outer;inner_alloc_[i] 5120\n";

/*
 * Reports from compact specs: "pid command bytes frame;frame;..." root
 * first; a frame "+name" is inlined, "=module+0xOFF" has no symbol and
 * "#0xADDR" neither symbol nor module.
 */
#define MAX_LEAKS 32
#define MAX_FRAMES 512

struct spec_report {
	struct mo_report r;
	struct mo_leak leaks[MAX_LEAKS];
	struct mo_frame frames[MAX_FRAMES];
	char text[16384];
};

static void build_report(struct spec_report *sr, const char *const *specs)
{
	size_t nframes = 0, used = 0;

	memset(sr, 0, sizeof(*sr));
	sr->r.leaks = sr->leaks;
	for (; *specs; specs++) {
		struct mo_leak *l = &sr->leaks[sr->r.nleaks++];
		char *s = sr->text + used, *tok, *save = NULL;
		size_t first = nframes;
		int consumed = 0;

		assert_true(sr->r.nleaks <= MAX_LEAKS);
		used += strlen(*specs) + 1;
		assert_true(used <= sizeof(sr->text));
		strcpy(s, *specs);
		assert_int_equal(sscanf(s, "%d %63s %" SCNu64 " %n", &l->pid, l->command,
					&l->unfreed_bytes, &consumed), 3);
		/* Frames arrive root first; the report wants them innermost first. */
		for (tok = strtok_r(s + consumed, ";", &save); tok;
		     tok = strtok_r(NULL, ";", &save)) {
			struct mo_frame *f = &sr->frames[nframes++];

			assert_true(nframes <= MAX_FRAMES);
			if (*tok == '+') {
				f->inlined = true;
				tok++;
			}
			if (*tok == '=') {
				char *plus = strrchr(tok, '+');

				*plus = '\0';
				f->module = tok + 1;
				f->module_offset = strtoull(plus + 1, NULL, 16);
			} else if (*tok == '#') {
				f->address = strtoull(tok + 1, NULL, 16);
			} else {
				f->symbol = tok;
			}
		}
		l->stack.frames = &sr->frames[first];
		l->stack.nframes = nframes - first;
		for (size_t i = 0; i < l->stack.nframes / 2; i++) {
			struct mo_frame t = l->stack.frames[i];

			l->stack.frames[i] = l->stack.frames[l->stack.nframes - 1 - i];
			l->stack.frames[l->stack.nframes - 1 - i] = t;
		}
		sr->r.total_unfreed_bytes += l->unfreed_bytes;
	}
}

/*
 * 1 byte is 0.01 units of width (1180 units for 118000 bytes): "tiny" is
 * below the 0.1 cutoff and not drawn, yet main stays 885.00 wide.
 */
static const char *const known_specs[] = {
	"1 p 59000 main;a",
	"1 p 29499 main;b",
	"1 p 1 main;tiny",
	"2 q 29500 qmain;qleaf",
	NULL,
};

static const char *const demo_specs[] = {
	"4242 api-server 3145728 main;event_loop;handle_request;parse_json;json_object_new;"
		"+json_alloc;malloc",
	"4242 api-server 1572864 main;event_loop;handle_request;parse_json;json_array_append;"
		"realloc",
	"4242 api-server 2097152 main;event_loop;handle_request;render_template;"
		"string_builder_grow;realloc",
	"4242 api-server 4194304 main;event_loop;handle_request;session_cache_put;"
		"hash_table_resize;calloc",
	"4242 api-server 524288 main;event_loop;accept_connection;conn_new;malloc",
	"4242 api-server 262144 main;config_load;yaml_parse;"
		"std::vector<std::pair<int, std::string>>::_M_realloc_insert;operator new",
	"4242 api-server 100 main;event_loop;handle_request;log_request;fmt_alloc;malloc",
	"4243 worker 2621440 start_thread;worker_main;job_run;image_decode;png_read_rows;malloc",
	"4243 worker 1048576 start_thread;worker_main;job_run;image_decode;"
		"=/usr/lib/x86_64-linux-gnu/libpng16.so.16+0x1f2a0;malloc",
	"4243 worker 307200 start_thread;worker_main;job_queue_pop;#0x7f3a12c4d5e0;malloc",
	"4243 worker 786432 start_thread;worker_main;job_run;thumbnail_scale;+scale_row;"
		"+pixel_buffer_new;malloc",
	NULL,
};

/*
 * Checks every SVG: strict UTF-8 without control bytes, parsed by the XML
 * parser, an svg 1.1 root with a matching viewBox; one group per frame with
 * a "name (N bytes, P%)" tooltip, its rectangle's width N/total of the
 * drawing width, inside its parent and not overlapping its siblings (frames
 * under the cutoff leave gaps, so exact positions are checked by mode), its
 * label a prefix of the name that fits. Widths are compared in integer
 * hundredths, the precision the SVG carries. FLAME_MODE adds exact checks.
 */
static const char validator[] =
	"import os, re, sys, xml.etree.ElementTree as ET\n"
	"data = open(sys.argv[1], 'rb').read()\n"
	"data.decode('utf-8')\n"
	"bad = [c for c in data if c < 0x20 and c not in (9, 10, 13) or c == 0x7f]\n"
	"assert not bad, 'control bytes %r' % bad[:5]\n"
	"root = ET.fromstring(data)\n"
	"NS = '{http://www.w3.org/2000/svg}'\n"
	"assert root.tag == NS + 'svg', root.tag\n"
	"assert root.get('version') == '1.1'\n"
	"W, H = int(root.get('width')), int(root.get('height'))\n"
	"assert root.get('viewBox') == '0 0 %d %d' % (W, H)\n"
	"cpx = lambda v: int(round(float(v) * 100))\n"
	"frames = []\n"
	"for g in root.iter(NS + 'g'):\n"
	"    t, r, l = g.find(NS + 'title'), g.find(NS + 'rect'), g.find(NS + 'text')\n"
	"    if t is None:\n"
	"        continue\n"
	"    m = re.fullmatch(r'(.*) \\((\\d+) bytes, (\\d+)\\.(\\d\\d)%\\)', t.text, re.S)\n"
	"    assert m, t.text\n"
	"    f = dict(name=m.group(1), bytes=int(m.group(2)), x=cpx(r.get('x')),\n"
	"             y=int(r.get('y')), w=cpx(r.get('width')),\n"
	"             pct=int(m.group(3)) * 100 + int(m.group(4)))\n"
	"    assert f['y'] >= 0 and f['y'] + int(r.get('height')) <= H\n"
	"    assert f['x'] >= 1000 and f['x'] + f['w'] <= W * 100 - 1000\n"
	"    if l is not None:\n"
	"        lab = l.text\n"
	"        assert lab == f['name'] or (lab.endswith('..') and\n"
	"                                    f['name'].startswith(lab[:-2])), (lab, f)\n"
	"        assert len(lab) * 708 <= f['w'] - 600, (lab, f)\n"
	"    frames.append(f)\n"
	"texts = [t.text for t in root.iter(NS + 'text')]\n"
	"mode = os.environ.get('FLAME_MODE', '')\n"
	"if mode == 'empty':\n"
	"    assert not frames and 'No unfreed memory' in texts, texts\n"
	"    sys.exit(0)\n"
	"top = [f for f in frames if f['name'] == 'all']\n"
	"assert len(top) == 1\n"
	"total = top[0]['bytes']\n"
	"assert top[0]['w'] == 118000 and top[0]['x'] == 1000 and top[0]['pct'] == 10000\n"
	"assert texts[1].endswith('unfreed (%d bytes)' % total), texts[1]\n"
	"for f in frames:\n"
	"    exact = f['bytes'] * 118000 / total\n"
	"    assert abs(f['w'] - exact) <= 1, (f, exact)\n"
	"    assert abs(f['pct'] - f['bytes'] * 10000 / total) <= 0.5, f\n"
	"    if f is top[0]:\n"
	"        continue\n"
	"    up = [p for p in frames if p['y'] == f['y'] + 16 and p['x'] <= f['x']\n"
	"          and f['x'] + f['w'] <= p['x'] + p['w']]\n"
	"    assert len(up) == 1, ('no parent', f)\n"
	"for p in frames:\n"
	"    kids = sorted((c for c in frames if c['y'] == p['y'] - 16 and p['x'] <= c['x']\n"
	"                   and c['x'] + c['w'] <= p['x'] + p['w']), key=lambda c: c['x'])\n"
	"    assert sum(c['w'] for c in kids) <= p['w'], p\n"
	"    assert sum(c['bytes'] for c in kids) <= p['bytes'], p\n"
	"    for a, b in zip(kids, kids[1:]):\n"
	"        assert a['x'] + a['w'] <= b['x'], (a, b)\n"
	"if mode == 'known':\n"
	"    got = {f['name']: (f['bytes'], f['x'], H - f['y'], f['w']) for f in frames}\n"
	"    want = {'all': (118000, 1000, 24, 118000),\n"
	"            'p (1)': (88500, 1000, 40, 88500), 'q (2)': (29500, 89500, 40, 29500),\n"
	"            'main': (88500, 1000, 56, 88500), 'a': (59000, 1000, 72, 59000),\n"
	"            'b': (29499, 60000, 72, 29499), 'qmain': (29500, 89500, 56, 29500),\n"
	"            'qleaf': (29500, 89500, 72, 29500)}\n"
	"    assert got == want, got\n"
	"    assert texts[0] == 'Known tree' and texts[1] == '115.2 KiB unfreed (118000 bytes)'\n"
	"if mode == 'hostile':\n"
	"    assert texts[0] == os.environ['FLAME_TITLE'], texts[0]\n"
	"    names = [f['name'] for f in frames]\n"
	"    assert os.environ['FLAME_NAME'] in names, names\n"
	"    assert 'a\\\\x3bb\\\\x09c (200)' in names, names\n"
	"    assert 'inner_alloc_[i]' in names, names\n";

static int have_python(void)
{
	return system("python3 -c '' >/dev/null 2>&1") == 0;
}

static void validate_svg(const char *path, const char *mode)
{
	char cmd[PATH_MAX + 64];
	FILE *p;
	int status;

	if (!have_python())
		skip();
	setenv("FLAME_MODE", mode, 1);
	snprintf(cmd, sizeof(cmd), "python3 - '%s'", path);
	p = popen(cmd, "w");
	assert_non_null(p);
	assert_int_equal(fwrite(validator, 1, sizeof(validator) - 1, p), sizeof(validator) - 1);
	status = pclose(p);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void write_file(const char *path, const struct mo_buf *b)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(b->data, 1, b->len, f), b->len);
	assert_int_equal(fclose(f), 0);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *data;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	data = malloc((size_t)n + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
	data[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return data;
}

/* Names in the directory, sorted, joined by spaces. */
static void list_dir(const char *path, char *out, size_t outlen)
{
	struct dirent **ents;
	int n = scandir(path, &ents, NULL, alphasort);
	size_t used = 0;

	assert_true(n >= 0);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;

		if (strcmp(name, ".") && strcmp(name, ".."))
			used += (size_t)snprintf(out + used, outlen - used, "%s%s",
						 used ? " " : "", name);
		free(ents[i]);
	}
	free(ents);
}

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_folded_exact(void **state)
{
	struct mo_buf b;

	mo_buf_init(&b);
	mo_folded_render(&b, &report);
	assert_false(b.oom);
	assert_string_equal(b.data, expected_folded);
	mo_buf_release(&b);
}

static void test_folded_known_and_empty(void **state)
{
	struct spec_report *sr = malloc(sizeof(*sr));
	struct mo_report empty = { 0 };
	struct mo_buf b;

	assert_non_null(sr);
	build_report(sr, known_specs);
	mo_buf_init(&b);
	mo_folded_render(&b, &sr->r);
	assert_string_equal(b.data, "p (1);main;a 59000\n"
				    "p (1);main;b 29499\n"
				    "p (1);main;tiny 1\n"
				    "q (2);qmain;qleaf 29500\n");
	mo_buf_reset(&b);
	mo_folded_render(&b, &empty);
	mo_folded_render(&b, NULL);
	assert_int_equal(b.len, 0);
	assert_false(b.oom);
	mo_buf_release(&b);
	free(sr);
}

static void test_svg_known_tree(void **state)
{
	struct spec_report *sr = malloc(sizeof(*sr));
	char path[PATH_MAX];
	struct mo_buf b, again;

	assert_non_null(sr);
	build_report(sr, known_specs);
	mo_buf_init(&b);
	mo_buf_init(&again);
	mo_flamegraph_render(&b, &sr->r, "Known tree");
	mo_flamegraph_render(&again, &sr->r, "Known tree");
	assert_false(b.oom);
	/* Deterministic: the same report draws the same bytes. */
	assert_int_equal(b.len, again.len);
	assert_memory_equal(b.data, again.data, b.len);
	assert_null(strstr(b.data, "tiny"));
	snprintf(path, sizeof(path), "%s/known.svg", dir);
	write_file(path, &b);
	validate_svg(path, "known");
	mo_buf_release(&b);
	mo_buf_release(&again);
	free(sr);
}

static void test_svg_hostile(void **state)
{
	char path[PATH_MAX];
	struct mo_buf b;

	mo_buf_init(&b);
	mo_flamegraph_render(&b, &report, "t<&>\"'\xff\x01;\xef\xbf\xbf");
	assert_false(b.oom);
	snprintf(path, sizeof(path), "%s/hostile.svg", dir);
	write_file(path, &b);
	setenv("FLAME_TITLE", "t<&>\"'\\xff\\x01;\\xef\\xbf\\xbf", 1);
	setenv("FLAME_NAME", "evil\\x3bname\\x0awith<&>\\xff back\\\\slash \xc3\xa9 \\xef\\xbf\\xbe",
	       1);
	validate_svg(path, "hostile");
	mo_buf_release(&b);
}

static void test_svg_empty(void **state)
{
	struct mo_report empty = { 0 };
	char path[PATH_MAX];
	struct mo_buf b;

	mo_buf_init(&b);
	mo_flamegraph_render(&b, &empty, NULL);
	assert_false(b.oom);
	assert_non_null(strstr(b.data, "Unfreed memory"));
	snprintf(path, sizeof(path), "%s/empty.svg", dir);
	write_file(path, &b);
	validate_svg(path, "empty");
	mo_buf_release(&b);
}

/* A realistic graph: deep stacks, inlined and unknown frames, a name too
 * long for its frame, one frame under the width cutoff. */
static void test_svg_demo(void **state)
{
	struct spec_report *sr = malloc(sizeof(*sr));
	const char *out = getenv("MO_FLAME_SVG_OUT");
	char path[PATH_MAX];

	assert_non_null(sr);
	build_report(sr, demo_specs);
	snprintf(path, sizeof(path), "%s/demo.svg", dir);
	assert_int_equal(mo_flamegraph_write(&sr->r, path, "memobserver: unfreed memory"), 0);
	validate_svg(path, "demo");
	if (out && out[0])
		assert_int_equal(mo_flamegraph_write(&sr->r, out, "memobserver: unfreed memory"),
				 0);
	free(sr);
}

static void test_write_replaces(void **state)
{
	char path[PATH_MAX], entries[256];
	struct mo_buf b;
	size_t len;
	char *data;

	snprintf(path, sizeof(path), "%s/out", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/out/leaks.folded", dir);
	assert_int_equal(mo_folded_write(&report, path), 0);
	assert_int_equal(mo_folded_write(&report, path), 0);
	data = read_file(path, &len);
	assert_int_equal(len, strlen(expected_folded));
	assert_string_equal(data, expected_folded);
	free(data);

	snprintf(path, sizeof(path), "%s/out/leaks.svg", dir);
	assert_int_equal(mo_flamegraph_write(&report, path, "x"), 0);
	mo_buf_init(&b);
	mo_flamegraph_render(&b, &report, "x");
	data = read_file(path, &len);
	assert_int_equal(len, b.len);
	assert_memory_equal(data, b.data, len);
	free(data);
	mo_buf_release(&b);

	snprintf(path, sizeof(path), "%s/out", dir);
	list_dir(path, entries, sizeof(entries));
	assert_string_equal(entries, "leaks.folded leaks.svg");
}

static void test_write_errors(void **state)
{
	char path[PATH_MAX], sub[256], keep[512], entries[256];

	assert_int_equal(mo_folded_write(NULL, "x"), -EINVAL);
	assert_int_equal(mo_folded_write(&report, ""), -EINVAL);
	assert_int_equal(mo_folded_write(&report, NULL), -EINVAL);
	assert_int_equal(mo_flamegraph_write(NULL, "x", NULL), -EINVAL);
	assert_int_equal(mo_flamegraph_write(&report, "", NULL), -EINVAL);

	snprintf(path, sizeof(path), "%s/missing/leaks.svg", dir);
	assert_int_equal(mo_flamegraph_write(&report, path, NULL), -ENOENT);
	assert_int_equal(mo_folded_write(&report, path), -ENOENT);

	/* Longer than PATH_MAX once ".tmp.PID.N" is added. */
	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	path[0] = '/';
	assert_int_equal(mo_folded_write(&report, path), -ENAMETOOLONG);

	/*
	 * The temp file is written and the rename fails (the target is a
	 * non-empty directory): the error is the rename's, the temp file is
	 * gone and the directory untouched.
	 */
	snprintf(sub, sizeof(sub), "%s/occupied", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	snprintf(keep, sizeof(keep), "%s/keep", sub);
	assert_int_equal(mkdir(keep, 0755), 0);
	assert_int_equal(mo_flamegraph_write(&report, sub, NULL), -EISDIR);
	assert_int_equal(mo_folded_write(&report, sub), -EISDIR);
	list_dir(dir, entries, sizeof(entries));
	assert_null(strstr(entries, ".tmp."));
	list_dir(sub, entries, sizeof(entries));
	assert_string_equal(entries, "keep");
	assert_int_equal(rmdir(keep), 0);
	assert_int_equal(rmdir(sub), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_folded_exact),
		cmocka_unit_test(test_folded_known_and_empty),
		cmocka_unit_test(test_svg_known_tree),
		cmocka_unit_test(test_svg_hostile),
		cmocka_unit_test(test_svg_empty),
		cmocka_unit_test(test_svg_demo),
		cmocka_unit_test(test_write_replaces),
		cmocka_unit_test(test_write_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
