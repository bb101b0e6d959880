// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_container.c - cgroup path layouts of docker, containerd/CRI, cri-o,
 * podman and systemd; /proc/PID/cgroup texts (v1, v2, hybrid, CRLF,
 * garbage); lookup of a container's cgroup in a directory tree built under
 * /tmp; and, as root on a cgroup v2 mount, a real cgroup whose inode must
 * be the kernel's cgroup id.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "container.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define ID1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID2 "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
/* Shares its first 12 digits with ID2, differs in the 13th. */
#define ID5 "a1b2c3d4e5f61718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define ID3 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define ID4 "5d9c8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d"
#define ID1_UPPER "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
#define UID "2ca4a155-3599-498d-bb9d-4446693fa3ea"
#define UID_US "2ca4a155_3599_498d_bb9d_4446693fa3ea"
#define STATIC_UID "36b6d6be73b1065af369b3985edafa09"
#define KUBE_BURSTABLE_SLICE \
	"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_US ".slice"

/* snprintf for paths: the test fails rather than use a cut path. */
static void fmt(char *buf, size_t size, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t size, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(buf, size, f, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < size);
}

struct layout {
	const char *path;
	enum mo_runtime runtime;
	const char *id;
	const char *pod_uid;
	const char *unit;
};

static const struct layout layouts[] = {
	/* docker: cgroupfs and systemd drivers */
	{ "/docker/" ID1, MO_RUNTIME_DOCKER, ID1, "", "" },
	{ "/system.slice/docker-" ID1 ".scope", MO_RUNTIME_DOCKER, ID1, "", "" },
	/* a container running systemd, and docker-in-docker: the outer one */
	{ "/system.slice/docker-" ID1 ".scope/init.scope", MO_RUNTIME_DOCKER, ID1, "", "" },
	{ "/docker/" ID1 "/docker/" ID2, MO_RUNTIME_DOCKER, ID1, "", "" },
	/* Kubernetes with dockershim, systemd driver */
	{ KUBE_BURSTABLE_SLICE "/docker-" ID1 ".scope", MO_RUNTIME_DOCKER, ID1, UID, "" },
	/* containerd/CRI: cgroupfs driver */
	{ "/kubepods/burstable/pod" UID "/" ID2, MO_RUNTIME_CONTAINERD, ID2, UID, "" },
	{ "/kubepods/pod" UID "/" ID2, MO_RUNTIME_CONTAINERD, ID2, UID, "" },
	{ "/kubepods/besteffort/pod" UID "/" ID2, MO_RUNTIME_CONTAINERD, ID2, UID, "" },
	{ "/kubepods/besteffort/pod" STATIC_UID "/" ID2, MO_RUNTIME_CONTAINERD, ID2, STATIC_UID,
	  "" },
	/* containerd/CRI: systemd driver, all three QoS classes, kind's layout */
	{ KUBE_BURSTABLE_SLICE "/cri-containerd-" ID2 ".scope", MO_RUNTIME_CONTAINERD, ID2, UID,
	  "" },
	{ "/kubepods.slice/kubepods-pod" UID_US ".slice/cri-containerd-" ID2 ".scope",
	  MO_RUNTIME_CONTAINERD, ID2, UID, "" },
	{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_US
	  ".slice/cri-containerd-" ID2 ".scope",
	  MO_RUNTIME_CONTAINERD, ID2, UID, "" },
	{ "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
	  "kubelet-kubepods-besteffort-pod" UID_US ".slice/cri-containerd-" ID2 ".scope",
	  MO_RUNTIME_CONTAINERD, ID2, UID, "" },
	/* runc's "slice:prefix:id" left as a path under the daemon's service */
	{ "/system.slice/containerd.service/kubepods-burstable-pod" STATIC_UID
	  ".slice:cri-containerd:" ID2,
	  MO_RUNTIME_CONTAINERD, ID2, STATIC_UID, "" },
	{ "/kubepods-besteffort-pod" UID_US ".slice:cri-containerd:" ID2, MO_RUNTIME_CONTAINERD,
	  ID2, UID, "" },
	/* plain containerd: /<namespace>/<id> */
	{ "/default/" ID2, MO_RUNTIME_CONTAINERD, ID2, "", "" },
	{ "/k8s.io/" ID2, MO_RUNTIME_CONTAINERD, ID2, "", "" },
	/* the containerd daemon and its shims are not a container */
	{ "/system.slice/containerd.service", MO_RUNTIME_SYSTEMD, "", "", "containerd.service" },
	{ "/system.slice/containerd.service/shim", MO_RUNTIME_SYSTEMD, "", "",
	  "containerd.service" },
	{ "/system.slice/docker.service", MO_RUNTIME_SYSTEMD, "", "", "docker.service" },
	/* cri-o: systemd and cgroupfs drivers; conmon is not the container */
	{ KUBE_BURSTABLE_SLICE "/crio-" ID3 ".scope", MO_RUNTIME_CRIO, ID3, UID, "" },
	{ "/kubepods/burstable/pod" UID "/crio-" ID3, MO_RUNTIME_CRIO, ID3, UID, "" },
	{ KUBE_BURSTABLE_SLICE "/crio-conmon-" ID3 ".scope", MO_RUNTIME_NONE, "", "", "" },
	{ "/kubepods-burstable-pod" UID_US ".slice:crio:" ID3, MO_RUNTIME_CRIO, ID3, UID, "" },
	/* podman: system, rootless, cgroupfs, nested init cgroup, pods */
	{ "/machine.slice/libpod-" ID4 ".scope", MO_RUNTIME_PODMAN, ID4, "", "" },
	{ "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID4 ".scope",
	  MO_RUNTIME_PODMAN, ID4, "", "" },
	{ "/libpod_parent/libpod-" ID4, MO_RUNTIME_PODMAN, ID4, "", "" },
	{ "/machine.slice/libpod-" ID4 ".scope/container", MO_RUNTIME_PODMAN, ID4, "", "" },
	{ "/machine.slice/machine-libpod_pod_" ID1 ".slice/libpod-" ID4 ".scope",
	  MO_RUNTIME_PODMAN, ID4, "", "" },
	{ "/machine.slice/libpod-conmon-" ID4 ".scope", MO_RUNTIME_NONE, "", "", "" },
	/* systemd services, system and user */
	{ "/system.slice/nginx.service", MO_RUNTIME_SYSTEMD, "", "", "nginx.service" },
	{ "/system.slice/system-getty.slice/getty@tty1.service", MO_RUNTIME_SYSTEMD, "", "",
	  "getty@tty1.service" },
	{ "/user.slice/user-1000.slice/user@1000.service/app.slice/pipewire.service",
	  MO_RUNTIME_SYSTEMD, "", "", "pipewire.service" },
	{ "/user.slice/user-1000.slice/user@1000.service/init.scope", MO_RUNTIME_SYSTEMD, "", "",
	  "user@1000.service" },
	/* host */
	{ "/", MO_RUNTIME_NONE, "", "", "" },
	{ "", MO_RUNTIME_NONE, "", "", "" },
	{ "/init.scope", MO_RUNTIME_NONE, "", "", "" },
	{ "/user.slice/user-0.slice/session-3.scope", MO_RUNTIME_NONE, "", "", "" },
	{ "/.service", MO_RUNTIME_NONE, "", "", "" },
	/* not ids: truncated, uppercase, too long, wrong place */
	{ "/docker/0123456789ab", MO_RUNTIME_NONE, "", "", "" },
	{ "/docker/" ID1_UPPER, MO_RUNTIME_NONE, "", "", "" },
	{ "/system.slice/docker-" ID1_UPPER ".scope", MO_RUNTIME_NONE, "", "", "" },
	{ "/docker/" ID1 "0", MO_RUNTIME_NONE, "", "", "" },
	{ "/system.slice/docker-" ID1 "0.scope", MO_RUNTIME_NONE, "", "", "" },
	{ "/system.slice/docker-123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	  ".scope",
	  MO_RUNTIME_NONE, "", "", "" },
	{ "/system.slice/docker-" ID1 ".scopex", MO_RUNTIME_NONE, "", "", "" },
	{ "/system.slice/-" ID1 ".scope", MO_RUNTIME_NONE, "", "", "" },
	{ "/system.slice/rkt-" ID1 ".scope", MO_RUNTIME_NONE, "", "", "" },
	{ "/system.slice/" ID1, MO_RUNTIME_NONE, "", "", "" },
	{ "/a/b/" ID1, MO_RUNTIME_NONE, "", "", "" },
	{ "/kubepods/burstable/podnot-a-uid/" ID2, MO_RUNTIME_NONE, "", "", "" },
	{ "/kubepods/burstable/pod" UID, MO_RUNTIME_NONE, "", "", "" },
	{ "/other/pod" UID "/" ID2, MO_RUNTIME_NONE, "", "", "" },
	{ "/kubepods/burstable/pod2CA4A155-3599-498d-bb9d-4446693fa3ea/" ID2, MO_RUNTIME_NONE,
	  "", "", "" },
	{ "/x.slice:crio:" ID3 "f", MO_RUNTIME_NONE, "", "", "" },
	{ "/x.slice:rkt:" ID3, MO_RUNTIME_NONE, "", "", "" },
};

