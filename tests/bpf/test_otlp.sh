#!/usr/bin/env bash
# OTLP/HTTP export, decoded by a receiver memobserver did not write
# (tests/otlp/receiver.js: the OpenTelemetry JavaScript project's protobuf
# code): a traced command's metrics and its leak findings arrive with their
# resource attributes and stacks; a collector that is unreachable, slow,
# failing or rejecting never holds memobserver up (it stops within 2 s of
# SIGTERM) and the local output stays complete; retries and drops are
# counted on the Prometheus endpoint.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip otlp "$why"; exit 0; fi
command -v node > /dev/null || { skip otlp "node not installed (scripts/setup.sh installs nodejs)"; exit 0; }

# The receiver's packages, exactly as package-lock.json pins them.
RECV=$ROOT/tests/otlp
if ! why=$(bash "$RECV/install.sh" 2>&1); then
	skip otlp "$why"
	exit 0
fi

rpid=
# start_receiver NAME [MODE]: RPORT and rpid set, requests go to $TMP/NAME.otlp
start_receiver() {
	: > "$TMP/$1.otlp"
	node "$RECV/receiver.js" --out "$TMP/$1.otlp" --mode "${2:-ok}" > "$TMP/$1.recv" 2>&1 &
	rpid=$!
	wait_for "$TMP/$1.recv" '^READY' 100 || { fail "$1" "receiver did not start: $(head -c 300 "$TMP/$1.recv")"; return 1; }
	RPORT=$(awk '/^READY/ { print $2 }' "$TMP/$1.recv")
}
stop_receiver() {
	[ -n "$rpid" ] && kill "$rpid" 2> /dev/null && wait "$rpid" 2> /dev/null
	rpid=
}
# Ports from free_port (lib.sh) are below the ephemeral range: nothing
# connecting out takes one, and a connection cannot meet itself.
# py NAME CODE ARGS...: run a Python check, PASS or FAIL with its last line
py() {
	local name=$1 code=$2
	shift 2
	if python3 -c "$code" "$@" > "$TMP/py.$name" 2>&1; then
		pass "$name"
	else
		fail "$name" "$(tail -3 "$TMP/py.$name" | tr '\n' ';' | cut -c1-500)"
	fi
}

# Helpers shared by the Python checks: the receiver's lines and attributes.
PYLIB='
import json, sys
def reqs(path, sig=None):
    out = [json.loads(l) for l in open(path) if l.strip()]
    return [r for r in out if sig is None or r["path"] == "/v1/" + sig]
def attrs(kvs):
    d = {}
    for kv in kvs or []:
        v = kv.get("value", {})
        k = v.get("value")
        d[kv["key"]] = v.get(k) if k else None
    return d
'

# 1. A collector that works: metrics and findings arrive whole.
if start_receiver ok; then
	timeout 60 "$MO" --format json --min-age 0 --metrics off -o "$TMP/ok.json" \
		--otlp-endpoint "http://127.0.0.1:$RPORT" --otlp-interval 1s \
		--otlp-header "Authorization=Bearer t0ken" \
		-- "$FIX/leak_basic" --hold-ms 2500 > "$TMP/ok.out" 2> "$TMP/ok.err"
	rc=$?
	stop_receiver
	if [ $rc -ne 0 ]; then
		fail otlp_run "memobserver exited $rc: $(head -c 300 "$TMP/ok.err")"
	else
		fpid=$(awk '$1 == "READY" { print $2; exit }' "$TMP/ok.out")
		py otlp_requests_decode "$PYLIB"'
rs = reqs(sys.argv[1])
assert rs, "no request arrived"
for r in rs:
    assert r["method"] == "POST", r["method"]
    assert r["content_type"] == "application/x-protobuf", r["content_type"]
    assert r["headers"].get("authorization") == "Bearer t0ken", r["headers"]
    assert r["decoded"], (r["path"], r.get("error"))
    assert r["only_known_fields"], (r["path"], r["bytes"], r["reencoded_bytes"])
assert reqs(sys.argv[1], "metrics") and reqs(sys.argv[1], "logs"), [r["path"] for r in rs]
print(len(rs), "requests")' "$TMP/ok.otlp"
		py otlp_metrics_resources "$PYLIB"'
