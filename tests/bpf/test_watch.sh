#!/usr/bin/env bash
# The watch tier as shipped: plain `memobserver` (system-wide, no allocator
# probes) finds growth by the stack that faults anonymous memory in, for C,
# Go and Python programs and JIT code, and not for a cache that plateaus;
# a growing process is escalated to allocator probes for that process only,
# which report its exact leak sites and go again; stacks it cannot unwind
# are marked, perf maps it cannot use are counted; bad tier options are one
# line; memobserver's RSS stays bounded over 10,000 process exits.
#
# Every run uses --interval 1s: a growth finding needs 8 analysis passes of
# history (80 s at the shipped 10 s), and CI has minutes for this file; the
# rule is the same, only sampled faster. --escalate-window 20s likewise
# (60 s shipped): leak sites need an age of a quarter of the window.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip watch "$why"; exit 0; fi
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# ---------------------------------------------------------------- bad input
# bad_opt NAME VALUE ARGS...: one line naming VALUE, exit status 2, no output
bad_opt() {
	local name=$1 value=$2 rc lines
	shift 2
	timeout 20 "$MO" "$@" -d 1s -o "$TMP/bad.out" > "$TMP/bad.stdout" 2> "$TMP/bad.err"
	rc=$?
	lines=$(wc -l < "$TMP/bad.err")
	if [ "$rc" = 2 ] && [ "$lines" = 1 ] && grep -qF -- "'$value'" "$TMP/bad.err" &&
		[ ! -e "$TMP/bad.out" ] && [ ! -s "$TMP/bad.stdout" ]; then
		pass "$name"
	else
		fail "$name" "exit $rc, $lines lines: $(head -c 300 "$TMP/bad.err")"
	fi
	rm -f "$TMP/bad.out"
}
bad_opt watch_bad_tier bogus --tier bogus
bad_opt watch_bad_tier_case WATCH --tier WATCH
bad_opt watch_bad_window_zero 0 --escalate-window 0
bad_opt watch_bad_window_unit 5x --escalate-window 5x
bad_opt watch_bad_window_short 500ms --escalate-window 500ms
bad_opt watch_bad_window_long 25h --escalate-window 25h
printf 'tier = sometimes\n' > "$TMP/bad.conf"
bad_opt watch_bad_tier_config sometimes --config "$TMP/bad.conf"

# ---------------------------------------------------------------- helpers
# q.py EVENTS COMMAND ARGS: questions about memobserver's JSON events; exit
# 0 when the answer is yes, and a line saying what was seen either way.
cat > "$TMP/q.py" << 'EOF'
import json, re, sys

def events(path):
    out = []
    for line in open(path, errors="replace"):
        try:
            e = json.loads(line)
        except ValueError:
            continue    # the line being written
        if isinstance(e, dict):
            out.append(e)
    return out

def syms(e, top=99):
    return [f.get("symbol", "?") for f in e.get("stack", [])[:top]]

evs, cmd, pid = events(sys.argv[1]), sys.argv[2], int(sys.argv[3])
mine = [e for e in evs if e.get("pid") == pid]
leaks = lambda tier: [e for e in mine if e.get("kind") == "leak" and e.get("tier") == tier]

if cmd == "leak":       # TIER REGEX TOP: a TIER leak naming REGEX in its TOP frames
    tier, rx, top = sys.argv[4], re.compile(sys.argv[5]), int(sys.argv[6])
    ls = leaks(tier)
    hit = [e for e in ls if any(rx.search(s) for s in syms(e, top))]
    print(f"{len(ls)} {tier} leak findings" + (f", e.g. {syms((hit or ls)[0], 8)}" if ls else ""))
    sys.exit(0 if hit else 1)