static void test_ids_are_64(void **state)
{
	const char *ids[] = { ID1, ID2, ID3, ID4, ID5, ID1_UPPER };

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		assert_int_equal(strlen(ids[i]), 64);
	assert_int_equal(strlen(UID), 36);
	assert_int_equal(strlen(STATIC_UID), 32);
}

static void check_layout(const struct layout *l, const struct mo_container *c)
{
	if (c->runtime == l->runtime && !strcmp(c->id, l->id) &&
	    !strcmp(c->pod_uid, l->pod_uid) && !strcmp(c->unit, l->unit))
		return;
	print_error("%s\n want %s id='%s' pod='%s' unit='%s'\n got  %s id='%s' pod='%s' unit='%s'\n",
		    l->path, mo_runtime_name(l->runtime), l->id, l->pod_uid, l->unit,
		    mo_runtime_name(c->runtime), c->id, c->pod_uid, c->unit);
	fail();
}

static void test_layouts(void **state)
{
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		const struct layout *l = &layouts[i];
		struct mo_container c;

		memset(&c, 0x5a, sizeof(c));
		mo_container_from_path(l->path, &c);
		check_layout(l, &c);
		assert_string_equal(c.cgroup, l->path);
	}
}

/* The same layouts as the v2 line of /proc/PID/cgroup, and as v1 lines. */
static void test_layouts_as_proc_lines(void **state)
{
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		const struct layout *l = &layouts[i];
		struct mo_container c;
		char text[1024];
		int n;

		if (l->path[0] != '/')
			continue;
		n = snprintf(text, sizeof(text), "0::%s\n", l->path);
		assert_true(n > 0 && (size_t)n < sizeof(text));
		assert_int_equal(mo_container_parse(text, (size_t)n, &c), 0);
		check_layout(l, &c);
		assert_string_equal(c.cgroup, l->path);

		n = snprintf(text, sizeof(text), "4:memory:%s\n1:name=systemd:%s", l->path, l->path);
		assert_true(n > 0 && (size_t)n < sizeof(text));
		assert_int_equal(mo_container_parse(text, (size_t)n, &c), 0);
		check_layout(l, &c);
	}
}

