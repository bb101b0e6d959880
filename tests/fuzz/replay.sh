#!/usr/bin/env bash
# replay.sh [NAME...] - the fuzzers' part of the test suite: every file of
# tests/fuzz/corpus/NAME/ goes once through build/fuzz/fuzz_NAME, and that
# is all. No mutation, no time limit, so a run at any path, on any machine,
# executes exactly the same inputs (random exploration is `make
# fuzz-explore`). One line per fuzzer: "PASS: fuzz/fuzz_NAME (N inputs)"
# or "FAIL: fuzz/fuzz_NAME: why"; exit status 1 if any failed.
#
# A fuzzer fails when it crashes, times out, breaks a CHECK, leaks (LSan,
# per input and at exit), or does not report every file as executed. Its output is in build/fuzz/fuzz_NAME.log; a failing run is
# repeated one file at a time to name the inputs responsible. Crash
# artifacts go to build/fuzz/artifacts/.
set -u
cd "$(dirname "$0")/../.."
. tests/fuzz/names.sh
artifacts=build/fuzz/artifacts
mkdir -p "$artifacts"
status=0

# run BIN LOG FILE... : replay the files in one process; 0 if all ran clean.
run() {
	local bin=$1 log=$2
	shift 2
	"$bin" -artifact_prefix="$artifacts/$(basename "$bin")-" -timeout=120 \
		"$@" > "$log" 2>&1 || return 1
	# libFuzzer prints one "Executed FILE in N ms" per input it ran.
	[ "$(grep -c '^Executed ' "$log")" -eq $# ] || return 1
	! grep -q '^==[0-9]*==ERROR: \|^SUMMARY: .*Sanitizer' "$log"
}

for name in $(fuzzer_names "$@"); do
	bin=build/fuzz/$name
	corpus=tests/fuzz/corpus/${name#fuzz_}
	log=build/fuzz/$name.log
	if [ ! -x "$bin" ]; then
		echo "FAIL: fuzz/$name: $bin is not built (make fuzz)"
		status=1
		continue
	fi
	files=()
	while IFS= read -r -d '' f; do
		files+=("$f")
	done < <(find "$corpus" -type f -print0 2>/dev/null | sort -z)
	if [ ${#files[@]} -eq 0 ]; then
		echo "FAIL: fuzz/$name: no corpus in $corpus"
		status=1
		continue
	fi
	if run "$bin" "$log" "${files[@]}"; then
		echo "PASS: fuzz/$name (${#files[@]} corpus inputs replayed)"
		continue
	fi
	status=1
	bad=()
	for f in "${files[@]}"; do
		run "$bin" "$log.one" "$f" || bad+=("$(basename "$f")")
	done
	rm -f "$log.one"
	why=$(grep -m1 -o 'ERROR: [A-Za-z]*Sanitizer: [a-z -]*[a-z]\|ERROR: libFuzzer: [a-z -]*[a-z]\|SUMMARY: .*' "$log")
	echo "FAIL: fuzz/$name: ${why:-exit status or executed count wrong, see $log}${bad[*]:+ (alone: ${bad[*]})}"
	grep -A12 '^==[0-9]*==ERROR' "$log" | head -24
done
exit $status
