// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_k8snames.c - Kubernetes names from the kubelet's log layout: the
 * name parsers and the DNS-1123 rules on their own, then resolvers over a
 * directory under /tmp laid out as a kubelet lays out /var/log (pods/
 * directories with a directory per container and N.log files, containers/
 * symlinks into them), with hostile entries among them: names too long,
 * with newlines or characters outside the rules, a FIFO, links to a FIFO
 * and to nowhere, a symlinked directory, two links naming one id
 * differently, a link disagreeing with its pod's directory; 10,000 links
 * for the cache bound; a clock under the test's control for the refresh.
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
#include <unistd.h>

#include <cmocka.h>

#include "k8snames.h"

#define ID1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID2 "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define ID3 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define ID4 "5d9c8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d"
#define ID5 "1111111111111111111111111111111111111111111111111111111111111111"
#define ID6 "2222222222222222222222222222222222222222222222222222222222222222"
#define ID7 "3333333333333333333333333333333333333333333333333333333333333333"
#define ID8 "4444444444444444444444444444444444444444444444444444444444444444"
#define ID9 "5555555555555555555555555555555555555555555555555555555555555555"
#define UID1 "2ca4a155-3599-498d-bb9d-4446693fa3ea"
#define UID2 "7f3e9d21-0b1c-4e5f-8a6b-1c2d3e4f5a6b"
#define UID3 "c0ffee00-1234-4abc-9def-0123456789ab"
#define UID4 "0d15ea5e-0000-4000-8000-00000000beef"
#define STATIC_UID "36b6d6be73b1065af369b3985edafa09"

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

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ---- the rules and the parsers ---- */

static void test_dns_rules(void **state)
{
	char *l63 = repeat('a', 63), *l64 = repeat('a', 64), *s253 = repeat('b', 253);
	char *s254 = repeat('b', 254);

	assert_true(mo_k8s_dns_label("a", 1));
	assert_true(mo_k8s_dns_label("kube-system", 11));
	assert_true(mo_k8s_dns_label("a-b--c9", 7));
	assert_true(mo_k8s_dns_label(l63, 63));
	assert_false(mo_k8s_dns_label(l64, 64));
	assert_false(mo_k8s_dns_label("", 0));
	assert_false(mo_k8s_dns_label("-a", 2));
	assert_false(mo_k8s_dns_label("a-", 2));
	assert_false(mo_k8s_dns_label("A", 1));
	assert_false(mo_k8s_dns_label("a.b", 3));
	assert_false(mo_k8s_dns_label("a_b", 3));
	assert_false(mo_k8s_dns_label("a\nb", 3));
	assert_false(mo_k8s_dns_label("a\0b", 3));
	assert_false(mo_k8s_dns_label("caf\xc3\xa9", 5));

	assert_true(mo_k8s_dns_subdomain("web-0", 5));
	assert_true(mo_k8s_dns_subdomain("nodehelloworld.example.com", 26));
	assert_true(mo_k8s_dns_subdomain(s253, 253));
	/* apimachinery bounds the whole, not each label */
	{
		char *sub = repeat('c', 100);

		sub[50] = '.';
		assert_true(mo_k8s_dns_subdomain(sub, 100));
		free(sub);
	}
	assert_false(mo_k8s_dns_subdomain(s254, 254));
	assert_false(mo_k8s_dns_subdomain("", 0));
	assert_false(mo_k8s_dns_subdomain(".a", 2));
	assert_false(mo_k8s_dns_subdomain("a.", 2));
	assert_false(mo_k8s_dns_subdomain("a..b", 4));
	assert_false(mo_k8s_dns_subdomain("a.-b", 4));
	assert_false(mo_k8s_dns_subdomain("a/b", 3));
	assert_false(mo_k8s_dns_subdomain("a b", 3));
	free(l63);
	free(l64);
	free(s253);
	free(s254);
}

static int parse_log(const char *name, struct mo_k8s_names *n, char *id)
{
	return mo_k8s_parse_container_log(name, strlen(name), n, id);
}

