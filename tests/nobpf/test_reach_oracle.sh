#!/usr/bin/env bash
# Valgrind as the oracle of the reachability scanner (needs no BPF): each
# reach_cases fixture runs once under valgrind, exiting at its point of
# interest, and once natively, scanned live at that same point (stop and
# live modes, bench/reach_bench). Definitely/indirectly lost bytes and
# block counts must agree, but for the differences docs/reachability.md
# explains:
#   buffer64  valgrind's heap sits at low addresses, where a 64 MiB block
#             covers values that ordinary integers take (ld.so's
#             relocate_time...): it calls the lost buffer possibly lost.
#   register  live mode cannot see registers: the block held only in a
#             spinning thread's register is definitely lost there.
source "$(dirname "$0")/../bpf/lib.sh"
BENCH=$ROOT/build/bench/reach_bench
CASES=$FIX/reach_cases

if ! command -v valgrind > /dev/null; then
	skip reach_oracle "valgrind not installed"
	exit 0
fi
if [ ! -x "$BENCH" ] || [ ! -x "$CASES" ]; then
	skip reach_oracle "build/bench/reach_bench or reach_cases not built"
	exit 0
fi

# "N B" of a valgrind LEAK SUMMARY line: kind is definitely/indirectly/possibly
vg_count() {
	local line
	line=$(grep -E "$2 lost: " "$1" | head -1 | tr -d ,)
	[ -n "$line" ] || { echo "0 0"; return; }
	sed -E 's/.*lost: ([0-9]+) bytes in ([0-9]+) blocks.*/\2 \1/' <<< "$line"
}

# "N B" of the scanner's SCAN line for a class (definite/indirect)
ours_count() {
	grep -o "$2=[0-9]*/[0-9]*" "$1" | head -1 | sed -E 's/.*=([0-9]+)\/([0-9]+)/\1 \2/'
}

for c in buffer64 list interior cycle tree register stack; do
	vg=$TMP/vg.$c
	valgrind --leak-check=full --show-leak-kinds=all --run-libc-freeres=no \
		"$CASES" --case "$c" --exit > /dev/null 2> "$vg"
	read -r vdn vdb <<< "$(vg_count "$vg" definitely)"
	read -r vin vib <<< "$(vg_count "$vg" indirectly)"
	read -r vpn vpb <<< "$(vg_count "$vg" possibly)"
	if ! grep -q "LEAK SUMMARY" "$vg"; then
		fail "reach_oracle_$c" "no leak summary from valgrind: $(tail -3 "$vg" | tr '\n' ' ')"
		continue
	fi
	for mode in stop live; do
		out=$TMP/ours.$c.$mode
		if ! "$BENCH" --mode "$mode" --max-pause-ms 2000 -- "$CASES" --case "$c" > "$out" 2>&1; then
			fail "reach_oracle_${c}_$mode" "reach_bench failed: $(tail -2 "$out" | tr '\n' ' ')"
			continue
		fi
		read -r odn odb <<< "$(ours_count "$out" definite)"
		read -r oin oib <<< "$(ours_count "$out" indirect)"
		wdn=$vdn wdb=$vdb note=""
		if [ "$c" = buffer64 ]; then
			# valgrind's possibly lost block is our definitely lost one
			wdn=$((vdn + vpn)) wdb=$((vdb + vpb))
			note=" (valgrind: possibly lost $vpn/$vpb, false pointers into its low heap)"
		fi
		if [ "$c" = register ] && [ "$mode" = live ]; then
			wdn=$((vdn + 1)) wdb=$((vdb + 128))
			note=" (live mode sees no register: the register-held block is lost)"
		fi
		if [ "$odn/$odb $oin/$oib" = "$wdn/$wdb $vin/$vib" ]; then
			pass "reach_oracle_${c}_$mode: definite $odn/$odb indirect $oin/$oib$note"
		else
			fail "reach_oracle_${c}_$mode" "ours definite $odn/$odb indirect $oin/$oib, valgrind definite $vdn/$vdb indirect $vin/$vib possibly $vpn/$vpb$note"
		fi
	done
done
