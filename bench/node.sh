#!/usr/bin/env bash
# bench/node.sh - what memobserver costs a node, on node workloads, next to
# no observer in the same run.
#
# memobserver is meant to run on every node all the time, system-wide. This
# measures, for each workload, every tracer against "none", the tracers
# alternating round by round (the order rotates each round):
#   build   the project's own parallel build from clean: a copy of the
#           checkout's HEAD (git archive), `make -jBUILD_JOBS BUILD_TARGET`
#           after removing its build/ (one untimed build first warms caches)
#   redis   redis-benchmark SET and GET against a redis-server of our own
#   idle    nothing runs for IDLE_SECONDS: the tracer's own CPU and RSS only
#   exits   EXITS short processes (EXIT_CMD in a shell loop): the tracer's
#           RSS after EXITS_WARMUP of them and at the end
# For every run: the workload's wall time (requests/s for redis), the
# slowdown against "none" of the same round, the tracer's CPU seconds
# (/proc/PID/stat utime+stime, with its parser
# child's) as a share of one core over the workload's wall time, its peak and
# final RSS (VmHWM, VmRSS; summed over the same processes). First the probe-hit cost
# of this machine (bench/run.sh's trap section, bench/trapcost.py).
#
# Takes /tmp/memobserver-bpf.lock for the whole run, then waits until the
# 1-minute load average has stayed below LOAD_MAX for LOAD_CALM seconds (at
# most LOAD_WAIT seconds; the report then says loudly that the machine was
# busy). Report: bench/out/node-<timestamp>.txt; raw figures and logs:
# bench/out/node-<timestamp>/. Run as root.
#
# Knobs (environment):
#   ROUNDS=3  WORKLOADS="build redis idle exits"  TRACERS="none default balanced memleak"
#   IDLE_SECONDS=60   BUILD_TARGET=build/memobserver   BUILD_JOBS=$(nproc)
#   REDIS_REQUESTS=200000   REDIS_PORT (default: a free one in 19100-19999)
#   REDIS_WARM=20000 (requests of an untimed redis-benchmark before each timed one; 0: none)
#   REDIS_PIN="0 1" (CPUs of redis-server and redis-benchmark; off: unpinned)
#   EXITS=10000  EXITS_WARMUP=1000  EXIT_CMD=/bin/true  EXITS_TRACERS="none default"
#   TRAP_ROUNDS=3 (0: no probe-hit cost)   LOAD_MAX=1.0  LOAD_CALM=30  LOAD_WAIT=300
#   READY_WAIT=180 (s for a tracer to come up)   QUIET_WAIT=60   SKIP_INSTALL=1
#   MEMOBSERVER=build/memobserver (a copy of it is measured)   OUT   LOCK
# Tracers: TRACER_<name> is its command line (words split on blanks; {MO} is
# the measured copy of memobserver, {PID} the workload's target process) and
# READY_<name> the line it prints once attached. TRACER_<name>_<workload>
# overrides it for one workload; a value "skip: REASON" skips that pair, and
# a command with {PID} is skipped where the workload has no target process.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

: "${ROUNDS:=3}" "${WORKLOADS:=build redis idle exits}" "${TRACERS:=none default balanced memleak}"
: "${IDLE_SECONDS:=60}" "${BUILD_TARGET:=build/memobserver}" "${BUILD_JOBS:=$(nproc)}"
: "${REDIS_REQUESTS:=200000}" "${REDIS_WARM:=20000}" "${EXITS:=10000}" "${EXITS_WARMUP:=1000}" "${EXIT_CMD:=/bin/true}"
: "${EXITS_TRACERS:=none default}" "${TRAP_ROUNDS:=3}"
: "${LOAD_MAX:=1.0}" "${LOAD_CALM:=30}" "${LOAD_WAIT:=300}" "${READY_WAIT:=180}" "${QUIET_WAIT:=60}"
: "${MEMOBSERVER:=$ROOT/build/memobserver}" "${LOCK:=/tmp/memobserver-bpf.lock}"
STAMP=$(date +%Y%m%d-%H%M%S)
: "${OUT:=$ROOT/bench/out/node-$STAMP}"
REPORT="$OUT.txt"