static void test_parse_container_log(void **state)
{
	struct mo_k8s_names n;
	char id[65], name[512];
	char *l64 = repeat('x', 64), *l63 = repeat('x', 63);
	const char *bad[] = {
		"web-0_default_app-" ID1,			/* no .log */
		"web-0_default_app-" ID1 ".LOG",
		"web-0_default_app" ID1 ".log",			/* no '-' before the id */
		"web-0_default_-" ID1 ".log",			/* empty container */
		"web-0__app-" ID1 ".log",			/* empty namespace */
		"_default_app-" ID1 ".log",			/* empty pod */
		"web-0_default_app-" ID1 "0.log",		/* 65 digits */
		"web-0_default_app-0123456789ab.log",		/* short id */
		"web-0_default_app-0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef.log",
		"web-0_default_app-g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.log",
		"web_0_default_app-" ID1 ".log",		/* a third '_' */
		"web-0_default_my_app-" ID1 ".log",
		"Web-0_default_app-" ID1 ".log",		/* uppercase */
		"web-0_Default_app-" ID1 ".log",
		"web-0_default_App-" ID1 ".log",
		"web-0_default_app.v2-" ID1 ".log",		/* a dot in a label */
		"web-0_kube.system_app-" ID1 ".log",
		"web-0_default_-app-" ID1 ".log",		/* leading dash */
		"web-0-_default_app-" ID1 ".log",		/* trailing dash */
		"web-0_default_app--" ID1 ".log",		/* container "app-" */
		"../../etc_default_app-" ID1 ".log",		/* path separators */
		"web/0_default_app-" ID1 ".log",
		"web-0_de/fault_app-" ID1 ".log",
		"web\\0_default_app-" ID1 ".log",
		"web-0\n_default_app-" ID1 ".log",		/* newlines */
		"web-0_default\n_app-" ID1 ".log",
		"web-0_default_ap\np-" ID1 ".log",
		"web 0_default_app-" ID1 ".log",
		"web-0_default_app-" ID1 ".log\n",
		"w\xc3\xa9" "b_default_app-" ID1 ".log",		/* non-ASCII */
		"web%0a_default_app-" ID1 ".log",
		".log",
		"",
	};

	memset(&n, 0x5a, sizeof(n));
	assert_int_equal(parse_log("web-0_default_app-" ID1 ".log", &n, id), 0);
	assert_string_equal(n.pod, "web-0");
	assert_string_equal(n.ns, "default");
	assert_string_equal(n.container, "app");
	assert_string_equal(id, ID1);

	assert_int_equal(parse_log("coredns-5d78c9869d-x7k2p_kube-system_coredns-" ID2 ".log",
				   &n, id), 0);
	assert_string_equal(n.pod, "coredns-5d78c9869d-x7k2p");
	assert_string_equal(n.ns, "kube-system");
	assert_string_equal(n.container, "coredns");
	assert_string_equal(id, ID2);

	/* dashes in every name, dots in the pod; the container ends in hex */
	assert_int_equal(parse_log("api.v2-7c9d_team-a-prod_log-shipper-abc-" ID3 ".log", &n, id),
			 0);
	assert_string_equal(n.pod, "api.v2-7c9d");
	assert_string_equal(n.ns, "team-a-prod");
	assert_string_equal(n.container, "log-shipper-abc");
	assert_string_equal(id, ID3);

	/* the longest labels allowed; one more is refused */
	fmt(name, sizeof(name), "p_%s_%s-%s.log", l63, l63, ID1);
	assert_int_equal(parse_log(name, &n, id), 0);
	assert_string_equal(n.ns, l63);
	assert_string_equal(n.container, l63);
	fmt(name, sizeof(name), "p_%s_c-%s.log", l64, ID1);
	assert_int_equal(parse_log(name, &n, id), -EINVAL);
	fmt(name, sizeof(name), "p_ns_%s-%s.log", l64, ID1);
	assert_int_equal(parse_log(name, &n, id), -EINVAL);

	/* the kubelet cuts a link name to 255 bytes: the id is no longer whole */
	{
		char *pod = repeat('q', 200);

		fmt(name, sizeof(name), "%s_default_app-%s", pod, ID1);
		strcpy(name + 251, ".log");
		assert_int_equal(strlen(name), 255);
		assert_int_equal(parse_log(name, &n, id), -EINVAL);
		free(pod);
	}
	/* longer than any file name */
	{
		char *pod = repeat('q', 190);

		fmt(name, sizeof(name), "%s_default_app-%s.log", pod, ID1);
		assert_true(strlen(name) > 255);
		assert_int_equal(parse_log(name, &n, id), -EINVAL);
		free(pod);
	}

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mo_k8s_names keep;
		char keep_id[65];

		memset(&n, 0x5a, sizeof(n));
		memset(id, 0x5a, sizeof(id));
		memcpy(&keep, &n, sizeof(n));
		memcpy(keep_id, id, sizeof(id));
		if (parse_log(bad[i], &n, id) != -EINVAL) {
			print_error("accepted: '%s'\n", bad[i]);
			fail();
		}
		/* outputs untouched */
		assert_memory_equal(&n, &keep, sizeof(n));
		assert_memory_equal(id, keep_id, sizeof(id));
	}
	/* a NUL inside the span */
	assert_int_equal(mo_k8s_parse_container_log("web\0-0_default_app-" ID1 ".log",
						    sizeof("web\0-0_default_app-" ID1 ".log") - 1,
						    &n, id), -EINVAL);
	assert_int_equal(mo_k8s_parse_container_log(NULL, 4, &n, id), -EINVAL);
	free(l64);
	free(l63);
}

