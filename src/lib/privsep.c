// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * privsep.c - the parser child (serve, confine) and the client that
 * starts it, talks to it and replaces it when it dies.
 *
 * The client keeps, for each file the symbolizer holds open, the
 * descriptor it handed over: a new child after a death is given the file
 * again when it is next looked up, except the file that was being read
 * when the child died (lost for good: it may be what killed it).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "elfsym.h"
#include "json.h"
#include "perfmap.h"
#include "privsep.h"
#include "privsep_msg.h"
#include "safefile.h"
#include "util.h"

#define DEFAULT_TIMEOUT_MS 30000
#define BACKOFF_FIRST_NS (100 * 1000000ULL)
#define BACKOFF_MAX_NS (10 * MO_NSEC)
#define CALM_NS (60 * MO_NSEC)	/* deaths further apart start the backoff over */
#define MAX_DEBUG_REQS 8	/* per OPEN: the normal lookup asks for at most 5 */
#define MAX_ROWS_ALLOC (1u << 20)	/* rows allocated ahead of their arrival */
/* Files open in the child at once: past this the least recently used is
 * closed there (opened again from our descriptor if looked up again), so
 * a node that runs ever new programs does not grow the child's memory. */
#define MAX_OPEN_IN_CHILD 512

_Static_assert(MO_PS_FUNC_CODE == sizeof(((struct mo_elf_func *)0)->code),
	       "FOUND carries what elfsym reads");

enum why { WHY_DIED, WHY_TIMEOUT, WHY_PROTOCOL };

struct remote {
	bool used;
	bool lost;		/* the child died reading it */
	int fd;
	pid_t pid;
	char *map_path;
	uint64_t gen;		/* the child that knows it as child_handle */
	uint32_t child_handle;
	uint64_t used_at;	/* last use, in requests */
};

struct mo_privsep {
	pthread_mutex_t lock;
	char **argv;
	uint64_t timeout_ns;
	mo_log_fn log;
	void *log_ctx;

	int sock;
	pid_t child;		/* 0: none */
	pid_t unreaped;		/* killed but not yet reaped (0: none) */
	uint64_t gen;		/* children started so far */
	uint64_t next_start_ns;	/* no child before this (backoff) */
	uint64_t backoff_ns;
	uint64_t last_death_ns;

	struct remote *files;	/* handle h is files[h - 1] */
	size_t nfiles, capfiles;
	size_t open_in_child;	/* files with gen == the child's */
	uint64_t requests;

	struct mo_privsep_stats st;	/* atomics: read from any thread */
	uint8_t buf[MO_PS_MAX_MSG];
	struct mo_ps_msg msg;
};

/* ------------------------------------------------------------ the child */

struct child_ctx {
	int sock;
	uint8_t *buf;
	struct mo_ps_msg *msg;
};

static int reply_done(int sock, int err, uint32_t count)
{
	struct mo_ps_msg m = { .type = MO_PS_DONE, .done = { .err = err, .count = count } };

	return mo_ps_send(sock, &m, -1);
}

static int child_debug_open(void *ctx, enum mo_debug_where where, const char *name)
{
	struct child_ctx *c = ctx;
	struct mo_ps_msg *m = c->msg;
	int fd, err;

	if (strlen(name) > MO_SYMFILE_MAX_NAME)
		return -ENAMETOOLONG;
	m->type = MO_PS_DEBUG_REQ;
	m->debug_req.where = (uint8_t)where;
	snprintf(m->debug_req.name, sizeof(m->debug_req.name), "%s", name);
	err = mo_ps_send(c->sock, m, -1);
	if (!err)
		err = mo_ps_recv(c->sock, c->buf, m, &fd, 0);
	if (err)
		return err;
	if (m->type != MO_PS_DEBUG_FD)
		return -EPROTO;
	return m->debug_fd.err ? m->debug_fd.err : fd;
}

static int serve_unwind(int sock, int fd, uint64_t max_rows)
{
	struct mo_unwind_table t = { 0 };
	struct mo_ps_msg m = { .type = MO_PS_ROWS_HEAD };
	int err = mo_unwind_table_build_fd(fd, &t);

	close(fd);
	if (!err && t.nrows > max_rows)
		err = -ENOSPC;
	if (err) {
		mo_unwind_table_release(&t);
		return reply_done(sock, err, 0);
	}
	m.rows_head.nrows = t.nrows;
	m.rows_head.vaddr_min = t.vaddr_min;
	m.rows_head.off_to_vaddr = t.off_to_vaddr;
	m.rows_head.unsupported = t.unsupported;
	err = mo_ps_send(sock, &m, -1);
	for (size_t i = 0; !err && i < t.nrows; i += MO_PS_ROWS_PER_MSG) {
		size_t left = t.nrows - i;

		m.type = MO_PS_ROWS;
		m.rows.rows = t.rows + i;
		m.rows.n = (uint32_t)(left < MO_PS_ROWS_PER_MSG ? left : MO_PS_ROWS_PER_MSG);
		err = mo_ps_send(sock, &m, -1);
	}
	if (!err)
		err = reply_done(sock, 0, (uint32_t)t.nrows);
	mo_unwind_table_release(&t);
	return err;
}

static int serve_open(struct child_ctx *c, struct mo_symfiles *fs, int fd)
{
	struct mo_debug_opener op = { child_debug_open, c };
	struct mo_ps_msg *m = c->msg;
	char modname[sizeof(m->open.modname)];
	struct mo_symfile_info info;
	uint32_t handle;
	int err;

	/* debug requests reuse the message while the file is read */
	memcpy(modname, m->open.modname, sizeof(modname));
	err = mo_symfiles_open(fs, fd, modname, &op, &info, &handle);
	if (err)
		return reply_done(c->sock, err, 0);
	m->type = MO_PS_OPENED;
	m->opened.handle = handle;
	m->opened.info = info;
	return mo_ps_send(c->sock, m, -1);
}

