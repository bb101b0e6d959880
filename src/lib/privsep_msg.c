// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * privsep_msg.c - encode, decode and carry privsep_msg.h's messages. The
 * decoder is the only code that reads a record's bytes: a cursor that
 * refuses to read past the record, and a check that every byte was used.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "privsep_msg.h"
#include "util.h"

struct wr {
	uint8_t *p;
	size_t len, cap;
	bool bad;
};

struct rd {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static void put(struct wr *w, const void *v, size_t n)
{
	if (w->bad || n > w->cap - w->len) {
		w->bad = true;
		return;
	}
	memcpy(w->p + w->len, v, n);
	w->len += n;
}

static void put_u8(struct wr *w, uint8_t v)
{
	put(w, &v, 1);
}

static void put_u16(struct wr *w, uint16_t v)
{
	put(w, &v, 2);
}

static void put_u32(struct wr *w, uint32_t v)
{
	put(w, &v, 4);
}

static void put_u64(struct wr *w, uint64_t v)
{
	put(w, &v, 8);
}

static void put_strn(struct wr *w, const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n > max) {
		w->bad = true;
		return;
	}
	put_u16(w, (uint16_t)n);
	put(w, s, n);
}

static void put_str(struct wr *w, const char *s)
{
	put_strn(w, s, MO_SYMFILE_MAX_NAME);
}

static void get(struct rd *r, void *v, size_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		memset(v, 0, n);
		return;
	}
	memcpy(v, r->p + r->off, n);
	r->off += n;
}

static uint8_t get_u8(struct rd *r)
{
	uint8_t v;

	get(r, &v, 1);
	return v;
}

static uint16_t get_u16(struct rd *r)
{
	uint16_t v;

	get(r, &v, 2);
	return v;
}

static uint32_t get_u32(struct rd *r)
{
	uint32_t v;

	get(r, &v, 4);
	return v;
}

static uint64_t get_u64(struct rd *r)
{
	uint64_t v;

	get(r, &v, 8);
	return v;
}

/* A string of at most max bytes into out (max + 1 bytes), NUL-terminated. */
static void get_strn(struct rd *r, char *out, size_t max)
{
	uint16_t n = get_u16(r);

	out[0] = '\0';
	if (n > max)
		r->bad = true;
	get(r, out, r->bad ? 0 : n);
	if (r->bad)
		return;
	out[n] = '\0';
	if (memchr(out, '\0', n))
		r->bad = true;
}

static void get_str(struct rd *r, char *out)
{
	get_strn(r, out, MO_SYMFILE_MAX_NAME);
}

static bool get_bool(struct rd *r)
{
	uint8_t v = get_u8(r);

	if (v > 1)
		r->bad = true;
	return v;
}

bool mo_ps_carries_fd(const struct mo_ps_msg *m)
{
	switch (m->type) {
	case MO_PS_UNWIND:
	case MO_PS_OPEN:
	case MO_PS_FUNCS:
	case MO_PS_BUILD_ID:
	case MO_PS_PERFMAP:
		return true;
	case MO_PS_DEBUG_FD:
		return m->debug_fd.err == 0;
	default:
		return false;
	}
}

/* A build id as hex: 1 to 64 bytes, two lowercase digits each. */
static bool build_id_hex(const char *s)
{
	size_t n = strnlen(s, 2 * 64 + 1);

	if (!n || n % 2 || n > 2 * 64)
		return false;
	return strspn(s, "0123456789abcdef") == n;
}

/* A JIT entry as a parsed perf map has it, after prev (NULL: the first of
 * its message). */
static bool jit_ok(const struct mo_ps_jit *e, const struct mo_ps_jit *prev)
{
	if (!e->name_len || e->name_len > MO_PERFMAP_NAME_MAX || !e->size ||
	    e->start + e->size < e->start)
		return false;
	if (memchr(e->name, '\0', e->name_len) || memchr(e->name, '\n', e->name_len))
		return false;
	return !prev || prev->start + prev->size <= e->start;
}

static bool errno_value(int32_t err)
{
	return err <= 0 && err > -4096;
}

