#!/usr/bin/env bash
# Load and long runs (issue 7): memobserver under a soak of hundreds of
# thousands of allocator calls per second through ~10^5 distinct stacks,
# with tables small enough to fill. It must keep working, stay bounded in
# memory, count and export every drop, reconcile after the load (the one
# deliberate leak, no phantom leaks), reclaim exited processes and not
# exhaust its stack table over many short-lived processes.
#
# SOAK_SECONDS (default 50) sets the churn phase of each soak run;
# SOAK_RSS_BOUND_MIB (default 96) the RSS bound, see RSS_BOUND below.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip soak "$why"; exit 0; fi
command -v curl > /dev/null || { skip soak "curl not installed"; exit 0; }
command -v bpftool > /dev/null || { skip soak "bpftool not installed"; exit 0; }
[ -x "$FIX/soak" ] || { skip soak "build/fixtures/soak not built"; exit 0; }

RUN_S=${SOAK_SECONDS:-50}
# RSS bound of memobserver (VmHWM), MiB. Measured on this machine (2 cores,
# kernel 6.18): peaks of 44-47 MiB in both modes, flat after the first
# seconds; it is made of libbpf/libdw state for the fixture's modules, the
# unwind rows written through the mmap'ed rows map, the per-stack history
# and the bounded event queue (buffer_size events). Twice the measured peak
# leaves room for other machines' libraries without hiding a leak: the
# plateau assertion below catches growth on its own.
RSS_BOUND=${SOAK_RSS_BOUND_MIB:-96}
ABI=$ROOT/src/abi.h


# map_ids PID > file: "name id" of every BPF map PID holds (its fdinfo names
# the ids; one bpftool call names the maps).
map_ids() {
	bpftool map list -j 2> /dev/null | python3 -c '
import glob, json, sys
mine = set()
for f in glob.glob("/proc/%s/fdinfo/*" % sys.argv[1]):
    try:
        for line in open(f):
            if line.startswith("map_id:"):
                mine.add(int(line.split()[1]))
    except OSError:
        pass
for m in json.load(sys.stdin):
    if m["id"] in mine:
        print(m.get("name", "?"), m["id"])
' "$1"
}
# dump_json ID: the map's entries as bpftool's JSON, retried: a dump racing
# with deletions can fail (a key vanishes between get_next_key and lookup).
dump_json() {
	local i out
	for i in 1 2 3; do
		out=$(bpftool map dump id "$1" -j 2>&1)
		[ "${out:0:1}" = "[" ] && break
		sleep 0.2
	done
	printf '%s\n' "$out"
}
map_id() { awk -v n="$2" '$1 == n { print $2; exit }' "$1"; }
# Entries in a hash map right now.
map_count() {
	dump_json "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d) if isinstance(d, list) else "")'
}
# The kernel-side counters, "NAME value" per line, names from abi.h's enum.
kernel_counters() {
	dump_json "$1" | python3 -c '
import json, re, sys
names = []
inside = False
for line in open(sys.argv[1]):
    if line.startswith("enum mo_counter {"):
        inside = True
        continue
    if inside:
        if line.startswith("};"):
            break
        m = re.match(r"\s*(MO_C_\w+)", line)
        if m and m.group(1) != "MO_C__COUNT":
            names.append(m.group(1))
dump = json.load(sys.stdin)
if not isinstance(dump, list):
    sys.exit("cannot read the counters map: %s" % dump)
for el in dump:
    f = el.get("formatted", el)
    k = f["key"]
    v = sum(x["value"] if isinstance(x["value"], int) else
            int.from_bytes(bytes(int(b, 16) for b in x["value"]), "little")
            for x in f["values"])
    if k < len(names):
        print(names[k], v)
' "$ABI"
}

# metric FILE NAME [LABEL-MATCH]: value of the first matching series (0 if none)
metric() {
	local v
	v=$(grep -E "^$2(\{[^}]*${3:-}[^}]*\})? " "$1" 2> /dev/null | head -1 | awk '{ print $2 }')
	echo "${v:-0}" | python3 -c 'import sys; print(int(float(sys.stdin.read())))'
}

# ------------------------------------------------------------------- soak