static void test_null_and_long(void **state)
{
	struct mo_container c;
	char path[1000];

	mo_container_from_path(NULL, &c);
	assert_int_equal(c.runtime, MO_RUNTIME_NONE);
	assert_string_equal(c.cgroup, "");
	mo_container_from_path("/docker/" ID1, NULL);

	/* the cgroup field truncates; the decision still sees the whole path */
	memset(path, 'x', sizeof(path));
	path[0] = '/';
	memcpy(path + 700, "/docker/" ID1, strlen("/docker/" ID1) + 1);
	mo_container_from_path(path, &c);
	assert_int_equal(c.runtime, MO_RUNTIME_DOCKER);
	assert_string_equal(c.id, ID1);
	assert_int_equal(strlen(c.cgroup), sizeof(c.cgroup) - 1);
	assert_memory_equal(c.cgroup, path, sizeof(c.cgroup) - 1);

	/* a unit name too long for the field is not reported cut short */
	memset(path, 'u', sizeof(path));
	memcpy(path, "/system.slice/", 14);
	strcpy(path + 300, ".service");
	mo_container_from_path(path, &c);
	assert_int_equal(c.runtime, MO_RUNTIME_NONE);
	assert_string_equal(c.unit, "");
}

static const char v1_docker[] =
	"12:perf_event:/docker/" ID1 "\n"
	"11:hugetlb:/docker/" ID1 "\n"
	"10:memory:/docker/" ID1 "\n"
	"9:cpu,cpuacct:/docker/" ID1 "\n"
	"8:net_cls,net_prio:/docker/" ID1 "\n"
	"7:freezer:/docker/" ID1 "\n"
	"6:devices:/docker/" ID1 "\n"
	"5:blkio:/docker/" ID1 "\n"
	"4:pids:/docker/" ID1 "\n"
	"3:cpuset:/docker/" ID1 "\n"
	"2:rdma:/\n"
	"1:name=systemd:/docker/" ID1 "\n";

static const char v1_kube[] =
	"11:memory:/kubepods/burstable/pod" UID "/" ID2 "\n"
	"10:cpu,cpuacct:/kubepods/burstable/pod" UID "/" ID2 "\n"
	"1:name=systemd:/kubepods/burstable/pod" UID "/" ID2 "\n";

static const char v2_podman[] =
	"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID4 ".scope/"
	"container\n";

/* systemd's hybrid layout: v1 controllers plus the unified hierarchy. */
static const char hybrid_crio[] =
	"12:pids:" KUBE_BURSTABLE_SLICE "/crio-" ID3 ".scope\n"
	"11:memory:" KUBE_BURSTABLE_SLICE "/crio-" ID3 ".scope\n"
	"1:name=systemd:" KUBE_BURSTABLE_SLICE "/crio-" ID3 ".scope\n"
	"0::" KUBE_BURSTABLE_SLICE "/crio-" ID3 ".scope\n";

/* An older runc on a hybrid host: only the v1 hierarchies name the container. */
static const char hybrid_v2_root[] =
	"5:memory:/docker/" ID1 "\n"
	"1:name=systemd:/docker/" ID1 "\n"
	"0::/\n";

