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
trap 'cleanup_cg; rm -rf "$TMP"' EXIT

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

# 1. --container ID (a unique prefix): only the container's process is seen.
a=$(start_in "$TMP/in.out" "$docker_cg" "$FIX/leak_many" --wait-signal --count 3 --size 20000 --hold-ms 300)
b=$(start_in "$TMP/out.out" "" "$FIX/leak_many" --wait-signal --count 4 --size 30000 --hold-ms 300)
"$MO" -v --metrics off --format json --min-age 0 --container "${id:0:16}" --duration 20s \
	-o "$TMP/c.json" 2> "$TMP/c.err" &
m=$!
if wait_for "$TMP/c.err" observing 300; then
	kill -USR1 "$a" "$b"
	wait "$a" "$b" 2> /dev/null
	sleep 1
	kill -INT "$m"
	wait "$m"
	res=$(python3 -c '
import json, sys
seen = {}
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("kind") == "leak" and e.get("final"):
        seen.setdefault(e["pid"], set()).add(e.get("container_id"))
print(sorted((p, sorted(c)) for p, c in seen.items()))' "$TMP/c.json")
	if [ "$res" = "[($a, ['$id'])]" ]; then
		pass containers_filter_and_attribution
	else
		fail containers_filter_and_attribution "expected only pid $a in $id, got $res"
	fi
else
	fail containers_filter_and_attribution "memobserver did not start: $(head -c 300 "$TMP/c.err")"
	kill "$m" "$a" "$b" 2> /dev/null
fi

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

# 3. A container id that matches nothing: one clear error.
out=$("$MO" --container ffffffffffffffff 2>&1)
if [ $? -ne 0 ] && grep -q "no container 'ffffffffffffffff'" <<< "$out"; then
	pass containers_unknown_id_error
else
	fail containers_unknown_id_error "$out"
fi
exit 0
