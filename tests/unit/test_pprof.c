// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_pprof.c - the pprof writer on a report built by hand: the file is
 * gunzipped and decoded with the protobuf-c code generated from our schema
 * and every table is checked exactly; protoc (and pprof, when installed)
 * decode it independently; error paths leave no temporary file behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "elfsym.h"
#include "sinks/pprof.h"
#include "profile.pb-c.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"
#define LIBC_BASE 0x7f0000000000ULL
/* Above any pid_max: these processes do not exist. */
#define GONE_PID 5000001
#define GONE_CONTAINER_PID 5000002

typedef Perftools__Profiles__Profile Profile;
typedef Perftools__Profiles__Location Location;
typedef Perftools__Profiles__Function Function;
typedef Perftools__Profiles__Mapping Mapping;

static char exe[PATH_MAX];
static char dir[] = "/tmp/test_pprof.XXXXXX";

/*
 * Leak 1 (this process): inner_alloc inlined into outer at one address, an
 * unknown frame of the executable, then libc. Leak 2 (same process): outer
 * at another address, the same libc frame, an address in no module. Leak 3
 * (a host process that has gone): the inlined pair again with inner_alloc
 * from another file. Leak 4 (a container's process that has gone).
 */
static struct mo_frame frames1[] = {
	{ .address = 0x5000, .symbol = "inner_alloc", .module = exe, .module_offset = 0x1000,
	  .file = "a.c", .line = 10, .inlined = true },
	{ .address = 0x5000, .symbol = "outer", .offset = 0x10, .module = exe,
	  .module_offset = 0x1000, .file = "a.c", .line = 20 },
	{ .address = 0x6000, .module = exe, .module_offset = 0x2000 },
	{ .address = LIBC_BASE + 0x24000, .symbol = "__libc_start_main", .offset = 0x80,
	  .module = LIBC, .module_offset = 0x23000 },
};
static struct mo_frame frames2[] = {
	{ .address = 0x5100, .symbol = "outer", .module = exe, .module_offset = 0x1100,
	  .file = "a.c", .line = 25 },
	{ .address = LIBC_BASE + 0x24000, .symbol = "__libc_start_main", .offset = 0x80,
	  .module = LIBC, .module_offset = 0x23000 },
	{ .address = 0xdead },
};
static struct mo_frame frames3[] = {
	{ .address = 0x5000, .symbol = "inner_alloc", .module = exe, .module_offset = 0x1000,
	  .file = "b.c", .line = 5, .inlined = true },
	{ .address = 0x5000, .symbol = "outer", .module = exe, .module_offset = 0x1000,
	  .file = "a.c", .line = 20 },
};
static struct mo_frame frames4[] = {
	{ .address = 0x9000, .symbol = "outer", .module = exe, .module_offset = 0x1000,
	  .file = "a.c", .line = 20 },
};
/* A C++ function, and a module whose build id came with the frame. */
static struct mo_frame frames5[] = {
	{ .address = 0x7000, .symbol = "create_detached_thread()",
	  .linkage_name = "_Z22create_detached_threadv", .module = "/opt/app/libx.so",
	  .build_id = "00112233445566778899aabbccddeeff00112233", .module_offset = 0x1000 },
};

static struct mo_leak leaks[5];
static struct mo_report report;

