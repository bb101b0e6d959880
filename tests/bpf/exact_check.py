#!/usr/bin/env python3
"""Checks of test_exact.sh that check.py does not make.

  valgrind EVENTS VALGRIND_LOG FN...   memobserver's leaks of each FN equal
                                       valgrind's "definitely lost" records
                                       whose stack names FN (bytes, blocks)
  ratio EVENTS FIXTURE_OUT LO HI       each EXPECTed function's reported
                                       count / truth lies in [LO, HI]
  total EVENTS BYTES                   all final leaks add up to BYTES
"""
import json
import re
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from check import attribute, fixture_truth  # noqa: E402


def final_leaks(path):
    for line in open(path, errors="strict"):
        line = line.strip()
        if not line:
            continue
        ev = json.loads(line)
        if ev.get("type") == "memory_pressure" and ev.get("kind") == "leak" and ev.get("final"):
            yield ev


def by_function(path, fns):
    got = {}
    for ev in final_leaks(path):
        fn = attribute(ev.get("stack", []), fns)
        if fn:
            b, c = got.get(fn, (0, 0))
            got[fn] = (b + ev["unfreed_bytes"], c + ev["count"])
    return got


def valgrind_lost(path, fns):
    """Definitely lost records of a valgrind log, by the first FN in their stack."""
    lost, rec = {}, None
    head = re.compile(r"==\d+== ([\d,]+) bytes in ([\d,]+) blocks are definitely lost")
    for line in open(path, errors="replace"):
        m = head.search(line)
        if m:
            rec = (int(m.group(1).replace(",", "")), int(m.group(2).replace(",", "")))
            continue
        if rec is None:
            continue
        frame = re.search(r"(?:at|by) 0x[0-9A-F]+: (\S+)", line)
        if frame is None:
            rec = None
            continue
        name = frame.group(1)
        if name in fns:
            b, c = lost.get(name, (0, 0))
            lost[name] = (b + rec[0], c + rec[1])
            rec = None
    return lost


def main(argv):
    mode = argv[1]
    if mode == "valgrind":
        fns = argv[4:]
        got, want = by_function(argv[2], fns), valgrind_lost(argv[3], fns)
        ok = True
        for fn in fns:
            if got.get(fn, (0, 0)) != want.get(fn, (0, 0)) or fn not in want:
                print(f"{fn}: memobserver {got.get(fn)}, valgrind {want.get(fn)}")
                ok = False
        return 0 if ok else 1
    if mode == "ratio":
        expect, _, _ = fixture_truth(argv[3])
        lo, hi = float(argv[4]), float(argv[5])
        fns = sorted(expect, key=len, reverse=True)
        got = by_function(argv[2], fns)
        ok = True
        for fn, (_, count) in sorted(expect.items()):
            r = got.get(fn, (0, 0))[1] / count
            print(f"{fn}: reported {got.get(fn, (0, 0))[1]} of {count} ({r:.3f})")
            ok = ok and lo <= r <= hi
        return 0 if ok else 1
    if mode == "total":
        total = sum(ev["unfreed_bytes"] for ev in final_leaks(argv[2]))
        if total != int(argv[3]):
            for ev in final_leaks(argv[2]):
                syms = [f.get("symbol", "?") for f in ev.get("stack", [])][:8]
                print(f"leak {ev['unfreed_bytes']} x{ev['count']}: {syms}")
            print(f"total {total}, expected {argv[3]}")
            return 1
        return 0
    print(f"unknown mode {mode}")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
