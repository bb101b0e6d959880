// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_k8snames.c - libFuzzer harness for the parsers of the kubelet's log
 * file names. Arbitrary bytes (in a buffer of exactly that size, so ASan
 * sees any read past it) go to mo_k8s_parse_container_log and
 * mo_k8s_parse_pod_dir. An accepted name must give names that obey the
 * kubelet's rules and that, joined again as the kubelet joins them, are
 * the input byte for byte; a refused one must leave the outputs untouched.
 *
 *   make fuzz-replay FUZZERS=k8snames     its corpus, as the test suite runs it
 *   make fuzz-explore FUZZERS=k8snames    random exploration (tests/fuzz/README)
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "k8snames.h"

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static void check_names(const struct mo_k8s_names *n)
{
	CHECK(terminated(n->ns, sizeof(n->ns)));
	CHECK(terminated(n->pod, sizeof(n->pod)));
	CHECK(terminated(n->container, sizeof(n->container)));
	CHECK(mo_k8s_dns_label(n->ns, strlen(n->ns)));
	CHECK(mo_k8s_dns_subdomain(n->pod, strlen(n->pod)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mo_k8s_names n, untouched;
	char *buf = malloc(size ? size : 1), key[65], key0[65], again[600];
	int err, len;

	CHECK(buf);
	memcpy(buf, data, size);

	memset(&n, 0x5a, sizeof(n));
	memset(key, 0x5a, sizeof(key));
	memcpy(&untouched, &n, sizeof(n));
	memcpy(key0, key, sizeof(key));
	err = mo_k8s_parse_container_log(buf, size, &n, key);
	CHECK(err == 0 || err == -22);
	if (err == 0) {
		check_names(&n);
		CHECK(mo_k8s_dns_label(n.container, strlen(n.container)));
		CHECK(terminated(key, sizeof(key)) && strlen(key) == 64);
		len = snprintf(again, sizeof(again), "%s_%s_%s-%s.log", n.pod, n.ns, n.container,
			       key);
		CHECK(len >= 0 && (size_t)len == size && !memcmp(again, data, size));
	} else {
		CHECK(!memcmp(&n, &untouched, sizeof(n)) && !memcmp(key, key0, sizeof(key)));
	}

	memset(&n, 0x5a, sizeof(n));
	memset(key, 0x5a, sizeof(key));
	err = mo_k8s_parse_pod_dir(buf, size, &n, key);
	CHECK(err == 0 || err == -22);
	if (err == 0) {
		size_t u;

		check_names(&n);
		CHECK(n.container[0] == '\0');
		CHECK(terminated(key, 37));
		u = strlen(key);
		CHECK(u == 32 || u == 36);
		len = snprintf(again, sizeof(again), "%s_%s_%s", n.ns, n.pod, key);
		CHECK(len >= 0 && (size_t)len == size && !memcmp(again, data, size));
	} else {
		CHECK(!memcmp(&n, &untouched, sizeof(n)) && !memcmp(key, key0, sizeof(key)));
	}

	/* the rules alone, on the whole input */
	if (mo_k8s_dns_label(buf, size))
		CHECK(size >= 1 && size <= 63 && !memchr(buf, '.', size));
	if (mo_k8s_dns_subdomain(buf, size))
		CHECK(size >= 1 && size <= 253 && !memchr(buf, '_', size) &&
		      !memchr(buf, '/', size));
	free(buf);
	return 0;
}
