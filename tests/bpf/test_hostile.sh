#!/usr/bin/env bash
# What a traced process controls is hostile: its strings and its files.
#
# Strings: a process names itself
#   ho"st\ <newline> ESC[7m <byte 0xff> end          (15 bytes, its whole comm)
# and leaks from a library in a directory named lib"dir <newline> x ESC.
# JSON, text and the Prometheus scrape must carry them escaped, never raw,
# and decode back to the documented form of the original bytes:
#   JSON        RFC 8259 escapes; a byte that is not UTF-8 becomes the four
#               characters \xNN (written \\xNN), src/lib/json.c
#   text        controls and non-UTF-8 bytes as \xNN, backslash doubled,
#               src/lib/json.c mo_text_escape
#   Prometheus  \\ \" \n as the exposition format says; other controls and
#               non-UTF-8 bytes as \\xNN (docs/metrics.md, "Escaping")
#
# Files (tests/fixtures/hostile_files.c, hostile_attach.c; src/lib/safefile.h):
# a library replaced by a FIFO or a /dev/zero symlink after it was mapped, a
# huge sparse file mapped executable, a library truncated after memobserver
# read it, a .gnu_debuglink naming a FIFO, a static allocator whose path is
# swapped for the host's libc, and threads inside malloc while the probes go
# in without session uprobes. memobserver must start (the metrics port
# answers), find the exact leaks, and stop on SIGTERM within 5 s.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip hostile "$why"; exit 0; fi

COUNT=6
SIZE=24000	# HOSTILE_SIZE in tests/fixtures/hostile_names.c
libdir=$TMP/$(printf 'lib"dir\nx\033')
lib=$libdir/libhostile.so
mkdir -p "$libdir"
if ! gcc -shared -fPIC -g -O2 -D_GNU_SOURCE -DHOSTILE_LIB "$ROOT/tests/fixtures/hostile_names.c" \
	-o "$lib" 2> "$TMP/gcc.err"; then
	fail hostile_build_lib "$(head -c 300 "$TMP/gcc.err")"
	exit 0
fi
export HOSTILE_LIB_PATH=$lib HOSTILE_COUNT=$COUNT

# observe NAME [memobserver options]: start the fixture, attach, leak, wait
# --hold-ms, stop memobserver with SIGINT (final report). $scrape is called
# while the fixture still holds its leaks, when defined.
observe() {
	local name=$1
	shift
	"$FIX/hostile_names" --lib "$lib" --count $COUNT --wait-signal --hold-ms 2500 \
		> "$TMP/$name.fx" 2>&1 &
	local f=$!
	if ! wait_for "$TMP/$name.fx" '^COMM' 50; then
		fail "hostile_$name" "fixture did not start: $(head -c 300 "$TMP/$name.fx")"
		kill "$f" 2> /dev/null
		return 1
	fi
	"$MO" -v --min-age 0 --large-size 20K -p "$f" "$@" -o "$TMP/$name.out" 2> "$TMP/$name.err" &
	local m=$!
	if ! wait_for "$TMP/$name.err" observing 100; then
		fail "hostile_$name" "memobserver did not attach: $(head -c 300 "$TMP/$name.err")"
		kill "$f" "$m" 2> /dev/null
		return 1
	fi
	kill -USR1 "$f"
	wait_for "$TMP/$name.fx" '^DONE' 50
	# its COUNT large allocations written out (each event's text, JSON or
	# not, names its kind): the leaks are seen while still held
	wait_for_count "$TMP/$name.out" large_allocation $COUNT 100
	[ "$(type -t scrape)" = function ] && scrape
	kill -INT "$m"
	wait "$m"
	wait "$f" 2> /dev/null
	return 0
}

# The kernel really holds the hostile name, all 15 bytes (else nothing below
# would mean anything).
expect_hex=$(printf 'ho"st\\\n\033[7m\377end' | od -An -tx1 | tr -d ' \n')