# -v only adds the "observing" line and one line per allocator library
: "${TRACER_default:={MO\} --metrics off -q -v}" "${READY_default:=observing}"
: "${TRACER_balanced:={MO\} --mode balanced --metrics off -q -v}" "${READY_balanced:=observing}"
: "${TRACER_memleak:=memleak-bpfcc -p {PID\}}" "${READY_memleak:=Top }"
: "${TRACER_memleak_build:=skip: memleak has no system-wide mode for user space (without -p or -c it traces kernel allocations and -c probes the make process alone: uprobes attached for one pid do not follow fork)}"

mkdir -p "$OUT/logs"
TICK_MS=$((1000 / $(getconf CLK_TCK)))
T0=$(date +%s)
MEMLEAK_OK=1
MEMLEAK_WHY=""
CSV="$OUT/node.csv"
TPID=""
RPID=""
WORK=""

. "$ROOT/bench/lib.sh"

# ---------------------------------------------------------------- machine
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# Waits for LOAD_CALM seconds in a row with the 1-minute load below
# LOAD_MAX, at most LOAD_WAIT seconds; prints the seconds waited, or
# "busy" when the machine never calmed down.
wait_calm() {
	local i calm=0

	for ((i = 0; i < LOAD_WAIT; i++)); do
		if awk -v l="$(loadavg)" -v m="$LOAD_MAX" 'BEGIN { exit !(l < m) }'; then
			calm=$((calm + 1))
			[ "$calm" -ge "$LOAD_CALM" ] && { echo "$i"; return; }
		else
			calm=0
		fi
		[ $((i % 30)) = 0 ] && say "load $(loadavg): waiting for < $LOAD_MAX over ${LOAD_CALM} s"
		sleep 1
	done
	echo busy
}

# a free TCP port on loopback in 19100-19999
free_port() {
	local p i

	for ((i = 0; i < 50; i++)); do
		p=$((19100 + RANDOM % 900))
		ss -Hltn "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return; }
	done
	return 1
}

# "HWM_KB RSS_KB" of a process with its parser child (sums)
proc_mem() {
	local q h=0 r=0 a b

	for q in $(proc_tree "$1"); do
		read -r a b < <(awk '/^VmHWM:/ { h = $2 } /^VmRSS:/ { r = $2 } END { print h + 0, r + 0 }' \
			"/proc/$q/status" 2>/dev/null) || continue
		h=$((h + ${a:-0})) r=$((r + ${b:-0}))
	done
	echo "$h $r"
}

# CPU seconds (utime+stime, all threads) of a process and its parser child
proc_cpu() {
	local u

	u=$(proc_usage "$1") || return 1
	awk -v ms="${u#* }" 'BEGIN { printf "%.2f", ms / 1000 }'
}

# ---------------------------------------------------------------- tracers
# The command line of tracer $1 for workload $2 ({MO} replaced; {PID} kept),
# or "skip: REASON".
tracer_cmd() {
	local t=$1 w=$2 v="TRACER_$1_$2" cmd

	if [ -n "${!v+x}" ]; then
		cmd=${!v}
	else
		v="TRACER_$t"
		[ -n "${!v+x}" ] || { echo "skip: no TRACER_$t is defined"; return; }
		cmd=${!v}
	fi
	case $cmd in skip:*) echo "$cmd"; return ;; esac
	if [[ $cmd == *'{PID}'* ]] && [ "$w" != redis ]; then
		echo "skip: needs a target process ({PID}) and $w has none"
		return
	fi
	if [[ $cmd == memleak* ]] && [ "$MEMLEAK_OK" = 0 ]; then
		echo "skip: $MEMLEAK_WHY"
		return
	fi
	echo "${cmd//\{MO\}/$MOBIN}"
}

# starts tracer $1 with command line $2 on target pid $3, output in $4;
# sets TPID, returns 1 if it did not print READY_$1 within READY_WAIT s
start_tracer() {
	local t=$1 ready="READY_$1" argv

	read -ra argv <<<"${2//\{PID\}/$3}"
	PYTHONUNBUFFERED=1 env --default-signal=INT "${argv[@]}" >"$4" 2>&1 {LOCKFD}>&- &
	TPID=$!
	wait_for "$4" "${!ready:-READY_$t is not set}" "$READY_WAIT" "$TPID"
}

