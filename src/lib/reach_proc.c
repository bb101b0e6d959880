// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * reach_proc.c - mo_reach_scan(): the reachability core run on a live pid.
 *
 * Memory is read with process_vm_readv. Stop mode stops every thread from a
 * dedicated tracer thread: it seizes and interrupts each thread of
 * /proc/PID/task, re-lists until a listing made with every known thread
 * stopped shows no new one, reads the registers, then waits for the scanner
 * to ask for the resume - or for the pause cap, whichever comes first - and
 * detaches everything. So the pause is capped even when the scanning thread
 * stalls (a read that blocks on the stopped target's memory), and a thread
 * that never reached its stop is released when the tracer thread exits (the
 * kernel detaches a dead tracer's tracees and clears their pending traps;
 * the same happens when the whole caller crashes or is killed).
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procmaps.h"
#include "reach.h"

#define DEFAULT_MAX_PAUSE_NS (200ULL * 1000000)
#define DEFAULT_MAX_MAP (64ULL << 30)
#define DEFAULT_CHUNK (256 * 1024)

void mo_reach_opts_init(struct mo_reach_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mode = MO_REACH_STOP;
	o->max_pause_ns = DEFAULT_MAX_PAUSE_NS;
	o->chunk_bytes = DEFAULT_CHUNK;
	o->max_map_bytes = DEFAULT_MAX_MAP;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static ssize_t pvm_readv(void *ctx, const struct iovec *local, const struct iovec *remote,
			 unsigned long n)
{
	ssize_t r = process_vm_readv(*(pid_t *)ctx, local, n, remote, n, 0);

	return r < 0 ? -errno : r;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t nc;
	void *p;

	if (need <= *cap)
		return 0;
	nc = *cap ? *cap * 2 : 16;
	if (nc < need)
		nc = need;
	p = reallocarray(*arr, nc, elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = nc;
	return 0;
}

/* Thread ids of pid, malloc'd. 0, -ESRCH (gone) or -ENOMEM. */
static int list_tasks(pid_t pid, pid_t **out, size_t *nr)
{
	char path[64];
	struct dirent *de;
	size_t cap = 0, n = 0;
	pid_t *t = NULL;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? -ESRCH : -errno;
	while ((de = readdir(d))) {
		char *end;
		long v = strtol(de->d_name, &end, 10);

		if (*end || v <= 0)
			continue;
		if (grow((void **)&t, &cap, n + 1, sizeof(*t))) {
			closedir(d);
			free(t);
			return -ENOMEM;
		}
		t[n++] = (pid_t)v;
	}
	closedir(d);
	*out = t;
	*nr = n;
	return 0;
}

/* State letter of a task from /proc/PID/task/TID/stat, 0 if unreadable. */
static char task_state(pid_t pid, pid_t tid)
{
	char path[64], buf[512];
	const char *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	f = mo_proc_stat_fields(path, buf, sizeof(buf));
	return f ? f[0] : 0;
}

/* PTRACE_SEIZE with opts, and when it is refused, why. The kernel says
 * EPERM for a thread already ending (it has an exit state), for one traced
 * already (by this thread: a clone of a held thread, traced at birth) and
 * for one we may not trace; ESRCH for one gone. *err: the errno. */
enum seize_result { SEIZED, SEIZE_GONE, SEIZE_OURS, SEIZE_TRACED, SEIZE_PERM, SEIZE_ERROR };

static enum seize_result seize(pid_t pid, pid_t tid, long opts, int *err)
{
	char path[64], *text = NULL, *p, st;
	size_t len;
	long tracer = 0;

	if (ptrace(PTRACE_SEIZE, tid, 0, (void *)opts) == 0)
		return SEIZED;
	*err = errno;
	if (*err == ESRCH)
		return SEIZE_GONE;
	if (*err != EPERM)
		return *err == EACCES ? SEIZE_PERM : SEIZE_ERROR;
	st = task_state(pid, tid);
	if (st == 0 || st == 'Z' || st == 'X')
		return SEIZE_GONE;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
	if (mo_read_text(path, &text, &len))
		return SEIZE_GONE;
	p = strstr(text, "\nTracerPid:");
	if (p)
		tracer = strtol(p + 11, NULL, 10);
	free(text);
	if (tracer == (long)syscall(SYS_gettid))
		return SEIZE_OURS;
	return tracer ? SEIZE_TRACED : SEIZE_PERM;
}

struct tracee {
	pid_t tid;
	bool stopped;
	bool gone;
	int inject;		/* signal caught in its signal-delivery-stop */
};

struct stopper {
	pid_t pid;
	uint64_t max_pause;
	uint64_t give_up;	/* if not all stopped by then: pause cap */
	struct tracee *t;
	size_t nr, cap;
	uint64_t *words;	/* register words */
	size_t nwords, wcap;
	struct mo_reach_thread *th;
	size_t nth, thcap;
	uint64_t pause_start, pause_end;
	bool paused;
	int err;
	enum mo_reach_why why;
	int ready_fd;		/* tracer -> scanner: stopped, or failed */
	int resume_fd;		/* scanner -> tracer: resume now */
	bool timed_out;		/* the tracer resumed at the cap by itself */
	uint64_t tracer_cpu;	/* CPU time of the tracer thread */
	pthread_t thread;
};

static struct tracee *find_tracee(struct stopper *s, pid_t tid)
{
	size_t i;

	for (i = 0; i < s->nr; i++)
		if (s->t[i].tid == tid)
			return &s->t[i];
	return NULL;
}

static void fail(struct stopper *s, int err, enum mo_reach_why why)
{
	if (!s->err) {
		s->err = err;
		s->why = why;
	}
}

/* Seize and interrupt every listed thread not yet held. Returns how many
 * were new, or -1 (s->err set). */
static int seize_new(struct stopper *s)
{
	pid_t *tids = NULL;
	size_t n = 0, i;
	int r, e = 0, added = 0;

	r = list_tasks(s->pid, &tids, &n);
	if (r) {
		fail(s, r, r == -ESRCH ? MO_REACH_WHY_GONE : MO_REACH_WHY_ERROR);
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct tracee *t;
		char state;

		if (find_tracee(s, tids[i]))
			continue;
		state = task_state(s->pid, tids[i]);
		if (state == 'Z' || state == 'X' || state == 0)
			continue;	/* exited (a zombie leader stays listed) */
		r = seize(s->pid, tids[i], 0, &e);
		if (r == SEIZE_GONE)
			continue;	/* ended meanwhile */
		if (r != SEIZED) {
			fail(s, -e, r == SEIZE_TRACED ? MO_REACH_WHY_TRACED
				    : r == SEIZE_ERROR ? MO_REACH_WHY_ERROR
						       : MO_REACH_WHY_PERM);
			free(tids);
			return -1;
		}
		if (grow((void **)&s->t, &s->cap, s->nr + 1, sizeof(*s->t))) {
			/* held but not recorded: released when this thread exits */
			fail(s, -ENOMEM, MO_REACH_WHY_ERROR);
			free(tids);
			return -1;
		}
		t = &s->t[s->nr++];
		*t = (struct tracee){ .tid = tids[i] };
		if (!s->paused) {
			s->paused = true;
			s->pause_start = now_ns();
			s->give_up = s->pause_start + s->max_pause;
		}
		if (ptrace(PTRACE_INTERRUPT, t->tid, 0, 0) < 0)
			t->gone = true;
		added++;
	}
	free(tids);
	return added;
}

/* Wait until every held thread is in a ptrace-stop or gone. */
static int wait_stopped(struct stopper *s)
{
	unsigned sleep_us = 20;
	size_t i;

	for (;;) {
		bool all = true;

		for (i = 0; i < s->nr; i++) {
			struct tracee *t = &s->t[i];
			int st;
			pid_t r;

			if (t->stopped || t->gone)
				continue;
			r = waitpid(t->tid, &st, __WALL | WNOHANG);
			if (r < 0) {
				t->gone = true;
				continue;
			}
			if (r == 0) {
				all = false;
				continue;
			}
			if (WIFEXITED(st) || WIFSIGNALED(st)) {
				t->gone = true;
			} else if (WIFSTOPPED(st)) {
				t->stopped = true;
				/* a signal-delivery-stop: the signal goes back on detach */
				if ((st >> 16) == 0)
					t->inject = WSTOPSIG(st);
			}
		}
		if (all)
			return 0;
		if (now_ns() > s->give_up) {
			fail(s, -ETIME, MO_REACH_WHY_PAUSE_CAP);
			return -1;
		}
		usleep(sleep_us);
		if (sleep_us < 200)
			sleep_us *= 2;
	}
}

static int add_words(struct stopper *s, const void *p, size_t bytes)
{
	size_t n = bytes / 8;

	if (grow((void **)&s->words, &s->wcap, s->nwords + n, sizeof(*s->words)))
		return -ENOMEM;
	memcpy(s->words + s->nwords, p, n * 8);
	s->nwords += n;
	return 0;
}

/* General registers (and, on x86-64, the SSE registers: compilers move
 * structures through them) of a stopped thread; its sp and thread pointer. */
static int read_regs(struct stopper *s, pid_t tid)
{
	struct mo_reach_thread th = { 0, 0 };
	struct iovec iov;
#if defined(__x86_64__)
	struct user_regs_struct regs;
	struct user_fpregs_struct fp;
#elif defined(__aarch64__)
	struct user_pt_regs regs;
	uint64_t tls = 0;
#else
	uint64_t regs[64];
#endif

	iov.iov_base = &regs;
	iov.iov_len = sizeof(regs);
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0)
		return errno == ESRCH ? 0 : -errno;
	if (add_words(s, &regs, iov.iov_len))
		return -ENOMEM;
#if defined(__x86_64__)
	th.sp = regs.rsp;
	th.tls = regs.fs_base;
	iov.iov_base = &fp;
	iov.iov_len = sizeof(fp);
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRFPREG, &iov) == 0 &&
	    add_words(s, fp.xmm_space, sizeof(fp.xmm_space)))
		return -ENOMEM;
#elif defined(__aarch64__)
	th.sp = regs.sp;
	iov.iov_base = &tls;
	iov.iov_len = sizeof(tls);
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_ARM_TLS, &iov) == 0) {
		th.tls = tls;
		if (add_words(s, &tls, sizeof(tls)))
			return -ENOMEM;
	}