static int serve_lookup(int sock, struct mo_symfiles *fs, uint32_t handle, uint64_t vaddr)
{
	struct mo_symframe *f;
	struct mo_ps_msg *m;
	size_t n;
	int err = mo_symfiles_lookup(fs, handle, vaddr, &f, &n);

	if (err)
		return reply_done(sock, err, 0);
	m = calloc(1, sizeof(*m));
	if (!m) {
		mo_symframes_free(f, n);
		return reply_done(sock, -ENOMEM, 0);
	}
	for (size_t i = 0; !err && i < n; i++) {
		m->type = MO_PS_FRAME;
		m->frame.offset = f[i].offset;
		m->frame.line = f[i].line;
		m->frame.inlined = f[i].inlined;
		m->frame.has_symbol = f[i].symbol != NULL;
		m->frame.has_file = f[i].file != NULL;
		/* a linkage name too long for a message goes without: the
		 * demangled name stays */
		m->frame.has_linkage = f[i].symbol && f[i].linkage && f[i].linkage[0] &&
				       strlen(f[i].linkage) <= MO_SYMFILE_MAX_NAME;
		snprintf(m->frame.symbol, sizeof(m->frame.symbol), "%s", f[i].symbol ? f[i].symbol : "");
		snprintf(m->frame.file, sizeof(m->frame.file), "%s", f[i].file ? f[i].file : "");
		snprintf(m->frame.linkage, sizeof(m->frame.linkage), "%s",
			 m->frame.has_linkage ? f[i].linkage : "");
		err = mo_ps_send(sock, m, -1);
	}
	free(m);
	mo_symframes_free(f, n);
	return err ? err : reply_done(sock, 0, (uint32_t)n);
}

/* m (a FUNCS request) answered by FOUND or DONE(err); reuses m. */
static int serve_funcs(int sock, int fd, struct mo_ps_msg *m)
{
	struct mo_elf_func *f = calloc(m->funcs.n, sizeof(*f));
	uint32_t n = m->funcs.n;
	int r;

	if (!f) {
		close(fd);
		return reply_done(sock, -ENOMEM, 0);
	}
	for (uint32_t k = 0; k < n; k++)
		f[k].name = m->funcs.names[k];
	r = mo_elf_find_funcs_fd(fd, f, n);
	close(fd);
	if (r < 0) {
		free(f);
		return reply_done(sock, r, 0);
	}
	/* the names are read: the message becomes the answer */
	m->type = MO_PS_FOUND;
	m->found.n = n;
	for (uint32_t k = 0; k < n; k++) {
		struct mo_ps_func *o = &m->found.f[k];

		memset(o, 0, sizeof(*o));
		if (!f[k].found)
			continue;
		o->found = true;
		o->vaddr = f[k].vaddr;
		o->file_offset = f[k].file_offset;
		o->size = f[k].size;
		o->code_len = (uint8_t)f[k].code_len;
		memcpy(o->code, f[k].code, f[k].code_len);
	}
	free(f);
	return mo_ps_send(sock, m, -1);
}

/* A perf map parsed here, its entries sent in JIT messages as full as a
 * message allows, then DONE with the count of malformed lines. */
static int serve_perfmap(int sock, int fd, uint64_t size, struct mo_ps_msg *m)
{
	size_t bytes = MO_PS_HDR + 4;
	struct mo_perfmap pm;
	int err = mo_perfmap_parse_fd(fd, (size_t)size, &pm);

	close(fd);
	if (err)
		return reply_done(sock, err, 0);
	m->type = MO_PS_JIT;
	m->jit.n = 0;
	for (size_t i = 0; !err && i < pm.n; i++) {
		/* the parser's names: 1..MO_PERFMAP_NAME_MAX bytes */
		size_t len = strlen(pm.e[i].name), need = 8 + 8 + 2 + len;

		if (m->jit.n == MO_PS_JIT_PER_MSG || bytes + need > MO_PS_MAX_MSG) {
			err = mo_ps_send(sock, m, -1);
			m->jit.n = 0;
			bytes = MO_PS_HDR + 4;
		}
		m->jit.e[m->jit.n++] = (struct mo_ps_jit){ .start = pm.e[i].start,
							   .size = pm.e[i].size,
							   .name = pm.e[i].name,
							   .name_len = (uint16_t)len };
		bytes += need;
	}
	if (!err && m->jit.n)
		err = mo_ps_send(sock, m, -1);
	if (!err)
		err = reply_done(sock, 0, (uint32_t)pm.malformed);
	mo_perfmap_release(&pm);
	return err;
}

