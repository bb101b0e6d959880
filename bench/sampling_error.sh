#!/usr/bin/env bash
# bench/sampling_error.sh - byte sampling (--sample-bytes R) against 1-in-N
# (--sample N) at equal tracked-allocation counts, in one run:
#   1. accuracy: RUNS runs of each on tests/fixtures/sample_mixed (known
#      truth: per stack many small leaks and a few large ones, and a stack
#      that frees all it allocates), the relative error of each leaking
#      stack's estimated unfreed bytes. N is chosen so that 1-in-N tracks as
#      many allocations on average as byte sampling does on this fixture.
#   2. cost: ns per malloc/free pair of bench/malloc_bench (fixed64, mixed;
#      1 thread) with no observer, every allocation tracked (--min-size 1),
#      --sample N and --sample-bytes R (N again for equal tracked counts on
#      that workload), and the ns per pair each saves against tracking all.
#   3. the machine's probe-hit cost: bench/run.sh's trap section (empty BPF
#      programs, bench/trapcost.py), the floor under any sampling: a call
#      sampled out still hits its entry probe.
# Prints one Markdown summary (bench/sampling_summary.py); raw figures stay in
# bench/out/sampling-<timestamp>/.
#
# Run as root, under the BPF lock (other tests count probes system-wide):
#   flock /tmp/memobserver-bpf.lock bash bench/sampling_error.sh
# Knobs (environment):
#   RUNS=20  SAMPLE_BYTES=64K  SCALE=1 (fixture size, 1 to 8)
#   PAIR_ROUNDS=3  PAIR_SECONDS=2  PAIR_WORKLOADS="fixed64 mixed"
#   TRAP_ROUNDS=3 (0: no probe-hit cost)  QUIET_WAIT=60
#   MEMOBSERVER=build/memobserver  OUT=bench/out/sampling-<timestamp>
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

: "${RUNS:=20}" "${SAMPLE_BYTES:=64K}" "${SCALE:=1}"
: "${PAIR_ROUNDS:=3}" "${PAIR_SECONDS:=2}" "${PAIR_WORKLOADS:=fixed64 mixed}"
: "${TRAP_ROUNDS:=3}" "${QUIET_WAIT:=60}"
: "${MEMOBSERVER:=$ROOT/build/memobserver}"
: "${OUT:=$ROOT/bench/out/sampling-$(date +%Y%m%d-%H%M%S)}"

mkdir -p "$OUT/logs" "$OUT/runs"
T0=$(date +%s)
. "$ROOT/bench/lib.sh"

CHECK="$ROOT/tests/bpf/sampling_check.py"
FIXTURE="$ROOT/build/fixtures/sample_mixed"
BENCH="$OUT/malloc_bench"

[ "$(id -u)" = 0 ] || die "run as root (BPF)"
build_memobserver
[ -x "$FIXTURE" ] || make -C "$ROOT" build/fixtures/sample_mixed >"$OUT/logs/build.log" 2>&1 ||
	die "cannot build $FIXTURE"
# others may rebuild build/ during a run: measure fixed copies
cp "$MEMOBSERVER" "$OUT/memobserver" && cp "$FIXTURE" "$OUT/sample_mixed" || die "cannot copy"
MO="$OUT/memobserver"
FIXTURE="$OUT/sample_mixed"
cc -std=gnu11 -O2 -g -Wall -Wextra -pthread -o "$BENCH" "$ROOT/bench/malloc_bench.c" -lm ||
	die "cannot compile bench/malloc_bench.c"
MO_ARGS=(--metrics off)
"$MO" --help 2>&1 | grep -q -- '--metrics' || MO_ARGS=()