# ---------------------------------------------------------------- workloads
# Each sets W (a CSV fragment: wall_s,set_rps,get_rps,work_user_s,work_sys_s,
# rss_warm_kb) and returns 1 when the workload failed.

BUILD_SRC=""
prepare_build() {
	BUILD_SRC=$(mktemp -d /tmp/memobserver-node-build.XXXXXX)
	WORK="$WORK $BUILD_SRC"
	git -C "$ROOT" archive HEAD | tar -x -C "$BUILD_SRC" ||
		die "cannot copy the source tree (git archive HEAD)"
	say "build: warming up with one untimed build of $BUILD_TARGET in $BUILD_SRC"
	make -C "$BUILD_SRC" -j"$BUILD_JOBS" "$BUILD_TARGET" >"$OUT/logs/build-warmup.log" 2>&1 {LOCKFD}>&- ||
		die "the build fails without a tracer (see $OUT/logs/build-warmup.log)"
}

work_build() { # log-prefix
	local t rc

	rm -rf "$BUILD_SRC/build"
	sync
	t=$( { TIMEFORMAT='%3R %3U %3S'; time make -C "$BUILD_SRC" -j"$BUILD_JOBS" "$BUILD_TARGET" \
		>"$1.make" 2>&1 {LOCKFD}>&-; } 2>&1)
	rc=$?
	set -- $t
	W="$1,,,$2,$3,"
	return $rc
}

REDIS_CSV_ARGS=()
prepare_redis() {
	: "${REDIS_PORT:=$(free_port)}"
	[ -n "$REDIS_PORT" ] || die "no free port for redis-server"
	if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
		die "redis-server or redis-benchmark missing (run without SKIP_INSTALL=1)"
	fi
	redis_start {LOCKFD}>&- || die "redis-server did not start on port $REDIS_PORT"
	REDIS_CSV_ARGS=(-h 127.0.0.1 -p "$REDIS_PORT" --csv -n "$REDIS_REQUESTS" -t set,get -P 1)
	REDIS_CLIENT=()
	if [ "$REDIS_PIN" != off ]; then
		# server and client each on a CPU of its own in every run: where the
		# scheduler put them otherwise moved the throughput by a third
		set -- $REDIS_PIN
		taskset -apc "$1" "$RPID" >/dev/null || die "cannot pin redis-server to CPU $1"
		REDIS_CLIENT=(taskset -c "$2")
	fi
	redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -q -n 10000 -t set,get -P 1 >/dev/null 2>&1
	say "redis: redis-server pid $RPID on port $REDIS_PORT, $REDIS_REQUESTS requests per run"
}

# An untimed redis-benchmark, in every redis run with or without a tracer:
# memobserver reads a program's files once in its life (symbols, unwind
# rows, its parser child started): under a fresh memobserver the first
# redis-benchmark costs it 0.15 CPU-s, the next ones 0.01-0.02 CPU-s each.
# A node that runs it all the time has seen redis-benchmark before; the
# first sight is reported with the start-up.
warm_redis() {
	"${REDIS_CLIENT[@]}" redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -q -n "$REDIS_WARM" \
		-t set,get -P 1 >/dev/null 2>&1 {LOCKFD}>&-
}

work_redis() { # log-prefix
	local ts te set get

	ts=$(date +%s.%N)
	timeout 900 "${REDIS_CLIENT[@]}" redis-benchmark "${REDIS_CSV_ARGS[@]}" >"$1.csv" 2>&1 {LOCKFD}>&- ||
		return 1
	te=$(date +%s.%N)
	set=$(awk -F'"' '$2 == "SET" { print $4 }' "$1.csv")
	get=$(awk -F'"' '$2 == "GET" { print $4 }' "$1.csv")
	[ -n "$set" ] && [ -n "$get" ] || return 1
	W="$(awk -v a="$ts" -v b="$te" 'BEGIN { printf "%.2f", b - a }'),$set,$get,,,"
}