#endif
	if (grow((void **)&s->th, &s->thcap, s->nth + 1, sizeof(*s->th)))
		return -ENOMEM;
	s->th[s->nth++] = th;
	return 0;
}

static void detach_all(struct stopper *s)
{
	size_t i;

	for (i = 0; i < s->nr; i++) {
		struct tracee *t = &s->t[i];

		/* a thread not in a stop cannot be detached here: the kernel
		 * releases it when this tracer thread exits */
		if (t->stopped && !t->gone)
			ptrace(PTRACE_DETACH, t->tid, 0, (void *)(long)t->inject);
	}
	if (s->paused)
		s->pause_end = now_ns();
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void *tracer(void *arg)
{
	struct stopper *s = arg;
	size_t i;

	/* The release at the cap must not wait for a CPU on a loaded machine:
	 * this thread only sleeps, seizes and detaches, so a real-time
	 * priority (when allowed) costs the machine nothing; fine timers. */
	{
		struct sched_param sp = { .sched_priority = 1 };

		pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	}
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	/* Stop until a listing taken with every held thread stopped shows no
	 * new thread: a stopped thread cannot create one. */
	for (;;) {
		int added = seize_new(s);

		if (added < 0 || wait_stopped(s) < 0)
			goto out;
		if (added == 0)
			break;
	}
	for (i = 0; i < s->nr; i++) {
		int r;

		if (!s->t[i].stopped || s->t[i].gone)
			continue;
		r = read_regs(s, s->t[i].tid);
		if (r) {
			fail(s, r, MO_REACH_WHY_ERROR);
			goto out;
		}
	}
	if (s->nth == 0) {
		fail(s, -ESRCH, MO_REACH_WHY_GONE);
		goto out;
	}
	signal_fd(s->ready_fd);
	for (;;) {
		uint64_t now = now_ns();
		struct pollfd p = { .fd = s->resume_fd, .events = POLLIN };
		struct timespec ts = { 0, 0 };

		if (s->give_up > now) {
			ts.tv_sec = (time_t)((s->give_up - now) / 1000000000ULL);
			ts.tv_nsec = (long)((s->give_up - now) % 1000000000ULL);
		}
		if (ppoll(&p, 1, &ts, NULL) > 0)
			break;
		if (now_ns() >= s->give_up) {
			__atomic_store_n(&s->timed_out, true, __ATOMIC_SEQ_CST);
			break;
		}
	}
	detach_all(s);
	s->tracer_cpu = cpu_ns();
	return NULL;
out:
	detach_all(s);
	s->tracer_cpu = cpu_ns();
	signal_fd(s->ready_fd);
	return NULL;
}

/* ------------------------------------------------------------ the holder */

#define HOLD_OPTS (PTRACE_O_TRACEEXIT | PTRACE_O_TRACECLONE)
/* A wake-up (SIGCHLD) can be taken by another signalfd of the caller: the
 * holder looks for events at least this often anyway. */
#define HOLD_POLL_MS 100

enum held_state { H_RUN, H_LISTEN, H_STOP, H_GONE };
enum held_kind { K_TRAP, K_SIGNAL, K_GROUP, K_EXIT };

struct held {
	pid_t tid;
	uint8_t state;		/* enum held_state */
	uint8_t kind;		/* enum held_kind, when H_STOP */
	bool asked;		/* interrupted for this stop: once, or it traps
				   again as soon as it goes on */
	int inject;		/* K_SIGNAL: delivered when it goes on */
};

struct mo_reach_hold {
	pid_t pid;
	pthread_t thread;
	int wake_fd;		/* to the holder: a request */
	int event_fd;		/* from the holder: held at the exit, or ended */
	int sig_fd;		/* holder: SIGCHLD, its tracees' stops */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* under lock */
	struct stopper *req;	/* a scan's stop to make */
	bool started, quit, release, exiting, ended;
	int start_err;
	/* holder thread only */
	struct held *t;
	size_t nr, cap;
	bool stopping;		/* a scan's stop is being made: keep stops */
	bool exit_seen;		/* the process's exit was held once */
};

static struct held *held_find(struct mo_reach_hold *h, pid_t tid)
{
	for (size_t i = 0; i < h->nr; i++)
		if (h->t[i].tid == tid)
			return &h->t[i];
	return NULL;
}

static struct held *held_add(struct mo_reach_hold *h, pid_t tid)
{
	struct held *t = held_find(h, tid);

	if (t)
		return t;
	for (size_t i = 0; i < h->nr; i++)
		if (h->t[i].state == H_GONE) {
			h->t[i] = (struct held){ .tid = tid, .state = H_RUN };
			return &h->t[i];
		}
	if (grow((void **)&h->t, &h->cap, h->nr + 1, sizeof(*h->t)))
		return NULL;
	h->t[h->nr] = (struct held){ .tid = tid, .state = H_RUN };
	return &h->t[h->nr++];
}

/* Let a stopped thread go on as its stop asks. */
static void held_go(struct held *t)
{
	if (t->state != H_STOP)
		return;
	/* a job-control stop stays one: listen for SIGCONT */
	if (t->kind == K_GROUP && ptrace(PTRACE_LISTEN, t->tid, 0, 0) == 0) {
		t->state = H_LISTEN;
		return;
	}
	if (ptrace(PTRACE_CONT, t->tid, 0, (void *)(long)(t->kind == K_SIGNAL ? t->inject : 0)) == 0)
		t->state = H_RUN;
	else
		t->state = errno == ESRCH ? H_GONE : H_RUN;
}

static void hold_notify(struct mo_reach_hold *h)
{
	signal_fd(h->event_fd);
}

/* The other threads of h->pid not dead yet, and whether one of them is
 * in execve (which ends the others). */
static size_t others(struct mo_reach_hold *h, pid_t tid, bool *in_exec)
{
	pid_t *tids = NULL;
	size_t n = 0, live = 0;

	*in_exec = false;
	if (list_tasks(h->pid, &tids, &n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char st = task_state(h->pid, tids[i]), path[80], buf[32];
		ssize_t len;
		int fd;

		if (tids[i] == tid || !st || st == 'Z' || st == 'X')
			continue;
		live++;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)h->pid, (int)tids[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len > 0) {
			buf[len] = '\0';
			*in_exec |= !strncmp(buf, "59 ", 3) || !strncmp(buf, "322 ", 4);
		}
	}
	free(tids);
	return live;
}

/* Does this exit stop belong to the end of the process? A fatal signal
 * ends it, exit_group does (the other threads stop at their exits too,
 * killed by it), and so does the exit of its last thread; a thread's own
 * exit does not, nor do the other threads' ends at an execve. */
static bool ends_process(struct mo_reach_hold *h, pid_t tid)
{
	unsigned long status = 0;
	bool in_exec;
	size_t live = others(h, tid, &in_exec);

	if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &status) == 0 && (status & 0x7f))
		return true;
