#!/usr/bin/env bash
# Operations material (packaging/prometheus, packaging/grafana) proved by
# tools that are not ours: promtool checks and unit-tests the alerting rules
# (and each deliberate mutation of them must fail those tests), promtool
# parses every dashboard query, tsc checks the dashboard against Grafana's
# own schema types; then a real memobserver run serves the
# metrics, and every metric and label the rules and dashboard name must be in
# its scrape, and a real Prometheus scraping it loads the rules (all healthy)
# and answers every query. The helper is tests/bpf/ops_check.py.
. "$(dirname "$0")/lib.sh"

RULES=$ROOT/packaging/prometheus/memobserver.rules.yml
RTESTS=$ROOT/packaging/prometheus/memobserver.rules.test.yml
DASH=$ROOT/packaging/grafana/memobserver.json
OPS=$ROOT/tests/bpf/ops_check.py

# A python3 that has PyYAML (Debian's python3-yaml is in /usr/bin).
PY=
for p in python3 /usr/bin/python3; do
	if command -v "$p" > /dev/null && "$p" -c 'import yaml' 2> /dev/null; then
		PY=$p
		break
	fi
done
if [ -z "$PY" ]; then
	skip ops "no python3 with the yaml module (Debian: python3-yaml)"
	exit 0
fi

# run NAME CMD...: PASS, or FAIL with the command's last lines
run() {
	local name=$1
	shift
	if "$@" > "$TMP/$name.out" 2>&1; then
		pass "$name"
	else
		fail "$name" "$(tail -8 "$TMP/$name.out" | tr '\n' ';' | cut -c1-600)"
	fi
}

# --- no privileges needed ---------------------------------------------------
run ops_promql_parser_selftest "$PY" "$OPS" selftest
run ops_dashboard_structure "$PY" "$OPS" dashboard "$DASH"
if command -v promtool > /dev/null; then
	run ops_rules_check promtool check rules "$RULES"
	run ops_rules_unit_tests promtool test rules "$RTESTS"
	run ops_rules_mutations_caught "$PY" "$OPS" mutate "$RULES" "$RTESTS"
	if "$PY" "$OPS" promrules "$RULES" "$DASH" "$TMP/dash.rules.yml" > "$TMP/n" 2>&1; then
		run ops_dashboard_promql_parses promtool check rules "$TMP/dash.rules.yml"
	else
		fail ops_dashboard_promql_parses "$(tail -3 "$TMP/n")"
	fi
else
	for t in rules_check rules_unit_tests rules_mutations_caught dashboard_promql_parses; do
		skip "ops_$t" "promtool not installed (Debian: prometheus)"
	done
fi

# Grafana's own schema types (@grafana/schema, fetched by scripts/setup.sh)
# type the dashboard, each panel's options and field config, and each
# Prometheus target; tsc --strict must accept them.
SCHEMA=${OPS_GRAFANA_SCHEMA:-/var/cache/memobserver/grafana-schema-10.4.0/package}
if ! command -v tsc > /dev/null; then
	skip ops_dashboard_grafana_schema "tsc not installed (Debian: node-typescript)"
elif [ ! -f "$SCHEMA/dist/esm/raw/dashboard/x/dashboard_types.gen.d.ts" ]; then
	skip ops_dashboard_grafana_schema "no @grafana/schema in $SCHEMA (scripts/setup.sh fetches it)"
else
	mkdir -p "$TMP/ts"
	cat > "$TMP/ts/tsconfig.json" << JSON
{"compilerOptions": {"strict": true, "noEmit": true, "skipLibCheck": true,
  "moduleResolution": "node", "baseUrl": ".",
  "paths": {"@grafana/schema": ["$SCHEMA/dist/index.d.ts"]}},
 "files": ["dashboard.ts"]}
JSON
	if "$PY" "$OPS" grafana-ts "$DASH" "$SCHEMA" "$TMP/ts/dashboard.ts" > "$TMP/ts.out" 2>&1; then
		run ops_dashboard_grafana_schema tsc -p "$TMP/ts/tsconfig.json"
	else
		fail ops_dashboard_grafana_schema "$(tail -3 "$TMP/ts.out")"
	fi
fi