static void build_report(void)
{
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	assert_true(n > 0);
	exe[n] = '\0';
	memset(leaks, 0, sizeof(leaks));
	leaks[0].pid = getpid();
	strcpy(leaks[0].command, "leaky");
	leaks[0].count = 3;
	leaks[0].unfreed_bytes = 3000;
	leaks[0].stack = (struct mo_stack_trace){ .id = 1, .nframes = 4, .frames = frames1 };
	leaks[1].pid = getpid();
	strcpy(leaks[1].command, "leaky");
	leaks[1].count = 1;
	leaks[1].unfreed_bytes = 500;
	leaks[1].stack = (struct mo_stack_trace){ .id = 2, .nframes = 3, .frames = frames2 };
	leaks[2].pid = GONE_PID;
	strcpy(leaks[2].command, "other");
	leaks[2].count = 7;
	leaks[2].unfreed_bytes = 70000;
	leaks[2].stack = (struct mo_stack_trace){ .id = 3, .nframes = 2, .frames = frames3 };
	leaks[3].pid = GONE_CONTAINER_PID;
	strcpy(leaks[3].command, "boxed");
	strcpy(leaks[3].container_id, "c0ffee");
	leaks[3].count = 2;
	leaks[3].unfreed_bytes = 64;
	leaks[3].stack = (struct mo_stack_trace){ .id = 4, .nframes = 1, .frames = frames4 };
	leaks[4].pid = GONE_PID;
	strcpy(leaks[4].command, "other");
	leaks[4].count = 1;
	leaks[4].unfreed_bytes = 16;
	leaks[4].stack = (struct mo_stack_trace){ .id = 5, .nframes = 1, .frames = frames5 };

	memset(&report, 0, sizeof(report));
	report.timestamp_ns = 1700000000123456789ULL;
	report.min_unfreed_age_ns = 30000000000ULL;
	report.nleaks = 5;
	report.leaks = leaks;
}

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	build_report();
	return 0;
}

/* Entries of dir other than . and .., joined by '/' (in sorted order). */
static void list_dir(const char *path, char *out, size_t outlen)
{
	struct dirent **ents;
	int n = scandir(path, &ents, NULL, alphasort);

	out[0] = '\0';
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, "..")) {
			if (out[0])
				strncat(out, "/", outlen - strlen(out) - 1);
			strncat(out, ents[i]->d_name, outlen - strlen(out) - 1);
		}
		free(ents[i]);
	}
	free(ents);
}

