// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_privsep.c - libFuzzer harness for the privsep message format
 * (privsep_msg.h): the records memobserver and its parser process send
 * each other, the parser's side being untrusted. The input is one record.
 * A record the decoder takes must encode back to exactly its bytes (one
 * encoding per message: nothing in it went unchecked), its strings must be
 * terminated where their length said, its counts within bounds; and the
 * record received through a real SOCK_SEQPACKET pair must decode to the
 * same message.
 *
 *   make fuzz-replay FUZZERS=privsep     its corpus, as the test suite runs it
 *   make fuzz-explore FUZZERS=privsep    random exploration (tests/fuzz/README)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "privsep_msg.h"

static int sv[2] = { -1, -1 };
static uint8_t out[MO_PS_MAX_MSG], rbuf[MO_PS_MAX_MSG];
static struct mo_ps_msg m, r;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		abort();
	return 0;
}

static void check_str(const char *s)
{
	CHECK(strlen(s) <= MO_SYMFILE_MAX_NAME);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int len, fd, err;

	err = mo_ps_decode(data, size, &m);
	if (err == 0) {
		switch (m.type) {
		case MO_PS_OPEN:
			check_str(m.open.modname);
			break;
		case MO_PS_ROWS:
			CHECK(m.rows.n >= 1 && m.rows.n <= MO_PS_ROWS_PER_MSG);
			CHECK((const uint8_t *)m.rows.rows + m.rows.n * sizeof(*m.rows.rows) ==
			      data + size);
			break;
		case MO_PS_OPENED:
			CHECK(m.opened.info.nsegs <= MO_SYMFILE_MAX_SEGS);
			CHECK(strlen(m.opened.info.build_id) < sizeof(m.opened.info.build_id));
			break;
		case MO_PS_FRAME:
			check_str(m.frame.symbol);
			check_str(m.frame.file);
			check_str(m.frame.linkage);
			CHECK(m.frame.has_symbol || !m.frame.symbol[0]);
			CHECK(m.frame.has_linkage ? m.frame.has_symbol && m.frame.linkage[0]
						  : !m.frame.linkage[0]);
			break;
		case MO_PS_DEBUG_REQ:
			check_str(m.debug_req.name);
			CHECK(m.debug_req.where >= MO_DEBUG_BUILD_ID &&
			      m.debug_req.where < MO_DEBUG_WHERE_END);
			break;
		case MO_PS_DONE:
			CHECK(m.done.err <= 0);
			break;
		case MO_PS_FUNCS:
			CHECK(m.funcs.n >= 1 && m.funcs.n <= MO_PS_MAX_FUNCS);
			for (uint32_t k = 0; k < m.funcs.n; k++)
				CHECK(m.funcs.names[k][0] &&
				      strlen(m.funcs.names[k]) <= MO_PS_FUNC_NAME_MAX);
			break;
		case MO_PS_ID:
			CHECK(strlen(m.id.hex) >= 2 && strlen(m.id.hex) % 2 == 0 &&
			      strspn(m.id.hex, "0123456789abcdef") == strlen(m.id.hex));
			break;
		case MO_PS_PERFMAP:
			CHECK(m.perfmap.size <= MO_PERFMAP_MAX_BYTES);
			break;
		case MO_PS_JIT:
			CHECK(m.jit.n >= 1 && m.jit.n <= MO_PS_JIT_PER_MSG);
			for (uint32_t k = 0; k < m.jit.n; k++) {
				const struct mo_ps_jit *e = &m.jit.e[k];

				CHECK(e->name_len >= 1 && e->name_len <= MO_PERFMAP_NAME_MAX);
				CHECK((const uint8_t *)e->name >= data &&
				      (const uint8_t *)e->name + e->name_len <= data + size);
				CHECK(!memchr(e->name, '\0', e->name_len) &&
				      !memchr(e->name, '\n', e->name_len));
				CHECK(e->size && e->start + e->size > e->start);
				CHECK(!k || e[-1].start + e[-1].size <= e->start);
			}
			break;
		case MO_PS_FOUND:
			CHECK(m.found.n >= 1 && m.found.n <= MO_PS_MAX_FUNCS);
			for (uint32_t k = 0; k < m.found.n; k++) {
				const struct mo_ps_func *f = &m.found.f[k];

				CHECK(f->code_len <= MO_PS_FUNC_CODE);
				CHECK(f->found || (!f->vaddr && !f->file_offset && !f->size &&
						   !f->code_len));
			}
			break;
		default:
			break;
		}
		len = mo_ps_encode(&m, out, sizeof(out));
		CHECK(len == (int)size);
		CHECK(memcmp(out, data, size) == 0);
	} else {
		CHECK(err == -EPROTO);
	}

	/* the same bytes through the socket, without a descriptor: taken
	 * exactly when decoded and carrying none */
	if (size == 0 || size > MO_PS_MAX_MSG)
		return 0;
	CHECK(mo_ps_send_record(sv[0], data, size, NULL, 0) == 0);
	err = mo_ps_recv(sv[1], rbuf, &r, &fd, 0);
	CHECK(fd == -1);
	if (mo_ps_decode(data, size, &m) == 0 && !mo_ps_carries_fd(&m)) {
		CHECK(err == 0);
		CHECK(mo_ps_encode(&r, out, sizeof(out)) == (int)size);
		CHECK(memcmp(out, data, size) == 0);
	} else {
		CHECK(err == -EPROTO);
	}
	return 0;
}
