#!/usr/bin/env bash
# The real binary's metrics server under load, under attack and with least
# privilege: memobserver runs as root with --metrics on a leaking fixture;
# its HTTP threads (two MHD-* and http-gate) must hold no capability while
# the main thread keeps its own; a burst of 200 concurrent scrapes plus 20
# slow and idle connections must leave every answer complete and the
# server answering afterwards; slowloris clients (one byte a second, up to
# 1000 of them, from the prober's own address or from 16 others) must not
# keep /healthz from answering within 1 s nor a scrape from 127.0.0.2. A
# port below 1024 is served too, by threads that hold nothing.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip http_load "$why"; exit 0; fi

port=$((20000 + RANDOM % 20000))
"$FIX/leak_many" --wait-signal --count 7 --size 20000 --hold-ms 120000 > "$TMP/f.out" 2>&1 &
f=$!
wait_for "$TMP/f.out" '^READY' 50
"$MO" -v --min-age 0 --metrics "127.0.0.1:$port" -p "$f" -o /dev/null 2> "$TMP/o.err" &
m=$!
wait_for "$TMP/o.err" observing 100
if ! curl -sf -o /dev/null "http://127.0.0.1:$port/healthz"; then
	fail http_load "metrics server not up: $(head -c 300 "$TMP/o.err")"
	kill "$f" "$m"
	exit 0
fi

kill -USR1 "$f"
wait_for "$TMP/f.out" '^DONE' 50
# the reference scrape: the first with the fixture's series (5 s at most)
scraped() {
	scrape_to "$port" "$TMP/ref.txt" &&
		grep -q '^memory_allocations_tracked_total' "$TMP/ref.txt"
}
wait_until 50 scraped

# CapEff of each HTTP thread of process $1 (MHD-* and http-gate), one line.
http_thread_caps() {
	local t c caps=""
	for t in /proc/$1/task/*; do
		c=$(cat "$t/comm" 2>/dev/null)
		if [[ $c == MHD-* || $c == http-gate ]]; then
			caps+="$(awk '/^CapEff:/ {print $2}' "$t/status") "
		fi
	done
	echo "$caps"
}
# All HTTP threads (metrics, health and profile daemons, the gate: 3 or
# more) have no capability at all.
caps_none() {
	local w n=0
	for w in $1; do
		[ "$w" = 0000000000000000 ] || return 1
		n=$((n + 1))
	done
	[ "$n" -ge 3 ]
}

# 1. Capabilities per thread: the HTTP threads none, the main thread its own.
main_cap=$(awk '/^CapEff:/ {print $2}' "/proc/$m/task/$m/status")
http_caps=$(http_thread_caps "$m")
if [ -z "$http_caps" ]; then
	fail http_thread_caps "no HTTP thread in $(cat /proc/$m/task/*/comm | tr '\n' ' ')"
elif ! caps_none "$http_caps"; then
	fail http_thread_caps "HTTP thread CapEff $http_caps"
elif [ "$main_cap" = 0000000000000000 ]; then
	fail http_thread_caps "main thread lost its capabilities"
else
	pass http_thread_caps
fi

# 2. Load: the scrape above for reference, then the burst with slow clients held.
python3 - "$port" > "$TMP/load.out" 2>&1 <<'PY'
import socket, sys, threading, time
port = int(sys.argv[1])
req = b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
held = []
for i in range(20):                       # slow (half a request line) and idle
    s = socket.create_connection(("127.0.0.1", port))
    if i < 10:
        s.sendall(b"GET /metr")
    held.append(s)
res = []
def scrape():
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(req)
        d = b""
        while True:
            x = s.recv(65536)
            if not x:
                break
            d += x
        res.append(d)
    except OSError as e:
        res.append(None)
t0 = time.time()
ts = [threading.Thread(target=scrape) for _ in range(200)]
for t in ts: t.start()
for t in ts: t.join(15)
ok = [d for d in res if d and d.startswith(b"HTTP/1.1 200 ")]
bad = [d for d in res if d and not d.startswith(b"HTTP/1.1 200 ")]
full = [d for d in ok if b"\r\n\r\n" in d and b"\nmemory_allocations_tracked_total{" in d.split(b"\r\n\r\n", 1)[1]]
print("answered", len(ok), "full", len(full), "other", len(bad), "failed", res.count(None),
      "seconds", round(time.time() - t0, 2))