int mo_privsep_serve(int sock)
{
	struct child_ctx c = { .sock = sock };
	struct mo_symfiles *fs = mo_symfiles_new();
	int err = 0;

	c.buf = malloc(MO_PS_MAX_MSG);
	c.msg = malloc(sizeof(*c.msg));
	if (!fs || !c.buf || !c.msg) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		int fd;

		err = mo_ps_recv(sock, c.buf, c.msg, &fd, 0);
		if (err == -EPIPE) {
			err = 0;
			break;
		}
		if (err == -EPROTO) {
			err = reply_done(sock, -EPROTO, 0);
			if (err)
				break;
			continue;
		}
		if (err)
			break;
		switch (c.msg->type) {
		case MO_PS_UNWIND:
			err = serve_unwind(sock, fd, c.msg->unwind.max_rows);
			break;
		case MO_PS_OPEN:
			err = serve_open(&c, fs, fd);
			break;
		case MO_PS_LOOKUP:
			err = serve_lookup(sock, fs, c.msg->lookup.handle, c.msg->lookup.vaddr);
			break;
		case MO_PS_CLOSE:
			mo_symfiles_close(fs, c.msg->close.handle);
			break;
		case MO_PS_FUNCS:
			err = serve_funcs(sock, fd, c.msg);
			break;
		case MO_PS_BUILD_ID:
			err = mo_elf_build_id_fd(fd, c.msg->id.hex, sizeof(c.msg->id.hex));
			close(fd);
			c.msg->type = MO_PS_ID;
			err = err ? reply_done(sock, err, 0) : mo_ps_send(sock, c.msg, -1);
			break;
		case MO_PS_PERFMAP:
			err = serve_perfmap(sock, fd, c.msg->perfmap.size, c.msg);
			break;
		default:	/* a reply where a request belongs */
			if (fd >= 0)
				close(fd);
			err = reply_done(sock, -EPROTO, 0);
			break;
		}
		if (err == -EPIPE) {
			err = 0;
			break;
		}
		if (err)
			break;
	}
out:
	free(c.buf);
	free(c.msg);
	mo_symfiles_free(fs);
	return err;
}

/* System calls the parser makes after confinement: reading descriptors
 * it was given (libelf reads with pread), memory (jemalloc or glibc's
 * malloc, libdw's mappings of debug files), its socket, time, exit. */
static const int allowed[] = {
	__NR_read, __NR_pread64, __NR_readv, __NR_preadv, __NR_write, __NR_writev,
	__NR_lseek, __NR_fstat, __NR_newfstatat, __NR_close,
	__NR_mmap, __NR_munmap, __NR_mremap, __NR_brk, __NR_madvise,
	__NR_recvmsg, __NR_sendmsg, __NR_poll, __NR_ppoll,
	__NR_futex, __NR_sched_yield, __NR_clock_gettime, __NR_gettimeofday,
	__NR_nanosleep, __NR_clock_nanosleep, __NR_getpid, __NR_gettid,
	__NR_rt_sigreturn, __NR_rt_sigprocmask, __NR_rt_sigaction,
	__NR_exit, __NR_exit_group, __NR_getrandom, __NR_sysinfo,
};

/* Opening or looking at a path fails (libdw or the C library may try:
 * parsing goes on without it) rather than killing the parser. */
static const int refused[] = {
	__NR_open, __NR_openat, __NR_openat2, __NR_creat, __NR_readlink, __NR_readlinkat,
	__NR_stat, __NR_lstat, __NR_access, __NR_faccessat, __NR_faccessat2,
};

#define STMT(code, k) ((struct sock_filter)BPF_STMT((code), (k)))
#define JEQ(k, jt, jf) ((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (jt), (jf)))

int mo_privsep_confine(void)
{
	enum { NA = sizeof(allowed) / sizeof(allowed[0]) };
	enum { NR = sizeof(refused) / sizeof(refused[0]) };
	struct sock_filter f[16 + NA + NR + 3];
	struct sock_fprog prog = { .filter = f };
	size_t n = 0;

	/* x86-64 only (the x32 ABI's numbers carry bit 30) */
	f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[n++] = JEQ(AUDIT_ARCH_X86_64, 1, 0);
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	/* fcntl only to read a descriptor's flags (libelf checks them): no
	 * locks on the files it was given, no owner, no new descriptors */
	f[n++] = JEQ(__NR_fcntl, 0, 5);
	f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]));
	f[n++] = JEQ(F_GETFD, 2, 0);
	f[n++] = JEQ(F_GETFL, 1, 0);
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	/* signals to itself only (abort): the parser may share its user with
	 * other processes, memobserver's included when it stays user 0 */
	f[n++] = JEQ(__NR_tgkill, 0, 4);
	f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
	f[n++] = JEQ((unsigned)getpid(), 1, 0);
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	/* each allowed number jumps to the ALLOW at the end, each refused
	 * one to the ERRNO before it; anything else falls to KILL */
	for (size_t i = 0; i < NA; i++)
		f[n++] = JEQ((unsigned)allowed[i], (unsigned char)(NA - i - 1 + NR + 2), 0);
	for (size_t i = 0; i < NR; i++)
		f[n++] = JEQ((unsigned)refused[i], (unsigned char)(NR - i), 0);
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES);
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog.len = (unsigned short)n;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		return -errno;
	return 0;
}

/* ----------------------------------------------------------- the client */

static char *const default_argv[] = { "/proc/self/exe", MO_PRIVSEP_CHILD_ARG, NULL };

struct mo_privsep *mo_privsep_new(const struct mo_privsep_opts *opts)
{
	char *const *argv = opts && opts->argv ? opts->argv : default_argv;
	struct mo_privsep *p = calloc(1, sizeof(*p));
	size_t n = 0;

	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	while (argv[n])
		n++;
	p->argv = calloc(n + 1, sizeof(*p->argv));
	for (size_t i = 0; p->argv && i < n; i++) {
		p->argv[i] = strdup(argv[i]);
		if (!p->argv[i]) {
			n = i;
			goto nomem;
		}
	}
	if (!p->argv || !n)
		goto nomem;
	pthread_mutex_init(&p->lock, NULL);
	p->sock = -1;
	p->timeout_ns = (uint64_t)(opts && opts->timeout_ms ? opts->timeout_ms : DEFAULT_TIMEOUT_MS) *
			1000000ULL;
	p->log = opts ? opts->log : NULL;
	p->log_ctx = opts ? opts->log_ctx : NULL;
	return p;
nomem:
	for (size_t i = 0; p->argv && i < n; i++)
		free(p->argv[i]);
	free(p->argv);
	free(p);
	errno = n ? ENOMEM : EINVAL;
	return NULL;
}

