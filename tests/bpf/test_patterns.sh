#!/usr/bin/env bash
# Pattern analysis and the stack dedup window on real processes (issue 3):
# the seed's scenario 3 (string concatenation) is classified fragmentation
# beside a leak, a cache, a pool, a burst and churn that keep their classes;
# a leak reported every tick is reported once per --dedup-window, and the
# suppressed repeats add up, report by report, to what the metrics count.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip patterns "$why"; exit 0; fi
DEDUP=$ROOT/tests/bpf/dedup.py

# 1. Fragmentation amid the other patterns; --min-size 1 sees the small blocks.
if timeout 60 "$MO" --metrics off --format json --min-age 1s --interval 500ms --dedup-window 0 \
	--min-size 1 -o "$TMP/pat.json" -- "$FIX/patterns" --seconds 10 > "$TMP/pat.out" 2> "$TMP/pat.err"; then
	res=$(python3 - "$TMP/pat.json" "$TMP/pat.out" << 'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
want_bytes, want_count = next(map(int, l.split()[2:4]) for l in open(sys.argv[2])
                              if l.startswith("EXPECT frag_concat "))
def owner(e):
    names = [f.get("symbol") for f in e.get("stack", [])[:3]]
    for n in ("frag_concat", "leak_steady", "cache_insert", "pool_init", "burst_alloc", "churn_work"):
        if n in names:
            return n
per = {}
for e in evs:
    if e.get("type") == "memory_pressure" and e.get("kind") in ("leak", "plateau") and owner(e):
        per.setdefault((owner(e), bool(e.get("final"))), []).append(e)
frag = per.get(("frag_concat", False), [])
final = per.get(("frag_concat", True), [])
bad = []
if not frag:
    bad.append("no periodic frag_concat finding")
if any((e["kind"], e["pattern"]) != ("leak", "fragmentation") for e in frag):
    bad.append("frag_concat findings %s" % sorted({(e["kind"], e["pattern"]) for e in frag}))
if frag:
    last = frag[-1]
    rate = want_bytes / 10.0  # held at the end over the run's 10 s
    if not (0.6 * rate <= last["growth_bytes_per_s"] <= 1.2 * rate):
        bad.append("rate %.0f B/s, expected about %.0f" % (last["growth_bytes_per_s"], rate))
    if last["confidence"] < 0.5:
        bad.append("confidence %.2f" % last["confidence"])
    if not (last["count"] >= 64 and last["unfreed_bytes"] / last["count"] < 1024):
        bad.append("last finding %d blocks, %d bytes" % (last["count"], last["unfreed_bytes"]))
if [(e["unfreed_bytes"], e["count"], e["pattern"]) for e in final] != [(want_bytes, want_count, "fragmentation")]:
    bad.append("at exit %s, expected %d bytes in %d blocks" % (
        [(e["unfreed_bytes"], e["count"], e["pattern"]) for e in final], want_bytes, want_count))
# the others keep their classes in the same run
def classes(name):
    return sorted({(e["kind"], e["pattern"]) for e in per.get((name, False), [])})
if ("leak", "growing") not in classes("leak_steady") or any(p == "fragmentation" for _, p in classes("leak_steady")):
    bad.append("leak_steady %s" % classes("leak_steady"))
for name in ("cache_insert", "pool_init"):
    if ("plateau", "plateau") not in classes(name) or any(k == "leak" for k, _ in classes(name)):
        bad.append("%s %s" % (name, classes(name)))
if any(k == "leak" for k, _ in classes("burst_alloc")) or classes("churn_work"):
    bad.append("burst_alloc %s churn_work %s" % (classes("burst_alloc"), classes("churn_work")))
print("; ".join(bad) or "ok")
PY
)
	if [ "$res" = ok ]; then pass patterns_fragmentation; else fail patterns_fragmentation "$res"; fi
else
	fail patterns_fragmentation "memobserver failed: $(head -c 300 "$TMP/pat.err")"
fi