# ---- run 1: JSON events and the metrics endpoint -------------------------
port=$((20000 + RANDOM % 20000))
scrape() {
	curl -sf "http://127.0.0.1:$port/metrics" > "$TMP/metrics.txt" ||
		echo "no scrape on 127.0.0.1:$port" > "$TMP/metrics.err"
}
if observe json --format json --metrics "127.0.0.1:$port"; then
	got_hex=$(awk '$1 == "COMM" { print $2 }' "$TMP/json.fx")
	if [ "$got_hex" = "$expect_hex" ]; then
		pass hostile_fixture_comm
	else
		fail hostile_fixture_comm "kernel holds comm $got_hex, wanted $expect_hex"
	fi

	# Every line is JSON, the file is UTF-8 with no raw control byte but
	# the line ends; the leak is exact.
	if python3 - "$TMP/json.out" > "$TMP/json.why" 2>&1 << 'PY'; then
import json, sys
raw = open(sys.argv[1], "rb").read()
raw.decode("utf-8")                        # strict: raises on invalid UTF-8
bad = sorted({b for b in raw if (b < 0x20 and b != 0x0a) or b == 0x7f})
assert not bad, "raw control bytes %s" % bad
lines = raw.split(b"\n")
assert lines[-1] == b"" and len(lines) > 2, "%d lines" % len(lines)
for l in lines[:-1]:
    json.loads(l)
PY
		pass hostile_json_parses
	else
		fail hostile_json_parses "$(tail -c 300 "$TMP/json.why")"
	fi
	check hostile_json_leak_exact "$TMP/json.out" "$TMP/json.fx"

	# The command decodes to the documented form: every byte as is but the
	# non-UTF-8 0xff, which is the text \xff; mapping \xNN back gives the
	# exact comm bytes. Both the periodic and the final leak events count.
	if python3 - "$TMP/json.out" "$expect_hex" > "$TMP/rt.why" 2>&1 << 'PY'; then
import json, os, re, sys
n = int(os.environ["HOSTILE_COUNT"])
orig = bytes.fromhex(sys.argv[2])
documented = orig.replace(b"\xff", b"\\xff").decode("utf-8")
evs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
leaks = [e for e in evs if e.get("kind") in ("large_allocation", "leak")]
n_large = sum(e["kind"] == "large_allocation" for e in leaks)
assert n_large == n and any(e["kind"] == "leak" for e in leaks), \
    "want %d large_allocation events and a leak event, got %d and %d" % (n, n_large, len(leaks) - n_large)
for e in leaks:
    assert e["command"] == documented, "command %r != %r" % (e["command"], documented)
    back = re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m.group(1), 16)]),
                  e["command"].encode("utf-8"))
    assert back == orig, "decoded back to %r" % back
PY
		pass hostile_json_roundtrip
	else
		fail hostile_json_roundtrip "$(tail -c 300 "$TMP/rt.why")"
	fi

	# The leaking frame's module is the library's exact path, and the stack
	# goes on past it into main (the library's unwind rows were found).
	if python3 - "$TMP/json.out" > "$TMP/mod.why" 2>&1 << 'PY'; then
import json, os, sys
lib = os.environ["HOSTILE_LIB_PATH"]
n = int(os.environ["HOSTILE_COUNT"])
evs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
leaks = [e for e in evs if e.get("kind") in ("large_allocation", "leak")]
assert len(leaks) == n + 1, "%d large_allocation and leak events" % len(leaks)
for e in leaks:
    st = e["stack"]
    i = next(i for i, f in enumerate(st) if f.get("symbol") == "hostile_leak")
    assert st[i]["module"] == lib, "module %r != %r" % (st[i]["module"], lib)
    assert os.path.samefile(st[i]["module"], lib)
    assert i + 1 < len(st) and st[i + 1].get("symbol") == "main", \
        "frame after hostile_leak: %r" % (st[i + 1:i + 2],)
PY
		pass hostile_json_module_roundtrip
	else
		fail hostile_json_module_roundtrip "$(tail -c 300 "$TMP/mod.why")"
	fi

	# The scrape: the exposition format's escapes, nothing raw, the right
	# value on the escaped series, and promtool accepts the whole text.
	if [ -s "$TMP/metrics.txt" ]; then
		if python3 - "$TMP/metrics.txt" "$expect_hex" $((COUNT * SIZE)) > "$TMP/prom.why" 2>&1 << 'PY'; then
