// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_container.c - libFuzzer harness for the cgroup parsers. Arbitrary
 * bytes go to mo_container_parse as /proc/PID/cgroup text (in a buffer of
 * exactly that size, so ASan sees any read past it) and, cut at the first
 * NUL, to mo_container_from_path, and as mountinfo and /proc/cgroups text
 * to the cgroup v1 lookups. Every output string must be terminated
 * inside its field, an id must be 64 lowercase hex digits or empty, a pod
 * UID 32 hex digits or a dashed UUID, and the runtime must agree with them.
 *
 *   make fuzz-replay FUZZERS=container     its corpus, as the test suite runs it
 *   make fuzz-explore FUZZERS=container    random exploration (tests/fuzz/README)
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "fuzz.h"

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool valid_uid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return true;
	if (n == 32)
		return all_hex(s, n);
	if (n != 36)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !all_hex(s + i, 1))
			return false;
	}
	return true;
}

static void check(const struct mo_container *c)
{
	size_t idlen;

	CHECK(terminated(c->id, sizeof(c->id)));
	CHECK(terminated(c->pod_uid, sizeof(c->pod_uid)));
	CHECK(terminated(c->unit, sizeof(c->unit)));
	CHECK(terminated(c->cgroup, sizeof(c->cgroup)));
	idlen = strlen(c->id);
	CHECK(idlen == 0 || (idlen == 64 && all_hex(c->id, idlen)));
	CHECK(valid_uid(c->pod_uid));
	CHECK(c->runtime >= MO_RUNTIME_NONE && c->runtime <= MO_RUNTIME_SYSTEMD);
	CHECK(strcmp(mo_runtime_name(c->runtime), "unknown") != 0);
	/* a container has an id and no unit; a service the reverse; a host neither */
	if (c->runtime == MO_RUNTIME_NONE || c->runtime == MO_RUNTIME_SYSTEMD)
		CHECK(idlen == 0 && c->pod_uid[0] == '\0');
	else
		CHECK(idlen == 64 && c->unit[0] == '\0');
	CHECK((c->runtime == MO_RUNTIME_SYSTEMD) == (c->unit[0] != '\0'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mo_container c;
	char *buf = malloc(size ? size : 1);
	char *path;
	int err;

	CHECK(buf);
	memcpy(buf, data, size);
	memset(&c, 0x5a, sizeof(c));
	err = mo_container_parse(buf, size, &c);
	CHECK(err == 0 || err == -22);
	check(&c);
	if (err == 0)
		CHECK(c.cgroup[0] == '/');
	free(buf);

	path = malloc(size + 1);
	CHECK(path);
	memcpy(path, data, size);
	path[size] = '\0';
	memset(&c, 0x5a, sizeof(c));
	mo_container_from_path(path, &c);
	check(&c);
	/* the cgroup field is the path, cut to fit */
	CHECK(strncmp(c.cgroup, path, sizeof(c.cgroup) - 1) == 0);
	free(path);

	/* the same bytes as mountinfo and as /proc/cgroups text */
	buf = malloc(size ? size : 1);
	CHECK(buf);
	memcpy(buf, data, size);
	{
		char mnt[64];
		int r;

		memset(mnt, 0x5a, sizeof(mnt));
		err = mo_cgroup_v1_mount(buf, size, "memory", mnt, sizeof(mnt));
		CHECK(err == 0 || err == -2 /* ENOENT */ || err == -36 /* ENAMETOOLONG */);
		if (err == 0)
			CHECK(terminated(mnt, sizeof(mnt)));
		r = mo_cgroup_subsys_index(buf, size, "memory");
		CHECK(r >= 0 || r == -2);
	}
	free(buf);
	return 0;
}
