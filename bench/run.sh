#!/usr/bin/env bash
# bench/run.sh - memobserver against no tracer and bcc's memleak, side by side (issue 6).
#
# One command: installs what it needs from Debian, builds the microbenchmark,
# runs every workload under every tracer in alternating order for ROUNDS rounds,
# then redis-server under redis-benchmark, and prints a Markdown summary.
# Raw figures and every tracer's output stay in bench/out/<timestamp>/.
#
# Knobs (environment):
#   QUICK=1             about 3 minutes: 1 round, 1 s runs, small redis run
#   ROUNDS=5            rounds of the microbenchmark (each runs every tracer once)
#   BENCH_SECONDS=2     measured seconds per microbenchmark run
#   WORKLOADS="fixed64:1 fixed64:2 mixed:1 mixed:2 fixed16k:1 realistic:1"
#   TRACERS="none balanced aggressive conservative memleak"
#                       also: balanced_plain (MEMOBSERVER_NO_SESSION=1), memleak_s10 (-s 10),
#                       balanced_budgetN (balanced with --max-overhead N, e.g. balanced_budget5)
#   REDIS_ROUNDS=3  REDIS_REQUESTS=200000  REDIS_PORT=6399
#   REDIS_TRACERS="none balanced balanced_budget5 memleak memleak_je"   (memleak_je: -O libjemalloc)
#   TRAP_ROUNDS=3       rounds of the probe-cost section (empty BPF programs, bench/trapcost.py)
#   IDLE_SECONDS=6      how long memobserver watches an idle process for its idle RSS/CPU
#   QUIET_WAIT=60       longest wait before a run for other tracers on the machine to go away
#   ATTEMPTS=3          tries per run when a tracer fails to attach or a foreign one appears
#   MEMLEAK_WAIT=30     longest wait for memleak's first report before giving up on it
#   MEMOBSERVER=build/memobserver   SKIP_INSTALL=1   OUT=bench/out/<timestamp>
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [ "${QUICK:-0}" = 1 ]; then
	: "${ROUNDS:=1}" "${BENCH_SECONDS:=1}" "${REDIS_ROUNDS:=1}" "${REDIS_REQUESTS:=20000}"
	: "${IDLE_SECONDS:=3}" "${TRAP_ROUNDS:=1}"
fi
: "${TRAP_ROUNDS:=3}" "${QUIET_WAIT:=60}" "${ATTEMPTS:=3}"
: "${ROUNDS:=5}" "${BENCH_SECONDS:=2}" "${REDIS_ROUNDS:=3}" "${REDIS_REQUESTS:=200000}"
: "${REDIS_PORT:=6399}" "${IDLE_SECONDS:=6}" "${MEMLEAK_WAIT:=30}"
: "${WORKLOADS:=fixed64:1 fixed64:2 mixed:1 mixed:2 fixed16k:1 realistic:1}"
: "${TRACERS:=none balanced aggressive conservative memleak}"
: "${REDIS_TRACERS:=none balanced balanced_budget5 memleak memleak_je}"	# memleak_je: see memleak_jemalloc
: "${MEMOBSERVER:=$ROOT/build/memobserver}"
: "${OUT:=$ROOT/bench/out/$(date +%Y%m%d-%H%M%S)}"

mkdir -p "$OUT/logs"
BENCH="$ROOT/bench/out/malloc_bench"
TICK_MS=$((1000 / $(getconf CLK_TCK)))
T0=$(date +%s)
MEMLEAK_OK=1
MEMLEAK_WHY=""

. "$ROOT/bench/lib.sh"

# ---------------------------------------------------------------- setup
build_bench() {
	mkdir -p "$(dirname "$BENCH")"
	cc -std=gnu11 -O2 -g -Wall -Wextra -pthread -o "$BENCH" "$ROOT/bench/malloc_bench.c" -lm ||
		die "cannot compile bench/malloc_bench.c"
}

MO_ARGS=()	# --metrics off where the build has a metrics listener (set in main)

