#!/usr/bin/env bash
# memobserver -p PID: attach to a running process, no restart; exact leaks;
# SIGINT gives a clean detach with the final report; nothing stays attached.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip pid "$why"; exit 0; fi

# attach NAME FIXTURE [fixture args]: fixture waits for SIGUSR1, memobserver
# attaches by pid, then the fixture allocates, holds, and exits.
attach() {
	local name=$1 fx=$2
	shift 2
	"$FIX/$fx" --wait-signal "$@" > "$TMP/$name.out" 2>&1 &
	local fpid=$!
	wait_for "$TMP/$name.out" '^READY' 50 || { fail "$name" "fixture did not start"; return 1; }
	"$MO" -v --format json --min-age 0 --min-size 1 -p "$fpid" -o "$TMP/$name.json" \
		2> "$TMP/$name.err" &
	local mpid=$!
	wait_for "$TMP/$name.err" 'observing' 100 || { fail "$name" "memobserver did not attach: $(head -c 300 "$TMP/$name.err")"; kill $fpid $mpid; return 1; }
	kill -USR1 "$fpid"
	wait "$fpid"
	# the target exited: memobserver ends by itself with the final report
	local i=0
	while kill -0 "$mpid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	if kill -0 "$mpid" 2>/dev/null; then
		kill -KILL "$mpid"
		fail "$name" "memobserver did not end after its target exited"
		return 1
	fi
	wait "$mpid" || { fail "$name" "memobserver exited $?: $(head -c 300 "$TMP/$name.err")"; return 1; }
}

links0=$(links_now)
attach pid_basic leak_basic --hold-ms 300 && check pid_leak_basic "$TMP/pid_basic.json" "$TMP/pid_basic.out"
attach pid_cxx leak_cxx --hold-ms 300 && check pid_cxx_new "$TMP/pid_cxx.json" "$TMP/pid_cxx.out"
attach pid_threads leak_threads --hold-ms 300 && check pid_threads "$TMP/pid_threads.json" "$TMP/pid_threads.out"

# SIGINT while the target still runs: clean detach, final report written.
"$FIX/leak_basic" --hold-ms 30000 > "$TMP/int.out" 2>&1 &
fpid=$!
wait_for "$TMP/int.out" '^DONE' 50
"$MO" -v --format json --min-age 0 -p "$fpid" -o "$TMP/int.json" 2> "$TMP/int.err" &
mpid=$!
if wait_for "$TMP/int.err" 'observing' 100; then
	kill -INT "$mpid"
	if wait "$mpid" && grep -q '"type":"summary"' "$TMP/int.json"; then
		pass pid_sigint_final_report
	else
		fail pid_sigint_final_report "no summary after SIGINT: $(tail -c 300 "$TMP/int.err")"
	fi
else
	fail pid_sigint_final_report "memobserver did not attach"
fi
kill "$fpid" 2>/dev/null
wait "$fpid" 2>/dev/null

wait_until 50 links_back "$links0"
links1=$(links_now)
if [ "$links0" = "$links1" ]; then
	pass pid_no_links_left
else
	fail pid_no_links_left "bpf links before $links0, after $links1"
fi
exit 0
