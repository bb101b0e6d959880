// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_privsep.c - the parser child and its client (privsep.h).
 *
 * This program is also the child: run with MO_PRIVSEP_CHILD_ARG it
 * confines itself (seccomp, no new privileges) and serves fd 3, as
 * memobserver does after dropping its user; run with "hostile MODE" it
 * plays a parser that crashes, hangs or lies in the way MODE says.
 *
 * The real child is driven record by record through its socket with
 * truncated records, lengths that lie, strings without end, descriptors
 * where none belong; it must answer each with an error and keep serving.
 * Through the client: rows and frames must equal the in-process ones; a
 * child killed by SIGSEGV is replaced (files it held are opened again in
 * the new one); every hostile child is counted and its file lost, without
 * a crash, a hang, or a descriptor left open here.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "attach.h"
#include "elfsym.h"
#include "perfmap.h"
#include "privsep.h"
#include "privsep_msg.h"
#include "safefile.h"
#include "symbolize.h"
#include "unwind_table.h"
#include "util.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"
#define NOINL __attribute__((noinline, noclone, used))
#define KEEP(v) __asm__ volatile("" : : "r"(v) : "memory")

NOINL int privsep_probe_fn(int x) { KEEP(x); return x * 7 + (int)(getpid() % 5); }

/* C functions under the names a C++ and a Rust compiler give them. */
NOINL int cxx_named(int x) __asm__("_ZN2mo6detail5countEPKcm");
NOINL int cxx_named(int x) { KEEP(x); return x + 3; }
NOINL int rust_named(int x) __asm__("_ZN7mycrate4leak17h0123456789abcdefE");
NOINL int rust_named(int x) { KEEP(x); return x + 4; }
#define MANGLED_REPLY "_ZN2mo6detail5countEPKcm"

void __lsan_do_leak_check(void) __attribute__((weak));

/* ------------------------------------------------------ hostile parsers */

static void send_raw(int sock, const void *buf, size_t len, int fd)
{
	mo_ps_send_record(sock, buf, len, &fd, fd >= 0);
}

static int open_libc(void);

static void send_with_libc(int sock, const void *buf, size_t len)
{
	int fd = open_libc();

	send_raw(sock, buf, len, fd);
	close(fd);
}

static void send_msg(int sock, struct mo_ps_msg *m)
{
	mo_ps_send(sock, m, -1);
}

/* A JIT record of one entry sent with byte at (offset into the entry's
 * name) changed to c, or its size field to size when size is not 0: what
 * the encoder would not write. */
static void send_bad_jit(int sock, size_t at, char c, uint64_t size)
{
	static uint8_t raw[MO_PS_MAX_MSG];
	static struct mo_ps_msg r;
	int n;

	r.type = MO_PS_JIT;
	r.jit.n = 1;
	r.jit.e[0] = (struct mo_ps_jit){ .start = 0x1000, .size = 0x10, .name = "abc", .name_len = 3 };
	n = mo_ps_encode(&r, raw, sizeof(raw));
	raw[MO_PS_HDR + 4 + 8 + 8 + 2 + at] = (uint8_t)c;
	if (size)
		memcpy(raw + MO_PS_HDR + 4 + 8, &size, 8);
	send_raw(sock, raw, (size_t)n, -1);
}

/* Answers to a PERFMAP request (of a file of size bytes) that lie. */
static void hostile_jit(int sock, const char *mode, uint64_t size)
{
	static char names[MO_PS_JIT_PER_MSG][101];
	static struct mo_ps_msg r;
	uint64_t start = 0x10000;

	if (!strcmp(mode, "jit-nul")) {		/* a NUL in a name */
		send_bad_jit(sock, 1, '\0', 0);
		return;
	}
	if (!strcmp(mode, "jit-wrap")) {	/* a range past 2^64 */
		send_bad_jit(sock, 0, 'a', ~0ULL - 8);
		return;
	}
	r.type = MO_PS_JIT;
	if (!strcmp(mode, "jit-unsorted")) {	/* each message sorted, not the two */
		r.jit.n = 1;
		r.jit.e[0] = (struct mo_ps_jit){ .start = 0x2000, .size = 0x10, .name = "b", .name_len = 1 };
		send_msg(sock, &r);
		r.jit.e[0] = (struct mo_ps_jit){ .start = 0x1000, .size = 0x10, .name = "a", .name_len = 1 };
		send_msg(sock, &r);
	} else if (!strcmp(mode, "jit-names")) {	/* more name bytes than the file */
		r.jit.n = MO_PS_JIT_PER_MSG;
		for (uint32_t k = 0; k < r.jit.n; k++) {
			memset(names[k], 'n', 100);
			r.jit.e[k] = (struct mo_ps_jit){ .start = start + k * 16, .size = 16,
							 .name = names[k], .name_len = 100 };
		}
		send_msg(sock, &r);
	} else if (!strcmp(mode, "jit-many")) {	/* more entries than a map holds */
		r.jit.n = MO_PS_JIT_PER_MSG;
		for (uint32_t sent = 0; sent <= MO_PERFMAP_MAX_ENTRIES; sent += r.jit.n) {
			for (uint32_t k = 0; k < r.jit.n; k++, start += 16)
				r.jit.e[k] = (struct mo_ps_jit){ .start = start, .size = 16,
								 .name = "x", .name_len = 1 };
			if (mo_ps_send(sock, &r, -1))
				return;
		}
	} else if (!strcmp(mode, "jit-count")) {	/* more malformed lines than bytes */
		r.jit.n = 1;
		r.jit.e[0] = (struct mo_ps_jit){ .start = 0x1000, .size = 0x10, .name = "a", .name_len = 1 };
		send_msg(sock, &r);
		r.type = MO_PS_DONE;
		r.done.err = 0;
		r.done.count = (uint32_t)size + 1;
		send_msg(sock, &r);
		return;
	}
	r.type = MO_PS_DONE;
	r.done.err = 0;
	r.done.count = 0;
	send_msg(sock, &r);
}

