#!/usr/bin/env bash
# Live heap profiles and their history on a real leaking process (the grow
# fixture: leak_small_blocks leaks steadily, fill_cache fills a cache once
# and keeps it): /debug/pprof/heap read by Go's own `go tool pprof` (-top
# names the leak; -diff_base of two profiles shows the growth between them
# and not the cache), the ?pid= and ?container= filters and their errors,
# /metrics answered while profiles are made, --profile-dir rotation,
# `memobserver diff` of two snapshots, the bound and its counter, and
# /debug/pprof/growth from the watch tier.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip pprof_live "$why"; exit 0; fi
if ! go tool pprof -h > /dev/null 2>&1; then
	skip pprof_live "go tool pprof not installed (Debian's golang-go)"
	exit 0
fi
# go tool pprof keeps what it fetched under $PPROF_TMPDIR, and a cache under $HOME
export PPROF_TMPDIR=$TMP/pprof HOME=$TMP GOCACHE=$TMP/gocache
mkdir -p "$TMP/snaps"

# 0. bad values: one line, status 2, nothing written, nothing attached
links0=$(links_now)
ln -s "$TMP/snaps" "$TMP/planted"
chown -h 65534 "$TMP/planted"
touch "$TMP/plain"
ok=1 why=""
while IFS='|' read -r args want; do
	# shellcheck disable=SC2086
	"$MO" --metrics off $args -- /bin/true > "$TMP/o" 2> "$TMP/e"
	rc=$?
	if [ $rc != 2 ] || [ "$(wc -l < "$TMP/e")" != 1 ] || ! grep -q -- "$want" "$TMP/e" ||
		[ -s "$TMP/o" ] || [ -n "$(ls -A "$TMP/snaps")" ]; then
		ok=0
		why="$why [$args: status $rc, $(head -c 120 "$TMP/e")]"
	fi
done << EOF
--profile-dir $TMP/snaps --profile-every 0|--profile-every
--profile-dir $TMP/snaps --profile-every 500ms|--profile-every
--profile-dir $TMP/snaps --profile-every soon|--profile-every
--profile-dir $TMP/snaps --profile-keep 0|--profile-keep
--profile-dir $TMP/snaps --profile-keep 100001|--profile-keep
--profile-dir $TMP/snaps --profile-keep -3|--profile-keep
--profile-every 1s|need --profile-dir
--profile-keep 3|need --profile-dir
--profile-dir $TMP/missing|--profile-dir '$TMP/missing'
--profile-dir $TMP/plain|--profile-dir '$TMP/plain'
--profile-dir $TMP/planted|symlink owned by another user
EOF
wait_until 50 links_back "$links0"
if [ $ok = 1 ] && [ "$(links_now)" = "$links0" ] && [ ! -e "$TMP/missing" ]; then
	pass pprof_live_bad_options
else
	fail pprof_live_bad_options "$why links $links0 -> $(links_now)"
fi

port=$(free_port)
url=http://127.0.0.1:$port
CACHE_FULL=2002944	# 489 blocks of 4096: the fixture's cache once full
# The fixtures outlive the slowest run of the steps below (on a loaded
# machine they take minutes); stop_proc ends memobserver, which ends them.
RUN_S=900

ticks() { grep -c '^TICK ' "$TMP/grow.out" 2> /dev/null || echo 0; }
ticks_at_least() { [ "$(ticks)" -ge "$1" ]; }
# status FILE QUERY: the HTTP status of /debug/pprof/QUERY, the body in FILE
status() { curl -s --max-time 30 -o "$1" -w '%{http_code}' "$url/debug/pprof/$2"; }

"$MO" --metrics "127.0.0.1:$port" --min-size 1 --min-age 1s --interval 1s -q -v \
	--profile-dir "$TMP/snaps" --profile-every 1s --profile-keep 3 -o "$TMP/events" \
	-- "$FIX/grow" --leak-rate 400000 --block 4096 --cache 2000000 --rate 4000000 --run-s $RUN_S \
	> "$TMP/grow.out" 2> "$TMP/mo.err" &
mo=$!
if ! wait_for "$TMP/grow.out" "cache $CACHE_FULL" 600; then
	fail pprof_live "the fixture did not fill its cache: $(tail -c 300 "$TMP/mo.err")"
	exit 0
fi
fx=$(sed -n 's/^READY \([0-9]*\)$/\1/p' "$TMP/grow.out")

# 1. go tool pprof reads the endpoint as it reads Go's own
code=$(status "$TMP/h1.pb.gz" heap)
n1=$(ticks)
go tool pprof -top "$url/debug/pprof/heap" > "$TMP/top.txt" 2> "$TMP/top.err"
if [ "$code" = 200 ] && grep -q 'leak_small_blocks' "$TMP/top.txt" &&
	grep -q 'fill_cache' "$TMP/top.txt"; then
	pass pprof_live_top_names_leak
