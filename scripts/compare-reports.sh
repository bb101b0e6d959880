#!/usr/bin/env bash
# Compare the leak reports of two memobserver builds on the bundled fixtures
# (root, BPF; run it under the BPF lock on a shared machine):
#   bash scripts/compare-reports.sh OLD_BINARY [NEW_BINARY]
# Each fixture runs under each binary with the same options; the leak
# records are compared by scripts/compare-reports.py (timestamps, pids,
# addresses and ages removed; fields only the new build writes listed).
set -u
cd "$(dirname "$0")/.."
old=$1 new=${2:-build/memobserver}
fix=build/fixtures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for case in "leak_basic" "leak_cxx" "leak_threads" "leak_many --count 7 --size 20000" "leak_fork" "leak_exec"; do
	set -- $case
	name=$1
	[ -x "$fix/$name" ] || { echo "$name: not built"; status=1; continue; }
	for b in old new; do
		bin=$old; [ $b = new ] && bin=$new
		timeout 120 "$bin" --metrics off --format json --min-age 0 -o "$tmp/$name.$b.json" \
			-- "$fix/$@" > /dev/null 2> "$tmp/$name.$b.err" ||
			{ echo "$name: $b build failed: $(tail -c 200 "$tmp/$name.$b.err")"; status=1; }
	done
	printf '%s: ' "$name"
	python3 scripts/compare-reports.py "$tmp/$name.old.json" "$tmp/$name.new.json" | tail -40 || status=1
done
exit $status
