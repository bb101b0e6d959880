#!/usr/bin/env bash
# bench/progcost.sh - the kernel time of memobserver's own BPF programs on a
# workload, program by program.
#
# bench/node.sh says how much slower a workload runs beside memobserver; this
# says where the kernel side of that goes. It starts memobserver (system-wide
# unless TRACER says otherwise), turns on the kernel's BPF run-time
# statistics (kernel.bpf_stats_enabled, restored afterwards), runs the
# workload once, and reports for each of memobserver's programs how often it
# ran, its total time and its mean time per run. The statistics add two clock
# reads to every run of every BPF program on the machine, so no slowdown is
# measured here: that is node.sh's job. The mean includes that bookkeeping
# (about 70 ns here: see the calib_* programs, which do nearly nothing).
#
# Workloads:
#   build   the project's own parallel build from clean, as node.sh's (a copy
#           of the checkout's HEAD, `make -jBUILD_JOBS BUILD_TARGET`, one
#           untimed build first)
#   exits   EXITS runs of EXIT_CMD in a shell loop (fork, exec, exit)
# Also the probe-hit cost of this machine first (bench/run.sh's trap
# section), as every benchmark report here states it.
#
# Takes /tmp/memobserver-bpf.lock for the whole run. Report:
# bench/out/progcost-<timestamp>.txt (logs beside it). Run as root.
#
# Knobs (environment):
#   WORKLOADS="build exits"  EXITS=2000  EXIT_CMD=/bin/true
#   BUILD_TARGET=build/memobserver  BUILD_JOBS=$(nproc)  TRAP_ROUNDS=1 (0: none)
#   TRACER="{MO} --metrics off -q -v" (words split on blanks; {MO} is the
#   measured copy of memobserver)  READY=observing  READY_WAIT=180
#   MEMOBSERVER=build/memobserver  OUT  LOCK
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

: "${WORKLOADS:=build exits}" "${EXITS:=2000}" "${EXIT_CMD:=/bin/true}"
: "${BUILD_TARGET:=build/memobserver}" "${BUILD_JOBS:=$(nproc)}" "${TRAP_ROUNDS:=1}"
: "${TRACER:={MO\} --metrics off -q -v}" "${READY:=observing}" "${READY_WAIT:=180}"
: "${MEMOBSERVER:=$ROOT/build/memobserver}" "${LOCK:=/tmp/memobserver-bpf.lock}"
STAMP=$(date +%Y%m%d-%H%M%S)
: "${OUT:=$ROOT/bench/out/progcost-$STAMP}"
REPORT="$OUT.txt"

say() { echo "progcost: $*" >&2; }
die() { echo "progcost: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (BPF)"
for w in $WORKLOADS; do
	case $w in build | exits) ;; *) die "unknown workload '$w' (build exits)" ;; esac
done
for v in EXITS TRAP_ROUNDS READY_WAIT; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
[ -x "$MEMOBSERVER" ] || die "no memobserver at $MEMOBSERVER (run make)"
command -v bpftool >/dev/null || die "bpftool missing (scripts/setup.sh installs it)"
STATS0=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null) ||
	die "this kernel has no kernel.bpf_stats_enabled"