# 2. Dedup: one steady leak per observer, analysed every 500 ms, with no
# window, a 2 s window and the default (5 s). Each metrics endpoint is
# scraped half a tick after a tick, so the count it shows is exact.
base=$((20000 + RANDOM % 20000))
runs="0:0 2:2s 5:"	# window seconds : --dedup-window value (empty: default)
i=0
for r in $runs; do
	w=${r%%:*} v=${r#*:}
	"$FIX/leak_many" --wait-signal --count 360 --size 20000 --interval-ms 50 > "$TMP/d$w.out" 2>&1 &
	wait_for "$TMP/d$w.out" '^READY' 50
	fx=$(awk '$1 == "READY" { print $2; exit }' "$TMP/d$w.out")
	eval "fx_$w=$fx"
	"$MO" -v --format json --min-age 1s --interval 500ms ${v:+--dedup-window "$v"} \
		--metrics "127.0.0.1:$((base + i))" -p "$fx" -o "$TMP/d$w.json" 2> "$TMP/d$w.err" &
	eval "mo_$w=$!"
	i=$((i + 1))
done
started=1
for r in $runs; do wait_for "$TMP/d${r%%:*}.err" observing 100 || started=0; done
if [ $started = 1 ]; then
	kill -USR1 $fx_0 $fx_2 $fx_5
	i=0
	for r in $runs; do
		w=${r%%:*}
		# enough reports to see repeats: 4 with 2 s, 3 with 5 s (about 12 s)
		min=$(( w == 0 ? 6 : w == 2 ? 4 : 3 ))
		python3 "$DEDUP" scrape "$TMP/d$w.json" $((base + i)) 0.5 $min "$TMP/d$w.scrape" ||
			echo "0 None" > "$TMP/d$w.scrape"
		i=$((i + 1))
	done
fi
for r in $runs; do
	w=${r%%:*}
	eval "kill -INT \$mo_$w \$fx_$w 2> /dev/null; wait \$mo_$w \$fx_$w 2> /dev/null"
done
if [ $started = 0 ]; then
	fail patterns_dedup_window "memobserver did not attach: $(head -c 300 "$TMP/d2.err")"
	exit 0
fi
for r in $runs; do
	w=${r%%:*}
	res=$(python3 "$DEDUP" check "$TMP/d$w.json" "$TMP/d$w.scrape" "$w" 0.5)
	case $w in 0) name=patterns_dedup_disabled ;; 2) name=patterns_dedup_window ;; 5) name=patterns_dedup_default_5s ;; esac
	if [ "${res%% *}" = ok ]; then
		# no window: nothing suppressed; with one: something was
		if { [ "$w" = 0 ] && grep -q 'deduplicated 0$' <<< "$res"; } ||
			{ [ "$w" != 0 ] && ! grep -q 'deduplicated 0$' <<< "$res"; }; then
			pass "$name"
		else
			fail "$name" "$res"
		fi
	else
		fail "$name" "$res"
	fi
done

# 3. Aggressive mode with its default minimum (1 KiB): a steady pile of
# 2 KiB blocks is fragmentation (blocks below a page), found without
# lowering the minimum.
if timeout 60 "$MO" --mode aggressive --interval 500ms --min-age 1s --metrics off --format json \
	-o "$TMP/frag2k.json" -- "$FIX/leak_many" --count 500 --size 2048 --interval-ms 20 --hold-ms 1500 \
	> "$TMP/frag2k.out" 2> "$TMP/frag2k.err"; then
	got=$(python3 -c '
import json, sys
kinds = set()
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("kind") == "leak" and not e.get("final") and any(
            f.get("symbol") == "leak_many_blocks" for f in e.get("stack", [])):
        kinds.add(e.get("pattern"))
print(" ".join(sorted(k or "none" for k in kinds)) or "no-finding")' "$TMP/frag2k.json")
	if [ "$got" = fragmentation ]; then
		pass patterns_fragmentation_aggressive_default
	else
		fail patterns_fragmentation_aggressive_default "periodic findings at leak_many_blocks: $got"
	fi
else
	fail patterns_fragmentation_aggressive_default "memobserver failed: $(head -c 300 "$TMP/frag2k.err")"
fi
exit 0
