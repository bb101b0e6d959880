#!/usr/bin/env python3
"""Report of one bench/node.sh output folder: the machine, the probe-hit
cost, one table per workload (medians, then every round) and the targets.

Slowdown is paired: each tracer's run against the "none" run of the same
workload in the same round, as the extra time the same work took
(wall_t / wall_none - 1; for redis, rps_none / rps_t - 1), and the median of
those pairs is reported, with a distribution-free confidence interval for
that median (order statistics of the pairs: no assumption about the noise,
which on a shared VM is neither normal nor symmetric). For the build also the
node's CPU time: the build's user+sys plus the tracer's CPU, against the
build's user+sys without a tracer (what the work cost the machine, less
exposed to scheduling luck than the wall time).
"""
import contextlib
import io
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import summarize  # noqa: E402
from summarize import fmt, med, num, read_csv, traps  # noqa: E402

TARGET_TRACER = "default"
WORKLOAD_TITLE = {
    "build": "(a) parallel build from clean",
    "redis": "(b) redis-benchmark SET and GET",
    "idle": "(c) idle machine",
    "exits": "(d) process exits",
}


def machine(out):
    m = {}
    p = os.path.join(out, "machine.txt")
    if os.path.exists(p):
        for line in open(p):
            k, _, v = line.rstrip("\n").partition("=")
            m[k] = v
    return m


def pct(x, nd=1):
    return "—" if x is None else f"{x:+.{nd}f} %"


def mb(kb):
    return "—" if kb is None else f"{kb / 1024:.1f}"


def slowdown(w, r, base):
    """Extra time of run r against base (same round), in %, per measure."""
    if w == "redis":
        out = {}
        for k in ("set_rps", "get_rps"):
            a, b = num(r[k]), num(base[k])
            out[k] = (b / a - 1) * 100 if a and b else None
        return out
    a, b = num(r["wall_s"]), num(base["wall_s"])
    return {"wall_s": (a / b - 1) * 100 if a and b else None}


def median_ci(xs, level=0.95):
    """(lo, hi, coverage) for the median of xs: the widest pair of order
    statistics x_(k+1), x_(n-k) whose exact binomial coverage is still at
    least level; with too few pairs, the range and its coverage."""
    xs = sorted(x for x in xs if x is not None)
    n = len(xs)
    if n < 2:
        return None
    def below(k):  # P(Bin(n, 1/2) <= k)
        return sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    k = 0
    while k + 1 < n / 2 and 1 - 2 * below(k + 1) >= level:
        k += 1
    return xs[k], xs[n - 1 - k], 1 - 2 * below(k)


def ci_text(ci):
    if not ci:
        return ""
    lo, hi, cov = ci
    return f" ({cov * 100:.0f} % CI {lo:+.1f}..{hi:+.1f})"


def node_cpu(r, base):
    """The node's extra CPU time for the build: (user+sys + tracer CPU) of
    run r against user+sys of the untraced run, in %."""
    u, s, t = num(r["work_user_s"]), num(r["work_sys_s"]), num(r["tracer_cpu_s"]) or 0.0
    bu, bs = num(base["work_user_s"]), num(base["work_sys_s"])
    if None in (u, s, bu, bs) or not bu + bs:
        return None
    return ((u + s + t) / (bu + bs) - 1) * 100


def cpu_share(r):
    c, wall = num(r["tracer_cpu_s"]), num(r["wall_s"])
    return c / wall * 100 if c is not None and wall else None