if cmd == "site":       # REGEX TOP: a precise site (leak or held) naming REGEX in its TOP frames
    rx, top = re.compile(sys.argv[4]), int(sys.argv[5])
    ls = [e for e in mine if e.get("tier") == "precise" and e.get("kind") in ("leak", "held")]
    hit = [e for e in ls if any(rx.search(s) for s in syms(e, top))]
    print("; ".join(f"{e['kind']} {e.get('pattern')} {e.get('unfreed_bytes')} bytes"
                    f" in {e.get('count')} blocks, estimate {e.get('estimate')}, {syms(e, 3)}"
                    for e in (hit or ls)[:3]) or "no precise site")
    sys.exit(0 if hit else 1)
if cmd == "event":      # KIND REGEX: an event KIND whose detail matches REGEX
    kind, rx = sys.argv[4], re.compile(sys.argv[5])
    es = [e for e in mine if e.get("kind") == kind]
    hit = [e for e in es if rx.search(e.get("detail", ""))]
    print("; ".join(e.get("detail", "") for e in (hit or es)[:3]) or f"no {kind} event")
    sys.exit(0 if hit else 1)
if cmd == "noleak":     # no leak finding of any tier
    ls = [e for e in mine if e.get("kind") == "leak"]
    print(f"{len(ls)} leak findings" + (f", e.g. {ls[0].get('tier')} {syms(ls[0], 6)}" if ls else ""))
    sys.exit(0 if not ls else 1)
if cmd == "jit":        # NAME: a watch leak whose first frame is named NAME
    ls = leaks("watch")
    hit = [e for e in ls if syms(e, 1) == [sys.argv[4]]]
    print(f"{len(ls)} watch leak findings" + (f", first frames {sorted({s for e in ls for s in syms(e, 1)})}" if ls else ""))
    sys.exit(0 if hit else 1)
if cmd == "perfmap":    # MAPFILE: a watch leak with a frame named by the perf map
    names = set()
    for line in open(sys.argv[4], errors="replace"):
        parts = line.rstrip("\n").split(" ", 2)
        if len(parts) == 3:
            names.add(parts[2])
    ls = leaks("watch")
    hit = [s for e in ls for s in syms(e, 32) if s in names]
    print(f"{len(ls)} watch leak findings, perf map names in them: {sorted(set(hit))[:3]}"
          + (f", e.g. {syms(ls[0], 10)}" if ls and not hit else ""))
    sys.exit(0 if hit else 1)
if cmd == "prefix":     # CHAIN: every watch leak's named frames follow CHAIN
    # from its first CHAIN frame on (a prefix of the true chain, never a
    # frame outside it); PARTIAL=1: each must say stack_partial
    # (a link of CHAIN may name aliases: malloc|__libc_malloc)
    chain, partial = [set(c.split("|")) for c in sys.argv[4].split(",")], sys.argv[5] == "1"
    known = lambda x: next((k for k, c in enumerate(chain) if x in c), None)
    ls, bad = leaks("watch"), []
    for e in ls:
        s = syms(e)
        at = next((i for i, x in enumerate(s) if known(x) is not None), None)
        ok = at is not None and all(k < len(chain) and x in chain[k] for k, x in
                                    enumerate(s[at:], start=known(s[at])))
        if not ok or (partial and not e.get("stack_partial")):
            bad.append((s, e.get("stack_partial", False)))
    print(f"{len(ls)} watch leak findings, stacks {sorted({(tuple(syms(e)), bool(e.get('stack_partial'))) for e in ls})[:3]}")
    sys.exit(0 if ls and not bad else 1)
sys.exit(2)
EOF
q() { "$PY" "$TMP/q.py" "$EV" "$@"; }

# wait_q TENTHS q-ARGS: until the question's answer is yes (every half second)
wait_q() {
	local n=$1 i=0
	shift
	while [ $i -lt "$n" ]; do
		q "$@" > /dev/null && return 0
		sleep 0.5
		i=$((i + 5))
	done
	return 1
}

# check_q NAME q-ARGS: PASS or FAIL with what was seen
check_q() {
	local name=$1 seen
	shift
	if seen=$(q "$@"); then pass "$name"; else fail "$name" "$seen"; fi
}