static const char hybrid_service[] =
	"4:memory:/system.slice\n"
	"1:name=systemd:/system.slice/nginx.service\n"
	"0::/system.slice/nginx.service\n";

/* A v2 path on this machine's sandbox: 32 hex digits are no container id. */
static const char hybrid_host[] =
	"9:name=systemd:/\n"
	"8:pids:/\n"
	"4:memory:/process_api/46bad73db2f9d9da82b8aee5b87786b4\n"
	"1:cpu:/\n"
	"0::/\n";

static void parse_ok(const char *text, enum mo_runtime rt, const char *id, const char *pod,
		     const char *unit, const char *cgroup)
{
	size_t len = strlen(text);
	/* exactly len bytes, no terminator: a read past the end trips ASan */
	char *copy = malloc(len ? len : 1);
	struct mo_container c;

	assert_non_null(copy);
	memcpy(copy, text, len);
	assert_int_equal(mo_container_parse(copy, len, &c), 0);
	assert_string_equal(mo_runtime_name(c.runtime), mo_runtime_name(rt));
	assert_string_equal(c.id, id);
	assert_string_equal(c.pod_uid, pod);
	assert_string_equal(c.unit, unit);
	assert_string_equal(c.cgroup, cgroup);
	free(copy);
}

static void test_parse_proc_texts(void **state)
{
	parse_ok(v1_docker, MO_RUNTIME_DOCKER, ID1, "", "", "/docker/" ID1);
	parse_ok(v1_kube, MO_RUNTIME_CONTAINERD, ID2, UID, "",
		 "/kubepods/burstable/pod" UID "/" ID2);
	parse_ok(v2_podman, MO_RUNTIME_PODMAN, ID4, "", "",
		 "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID4
		 ".scope/container");
	parse_ok(hybrid_crio, MO_RUNTIME_CRIO, ID3, UID, "",
		 KUBE_BURSTABLE_SLICE "/crio-" ID3 ".scope");
	parse_ok(hybrid_v2_root, MO_RUNTIME_DOCKER, ID1, "", "", "/docker/" ID1);
	parse_ok(hybrid_service, MO_RUNTIME_SYSTEMD, "", "", "nginx.service",
		 "/system.slice/nginx.service");
	parse_ok(hybrid_host, MO_RUNTIME_NONE, "", "", "", "/");
}

static void test_parse_precedence(void **state)
{
	/* v2 beats name=systemd beats memory among equals */
	parse_ok("4:memory:/system.slice/a.service\n"
		 "1:name=systemd:/system.slice/b.service\n"
		 "0::/system.slice/c.service\n",
		 MO_RUNTIME_SYSTEMD, "", "", "c.service", "/system.slice/c.service");
	parse_ok("4:memory:/system.slice/a.service\n"
		 "1:name=systemd:/system.slice/b.service\n",
		 MO_RUNTIME_SYSTEMD, "", "", "b.service", "/system.slice/b.service");
	parse_ok("7:cpu:/system.slice/z.service\n4:memory:/system.slice/a.service\n",
		 MO_RUNTIME_SYSTEMD, "", "", "a.service", "/system.slice/a.service");
	/* the first of two v1 lines of the same kind */
	parse_ok("7:cpu:/docker/" ID1 "\n6:pids:/docker/" ID2 "\n", MO_RUNTIME_DOCKER, ID1, "", "",
		 "/docker/" ID1);
	/* a container beats a service, whatever the line */
	parse_ok("7:cpu:/docker/" ID1 "\n0::/system.slice/nginx.service\n", MO_RUNTIME_DOCKER,
		 ID1, "", "", "/docker/" ID1);
	/* a v1 line that was "0:" with controllers is not the v2 line */
	parse_ok("0:memory:/system.slice/m.service\n1:name=systemd:/system.slice/s.service\n",
		 MO_RUNTIME_SYSTEMD, "", "", "s.service", "/system.slice/s.service");
}