/* A parser that answers every request as mode says. */
static int hostile(const char *mode)
{
	static uint8_t buf[MO_PS_MAX_MSG];
	static struct mo_ps_msg m, r;
	struct mo_unwind_row rows[32];
	int sock = MO_PRIVSEP_CHILD_FD, fd;

	for (int i = 0; i < 32; i++)
		rows[i] = (struct mo_unwind_row){ .pc = (uint32_t)(31 - i) * 16, .cfa = 1 };
	while (mo_ps_recv(sock, buf, &m, &fd, 0) == 0) {
		/* kept open for this request, closed before the next */
		static int held = -1;

		if (held >= 0)
			close(held);
		held = fd;
		if (!strcmp(mode, "crash")) {
			/* the kernel's default action, not a sanitizer's report */
			signal(SIGSEGV, SIG_DFL);
			raise(SIGSEGV);
		}
		if (!strcmp(mode, "exit"))
			_exit(3);
		if (!strcmp(mode, "silent"))
			pause();
		if (!strcmp(mode, "deaf") && m.type == MO_PS_CLOSE)
			pause();	/* and never reads again */
		if (!strcmp(mode, "deaf") && m.type == MO_PS_OPEN) {
			static uint32_t next_handle;

			memset(&r, 0, sizeof(r));
			r.type = MO_PS_OPENED;
			r.opened.handle = ++next_handle;
			send_msg(sock, &r);
			continue;
		}
		if (!strcmp(mode, "huge-rows")) {
			r.type = MO_PS_ROWS_HEAD;
			r.rows_head.nrows = 1ULL << 60;
			send_msg(sock, &r);
		} else if (!strcmp(mode, "more-rows")) {
			r.type = MO_PS_ROWS_HEAD;
			r.rows_head.nrows = 10;
			send_msg(sock, &r);
			r.type = MO_PS_ROWS;
			r.rows.rows = rows;
			r.rows.n = 20;
			send_msg(sock, &r);
		} else if (!strcmp(mode, "unsorted")) {
			r.type = MO_PS_ROWS_HEAD;
			r.rows_head.nrows = 32;
			send_msg(sock, &r);
			r.type = MO_PS_ROWS;
			r.rows.rows = rows;
			r.rows.n = 32;
			send_msg(sock, &r);
		} else if (!strcmp(mode, "long-length")) {
			/* a header claiming 4 GiB of payload on a 12-byte record */
			uint8_t raw[12] = { MO_PS_DONE, 0, 0, 0, 0xf0, 0xff, 0xff, 0xff };

			send_raw(sock, raw, sizeof(raw), -1);
		} else if (!strcmp(mode, "truncated")) {
			uint8_t raw[3] = { MO_PS_DONE, 0, 0 };

			send_raw(sock, raw, sizeof(raw), -1);
		} else if (!strcmp(mode, "fd-in-reply")) {
			uint8_t raw[16];
			int n;

			r.type = MO_PS_DONE;
			r.done.err = -ENOEXEC;
			n = mo_ps_encode(&r, raw, sizeof(raw));
			send_raw(sock, raw, (size_t)n, 0);
		} else if (!strcmp(mode, "many-frames")) {
			for (int i = 0; i < MO_SYMFILE_MAX_FRAMES + 5; i++) {
				memset(&r, 0, sizeof(r));
				r.type = MO_PS_FRAME;
				r.frame.has_symbol = true;
				strcpy(r.frame.symbol, "lie");
				send_msg(sock, &r);
			}
		} else if (!strcmp(mode, "debug-escape") && m.type == MO_PS_OPEN) {
			/* names that would lead out of the debug trees: each
			 * must be refused; the answers come back as the build id */
			static const struct {
				uint8_t where;
				const char *name;
			} tries[] = {
				{ MO_DEBUG_ALT, "/etc/shadow" },
				{ MO_DEBUG_ALT, "/usr/lib/debug/../../../etc/shadow" },
				{ MO_DEBUG_LINK_SIBLING, "../../../../etc/shadow" },
				{ MO_DEBUG_LINK_USR, "../shadow" },
				{ MO_DEBUG_BUILD_ID, "../../etc/shadow" },
			};
			char got[64] = "";

			for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
				r.type = MO_PS_DEBUG_REQ;
				r.debug_req.where = tries[i].where;
				strcpy(r.debug_req.name, tries[i].name);
				send_msg(sock, &r);
				if (mo_ps_recv(sock, buf, &r, &fd, 0) || r.type != MO_PS_DEBUG_FD)
					_exit(4);
				strcat(got, fd >= 0 ? "F" : r.debug_fd.err == -EINVAL ? "i" : "e");
				if (fd >= 0)
					close(fd);
			}
			memset(&r, 0, sizeof(r));
			r.type = MO_PS_OPENED;
			snprintf(r.opened.info.build_id, sizeof(r.opened.info.build_id), "%s", got);
			send_msg(sock, &r);
		} else if (!strcmp(mode, "mangled") && m.type == MO_PS_OPEN) {
			/* the file read for real (its segments place the
			 * addresses), its names then sent as in the file */
			static struct mo_symfiles *fs;
			uint32_t h;

			if (!fs)
				fs = mo_symfiles_new();
			memset(&r, 0, sizeof(r));
			r.type = MO_PS_OPENED;
			if (mo_symfiles_open(fs, dup(fd), "self", NULL, &r.opened.info, &h))
				_exit(5);
			r.opened.handle = h;
			send_msg(sock, &r);
		} else if (!strcmp(mode, "mangled") && m.type == MO_PS_LOOKUP) {
			memset(&r, 0, sizeof(r));
			r.type = MO_PS_FRAME;
			r.frame.has_symbol = true;
			strcpy(r.frame.symbol, MANGLED_REPLY);
			send_msg(sock, &r);
			memset(&r, 0, sizeof(r));
			r.type = MO_PS_DONE;
			r.done.count = 1;
			send_msg(sock, &r);
		} else if (!strncmp(mode, "funcs-", 6) && m.type == MO_PS_FUNCS) {
			/* the real answer, then one lie in it */
			static struct mo_elf_func f[MO_PS_MAX_FUNCS];
			uint32_t n = m.funcs.n, k;

			for (k = 0; k < n; k++)
				f[k].name = m.funcs.names[k];
			if (mo_elf_find_funcs_fd(fd, f, n) < 0)
				_exit(6);
			memset(&r, 0, sizeof(r));
			r.type = MO_PS_FOUND;
			r.found.n = n;
			for (k = 0; k < n; k++) {
				r.found.f[k].found = f[k].found;
				r.found.f[k].vaddr = f[k].vaddr;
				r.found.f[k].file_offset = f[k].file_offset;
				r.found.f[k].size = f[k].size;
				r.found.f[k].code_len = (uint8_t)f[k].code_len;
				memcpy(r.found.f[k].code, f[k].code, f[k].code_len);
			}
			for (k = 0; k < n && !f[k].found; k++)
				;
			if (k == n)
				_exit(7);
			if (!strcmp(mode, "funcs-code"))	/* one bit of the code off */
				r.found.f[k].code[r.found.f[k].code_len - 1] ^= 0x01;
			else if (!strcmp(mode, "funcs-offset"))	/* past the end of the file */
				r.found.f[k].file_offset += 1ULL << 40;
			else if (!strcmp(mode, "funcs-count"))	/* one answer short */
				r.found.n = n - 1;
			else if (!strcmp(mode, "funcs-long"))	/* more code than the function */
				r.found.f[k].size = r.found.f[k].code_len - 1;
			else if (!strcmp(mode, "funcs-rows"))	/* another reply's type */
				r.type = MO_PS_ROWS_HEAD;
			send_msg(sock, &r);
		} else if (!strcmp(mode, "bad-id") && m.type == MO_PS_BUILD_ID) {
			/* uppercase digits: not what a build id is sent as */
			uint8_t raw[MO_PS_HDR + 2 + 8] = { MO_PS_ID, 0, 0, 0, 10, 0, 0, 0, 8, 0 };

			memcpy(raw + MO_PS_HDR + 2, "FEEDFACE", 8);
			send_raw(sock, raw, sizeof(raw), -1);
		} else if (!strncmp(mode, "jit-", 4) && m.type == MO_PS_PERFMAP) {
			hostile_jit(sock, mode, m.perfmap.size);
		} else if (!strcmp(mode, "debug-flood") && m.type == MO_PS_OPEN) {
			for (int i = 0; i < 20; i++) {
				r.type = MO_PS_DEBUG_REQ;
				r.debug_req.where = MO_DEBUG_BUILD_ID;
				strcpy(r.debug_req.name, "0123456789abcdef");
				send_msg(sock, &r);
				if (mo_ps_recv(sock, buf, &r, &fd, 0))
					break;
				if (fd >= 0)
					close(fd);
			}
		} else {
			r.type = MO_PS_DONE;
			r.done.err = -ENOEXEC;
			send_msg(sock, &r);
		}
	}
	return 0;
}

/* Confined, try one thing the filter forbids (or allows): exits 0 when an
 * open failed with EACCES, else whatever the kernel does to it. */
static int escape(const char *what)
{
	struct flock lk = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	pid_t parent = getppid();
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

	if (__lsan_do_leak_check)	/* see main */
		__lsan_do_leak_check();
	if (fd < 0 || mo_privsep_confine())
		return 3;
	if (!strcmp(what, "open"))
		return open("/etc/passwd", O_RDONLY) < 0 && errno == EACCES ? 0 : 1;
	if (!strcmp(what, "kill"))
		kill(parent, SIGCONT);
	if (!strcmp(what, "tgkill"))
		syscall(SYS_tgkill, parent, parent, SIGCONT);
	if (!strcmp(what, "socket"))
		socket(AF_INET, SOCK_STREAM, 0);
	if (!strcmp(what, "lock"))
		fcntl(fd, F_SETLK, &lk);
	if (!strcmp(what, "exec"))
		execl("/bin/true", "true", (char *)NULL);
	if (!strcmp(what, "abort")) {
		/* what abort() does, without a sanitizer's handler in between */
		signal(SIGABRT, SIG_DFL);
		syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), SIGABRT);
	}
	return 4;
}

/* ---------------------------------------------------------------- helpers */

static char self[PATH_MAX];

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the directory's own */
}

/* The client's warnings: how many, and the last one. */
static int warnings;
static char last_warning[512];

static void note_log(enum mo_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level != MO_LOG_WARN)
		return;
	warnings++;
	snprintf(last_warning, sizeof(last_warning), "%s", msg);
}

static struct mo_privsep *client(const char *mode, uint32_t timeout_ms)
{
	char *argv[] = { self, mode ? "hostile" : MO_PRIVSEP_CHILD_ARG, (char *)mode, NULL };
	struct mo_privsep_opts o = { .argv = argv, .timeout_ms = timeout_ms, .log = note_log };
	struct mo_privsep *p = mo_privsep_new(&o);

	assert_non_null(p);
	return p;
}

static int open_libc(void)
{
	int fd = mo_safe_open(LIBC, NULL, 0, NULL);

	assert_true(fd >= 0);
	return fd;
}

/* A copy of file without its build id at path (a mkstemp template),
 * opened. */
static int copy_without_id(const char *file, char *path)
{
	char cmd[2 * PATH_MAX + 64];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "objcopy --remove-section .note.gnu.build-id '%s' '%s'", file,
		 path);
	assert_int_equal(system(cmd), 0);
	fd = mo_safe_open(path, NULL, 0, NULL);
	assert_true(fd >= 0);
	return fd;
}

/* SIGSEGV to pid, and wait until it is a zombie or gone. */
static void segv(pid_t pid)
{
	char path[64], state = 0;

	assert_true(pid > 0);
	assert_int_equal(kill(pid, SIGSEGV), 0);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (int i = 0; i < 5000; i++) {
		FILE *f = fopen(path, "r");
		int n = f ? fscanf(f, "%*d (%*[^)]) %c", &state) : 0;

		if (f)
			fclose(f);
		if (!f || (n == 1 && state == 'Z'))
			return;
		usleep(1000);
	}
	fail_msg("pid %d did not die", (int)pid);
}

