#!/usr/bin/env python3
"""Check that the library's modules form no cycle.

A module is one src/lib/**/NAME.c with its NAME.h. Module A depends on B
when A's files include B's header, or when A's object uses a symbol B's
object defines (nm on the built objects: calls and data). Any cycle among
modules is printed with the names that tie it, and the exit status is 1.

    python3 scripts/check-layers.py [--build build] [--pass-line]

With --pass-line the verdict is one PASS:/FAIL: line for tests/run.sh.
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "src", "lib")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def modules():
    """module name (path under src/lib without extension) -> files"""
    mods = {}
    for dirpath, _, files in os.walk(LIB):
        for f in files:
            if f.endswith((".c", ".h")):
                path = os.path.join(dirpath, f)
                name = os.path.relpath(path, LIB)[:-2]
                mods.setdefault(name, []).append(path)
    return mods


def resolve(inc, src_dir, mods):
    """The module a quoted include names, or None (public/abi/generated)."""
    for base in (src_dir, LIB):
        cand = os.path.relpath(os.path.normpath(os.path.join(base, inc)), LIB)
        if cand.endswith(".h") and cand[:-2] in mods and not cand.startswith(".."):
            return cand[:-2]
    return None


def include_edges(mods):
    edges = {}
    for name, files in mods.items():
        for path in files:
            text = open(path, encoding="utf-8", errors="replace").read()
            for inc in INCLUDE.findall(text):
                dep = resolve(inc, os.path.dirname(path), mods)
                if dep and dep != name:
                    edges.setdefault((name, dep), set()).add("#include " + inc)
    return edges


def symbol_edges(mods, build):
    defined, used = {}, {}
    for name in mods:
        obj = os.path.join(build, "lib", name + ".o")
        if not os.path.exists(obj):
            continue
        out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TDBR":
                defined[parts[2]] = name
            elif len(parts) == 2 and parts[0] == "U":
                used.setdefault(name, set()).add(parts[1])
    edges = {}
    for name, syms in used.items():
        for s in syms:
            dep = defined.get(s)
            if dep and dep != name:
                edges.setdefault((name, dep), set()).add(s)
    return edges


def cycles(nodes, edges):
    """Strongly connected components of more than one node (Tarjan)."""
    adj = {n: sorted({b for (a, b) in edges if a == n}) for n in nodes}
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in adj[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for n in nodes:
        if n not in index:
            visit(n)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--pass-line", action="store_true")
    args = ap.parse_args()
    if not os.path.isdir(os.path.join(args.build, "lib")):
        print(("FAIL: layers: " if args.pass_line else "") + "no objects under %s/lib (build first)" % args.build)
        return 1
    mods = modules()
    edges = include_edges(mods)
    for k, v in symbol_edges(mods, args.build).items():
        edges.setdefault(k, set()).update(v)
    found = cycles(sorted(mods), edges)
    if not found:
        print(("PASS: " if args.pass_line else "") +
              "layers: %d modules, %d dependencies, no cycle" % (len(mods), len(edges)))
        return 0
    if args.pass_line:
        print("FAIL: layers: %d cycle(s) among the library's modules" % len(found))
    for comp in found:
        print("cycle among: " + ", ".join(comp))
        for (a, b), why in sorted(edges.items()):
            if a in comp and b in comp:
                print("  %s -> %s: %s" % (a, b, ", ".join(sorted(why)[:6])))
    return 1


if __name__ == "__main__":
    sys.exit(main())