static void test_parse_robust(void **state)
{
	struct mo_container c;
	const char *bad[] = {
		"",
		"\n\n\r\n",
		"garbage\n",
		"0:/docker/" ID1 "\n",
		"0::docker/" ID1 "\n",
		"x::/docker/" ID1 "\n",
		":memory:/docker/" ID1 "\n",
		"12345678901:memory:/\n",
		"12:memory:\n",
		"0::",
		"0::\r\n",
	};

	/* CRLF, no final newline, a removed cgroup */
	parse_ok("1:name=systemd:/\r\n0::/docker/" ID1 "\r\n", MO_RUNTIME_DOCKER, ID1, "", "",
		 "/docker/" ID1);
	parse_ok("0::/docker/" ID1, MO_RUNTIME_DOCKER, ID1, "", "", "/docker/" ID1);
	parse_ok("0::/system.slice/docker-" ID1 ".scope (deleted)\n", MO_RUNTIME_DOCKER, ID1, "",
		 "", "/system.slice/docker-" ID1 ".scope");
	parse_ok("0::/\r\r\n", MO_RUNTIME_NONE, "", "", "", "/");
	/* garbage around one good line */
	parse_ok("garbage\n\x01\x02\xff\n12:memory\n:::\n0::relative\n7:cpu:/docker/" ID1
		 "\nmore garbage",
		 MO_RUNTIME_DOCKER, ID1, "", "", "/docker/" ID1);
	/* a colon inside the path belongs to the path */
	parse_ok("0::/a:b/c.service\n", MO_RUNTIME_SYSTEMD, "", "", "c.service", "/a:b/c.service");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0x5a, sizeof(c));
		assert_int_equal(mo_container_parse(bad[i], strlen(bad[i]), &c), -EINVAL);
		assert_int_equal(c.runtime, MO_RUNTIME_NONE);
		assert_string_equal(c.cgroup, "");
	}
	assert_int_equal(mo_container_parse(NULL, 10, &c), -EINVAL);
	assert_int_equal(mo_container_parse("0::/\n", 5, NULL), -EINVAL);

	/* a NUL inside a line drops that line; the length, not the NUL, ends the text */
	{
		static const char t[] = "0::/docker/\0" ID1 "\n4:memory:/docker/" ID2 "\n";

		assert_int_equal(mo_container_parse(t, sizeof(t) - 1, &c), 0);
		assert_string_equal(c.id, ID2);
	}
	/* only the first len bytes count */
	{
		const char *t = "0::/docker/" ID1 "\n";

		assert_int_equal(mo_container_parse(t, strlen(t) - 2, &c), 0);
		assert_int_equal(c.runtime, MO_RUNTIME_NONE);
		assert_int_equal(mo_container_parse(t, 3, &c), -EINVAL);
	}
}

/* Every prefix of a real-looking text, with exact-size buffers (ASan). */
static void test_parse_prefixes(void **state)
{
	const char *texts[] = { v1_docker, v1_kube, hybrid_crio, v2_podman };

	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		size_t n = strlen(texts[t]);

		for (size_t len = 0; len <= n; len++) {
			char *copy = malloc(len ? len : 1);
			struct mo_container c;
			int err;

			assert_non_null(copy);
			memcpy(copy, texts[t], len);
			err = mo_container_parse(copy, len, &c);
			assert_true(err == 0 || err == -EINVAL);
			assert_true(strlen(c.id) == 0 || strlen(c.id) == 64);
			assert_true(memchr(c.cgroup, '\0', sizeof(c.cgroup)) != NULL);
			free(copy);
		}
	}
}

static void test_self(void **state)
{
	struct mo_container c, c0;

	assert_int_equal(mo_container_of_pid(getpid(), &c), 0);
	assert_true(c.runtime == MO_RUNTIME_NONE || c.runtime == MO_RUNTIME_SYSTEMD ||
		    c.id[0] != '\0');
	if (c.runtime == MO_RUNTIME_NONE || c.runtime == MO_RUNTIME_SYSTEMD)
		assert_string_equal(c.id, "");
	assert_int_equal(c.cgroup[0], '/');
	assert_int_equal(mo_container_of_pid(0, &c0), 0);
	assert_memory_equal(&c, &c0, sizeof(c));

	/* beyond any pid_max */
	assert_int_equal(mo_container_of_pid(INT_MAX, &c), -ESRCH);
	assert_int_equal(mo_container_of_pid(1, NULL), -EINVAL);
}

