#!/usr/bin/env bash
# Kubernetes names without API access, on a real leaking process: the fixture
# runs in a cgroup named as the kubelet with containerd (systemd driver) names
# a pod's container, and a directory laid out as the kubelet lays out
# /var/log (pods/<ns>_<pod>_<uid>/<container>/0.log, containers/ links) is
# given with --k8s-log-dir, with hostile entries beside the real ones. The
# pod's directory is there from the start, its container's link comes later
# (the kubelet makes it once the container runs): leak events and metrics
# first carry namespace and pod, then the container name too. Text output
# names the pod; with --k8s-log-dir off nothing is named.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip k8s "$why"; exit 0; fi
root=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
if [ -z "$root" ] || ! mkdir -p "$root/mo-test.$$" 2> /dev/null; then
	skip k8s "no writable cgroup v2 hierarchy"
	exit 0
fi
rmdir "$root/mo-test.$$"

id=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
uid=$(cat /proc/sys/kernel/random/uuid)
ns=team-a-prod
pod=api.v2-7c9d-x2k4p
ctr=server
pod_slice="$root/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid//-/_}.slice"
cg="$pod_slice/cri-containerd-$id.scope"
mkdir -p "$cg"
cleanup_cg() {
	[ -d "$cg" ] && while read -r p; do echo "$p" > "$root/cgroup.procs"; done < "$cg/cgroup.procs"
	rmdir "$cg" "$pod_slice" 2> /dev/null
	rmdir "$root/kubepods.slice/kubepods-burstable.slice" "$root/kubepods.slice" 2> /dev/null
}
trap 'end_jobs; cleanup_cg; rm -rf "$TMP"' EXIT

# The kubelet's /var/log: this pod, two others, and hostile entries.
logs=$TMP/varlog
mkdir -p "$logs/containers" "$logs/pods/${ns}_${pod}_$uid/$ctr"
: > "$logs/pods/${ns}_${pod}_$uid/$ctr/0.log"
other=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
mkdir -p "$logs/pods/default_web-0_$(cat /proc/sys/kernel/random/uuid)/app"
ln -s "/var/log/pods/default_web-0_x/app/0.log" "$logs/containers/web-0_default_app-$other.log"
ln -s /etc/shadow "$logs/containers/evil"$'\n'"_${ns}_${ctr}-$id.log"
ln -s /etc/shadow "$logs/containers/EVIL_${ns}_${ctr}-$id.log"
mkfifo "$logs/containers/fifo_${ns}_${ctr}-$other.log"
bad_names=2

port=0
for _ in $(seq 1 50); do
	p=$((19100 + RANDOM % 900))
	if ! (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null; then port=$p; break; fi
done
if [ "$port" = 0 ]; then fail k8s "no free port in 19100-19999"; exit 0; fi

# start FIXTURE in the pod's cgroup, waiting for SIGUSR1
start_in_pod() { # out fixture args...
	local out=$1
	shift
	sh -c "echo \$\$ > '$cg/cgroup.procs' && exec $*" > "$out" 2>&1 &
	wait_for "$out" '^READY' 50
	awk '$1 == "READY" { print $2; exit }' "$out"
}

# finding_named FILE KINDS PID NS POD CTR: FILE has a finding of a kind in
# KINDS ("leak,plateau") about PID with these names (CTR "": the field must
# be absent).
finding_named() {
	python3 - "$@" << 'PY'
import json, sys
path, kinds, pid, ns, pod, ctr = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), *sys.argv[4:7]
for line in open(path, errors="replace"):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if (e.get("kind") in kinds and e.get("pid") == pid and e.get("k8s_namespace") == ns
            and e.get("k8s_pod") == pod and e.get("k8s_container", "") == ctr):
        sys.exit(0)
sys.exit(1)
PY
}

series() { # the unfreed-bytes line of the fixture with these k8s labels
	local k="k8s_namespace=\"$ns\",k8s_pod=\"$pod\",k8s_container=\"$1\""
	echo "memory_unfreed_memory_bytes{process=\"leak_many\",container_id=\"$id\",$k} 100000"
}
scraped_with() { scrape_to "$port" "$TMP/metrics.txt" && grep -qxF "$(series "$1")" "$TMP/metrics.txt"; }

# 1. JSON events and metrics: the pod's names at once, the container's name
# once its link exists. The fixture holds its blocks (a plateau finding at
# each analysis) until it is stopped; what it held at its exit is a leak.
k=$(start_in_pod "$TMP/k.out" "$FIX/leak_many" --wait-signal --count 5 --size 20000 --hold-ms 120000)
"$MO" -v --min-age 0 --interval 1s --dedup-window 0 --metrics "127.0.0.1:$port" --format json \
	--k8s-log-dir "$logs" -p "$k" -o "$TMP/k.json" 2> "$TMP/k.err" &
m=$!
if ! wait_for "$TMP/k.err" observing 100; then
	fail k8s_names_events "memobserver did not attach: $(head -c 300 "$TMP/k.err")"
	exit 0
fi
kill -USR1 "$k"
if wait_until 150 finding_named "$TMP/k.json" leak,plateau "$k" "$ns" "$pod" ""; then
	pass k8s_pod_names_before_link
else
	fail k8s_pod_names_before_link "no finding of pid $k named $ns/$pod: $(grep -m1 '"kind":"\(leak\|plateau\)"' "$TMP/k.json" | head -c 400)"
