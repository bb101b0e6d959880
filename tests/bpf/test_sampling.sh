#!/usr/bin/env bash
# Byte sampling (--sample-bytes) on real processes: the estimates of a fixture
# with known truth (many small and a few large leaks per stack, a stack whose
# blocks are all freed) within 5 standard deviations, a band the unweighted
# sums cannot reach; calls sampled out take no return probe; a call nested in
# a sampled-out one (operator new -> malloc) gets no second chance; the two
# kinds of sampling refuse each other.
. "$(dirname "$0")/lib.sh"
SC=$ROOT/tests/bpf/sampling_check.py

# ---- bad input: one line naming the problem, non-zero exit (no BPF needed)
bad() { # name expected-text memobserver arguments...
	local name=$1 want=$2
	shift 2
	"$MO" "$@" > "$TMP/bad.out" 2> "$TMP/bad.err"
	local rc=$?
	if [ $rc -ne 0 ] && [ "$(wc -l < "$TMP/bad.err")" = 1 ] && grep -q -- "$want" "$TMP/bad.err"; then
		pass "$name"
	else
		fail "$name" "exit $rc, stderr: $(head -c 300 "$TMP/bad.err")"
	fi
}
if [ -x "$MO" ]; then
	bad sampling_exclusive "--sample-bytes" --sample 10 --sample-bytes 64K -- true
	printf 'sampling_rate = 10\nsample_bytes = 64K\n' > "$TMP/both.conf"
	bad sampling_exclusive_config "sample_bytes" --config "$TMP/both.conf" -- true
	bad sampling_bad_size "--sample-bytes" --sample-bytes 64Q -- true
	bad sampling_too_large "--sample-bytes" --sample-bytes 1G -- true
fi

why=$(bpf_unavailable); if [ -n "$why" ]; then skip sampling "$why"; exit 0; fi

# ---- the estimates
R=8192
if timeout 300 "$MO" --format json --min-age 0 --sample-bytes $R -o "$TMP/mixed.json" \
	-- "$FIX/sample_mixed" > "$TMP/mixed.out" 2> "$TMP/mixed.err"; then
	if python3 "$SC" check "$TMP/mixed.json" "$TMP/mixed.out" $R > "$TMP/check.mixed" 2>&1; then
		pass sampling_estimate
	else
		fail sampling_estimate "$(tr '\n' ';' < "$TMP/check.mixed" | cut -c1-900)"
	fi
else
	fail sampling_estimate "memobserver exited $?: $(head -c 300 "$TMP/mixed.err")"
fi

# ---- every call sampled out returns unseen: the return probes are the
# tracked calls (and the few large ones kept for the allocator's mmap).
# Probe hits are counted per process under an overhead budget (100 % of the
# process's own work; if it sheds, entries and returns stop alike). The
# fixture holds its blocks until its stdin closes: its hits are read from
# the procs map meanwhile.
mkfifo "$TMP/stdin"
timeout 300 "$MO" --format json --min-age 0 --sample-bytes $R --max-overhead 100 \
	-o "$TMP/hits.json" -- "$FIX/sample_mixed" --hold-stdin < "$TMP/stdin" \
	> "$TMP/hits.out" 2> "$TMP/hits.err" &
mpid=$!
exec {hold}> "$TMP/stdin"
hits=""
if wait_for "$TMP/hits.out" '^DONE' 1200; then
	fpid=$(awk '$1 == "READY" { print $2; exit }' "$TMP/hits.out")
	hits=$(bpftool -j map dump name procs 2> /dev/null | python3 -c '
import json, sys
pid = int(sys.argv[1])
for e in json.load(sys.stdin):
    e = e.get("formatted", e)
    if e["key"] == pid:
        print(e["value"]["hits_alloc"], e["value"]["hits_return"])' "$fpid")
fi
exec {hold}>&-
if wait "$mpid"; then
	tracked=$(python3 -c 'import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if "\"summary\"" in l][-1]
print(s["allocations_tracked"])' "$TMP/hits.json")
	read -r h_alloc h_return <<< "$hits"
	if [ -z "$hits" ]; then
		fail sampling_no_return_work "no probe hits of the fixture in the procs map"
	elif [ "$h_alloc" -gt $((50 * h_return)) ] && [ "$h_return" -le $((tracked + 100)) ]; then
		pass sampling_no_return_work
	else
		fail sampling_no_return_work "alloc entries $h_alloc, returns $h_return, tracked $tracked"
	fi
else
	fail sampling_no_return_work "memobserver exited $?: $(head -c 300 "$TMP/hits.err")"
fi

# ---- a call nested in a sampled-out call is skipped with it: with a second
# chance, operator new's and realloc(NULL)'s blocks would count about twice.
# 64-byte blocks at a mean of 4 KiB: 620 of 40000 sampled, sd 4 %.
nested() { # name fixture
	if timeout 120 "$MO" --format json --min-age 0 --sample-bytes 4K -o "$TMP/$1.json" \
		-- "$FIX/$2" > "$TMP/$1.out" 2> "$TMP/$1.err"; then
		if python3 "$ROOT/tests/bpf/exact_check.py" ratio "$TMP/$1.json" "$TMP/$1.out" \
			0.8 1.2 > "$TMP/x.$1" 2>&1; then
			pass "$1"
		else
			fail "$1" "$(tr '\n' ';' < "$TMP/x.$1" | cut -c1-600)"
		fi
	else
		fail "$1" "memobserver exited $?: $(head -c 300 "$TMP/$1.err")"
	fi
}
nested sampling_nested exact_sample
[ -x "$FIX/exact_sample-static" ] && nested sampling_nested_static exact_sample-static
exit 0