/* Start a real, confined child on a socket this test holds. */
static pid_t raw_child(int *sock)
{
	int sv[2];
	pid_t pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(sv[1], MO_PRIVSEP_CHILD_FD);
		execl(self, self, MO_PRIVSEP_CHILD_ARG, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	*sock = sv[0];
	return pid;
}

static void expect(int sock, enum mo_ps_type type, int err)
{
	static uint8_t buf[MO_PS_MAX_MSG];
	static struct mo_ps_msg m;
	uint64_t end = mo_clock_ns(CLOCK_MONOTONIC) + 10 * MO_NSEC;
	int fd;

	assert_int_equal(mo_ps_recv(sock, buf, &m, &fd, end), 0);
	assert_int_equal(fd, -1);
	assert_int_equal(m.type, type);
	if (type == MO_PS_DONE)
		assert_int_equal(m.done.err, err);
}

/* ------------------------------------------------------------------ tests */

/* Records the real child must refuse, one by one, answering DONE(-EPROTO)
 * to each and serving on. */
static void test_child_hostile_records(void **state)
{
	uint8_t big[100000], rec[64];
	struct mo_ps_msg m = { 0 };
	int sock, fds[2], n, status;
	pid_t pid = raw_child(&sock);

	/* a header cut short */
	send_raw(sock, "\x03\x00\x00", 3, -1);
	expect(sock, MO_PS_DONE, -EPROTO);
	/* a length of 4 GiB on a 12-byte record */
	memcpy(rec, "\x03\x00\x00\x00\xf0\xff\xff\xff\x01\x00\x00\x00", 12);
	send_raw(sock, rec, 12, -1);
	expect(sock, MO_PS_DONE, -EPROTO);
	/* a record longer than any message (cut by the receiver: refused) */
	memset(big, 0, sizeof(big));
	big[0] = MO_PS_LOOKUP;
	n = (int)sizeof(big) - MO_PS_HDR;
	memcpy(big + 4, &n, 4);
	send_raw(sock, big, sizeof(big), -1);
	expect(sock, MO_PS_DONE, -EPROTO);
	/* an unknown type; a nonzero reserved field */
	memcpy(rec, "\x63\x00\x00\x00\x00\x00\x00\x00", 8);
	send_raw(sock, rec, 8, -1);
	expect(sock, MO_PS_DONE, -EPROTO);
	memcpy(rec, "\x04\x00\x01\x00\x04\x00\x00\x00\x01\x00\x00\x00", 12);
	send_raw(sock, rec, 12, -1);
	expect(sock, MO_PS_DONE, -EPROTO);
	/* a string longer than its record; one with a NUL inside */
	m.type = MO_PS_OPEN;
	strcpy(m.open.modname, "/lib/x.so");
	n = mo_ps_encode(&m, rec, sizeof(rec));
	rec[8] = 200;
	send_with_libc(sock, rec, (size_t)n);
	expect(sock, MO_PS_DONE, -EPROTO);
	n = mo_ps_encode(&m, rec, sizeof(rec));
	rec[12] = 0;
	send_with_libc(sock, rec, (size_t)n);
	expect(sock, MO_PS_DONE, -EPROTO);
	/* requests without their descriptor, with one they do not take, with two */
	m.type = MO_PS_UNWIND;
	m.unwind.max_rows = 1000;
	n = mo_ps_encode(&m, rec, sizeof(rec));
	send_raw(sock, rec, (size_t)n, -1);
	expect(sock, MO_PS_DONE, -EPROTO);
	m.type = MO_PS_LOOKUP;
	n = mo_ps_encode(&m, rec, sizeof(rec));
	send_with_libc(sock, rec, (size_t)n);
	expect(sock, MO_PS_DONE, -EPROTO);
	m.type = MO_PS_UNWIND;
	n = mo_ps_encode(&m, rec, sizeof(rec));
	fds[0] = open_libc();
	fds[1] = open_libc();
	assert_int_equal(mo_ps_send_record(sock, rec, (size_t)n, fds, 2), 0);
	close(fds[0]);
	close(fds[1]);
	expect(sock, MO_PS_DONE, -EPROTO);
	/* a reply sent as a request */
	m.type = MO_PS_DONE;
	m.done.err = 0;
	send_msg(sock, &m);
	expect(sock, MO_PS_DONE, -EPROTO);
	/* a handle it never gave; then real work: libc's rows */
	m.type = MO_PS_LOOKUP;
	m.lookup.handle = 12345;
	send_msg(sock, &m);
	expect(sock, MO_PS_DONE, -ENOENT);
	m.type = MO_PS_UNWIND;
	m.unwind.max_rows = 10;
	fds[0] = open_libc();
	assert_int_equal(mo_ps_send(sock, &m, fds[0]), 0);
	close(fds[0]);
	expect(sock, MO_PS_DONE, -ENOSPC);
	m.unwind.max_rows = 10000000;
	fds[0] = open_libc();
	assert_int_equal(mo_ps_send(sock, &m, fds[0]), 0);
	close(fds[0]);
	expect(sock, MO_PS_ROWS_HEAD, 0);

	assert_int_equal(kill(pid, 0), 0);
	close(sock);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The confined child as the kernel sees it. */
static void test_child_confined(void **state)
{
	char path[64], line[256];
	int sock, status, seccomp = -1, nnp = -1;
	pid_t pid = raw_child(&sock);
	struct mo_ps_msg m = { .type = MO_PS_LOOKUP };
	FILE *f;

	/* an answer: the child is past its confinement */
	send_msg(sock, &m);
	expect(sock, MO_PS_DONE, -ENOENT);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "Seccomp: %d", &seccomp);
		sscanf(line, "NoNewPrivs: %d", &nnp);
	}
	fclose(f);
	assert_int_equal(seccomp, 2);
	assert_int_equal(nnp, 1);
	close(sock);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* What the filter does to each attempt of a confined process. */
static void test_filter(void **state)
{
	static const struct {
		const char *what;
		int exit_status;	/* or */
		int signal;
	} cases[] = {
		{ "open", 0, 0 },	{ "kill", -1, SIGSYS }, { "tgkill", -1, SIGSYS },
		{ "socket", -1, SIGSYS }, { "lock", -1, SIGSYS }, { "exec", -1, SIGSYS },
		{ "abort", -1, SIGABRT },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int status;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			execl(self, self, "escape", cases[i].what, (char *)NULL);
			_exit(127);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (cases[i].signal) {
			if (!WIFSIGNALED(status) || WTERMSIG(status) != cases[i].signal)
				fail_msg("%s: status 0x%x, expected signal %d", cases[i].what, status,
					 cases[i].signal);
		} else if (!WIFEXITED(status) || WEXITSTATUS(status) != cases[i].exit_status) {
			fail_msg("%s: status 0x%x, expected exit %d", cases[i].what, status,
				 cases[i].exit_status);
		}
	}
}

static void test_rows_equal(void **state)
{
	struct mo_unwind_table here = { 0 }, there = { 0 };
	struct mo_privsep_stats st;
	struct mo_privsep *p = client(NULL, 0);
	int fd = open_libc(), fds0 = count_fds();

	assert_int_equal(mo_unwind_table_build_fd(fd, &here), 0);
	assert_int_equal(mo_privsep_build_rows(p, fd, 10000000, &there), 0);
	assert_true(here.nrows > 1000);
	assert_int_equal(there.nrows, here.nrows);
	assert_true(there.vaddr_min == here.vaddr_min);
	assert_true(there.off_to_vaddr == here.off_to_vaddr);
	assert_int_equal(there.unsupported, here.unsupported);
	assert_memory_equal(there.rows, here.rows, here.nrows * sizeof(*here.rows));
	mo_unwind_table_release(&there);
	/* more rows than allowed: refused by the child */
	assert_int_equal(mo_privsep_build_rows(p, fd, here.nrows - 1, &there), -ENOSPC);
	assert_int_equal(there.nrows, 0);
	mo_privsep_stats(p, &st);
	assert_int_equal(st.starts, 1);
	assert_int_equal(st.died + st.timeouts + st.protocol, 0);
	mo_privsep_free(p);
	assert_int_equal(count_fds(), fds0);
	mo_unwind_table_release(&here);
	close(fd);
}

static void frames_equal(const struct mo_frame *a, size_t na, const struct mo_frame *b, size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_true(a[i].address == b[i].address);
		assert_true(a[i].module_offset == b[i].module_offset);
		assert_true(a[i].offset == b[i].offset);
		assert_int_equal(a[i].line, b[i].line);
		assert_int_equal(a[i].inlined, b[i].inlined);
		assert_true((a[i].symbol == NULL) == (b[i].symbol == NULL));
		if (a[i].symbol)
			assert_string_equal(a[i].symbol, b[i].symbol);
		if (a[i].file)
			assert_string_equal(a[i].file, b[i].file);
		assert_string_equal(a[i].module, b[i].module);
	}
}

static void symbolize_both(struct mo_symbolizer *here, struct mo_symbolizer *there,
			   const uint64_t *ips, size_t n)
{
	struct mo_frame *a, *b;
	size_t na, nb;

	assert_int_equal(mo_symbolize(here, getpid(), ips, n, &a, &na), 0);
	assert_int_equal(mo_symbolize(there, getpid(), ips, n, &b, &nb), 0);
	frames_equal(a, na, b, nb);
	mo_frames_free(a, na);
	mo_frames_free(b, nb);
}

/* Frames through the child equal frames made here; a child killed by
 * SIGSEGV between requests is replaced and the files it had are opened in
 * the new one. */
