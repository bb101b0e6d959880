#!/usr/bin/env bash
# Reachability scans on real processes under memobserver (--scan,
# docs/reachability.md):
#   flat       a 64 MiB buffer dropped once and a 64 MiB buffer kept in a
#              global, both flat: the first a leak (definitely_lost, warning),
#              the second a reachable plateau (info), by periodic scans
#   oracle     reach_shapes held at its exit and scanned there; valgrind
#              --leak-check=full on the same program: the definitely lost
#              sites and bytes must match, and so must the indirectly lost
#              ones (the lost list's nodes: indirectly_lost); the block held
#              by an interior pointer is reachable (valgrind: possibly lost)
#   threads    a pointer only in a spinning thread's register, one only on
#              another thread's stack: reachable at a stop scan asked for
#              with SIGUSR1 and at the exit; a live scan cannot see the
#              register (definitely lost there, as documented)
#   cache      a cache emptied and refilled without pause, scanned live
#              again and again: never lost
#   traced     a process another tracer holds: unknown, already_traced
#   resumed    memobserver killed (SIGKILL) or ended (SIGTERM) while a stop
#              scan holds a 1 GiB heap stopped, and killed while its command
#              is held at its exit: the process runs on, untraced, to its end
#   options    bad --scan-mode / --scan-max-pause: one line, non-zero exit
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip reach "$why"; exit 0; fi
PY=$TMP/reach.py
cat > "$PY" << 'EOF'
import json, re, sys

def events(path):
    out = []
    for line in open(path):
        line = line.strip()
        if line:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out

def site(e, names):
    for f in e.get("stack", [])[:4]:
        if f.get("symbol") in names:
            return f["symbol"]
    return None

def findings(path, names, final=None):
    """(site, event) of the leak/plateau findings naming one of names."""
    for e in events(path):
        if e.get("kind") not in ("leak", "plateau") or e.get("type") != "memory_pressure":
            continue
        if final is not None and bool(e.get("final")) != final:
            continue
        s = site(e, names)
        if s:
            yield s, e

def show(e):
    b = e.get("reachability_bytes", {})
    return "%s/%s/%s dl=%s il=%s r=%s u=%s%s" % (
        e.get("kind"), e.get("severity"), e.get("reachability"), b.get("definitely_lost"),
        b.get("indirectly_lost"), b.get("reachable"), b.get("unknown"),
        " (%s)" % e["reachability_reason"] if e.get("reachability_reason") else "")

cmd = sys.argv[1]
if cmd == "last":
    # last: the latest finding per site, as "site kind/severity/verdict ..."
    names = sys.argv[3].split(",")
    last = {}
    for s, e in findings(sys.argv[2], names, final=(sys.argv[4] == "final") if len(sys.argv) > 4 else None):
        if e.get("reachability"):
            last[s] = e
    for s in names:
        print(s, show(last[s]) if s in last else "none")
elif cmd == "lost":
    # per site, from the final report: definitely and indirectly lost bytes
    names = sys.argv[3].split(",")
    per = {}
    for s, e in findings(sys.argv[2], names, final=True):
        b = e.get("reachability_bytes", {})
        d = per.setdefault(s, [0, 0, set()])
        d[0] += b.get("definitely_lost", 0)
        d[1] += b.get("indirectly_lost", 0)
        d[2].add(e.get("reachability") or "none")
    for s in sorted(per):
        print(s, per[s][0], per[s][1], ",".join(sorted(per[s][2])))
elif cmd == "valgrind":
    # per site (the function that called malloc): definitely and indirectly
    # lost bytes of valgrind's loss records
    per = {}
    kind = None
    for line in open(sys.argv[2]):
        m = re.search(r"([\d,]+) (?:\(([\d,]+) direct, [\d,]+ indirect\) )?bytes in [\d,]+ "
                      r"blocks are (definitely|indirectly|possibly) lost", line)
        if m:
            n = int((m.group(2) or m.group(1)).replace(",", ""))
            kind = (m.group(3), n)
            continue
        m = re.search(r"by 0x[0-9A-F]+: (\w+) ", line)
        if m and kind:
            d = per.setdefault(m.group(1), [0, 0, 0])
            d[("definitely", "indirectly", "possibly").index(kind[0])] += kind[1]
            kind = None
    for s in sorted(per):
        print(s, per[s][0], per[s][1], per[s][2])