# Fixtures read the "hold" FIFO; they stop when it closes (fd 9 below).
mkfifo "$TMP/hold"
exec 9<> "$TMP/hold"
fx() { # NAME COMMAND...: start a fixture; FXPID its pid
	local name=$1
	shift
	"$@" < "$TMP/hold" > "$TMP/$name.out" 2> "$TMP/$name.err" 9>&- &
	FXPID=$!
}

start_mo() { # NAME OPTIONS...: plain memobserver; MOPID, PORT; 1 if not up
	local name=$1
	shift
	PORT=$(free_port)
	"$MO" --format json -o "$TMP/$name.json" --metrics "127.0.0.1:$PORT" "$@" \
		2> "$TMP/$name.err" 9>&- &
	MOPID=$!
	# ready when the endpoint answers (it opens once everything is attached)
	curl -sf --retry 90 --retry-delay 1 --retry-max-time 90 --retry-connrefused \
		"http://127.0.0.1:$PORT/healthz" > /dev/null
}

# ---------------------------------------------------------------- C leak, escalation
links0=$(links_now)
EV=$TMP/main.json
if ! start_mo main --interval 1s --escalate-window 20s -v; then
	fail watch_start "memobserver did not come up: $(tail -c 300 "$TMP/main.err")"
	exit 0
fi
# the budget's calibration (a second of probe hits on memobserver's own
# function) waits for the first escalation: a node that never escalates
# never pays it
if grep -q 'probe hit cost measured' "$TMP/main.err"; then
	fail watch_no_calibration_at_start "$(grep 'probe hit cost' "$TMP/main.err")"
else
	pass watch_no_calibration_at_start
fi
links_watch=$(links_now)
fx leak "$FIX/grow" --leak-rate 1048576 --block 64
LEAK=$FXPID
fx hot "$FIX/grow" --hot
fx cache "$FIX/grow" --cache 8388608 --rate 8388608 --block 64
CACHE=$FXPID

# 1 MiB/s in 64-byte blocks: the finding names leak_small_blocks in its top
# five frames (the fault is in memset or in malloc writing the next chunk's
# header, called from it)
if wait_q 1200 leak "$LEAK" watch '^leak_small_blocks$' 5; then
	pass watch_c_leak_found
	t_found=$SECONDS
	if wait_q 300 event "$LEAK" escalate '^precise tracking'; then
		pass watch_escalated
		if grep -q 'probe hit cost measured' "$TMP/main.err"; then
			pass watch_calibrated_at_escalation
		else
			fail watch_calibrated_at_escalation "no measured cost in: $(grep -i 'cost' "$TMP/main.err" | head -c 300)"
		fi
		hot_at_start=$(grep -c '^HOT' "$TMP/hot.out")
		links_esc=$(links_now)
		if wait_q 600 event "$LEAK" escalate_end 'probes detached'; then
			pass watch_escalation_ended
			hot_at_end=$(grep -c '^HOT' "$TMP/hot.out")
			# the site the allocator probes saw, as a leak (its window's
			# history grew) or held (the budget shed the probes, so the
			# history did not show a trend); either names the function
			check_q watch_escalation_exact_site site "$LEAK" '^leak_small_blocks$' 5
			echo "FIGURES watch: escalation site: $(q site "$LEAK" '^leak_small_blocks$' 5)" >&2
			# the same C library, probed for the leaking process only: the
			# bystander's malloc/free pairs cost what they cost before (a
			# probe hit would make each ~100 times dearer)
			read -r before during <<< "$(awk -v a="$hot_at_start" -v b="$hot_at_end" '
				function med(v, n,   i, j, t) {
					for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
						if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
					return n ? v[int((n + 1) / 2)] : -1 }
				/^HOT/ { k++; if (k > 2 && k <= a) x[++nx] = $3; else if (k > a + 1 && k <= b) y[++ny] = $3 }
				END { print med(x, nx), med(y, ny) }' "$TMP/hot.out")"
			echo "FIGURES watch: bystander malloc+free pair ${before} ns before, ${during} ns during the escalation;" \
				"links: ${links_watch} watching, ${links_esc} escalated; found in $((t_found))s" >&2
			if awk -v a="$before" -v b="$during" 'BEGIN { exit !(a > 0 && b > 0 && b < 3 * a) }'; then
				pass watch_escalation_bystander_unprobed
			else
				fail watch_escalation_bystander_unprobed "ns per pair: ${before} before, ${during} during"
			fi
			if [ "$links_esc" -gt "$links_watch" ] && wait_until 100 links_back "$links_watch"; then
				pass watch_escalation_detached
			else
				fail watch_escalation_detached "links: $links_watch watching, $links_esc escalated, $(links_now) after"
			fi
		else
			fail watch_escalation_ended "$(q event "$LEAK" escalate_end .)"
		fi
	else
		fail watch_escalated "$(q event "$LEAK" escalate .)"
	fi
