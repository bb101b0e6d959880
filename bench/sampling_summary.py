#!/usr/bin/env python3
"""Report of one bench/sampling_error.sh output folder, as Markdown.

Accuracy: for each leaking stack of the fixture, the mean over the runs of
|estimate - truth| / truth under byte sampling and under 1-in-N, and their
ratio; the root mean square error and the theory's standard deviation
beside it. Cost: the median ns per malloc/free pair of each tracer, and what
each sampling saves against tracking every allocation, paired by round.
Probe hits: bench/run.sh's trap table, from the same run.
"""
import contextlib
import io
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import summarize  # noqa: E402
from summarize import fmt, med, num, read_csv  # noqa: E402


def machine(out):
    m = {}
    try:
        for line in open(os.path.join(out, "machine.txt")):
            k, _, v = line.rstrip("\n").partition("=")
            m[k] = v
    except OSError:
        pass
    return m


def load(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None


def human(b):
    for unit, sh in (("MiB", 20), ("KiB", 10)):
        if b >= 1 << sh:
            return f"{b / (1 << sh):.1f} {unit}"
    return f"{b:.0f} B"


def accuracy(out):
    by, rt = load(os.path.join(out, "accuracy-bytes.json")), load(os.path.join(out, "accuracy-rate.json"))
    if not by or not rt:
        print("No accuracy results.\n")
        return
    print(f"### Accuracy: estimated unfreed bytes per stack, {by['runs']} + {rt['runs']} runs\n")
    print(f"Byte sampling with a mean of {human(by['param'])} against 1-in-{rt['param']:.0f}, "
          f"chosen to track as many allocations: {fmt(statistics.mean(by['tracked']))} and "
          f"{fmt(statistics.mean(rt['tracked']))} tracked per run on average.\n")
    print("| stack | truth | bytes: mean rel. error | bytes: RMS (theory sd) | "
          "1-in-N: mean rel. error | 1-in-N: RMS (theory sd) | 1-in-N / bytes |")
    print("|---|---|---|---|---|---|---|")
    mb, mr = [], []
    for fn, f in by["functions"].items():
        g = rt["functions"][fn]
        eb, er = statistics.mean(f["rel_errors"]), statistics.mean(g["rel_errors"])
        rb = math.sqrt(statistics.mean(x * x for x in f["rel_errors"]))
        rr = math.sqrt(statistics.mean(x * x for x in g["rel_errors"]))
        mb.append(eb)
        mr.append(er)
        print(f"| {fn} | {human(f['truth'])} | {eb * 100:.1f} % | {rb * 100:.1f} % "
              f"({f['predicted_sd'] * 100:.1f} %) | {er * 100:.1f} % | {rr * 100:.1f} % "
              f"({g['predicted_sd'] * 100:.0f} %) | {er / eb:.1f}x |")
    print(f"| **all stacks** | | {statistics.mean(mb) * 100:.1f} % | | "
          f"{statistics.mean(mr) * 100:.1f} % | | **{statistics.mean(mr) / statistics.mean(mb):.1f}x** |")
    print()
    print("1-in-N keeps a 1 MiB block as rarely as a 32-byte one: in most runs it misses every "
          "large block of a stack (estimate far below the truth), and in the run where it keeps "
          "one, that block counts N times (far above). Byte sampling keeps the large blocks "
          "almost always, at weight near 1, and spends its samples on the small ones.\n")


def pairs(out):
    rows = [r for r in read_csv(os.path.join(out, "pairs.csv")) if num(r["ns_per_pair"])]
    if not rows:
        print("No cost results.\n")
        return
    print("### Cost: ns per malloc/free pair (bench/malloc_bench, 1 thread)\n")
    print("| workload | tracer | runs | ns/pair | tracked share | saved vs tracking all |")
    print("|---|---|---|---|---|---|")
    for w in dict.fromkeys(r["workload"] for r in rows):
        sel = [r for r in rows if r["workload"] == w]
        full = {r["round"]: num(r["ns_per_pair"]) for r in sel if r["tracer"] == "all"}
        for t, label in (("none", "no observer"), ("all", "every allocation (--min-size 1)"),
                         ("rate", "--sample N"), ("bytes", "--sample-bytes R")):
            ts = [r for r in sel if r["tracer"] == t]
            if not ts:
                continue
            share = [num(r["tracked"]) / num(r["alloc_calls"]) for r in ts
                     if num(r["tracked"]) is not None and num(r["alloc_calls"])]
            saved = [full[r["round"]] - num(r["ns_per_pair"]) for r in ts
                     if t in ("rate", "bytes") and r["round"] in full]
            if t == "rate":
                label = f"--sample {ts[0]['n']}"
            print(f"| {w} | {label} | {len(ts)} | {fmt(med([num(r['ns_per_pair']) for r in ts]), 1)} | "
                  f"{'1 in ' + fmt(1 / med(share)) if share and med(share) else '—'} | "
                  f"{fmt(med(saved), 1) + ' ns' if saved else '—'} |")
    print()


def traps(out):
    tp = os.path.join(out, "trapcost")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        summarize.traps(tp)
    if buf.getvalue().strip():
        print(buf.getvalue().replace("### What one probe costs", "### Probe-hit cost: what one probe costs"))
        print("A call sampled out still pays its entry hit, and its free the free's: the floor of "
              "any sampling is the no-observer time plus one malloc entry and one free entry "
              "hit. What sampling saves is the return probe (a second trap), the stack walk and "
              "the table work of the calls it skips.\n")
    else:
        print("Probe-hit cost: not measured (TRAP_ROUNDS=0, or see trapcost/progress.log).\n")


def main():
    out = sys.argv[1]
    m = machine(out)
    print(f"## Byte sampling against 1-in-N ({m.get('date', '?')})\n")
    print(f"Machine: {m.get('cpus', '?')}, kernel {m.get('kernel', '?')}, load "
          f"{m.get('loadavg_start', '?')} at the start, {m.get('loadavg_end', '?')} at the end; "
          f"memobserver {m.get('memobserver', '?')}; {m.get('elapsed_s', '?')} s.\n")
    accuracy(out)
    pairs(out)
    traps(out)
    for n in summarize.NOTES:
        print(f"- {n}\n")


if __name__ == "__main__":
    main()
