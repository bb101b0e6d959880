# shellcheck shell=bash
# bench/lib.sh - helpers shared by the bench/ scripts (sourced).
#
# The caller sets: OUT (output folder, with OUT/logs), T0 (start, epoch s),
# MEMOBSERVER, ROOT, TICK_MS (ms per clock tick), QUIET_WAIT (s),
# MEMLEAK_OK=1 and MEMLEAK_WHY="" (check_memleak and link_headers clear or
# fill them), REDIS_PORT for redis_start.

say() { printf '[bench %4ds] %s\n' $(($(date +%s) - T0)) "$*" | tee -a "$OUT/progress.log" >&2; }
die() { say "error: $*"; exit 1; }

install_deps() {
	local need=()

	command -v memleak-bpfcc >/dev/null || need+=(bpfcc-tools)
	compgen -G '/usr/src/linux-headers-*-amd64' >/dev/null || need+=(linux-headers-amd64)
	command -v redis-server >/dev/null || need+=(redis-server)
	command -v redis-benchmark >/dev/null || need+=(redis-tools)
	command -v cc >/dev/null || need+=(gcc)
	command -v python3 >/dev/null || need+=(python3)
	[ ${#need[@]} -eq 0 ] && return 0
	say "installing ${need[*]}"
	apt-get update -qq >"$OUT/logs/apt.log" 2>&1
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >>"$OUT/logs/apt.log" 2>&1 ||
		die "apt-get install ${need[*]} failed (see $OUT/logs/apt.log)"
}

# bcc compiles memleak's BPF against /lib/modules/$(uname -r)/{build,source}.
# The running kernel is a custom build with no Debian headers, so point both at
# the newest Debian headers: -amd64 has the generated config, -common the rest.
link_headers() {
	local kdir="/lib/modules/$(uname -r)" amd common

	amd=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n1)
	common=$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | sort -V | tail -n1)
	[ -n "$amd" ] || { MEMLEAK_WHY="no /usr/src/linux-headers-*-amd64"; return 1; }
	mkdir -p "$kdir"
	if [ ! -e "$kdir/build" ] || [ -L "$kdir/build" ]; then
		ln -sfn "$amd" "$kdir/build"
	fi
	if [ -n "$common" ] && { [ ! -e "$kdir/source" ] || [ -L "$kdir/source" ]; }; then
		ln -sfn "$common" "$kdir/source"
	fi
	say "kernel headers: $kdir/build -> $(readlink "$kdir/build"), source -> $(readlink "$kdir/source" 2>/dev/null)"
}

build_memobserver() {
	local try

	for try in 1 2 3 4 5 6 7 8 9 10; do
		[ -x "$MEMOBSERVER" ] && return 0
		say "building $MEMOBSERVER (try $try)"
		make -C "$ROOT" build/memobserver >"$OUT/logs/build.log" 2>&1 && [ -x "$MEMOBSERVER" ] &&
			return 0
		tail -n3 "$OUT/logs/build.log" >&2
		sleep 60
	done
	die "cannot build $MEMOBSERVER (see $OUT/logs/build.log)"
}

# memleak is usable when it compiles and attaches to a sleeping process.
check_memleak() {
	local p log="$OUT/logs/memleak-check.log"

	if ! command -v memleak-bpfcc >/dev/null; then
		MEMLEAK_OK=0 MEMLEAK_WHY="memleak-bpfcc not installed"
		return
	fi
	sleep 60 &
	p=$!
	timeout 60 memleak-bpfcc -p "$p" 1 1 >"$log" 2>&1
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	if ! grep -q 'Top' "$log"; then
		MEMLEAK_OK=0
		MEMLEAK_WHY="memleak-bpfcc failed: $(grep -m1 -iE 'error|unable|exception' "$log")"
		say "$MEMLEAK_WHY (full output: $log); memleak rows are skipped"
	fi
}

# ---------------------------------------------------------------- helpers
# a process and its parser child (memobserver parses ELF/DWARF in a child
# named mo-parser); a command memobserver runs (bench/run.sh's workload) is
# a child too and is left out. One pid per line.
proc_tree() {
	local p=$1 c

	echo "$p"
	for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
		[ "$(cat /proc/"$c"/comm 2>/dev/null)" = mo-parser ] && echo "$c"
	done
}