#if defined(__x86_64__)
	{
		struct user_regs_struct regs;
		struct iovec iov = { &regs, sizeof(regs) };

		if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) == 0) {
			if (regs.orig_rax == 231)	/* exit_group */
				return true;
			if (regs.orig_rax != 60)	/* not its own exit: killed */
				return live == 0 || !in_exec;
		}
	}
#endif
	return live == 0;
}

/* One stop of a tracee, consumed: decide what it does next. */
static void held_stopped(struct mo_reach_hold *h, pid_t tid, int st)
{
	struct held *t = held_add(h, tid);
	int event = st >> 16, sig = WSTOPSIG(st);
	unsigned long msg;

	if (!t) {
		/* no room to follow it: let it go on untracked by us */
		ptrace(PTRACE_DETACH, tid, 0, 0);
		return;
	}
	t->state = H_STOP;
	t->inject = 0;
	switch (event) {
	case PTRACE_EVENT_EXIT:
		/* once the process is ending every thread stays at its exit,
		 * registers and all, until released */
		t->kind = K_EXIT;
		if (h->exit_seen)
			return;
		if (ends_process(h, tid)) {
			h->exit_seen = true;
			pthread_mutex_lock(&h->lock);
			h->exiting = true;
			pthread_mutex_unlock(&h->lock);
			hold_notify(h);
			return;
		}
		break;
	case PTRACE_EVENT_CLONE:
		t->kind = K_TRAP;
		/* the new thread is traced already; its first stop follows */
		if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg) == 0)
			held_add(h, (pid_t)msg);
		break;
	case PTRACE_EVENT_STOP:
		t->kind = sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU
				  ? K_GROUP
				  : K_TRAP;
		break;
	case 0:
		t->kind = K_SIGNAL;
		t->inject = sig;
		break;
	default:
		t->kind = K_TRAP;
		break;
	}
	if (!h->stopping)
		held_go(t);
}

