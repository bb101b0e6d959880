#!/usr/bin/env bash
# Resident memory: kmem:rss_stat completed and cross-checked by /proc, and
# /proc as the fallback when the tracepoint is not used.
#
# The fixture makes 96 MiB of shared memory resident BEFORE memobserver
# attaches; that counter never changes afterwards, so rss_stat never reports
# it. Then it grows its anonymous memory by 40 MiB. An rss_growth event must
# carry the whole RSS (shmem + anon), as /proc says, not just the part that
# changed while observed.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip rss "$why"; exit 0; fi

SHMEM_MB=96

jq_py() { # file python-expression over the list of events `evs`
	python3 -c 'import json,sys
evs=[json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(eval(sys.argv[2]))' "$1" "$2"
}

# run NAME [env...]: observe the fixture by pid; leaves $TMP/NAME.{json,out,err,prom}
run() {
	local name=$1 port=$((20000 + RANDOM % 20000)) f m reads=1
	shift
	[[ " $* " == *" MEMOBSERVER_NO_RSS_STAT=1 "* ]] && reads=3
	"$FIX/leak_many" --shmem-mb $SHMEM_MB --count 40 --size 1048576 --touch \
		--interval-ms 50 --wait-signal --hold-ms 4000 > "$TMP/$name.out" 2>&1 &
	f=$!
	wait_for "$TMP/$name.out" '^READY' 50
	env "$@" "$MO" -v --mode aggressive --metrics "127.0.0.1:$port" --format json \
		-o "$TMP/$name.json" -p "$f" 2> "$TMP/$name.err" &
	m=$!
	if ! wait_for "$TMP/$name.err" observing 150; then
		kill "$f" "$m" 2>/dev/null
		return 1
	fi
	# a first sample (a /proc read) before the growth
	sampled() {
		scrape_to "$port" "$TMP/$name.prom" &&
			[ "$(metric "$TMP/$name.prom" memobserver_rss_proc_reads_total)" -ge "$1" ] 2> /dev/null
	}
	wait_until 50 sampled 1
	kill -USR1 "$f"
	wait_for "$TMP/$name.out" '^DONE' 100
	# the growth reported while the fixture holds it (4 s), then the scrape
	# once three samples were read from /proc (the fallback reads one a
	# second; with rss_stat the first one already cross-checks)
	wait_for "$TMP/$name.json" '"kind":"rss_growth"' 40
	wait_until 30 sampled "$reads"
	wait "$f"
	wait "$m"
}

# check_event NAME: the rss_growth event includes the pre-existing shmem and
# stays within 5 % of what /proc said at the end of the growth.
check_event() {
	local name=$1 vmrss got
	vmrss=$(awk '/^VMRSS/ {print $2}' "$TMP/$name.out")
	got=$(jq_py "$TMP/$name.json" '[(e["rss_bytes"], e["growth_bytes"]) for e in evs if e.get("kind") == "rss_growth"]')
	if python3 -c '
import sys
evs = eval(sys.argv[1]); shmem = int(sys.argv[2]) << 20; vmrss = int(sys.argv[3])
ok = evs and all(rss >= shmem + growth and rss <= vmrss * 1.05 for rss, growth in evs)
sys.exit(0 if ok else 1)' "$got" "$SHMEM_MB" "${vmrss:-0}"; then
		pass "$name"
	else
		fail "$name" "rss_growth (rss, growth) = $got; shmem $SHMEM_MB MiB; fixture VmRSS ${vmrss:-?}"
	fi
}

metric() { # file series -> value
	awk -v s="$2" '$1 == s {print $2}' "$1"
}

if run rss_complete_from_proc; then
	check_event rss_complete_from_proc
	agreed=$(metric "$TMP/rss_complete_from_proc.prom" 'memobserver_rss_crosschecks_total{result="agreed"}')
	disagreed=$(metric "$TMP/rss_complete_from_proc.prom" 'memobserver_rss_crosschecks_total{result="disagreed"}')
	src=$(metric "$TMP/rss_complete_from_proc.prom" 'memobserver_rss_source{source="rss_stat"}')
	if [ "${agreed:-0}" -ge 1 ] && [ "$disagreed" = 0 ] && [ "$src" = 1 ]; then
		pass rss_crosscheck_agrees
	else
		fail rss_crosscheck_agrees "agreed=${agreed:-none} disagreed=${disagreed:-none} rss_stat source=${src:-none}"
	fi
else
	fail rss_complete_from_proc "memobserver did not attach: $(head -c 300 "$TMP/rss_complete_from_proc.err")"
fi

if run rss_fallback_proc MEMOBSERVER_NO_RSS_STAT=1; then
	check_event rss_fallback_proc
	src=$(metric "$TMP/rss_fallback_proc.prom" 'memobserver_rss_source{source="proc"}')
	reads=$(metric "$TMP/rss_fallback_proc.prom" 'memobserver_rss_proc_reads_total')
	if [ "$src" = 1 ] && [ "${reads:-0}" -ge 3 ] && grep -q "rss_stat unavailable" "$TMP/rss_fallback_proc.err"; then
		pass rss_fallback_reported
	else
		fail rss_fallback_reported "proc source=${src:-none} reads=${reads:-none}"
	fi
else
	fail rss_fallback_proc "memobserver did not attach: $(head -c 300 "$TMP/rss_fallback_proc.err")"
fi