/* Reap pid, waiting up to about a second (a child killed while in an
 * uninterruptible sleep may take long: it is reaped later then). */
static bool reap(pid_t pid, int *status)
{
	for (int i = 0; i < 1000; i++) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD))
			return true;
		if (r < 0 && errno != EINTR)
			return true;
		usleep(1000);
	}
	return false;
}

static void logf_(struct mo_privsep *p, enum mo_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void logf_(struct mo_privsep *p, enum mo_log_level lvl, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!p->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->log(lvl, msg, p->log_ctx);
}

/* The child is gone or must go: killed, reaped, counted, and the next one
 * delayed while deaths keep coming. */
static void end_child(struct mo_privsep *p, enum why why, const char *file)
{
	uint64_t now = mo_clock_ns(CLOCK_MONOTONIC);
	pid_t pid = p->child;
	int status = 0;
	char how[64];

	if (p->sock >= 0)
		close(p->sock);
	p->sock = -1;
	__atomic_store_n(&p->child, 0, __ATOMIC_RELAXED);
	p->open_in_child = 0;	/* every file is opened again in the next */
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	if (!reap(pid, &status))
		p->unreaped = pid;
	mo_stat_add(why == WHY_TIMEOUT	 ? &p->st.timeouts
		    : why == WHY_PROTOCOL ? &p->st.protocol
					  : &p->st.died,
		    1);
	if (file)
		mo_stat_add(&p->st.files_lost, 1);
	/* the first death in a while costs no wait; more come slower */
	if (p->last_death_ns && now - p->last_death_ns < CALM_NS)
		p->backoff_ns = p->backoff_ns ? p->backoff_ns * 2 : BACKOFF_FIRST_NS;
	else
		p->backoff_ns = 0;
	if (p->backoff_ns > BACKOFF_MAX_NS)
		p->backoff_ns = BACKOFF_MAX_NS;
	p->last_death_ns = now;
	p->next_start_ns = now + p->backoff_ns;
	if (why == WHY_TIMEOUT)
		snprintf(how, sizeof(how), "did not answer in %llu ms",
			 (unsigned long long)(p->timeout_ns / 1000000));
	else if (why == WHY_PROTOCOL)
		snprintf(how, sizeof(how), "sent a malformed message");
	else if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
		snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(status));
	else if (WIFEXITED(status))
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
	else
		snprintf(how, sizeof(how), "died");
	if (p->log) {
		struct mo_buf name;

		/* the path is the traced process's */
		mo_buf_init(&name);
		if (file)
			mo_text_escape(&name, file, strlen(file));
		logf_(p, MO_LOG_WARN, "parser process %d %s%s%s%s; a new one starts in %llu ms",
		      (int)pid, how, file ? " while reading " : "", name.data ? name.data : "",
		      file ? " (it gets no rows or symbols)" : "",
		      (unsigned long long)(p->backoff_ns / 1000000));
		mo_buf_release(&name);
	}
}