/* Handle the tracees' events waiting now; how many. */
static int hold_pump(struct mo_reach_hold *h)
{
	int n = 0;

	for (;;) {
		siginfo_t si;
		int st;

		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WSTOPPED | WNOHANG | WNOWAIT | __WALL |
						  __WNOTHREAD) < 0) {
			if (errno == EINTR)
				continue;
			/* ECHILD: nothing traced any more */
			pthread_mutex_lock(&h->lock);
			h->ended = true;
			pthread_mutex_unlock(&h->lock);
			return n;
		}
		if (si.si_pid == 0)
			return n;
		n++;
		if (si.si_code == CLD_EXITED || si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED) {
			struct held *t = held_find(h, si.si_pid);

			if (si.si_pid == h->pid) {
				/* the process is over: its parent reaps the leader */
				pthread_mutex_lock(&h->lock);
				h->ended = true;
				pthread_mutex_unlock(&h->lock);
				return n;
			}
			waitpid(si.si_pid, &st, __WALL | __WNOTHREAD | WNOHANG);
			if (t)
				t->state = H_GONE;
			continue;
		}
		if (waitpid(si.si_pid, &st, __WALL | __WNOTHREAD | WNOHANG) == si.si_pid &&
		    WIFSTOPPED(st))
			held_stopped(h, si.si_pid, st);
	}
}