# R in bytes, as memobserver reads it (K = 1024)
R=$(python3 -c 'import re, sys
m = re.fullmatch(r"(\d+)([KMG]?)", sys.argv[1].upper())
sys.exit("SAMPLE_BYTES: a size such as 65536, 64K or 1M") if not m else \
print(int(m[1]) << {"": 0, "K": 10, "M": 20, "G": 30}[m[2]])' "$SAMPLE_BYTES") || die "bad SAMPLE_BYTES"

{
	echo "date=$(date -u +%FT%TZ)"
	echo "kernel=$(uname -r)"
	echo "cpus=$(nproc) model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "memobserver=git $(git -C "$ROOT" describe --always --dirty 2>/dev/null) sha256=$(sha256sum "$MO" | cut -c1-16)"
	echo "runs=$RUNS sample_bytes=$R scale=$SCALE pair_rounds=$PAIR_ROUNDS pair_seconds=$PAIR_SECONDS"
} >"$OUT/machine.txt"
say "results in $OUT"

# ---------------------------------------------------------------- accuracy
"$FIXTURE" --scale "$SCALE" >"$OUT/fixture.out" 2>&1 || die "fixture failed"
CALLS=$(awk '$1 == "MIX" { s += $4 } END { print s }' "$OUT/fixture.out")
EXPECTED=$(python3 "$CHECK" expected_tracked "$R" "$OUT/fixture.out")
N=$(awk -v c="$CALLS" -v e="$EXPECTED" 'BEGIN { n = int(c / e + 0.5); print n < 2 ? 2 : n }')
echo "accuracy_calls=$CALLS expected_tracked=$EXPECTED n=$N" >>"$OUT/machine.txt"
say "fixture: $CALLS allocations; --sample-bytes $R tracks $EXPECTED on average: --sample $N"

accuracy_run() { # i mode
	local pre="$OUT/runs/$2-$1" opt

	[ "$2" = bytes ] && opt=(--sample-bytes "$R") || opt=(--sample "$N")
	timeout 300 "$MO" "${MO_ARGS[@]}" --format json --min-age 0 --min-size 1 "${opt[@]}" \
		-o "$pre.json" -- "$FIXTURE" --scale "$SCALE" >"$pre.out" 2>"$pre.err" ||
		say "run $1 $2 failed: $(head -c 200 "$pre.err")"
}

for ((i = 1; i <= RUNS; i++)); do
	wait_quiet || say "foreign BPF probes on the machine during accuracy run $i"
	# alternate which goes first: drift of the machine hits both alike
	if ((i % 2)); then
		accuracy_run "$i" bytes
		accuracy_run "$i" rate
	else
		accuracy_run "$i" rate
		accuracy_run "$i" bytes
	fi
	((i % 5 == 0)) && say "accuracy: $i of $RUNS runs"
done
python3 "$CHECK" errors bytes "$R" "$OUT/fixture.out" "$OUT"/runs/bytes-*.json >"$OUT/accuracy-bytes.json"
python3 "$CHECK" errors rate "$N" "$OUT/fixture.out" "$OUT"/runs/rate-*.json >"$OUT/accuracy-rate.json"

# ---------------------------------------------------------------- cost
# the share of calls byte sampling tracks on a workload, from one run
calibrate() { # workload: prints N for equal tracked counts
	local pre="$OUT/logs/calibrate-$1" bpid tpid

	"$BENCH" --mode "$1" --threads 1 --seconds 1 >"$pre.bench" 2>&1 &
	bpid=$!
	wait_for "$pre.bench" READY 20 "$bpid" || return 1
	env --default-signal=INT "$MO" "${MO_ARGS[@]}" -p "$bpid" --min-size 1 --sample-bytes "$R" \
		--format json -o "$pre.json" -v >"$pre.out" 2>"$pre.err" &
	tpid=$!
	wait_for "$pre.err" observing 30 "$tpid" || { kill "$bpid" "$tpid"; return 1; }
	kill -USR1 "$bpid"
	wait "$bpid"
	stop_proc "$tpid" 15
	python3 -c 'import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if "\"summary\"" in l][-1]
print(max(2, round(s["allocator_calls"] / max(1, s["allocations_tracked"]))))' "$pre.json"
}

PAIR_CSV="$OUT/pairs.csv"
echo "round,workload,tracer,n,ns_per_pair,tracked,alloc_calls,foreign_progs" >"$PAIR_CSV"

pair_run() { # round workload tracer n
	local pre="$OUT/logs/pair-r$1-$2-$3" bpid tpid="" line f=0 opt=() tracked="" calls=""

	case $3 in
	all) opt=(--min-size 1) ;;
	rate) opt=(--min-size 1 --sample "$4") ;;
	bytes) opt=(--min-size 1 --sample-bytes "$R") ;;
	esac
	wait_quiet || say "foreign BPF probes on the machine: pair run $1 $2 $3"
	"$BENCH" --mode "$2" --threads 1 --seconds "$PAIR_SECONDS" >"$pre.bench" 2>&1 &
	bpid=$!
	wait_for "$pre.bench" READY 20 "$bpid" || { say "benchmark did not start: $pre.bench"; return; }
	if [ "$3" != none ]; then
		env --default-signal=INT "$MO" "${MO_ARGS[@]}" -p "$bpid" "${opt[@]}" --format json \
			-o "$pre.json" -v >"$pre.out" 2>"$pre.err" &
		tpid=$!
		if ! wait_for "$pre.err" observing 30 "$tpid"; then
			say "memobserver did not come up: $(tail -n1 "$pre.err")"
			kill "$bpid" "$tpid" 2>/dev/null
			wait "$bpid" 2>/dev/null
			return
		fi
	fi
	f=$(foreign_probes "$tpid")
	kill -USR1 "$bpid"
	wait "$bpid"
	if [ -n "$tpid" ]; then
		stop_proc "$tpid" 15
		read -r tracked calls < <(python3 -c 'import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if "\"summary\"" in l][-1]
print(s["allocations_tracked"], s["allocator_calls"])' "$pre.json" 2>/dev/null)
	fi
	line=$(grep '^RESULT' "$pre.bench")
	echo "$1,$2,$3,$4,$(sed -n 's/.* ns_per_pair=\([0-9.]*\).*/\1/p' <<<"$line"),$tracked,$calls,$f" >>"$PAIR_CSV"
	say "pairs round $1 $2 $3: $(sed -n 's/.* ns_per_pair=\([0-9.]*\).*/\1/p' <<<"$line") ns/pair"
}

