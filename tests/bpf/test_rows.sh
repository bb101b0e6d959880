#!/usr/bin/env bash
# The unwind table is reused: with a table that holds one program's files but
# not two, a program started after another exited gets the rows of files no
# longer used (the least recently used are evicted), its stacks are whole CFI
# stacks, and a long-lived process whose files were evicted meanwhile is
# asked for them again and gets whole stacks again.
#
# Three copies of the same program, each with its own copy of the loader and
# the C library (new inodes: new files for the walker), about 31,000 rows
# each in a table of 36,000: L (lives throughout), then A (exits), then B,
# then L again. The C library alone is more than 3/4 of the table: any
# eviction for it frees the whole table.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip rows "$why"; exit 0; fi
command -v curl > /dev/null || { skip rows "curl is not installed"; exit 0; }

LIBC=$(ldd "$FIX/rows_phases" | awk '/libc\.so/ {print $3}')
LDSO=$(ldd "$FIX/rows_phases" | awk '/ld-linux/ {print $1}')
if [ ! -f "$LIBC" ] || [ ! -f "$LDSO" ]; then
	skip rows "no libc.so.6 or loader found for the fixture ($LIBC, $LDSO)"
	exit 0
fi


# metric NAME [LABELS]: its value in the last scrape
metric() {
	local key=$1
	[ -n "${2:-}" ] && key="$1{$2}"
	awk -v m="$key" '$1 == m {print $2}' "$TMP/m.txt"
}
scrape() { scrape_to "$PORT" "$TMP/m.txt"; }

# start_prog NAME: a copy of the fixture, the loader and libc in $TMP/NAME,
# reading phases from the fifo $TMP/NAME.in (held open on fd $2)
start_prog() {
	local d=$TMP/$1
	mkdir -p "$d"
	cp "$FIX/rows_phases" "$d/rows_phases"
	cp "$LIBC" "$d/libc.so.6"
	cp "$LDSO" "$d/ld.so"
	mkfifo "$d.in"
	eval "exec $2<> \"$d.in\""
	"$d/ld.so" --library-path "$d" "$d/rows_phases" < "$d.in" > "$d.out" &
	wait_for "$d.out" '^READY' 100 || { fail rows "$1 did not start"; exit 0; }
}

# round NAME FD: one phase of NAME; prints the phase number
PHASES_L=0 PHASES_A=0 PHASES_B=0
round() {
	local var=PHASES_$1 n
	n=$(( ${!var} + 1 ))
	printf -v "$var" %d "$n"
	echo >&"$2"
	wait_for "$TMP/$1.out" "^PHASE $n\$" 100 || return 1
}

# settle NAME FD: phases of NAME until the walker has all its files: at
# least one file loaded since the start, then two phases in a row during
# which nothing was loaded or evicted (a quiet phase lasts 1.5 s, longer than
# the grace period after an eviction: a file that waited for it is asked for
# in the next phase). The second quiet phase's stacks must be whole: LAST_NAME.
settle() {
	local i=0 quiet=0 base l e l1 e1
	scrape || return 1
	base=$(metric memobserver_unwind_modules_total 'result="loaded"')
	while [ $i -lt 40 ] && [ $quiet -lt 2 ]; do
		l=$(metric memobserver_unwind_modules_total 'result="loaded"')
		e=$(metric memobserver_unwind_modules_total 'result="evicted"')
		round "$1" "$2" || return 1
		# the worker takes the walker's requests a moment after the phase
		if wait_until 15 changed "$l" "$e"; then
			quiet=0
		elif [ "$l" -gt "$base" ]; then
			quiet=$((quiet + 1))
		fi
		i=$((i + 1))
	done
	[ $quiet -ge 2 ] || return 1
	printf -v "LAST_$1" %d "$(eval echo "\$PHASES_$1")"
}
changed() {
	scrape || return 1
	l1=$(metric memobserver_unwind_modules_total 'result="loaded"')
	e1=$(metric memobserver_unwind_modules_total 'result="evicted"')
	[ "$l1" != "$1" ] || [ "$e1" != "$2" ]
}

printf 'unwind_rows = 36000\n' > "$TMP/rows.conf"
start_prog L 7
start_prog A 8
start_prog B 9
PL=$(awk '/^READY/ {print $2}' "$TMP/L.out")
PA=$(awk '/^READY/ {print $2}' "$TMP/A.out")
PB=$(awk '/^READY/ {print $2}' "$TMP/B.out")
PORT=$(free_port)
"$MO" --config "$TMP/rows.conf" -p "$PL" -p "$PA" -p "$PB" --format json --min-age 0 \
	--min-size 1 -m "127.0.0.1:$PORT" -o "$TMP/ev.json" > "$TMP/mo.out" 2> "$TMP/mo.err" &