import socket
rs = reqs(sys.argv[1], "metrics")
pid, host = sys.argv[2], socket.gethostname()
found = {}
for r in rs:
    for rm in r["request"]["resourceMetrics"]:
        ra = attrs(rm["resource"]["attributes"])
        assert ra.get("host.name") == host, ra
        sm = rm["scopeMetrics"][0]
        assert sm["scope"]["name"] == "memobserver", sm["scope"]
        ms = {m["name"]: m for m in sm["metrics"]}
        if ra.get("service.name") == "memobserver":
            for n in ("memobserver_allocator_calls", "memobserver_probes_attached",
                      "memory_filtered_events", "memobserver_otlp_requests_sent"):
                assert n in ms, (n, sorted(ms))
            found["host"] = True
        elif ra.get("process.pid") == pid:
            assert ra["process.executable.name"] == "leak_basic", ra
            m = ms["memory_allocations_tracked"]["sum"]
            assert m["isMonotonic"] and m["aggregationTemporality"] == "AGGREGATION_TEMPORALITY_CUMULATIVE", m
            p = m["dataPoints"][0]
            assert int(p["startTimeUnixNano"]) > 0 and int(p["timeUnixNano"]) >= int(p["startTimeUnixNano"]), p
            found["allocs"] = max(found.get("allocs", 0), int(p["asInt"]))
            g = ms["memory_unfreed_memory_bytes"]["gauge"]["dataPoints"][0]
            found["unfreed"] = max(found.get("unfreed", 0), int(g["asInt"]))
assert found.get("host"), "no host resource"
# leak_basic: 11 leaking functions x 3 calls, plus the freed ones
assert found.get("allocs", 0) >= 33, found
assert found.get("unfreed", 0) >= 17000 * 3, found
print(found)' "$TMP/ok.otlp" "$fpid"
		py otlp_leak_log_with_stack "$PYLIB"'
pid = sys.argv[2]
leaks = []
for r in reqs(sys.argv[1], "logs"):
    for rl in r["request"]["resourceLogs"]:
        ra = attrs(rl["resource"]["attributes"])
        for rec in rl["scopeLogs"][0]["logRecords"]:
            a = attrs(rec["attributes"])
            if rec.get("eventName") == "memobserver.memory_pressure.leak":
                leaks.append((ra, rec, a))
assert leaks, "no leak log record"
hit = None
for ra, rec, a in leaks:
    syms = [attrs(f["kvlistValue"]["values"]).get("symbol") for f in a["memobserver.stack"]["values"]]
    if "leak_malloc" in syms:
        hit = (ra, rec, a)
assert hit, "no leak record names leak_malloc: %r" % [l[2].get("code.stacktrace", "")[:80] for l in leaks]
ra, rec, a = hit
assert ra.get("process.pid") == pid and ra.get("process.executable.name") == "leak_basic", ra
assert rec["severityNumber"] in ("SEVERITY_NUMBER_INFO", "SEVERITY_NUMBER_WARN"), rec["severityNumber"]
assert int(rec["timeUnixNano"]) > 0 and int(rec["observedTimeUnixNano"]) >= int(rec["timeUnixNano"]) - 10**9
assert rec["body"]["stringValue"].startswith("memory_pressure/leak pid " + pid + " (leak_basic)"), rec["body"]
assert "leak_malloc" in a["code.stacktrace"], a["code.stacktrace"]
assert a["memobserver.unfreed_bytes"] == str(17000 * 3) and a["memobserver.count"] == "3", a
assert a["memobserver.kind"] == "leak" and a["memobserver.type"] == "memory_pressure", a
print(len(leaks), "leak records")' "$TMP/ok.otlp" "$fpid"
		check otlp_local_output "$TMP/ok.json" "$TMP/ok.out"
	fi
fi