static void test_symbols_equal_and_respawn(void **state)
{
	struct mo_symbolizer *here = mo_symbolizer_new(), *there = mo_symbolizer_new();
	struct mo_privsep *p = client(NULL, 0);
	struct mo_privsep_stats st;
	struct mo_symsource src;
	uint64_t ips[] = {
		(uint64_t)(uintptr_t)privsep_probe_fn + 3,
		(uint64_t)(uintptr_t)malloc + 1,
		(uint64_t)(uintptr_t)test_rows_equal + 5,
	};
	uint64_t more[] = { (uint64_t)(uintptr_t)fopen + 2, (uint64_t)(uintptr_t)symbolize_both + 1 };
	struct mo_frame *f;
	char want[96];
	size_t n;
	pid_t first;

	assert_non_null(here);
	assert_non_null(there);
	mo_privsep_symsource(p, &src);
	assert_int_equal(mo_symbolizer_set_source(there, &src), 0);
	symbolize_both(here, there, ips, 3);
	assert_int_equal(mo_symbolize(there, getpid(), ips, 1, &f, &n), 0);
	assert_string_equal(f[0].symbol, "privsep_probe_fn");
	mo_frames_free(f, n);

	first = mo_privsep_child(p);
	warnings = 0;
	segv(first);
	symbolize_both(here, there, more, 2);
	mo_privsep_stats(p, &st);
	assert_int_equal(st.starts, 2);
	assert_int_equal(st.died, 1);
	assert_int_equal(st.files_lost, 0);
	assert_true(mo_privsep_child(p) != first);
	/* the death is reported once, however many requests follow it (how
	 * it died varies: a sanitizer's SIGSEGV handler makes it an exit) */
	assert_int_equal(warnings, 1);
	snprintf(want, sizeof(want), "parser process %d ", (int)first);
	assert_non_null(strstr(last_warning, want));
	assert_non_null(strstr(last_warning, "; a new one starts in 0 ms"));
	/* the source cannot change once modules are read */
	assert_int_equal(mo_symbolizer_set_source(there, NULL), -EBUSY);
	mo_symbolizer_free(there);
	mo_symbolizer_free(here);
	mo_privsep_free(p);
}

/* Mangled names come back demangled from the child, which keeps the name
 * in the file beside them: a C++ and a Rust (legacy) name. */
static void test_demangled_by_child(void **state)
{
	struct mo_symbolizer *s = mo_symbolizer_new();
	struct mo_privsep *p = client(NULL, 0);
	struct mo_symsource src;
	uint64_t ips[] = { (uint64_t)(uintptr_t)cxx_named, (uint64_t)(uintptr_t)rust_named,
			   (uint64_t)(uintptr_t)privsep_probe_fn };
	static const char *const want[][2] = {
		{ "mo::detail::count(char const*, unsigned long)", "_ZN2mo6detail5countEPKcm" },
		{ "mycrate::leak", "_ZN7mycrate4leak17h0123456789abcdefE" },
		{ "privsep_probe_fn", NULL },
	};
	struct mo_frame *f;
	size_t n;

	assert_non_null(s);
	mo_privsep_symsource(p, &src);
	assert_int_equal(mo_symbolizer_set_source(s, &src), 0);
	for (size_t i = 0; i < 3; i++) {
		/* one at a time: later frames are looked up as return addresses */
		assert_int_equal(mo_symbolize(s, getpid(), &ips[i], 1, &f, &n), 0);
		assert_int_equal(n, 1);
		assert_non_null(f[0].symbol);
		assert_string_equal(f[0].symbol, want[i][0]);
		if (want[i][1])
			assert_string_equal(f[0].linkage_name, want[i][1]);
		else
			assert_null(f[0].linkage_name);
		mo_frames_free(f, n);
	}
	assert_int_equal(mo_privsep_child(p) > 0, 1);
	mo_symbolizer_free(s);
	mo_privsep_free(p);
	KEEP(cxx_named(1) + rust_named(2));
}

/* Names from the parser are used as they come: a mangled name the parser
 * did not demangle is not demangled here (the demangler would read what
 * the traced user wrote, in the privileged process). */
static void test_not_demangled_here(void **state)
{
	struct mo_symbolizer *s = mo_symbolizer_new();
	struct mo_privsep *p = client("mangled", 0);
	struct mo_privsep_stats st;
	struct mo_symsource src;
	uint64_t ip = (uint64_t)(uintptr_t)privsep_probe_fn;
	struct mo_frame *f;
	size_t n;

	assert_non_null(s);
	mo_privsep_symsource(p, &src);
	assert_int_equal(mo_symbolizer_set_source(s, &src), 0);
	assert_int_equal(mo_symbolize(s, getpid(), &ip, 1, &f, &n), 0);
	assert_int_equal(n, 1);
	assert_non_null(f[0].symbol);
	assert_string_equal(f[0].symbol, MANGLED_REPLY);
	assert_null(f[0].linkage_name);
	mo_frames_free(f, n);
	mo_privsep_stats(p, &st);
	assert_int_equal(st.died + st.timeouts + st.protocol, 0);
	mo_symbolizer_free(s);
	mo_privsep_free(p);
}

/* The attach table's names (as attach.c asks for them, a prefixed family
 * too), some absent, a NULL and an empty one among them. */
static const char *const func_names[] = {
	"malloc", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
	"memalign", "valloc", "pvalloc", "free", "mallocx", "rallocx", "sdallocx", "dallocx",
	"_Znwm", "_Znam", "_ZdlPv", "_ZdaPv", "_ZdlPvm", "je_malloc", "je_free", "mi_malloc",
	"tc_malloc", NULL, "", "privsep_probe_fn", "_ZN2mo6detail5countEPKcm",
	"malloc@@GLIBC_2.2.5", "no_such_function_anywhere",
};
#define NFUNC_NAMES (sizeof(func_names) / sizeof(func_names[0]))

static void funcs_equal(const struct mo_elf_func *a, const struct mo_elf_func *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(a[i].found, b[i].found);
		assert_true(a[i].vaddr == b[i].vaddr);
		assert_true(a[i].file_offset == b[i].file_offset);
		assert_true(a[i].size == b[i].size);
		assert_int_equal(a[i].code_len, b[i].code_len);
		assert_memory_equal(a[i].code, b[i].code, a[i].code_len);
	}
}

/* elfsym's answer through the child is the answer here, field by field:
 * libc, this program, the static fixture (its own allocator), and 400
 * names at once (more than one request holds). */
static void test_funcs_equal(void **state)
{
	static struct mo_elf_func here[400], there[400];
	char fixture[PATH_MAX];
	const char *files[] = { LIBC, self, fixture };
	struct mo_privsep *p = client(NULL, 0);
	struct mo_privsep_stats st;
	int fds0 = count_fds(), libc_found = 0;

	snprintf(fixture, sizeof(fixture), "%s", self);
	snprintf(strrchr(fixture, '/'), sizeof(fixture) - (size_t)(strrchr(fixture, '/') - fixture),
		 "/../fixtures/exact_sample-static");
	for (size_t i = 0; i < 3; i++) {
		int fd = mo_safe_open(files[i], NULL, 0, NULL), a, b;

		if (fd < 0 && i == 2)
			fail_msg("%s: %s (make fixtures)", fixture, strerror(-fd));
		assert_true(fd >= 0);
		memset(here, 0, sizeof(here));
		memset(there, 0, sizeof(there));
		for (size_t k = 0; k < NFUNC_NAMES; k++)
			here[k].name = there[k].name = func_names[k];
		a = mo_elf_find_funcs_fd(fd, here, NFUNC_NAMES);
		b = mo_privsep_find_funcs(p, fd, there, NFUNC_NAMES);
		assert_true(a >= 2);	/* malloc and free at least */
		assert_int_equal(b, a);
		funcs_equal(here, there, NFUNC_NAMES);
		if (i == 0)
			libc_found = a;
		close(fd);
	}
	/* 400 names: three requests, the same answers in the same places */
	{
		int fd = open_libc();

		for (size_t k = 0; k < 400; k++) {
			here[k] = (struct mo_elf_func){ .name = func_names[k % NFUNC_NAMES] };
			there[k] = (struct mo_elf_func){ .name = func_names[k % NFUNC_NAMES] };
		}
		assert_int_equal(mo_elf_find_funcs_fd(fd, here, 400),
				 mo_privsep_find_funcs(p, fd, there, 400));
		assert_true(here[0].found && libc_found > 0);
		funcs_equal(here, there, 400);
		close(fd);
	}
	mo_privsep_stats(p, &st);
	assert_int_equal(st.starts, 1);
	assert_int_equal(st.died + st.timeouts + st.protocol, 0);
	mo_privsep_free(p);
	assert_int_equal(count_fds(), fds0);
}

/* FUNCS and FOUND records: what the encoder will not write and the
 * decoder refuses, and the real child's answers to bad requests. */
