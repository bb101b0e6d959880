#!/usr/bin/env bash
# Strings from the traced system are hostile: a process names itself
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
exit 0