# starts tracer $1 on pid $2 with output prefix $3; sets TPID, returns 1 if it
# did not come up. Background jobs of a script ignore SIGINT unless reset.
start_tracer() {
	local t=$1 pid=$2 pre=$3 ok=0

	TPID=""
	case $t in
	balanced | aggressive | conservative | balanced_plain | balanced_budget*)
		local mode=${t%_plain} budget=()
		if [ "${t#balanced_budget}" != "$t" ]; then
			mode=balanced
			budget=(--max-overhead "${t#balanced_budget}")
		fi
		if [ "$t" = balanced_plain ]; then
			MEMOBSERVER_NO_SESSION=1 env --default-signal=INT "$MEMOBSERVER" -p "$pid" \
				--mode "$mode" "${MO_ARGS[@]}" -q -v >"$pre.out" 2>"$pre.err" &
		else
			env --default-signal=INT "$MEMOBSERVER" -p "$pid" --mode "$mode" \
				"${budget[@]}" "${MO_ARGS[@]}" -q -v >"$pre.out" 2>"$pre.err" &
		fi
		TPID=$!
		wait_for "$pre.err" 'observing' 30 "$TPID" && ok=1
		;;
	memleak | memleak_s10 | memleak_je)
		local cmd=(memleak-bpfcc) extra=()
		[ "$t" = memleak_s10 ] && extra=(-s 10)
		if [ "$t" = memleak_je ]; then
			# the interpreter bcc is installed for, from memleak's #! line
			cmd=("$(head -n1 "$(command -v memleak-bpfcc)" | sed 's/^#! *//; s/ .*//')"
				"$(memleak_jemalloc)")
			extra=(-O "$(jemalloc_path "$pid")")
		fi
		PYTHONUNBUFFERED=1 env --default-signal=INT "${cmd[@]}" -p "$pid" "${extra[@]}" \
			>"$pre.out" 2>"$pre.err" &
		TPID=$!
		# attached once the first periodic report is out (after its 5 s interval)
		wait_for "$pre.out" 'Top ' "$MEMLEAK_WAIT" "$TPID" && ok=1
		;;
	trap_*)
		# shellcheck disable=SC2086
		env --default-signal=INT "$BCC_PYTHON" "$ROOT/bench/trapcost.py" "$pid" \
			${TRAP_SPECS[$t]} >"$pre.out" 2>"$pre.err" &
		TPID=$!
		wait_for "$pre.out" ATTACHED 60 "$TPID" && ok=1
		;;
	esac
	[ $ok = 1 ]
}

# memleak -O libjemalloc.so.2 dies on "could not determine address of symbol
# mmap": it hooks mmap and munmap in the allocator file unconditionally, and
# jemalloc exports neither. This copy makes those two hooks optional, nothing
# else, so that memleak can be measured on what redis really calls.
memleak_jemalloc() {
	local f="$OUT/memleak-jemalloc.py"

	[ -f "$f" ] || python3 - "$(command -v memleak-bpfcc)" "$f" <<-'EOF'
		import sys
		src = open(sys.argv[1]).read()
		a = 'attach_probes("mmap")'
		b = ('bpf.attach_uprobe(name=obj, sym="munmap", fn_name="munmap_enter",\n'
		     '                                  pid=pid)')
		assert a in src and b in src, "memleak-bpfcc changed: cannot patch"
		src = src.replace(a, 'attach_probes("mmap", can_fail=True)')
		src = src.replace(b, 'try:\n                bpf.attach_uprobe(name=obj, sym="munmap", '
		                  'fn_name="munmap_enter", pid=pid)\n'
		                  '        except Exception:\n                pass')
		open(sys.argv[2], "w").write(src)
	EOF
	echo "$f"
}

jemalloc_path() {
	awk '/libjemalloc/ { print $6; exit }' "/proc/$1/maps"
}

# report counters of a memobserver final report: "tracked drops probes"
mo_counters() {
	local f=$1 tracked drops probes

	tracked=$(sed -n 's/^tracked \([0-9]*\) allocations.*/\1/p' "$f" | tail -n1)
	probes=$(sed -n 's/.* \([0-9]*\) probes attached.*/\1/p' "$f" | tail -n1)
	drops=$(sed -n 's/^dropped: //p' "$f" | tail -n1 | grep -o '[0-9]\+' | awk '{ s += $1 } END { print s + 0 }')
	echo "${tracked:-} ${drops:-} ${probes:-}"
}