# soak MODE: one soak run; prints PASS/FAIL lines soak_MODE_*.
soak() {
	local mode=$1 d=$TMP/$1 port mp i scrapes=0 answered=0 t=0
	mkdir -p "$d"
	port=$(free_port)
	# Small tables so they fill: 4096 live allocations (the fixture holds
	# ~8k tracked blocks at once), 1024 stacks (it uses ~10^5), an event
	# queue of 64 (each mmap/munmap is an event).
	printf 'max_allocations = 4096\nmax_stacks = 1024\nbuffer_size = 64\n' > "$d/conf"
	"$MO" --config "$d/conf" --mode "$mode" --format json -m "127.0.0.1:$port" -o "$d/ev.json" \
		-- "$FIX/soak" --threads 2 --run-ms $((RUN_S * 1000)) --slots 16384 \
		--mmap-every 64 --hold-signal > "$d/fx.out" 2> "$d/mo.err" &
	mp=$!
	# the load starts once memobserver has attached (READY) and serves
	wait_for "$d/fx.out" '^READY' 300
	for i in $(seq 50); do
		curl -s --max-time 2 "http://127.0.0.1:$port/healthz" > /dev/null 2>&1 && break
		sleep 0.2
	done
	# one sample a second: VmRSS VmHWM (kB), utime+stime (ticks), scrape
	while kill -0 "$mp" 2> /dev/null && ! grep -q '^DONE' "$d/fx.out"; do
		awk '/^VmRSS/ { r = $2 } /^VmHWM/ { h = $2 } END { printf "%s %s ", r, h }' \
			/proc/"$mp"/status 2> /dev/null >> "$d/samples"
		awk '{ print $14 + $15 }' /proc/"$mp"/stat 2> /dev/null >> "$d/samples"
		scrapes=$((scrapes + 1))
		curl -s --max-time 5 "http://127.0.0.1:$port/metrics" > "$d/m.cur" 2> /dev/null &&
			grep -q '^memobserver_allocator_calls_total' "$d/m.cur" && answered=$((answered + 1)) &&
			{ grep -E '^(memobserver_dropped_events_total|memobserver_allocator_calls_total)' \
				"$d/m.cur"; echo; } >> "$d/m.series"
		sleep 1
		t=$((t + 1))
		[ $t -gt $((RUN_S + 120)) ] && break
	done
	# the fixture freed everything and idles until told (SIGUSR1; then
	# memobserver ends with it): the counters are final once the scrape
	# counts at least the allocator calls the fixture made
	local made
	made=$(awk '$1 == "SOAK" && $2 == "allocs" { print $3 }' "$d/fx.out")
	calls_counted() {
		scrape_to "$port" "$d/m.final" &&
			[ "$(metric "$d/m.final" memobserver_allocator_calls_total)" -ge "${made:-1}" ]
	}
	wait_until 300 calls_counted
	map_ids "$mp" > "$d/maps"
	kernel_counters "$(map_id "$d/maps" counters)" > "$d/kc"
	local fxpid
	fxpid=$(awk '$1 == "READY" { print $2; exit }' "$d/fx.out")
	[ -n "$fxpid" ] && kill -USR1 "$fxpid" 2> /dev/null
	local ticks0 ticks1
	ticks1=$(awk '{ print $14 + $15 }' /proc/"$mp"/stat 2> /dev/null)
	ticks0=$(head -1 "$d/samples" | awk '{ print $3 }')
	local rc=0
	wait "$mp" || rc=$?

	MO_RC=$rc python3 - "$d" "$mode" "$scrapes" "$answered" "$RSS_BOUND" "${ticks0:-0}" "${ticks1:-0}" \
		"$(getconf CLK_TCK)" << 'PY' > "$d/verdict"
import json, os, re, sys
d, mode, scrapes, answered, bound, t0, t1, hz = sys.argv[1:]
scrapes, answered, bound = int(scrapes), int(answered), int(bound)
out = []
def res(ok, name, why):
    out.append(("PASS: %s" % name) if ok else ("FAIL: %s: %s" % (name, why)))

fx = {}
pid = None
for line in open(os.path.join(d, "fx.out")):
    p = line.split()
    if p[:1] == ["READY"]:
        pid = int(p[1])
    if p[:1] == ["SOAK"]:
        if p[1] == "allocs":
            fx.update(allocs=int(p[2]), frees=int(p[4]), mmaps=int(p[6]), ops=int(p[8]),
                      seconds=float(p[10]))
        elif p[1] == "eligible":
            fx["ge%s" % p[2]] = int(p[3])
        elif p[1] in ("small", "paths", "rate"):
            fx[p[1]] = float(p[2])
leaks = fx["allocs"] - fx["frees"] if "allocs" in fx else None
summary, finals = None, []
for line in open(os.path.join(d, "ev.json")):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    if ev.get("type") == "summary":
        summary = ev
    elif ev.get("kind") == "leak" and ev.get("final") and ev.get("pid") == pid:
        finals.append(ev)

# 1. survives: exit 0, fixture ran to the end, report written, /metrics answered
err = open(os.path.join(d, "mo.err")).read().strip()
ok = (os.environ.get("MO_RC", "0") == "0" and summary is not None and leaks is not None
      and scrapes > 0 and answered == scrapes)
res(ok, "soak_%s_survives" % mode,
    "rc=%s summary=%s fixture_done=%s metrics %d/%d answered; stderr: %s"
    % (os.environ.get("MO_RC"), summary is not None, leaks is not None, answered, scrapes, err[:200]))

# 2. RSS bounded: peak under the bound, and no growth once running
samples = [tuple(int(x) for x in l.split()) for l in open(os.path.join(d, "samples"))
           if len(l.split()) == 3]
if samples:
    hwm = max(s[1] for s in samples) / 1024
    half = len(samples) // 2
    first = max(s[0] for s in samples[:max(half, 1)]) / 1024
    last = max(s[0] for s in samples[half:]) / 1024
    cpu = (int(t1) - int(t0)) / int(hz)
    span = len(samples)
    print("FIGURES %s: %.0f allocator calls/s observed (%.0f allocs+frees/s), %d paths, "
          "memobserver VmHWM %.1f MiB, RSS first half %.1f, second half %.1f MiB, "
          "CPU %.1f s over %d s (%.0f%% of one core)"
          % (mode, fx.get("allocs", 0) / fx.get("seconds", 1), fx.get("rate", 0),
             fx.get("paths", 0), hwm, first, last, cpu, span, 100 * cpu / max(span, 1)),
          file=sys.stderr)
    res(hwm <= bound and last <= first + 8, "soak_%s_rss_bounded" % mode,
        "VmHWM %.1f MiB (bound %d), RSS first half %.1f MiB, second half %.1f MiB"
        % (hwm, bound, first, last))
else:
    res(False, "soak_%s_rss_bounded" % mode, "no samples")

# 3. drops counted by reason and exported: the small tables filled, and
# /metrics, the summary and the kernel counters agree
mf = open(os.path.join(d, "m.final")).read() if os.path.exists(os.path.join(d, "m.final")) else ""
def met(name, label=None):
    for l in mf.splitlines():
        m = re.match(r"^%s(\{([^}]*)\})? (\S+)$" % re.escape(name), l)
        if m and (label is None or label in (m.group(2) or "")):
            return int(float(m.group(3)))
    return None
kc = {}
for l in open(os.path.join(d, "kc")):
    k, v = l.split()
    kc[k] = int(v)
drops = {r: met("memobserver_dropped_events_total", 'reason="%s"' % r)
         for r in ("allocation_table_full", "stack_table_full", "ring_buffer_full",
                   "thread_table_full", "event_buffer_full", "stack_totals_table_full",
                   "unwind_maps_full")}
sd = summary["drops"] if summary else {}
print("FIGURES %s drops: %s" % (mode, drops), file=sys.stderr)
why = []
# the event queue fills only when the writer falls behind, which depends on
# the machine: test_limits fills it for sure (limits_event_buffer_full_counted)
for r in ("allocation_table_full", "stack_table_full"):
    if not drops.get(r):
        why.append("%s not counted (%s)" % (r, drops.get(r)))
pairs = [("allocation_table_full", "allocation_table_full", ["MO_C_DROP_ALLOC_TABLE_FULL"]),
         ("stack_table_full", "stack_table_full_or_collided",
          ["MO_C_DROP_STACK_TABLE_FULL", "MO_C_STACK_COLLIDED"]),
         ("ring_buffer_full", "ring_buffer_full", ["MO_C_DROP_RINGBUF_FULL"]),
         ("thread_table_full", "thread_table_full", ["MO_C_DROP_THREAD_TABLE_FULL"]),
         ("stack_totals_table_full", "stack_totals_table_full", ["MO_C_STACK_STATS_FULL"]),
         ("unwind_maps_full", "unwind_maps_full", ["MO_C_UNWIND_PROC_MAPS_FULL"])]
for mname, sname, kn in pairs:
    kv = sum(kc.get(k, 0) for k in kn)
    if drops.get(mname) != kv or sd.get(sname) != kv:
        why.append("%s: metrics %s summary %s kernel %d" % (mname, drops.get(mname), sd.get(sname), kv))
if summary and drops.get("event_buffer_full") is not None and \
        sd.get("event_buffer_full", 0) < drops["event_buffer_full"]:
    why.append("event_buffer_full went backwards: metrics %s summary %s"
               % (drops["event_buffer_full"], sd.get("event_buffer_full")))
# and no exported counter ever went backwards between scrapes
prev = {}
series = open(os.path.join(d, "m.series")).read().split("\n\n") if os.path.exists(
    os.path.join(d, "m.series")) else []
for n, block in enumerate(series):
    for l in block.splitlines():
        k, v = l.rsplit(" ", 1)
        v = int(float(v))
        if v < prev.get(k, 0):
            why.append("%s went from %d to %d at scrape %d" % (k, prev[k], v, n))
        prev[k] = v
if len(series) < 2:
    why.append("fewer than 2 scrapes during the load")
res(not why and kc, "soak_%s_drops_exported" % mode, "; ".join(why) or "no kernel counters")

# 4. every kernel counter that means "lost" reaches the user
# (each must equal its metric series and its summary field)
hidden = {}
for mname, sname, kn in pairs:
    kv = sum(kc.get(k, 0) for k in kn)
    if kv and (drops.get(mname) != kv or sd.get(sname) != kv):
        hidden[mname] = kv
print("FIGURES %s kernel counters: %s" % (mode, kc), file=sys.stderr)
res(not hidden, "soak_%s_no_hidden_drops" % mode,
    "counted in the kernel but in no metric or summary field: %s" % hidden)

# 5. counters consistent with the fixture's ground truth. Every allocator
# call of the fixture ends in exactly one of: nested, below_min_size,
# sampled_out, thread_table_full, allocation_table_full, tracked (plus
# allocation failures, none here); each of its mmaps (64 KiB, above every
# minimum) in allocation_table_full or tracked. The runtime (libc, loader)
# adds a handful of calls of its own.
why = []
if summary and leaks is not None:
    f = summary["filtered"]
    calls = met("memobserver_allocator_calls_total")
    outcomes = (summary["allocations_tracked"] + sd["allocation_table_full"] + sd["thread_table_full"]
                + f["below_min_size"] + f["sampled_out"] + f["nested_allocator_call"])
    truth = fx["allocs"] + fx["mmaps"]
    if not 0 <= calls - fx["allocs"] <= 32:
        why.append("allocator calls %d, fixture made %d" % (calls, fx["allocs"]))
    if summary["allocator_calls"] != calls:
        why.append("allocator calls: metrics %d, summary %d" % (calls, summary["allocator_calls"]))
    if not 0 <= outcomes - truth <= 32:
        why.append("tracked+dropped+filtered %d, fixture allocs+mmaps %d" % (outcomes, truth))
    small = fx["small"] if mode == "aggressive" else fx["allocs"] - fx["ge10240"]
    if not 0 <= f["below_min_size"] - small <= 32:
        why.append("below_min_size %d, fixture made %d below it" % (f["below_min_size"], small))
    held = summary["allocations_tracked"] - summary["deallocations_tracked"]
    if not leaks <= held <= leaks + 8:
        why.append("tracked-freed %d, fixture leaked %d" % (held, leaks))
    tr = met("memory_allocations_tracked_total", 'process="soak"')
    if tr is None or not 0 <= summary["allocations_tracked"] - tr <= 32:
        why.append("memory_allocations_tracked_total %s, summary %d" % (tr, summary["allocations_tracked"]))
else:
    why.append("no summary or no fixture totals")
res(not why, "soak_%s_counters_consistent" % mode, "; ".join(why))

# 6. reconciled: the leak site exactly, nothing else of the fixture's
why = []
site = [e for e in finals if any(fr.get("symbol") == "soak_leak_site" for fr in e.get("stack", []))]
other = [e for e in finals if e not in site]
b = sum(e["unfreed_bytes"] for e in site)
c = sum(e["count"] for e in site)
exp = [l.split() for l in open(os.path.join(d, "fx.out")) if l.startswith("EXPECT soak_leak_site")]
eb, ec = (int(exp[0][2]), int(exp[0][3])) if exp else (0, 0)
if (b, c) != (eb, ec):
    why.append("soak_leak_site: expected %d bytes in %d, got %d in %d" % (eb, ec, b, c))
for e in other[:5]:
    why.append("phantom leak %d bytes x%d stack %s: %s" % (
        e["unfreed_bytes"], e["count"], e.get("stack_id"),
        [fr.get("symbol", "?") for fr in e.get("stack", [])][:4]))
if other:
    why.append("%d phantom leak groups, %d blocks" % (len(other), sum(e["count"] for e in other)))
res(not why, "soak_%s_reconciles" % mode, "; ".join(why))
print("\n".join(out))
PY
	cat "$d/verdict"
}


