/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * privsep_msg.h - the messages between memobserver and its confined parser
 * process (privsep.h), over an AF_UNIX SOCK_SEQPACKET socket pair: one
 * record is one message, so a short or long record cannot shift the ones
 * after it.
 *
 * A message is an 8-byte header (u16 type, u16 zero, u32 payload length,
 * host byte order: both ends are the same binary on the same machine) and
 * its payload, at most MO_PS_MAX_MSG bytes in all. Integers are fixed
 * width; a string is a u16 length and that many bytes, none of them NUL,
 * at most MO_SYMFILE_MAX_NAME. Every field is checked on the way in: a
 * record whose length, type, counts or strings are not exactly what its
 * type says is refused whole (-EPROTO), as is a descriptor on a type that
 * carries none.
 *
 * Requests (memobserver -> parser), one at a time, each answered before
 * the next is sent:
 *   UNWIND  u64 max_rows + fd     -> ROWS_HEAD, ROWS..., DONE
 *   OPEN    str modname + fd      -> (DEBUG_REQ/DEBUG_FD)..., OPENED | DONE(err)
 *   LOOKUP  u32 handle, u64 vaddr -> FRAME..., DONE (names demangled by
 *           the parser, the name in the file beside them)
 *   CLOSE   u32 handle            (no answer)
 *   FUNCS   u32 n, n names + fd   -> FOUND (n entries, in the request's
 *           order) | DONE(err): elfsym.h's mo_elf_find_funcs_fd
 *   BUILD_ID fd                   -> ID (str: lowercase hex, an even number
 *           of 2..128 digits) | DONE(err): elfsym.h's mo_elf_build_id_fd
 *   PERFMAP u64 size + fd         -> JIT..., DONE(0, malformed lines) |
 *           DONE(err): perfmap.h's mo_perfmap_parse_fd of the first size
 *           (<= MO_PERFMAP_MAX_BYTES) bytes. A JIT is u32 n (1..
 *           MO_PS_JIT_PER_MSG), then n entries (u64 start, u64 size, str
 *           name of 1..MO_PERFMAP_NAME_MAX bytes, no newline), each of size
 *           >= 1 without wrapping, sorted by start and disjoint (checked
 *           within a message here, across messages by the client)
 * While an OPEN runs the parser may ask for debug files: DEBUG_REQ (u8
 * where, str name), answered by DEBUG_FD (i32 err, + fd when 0).
 */
#ifndef MO_PRIVSEP_MSG_H
#define MO_PRIVSEP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "../abi.h"
#include "perfmap.h"
#include "symfile.h"

#define MO_PS_MAX_MSG 65536
/* names in one FUNCS request, and the longest name */
#define MO_PS_MAX_FUNCS 192
#define MO_PS_FUNC_NAME_MAX 127
/* code bytes of a FOUND entry (struct mo_elf_func's) */
#define MO_PS_FUNC_CODE 64
#define MO_PS_HDR 8
/* perf map entries in one JIT message (fewer when their names fill it) */
#define MO_PS_JIT_PER_MSG 512
/* rows in one ROWS message */
#define MO_PS_ROWS_PER_MSG ((MO_PS_MAX_MSG - MO_PS_HDR) / sizeof(struct mo_unwind_row))

enum mo_ps_type {
	MO_PS_UNWIND = 1,
	MO_PS_OPEN,
	MO_PS_LOOKUP,
	MO_PS_CLOSE,
	MO_PS_DEBUG_FD,
	MO_PS_FUNCS,
	MO_PS_BUILD_ID,
	MO_PS_PERFMAP,
	MO_PS_ROWS_HEAD = 16,
	MO_PS_ROWS,
	MO_PS_OPENED,
	MO_PS_FRAME,
	MO_PS_DONE,
	MO_PS_DEBUG_REQ,
	MO_PS_FOUND,
	MO_PS_ID,
	MO_PS_JIT,
};

/* One name of a FUNCS request as FOUND answers it: all zero when not
 * found; else code_len <= MO_PS_FUNC_CODE bytes of code. */
struct mo_ps_func {
	bool found;
	uint64_t vaddr;
	uint64_t file_offset;
	uint64_t size;
	uint8_t code_len;
	uint8_t code[MO_PS_FUNC_CODE];
};