elif cmd == "scans":
    # the reachability_scan events: trigger mode verdict pause_s cpu_s blocks
    for e in events(sys.argv[2]):
        if e.get("kind") == "reachability_scan":
            m = re.match(r"(\w+) scan \((\w+)\)", e.get("detail", ""))
            print(m.group(2) if m else "?", e.get("reachability_mode"), e.get("reachability"),
                  e.get("reachability_reason") or "-", e.get("pause_seconds"),
                  e.get("cpu_seconds"), e.get("reachability_bytes", {}).get("definitely_lost"),
                  e.get("reachability_bytes", {}).get("indirectly_lost"))
EOF

# scans_done FILE N: the JSON output FILE has N reachability_scan events
scans_done() { [ "$(grep -c '"kind":"reachability_scan"' "$1" 2> /dev/null)" -ge "$2" ]; }

# ---- flat: a dropped 64 MiB buffer against a kept one, periodic scans
OUT=$TMP/flat.json
"$MO" --metrics off -f json -o "$OUT" --scan --scan-max-pause 1s --interval 1s --min-age 1s \
	-- "$FIX/reach_flat" > "$TMP/flat.out" 2> "$TMP/flat.err" &
MOPID=$!
flat_seen() {
	python3 "$PY" last "$OUT" drop_buffer,keep_buffer > "$TMP/flat.last"
	grep -q "^drop_buffer leak/warning/definitely_lost dl=67108864 " "$TMP/flat.last" &&
		grep -q "^keep_buffer plateau/info/reachable dl=0 il=0 r=67108864 " "$TMP/flat.last"
}
if wait_until 900 flat_seen; then
	pass "reach_flat_periodic: $(tr '\n' ';' < "$TMP/flat.last")"
else
	fail reach_flat_periodic "$(tr '\n' ';' < "$TMP/flat.last") $(head -c 300 "$TMP/flat.err")"
fi
stop_proc "$MOPID"
python3 "$PY" last "$OUT" drop_buffer,keep_buffer final > "$TMP/flat.final"
if grep -q "^drop_buffer leak/warning/definitely_lost dl=67108864 " "$TMP/flat.final" &&
	grep -q "^keep_buffer plateau/info/reachable " "$TMP/flat.final"; then
	pass "reach_flat_report: $(tr '\n' ';' < "$TMP/flat.final")"
else
	fail reach_flat_report "$(tr '\n' ';' < "$TMP/flat.final")"
fi
# stop scans paused the process within the cap, and said so
python3 "$PY" scans "$OUT" > "$TMP/flat.scans"
if awk '$2 == "stop" { n++; if ($5 <= 0 || $5 > 1.0) bad++ } END { exit !(n >= 2 && !bad) }' \
	"$TMP/flat.scans"; then
	pass "reach_flat_pause: $(awk '{ printf "%s %ss; ", $1, $5 }' "$TMP/flat.scans")"
else
	fail reach_flat_pause "$(tr '\n' ';' < "$TMP/flat.scans")"
fi