static int teardown(void **state)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The gunzipped contents of path (malloc'ed). */
static uint8_t *gunzip_file(const char *path, size_t *len)
{
	gzFile gz = gzopen(path, "rb");
	size_t cap = 1 << 16;
	uint8_t *buf = malloc(cap);
	int n;

	assert_non_null(gz);
	assert_non_null(buf);
	/* gzread would pass plain bytes through: insist on a gzip header. */
	assert_int_equal(gzdirect(gz), 0);
	*len = 0;
	while ((n = gzread(gz, buf + *len, (unsigned)(cap - *len))) > 0) {
		*len += (size_t)n;
		if (*len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	assert_int_equal(n, 0);
	assert_int_equal(gzclose(gz), Z_OK);
	return buf;
}

static Profile *read_profile(const char *path)
{
	size_t len;
	uint8_t *raw = gunzip_file(path, &len);
	Profile *p = perftools__profiles__profile__unpack(NULL, len, raw);

	free(raw);
	assert_non_null(p);
	return p;
}

static const char *str(const Profile *p, int64_t i)
{
	assert_true(i >= 0 && (size_t)i < p->n_string_table);
	return p->string_table[i];
}

static const Location *location(const Profile *p, uint64_t id)
{
	assert_true(id >= 1 && id <= p->n_location);
	assert_int_equal(p->location[id - 1]->id, id);
	return p->location[id - 1];
}

static const Function *function(const Profile *p, uint64_t id)
{
	assert_true(id >= 1 && id <= p->n_function);
	assert_int_equal(p->function[id - 1]->id, id);
	return p->function[id - 1];
}

static const Mapping *mapping(const Profile *p, uint64_t id)
{
	assert_true(id >= 1 && id <= p->n_mapping);
	assert_int_equal(p->mapping[id - 1]->id, id);
	return p->mapping[id - 1];
}

/* Go's heap profile layout: four sample types, inuse_space last, and the
 * period type space/bytes. */
static void assert_heap_types(const Profile *p)
{
	static const char *const types[][2] = {
		{ "alloc_objects", "count" }, { "alloc_space", "bytes" },
		{ "inuse_objects", "count" }, { "inuse_space", "bytes" },
	};

	assert_int_equal(p->n_sample_type, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(str(p, p->sample_type[i]->type), types[i][0]);
		assert_string_equal(str(p, p->sample_type[i]->unit), types[i][1]);
	}
	assert_string_equal(str(p, p->default_sample_type), "inuse_space");
	assert_non_null(p->period_type);
	assert_string_equal(str(p, p->period_type->type), "space");
	assert_string_equal(str(p, p->period_type->unit), "bytes");
	assert_int_equal(p->period, 1);
}

/* Line i of location id: function name, its file and the line number. */
static void assert_line(const Profile *p, uint64_t loc_id, size_t i, const char *name,
			const char *file, int64_t line)
{
	const Location *l = location(p, loc_id);
	const Function *f;

	assert_true(i < l->n_line);
	f = function(p, l->line[i]->function_id);
	assert_string_equal(str(p, f->name), name);
	if (strcmp(name, "create_detached_thread()"))
		assert_string_equal(str(p, f->system_name), name);
	else
		assert_string_equal(str(p, f->system_name), "_Z22create_detached_threadv");
	assert_string_equal(str(p, f->filename), file);
	assert_int_equal(l->line[i]->line, line);
}

static void assert_locations(const Profile *p, size_t sample, const uint64_t *ids, size_t n)
{
	const Perftools__Profiles__Sample *s = p->sample[sample];

	assert_int_equal(s->n_location_id, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(s->location_id[i], ids[i]);
}

static void assert_labels(const Profile *p, size_t sample, int64_t pid, const char *command,
			  const char *container)
{
	const Perftools__Profiles__Sample *s = p->sample[sample];

	assert_int_equal(s->n_label, container ? 3 : 2);
	if (container) {
		assert_string_equal(str(p, s->label[2]->key), "container");
		assert_string_equal(str(p, s->label[2]->str), container);
	}
	assert_string_equal(str(p, s->label[0]->key), "pid");
	assert_int_equal(s->label[0]->num, pid);
	assert_int_equal(s->label[0]->str, 0);
	assert_string_equal(str(p, s->label[1]->key), "command");
	assert_string_equal(str(p, s->label[1]->str), command);
	assert_int_equal(s->label[1]->num, 0);
}

static void write_profile(const char *name, char *path, size_t pathlen)
{
	char err[256] = "unchanged";

	snprintf(path, pathlen, "%s/%s", dir, name);
	assert_int_equal(mo_pprof_write(&report, path, err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

static void test_decode_exact(void **state)
{
	char path[PATH_MAX], exe_id[160], libc_id[160], entries[256];
	uint64_t objects = 0, bytes = 0;
	const Mapping *m;
	Profile *p;

	write_profile("heap.pb.gz", path, sizeof(path));
	list_dir(dir, entries, sizeof(entries));
	assert_string_equal(entries, "heap.pb.gz");
	p = read_profile(path);

	/* Header: sample types in Go's heap order, space in use preferred. */
	assert_true(p->n_string_table > 0);
	assert_string_equal(p->string_table[0], "");
	assert_heap_types(p);
	assert_int_equal(p->time_nanos, 1700000000123456789LL);
	assert_int_equal(p->n_comment, 2);
	assert_string_equal(str(p, p->comment[0]), "memobserver " MO_VERSION);
	assert_string_equal(str(p, p->comment[1]), "allocations unfreed for at least 30 s");

	/* No string is stored twice. */
	for (size_t i = 0; i < p->n_string_table; i++)
		for (size_t j = i + 1; j < p->n_string_table; j++)
			assert_string_not_equal(p->string_table[i], p->string_table[j]);

	/* Samples: one per leak, values [alloc count, alloc bytes, count,
	 * bytes] (allocation totals unknown: what is in use), labels pid,
	 * command and container. */
	assert_int_equal(p->n_sample, 5);
	for (size_t i = 0; i < p->n_sample; i++) {
		assert_int_equal(p->sample[i]->n_value, 4);
		assert_int_equal(p->sample[i]->value[0], p->sample[i]->value[2]);
		assert_int_equal(p->sample[i]->value[1], p->sample[i]->value[3]);
		objects += (uint64_t)p->sample[i]->value[2];
		bytes += (uint64_t)p->sample[i]->value[3];
	}
	assert_int_equal(objects, 3 + 1 + 7 + 2 + 1);
	assert_int_equal(bytes, 3000 + 500 + 70000 + 64 + 16);
	assert_int_equal(p->sample[0]->value[2], 3);
	assert_int_equal(p->sample[0]->value[3], 3000);
	assert_int_equal(p->sample[2]->value[2], 7);
	assert_int_equal(p->sample[2]->value[3], 70000);
	assert_labels(p, 0, getpid(), "leaky", NULL);
	assert_labels(p, 1, getpid(), "leaky", NULL);
	assert_labels(p, 2, GONE_PID, "other", NULL);
	assert_labels(p, 3, GONE_CONTAINER_PID, "boxed", "c0ffee");

	/* Locations: per (pid, address), shared between stacks, leaf first. */
	assert_locations(p, 0, (uint64_t[]){ 1, 2, 3 }, 3);
	assert_locations(p, 1, (uint64_t[]){ 4, 3, 5 }, 3);
	assert_locations(p, 2, (uint64_t[]){ 6 }, 1);
	assert_locations(p, 3, (uint64_t[]){ 7 }, 1);
	assert_locations(p, 4, (uint64_t[]){ 8 }, 1);
	assert_int_equal(p->n_location, 8);

	/* Inlined frames are lines of one location, the innermost first. */
	assert_int_equal(location(p, 1)->address, 0x5000);
	assert_int_equal(location(p, 1)->n_line, 2);
	assert_line(p, 1, 0, "inner_alloc", "a.c", 10);
	assert_line(p, 1, 1, "outer", "a.c", 20);
	/* An unknown frame keeps its address and mapping but has no line. */
	assert_int_equal(location(p, 2)->address, 0x6000);
	assert_int_equal(location(p, 2)->n_line, 0);
	assert_int_equal(location(p, 2)->mapping_id, location(p, 1)->mapping_id);
	assert_int_equal(location(p, 3)->address, LIBC_BASE + 0x24000);
	assert_int_equal(location(p, 3)->n_line, 1);
	assert_line(p, 3, 0, "__libc_start_main", "", 0);
	assert_int_equal(location(p, 4)->n_line, 1);
	assert_line(p, 4, 0, "outer", "a.c", 25);
	assert_int_equal(location(p, 5)->address, 0xdead);
	assert_int_equal(location(p, 5)->n_line, 0);
	assert_int_equal(location(p, 5)->mapping_id, 0);
	/* Same address in another process: another location. */
	assert_int_equal(location(p, 6)->address, 0x5000);
	assert_line(p, 6, 0, "inner_alloc", "b.c", 5);
	assert_line(p, 6, 1, "outer", "a.c", 20);

	/* A C++ function: its demangled name, and the linkage name as the
	 * system's (assert_line). */
	assert_line(p, 8, 0, "create_detached_thread()", "", 0);

	/* Functions by (name, file): outer@a.c once, inner_alloc twice. */
	assert_int_equal(p->n_function, 5);
	assert_int_equal(location(p, 1)->line[1]->function_id, location(p, 4)->line[0]->function_id);
	assert_int_equal(location(p, 1)->line[1]->function_id, location(p, 6)->line[1]->function_id);
	assert_int_equal(location(p, 1)->line[1]->function_id, location(p, 7)->line[0]->function_id);
	assert_int_not_equal(location(p, 1)->line[0]->function_id,
			     location(p, 6)->line[0]->function_id);

	/* Mappings by (pid, module), with the load bias as memory_start. */
	assert_int_equal(mo_elf_build_id(exe, exe_id, sizeof(exe_id)), 0);
	assert_int_equal(mo_elf_build_id(LIBC, libc_id, sizeof(libc_id)), 0);
	assert_int_equal(p->n_mapping, 5);
	m = mapping(p, location(p, 1)->mapping_id);
	assert_int_equal(m->id, 1);
	assert_string_equal(str(p, m->filename), exe);
	assert_string_equal(str(p, m->build_id), exe_id);
	assert_int_equal(m->memory_start, 0x4000);
	assert_int_equal(m->memory_limit, 0x6001);
	assert_int_equal(m->file_offset, 0);
	/* One of its three locations is unsymbolized: not fully symbolized. */
	assert_false(m->has_functions);
	assert_false(m->has_filenames);
	assert_false(m->has_line_numbers);
	assert_false(m->has_inline_frames);
	assert_int_equal(location(p, 4)->mapping_id, 1);

	m = mapping(p, location(p, 3)->mapping_id);
	assert_int_equal(m->id, 2);
	assert_string_equal(str(p, m->filename), LIBC);
	assert_string_equal(str(p, m->build_id), libc_id);
	assert_int_equal(m->memory_start, LIBC_BASE + 0x1000);
	assert_int_equal(m->memory_limit, LIBC_BASE + 0x24001);
	assert_true(m->has_functions);
	assert_false(m->has_filenames);
	assert_false(m->has_line_numbers);

	/* A host process that has gone: the host file's build id. */
	m = mapping(p, location(p, 6)->mapping_id);
	assert_int_equal(m->id, 3);
	assert_string_equal(str(p, m->filename), exe);
	assert_string_equal(str(p, m->build_id), exe_id);
	assert_true(m->has_functions);
	assert_true(m->has_filenames);
	assert_true(m->has_line_numbers);
	assert_true(m->has_inline_frames);

	/* A container's process that has gone: no build id rather than the host's. */
	m = mapping(p, location(p, 7)->mapping_id);
	assert_int_equal(m->id, 4);
	assert_string_equal(str(p, m->filename), exe);
	assert_string_equal(str(p, m->build_id), "");
	assert_int_equal(m->memory_start, 0x8000);

	/* The build id read when the frame was symbolized wins. */
	m = mapping(p, location(p, 8)->mapping_id);
	assert_string_equal(str(p, m->filename), "/opt/app/libx.so");
	assert_string_equal(str(p, m->build_id), "00112233445566778899aabbccddeeff00112233");

	perftools__profiles__profile__free_unpacked(p, NULL);
	assert_int_equal(unlink(path), 0);
}

/* A build id read through the reader set (the parser process's, in a run
 * with privsep): it is asked for each module of a frame without one, on a
 * descriptor of that file, and what it says goes into the mapping. */
static int reader_calls;
static ino_t reader_ino;

static int fake_reader(void *ctx, int fd, char *out, size_t outlen)
{
	struct stat st;

	assert_ptr_equal(ctx, &reader_calls);
	assert_int_equal(fstat(fd, &st), 0);
	reader_ino = st.st_ino;
	reader_calls++;
	snprintf(out, outlen, "feedface");
	return 0;
}

static void test_build_id_reader(void **state)
{
	struct mo_frame f = { .address = LIBC_BASE + 0x24000, .symbol = "__libc_start_main",
			      .module = LIBC, .module_offset = 0x23000 };
	struct mo_leak l = { .pid = getpid(), .count = 1, .unfreed_bytes = 8,
			     .stack = { .id = 1, .nframes = 1, .frames = &f } };
	struct mo_report r = { .nleaks = 1, .leaks = &l };
	char path[PATH_MAX], err[256], libc_id[160];
	struct stat st;
	Profile *p;

	snprintf(path, sizeof(path), "%s/reader.pb.gz", dir);
	mo_pprof_set_build_id_reader(fake_reader, &reader_calls);
	assert_ptr_equal(mo_pprof_build_id_reader_ctx(), &reader_calls);
	assert_int_equal(mo_pprof_write(&r, path, err, sizeof(err)), 0);
	p = read_profile(path);
	assert_int_equal(p->n_mapping, 1);
	assert_string_equal(str(p, mapping(p, 1)->build_id), "feedface");
	perftools__profiles__profile__free_unpacked(p, NULL);
	assert_int_equal(reader_calls, 1);
	assert_int_equal(stat(LIBC, &st), 0);
	assert_true(reader_ino == st.st_ino);

	/* without a reader: read here */
	mo_pprof_set_build_id_reader(NULL, NULL);
	assert_null(mo_pprof_build_id_reader_ctx());
	assert_int_equal(mo_pprof_write(&r, path, err, sizeof(err)), 0);
	p = read_profile(path);
	assert_int_equal(mo_elf_build_id(LIBC, libc_id, sizeof(libc_id)), 0);
	assert_string_equal(str(p, mapping(p, 1)->build_id), libc_id);
	perftools__profiles__profile__free_unpacked(p, NULL);
	assert_int_equal(reader_calls, 1);
	assert_int_equal(unlink(path), 0);
}

static void test_empty_report(void **state)
{
	struct mo_report empty = { .timestamp_ns = 42, .estimate = true,
				   .min_unfreed_age_ns = 1500000000ULL };
	char path[PATH_MAX], err[256];
	Profile *p;

	snprintf(path, sizeof(path), "%s/empty.pb.gz", dir);
	assert_int_equal(mo_pprof_write(&empty, path, err, sizeof(err)), 0);
	p = read_profile(path);
	assert_int_equal(p->n_sample, 0);
	assert_int_equal(p->n_location, 0);
	assert_int_equal(p->n_mapping, 0);
	assert_heap_types(p);
	assert_int_equal(p->time_nanos, 42);
	assert_string_equal(str(p, p->comment[1]),
			    "allocations unfreed for at least 1.5 s, estimated from sampling");
	perftools__profiles__profile__free_unpacked(p, NULL);
	/* no age rule: every allocation still held */
	empty.min_unfreed_age_ns = 0;
	empty.estimate = false;
	assert_int_equal(mo_pprof_write(&empty, path, err, sizeof(err)), 0);
	p = read_profile(path);
	assert_string_equal(str(p, p->comment[1]), "tracked allocations not freed");
	perftools__profiles__profile__free_unpacked(p, NULL);
	assert_int_equal(unlink(path), 0);
}

/* Allocation totals known: four sample types in pprof's heap order, and
 * alloc values never below in-use ones. */
static void test_alloc_totals(void **state)
{
	struct mo_frame f = { .address = 0x401000, .symbol = "leaky", .module = "/bin/x" };
	struct mo_leak l[2] = {
		{ .pid = 7, .command = "x", .unfreed_bytes = 3000, .count = 3,
		  .alloc_count = 10, .alloc_bytes = 10000,
		  .stack = { .id = 1, .nframes = 1, .frames = &f } },
		{ .pid = 7, .command = "x", .unfreed_bytes = 500, .count = 5,
		  .stack = { .id = 2, .nframes = 1, .frames = &f } },
	};
	struct mo_report r = { .timestamp_ns = 1, .nleaks = 2, .leaks = l };
	char path[PATH_MAX], err[256];
	Profile *p;

	snprintf(path, sizeof(path), "%s/alloc.pb.gz", dir);
	assert_int_equal(mo_pprof_write(&r, path, err, sizeof(err)), 0);
	p = read_profile(path);
	assert_heap_types(p);
	assert_int_equal(p->n_sample, 2);
	assert_int_equal(p->sample[0]->n_value, 4);
	assert_int_equal(p->sample[0]->value[0], 10);
	assert_int_equal(p->sample[0]->value[1], 10000);
	assert_int_equal(p->sample[0]->value[2], 3);
	assert_int_equal(p->sample[0]->value[3], 3000);
	/* unknown totals fall back to what is in use */
	assert_int_equal(p->sample[1]->value[0], 5);
	assert_int_equal(p->sample[1]->value[1], 500);
	perftools__profiles__profile__free_unpacked(p, NULL);
	assert_int_equal(unlink(path), 0);
}

/* A growth profile, encoded in memory: two sample types of its own. */
static void test_growth_encode(void **state)
{
	struct mo_frame f = { .address = 0x401000, .symbol = "grow", .module = "/bin/x" };
	struct mo_leak l = { .pid = 9, .command = "x", .unfreed_bytes = 1 << 20, .count = 12,
			     .tier = "watch", .stack = { .id = 1, .nframes = 1, .frames = &f } };
	struct mo_report r = { .timestamp_ns = 5, .nleaks = 1, .leaks = &l };
	uint8_t *gz = NULL, raw[1 << 16];
	z_stream zs = { 0 };
	size_t len = 0;
	Profile *p;

	assert_int_equal(mo_pprof_encode(&r, MO_PPROF_GROWTH, &gz, &len), 0);
	assert_true(len > 18 && gz[0] == 0x1f && gz[1] == 0x8b);
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = gz;
	zs.avail_in = (uInt)len;
	zs.next_out = raw;
	zs.avail_out = sizeof(raw);
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	p = perftools__profiles__profile__unpack(NULL, zs.total_out, raw);
	inflateEnd(&zs);
	free(gz);
	assert_non_null(p);
	assert_int_equal(p->n_sample_type, 2);
	assert_string_equal(str(p, p->sample_type[0]->type), "growth_samples");
	assert_string_equal(str(p, p->sample_type[0]->unit), "count");
	assert_string_equal(str(p, p->sample_type[1]->type), "growth_space");
	assert_string_equal(str(p, p->sample_type[1]->unit), "bytes");
	assert_string_equal(str(p, p->default_sample_type), "growth_space");
	assert_string_equal(str(p, p->period_type->type), "space");
	assert_int_equal(p->n_sample, 1);
	assert_int_equal(p->sample[0]->n_value, 2);
	assert_int_equal(p->sample[0]->value[0], 12);
	assert_int_equal(p->sample[0]->value[1], 1 << 20);
	assert_string_equal(str(p, p->comment[1]),
			    "anonymous memory faulted in, by stack (watch tier, sampled)");
	perftools__profiles__profile__free_unpacked(p, NULL);

	assert_int_equal(mo_pprof_encode(&r, (enum mo_pprof_kind)7, &gz, &len), -EINVAL);
	assert_int_equal(mo_pprof_encode(NULL, MO_PPROF_HEAP, &gz, &len), -EINVAL);
}

static bool have(const char *cmd)
{
	char sh[128];

	snprintf(sh, sizeof(sh), "command -v %s >/dev/null 2>&1", cmd);
	return system(sh) == 0;
}

/* Read a command's whole output (at most outlen - 1 bytes); its status. */
static int run(const char *cmd, char *out, size_t outlen)
{
	FILE *f = popen(cmd, "r");
	size_t n = 0, r;

	assert_non_null(f);
	while (n < outlen - 1 && (r = fread(out + n, 1, outlen - 1 - n, f)) > 0)
		n += r;
	out[n] = '\0';
	return pclose(f);
}

static void test_protoc_decodes(void **state)
{
	char path[PATH_MAX], raw_path[PATH_MAX], cmd[3 * PATH_MAX];
	static char out[1 << 16];
	uint8_t *raw;
	size_t len;
	FILE *f;

	if (!have("protoc")) {
		print_message("skipped: protoc is not installed (apt-get install protobuf-compiler)\n");
		skip();
	}
	if (access("proto/profile.proto", R_OK)) {
		print_message("skipped: run from the source tree (proto/profile.proto not found)\n");
		skip();
	}
	write_profile("protoc.pb.gz", path, sizeof(path));
	raw = gunzip_file(path, &len);
	snprintf(raw_path, sizeof(raw_path), "%s/protoc.pb", dir);
	f = fopen(raw_path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(raw, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(raw);

	snprintf(cmd, sizeof(cmd),
		 "protoc --proto_path=proto --decode perftools.profiles.Profile "
		 "proto/profile.proto < %s 2>&1", raw_path);
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "string_table: \"inner_alloc\""));
	assert_non_null(strstr(out, "string_table: \"outer\""));
	assert_non_null(strstr(out, "string_table: \"__libc_start_main\""));
	assert_non_null(strstr(out, "string_table: \"inuse_space\""));
	assert_non_null(strstr(out, "value: 70000"));
	assert_non_null(strstr(out, "value: 3000"));
	assert_non_null(strstr(out, "time_nanos: 1700000000123456789"));
	assert_non_null(strstr(out, "has_inline_frames: true"));
	/* protoc lists fields it does not know by number: there must be none. */
	assert_null(strstr(out, "\n1: "));
	unlink(raw_path);
	unlink(path);
}

/* pprof itself, when it is installed (it usually is not). */
static void test_pprof_reads(void **state)
{
	char path[PATH_MAX], cmd[2 * PATH_MAX];
	static char out[1 << 16];
	const char *tool = NULL;

	if (have("pprof"))
		tool = "pprof";
	else if (have("go"))
		tool = "go tool pprof";
	else {
		print_message("skipped: neither pprof nor go is installed\n");
		skip();
	}
	write_profile("tool.pb.gz", path, sizeof(path));
	snprintf(cmd, sizeof(cmd), "%s -raw %s 2>&1", tool, path);
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "inner_alloc"));
	assert_non_null(strstr(out, "inuse_space"));
	unlink(path);
}

static void test_replaces_atomically(void **state)
{
	char path[PATH_MAX], entries[256];
	Profile *p;

	write_profile("again.pb.gz", path, sizeof(path));
	write_profile("again.pb.gz", path, sizeof(path));
	list_dir(dir, entries, sizeof(entries));
	assert_string_equal(entries, "again.pb.gz");
	p = read_profile(path);
	assert_int_equal(p->n_sample, 5);
	perftools__profiles__profile__free_unpacked(p, NULL);
	assert_int_equal(unlink(path), 0);
}

static void test_errors(void **state)
{
	char path[PATH_MAX], sub[256], entries[256], err[256];

	assert_int_equal(mo_pprof_write(NULL, "x", err, sizeof(err)), -EINVAL);
	assert_int_equal(mo_pprof_write(&report, "", err, sizeof(err)), -EINVAL);
	assert_int_equal(mo_pprof_write(&report, NULL, NULL, 0), -EINVAL);

	/* No such directory. */
	snprintf(path, sizeof(path), "%s/missing/heap.pb.gz", dir);
	assert_int_equal(mo_pprof_write(&report, path, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));

	/* An unwritable directory (root writes anywhere a mode allows: use procfs). */
	if (geteuid()) {
		snprintf(sub, sizeof(sub), "%s/ro", dir);
		assert_int_equal(mkdir(sub, 0500), 0);
		snprintf(path, sizeof(path), "%s/heap.pb.gz", sub);
		assert_int_equal(mo_pprof_write(&report, path, err, sizeof(err)), -EACCES);
		list_dir(sub, entries, sizeof(entries));
		assert_string_equal(entries, "");
		assert_int_equal(rmdir(sub), 0);
	}
	assert_true(mo_pprof_write(&report, "/proc/self/heap.pb.gz", err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "/proc/self/heap.pb.gz"));

	/*
	 * The temp file is written and the rename fails (the target is a
	 * directory): the error is the rename's and the temp file is gone.
	 */
	snprintf(sub, sizeof(sub), "%s/occupied", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	snprintf(path, sizeof(path), "%s/keep", sub);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(mo_pprof_write(&report, sub, err, sizeof(err)), -EISDIR);
	assert_non_null(strstr(err, "rename"));
	list_dir(dir, entries, sizeof(entries));
	assert_string_equal(entries, "occupied");
	list_dir(sub, entries, sizeof(entries));
	assert_string_equal(entries, "keep");
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(rmdir(sub), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_exact),
		cmocka_unit_test(test_build_id_reader),
		cmocka_unit_test(test_empty_report),
		cmocka_unit_test(test_alloc_totals),
		cmocka_unit_test(test_growth_encode),
		cmocka_unit_test(test_protoc_decodes),
		cmocka_unit_test(test_pprof_reads),
		cmocka_unit_test(test_replaces_atomically),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