static int start_child(struct mo_privsep *p)
{
	static char *const envp[] = { NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int sv[2], err;
	pid_t pid;

	if (p->unreaped > 0 && reap(p->unreaped, &err))
		p->unreaped = 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	if (sv[1] == MO_PRIVSEP_CHILD_FD) {
		/* dup2 onto itself would keep close-on-exec */
		int moved = fcntl(sv[1], F_DUPFD_CLOEXEC, MO_PRIVSEP_CHILD_FD + 1);

		close(sv[1]);
		if (moved < 0) {
			close(sv[0]);
			return -EMFILE;
		}
		sv[1] = moved;
	}
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, sv[1], MO_PRIVSEP_CHILD_FD);
	posix_spawn_file_actions_addclosefrom_np(&fa, MO_PRIVSEP_CHILD_FD + 1);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	/* its own session: a terminal's ^C is for memobserver, which ends
	 * the child itself */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					      POSIX_SPAWN_SETSID);
	err = posix_spawn(&pid, p->argv[0], &fa, &at, p->argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(sv[1]);
	if (err) {
		close(sv[0]);
		return -err;
	}
	/* a child that stops reading cannot hold a send forever */
	{
		struct timeval tv = { .tv_sec = (time_t)(p->timeout_ns / MO_NSEC),
				      .tv_usec = (suseconds_t)(p->timeout_ns % MO_NSEC / 1000) };

		setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	p->sock = sv[0];
	__atomic_store_n(&p->child, pid, __ATOMIC_RELAXED);
	p->gen++;
	mo_stat_add(&p->st.starts, 1);
	return 0;
}

/* A child to talk to: the running one, or a new one unless deaths have
 * put it off (-EAGAIN). */
static int need_child(struct mo_privsep *p)
{
	int err;

	if (p->child > 0) {
		struct pollfd pf = { .fd = p->sock, .events = POLLIN };

		/* between requests a child says nothing: a hangup is its
		 * death (no file to blame), anything else a violation */
		if (poll(&pf, 1, 0) == 0)
			return 0;
		end_child(p, pf.revents & (POLLHUP | POLLERR) ? WHY_DIED : WHY_PROTOCOL, NULL);
	}
	if (mo_clock_ns(CLOCK_MONOTONIC) < p->next_start_ns)
		return -EAGAIN;
	err = start_child(p);
	if (err) {
		logf_(p, MO_LOG_WARN, "cannot start the parser process: %s", strerror(-err));
		p->next_start_ns = mo_clock_ns(CLOCK_MONOTONIC) + BACKOFF_MAX_NS;
		return -EAGAIN;
	}
	return 0;
}

/* The next message of a reply. On anything but a clean record the child
 * is ended (counted) and -ECHILD returned. */
static int next(struct mo_privsep *p, uint64_t deadline, int *fd, const char *file)
{
	int err = mo_ps_recv(p->sock, p->buf, &p->msg, fd, deadline);

	if (!err)
		return 0;
	end_child(p, err == -ETIMEDOUT ? WHY_TIMEOUT : err == -EPROTO ? WHY_PROTOCOL : WHY_DIED,
		  file);
	return -ECHILD;
}

static int send_req(struct mo_privsep *p, const struct mo_ps_msg *m, int fd, const char *file)
{
	int err = mo_ps_send(p->sock, m, fd);

	if (err == -EINVAL)
		return err;
	if (err) {
		end_child(p, err == -ETIMEDOUT ? WHY_TIMEOUT : WHY_DIED, file);
		return -ECHILD;
	}
	return 0;
}

/* A reply that is not what the request allows ends the child. */
static int violation(struct mo_privsep *p, int fd, const char *file)
{
	if (fd >= 0)
		close(fd);
	end_child(p, WHY_PROTOCOL, file);
	return -ECHILD;
}

static uint64_t deadline(const struct mo_privsep *p)
{
	return mo_clock_ns(CLOCK_MONOTONIC) + p->timeout_ns;
}

/* The request in p->msg, with fd (or -1), sent to the running child,
 * started first if need be; *end: the deadline of the whole reply, counted
 * from before the send. Called locked. 0, or need_child's or send_req's
 * error. */
static int begin_request(struct mo_privsep *p, int fd, const char *file, uint64_t *end)
{
	int err = need_child(p);

	if (err)
		return err;
	*end = deadline(p);
	return send_req(p, &p->msg, fd, file);
}

int mo_privsep_build_rows(void *ctx, int fd, size_t max_rows, struct mo_unwind_table *out)
{
	struct mo_privsep *p = ctx;
	char file[512];
	struct mo_ps_msg *m = &p->msg;
	struct mo_unwind_table t = { 0 };
	size_t cap = 0;
	uint64_t end;
	int err;

	memset(out, 0, sizeof(*out));
	mo_fd_target(fd, file, sizeof(file));	/* for messages */
	pthread_mutex_lock(&p->lock);
	m->type = MO_PS_UNWIND;
	m->unwind.max_rows = max_rows;
	err = begin_request(p, fd, file, &end);
	if (err || (err = next(p, end, NULL, file)))
		goto out;
	if (m->type == MO_PS_DONE) {
		err = m->done.err && !m->done.count ? m->done.err
						    : violation(p, -1, file);
		goto out;
	}
	if (m->type != MO_PS_ROWS_HEAD || m->rows_head.nrows > max_rows) {
		err = violation(p, -1, file);
		goto out;
	}
	t.vaddr_min = m->rows_head.vaddr_min;
	t.off_to_vaddr = m->rows_head.off_to_vaddr;
	t.unsupported = m->rows_head.unsupported;
	size_t want = m->rows_head.nrows;

	while (t.nrows < want) {
		if ((err = next(p, end, NULL, file)))
			goto out;
		if (m->type != MO_PS_ROWS || m->rows.n > want - t.nrows) {
			err = violation(p, -1, file);
			goto out;
		}
		/* room as rows arrive, not as the head announced them */
		if (t.nrows + m->rows.n > cap) {
			size_t ncap = cap ? cap * 2 : MO_PS_ROWS_PER_MSG;
			struct mo_unwind_row *nr;

			if (ncap > cap + MAX_ROWS_ALLOC)
				ncap = cap + MAX_ROWS_ALLOC;
			if (ncap > want)
				ncap = want;
			if (ncap < t.nrows + m->rows.n)
				ncap = t.nrows + m->rows.n;
			nr = realloc(t.rows, ncap * sizeof(*nr));
			if (!nr) {
				/* the child keeps sending: it must go */
				end_child(p, WHY_DIED, NULL);
				err = -ENOMEM;
				goto out;
			}
			t.rows = nr;
			cap = ncap;
		}
		memcpy(t.rows + t.nrows, m->rows.rows, m->rows.n * sizeof(*t.rows));
		for (size_t i = t.nrows ? t.nrows : 1; i < t.nrows + m->rows.n; i++) {
			if (t.rows[i].pc < t.rows[i - 1].pc) {
				err = violation(p, -1, file);
				goto out;
			}
		}
		t.nrows += m->rows.n;
	}
	if ((err = next(p, end, NULL, file)))
		goto out;
	if (m->type != MO_PS_DONE || m->done.err || m->done.count != want) {
		err = violation(p, -1, file);
		goto out;
	}
	*out = t;
	t.rows = NULL;
out:
	free(t.rows);
	pthread_mutex_unlock(&p->lock);
	return err;
}

/* One FOUND entry checked against the file this side opened (size: its
 * size now) and copied to out: the code must be the file's bytes at that
 * offset, read here again. 0, -EPROTO (a lie) or -errno (our read). */
static int take_func(int fd, uint64_t size, const struct mo_ps_func *in, struct mo_elf_func *out)
{
	uint8_t code[MO_PS_FUNC_CODE];
	ssize_t got;

	if (!in->found)
		return 0;
	if (in->file_offset >= size || in->code_len > size - in->file_offset ||
	    (in->size && in->code_len > in->size))
		return -EPROTO;
	do
		got = pread(fd, code, in->code_len, (off_t)in->file_offset);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return -errno;
	if ((size_t)got != in->code_len || memcmp(code, in->code, in->code_len))
		return -EPROTO;
	out->found = 1;
	out->vaddr = in->vaddr;
	out->file_offset = in->file_offset;
	out->size = in->size;
	out->code_len = in->code_len;
	memcpy(out->code, in->code, in->code_len);
	return 0;
}

/* The names of funcs at idx[0..n) looked up by the child in fd's file of
 * size bytes. How many were found, or -errno. Called locked. */
static int funcs_batch(struct mo_privsep *p, int fd, uint64_t size, struct mo_elf_func *funcs,
		       const size_t *idx, uint32_t n, const char *file)
{
	struct mo_ps_msg *m = &p->msg;
	int err, found = 0;
	uint64_t end;

	m->type = MO_PS_FUNCS;
	m->funcs.n = n;
	for (uint32_t k = 0; k < n; k++)
		snprintf(m->funcs.names[k], sizeof(m->funcs.names[k]), "%s", funcs[idx[k]].name);
	err = begin_request(p, fd, file, &end);
	if (err || (err = next(p, end, NULL, file)))
		return err;
	if (m->type == MO_PS_DONE)
		return m->done.err && !m->done.count ? m->done.err : violation(p, -1, file);
	if (m->type != MO_PS_FOUND || m->found.n != n)
		return violation(p, -1, file);
	for (uint32_t k = 0; k < n; k++) {
		err = take_func(fd, size, &m->found.f[k], &funcs[idx[k]]);
		if (err == -EPROTO)
			return violation(p, -1, file);
		if (err)
			return err;
		found += m->found.f[k].found;
	}
	return found;
}

static void clear_funcs(struct mo_elf_func *funcs, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		funcs[j].vaddr = funcs[j].file_offset = funcs[j].size = 0;
		funcs[j].code_len = 0;
		funcs[j].found = 0;
	}
}