# ---- oracle: reach_shapes held at its exit, against valgrind
SITES=one_shot_leak,kept_global,cycle_pair_node,self_loop_node,cycle3_node,cycle3_tail
SITES=$SITES,kept_tree_node,lost_tree_node,list_head,list_node,interior_block
if command -v valgrind > /dev/null; then
	valgrind --leak-check=full --show-leak-kinds=all --run-libc-freeres=no \
		"$FIX/reach_shapes" --exit > /dev/null 2> "$TMP/vg.txt"
	python3 "$PY" valgrind "$TMP/vg.txt" > "$TMP/vg.sites"
	OUT=$TMP/shapes.json
	timeout 120 "$MO" --metrics off -f json -o "$OUT" --scan --scan-max-pause 2s --min-age 0 \
		--min-size 1 -- "$FIX/reach_shapes" --exit > "$TMP/shapes.out" 2> "$TMP/shapes.err"
	python3 "$PY" lost "$OUT" "$SITES" > "$TMP/mo.sites"
	# definitely lost: every site valgrind names with bytes, the same bytes;
	# indirectly lost the same way
	res=$(python3 - "$TMP/vg.sites" "$TMP/mo.sites" << 'EOF'
import sys
vg = {l.split()[0]: list(map(int, l.split()[1:4])) for l in open(sys.argv[1])}
mo = {l.split()[0]: (int(l.split()[1]), int(l.split()[2]), l.split()[3]) for l in open(sys.argv[2])}
bad = []
for what, i in (("definitely", 0), ("indirectly", 1)):
    want = {s: v[i] for s, v in vg.items() if v[i]}
    got = {s: v[i] for s, v in mo.items() if v[i]}
    if want != got:
        bad.append("%s lost: valgrind %s, memobserver %s" % (what, sorted(want.items()), sorted(got.items())))
if not vg:
    bad.append("no valgrind loss records")
# the rest of valgrind's records: the interior pointer's block, possibly lost
# there, reachable here (interior pointers count)
if vg.get("interior_block", [0, 0, 0])[2] != 256 or mo.get("interior_block", (0, 0, ""))[2] != "reachable":
    bad.append("interior_block: valgrind %s, memobserver %s" % (vg.get("interior_block"), mo.get("interior_block")))
if mo.get("list_node", (0, 0, ""))[2] != "indirectly_lost":
    bad.append("list_node verdict %s" % (mo.get("list_node"),))
for s in ("kept_global", "kept_tree_node"):
    if mo.get(s, (0, 0, ""))[2] != "reachable":
        bad.append("%s verdict %s" % (s, mo.get(s)))
print("; ".join(bad) or "ok")
EOF
)
	if [ "$res" = ok ] && grep -q '"kind":"reachability_scan".*stop scan (exit)' "$OUT"; then
		pass "reach_oracle_exit: definitely lost $(awk '$2 { printf "%s=%s ", $1, $2 }' "$TMP/mo.sites")"
	else
		fail reach_oracle_exit "$res $(tr '\n' ' ' < "$TMP/shapes.err" | head -c 300)"
	fi
else
	skip reach_oracle_exit "valgrind not installed"
fi

# ---- threads: register and another thread's stack; SIGUSR1, then the exit
for c in register stack; do
	OUT=$TMP/thr.$c.json
	mkfifo "$TMP/in.$c"
	# no --scan: only the asked scan and the exit's (none: not held)
	"$MO" --metrics off -f json -o "$OUT" --min-age 0 --min-size 1 --interval 1s \
		--scan-max-pause 1s -- "$FIX/reach_cases" --case "$c" < "$TMP/in.$c" \
		> "$TMP/thr.$c.out" 2> "$TMP/thr.$c.err" &
	MOPID=$!
	exec {W}> "$TMP/in.$c"
	if ! wait_for "$TMP/thr.$c.out" '^DONE' 300; then
		fail "reach_threads_$c" "fixture not done: $(head -c 300 "$TMP/thr.$c.err")"
		exec {W}>&-
		stop_proc "$MOPID"
		continue
	fi
	kill -USR1 "$MOPID"
	if ! wait_until 300 scans_done "$OUT" 1; then
		fail "reach_threads_$c" "no scan event after SIGUSR1"
		exec {W}>&-
		stop_proc "$MOPID"
		continue
	fi
	exec {W}>&-	# the fixture exits; memobserver follows
	wait_until 300 pid_gone "$MOPID" || stop_proc "$MOPID"
	wait "$MOPID" 2> /dev/null
	python3 "$PY" last "$OUT" alloc final > "$TMP/thr.$c.last"
	python3 "$PY" scans "$OUT" > "$TMP/thr.$c.scans"
	if grep -q "^request stop " "$TMP/thr.$c.scans" &&
		grep -q "^alloc leak/info/reachable " "$TMP/thr.$c.last"; then
		pass "reach_threads_$c: $(tr '\n' ';' < "$TMP/thr.$c.scans")"
	else
		fail "reach_threads_$c" "$(tr '\n' ';' < "$TMP/thr.$c.scans") $(tr '\n' ';' < "$TMP/thr.$c.last")"
	fi