static void hold_drain(struct mo_reach_hold *h, int timeout_ms)
{
	struct pollfd p[2] = { { h->wake_fd, POLLIN, 0 }, { h->sig_fd, POLLIN, 0 } };
	struct signalfd_siginfo ssi;
	uint64_t v;

	if (poll(p, 2, timeout_ms) <= 0)
		return;
	if (p[0].revents && read(h->wake_fd, &v, sizeof(v)) < 0) {
		/* nothing to clear */
	}
	while (read(h->sig_fd, &ssi, sizeof(ssi)) == sizeof(ssi))
		;
}

/* A scan's stop, made by the holder: every thread stopped (or gone), their
 * registers read; the scanner is told (ready_fd), and the threads go on at
 * its resume or at the cap. ready_fd is signalled a second time once they
 * went on (not after a failure: then once, after). */
static void hold_stop(struct mo_reach_hold *h, struct stopper *s)
{
	uint64_t c0 = cpu_ns();
	bool keep_exit;

	h->stopping = true;
	s->paused = true;
	s->pause_start = now_ns();
	s->give_up = s->pause_start + s->max_pause;
	for (;;) {
		bool all = true;

		/* again each round: threads made meanwhile too */
		for (size_t i = 0; i < h->nr; i++) {
			struct held *t = &h->t[i];

			if ((t->state != H_RUN && t->state != H_LISTEN) || t->asked)
				continue;
			t->asked = true;
			if (ptrace(PTRACE_INTERRUPT, t->tid, 0, 0) < 0 && errno == ESRCH)
				t->state = H_GONE;
		}
		hold_pump(h);
		for (size_t i = 0; i < h->nr; i++)
			if (h->t[i].state == H_RUN || h->t[i].state == H_LISTEN)
				all = false;
		if (all || h->ended)
			break;
		if (now_ns() > s->give_up) {
			fail(s, -ETIME, MO_REACH_WHY_PAUSE_CAP);
			break;
		}
		hold_drain(h, 1);
	}
	for (size_t i = 0; !s->err && i < h->nr; i++) {
		int r;

		if (h->t[i].state != H_STOP)
			continue;
		r = read_regs(s, h->t[i].tid);
		if (r)
			fail(s, r, MO_REACH_WHY_ERROR);
	}
	if (!s->err && s->nth == 0)
		fail(s, -ESRCH, MO_REACH_WHY_GONE);
	if (!s->err) {
		signal_fd(s->ready_fd);
		for (;;) {
			uint64_t now = now_ns();
			struct pollfd p = { .fd = s->resume_fd, .events = POLLIN };
			int ms = s->give_up > now ? (int)((s->give_up - now + 999999) / 1000000) : 0;

			if (poll(&p, 1, ms) > 0)
				break;
			if (now_ns() >= s->give_up) {
				__atomic_store_n(&s->timed_out, true, __ATOMIC_SEQ_CST);
				break;
			}
		}
	}
	h->stopping = false;
	pthread_mutex_lock(&h->lock);
	keep_exit = h->exiting;
	pthread_mutex_unlock(&h->lock);
	for (size_t i = 0; i < h->nr; i++) {
		h->t[i].asked = false;
		if (!(keep_exit && h->t[i].kind == K_EXIT))
			held_go(&h->t[i]);
	}
	s->pause_end = now_ns();
	s->tracer_cpu = cpu_ns() - c0;
	signal_fd(s->ready_fd);
}

/* Seize every thread of h->pid until a listing shows no new one (threads
 * made by seized ones are traced by the kernel already). */
static int hold_seize(struct mo_reach_hold *h)
{
	for (;;) {
		pid_t *tids = NULL;
		size_t n = 0;
		int added = 0, r = list_tasks(h->pid, &tids, &n);

		if (r)
			return r;
		for (size_t i = 0; i < n; i++) {
			enum seize_result sr;
			int e = 0;

			if (held_find(h, tids[i]))
				continue;
			sr = seize(h->pid, tids[i], HOLD_OPTS, &e);
			if (sr == SEIZE_GONE && tids[i] != h->pid)
				continue;	/* ended meanwhile */
			if (sr != SEIZED && sr != SEIZE_OURS) {
				free(tids);
				return sr == SEIZE_GONE ? -ESRCH : sr == SEIZE_ERROR ? -e : -EPERM;
			}
			/* SEIZE_OURS: a held thread's clone, traced at birth (its
			 * first stop follows) */
			if (!held_add(h, tids[i])) {
				free(tids);
				return -ENOMEM;
			}
			added++;
		}
		free(tids);
		if (!added)
			return 0;
	}
}