def workload(w, rows, tracers):
    """Prints the workload's tables; returns {tracer: medians} for targets."""
    sel = [r for r in rows if r["workload"] == w]
    if not sel:
        return {}
    base = {r["round"]: r for r in sel if r["tracer"] == "none" and r["status"] == "ok"}
    meas = ["set_rps", "get_rps"] if w == "redis" else ["wall_s"]
    print(f"## {WORKLOAD_TITLE[w]}\n")
    print("Medians over rounds (runs with status ok)."
          + ("" if w == "idle" else " Slowdown: median over rounds of the extra time "
             "against 'none' in the same round.")
          + (" Node CPU extra: median over rounds of (the build's user+sys + the tracer's "
             "CPU) / the untraced build's user+sys - 1." if w == "build" else "")
          + " CI: distribution-free confidence interval of the median (order statistics)."
          + " Tracer CPU: utime+stime of the tracer process and of memobserver's parser child "
          "during the workload, as % of one core over its wall time; peak RSS is "
          "the largest VmHWM (summed over those processes) of the runs.\n")
    if w == "redis":
        head = "| tracer | runs | SET req/s | GET req/s | SET slowdown | GET slowdown |"
    elif w == "exits":
        head = "| tracer | runs | loop s | slowdown | RSS after warm-up MB |"
    elif w == "idle":
        head = "| tracer | runs | seconds |"
    else:
        head = "| tracer | runs | wall s | slowdown | node CPU extra |"
    head += " tracer CPU s | CPU % of a core | peak RSS MB | final RSS MB |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    res = {}
    for t in tracers:
        tr = [r for r in sel if r["tracer"] == t]
        ok = [r for r in tr if r["status"] == "ok"]
        if not tr:
            continue
        if not ok:
            why = next((r["note"] for r in tr if r["note"]), tr[0]["status"])
            print(f"| {t} | 0 | {tr[0]['status']}: {why} |")
            continue
        pairs = {k: [slowdown(w, r, base[r["round"]])[k] for r in ok if r["round"] in base]
                 for k in meas}
        sd = {k: med(pairs[k]) for k in meas}
        ci = {k: median_ci(pairs[k]) for k in meas}
        ncpu = [node_cpu(r, base[r["round"]]) for r in ok if r["round"] in base] \
            if w == "build" else []
        m = {
            "runs": len(ok),
            "slowdown": sd,
            "ci": ci,
            "node_cpu": med(ncpu),
            "node_cpu_ci": median_ci(ncpu),
            "cpu_s": med([num(r["tracer_cpu_s"]) for r in ok]),
            "cpu_pct": med([cpu_share(r) for r in ok]),
            "hwm_kb": max([num(r["tracer_hwm_kb"]) or 0 for r in ok]) or None,
            "rss_kb": med([num(r["tracer_rss_kb"]) for r in ok]),
            "warm_kb": med([num(r["rss_warm_kb"]) for r in ok]),
        }
        res[t] = m
        line = f"| {t} | {len(ok)} | "
        if w == "redis":
            line += (f"{fmt(med([num(r['set_rps']) for r in ok]))} | "
                     f"{fmt(med([num(r['get_rps']) for r in ok]))} | "
                     f"{pct(sd['set_rps']) + ci_text(ci['set_rps']) if t != 'none' else '—'} | "
                     f"{pct(sd['get_rps']) + ci_text(ci['get_rps']) if t != 'none' else '—'} | ")
        else:
            line += f"{fmt(med([num(r['wall_s']) for r in ok]), 1)} | "
            if w != "idle":
                line += f"{pct(sd['wall_s']) + ci_text(ci['wall_s']) if t != 'none' else '—'} | "
            if w == "build":
                line += (f"{pct(m['node_cpu']) + ci_text(m['node_cpu_ci'])} | "
                         if t != "none" else "— | ")
            if w == "exits":
                line += f"{mb(m['warm_kb'])} | "
        if t == "none":
            line += "— | — | — | — |"
        else:
            line += (f"{fmt(m['cpu_s'], 2)} | {fmt(m['cpu_pct'], 2)} | {mb(m['hwm_kb'])} | "
                     f"{mb(m['rss_kb'])} |")
        print(line)
    print()

    print("Every run:\n")
    cols = ["round", "tracer", "status"]
    cols += ["SET req/s", "GET req/s"] if w == "redis" else ["wall s"]
    if w == "build":
        cols += ["make user s", "make sys s"]
    cols += ["slowdown", "tracer ready after s", "tracer startup CPU s", "tracer CPU s", "CPU %", "peak RSS MB",
             "final RSS MB", "load start→end", "foreign probes", "note"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in sorted(sel, key=lambda r: (int(r["round"]), tracers.index(r["tracer"])
                                        if r["tracer"] in tracers else 99)):
        ok = r["status"] == "ok"
        sd = slowdown(w, r, base[r["round"]]) if ok and r["round"] in base \
            and r["tracer"] != "none" else {}
        fig = (f"{fmt(num(r['set_rps']))} | {fmt(num(r['get_rps']))}" if w == "redis"
               else fmt(num(r["wall_s"]), 2))
        if w == "build":
            fig += f" | {fmt(num(r['work_user_s']), 1)} | {fmt(num(r['work_sys_s']), 1)}"
        sds = " / ".join(pct(sd.get(k)) for k in meas) if sd else "—"
        note = r["note"]
        if w == "exits" and r["rss_warm_kb"]:
            note = f"RSS after warm-up {mb(num(r['rss_warm_kb']))} MB" + (f"; {note}" if note else "")
        print(f"| {r['round']} | {r['tracer']} | {r['status']} | {fig} | {sds} | "
              f"{fmt(num(r['tracer_ready_s']), 1)} | {fmt(num(r['tracer_cpu_startup_s']), 2)} | {fmt(num(r['tracer_cpu_s']), 2)} | "
              f"{fmt(cpu_share(r), 2)} | {mb(num(r['tracer_hwm_kb']))} | "
              f"{mb(num(r['tracer_rss_kb']))} | "
              f"{r['load_start'] + '→' + r['load_end'] if r['load_start'] else '—'} | "
              f"{r['foreign_progs'] or '—'} | {note} |")
    print()
    return res


def verdict(x, limit):
    if x is None:
        return "not measured"
    return "met" if x <= limit else "MISSED"


def targets(res, busy, exits):
    d = {w: res.get(w, {}).get(TARGET_TRACER) for w in WORKLOAD_TITLE}
    rows = []
    b = d["build"]
    rows.append(("(a) build: default tracer within 2 % of none", 2.0,
                 b["slowdown"]["wall_s"] if b else None, "%", b["ci"]["wall_s"] if b else None))
    rows.append(("(a) build: the node's CPU time (build + tracer) within 2 % of none", 2.0,
                 b["node_cpu"] if b else None, "%", b["node_cpu_ci"] if b else None))
    rows.append(("(a) build: memobserver CPU ≤ 2 % of one core", 2.0,
                 b["cpu_pct"] if b else None, "% of a core", None))
    r = d["redis"]
    for k, name in (("set_rps", "SET"), ("get_rps", "GET")):
        rows.append((f"(b) redis {name}: default tracer within 2 % of none", 2.0,
                     r["slowdown"][k] if r else None, "%", r["ci"][k] if r else None))
    i = d["idle"]
    rows.append(("(c) idle: memobserver CPU ≤ 0.5 % of one core", 0.5,
                 i["cpu_pct"] if i else None, "% of a core", None))
    e = d["exits"]
    rows.append(("(d) RSS ≤ 64 MB after 10,000 exits"
                 + (f" (this run: {exits:,} exits, not comparable)" if exits < 10000 else ""),
                 64.0, e["rss_kb"] / 1024 if e and e["rss_kb"] and exits >= 10000 else None,
                 "MB", None))
    print("## Targets (tracer 'default', medians)\n")
    print("A verdict compares the median with the limit; the confidence interval says how "
          "far the median may be from the true cost given this run's noise (an interval "
          "that straddles the limit needs more rounds to decide).\n")
    if busy:
        print("The machine was busy (see the warning at the top): a figure that misses may "
              "be the neighbours' doing, and one that meets may not hold on a quiet node.\n")
    print("| target | measured | verdict |")
    print("|---|---|---|")
    for name, limit, x, unit, ci in rows:
        shown = "—" if x is None else (f"{x:+.2f} {unit}" if unit == "%" else f"{x:.2f} {unit}")
        if x is not None:
            shown += ci_text(ci)
        print(f"| {name} | {shown} | {verdict(x, limit)} |")
    print()


def main():
    out = sys.argv[1].rstrip("/")
    m = machine(out)
    rows = read_csv(os.path.join(out, "node.csv"))
    print(f"# memobserver on node workloads: {os.path.basename(out)}\n")
    print(f"Machine: {m.get('nproc', '?')} CPUs, {m.get('cpu', '?')}, kernel "
          f"{m.get('kernel', '?')}, {m.get('memory', '?')} memory.")
    print(f"memobserver: {m.get('memobserver', '?')}")
    print(f"memleak (bpfcc-tools): {m.get('memleak', '?')}; redis: {m.get('redis', '?')}")
    print(f"Settings: {m.get('settings', '?')}")
    print("Tracers:")
    for k in sorted(k for k in m if k.startswith("tracer.")):
        print(f"  {k[len('tracer.'):]}: {m[k]}")
    waited = m.get("load_calm", "")
    busy = waited.endswith("waited=busy")
    high = [r for r in rows if max(num(r["load_start"]) or 0, num(r["load_end"]) or 0) >= 1.0]
    print(f"Load (1, 5, 15 min): {m.get('load_before_wait', '?')} before the wait "
          f"({waited}), {m.get('load_start', '?')} at the start, {m.get('load_end', '?')} at "
          f"the end; {len(high)} of {len(rows)} runs started or ended with a 1-minute load "
          f"≥ 1.0 (the build itself raises it).")
    foreign = [r for r in rows if (num(r["foreign_progs"]) or 0) > 0]
    if busy:
        print("\n" + "!" * 78)
        print("WARNING: THE MACHINE WAS BUSY. The load average never stayed below the limit "
              "before the\nmeasurements started; other work ran beside them. These figures "
              "are not a\nmeasurement of memobserver's cost on a quiet node.")
        print("!" * 78)
    if foreign:
        print(f"\nWARNING: {len(foreign)} runs had another tracer's BPF probes loaded on the "
              "machine (column 'foreign probes'): those runs paid for them too.")
    print(f"Elapsed: {m.get('elapsed_s', '?')} s.\n")

    print("## Probe-hit cost on this machine\n")
    tp = os.path.join(out, "trapcost")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        traps(tp)
    if buf.getvalue().strip():
        print(buf.getvalue().replace("### What one probe costs", "What one probe costs"))
        for n in summarize.NOTES:
            print(f"- {n}\n")
    else:
        why = "TRAP_ROUNDS=0" if not os.path.isdir(tp) else \
            f"no clean run (see {os.path.join(tp, 'progress.log')})"
        print(f"Not measured: {why}.\n")

    # the order of TRACERS, not of the runs (which rotates)
    tracers = [t for t in m.get("tracers", "").split() if any(r["tracer"] == t for r in rows)]
    for r in rows:
        if r["tracer"] not in tracers:
            tracers.append(r["tracer"])
    res = {}
    for w in WORKLOAD_TITLE:
        res[w] = workload(w, rows, tracers)
    targets(res, busy, int(m.get('exits') or 0))


if __name__ == "__main__":
    main()
