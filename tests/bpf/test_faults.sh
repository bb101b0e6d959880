#!/usr/bin/env bash
# Faults and lifecycle: targets that die, exec, fork in bursts, reuse pids,
# lose threads inside malloc; SIGTERM; two observers at once; an output that
# fills its disk or loses its reader; the capabilities memobserver keeps.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip faults "$why"; exit 0; fi
BYPID="python3 $ROOT/tests/bpf/leaks_by_pid.py"
FULL=$TMP/full
trap 'end_jobs; mountpoint -q "$FULL" && umount "$FULL"; rm_tmp' EXIT

# IDs of the BPF links process $1 holds (its bpf_link fds), one line.
links_of() {
	local fd ids=""
	for fd in /proc/"$1"/fd/*; do
		[ "$(readlink "$fd")" = anon_inode:bpf_link ] &&
			ids="$ids $(awk '/^link_id:/ { print $2 }' "/proc/$1/fdinfo/${fd##*/}")"
	done
	echo "$ids"
}

# Which of the link IDs $@ still exist.
links_alive() {
	local id alive=""
	for id in "$@"; do
		bpftool link show id "$id" > /dev/null 2>&1 && alive="$alive $id"
	done
	echo "$alive"
}

none_alive() { [ -z "$(links_alive "$@")" ]; }

# no_links_left NAME IDS: PASS when memobserver's links (taken while it ran)
# are all gone, at most 5 s after it ended (a link goes with its last
# reference, which can be a moment after the process is reaped).
no_links_left() {
	local name=$1 ids=$2 alive
	if [ -z "$ids" ]; then fail "$name" "no links seen while memobserver ran"; return; fi
	# shellcheck disable=SC2086
	wait_until 50 none_alive $ids
	# shellcheck disable=SC2086
	alive=$(links_alive $ids)
	if [ -z "$alive" ]; then pass "$name"; else fail "$name" "links still attached:$alive"; fi
}

# Wait up to $2 tenths of a second for process $1 to end; 1 if it did not.
wait_gone() {
	local i=0
	while kill -0 "$1" 2> /dev/null && [ $i -lt "$2" ]; do sleep 0.1; i=$((i + 1)); done
	! kill -0 "$1" 2> /dev/null
}

# observe NAME [memobserver options]: memobserver in the background, JSON to
# $TMP/NAME.json; sets mpid; 1 (and FAIL) when it does not start.
observe() {
	local name=$1
	shift
	"$MO" -v --format json --min-age 0 --metrics off -d 60s -o "$TMP/$name.json" "$@" \
		2> "$TMP/$name.err" &
	mpid=$!
	# 30 s: a system-wide start reads every running program's unwind rows
	if ! wait_for "$TMP/$name.err" 'observing' 300; then
		fail "$name" "memobserver did not start: $(head -c 300 "$TMP/$name.err")"
		stop_proc "$mpid"
		return 1
	fi
}

# A fixture waiting for SIGUSR1; sets fpid.
fixture_waiting() {
	local out=$1
	shift
	"$@" --wait-signal > "$out" 2>&1 &
	fpid=$!
	wait_for "$out" '^READY' 50
}

summary_has() { grep -q '"type":"summary"' "$1"; }

# ended NAME PID ERRFILE [SECONDS]: memobserver PID ends (by itself, or after
# a signal sent before) within SECONDS (10) with status 0; otherwise it is
# killed and NAME fails.
ended() {
	local rc
	if ! wait_gone "$2" $((${4:-10} * 10)); then
		kill -KILL "$2"
		wait "$2" 2> /dev/null
		fail "$1" "memobserver still ran ${4:-10} s later: $(tail -c 200 "$3")"
		return 1
	fi
	wait "$2"
	rc=$?
	[ $rc = 0 ] && return 0
	fail "$1" "memobserver exited $rc: $(tail -c 300 "$3")"
	return 1
}

# leaking NAME FIXTURE [args]: the fixture waits, memobserver NAME attaches
# by pid, the fixture allocates and holds; sets fpid, mpid and ids (the
# links of memobserver).
leaking() {
	local name=$1
	shift
	fixture_waiting "$TMP/$name.out" "$@" || return 1
	observe "$name" -p "$fpid" || return 1
	ids=$(links_of "$mpid")
	kill -USR1 "$fpid"
	wait_for "$TMP/$name.out" '^DONE' 100
}

