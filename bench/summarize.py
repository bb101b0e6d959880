#!/usr/bin/env python3
"""Summarize one bench/run.sh output folder as Markdown tables.

Added cost is paired: for each round, tracer minus the no-tracer run of the
same workload in the same round; the table shows the median of those
differences. Ratios compare memobserver's median added cost with memleak's.
"""
import csv
import os
import statistics
import sys

MO = ["balanced", "aggressive", "conservative", "balanced_plain", "balanced_budget5",
      "balanced_budget2"]
TARGET = {"balanced": 0.35, "aggressive": 0.5, "conservative": 0.05}
TARGET_WORKLOADS = {"fixed64", "mixed"}


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=0):
    if x is None:
        return "—"
    if nd == 0:
        return f"{x:,.0f}"
    return f"{x:,.{nd}f}"


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def clean(rows, what):
    """Rows measured without another tracer on the machine."""
    ok = [r for r in rows if r["ok"] == "1"]
    good = [r for r in ok if (num(r.get("foreign_progs")) or 0) == 0]
    failed = len(rows) - len(ok)
    if len(good) < len(ok) or failed:
        NOTES.append(f"{what}: {len(ok) - len(good)} runs left out because another "
                     f"tracer's BPF probes were loaded on the machine during them; "
                     f"{failed} runs failed (a tracer did not attach).")
    return good


NOTES = []


def micro(out):
    rows = clean(read_csv(os.path.join(out, "micro.csv")), "microbenchmark")
    if not rows:
        print("No microbenchmark results.\n")
        return
    wls = []
    for r in rows:
        k = (r["workload"], r["threads"])
        if k not in wls:
            wls.append(k)
    tracers = []
    for r in rows:
        if r["tracer"] not in tracers:
            tracers.append(r["tracer"])
    order = ["none", "balanced", "aggressive", "conservative", "balanced_plain",
             "balanced_budget5", "balanced_budget2", "memleak", "memleak_s10"]
    tracers.sort(key=lambda t: order.index(t) if t in order else 99)

    print("### ns per malloc+free pair\n")
    print("Median of rounds (min–max in brackets); *added* is the median over rounds of "
          "(tracer − no tracer in the same round); *× memleak* divides memobserver's added "
          "cost by memleak's.\n")
    print("| workload | tracer | rounds | ns/pair (min–max) | added ns | × memleak | target | met |")
    print("|---|---|---|---|---|---|---|---|")
    for wl, th in wls:
        sel = [r for r in rows if r["workload"] == wl and r["threads"] == th]
        base = {r["round"]: num(r["ns_per_pair"]) for r in sel if r["tracer"] == "none"}
        added = {}
        for t in tracers:
            diffs = [num(r["ns_per_pair"]) - base[r["round"]] for r in sel
                     if r["tracer"] == t and r["round"] in base]
            added[t] = med(diffs)
        ml = added.get("memleak")
        for t in tracers:
            vals = [num(r["ns_per_pair"]) for r in sel if r["tracer"] == t]
            if not vals:
                continue
            ratio = added[t] / ml if (t in MO and ml and added[t] is not None) else None
            tgt = TARGET.get(t) if wl in TARGET_WORKLOADS else None
            met = "—"
            if tgt is not None and ratio is not None:
                met = "yes" if ratio <= tgt else f"no ({ratio / tgt:.1f}× over)"
            print(f"| {wl}/{th}t | {t} | {len(vals)} | {fmt(med(vals), 1)} "
                  f"({fmt(min(vals), 1)}–{fmt(max(vals), 1)}) | "
                  f"{fmt(added[t]) if t != 'none' else '—'} | "
                  f"{fmt(ratio, 3) if ratio is not None else '—'} | "
                  f"{'≤ ' + str(tgt) if tgt is not None else '—'} | {met} |")
    print()

    print("### Tracer's own cost during the microbenchmark\n")
    print("RSS: largest VmRSS sampled every 0.2 s (median over runs, and the largest of all). "
          "CPU: utime+stime of the tracer process from the benchmark's start signal to its "
          "end, as a share of one core (the BPF programs run in the benchmark's context and "
          "are counted there, as system time). Tracked/s: allocations memobserver's table "
          "took, per second of run; drops: everything its report counted as dropped.\n")
    print("| workload | tracer | RSS MB median (max) | CPU % of a core | startup CPU s | "
          "tracked/s | drops | bench sys time share |")
    print("|---|---|---|---|---|---|---|---|")
    for wl, th in wls:
        for t in tracers:
            sel = [r for r in rows if r["workload"] == wl and r["threads"] == th
                   and r["tracer"] == t]
            if not sel:
                continue
            rss = [num(r["tracer_rss_max_kb"]) for r in sel]
            rss = [x for x in rss if x]
            cpu = []
            tracked = []
            drops = []
            sysshare = []
            for r in sel:
                c = num(r["tracer_cpu_run_ms"])
                s = num(r.get("seconds"))
                if c is not None and s:
                    cpu.append(c / (s * 1000) * 100)
                tr = num(r["tracked"])
                if tr is not None and s:
                    tracked.append(tr / s)
                d = num(r["drops"])
                if d is not None:
                    drops.append(d)
                u, st = num(r["bench_utime_s"]), num(r["bench_stime_s"])
                if u is not None and st is not None and u + st > 0:
                    sysshare.append(st / (u + st) * 100)
            startup = med([num(r["tracer_cpu_startup_ms"]) for r in sel])
            print(f"| {wl}/{th}t | {t} | "
                  f"{fmt(med(rss) / 1024, 1) if rss else '—'}"
                  f"{' (' + fmt(max(rss) / 1024, 1) + ')' if rss else ''} | "
                  f"{fmt(med(cpu), 1)} | "
                  f"{fmt(startup / 1000, 2) if startup is not None else '—'} | "
                  f"{fmt(med(tracked))} | {fmt(max(drops)) if drops else '—'} | "
                  f"{fmt(med(sysshare), 0)} % |")
    print()