work_idle() {
	sleep "$IDLE_SECONDS" {LOCKFD}>&-
	W="$IDLE_SECONDS,,,,,"
}

# EXIT_CMD run EXITS times from one shell, RSS of the tracer taken after the
# first EXITS_WARMUP
work_exits() { # log-prefix
	local t1 t2 warm=""

	t1=$( { TIMEFORMAT='%3R'; time bash -c 'for ((i = 0; i < $1; i++)); do $2; done' _ \
		"$EXITS_WARMUP" "$EXIT_CMD" >"$1.loop" 2>&1 {LOCKFD}>&-; } 2>&1) || return 1
	[ -n "$TPID" ] && warm=$(proc_mem "$TPID") && warm=${warm#* }
	t2=$( { TIMEFORMAT='%3R'; time bash -c 'for ((i = 0; i < $1; i++)); do $2; done' _ \
		"$((EXITS - EXITS_WARMUP))" "$EXIT_CMD" >>"$1.loop" 2>&1 {LOCKFD}>&-; } 2>&1) || return 1
	W="$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.3f", a + b }'),,,,,$warm"
}

# waits until the tracer has used no CPU for one second (at most 30 s):
# before a workload, so that its start-up is not measured as the workload's
# cost; after the exits, which it may still be catching up with (they count
# in its final RSS)
settle() {
	local i c0 c1

	c0=$(proc_cpu "$1") || return
	for ((i = 0; i < 30; i++)); do
		sleep 1
		c1=$(proc_cpu "$1") || return
		[ "$c1" = "$c0" ] && return
		c0=$c1
	done
}

# ---------------------------------------------------------------- one run
CSV_HEADER="round,workload,tracer,status,wall_s,set_rps,get_rps,work_user_s,work_sys_s,rss_warm_kb,tracer_ready_s,tracer_cpu_startup_s,tracer_cpu_s,tracer_hwm_kb,tracer_rss_kb,load_start,load_end,foreign_progs,note"

# round workload tracer status FIELDS note; FIELDS are the 14 columns from
# wall_s to foreign_progs
row() {
	local note=${6//,/;}

	echo "$1,$2,$3,$4,$5,${note//$'\n'/ }" >>"$CSV"
}

run_one() { # round workload tracer
	local r=$1 w=$2 t=$3 pre="$OUT/logs/$2-r$1-$3" cmd="" st=ok
	local l0 l1 c0="" c1="" cpu="" mem="" f0=0 f1=0 note="" ts ready=""

	W=",,,,,"
	TPID=""
	if [ "$t" != none ]; then
		cmd=$(tracer_cmd "$t" "$w")
		if [[ $cmd == skip:* ]]; then
			row "$r" "$w" "$t" skip ",,,,,,,,,,,,," "${cmd#skip: }"
			say "$w round $r $t: skipped: ${cmd#skip: }"
			return
		fi
	fi
	wait_quiet || note="foreign BPF probes present before the run"
	l0=$(loadavg)
	if [ -n "$cmd" ]; then
		echo "$cmd" >"$pre.cmd"
		ts=$(date +%s.%N)
		if ! start_tracer "$t" "$cmd" "$RPID" "$pre.log"; then
			row "$r" "$w" "$t" fail ",,,,,,,,,,,$l0,$(loadavg)," \
				"tracer did not come up: $(tail -n1 "$pre.log" 2>/dev/null | cut -c1-200)"
			say "$w round $r $t: did not come up (see $pre.log)"
			stop_proc "$TPID" 0
			return
		fi
		ready=$(awk -v a="$ts" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
		# the steady state, as on a node where it always runs: its
		# start-up work (reported apart) is over before the workload
		settle "$TPID"
		c0=$(proc_cpu "$TPID")
	fi
	if [ "$w" = redis ] && [ "$REDIS_WARM" -gt 0 ]; then
		warm_redis
		if [ -n "$TPID" ]; then
			settle "$TPID"
			c0=$(proc_cpu "$TPID")
		fi
	fi
	f0=$(foreign_probes "$TPID")
	"work_$w" "$pre" || { st=fail; note="workload failed (see $pre.*)"; }
	f1=$(foreign_probes "$TPID")
	if [ -n "$TPID" ]; then
		c1=$(proc_cpu "$TPID")
		[ "$w" = exits ] && settle "$TPID"
		mem=$(proc_mem "$TPID")
		kill -0 "$TPID" 2>/dev/null || { st=fail; note="tracer died during the run"; }
		stop_proc "$TPID" 0
	fi
	l1=$(loadavg)
	set -- $mem
	cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN { if (a != "" && b != "") printf "%.2f", b - a }')
	row "$r" "$w" "$t" "$st" "$W,$ready,$c0,$cpu,${1:-},${2:-},$l0,$l1,$((f0 > f1 ? f0 : f1))" "$note"
	say "$w round $r $t: $st ${W%%,*} s${cpu:+, tracer CPU $cpu s after $c0 s to start, HWM/RSS ${1:-?}/${2:-?} kB}, load $l0→$l1"
}

cleanup() {
	[ -n "$TPID" ] && kill -0 "$TPID" 2>/dev/null && stop_proc "$TPID" 0
	[ -n "$RPID" ] && kill -0 "$RPID" 2>/dev/null && redis_stop
	# shellcheck disable=SC2086
	[ -n "$WORK" ] && rm -rf $WORK
}

# ---------------------------------------------------------------- main
# bad settings: one line, and no report folder left behind
bad() {
	echo "node.sh: $*" >&2
	rm -rf "$OUT"
	exit 1
}
[ "$(id -u)" = 0 ] || bad "run as root (BPF)"
for w in $WORKLOADS; do
	case $w in build | redis | idle | exits) ;; *) bad "unknown workload '$w' (build redis idle exits)" ;; esac