# ---- 1. the target is killed while observed (SIGKILL, holding its leaks)
if leaking kill "$FIX/leak_basic" --hold-ms 30000; then
	kill -KILL "$fpid"
	wait "$fpid" 2> /dev/null
	ended faults_target_killed_final_report "$mpid" "$TMP/kill.err" &&
		check faults_target_killed_final_report "$TMP/kill.json" "$TMP/kill.out"
	no_links_left faults_target_killed_no_links "$ids"
fi

# ---- 2a. the target execs while observed by pid
fixture_waiting "$TMP/pexec.out" "$FIX/leak_exec" --hold-ms 300
if observe pexec -p "$fpid"; then
	kill -USR1 "$fpid"
	wait "$fpid"
	ended faults_pid_exec "$mpid" "$TMP/pexec.err" &&
		check faults_pid_exec "$TMP/pexec.json" "$TMP/pexec.out"
fi

# ---- 2b. 200 children forked back to back, every 4th leaking
if "$MO" --format json --min-age 0 --min-size 16000 --metrics off -d 120s \
	-o "$TMP/storm.json" -- "$FIX/fault_forkstorm" --children 200 > "$TMP/storm.out" \
	2> "$TMP/storm.err"; then
	check faults_fork_storm_exact "$TMP/storm.json" "$TMP/storm.out"
	awk '/^LEAK/ { print "leak_storm_child", $2, $3, 1 }' "$TMP/storm.out" | sort > "$TMP/storm.want"
	$BYPID "$TMP/storm.json" leak_storm_child noleak_child_churn | sort > "$TMP/storm.got"
	if [ "$(wc -l < "$TMP/storm.want")" = 50 ] && diff -q "$TMP/storm.want" "$TMP/storm.got" > /dev/null; then
		pass faults_fork_storm_per_pid
	else
		fail faults_fork_storm_per_pid "$(diff "$TMP/storm.want" "$TMP/storm.got" | head -5 | tr '\n' ';')"
	fi
	# every child's 20 mallocs and frees plus the 50 leaks: calls seen,
	# frees matched, blocks reported, nothing dropped
	got=$(python3 -c '
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if "\"summary\"" in l][-1]
print(s["allocator_calls"], s["deallocations_tracked"], s["count"], sum(s["drops"].values()))' "$TMP/storm.json")
	if [ "$got" = "4050 4000 50 0" ]; then
		pass faults_fork_storm_counts_reconcile
	else
		fail faults_fork_storm_counts_reconcile "calls/frees/leaked/dropped $got, expected 4050 4000 50 0"
	fi
else
	fail faults_fork_storm "memobserver failed: $(tail -c 300 "$TMP/storm.err")"
fi

# ---- 3. a pid reused by a new process that gets the old one's addresses
if "$MO" --format json --min-age 0 --metrics off -d 60s -o "$TMP/reuse.json" \
	-- "$FIX/fault_pidreuse" > "$TMP/reuse.out" 2> "$TMP/reuse.err"; then
	if grep -q '^NOREUSE' "$TMP/reuse.out"; then
		skip faults_pid_reuse "the pid could not be had again (busy machine)"
	else
		check faults_pid_reuse_exact "$TMP/reuse.json" "$TMP/reuse.out"
		p=$(awk '/^REUSED/ { print $2 }' "$TMP/reuse.out")
		want=$(printf 'leak_new_pid %s 72000 2\nleak_old_pid %s 120000 3' "$p" "$p")
		got=$($BYPID "$TMP/reuse.json" leak_old_pid leak_new_pid noleak_reused)
		if [ "$got" = "$want" ]; then
			pass faults_pid_reuse_not_mixed
		else
			fail faults_pid_reuse_not_mixed "pid $p: got $(echo "$got" | tr '\n' ';')"
		fi
	fi
else
	fail faults_pid_reuse "memobserver failed: $(tail -c 300 "$TMP/reuse.err")"
fi

# ---- 4. threads killed inside malloc (exit_group, seccomp), tids reused
if "$MO" --format json --min-age 0 --min-size 16000 --metrics off -d 60s \
	-o "$TMP/tk.json" -- "$FIX/fault_threadkill" > "$TMP/tk.out" 2> "$TMP/tk.err"; then
	check faults_thread_death_exact "$TMP/tk.json" "$TMP/tk.out"
	# a victim holds at most one block per thread (4) when exit_group hits
	bad=$($BYPID "$TMP/tk.json" churn_in_thread | awk '$4 > 4')
	nvict=$(grep -c '^VICTIM' "$TMP/tk.out")
	if [ "$nvict" = 10 ] && [ -z "$bad" ]; then
		pass faults_thread_death_victims
	else
		fail faults_thread_death_victims "$nvict victims; more than 4 blocks: $bad"
	fi
	echo "note: tids reused: $(grep -c '^REUSED_TID' "$TMP/tk.out") of 4"
