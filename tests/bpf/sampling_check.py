#!/usr/bin/env python3
"""Sampled estimates of a fixture with known truth (tests/fixtures/sample_mixed.c).

  check EVENTS FIXTURE_OUT R      one run under --sample-bytes R: every leaking
                                  function's estimated bytes and blocks within
                                  5 standard deviations of the truth, a band an
                                  unweighted sum cannot reach; the freed function
                                  not reported; the sampled-out counter > 0 and
                                  the tracked allocations what the countdown
                                  should pick
  errors MODE PARAM FIXTURE_OUT EVENTS...
                                  runs under --sample-bytes PARAM (MODE bytes) or
                                  --sample PARAM (MODE rate): one JSON object with
                                  the relative error of each leaking function's
                                  estimated unfreed bytes, run by run
  expected_tracked R FIXTURE_OUT  allocations byte sampling at mean R tracks on
                                  average (to choose N for equal counts)

The fixture prints "MIX <function> <size> <count>" for each size it allocates.
Under byte sampling a block of s bytes is kept with probability
p = 1 - exp(-s/R) and stands for 1/p blocks; under 1-in-N, p = 1/N and it
stands for N. An estimate of n blocks of s bytes then has variance
n s^2 (1 - p) / p.
"""
import json
import math
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from check import attribute, fixture_truth  # noqa: E402

SIGMAS = 5


def read_mix(path):
    mix = {}
    for line in open(path, errors="replace"):
        parts = line.split()
        if len(parts) == 4 and parts[0] == "MIX":
            mix.setdefault(parts[1], []).append((int(parts[2]), int(parts[3])))
    return mix


def read_run(path, fns):
    """Final leaks per function (bytes, blocks, all estimates?), the summary."""
    got, summary = {}, None
    for line in open(path, errors="strict"):
        line = line.strip()
        if not line:
            continue
        ev = json.loads(line)
        if ev.get("type") == "summary":
            summary = ev
            continue
        if ev.get("type") != "memory_pressure" or ev.get("kind") != "leak" or not ev.get("final"):
            continue
        fn = attribute(ev.get("stack", []), fns)
        if fn:
            b, c, e = got.get(fn, (0, 0, True))
            got[fn] = (b + ev["unfreed_bytes"], c + ev["count"], e and ev.get("estimate", False))
    return got, summary


def keep_prob(mode, param, size):
    if mode == "bytes":
        return -math.expm1(-max(size, 1) / param)
    return 1.0 / param


def theory(mode, param, parts):
    """truth bytes, truth blocks, sd of the byte and block estimates, and
    the bytes an unweighted sum of the kept blocks would show on average"""
    tb = tc = vb = vc = raw = 0.0
    for size, n in parts:
        p = keep_prob(mode, param, size)
        tb += n * size
        tc += n
        vb += n * size * size * (1 - p) / p
        vc += n * (1 - p) / p
        raw += n * size * p
    return tb, tc, math.sqrt(vb), math.sqrt(vc), raw


def tracked_theory(mode, param, mix):
    mean = var = 0.0
    for parts in mix.values():
        for size, n in parts:
            p = keep_prob(mode, param, size)
            mean += n * p
            var += n * p * (1 - p)
    return mean, math.sqrt(var)


def cmd_check(events, fixture_out, r):
    mix = read_mix(fixture_out)
    expect, freed, _ = fixture_truth(fixture_out)
    fns = sorted(set(expect) | freed, key=len, reverse=True)
    got, summary = read_run(events, fns)
    ok = True
    if not mix or not expect:
        print("the fixture printed no MIX/EXPECT lines")
        return 1
    if summary is None:
        print("no summary line: memobserver did not finish its report")
        return 1
    for fn in sorted(expect):
        tb, tc, sdb, sdc, raw = theory("bytes", r, mix[fn])
        if (tb, tc) != expect[fn]:
            print(f"{fn}: MIX lines ({tb:.0f} B in {tc:.0f}) disagree with EXPECT {expect[fn]}")
            ok = False
        # what the band must exclude for the test to mean anything
        if abs(raw - tb) <= SIGMAS * sdb + 1:
            print(f"{fn}: an unweighted sum ({raw:.0f} B) would pass too: R too large for it")
            ok = False
        b, c, est = got.get(fn, (0, 0, False))
        tol_b = SIGMAS * sdb + c	# + rounding down, one byte per record at most
        tol_c = SIGMAS * sdc + 1
        line = (f"{fn}: {b} B in {c} blocks, truth {tb:.0f} B in {tc:.0f} "
                f"(sd {sdb:.0f} B, {sdc:.0f} blocks; unweighted {raw:.0f} B)")
        print(line)
        if abs(b - tb) > tol_b:
            print(f"  bytes off by {(b - tb) / sdb:+.1f} sd")
            ok = False
        if abs(c - tc) > tol_c:
            print(f"  blocks off by {(c - tc) / sdc:+.1f} sd")
            ok = False
        if not est:
            print("  not marked as an estimate")
            ok = False
    for fn in sorted(freed):
        if fn in got:
            print(f"{fn}: freed, yet reported {got[fn][:2]}")
            ok = False
    sampled_out = summary.get("filtered", {}).get("sampled_out", 0)
    tracked = summary.get("allocations_tracked", 0)
    mean, sd = tracked_theory("bytes", r, mix)
    print(f"tracked {tracked} (expected {mean:.0f}, sd {sd:.1f}), sampled out {sampled_out}")
    if sampled_out <= 0:
        print("  the sampled-out counter is 0")
        ok = False
    # a few blocks of the C library's start-up are tracked too
    if tracked < mean - SIGMAS * sd or tracked > mean + SIGMAS * sd + 50:
        print("  tracked allocations are not what the countdown should pick")
        ok = False
    return 0 if ok else 1


def cmd_errors(mode, param, fixture_out, runs):
    mix = read_mix(fixture_out)
    expect, freed, _ = fixture_truth(fixture_out)
    fns = sorted(set(expect) | freed, key=len, reverse=True)
    out = {"mode": mode, "param": param, "runs": 0, "tracked": [], "functions": {}}
    for fn in sorted(expect):
        tb, _, sdb, _, _ = theory(mode, param, mix[fn])
        out["functions"][fn] = {"truth": tb, "predicted_sd": sdb / tb, "estimates": [],
                                "rel_errors": []}
    for path in runs:
        got, summary = read_run(path, fns)
        if summary is None:
            continue
        out["runs"] += 1
        out["tracked"].append(summary.get("allocations_tracked", 0))
        for fn, f in out["functions"].items():
            b = got.get(fn, (0, 0, False))[0]
            f["estimates"].append(b)
            f["rel_errors"].append(abs(b - f["truth"]) / f["truth"])
    print(json.dumps(out))
    return 0 if out["runs"] else 1


def main(argv):
    if len(argv) == 5 and argv[1] == "check":
        return cmd_check(argv[2], argv[3], float(argv[4]))
    if len(argv) >= 6 and argv[1] == "errors" and argv[2] in ("bytes", "rate"):
        return cmd_errors(argv[2], float(argv[3]), argv[4], argv[5:])
    if len(argv) == 4 and argv[1] == "expected_tracked":
        mean, _ = tracked_theory("bytes", float(argv[2]), read_mix(argv[3]))
        print(f"{mean:.1f}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