# --- against a real endpoint (BPF) ---------------------------------------------
why=$(bpf_unavailable)
if [ -n "$why" ]; then
	skip ops_names_served "$why"
	skip ops_names_mistakes_caught "$why"
	skip ops_prometheus_runs_all "$why"
	exit 0
fi

port=$(free_port)
# 60 MiB made resident in 3 s: RSS growth detections against the aggressive
# mode's 10 MiB threshold, so every family the material uses has series. The
# fixture holds its memory until memobserver is stopped at the end (memobserver
# then ends it).
"$MO" -v --mode aggressive --min-age 0 -i 500ms --metrics "127.0.0.1:$port" -o "$TMP/events.txt" \
	-- "$FIX/leak_many" --count 60 --size 1048576 --touch --interval-ms 50 --hold-ms 600000 \
	> "$TMP/fixture.out" 2> "$TMP/mo.err" &
m=$!
# poll TRIES DELAY PID CMD...: run CMD until it succeeds, at most TRIES
# times and while process PID lives
poll() {
	local tries=$1 delay=$2 pid=$3 i
	shift 3
	for i in $(seq 1 "$tries"); do
		"$@" && return 0
		kill -0 "$pid" 2> /dev/null || return 1
		sleep "$delay"
	done
	return 1
}
# a scrape that has the RSS growth series and the largest allocation
scraped() {
	curl -sf "http://127.0.0.1:$port/metrics" > "$TMP/metrics.txt" 2> /dev/null &&
		grep -q '^memory_rss_growth_detected_total{process="leak_many"' "$TMP/metrics.txt" &&
		grep -q '^memory_largest_allocation_bytes{process="leak_many"} 1048576$' "$TMP/metrics.txt"
}
got=0
poll 600 0.1 "$m" scraped && got=1
if [ "$got" = 1 ]; then
	run ops_names_served "$PY" "$OPS" names "$RULES" "$DASH" "$TMP/metrics.txt"
	run ops_names_mistakes_caught "$PY" "$OPS" names-negative "$RULES" "$DASH" "$TMP/metrics.txt"
else
	fail ops_names_served "no scrape with RSS growth from 127.0.0.1:$port: $(tail -c 300 "$TMP/mo.err")"
	fail ops_names_mistakes_caught "no scrape"
fi

# A real Prometheus scrapes memobserver every second and evaluates the rules
# every second; then every expression goes through its query API.
if [ "$got" = 1 ] && command -v prometheus > /dev/null; then
	pport=$(free_port)
	cat > "$TMP/prom.yml" << YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $RULES
scrape_configs:
  - job_name: memobserver
    static_configs:
      - targets: ['127.0.0.1:$port']
YML
	prometheus --config.file="$TMP/prom.yml" --storage.tsdb.path="$TMP/tsdb" \
		--web.listen-address="127.0.0.1:$pport" > "$TMP/prom.log" 2>&1 &
	p=$!
	# ready when it has scraped the RSS growth series and evaluated every rule
	prom_ready() {
		kill -0 "$m" 2> /dev/null &&
			curl -sf "http://127.0.0.1:$pport/api/v1/query" \
				--data-urlencode 'query=memory_rss_growth_detected_total{process="leak_many"}' \
				2> /dev/null | grep -q leak_many &&
			curl -sf "http://127.0.0.1:$pport/api/v1/rules" 2> /dev/null |
			"$PY" -c 'import json, sys
rules = [r for g in json.load(sys.stdin)["data"]["groups"] for r in g["rules"]]
sys.exit(not rules or any(r["lastEvaluation"].startswith("0001") for r in rules))'
	}
	ready=0
	poll 600 0.2 "$p" prom_ready && ready=1
	if [ "$ready" = 1 ]; then
		run ops_prometheus_runs_all "$PY" "$OPS" query "http://127.0.0.1:$pport" "$RULES" "$DASH"
	else
		fail ops_prometheus_runs_all "Prometheus did not scrape or evaluate: $(tail -c 300 "$TMP/prom.log")"
	fi
	kill "$p"
	wait "$p" 2> /dev/null
elif [ "$got" = 1 ]; then
	skip ops_prometheus_runs_all "prometheus not installed"
else
	fail ops_prometheus_runs_all "no scrape to run Prometheus on"
fi
kill -INT "$m" 2> /dev/null
wait "$m" 2> /dev/null
exit 0