TPID="" BUILD_SRC=""
cleanup() {
	[ -n "$TPID" ] && kill -0 "$TPID" 2>/dev/null && kill -INT "$TPID" && wait "$TPID"
	sysctl -q kernel.bpf_stats_enabled="$STATS0"
	[ -n "$BUILD_SRC" ] && rm -rf "$BUILD_SRC"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT" || die "cannot create $OUT"
MOBIN="$OUT/memobserver"
cp "$MEMOBSERVER" "$MOBIN" || die "cannot copy $MEMOBSERVER"
if [[ " $WORKLOADS " == *" build "* ]]; then
	BUILD_SRC=$(mktemp -d /tmp/memobserver-progcost-build.XXXXXX)
	git -C "$ROOT" archive HEAD | tar -x -C "$BUILD_SRC" || die "cannot copy the source tree"
	say "build: warming up with one untimed build of $BUILD_TARGET"
	make -C "$BUILD_SRC" -j"$BUILD_JOBS" "$BUILD_TARGET" >"$OUT/build-warmup.log" 2>&1 ||
		die "the build fails without a tracer (see $OUT/build-warmup.log)"
fi

exec {LOCKFD}>>"$LOCK" || die "cannot open $LOCK"
flock -n "$LOCKFD" || { say "waiting for $LOCK"; flock "$LOCKFD"; }

{
	echo "# memobserver's BPF programs, kernel time per workload ($(date -u +%FT%TZ))"
	echo "# $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r)"
	echo "# memobserver git $(git -C "$ROOT" describe --always --dirty 2>/dev/null), tracer: $TRACER"
} >"$REPORT"
if [ "$TRAP_ROUNDS" -gt 0 ]; then
	say "probe-hit cost: bench/run.sh's trap section"
	# run.sh installs bpfcc-tools (the empty probes are bcc's) unless it is there
	skip=0
	command -v memleak-bpfcc >/dev/null && skip=1
	OUT="$OUT/trapcost" MEMOBSERVER="$MOBIN" SKIP_INSTALL=$skip ROUNDS=0 REDIS_ROUNDS=0 \
		IDLE_SECONDS=1 TRAP_ROUNDS="$TRAP_ROUNDS" \
		bash "$ROOT/bench/run.sh" >"$OUT/trapcost.log" 2>&1 {LOCKFD}>&-
	{
		echo "# probe-hit cost of this machine (bench/run.sh's trap section, $TRAP_ROUNDS round(s)):"
		grep -h '^| uprobe' "$OUT/trapcost.log" | sed 's/^/#   /' | grep . ||
			echo "#   not measured: no probe rows in $OUT/trapcost.log (see its end)"
	} >>"$REPORT"
fi

for w in $WORKLOADS; do
	# memobserver's programs are those loaded after this list
	bpftool -j prog show >"$OUT/$w.others.json" || die "bpftool prog show failed"
	read -ra argv <<<"${TRACER//\{MO\}/$MOBIN}"
	"${argv[@]}" >"$OUT/$w.tracer.log" 2>&1 {LOCKFD}>&- &
	TPID=$!
	for ((i = 0; i < READY_WAIT * 5; i++)); do
		grep -q -- "$READY" "$OUT/$w.tracer.log" && break
		kill -0 "$TPID" 2>/dev/null || die "the tracer stopped (see $OUT/$w.tracer.log)"
		sleep 0.2
	done
	grep -q -- "$READY" "$OUT/$w.tracer.log" || die "the tracer did not print '$READY' in $READY_WAIT s"
	sysctl -q kernel.bpf_stats_enabled=1
	# programs loaded before the workload: their counts start at zero now
	bpftool -j prog show >"$OUT/$w.before.json" || die "bpftool prog show failed"
	case $w in
	build)
		rm -rf "$BUILD_SRC/build"
		t=$( { TIMEFORMAT='%3R s wall, %3U s user, %3S s sys'; time make -C "$BUILD_SRC" \
			-j"$BUILD_JOBS" "$BUILD_TARGET" >"$OUT/build.make.log" 2>&1 {LOCKFD}>&-; } 2>&1) ||
			die "the build failed under the tracer (see $OUT/build.make.log)"
		;;
	exits)
		t=$( { TIMEFORMAT='%3R s wall, %3U s user, %3S s sys'; time for ((i = 0; i < EXITS; i++)); do
			$EXIT_CMD; done {LOCKFD}>&-; } 2>&1)
		;;
	esac
	bpftool -j prog show >"$OUT/$w.after.json" || die "bpftool prog show failed"
	sysctl -q kernel.bpf_stats_enabled="$STATS0"
	cpu=$(awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$TPID/stat")
	kill -INT "$TPID"
	wait "$TPID"
	TPID=""
	{
		echo
		echo "## $w: $t; memobserver's CPU $cpu s (since its start)"
		python3 - "$OUT/$w.others.json" "$OUT/$w.before.json" "$OUT/$w.after.json" <<'PY'
import json, sys
others = max([p["id"] for p in json.load(open(sys.argv[1]))] + [0])
before = {p["id"]: p for p in json.load(open(sys.argv[2])) if p["id"] > others}
rows, total = [], 0
for p in json.load(open(sys.argv[3])):
    b = before.get(p["id"])
    if b is None or p.get("name") != b.get("name"):
        continue
    n = p.get("run_cnt", 0) - b.get("run_cnt", 0)
    t = p.get("run_time_ns", 0) - b.get("run_time_ns", 0)
    if n > 0:
        rows.append((t, n, p.get("name", "?")))
        total += t
print(f"{'program':24s} {'runs':>10s} {'total ms':>10s} {'ns/run':>8s}")
for t, n, name in sorted(rows, reverse=True):
    print(f"{name:24s} {n:10d} {t / 1e6:10.1f} {t / n:8.0f}")
print(f"{'all':24s} {'':10s} {total / 1e6:10.1f}")
PY
	} >>"$REPORT"
done
say "report $REPORT"
cat "$REPORT"