static void test_funcs_records(void **state)
{
	static uint8_t rec[MO_PS_MAX_MSG];
	static struct mo_ps_msg m, d;
	int n, len, sock, fd, status;
	pid_t pid;

	/* a FOUND of two: one found with 3 code bytes, one not */
	memset(&m, 0, sizeof(m));
	m.type = MO_PS_FOUND;
	m.found.n = 2;
	m.found.f[0] = (struct mo_ps_func){ .found = true, .vaddr = 0x1000, .file_offset = 0x1000,
					    .size = 16, .code_len = 3, .code = { 0xf3, 0x0f, 0x1e } };
	len = mo_ps_encode(&m, rec, sizeof(rec));
	assert_int_equal(len, MO_PS_HDR + 4 + (1 + 24 + 1 + 3) + 1);
	assert_int_equal(mo_ps_decode(rec, (size_t)len, &d), 0);
	assert_int_equal(d.found.n, 2);
	assert_memory_equal(&d.found.f[0], &m.found.f[0], sizeof(d.found.f[0]));
	assert_int_equal(d.found.f[1].found, 0);
	/* refused: a bool of 2, code_len 65, a byte after a name not found,
	 * a count of 0 and of MO_PS_MAX_FUNCS + 1, a record cut short */
	rec[MO_PS_HDR + 4] = 2;
	assert_int_equal(mo_ps_decode(rec, (size_t)len, &d), -EPROTO);
	rec[MO_PS_HDR + 4] = 1;
	rec[MO_PS_HDR + 4 + 1 + 24] = MO_PS_FUNC_CODE + 1;
	assert_int_equal(mo_ps_decode(rec, (size_t)len, &d), -EPROTO);
	len = mo_ps_encode(&m, rec, sizeof(rec));
	rec[len] = 0;
	n = len + 1 - MO_PS_HDR;
	memcpy(rec + 4, &n, 4);
	assert_int_equal(mo_ps_decode(rec, (size_t)len + 1, &d), -EPROTO);
	len = mo_ps_encode(&m, rec, sizeof(rec));
	n = 0;
	memcpy(rec + MO_PS_HDR, &n, 4);
	assert_int_equal(mo_ps_decode(rec, (size_t)len, &d), -EPROTO);
	n = MO_PS_MAX_FUNCS + 1;
	memcpy(rec + MO_PS_HDR, &n, 4);
	assert_int_equal(mo_ps_decode(rec, (size_t)len, &d), -EPROTO);
	len = mo_ps_encode(&m, rec, sizeof(rec));
	n = len - 1 - MO_PS_HDR;
	memcpy(rec + 4, &n, 4);
	assert_int_equal(mo_ps_decode(rec, (size_t)len - 1, &d), -EPROTO);
	/* not written: a name not found with an address, code over 64 bytes */
	m.found.f[1].vaddr = 1;
	assert_int_equal(mo_ps_encode(&m, rec, sizeof(rec)), -EINVAL);
	m.found.f[1].vaddr = 0;
	m.found.f[0].code_len = MO_PS_FUNC_CODE + 1;
	assert_int_equal(mo_ps_encode(&m, rec, sizeof(rec)), -EINVAL);

	/* FUNCS: an empty name, a name too long, no name at all */
	memset(&m, 0, sizeof(m));
	m.type = MO_PS_FUNCS;
	m.funcs.n = 2;
	strcpy(m.funcs.names[0], "malloc");
	assert_int_equal(mo_ps_encode(&m, rec, sizeof(rec)), -EINVAL);
	memset(m.funcs.names[1], 'a', MO_PS_FUNC_NAME_MAX + 1);
	assert_int_equal(mo_ps_encode(&m, rec, sizeof(rec)), -EINVAL);
	m.funcs.names[1][MO_PS_FUNC_NAME_MAX] = '\0';
	len = mo_ps_encode(&m, rec, sizeof(rec));
	assert_true(len > 0);
	assert_int_equal(mo_ps_decode(rec, (size_t)len, &d), 0);
	assert_string_equal(d.funcs.names[1], m.funcs.names[1]);
	m.funcs.n = 0;
	assert_int_equal(mo_ps_encode(&m, rec, sizeof(rec)), -EINVAL);

	/* the real child: a FUNCS with an empty name, one without its
	 * descriptor, one on a file that is not ELF; then a real one */
	pid = raw_child(&sock);
	m.funcs.n = 2;
	len = mo_ps_encode(&m, rec, sizeof(rec));
	rec[MO_PS_HDR + 4 + 2 + 6] = 0;	/* the second name's length: 0 */
	rec[MO_PS_HDR + 4 + 2 + 6 + 1] = 0;
	n = MO_PS_HDR + 4 + 2 + 6 + 2;
	len = n - MO_PS_HDR;
	memcpy(rec + 4, &len, 4);
	send_with_libc(sock, rec, (size_t)n);
	expect(sock, MO_PS_DONE, -EPROTO);
	m.funcs.n = 1;
	len = mo_ps_encode(&m, rec, sizeof(rec));
	send_raw(sock, rec, (size_t)len, -1);
	expect(sock, MO_PS_DONE, -EPROTO);
	fd = mo_safe_open("/etc/passwd", NULL, 0, NULL);
	assert_true(fd >= 0);
	assert_int_equal(mo_ps_send(sock, &m, fd), 0);
	close(fd);
	expect(sock, MO_PS_DONE, -ENOEXEC);
	fd = open_libc();
	assert_int_equal(mo_ps_send(sock, &m, fd), 0);
	close(fd);
	expect(sock, MO_PS_FOUND, 0);
	close(sock);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* An answer that lies about the file (code that is not the file's, an
 * offset past its end, an answer missing, more code than the function, a
 * reply of another request), a parser that dies or hangs: -ECHILD, the
 * child counted, nothing found, nothing leaked. */
static void test_funcs_refused(void **state)
{
	static const struct {
		const char *mode;
		int died, timeouts, protocol;
	} cases[] = {
		{ "funcs-code", 0, 0, 1 }, { "funcs-offset", 0, 0, 1 },
		{ "funcs-count", 0, 0, 1 }, { "funcs-long", 0, 0, 1 },
		{ "funcs-rows", 0, 0, 1 }, { "crash", 1, 0, 0 },
		{ "silent", 0, 1, 0 },
	};
	int fd = open_libc(), fds0 = count_fds();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mo_privsep *p = client(cases[i].mode, 300);
		struct mo_elf_func f[NFUNC_NAMES];
		struct mo_privsep_stats st;

		memset(f, 0, sizeof(f));
		for (size_t k = 0; k < NFUNC_NAMES; k++)
			f[k].name = func_names[k];
		if (mo_privsep_find_funcs(p, fd, f, NFUNC_NAMES) != -ECHILD)
			fail_msg("%s: not refused", cases[i].mode);
		for (size_t k = 0; k < NFUNC_NAMES; k++)
			assert_int_equal(f[k].found, 0);
		mo_privsep_stats(p, &st);
		if (st.died != (uint64_t)cases[i].died || st.timeouts != (uint64_t)cases[i].timeouts ||
		    st.protocol != (uint64_t)cases[i].protocol || st.files_lost != 1)
			fail_msg("%s: died %llu timeouts %llu protocol %llu lost %llu", cases[i].mode,
				 (unsigned long long)st.died, (unsigned long long)st.timeouts,
				 (unsigned long long)st.protocol, (unsigned long long)st.files_lost);
		mo_privsep_free(p);
		assert_int_equal(count_fds(), fds0);
	}
	close(fd);
}

/* Build ids through the child: libc's as read here, a file without one
 * and one that is not ELF refused alike, a buffer too small; a parser that
 * dies or sends what is not a build id: -ECHILD, counted. */
static void test_build_id(void **state)
{
	char here[160], there[160], path[] = "/tmp/mo-privsep-noid2.XXXXXX";
	struct mo_privsep *p = client(NULL, 0), *crash = client("crash", 0),
			  *liar = client("bad-id", 0);
	struct mo_privsep_stats st;
	int fd = open_libc(), noid, notelf, fds0;

	assert_int_equal(mo_elf_build_id_fd(fd, here, sizeof(here)), 0);
	assert_int_equal(mo_elf_build_id(LIBC, there, sizeof(there)), 0);
	assert_string_equal(here, there);
	assert_int_equal(mo_privsep_build_id(p, fd, there, sizeof(there)), 0);
	assert_string_equal(there, here);
	assert_int_equal(mo_privsep_build_id(p, fd, there, 8), -ENOSPC);
	noid = copy_without_id(LIBC, path);
	assert_int_equal(mo_elf_build_id_fd(noid, here, sizeof(here)), -ENODATA);
	assert_int_equal(mo_privsep_build_id(p, noid, there, sizeof(there)), -ENODATA);
	notelf = mo_safe_open("/etc/passwd", NULL, 0, NULL);
	assert_true(notelf >= 0);
	assert_int_equal(mo_privsep_build_id(p, notelf, there, sizeof(there)), -ENOEXEC);
	mo_privsep_stats(p, &st);
	assert_int_equal(st.starts, 1);
	assert_int_equal(st.died + st.timeouts + st.protocol, 0);

	fds0 = count_fds();
	assert_int_equal(mo_privsep_build_id(crash, fd, there, sizeof(there)), -ECHILD);
	mo_privsep_stats(crash, &st);
	assert_int_equal(st.died, 1);
	assert_int_equal(mo_privsep_build_id(liar, fd, there, sizeof(there)), -ECHILD);
	assert_string_equal(there, "");
	mo_privsep_stats(liar, &st);
	assert_int_equal(st.protocol, 1);
	assert_int_equal(count_fds(), fds0);
	close(notelf);
	close(noid);
	close(fd);
	unlink(path);
	mo_privsep_free(p);
	mo_privsep_free(crash);
	mo_privsep_free(liar);
}

