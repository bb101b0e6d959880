// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * diff.c - `memobserver diff A B`: the stacks whose unfreed bytes
 * (inuse_space) grew most from profile A to profile B, as text or JSON.
 * Runs unprivileged and loads nothing; every string read from the
 * profiles is escaped on output.
 */
#include <argp.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diff.h"
#include "json.h"
#include "options.h"
#include "parse.h"
#include "sinks/pprof_diff.h"
#include "sinks/render.h"

#define DIFF_TYPE "inuse_space"
#define DIFF_OBJECTS "inuse_objects"
#define TOP_DEFAULT 10
#define TOP_MAX 1000000
/* Frames printed per stack in text (JSON has them all). */
#define TEXT_FRAMES 8

struct diff_args {
	const char *path[2];
	int npaths;
	bool json;
	uint64_t top;
};

enum { OPT_JSON = 256, OPT_TOP };

static const struct argp_option diff_options[] = {
	{ "json", OPT_JSON, NULL, 0, "one JSON object instead of text", 0 },
	{ "top", OPT_TOP, "N", 0, "the N stacks that grew most (10)", 0 },
	{ NULL },
};

static error_t parse_diff_opt(int key, char *arg, struct argp_state *state)
{
	struct diff_args *a = state->input;

	switch (key) {
	case OPT_JSON:
		a->json = true;
		break;
	case OPT_TOP:
		if (mo_parse_uint(arg, 1, TOP_MAX, &a->top))
			cli_die(NULL, "diff: invalid value '%s' for --top (1 to %d)", arg, TOP_MAX);
		break;
	case ARGP_KEY_ARG:
		if (a->npaths == 2)
			cli_die(NULL, "diff: unexpected argument '%s' (give two profiles)", arg);
		a->path[a->npaths++] = arg;
		break;
	case ARGP_KEY_END:
		if (a->npaths != 2)
			cli_die(NULL, "diff: give two profiles: memobserver diff BEFORE.pb.gz AFTER.pb.gz");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp diff_argp = {
	diff_options, parse_diff_opt, "BEFORE.pb.gz AFTER.pb.gz",
	"Print the stacks whose unfreed bytes (inuse_space) grew most from the first heap "
	"profile to the second: snapshots of --profile-dir, profiles of /debug/pprof/heap, "
	"--pprof files or Go heap profiles."
};

/* The whole file, regular or a pipe, at most MO_PPROF_READ_MAX bytes. */
static int read_input(const char *path, uint8_t **out, size_t *len, const char **why)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	size_t cap = 1 << 16, n = 0;
	uint8_t *buf = NULL, *nbuf;
	struct stat st;
	int err = 0;

	*why = "";
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))) {
		err = errno ? -errno : -EINVAL;
		*why = "is not a regular file or a pipe";
		goto out;
	}
	/* blocking reads of a pipe (a process substitution) */
	if (S_ISFIFO(st.st_mode) && fcntl(fd, F_SETFL, O_RDONLY) < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		ssize_t got;

		if (!buf || n == cap) {
			if (buf)
				cap *= 2;
			if (cap > (size_t)MO_PPROF_READ_MAX + 1)
				cap = (size_t)MO_PPROF_READ_MAX + 1;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				err = -ENOMEM;
				goto out;
			}
			buf = nbuf;
		}
		got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = -errno;
			goto out;
		}
		if (!got)
			break;
		n += (size_t)got;
		if (n > MO_PPROF_READ_MAX) {
			*why = "is larger than 256 MiB";
			err = -EFBIG;
			goto out;
		}
	}
out:
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*len = n;
	return 0;
}

static void load(const char *path, struct mo_pprof_data *p)
{
	const char *why = "";
	uint8_t *data = NULL;
	size_t len = 0;
	int err;

	err = read_input(path, &data, &len, &why);
	if (err)
		cli_die(NULL, "diff: cannot read '%s': %s", path, why[0] ? why : strerror(-err));
	err = mo_pprof_read(data, len, p, &why);
	free(data);
	if (err)
		cli_die(NULL, "diff: '%s' %s", path, why[0] ? why : strerror(-err));
	if (mo_pprof_type_index(p, DIFF_TYPE) < 0)
		cli_die(NULL, "diff: '%s' is not a heap profile (it has no %s values)", path, DIFF_TYPE);
}

static void put_time(struct mo_buf *b, int64_t ns)
{
	char s[48];

	if (ns <= 0)
		return mo_buf_puts(b, "time unknown");
	out_rfc3339(s, sizeof(s), (uint64_t)ns);
	mo_buf_puts(b, s);
}

static void put_bytes(struct mo_buf *b, int64_t v, bool sign)
{
	char s[32];

	out_human_bytes(s, sizeof(s), v < 0 ? (uint64_t)-(v + 1) + 1 : (uint64_t)v);
	mo_buf_printf(b, "%s%s", v < 0 ? "-" : sign ? "+" : "", s);
}

static void put_path(struct mo_buf *b, const char *s)
{
	mo_text_escape(b, s, strlen(s));
}

