#!/usr/bin/env bash
# Outputs people already use, from a real run: a Prometheus scrape checked by
# promtool and by a real Prometheus server's query API, a pprof profile that
# protoc decodes with the right totals, folded stacks and a flame graph.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip outputs "$why"; exit 0; fi

port=$((20000 + RANDOM % 20000))
"$FIX/leak_many" --wait-signal --count 7 --size 20000 --hold-ms 8000 > "$TMP/f.out" 2>&1 &
f=$!
wait_for "$TMP/f.out" '^READY' 50
"$MO" -v --min-age 0 --metrics "127.0.0.1:$port" -p "$f" --format json -o "$TMP/o.json" \
	--pprof "$TMP/leaks.pb.gz" --folded "$TMP/leaks.folded" --flamegraph "$TMP/leaks.svg" \
	2> "$TMP/o.err" &
m=$!
if ! wait_for "$TMP/o.err" observing 100; then
	fail outputs "memobserver did not attach: $(head -c 300 "$TMP/o.err")"
	kill "$f" "$m"
	exit 0
fi
kill -USR1 "$f"
wait_for "$TMP/f.out" '^DONE' 50
# the scrape judged below: the first that has the fixture's series (5 s at most)
scraped() {
	scrape_to "$port" "$TMP/metrics.txt" &&
		grep -q '^memory_allocations_tracked_total{process="leak_many"' "$TMP/metrics.txt"
}
wait_until 50 scraped

# 1. The scrape: the seed's families, valid exposition format.
if [ -s "$TMP/metrics.txt" ]; then
	if command -v promtool > /dev/null; then
		if promtool check metrics < "$TMP/metrics.txt" > "$TMP/promtool.out" 2>&1; then
			pass outputs_promtool_check
		else
			fail outputs_promtool_check "$(head -c 300 "$TMP/promtool.out")"
		fi
	else
		skip outputs_promtool_check "promtool not installed"
	fi
	if grep -q "^memory_allocations_tracked_total{process=\"leak_many\",container_id=\"\"} 7$" "$TMP/metrics.txt" &&
		grep -q "^memory_unfreed_memory_bytes{process=\"leak_many\",container_id=\"\"} 140000$" "$TMP/metrics.txt"; then
		pass outputs_metrics_values
	else
		fail outputs_metrics_values "$(grep -E '^memory_(allocations|unfreed)' "$TMP/metrics.txt" | head -5 | tr '\n' ';')"
	fi
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope")
	health=$(curl -sf "http://127.0.0.1:$port/healthz")
	if [ "$code" = 404 ] && [ "$health" = ok ]; then pass outputs_http_paths; else fail outputs_http_paths "/nope $code, /healthz '$health'"; fi
else
	fail outputs_promtool_check "no scrape on 127.0.0.1:$port"
fi

# 2. A real Prometheus server scrapes memobserver and answers a query.
if command -v prometheus > /dev/null; then
	pport=$((port + 1))
	cat > "$TMP/prom.yml" << YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: memobserver
    static_configs:
      - targets: ['127.0.0.1:$port']
YML
	prometheus --config.file="$TMP/prom.yml" --storage.tsdb.path="$TMP/tsdb" \
		--web.listen-address="127.0.0.1:$pport" > "$TMP/prom.log" 2>&1 &
	p=$!
	got=""
	for _ in $(seq 1 60); do
		got=$(curl -sf "http://127.0.0.1:$pport/api/v1/query" \
			--data-urlencode 'query=memory_allocations_tracked_total{process="leak_many"}' 2> /dev/null)
		grep -q '"value":\[[0-9.]*,"7"\]' <<< "$got" && break
		sleep 0.5
	done
	kill "$p"
	wait "$p" 2> /dev/null
	if grep -q '"value":\[[0-9.]*,"7"\]' <<< "$got"; then
		pass outputs_prometheus_scrape
	else
		fail outputs_prometheus_scrape "query answered: ${got:0:300}"
	fi
else
	skip outputs_prometheus_scrape "prometheus not installed"
fi

# 3. The end of the run writes the profile, folded stacks and flame graph.
kill -INT "$m"
wait "$m"
kill "$f" 2> /dev/null
wait "$f" 2> /dev/null
if command -v protoc > /dev/null && [ -s "$TMP/leaks.pb.gz" ]; then
	if gunzip -c "$TMP/leaks.pb.gz" | protoc --decode perftools.profiles.Profile \
		-I "$ROOT/proto" "$ROOT/proto/profile.proto" > "$TMP/pprof.txt" 2> "$TMP/protoc.err"; then
		# one sample per stack: values [count, bytes]; leak_many_blocks' is 7 x 20000
		# values [alloc_objects, alloc_space, inuse_objects, inuse_space]
		if grep -q 'leak_many_blocks' "$TMP/pprof.txt" && grep -q '"alloc_space"' "$TMP/pprof.txt" &&
			tr -d ' \n' < "$TMP/pprof.txt" | grep -q 'value:7value:140000value:7value:140000'; then
			pass outputs_pprof_roundtrip
		else
			fail outputs_pprof_roundtrip "decoded profile lacks the 7 x 20000 sample"
		fi
	else
		fail outputs_pprof_roundtrip "protoc: $(head -c 200 "$TMP/protoc.err")"
	fi
else
	fail outputs_pprof_roundtrip "no profile written (or protoc missing)"
fi
if grep -q '^leak_many ([0-9]*);.*leak_many_blocks 140000$' "$TMP/leaks.folded"; then
	pass outputs_folded
else
	fail outputs_folded "$(head -c 300 "$TMP/leaks.folded")"
fi
if python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$TMP/leaks.svg" 2> /dev/null &&
	grep -q 'leak_many_blocks' "$TMP/leaks.svg"; then
	pass outputs_flamegraph_svg
else
	fail outputs_flamegraph_svg "missing or not XML"
fi
exit 0