int mo_privsep_find_funcs(void *ctx, int fd, struct mo_elf_func *funcs, size_t n)
{
	struct mo_privsep *p = ctx;
	size_t idx[MO_PS_MAX_FUNCS];
	char file[512];
	struct stat st;
	int found = 0, r = 0;
	uint32_t k = 0;

	if ((n && !funcs) || fd < 0)
		return -EINVAL;
	clear_funcs(funcs, n);
	for (size_t j = 0; j < n; j++)
		if (funcs[j].name && strlen(funcs[j].name) > MO_PS_FUNC_NAME_MAX)
			return -ENAMETOOLONG;
	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOEXEC;
	mo_fd_target(fd, file, sizeof(file));	/* for messages */
	pthread_mutex_lock(&p->lock);
	/* the names in batches as large as a request holds; an empty name
	 * is no function's */
	for (size_t j = 0; r >= 0 && j <= n; j++) {
		if (j < n && funcs[j].name && funcs[j].name[0])
			idx[k++] = j;
		if (k && (k == MO_PS_MAX_FUNCS || j == n)) {
			r = funcs_batch(p, fd, (uint64_t)st.st_size, funcs, idx, k, file);
			found += r > 0 ? r : 0;
			k = 0;
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (r < 0)
		clear_funcs(funcs, n);
	return r < 0 ? r : found;
}

int mo_privsep_build_id(void *ctx, int fd, char *out, size_t outlen)
{
	struct mo_privsep *p = ctx;
	struct mo_ps_msg *m = &p->msg;
	char file[512];
	uint64_t end;
	int err;

	if (!out || !outlen || fd < 0)
		return -EINVAL;
	out[0] = '\0';
	mo_fd_target(fd, file, sizeof(file));	/* for messages */
	pthread_mutex_lock(&p->lock);
	m->type = MO_PS_BUILD_ID;
	err = begin_request(p, fd, file, &end);
	if (err || (err = next(p, end, NULL, file)))
		goto out;
	if (m->type == MO_PS_DONE)
		err = m->done.err && !m->done.count ? m->done.err : violation(p, -1, file);
	else if (m->type != MO_PS_ID)
		err = violation(p, -1, file);
	else if (strlen(m->id.hex) >= outlen)
		err = -ENOSPC;
	else
		memcpy(out, m->id.hex, strlen(m->id.hex) + 1);
out:
	pthread_mutex_unlock(&p->lock);
	return err;
}

/*
 * One JIT message appended to the map being received (pm: the entries so
 * far, their names at offsets into pm->text, which holds tlen bytes),
 * checked against what came before: still sorted and disjoint, at most
 * MO_PERFMAP_MAX_ENTRIES entries, and names of no more bytes than the
 * file (size) holds. 0, -EPROTO (a lie) or -ENOMEM.
 */
static int take_jit(const struct mo_ps_msg *m, uint64_t size, struct mo_perfmap *pm,
		    size_t *ecap, size_t *tlen, size_t *tcap)
{
	size_t names = 0, sofar = *tlen - pm->n;	/* text holds each name's NUL */

	if (m->jit.n > MO_PERFMAP_MAX_ENTRIES - pm->n)
		return -EPROTO;
	if (pm->n && pm->e[pm->n - 1].start + pm->e[pm->n - 1].size > m->jit.e[0].start)
		return -EPROTO;
	for (uint32_t k = 0; k < m->jit.n; k++)
		names += m->jit.e[k].name_len;
	/* each name is a distinct piece of a different line of the file */
	if (names > size - sofar)
		return -EPROTO;
	if (MO_GROW(pm->e, pm->n + m->jit.n, *ecap) ||
	    MO_GROW(pm->text, *tlen + names + m->jit.n, *tcap))
		return -ENOMEM;
	for (uint32_t k = 0; k < m->jit.n; k++) {
		const struct mo_ps_jit *j = &m->jit.e[k];

		memcpy(pm->text + *tlen, j->name, j->name_len);
		pm->text[*tlen + j->name_len] = '\0';
		/* an offset until the text stops moving (mo_privsep_perfmap) */
		pm->e[pm->n++] = (struct mo_perfmap_entry){ .start = j->start, .size = j->size,
							    .name = (const char *)(uintptr_t)*tlen };
		*tlen += j->name_len + 1u;
	}
	return 0;
}

int mo_privsep_perfmap(void *ctx, int fd, size_t size, struct mo_perfmap *out)
{
	struct mo_privsep *p = ctx;
	struct mo_ps_msg *m = &p->msg;
	struct mo_perfmap pm = { 0 };
	size_t ecap = 0, tlen = 0, tcap = 0;
	char file[512];
	uint64_t end;
	int err;

	memset(out, 0, sizeof(*out));
	if (fd < 0 || size > MO_PERFMAP_MAX_BYTES)
		return -EINVAL;
	mo_fd_target(fd, file, sizeof(file));	/* for messages */
	pthread_mutex_lock(&p->lock);
	m->type = MO_PS_PERFMAP;
	m->perfmap.size = size;
	err = begin_request(p, fd, file, &end);
	while (!err) {
		if ((err = next(p, end, NULL, file)))
			break;
		if (m->type == MO_PS_DONE) {
			if (m->done.err)
				err = pm.n || m->done.count ? violation(p, -1, file) : m->done.err;
			else if (m->done.count > size)
				err = violation(p, -1, file);
			else
				pm.malformed = m->done.count;
			break;
		}
		err = m->type == MO_PS_JIT ? take_jit(m, size, &pm, &ecap, &tlen, &tcap) : -EPROTO;
		if (err == -EPROTO)
			err = violation(p, -1, file);
		else if (err)
			end_child(p, WHY_DIED, NULL);	/* its reply is still coming */
	}
	if (!err) {
		for (size_t i = 0; i < pm.n; i++)
			pm.e[i].name = pm.text + (uintptr_t)pm.e[i].name;
		*out = pm;
		memset(&pm, 0, sizeof(pm));
	}
	pthread_mutex_unlock(&p->lock);
	mo_perfmap_release(&pm);
	return err;
}

/* The file of remote r opened in the running child. 0, -ECHILD (the child
 * died on it: r is lost), or the child's error. */
static int remote_open(struct mo_privsep *p, struct remote *r, struct mo_symfile_info *info)
{
	struct mo_ps_msg *m = &p->msg;
	uint64_t end = deadline(p);
	int reqs = 0, err, fd;

	m->type = MO_PS_OPEN;
	snprintf(m->open.modname, sizeof(m->open.modname), "%s", r->map_path);
	err = send_req(p, m, r->fd, r->map_path);
	while (!err) {
		if ((err = next(p, end, &fd, r->map_path)))
			break;
		if (m->type == MO_PS_OPENED) {
			*info = m->opened.info;
			r->child_handle = m->opened.handle;
			r->gen = p->gen;
			r->used_at = ++p->requests;
			if (r->child_handle)
				p->open_in_child++;
			/* nothing to look up, yet symbols claimed: not a
			 * parser that tells the truth */
			if (!r->child_handle && info->symbols)
				return violation(p, -1, r->map_path);
			return 0;
		}
		if (m->type == MO_PS_DONE)
			return m->done.err ? m->done.err : violation(p, -1, r->map_path);
		if (m->type != MO_PS_DEBUG_REQ || ++reqs > MAX_DEBUG_REQS)
			return violation(p, fd, r->map_path);
		fd = mo_debug_open(r->pid, r->map_path, m->debug_req.where, m->debug_req.name);
		m->type = MO_PS_DEBUG_FD;
		m->debug_fd.err = fd < 0 ? fd : 0;
		err = send_req(p, m, fd, r->map_path);
		if (fd >= 0)
			close(fd);
	}
	if (err == -ECHILD)
		r->lost = true;
	return err;
}

/* r closed in the running child (it stays ours: opened again on use). */
static void close_in_child(struct mo_privsep *p, struct remote *r)
{
	struct mo_ps_msg m = { .type = MO_PS_CLOSE, .close = { .handle = r->child_handle } };

	if (p->child <= 0 || r->gen != p->gen || !r->child_handle)
		return;
	r->gen = 0;
	p->open_in_child--;
	send_req(p, &m, -1, NULL);
}

/* The least recently used files out of the child, down to the bound. */
static void bound_child(struct mo_privsep *p, const struct remote *keep)
{
	while (p->open_in_child > MAX_OPEN_IN_CHILD && p->child > 0) {
		struct remote *lru = NULL;

		for (size_t i = 0; i < p->nfiles; i++) {
			struct remote *r = &p->files[i];

			if (r->used && r != keep && r->gen == p->gen && r->child_handle &&
			    (!lru || r->used_at < lru->used_at))
				lru = r;
		}
		if (!lru)
			break;
		close_in_child(p, lru);
	}
}

static void release(struct mo_privsep *p, uint32_t handle)
{
	struct remote *r = &p->files[handle - 1];

	if (r->fd >= 0)
		close(r->fd);
	free(r->map_path);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

static int ps_open(void *ctx, int fd, pid_t pid, const char *map_path,
		   struct mo_symfile_info *info, uint32_t *handle)
{
	struct mo_privsep *p = ctx;
	struct remote *r;
	size_t i;
	int err;

	*handle = 0;
	memset(info, 0, sizeof(*info));
	pthread_mutex_lock(&p->lock);
	err = need_child(p);
	if (err)
		goto fail;
	for (i = 0; i < p->nfiles && p->files[i].used; i++)
		;
	if (i == p->nfiles) {
		if (i >= UINT32_MAX - 1 || MO_GROW(p->files, i + 1, p->capfiles)) {
			err = -ENOMEM;
			goto fail;
		}
		p->nfiles++;
	}
	r = &p->files[i];
	*r = (struct remote){ .used = true, .fd = fd, .pid = pid };
	r->map_path = strdup(map_path ? map_path : "");
	if (!r->map_path) {
		r->fd = -1;
		release(p, (uint32_t)i + 1);
		err = -ENOMEM;
		goto fail;
	}
	err = remote_open(p, r, info);
	if (err || !r->child_handle) {
		release(p, (uint32_t)i + 1);
		pthread_mutex_unlock(&p->lock);
		return err;
	}
	*handle = (uint32_t)i + 1;
	bound_child(p, r);
	pthread_mutex_unlock(&p->lock);
	return 0;
fail:
	close(fd);
	pthread_mutex_unlock(&p->lock);
	return err;
}

static int ps_lookup(void *ctx, uint32_t handle, uint64_t vaddr, struct mo_symframe **frames,
		     size_t *n)
{
	struct mo_privsep *p = ctx;
	struct mo_ps_msg *m = &p->msg;
	struct mo_symframe *f = NULL;
	struct mo_symfile_info info;
	struct remote *r;
	size_t k = 0;
	uint64_t end;
	int err;

	*frames = NULL;
	*n = 0;
	pthread_mutex_lock(&p->lock);
	r = handle && handle <= p->nfiles && p->files[handle - 1].used ? &p->files[handle - 1]
								       : NULL;
	err = !r ? -ENOENT : r->lost ? -ECHILD : need_child(p);
	if (err)
		goto out;
	/* a new child since it was opened: open it there first */
	if (r->gen != p->gen) {
		err = remote_open(p, r, &info);
		if (!err && !r->child_handle)
			err = -ENOENT;
		if (err)
			goto out;
		bound_child(p, r);
	}
	r->used_at = ++p->requests;
	end = deadline(p);
	m->type = MO_PS_LOOKUP;
	m->lookup.handle = r->child_handle;
	m->lookup.vaddr = vaddr;
	err = send_req(p, m, -1, r->map_path);
	while (!err) {
		if ((err = next(p, end, NULL, r->map_path)))
			break;
		if (m->type == MO_PS_DONE) {
			if (m->done.err ? m->done.count != 0 : m->done.count != k || !k)
				err = violation(p, -1, r->map_path);
			else
				err = m->done.err ? m->done.err : 1;
			break;
		}
		if (m->type != MO_PS_FRAME || k == MO_SYMFILE_MAX_FRAMES) {
			err = violation(p, -1, r->map_path);
			break;
		}
		if (!f && !(f = calloc(MO_SYMFILE_MAX_FRAMES, sizeof(*f)))) {
			end_child(p, WHY_DIED, NULL);	/* its reply is still coming */
			err = -ENOMEM;
			break;
		}
		f[k].offset = m->frame.offset;
		f[k].line = m->frame.line;
		f[k].inlined = m->frame.inlined;
		f[k].symbol = m->frame.has_symbol ? strdup(m->frame.symbol) : NULL;
		f[k].file = m->frame.has_file ? strdup(m->frame.file) : NULL;
		f[k].linkage = m->frame.has_linkage ? strdup(m->frame.linkage) : NULL;
		k++;
		if ((m->frame.has_symbol && !f[k - 1].symbol) ||
		    (m->frame.has_file && !f[k - 1].file) ||
		    (m->frame.has_linkage && !f[k - 1].linkage)) {
			end_child(p, WHY_DIED, NULL);
			err = -ENOMEM;
		}
	}
	if (err == 1) {
		*frames = f;
		*n = k;
		f = NULL;
		err = 0;
	}
	if (err == -ECHILD)
		r->lost = true;
out:
	mo_symframes_free(f, k);
	pthread_mutex_unlock(&p->lock);
	return err;
}

static void ps_close(void *ctx, uint32_t handle)
{
	struct mo_privsep *p = ctx;
	struct remote *r;

	pthread_mutex_lock(&p->lock);
	r = handle && handle <= p->nfiles && p->files[handle - 1].used ? &p->files[handle - 1]
								       : NULL;
	if (r) {
		if (!r->lost)
			close_in_child(p, r);
		release(p, handle);
	}
	pthread_mutex_unlock(&p->lock);
}

void mo_privsep_symsource(struct mo_privsep *p, struct mo_symsource *out)
{
	*out = (struct mo_symsource){ ps_open, ps_lookup, ps_close, p };
}

void mo_privsep_stats(const struct mo_privsep *p, struct mo_privsep_stats *out)
{
	out->starts = mo_stat_get(&p->st.starts);
	out->died = mo_stat_get(&p->st.died);
	out->timeouts = mo_stat_get(&p->st.timeouts);
	out->protocol = mo_stat_get(&p->st.protocol);
	out->files_lost = mo_stat_get(&p->st.files_lost);
}

pid_t mo_privsep_child(const struct mo_privsep *p)
{
	return __atomic_load_n(&p->child, __ATOMIC_RELAXED);
}

void mo_privsep_free(struct mo_privsep *p)
{
	int status;

	if (!p)
		return;
	if (p->sock >= 0)
		close(p->sock);
	/* it leaves when its socket closes; one stuck in a parse is killed */
	if (p->child > 0) {
		for (int i = 0; i < 200; i++) {
			if (waitpid(p->child, &status, WNOHANG) != 0)
				break;
			if (i == 199) {
				kill(p->child, SIGKILL);
				reap(p->child, &status);
			}
			usleep(1000);
		}
	}
	if (p->unreaped > 0)
		reap(p->unreaped, &status);
	for (size_t i = 0; i < p->nfiles; i++)
		if (p->files[i].used)
			release(p, (uint32_t)i + 1);
	free(p->files);
	for (size_t i = 0; p->argv[i]; i++)
		free(p->argv[i]);
	free(p->argv);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
