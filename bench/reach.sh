#!/usr/bin/env bash
# bench/reach.sh - what a reachability scan costs, through memobserver, on a
# 1 GiB heap (docs/reachability.md).
#
# reach_big holds BLOCKS blocks of SIZE bytes in one list from a global and
# has dropped LOST more; memobserver observes it with --scan-mode MODE and is
# asked for a scan with SIGUSR1, ROUNDS times per mode. Each scan's event says
# how long the process was stopped (pause_seconds), memobserver's CPU for the
# scan (cpu_seconds: the worker's listing, scanning and summing plus the
# scanner's tracer thread) and the bytes read and scanned. Modes:
#   stop        stop-the-world, the cap raised (--scan-max-pause 60s): the
#               pause a whole 1 GiB scan takes
#   stop-capped stop-the-world at the default 200 ms cap: what a default
#               scan of this heap decides
#   live        two passes, nothing stopped
# Printed: pause per GiB scanned, CPU per scan and per GiB, what was found;
# first the probe-hit cost of this machine (bench/run.sh's trap section,
# bench/trapcost.py), as bench/node.sh prints it.
#
# Takes /tmp/memobserver-bpf.lock for the whole run. Report:
# bench/out/reach-<timestamp>.txt; raw events and logs: bench/out/reach-<timestamp>/.
# Run as root.
#
# Knobs (environment):
#   ROUNDS=3  MODES="stop stop-capped live"  BLOCKS=262144  SIZE=4096  LOST=1024
#   TRAP_ROUNDS=3 (0: no probe-hit cost)  QUIET_WAIT=60  SCAN_WAIT=300 (s per scan)
#   MEMOBSERVER=build/memobserver (a copy of it is measured)  OUT  LOCK
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

: "${ROUNDS:=3}" "${MODES:=stop stop-capped live}" "${BLOCKS:=262144}" "${SIZE:=4096}"
: "${LOST:=1024}" "${TRAP_ROUNDS:=3}" "${QUIET_WAIT:=60}" "${SCAN_WAIT:=300}"
: "${MEMOBSERVER:=$ROOT/build/memobserver}" "${LOCK:=/tmp/memobserver-bpf.lock}"
STAMP=$(date +%Y%m%d-%H%M%S)
: "${OUT:=$ROOT/bench/out/reach-$STAMP}"
REPORT="$OUT.txt"
FIXTURE=$ROOT/build/fixtures/reach_big

mkdir -p "$OUT/logs"
TICK_MS=$((1000 / $(getconf CLK_TCK)))
T0=$(date +%s)
MEMLEAK_OK=1
MEMLEAK_WHY=""
. "$ROOT/bench/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root"
build_memobserver
[ -x "$FIXTURE" ] || make -C "$ROOT" build/fixtures/reach_big >"$OUT/logs/build-fixture.log" 2>&1 ||
	die "cannot build $FIXTURE"
MOBIN="$OUT/memobserver"
cp "$MEMOBSERVER" "$MOBIN" || die "cannot copy $MEMOBSERVER"

# every child closes LOCKFD, so that nothing left behind can hold the lock
exec {LOCKFD}>>"$LOCK" || die "cannot open $LOCK"
if ! flock -n "$LOCKFD"; then
	say "waiting for $LOCK (other BPF work is running)"
	flock "$LOCKFD"
fi
say "holding $LOCK"

{
	echo "date=$(date -u +%FT%TZ)"
	echo "kernel=$(uname -r)"
	echo "cpus=$(nproc) model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	echo "memobserver=$MEMOBSERVER sha256=$(sha256sum "$MOBIN" | cut -c1-16) git=$(git -C "$ROOT" describe --always --dirty 2>/dev/null)"
	echo "heap=$BLOCKS blocks of $SIZE bytes + $LOST lost"
	echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"

if [ "$TRAP_ROUNDS" -gt 0 ]; then
	say "probe-hit cost: bench/run.sh's trap section, $TRAP_ROUNDS rounds"
	OUT="$OUT/trapcost" MEMOBSERVER="$MOBIN" SKIP_INSTALL=1 ROUNDS=0 REDIS_ROUNDS=0 \
		IDLE_SECONDS=1 TRAP_ROUNDS="$TRAP_ROUNDS" QUIET_WAIT="$QUIET_WAIT" \
		bash "$ROOT/bench/run.sh" >"$OUT/logs/trapcost.log" 2>&1 {LOCKFD}>&- ||
		say "the probe-hit cost run failed (see $OUT/logs/trapcost.log)"
fi

scans_in() { grep -c '"kind":"reachability_scan"' "$1" 2>/dev/null; }

# one_mode MODE: reach_big under memobserver, ROUNDS scans asked with SIGUSR1
one_mode() {
	local mode=$1 pre="$OUT/logs/$1" args=() fifo="$OUT/logs/$1.stdin" mopid i n w

	case $mode in
	stop) args=(--scan-mode stop --scan-max-pause 60s) ;;
	stop-capped) args=(--scan-mode stop) ;;
	live) args=(--scan-mode live) ;;
	*) die "unknown mode $mode" ;;
	esac
	rm -f "$fifo"
	mkfifo "$fifo"
	env --default-signal=INT "$MOBIN" --metrics off -f json -o "$OUT/$mode.json" \
		--min-size 1K --min-age 0 --interval 1h "${args[@]}" -- "$FIXTURE" \
		--blocks "$BLOCKS" --size "$SIZE" --lost "$LOST" <"$fifo" >"$pre.out" 2>"$pre.err" \
		{LOCKFD}>&- &
	mopid=$!
	exec {w}>"$fifo"
	if ! wait_for "$pre.out" '^DONE' 600 "$mopid"; then
		say "$mode: the fixture did not come up (see $pre.err)"
		exec {w}>&-
		stop_proc "$mopid" 5
		return
	fi
	for ((i = 1; i <= ROUNDS; i++)); do
		kill -USR1 "$mopid"
		for ((n = 0; n < SCAN_WAIT * 10; n++)); do
			[ "$(scans_in "$OUT/$mode.json")" -ge "$i" ] && break
			kill -0 "$mopid" 2>/dev/null || break
			sleep 0.1
		done
		say "$mode: scan $i of $ROUNDS done"
	done
	exec {w}>&-
	stop_proc "$mopid" 60
	wait "$mopid" 2>/dev/null
}