static void *holder(void *arg)
{
	struct mo_reach_hold *h = arg;
	struct stopper *late;
	sigset_t set;
	int err;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	h->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	err = h->sig_fd < 0 ? -errno : hold_seize(h);
	pthread_mutex_lock(&h->lock);
	h->started = true;
	h->start_err = err;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	if (err)
		return NULL;	/* what was seized is released as this thread ends */
	for (;;) {
		struct stopper *req;
		bool quit, release;

		pthread_mutex_lock(&h->lock);
		req = h->req;
		h->req = NULL;
		quit = h->quit;
		release = h->release;
		h->release = false;
		if (release)
			h->exiting = false;
		pthread_mutex_unlock(&h->lock);
		if (quit)
			break;
		if (release)
			for (size_t i = 0; i < h->nr; i++)
				if (h->t[i].state == H_STOP && h->t[i].kind == K_EXIT)
					held_go(&h->t[i]);
		if (req)
			hold_stop(h, req);
		if (hold_pump(h) == 0 && !h->ended && !req && !release)
			hold_drain(h, HOLD_POLL_MS);
		if (h->ended) {
			hold_notify(h);
			break;
		}
	}
	/* threads in a stop of ours are let go with what they carried; the
	 * others are detached by the kernel as this thread ends */
	for (size_t i = 0; i < h->nr; i++) {
		struct held *t = &h->t[i];

		if (t->state == H_STOP)
			ptrace(PTRACE_DETACH, t->tid, 0,
			       (void *)(long)(t->kind == K_SIGNAL ? t->inject : 0));
	}
	/* a scan's stop asked for meanwhile fails: nothing is held now */
	pthread_mutex_lock(&h->lock);
	h->ended = true;
	late = h->req;
	h->req = NULL;
	pthread_mutex_unlock(&h->lock);
	if (late) {
		fail(late, -ESRCH, MO_REACH_WHY_GONE);
		signal_fd(late->ready_fd);
	}
	return NULL;
}

/* Give the holder a scan's stop to make. -ESRCH once it holds nothing,
 * -EBUSY while another scan's stop is pending. */
static int hold_submit(struct mo_reach_hold *h, struct stopper *s)
{
	int err = 0;

	pthread_mutex_lock(&h->lock);
	if (h->ended || h->quit)
		err = -ESRCH;
	else if (h->req)
		err = -EBUSY;
	else
		h->req = s;
	pthread_mutex_unlock(&h->lock);
	if (!err)
		signal_fd(h->wake_fd);
	return err;
}

/* Everything but the thread, joined before. */
static void hold_release(struct mo_reach_hold *h)
{
	if (h->wake_fd >= 0)
		close(h->wake_fd);
	if (h->event_fd >= 0)
		close(h->event_fd);
	if (h->sig_fd >= 0)
		close(h->sig_fd);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	free(h->t);
	free(h);
}

struct mo_reach_hold *mo_reach_hold_new(pid_t pid)
{
	struct mo_reach_hold *h;
	int err;