else
	fail pprof_live_top_names_leak "status $code: $(head -c 400 "$TMP/top.txt") $(tail -c 300 "$TMP/top.err")"
fi
go tool pprof -raw "$TMP/h1.pb.gz" > "$TMP/raw.txt" 2>&1
if grep -q '^alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes\[dflt\]$' \
	"$TMP/raw.txt"; then
	pass pprof_live_sample_types
else
	fail pprof_live_sample_types "$(head -c 300 "$TMP/raw.txt")"
fi

# 2. two seconds of leaking later: the difference is the leak, not the cache
wait_until 300 ticks_at_least $((n1 + 3))
code=$(status "$TMP/h2.pb.gz" heap)
go tool pprof -top -diff_base "$TMP/h1.pb.gz" "$TMP/h2.pb.gz" > "$TMP/diff.txt" 2> "$TMP/diff.err"
total=$(sed -n 's/^Showing nodes accounting for .* of \([0-9.]*[kMG]*B\) total$/\1/p' "$TMP/diff.txt")
if [ "$code" = 200 ] && grep -q 'leak_small_blocks' "$TMP/diff.txt" &&
	! grep -q 'fill_cache' "$TMP/diff.txt" && [ -n "$total" ] && [ "${total#-}" = "$total" ]; then
	pass pprof_live_diff_base_shows_growth
else
	fail pprof_live_diff_base_shows_growth "status $code, total '$total': $(head -c 500 "$TMP/diff.txt") $(tail -c 200 "$TMP/diff.err")"
fi

# 3. filters: one process, one container, and their refusals
ok=1 why=""
code=$(status "$TMP/pid.pb.gz" "heap?pid=$fx")
go tool pprof -top "$TMP/pid.pb.gz" > "$TMP/pid.txt" 2>&1
[ "$code" = 200 ] && grep -q leak_small_blocks "$TMP/pid.txt" || { ok=0; why="$why pid=$fx: $code;"; }
code=$(status "$TMP/other.pb.gz" "heap?container=0123abcd")
go tool pprof -top "$TMP/other.pb.gz" > "$TMP/other.txt" 2>&1
[ "$code" = 200 ] && ! grep -q leak_small_blocks "$TMP/other.txt" || { ok=0; why="$why container: $code $(head -c 200 "$TMP/other.txt");"; }
for q in 'pid=abc' 'pid=0' 'pid=-1' 'pid=99999999999' 'container=XYZ' 'container=' \
	"container=$(printf '%065d' 0)"; do
	code=$(status "$TMP/bad" "heap?$q")
	lines=$(wc -l < "$TMP/bad")
	[ "$code" = 400 ] && [ "$lines" = 1 ] || { ok=0; why="$why $q: $code, $lines lines;"; }
done
code=$(status "$TMP/nopid" "heap?pid=4194304")
[ "$code" = 404 ] && grep -q 'no process 4194304' "$TMP/nopid" || { ok=0; why="$why unknown pid: $code;"; }
code=$(status "$TMP/nogrowth" growth)
[ "$code" = 404 ] && grep -q 'watch tier' "$TMP/nogrowth" || { ok=0; why="$why growth in precise tier: $code;"; }
code=$(status "$TMP/delta" 'heap?seconds=5')
[ "$code" = 400 ] || { ok=0; why="$why seconds=: $code;"; }
if [ $ok = 1 ]; then pass pprof_live_filters; else fail pprof_live_filters "$why"; fi

# 4. scrapes are answered while profiles are being made
busy=()
for i in 1 2 3 4; do
	(for j in $(seq 5); do
		curl -s --max-time 30 -o /dev/null -w '%{http_code}\n' "$url/debug/pprof/heap"
	done > "$TMP/busy.$i") &
	busy+=($!)
done
slow=0
: > "$TMP/scrape_s"
for i in $(seq 20); do
	curl -s --max-time 5 -o "$TMP/m" -w '%{time_total}\n' "$url/metrics" >> "$TMP/scrape_s" ||
		slow=$((slow + 1))
	grep -q '^memobserver_profile_stacks_cut_total ' "$TMP/m" || slow=$((slow + 1))
done
for p in "${busy[@]}"; do wait "$p"; done
max=$(sort -g "$TMP/scrape_s" | tail -n 1)
profiles_ok=$(cat "$TMP"/busy.* | grep -c '^200$')
echo "FIGURES pprof_live: slowest of 20 scrapes during 20 profile requests: ${max}s" >&2
if [ $slow = 0 ] && [ "$profiles_ok" = 20 ] &&
	python3 -c "import sys; sys.exit(0 if $max < 2 else 1)"; then
	pass pprof_live_scrapes_not_blocked
else
	fail pprof_live_scrapes_not_blocked "$slow scrapes failed or lacked the counter, slowest ${max}s, $profiles_ok of 20 profiles answered 200"
fi

