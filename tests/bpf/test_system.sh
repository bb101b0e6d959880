#!/usr/bin/env bash
# System-wide, the precise tier: two leaking processes started after
# memobserver are seen separately, each with its own exact leaks (the watch
# tier, the system-wide default, is tests/bpf/test_watch.sh's).
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip system_wide "$why"; exit 0; fi

"$MO" -v --tier precise --metrics off --format json --min-age 0 --duration 20s -o "$TMP/sys.json" \
	2> "$TMP/sys.err" &
mpid=$!
if ! wait_for "$TMP/sys.err" 'observing' 300; then
	fail system_wide "memobserver did not start: $(head -c 300 "$TMP/sys.err")"
	kill "$mpid" 2>/dev/null
	exit 0
fi
"$FIX/leak_basic" --hold-ms 200 > "$TMP/a.out" 2>&1 &
a=$!
"$FIX/leak_threads" --hold-ms 200 > "$TMP/b.out" 2>&1 &
b=$!
wait $a $b
# both exits processed (their leaks reported) before the stop, at most 10 s each
wait_until 100 exit_seen "$TMP/sys.json" "$a" && wait_until 100 exit_seen "$TMP/sys.json" "$b" ||
	echo "note: memobserver had not reported the exits of $a and $b after 10 s" >&2
kill -INT "$mpid"
if ! wait "$mpid"; then
	fail system_wide "memobserver failed: $(tail -c 300 "$TMP/sys.err")"
	exit 0
fi
check system_wide_first_process "$TMP/sys.json" "$TMP/a.out" --pid "$a"
check system_wide_second_process "$TMP/sys.json" "$TMP/b.out" --pid "$b"
exit 0