	if (pid <= 0) {
		errno = EINVAL;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->pid = pid;
	h->sig_fd = -1;
	h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	h->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	if (h->wake_fd < 0 || h->event_fd < 0) {
		err = -errno;
		goto fail;
	}
	err = -pthread_create(&h->thread, NULL, holder, h);
	if (err)
		goto fail;
	pthread_mutex_lock(&h->lock);
	while (!h->started)
		pthread_cond_wait(&h->cond, &h->lock);
	err = h->start_err;
	pthread_mutex_unlock(&h->lock);
	if (!err)
		return h;
	pthread_join(h->thread, NULL);
fail:
	hold_release(h);
	errno = -err;
	return NULL;
}

void mo_reach_hold_free(struct mo_reach_hold *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->quit = true;
	pthread_mutex_unlock(&h->lock);
	signal_fd(h->wake_fd);
	pthread_join(h->thread, NULL);
	hold_release(h);
}

pid_t mo_reach_hold_pid(const struct mo_reach_hold *h)
{
	return h->pid;
}

int mo_reach_hold_fd(const struct mo_reach_hold *h)
{
	return h->event_fd;
}

bool mo_reach_hold_exiting(struct mo_reach_hold *h)
{
	bool r;

	pthread_mutex_lock(&h->lock);
	r = h->exiting && !h->ended;
	pthread_mutex_unlock(&h->lock);
	return r;
}

void mo_reach_hold_release(struct mo_reach_hold *h)
{
	pthread_mutex_lock(&h->lock);
	h->release = true;
	pthread_mutex_unlock(&h->lock);
	signal_fd(h->wake_fd);
}

bool mo_reach_hold_ended(struct mo_reach_hold *h)
{
	bool r;

	pthread_mutex_lock(&h->lock);
	r = h->ended;
	pthread_mutex_unlock(&h->lock);
	return r;
}

struct resume_ctx {
	struct stopper *s;
	bool joined;		/* nothing more to wait for */
	bool held;		/* the stop was the holder's: it signals when done */
};

static void resume(void *arg)
{
	struct resume_ctx *rc = arg;

	uint64_t v;

	if (rc->joined)
		return;
	signal_fd(rc->s->resume_fd);
	if (rc->held)
		while (read(rc->s->ready_fd, &v, sizeof(v)) < 0 && errno == EINTR)
			;
	else
		pthread_join(rc->s->thread, NULL);
	rc->joined = true;
}

static void stopper_release(struct stopper *s)
{
	free(s->t);
	free(s->words);
	free(s->th);
	if (s->ready_fd >= 0)
		close(s->ready_fd);
	if (s->resume_fd >= 0)
		close(s->resume_fd);
}

static enum mo_reach_why why_of(int err)
{
	if (err == -ESRCH || err == -ENOENT)
		return MO_REACH_WHY_GONE;
	if (err == -EPERM || err == -EACCES)
		return MO_REACH_WHY_PERM;
	return MO_REACH_WHY_ERROR;
}

/* Stop mode: the process is stopped from mo_reach_classify's ready hook,
 * once the blocks are indexed (sorting a large list is no work for the
 * pause). */
struct stop_scan {
	pid_t pid;
	const struct mo_reach_opts *o;
	struct stopper *s;
	struct resume_ctx *rc;
	struct mo_reach_input *in;
	struct mo_maps *maps;
	struct mo_reach_range **roots;
	enum mo_reach_why early;	/* NOT_STOPPED: why */
	int early_err;
};

/* stop_ready's answer when the process could not be stopped and scanned:
 * every block is then unknown for ss.early (not an -errno). */
#define NOT_STOPPED 1

static int stop_ready(void *arg)
{
	struct stop_scan *x = arg;
	struct stopper *s = x->s;
	const struct mo_reach_opts *o = x->o;
	bool incomplete = false;
	size_t nr_roots = 0;
	uint64_t v, margin;
	int r;

	if (o->hold && mo_reach_hold_pid(o->hold) == x->pid && hold_submit(o->hold, s) == 0) {
		x->rc->held = true;
	} else {
		pthread_attr_t attr;

		pthread_attr_init(&attr);
		r = pthread_create(&s->thread, &attr, tracer, s);
		pthread_attr_destroy(&attr);
		if (r) {
			x->early_err = -r;
			x->early = MO_REACH_WHY_ERROR;
			return NOT_STOPPED;
		}
	}
	x->rc->joined = false;
	while (read(s->ready_fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	if (s->err && x->rc->held)
		x->rc->joined = true;	/* the holder let everything go already */
	if (s->err) {
		x->early = s->why;
		x->early_err = s->err;
		return NOT_STOPPED;
	}
	if (o->on_paused)
		o->on_paused(o->on_paused_arg, x->pid);
	r = mo_procmaps_read(x->pid, x->maps);
	if (r) {
		x->early = why_of(r);
		x->early_err = r;
		return NOT_STOPPED;
	}
	r = mo_reach_roots(x->maps, s->th, s->nth, o->max_map_bytes, x->roots, &nr_roots,
			   &incomplete);
	if (r)
		return r;
	/* stop scanning a little before the tracer's own release */
	margin = o->max_pause_ns / 20 > 1000000 ? o->max_pause_ns / 20 : 1000000;
	if (margin > o->max_pause_ns / 2)
		margin = o->max_pause_ns / 2;
	x->in->mark_deadline_ns = s->pause_start + o->max_pause_ns - margin;
	x->in->regs = s->words;
	x->in->nr_regs = s->nwords;
	x->in->roots = *x->roots;
	x->in->nr_roots = nr_roots;
	x->in->roots_incomplete = incomplete;
	return 0;
}

/* Every block UNKNOWN for one reason. */
static int all_unknown(const struct mo_reach_block *blocks, size_t n, enum mo_reach_why why,
		       int err, struct mo_reach_result *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	out->nr = n;
	out->cls = calloc(n ? n : 1, 1);
	out->why = calloc(n ? n : 1, 1);
	if (!out->cls || !out->why) {
		mo_reach_result_release(out);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		out->why[i] = why;
		out->stats.bytes[MO_REACH_UNKNOWN] += blocks[i].size;
	}
	out->stats.count[MO_REACH_UNKNOWN] = n;
	out->stats.why = why;
	out->stats.error = err;
	return 0;
}

/* Live mode: stack pointers of threads blocked in the kernel, from
 * /proc/PID/task/TID/syscall (running threads have none). */
static int blocked_sps(pid_t pid, struct mo_reach_thread **out, size_t *nr)
{
	pid_t *tids = NULL;
	size_t n = 0, i, k = 0;
	struct mo_reach_thread *th;
	int r = list_tasks(pid, &tids, &n);

	*out = NULL;
	*nr = 0;
	if (r)
		return r;
	th = calloc(n ? n : 1, sizeof(*th));
	if (!th) {
		free(tids);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		char path[80], buf[256];
		ssize_t len;
		uint64_t sp;
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid, (int)tids[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len > 0 && mo_reach_parse_syscall(buf, (size_t)len, &sp) == 0)
			th[k++] = (struct mo_reach_thread){ sp, 0 };
	}
	free(tids);
	*out = th;
	*nr = k;
	return 0;
}

int mo_reach_scan(pid_t pid, const struct mo_reach_block *blocks, size_t n,
		  const struct mo_reach_opts *opts, const struct mo_reach_result *prev,
		  struct mo_reach_result *out)
{
	struct mo_reach_opts o;
	struct mo_reach_input in = { 0 };
	struct stop_scan ss = { 0 };
	struct stopper s = { .ready_fd = -1, .resume_fd = -1 };
	struct resume_ctx rc = { .s = &s, .joined = true };
	struct mo_maps maps = { 0 };
	struct mo_reach_range *roots = NULL;
	struct mo_reach_thread *live_th = NULL;
	size_t nr_roots = 0, nr_live = 0;
	uint64_t t0 = now_ns(), c0 = cpu_ns();
	bool incomplete = false;
	enum mo_reach_why early = MO_REACH_WHY_NONE;
	int r, early_err = 0;

	memset(out, 0, sizeof(*out));
	if (pid <= 0 || (n && !blocks) ||
	    (opts && opts->mode != MO_REACH_STOP && opts->mode != MO_REACH_LIVE))
		return -EINVAL;
	if (opts)
		o = *opts;
	else
		mo_reach_opts_init(&o);
	if (!o.max_pause_ns)
		o.max_pause_ns = DEFAULT_MAX_PAUSE_NS;
	if (!o.max_map_bytes)
		o.max_map_bytes = DEFAULT_MAX_MAP;

	in.readv = pvm_readv;
	in.ctx = &pid;
	in.blocks = blocks;
	in.nr = n;
	in.chunk_bytes = o.chunk_bytes;
	in.deadline_ns = o.max_scan_ns ? t0 + o.max_scan_ns : 0;

	if (o.mode == MO_REACH_STOP) {
		if (pid == getpid()) {
			early = MO_REACH_WHY_SELF;
			goto early_out;
		}
		s.pid = pid;
		s.max_pause = o.max_pause_ns;
		/* a semaphore: the holder may signal twice before a read */
		s.ready_fd = eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE);
		s.resume_fd = eventfd(0, EFD_CLOEXEC);
		if (s.ready_fd < 0 || s.resume_fd < 0) {
			early_err = -errno;
			early = MO_REACH_WHY_ERROR;
			goto early_out;
		}
		/* the process is stopped once the blocks are indexed */
		ss = (struct stop_scan){ .pid = pid, .o = &o, .s = &s, .rc = &rc, .in = &in,
					 .maps = &maps, .roots = &roots };
		in.ready = stop_ready;
		in.ready_arg = &ss;
		in.marked = resume;
		in.marked_arg = &rc;
	} else {
		r = mo_procmaps_read(pid, &maps);
		if (r) {
			early = why_of(r);
			early_err = r;
			goto early_out;
		}
		r = blocked_sps(pid, &live_th, &nr_live);
		if (r == -ENOMEM)
			goto fail;
		r = mo_reach_roots(&maps, live_th, nr_live, o.max_map_bytes, &roots, &nr_roots,
				   &incomplete);
		if (r)
			goto fail;
		in.confirm = true;
		in.prev = prev;
		in.roots = roots;
		in.nr_roots = nr_roots;
		in.roots_incomplete = incomplete;
	}
	r = mo_reach_classify(&in, out);
	resume(&rc);
	if (r == NOT_STOPPED) {
		early = ss.early;
		early_err = ss.early_err;
		goto early_out;
	}
	if (r)
		goto fail;
	if (__atomic_load_n(&s.timed_out, __ATOMIC_SEQ_CST) && !out->stats.why) {
		/* resumed at the cap before the marking ended: only pointers
		 * seen prove anything */
		size_t i;

		memset(out->stats.count, 0, sizeof(out->stats.count));
		memset(out->stats.bytes, 0, sizeof(out->stats.bytes));
		for (i = 0; i < n; i++) {
			if (out->cls[i] != MO_REACH_REACHABLE && out->cls[i] != MO_REACH_UNKNOWN) {
				out->cls[i] = MO_REACH_UNKNOWN;
				out->why[i] = MO_REACH_WHY_PAUSE_CAP;
			}
			out->stats.count[out->cls[i]]++;
			out->stats.bytes[out->cls[i]] += blocks[i].size;
		}
		out->nr_lost = 0;
		out->stats.why = MO_REACH_WHY_PAUSE_CAP;
	}
	goto done;

early_out:
	resume(&rc);
	r = all_unknown(blocks, n, early, early_err, out);
	if (r)
		goto fail;
done:
	out->stats.threads_stopped = (uint32_t)s.nth;
	out->stats.pause_ns = s.paused ? s.pause_end - s.pause_start : 0;
	out->stats.duration_ns = now_ns() - t0;
	out->stats.cpu_ns = cpu_ns() - c0 + s.tracer_cpu;
	r = 0;
	goto cleanup;
fail:
	mo_reach_result_release(out);
cleanup:
	mo_maps_release(&maps);
	free(roots);
	free(live_th);
	stopper_release(&s);
	return r;
}