done
# pinned redis needs two CPUs; one CPU: unpinned
if [ -z "${REDIS_PIN+x}" ]; then
	REDIS_PIN="0 1"
	[ "$(nproc)" -ge 2 ] || REDIS_PIN=off
fi
if [ "$REDIS_PIN" != off ]; then
	[[ $REDIS_PIN =~ ^[0-9]+\ [0-9]+$ ]] ||
		bad "REDIS_PIN must be two CPU numbers (server client) or off, not '$REDIS_PIN'"
	for c in $REDIS_PIN; do
		[ "$c" -lt "$(nproc)" ] || bad "REDIS_PIN: no CPU $c on this machine ($(nproc) CPUs)"
	done
fi
for v in ROUNDS IDLE_SECONDS REDIS_REQUESTS REDIS_WARM EXITS EXITS_WARMUP TRAP_ROUNDS LOAD_CALM LOAD_WAIT; do
	[[ ${!v} =~ ^[0-9]+$ ]] || bad "$v must be a whole number, not '${!v}'"
done
[ "$EXITS_WARMUP" -le "$EXITS" ] || bad "EXITS_WARMUP ($EXITS_WARMUP) is larger than EXITS ($EXITS)"
trap cleanup EXIT
trap 'exit 130' INT TERM
# every child closes LOCKFD, so that nothing left behind can hold the lock
# after this script is gone
exec {LOCKFD}>>"$LOCK" || die "cannot open $LOCK"

say "results in $OUT"
[ "${SKIP_INSTALL:-0}" = 1 ] || install_deps
link_headers || true
build_memobserver
# others may rebuild build/ during a run: measure one fixed copy
MOBIN="$OUT/memobserver"
cp "$MEMOBSERVER" "$MOBIN" || die "cannot copy $MEMOBSERVER"
[[ " $WORKLOADS " == *" build "* ]] && prepare_build

# Everything from here loads BPF programs or must not run beside someone
# else's: hold the lock to the end.
if ! flock -n "$LOCKFD"; then
	say "waiting for $LOCK (other BPF work is running)"
	flock "$LOCKFD"