# field KEY of a RESULT line
res_field() { sed -n "s/.* $2=\\([0-9.]*\\).*/\\1/p" <<<"$1"; }

# ---------------------------------------------------------------- microbenchmark
MICRO_HEADER="round,workload,threads,tracer,ok,ns_per_pair,wall_ns_per_pair,pairs,seconds,bench_utime_s,bench_stime_s,tracer_rss_max_kb,tracer_rss_end_kb,tracer_cpu_startup_ms,tracer_cpu_run_ms,tracked,drops,probes,load1,foreign_progs"
RAW="$OUT/micro.csv"
echo "$MICRO_HEADER" >"$RAW"

# one measured run; returns 0 when recorded clean, 1 when worth retrying
micro_attempt() { # round workload threads tracer attempt last-attempt
	local r=$1 w=$2 th=$3 t=$4 pre="$OUT/logs/r$1-$2-$3-$4-a$5" bpid spid=""
	local ok=1 u0="" u1="" rssmax="" rssend="" cpu0="" cpurun="" cnt="" line f0=0 f1=0

	TPID=""
	wait_quiet
	"$BENCH" --mode "$w" --threads "$th" --seconds "$BENCH_SECONDS" >"$pre.bench" 2>&1 &
	bpid=$!
	wait_for "$pre.bench" READY 20 "$bpid" || { say "benchmark did not start: $pre.bench"; return 1; }
	if [ "$t" != none ]; then
		if ! start_tracer "$t" "$bpid" "$pre"; then
			ok=0
			say "$t did not come up on $w/$th: $(tail -n1 "$pre.err" 2>/dev/null)"
		fi
		if [ -n "$TPID" ]; then
			sampler "$TPID" "$pre.samples" &
			spid=$!
			u0=$(proc_usage "$TPID")
		fi
	fi
	if [ $ok = 0 ] && [ "$6" = 0 ]; then
		kill "$bpid" 2>/dev/null
		wait "$bpid" 2>/dev/null
		[ -n "$TPID" ] && stop_proc "$TPID" 0
		return 1
	fi
	f0=$(foreign_probes "$TPID")
	kill -USR1 "$bpid"
	# the second look halfway through the run: once the benchmark exits,
	# memobserver (attached to it) exits too and its programs outlive its
	# descriptors for a moment, held by nobody: they looked foreign
	(sleep "$(awk -v s="$BENCH_SECONDS" 'BEGIN { print s / 2 }')"
	 foreign_probes "$TPID" > "$pre.f1") &
	wait "$bpid"
	wait $!
	f1=$(cat "$pre.f1" 2>/dev/null)
	f1=${f1:-0}
	if [ -n "$TPID" ]; then
		u1=$(proc_usage "$TPID")
		[ -n "$u0" ] && [ -n "$u1" ] && cpu0=${u0#* } && cpurun=$((${u1#* } - cpu0))
		rssend=${u1% *}
		if [[ $t == memleak* || $t == trap_* ]]; then
			stop_proc "$TPID" 0
		else
			stop_proc "$TPID" 15	# it stops by itself when the target exits
		fi
		kill "$spid" 2>/dev/null
		wait "$spid" 2>/dev/null
		rssmax=$(awk 'BEGIN { m = 0 } $1 > m { m = $1 } END { print m }' "$pre.samples" 2>/dev/null)
		[[ $t == memleak* || $t == trap_* ]] || cnt=$(mo_counters "$pre.out")
	fi
	line=$(grep '^RESULT' "$pre.bench")
	[ -n "$line" ] || { ok=0; say "no RESULT in $pre.bench"; }
	if [ $ok = 1 ] && [ $((f0 + f1)) -gt 0 ] && [ "$6" = 0 ]; then
		say "round $r $w/$th $t: a foreign tracer was attached ($f0/$f1 programs); again"
		return 1
	fi
	set -- $cnt
	echo "$r,$w,$th,$t,$ok,$(res_field "$line" ns_per_pair),$(res_field "$line" wall_ns_per_pair),$(res_field "$line" pairs),$(res_field "$line" seconds),$(res_field "$line" utime_s),$(res_field "$line" stime_s),$rssmax,$rssend,$cpu0,$cpurun,${1:-},${2:-},${3:-},$(cut -d' ' -f1 /proc/loadavg),$((f0 > f1 ? f0 : f1))" >>"$RAW"
	say "round $r $w/$th $t: $(res_field "$line" ns_per_pair) ns/pair${rssmax:+, tracer RSS ${rssmax} kB}${cpurun:+, CPU ${cpurun} ms}$([ $((f0 + f1)) -gt 0 ] && echo ", FOREIGN TRACER PRESENT")"
	return 0
}

run_micro() { # round workload threads tracer
	local a

	if [[ $4 == trap_* || $4 == memleak* ]] && [ "$MEMLEAK_OK" = 0 ]; then
		return
	fi
	for ((a = 1; a <= ATTEMPTS; a++)); do
		micro_attempt "$@" "$a" $((a == ATTEMPTS)) && return
		sleep 2
	done
}

# ---------------------------------------------------------------- trap costs
# What one probe costs by itself: empty BPF programs (bench/trapcost.py) on
# fixed64, where each pair calls malloc once and free once, so the added ns
# per pair is the cost of one hit. glibc's free starts with "test %rdi,%rdi",
# which the kernel single-steps; the jcc after it and malloc's first "push"
# are emulated.
declare -A TRAP_SPECS
BCC_PYTHON=$(head -n1 "$(command -v memleak-bpfcc 2>/dev/null || echo /dev/null)" 2>/dev/null |
	sed -n 's/^#! *\([^ ]*\).*/\1/p')
: "${BCC_PYTHON:=/usr/bin/python3}"

# byte offset of the second instruction of SYMBOL in the C library
second_insn() {
	local libc a b

	libc=$(readlink -f /lib/x86_64-linux-gnu/libc.so.6)
	a=$(nm -D "$libc" | awk -v s="$1" '$3 == s "@@GLIBC_2.2.5" { print $1; exit }')
	[ -n "$a" ] || return 1
	objdump -d --start-address=0x"$a" --stop-address=$((0x$a + 16)) "$libc" |
		grep -E '^ +[0-9a-f]+:' | head -n2 >>"$OUT/logs/trap-sites.txt"
	b=$(objdump -d --start-address=0x"$a" --stop-address=$((0x$a + 16)) "$libc" |
		awk '/^ +[0-9a-f]+:/ { n++; if (n == 2) { sub(":", "", $1); print $1; exit } }')
	[ -n "$b" ] && echo $((0x$b - 0x$a))
}

run_traps() {
	local off t round i n
	local -a order=(none trap_malloc0 trap_malloc0_ret trap_free0)

	off=$(second_insn free)
	TRAP_SPECS[trap_malloc0]="u:malloc:0"
	TRAP_SPECS[trap_malloc0_ret]="u:malloc:0 r:malloc"
	TRAP_SPECS[trap_free0]="u:free:0"
	if [ -n "$off" ]; then
		TRAP_SPECS[trap_free$off]="u:free:$off"
		order+=("trap_free$off")
	fi
	RAW="$OUT/trap.csv"
	echo "$MICRO_HEADER" >"$RAW"
	n=${#order[@]}
	for ((round = 1; round <= TRAP_ROUNDS; round++)); do
		for ((i = 0; i < n; i++)); do
			t=${order[$(((i + round - 1) % n))]}
			run_micro "$round" fixed64 1 "$t"
		done
	done
	RAW="$OUT/micro.csv"
}

# ---------------------------------------------------------------- idle
# memobserver attached to a process that allocates nothing: its floor of
# memory and CPU. The target is the microbenchmark waiting for its signal.
measure_idle() {
	local bpid pre="$OUT/logs/idle" t u m

	: >"$OUT/idle.csv"
	for t in balanced aggressive conservative; do
		"$BENCH" --seconds 1 >"$pre-$t.bench" 2>&1 &
		bpid=$!
		wait_for "$pre-$t.bench" READY 20 "$bpid" || { kill "$bpid"; continue; }
		if start_tracer "$t" "$bpid" "$pre-$t"; then
			sampler "$TPID" "$pre-$t.samples" &
			sleep "$IDLE_SECONDS"
			u=$(proc_usage "$TPID")
			# BPF maps mmapped into the process (unwind table, ring buffer)
			# count in its RSS although the kernel owns them
			m=$(awk '/^[0-9a-f]+-[0-9a-f]+ / { bpf = ($6 == "anon_inode:bpf-map") }
				/^Rss:/ && bpf { s += $2 } END { print s + 0 }' "/proc/$TPID/smaps" 2>/dev/null)
			echo "$t,${u% *},${u#* },$IDLE_SECONDS,$m" >>"$OUT/idle.csv"
			say "memobserver $t idle: RSS ${u% *} kB (BPF maps ${m} kB), CPU ${u#* } ms since it started"
		fi
		kill "$bpid"
		wait "$bpid" 2>/dev/null
		[ -n "$TPID" ] && stop_proc "$TPID" 15
	done
}

# ---------------------------------------------------------------- redis
RCSV="$OUT/redis.csv"
echo "round,tracer,ok,set_rps,get_rps,seconds,tracer_rss_max_kb,tracer_cpu_run_ms,tracked,drops,probes,foreign_progs" >"$RCSV"

redis_attempt() { # round tracer redis-pid attempt last-attempt
	local r=$1 t=$2 rpid=$3 pre="$OUT/logs/redis-r$1-$2-a$4"
	local ok=1 spid="" u0="" u1="" rssmax="" cpurun="" cnt="" ts te set get f0=0 f1=0

	TPID=""
	wait_quiet
	if [ "$t" != none ]; then
		if ! start_tracer "$t" "$rpid" "$pre"; then
			say "$t did not come up on redis: $(tail -n1 "$pre.err" 2>/dev/null)"
			[ -n "$TPID" ] && stop_proc "$TPID" 0
			[ "$5" = 0 ] && return 1
			echo "$r,$t,0,,,,,,,,," >>"$RCSV"
			return 0
		fi
		sampler "$TPID" "$pre.samples" &
		spid=$!
		u0=$(proc_usage "$TPID")
	fi
	f0=$(foreign_probes "$TPID")
	ts=$(date +%s.%N)
	timeout 900 redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" --csv \
		-n "$REDIS_REQUESTS" -t set,get -P 1 >"$pre.csv" 2>&1 || ok=0
	te=$(date +%s.%N)
	f1=$(foreign_probes "$TPID")
	if [ -n "$TPID" ]; then
		u1=$(proc_usage "$TPID")
		[ -n "$u0" ] && [ -n "$u1" ] && cpurun=$((${u1#* } - ${u0#* }))
		stop_proc "$TPID" 0
		kill "$spid" 2>/dev/null
		wait "$spid" 2>/dev/null
		rssmax=$(awk 'BEGIN { m = 0 } $1 > m { m = $1 } END { print m }' "$pre.samples" 2>/dev/null)
		[[ $t == memleak* ]] || cnt=$(mo_counters "$pre.out")
	fi
	if [ $ok = 1 ] && [ $((f0 + f1)) -gt 0 ] && [ "$5" = 0 ]; then
		say "redis round $r $t: a foreign tracer was attached ($f0/$f1 programs); again"
		return 1
	fi
	set=$(awk -F'"' '$2 == "SET" { print $4 }' "$pre.csv")
	get=$(awk -F'"' '$2 == "GET" { print $4 }' "$pre.csv")
	set -- $cnt
	echo "$r,$t,$ok,$set,$get,$(awk -v a="$ts" -v b="$te" 'BEGIN { printf "%.1f", b - a }'),$rssmax,$cpurun,${1:-},${2:-},${3:-},$((f0 > f1 ? f0 : f1))" >>"$RCSV"
	say "redis round $r $t: SET $set/s GET $get/s$([ $((f0 + f1)) -gt 0 ] && echo ", FOREIGN TRACER PRESENT")"
	return 0
}

run_redis() {
	local rpid r t i n a pre
	local -a order

	redis_start || return
	rpid=$RPID

	pre="$OUT/logs/redis-allocator"
	if start_tracer balanced "$rpid" "$pre"; then
		say "memobserver on redis-server: $(grep -m1 probed "$pre.err")"
	fi
	[ -n "$TPID" ] && stop_proc "$TPID" 0

	redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -q -n 10000 -t set,get -P 1 >/dev/null 2>&1
	n=$(wc -w <<<"$REDIS_TRACERS")
	for ((r = 1; r <= REDIS_ROUNDS; r++)); do
		read -ra order <<<"$REDIS_TRACERS"
		for ((i = 0; i < n; i++)); do
			t=${order[$(((i + r - 1) % n))]}
			[[ $t == memleak* ]] && [ "$MEMLEAK_OK" = 0 ] && continue
			for ((a = 1; a <= ATTEMPTS; a++)); do
				redis_attempt "$r" "$t" "$rpid" "$a" $((a == ATTEMPTS)) && break
				sleep 2
			done
		done
	done
	redis_stop
}

# ---------------------------------------------------------------- main
[ "$(id -u)" = 0 ] || die "run as root (BPF)"
[ "${SKIP_INSTALL:-0}" = 1 ] || install_deps
link_headers || true
build_memobserver
# others may rebuild build/ during a run: measure one fixed copy
cp "$MEMOBSERVER" "$OUT/memobserver" || die "cannot copy $MEMOBSERVER"
MEMOBSERVER_SRC=$MEMOBSERVER
MEMOBSERVER="$OUT/memobserver"
"$MEMOBSERVER" --help 2>&1 | grep -q -- '--metrics' && MO_ARGS+=(--metrics off)
build_bench
check_memleak
[ -n "$MEMLEAK_WHY" ] && [ "$MEMLEAK_OK" = 1 ] && MEMLEAK_OK=0
{
	echo "date=$(date -u +%FT%TZ)"
	echo "kernel=$(uname -r)"
	echo "cpus=$(nproc) model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "memory=$(free -h | awk '/Mem:/ { print $2 }')"
	echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "memobserver=$MEMOBSERVER_SRC built $(stat -c %y "$MEMOBSERVER_SRC" | cut -d. -f1) sha256=$(sha256sum "$MEMOBSERVER" | cut -c1-16) git=$(git -C "$ROOT" describe --always --dirty 2>/dev/null)"
	echo "memleak=$(dpkg-query -W -f '${Version}' bpfcc-tools 2>/dev/null) ok=$MEMLEAK_OK ${MEMLEAK_WHY}"
	echo "redis=$(redis-server --version | awk '{ print $3, $6 }')"
	echo "rounds=$ROUNDS seconds=$BENCH_SECONDS workloads='$WORKLOADS' tracers='$TRACERS'"
	echo "redis_rounds=$REDIS_ROUNDS redis_requests=$REDIS_REQUESTS redis_tracers='$REDIS_TRACERS'"
} >"$OUT/machine.txt"
say "results in $OUT"

measure_idle
read -ra TRS <<<"$TRACERS"
NT=${#TRS[@]}
for ((round = 1; round <= ROUNDS; round++)); do
	for wl in $WORKLOADS; do
		# rotate the order every round: no tracer always runs first or last
		for ((i = 0; i < NT; i++)); do
			run_micro "$round" "${wl%:*}" "${wl#*:}" "${TRS[$(((i + round - 1) % NT))]}"
		done
	done
done
[ "$TRAP_ROUNDS" -gt 0 ] && run_traps
[ "$REDIS_ROUNDS" -gt 0 ] && run_redis
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
echo "elapsed_s=$(($(date +%s) - T0))" >>"$OUT/machine.txt"

python3 "$ROOT/bench/summarize.py" "$OUT" | tee "$OUT/summary.md"
say "done in $(($(date +%s) - T0)) s; raw figures and logs in $OUT"