TRAP_DESC = {
    "trap_malloc0": "uprobe at malloc+0 (push: emulated)",
    "trap_malloc0_ret": "uprobe at malloc+0 + uretprobe",
    "trap_free0": "uprobe at free+0 (test: single-stepped)",
}


def traps(out):
    rows = clean(read_csv(os.path.join(out, "trap.csv")), "probe cost")
    if not rows:
        return
    base = {r["round"]: num(r["ns_per_pair"]) for r in rows if r["tracer"] == "none"}
    names = []
    for r in rows:
        if r["tracer"] != "none" and r["tracer"] not in names:
            names.append(r["tracer"])
    print("### What one probe costs (empty BPF program, fixed64, 1 thread)\n")
    print("Each pair calls malloc once and free once, so the added ns per pair is the cost "
          "of one probe hit (two traps for the uretprobe row). Baseline "
          f"{fmt(med(list(base.values())), 1)} ns/pair.\n")
    print("| probe | rounds | ns/pair | added ns per hit |")
    print("|---|---|---|---|")
    for t in names:
        sel = [r for r in rows if r["tracer"] == t]
        diffs = [num(r["ns_per_pair"]) - base[r["round"]] for r in sel if r["round"] in base]
        desc = TRAP_DESC.get(t) or (f"uprobe at free+{t[len('trap_free'):]} (jcc: emulated)"
                                    if t.startswith("trap_free") else t)
        print(f"| {desc} | {len(sel)} | {fmt(med([num(r['ns_per_pair']) for r in sel]), 1)} | "
              f"{fmt(med(diffs))} |")
    print()


