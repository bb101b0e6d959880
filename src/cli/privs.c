// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * privs.c - drop capabilities with capget/capset and prctl directly (no
 * libcap): the sets are 64-bit masks split over two 32-bit words.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "privs.h"
#include "privsep.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

static int get_sets(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };

	return syscall(SYS_capget, &h, d) ? -errno : 0;
}

int privs_get(uint64_t *effective, uint64_t *permitted)
{
	struct __user_cap_data_struct d[2];
	int err = get_sets(d);

	if (err)
		return err;
	*effective = d[0].effective | (uint64_t)d[1].effective << 32;
	*permitted = d[0].permitted | (uint64_t)d[1].permitted << 32;
	return 0;
}

int privs_limit(uint64_t bounding, uint64_t keep)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	int last = CAP_LAST_CAP, err;
	uint64_t eff, prm;

	/* the running kernel may know more capabilities than our headers */
	while (prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0)
		last++;
	err = privs_get(&eff, &prm);
	if (err)
		return err;
	/* the bounding set first: dropping from it needs CAP_SETPCAP, which
	 * the capset below may take away */
	if (eff & PRIV_BIT(CAP_SETPCAP)) {
		for (int cap = 0; cap <= last; cap++) {
			if (cap < 64 && (bounding & PRIV_BIT(cap)))
				continue;
			if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 &&
			    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0))
				return -errno;
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return -errno;
	err = get_sets(d);
	if (err)
		return err;
	for (int i = 0; i < 2; i++) {
		uint32_t k = (uint32_t)(keep >> (32 * i));

		d[i].effective &= k;
		d[i].permitted &= k;
		d[i].inheritable &= k;
	}
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

/*
 * Capabilities memobserver may use after its programs are loaded: the worker
 * attaches uprobes to processes that appear later and mounts nothing; the
 * report reads other users' /proc entries and files (docs/privileges.md).
 */
#define CAPS_LATER                                                                     \
	(PRIV_BIT(CAP_BPF) | PRIV_BIT(CAP_PERFMON) | PRIV_BIT(CAP_SYS_ADMIN) |          \
	 PRIV_BIT(CAP_SYS_PTRACE) | PRIV_BIT(CAP_DAC_READ_SEARCH) |                     \
	 PRIV_BIT(CAP_CHECKPOINT_RESTORE))

const char *privs_missing(void)
{
	uint64_t eff = 0, perm = 0;
	bool bpf, perfmon;

	if (privs_get(&eff, &perm))
		return "CAP_BPF and CAP_PERFMON";
	/* CAP_SYS_ADMIN covers both on older kernels */
	bpf = (eff & (PRIV_BIT(CAP_BPF) | PRIV_BIT(CAP_SYS_ADMIN))) != 0;
	perfmon = (eff & (PRIV_BIT(CAP_PERFMON) | PRIV_BIT(CAP_SYS_ADMIN))) != 0;
	if (!bpf && !perfmon)
		return "CAP_BPF and CAP_PERFMON";
	if (!bpf)
		return "CAP_BPF";
	return perfmon ? NULL : "CAP_PERFMON";
}

/* What the parser's program needs to give up its user. */
#define PARSER_CAPS (PRIV_BIT(CAP_SETUID) | PRIV_BIT(CAP_SETGID))

/*
 * caps (those still permitted) out of the effective set, into the
 * inheritable and ambient sets: no thread of ours can use them without a
 * capset of its own, and a program we run gets them, as user 0 or not,
 * under no_new_privs (its permitted set never grows past ours) and
 * SECBIT_NOROOT (no root magic at exec) alike.
 */
static int dormant(uint64_t caps)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	uint64_t prm;
	int err = get_sets(d);

	if (err)
		return err;
	for (int i = 0; i < 2; i++) {
		uint32_t c = (uint32_t)(caps >> (32 * i));

		d[i].effective &= ~c;
		d[i].inheritable |= d[i].permitted & c;
	}
	if (syscall(SYS_capset, &h, d))
		return -errno;
	prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	for (int cap = 0; cap < 64; cap++) {
		if (!(caps & prm & PRIV_BIT(cap)))
			continue;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0))
			return -errno;
	}
	return 0;
}

int privs_drop(bool writes_files, bool parser, bool started)
{
	uint64_t bounding = CAPS_LATER, keep;
	int err;

	if (writes_files)
		bounding |= PRIV_BIT(CAP_DAC_OVERRIDE);
	keep = bounding;
	if (parser)
		bounding |= PARSER_CAPS;
	/* for start only: libbpf raises RLIMIT_MEMLOCK on kernels before 5.11,
	 * and the metrics port may be below 1024 */
	if (!started)
		keep |= PRIV_BIT(CAP_SYS_RESOURCE) | PRIV_BIT(CAP_NET_BIND_SERVICE);
	err = privs_limit(bounding, parser ? keep | PARSER_CAPS : keep);
	return err ? err : parser ? dormant(PARSER_CAPS) : 0;
}

/* The parser's address space: the largest file it reads, twice, and room
 * for libdw's tables; a hostile file that makes it grow past this ends it
 * (counted) instead of the node's memory. */
#define PARSER_MAX_AS (8ULL << 30)

/* Who the parser runs as: nobody, or the traditional 65534. */
static void parser_ids(uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam("nobody");

	*uid = pw ? pw->pw_uid : 65534;
	*gid = pw ? pw->pw_gid : 65534;
	endpwent();
}

int privs_parser_main(int sock)
{
	struct rlimit none = { 0, 0 }, as = { PARSER_MAX_AS, PARSER_MAX_AS };
	uint64_t eff = ~0ULL, prm = ~0ULL;
	struct stat st;
	uid_t uid, ruid, euid, suid;
	gid_t gid;
	int err;

	if (fstat(sock, &st) || !S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "memobserver: %s is for memobserver's own use\n",
			MO_PRIVSEP_CHILD_ARG);
		return 2;
	}
	prctl(PR_SET_NAME, "mo-parser", 0, 0, 0);
	parser_ids(&uid, &gid);
	if (chdir("/") || setrlimit(RLIMIT_CORE, &none) || setrlimit(RLIMIT_AS, &as)) {
		perror("memobserver: parser: limits");
		return 2;
	}
	/* groups, then the group, then the user: each needs the capability
	 * the next step takes away. Without CAP_SETUID (a bounding set
	 * that lacks it) the parser stays user 0, with no capability. */
	if (setgroups(0, NULL) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid)) {
		if (errno != EPERM) {
			perror("memobserver: parser: cannot change user");
			return 2;
		}
		if (getresuid(&ruid, &euid, &suid) || euid != 0) {
			perror("memobserver: parser: cannot change user");
			return 2;
		}
		fprintf(stderr, "memobserver: warning: the parser process stays user 0 (with no "
				"capability): grant CAP_SETUID and CAP_SETGID for it to run as "
				"user %u (docs/privileges.md)\n", (unsigned)uid);
	}
	/* a new user has no capability left; user 0 drops them here */
	err = privs_limit(0, 0);
	if (!err)
		err = privs_get(&eff, &prm);
	if (err || eff || prm || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) {
		fprintf(stderr, "memobserver: parser: cannot drop capabilities: %s\n",
			strerror(err ? -err : errno));
		return 2;
	}
	err = mo_privsep_confine();
	if (err) {
		fprintf(stderr, "memobserver: parser: cannot install its seccomp filter: %s\n",
			strerror(-err));
		return 2;
	}
	return mo_privsep_serve(sock) ? 1 : 0;
}