static int parse_pod(const char *name, struct mo_k8s_names *n, char *uid)
{
	return mo_k8s_parse_pod_dir(name, strlen(name), n, uid);
}

static void test_parse_pod_dir(void **state)
{
	struct mo_k8s_names n;
	char uid[37];
	const char *bad[] = {
		"default_web-0",				/* no uid */
		"default_web-0_" UID1 "_x",
		"default_web_0_" UID1,
		"default_web-0_2CA4A155-3599-498d-bb9d-4446693fa3ea",
		"default_web-0_2ca4a155_3599_498d_bb9d_4446693fa3ea",
		"default_web-0_2ca4a155-3599-498d-bb9d-4446693fa3e",
		"default_web-0_36b6d6be73b1065af369b3985edafa0",	/* 31 hex */
		"default_web-0_36b6d6be73b1065af369b3985edafa09a",
		"kube.system_web-0_" UID1,			/* namespace is a label */
		"default_Web-0_" UID1,
		"default__" UID1,
		"_web-0_" UID1,
		"default_web\n0_" UID1,
		"../default_web-0_" UID1,
	};

	memset(&n, 0x5a, sizeof(n));
	assert_int_equal(parse_pod("team-a-prod_api.v2-7c9d_" UID1, &n, uid), 0);
	assert_string_equal(n.ns, "team-a-prod");
	assert_string_equal(n.pod, "api.v2-7c9d");
	assert_string_equal(n.container, "");
	assert_string_equal(uid, UID1);
	/* a static pod: its UID is the kubelet's 32-digit hash */
	assert_int_equal(parse_pod("kube-system_etcd-node-1_" STATIC_UID, &n, uid), 0);
	assert_string_equal(n.ns, "kube-system");
	assert_string_equal(n.pod, "etcd-node-1");
	assert_string_equal(uid, STATIC_UID);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_pod(bad[i], &n, uid) != -EINVAL) {
			print_error("accepted: '%s'\n", bad[i]);
			fail();
		}
	}
}

/* ---- a kubelet's /var/log under /tmp ---- */

struct fake {
	char root[PATH_MAX];
	uint64_t now;		/* the resolver's clock */
};

static uint64_t fake_now(void *ctx)
{
	return ((struct fake *)ctx)->now;
}

static void mkdirs(const char *path)
{
	char tmp[PATH_MAX];

	fmt(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		assert_true(mkdir(tmp, 0755) == 0 || errno == EEXIST);
		*p = '/';
	}
	assert_true(mkdir(tmp, 0755) == 0 || errno == EEXIST);
}

static void touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	close(fd);
}

/*
 * One container of a pod, as the kubelet makes it: the pod's directory,
 * the container's directory with 0.log, and the link in containers/ to it.
 */
static void kubelet_container(struct fake *f, const char *ns, const char *pod, const char *uid,
			      const char *ctr, const char *id)
{
	char dir[PATH_MAX], log[PATH_MAX], link[PATH_MAX], target[PATH_MAX];

	fmt(dir, sizeof(dir), "%s/pods/%s_%s_%s/%s", f->root, ns, pod, uid, ctr);
	mkdirs(dir);
	fmt(log, sizeof(log), "%s/0.log", dir);
	touch(log);
	fmt(target, sizeof(target), "/var/log/pods/%s_%s_%s/%s/0.log", ns, pod, uid, ctr);
	fmt(link, sizeof(link), "%s/containers/%s_%s_%s-%s.log", f->root, pod, ns, ctr, id);
	assert_int_equal(symlink(target, link), 0);
}

