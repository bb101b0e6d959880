#!/usr/bin/env bash
# bench/watch_find.sh - how long the shipped default (plain `memobserver`:
# system-wide watch tier, default --interval) takes to find slow growth beside
# a parallel build, with no allocator probe. The issue's targets, each within
# 5 minutes: the leaking function in the top frames of a growth finding for a
# C program leaking 64-byte blocks at 1 MB/min, for a Go program growing a
# global map, and a finding for Python programs growing a global list and a
# global dict (Go and Python at GROW_RATE); no finding for a program that
# fills a fixed-size cache and then keeps it.
#
#   LEAK_RATE=17477 (bytes/s: 1 MiB/min)  GROW_RATE=17477  LIMIT_S=300
#   GO_RATES="$GROW_RATE" (one Go grower per rate)  PY_RATE=$GROW_RATE
#   BUILD_JOBS=2  MEMOBSERVER=build/memobserver        bash bench/watch_find.sh
#
# Python 3.11 writes no perf map, so a Python grower's top frames are the
# interpreter's C functions (list_resize, insertdict...): found means a
# growth finding for its pid, and the report shows its frames. The build is
# memobserver's own (a `git archive` copy), cleaned and rebuilt in a loop for
# the whole run. Exit 0 when all are found within LIMIT_S and the cache has
# no finding, 1 otherwise, 2 when it could not run. Report in
# bench/out/watch-find-DATE.txt.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
: "${LEAK_RATE:=17477}" "${GROW_RATE:=17477}" "${LIMIT_S:=300}" "${BUILD_JOBS:=2}"
: "${GO_RATES:=$GROW_RATE}" "${PY_RATE:=$GROW_RATE}"
: "${MEMOBSERVER:=$ROOT/build/memobserver}"
FIX=$ROOT/build/fixtures
STAMP=$(date +%Y%m%d-%H%M%S)
REPORT=$ROOT/bench/out/watch-find-$STAMP.txt
WORK=$(mktemp -d /tmp/mo-watch-find.XXXXXX)
PIDS=()

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
die() { echo "watch_find: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (BPF)"
[ -x "$MEMOBSERVER" ] || die "$MEMOBSERVER not built (make)"
for f in grow watch_grow_go; do
	[ -x "$FIX/$f" ] || die "$FIX/$f not built (make fixtures)"
done
command -v python3 > /dev/null || die "python3 not installed"
mkdir -p "$ROOT/bench/out"

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null; done
	[ -n "${MOPID:-}" ] && kill -INT "$MOPID" 2>/dev/null && wait "$MOPID" 2>/dev/null
	exec 9>&-
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

mkdir "$WORK/src-build"
git -C "$ROOT" archive HEAD | tar -x -C "$WORK/src-build" -f - || die "git archive failed"

start_observer "$WORK/mo.log" --format json -o "$WORK/events.json" --metrics off -v

setsid bash -c "cd '$WORK/src-build' && while :; do make clean > /dev/null 2>&1; make -j$BUILD_JOBS build/memobserver > /dev/null 2>&1; done" &
PIDS+=($!)
mkfifo "$WORK/hold"
exec 9<> "$WORK/hold"
# grower NAME COMMAND...: started with stdin on the hold fifo; pid in $GPID
grower() {
	local name=$1

	shift
	"$@" < "$WORK/hold" > "$WORK/$name.out" 2>&1 &
	GPID=$!
	PIDS+=("$GPID")
}
grower leak "$FIX/grow" --leak-rate "$LEAK_RATE" --block 64
LEAK=$GPID
# an 8 MiB cache filled in 8 s, then kept
grower cache "$FIX/grow" --cache 8388608 --rate 1048576 --block 64
CACHE=$GPID
GO_TARGETS=()
for r in $GO_RATES; do
	grower "go$r" "$FIX/watch_grow_go" --rate "$r"
	GO_TARGETS+=("Go map ($((r * 60 / 1024)) KiB/min)|$GPID|6|^main\\.leakMap\$")
done
grower pylist python3 "$ROOT/tests/fixtures/watch_grow.py" --kind list --rate "$PY_RATE"
PYLIST=$GPID
grower pydict python3 "$ROOT/tests/fixtures/watch_grow.py" --kind dict --rate "$PY_RATE"
PYDICT=$GPID

cat > "$WORK/q.py" << 'PYEOF'
import json, re, sys
# EVENTS PID TOP REGEX: the first frames of a watch-tier leak finding for
# PID with a frame matching REGEX among its TOP first ("": any finding)
def found(path, pid, top, rx):
    for line in open(path, errors="replace"):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if not isinstance(e, dict) or e.get("pid") != pid or e.get("kind") != "leak" \
                or e.get("tier") != "watch":
            continue
        syms = [f.get("symbol", "?") for f in e.get("stack", [])]
        if not rx or any(re.search(rx, s) for s in syms[:top]):
            return syms[:max(top, 5)]
    return None
r = found(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
print(", ".join(r) if r else "")
sys.exit(0 if r else 1)
PYEOF

# name|pid|top frames|regex: what must be found, and where
TARGETS=("C leak (64-byte blocks)|$LEAK|5|^leak_small_blocks\$"
	"${GO_TARGETS[@]}"
	"Python list|$PYLIST|8|"
	"Python dict|$PYDICT|8|")
declare -A AT FRAMES
t0=$(date +%s)
while [ $(($(date +%s) - t0)) -lt "$LIMIT_S" ]; do
	left=0
	for t in "${TARGETS[@]}"; do
		IFS='|' read -r name pid top rx <<< "$t"
		[ -n "${AT[$name]:-}" ] && continue
		if frames=$(python3 "$WORK/q.py" "$WORK/events.json" "$pid" "$top" "$rx"); then
			AT[$name]=$(($(date +%s) - t0))
			FRAMES[$name]=$frames
		else
			left=$((left + 1))
		fi
	done
	[ "$left" = 0 ] && break
	kill -0 "$MOPID" 2>/dev/null || break
	sleep 1
done
cache_finding=$(python3 "$WORK/q.py" "$WORK/events.json" "$CACHE" 5 "")
rc=0
{
	echo "# watch tier: time to find slow growth beside a build ($STAMP)"
	echo "Machine: $(nproc) CPUs, kernel $(uname -r); memobserver $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
	echo "Command: memobserver --format json (system-wide, watch tier, default --interval); beside: make -j$BUILD_JOBS build/memobserver in a loop"
	echo "Growers: C grow --leak-rate $LEAK_RATE --block 64 ($((LEAK_RATE * 60 / 1024)) KiB/min); Go watch_grow_go --rate each of: $GO_RATES bytes/s; Python watch_grow.py --kind list and dict, $PY_RATE bytes/s ($((PY_RATE * 60 / 1024)) KiB/min)"
	echo "Cache: grow --cache 8388608 --rate 1048576 (8 MiB, then kept)"
	for t in "${TARGETS[@]}"; do
		IFS='|' read -r name pid top rx <<< "$t"
		if [ -n "${AT[$name]:-}" ]; then
			echo "$name: found after ${AT[$name]} s (limit $LIMIT_S s)${rx:+, $rx in the top $top frames}: ${FRAMES[$name]}"
		else
			echo "$name: NOT found within $LIMIT_S s${rx:+ (wanted $rx in the top $top frames)}"
			rc=1
		fi
	done
	if [ "$rc" != 0 ] && cp "$WORK/events.json" "${REPORT%.txt}.events.json" 2> /dev/null; then
		echo "Events kept: ${REPORT%.txt}.events.json"
	fi
	if [ -n "$cache_finding" ]; then
		echo "Cache: a growth finding (wrong): $cache_finding"
		rc=1
	else
		echo "Cache: no finding (right)"
	fi
	echo "RESULT: $([ $rc = 0 ] && echo met || echo MISSED)"
} > "$REPORT"
cat "$REPORT"
grep -q '^RESULT: met' "$REPORT"