for m in $MODES; do
	one_mode "$m"
done
echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
echo "elapsed_s=$(($(date +%s) - T0))" >>"$OUT/machine.txt"

python3 - "$OUT" "$MODES" "$ROOT/bench" <<'EOF' | tee "$REPORT"
import contextlib, io, json, os, statistics, sys

out, modes, bench = sys.argv[1], sys.argv[2].split(), sys.argv[3]
sys.path.insert(0, bench)
m = dict(l.strip().split("=", 1) for l in open(os.path.join(out, "machine.txt")) if "=" in l)
print("# Reachability scans through memobserver\n")
print(f"{m.get('date')}, kernel {m.get('kernel')}, {m.get('cpus')}; heap: {m.get('heap')}; "
      f"load {m.get('load_start')} at the start, {m.get('load_end')} at the end; "
      f"{m.get('memobserver')}\n")

print("## Probe-hit cost on this machine\n")
tp = os.path.join(out, "trapcost")
buf = io.StringIO()
try:
    from summarize import traps
    with contextlib.redirect_stdout(buf):
        traps(tp)
except Exception as e:  # a failed trap run leaves no csv
    buf.write("")
print(buf.getvalue().replace("### What one probe costs", "What one probe costs") if buf.getvalue().strip()
      else "Not measured (TRAP_ROUNDS=0, or see %s).\n" % os.path.join(out, "logs", "trapcost.log"))

print("## One scan of the heap\n")
print("| mode | scans | GiB scanned | pause s | pause per GiB s | CPU s | CPU per GiB s | definitely lost | reachable | unknown |")
print("|---|---|---|---|---|---|---|---|---|---|")
for mode in modes:
    path = os.path.join(out, mode + ".json")
    evs = []
    if os.path.exists(path):
        for line in open(path):
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("kind") == "reachability_scan":
                evs.append(e)
    if not evs:
        print(f"| {mode} | 0 | | | | | | | | |")
        continue
    gib = [e["scanned_bytes"] / 2**30 for e in evs]
    pause = [e["pause_seconds"] for e in evs]
    cpu = [e["cpu_seconds"] for e in evs]
    med = statistics.median
    def rng(v, f="%.3f"):
        return (f % med(v)) + ((" (" + f % min(v) + "-" + f % max(v) + ")") if len(v) > 1 else "")
    ppg = [p / g for p, g in zip(pause, gib) if g]
    cpg = [c / g for c, g in zip(cpu, gib) if g]
    b = evs[-1]["reachability_bytes"]
    blocks = evs[-1].get("reachability_blocks")
    print(f"| {mode} | {len(evs)} | {rng(gib, '%.2f')} | {rng(pause)} | {rng(ppg) if ppg else '-'} | "
          f"{rng(cpu)} | {rng(cpg) if cpg else '-'} | {b['definitely_lost'] >> 10} KiB | "
          f"{b['reachable'] >> 20} MiB | {b['unknown'] >> 20} MiB"
          f"{' (' + evs[-1]['reachability_reason'] + ')' if evs[-1].get('reachability_reason') else ''} |")
print()
print("pause: the process stopped (stop modes; live: none). CPU: memobserver's, all its threads, "
      "for the whole scan (a live scan is two passes). Figures: median (min-max) over the scans.")
EOF
say "done in $(($(date +%s) - T0)) s; report $REPORT, raw events and logs in $OUT"