# 5. history: five snapshots taken, the three newest kept
snapshot_lines() { [ "$(grep -c 'profile snapshot ' "$TMP/mo.err")" -ge "$1" ]; }
wait_until 600 snapshot_lines 5
stop_proc "$mo"
written=$(sed -n 's/.*profile snapshot \(.*\)$/\1/p' "$TMP/mo.err")
kept=$(find "$TMP/snaps" -maxdepth 1 -type f | sort)
newest=$(tail -n 3 <<< "$written" | sort)
if [ "$(wc -l <<< "$written")" -ge 5 ] && [ "$kept" = "$newest" ]; then
	pass pprof_live_profile_dir_rotation
else
	fail pprof_live_profile_dir_rotation "written: $(tr '\n' ' ' <<< "$written"); kept: $(tr '\n' ' ' <<< "$kept")"
fi

# 6. memobserver diff of the oldest and newest kept snapshot: the leak first
first=$(head -n 1 <<< "$kept")
last=$(tail -n 1 <<< "$kept")
if "$MO" diff --json --top 3 "$first" "$last" > "$TMP/d.json" 2> "$TMP/d.err" &&
	"$MO" diff "$first" "$last" > "$TMP/d.txt" 2>> "$TMP/d.err" &&
	python3 - "$TMP/d.json" << 'PY'
import json, sys
d = json.load(open(sys.argv[1]))
top = d["top"]
assert d["sample_type"] == "inuse_space" and d["growth_bytes"] > 0, d
assert top and "leak_small_blocks" in top[0]["frames"][:4], top[:1]
assert top[0]["growth_bytes"] > 0 and top[0]["growth_objects"] > 0, top[0]
assert not any("fill_cache" in t["frames"][:4] for t in top), top
PY
then
	pass pprof_live_diff_names_leak_first
else
	fail pprof_live_diff_names_leak_first "$(head -c 400 "$TMP/d.json") $(head -c 300 "$TMP/d.err")"
fi
first_frame=$(sed -n '/^  +/{n;s/^ *//;p;q}' "$TMP/d.txt")
echo "FIGURES pprof_live: memobserver diff, first stack's leaf frame: $first_frame" >&2

# 7. the bound: one stack kept, the others counted as cut
port=$(free_port)
url=http://127.0.0.1:$port
: > "$TMP/grow.out"
MEMOBSERVER_PROFILE_MAX_STACKS=1 "$MO" --metrics "127.0.0.1:$port" --min-size 1 -q -o /dev/null \
	-- "$FIX/grow" --leak-rate 400000 --block 4096 --cache 2000000 --rate 4000000 --run-s $RUN_S \
	> "$TMP/grow.out" 2> "$TMP/mo2.err" &
mo=$!
wait_for "$TMP/grow.out" "cache $CACHE_FULL" 600
code=$(status "$TMP/one.pb.gz" heap)
curl -s --max-time 5 "$url/metrics" > "$TMP/m2"
cut=$(sed -n 's/^memobserver_profile_stacks_cut_total \([0-9]*\)$/\1/p' "$TMP/m2")
"$MO" diff --json "$TMP/one.pb.gz" "$TMP/one.pb.gz" > "$TMP/one.json" 2>&1
go tool pprof -comments "$TMP/one.pb.gz" > "$TMP/one.comments" 2>&1
stop_proc "$mo"
if [ "$code" = 200 ] && grep -q '"stacks":1,' "$TMP/one.json" && [ "${cut:-0}" -ge 1 ] &&
	grep -q 'left out (the profile is bounded)' "$TMP/one.comments"; then
	pass pprof_live_bounded_and_counted
else
	fail pprof_live_bounded_and_counted "status $code, cut '${cut:-}': $(head -c 200 "$TMP/one.json") $(head -c 200 "$TMP/one.comments")"
fi

# 8. the watch tier's growth stacks: anonymous memory faulted in by stack
port=$(free_port)
url=http://127.0.0.1:$port
: > "$TMP/grow.out"
"$MO" --tier watch --metrics "127.0.0.1:$port" -q -o /dev/null \
	-- "$FIX/grow" --leak-rate 4000000 --block 64 --run-s $RUN_S > "$TMP/grow.out" 2> "$TMP/mo3.err" &
mo=$!
wait_for "$TMP/grow.out" '^TICK 3 ' 600
has_growth() {
	[ "$(status "$TMP/g.pb.gz" growth)" = 200 ] &&
		go tool pprof -top -sample_index=growth_space "$TMP/g.pb.gz" > "$TMP/g.txt" 2>&1 &&
		grep -q leak_small_blocks "$TMP/g.txt"
}
if wait_until 300 has_growth; then
	pass pprof_live_growth_profile
else
	fail pprof_live_growth_profile "$(head -c 400 "$TMP/g.txt") $(tail -c 300 "$TMP/mo3.err")"
fi
stop_proc "$mo"
