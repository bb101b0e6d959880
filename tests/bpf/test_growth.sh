#!/usr/bin/env bash
# Beyond allocation tracking (issue 3): leak versus cache classification on
# real patterns, RSS growth, large allocations (the seed's 2 GB mmap), OOM
# risk before a real OOM kill in a memory-limited cgroup, and the kill itself.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip growth "$why"; exit 0; fi

jq_py() { # file python-expression over the list of events `evs`
	python3 -c '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
evs = [e for e in evs if e.get("type") != "summary"]
print(eval(sys.argv[2].strip()))' "$1" "$2"
}

# 1. Patterns: leak amid churn, LRU cache, pool, burst freed later.
if timeout 60 "$MO" --metrics off --format json --min-age 1s --interval 500ms --dedup-window 0 \
	-o "$TMP/pat.json" -- "$FIX/patterns" --seconds 10 > "$TMP/pat.out" 2> "$TMP/pat.err"; then
	# periodic (not final) findings per function
	got=$(jq_py "$TMP/pat.json" '
sorted({(f.get("symbol"), e["kind"], e.get("pattern"))
        for e in evs if e.get("type") == "memory_pressure" and not e.get("final")
        for f in e.get("stack", [])[:3]
        if f.get("symbol") in ("leak_steady", "cache_insert", "pool_init", "burst_alloc", "churn_work")})')
	if grep -q "('leak_steady', 'leak', 'growing')" <<< "$got" &&
		! grep -q "'cache_insert', 'leak'" <<< "$got" &&
		! grep -q "'pool_init', 'leak'" <<< "$got" &&
		! grep -q "'burst_alloc', 'leak'" <<< "$got" &&
		! grep -q "'churn_work'" <<< "$got"; then
		pass growth_leak_vs_cache
	else
		fail growth_leak_vs_cache "findings: $got"
	fi
	if grep -q "'cache_insert', 'plateau', 'plateau'" <<< "$got" && grep -q "'pool_init', 'plateau', 'plateau'" <<< "$got"; then
		pass growth_plateaus_informational
	else
		fail growth_plateaus_informational "findings: $got"
	fi
	validated=$(jq_py "$TMP/pat.json" '
any(e.get("rss_validated") for e in evs if e.get("kind") == "leak" and not e.get("final")
    and any(f.get("symbol") == "leak_steady" for f in e.get("stack", [])))')
	if [ "$validated" = True ]; then pass growth_leak_validated_by_rss; else fail growth_leak_validated_by_rss "no leak_steady finding backed by RSS"; fi
else
	fail growth_leak_vs_cache "memobserver failed: $(head -c 300 "$TMP/pat.err")"
fi

# 2. RSS growth: 60 MiB resident in 3 s against a 10 MiB threshold (aggressive).
if timeout 60 "$MO" --metrics off --mode aggressive --format json -o "$TMP/rss.json" \
	-- "$FIX/leak_many" --count 60 --size 1048576 --touch --interval-ms 50 --hold-ms 1500 \
	> "$TMP/rss.out" 2> "$TMP/rss.err"; then
	n=$(jq_py "$TMP/rss.json" 'len([e for e in evs if e["kind"] == "rss_growth" and e["growth_bytes"] >= 10 << 20])')
	if [ "$n" -ge 1 ]; then pass growth_rss_growth_event; else fail growth_rss_growth_event "no rss_growth event"; fi
else
	fail growth_rss_growth_event "memobserver failed: $(head -c 300 "$TMP/rss.err")"
fi

# 3. The seed's scenario 2: a 2 GB file mapped whole.
truncate -s 2G "$TMP/big.dat"
cat > "$TMP/bigmap.c" << 'SRC'
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
__attribute__((noinline)) void *load_entire_file(int fd, size_t n)
{
	return mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
}
int main(int argc, char **argv)
{
	int fd = open(argv[1], O_RDONLY);
	void *p = load_entire_file(fd, (size_t)2 << 30);
	printf("%p\n", p);
	usleep(300000);
	return p == MAP_FAILED;
}
SRC
if gcc -O2 -g -fno-optimize-sibling-calls -o "$TMP/bigmap" "$TMP/bigmap.c" &&
	timeout 60 "$MO" --metrics off --format json -o "$TMP/big.json" -- "$TMP/bigmap" "$TMP/big.dat" \
		> /dev/null 2> "$TMP/big.err"; then
	ok=$(jq_py "$TMP/big.json" '
any(e["type"] == "kernel_fs" and e["kind"] == "large_allocation" and e["size_bytes"] == 2 << 30
    and any(f.get("symbol") == "load_entire_file" for f in e.get("stack", [])) for e in evs)')
	if [ "$ok" = True ]; then pass growth_large_mmap_2g; else fail growth_large_mmap_2g "no 2 GiB large_allocation event naming load_entire_file"; fi
else
	fail growth_large_mmap_2g "$(head -c 300 "$TMP/big.err")"
fi
rm -f "$TMP/big.dat"

# 3b. A large malloc is one memory_pressure/large_allocation finding, not
# also a kernel_fs one for the mmap glibc makes inside malloc.
if timeout 60 "$MO" --metrics off --format json --large-size 256M -o "$TMP/lh.json" \
	-- "$FIX/leak_many" --count 1 --size $((300 << 20)) > /dev/null 2> "$TMP/lh.err"; then
	got=$(jq_py "$TMP/lh.json" '
[(e["type"], e["size_bytes"], any(f.get("symbol") == "leak_many_blocks" for f in e.get("stack", [])))
 for e in evs if e["kind"] == "large_allocation"]')
	if [ "$got" = "[('memory_pressure', $((300 << 20)), True)]" ]; then
		pass growth_large_malloc_once
	else
		fail growth_large_malloc_once "large_allocation events: $got"
	fi
else
	fail growth_large_malloc_once "$(head -c 300 "$TMP/lh.err")"
fi

# 4. OOM: a memory-limited cgroup (v1 memory controller, else v2), a leak
# of 8 MiB/s into a 96 MiB limit: oom_risk must come before oom_kill.
cg=""
if [ -d /sys/fs/cgroup/memory ]; then
	cg=/sys/fs/cgroup/memory/mo-oom-test.$$
	mkdir -p "$cg" && echo $((96 << 20)) > "$cg/memory.limit_in_bytes" || cg=""
elif [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
	cg=/sys/fs/cgroup/mo-oom-test.$$
	mkdir -p "$cg" && echo $((96 << 20)) > "$cg/memory.max" || cg=""
fi
if [ -z "$cg" ]; then
	skip growth_oom_predicted_then_killed "no memory cgroup controller to limit a process"
else
	timeout 120 "$MO" --metrics off --format json --min-age 1s -o "$TMP/oom.json" \
		-- sh -c "echo \$\$ > $cg/cgroup.procs && exec $FIX/leak_many --count 400 --size 1048576 --touch --interval-ms 125" \
		> "$TMP/oom.out" 2> "$TMP/oom.err"
	order=$(jq_py "$TMP/oom.json" '
[e["kind"] for e in evs if e["kind"] in ("oom_risk", "oom_kill")]')
	if [ "$(jq_py "$TMP/oom.json" '
(lambda k: "oom_risk" in k and "oom_kill" in k and k.index("oom_risk") < k.index("oom_kill"))(
    [e["kind"] for e in evs if e["kind"] in ("oom_risk", "oom_kill")])')" = True ]; then
		pass growth_oom_predicted_then_killed
	else
		fail growth_oom_predicted_then_killed "sequence: $order; $(tail -c 200 "$TMP/oom.err")"
	fi
	killed=$(jq_py "$TMP/oom.json" '
any(e["kind"] == "oom_kill" and any(f.get("symbol") == "leak_many_blocks" for f in e.get("stack", [])) for e in evs)')
	if [ "$killed" = True ]; then pass growth_oom_kill_names_leak; else fail growth_oom_kill_names_leak "oom_kill event without the leaking stack"; fi
	rmdir "$cg" 2> /dev/null
fi
exit 0