fi
say "holding $LOCK"
[[ " $TRACERS " == *" memleak "* ]] && check_memleak {LOCKFD}>&-
[ -n "$MEMLEAK_WHY" ] && MEMLEAK_OK=0

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
say "load $LOAD_BEFORE; waiting for the machine to calm down"
CALM=$(wait_calm)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
{
	echo "date=$(date -u +%FT%TZ)"
	echo "nproc=$(nproc)"
	echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "kernel=$(uname -r)"
	echo "memory=$(free -h | awk '/Mem:/ { print $2 }')"
	echo "memobserver=$MEMOBSERVER sha256=$(sha256sum "$MOBIN" | cut -c1-16) git=$(git -C "$ROOT" describe --always --dirty 2>/dev/null)"
	echo "memleak=$(dpkg-query -W -f '${Version}' bpfcc-tools 2>/dev/null) ok=$MEMLEAK_OK $MEMLEAK_WHY"
	echo "redis=$(redis-server --version 2>/dev/null | awk '{ print $3, $6 }')"
	echo "exits=$EXITS"
	echo "tracers=$TRACERS"
	echo "settings=ROUNDS=$ROUNDS WORKLOADS='$WORKLOADS' TRACERS='$TRACERS' IDLE_SECONDS=$IDLE_SECONDS BUILD_TARGET=$BUILD_TARGET BUILD_JOBS=$BUILD_JOBS REDIS_REQUESTS=$REDIS_REQUESTS REDIS_WARM=$REDIS_WARM EXITS=$EXITS EXITS_WARMUP=$EXITS_WARMUP EXIT_CMD=$EXIT_CMD EXITS_TRACERS='$EXITS_TRACERS' TRAP_ROUNDS=$TRAP_ROUNDS REDIS_PIN='$REDIS_PIN'"
	for t in $TRACERS; do
		[ "$t" = none ] && continue
		for w in $WORKLOADS; do echo "tracer.$t.$w=$(tracer_cmd "$t" "$w")"; done
	done
	echo "load_before_wait=$LOAD_BEFORE"
	echo "load_calm=LOAD_MAX=$LOAD_MAX LOAD_CALM=$LOAD_CALM LOAD_WAIT=$LOAD_WAIT waited=$CALM"
	echo "load_start=$LOAD_AFTER"
} >"$OUT/machine.txt"
[ "$CALM" = busy ] && say "WARNING: the load never stayed below $LOAD_MAX for $LOAD_CALM s; measuring on a busy machine"

if [ "$TRAP_ROUNDS" -gt 0 ]; then
	say "probe-hit cost: bench/run.sh's trap section, $TRAP_ROUNDS rounds"
	OUT="$OUT/trapcost" MEMOBSERVER="$MOBIN" SKIP_INSTALL=1 ROUNDS=0 REDIS_ROUNDS=0 \
		IDLE_SECONDS=1 TRAP_ROUNDS="$TRAP_ROUNDS" QUIET_WAIT="$QUIET_WAIT" \
		bash "$ROOT/bench/run.sh" >"$OUT/logs/trapcost.log" 2>&1 {LOCKFD}>&- ||
		say "the probe-hit cost run failed (see $OUT/logs/trapcost.log)"
fi

echo "$CSV_HEADER" >"$CSV"
[[ " $WORKLOADS " == *" redis "* ]] && prepare_redis
read -ra TRS <<<"$TRACERS"
NT=${#TRS[@]}
for ((round = 1; round <= ROUNDS; round++)); do
	for w in $WORKLOADS; do
		# rotate the order every round: no tracer always runs first or last
		for ((i = 0; i < NT; i++)); do
			t=${TRS[$(((i + round - 1) % NT))]}
			[ "$w" = idle ] && [ "$t" = none ] && continue	# nothing to measure
			[ "$w" = exits ] && [[ " $EXITS_TRACERS " != *" $t "* ]] && continue
			run_one "$round" "$w" "$t"
		done
	done
done
echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
echo "elapsed_s=$(($(date +%s) - T0))" >>"$OUT/machine.txt"
[ -n "$RPID" ] && redis_stop && RPID=""

python3 "$ROOT/bench/node_summary.py" "$OUT" | tee "$REPORT"
say "done in $(($(date +%s) - T0)) s; report $REPORT, raw figures and logs in $OUT"
