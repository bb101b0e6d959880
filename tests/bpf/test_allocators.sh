#!/usr/bin/env bash
# Real allocators (issue 5): the same leaks found under glibc, a static glibc
# build, jemalloc (including mallocx/sdallocx and its own operator new),
# tcmalloc, mimalloc, musl (shared and static) and an allocator exporting
# only je_-prefixed names, without the user naming the allocator or its
# prefix; and a live redis-server (jemalloc) under redis-benchmark, attached
# by pid: its allocations tracked, and no leak reported for a clean run.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip allocators "$why"; exit 0; fi

for v in glibc static jemalloc tcmalloc mimalloc musl musl-static je_prefix; do
	bin=$FIX/alloc/leak_alloc-$v
	[ "$v" = je_prefix ] && bin=$FIX/alloc/leak_je
	if [ ! -x "$bin" ]; then
		case $v in
		musl*) skip "allocator_$v" "fixture not built (musl-gcc not installed: apt install musl-tools)" ;;
		*) skip "allocator_$v" "fixture not built (library not installed)" ;;
		esac
		continue
	fi
	if timeout 60 "$MO" -v --metrics off --format json --min-age 0 -o "$TMP/$v.json" -- "$bin" \
		> "$TMP/$v.out" 2> "$TMP/$v.err"; then
		check "allocator_$v" "$TMP/$v.json" "$TMP/$v.out"
	else
		fail "allocator_$v" "memobserver failed: $(head -c 300 "$TMP/$v.err")"
	fi
done

# --list-allocators names the allocator in use and why: list_check NAME
# FIXTURE PATTERN... (each a grep -E pattern its output must hold).
list_check() {
	local name=$1 bin=$2 j out
	shift 2
	[ -x "$bin" ] || return 0
	"$bin" --wait-ms 5000 > /dev/null &
	j=$!
	sleep 0.3
	out=$("$MO" --list-allocators "$j" 2>&1)
	kill "$j"
	wait "$j" 2> /dev/null
	for pat in "$@"; do
		grep -qE "$pat" <<< "$out" || { fail "$name" "no '$pat' in: $out"; return; }
	done
	pass "$name"
}
list_check allocator_list "$FIX/alloc/leak_alloc-jemalloc" '^\*.*libjemalloc' 'probing .*libjemalloc'
# the je_-prefixed allocator is found without --symbol-prefix
list_check allocator_list_prefix "$FIX/alloc/leak_je" '^\*.*libje_fixture' \
	"probing .*libje_fixture.*je_malloc.*prefix 'je_'"

# A live service: redis-server (Debian's build uses jemalloc) under load.
if ! command -v redis-server > /dev/null || ! command -v redis-benchmark > /dev/null; then
	skip allocator_redis "redis-server/redis-benchmark not installed"
	exit 0
fi
port=$((30000 + RANDOM % 20000))
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
	> "$TMP/redis.log" 2>&1 &
r=$!
for _ in $(seq 1 50); do redis-cli -p "$port" ping > /dev/null 2>&1 && break; sleep 0.1; done
"$MO" -v --metrics off --format json --min-age 0 --min-size 1 -p "$r" -o "$TMP/redis.json" \
	2> "$TMP/redis.err" &
m=$!
if wait_for "$TMP/redis.err" observing 100; then
	redis-benchmark -p "$port" -q -n 20000 -t set,get,lpush,lpop -P 4 > "$TMP/bench.out" 2>&1
	redis-cli -p "$port" flushall > /dev/null
	sleep 1
	kill -INT "$m"
	wait "$m"
	alive=$(redis-cli -p "$port" ping 2> /dev/null)
	redis-cli -p "$port" shutdown nosave > /dev/null 2>&1
	wait "$r" 2> /dev/null
	python3 - "$TMP/redis.json" "$TMP/redis.err" "$alive" > "$TMP/redis.verdict" << 'PY'
import json, sys
summary = [json.loads(l) for l in open(sys.argv[1]) if '"summary"' in l][-1]
err = open(sys.argv[2]).read()
tracked, freed = summary["allocations_tracked"], summary["deallocations_tracked"]
ok = "libjemalloc" in err and tracked > 10000 and freed > 0.9 * tracked and sys.argv[3] == "PONG"
print("ok" if ok else "bad", f"tracked={tracked} freed={freed} alive={sys.argv[3]}",
      "jemalloc" if "libjemalloc" in err else "no jemalloc probe")
PY
	if grep -q '^ok' "$TMP/redis.verdict"; then
		pass allocator_redis
	else
		fail allocator_redis "$(cat "$TMP/redis.verdict") $(grep -o '[0-9.]* requests per second' "$TMP/bench.out" | head -2 | tr '\n' ' ')"
	fi
else
	fail allocator_redis "memobserver did not attach: $(head -c 300 "$TMP/redis.err")"
	kill "$m" "$r" 2> /dev/null
fi
exit 0