# prints "RSS_KB CPU_MS" of a process with its parser child, or nothing when
# it is gone
proc_usage() {
	local p=$1 q k v rest s rss=0 ticks=0

	[ -r "/proc/$p/stat" ] || return 1
	for q in $(proc_tree "$p"); do
		while read -r k v rest; do
			[ "$k" = VmRSS: ] && { rss=$((rss + v)); break; }
		done <"/proc/$q/status" 2>/dev/null
		read -r s <"/proc/$q/stat" 2>/dev/null || continue
		s=${s##*) }
		# shellcheck disable=SC2086
		set -- $s
		ticks=$((ticks + ${12} + ${13}))
	done
	echo "$rss $((ticks * TICK_MS))"
}

# samples a process every 0.2 s into a file until it exits
sampler() {
	local p=$1 f=$2 u

	while u=$(proc_usage "$p"); do
		echo "$u" >>"$f"
		sleep 0.2
	done
}

wait_for() { # file pattern seconds pid-that-must-live
	local i

	for ((i = 0; i < $3 * 10; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		[ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null && return 1
		sleep 0.1
	done
	return 1
}

# start_observer LOG ARGS...: $MEMOBSERVER ARGS in the background (its pid in
# MOPID); returns once it logs "observing", dies if it exits or takes 60 s
start_observer() {
	local log=$1

	shift
	"$MEMOBSERVER" "$@" > "$log" 2>&1 &
	MOPID=$!
	wait_for "$log" observing 60 "$MOPID" && return 0
	cat "$log" >&2
	die "memobserver did not start observing within 60 s"
}

stop_proc() { # pid seconds-to-exit-alone
	local p=$1 i

	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -INT "$p" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}

# BPF programs of the probe kinds held by processes other than the given pids:
# another tracer on this shared machine (other engineers run memobserver's
# tests). memobserver with "-- CMD" or system-wide probes the C library with
# no pid filter, so every process here traps while it runs: a run measured
# beside it is not clean. Prints the number of such programs.
foreign_probes() {
	bpftool prog show -j 2>/dev/null | python3 -c '
import json, os, sys
ours = {int(a) for a in sys.argv[1:] if a}
try:
    progs = json.load(sys.stdin)
except ValueError:
    progs = []
kinds = {"kprobe", "tracing", "perf_event", "raw_tracepoint", "tracepoint"}
probe_ids = {p["id"] for p in progs if p.get("type") in kinds}
# who holds each program: prog_id in the fdinfo of bpf-prog and bpf_link fds
# (this bpftool shows no pids)
held = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        continue
    for fd in fds:
        try:
            if "bpf" not in os.readlink(f"/proc/{pid}/fd/{fd}"):
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        held.setdefault(int(line.split()[1]), set()).add(int(pid))
        except OSError:
            continue
print(sum(1 for i in probe_ids if not held.get(i, set()) & ours))' "$@"
}

# waits up to QUIET_WAIT seconds for the machine to carry no foreign probes
# (a deadline: one look through /proc takes a while on a busy machine)
wait_quiet() {
	local n said=0 end=$((SECONDS + QUIET_WAIT))

	while :; do
		n=$(foreign_probes)
		[ "${n:-0}" = 0 ] && return 0
		[ "$SECONDS" -ge "$end" ] && return 1
		[ $said = 1 ] || say "waiting for $n foreign BPF probe programs to go away"
		said=1
		sleep 1
	done
}

# starts redis-server on 127.0.0.1:REDIS_PORT with no persistence and sets
# RPID; returns 1 when it does not answer PING within 10 s
redis_start() {
	local i

	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
		--daemonize no --logfile "$OUT/logs/redis-server.log" &
	RPID=$!
	for ((i = 0; i < 100; i++)); do
		[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.1
	done
	say "redis-server did not start"
	kill "$RPID"
	wait "$RPID" 2>/dev/null
	return 1
}

redis_stop() {
	redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1
	stop_proc "$RPID" 5
}
