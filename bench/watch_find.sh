#!/usr/bin/env bash
# bench/watch_find.sh - how long the shipped default (plain `memobserver`:
# system-wide watch tier, default --interval) takes to find a slow leak beside
# a parallel build, with no allocator probe: the issue's target is the leaking
# function in the top frames of a growth finding within 5 minutes, for a C
# program leaking 64-byte blocks at 1 MB/min, and no finding for a program
# that fills a fixed-size cache and then keeps it.
#
#   LEAK_RATE=17477 (bytes/s: 1 MiB/min)  LIMIT_S=300  BUILD_JOBS=2
#   MEMOBSERVER=build/memobserver            bash bench/watch_find.sh
#
# The build is memobserver's own (a `git archive` copy), cleaned and rebuilt
# in a loop for the whole run. Exit 0 when found within LIMIT_S and the cache
# has no finding, 1 otherwise, 2 when it could not run. Report in
# bench/out/watch-find-DATE.txt.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
: "${LEAK_RATE:=17477}" "${LIMIT_S:=300}" "${BUILD_JOBS:=2}"
: "${MEMOBSERVER:=$ROOT/build/memobserver}"
FIX=$ROOT/build/fixtures
STAMP=$(date +%Y%m%d-%H%M%S)
REPORT=$ROOT/bench/out/watch-find-$STAMP.txt
WORK=$(mktemp -d /tmp/mo-watch-find.XXXXXX)
PIDS=()

die() { echo "watch_find: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (BPF)"
[ -x "$MEMOBSERVER" ] || die "$MEMOBSERVER not built (make)"
[ -x "$FIX/grow" ] || die "$FIX/grow not built (make fixtures)"
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

"$MEMOBSERVER" --format json -o "$WORK/events.json" --metrics off -v > "$WORK/mo.log" 2>&1 &
MOPID=$!
for _ in $(seq 300); do
	grep -q observing "$WORK/mo.log" && break
	kill -0 "$MOPID" 2>/dev/null || { cat "$WORK/mo.log" >&2; die "memobserver exited at start"; }
	sleep 0.2
done
grep -q observing "$WORK/mo.log" || die "memobserver not observing after 60 s"

setsid bash -c "cd '$WORK/src-build' && while :; do make clean > /dev/null 2>&1; make -j$BUILD_JOBS build/memobserver > /dev/null 2>&1; done" &
PIDS+=($!)
mkfifo "$WORK/hold"
exec 9<> "$WORK/hold"
"$FIX/grow" --leak-rate "$LEAK_RATE" --block 64 < "$WORK/hold" > "$WORK/leak.out" 2>&1 &
LEAK=$!
PIDS+=($LEAK)
# an 8 MiB cache filled in 8 s, then kept
"$FIX/grow" --cache 8388608 --rate 1048576 --block 64 < "$WORK/hold" > "$WORK/cache.out" 2>&1 &
CACHE=$!
PIDS+=($CACHE)

cat > "$WORK/q.py" << 'EOF'
import json, sys
def found(path, pid, top):
    for line in open(path, errors="replace"):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if not isinstance(e, dict) or e.get("pid") != pid or e.get("kind") != "leak" \
                or e.get("tier") != "watch":
            continue
        syms = [f.get("symbol", "?") for f in e.get("stack", [])[:top]]
        if top == 0 or "leak_small_blocks" in syms:
            return syms
    return None
r = found(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
print(r or "")
sys.exit(0 if r else 1)
EOF

t0=$(date +%s)
found=""
while [ $(($(date +%s) - t0)) -lt "$LIMIT_S" ]; do
	if frames=$(python3 "$WORK/q.py" "$WORK/events.json" "$LEAK" 5); then
		found=$(($(date +%s) - t0))
		break
	fi
	kill -0 "$MOPID" 2>/dev/null || break
	sleep 1
done
cache_finding=$(python3 "$WORK/q.py" "$WORK/events.json" "$CACHE" 0)
rc=0
{
	echo "# watch tier: time to find a slow leak beside a build ($STAMP)"
	echo "Machine: $(nproc) CPUs, kernel $(uname -r); memobserver $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
	echo "Command: memobserver --format json (system-wide, watch tier, default --interval); beside: make -j$BUILD_JOBS build/memobserver in a loop"
	echo "Leak: grow --leak-rate $LEAK_RATE --block 64 ($((LEAK_RATE * 60 / 1024)) KiB/min); cache: grow --cache 8388608 --rate 1048576 (8 MiB, then kept)"
	if [ -n "$found" ]; then
		echo "Found after $found s (limit $LIMIT_S s): top frames $frames"
	else
		echo "NOT found within $LIMIT_S s (events kept: ${REPORT%.txt}.events.json)"
		cp "$WORK/events.json" "${REPORT%.txt}.events.json" 2>/dev/null
		rc=1
	fi
	if [ -n "$cache_finding" ]; then
		echo "Cache: a growth finding (wrong): $cache_finding"
		rc=1
	else
		echo "Cache: no finding (right)"
	fi
	echo "RESULT: $([ $rc = 0 ] && echo met || echo MISSED)"
} | tee "$REPORT"
exit "$rc"