else
	fail faults_thread_death "memobserver failed: $(tail -c 300 "$TMP/tk.err")"
fi

# ---- 5. SIGTERM: clean detach, final report
if leaking term "$FIX/leak_basic" --hold-ms 30000; then
	kill -TERM "$mpid"
	ended faults_sigterm_final_report "$mpid" "$TMP/term.err" &&
		check faults_sigterm_final_report "$TMP/term.json" "$TMP/term.out"
	# the target still runs: its probes must be gone all the same
	if kill -0 "$fpid"; then no_links_left faults_sigterm_no_links "$ids"; fi
fi
kill "$fpid" 2> /dev/null
wait "$fpid" 2> /dev/null

# ---- 6a. two observers of one pid; the first stops before the leaks
fixture_waiting "$TMP/two.out" "$FIX/leak_basic" --hold-ms 300
if observe two1 -p "$fpid"; then
	m1=$mpid
	if observe two2 -p "$fpid"; then
		m2=$mpid
		ids1=$(links_of "$m1")
		ids2=$(links_of "$m2")
		kill -TERM "$m1"
		if ended faults_two_observers_first_stops "$m1" "$TMP/two1.err"; then
			if summary_has "$TMP/two1.json"; then
				pass faults_two_observers_first_stops
			else
				fail faults_two_observers_first_stops "no final summary"
			fi
		fi
		no_links_left faults_two_observers_first_no_links "$ids1"
		kill -USR1 "$fpid"
		wait "$fpid"
		ended faults_two_observers_second_undisturbed "$m2" "$TMP/two2.err" &&
			check faults_two_observers_second_undisturbed "$TMP/two2.json" "$TMP/two.out"
		no_links_left faults_two_observers_second_no_links "$ids2"
	fi
fi
kill "$fpid" "$m1" 2> /dev/null

# ---- 6b. one system-wide and one pid-mode observer, both see the leaks
fixture_waiting "$TMP/sp.out" "$FIX/leak_basic" --hold-ms 1500
# the precise tier system-wide: exact blocks of every process
if observe sys --tier precise; then
	ms=$mpid
	if observe spid -p "$fpid"; then
		mp=$mpid
		ids=$(links_of "$ms")
		idp=$(links_of "$mp")
		kill -USR1 "$fpid"
		wait "$fpid"
		ended faults_pid_beside_system_wide "$mp" "$TMP/spid.err" &&
			check faults_pid_beside_system_wide "$TMP/spid.json" "$TMP/sp.out"
		# the system-wide observer has processed the exit (at most 10 s)
		wait_until 100 exit_seen "$TMP/sys.json" "$fpid" ||
			echo "note: the system-wide observer had not reported the exit of $fpid after 10 s" >&2
		# system-wide, stopping waits for the worker's backlog: allow 30 s
		kill -TERM "$ms"
		if ended faults_system_wide_stops "$ms" "$TMP/sys.err" 30; then
			pass faults_system_wide_stops
			# the same blocks, whatever the stacks: exact bytes and count
			want=$(awk '/^EXPECT/ { b += $3; c += $4 } END { print b, c }' "$TMP/sp.out")
			got=$(python3 -c '
import json, sys
b = c = 0
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("kind") == "leak" and e.get("final") and e["pid"] == int(sys.argv[2]):
        b += e["unfreed_bytes"]; c += e["count"]
print(b, c)' "$TMP/sys.json" "$fpid")
			if [ "$got" = "$want" ]; then
				pass faults_system_wide_beside_pid
			else
				fail faults_system_wide_beside_pid "bytes/count $got, expected $want"
			fi
			# a process older than the observer, ended before the report
			check faults_system_wide_older_process_named "$TMP/sys.json" "$TMP/sp.out" --pid "$fpid"
			# the pid-mode observer runs our own executable: probing its
			# allocator for every process would trap our own allocations
			traps=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("type") == "summary":
        print(e["self_probe_hits"], e["filtered"]["own_executable"])' "$TMP/sys.json")
			case "$traps" in
			"0 "[1-9]*) pass faults_system_wide_no_self_traps ;;
			*) fail faults_system_wide_no_self_traps "self probe hits, own executables skipped: $traps" ;;
			esac
		fi
		no_links_left faults_both_observers_no_links "$ids $idp"
	fi
	stop_proc "$ms"
fi

