#!/usr/bin/env bash
# Container attribution and filtering on real cgroups named the way container
# runtimes name them (no runtime runs here): the kernel filters by cgroup id,
# events carry container_id (and pod_uid for Kubernetes layouts).
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip containers "$why"; exit 0; fi
root=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
if [ -z "$root" ] || ! mkdir -p "$root/mo-test.$$" 2> /dev/null; then
	skip containers "no writable cgroup v2 hierarchy"
	exit 0
fi
rmdir "$root/mo-test.$$"

id=$(printf 'a%.0s' {1..8}; printf '%s' 0123456789abcdef0123456789abcdef0123456789abcdef01234567)
id=${id:0:64}
pod=0a1b2c3d-1111-2222-3333-444455556666
docker_cg="$root/system.slice/docker-$id.scope"
kube_cg="$root/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${pod//-/_}.slice/cri-containerd-${id//a/b}.scope"
mkdir -p "$docker_cg" "$kube_cg"
cleanup_cg() {
	for d in "$docker_cg" "$kube_cg"; do
		[ -d "$d" ] && while read -r p; do echo "$p" > "$root/cgroup.procs"; done < "$d/cgroup.procs"
		rmdir "$d" 2> /dev/null
	done
	rmdir "$root/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${pod//-/_}.slice" \
		"$root/kubepods.slice/kubepods-burstable.slice" "$root/kubepods.slice" 2> /dev/null
}
v1=/tmp/mo-cg1.$$
cleanup_v1() {
	mountpoint -q "$v1" || return 0
	find "$v1" -mindepth 1 -depth -type d | while read -r d; do
		while read -r p; do echo "$p" > "$v1/cgroup.procs"; done < "$d/cgroup.procs"
		rmdir "$d"
	done
	umount "$v1" && rmdir "$v1"
}
mem_cg=
cleanup_mem() {
	[ -n "$mem_cg" ] && [ -d "$mem_cg" ] || return 0
	while read -r p; do echo "$p" > "$mem/cgroup.procs"; done < "$mem_cg/cgroup.procs"
	rmdir "$mem_cg" "$mem/docker" 2> /dev/null
}
trap 'end_jobs; cleanup_cg; cleanup_v1; cleanup_mem; rm_tmp' EXIT

# start FIXTURE in cgroup DIR (empty: stay here), waiting for SIGUSR1
start_in() { # out dir fixture args...
	local out=$1 dir=$2
	shift 2
	if [ -n "$dir" ]; then
		sh -c "echo \$\$ > '$dir/cgroup.procs' && exec $*" > "$out" 2>&1 &
	else
		"$@" > "$out" 2>&1 &
	fi
	wait_for "$out" '^READY' 50
	awk '$1 == "READY" { print $2; exit }' "$out"
}