def redis(out):
    rows = clean(read_csv(os.path.join(out, "redis.csv")), "redis")
    if not rows:
        print("No redis results.\n")
        return
    tracers = []
    for r in rows:
        if r["tracer"] not in tracers:
            tracers.append(r["tracer"])
    base_set = med([num(r["set_rps"]) for r in rows if r["tracer"] == "none"])
    base_get = med([num(r["get_rps"]) for r in rows if r["tracer"] == "none"])
    print("### redis-benchmark (-n N -t set,get -P 1, loopback)\n")
    print("| tracer | rounds | SET req/s | GET req/s | SET loss | GET loss | tracer RSS MB | "
          "tracer CPU s | tracked | probes |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    loss = {}
    for t in tracers:
        sel = [r for r in rows if r["tracer"] == t]
        s, g = med([num(r["set_rps"]) for r in sel]), med([num(r["get_rps"]) for r in sel])
        ls = (1 - s / base_set) * 100 if s and base_set else None
        lg = (1 - g / base_get) * 100 if g and base_get else None
        loss[t] = (ls, lg)
        rss = med([num(r["tracer_rss_max_kb"]) for r in sel])
        cpu = med([num(r["tracer_cpu_run_ms"]) for r in sel])
        tracked = med([num(r["tracked"]) for r in sel])
        probes = med([num(r["probes"]) for r in sel])
        print(f"| {t} | {len(sel)} | {fmt(s)} | {fmt(g)} | "
              f"{fmt(ls, 1) + ' %' if t != 'none' and ls is not None else '—'} | "
              f"{fmt(lg, 1) + ' %' if t != 'none' and lg is not None else '—'} | "
              f"{fmt(rss / 1024, 1) if rss else '—'} | "
              f"{fmt(cpu / 1000, 2) if cpu is not None else '—'} | "
              f"{fmt(tracked)} | {fmt(probes)} |")
    print()
    for mo, ml in [(mo, ml) for mo in ("balanced", "balanced_budget5", "balanced_budget2")
                   for ml in ("memleak", "memleak_je")]:
        if mo in loss and ml in loss:
            b, m = loss[mo], loss[ml]
            parts = []
            for name, x, y in (("SET", b[0], m[0]), ("GET", b[1], m[1])):
                if x is not None and y is not None and y > 0:
                    parts.append(f"{name} {x:.1f} % vs {y:.1f} % → {x / y:.2f}× (target ≤ 0.5)")
                elif x is not None and y is not None:
                    parts.append(f"{name} {x:.1f} % vs {y:.1f} % (no measurable loss "
                                 f"under {ml}: ratio undefined)")
            print(f"- {mo} loss vs {ml}'s loss: " + "; ".join(parts))
    print()


def idle(out):
    p = os.path.join(out, "idle.csv")
    if os.path.exists(p):
        with open(p) as f:
            for line in f:
                f = line.strip().split(",")
                t, rss, cpu, secs = f[:4]
                maps = f" of which {int(f[4]) / 1024:.1f} MB are BPF maps mmapped into it" \
                    if len(f) > 4 and f[4] else ""
                rate = ""
                sp = os.path.join(out, "logs", f"idle-{t}.samples")
                if os.path.exists(sp):
                    smp = [ln.split() for ln in open(sp) if len(ln.split()) == 2]
                    if len(smp) > 5:
                        span = (len(smp) - 1) * 0.2
                        used = int(smp[-1][1]) - int(smp[0][1])
                        rate = f", {used / span / 10:.1f} % of a core while idle"
                print(f"- memobserver {t}, idle (attached for {secs} s to a process that "
                      f"allocates nothing): RSS {int(rss) / 1024:.1f} MB{maps} (target ≤ 20 MB), "
                      f"CPU {int(cpu) / 1000:.2f} s since it started{rate}")
    a = os.path.join(out, "logs", "redis-allocator.err")
    if os.path.exists(a):
        with open(a) as f:
            for line in f:
                if "probed" in line or "allocator" in line:
                    print(f"- memobserver on redis-server: `{line.strip()}`")
    print()


def main():
    out = sys.argv[1]
    print(f"## Results from {os.path.basename(out.rstrip('/'))}\n")
    mt = os.path.join(out, "machine.txt")
    if os.path.exists(mt):
        print("```")
        print(open(mt).read().rstrip())
        print("```\n")
    micro(out)
    traps(out)
    redis(out)
    idle(out)
    for n in NOTES:
        print(f"- {n}")


if __name__ == "__main__":
    main()