import re, sys
raw = open(sys.argv[1], "rb").read()
raw.decode("utf-8")
bad = sorted({b for b in raw if (b < 0x20 and b != 0x0a) or b == 0x7f})
assert not bad, "raw control bytes %s" % bad
orig = bytes.fromhex(sys.argv[2])
want = b'process="ho\\"st\\\\\\n\\\\x1b[7m\\\\xffend"'
series = [l for l in raw.split(b"\n") if b'process="ho' in l]
assert series, "no series for the hostile process"
for l in series:
    assert want in l, "label in %r" % l
unfreed = [l for l in series if l.startswith(b"memory_unfreed_memory_bytes{")]
assert unfreed == [b"memory_unfreed_memory_bytes{" + want + b',container_id=""} ' +
                   sys.argv[3].encode()], unfreed
# What Prometheus stores: the exposition escapes undone, then \xNN back.
val = re.search(rb'process="((?:[^"\\]|\\.)*)"', unfreed[0]).group(1)
stored = re.sub(rb"\\(.)", lambda m: {b"n": b"\n"}.get(m.group(1), m.group(1)), val)
assert stored == orig.replace(b"\x1b", b"\\x1b").replace(b"\xff", b"\\xff"), stored
# No line may start with anything but a comment or a metric name.
for l in raw.split(b"\n"):
    assert l == b"" or re.match(rb"^(# |[a-zA-Z_:][a-zA-Z0-9_:]*[{ ])", l), "line %r" % l
PY
			pass hostile_prometheus_escaped
		else
			fail hostile_prometheus_escaped "$(tail -c 300 "$TMP/prom.why")"
		fi
		if command -v promtool > /dev/null; then
			if promtool check metrics < "$TMP/metrics.txt" > "$TMP/promtool.out" 2>&1; then
				pass hostile_promtool_check
			else
				fail hostile_promtool_check "$(head -c 300 "$TMP/promtool.out")"
			fi
		else
			skip hostile_promtool_check "promtool not installed"
		fi
	else
		fail hostile_prometheus_escaped "$(cat "$TMP/metrics.err" 2> /dev/null)"
	fi
fi
unset -f scrape

# ---- run 2: text --------------------------------------------------------
if observe text --format text; then
	# mo_text_escape: \ -> \\, newline -> \x0a, ESC -> \x1b, 0xff -> \xff;
	# the quote is printable and stays.
	name='ho"st\\\x0a\x1b[7m\xffend'
	mod="$TMP/lib\"dir\\x0ax\\x1b/libhostile.so"
	if python3 - "$TMP/text.out" "$name" "$mod" > "$TMP/text.why" 2>&1 << 'PY'; then
import os, sys
n = int(os.environ["HOSTILE_COUNT"])
raw = open(sys.argv[1], "rb").read()
text = raw.decode("utf-8")
bad = sorted({b for b in raw if (b < 0x20 and b != 0x0a) or b == 0x7f})
assert not bad, "raw control bytes %s" % bad
name, mod = sys.argv[2], sys.argv[3]
lines = text.split("\n")
events = [l for l in lines if "/large_allocation pid" in l]
assert len(events) == n and all(("(%s): " % name) in l for l in events), \
    "event lines: %r" % events[:2]
report = [l for l in lines if l.startswith("#1 ")]
assert report and report[-1].endswith(" %s]" % name), "report line %r" % report[-1:]
frames = [l for l in lines if " hostile_leak+0x" in l]
assert len(frames) == n + 1 and all(l.endswith(" in " + mod) for l in frames), "frames %r" % frames[:2]
# A newline in the name would start a line with the rest of it.
assert not any(l.startswith(("[7m", "\\x1b[7m", "x/lib", "end")) for l in lines)
PY
		pass hostile_text_escaped
	else
		fail hostile_text_escaped "$(tail -c 400 "$TMP/text.why")"
	fi
fi

# ---- hostile files ---------------------------------------------------------
hf_src=$ROOT/tests/fixtures/hostile_files.c
hfdir=$TMP/hf
mkdir -p "$hfdir"
# hf_lib NAME [gcc options]: the fixture's library at $hfdir/NAME
hf_lib() {
	local out=$hfdir/$1
	shift
	gcc -shared -fPIC -g -O2 -D_GNU_SOURCE -DHOSTILE_FILES_LIB "$@" "$hf_src" -o "$out" \
		2> "$TMP/hf_gcc.err" || { cat "$TMP/hf_gcc.err" >&2; return 1; }
}

