#!/usr/bin/env bash
# explore.sh [NAME...] - random exploration, not part of the test suite
# (`make fuzz-explore`). Each fuzzer (all by default, or the NAMEs given:
# dwarf, http, ...) mutates its corpus for FUZZ_SECONDS (60) seconds.
# tests/fuzz/corpus/ is read, never written: new inputs go to
# build/fuzz/new/fuzz_NAME/, crashes, leaks and timeouts to
# build/fuzz/artifacts/fuzz_NAME-*.
#
# An input worth keeping (it found a bug, or reaches new code) is copied
# into tests/fuzz/corpus/NAME/ under a name that says what it does; the
# replay in tests/run.sh then runs it every time.
set -u
cd "$(dirname "$0")/../.."
. tests/fuzz/names.sh
seconds=${FUZZ_SECONDS:-60}
mkdir -p build/fuzz/artifacts
status=0

for name in $(fuzzer_names "$@"); do
	bin=build/fuzz/$name
	new=build/fuzz/new/$name
	log=build/fuzz/$name.explore.log
	mkdir -p "$new"
	echo "== $name: ${seconds}s, new inputs in $new, log in $log"
	if "$bin" -max_total_time="$seconds" -max_len=4096 -timeout=30 \
		-artifact_prefix="build/fuzz/artifacts/$name-" \
		"$new" "tests/fuzz/corpus/${name#fuzz_}" > "$log" 2>&1; then
		grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log" | tail -1
		echo "$(find "$new" -type f | wc -l) inputs in $new"
	else
		status=1
		grep -m1 '^==[0-9]*==ERROR\|^SUMMARY\|deadly signal\|Test unit written to' "$log"
		grep 'Test unit written to' "$log"
	fi
done
exit $status
