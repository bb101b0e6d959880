#!/usr/bin/env python3
"""Compare memobserver's JSON output with a fixture's ground truth.

The fixture prints `EXPECT <function> <bytes> <count>` and `FREED <function>`
lines. Each final leak event is attributed to the innermost frame whose
symbol is one of those functions (C name, or its Itanium mangling). The
summed bytes and counts per function must equal the expectation exactly,
and no FREED function may hold anything.
"""
import argparse
import json
import re
import sys


def fixture_truth(path):
    expect, freed, info = {}, set(), {}
    for line in open(path, errors="replace"):
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "EXPECT":
            expect[parts[1]] = (int(parts[2]), int(parts[3]))
        elif parts[0] == "FREED":
            freed.add(parts[1])
        elif parts[0] in ("READY", "CHILD", "EXEC", "AFTER_EXEC") and len(parts) > 1:
            info.setdefault(parts[0], parts[1])
    return expect, freed, info


def names_match(sym, fn):
    if sym == fn or sym.startswith(fn + "(") or sym.startswith(fn + "@"):
        return True
    # Itanium mangling: the length prefix makes the name exact
    # (L: internal linkage, a static function)
    return re.match(r"_ZL?%d%s" % (len(fn), re.escape(fn)), sym) is not None


def attribute(stack, fns):
    for fr in stack:
        sym = fr.get("symbol")
        if not sym:
            continue
        for fn in fns:
            if names_match(sym, fn):
                return fn
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("events")
    ap.add_argument("fixture_out")
    ap.add_argument("--pid", type=int, help="only leaks of this pid")
    ap.add_argument("--no-leaks", action="store_true",
                    help="no final leak event may be attributed at all")
    args = ap.parse_args()

    expect, freed, _ = fixture_truth(args.fixture_out)
    fns = sorted(set(expect) | freed, key=len, reverse=True)
    got, stray, bad = {}, [], []
    summary = None
    for n, line in enumerate(open(args.events, errors="strict"), 1):
        line = line.strip()
        if not line:
            continue
        try:
            ev = json.loads(line)
        except ValueError as e:
            print(f"line {n} is not JSON: {e}: {line[:120]}")
            return 1
        if ev.get("type") == "summary":
            summary = ev
            continue
        if ev.get("type") != "memory_pressure" or ev.get("kind") != "leak" or not ev.get("final"):
            continue
        if args.pid and ev["pid"] != args.pid:
            continue
        fn = attribute(ev.get("stack", []), fns)
        if fn is None:
            stray.append(ev)
            continue
        b, c = got.get(fn, (0, 0))
        got[fn] = (b + ev["unfreed_bytes"], c + ev["count"])

    ok = True
    if summary is None:
        print("no summary line: memobserver did not finish its report")
        ok = False
    for fn, (b, c) in sorted(expect.items()):
        gb, gc = got.get(fn, (0, 0))
        if (gb, gc) != (b, c):
            print(f"MISMATCH {fn}: expected {b} bytes in {c}, got {gb} bytes in {gc}")
            ok = False
    for fn in sorted(freed):
        if fn in got:
            print(f"FALSE POSITIVE {fn}: freed, yet reported {got[fn]}")
            ok = False
    for ev in stray:
        syms = [f.get("symbol", "?") for f in ev.get("stack", [])][:6]
        print(f"note: unattributed leak {ev['unfreed_bytes']} bytes x{ev['count']} pid {ev['pid']}: {syms}")
    if args.no_leaks and got:
        print(f"expected no leaks, got {got}")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
