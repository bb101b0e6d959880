#!/usr/bin/env bash
# The whole suite: unit tests (cmocka), their sanitizer build, every fuzzer
# over its corpus (a replay, tests/fuzz/replay.sh; the fuzz_dwarf seed is
# checked to be the same at any checkout path), the integration tests that
# need no BPF (tests/nobpf) and the BPF integration tests (root).
# Ends with one summary line: "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
pass=0 fail=0 skipped=0
failed=()

count_cmocka() { # name binary
	local out rc
	out=$(CMOCKA_MESSAGE_OUTPUT=stdout "$2" 2>&1)
	rc=$?
	local ok bad
	ok=$(grep -c '^\[       OK \]' <<< "$out")
	bad=$(grep -c '^\[  FAILED  \] [^0-9]' <<< "$out")
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		bad=1 # crashed or failed outside a test case
	fi
	pass=$((pass + ok))
	fail=$((fail + bad))
	if [ "$bad" -gt 0 ]; then
		failed+=("$1")
		echo "$out" | grep -E 'FAILED|ERROR|error|Assert|Sanitizer' | head -20
	fi
	printf '%-40s %3d passed, %d failed\n' "$1" "$ok" "$bad"
}

echo "== unit tests"
for t in build/tests/test_*; do
	[[ $t == *.d ]] && continue
	count_cmocka "unit/$(basename "$t")" "$t"
done

echo "== unit tests under AddressSanitizer + UBSan"
for t in build/asan/test_*; do
	[[ $t == *.d ]] && continue
	ASAN_OPTIONS=detect_leaks=1 count_cmocka "asan/$(basename "$t")" "$t"
done

echo "== unit tests under ThreadSanitizer"
for t in build/tsan/test_*; do
	[[ $t == *.d ]] && continue
	TSAN_OPTIONS="halt_on_error=1 suppressions=$PWD/tests/unit/tsan.supp" count_cmocka "tsan/$(basename "$t")" "$t"
done

# count_lines CMD...: run CMD, echo its output, count its PASS/FAIL/SKIP lines.
count_lines() {
	local line
	while IFS= read -r line; do
		echo "$line"
		case "$line" in
		PASS:*) pass=$((pass + 1)) ;;
		FAIL:*) fail=$((fail + 1)); failed+=("${line#FAIL: }") ;;
		SKIP:*) skipped=$((skipped + 1)) ;;
		esac
	done < <("$@" 2>&1)
}

echo "== layering (dependencies point down; no include cycle)"
count_lines python3 scripts/check-layers.py --pass-line

echo "== BPF stack (deepest call chain of frames well under the verifier's 512 bytes)"
count_lines python3 scripts/bpf-stack.py --pass-line

echo "== fuzzers (every corpus input replayed once; nothing random)"
count_lines bash tests/fuzz/replay.sh
count_lines bash tests/fuzz/seed_paths.sh

echo "== integration tests without BPF (browser, valgrind)"
for t in tests/nobpf/test_*.sh; do
	count_lines bash "$t"
done

echo "== BPF integration tests"
for t in tests/bpf/test_*.sh; do
	count_lines bash "$t"
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "failed:"
	printf '  %s\n' "${failed[@]}" | cut -c1-200
fi
echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ]