done
# held at its exit (with --scan): the dying threads' registers and stacks
for c in register stack; do
	OUT=$TMP/thrx.$c.json
	timeout 120 "$MO" --metrics off -f json -o "$OUT" --scan --scan-max-pause 1s --min-age 0 \
		--min-size 1 -- "$FIX/reach_cases" --case "$c" --exit > /dev/null 2> "$TMP/thrx.$c.err"
	python3 "$PY" scans "$OUT" > "$TMP/thrx.$c.scans"
	python3 "$PY" last "$OUT" alloc final > "$TMP/thrx.$c.last"
	if grep -q "^exit stop " "$TMP/thrx.$c.scans" &&
		grep -q "^alloc leak/info/reachable " "$TMP/thrx.$c.last"; then
		pass "reach_threads_exit_$c"
	else
		fail "reach_threads_exit_$c" "$(tr '\n' ';' < "$TMP/thrx.$c.scans") $(tr '\n' ';' < "$TMP/thrx.$c.last") $(head -c 200 "$TMP/thrx.$c.err")"
	fi
done
# live mode does not see registers: the register's block is lost there
OUT=$TMP/live.reg.json
mkfifo "$TMP/in.live"
"$MO" --metrics off -f json -o "$OUT" --min-age 0 --min-size 1 --scan-mode live \
	-- "$FIX/reach_cases" --case register < "$TMP/in.live" > "$TMP/live.out" 2> "$TMP/live.err" &
MOPID=$!
exec {W}> "$TMP/in.live"
if wait_for "$TMP/live.out" '^DONE' 300 && kill -USR1 "$MOPID" && wait_until 300 scans_done "$OUT" 1; then
	stop_proc "$MOPID"	# the final report, the fixture still running
	python3 "$PY" scans "$OUT" > "$TMP/live.scans"
	python3 "$PY" last "$OUT" alloc final > "$TMP/live.last"
	if grep -q "^request live " "$TMP/live.scans" &&
		grep -q "^alloc leak/warning/definitely_lost dl=128 " "$TMP/live.last"; then
		pass reach_live_register
	else
		fail reach_live_register "$(tr '\n' ';' < "$TMP/live.scans") $(cat "$TMP/live.last")"
	fi
else
	fail reach_live_register "no scan: $(head -c 300 "$TMP/live.err")"
	stop_proc "$MOPID"
fi
exec {W}>&-

# ---- cache: emptied and refilled without pause, live scans never call it lost
OUT=$TMP/cache.json
mkfifo "$TMP/in.cache"
"$MO" --metrics off -f json -o "$OUT" --min-age 0 --min-size 1 --scan-mode live \
	-- "$FIX/reach_cache" --table "$TMP/cache.table" < "$TMP/in.cache" \
	> "$TMP/cache.out" 2> "$TMP/cache.err" &
MOPID=$!
exec {W}> "$TMP/in.cache"
n=0
if wait_for "$TMP/cache.out" '^DONE' 300; then
	for n in $(seq 1 20); do
		kill -USR1 "$MOPID"
		wait_until 300 scans_done "$OUT" "$n" || break
	done
fi
exec {W}>&-
stop_proc "$MOPID"
python3 "$PY" scans "$OUT" > "$TMP/cache.scans"
lost=$(awk '$7 + $8 > 0' "$TMP/cache.scans" | wc -l)
scans=$(grep -c . "$TMP/cache.scans")
decided=$(awk '$3 == "reachable" || $3 == "unknown"' "$TMP/cache.scans" | wc -l)
if [ "$scans" -ge 20 ] && [ "$lost" = 0 ] && [ "$decided" = "$scans" ]; then
	pass "reach_cache_live: $scans live scans, none lost ($(cut -d' ' -f3,4 "$TMP/cache.scans" | sort | uniq -c | tr -s ' \n' ' '))"
else
	fail reach_cache_live "$scans scans, $lost with lost blocks: $(tr '\n' ';' < "$TMP/cache.scans" | head -c 400)"
fi