MOPID=$!
if ! wait_until 300 scrape; then
	fail rows "memobserver did not serve metrics: $(head -c 300 "$TMP/mo.err")"
	exit 0
fi
# files larger than the whole table (some of memobserver's own, loaded at
# start) are refused as before; none of the programs' files may be
full0=$(metric memobserver_dropped_events_total 'reason="unwind_rows_full"')
evicted0=$(metric memobserver_unwind_modules_total 'result="evicted"')

ok=1
settle L 7 || { ok=0; fail rows_long_lived_first "L's files were never loaded"; }
scrape
evicted_l=$(metric memobserver_unwind_modules_total 'result="evicted"')
# A takes the table: L's files go
settle A 8 || { ok=0; fail rows_exited_program "A's files were never loaded"; }
exec 8>&-
wait_until 100 pid_gone "$PA"
scrape
evicted_a=$(metric memobserver_unwind_modules_total 'result="evicted"')
# B needs A's rows (A has exited)
settle B 9 || { ok=0; fail rows_next_program "B's files were never loaded"; }
scrape
evicted_b=$(metric memobserver_unwind_modules_total 'result="evicted"')
used_b=$(metric memobserver_unwind_rows_used)
# L again: its cached row indexes are stale, its files gone; asked again
settle L 7 || { ok=0; fail rows_long_lived_again "L's files were not loaded again"; }
scrape
full1=$(metric memobserver_dropped_events_total 'reason="unwind_rows_full"')
evicted1=$(metric memobserver_unwind_modules_total 'result="evicted"')
used1=$(metric memobserver_unwind_rows_used)

kill -INT "$MOPID"
wait_until 300 pid_gone "$MOPID" || kill -KILL "$MOPID"
wait "$MOPID" 2> /dev/null
exec 7>&- 9>&-

echo "rows: evicted $evicted0 at start, $evicted_l after L, $evicted_a after A, $evicted_b after B," \
	"$evicted1 after L again; rows used $used_b after B, $used1 at the end (of 36000);" \
	"unwind_rows_full $full0 -> $full1; phases L ${LAST_L:-?} A ${LAST_A:-?} B ${LAST_B:-?}"

if [ "$ok" = 1 ]; then
	if [ "$evicted_a" -gt "$evicted_l" ] && [ "$evicted_b" -gt "$evicted_a" ] &&
		[ "$evicted1" -gt "$evicted_b" ]; then
		pass rows_evicted_counted
	else
		fail rows_evicted_counted "evictions did not grow with each program: $evicted_l, $evicted_a, $evicted_b, $evicted1"
	fi
	if [ "$full1" = "$full0" ] && [ "$used_b" -le 36000 ] && [ "$used1" -le 36000 ]; then
		pass rows_not_full
	else
		fail rows_not_full "unwind_rows_full $full0 -> $full1, rows used $used_b, $used1 of 36000"
	fi
fi

# whole stacks: the phase's function, then main, every frame unwound by rows
# (no frame-pointer fallback: stack_partial false)
whole() { # PID PHASE
	python3 - "$TMP/ev.json" "$1" "$2" << 'PY'
import json, sys
path, pid, ph = sys.argv[1], int(sys.argv[2]), "phase%s" % sys.argv[3]
chain = ["rows_leaf", "rows_mid", ph, "main"]
seen = []
for line in open(path, errors="replace"):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("kind") != "leak" or e.get("pid") != pid:
        continue
    syms = [f.get("symbol", "?") for f in e.get("stack", [])]
    if ph not in syms:
        continue
    seen.append((syms[:8], e.get("stack_partial", False)))
    i = syms.index("rows_leaf") if "rows_leaf" in syms else -1
    if i >= 0 and syms[i:i + 4] == chain and not e.get("stack_partial"):
        print("whole:", syms[:8])
        sys.exit(0)
print("no whole stack for %s of pid %d: %s" % (ph, pid, seen[:3]))
sys.exit(1)
PY
}
if [ "$ok" = 1 ]; then
	if out=$(whole "$PB" "$LAST_B"); then
		pass rows_next_program_whole_stacks
	else
		fail rows_next_program_whole_stacks "$out"
	fi
	if out=$(whole "$PL" "$LAST_L"); then
		pass rows_long_lived_whole_again
	else
		fail rows_long_lived_whole_again "$out"
	fi
fi