/* attach.c reads allocator files through the reader the observer sets: a
 * parser that dies makes the choice of allocator fail with -ECHILD (and
 * words saying so), not fall back to another file; the real parser is
 * asked (it starts) and chooses a file that defines malloc. (A prefix
 * of its own keeps the failed lookup out of the next one: attach.c keeps
 * results by file and prefix.) */
static void test_attach_reader(void **state)
{
	struct mo_privsep *bad = client("crash", 0), *good = client(NULL, 0);
	struct mo_allocator a = { .fd = -1 };
	struct mo_elf_func mf[2] = { { .name = "malloc" }, { .name = "free" } };
	struct mo_privsep_stats st;

	mo_attach_set_reader(mo_privsep_find_funcs, bad);
	assert_ptr_equal(mo_attach_reader_ctx(), bad);
	assert_int_equal(mo_allocator_open(getpid(), "zq_", &a), -ECHILD);
	assert_int_equal(a.fd, -1);
	assert_non_null(strstr(mo_attach_strerror(-ECHILD), "parser process"));
	mo_privsep_stats(bad, &st);
	assert_int_equal(st.died, 1);

	mo_attach_set_reader(mo_privsep_find_funcs, good);
	/* the failure is kept for that file: not asked again at once... */
	assert_int_equal(mo_allocator_open(getpid(), "zq_", &a), -ECHILD);
	mo_privsep_stats(good, &st);
	assert_int_equal(st.starts, 0);
	/* ...but once the retry interval has passed (the parser may have
	 * died of something else) */
	mo_attach_set_reader_retry(0);
	assert_int_not_equal(mo_allocator_open(getpid(), "zq_", &a), -ECHILD);
	mo_attach_set_reader_retry(600ULL * 1000000000ULL);
	mo_allocator_close(&a);
	a.fd = -1;
	assert_int_equal(mo_allocator_open(getpid(), NULL, &a), 0);
	mo_privsep_stats(good, &st);
	assert_int_equal(st.starts, 1);
	assert_int_equal(st.died + st.timeouts + st.protocol, 0);
	/* libc, or the sanitizer's runtime that replaces its malloc: a file
	 * that defines both, read here */
	assert_int_equal(mo_elf_find_funcs_fd(a.fd, mf, 2), 2);
	mo_attach_set_reader(NULL, NULL);
	assert_null(mo_attach_reader_ctx());
	mo_allocator_close(&a);
	mo_privsep_free(bad);
	mo_privsep_free(good);
}

/* ------------------------------------------------------------ perf maps */

/* A perf map at path (a mkstemp template) with good lines, malformed
 * ones, overlapping ones, names at and over the name limit (one cut in the
 * middle of a UTF-8 sequence), 3000 entries (several JIT messages by
 * count) and 40 of 3000 bytes (several by bytes); opened. */