# ---- 7. the output file's disk fills up
mkdir -p "$FULL"
if mount -t tmpfs -o size=64k memobserver-test "$FULL"; then
	# leave one page free: the first writes work, then ENOSPC
	dd if=/dev/zero of="$FULL/fill" bs=4096 count=15 status=none
	port=$((20000 + RANDOM % 20000))
	"$MO" -v --min-age 0 -i 200ms --metrics "127.0.0.1:$port" -d 60s -o "$FULL/out.txt" \
		-- "$FIX/leak_basic" --hold-ms 3000 > "$TMP/full.out" 2> "$TMP/full.err" &
	mpid=$!
	wait_for "$TMP/full.out" '^DONE' 100
	# the scrape judged below: the first that counts a failed write (the
	# fixture holds 3 s, memobserver ends with it)
	write_failed() {
		scrape_to "$port" "$TMP/full.prom" || return 1
		awk '$1 == "memobserver_output_write_errors_total" && $2 > 0 { ok = 1 } END { exit !ok }' "$TMP/full.prom"
	}
	wait_until 25 write_failed
	wait "$mpid"
	rc=$?
	scraped=$(awk '/^memobserver_output_write_errors_total / { print $2 }' "$TMP/full.prom")
	tracked=$(awk '/^memory_allocations_tracked_total\{process="leak_basic"/ { print $2 }' "$TMP/full.prom")
	final=$(sed -n 's/.*warning: \([0-9]*\) writes to the output failed.*/\1/p' "$TMP/full.err")
	size=$(stat -c %s "$FULL/out.txt" 2> /dev/null || echo 0)
	if [ "$rc" = 0 ] && [ "${scraped:-0}" -gt 0 ] && [ "${final:-0}" -ge "${scraped:-0}" ] &&
		[ "$size" -gt 0 ] && [ "$size" -le 4096 ]; then
		pass faults_disk_full_counted
	else
		fail faults_disk_full_counted "exit $rc, scraped ${scraped:-none}, final warning ${final:-none}, output $size bytes: $(tail -c 200 "$TMP/full.err")"
	fi
	# observation went on while the disk was full: 33 leaks + 39 freed
	# allocations of leak_basic (min size 10 KiB) were tracked
	if [ "${tracked:-0}" -ge 33 ] && grep -q 'ENOSPC\|No space left' "$TMP/full.err"; then
		pass faults_disk_full_keeps_observing
	else
		fail faults_disk_full_keeps_observing "allocations tracked ${tracked:-none}; $(head -c 200 "$TMP/full.err")"
	fi
	umount "$FULL"
	if mountpoint -q "$FULL"; then fail faults_disk_full_unmounted "tmpfs still mounted"; else pass faults_disk_full_unmounted; fi
else
	skip faults_disk_full "cannot mount a tmpfs"
fi

# ---- 8. the reader of the output pipe goes away (| head -1)
mkfifo "$TMP/pipe"
head -1 < "$TMP/pipe" > "$TMP/head1.txt" &
hpid=$!
start=$(date +%s%N)
# (the fixture writes elsewhere: it would share the pipe and die of SIGPIPE,
# which a traced command gets by default, and memobserver would end with it)
"$MO" -v --min-age 0 -i 200ms --metrics off -d 60s \
	-- sh -c 'exec "$0" --hold-ms 3000 > /dev/null' "$FIX/leak_basic" \
	> "$TMP/pipe" 2> "$TMP/bp.err"
rc=$?
secs=$((($(date +%s%N) - start) / 1000000000))
wait "$hpid"
n=$(sed -n 's/.*warning: \([0-9]*\) writes to the output failed.*/\1/p' "$TMP/bp.err")
if [ "$rc" = 0 ] && [ "${n:-0}" -gt 0 ] && [ "$secs" -ge 3 ] && [ -s "$TMP/head1.txt" ]; then
	pass faults_broken_pipe_keeps_observing
else
	fail faults_broken_pipe_keeps_observing "exit $rc after ${secs}s, ${n:-no} failed writes: $(tail -c 200 "$TMP/bp.err")"
fi

# The reader holds the pipe open from the start but reads (and so goes
# away) only once memobserver's links are taken: memobserver ends at the
# first write after that, so its links must be listed before.
{ wait_file "$TMP/links_taken" 300 && head -1; } < "$TMP/pipe" > "$TMP/head2.txt" &
hpid=$!
"$MO" -v --exit-on-broken-pipe --min-age 0 -i 200ms --metrics off -d 60s \
	-- "$FIX/leak_basic" --hold-ms 30000 > "$TMP/pipe" 2> "$TMP/bq.err" &