# mo_start NAME PID [options]: memobserver -p PID (environment: MO_ENV)
# with metrics on a free port; 0 when it says it observes and the metrics
# port answers.
MO_ENV=()
mo_start() {
	local name=$1 pid=$2
	shift 2
	hport=$((19100 + RANDOM % 900))
	while ss -ltn 2> /dev/null | grep -q ":$hport "; do hport=$((19100 + RANDOM % 900)); done
	env "${MO_ENV[@]}" "$MO" -v --format json --min-age 0 --min-size 1 --large-size 20K -p "$pid" \
		--metrics "127.0.0.1:$hport" "$@" -o "$TMP/$name.json" 2> "$TMP/$name.err" &
	hmo=$!
	if ! wait_for "$TMP/$name.err" observing 150; then
		fail "hostile_$name" "did not start: $(tail -c 300 "$TMP/$name.err")"
		return 1
	fi
	if ! curl -sf -m 5 "http://127.0.0.1:$hport/metrics" > "$TMP/$name.prom"; then
		fail "hostile_$name" "metrics port $hport does not answer"
		return 1
	fi
}

# mo_term NAME: SIGTERM; 0 when memobserver ended by itself within 5 s.
mo_term() {
	local i=0
	kill -TERM "$hmo" 2> /dev/null
	while kill -0 "$hmo" 2> /dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	if kill -0 "$hmo" 2> /dev/null; then
		kill -KILL "$hmo"
		wait "$hmo" 2> /dev/null
		fail "hostile_$1_sigterm" "still running 5 s after SIGTERM: $(tail -c 200 "$TMP/$1.err")"
		return 1
	fi
	wait "$hmo"
	local rc=$?
	if [ $rc -ne 0 ]; then
		fail "hostile_$1_sigterm" "exit status $rc: $(tail -c 300 "$TMP/$1.err")"
		return 1
	fi
	pass "hostile_$1_sigterm"
}

# hf_run NAME LIB [fixture options] -- [memobserver options]: the fixture,
# memobserver on it, the leaks, a SIGTERM, the exact leaks checked; with
# hf_log set, memobserver's closing warning on the files it did not read
# must match it.
hf_run() {
	local name=$1 lib=$2 fx_args=() mo_args=()
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do fx_args+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	mo_args=("$@")
	"$FIX/hostile_files" --lib "$lib" --wait-signal --hold-ms 20000 "${fx_args[@]}" \
		> "$TMP/$name.fx" 2>&1 &
	local f=$!
	if ! wait_for "$TMP/$name.fx" '^READY' 50; then
		fail "hostile_$name" "fixture did not start: $(head -c 300 "$TMP/$name.fx")"
		kill $f 2> /dev/null
		return 1
	fi
	if ! mo_start "$name" $f "${mo_args[@]}"; then
		kill -KILL $hmo 2> /dev/null
		kill $f 2> /dev/null
		wait $f $hmo 2> /dev/null
		return 1
	fi
	kill -USR1 $f
	wait_for "$TMP/$name.fx" '^EXPECT hostile_file_small' 50
	if grep -q -- --truncate <<< "${fx_args[*]}"; then
		# the large leaks were named (the library is open in memobserver),
		# then the file shrinks to nothing; the small ones are named only
		# in the final report, from what was read before
		wait_for "$TMP/$name.json" large_allocation 100
		kill -USR1 $f
		wait_for "$TMP/$name.fx" '^TRUNCATED' 50 ||
			fail "hostile_$name" "fixture did not truncate: $(tail -c 200 "$TMP/$name.fx")"
	else
		wait_for "$TMP/$name.fx" '^DONE' 50
	fi
	wait_for "$TMP/$name.json" large_allocation 100
	mo_term "$name"
	kill $f 2> /dev/null
	wait $f 2> /dev/null
	check "hostile_${name}_leaks" "$TMP/$name.json" "$TMP/$name.fx"
	if [ -n "${hf_log:-}" ]; then
		if grep -q "not read: .*$hf_log" "$TMP/$name.err"; then
			pass "hostile_${name}_logged"
		else
			fail "hostile_${name}_logged" "no '$hf_log': $(grep 'not read' "$TMP/$name.err")"
		fi
	fi
}