else
	fail watch_c_leak_found "$(q leak "$LEAK" watch '^leak_small_blocks$' 5)"
fi

# ---------------------------------------------------------------- languages, JIT, unwinding
# Go first, alone: its escalation must be tried (and refused: a static Go
# binary has no malloc) before the growers below take the two slots
fx go "$FIX/watch_grow_go" --rate 1048576
GO=$FXPID
wait_q 1200 leak "$GO" watch . 99
check_q watch_go_found leak "$GO" watch '^main\.leakMap$' 6
wait_q 300 event "$GO" escalate .
check_q watch_go_escalation_refused event "$GO" escalate '^cannot escalate.*no allocator'
fx pylist "$PY" "$ROOT/tests/fixtures/watch_grow.py" --kind list
PYLIST=$FXPID
fx pydict "$PY" "$ROOT/tests/fixtures/watch_grow.py" --kind dict
PYDICT=$FXPID
declare -A JIT
for k in good none malformed huge; do
	fx "jit_$k" "$FIX/watch_jit" --perfmap "$k"
	JIT[$k]=$FXPID
done
# code kept W^X (writable while it does not run, as V8's): named all the same
fx jit_wx "$FIX/watch_jit" --perfmap good --wx
JIT[wx]=$FXPID
fx nofp "$FIX/watch_nofp_bare"
NOFP=$FXPID
fx nofp_gap "$FIX/watch_nofp"
NOFP_GAP=$FXPID
NODE=
if command -v node > /dev/null; then
	# in $TMP: V8's code log (isolate-*.log) goes to the working directory
	fx node env -C "$TMP" node --perf-basic-prof "$ROOT/tests/fixtures/watch_grow.js"
	NODE=$FXPID
fi

# every grower found, each within its own deadline from here
wait_q 600 leak "$PYLIST" watch . 99
check_q watch_python_list_found leak "$PYLIST" watch . 99
wait_q 600 leak "$PYDICT" watch . 99
check_q watch_python_dict_found leak "$PYDICT" watch . 99
wait_q 600 jit "${JIT[good]}" jit_touch_pages
check_q watch_jit_named_from_perf_map jit "${JIT[good]}" jit_touch_pages
wait_q 600 jit "${JIT[none]}" '[jit]'
check_q watch_jit_unnamed jit "${JIT[none]}" '[jit]'
wait_q 600 jit "${JIT[malformed]}" jit_touch_pages
check_q watch_jit_malformed_lines_skipped jit "${JIT[malformed]}" jit_touch_pages
wait_q 600 jit "${JIT[huge]}" '[jit]'
check_q watch_jit_huge_map_skipped jit "${JIT[huge]}" '[jit]'
wait_q 600 jit "${JIT[wx]}" jit_touch_pages
check_q watch_jit_wx_named jit "${JIT[wx]}" jit_touch_pages
wait_q 600 leak "$NOFP" watch . 99
# code without frame pointers or CFI: in a file without any CFI (_bare), and
# in one whose only CFI is the C runtime's (the code is a gap in it)
NOFP_CHAIN='_int_malloc,malloc|__libc_malloc,nofp_leak,nofp_middle,nofp_outer,main,__libc_start_call_main,__libc_start_main,_start'
check_q watch_nofp_marked_never_wrong prefix "$NOFP" "$NOFP_CHAIN" 1
wait_q 600 leak "$NOFP_GAP" watch . 99
check_q watch_nofp_cfi_gap_marked_never_wrong prefix "$NOFP_GAP" "$NOFP_CHAIN" 1
if [ -n "$NODE" ]; then
	wait_q 600 perfmap "$NODE" "/tmp/perf-$NODE.map"
	check_q watch_node_perf_map perfmap "$NODE" "/tmp/perf-$NODE.map"