# 2. A process in a container of a Kubernetes pod (a cgroup named as the
# kubelet and containerd name it; no runtime runs here): its logs and
# metrics resources carry container.id and k8s.pod.uid.
cg_root=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
kid=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
pod=$(python3 -c 'import uuid; print(uuid.uuid4())')
pod_slice="$cg_root/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${pod//-/_}.slice"
kube_cg="$pod_slice/cri-containerd-$kid.scope"
cleanup_cg() {
	[ -d "$kube_cg" ] || return 0
	while read -r p; do echo "$p" > "$cg_root/cgroup.procs"; done < "$kube_cg/cgroup.procs"
	rmdir "$kube_cg" "$pod_slice" 2> /dev/null
	rmdir "$cg_root/kubepods.slice/kubepods-besteffort.slice" "$cg_root/kubepods.slice" 2> /dev/null
}
trap 'end_jobs; cleanup_cg; rm_tmp' EXIT
if [ -z "$cg_root" ] || ! mkdir -p "$kube_cg" 2> /dev/null; then
	skip otlp_pod_resources "no writable cgroup v2 hierarchy"
elif start_receiver pod; then
	sh -c "echo \$\$ > '$kube_cg/cgroup.procs' && exec '$FIX/leak_many' --wait-signal --count 3 --size 20000 --hold-ms 1500" \
		> "$TMP/pod.out" 2>&1 &
	wait_for "$TMP/pod.out" '^READY' 100
	fpid=$(awk '$1 == "READY" { print $2; exit }' "$TMP/pod.out")
	"$MO" -v --metrics off --format json --min-age 0 --container "${kid:0:16}" -o "$TMP/pod.json" \
		--otlp-endpoint "http://127.0.0.1:$RPORT" --otlp-interval 1s 2> "$TMP/pod.err" &
	m=$!
	if [ -z "$fpid" ] || ! wait_for "$TMP/pod.err" observing 300; then
		fail otlp_pod_resources "fixture ${fpid:-not ready} or memobserver not started: $(head -c 300 "$TMP/pod.err")"
		kill "$m" 2> /dev/null
	else
		kill -USR1 "$fpid"
		wait_until 100 exit_seen "$TMP/pod.json" "$fpid" ||
			fail otlp_pod_resources "pid $fpid's exit not reported within 10 s"
		stop_proc "$m"
		py otlp_pod_resources "$PYLIB"'
pid, kid, pod = sys.argv[2:5]
def ours(ra):
    return ra.get("container.id") == kid and ra.get("k8s.pod.uid") == pod and ra.get("process.executable.name") == "leak_many"
logs = [attrs(rl["resource"]["attributes"]) for r in reqs(sys.argv[1], "logs") for rl in r["request"]["resourceLogs"]]
mets = [attrs(rm["resource"]["attributes"]) for r in reqs(sys.argv[1], "metrics") for rm in r["request"]["resourceMetrics"]]
assert [ra for ra in logs if ours(ra) and ra.get("process.pid") == pid], logs
# alive (with its pid) or exited (its totals kept by name and container)
assert [ra for ra in mets if ours(ra) and ra.get("process.pid") in (pid, None)], mets
print(len(logs), "log resources,", len(mets), "metrics resources")' "$TMP/pod.otlp" "$fpid" "$kid" "$pod"
	fi
	stop_receiver
fi

# started ERRFILE: memobserver ($MO_PID) is observing, or has given up
started() { grep -q observing "$1" || ! kill -0 "$MO_PID" 2> /dev/null; }