static int write_perfmap(char *path)
{
	static char name[MO_PERFMAP_NAME_MAX + 200];
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fprintf(f, "7f0000001040 20 Builtin:Adaptor\n"
		   "0x7f0000001000 40 LazyCompile:~leak /srv/app.js:3\r\n"
		   "bad line\n1000 0 zero size\nffffffffffffffff 10 wraps\n2000 10\n"
		   "3000 10 \n1000 100 outer\n1010 10 inner\n1000 100 again\n");
	fwrite("4000 10 nul\0inside\n", 1, 19, f);
	memset(name, 'j', sizeof(name) - 1);
	fprintf(f, "5000 10 %.*s\n", MO_PERFMAP_NAME_MAX, name);
	fprintf(f, "6000 10 %.*s\n", MO_PERFMAP_NAME_MAX + 100, name);
	/* a 3-byte sequence over the limit: cut before it */
	memcpy(name + MO_PERFMAP_NAME_MAX - 1, "\xe2\x82\xac", 3);
	fprintf(f, "7000 10 %.*s\n", MO_PERFMAP_NAME_MAX + 10, name);
	for (int i = 0; i < 3000; i++)
		fprintf(f, "%x %x LazyCompile:*f%d /srv/app.js:%d\n", 0x100000 + i * 0x40, 0x40, i, i);
	for (int i = 0; i < 40; i++)
		fprintf(f, "%x 10 %d%.*s\n", 0x900000 + i * 0x10, i, 3000, name);
	assert_int_equal(fclose(f), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void perfmaps_equal(const struct mo_perfmap *a, const struct mo_perfmap *b)
{
	assert_int_equal(a->n, b->n);
	assert_int_equal(a->malformed, b->malformed);
	for (size_t i = 0; i < a->n; i++) {
		assert_true(a->e[i].start == b->e[i].start);
		assert_true(a->e[i].size == b->e[i].size);
		assert_string_equal(a->e[i].name, b->e[i].name);
	}
}

static size_t file_size(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return (size_t)st.st_size;
}

/* The map parsed by the child equals the map parsed here, entry by entry
 * and in its count of malformed lines; an empty map; perfmap.c's reader
 * through the hook (our own /tmp/perf-PID.map). */
static void test_perfmap_equal(void **state)
{
	char path[] = "/tmp/mo-privsep-perfmap.XXXXXX", own[64];
	struct mo_privsep *p = client(NULL, 0);
	struct mo_perfmap here, there;
	struct mo_privsep_stats st;
	int fd = write_perfmap(path), fds0 = count_fds(), empty;
	size_t size = file_size(fd);

	assert_int_equal(mo_perfmap_parse_fd(fd, size, &here), 0);
	assert_int_equal(here.n, 3 + 4 + 3000 + 40);
	assert_int_equal(here.malformed, 6);
	assert_int_equal(strlen(mo_perfmap_find(&here, 0x6000)->name), MO_PERFMAP_NAME_MAX);
	assert_int_equal(strlen(mo_perfmap_find(&here, 0x7000)->name), MO_PERFMAP_NAME_MAX - 1);
	assert_int_equal(mo_privsep_perfmap(p, fd, size, &there), 0);
	perfmaps_equal(&here, &there);
	mo_perfmap_release(&there);
	/* fewer bytes than the file holds: what the parser read here too */
	mo_perfmap_release(&here);
	assert_int_equal(mo_perfmap_parse_fd(fd, 200, &here), 0);
	assert_int_equal(mo_privsep_perfmap(p, fd, 200, &there), 0);
	assert_true(here.n >= 2);
	perfmaps_equal(&here, &there);
	mo_perfmap_release(&there);
	mo_perfmap_release(&here);
	assert_int_equal(mo_privsep_perfmap(p, fd, MO_PERFMAP_MAX_BYTES + 1, &there), -EINVAL);
	empty = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(mo_privsep_perfmap(p, empty, 0, &there), 0);
	assert_int_equal(there.n + there.malformed, 0);
	mo_perfmap_release(&there);
	close(empty);

	/* perfmap.c opens our map and hands it to the parser set */
	snprintf(own, sizeof(own), "/tmp/perf-%d.map", (int)getpid());
	unlink(own);
	assert_int_equal(link(path, own), 0);
	mo_perfmap_set_parser(mo_privsep_perfmap, p);
	assert_ptr_equal(mo_perfmap_parser_ctx(), p);
	assert_int_equal(mo_perfmap_read(getpid(), &there), 0);
	mo_perfmap_set_parser(NULL, NULL);
	assert_null(mo_perfmap_parser_ctx());
	assert_int_equal(mo_perfmap_read(getpid(), &here), 0);
	perfmaps_equal(&here, &there);
	assert_string_equal(mo_perfmap_find(&there, 0x7f0000001010)->name,
			    "LazyCompile:~leak /srv/app.js:3");
	mo_perfmap_release(&there);
	mo_perfmap_release(&here);
	unlink(own);

	mo_privsep_stats(p, &st);
	assert_int_equal(st.starts, 1);
	assert_int_equal(st.died + st.timeouts + st.protocol + st.files_lost, 0);
	mo_privsep_free(p);
	assert_int_equal(count_fds(), fds0);
	close(fd);
	unlink(path);
}

/* PERFMAP and JIT records: what the encoder will not write and the decoder
 * refuses, and the real child's answers. */
static void test_perfmap_records(void **state)
{
	static uint8_t rec[MO_PS_MAX_MSG];
	static struct mo_ps_msg m, d;
	char path[] = "/tmp/mo-privsep-perfmap.XXXXXX";
	int len, n, sock, fd, status;
	uint64_t v;
	pid_t pid;

	/* PERFMAP: at most MO_PERFMAP_MAX_BYTES */
	memset(&m, 0, sizeof(m));
	m.type = MO_PS_PERFMAP;
	m.perfmap.size = MO_PERFMAP_MAX_BYTES;
	len = mo_ps_encode(&m, rec, sizeof(rec));
	assert_int_equal(len, MO_PS_HDR + 8);
	assert_int_equal(mo_ps_decode(rec, (size_t)len, &d), 0);
	assert_true(mo_ps_carries_fd(&d));
	v = MO_PERFMAP_MAX_BYTES + 1ULL;
	memcpy(rec + MO_PS_HDR, &v, 8);
	assert_int_equal(mo_ps_decode(rec, (size_t)len, &d), -EPROTO);
	m.perfmap.size = v;
	assert_int_equal(mo_ps_encode(&m, rec, sizeof(rec)), -EINVAL);

	/* JIT: two entries, back to back */
	memset(&m, 0, sizeof(m));
	m.type = MO_PS_JIT;
	m.jit.n = 2;
	m.jit.e[0] = (struct mo_ps_jit){ .start = 0x1000, .size = 0x10, .name = "ab", .name_len = 2 };
	m.jit.e[1] = (struct mo_ps_jit){ .start = 0x1010, .size = 0x20, .name = "cde", .name_len = 3 };
	len = mo_ps_encode(&m, rec, sizeof(rec));
	assert_int_equal(len, MO_PS_HDR + 4 + 2 * 18 + 5);
	assert_int_equal(mo_ps_decode(rec, (size_t)len, &d), 0);
	assert_int_equal(d.jit.n, 2);
	assert_int_equal(d.jit.e[1].name_len, 3);
	assert_memory_equal(d.jit.e[1].name, "cde", 3);
	assert_true(d.jit.e[1].start == 0x1010 && d.jit.e[1].size == 0x20);
	/* refused when decoded: a NUL or a newline in a name, a count of 0 or
	 * of MO_PS_JIT_PER_MSG + 1, a name longer than its record, a byte
	 * after the last entry, a size of 0, a range that wraps, entries out
	 * of order or overlapping */
	rec[MO_PS_HDR + 4 + 18 + 1] = '\0';
	assert_int_equal(mo_ps_decode(rec, (size_t)len, &d), -EPROTO);
	rec[MO_PS_HDR + 4 + 18 + 1] = '\n';
	assert_int_equal(mo_ps_decode(rec, (size_t)len, &d), -EPROTO);
	len = mo_ps_encode(&m, rec, sizeof(rec));
	n = 0;
	memcpy(rec + MO_PS_HDR, &n, 4);
	assert_int_equal(mo_ps_decode(rec, (size_t)len, &d), -EPROTO);
	n = MO_PS_JIT_PER_MSG + 1;
	memcpy(rec + MO_PS_HDR, &n, 4);
	assert_int_equal(mo_ps_decode(rec, (size_t)len, &d), -EPROTO);
	len = mo_ps_encode(&m, rec, sizeof(rec));
	rec[len - 4] = 9;	/* the second name's length: past the record */
	assert_int_equal(mo_ps_decode(rec, (size_t)len, &d), -EPROTO);
	len = mo_ps_encode(&m, rec, sizeof(rec));
	rec[len] = 'x';
	n = len + 1 - MO_PS_HDR;
	memcpy(rec + 4, &n, 4);
	assert_int_equal(mo_ps_decode(rec, (size_t)len + 1, &d), -EPROTO);
	{
		static const struct {
			uint64_t start0, size0, start1;
		} bad[] = {
			{ 0x1000, 0, 0x1010 },		/* size 0 */
			{ ~0ULL - 7, 0x10, ~0ULL },	/* wraps */
			{ 0x1000, 0x10, 0x800 },	/* out of order */
			{ 0x1000, 0x11, 0x1010 },	/* overlapping */
			{ 0x1000, 0x10, 0x1000 },	/* the same start twice */
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			len = mo_ps_encode(&m, rec, sizeof(rec));
			memcpy(rec + MO_PS_HDR + 4, &bad[i].start0, 8);
			memcpy(rec + MO_PS_HDR + 4 + 8, &bad[i].size0, 8);
			memcpy(rec + MO_PS_HDR + 4 + 18 + 2, &bad[i].start1, 8);
			if (mo_ps_decode(rec, (size_t)len, &d) != -EPROTO)
				fail_msg("bad JIT record %zu taken", i);
		}
	}
	/* not written: an empty name, one over the limit, a size of 0, a
	 * count of 0 */
	m.jit.e[1].name_len = 0;
	assert_int_equal(mo_ps_encode(&m, rec, sizeof(rec)), -EINVAL);
	{
		static char longname[MO_PERFMAP_NAME_MAX + 1];

		memset(longname, 'l', sizeof(longname));
		m.jit.e[1].name = longname;
		m.jit.e[1].name_len = MO_PERFMAP_NAME_MAX;
		assert_true(mo_ps_encode(&m, rec, sizeof(rec)) > 0);
		m.jit.e[1].name_len = MO_PERFMAP_NAME_MAX + 1;
		assert_int_equal(mo_ps_encode(&m, rec, sizeof(rec)), -EINVAL);
	}
	m.jit.e[1] = (struct mo_ps_jit){ .start = 0x1010, .size = 0, .name = "c", .name_len = 1 };
	assert_int_equal(mo_ps_encode(&m, rec, sizeof(rec)), -EINVAL);
	m.jit.n = 0;
	assert_int_equal(mo_ps_encode(&m, rec, sizeof(rec)), -EINVAL);

	/* the real child: a PERFMAP without its descriptor, one claiming too
	 * many bytes, then a real one: JIT..., DONE(0, malformed lines) */
	pid = raw_child(&sock);
	memset(&m, 0, sizeof(m));
	m.type = MO_PS_PERFMAP;
	m.perfmap.size = 10;
	len = mo_ps_encode(&m, rec, sizeof(rec));
	send_raw(sock, rec, (size_t)len, -1);
	expect(sock, MO_PS_DONE, -EPROTO);
	v = MO_PERFMAP_MAX_BYTES + 1ULL;
	memcpy(rec + MO_PS_HDR, &v, 8);
	send_with_libc(sock, rec, (size_t)len);
	expect(sock, MO_PS_DONE, -EPROTO);
	fd = write_perfmap(path);
	m.perfmap.size = file_size(fd);
	assert_int_equal(mo_ps_send(sock, &m, fd), 0);
	close(fd);
	{
		static uint8_t buf[MO_PS_MAX_MSG];
		uint64_t end = mo_clock_ns(CLOCK_MONOTONIC) + 10 * MO_NSEC;
		size_t entries = 0, msgs = 0;

		for (;;) {
			assert_int_equal(mo_ps_recv(sock, buf, &d, NULL, end), 0);
			if (d.type == MO_PS_DONE)
				break;
			assert_int_equal(d.type, MO_PS_JIT);
			entries += d.jit.n;
			msgs++;
		}
		assert_int_equal(d.done.err, 0);
		assert_int_equal(d.done.count, 6);
		assert_int_equal(entries, 3 + 4 + 3000 + 40);
		assert_true(msgs >= 3000 / MO_PS_JIT_PER_MSG + 2);
	}
	close(sock);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	unlink(path);
}

/* A parser that lies about a perf map (a NUL in a name, a range that
 * wraps, entries out of order across messages, more name bytes than the
 * file, more entries than a map may hold, more malformed lines than
 * bytes), dies or hangs: -ECHILD, counted, the file lost, nothing kept,
 * nothing leaked; stacks.c then leaves the process's JIT frames unnamed. */
static void test_perfmap_refused(void **state)
{
	/* size: the bytes the request says the map holds (0: the file's) */
	static const struct {
		const char *mode;
		size_t size;
		int died, timeouts, protocol;
	} cases[] = {
		{ "jit-nul", 0, 0, 0, 1 }, { "jit-wrap", 0, 0, 0, 1 },
		{ "jit-unsorted", 0, 0, 0, 1 }, { "jit-names", 1000, 0, 0, 1 },
		{ "jit-many", MO_PERFMAP_MAX_BYTES, 0, 0, 1 }, { "jit-count", 0, 0, 0, 1 },
		{ "crash", 0, 1, 0, 0 }, { "silent", 0, 0, 1, 0 },
	};
	char path[] = "/tmp/mo-privsep-perfmap.XXXXXX";
	int fd = write_perfmap(path), big, fds0;
	size_t size = file_size(fd);

	/* room for every name the many-entries liar sends (a sparse file) */
	big = open(path, O_RDWR | O_CLOEXEC);
	assert_true(big >= 0);
	fds0 = count_fds();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool silent = !strcmp(cases[i].mode, "silent");
		struct mo_privsep *p = client(cases[i].mode, silent ? 300 : 20000);
		size_t want = cases[i].size ? cases[i].size : size;
		struct mo_privsep_stats st;
		struct mo_perfmap pm;

		warnings = 0;
		if (want > size)
			assert_int_equal(ftruncate(big, (off_t)want), 0);
		if (mo_privsep_perfmap(p, fd, want, &pm) != -ECHILD)
			fail_msg("%s: not refused", cases[i].mode);
		assert_int_equal(pm.n, 0);
		assert_null(pm.e);
		assert_null(pm.text);
		mo_privsep_stats(p, &st);
		if (st.died != (uint64_t)cases[i].died || st.timeouts != (uint64_t)cases[i].timeouts ||
		    st.protocol != (uint64_t)cases[i].protocol || st.files_lost != 1)
			fail_msg("%s: died %llu timeouts %llu protocol %llu lost %llu", cases[i].mode,
				 (unsigned long long)st.died, (unsigned long long)st.timeouts,
				 (unsigned long long)st.protocol, (unsigned long long)st.files_lost);
		assert_int_equal(warnings, 1);
		assert_non_null(strstr(last_warning, "mo-privsep-perfmap"));
		mo_privsep_free(p);
		assert_int_equal(count_fds(), fds0);
		if (want > size)
			assert_int_equal(ftruncate(big, (off_t)size), 0);
	}
	close(big);
	close(fd);
	unlink(path);
}

/* A parser that dies on a file: that file loses its rows, the next child
 * starts at once the first time, then later and later (-EAGAIN meanwhile). */
static void test_crash_backoff(void **state)
{
	struct mo_privsep *p = client("crash", 0);
	struct mo_unwind_table t;
	struct mo_privsep_stats st;
	int fd = open_libc(), fds0 = count_fds();

	warnings = 0;

	assert_int_equal(mo_privsep_build_rows(p, fd, 1000000, &t), -ECHILD);
	assert_int_equal(mo_privsep_build_rows(p, fd, 1000000, &t), -ECHILD);
	assert_int_equal(mo_privsep_build_rows(p, fd, 1000000, &t), -EAGAIN);
	mo_privsep_stats(p, &st);
	assert_int_equal(st.starts, 2);
	assert_int_equal(st.died, 2);
	assert_int_equal(st.files_lost, 2);
	assert_int_equal(warnings, 2);	/* one per death, none for -EAGAIN */
	usleep(150 * 1000);
	assert_int_equal(mo_privsep_build_rows(p, fd, 1000000, &t), -ECHILD);
	assert_int_equal(mo_privsep_build_rows(p, fd, 1000000, &t), -EAGAIN);
	mo_privsep_stats(p, &st);
	assert_int_equal(st.starts, 3);
	assert_int_equal(st.died, 3);
	assert_int_equal(count_fds(), fds0);
	close(fd);
	mo_privsep_free(p);
}

static void test_timeout(void **state)
{
	struct mo_privsep *p = client("silent", 300);
	struct mo_unwind_table t;
	struct mo_privsep_stats st;
	uint64_t t0 = mo_clock_ns(CLOCK_MONOTONIC), took;
	int fd = open_libc();

	assert_int_equal(mo_privsep_build_rows(p, fd, 1000000, &t), -ECHILD);
	took = mo_clock_ns(CLOCK_MONOTONIC) - t0;
	assert_true(took >= 300 * 1000000ULL && took < 5 * MO_NSEC);
	mo_privsep_stats(p, &st);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.died, 0);
	close(fd);
	mo_privsep_free(p);
}