/* Where a v1 controller's hierarchy is mounted, and its kernel index. */
static void test_cgroup_v1_lookup(void **state)
{
	static const char mi[] =
		"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
		"32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
		"35 31 0:32 / /sys/fs/cgroup/memory\\040x rw,relatime shared:9 - cgroup cgroup "
		"rw,memory\n"
		"36 31 0:33 / /sys/fs/cgroup/memoryless rw - cgroup cgroup rw,name=memoryless\n"
		"40 31 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,memory\n";
	static const char v2only[] =
		"40 31 0:37 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n";
	static const char cgroups[] =
		"#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
		"cpuset\t3\t1\t1\ncpu\t1\t1\t1\ncpuacct\t2\t1\t1\nblkio\t7\t1\t1\n"
		"memory\t4\t19\t1\ndevices\t5\t1\t1\n";
	char out[64], tiny[8];

	(void)state;
	assert_int_equal(mo_cgroup_v1_mount(mi, strlen(mi), "memory", out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup/memory x");	/* \040 decoded */
	assert_int_equal(mo_cgroup_v1_mount(mi, strlen(mi), "cpu", out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup/cpu");
	/* a named hierarchy is no controller; cgroup2 is not v1 */
	assert_int_equal(mo_cgroup_v1_mount(mi, strlen(mi), "memoryless", out, sizeof(out)),
			 -ENOENT);
	assert_int_equal(mo_cgroup_v1_mount(v2only, strlen(v2only), "memory", out, sizeof(out)),
			 -ENOENT);
	assert_int_equal(mo_cgroup_v1_mount(mi, strlen(mi), "memory", tiny, sizeof(tiny)),
			 -ENAMETOOLONG);
	assert_int_equal(mo_cgroup_v1_mount(mi, strlen(mi), "", out, sizeof(out)), -EINVAL);
	/* the v2 mount, found by the same reader */
	assert_int_equal(mo_cgroup2_mount(mi, strlen(mi), out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup/unified");
	assert_int_equal(mo_cgroup2_mount(mi, 60, out, sizeof(out)), -ENOENT);
	/* the text is not NUL-terminated at len: the last line is cut there */
	assert_int_equal(mo_cgroup_v1_mount(mi, 60, "cpu", out, sizeof(out)), -ENOENT);

	assert_int_equal(mo_cgroup_subsys_index(cgroups, strlen(cgroups), "cpuset"), 0);
	assert_int_equal(mo_cgroup_subsys_index(cgroups, strlen(cgroups), "memory"), 4);
	assert_int_equal(mo_cgroup_subsys_index(cgroups, strlen(cgroups), "pids"), -ENOENT);
	assert_int_equal(mo_cgroup_subsys_index(cgroups, strlen(cgroups), "subsys_name"),
			 -ENOENT);
}

static void test_runtime_names(void **state)
{
	assert_string_equal(mo_runtime_name(MO_RUNTIME_NONE), "none");
	assert_string_equal(mo_runtime_name(MO_RUNTIME_DOCKER), "docker");
	assert_string_equal(mo_runtime_name(MO_RUNTIME_CONTAINERD), "containerd");
	assert_string_equal(mo_runtime_name(MO_RUNTIME_CRIO), "cri-o");
	assert_string_equal(mo_runtime_name(MO_RUNTIME_PODMAN), "podman");
	assert_string_equal(mo_runtime_name(MO_RUNTIME_SYSTEMD), "systemd");
	assert_string_equal(mo_runtime_name((enum mo_runtime)99), "unknown");
}

/* --- find_cgroup on a tree under /tmp --- */

static char tree[PATH_MAX];

static const char *const tree_dirs[] = {
	"system.slice",
	"system.slice/docker-" ID1 ".scope",
	"system.slice/docker-" ID1 ".scope/init.scope",
	"system.slice/nginx.service",
	"kubepods.slice",
	"kubepods.slice/kubepods-burstable.slice",
	"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_US ".slice",
	"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_US
	".slice/cri-containerd-" ID2 ".scope",
	"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_US
	".slice/crio-conmon-" ID3 ".scope",
	"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_US
	".slice/crio-" ID3 ".scope",
	"kubepods",
	"kubepods/burstable",
	"kubepods/burstable/pod" UID,
	"kubepods/burstable/pod" UID "/" ID5,
	"machine.slice",
	"machine.slice/libpod-" ID4 ".scope",
	"machine.slice/libpod-" ID4 ".scope/container",
	/* neither holds ID1 as a whole lowercase 64-digit run */
	"system.slice/docker-ffff" ID1 ".scope",
	"system.slice/docker-" ID1 "ffff.scope",
	"system.slice/libpod-" ID1_UPPER ".scope",
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int tree_setup(void **state)
{
	char p[PATH_MAX];
	int fd;

	strcpy(tree, "/tmp/mo-test-container-XXXXXX");
	if (!mkdtemp(tree))
		return -1;
	for (size_t i = 0; i < sizeof(tree_dirs) / sizeof(tree_dirs[0]); i++) {
		fmt(p, sizeof(p), "%s/%s", tree, tree_dirs[i]);
		if (mkdir(p, 0755))
			return -1;
	}
	/* a file with an id in its name is no cgroup */
	fmt(p, sizeof(p), "%s/machine.slice/file-%s", tree,
		 "7777777777777777777777777777777777777777777777777777777777777777");
	fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	close(fd);
	/* an id deeper than the walk goes */
	fmt(p, sizeof(p), "%s", tree);
	for (int d = 0; d < 17; d++) {
		strcat(p, "/deep");
		if (mkdir(p, 0755))
			return -1;
	}
	strcat(p, "/docker-8888888888888888888888888888888888888888888888888888888888888888.scope");
	if (mkdir(p, 0755))
		return -1;
	/* a symlink to a container dir is not followed */
	fmt(p, sizeof(p), "%s/link", tree);
	if (symlink("machine.slice", p))
		return -1;
	return 0;
}

static int tree_teardown(void **state)
{
	return nftw(tree, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void expect_found(const char *root, const char *query, const char *rel)
{
	char dir[PATH_MAX], want[PATH_MAX];
	uint64_t ino = 0;
	struct stat st;

	fmt(want, sizeof(want), "%s%s%s", tree, *rel ? "/" : "", rel);
	assert_int_equal(mo_container_find_cgroup(root, query, dir, sizeof(dir), &ino), 0);
	assert_string_equal(dir, want);
	assert_int_equal(stat(want, &st), 0);
	assert_int_equal(ino, st.st_ino);
}

static void test_find_ids(void **state)
{
	const char *kube = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_US
			   ".slice";
	char rel[PATH_MAX], dir[PATH_MAX], root_slash[PATH_MAX];
	uint64_t ino = 42;

	expect_found(tree, ID1, "system.slice/docker-" ID1 ".scope");
	expect_found(tree, ID1_UPPER, "system.slice/docker-" ID1 ".scope");
	expect_found(tree, "0123456789ab", "system.slice/docker-" ID1 ".scope");
	fmt(rel, sizeof(rel), "%s/cri-containerd-%s.scope", kube, ID2);
	expect_found(tree, ID2, rel);
	expect_found(tree, "a1b2c3d4e5f60", rel);
	expect_found(tree, ID5, "kubepods/burstable/pod" UID "/" ID5);
	expect_found(tree, "a1b2c3d4e5f61", "kubepods/burstable/pod" UID "/" ID5);
	/* conmon carries the same id and is skipped */
	fmt(rel, sizeof(rel), "%s/crio-%s.scope", kube, ID3);
	expect_found(tree, ID3, rel);
	/* the match's own subtree ("container") is not searched; the link is not followed */
	expect_found(tree, ID4, "machine.slice/libpod-" ID4 ".scope");
	fmt(root_slash, sizeof(root_slash), "%s//", tree);
	expect_found(root_slash, ID4, "machine.slice/libpod-" ID4 ".scope");

	/* ambiguous, missing, invalid */
	assert_int_equal(mo_container_find_cgroup(tree, "a1b2c3d4e5f6", dir, sizeof(dir), &ino),
			 -EEXIST);
	assert_int_equal(mo_container_find_cgroup(tree, "abcdefabcdef", dir, sizeof(dir), &ino),
			 -ENOENT);
	/* a 12-digit group of the pod UID is no container id */
	assert_int_equal(mo_container_find_cgroup(tree, "4446693fa3ea", dir, sizeof(dir), &ino),
			 -ENOENT);
	/* files, ids inside longer hex runs, uppercase names, too deep */
	assert_int_equal(mo_container_find_cgroup(tree, "777777777777", dir, sizeof(dir), &ino),
			 -ENOENT);
	assert_int_equal(mo_container_find_cgroup(tree, "888888888888", dir, sizeof(dir), &ino),
			 -ENOENT);
	assert_int_equal(mo_container_find_cgroup(tree, "0123456789abcdef0123456789abcdef"
						  "0123456789abcdef0123456789abcdee",
						  dir, sizeof(dir), &ino),
			 -ENOENT);
	assert_int_equal(mo_container_find_cgroup(tree, "0123456789a", dir, sizeof(dir), &ino),
			 -EINVAL);
	assert_int_equal(mo_container_find_cgroup(tree, ID1 "0", dir, sizeof(dir), &ino),
			 -EINVAL);
	assert_int_equal(mo_container_find_cgroup(tree, "0123456789ag", dir, sizeof(dir), &ino),
			 -EINVAL);
	assert_int_equal(mo_container_find_cgroup(tree, "", dir, sizeof(dir), &ino), -EINVAL);
	assert_int_equal(ino, 42);

	/* no room for the answer; no cgroup_id wanted */
	assert_int_equal(mo_container_find_cgroup(tree, ID1, dir, 10, &ino), -ENAMETOOLONG);
	assert_int_equal(mo_container_find_cgroup(tree, ID1, dir, sizeof(dir), NULL), 0);

	assert_int_equal(mo_container_find_cgroup("/nonexistent-mo", ID1, dir, sizeof(dir), &ino),
			 -ENOENT);
	assert_int_equal(mo_container_find_cgroup(NULL, ID1, dir, sizeof(dir), &ino), -EINVAL);
	assert_int_equal(mo_container_find_cgroup(tree, NULL, dir, sizeof(dir), &ino), -EINVAL);
	assert_int_equal(mo_container_find_cgroup(tree, ID1, NULL, 0, &ino), -EINVAL);
}

static void test_find_paths(void **state)
{
	char dir[PATH_MAX], file[PATH_MAX];
	uint64_t ino;

	expect_found(tree, "/machine.slice/libpod-" ID4 ".scope/container",
		     "machine.slice/libpod-" ID4 ".scope/container");
	expect_found(tree, "//machine.slice/./libpod-" ID4 ".scope//", "machine.slice/libpod-" ID4
		     ".scope");
	expect_found(tree, "/", "");
	expect_found(tree, "/system.slice/nginx.service", "system.slice/nginx.service");

	assert_int_equal(mo_container_find_cgroup(tree, "/nope", dir, sizeof(dir), &ino), -ENOENT);
	assert_int_equal(mo_container_find_cgroup(tree, "/system.slice/..", dir, sizeof(dir), &ino),
			 -EINVAL);
	assert_int_equal(mo_container_find_cgroup(tree, "/../../etc", dir, sizeof(dir), &ino),
			 -EINVAL);
	fmt(file, sizeof(file), "/machine.slice/file-%s",
		 "7777777777777777777777777777777777777777777777777777777777777777");
	assert_int_equal(mo_container_find_cgroup(tree, file, dir, sizeof(dir), &ino), -ENOTDIR);
	assert_int_equal(mo_container_find_cgroup(tree, "/system.slice", dir, 8, &ino),
			 -ENAMETOOLONG);
}

/*
 * As root, with a cgroup v2 hierarchy mounted: a child moved into a new
 * cgroup named like a docker scope must read back that path from
 * /proc/PID/cgroup, be found by id and by path, and the directory's inode
 * must equal the kernel's cgroup id, read here from the cgroup file handle
 * (the 64-bit kernfs id, the value bpf_get_current_cgroup_id() returns).
 */
static const char *cgroup2_root(void)
{
	static const char *const roots[] = { "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
	struct statfs sf;

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
		if (statfs(roots[i], &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
			return roots[i];
	return NULL;
}

static void write_pid(const char *dir, pid_t pid)
{
	char p[PATH_MAX];
	int fd;

	fmt(p, sizeof(p), "%s/cgroup.procs", dir);
	fd = open(p, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_true(dprintf(fd, "%d\n", (int)pid) > 0);
	close(fd);
}

static void test_real_cgroup_v2(void **state)
{
	const char *root = cgroup2_root();
	char parent[PATH_MAX], dir[PATH_MAX], found[PATH_MAX], id[65];
	struct {
		struct file_handle fh;
		unsigned char bytes[64];
	} h;
	struct mo_container c;
	uint64_t ino = 0, kernel_id;
	struct stat st;
	int mount_id, err;
	pid_t child;

	if (geteuid() != 0 || !root) {
		print_message("skipped: needs root and a cgroup v2 mount\n");
		skip();
	}
	fmt(parent, sizeof(parent), "%s/mo-test-%d.slice", root, (int)getpid());
	if (mkdir(parent, 0755)) {
		print_message("skipped: mkdir %s: %s\n", parent, strerror(errno));
		skip();
	}
	fmt(id, sizeof(id), "%016x%s", (unsigned int)getpid(), ID1 + 16);
	fmt(dir, sizeof(dir), "%s/docker-%s.scope", parent, id);
	assert_int_equal(mkdir(dir, 0755), 0);

	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		for (;;)
			pause();
	}
	write_pid(dir, child);

	assert_int_equal(mo_container_of_pid(child, &c), 0);
	assert_int_equal(c.runtime, MO_RUNTIME_DOCKER);
	assert_string_equal(c.id, id);
	fmt(found, sizeof(found), "%s%s", root, c.cgroup);
	assert_string_equal(found, dir);

	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(mo_container_find_cgroup(root, id, found, sizeof(found), &ino), 0);
	assert_string_equal(found, dir);
	assert_int_equal(ino, st.st_ino);
	assert_int_equal(mo_container_find_cgroup(root, c.cgroup, found, sizeof(found), &ino), 0);
	assert_string_equal(found, dir);
	assert_int_equal(ino, st.st_ino);

	h.fh.handle_bytes = sizeof(h.bytes);
	assert_int_equal(name_to_handle_at(AT_FDCWD, dir, &h.fh, &mount_id, 0), 0);
	assert_int_equal(h.fh.handle_bytes, sizeof(kernel_id));
	memcpy(&kernel_id, h.fh.f_handle, sizeof(kernel_id));
	assert_int_equal(kernel_id, st.st_ino);

	kill(child, SIGKILL);
	assert_int_equal(waitpid(child, NULL, 0), child);
	/* the cgroup empties asynchronously after the child is reaped */
	for (int i = 0; i < 100 && (err = rmdir(dir)) && errno == EBUSY; i++)
		usleep(10000);
	assert_int_equal(err, 0);
	assert_int_equal(rmdir(parent), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids_are_64),
		cmocka_unit_test(test_layouts),
		cmocka_unit_test(test_layouts_as_proc_lines),
		cmocka_unit_test(test_null_and_long),
		cmocka_unit_test(test_parse_proc_texts),
		cmocka_unit_test(test_parse_precedence),
		cmocka_unit_test(test_parse_robust),
		cmocka_unit_test(test_parse_prefixes),
		cmocka_unit_test(test_self),
		cmocka_unit_test(test_runtime_names),
		cmocka_unit_test(test_cgroup_v1_lookup),
		cmocka_unit_test_setup_teardown(test_find_ids, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_find_paths, tree_setup, tree_teardown),
		cmocka_unit_test(test_real_cgroup_v2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