# ---- traced: another tracer holds the process: unknown, already_traced
# The fixture allocates once memobserver observes it (blocks from before
# are unknown to it), then a tracer of ours seizes it.
"$FIX/reach_flat" --size 1048576 --wait-signal > "$TMP/traced.out" 2>&1 &
FPID=$!
OUT=$TMP/traced.json
mkfifo "$TMP/in.traced"
res=""
if wait_for "$TMP/traced.out" '^READY' 300; then
	"$MO" --metrics off -f json -o "$OUT" --scan --min-age 0 --min-size 1 -v -p "$FPID" \
		> /dev/null 2> "$TMP/traced.err" &
	MOPID=$!
	# signals once they are handled (SIGUSR1 would end memobserver before)
	wait_for "$TMP/traced.err" 'observing' 300 || res="memobserver did not start"
	[ -z "$res" ] && kill -USR1 "$FPID"
	[ -z "$res" ] && { wait_for "$TMP/traced.out" '^DONE' 300 || res="fixture not done"; }
	if [ -z "$res" ]; then
		python3 -c '
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.ptrace(0x4206, int(sys.argv[1]), 0, 0) != 0:   # PTRACE_SEIZE
    sys.exit("seize: errno %d" % ctypes.get_errno())
print("HELD", flush=True)
sys.stdin.read()
' "$FPID" < "$TMP/in.traced" > "$TMP/tracer.out" 2>&1 &
		TRPID=$!
		exec {TW}> "$TMP/in.traced"
		wait_for "$TMP/tracer.out" '^HELD' 300 || res="cannot trace: $(cat "$TMP/tracer.out")"
	fi
	if [ -z "$res" ]; then
		kill -USR1 "$MOPID"
		wait_until 300 scans_done "$OUT" 1 || res="no scan"
	fi
	stop_proc "$MOPID"	# the end scan too
	python3 "$PY" scans "$OUT" > "$TMP/traced.scans"
	if [ -z "$res" ] && [ "$(grep -c . "$TMP/traced.scans")" -ge 2 ] &&
		awk '$2 != "stop" || $3 != "unknown" || $4 != "already_traced" { bad++ } END { exit bad > 0 }' \
			"$TMP/traced.scans"; then
		pass "reach_traced_unknown: $(tr '\n' ';' < "$TMP/traced.scans")"
	else
		fail reach_traced_unknown "$res $(tr '\n' ';' < "$TMP/traced.scans") $(head -c 300 "$TMP/traced.err")"
	fi
	[ -n "${TW:-}" ] && exec {TW}>&-
	[ -n "${TRPID:-}" ] && stop_proc "$TRPID"
else
	fail reach_traced_unknown "fixture not ready"
fi
stop_proc "$FPID"

# ---- resumed: whatever ends memobserver, the process it stopped runs on
# in_stop PID: a thread of PID is in a ptrace stop (a scan's pause or the
# exit hold)
in_stop() { grep -qs '^State:.*t (tracing stop)' /proc/"$1"/task/*/status; }
# wait_stop PID: in_stop within 60 s, polled every 10 ms (a pause is ~1 s)
wait_stop() {
	local i=0
	while [ $i -lt 6000 ]; do
		in_stop "$1" && return 0
		sleep 0.01
		i=$((i + 1))
	done
	return 1
}
# at_exit PID: PID is inside exit_group/exit (the exit hold's stop)
at_exit() {
	local nr=""
	read -r nr _ < /proc/"$1"/syscall 2> /dev/null
	[ "$nr" = 231 ] || [ "$nr" = 60 ]
}
# free_running PID: no thread stopped (t or T) and nobody tracing it
free_running() {
	[ -e /proc/"$1" ] &&
		! grep -qs '^State:.*\(t (tracing stop)\|T (stopped)\)' /proc/"$1"/task/*/status &&
		grep -qs '^TracerPid:[[:space:]]*0$' /proc/"$1"/status
}
# ended PID: PID has exited (a zombie of whoever reaps orphans, or gone)
ended() { [ ! -e /proc/"$1" ] || grep -qs '^State:.*Z (zombie)' /proc/"$1"/status; }
GIB=1073741824
# A stop scan asked with SIGUSR1 of a process observed with -p (nothing
# memobserver does to its own command at its end touches it): one 1 GiB
# buffer kept, read whole by the scan (about a second stopped).
for how in KILL TERM; do
	name=reach_resumed_$(tr 'A-Z' 'a-z' <<< "$how")
	OUT=$TMP/res.$name.json
	"$FIX/reach_flat" --size "$GIB" --wait-signal > "$TMP/res.$name.fix" 2>&1 &
	FPID=$!
	res=""
	wait_for "$TMP/res.$name.fix" '^READY' 300 || res="fixture not ready"
	if [ -z "$res" ]; then
		"$MO" --metrics off -f json -o "$OUT" --min-age 0 --min-size 1 --interval 60s \
			--scan-max-pause 60s -v -p "$FPID" > /dev/null 2> "$TMP/res.$name.err" &
		MOPID=$!
		wait_for "$TMP/res.$name.err" 'observing' 300 || res="memobserver did not start"
		[ -z "$res" ] && kill -USR1 "$FPID"
		[ -z "$res" ] && { wait_for "$TMP/res.$name.fix" '^DONE' 600 || res="fixture not done"; }
		[ -z "$res" ] && kill -USR1 "$MOPID"
		[ -z "$res" ] && { wait_stop "$FPID" || res="never stopped"; }
		[ -z "$res" ] && kill -"$how" "$MOPID"
		[ -z "$res" ] && { wait_until 600 pid_gone "$MOPID" || res="memobserver did not end"; }
		stop_proc "$MOPID" 2> /dev/null
		[ -z "$res" ] && { wait_until 100 free_running "$FPID" ||
			res="left stopped: $(grep -h '^State\|^TracerPid' /proc/"$FPID"/status | tr '\n' ' ')"; }
	fi
	stop_proc "$FPID"
	if [ -z "$res" ]; then
		pass "$name: memobserver ended by SIG$how during a stop scan, the process runs on untraced"
	else
		fail "$name" "$res $(head -c 300 "$TMP/res.$name.err")"
	fi