int mo_ps_encode(const struct mo_ps_msg *m, uint8_t *buf, size_t cap)
{
	struct wr w = { .p = buf, .cap = cap < MO_PS_MAX_MSG ? cap : MO_PS_MAX_MSG };
	uint32_t len;

	put_u16(&w, (uint16_t)m->type);
	put_u16(&w, 0);
	put_u32(&w, 0);		/* the payload length, below */
	switch (m->type) {
	case MO_PS_UNWIND:
		put_u64(&w, m->unwind.max_rows);
		break;
	case MO_PS_OPEN:
		put_str(&w, m->open.modname);
		break;
	case MO_PS_LOOKUP:
		put_u32(&w, m->lookup.handle);
		put_u64(&w, m->lookup.vaddr);
		break;
	case MO_PS_CLOSE:
		put_u32(&w, m->close.handle);
		break;
	case MO_PS_DEBUG_FD:
		w.bad |= !errno_value(m->debug_fd.err);
		put_u32(&w, (uint32_t)m->debug_fd.err);
		break;
	case MO_PS_ROWS_HEAD:
		put_u64(&w, m->rows_head.nrows);
		put_u64(&w, m->rows_head.vaddr_min);
		put_u64(&w, (uint64_t)m->rows_head.off_to_vaddr);
		put_u64(&w, m->rows_head.unsupported);
		break;
	case MO_PS_ROWS:
		w.bad |= !m->rows.n || m->rows.n > MO_PS_ROWS_PER_MSG;
		if (!w.bad)
			put(&w, m->rows.rows, m->rows.n * sizeof(*m->rows.rows));
		break;
	case MO_PS_OPENED: {
		const struct mo_symfile_info *i = &m->opened.info;

		w.bad |= i->nsegs > MO_SYMFILE_MAX_SEGS;
		put_u32(&w, m->opened.handle);
		put_u8(&w, i->symbols);
		put_u8(&w, (uint8_t)i->nsegs);
		put_str(&w, i->build_id);
		for (uint32_t k = 0; !w.bad && k < i->nsegs; k++) {
			put_u64(&w, i->segs[k].offset);
			put_u64(&w, i->segs[k].vaddr);
			put_u64(&w, i->segs[k].filesz);
			put_u8(&w, i->segs[k].x);
		}
		break;
	}
	case MO_PS_FRAME:
		put_u64(&w, m->frame.offset);
		put_u32(&w, (uint32_t)m->frame.line);
		put_u8(&w, m->frame.inlined);
		put_u8(&w, m->frame.has_symbol);
		put_u8(&w, m->frame.has_file);
		put_u8(&w, m->frame.has_linkage);
		w.bad |= m->frame.has_linkage && (!m->frame.has_symbol || !m->frame.linkage[0]);
		put_str(&w, m->frame.has_symbol ? m->frame.symbol : "");
		put_str(&w, m->frame.has_file ? m->frame.file : "");
		put_str(&w, m->frame.has_linkage ? m->frame.linkage : "");
		break;
	case MO_PS_DONE:
		w.bad |= !errno_value(m->done.err);
		put_u32(&w, (uint32_t)m->done.err);
		put_u32(&w, m->done.count);
		break;
	case MO_PS_DEBUG_REQ:
		w.bad |= m->debug_req.where < MO_DEBUG_BUILD_ID ||
			 m->debug_req.where >= MO_DEBUG_WHERE_END;
		put_u8(&w, m->debug_req.where);
		put_str(&w, m->debug_req.name);
		break;
	case MO_PS_FUNCS:
		w.bad |= !m->funcs.n || m->funcs.n > MO_PS_MAX_FUNCS;
		put_u32(&w, m->funcs.n);
		for (uint32_t k = 0; !w.bad && k < m->funcs.n; k++) {
			w.bad |= !m->funcs.names[k][0];
			put_strn(&w, m->funcs.names[k], MO_PS_FUNC_NAME_MAX);
		}
		break;
	case MO_PS_BUILD_ID:
		break;
	case MO_PS_ID:
		w.bad |= !build_id_hex(m->id.hex);
		put_strn(&w, m->id.hex, 2 * 64);
		break;
	case MO_PS_PERFMAP:
		w.bad |= m->perfmap.size > MO_PERFMAP_MAX_BYTES;
		put_u64(&w, m->perfmap.size);
		break;
	case MO_PS_JIT:
		w.bad |= !m->jit.n || m->jit.n > MO_PS_JIT_PER_MSG;
		put_u32(&w, m->jit.n);
		for (uint32_t k = 0; !w.bad && k < m->jit.n; k++) {
			const struct mo_ps_jit *e = &m->jit.e[k];

			w.bad |= !jit_ok(e, k ? e - 1 : NULL);
			put_u64(&w, e->start);
			put_u64(&w, e->size);
			put_u16(&w, e->name_len);
			if (!w.bad)
				put(&w, e->name, e->name_len);
		}
		break;
	case MO_PS_FOUND:
		w.bad |= !m->found.n || m->found.n > MO_PS_MAX_FUNCS;
		put_u32(&w, m->found.n);
		for (uint32_t k = 0; !w.bad && k < m->found.n; k++) {
			const struct mo_ps_func *f = &m->found.f[k];

			put_u8(&w, f->found);
			if (!f->found) {
				/* one encoding: a name not found carries nothing */
				w.bad |= f->vaddr || f->file_offset || f->size || f->code_len;
				continue;
			}
			w.bad |= f->code_len > MO_PS_FUNC_CODE;
			put_u64(&w, f->vaddr);
			put_u64(&w, f->file_offset);
			put_u64(&w, f->size);
			put_u8(&w, f->code_len);
			if (!w.bad)
				put(&w, f->code, f->code_len);
		}
		break;
	default:
		return -EINVAL;
	}
	if (w.bad)
		return -EINVAL;
	len = (uint32_t)(w.len - MO_PS_HDR);
	memcpy(buf + 4, &len, 4);
	return (int)w.len;
}