static void link_in(struct fake *f, const char *name, const char *target)
{
	char link[PATH_MAX];

	fmt(link, sizeof(link), "%s/containers/%s", f->root, name);
	assert_int_equal(symlink(target, link), 0);
}

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	char path[PATH_MAX];

	assert_non_null(f);
	fmt(f->root, sizeof(f->root), "/tmp/mo-k8snames.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	fmt(path, sizeof(path), "%s/containers", f->root);
	mkdirs(path);
	fmt(path, sizeof(path), "%s/pods", f->root);
	mkdirs(path);
	f->now = 1000 * 1000000000ULL;
	*state = f;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int teardown(void **state)
{
	struct fake *f = *state;
	int err = nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);

	free(f);
	return err;
}

static struct mo_k8snames *resolver(struct fake *f, size_t max_entries, size_t max_scan)
{
	struct mo_k8snames_opts o = {
		.max_entries = max_entries,
		.max_scan = max_scan,
		.refresh_ns = 10 * 1000000000ULL,
		.now_ns = fake_now,
		.now_ctx = f,
	};
	struct mo_k8snames *r = mo_k8snames_new(f->root, &o);

	assert_non_null(r);
	return r;
}

static void expect(struct mo_k8snames *r, const char *id, const char *uid, const char *ns,
		   const char *pod, const char *ctr)
{
	struct mo_k8s_names n;
	int err;

	memset(&n, 0x5a, sizeof(n));
	err = mo_k8snames_lookup(r, id, uid, &n);
	if (err || strcmp(n.ns, ns) || strcmp(n.pod, pod) || strcmp(n.container, ctr)) {
		print_error("%s / %s: err %d, got '%.64s' '%.254s' '%.64s', want '%s' '%s' '%s'\n",
			    id, uid, err, err ? "" : n.ns, err ? "" : n.pod,
			    err ? "" : n.container, ns, pod, ctr);
		fail();
	}
}

static void expect_none(struct mo_k8snames *r, const char *id, const char *uid)
{
	struct mo_k8s_names n;

	assert_int_equal(mo_k8snames_lookup(r, id, uid, &n), -ENOENT);
}

/* Any open() of a FIFO for reading would wait for a writer: the alarm
 * turns such a hang into a failure. */
static void alarm_fail(int sig)
{
	static const char msg[] = "blocked: a FIFO was opened\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(2);
}

static void test_kubelet_layout(void **state)
{
	struct fake *f = *state;
	struct mo_k8snames_stats st;
	struct mo_k8snames *r;

	kubelet_container(f, "default", "web-0", UID1, "app", ID1);
	kubelet_container(f, "default", "web-0", UID1, "istio-proxy", ID2);
	kubelet_container(f, "team-a-prod", "api.v2-7c9d-x2k4p", UID2, "api-server", ID3);
	kubelet_container(f, "kube-system", "etcd-node-1", STATIC_UID, "etcd", ID4);
	/* a restarted container: its former run's link stays until rotation */
	kubelet_container(f, "team-a-prod", "api.v2-7c9d-x2k4p", UID2, "api-server", ID5);
	r = resolver(f, 0, 0);

	expect(r, ID1, UID1, "default", "web-0", "app");
	expect(r, ID2, UID1, "default", "web-0", "istio-proxy");
	expect(r, ID3, UID2, "team-a-prod", "api.v2-7c9d-x2k4p", "api-server");
	expect(r, ID5, UID2, "team-a-prod", "api.v2-7c9d-x2k4p", "api-server");
	expect(r, ID4, STATIC_UID, "kube-system", "etcd-node-1", "etcd");
	/* without the pod UID, the link alone; without the id, the pod alone */
	expect(r, ID3, "", "team-a-prod", "api.v2-7c9d-x2k4p", "api-server");
	expect(r, ID3, NULL, "team-a-prod", "api.v2-7c9d-x2k4p", "api-server");
	expect(r, "", UID1, "default", "web-0", "");
	/* a container the pod's directory knows but no link names yet */
	expect(r, ID6, UID2, "team-a-prod", "api.v2-7c9d-x2k4p", "");
	expect_none(r, ID6, UID3);
	expect_none(r, ID6, "");
	{
		struct mo_k8s_names n;

		assert_int_equal(mo_k8snames_lookup(r, "", "", &n), -EINVAL);
		assert_int_equal(mo_k8snames_lookup(r, NULL, NULL, &n), -EINVAL);
		assert_int_equal(mo_k8snames_lookup(NULL, ID1, UID1, &n), -EINVAL);
	}
	mo_k8snames_stats(r, &st);
	/* one scan: the misses came within the refresh period of the first */
	assert_int_equal(st.scans, 1);
	assert_int_equal(st.bad_name, 0);
	assert_int_equal(st.bad_type, 0);
	assert_int_equal(st.mismatched, 0);
	assert_int_equal(st.table_full, 0);
	mo_k8snames_free(r);
	mo_k8snames_free(NULL);
}