static void text(struct mo_buf *b, const struct diff_args *a, const struct mo_pprof_data *p,
		 const struct mo_pprof_diff *d)
{
	size_t shown = d->ngrew < a->top ? d->ngrew : a->top;

	mo_buf_puts(b, "unfreed bytes (" DIFF_TYPE ") ");
	put_bytes(b, d->total_before, false);
	mo_buf_puts(b, " -> ");
	put_bytes(b, d->total_after, false);
	mo_buf_puts(b, " (");
	put_bytes(b, d->total_growth, true);
	mo_buf_puts(b, ") from ");
	put_path(b, a->path[0]);
	mo_buf_puts(b, " (");
	put_time(b, p[0].time_nanos);
	mo_buf_puts(b, ") to ");
	put_path(b, a->path[1]);
	mo_buf_puts(b, " (");
	put_time(b, p[1].time_nanos);
	mo_buf_printf(b, ")\n%zu of %zu stacks grew", d->ngrew, d->nstacks);
	if (shown < d->ngrew)
		mo_buf_printf(b, "; the %zu that grew most", shown);
	mo_buf_puts(b, shown ? ":\n" : "\n");
	for (size_t i = 0; i < shown; i++) {
		const struct mo_pprof_change *c = &d->grew[i];
		const struct mo_pprof_stack *st = c->stack;

		mo_buf_puts(b, "\n  ");
		put_bytes(b, c->growth, true);
		mo_buf_puts(b, " (");
		put_bytes(b, c->before, false);
		mo_buf_puts(b, " -> ");
		put_bytes(b, c->after, false);
		if (d->objects)
			mo_buf_printf(b, ", %+" PRId64 " objects", c->objects_growth);
		mo_buf_puts(b, ")");
		if (st->command[0]) {
			mo_buf_puts(b, " in ");
			mo_text_escape(b, st->command, strlen(st->command));
		}
		mo_buf_puts(b, "\n");
		for (size_t f = 0; f < st->nframes && f < TEXT_FRAMES; f++) {
			mo_buf_puts(b, "      ");
			mo_text_escape(b, st->frames[f].name, strlen(st->frames[f].name));
			mo_buf_puts(b, "\n");
		}
		if (st->nframes > TEXT_FRAMES)
			mo_buf_printf(b, "      ... %zu more frames\n", st->nframes - TEXT_FRAMES);
		if (!st->nframes)
			mo_buf_puts(b, "      (no frames)\n");
	}
}

static void json(struct mo_buf *b, const struct diff_args *a, const struct mo_pprof_data *p,
		 const struct mo_pprof_diff *d)
{
	size_t shown = d->ngrew < a->top ? d->ngrew : a->top;
	struct mo_json j;

	mo_json_init(&j, b);
	mo_json_obj_begin(&j);
	mo_json_key(&j, "sample_type");
	mo_json_str(&j, DIFF_TYPE);
	for (int i = 0; i < 2; i++) {
		mo_json_key(&j, i ? "after" : "before");
		mo_json_obj_begin(&j);
		mo_json_key(&j, "path");
		mo_json_str(&j, a->path[i]);
		mo_json_key(&j, "time_nanos");
		mo_json_i64(&j, p[i].time_nanos);
		mo_json_key(&j, "bytes");
		mo_json_i64(&j, i ? d->total_after : d->total_before);
		mo_json_obj_end(&j);
	}
	mo_json_key(&j, "growth_bytes");
	mo_json_i64(&j, d->total_growth);
	mo_json_key(&j, "stacks");
	mo_json_u64(&j, d->nstacks);
	mo_json_key(&j, "stacks_grew");
	mo_json_u64(&j, d->ngrew);
	mo_json_key(&j, "top");
	mo_json_arr_begin(&j);
	for (size_t i = 0; i < shown; i++) {
		const struct mo_pprof_change *c = &d->grew[i];

		mo_json_obj_begin(&j);
		mo_json_key(&j, "growth_bytes");
		mo_json_i64(&j, c->growth);
		mo_json_key(&j, "before_bytes");
		mo_json_i64(&j, c->before);
		mo_json_key(&j, "after_bytes");
		mo_json_i64(&j, c->after);
		if (d->objects) {
			mo_json_key(&j, "growth_objects");
			mo_json_i64(&j, c->objects_growth);
		}
		mo_json_key(&j, "command");
		mo_json_str(&j, c->stack->command);
		mo_json_key(&j, "frames");
		mo_json_arr_begin(&j);
		for (size_t f = 0; f < c->stack->nframes; f++)
			mo_json_str(&j, c->stack->frames[f].name);
		mo_json_arr_end(&j);
		mo_json_obj_end(&j);
	}
	mo_json_arr_end(&j);
	mo_json_obj_end(&j);
	mo_buf_puts(b, "\n");
}

int diff_main(int argc, char **argv)
{
	struct diff_args a = { .top = TOP_DEFAULT };
	struct mo_pprof_data p[2];
	struct mo_pprof_diff d;
	const char *why;
	struct mo_buf b;
	int err, status = 0;

	argp_err_exit_status = 2;
	/* usage and errors name the subcommand */
	argv[0] = (char *)"memobserver diff";
	program_invocation_name = program_invocation_short_name = argv[0];
	argp_parse(&diff_argp, argc, argv, 0, NULL, &a);
	load(a.path[0], &p[0]);
	load(a.path[1], &p[1]);
	err = mo_pprof_diff(&p[0], &p[1], DIFF_TYPE, DIFF_OBJECTS, &d, &why);
	if (err)
		cli_die(NULL, "diff: cannot compare the profiles: %s", why[0] ? why : strerror(-err));
	mo_buf_init(&b);
	if (a.json)
		json(&b, &a, p, &d);
	else
		text(&b, &a, p, &d);
	if (b.oom)
		cli_die(NULL, "diff: out of memory");
	if (fwrite(b.data, 1, b.len, stdout) != b.len || fflush(stdout))
		status = 1;
	mo_buf_release(&b);
	mo_pprof_diff_release(&d);
	mo_pprof_data_release(&p[0]);
	mo_pprof_data_release(&p[1]);
	return status;
}