int mo_ps_decode(const uint8_t *buf, size_t len, struct mo_ps_msg *m)
{
	struct rd r = { .p = buf, .len = len };
	uint16_t type, zero;
	uint32_t plen;

	type = get_u16(&r);
	zero = get_u16(&r);
	plen = get_u32(&r);
	if (r.bad || zero || len > MO_PS_MAX_MSG || plen != len - MO_PS_HDR)
		return -EPROTO;
	m->type = (enum mo_ps_type)type;
	switch (m->type) {
	case MO_PS_UNWIND:
		m->unwind.max_rows = get_u64(&r);
		break;
	case MO_PS_OPEN:
		get_str(&r, m->open.modname);
		break;
	case MO_PS_LOOKUP:
		m->lookup.handle = get_u32(&r);
		m->lookup.vaddr = get_u64(&r);
		break;
	case MO_PS_CLOSE:
		m->close.handle = get_u32(&r);
		break;
	case MO_PS_DEBUG_FD:
		m->debug_fd.err = (int32_t)get_u32(&r);
		r.bad |= !errno_value(m->debug_fd.err);
		break;
	case MO_PS_ROWS_HEAD:
		m->rows_head.nrows = get_u64(&r);
		m->rows_head.vaddr_min = get_u64(&r);
		m->rows_head.off_to_vaddr = (int64_t)get_u64(&r);
		m->rows_head.unsupported = get_u64(&r);
		break;
	case MO_PS_ROWS: {
		size_t n = (len - r.off) / sizeof(struct mo_unwind_row);

		if ((len - r.off) % sizeof(struct mo_unwind_row) || !n || n > MO_PS_ROWS_PER_MSG)
			return -EPROTO;
		m->rows.rows = (const struct mo_unwind_row *)(buf + r.off);
		m->rows.n = (uint32_t)n;
		r.off = len;
		break;
	}
	case MO_PS_OPENED: {
		struct mo_symfile_info *i = &m->opened.info;

		memset(i, 0, sizeof(*i));
		m->opened.handle = get_u32(&r);
		i->symbols = get_bool(&r);
		i->nsegs = get_u8(&r);
		if (i->nsegs > MO_SYMFILE_MAX_SEGS)
			return -EPROTO;
		{
			char id[MO_SYMFILE_MAX_NAME + 1];

			get_str(&r, id);
			if (r.bad || strlen(id) >= sizeof(i->build_id))
				return -EPROTO;
			memcpy(i->build_id, id, strlen(id) + 1);
		}
		for (uint32_t k = 0; !r.bad && k < i->nsegs; k++) {
			i->segs[k].offset = get_u64(&r);
			i->segs[k].vaddr = get_u64(&r);
			i->segs[k].filesz = get_u64(&r);
			i->segs[k].x = get_bool(&r);
		}
		break;
	}
	case MO_PS_FRAME:
		m->frame.offset = get_u64(&r);
		m->frame.line = (int32_t)get_u32(&r);
		m->frame.inlined = get_bool(&r);
		m->frame.has_symbol = get_bool(&r);
		m->frame.has_file = get_bool(&r);
		m->frame.has_linkage = get_bool(&r);
		get_str(&r, m->frame.symbol);
		get_str(&r, m->frame.file);
		get_str(&r, m->frame.linkage);
		r.bad |= (!m->frame.has_symbol && m->frame.symbol[0]) ||
			 (!m->frame.has_file && m->frame.file[0]) ||
			 (!m->frame.has_linkage && m->frame.linkage[0]) ||
			 (m->frame.has_linkage && (!m->frame.has_symbol || !m->frame.linkage[0]));
		break;
	case MO_PS_DONE:
		m->done.err = (int32_t)get_u32(&r);
		m->done.count = get_u32(&r);
		r.bad |= !errno_value(m->done.err);
		break;
	case MO_PS_DEBUG_REQ:
		m->debug_req.where = get_u8(&r);
		get_str(&r, m->debug_req.name);
		r.bad |= m->debug_req.where < MO_DEBUG_BUILD_ID ||
			 m->debug_req.where >= MO_DEBUG_WHERE_END;
		break;
	case MO_PS_FUNCS:
		m->funcs.n = get_u32(&r);
		if (!m->funcs.n || m->funcs.n > MO_PS_MAX_FUNCS)
			return -EPROTO;
		for (uint32_t k = 0; !r.bad && k < m->funcs.n; k++) {
			get_strn(&r, m->funcs.names[k], MO_PS_FUNC_NAME_MAX);
			r.bad |= !m->funcs.names[k][0];
		}
		break;
	case MO_PS_BUILD_ID:
		break;
	case MO_PS_ID:
		get_strn(&r, m->id.hex, 2 * 64);
		r.bad |= !build_id_hex(m->id.hex);
		break;
	case MO_PS_PERFMAP:
		m->perfmap.size = get_u64(&r);
		r.bad |= m->perfmap.size > MO_PERFMAP_MAX_BYTES;
		break;
	case MO_PS_JIT:
		m->jit.n = get_u32(&r);
		if (!m->jit.n || m->jit.n > MO_PS_JIT_PER_MSG)
			return -EPROTO;
		for (uint32_t k = 0; !r.bad && k < m->jit.n; k++) {
			struct mo_ps_jit *e = &m->jit.e[k];

			e->start = get_u64(&r);
			e->size = get_u64(&r);
			e->name_len = get_u16(&r);
			if (r.bad || e->name_len > r.len - r.off)
				return -EPROTO;
			e->name = (const char *)buf + r.off;
			r.off += e->name_len;
			r.bad |= !jit_ok(e, k ? e - 1 : NULL);
		}
		break;
	case MO_PS_FOUND:
		m->found.n = get_u32(&r);
		if (!m->found.n || m->found.n > MO_PS_MAX_FUNCS)
			return -EPROTO;
		for (uint32_t k = 0; !r.bad && k < m->found.n; k++) {
			struct mo_ps_func *f = &m->found.f[k];

			memset(f, 0, sizeof(*f));
			f->found = get_bool(&r);
			if (!f->found)
				continue;
			f->vaddr = get_u64(&r);
			f->file_offset = get_u64(&r);
			f->size = get_u64(&r);
			f->code_len = get_u8(&r);
			if (f->code_len > MO_PS_FUNC_CODE)
				return -EPROTO;
			get(&r, f->code, f->code_len);
		}
		break;
	default:
		return -EPROTO;
	}
	return r.bad || r.off != len ? -EPROTO : 0;
}