# run_faulty NAME MODE_OR_PORT: memobserver on a fixture that keeps running,
# exporting to a receiver in MODE (or to the closed port given), scraped on
# MPORT; returns once the collector had its chance, leaves MO_PID running.
run_faulty() {
	local name=$1 mode=$2 ep
	if [ "${mode#port:}" != "$mode" ]; then
		ep="http://127.0.0.1:${mode#port:}"
		: > "$TMP/$name.otlp"
	else
		start_receiver "$name" "$mode" || return 1
		ep="http://127.0.0.1:$RPORT"
	fi
	# the port may be taken between its check and memobserver's bind
	for _ in 1 2 3; do
		MPORT=$(free_port)
		"$MO" --format json --min-age 0 -v --metrics "127.0.0.1:$MPORT" -o "$TMP/$name.json" \
			--otlp-endpoint "$ep" --otlp-interval 1s \
			-- "$FIX/leak_basic" --hold-ms 60000 > "$TMP/$name.out" 2> "$TMP/$name.err" &
		MO_PID=$!
		wait_until 300 started "$TMP/$name.err"
		grep -q 'cannot serve metrics' "$TMP/$name.err" || break
		wait "$MO_PID" 2> /dev/null
	done
	grep -q observing "$TMP/$name.err" || { fail "$name" "memobserver did not attach: $(head -c 300 "$TMP/$name.err")"; return 1; }
	wait_for "$TMP/$name.out" '^DONE' 300 || { fail "$name" "the fixture did not get through its allocations: $(head -c 300 "$TMP/$name.out")"; return 1; }
}
# scrape_until NAME LINE-REGEX: wait (30 s at most) for a scrape to match
scrape_until() {
	local i
	for i in $(seq 1 300); do
		scrape_to "$MPORT" "$TMP/$1.prom" && grep -Eq "$2" "$TMP/$1.prom" && return 0
		sleep 0.1
	done
	return 1
}
# stop_within NAME RUN: SIGTERM, PASS if memobserver is gone within 2 s and
# the output of run_faulty RUN is whole
stop_within() {
	local name=$1 run=$2 t0 t1 ms
	t0=$(date +%s%N)
	kill -TERM "$MO_PID" 2> /dev/null || t0=gone
	for _ in $(seq 1 50); do
		kill -0 "$MO_PID" 2> /dev/null || break
		sleep 0.05
	done
	t1=$(date +%s%N)
	[ "$t0" = gone ] || ms=$(((t1 - t0) / 1000000))
	if [ "$t0" = gone ]; then
		wait "$MO_PID" 2> /dev/null
		fail "${name}_stops" "memobserver had exited ($?) before SIGTERM: $(tail -c 200 "$TMP/$run.err" | tr '\n' ';') fixture: $(tail -c 100 "$TMP/$run.out" | tr '\n' ';') exit events: $(grep '"kind":"exit"' "$TMP/$run.json" | cut -c1-300)"
	elif kill -0 "$MO_PID" 2> /dev/null; then
		fail "${name}_stops" "still running ${ms} ms after SIGTERM"
		kill -KILL "$MO_PID"
		wait "$MO_PID" 2> /dev/null
	elif [ $ms -gt 2000 ]; then
		wait "$MO_PID" 2> /dev/null
		fail "${name}_stops" "stopped ${ms} ms after SIGTERM"
	else
		wait "$MO_PID" 2> /dev/null
		pass "${name}_stops (${ms} ms)"
	fi
	stop_receiver
	if tail -1 "$TMP/$run.json" | grep -q '"type":"summary"' &&
		grep -q '"kind":"leak"' "$TMP/$run.json"; then
		pass "${name}_local_output"
	else
		fail "${name}_local_output" "no leak lines or no final summary in $run.json: $(tail -c 200 "$TMP/$run.json")"
	fi
}

# 3. Nobody listens: attempts fail and are retried; nothing waits for them.
# The port stays bound (not listening) meanwhile, so it refuses every
# connection and nothing else can start listening on it.
python3 -c '
import random, socket, sys, time
s = socket.socket()
while True:
    try:
        s.bind(("127.0.0.1", random.randint(19100, 19999)))
        break
    except OSError:
        pass
print(s.getsockname()[1], flush=True)
time.sleep(300)' > "$TMP/closed.port" &
holder=$!
if ! wait_for "$TMP/closed.port" '[0-9]' 300; then
	fail otlp_unreachable "no port held: $(head -c 200 "$TMP/closed.port")"
# the queue is sent in order: whichever signal went first is retried first
elif run_faulty unreachable "port:$(cat "$TMP/closed.port")"; then
	if scrape_until unreachable '^memobserver_otlp_request_failures_total\{signal="(metrics|logs)"\} [1-9]'; then
		pass otlp_unreachable_counted
	else
		fail otlp_unreachable_counted "scrape of $MPORT: $(curl -sS -o /dev/null "http://127.0.0.1:$MPORT/metrics" 2>&1 | head -c 200) $(grep otlp "$TMP/unreachable.prom" | tr '\n' ';' | cut -c1-300) err: $(tail -c 300 "$TMP/unreachable.err" | tr '\n' ';')"
	fi
	stop_within otlp_unreachable unreachable