static void test_hostile_entries(void **state)
{
	struct fake *f = *state;
	struct mo_k8snames_stats st;
	struct mo_k8snames *r;
	char path[PATH_MAX], name[512];
	char *l64 = repeat('n', 64);
	size_t bad_names = 0, bad_types = 0;

	kubelet_container(f, "default", "good", UID1, "app", ID1);

	/* names outside the rules: each ignored and counted */
	fmt(name, sizeof(name), "p_%s_c-%s.log", l64, ID2);	/* namespace too long */
	link_in(f, name, "/var/log/pods/x/0.log"), bad_names++;
	fmt(name, sizeof(name), "p_ns_%s-%s.log", l64, ID2);	/* container too long */
	link_in(f, name, "/var/log/pods/x/0.log"), bad_names++;
	link_in(f, "evil\n_default_app-" ID2 ".log", "x"), bad_names++;
	link_in(f, "evil_default\n_app-" ID2 ".log", "x"), bad_names++;
	link_in(f, "EVIL_default_app-" ID2 ".log", "x"), bad_names++;
	link_in(f, "ev il_default_app-" ID2 ".log", "x"), bad_names++;
	link_in(f, "evil_default_app\\x-" ID2 ".log", "x"), bad_names++;
	link_in(f, "evil_default_app-" ID2 ".log.1", "x"), bad_names++;
	link_in(f, "evil_de\x1b" "[2Jfault_app-" ID2 ".log", "x"), bad_names++;
	link_in(f, "\xff\xfe" "_default_app-" ID2 ".log", "x"), bad_names++;
	link_in(f, "..._default_app-" ID2 ".log", "x"), bad_names++;
	link_in(f, "-_default_app-" ID2 ".log", "x"), bad_names++;
	fmt(path, sizeof(path), "%s/pods/Default_evil_%s", f->root, UID3);
	mkdirs(path), bad_names++;
	fmt(path, sizeof(path), "%s/pods/default_ev\nil_%s", f->root, UID3);
	mkdirs(path), bad_names++;
	fmt(path, sizeof(path), "%s/pods/%s_evil_%s", f->root, l64, UID3);
	mkdirs(path), bad_names++;
	fmt(path, sizeof(path), "%s/pods/.hidden", f->root);
	mkdirs(path), bad_names++;

	/* entries of the wrong type, with well-formed names */
	fmt(path, sizeof(path), "%s/containers/fifo_default_app-%s.log", f->root, ID3);
	assert_int_equal(mkfifo(path, 0600), 0), bad_types++;
	fmt(path, sizeof(path), "%s/containers/dir_default_app-%s.log", f->root, ID4);
	mkdirs(path), bad_types++;
	fmt(path, sizeof(path), "%s/pods/default_file_%s", f->root, UID3);
	touch(path), bad_types++;
	fmt(path, sizeof(path), "%s/pods/default_fifo_%s", f->root, UID4);
	assert_int_equal(mkfifo(path, 0600), 0), bad_types++;
	/* a link in pods/ to a directory out of the tree */
	fmt(path, sizeof(path), "%s/pods/default_linked_%s", f->root, STATIC_UID);
	assert_int_equal(symlink("/etc", path), 0), bad_types++;

	/* links whose names are good: their targets are never looked at */
	fmt(path, sizeof(path), "%s/a-fifo", f->root);
	assert_int_equal(mkfifo(path, 0600), 0);
	link_in(f, "to-fifo_default_app-" ID5 ".log", path);
	link_in(f, "dangling_default_app-" ID6 ".log", "/nonexistent/pods/x/0.log");
	link_in(f, "to-shadow_default_app-" ID7 ".log", "/etc/shadow");

	signal(SIGALRM, alarm_fail);
	alarm(10);
	r = resolver(f, 0, 0);
	expect(r, ID1, UID1, "default", "good", "app");
	expect(r, ID5, "", "default", "to-fifo", "app");
	expect(r, ID6, "", "default", "dangling", "app");
	expect(r, ID7, "", "default", "to-shadow", "app");
	expect_none(r, ID2, "");
	expect_none(r, ID3, "");
	expect_none(r, ID4, "");
	expect_none(r, "", UID3);
	expect_none(r, "", UID4);
	expect_none(r, "", STATIC_UID);
	alarm(0);
	mo_k8snames_stats(r, &st);
	assert_int_equal(st.scans, 1);
	assert_int_equal(st.bad_name, bad_names);
	assert_int_equal(st.bad_type, bad_types);
	assert_int_equal(st.mismatched, 0);
	mo_k8snames_free(r);
	free(l64);
}