# -------------------------------------------------------------- long runs

# Many short-lived leaking children under one command observer, then a pause,
# then one more child. Each child is a new PIE mapping (ASLR), so its stacks
# are new stack ids: 30 children with ~1000 paths each are ~30 lifetimes of
# a 1024-entry stack table, hours of a service's churn compressed.
longrun() {
	local d=$TMP/long n=30 mp script
	mkdir -p "$d"
	printf 'max_allocations = 4096\nmax_stacks = 1024\n' > "$d/conf"
	# after the children the command waits (up to 120 s) for the test to
	# have read the maps, so memobserver is still there to read them
	script='for i in $(seq '$n'); do "$0" --threads 1 --run-ms 100 --slots 256 --leaks 8 > "$1/child.$i"; done
echo phase1 > "$1/phase"
i=0; while [ ! -e "$1/go" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
"$0" --threads 1 --run-ms 100 --slots 256 --leaks 8 > "$1/last.out"; sleep 1'
	"$MO" --config "$d/conf" --format json -m off -o "$d/ev.json" \
		-- sh -c "$script" "$FIX/soak" "$d" > "$d/sh.out" 2> "$d/mo.err" &
	mp=$!
	if ! wait_for "$d/phase" phase1 1800; then
		fail longrun_exited_reclaimed "the children did not finish in 180 s"
		touch "$d/go"
		kill "$mp" 2> /dev/null
		wait "$mp"
		return
	fi
	# The exited children's entries leave the maps once the worker has
	# processed their exits (a backlog under load): read the counts until
	# they are down to a few, for at most 30 s; the verdict below judges
	# the last counts read.
	map_ids "$mp" > "$d/maps"
	local allocs stacks sstats procs
	reclaimed() {
		allocs=$(map_count "$(map_id "$d/maps" allocs)")
		sstats=$(map_count "$(map_id "$d/maps" stack_stats)")
		procs=$(map_count "$(map_id "$d/maps" procs)")
		[ "${allocs:-999}" -le 16 ] && [ "${sstats:-999}" -le 16 ] && [ "${procs:-999}" -le 4 ]
	}
	wait_until 300 reclaimed
	stacks=$(map_count "$(map_id "$d/maps" stacks)")
	kernel_counters "$(map_id "$d/maps" counters)" > "$d/kc"
	touch "$d/go"
	wait "$mp"
	echo "FIGURES longrun: after $n exited children: allocs $allocs stacks $stacks" \
		"stack_stats $sstats procs $procs entries;" \
		"$(grep -E 'STACKS_NEW|DROP_STACK_TABLE_FULL|STACK_STATS_FULL|EXITS' "$d/kc" | tr '\n' ' ')" >&2

	# 1. exited processes: every child's leaks reported once, their
	# entries (allocation table, per-stack and per-process totals) gone
	# per child: final leak blocks and bytes, split into those attributed
	# to soak_leak_site and the rest
	python3 - "$d" "$n" > "$d/children" << 'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
kids = {}
for i in range(1, n + 1):
    for line in open("%s/child.%d" % (d, i)):
        if line.startswith("READY"):
            kids[int(line.split()[1])] = [0, 0, 0, 0]
for line in open(d + "/ev.json"):
    ev = json.loads(line)
    if ev.get("kind") == "leak" and ev.get("final") and ev.get("pid") in kids:
        k = kids[ev["pid"]]
        site = any(f.get("symbol") == "soak_leak_site" for f in ev.get("stack", []))
        k[0 if site else 2] += ev["count"]
        k[1 if site else 3] += ev["unfreed_bytes"]
for pid, k in sorted(kids.items()):
    print(pid, *k)
PY
	local nkids reported missing counted
	nkids=$(grep -c . "$d/children")
	# a child's 8 leaked blocks at their site, or counted as unattributed
	# (no stack: the table was full when they were made)
	reported=$(awk '$2 == 8 && $3 == 160000' "$d/children" | grep -c .)
	missing=$(awk '{ m += 8 - $2 } END { print m + 0 }' "$d/children")
	counted=$(python3 -c '
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if "\"summary\"" in l]
print(s[-1].get("unattributed_blocks", -1) if s else -1)' "$d/ev.json")

	# 1. exited processes: every child's leaks reported, their entries
	# (allocation table, per-stack and per-process totals) gone
	if [ "$nkids" = "$n" ] && [ "$counted" -ge "$missing" ] && [ "${allocs:-999}" -le 16 ] &&
		[ "${sstats:-999}" -le 16 ] && [ "${procs:-999}" -le 4 ]; then
		pass longrun_exited_reclaimed
	else
		fail longrun_exited_reclaimed "$nkids of $n children ran, $reported had their 8 leaks\
 reported at the site, $missing blocks without a stack, $counted counted unattributed;\
 left after exit: allocs $allocs stack_stats $sstats procs $procs entries"
	fi

	# 2. stack ids are not exhausted: once the children are gone their
	# stacks leave the table, a new process's leak still gets its stack,
	# and no child has blocks reported on a stack that is not its leak's
	# (loader mappings are recognized as the runtime's only by their stack).
	# A child that leaks while the previous child's stacks still fill the
	# table (its exit is reclaimed up to 100 ms later, the table holds one
	# child's worth) gets no stack for its leak: those blocks must be
	# counted as unattributed, never reported on another stack.
	local lastpid why="" unatt
	lastpid=$(awk '/^READY/ { print $2; exit }' "$d/last.out" 2> /dev/null)
	unatt=$(awk '{ c += $4; b += $5; if ($2 < 8) k++ } END { printf "%d children without the site in their leak stacks; %d blocks / %d bytes reported on other stacks", k, c, b }' "$d/children")
	echo "FIGURES longrun: $unatt; $missing leaked blocks without a stack, $counted unattributed blocks counted" >&2
	[ "${stacks:-9999}" -le 512 ] || why="stack table holds $stacks of 1024 entries after every process that made them exited; "
	awk '$4 != 0 { bad = 1 } END { exit bad }' "$d/children" || why="$why$unatt; "
	[ "$counted" -ge "$missing" ] || why="$why$missing blocks without a stack but only $counted counted as unattributed; "
	if [ -z "$lastpid" ]; then
		why="${why}the last child did not run"
	elif ! python3 "$CHECK" "$d/ev.json" "$d/last.out" --pid "$lastpid" > "$d/check.last" 2>&1; then
		why="${why}last child: $(tr '\n' ';' < "$d/check.last" | cut -c1-300)"
	fi
	if [ -z "$why" ]; then
		pass longrun_stack_ids_not_exhausted
	else
		fail longrun_stack_ids_not_exhausted "$why"
	fi
}

for mode in ${SOAK_MODES-balanced aggressive}; do
	soak "$mode" 2> "$TMP/figures.$mode"
	cat "$TMP/figures.$mode" >&2
done
[ -n "${SOAK_NO_LONGRUN:-}" ] || longrun
exit 0
