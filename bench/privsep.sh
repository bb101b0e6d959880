#!/usr/bin/env bash
# bench/privsep.sh - what the confined parser process costs (docs/privileges.md):
# one large module read in memobserver's own process and through the parser
# process (memobserver --privsep-parser, as in production), side by side.
#
# Steps, each the median of ROUNDS rounds (the two sides alternate who goes
# first): the module's unwind rows, opening it for symbols (symbol table,
# DWARF, debug file), LOOKUPS lookups of addresses spread over its code, and
# the same lookups again, the allocator functions attach.c looks for (its 76
# names, elfsym.c); then the round trip of a request that needs no parsing
# (10,000 of them). Both sides must return the same frames and functions.
#
# Knobs: MODULES="path..." (default: libLLVM, cc1, libc, each if present)
#        LOOKUPS=300  ROUNDS=3
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LOOKUPS=${LOOKUPS:-300}
ROUNDS=${ROUNDS:-3}

if [ -z "${MODULES:-}" ]; then
	# the newest libLLVM and cc1 there are, and libc
	llvm=$(ls /usr/lib/x86_64-linux-gnu/libLLVM-1[0-9].so.1 2> /dev/null | sort -V | tail -1)
	cc1=$(ls /usr/lib/gcc/x86_64-linux-gnu/*/cc1 2> /dev/null | sort -V | tail -1)
	MODULES=""
	for m in $llvm $cc1 /lib/x86_64-linux-gnu/libc.so.6; do
		[ -f "$m" ] && MODULES="$MODULES $(readlink -f "$m")"
	done
fi

make -s -j2 build/memobserver build/libmemobserver.a
# linked as memobserver is (its own jemalloc), so both sides allocate alike
# shellcheck disable=SC2046
gcc -O2 -g -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE \
	-Iinclude -Isrc -Isrc/lib -Ibuild bench/privsep_bench.c build/libmemobserver.a \
	-o build/privsep_bench -Wl,-Bstatic -ljemalloc -Wl,-Bdynamic -ldl \
	$(pkg-config --libs libbpf libdw libelf zlib) -lpthread -lm -liberty

echo "# memobserver's parser process: in process vs confined child"
echo
echo "$(nproc) CPUs, $(uname -r); $LOOKUPS lookups, median of $ROUNDS rounds; child:" \
	"build/memobserver --privsep-parser$([ "$(id -u)" = 0 ] && echo ", user nobody")"
status=0
for m in $MODULES; do
	out=$(build/privsep_bench "$m" "$LOOKUPS" "$ROUNDS" "$ROOT/build/memobserver" \
		--privsep-parser) || status=1
	size=$(stat -c %s "$m")
	echo
	echo "## $m ($((size / 1048576)) MiB, $(awk '$1 == "rows_count" { print $2 }' <<< "$out") unwind rows," \
		"$(awk '$1 == "named" { print $2 }' <<< "$out") of $LOOKUPS lookups named)"
	echo
	echo "| step | in process (ms) | parser process (ms) | ratio |"
	echo "|---|---:|---:|---:|"
	awk '$1 ~ /^(rows|open|lookups|again|funcs)$/ {
		label["rows"] = "unwind rows, whole file"
		label["open"] = "open for symbols"
		label["lookups"] = "lookups, first time"
		label["again"] = "the same lookups again"
		label["funcs"] = "allocator functions (attach)"
		printf "| %s | %.2f | %.2f | %.2f |\n", label[$1], $2, $3, ($2 > 0 ? $3 / $2 : 0)
	}' <<< "$out"
	awk '$1 == "lookups" { printf "\nper lookup: %.0f us in process, %.0f us through the child",
		$2 * 1000 / '"$LOOKUPS"', $3 * 1000 / '"$LOOKUPS"' }
	     $1 == "round_trip_us" { printf "; one request that needs no parsing: %.1f us\n", $2 }' <<< "$out"
	grep -q '^differ 0$' <<< "$out" || { echo "FRAMES DIFFER: $out"; status=1; }
	grep -q '^deaths 0$' <<< "$out" || { echo "the parser process died: $out"; status=1; }
done
exit $status