/* containers/ or pods/ not a directory of its own: nothing below is read. */
static void test_directories_not_followed(void **state)
{
	struct fake *f = *state;
	char path[PATH_MAX], real[PATH_MAX], link[PATH_MAX];
	struct mo_k8snames_stats st;
	struct mo_k8snames *r;

	/* the real tree elsewhere, containers/ and pods/ links to it */
	fmt(real, sizeof(real), "%s/elsewhere", f->root);
	mkdirs(real);
	fmt(path, sizeof(path), "%s/elsewhere/pods/default_web-0_%s", f->root, UID1);
	mkdirs(path);
	fmt(path, sizeof(path), "%s/elsewhere/containers", f->root);
	mkdirs(path);
	fmt(path, sizeof(path), "%s/elsewhere/containers/web-0_default_app-%s.log", f->root, ID1);
	touch(path);
	fmt(link, sizeof(link), "%s/containers", f->root);
	assert_int_equal(rmdir(link), 0);
	fmt(path, sizeof(path), "%s/elsewhere/containers", f->root);
	assert_int_equal(symlink(path, link), 0);
	fmt(link, sizeof(link), "%s/pods", f->root);
	assert_int_equal(rmdir(link), 0);
	assert_int_equal(mkfifo(link, 0600), 0);

	signal(SIGALRM, alarm_fail);
	alarm(10);
	r = resolver(f, 0, 0);
	expect_none(r, ID1, UID1);
	alarm(0);
	mo_k8snames_stats(r, &st);
	assert_int_equal(st.bad_type, 2);
	mo_k8snames_free(r);

	/* a root that does not exist: no kubelet here, no error */
	fmt(path, sizeof(path), "%s/none", f->root);
	r = mo_k8snames_new(path, NULL);
	assert_non_null(r);
	expect_none(r, ID1, UID1);
	mo_k8snames_stats(r, &st);
	assert_int_equal(st.scans, 1);
	assert_int_equal(st.bad_type, 0);
	mo_k8snames_free(r);

	errno = 0;
	assert_null(mo_k8snames_new("", NULL));
	assert_int_equal(errno, EINVAL);
	assert_null(mo_k8snames_new(NULL, NULL));
}

/* Links that contradict: neither believed. */
static void test_conflicts(void **state)
{
	struct fake *f = *state;
	struct mo_k8snames_stats st;
	struct mo_k8snames *r;

	kubelet_container(f, "default", "web-0", UID1, "app", ID1);
	/* a second link for ID1 naming another pod */
	link_in(f, "payments_finance_app-" ID1 ".log", "x");
	/* two links for ID2 with the same names (a copy) are one */
	kubelet_container(f, "default", "web-0", UID1, "sidecar", ID2);
	/* the link of ID3 names a pod other than its UID's directory */
	kubelet_container(f, "default", "db-0", UID2, "db", ID8);
	link_in(f, "payments_finance_db-" ID3 ".log", "x");
	r = resolver(f, 0, 0);

	/* ID1's link is dropped; its pod comes from the directory */
	expect(r, ID1, UID1, "default", "web-0", "");
	expect_none(r, ID1, "");
	expect(r, ID2, UID1, "default", "web-0", "sidecar");
	/* the pod's own directory wins over the link; the container name
	 * from a disagreeing link is not used */
	expect(r, ID3, UID2, "default", "db-0", "");
	expect(r, ID3, UID2, "default", "db-0", "");
	mo_k8snames_stats(r, &st);
	assert_int_equal(st.mismatched, 2);	/* ID1 twice; ID3's link, once */
	mo_k8snames_free(r);
}

