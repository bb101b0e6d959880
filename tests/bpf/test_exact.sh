#!/usr/bin/env bash
# Exactness of the kernel side: realloc against a concurrent malloc, zero-size
# blocks (valgrind as a second oracle), munmap/mremap/MAP_FIXED of any range,
# sampling with nested hooked calls (operator new -> malloc), the walker's
# mapping cache after dlclose/dlopen and across a reused pid, and a dlopen'ed
# module's dynamic TLS (the program's, unlike the loader's bookkeeping).
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip exact "$why"; exit 0; fi
EXACT=$ROOT/tests/bpf/exact_check.py

run() { # name fixture [memobserver options] [:: fixture args]
	local name=$1 fx=$2
	shift 2
	local opts=()
	while [ $# -gt 0 ] && [ "$1" != "::" ]; do opts+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	timeout 120 "$MO" --format json --min-age 0 --min-size 1 "${opts[@]}" -o "$TMP/$name.json" \
		-- "$FIX/$fx" "$@" > "$TMP/$name.out" 2> "$TMP/$name.err"
	local rc=$?
	if [ $rc -ne 0 ]; then
		fail "$name" "memobserver exited $rc: $(head -c 300 "$TMP/$name.err")"
		return 1
	fi
}

xcheck() { # name exact_check.py arguments
	local name=$1
	shift
	if python3 "$EXACT" "$@" > "$TMP/x.$name" 2>&1; then
		pass "$name"
	else
		fail "$name" "$(tr '\n' ';' < "$TMP/x.$name" | cut -c1-600)"
	fi
}

# ---- zero-size blocks are blocks; valgrind agrees on every definitely lost one
if run heap exact_heap; then
	check exact_zero_size "$TMP/heap.json" "$TMP/heap.out"
	if command -v valgrind > /dev/null; then
		valgrind --leak-check=full --log-file="$TMP/heap.vg" "$FIX/exact_heap" > /dev/null 2>&1
		xcheck exact_zero_size_valgrind valgrind "$TMP/heap.json" "$TMP/heap.vg" \
			leak_malloc0 leak_calloc0 leak_small
	else
		skip exact_zero_size_valgrind "valgrind not installed"
	fi
fi

# ---- realloc's old block must not be forgotten after another thread got it.
# Busy CPUs preempt the realloc'ing threads between the allocator's free and
# the return probe, where the other thread's malloc takes the address.
sh -c 'while :; do :; done' &
busy=$!
run race exact_realloc_race && check exact_realloc_race "$TMP/race.json" "$TMP/race.out"
kill "$busy"
wait "$busy" 2> /dev/null

# ---- munmap, mremap and MAP_FIXED over any range; byte totals stay exact
run mmap exact_mmap && check exact_mmap_ranges "$TMP/mmap.json" "$TMP/mmap.out"

# ---- one chance in N per allocation, also when operator new calls malloc
run sample exact_sample --sample 10 &&
	xcheck exact_sample_nested ratio "$TMP/sample.json" "$TMP/sample.out" 0.85 1.15

# ---- the walker's mapping cache: code unmapped, other code at its address
ino_loaded() { # file: its unwind rows are in some observer's modules map
	local ino
	ino=$(stat -c %i "$1") || return 1
	bpftool -j map dump name modules 2> /dev/null | grep -q "\"ino\":$ino[,}]"
}

# name fixture "TAGS" [fixture args]: answer each "WAIT <tag>" of the fixture
# once the observer has loaded that module's unwind rows
waited() {
	local name=$1 fx=$2 tags=$3
	shift 3
	timeout 120 "$MO" --format json --min-age 0 --min-size 1 -o "$TMP/$name.json" \
		-- "$FIX/$fx" "$@" > "$TMP/$name.out" 2> "$TMP/$name.err" &
	local mpid=$! tag pid path i
	for tag in $tags; do
		if ! wait_for "$TMP/$name.out" "^WAIT $tag " 300; then
			grep -q '^NOREUSE' "$TMP/$name.out" && break
			fail "$name" "no WAIT $tag: $(head -c 300 "$TMP/$name.err")"
			kill "$mpid"
			return 1
		fi
		read -r _ _ pid path < <(grep "^WAIT $tag " "$TMP/$name.out")
		i=0
		until ino_loaded "$path" || [ $i -ge 300 ]; do sleep 0.1; i=$((i + 1)); done
		[ $i -lt 300 ] || { fail "$name" "unwind rows of $path never loaded"; kill "$mpid"; return 1; }
		kill -USR1 "$pid"
	done
	wait "$mpid" || { fail "$name" "memobserver exited $?: $(head -c 300 "$TMP/$name.err")"; return 1; }
}

same_base() { # fixture output: both modules were mapped at one address
	[ "$(awk '$1 == "BASE" { print $3 }' "$1" | sort -u | wc -l)" = 1 ]
}

if waited dl exact_dl "A B"; then
	if same_base "$TMP/dl.out"; then
		check exact_dlclose_dlopen "$TMP/dl.json" "$TMP/dl.out"
	else
		skip exact_dlclose_dlopen "module B was not mapped where A was"
	fi
fi
if waited reuse exact_dl "A B" --reuse-pid; then
	if grep -q '^NOREUSE' "$TMP/reuse.out"; then
		skip exact_pid_reuse_maps "the pid could not be had again (busy machine)"
	elif same_base "$TMP/reuse.out"; then
		check exact_pid_reuse_maps "$TMP/reuse.json" "$TMP/reuse.out"
	else
		skip exact_pid_reuse_maps "module B was not mapped where A was"
	fi
fi

# ---- dynamic TLS of a dlopen'ed module is the program's; the loader's own
# blocks (link map, DTV) are not reported
if waited tls exact_tls T; then
	check exact_dynamic_tls "$TMP/tls.json" "$TMP/tls.out"
	xcheck exact_loader_not_reported total "$TMP/tls.json" 1048576
fi

# ---- full tables: every drop counted (the tables filled with keys no
# process has once the fixture runs; it then forks, allocates and maps)
drops() { # summary JSON: the drop counters this test fills
	python3 -c 'import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if "\"summary\"" in l][-1]["drops"]
print(" ".join("%s=%s" % (k, s.get(k)) for k in sys.argv[2:]))' "$1" \
		targets_table_full process_table_full process_maps_table_full rss_table_full \
		mmap_ranges_full
}
timeout 120 "$MO" --format json --min-age 0 --min-size 1 -o "$TMP/drops.json" \
	-- "$FIX/exact_drops" --wait-signal > "$TMP/drops.out" 2> "$TMP/drops.err" &
mpid=$!
if wait_for "$TMP/drops.out" '^READY' 300; then
	fpid=$(awk '$1 == "READY" { print $2 }' "$TMP/drops.out")
	opid=$(ps -o ppid= -p "$fpid" | tr -d ' ')	# memobserver, under timeout
	python3 "$ROOT/tests/bpf/fill_map.py" "$opid" procs rss proc_maps mmaps > "$TMP/fill1" 2>&1
	kill -USR1 "$fpid"
	wait_for "$TMP/drops.out" '^PHASE2' 300
	python3 "$ROOT/tests/bpf/fill_map.py" "$opid" targets > "$TMP/fill2" 2>&1
	kill -USR1 "$fpid"
	if wait "$mpid"; then
		got=$(drops "$TMP/drops.json" 2>&1)
		if [ -n "$got" ] && ! grep -qE '=(0|None)( |$)' <<< "$got"; then
			pass exact_drops_counted
		else
			fail exact_drops_counted "$got; filled: $(tr '\n' ' ' < "$TMP/fill1") $(tr '\n' ' ' < "$TMP/fill2")"
		fi
	else
		fail exact_drops_counted "memobserver failed: $(head -c 300 "$TMP/drops.err")"
	fi
else
	fail exact_drops_counted "fixture did not start"
	kill "$mpid"
fi
exit 0