int mo_ps_send_record(int sock, const void *rec, size_t len, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(4 * sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = (void *)rec, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t r;

	if (nfds > 4)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.space;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	do
		r = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -ETIMEDOUT;	/* SO_SNDTIMEO: the peer does not read */
	if (r < 0)
		return errno == ECONNRESET ? -EPIPE : -errno;
	return (size_t)r == len ? 0 : -EIO;
}

int mo_ps_send(int sock, const struct mo_ps_msg *m, int fd)
{
	uint8_t buf[MO_PS_MAX_MSG];
	int len = mo_ps_encode(m, buf, sizeof(buf));

	if (len < 0 || (fd >= 0) != mo_ps_carries_fd(m))
		return -EINVAL;
	return mo_ps_send_record(sock, buf, (size_t)len, &fd, fd >= 0);
}

/* Descriptors that came with a record: closed, except one fd handed back
 * when want is set. How many there were. */
static int take_fds(struct msghdr *mh, int *keep)
{
	int count = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (count++ == 0 && keep)
				*keep = fd;
			else
				close(fd);
		}
	}
	return count;
}

int mo_ps_recv(int sock, uint8_t *buf, struct mo_ps_msg *m, int *fd, uint64_t deadline_ns)
{
	/* room for more descriptors than allowed, so extras are seen (and
	 * closed) rather than silently truncated */
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(4 * sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = MO_PS_MAX_MSG };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int got = -1, nfds, err;
	ssize_t r;

	if (fd)
		*fd = -1;
	for (;;) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		int wait = -1;

		if (deadline_ns) {
			uint64_t now = mo_clock_ns(CLOCK_MONOTONIC);

			if (now >= deadline_ns)
				return -ETIMEDOUT;
			wait = (int)((deadline_ns - now + 999999) / 1000000);
		}
		r = poll(&p, 1, wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		mh.msg_control = ctl.space;
		mh.msg_controllen = sizeof(ctl.space);
		r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		break;
	}
	if (r < 0)
		return errno == ECONNRESET ? -EPIPE : -errno;
	nfds = take_fds(&mh, &got);
	if (r == 0) {
		err = -EPIPE;
		goto refuse;
	}
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || nfds > 1 ||
	    mo_ps_decode(buf, (size_t)r, m) || (got >= 0) != mo_ps_carries_fd(m) ||
	    (got >= 0 && !fd)) {
		err = -EPROTO;
		goto refuse;
	}
	if (fd)
		*fd = got;
	return 0;
refuse:
	if (got >= 0)
		close(got);
	return err;
}