# one address keeps at most 32 connections waiting for their request
sys.exit(0 if len(full) == len(ok) and len(ok) >= 31 and not bad else 1)
PY
rc=$?
curl -s -m 5 "http://127.0.0.1:$port/metrics" > "$TMP/after.txt" 2>&1
after=$(grep -c "^memory_allocations_tracked_total" "$TMP/after.txt")
if [ $rc -eq 0 ] && [ "${after:-0}" -ge 1 ] && grep -q '^memory_allocations_tracked_total' "$TMP/ref.txt"; then
	pass "http_load ($(cat "$TMP/load.out"))"
else
	fail http_load "$(tr '\n' ';' < "$TMP/load.out" | cut -c1-300) after=$after $(head -c 200 "$TMP/after.txt" | tr "\n" ";") $(tail -c 300 "$TMP/o.err")"
fi

# 3. Slowloris: COUNT clients trickle one byte a second of an endless
# request head for 7 s (past the 5 s idle timeout), reopening what the
# server closes; then /healthz from 127.0.0.1 (the attackers' own address
# in the first runs, as for a probe on a shared node address) and /metrics
# from 127.0.0.2 must answer within 1 s. Before the gate, 64 such clients
# from one address denied both.
cat > "$TMP/slowloris.py" <<'PY'
import resource, socket, sys, time
port, count, spread, hold = (int(a) for a in sys.argv[1:5])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
REQ = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: "

def opened(i):
    s = socket.socket()
    s.setblocking(False)
    s.bind(("127.0.1.%d" % (1 + i % spread) if spread else "127.0.0.1", 0))
    s.connect_ex(("127.0.0.1", port))
    return [s, 0]

def closed(s):
    try:
        return s.recv(512, socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True

conns = [opened(i) for i in range(count)]
reopened = 0
t0 = time.time()
while time.time() - t0 < hold:
    for i, c in enumerate(conns):
        if closed(c[0]):
            c[0].close()
            conns[i] = c = opened(i)
            reopened += 1
        try:
            if c[0].send(REQ[c[1]:c[1] + 1] or b"a") == 1:
                c[1] += 1
        except OSError:
            pass
    time.sleep(1)    # the attack's pace: one byte a second

def probe(src, path):
    t = time.time()
    d = b""
    try:
        s = socket.socket()
        s.settimeout(1.0)
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while time.time() - t < 1.0:
            x = s.recv(65536)
            if not x:
                break
            d += x
        s.close()
    except OSError:
        pass
    return d.startswith(b"HTTP/1.1 200 ") and time.time() - t < 1.0, time.time() - t

h, ht = probe("127.0.0.1", b"/healthz")
m, mt = probe("127.0.0.2", b"/metrics")
print("%d from %s: healthz %s %.3fs, metrics %s %.3fs, %d closed by the server" %
      (count, "127.0.1.1-%d" % spread if spread else "127.0.0.1", "ok" if h else "DENIED",
       ht, "ok" if m else "DENIED", mt, reopened))
sys.exit(0 if h and m else 1)
PY
slow_ok=1 slow_out=""
for run in "64 0" "1000 0" "1000 16"; do
	# shellcheck disable=SC2086
	line=$(python3 "$TMP/slowloris.py" "$port" $run 7) || slow_ok=0
	slow_out+="$line; "
done
if [ $slow_ok -eq 1 ]; then
	pass "http_slowloris ($slow_out)"
else
	fail http_slowloris "$slow_out $(tail -c 300 "$TMP/o.err")"
fi
kill "$m" 2>/dev/null
wait "$m" 2>/dev/null

# 4. A port below 1024: bound by the main thread (CAP_NET_BIND_SERVICE, dropped
# after), served by a thread that holds nothing.
low=$(python3 -c '
import socket
for p in range(900, 1024):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()')
"$MO" -v --min-age 0 --metrics "127.0.0.1:$low" -p "$f" -o /dev/null 2> "$TMP/low.err" &
m=$!
wait_for "$TMP/low.err" observing 100
low_caps=$(http_thread_caps "$m")
if ! curl -sf -m 5 -o /dev/null "http://127.0.0.1:$low/healthz"; then
	fail http_privileged_port "no answer on 127.0.0.1:$low: $(head -c 300 "$TMP/low.err")"
elif ! caps_none "$low_caps"; then
	fail http_privileged_port "HTTP thread CapEff '$low_caps'"
else
	pass http_privileged_port
fi
kill "$m" 2>/dev/null
wait "$m" 2>/dev/null
kill "$f" 2>/dev/null
exit 0
