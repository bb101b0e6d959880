#!/usr/bin/env bash
# Real programs of other shapes than a C fixture (issue 5):
#  - python3 running a script that leaks through a C extension
#    (tests/fixtures/programs/pyleak.c, built here against python3-dev):
#    the extension's site and count reported exactly, growing, while
#    CPython's own allocations (obmalloc arenas, interpreter state held to
#    the end) are never classified growing;
#  - the sqlite3 shell attached by pid under a steady insert/delete workload
#    fed through a pipe: its allocations tracked, frees matched, no leak
#    finding.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip programs "$why"; exit 0; fi
SRC=$ROOT/tests/fixtures/programs

# verdict NAME JSON CHECK: CHECK is python over the run (s: the summary,
# ev: the other events); it prints "ok ..." or "bad ...".
verdict() {
	python3 - "$2" "$3" << 'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
s = ([e for e in lines if e["type"] == "summary"] or [None])[-1]
ev = [e for e in lines if e["type"] != "summary"]
def syms(e):
    return [f.get("symbol") for f in e.get("stack", [])]
def growing(e):
    return e.get("kind") == "leak" and (e.get("pattern") in ("growing", "fragmentation")
                                        or e.get("severity") in ("warning", "critical"))
if s is None:
    print("bad no summary line")
else:
    exec(sys.argv[2])
PY
}

# Python with a leaking C extension. Debian's python3 (the headers
# python3-dev installs are for it), whatever python3 comes first in PATH.
PY=/usr/bin/python3
if [ ! -x "$PY" ] || [ ! -x /usr/bin/python3-config ] ||
	[ ! -f "$(/usr/bin/python3-config --includes | sed 's/^-I\([^ ]*\).*/\1/')/Python.h" ]; then
	skip program_python_extension "python3-dev not installed"
elif ! gcc -O2 -g -Wall -shared -fPIC $(/usr/bin/python3-config --includes) "$SRC/pyleak.c" \
	-o "$TMP/pyleak$(/usr/bin/python3-config --extension-suffix)" 2> "$TMP/pyleak.cc"; then
	fail program_python_extension "cannot build the extension: $(head -c 300 "$TMP/pyleak.cc")"
else
	if PYTHONPATH=$TMP timeout 120 "$MO" -v --metrics off --format json --min-age 1s \
		--interval 500ms --min-size 1 -o "$TMP/py.json" -- "$PY" "$SRC/pyleak_run.py" \
		> "$TMP/py.out" 2> "$TMP/py.err"; then
		# exact bytes and count at pyleak_keep_block, churn not reported
		check program_python_extension "$TMP/py.json" "$TMP/py.out"
		verdict py "$TMP/py.json" '
grow = [e for e in ev if growing(e)]
ours = [e for e in grow if "pyleak_keep_block" in syms(e)]
other = [syms(e)[:5] for e in grow if "pyleak_keep_block" not in syms(e)]
python_held = [e for e in ev if e.get("kind") == "leak" and e.get("final")
               and "pyleak_keep_block" not in syms(e)]
print("ok" if ours and not other else "bad",
      f"extension growing findings={len(ours)} other growing={other[:3]}",
      f"python-held at exit: {len(python_held)} stacks,",
      sum(e["count"] for e in python_held), "blocks,",
      sum(e["unfreed_bytes"] for e in python_held), "bytes, patterns",
      sorted(set(e.get("pattern") for e in python_held)),
      "tracked", s["allocations_tracked"])
' > "$TMP/py.verdict"
		if grep -q '^ok' "$TMP/py.verdict"; then
			pass program_python_growth
		else
			fail program_python_growth "$(cat "$TMP/py.verdict")"
		fi
	else
		fail program_python_extension "memobserver failed: $(head -c 300 "$TMP/py.err")"
	fi
fi

# sqlite3 by pid: its stdin is a fifo this shell holds open (read-write, so
# nothing blocks), so it starts and execs at once and ends when we close it.
if ! command -v sqlite3 > /dev/null; then
	skip program_sqlite3 "sqlite3 not installed"
	exit 0
fi
mkfifo "$TMP/sq.fifo"
exec 3<> "$TMP/sq.fifo"
# (fd 3 closed in the children: only this shell may hold the writing end)
sqlite3 "$TMP/db.sqlite" < "$TMP/sq.fifo" > "$TMP/sq.out" 2>&1 3>&- &
s=$!
for _ in $(seq 1 50); do
	[ "$(readlink /proc/$s/exe 2> /dev/null)" = "$(readlink -f "$(command -v sqlite3)")" ] && break
	sleep 0.1
done
"$MO" -v --metrics off --format json --min-age 1s --interval 500ms --min-size 1 -p "$s" \
	-o "$TMP/sq.json" 2> "$TMP/sq.err" 3>&- &
m=$!
if wait_for "$TMP/sq.err" observing 100; then
	echo "CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v BLOB); CREATE INDEX tk ON t(k);" >&3
	# 60 rounds: 500 rows in, all but the newest 1000 out
	for _ in $(seq 1 60); do
		echo "BEGIN; WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n WHERE x<500)
INSERT INTO t(k,v) SELECT hex(randomblob(8)), randomblob(300) FROM n;
DELETE FROM t WHERE id <= (SELECT max(id) FROM t) - 1000; COMMIT;
SELECT count(*), sum(length(v)) FROM t;" >&3
		sleep 0.1
	done
	exec 3>&-
	# EOF ends sqlite3, and memobserver -p ends with its target
	for _ in $(seq 1 100); do kill -0 "$m" 2> /dev/null || break; sleep 0.1; done
	kill "$s" 2> /dev/null
	kill -INT "$m" 2> /dev/null
	wait "$m"
	verdict sq "$TMP/sq.json" '
tracked, freed = s["allocations_tracked"], s["deallocations_tracked"]
grow = [syms(e)[:5] for e in ev if growing(e)]
held = [e for e in ev if e.get("kind") == "leak" and e.get("final")]
ok = tracked > 10000 and freed > 0.9 * tracked and not grow
print("ok" if ok else "bad", f"tracked={tracked} freed={freed} growing={grow[:3]}",
      f"held at exit: {len(held)} stacks", sum(e["count"] for e in held), "blocks",
      sum(e["unfreed_bytes"] for e in held), "bytes, patterns",
      sorted(set(e.get("pattern") for e in held)))
' > "$TMP/sq.verdict"
	if grep -q '^ok' "$TMP/sq.verdict" && tail -1 "$TMP/sq.out" | grep -qx '1000|300000'; then
		pass program_sqlite3
	else
		fail program_sqlite3 "$(cat "$TMP/sq.verdict") last output: $(tail -1 "$TMP/sq.out")"
	fi
else
	fail program_sqlite3 "memobserver did not attach: $(head -c 300 "$TMP/sq.err")"
	exec 3>&-
	kill "$m" "$s" 2> /dev/null
fi
exit 0