/* A child that stops reading: requests that need no answer (closes) fill
 * its socket, and the send that would wait is given up after the timeout. */
static void test_deaf_child(void **state)
{
	struct mo_privsep *p = client("deaf", 300);
	struct mo_privsep_stats st;
	struct mo_symsource src;
	struct mo_symfile_info info;
	uint32_t h[400];
	uint64_t t0;
	int fd = open_libc();

	/* fewer than the files a child keeps open: no close before ours */
	mo_privsep_symsource(p, &src);
	for (int i = 0; i < 400; i++) {
		assert_int_equal(src.open(src.ctx, dup(fd), getpid(), LIBC, &info, &h[i]), 0);
		assert_true(h[i] != 0);
	}
	t0 = mo_clock_ns(CLOCK_MONOTONIC);
	for (int i = 0; i < 400; i++)
		src.close(src.ctx, h[i]);
	assert_true(mo_clock_ns(CLOCK_MONOTONIC) - t0 < 10 * MO_NSEC);
	mo_privsep_stats(p, &st);
	assert_int_equal(st.timeouts, 1);
	close(fd);
	mo_privsep_free(p);
}

/* Descriptors of the running child. */
static int child_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The child keeps at most 512 files open: the least recently used are
 * closed there, and opened again from our descriptor when looked up. A
 * file without a build id is not shared, so each open holds a descriptor
 * in the child. */
static void test_child_files_bounded(void **state)
{
	char path[] = "/tmp/mo-privsep-noid.XXXXXX";
	struct mo_privsep *p = client(NULL, 0);
	struct mo_symsource src;
	struct mo_symfile_info info;
	struct mo_symframe *f;
	static uint32_t h[700];
	size_t n;
	int fd = copy_without_id(self, path);

	mo_privsep_symsource(p, &src);
	for (int i = 0; i < 700; i++) {
		assert_int_equal(src.open(src.ctx, dup(fd), getpid(), path, &info, &h[i]), 0);
		assert_true(h[i] != 0);
		assert_string_equal(info.build_id, "");
	}
	assert_true(child_fds(mo_privsep_child(p)) <= 512 + 8);
	/* the first (closed in the child long ago) and the last still answer */
	for (int k = 0; k < 2; k++) {
		uint32_t hh = h[k ? 699 : 0];
		uint64_t vaddr = 0;

		for (uint32_t s = 0; s < info.nsegs; s++)
			if (info.segs[s].x)
				vaddr = info.segs[s].vaddr + 16;
		assert_int_equal(src.lookup(src.ctx, hh, vaddr, &f, &n), 0);
		assert_true(n >= 1);
		mo_symframes_free(f, n);
	}
	assert_true(child_fds(mo_privsep_child(p)) <= 512 + 8);
	for (int i = 0; i < 700; i++)
		src.close(src.ctx, h[i]);
	close(fd);
	unlink(path);
	mo_privsep_free(p);
}

/* Replies that break the protocol: each child is ended and counted, the
 * request fails, nothing leaks. */
static void test_lying_parsers(void **state)
{
	static const char *const rows_modes[] = {
		"huge-rows", "more-rows", "unsorted", "long-length", "truncated", "fd-in-reply",
	};
	int fd = open_libc(), fds0 = count_fds();

	for (size_t i = 0; i < sizeof(rows_modes) / sizeof(rows_modes[0]); i++) {
		struct mo_privsep *p = client(rows_modes[i], 0);
		struct mo_unwind_table t;
		struct mo_privsep_stats st;

		assert_int_equal(mo_privsep_build_rows(p, fd, 1000000, &t), -ECHILD);
		assert_null(t.rows);
		mo_privsep_stats(p, &st);
		assert_int_equal(st.protocol, 1);
		assert_int_equal(st.files_lost, 1);
		mo_privsep_free(p);
		assert_int_equal(count_fds(), fds0);
	}
	close(fd);
}

/* Lies about symbols: the module is read (by the symbolizer) without
 * symbols, and its frames keep module and offset. */
static void test_lying_symbols(void **state)
{
	static const char *const modes[] = { "many-frames", "debug-flood" };

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct mo_privsep *p = client(modes[i], 0);
		struct mo_symbolizer *s = mo_symbolizer_new();
		struct mo_privsep_stats st;
		struct mo_symsource src;
		uint64_t ip = (uint64_t)(uintptr_t)privsep_probe_fn;
		struct mo_frame *f;
		size_t n;

		mo_privsep_symsource(p, &src);
		assert_int_equal(mo_symbolizer_set_source(s, &src), 0);
		assert_int_equal(mo_symbolize(s, getpid(), &ip, 1, &f, &n), 0);
		assert_int_equal(n, 1);
		assert_null(f[0].symbol);
		assert_non_null(f[0].module);
		mo_frames_free(f, n);
		mo_privsep_stats(p, &st);
		assert_true(st.protocol >= 1);
		mo_symbolizer_free(s);
		mo_privsep_free(p);
	}
}

/* Debug files are opened only where debug files are: names that lead
 * elsewhere are refused (the hostile parser reports each answer). */
static void test_debug_names_refused(void **state)
{
	struct mo_privsep *p = client("debug-escape", 0);
	struct mo_symsource src;
	struct mo_symfile_info info;
	uint32_t h;

	mo_privsep_symsource(p, &src);
	assert_int_equal(src.open(src.ctx, open_libc(), getpid(), LIBC, &info, &h), 0);
	assert_string_equal(info.build_id, "iiiii");
	mo_privsep_free(p);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_child_hostile_records),
		cmocka_unit_test(test_child_confined),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_rows_equal),
		cmocka_unit_test(test_symbols_equal_and_respawn),
		cmocka_unit_test(test_demangled_by_child),
		cmocka_unit_test(test_not_demangled_here),
		cmocka_unit_test(test_funcs_equal),
		cmocka_unit_test(test_funcs_records),
		cmocka_unit_test(test_funcs_refused),
		cmocka_unit_test(test_attach_reader),
		cmocka_unit_test(test_build_id),
		cmocka_unit_test(test_perfmap_equal),
		cmocka_unit_test(test_perfmap_records),
		cmocka_unit_test(test_perfmap_refused),
		cmocka_unit_test(test_crash_backoff),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_deaf_child),
		cmocka_unit_test(test_child_files_bounded),
		cmocka_unit_test(test_lying_parsers),
		cmocka_unit_test(test_lying_symbols),
		cmocka_unit_test(test_debug_names_refused),
	};
	ssize_t n;

	if (argc >= 2 && !strcmp(argv[1], MO_PRIVSEP_CHILD_ARG)) {
		/* LeakSanitizer's check at exit stops the process with ptrace,
		 * which the filter forbids: it runs now instead */
		if (__lsan_do_leak_check)
			__lsan_do_leak_check();
		if (mo_privsep_confine())
			return 2;
		return mo_privsep_serve(MO_PRIVSEP_CHILD_FD) ? 1 : 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "hostile"))
		return hostile(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "escape"))
		return escape(argv[2]);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	return cmocka_run_group_tests(tests, NULL, NULL);
}
