# Shared helpers for the BPF integration tests (sourced). Each test prints
# "PASS: name", "FAIL: name: why" or "SKIP: name: why"; tests/run.sh counts.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MO=$ROOT/build/memobserver
FIX=$ROOT/build/fixtures
CHECK=$ROOT/tests/bpf/check.py
TMP=$(mktemp -d /tmp/mo-test.XXXXXX)

# end_jobs: the background jobs still running get SIGTERM, and SIGKILL if
# they are still there 30 s later. A memobserver left behind keeps its
# probes attached and holds the BPF lock (flock's descriptor is inherited),
# blocking every test run after this one.
end_jobs() {
	local pids p alive i=0
	pids=$(jobs -p)
	[ -n "$pids" ] || return 0
	# shellcheck disable=SC2086
	kill $pids 2> /dev/null
	while [ $i -lt 300 ]; do
		alive=""
		for p in $pids; do
			kill -0 "$p" 2> /dev/null && alive="$alive $p"
		done
		[ -z "$alive" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	# shellcheck disable=SC2086
	kill -KILL $alive 2> /dev/null
}
# The test's files go at its end; MO_TEST_KEEP=1 keeps them for a post-mortem.
rm_tmp() {
	if [ -n "${MO_TEST_KEEP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap 'end_jobs; rm_tmp' EXIT

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

# Wait until file $1 holds at least $3 lines matching $2 (at most $4 tenths).
wait_for_count() {
	local i=0
	while [ $i -lt "${4:-100}" ]; do
		[ "$(grep -c "$2" "$1" 2> /dev/null)" -ge "$3" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# wait_until TENTHS COMMAND...: run COMMAND every 0.1 s until it succeeds, at
# most TENTHS times; 1 if it never did.
wait_until() {
	local n=$1 i=0
	shift
	while [ $i -lt "$n" ]; do
		"$@" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# Wait until file $1 exists (at most $2 tenths of a second).
wait_file() { wait_until "${2:-100}" test -e "$1"; }

# links_back COUNT: the system has COUNT BPF links again. A link goes with
# its last reference, which can be a moment after its process is reaped:
# use as `wait_until 50 links_back "$links0"` before comparing.
links_back() { [ "$(links_now)" = "$1" ]; }

pid_gone() { ! kill -0 "$1" 2> /dev/null; }

# scrape_to PORT FILE: memobserver's /metrics into FILE; 1 (FILE kept as it
# was) when it does not answer, so polling keeps the last good scrape.
# free_port: a local TCP port nobody listens on, for --metrics
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((19100 + RANDOM % 900))
		ss -Hltn "sport = :$p" 2> /dev/null | grep -q . || { echo "$p"; return 0; }
	done
	echo 19999
}

scrape_to() {
	curl -sf --max-time 5 "http://127.0.0.1:$1/metrics" > "$2.part" || return 1
	mv "$2.part" "$2"
}

# stop_proc PID: SIGTERM, then SIGKILL if PID still runs 30 s later.
stop_proc() {
	kill "$1" 2> /dev/null
	wait_until 300 pid_gone "$1" || kill -KILL "$1" 2> /dev/null
	wait "$1" 2> /dev/null
}

# exit_seen FILE PID: memobserver's JSON output FILE has PID's exit event
# (written once the process's end is processed and its leaks reported).
exit_seen() { grep -q "\"kind\":\"exit\",\"timestamp\":\"[^\"]*\",\"pid\":$2," "$1" 2> /dev/null; }

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
