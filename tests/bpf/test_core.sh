#!/usr/bin/env bash
# The core's threads: a scrape never waits for the worker. A process loads
# a big library (LLVM, ~100 MiB of code) while observed: the worker reads its
# unwind table and names its stacks, which takes most of a second; scrapes
# made meanwhile must each answer within 100 ms.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip core "$why"; exit 0; fi
if [ ! -r /usr/lib/x86_64-linux-gnu/libLLVM-14.so.1 ]; then
	skip core_scrape_during_slow_module "libLLVM-14 is not installed"
	exit 0
fi

port=$((20000 + RANDOM % 20000))
mkfifo "$TMP/in"
"$FIX/dlopen_big" --seconds 4 < "$TMP/in" > "$TMP/fx.out" &
fx=$!
exec 3> "$TMP/in"
wait_for "$TMP/fx.out" '^READY' 100
"$MO" -v -v --metrics "127.0.0.1:$port" --min-age 0 --interval 1s --format json \
	-o "$TMP/ev.json" -p "$fx" 2> "$TMP/mo.err" &
mp=$!
if ! curl -sf --retry 60 --retry-delay 1 --retry-connrefused "http://127.0.0.1:$port/healthz" \
	> /dev/null; then
	fail core_scrape_during_slow_module "the endpoint never answered: $(tail -c 300 "$TMP/mo.err")"
	kill "$fx" "$mp" 2> /dev/null
	exit 0
fi
# scrape every 20 ms from now until the fixture is done; the slowest answer
python3 - "$port" "$TMP/fx.out" > "$TMP/scrapes" << 'PY' &
import http.client, sys, time
port, done_file = int(sys.argv[1]), sys.argv[2]
worst, n, end = 0.0, 0, None
while True:
    done = "DONE" in open(done_file).read()
    t0 = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/metrics")
        body = c.getresponse().read()
        c.close()
    except OSError:
        # once the fixture is done memobserver -p ends with it
        if done:
            break
        raise
    dt = time.monotonic() - t0
    if b"memobserver_events_emitted_total" in body:
        worst, n = max(worst, dt), n + 1
    if end is None and done:
        end = time.monotonic() + 1
    if end is not None and time.monotonic() > end:
        break
    time.sleep(0.02)
print(n, "%.3f" % worst)
PY
scraper=$!
echo go >&3
wait "$scraper"
exec 3>&-
kill -TERM "$mp"
wait "$mp"
wait "$fx"
read -r nscrapes worst < "$TMP/scrapes"
busy=$(sed -n 's/.*worker busy \([0-9]*\) ms.*/\1/p' "$TMP/mo.err" | sort -n | tail -1)
echo "FIGURES core: $nscrapes scrapes, slowest ${worst}s; busiest worker pass ${busy:-?} ms" >&2
if grep -q '^SKIP' "$TMP/fx.out"; then
	skip core_scrape_during_slow_module "$(grep '^SKIP' "$TMP/fx.out")"
elif [ -z "$busy" ] || [ "$busy" -lt 300 ]; then
	fail core_scrape_during_slow_module "the worker was never busy 300 ms (busiest ${busy:-none}): the test proves nothing"
elif awk -v w="${worst:-9}" 'BEGIN { exit !(w < 0.1) }' && [ "${nscrapes:-0}" -ge 20 ]; then
	pass core_scrape_during_slow_module
else
	fail core_scrape_during_slow_module "slowest of ${nscrapes:-0} scrapes ${worst:-?}s while the worker was busy ${busy} ms"
fi