fi
kill "$holder" 2> /dev/null

# 4. A collector that takes 10 s to answer: stop interrupts the request.
if run_faulty slow slow:10000; then
	if wait_for "$TMP/slow.otlp" '"path"' 100; then pass otlp_slow_reached; else fail otlp_slow_reached "no request"; fi
	stop_within otlp_slow slow
fi

# 5. 503 then 200: the same request is sent again and accepted.
if run_faulty retry status:503:1; then
	if scrape_until retry '^memobserver_otlp_retries_total\{signal="(metrics|logs)"\} [1-9]' &&
		scrape_until retry '^memobserver_otlp_requests_sent_total\{signal="metrics"\} [1-9]'; then
		py otlp_retry_same_request "$PYLIB"'
rs = reqs(sys.argv[1])
first = rs[0]
assert first["status"] == 503, first["status"]
again = [r for r in rs[1:] if r["path"] == first["path"] and r["request"] == first["request"]]
assert again and again[0]["status"] == 200, [(r["path"], r["status"]) for r in rs[:5]]
print("retried after", again[0]["time_ms"] - first["time_ms"], "ms")' "$TMP/retry.otlp"
	else
		fail otlp_retry_same_request "$(grep otlp "$TMP/retry.prom" | grep -v '^#' | tr '\n' ';' | cut -c1-400)"
	fi
	stop_within otlp_retry retry
fi

# 6. 500 then 200: OTLP says a 500 is not retried; dropped and counted.
if run_faulty fail500 status:500:1; then
	if scrape_until fail500 '^memobserver_otlp_requests_dropped_total\{signal="(metrics|logs)",reason="send_failed"\} 1$' &&
		scrape_until fail500 '^memobserver_otlp_requests_sent_total\{signal="metrics"\} [1-9]'; then
		py otlp_500_not_retried "$PYLIB"'
rs = reqs(sys.argv[1])
first = rs[0]
assert first["status"] == 500, first["status"]
assert not [r for r in rs[1:] if r["request"] == first["request"]], "the 500 was sent again"
print(len(rs), "requests")' "$TMP/fail500.otlp"
		if grep -Eq '^memobserver_otlp_retries_total\{signal="metrics"\} 0$' "$TMP/fail500.prom"; then
			pass otlp_500_no_retry_counted
		else
			fail otlp_500_no_retry_counted "$(grep retries_total "$TMP/fail500.prom" | tr '\n' ';')"
		fi
	else
		fail otlp_500_not_retried "$(grep otlp "$TMP/fail500.prom" | grep -v '^#' | tr '\n' ';' | cut -c1-400)"
	fi
	stop_within otlp_500 fail500
fi

# 7. 400 every time: rejected, dropped at once, counted, never retried.
if run_faulty reject status:400:1000000; then
	if scrape_until reject '^memobserver_otlp_requests_dropped_total\{signal="metrics",reason="rejected"\} [2-9]'; then
		if grep -Eq '^memobserver_otlp_retries_total\{signal="metrics"\} 0$' "$TMP/reject.prom"; then
			pass otlp_400_dropped_counted
		else
			fail otlp_400_dropped_counted "retried: $(grep retries_total "$TMP/reject.prom" | tr '\n' ';')"
		fi
	else
		fail otlp_400_dropped_counted "$(grep otlp "$TMP/reject.prom" | grep -v '^#' | tr '\n' ';' | cut -c1-400)"
	fi
	stop_within otlp_400 reject
fi

# Every request any receiver saw, in every run above: decoded by the
# upstream schema, with nothing it does not know.
py otlp_every_request_decodes "$PYLIB"'
n = 0
for path in sys.argv[1:]:
    for r in reqs(path):
        assert r["decoded"] and r["only_known_fields"], (path, r["path"], r.get("error"), r["bytes"], r.get("reencoded_bytes"))
        n += 1
assert n, "no request at all"
print(n, "requests")' "$TMP"/*.otlp
exit 0
