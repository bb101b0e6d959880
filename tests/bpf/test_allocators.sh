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
	"$bin" --wait-ms 5000 > "$TMP/$name.list" &
	j=$!
	# READY: its libraries are loaded
	wait_for "$TMP/$name.list" '^READY' 50
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

# redis_run NAME SECONDS BENCHMARK-ARGS...: a redis-server of its own (port,
# directory) observed by pid with a 1 s analysis interval while
# redis-benchmark runs once, then repeats for SECONDS, then FLUSHALL and 3 s more. Leaves
# $TMP/NAME.json, .err and .alive (PONG if redis survived); redis is shut
# down (killed if it does not stop).
redis_run() {
	local name=$1 secs=$2 port r m end
	shift 2
	port=$((30000 + RANDOM % 20000))
	mkdir -p "$TMP/$name.dir"
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
		--dir "$TMP/$name.dir" --daemonize no > "$TMP/$name.log" 2>&1 &
	r=$!
	for _ in $(seq 1 50); do redis-cli -p "$port" ping > /dev/null 2>&1 && break; sleep 0.1; done
	"$MO" -v --metrics off --format json --min-age 1s --interval 1s --min-size 1 -p "$r" \
		-o "$TMP/$name.json" 2> "$TMP/$name.err" &
	m=$!
	if wait_for "$TMP/$name.err" observing 100; then
		# the first pass makes what redis then keeps for good (a latency
		# histogram per command seen); the timed loop starts after it, so
		# a slow first pass on a loaded machine does not eat the loop
		redis-benchmark -p "$port" -q "$@" >> "$TMP/$name.bench" 2>&1
		end=$((SECONDS + secs))
		while [ $SECONDS -lt $end ]; do
			redis-benchmark -p "$port" -q "$@" >> "$TMP/$name.bench" 2>&1
		done
		redis-cli -p "$port" flushall > /dev/null
		sleep 3
	fi
	kill -INT "$m" 2> /dev/null
	wait "$m"
	redis-cli -p "$port" ping > "$TMP/$name.alive" 2> /dev/null
	redis-cli -p "$port" shutdown nosave > /dev/null 2>&1
	for _ in $(seq 1 30); do kill -0 "$r" 2> /dev/null || break; sleep 0.1; done
	kill -9 "$r" 2> /dev/null
	wait "$r" 2> /dev/null
}

# redis_verdict NAME CHECK: CHECK is python over the parsed run (s: the
# summary, ev: the other events, err: stderr, alive); it prints "ok ..." or
# "bad ...".
redis_verdict() {
	python3 - "$TMP/$1.json" "$TMP/$1.err" "$TMP/$1.alive" "$2" << 'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])] if open(sys.argv[1]).read(1) else []
s = ([e for e in lines if e["type"] == "summary"] or [None])[-1]
ev = [e for e in lines if e["type"] != "summary"]
err = open(sys.argv[2]).read()
alive = open(sys.argv[3]).read().strip()
if s is None:
    print("bad no summary:", err[:300])
else:
    exec(sys.argv[4])
PY
}

# A clean workload: SET/GET/INCR/HSET on a fixed key space of 1000 keys,
# LPUSH then LPOP, then FLUSHALL. Its allocations are tracked and their
# frees matched; what redis keeps for good (slowlog entries, latency
# histograms, client tables, and the key space while it exists) is never
# classified growing: no leak finding, no warning.
redis_run redis_clean 15 -n 10000 -r 1000 -c 8 -P 4 -t set,get,incr,lpush,lpop,hset
redis_verdict redis_clean '
tracked, freed = s["allocations_tracked"], s["deallocations_tracked"]
grow = [e for e in ev if e.get("pattern") in ("growing", "fragmentation")
        or e.get("severity") in ("warning", "critical")]
classified = sum(1 for e in ev if e.get("pattern"))
ob, oc = s["outstanding_bytes"], s["outstanding_count"]
facts = f"tracked={tracked} freed={freed} outstanding={ob}B/{oc} classified={classified} growing={len(grow)} alive={alive}"
if "libjemalloc" not in err:
    print("bad no jemalloc probe:", err[:300])
elif tracked < 10000 or freed < 0.99 * tracked or alive != "PONG":
    print("bad", facts)
else:
    print("ok", facts)
print("growing", [[f.get("symbol") for f in e.get("stack", [])][:6] for e in grow][:3]
      if grow else "", "classified" if classified else "nothing classified")
' > "$TMP/redis_clean.verdict"
if grep -q '^ok' "$TMP/redis_clean.verdict"; then
	pass allocator_redis
else
	fail allocator_redis "$(tr '\n' ' ' < "$TMP/redis_clean.verdict")"
fi
if grep -q '^ok' "$TMP/redis_clean.verdict" && grep -qx 'growing  classified' <(sed -n 2p "$TMP/redis_clean.verdict"); then
	pass allocator_redis_clean
else
	fail allocator_redis_clean "$(tr '\n' ' ' < "$TMP/redis_clean.verdict")"
fi

# The control: SET on ever new keys makes the key space grow, which the
# same run must report as a leak finding (pattern growing or fragmentation)
# at redis's dbAdd: the clean case above can therefore fail.
# 20 s: a finding needs 8 analysis samples (1 s apart here) of rising
# history, so a loaded machine still leaves a dozen ticks to find it
redis_run redis_growth 20 -n 20000 -r 100000000 -c 8 -P 4 -t set
redis_verdict redis_growth '
hits = [e for e in ev if e.get("kind") == "leak" and e.get("pattern") in ("growing", "fragmentation")
        and any(f.get("symbol") == "dbAdd" for f in e.get("stack", []))]
tracked = s["allocations_tracked"]
pats = [e["pattern"] for e in hits]
print("ok" if hits and alive == "PONG" else "bad", f"growing findings at dbAdd={len(hits)} {pats} alive={alive}",
      f"tracked={tracked}")
' > "$TMP/redis_growth.verdict"
if grep -q '^ok' "$TMP/redis_growth.verdict"; then
	pass allocator_redis_growth
else
	fail allocator_redis_growth "$(tr '\n' ' ' < "$TMP/redis_growth.verdict")"
fi
exit 0