# NAME DIR ID: a fixture in cgroup DIR and one outside; --container (a
# unique prefix of ID) must report only the first, named ID.
filter_check() {
	local name=$1 dir=$2 cid=$3 a b m res
	a=$(start_in "$TMP/$name.in" "$dir" "$FIX/leak_many" --wait-signal --count 3 --size 20000 --hold-ms 300)
	b=$(start_in "$TMP/$name.out" "" "$FIX/leak_many" --wait-signal --count 4 --size 30000 --hold-ms 300)
	"$MO" -v --metrics off --format json --min-age 0 --container "${cid:0:16}" --duration 20s \
		-o "$TMP/$name.json" 2> "$TMP/$name.err" &
	m=$!
	if ! wait_for "$TMP/$name.err" observing 300; then
		fail "$name" "memobserver did not start: $(head -c 300 "$TMP/$name.err")"
		kill "$m" "$a" "$b" 2> /dev/null
		return
	fi
	kill -USR1 "$a" "$b"
	# (not our children: started in a command substitution)
	if ! wait_until 100 pid_gone "$a" || ! wait_until 100 pid_gone "$b"; then
		fail "$name" "the fixtures did not end within 10 s"
		kill "$m" "$a" "$b" 2> /dev/null
		return
	fi
	if ! wait_until 100 exit_seen "$TMP/$name.json" "$a"; then
		fail "$name" "pid $a's exit not reported within 10 s"
		kill -INT "$m"
		wait "$m"
		return
	fi
	kill -INT "$m"
	wait "$m"
	res=$(python3 -c '
import json, sys
seen = {}
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("kind") == "leak" and e.get("final"):
        seen.setdefault(e["pid"], set()).add(e.get("container_id"))
print(sorted((p, sorted(c)) for p, c in seen.items()))' "$TMP/$name.json")
	if [ "$res" = "[($a, ['$cid'])]" ]; then
		pass "$name"
	else
		fail "$name" "expected only pid $a in $cid, got $res"
	fi
}

# 1. --container ID (a unique prefix): only the container's process is seen.
filter_check containers_filter_and_attribution "$docker_cg" "$id"

# 2. A Kubernetes (containerd, systemd driver) layout: container id and pod uid.
k=$(start_in "$TMP/k.out" "$kube_cg" "$FIX/leak_many" --wait-signal --count 2 --size 20000 --hold-ms 300)
"$MO" -v --metrics off --format json --min-age 0 -p "$k" -o "$TMP/k.json" 2> "$TMP/k.err" &
m=$!
if wait_for "$TMP/k.err" observing 100; then
	kill -USR1 "$k"
	wait "$m"
	ok=$(python3 -c '
import json, sys
print(any(e.get("kind") == "leak" and e.get("container_id") == sys.argv[2] and e.get("pod_uid") == sys.argv[3]
          for e in map(json.loads, open(sys.argv[1]))))' "$TMP/k.json" "${id//a/b}" "$pod")
	if [ "$ok" = True ]; then pass containers_kubernetes_pod; else fail containers_kubernetes_pod "no leak with container ${id//a/b} and pod $pod"; fi
else
	fail containers_kubernetes_pod "memobserver did not attach"
	kill "$m" "$k" 2> /dev/null
fi

# 3. cgroup v1: a named v1 hierarchy (no controller, so nothing is limited or
# accounted) with docker's and kubelet's cgroupfs layouts. The processes'
# v2 line stays where it was; the v1 line names the container. The kernel
# keeps a named hierarchy after its last umount: one fixed name, so runs
# reuse it instead of leaving one more behind each time.
v1_id=$(printf '%s' "${id//a/c}" | tr 0-9 5-90-4)
v1_pod=0a1b2c3d-7777-8888-9999-444455556666
if mkdir -p "$v1" && mount -t cgroup -o "none,name=memobserver-test" cgroup "$v1" 2> "$TMP/v1.err"; then
	v1_docker="$v1/docker/$v1_id"
	v1_kube="$v1/kubepods/burstable/pod$v1_pod/${v1_id//c/d}"
	mkdir -p "$v1_docker" "$v1_kube"
	d=$(start_in "$TMP/v1d.out" "$v1_docker" "$FIX/leak_many" --wait-signal --count 2 --size 20000 --hold-ms 300)
	k=$(start_in "$TMP/v1k.out" "$v1_kube" "$FIX/leak_many" --wait-signal --count 2 --size 20000 --hold-ms 300)
	cat "/proc/$d/cgroup" > "$TMP/v1d.cgroup"
	"$MO" -v --metrics off --format json --min-age 0 -p "$d" -p "$k" -o "$TMP/v1.json" 2> "$TMP/v1m.err" &
	m=$!
	if wait_for "$TMP/v1m.err" observing 100; then
		kill -USR1 "$d" "$k"
		wait "$m"
		# every leak names the container; every event carrying a cgroup names the v1 path
		got=$(python3 -c '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(sorted({(e["pid"], e.get("container_id"), e.get("pod_uid", "")) for e in evs if e.get("kind") == "leak"}),
      sorted({(e["pid"], e["cgroup"]) for e in evs if "cgroup" in e and "pid" in e}))' "$TMP/v1.json")
		want="[($d, '$v1_id', ''), ($k, '${v1_id//c/d}', '$v1_pod')] [($d, '/docker/$v1_id'), ($k, '/kubepods/burstable/pod$v1_pod/${v1_id//c/d}')]"
		if [ "$got" = "$want" ] && grep -q "^[0-9]*:name=memobserver-test:/docker/$v1_id\$" "$TMP/v1d.cgroup" &&
			! grep -q "^0::.*$v1_id" "$TMP/v1d.cgroup"; then
			pass containers_v1_attribution
		else
			fail containers_v1_attribution "expected $want, got $got"
		fi
	else
		fail containers_v1_attribution "memobserver did not attach: $(head -c 300 "$TMP/v1m.err")"
		kill "$m" "$d" "$k" 2> /dev/null
	fi
	# Filtering looks on the v2 and the v1 memory hierarchies only: a
	# container that only a named hierarchy names is refused, not observed
	# as everything.
	out=$("$MO" --container "${v1_id:0:16}" 2>&1)
	if [ $? -ne 0 ] && grep -q "no container '${v1_id:0:16}'" <<< "$out"; then
		pass containers_v1_filter_refused
	else
		fail containers_v1_filter_refused "$out"
	fi
	cleanup_v1
else
	skip containers_v1_attribution "cannot mount a named cgroup v1 hierarchy: $(head -c 200 "$TMP/v1.err")"
	rmdir "$v1" 2> /dev/null
fi

# 4. cgroup v1 filtering, on the host's v1 memory hierarchy (hybrid hosts, as
# container runtimes with the cgroupfs driver on v1 lay it out): the kernel
# follows the task's memory-controller cgroup and its parents.
mem=$(awk '{ for (i = 7; i <= NF && $i != "-"; i++);
	if ($(i + 1) == "cgroup" && $(i + 3) ~ /(^|,)memory(,|$)/) { print $5; exit } }' /proc/self/mountinfo)
if [ -n "$mem" ] && mkdir -p "$mem/docker/$v1_id" 2> /dev/null; then
	mem_cg="$mem/docker/$v1_id"
	filter_check containers_v1_memory_filter "$mem_cg" "$v1_id"
	cleanup_mem
else
	skip containers_v1_memory_filter "no writable cgroup v1 memory hierarchy (a pure v2 host)"
fi

# 5. A container id that matches nothing: one clear error.
out=$("$MO" --container ffffffffffffffff 2>&1)
if [ $? -ne 0 ] && grep -q "no container 'ffffffffffffffff'" <<< "$out"; then
	pass containers_unknown_id_error
else
	fail containers_unknown_id_error "$out"
fi
exit 0
