#!/usr/bin/env bash
# Nothing observed is lost silently: a full allocation table and sampling are
# counted, sampled totals are scaled and marked as estimates; a kernel
# without BTF is refused with one clear line.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip limits "$why"; exit 0; fi

summary() { # file key.path -> value from the summary line
	python3 - "$1" "$2" << 'PY'
import json, sys
for line in open(sys.argv[1]):
    ev = json.loads(line)
    if ev.get("type") == "summary":
        v = ev
        for k in sys.argv[2].split("."):
            v = v[k]
        print(json.dumps(v))
PY
}
leak_total() { # file -> "bytes count" of final leaks attributed to leak_many_blocks
	python3 - "$1" << 'PY'
import json, sys
b = c = 0
for line in open(sys.argv[1]):
    ev = json.loads(line)
    if ev.get("kind") == "leak" and ev.get("final") and any(
            f.get("symbol") == "leak_many_blocks" for f in ev.get("stack", [])):
        b += ev["unfreed_bytes"]; c += ev["count"]
print(b, c)
PY
}

# 1. Allocation table of 1024 entries, 3000 leaks: the rest are counted.
printf 'max_allocations = 1024\n' > "$TMP/small.conf"
if timeout 60 "$MO" --config "$TMP/small.conf" --format json --min-age 0 -o "$TMP/full.json" \
	-- "$FIX/leak_many" --count 3000 --size 16384 > "$TMP/full.out" 2> "$TMP/full.err"; then
	read -r bytes cnt < <(leak_total "$TMP/full.json")
	drops=$(summary "$TMP/full.json" drops.allocation_table_full)
	# the table also holds the loader's own mappings: at most a few entries
	if [ "$cnt" -le 1024 ] && [ $((cnt + drops)) -ge 3000 ] && [ $((cnt + drops)) -le 3010 ]; then
		pass limits_table_full_counted
	else
		fail limits_table_full_counted "tracked $cnt + dropped $drops should be ~3000"
	fi
else
	fail limits_table_full_counted "memobserver failed: $(head -c 300 "$TMP/full.err")"
fi

# 1b. An unwind table of 1024 rows: libc's rows do not fit; the files left out
# are counted as a drop, the rows used stay within the table.
printf 'unwind_rows = 1024\n' > "$TMP/rows.conf"
if timeout 60 "$MO" --config "$TMP/rows.conf" --format json --min-age 0 -o "$TMP/rows.json" \
	-- "$FIX/leak_basic" > "$TMP/rows.out" 2> "$TMP/rows.err"; then
	full=$(summary "$TMP/rows.json" drops.unwind_rows_full)
	used=$(summary "$TMP/rows.json" unwind_rows_used)
	if [ "$full" -ge 1 ] && [ "$used" -le 1024 ]; then
		pass limits_unwind_rows_full_counted
	else
		fail limits_unwind_rows_full_counted "unwind_rows_full $full, rows used $used of 1024"
	fi
else
	fail limits_unwind_rows_full_counted "memobserver failed: $(head -c 300 "$TMP/rows.err")"
fi

# 1c. An event queue of 4 in front of a reader that does not read yet: the
# writer blocks on the full pipe, the queue fills, the events that do not fit
# are counted (and the counter reaches the summary once the reader reads).
printf 'buffer_size = 4\n' > "$TMP/q.conf"
mkfifo "$TMP/q.fifo"
exec 7<> "$TMP/q.fifo"	# held open: the writer's writes succeed until the pipe is full
timeout 120 "$MO" --config "$TMP/q.conf" --format json --min-age 0 --large-size 16384 \
	-o "$TMP/q.fifo" -- "$FIX/leak_many" --count 3000 --size 16384 > "$TMP/q.out" 2> "$TMP/q.err" &
qpid=$!
wait_for "$TMP/q.out" '^DONE' 600
cat "$TMP/q.fifo" > "$TMP/q.json" 7>&- &
cpid=$!
wait "$qpid"
qrc=$?
exec 7>&-
wait "$cpid"
full=$(summary "$TMP/q.json" drops.event_buffer_full)
if [ "$qrc" = 0 ] && [ "${full:-0}" -ge 1 ]; then
	pass limits_event_buffer_full_counted
else
	fail limits_event_buffer_full_counted "exit $qrc, event_buffer_full ${full:-none}: $(head -c 200 "$TMP/q.err")"
fi

# 2. Sampling 1 in 4: totals scaled back and marked as estimates.
if timeout 60 "$MO" --sample 4 --format json --min-age 0 -o "$TMP/s.json" \
	-- "$FIX/leak_many" --count 4000 --size 16384 > "$TMP/s.out" 2> "$TMP/s.err"; then
	read -r bytes cnt < <(leak_total "$TMP/s.json")
	est=$(summary "$TMP/s.json" estimate)
	sampled=$(summary "$TMP/s.json" filtered.sampled_out)
	# binomial(4000, 1/4): 3 standard deviations is about 8 %
	if [ "$est" = true ] && [ "$cnt" -ge 3400 ] && [ "$cnt" -le 4600 ] &&
		[ "$bytes" -eq $((cnt * 16384)) ] && [ "$sampled" -ge 2000 ]; then
		pass limits_sampling_estimate
	else
		fail limits_sampling_estimate "estimate=$est count=$cnt bytes=$bytes sampled_out=$sampled"
	fi
else
	fail limits_sampling_estimate "memobserver failed: $(head -c 300 "$TMP/s.err")"
fi

# 3. No BTF: hide it in a private mount namespace.
if command -v unshare > /dev/null; then
	out=$(unshare -m bash -c 'mount -t tmpfs none /sys/kernel/btf && "$0" -- /bin/true' "$MO" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] && grep -q 'kernel BTF not found' <<< "$out" && [ "$(grep -c . <<< "$out")" -eq 1 ]; then
		pass limits_no_btf_refused
	else
		fail limits_no_btf_refused "rc=$rc: $out"
	fi
else
	skip limits_no_btf_refused "unshare not installed"
fi
exit 0
