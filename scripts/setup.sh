#!/usr/bin/env bash
# Install what memobserver needs on Debian 12 (run as root), then build.
# Idempotent: packages already present are not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(make gcc g++ clang libclang-rt-14-dev llvm pkg-config libbpf-dev bpftool
      libelf-dev libdw-dev zlib1g-dev libcmocka-dev python3 binutils util-linux procps
      libprotobuf-c-dev protobuf-c-compiler protobuf-compiler chromium
      libmicrohttpd-dev prometheus curl libiberty-dev golang-go
      python3-yaml groff-base systemd
      libjemalloc2 libjemalloc-dev libtcmalloc-minimal4 libmimalloc2.0 musl-tools
      redis-server redis-tools python3-dev sqlite3 libcap-dev node-typescript valgrind
      golang-go libcurl4-openssl-dev)
# the OTLP test's receiver runs on node (tests/otlp); a node from elsewhere
# (NodeSource) brings its own npm, which Debian's npm package would conflict with
command -v npm > /dev/null || PKGS+=(nodejs npm)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# packaged services (redis-server, prometheus) must not start on install:
	# the tests run their own instances on their own ports
	policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 0755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
	[ -z "$policy" ] || rm -f "$policy"
fi

# Grafana's dashboard schema (its generated TypeScript types), which
# tests/bpf/test_ops.sh type-checks the dashboard against with tsc; the test
# skips that check when it is missing, so a failed download does not stop setup.
GRAFANA_SCHEMA=/var/cache/memobserver/grafana-schema-10.4.0
if [ ! -f "$GRAFANA_SCHEMA/package/package.json" ] && command -v npm > /dev/null; then
	mkdir -p "$GRAFANA_SCHEMA"
	(cd "$GRAFANA_SCHEMA" && npm pack --silent @grafana/schema@10.4.0 > /dev/null &&
		tar xzf grafana-schema-10.4.0.tgz && rm grafana-schema-10.4.0.tgz) ||
		echo "setup: could not fetch @grafana/schema; test_ops skips its Grafana schema check"
fi

# The OTLP test receiver's npm packages (tests/otlp), fetched now so the test
# later installs them from npm's cache without the network.
bash tests/otlp/install.sh || echo "setup: test_otlp will fetch its npm packages when it runs"

# uprobes and tracepoints need tracefs; the bpf filesystem is handy for bpftool
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true

make -j"$(nproc)" all