TRACERS=(none all rate bytes)
for w in $PAIR_WORKLOADS; do
	n=$(calibrate "$w") || { say "calibration on $w failed"; continue; }
	say "$w: --sample-bytes $R tracks 1 call in $n: --sample $n"
	for ((round = 1; round <= PAIR_ROUNDS; round++)); do
		for ((i = 0; i < ${#TRACERS[@]}; i++)); do
			pair_run "$round" "$w" "${TRACERS[$(((i + round - 1) % ${#TRACERS[@]}))]}" "$n"
		done
	done
done

# ---------------------------------------------------------------- probe hits
if [ "$TRAP_ROUNDS" -gt 0 ]; then
	say "probe-hit cost: bench/run.sh's trap section, $TRAP_ROUNDS rounds"
	OUT="$OUT/trapcost" MEMOBSERVER="$MO" SKIP_INSTALL=1 ROUNDS=0 REDIS_ROUNDS=0 \
		IDLE_SECONDS=1 TRAP_ROUNDS="$TRAP_ROUNDS" QUIET_WAIT="$QUIET_WAIT" \
		bash "$ROOT/bench/run.sh" >"$OUT/logs/trapcost.log" 2>&1 ||
		say "the probe-hit cost run failed (see $OUT/logs/trapcost.log)"
fi

echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
echo "elapsed_s=$(($(date +%s) - T0))" >>"$OUT/machine.txt"
python3 "$ROOT/bench/sampling_summary.py" "$OUT" | tee "$OUT/summary.md"