# (a) dlopen'ed, unlinked, a FIFO in its place, then malloc through it: the
# mapped inode is read through /proc/PID/map_files (symbols included).
hf_lib libfifo.so && hf_run fifo "$hfdir/libfifo.so" --replace fifo

# (d) the same with a symlink to /dev/zero, and a 64 GiB sparse file mapped
# executable (refused: larger than MO_SAFE_MAX_SIZE, never read)
truncate -s 64G "$hfdir/sparse.bin"
head -c 64 "$FIX/hostile_files" | dd of="$hfdir/sparse.bin" conv=notrunc status=none
hf_lib libzero.so && hf_log="[1-9][0-9]* larger than" hf_run devzero "$hfdir/libzero.so" \
	--replace devzero --map-exec "$hfdir/sparse.bin"

# (b) truncated to 0 bytes after memobserver read it: no SIGBUS, and the
# frames read before still have their names
hf_lib libtrunc.so && hf_run truncate "$hfdir/libtrunc.so" --truncate

# (c) a stripped library whose .gnu_debuglink names a FIFO next to it
if hf_lib libdl.so && objcopy --only-keep-debug "$hfdir/libdl.so" "$hfdir/libdl.dbg" &&
	objcopy --strip-debug --add-gnu-debuglink="$hfdir/libdl.dbg" "$hfdir/libdl.so" &&
	rm "$hfdir/libdl.dbg" && mkfifo "$hfdir/libdl.dbg"; then
	hf_log="[1-9][0-9]* not regular files" hf_run debuglink "$hfdir/libdl.so"
else
	fail hostile_debuglink "cannot build the library with a .gnu_debuglink"
fi

# ---- a static allocator whose path is swapped for the host's libc ----------
# The program is its own allocator. Once it runs, its file is unlinked and
# the path made a symlink to the C library: /proc/PID/maps still names the
# path, with the program's dev/ino. Probes must go into the program (the
# inode mapped), read and attached through one descriptor; attaching by path
# would probe libc at the offsets read, and see none of the leaks.
swapdir=$TMP/swap
mkdir -p "$swapdir"
cp "$FIX/alloc/leak_alloc-static" "$swapdir/prog"
libc=$(ldd /bin/true | awk '/libc\.so/ { print $3 }')
for mode in session fallback; do
	MO_ENV=()
	[ $mode = fallback ] && MO_ENV=(MEMOBSERVER_NO_SESSION=1)
	"$swapdir/prog" --wait-signal --hold-ms 20000 > "$TMP/swap_$mode.fx" 2>&1 &
	f=$!
	wait_for "$TMP/swap_$mode.fx" '^READY' 50
	rm "$swapdir/prog" && ln -s "$libc" "$swapdir/prog"
	if mo_start "swap_$mode" $f; then
		kill -USR1 $f
		wait_for "$TMP/swap_$mode.fx" '^DONE' 50
		mo_term "swap_$mode"
		check "hostile_swap_${mode}_leaks" "$TMP/swap_$mode.json" "$TMP/swap_$mode.fx"
	fi
	kill -KILL $hmo 2> /dev/null
	kill $f 2> /dev/null
	wait $f $hmo 2> /dev/null
	rm -f "$swapdir/prog"
	cp "$FIX/alloc/leak_alloc-static" "$swapdir/prog"
done

# ---- threads inside malloc while probes go in, without session uprobes -----
# A call that entered between a function's entry probe and its return probe
# never returned through the probe: the thread counted as inside the
# allocator for life, and none of its allocations were tracked again.
for round in 1 2 3; do
	"$FIX/hostile_attach" --wait-signal --threads 3 --hold-ms 20000 > "$TMP/race$round.fx" 2>&1 &
	f=$!
	wait_for "$TMP/race$round.fx" '^CHURNING' 50
	MO_ENV=(MEMOBSERVER_NO_SESSION=1)
	if mo_start "race$round" $f; then
		kill -USR1 $f
		wait_for "$TMP/race$round.fx" '^DONE' 100
		mo_term "race$round"
		check "hostile_attach_race_${round}_leaks" "$TMP/race$round.json" "$TMP/race$round.fx"
	fi
	kill -KILL $hmo 2> /dev/null
	kill $f 2> /dev/null
	wait $f $hmo 2> /dev/null
done
MO_ENV=()
exit 0