/* One perf map entry of a JIT message. */
struct mo_ps_jit {
	uint64_t start;
	uint64_t size;
	/* name_len bytes, not NUL-terminated: into the encoded record
	 * (decode) or the caller's text (encode) */
	const char *name;
	uint16_t name_len;
};

struct mo_ps_msg {
	enum mo_ps_type type;
	union {
		struct {
			uint64_t max_rows;
		} unwind;
		struct {
			char modname[MO_SYMFILE_MAX_NAME + 1];
		} open;
		struct {
			uint32_t handle;
			uint64_t vaddr;
		} lookup;
		struct {
			uint32_t handle;
		} close;
		struct {
			int32_t err;
		} debug_fd;
		struct {
			uint64_t nrows;
			uint64_t vaddr_min;
			int64_t off_to_vaddr;
			uint64_t unsupported;
		} rows_head;
		struct {
			/* into the encoded record (decode) or the caller's
			 * array (encode); n in 1..MO_PS_ROWS_PER_MSG */
			const struct mo_unwind_row *rows;
			uint32_t n;
		} rows;
		struct {
			uint32_t handle;
			struct mo_symfile_info info;
		} opened;
		struct {
			uint64_t offset;
			int32_t line;
			bool inlined;
			bool has_symbol, has_file;
			/* the name in the file when symbol is its demangled
			 * form (only with a symbol, never empty) */
			bool has_linkage;
			char symbol[MO_SYMFILE_MAX_NAME + 1];
			char file[MO_SYMFILE_MAX_NAME + 1];
			char linkage[MO_SYMFILE_MAX_NAME + 1];
		} frame;
		struct {
			int32_t err;	/* 0 or -errno */
			uint32_t count;	/* rows or frames sent before */
		} done;
		struct {
			uint8_t where;	/* enum mo_debug_where */
			char name[MO_SYMFILE_MAX_NAME + 1];
		} debug_req;
		struct {
			uint32_t n;	/* 1..MO_PS_MAX_FUNCS */
			/* each 1..MO_PS_FUNC_NAME_MAX bytes */
			char names[MO_PS_MAX_FUNCS][MO_PS_FUNC_NAME_MAX + 1];
		} funcs;
		struct {
			uint32_t n;	/* 1..MO_PS_MAX_FUNCS */
			struct mo_ps_func f[MO_PS_MAX_FUNCS];
		} found;
		struct {
			char hex[2 * 64 + 1];
		} id;
		struct {
			uint64_t size;	/* bytes to read */
		} perfmap;
		struct {
			uint32_t n;
			struct mo_ps_jit e[MO_PS_JIT_PER_MSG];
		} jit;
	};
};

/* Whether a message of this type travels with a descriptor. */
bool mo_ps_carries_fd(const struct mo_ps_msg *m);

/* m as a record in buf (MO_PS_MAX_MSG bytes): its length, or -EINVAL when
 * m breaks the rules above (the record would be refused). */
int mo_ps_encode(const struct mo_ps_msg *m, uint8_t *buf, size_t cap);

/* A record of len bytes into *m (rows point into buf). 0 or -EPROTO. */
int mo_ps_decode(const uint8_t *buf, size_t len, struct mo_ps_msg *m);

/* Send m, with fd (-1: none). 0 or -errno (-EPIPE: the peer is gone;
 * -ETIMEDOUT: it has not read for the socket's SO_SNDTIMEO). */
int mo_ps_send(int sock, const struct mo_ps_msg *m, int fd);

/* Send len bytes as one record, with up to 4 descriptors, unchecked (the
 * tests use it to send what mo_ps_encode would refuse). 0 or -errno. */
int mo_ps_send_record(int sock, const void *rec, size_t len, const int *fds, size_t nfds);

/*
 * Receive one message into *m, decoding in buf (MO_PS_MAX_MSG bytes),
 * waiting until deadline_ns (CLOCK_MONOTONIC; 0: forever). *fd gets the
 * descriptor that came with it or -1 (fd may be NULL where none is
 * allowed). 0, -ETIMEDOUT, -EPIPE (peer gone), -EPROTO (a record refused:
 * truncated, too long, malformed, descriptors where none belong; any
 * received descriptor is closed), -errno.
 */
int mo_ps_recv(int sock, uint8_t *buf, struct mo_ps_msg *m, int *fd, uint64_t deadline_ns);

#endif
