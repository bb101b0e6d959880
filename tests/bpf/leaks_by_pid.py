#!/usr/bin/env python3
"""Final leak events of memobserver's JSON output, per function and pid.

Prints one line per (function, pid): `<function> <pid> <bytes> <count>`,
sorted, for every final leak event whose innermost fixture frame is one of
the functions given (same attribution as check.py)."""
import json
import sys

from check import attribute


def main():
    events, fns = sys.argv[1], sys.argv[2:]
    fns = sorted(fns, key=len, reverse=True)
    got = {}
    for line in open(events, errors="strict"):
        line = line.strip()
        if not line:
            continue
        ev = json.loads(line)
        if ev.get("type") != "memory_pressure" or ev.get("kind") != "leak" or not ev.get("final"):
            continue
        fn = attribute(ev.get("stack", []), fns)
        if fn:
            b, c = got.get((fn, ev["pid"]), (0, 0))
            got[(fn, ev["pid"])] = (b + ev["unfreed_bytes"], c + ev["count"])
    for (fn, pid), (b, c) in sorted(got.items()):
        print(fn, pid, b, c)
    return 0


if __name__ == "__main__":
    sys.exit(main())
