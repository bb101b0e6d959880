#!/usr/bin/env python3
"""Check the BPF programs' combined stack against a budget.

The verifier adds up the stack of every frame on a call chain and refuses a
program whose deepest chain passes 512 bytes. Each frame is rounded up to
32 bytes (at least 32) as the interpreter needs; a JIT kernel rounds to 16,
so this count is the stricter one and holds for both. Frames are subprograms reached by a bpf-to-bpf call
(static or global function) or handed to a helper as a callback (bpf_loop,
bpf_find_vma: a 64-bit load of a function's address).

This reads `llvm-objdump -dr` of the object: a function's frame is the
deepest r10 offset it touches (a load/store at r10 - N, or a pointer
r10 + -N passed on); the call graph comes from call instructions and
callback loads with their relocations. It prints each function's frame and
each program's deepest chain, and exits 1 when a chain passes the limit.

    python3 scripts/bpf-stack.py [--obj build/memobserver.bpf.o]
                                 [--limit 480] [--pass-line]

With --pass-line the verdict is one PASS:/FAIL: line for tests/run.sh.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTION = re.compile(r"^Disassembly of section (\S+):$")
LABEL = re.compile(r"^([0-9a-f]+) <([^>]+)>:$")
INSN = re.compile(r"^\s*(\d+):\s+((?:[0-9a-f]{2} )+)\s*(.*)$")
RELOC = re.compile(r"^\s+[0-9a-f]+:\s+(R_BPF_\S+)\s+(\S+)")
R10_ACCESS = re.compile(r"\(r10 - (\d+)\)")
FROM_R10 = re.compile(r"^(r\d+) = r10$")
ASSIGN = re.compile(r"^(r\d+|w\d+) (?:[-+*/%&|^]|<<|>>|s>>)?=")
ADD_NEG = re.compile(r"^(r\d+) \+= -(\d+)$")
LD_IMM64 = re.compile(r"= (-?\d+) ll$")


def objdump():
    for name in (os.environ.get("LLVM_OBJDUMP"), "llvm-objdump-14", "llvm-objdump"):
        if name and shutil.which(name):
            return name
    return None


def function_symbols(tool, obj):
    """(section, name) of every function symbol in the object."""
    out = subprocess.run([tool, "-t", obj], capture_output=True, text=True, check=True).stdout
    funcs = set()
    for line in out.splitlines():
        f = line.split()
        # address flags... F section size name
        if len(f) >= 5 and "F" in f[1:-3] and f[-3] != "*UND*":
            funcs.add((f[-3], f[-1]))
    return funcs


class Func:
    def __init__(self, name, section, addr):
        self.name, self.section, self.addr = name, section, addr
        self.depth = 0
        self.calls = []  # (kind, reloc symbol or None, value)


def parse(tool, obj):
    funcs_syms = function_symbols(tool, obj)
    # The raw bytes tell a bpf-to-bpf call (src_reg 1) from a helper call.
    raw = subprocess.run([tool, "-dr", obj], capture_output=True, text=True, check=True).stdout
    funcs, section, cur, last, r10_regs = [], None, None, None, set()
    for line in raw.splitlines():
        m = SECTION.match(line)
        if m:
            section, cur, last = m.group(1), None, None
            continue
        m = LABEL.match(line)
        if m:
            if (section, m.group(2)) in funcs_syms:
                cur = Func(m.group(2), section, int(m.group(1), 16))
                funcs.append(cur)
                r10_regs = set()
            continue
        m = RELOC.match(line)
        if m and last is not None:
            last["reloc"] = m.group(2)
            continue
        m = INSN.match(line)
        if not m or cur is None:
            continue
        idx, raw_bytes, text = int(m.group(1)), m.group(2).split(), m.group(3).strip()
        for off in R10_ACCESS.findall(text):
            cur.depth = max(cur.depth, int(off))
        a = ADD_NEG.match(text)
        if a and a.group(1) in r10_regs:
            cur.depth = max(cur.depth, int(a.group(2)))
        f = FROM_R10.match(text)
        if f:
            r10_regs.add(f.group(1))
        else:
            d = ASSIGN.match(text)
            if d and not a:
                r10_regs.discard("r" + d.group(1)[1:])
        last = {"func": cur, "idx": idx, "bytes": raw_bytes, "text": text, "reloc": None}
        cur.calls.append(last)
    return funcs


def call_edges(funcs):
    """name -> set of callee names (calls and callbacks)."""
    by_addr = {(f.section, f.addr): f for f in funcs}
    by_name = {f.name: f for f in funcs}
    edges = {f.name: set() for f in funcs}
    for f in funcs:
        for ins in f.calls:
            b, target = ins["bytes"], None
            if b[0] == "85" and b[1] == "10":  # BPF_CALL, src_reg 1: bpf-to-bpf
                imm = int.from_bytes(bytes.fromhex("".join(b[4:8])), "little", signed=True)
                sym = ins["reloc"]
                if sym in by_name:
                    target = by_name[sym]
                elif sym:  # section symbol: imm counts instructions into it, minus one
                    target = by_addr.get((sym, (imm + 1) * 8))
                else:
                    target = by_addr.get((f.section, (ins["idx"] + 1 + imm) * 8))
            elif b[0] == "18" and ins["reloc"]:  # ld_imm64 of a function: callback
                sym = ins["reloc"]
                v = LD_IMM64.search(ins["text"])
                if sym in by_name:
                    target = by_name[sym]
                elif v:
                    target = by_addr.get((sym, int(v.group(1))))
            if target is not None:
                edges[f.name].add(target.name)
        f.calls = None
    return edges


def frame(depth):
    return (max(depth, 1) + 31) // 32 * 32


def deepest(name, funcs, edges, seen=()):
    """(bytes, chain) of the deepest chain starting at name."""
    if name in seen:
        raise RuntimeError("recursion through " + name)
    best = (0, [])
    for callee in edges[name]:
        best = max(best, deepest(callee, funcs, edges, seen + (name,)))
    return frame(funcs[name].depth) + best[0], [name] + best[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--obj", default=os.path.join(ROOT, "build", "memobserver.bpf.o"))
    ap.add_argument("--limit", type=int, default=480)
    ap.add_argument("--pass-line", action="store_true")
    args = ap.parse_args()
    tool = objdump()
    if tool is None:
        print("SKIP: bpf-stack: no llvm-objdump" if args.pass_line else "bpf-stack: no llvm-objdump")
        return 0
    if not os.path.exists(args.obj):
        print(("FAIL: bpf-stack: " if args.pass_line else "bpf-stack: ") + args.obj + " not built")
        return 1
    funcs = parse(tool, args.obj)
    edges = call_edges(funcs)
    byname = {f.name: f for f in funcs}
    worst = (0, [])
    lines = []
    for f in funcs:
        lines.append("%-22s %-40s frame %4d -> %4d" % (f.name, f.section, f.depth, frame(f.depth)))
    for f in funcs:
        if f.section == ".text":
            continue
        n, chain = deepest(f.name, byname, edges)
        lines.append("chain %4d  %s" % (n, " -> ".join(chain)))
        worst = max(worst, (n, chain))
    walker = [c for c in ("walk_stack", "walk_step", "vma_cb") if c in byname]
    if not any(f.section != ".text" for f in funcs) or len(walker) < 3 \
            or "walk_stack" not in {c for s in edges.values() for c in s}:
        # The parse found no program or lost the walker's edges: the check
        # would pass vacuously.
        msg = "call graph not found in " + args.obj
        print(("FAIL: bpf-stack: " if args.pass_line else "bpf-stack: ") + msg)
        return 1
    n, chain = worst
    verdict = "deepest chain %d bytes (limit %d): %s" % (n, args.limit, " -> ".join(chain))
    if args.pass_line:
        print(("PASS: bpf-stack: " if n <= args.limit else "FAIL: bpf-stack: ") + verdict)
    else:
        print("\n".join(lines))
        print(verdict)
    return 0 if n <= args.limit else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # the suite counts lines: a crash must be a FAIL line
        if "--pass-line" in sys.argv:
            print("FAIL: bpf-stack: %s: %s" % (type(e).__name__, e))
        raise