else
	skip watch_node_perf_map "node is not installed"
fi
# more growers than escalation slots (2): the rest is an event with the reason
if grep -q '"kind":"escalate",.*"detail":"not escalated yet' "$EV"; then
	pass watch_escalation_budget_event
else
	fail watch_escalation_budget_event "no 'not escalated yet' event among $(grep -c '"kind":"escalate"' "$EV") escalate events"
fi

if scrape_to "$PORT" "$TMP/m"; then
	malformed=$(sed -n 's/^memobserver_perf_map_lines_malformed_total \([0-9]*\)$/\1/p' "$TMP/m")
	skipped=$(sed -n 's/^memobserver_perf_maps_skipped_total \([0-9]*\)$/\1/p' "$TMP/m")
	if [ "${malformed:-0}" -ge 3 ] && [ "${skipped:-0}" -ge 1 ]; then
		pass watch_perf_map_counters
	else
		fail watch_perf_map_counters "malformed lines ${malformed:-none}, maps skipped ${skipped:-none}"
	fi
else
	fail watch_perf_map_counters "no scrape"
fi

# the cache filled in its first second and has been flat for a minute or more
check_q watch_cache_plateau_no_finding noleak "$CACHE"

# the end: every fixture told to stop (the FIFO closes), escalations closed
exec 9>&-
[ -n "$NODE" ] && kill "$NODE" 2> /dev/null
for p in $(jobs -p); do [ "$p" = "$MOPID" ] || wait_until 100 pid_gone "$p"; done
rm -f "/tmp/perf-$NODE.map"
kill -TERM "$MOPID"
wait "$MOPID"
rc=$?
if [ "$rc" = 0 ] && wait_until 100 links_back "$links0"; then
	pass watch_stop_detaches
else
	fail watch_stop_detaches "exit $rc, links $links0 before, $(links_now) after: $(tail -c 200 "$TMP/main.err")"
fi

# ---------------------------------------------------------------- 10,000 exits
if start_mo exits --interval 1s; then
	bash -c 'for ((i = 0; i < 10000; i++)); do /bin/true; done' 9>&-
	# caught up: its CPU time stands still for a second
	c0=-1
	for _ in $(seq 60); do
		c1=$(awk '{ print $14 + $15 }' "/proc/$MOPID/stat")
		[ "$c1" = "$c0" ] && break
		c0=$c1
		sleep 1
	done
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$MOPID/status")
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$MOPID/status")
	echo "FIGURES watch: memobserver after 10,000 exits: VmRSS ${rss} kB, VmHWM ${hwm} kB" >&2
	if [ "${rss:-999999}" -le $((64 * 1024)) ]; then
		pass watch_rss_after_10000_exits
	else
		fail watch_rss_after_10000_exits "VmRSS ${rss:-?} kB (HWM ${hwm:-?} kB) > 64 MiB"
	fi
	stop_proc "$MOPID"
else
	fail watch_rss_after_10000_exits "memobserver did not come up: $(tail -c 300 "$TMP/exits.err")"
fi
echo "FIGURES watch: test_watch.sh took ${SECONDS} s" >&2