static void test_refresh_on_miss(void **state)
{
	struct fake *f = *state;
	struct mo_k8snames_stats st;
	struct mo_k8snames *r;
	char path[PATH_MAX];

	kubelet_container(f, "default", "web-0", UID1, "app", ID1);
	r = resolver(f, 0, 0);
	expect(r, ID1, UID1, "default", "web-0", "app");
	mo_k8snames_stats(r, &st);
	assert_int_equal(st.scans, 1);

	/* a new pod: missed until the refresh period has passed */
	kubelet_container(f, "prod", "worker-1", UID2, "job", ID2);
	expect_none(r, ID2, UID3);
	for (int i = 0; i < 100; i++)
		expect_none(r, ID2, UID3);
	f->now += 9 * 1000000000ULL;
	expect_none(r, ID2, UID3);
	mo_k8snames_stats(r, &st);
	assert_int_equal(st.scans, 1);
	f->now += 1000000000ULL;
	expect(r, ID2, UID2, "prod", "worker-1", "job");
	mo_k8snames_stats(r, &st);
	assert_int_equal(st.scans, 2);

	/* hits never rescan, however old the scan */
	f->now += 3600 * 1000000000ULL;
	expect(r, ID1, UID1, "default", "web-0", "app");
	mo_k8snames_stats(r, &st);
	assert_int_equal(st.scans, 2);

	/* a pod gone: its names go with the next scan that a miss makes */
	fmt(path, sizeof(path), "%s/containers/web-0_default_app-%s.log", f->root, ID1);
	assert_int_equal(unlink(path), 0);
	expect_none(r, ID3, "");
	mo_k8snames_stats(r, &st);
	assert_int_equal(st.scans, 3);
	expect(r, ID1, UID1, "default", "web-0", "");
	mo_k8snames_free(r);
}

/* 10,000 links: the table keeps max_entries, the rest are counted. */
static void test_cache_bound(void **state)
{
	struct fake *f = *state;
	struct mo_k8snames_stats st;
	struct mo_k8snames *r;
	char name[256], id[65];
	size_t found = 0;
	enum { N = 10000 };

	for (int i = 0; i < N; i++) {
		fmt(id, sizeof(id), "%064x", i);
		fmt(name, sizeof(name), "pod-%d_ns-%d_c-%s.log", i, i % 7, id);
		link_in(f, name, "/var/log/pods/x/0.log");
	}

	/* the default bound */
	r = resolver(f, 0, 0);
	for (int i = 0; i < N; i++) {
		struct mo_k8s_names n;

		fmt(id, sizeof(id), "%064x", i);
		if (mo_k8snames_lookup(r, id, "", &n) == 0) {
			char want[32];

			fmt(want, sizeof(want), "pod-%d", i);
			assert_string_equal(n.pod, want);
			found++;
		}
	}
	mo_k8snames_stats(r, &st);
	assert_int_equal(found, 8192);
	assert_int_equal(st.table_full, N - 8192);
	/* every miss came within one refresh period: one scan */
	assert_int_equal(st.scans, 1);
	mo_k8snames_free(r);

	/* a smaller one, and the bound on entries read per scan */
	r = resolver(f, 100, 0);
	found = 0;
	for (int i = 0; i < N; i++) {
		struct mo_k8s_names n;

		fmt(id, sizeof(id), "%064x", i);
		found += mo_k8snames_lookup(r, id, "", &n) == 0;
	}
	mo_k8snames_stats(r, &st);
	assert_int_equal(found, 100);
	assert_int_equal(st.table_full, N - 100);
	mo_k8snames_free(r);

	r = resolver(f, 0, 500);
	found = 0;
	for (int i = 0; i < N; i++) {
		struct mo_k8s_names n;

		fmt(id, sizeof(id), "%064x", i);
		found += mo_k8snames_lookup(r, id, "", &n) == 0;
	}
	mo_k8snames_stats(r, &st);
	assert_int_equal(found, 500);
	assert_int_equal(st.table_full, 1);	/* the scan stopped once */
	mo_k8snames_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dns_rules),
		cmocka_unit_test(test_parse_container_log),
		cmocka_unit_test(test_parse_pod_dir),
		cmocka_unit_test_setup_teardown(test_kubelet_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directories_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflicts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refresh_on_miss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_bound, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