mpid=$!
has_links() { [ -n "$(links_of "$1")" ]; }
wait_for "$TMP/bq.err" 'observing' 150 && wait_until 100 has_links "$mpid"
ids=$(links_of "$mpid")
touch "$TMP/links_taken"
wait "$hpid"
if wait_gone "$mpid" 50; then
	wait "$mpid"
	rc=$?
	child=$(pgrep -f "$FIX/leak_basic --hold-ms 30000")
	if [ "$rc" = 141 ] && grep -q 'stopping' "$TMP/bq.err" && [ -z "$child" ]; then
		pass faults_exit_on_broken_pipe
	else
		fail faults_exit_on_broken_pipe "exit $rc, command left: ${child:-none}: $(tail -c 200 "$TMP/bq.err")"
	fi
	no_links_left faults_exit_on_broken_pipe_no_links "$ids"
else
	kill -KILL "$mpid"
	fail faults_exit_on_broken_pipe "still running 5 s after its reader went away"
fi

# ---- 9. least privilege: what the running process still holds
bnd=$(awk '/^CapBnd/ { print $2 }' /proc/self/status)
# CAP_DAC_READ_SEARCH, SYS_PTRACE, SYS_ADMIN, PERFMON, BPF, CHECKPOINT_RESTORE
later=$((0x1c000280004 & 0x$bnd))
# CAP_SETGID and CAP_SETUID stay bounding, permitted and ambient, never
# effective: for the parser process to give up its user (privsep.h)
parser=$((0xc0 & 0x$bnd))
laterbnd=$((later | parser))
caps_of() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
fixture_waiting "$TMP/cap.out" "$FIX/leak_basic" --hold-ms 300
if observe cap -p "$fpid"; then
	eff=$((0x$(caps_of "$mpid" CapEff))) prm=$((0x$(caps_of "$mpid" CapPrm)))
	cb=$((0x$(caps_of "$mpid" CapBnd))) amb=$((0x$(caps_of "$mpid" CapAmb)))
	tb=""
	for t in /proc/"$mpid"/task/*; do
		[ $((0x$(awk '/^CapBnd/ { print $2 }' "$t/status"))) = "$laterbnd" ] || tb="$tb ${t##*/}"
	done
	if [ "$eff" = "$later" ] && [ "$prm" = "$laterbnd" ] && [ "$cb" = "$laterbnd" ] &&
		[ "$amb" = "$parser" ]; then
		pass faults_caps_dropped
	else
		fail faults_caps_dropped "$(printf 'eff %x prm %x bnd %x amb %x, expected eff %x, prm and bnd %x, amb %x' "$eff" "$prm" "$cb" "$amb" "$later" "$laterbnd" "$parser")"
	fi
	if [ -z "$tb" ]; then pass faults_caps_bounding_all_threads; else fail faults_caps_bounding_all_threads "threads with more:$tb"; fi
	kill -USR1 "$fpid"
	wait "$fpid"
	ended faults_caps_still_observes "$mpid" "$TMP/cap.err" &&
		check faults_caps_still_observes "$TMP/cap.json" "$TMP/cap.out"
fi

# files written at the end keep CAP_DAC_OVERRIDE; the command keeps all
"$MO" -v --min-age 0 --metrics off -d 60s --pprof "$TMP/cap.pb.gz" -o "$TMP/cap2.txt" \
	-- "$FIX/leak_basic" --hold-ms 2000 > "$TMP/cap2.out" 2> "$TMP/cap2.err" &
mpid=$!
if wait_for "$TMP/cap2.out" '^DONE' 100; then
	cpid=$(awk '/^READY/ { print $2 }' "$TMP/cap2.out")
	cb=$((0x$(caps_of "$mpid" CapBnd)))
	childbnd=$(caps_of "$cpid" CapBnd)
	if [ "$cb" = $((laterbnd | (0x2 & 0x$bnd))) ] && [ "$childbnd" = "$bnd" ]; then
		pass faults_caps_pprof_and_command
	else
		fail faults_caps_pprof_and_command "$(printf 'memobserver bnd %x, command bnd %s (ours %s)' "$cb" "$childbnd" "$bnd")"
	fi
	wait "$mpid"
	[ -s "$TMP/cap.pb.gz" ] || fail faults_caps_pprof_written "no pprof file"
else
	fail faults_caps_pprof_and_command "command did not run: $(tail -c 300 "$TMP/cap2.err")"
fi
exit 0
