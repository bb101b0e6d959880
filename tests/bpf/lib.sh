# Shared helpers for the BPF integration tests (sourced). Each test prints
# "PASS: name", "FAIL: name: why" or "SKIP: name: why"; tests/run.sh counts.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MO=$ROOT/build/memobserver
FIX=$ROOT/build/fixtures
CHECK=$ROOT/tests/bpf/check.py
TMP=$(mktemp -d /tmp/mo-test.XXXXXX)
trap 'rm -rf "$TMP"; jobs -p | xargs -r kill 2>/dev/null' EXIT

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; }
skip() { echo "SKIP: $1: $2"; }

# Why this kernel/user cannot run BPF tests, or nothing.
bpf_unavailable() {
	[ "$(id -u)" = 0 ] || { echo "not root"; return; }
	[ -r /sys/kernel/btf/vmlinux ] || { echo "kernel has no BTF"; return; }
	[ -x "$MO" ] || { echo "build/memobserver not built"; return; }
	grep -q uprobe /proc/kallsyms 2>/dev/null || { echo "kernel without uprobes"; return; }
}

# Count of BPF links and uprobe events in the system (leak checks).
links_now() { bpftool link list 2>/dev/null | grep -c '^[0-9]*:' || true; }
uprobes_now() {
	local n
	n=$(grep -c . /sys/kernel/tracing/uprobe_events 2> /dev/null)
	echo "${n:-0}"
}

# Wait until file $1 holds a line matching $2 (at most $3 tenths of a second).
wait_for() {
	local i=0
	while [ $i -lt "${3:-100}" ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# check NAME EVENTS FIXTURE_OUT [check.py options]: PASS or FAIL with details.
check() {
	local name=$1 ev=$2 out=$3
	shift 3
	if python3 "$CHECK" "$ev" "$out" "$@" > "$TMP/check.$name" 2>&1; then
		pass "$name"
	else
		fail "$name" "$(tr '\n' ';' < "$TMP/check.$name" | cut -c1-600)"
	fi
}
