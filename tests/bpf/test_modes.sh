#!/usr/bin/env bash
# Operation modes. Conservative mode places no allocator probe: blocks of
# 100 KB and more, which glibc serves with mmap, are seen through the
# syscall tracepoints, attributed to the function that called malloc.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip modes "$why"; exit 0; fi

run() { # name fixture [memobserver options] [:: fixture args]
	local name=$1 fx=$2
	shift 2
	local opts=()
	while [ $# -gt 0 ] && [ "$1" != "::" ]; do opts+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	timeout 60 "$MO" --metrics off --format json --min-age 0 "${opts[@]}" -o "$TMP/$name.json" \
		-- "$FIX/$fx" "$@" > "$TMP/$name.out" 2> "$TMP/$name.err" ||
		{ fail "$name" "memobserver failed: $(head -c 300 "$TMP/$name.err")"; return 1; }
}

if run cons_big leak_many --mode conservative :: --count 5 --size 1048576; then
	probes=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("type") == "summary": print(e["probes_attached"])' "$TMP/cons_big.json")
	# the allocator maps each block with its header, rounded to pages: the
	# bytes seen are what was mapped (1 MiB + 4 KiB per block here)
	got=$(python3 -c '
import json, sys
b = c = 0
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("kind") == "leak" and e.get("final") and any(
            f.get("symbol") == "leak_many_blocks" for f in e.get("stack", [])):
        b += e["unfreed_bytes"]; c += e["count"]
print(b, c)' "$TMP/cons_big.json")
	if [ "$probes" = 0 ] && [ "$got" = "$((5 * (1048576 + 4096))) 5" ]; then
		pass modes_conservative_large_blocks
	elif [ "$probes" = 0 ]; then
		fail modes_conservative_large_blocks "expected 5 mapped blocks of 1 MiB + 4 KiB, got bytes/count $got"
	else
		fail modes_conservative_large_blocks "$probes allocator probes attached in conservative mode"
	fi
fi
# freed large blocks (munmap inside free) are not reported
run cons_noleak noleak --mode conservative &&
	check modes_conservative_noleak "$TMP/cons_noleak.json" "$TMP/cons_noleak.out" --no-leaks
# aggressive mode tracks blocks from 1 KiB
run aggr leak_many --mode aggressive :: --count 50 --size 2048 &&
	check modes_aggressive_small_blocks "$TMP/aggr.json" "$TMP/aggr.out"
# balanced mode ignores 2 KiB blocks: counted as filtered, not reported
if run bal leak_many --mode balanced :: --count 50 --size 2048; then
	filtered=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("type") == "summary": print(e["filtered"]["below_min_size"])' "$TMP/bal.json")
	leaks=$(grep -c '"kind":"leak"' "$TMP/bal.json")
	if [ "$filtered" -ge 50 ] && [ "$leaks" = 0 ]; then
		pass modes_balanced_filters_small
	else
		fail modes_balanced_filters_small "filtered=$filtered leak events=$leaks"
	fi
fi
exit 0