fi
if wait_until 100 scraped_with ""; then
	pass k8s_pod_names_metrics
else
	fail k8s_pod_names_metrics "$(grep '^memory_unfreed_memory_bytes' "$TMP/metrics.txt" | head -3 | tr '\n' ';')"
fi
# the kubelet makes the link; the next rescan (10 s after the last) finds it
ln -s "/var/log/pods/${ns}_${pod}_$uid/$ctr/0.log" "$logs/containers/${pod}_${ns}_${ctr}-$id.log"
if wait_until 300 finding_named "$TMP/k.json" leak,plateau "$k" "$ns" "$pod" "$ctr"; then
	pass k8s_names_events
else
	fail k8s_names_events "no finding of pid $k named $ns/$pod/$ctr within 30 s: $(grep '"kind":"\(leak\|plateau\)"' "$TMP/k.json" | tail -1 | head -c 400)"
fi
if wait_until 100 scraped_with "$ctr"; then
	pass k8s_names_metrics
else
	fail k8s_names_metrics "$(grep '^memory_unfreed_memory_bytes' "$TMP/metrics.txt" | head -3 | tr '\n' ';')"
fi
# hostile entries were counted, not used; a valid promtool exposition
ign() { sed -n "s/^memobserver_k8s_log_entries_ignored_total{reason=\"$1\"} //p" "$TMP/metrics.txt"; }
scans=$(sed -n 's/^memobserver_k8s_log_scans_total //p' "$TMP/metrics.txt")
if [ "$(ign bad_name)" -ge "$bad_names" ] 2> /dev/null && [ "$(ign bad_type)" -ge 1 ] &&
	[ "$scans" -ge 2 ] && [ "$scans" -le 6 ] &&
	! grep -q 'EVIL\|evil' "$TMP/k.json" "$TMP/metrics.txt" &&
	{ ! command -v promtool > /dev/null || promtool check metrics < "$TMP/metrics.txt" > /dev/null 2>&1; }; then
	pass k8s_hostile_entries_counted
else
	fail k8s_hostile_entries_counted "bad_name $(ign bad_name) bad_type $(ign bad_type) scans $scans"
fi
stop_proc "$k"
if wait_until 100 exit_seen "$TMP/k.json" "$k" &&
	finding_named "$TMP/k.json" leak "$k" "$ns" "$pod" "$ctr"; then
	pass k8s_names_exit_leak
else
	fail k8s_names_exit_leak "no leak at the exit of pid $k named $ns/$pod/$ctr: $(grep '"kind":"leak"' "$TMP/k.json" | tail -1 | head -c 400)"
fi
kill -INT "$m" 2> /dev/null	# (it may have ended with its target)
wait "$m"

# 2. Text output names the pod; 3. 'off' names nothing.
k=$(start_in_pod "$TMP/t.out" "$FIX/leak_many" --wait-signal --count 3 --size 20000 --hold-ms 300)
"$MO" -v --min-age 0 --metrics off --k8s-log-dir "$logs" -p "$k" -o "$TMP/t.txt" 2> "$TMP/t.err" &
m=$!
if wait_for "$TMP/t.err" observing 100; then
	kill -USR1 "$k"
	wait "$m"
	if grep -q "^#1 .*\[pid $k leak_many\] \[k8s $ns/$pod/$ctr\]\$" "$TMP/t.txt"; then
		pass k8s_names_text
	else
		fail k8s_names_text "$(grep -m2 'pid' "$TMP/t.txt" | tr '\n' ';')"
	fi
else
	fail k8s_names_text "memobserver did not attach: $(head -c 300 "$TMP/t.err")"
fi

k=$(start_in_pod "$TMP/o.out" "$FIX/leak_many" --wait-signal --count 3 --size 20000 --hold-ms 300)
"$MO" -v --min-age 0 --metrics off --format json --k8s-log-dir off -p "$k" -o "$TMP/o.json" 2> "$TMP/o.err" &
m=$!
if wait_for "$TMP/o.err" observing 100; then
	kill -USR1 "$k"
	wait "$m"
	# leaks with the pod's UID and no names; the summary counted no scan
	if python3 - "$TMP/o.json" "$uid" << 'PY'; then
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
leaks = [e for e in evs if e.get("kind") == "leak"]
names = [e for e in evs if any(k in e for k in ("k8s_namespace", "k8s_pod", "k8s_container"))]
summary = [e for e in evs if e.get("type") == "summary"]
sys.exit(not (leaks and all(e.get("pod_uid") == sys.argv[2] for e in leaks) and not names
              and summary and summary[-1].get("k8s_log_scans") == 0))
PY
		pass k8s_names_off
	else
		fail k8s_names_off "$(grep -m1 '"kind":"leak"' "$TMP/o.json" | head -c 300)"
	fi
else
	fail k8s_names_off "memobserver did not attach: $(head -c 300 "$TMP/o.err")"
fi

# 4. Bad input: one clear error line, nothing started.
out=$("$MO" --k8s-log-dir "$(printf 'a\nb')" -p 1 2>&1)
if [ $? -eq 2 ] && [ "$(wc -l <<< "$out")" = 1 ] && grep -q "invalid value .* for --k8s-log-dir" <<< "$out"; then
	pass k8s_log_dir_bad_value
else
	fail k8s_log_dir_bad_value "$out"
fi
exit 0
