# Sourced by replay.sh and explore.sh (from the top of the tree).
# fuzzer_names [NAME...]: fuzz_NAME for each NAME given (dwarf or
# fuzz_dwarf), or for every harness tests/fuzz/fuzz_*.c.
fuzzer_names() {
	local n
	if [ $# -eq 0 ]; then
		for n in tests/fuzz/fuzz_*.c; do
			basename "$n" .c
		done
		return
	fi
	for n in "$@"; do
		echo "fuzz_${n#fuzz_}"
	done
}