done
# The exit hold (--scan): the command, one 1 GiB block, exits when its stdin
# closes, is held at its exit and scanned there; memobserver is killed then.
name=reach_resumed_exit_kill
OUT=$TMP/res.$name.json
mkfifo "$TMP/in.$name"
"$MO" --metrics off -f json -o "$OUT" --min-age 0 --min-size 1 --interval 60s --scan \
	--scan-max-pause 60s -- "$FIX/reach_big" --blocks 1 --size "$GIB" --lost 0 \
	< "$TMP/in.$name" > "$TMP/res.$name.out" 2> "$TMP/res.$name.err" &
MOPID=$!
exec {W}> "$TMP/in.$name"
res=""
wait_for "$TMP/res.$name.out" '^DONE' 600 || res="fixture not done"
FPID=$(awk '$1 == "READY" { print $2; exit }' "$TMP/res.$name.out")
exec {W}>&-
[ -z "$res" ] && { wait_stop "$FPID" || res="never stopped"; }
[ -z "$res" ] && ! at_exit "$FPID" && res="stopped, not at its exit: $(cat /proc/"$FPID"/syscall)"
[ -z "$res" ] && kill -KILL "$MOPID"
[ -z "$res" ] && { wait_until 600 pid_gone "$MOPID" || res="memobserver did not end"; }
stop_proc "$MOPID" 2> /dev/null
[ -z "$res" ] && { wait_until 600 ended "$FPID" || res="left held: $(grep -h '^State\|^TracerPid' /proc/"$FPID"/status | tr '\n' ' ')"; }
if [ -z "$res" ]; then
	pass "$name: memobserver killed during the exit hold's scan, the command finished its exit"
else
	fail "$name" "$res $(head -c 300 "$TMP/res.$name.err")"
fi
[ -n "$FPID" ] && ! ended "$FPID" && kill -KILL "$FPID" 2> /dev/null

# ---- options: one line naming the problem, non-zero exit
bad=""
for args in "--scan-mode bogus" "--scan-max-pause 0" "--scan-max-pause 2m"; do
	# shellcheck disable=SC2086
	"$MO" $args -- /bin/true > /dev/null 2> "$TMP/opt.err"
	rc=$?
	if [ "$rc" = 0 ] || [ "$(grep -c . "$TMP/opt.err")" != 1 ]; then
		bad="$bad [$args: rc $rc, $(tr '\n' ' ' < "$TMP/opt.err")]"
	fi
done
if [ -z "$bad" ]; then pass reach_bad_options; else fail reach_bad_options "$bad"; fi
