#!/usr/bin/env python3
"""Stack dedup window checks for tests/bpf/test_patterns.sh.

  dedup.py scrape EVENTS PORT INTERVAL MIN_REPORTS OUT
      wait until EVENTS holds MIN_REPORTS periodic leak reports, then scrape
      memory_filtered_events_total{reason="deduplicated"} from PORT half an
      analysis interval after a tick (so no tick races the scrape); write
      "<epoch seconds> <count>" to OUT.
  dedup.py check EVENTS SCRAPE WINDOW INTERVAL
      print "ok ..." or the first broken rule.

The fixture leaks from one stack all along, so after its first report the
stack is a finding at every tick: each tick is either a report or a
suppressed repeat, and the counts must add up exactly.
"""
import json
import math
import re
import sys
import time
import urllib.request
from datetime import datetime, timezone


def epoch(ts):
    whole, frac = ts.rstrip("Z").split(".")
    t = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return t.timestamp() + float("0." + frac)


def reports(path):
    """Periodic leak reports per (pid, stack_id), in time order."""
    out = {}
    for line in open(path):
        if not line.strip():
            continue
        e = json.loads(line)
        if e.get("kind") != "leak" or e.get("final"):
            continue
        if not any(f.get("symbol") == "leak_many_blocks" for f in e.get("stack", [])):
            continue
        out.setdefault((e["pid"], e["stack_id"]), []).append((epoch(e["timestamp"]), e["repeats"]))
    return out


def deduplicated(port):
    text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=5).read().decode()
    m = re.search(r'^memory_filtered_events_total\{reason="deduplicated"\} (\d+)$', text, re.M)
    return int(m.group(1)) if m else None


def scrape(events, port, interval, min_reports, out):
    deadline = time.time() + 60
    while time.time() < deadline:
        r = [x for v in reports(events).values() for x in v]
        if len(r) >= min_reports:
            last = max(t for t, _ in r)
            # the next mid-interval point after now
            k = math.ceil((time.time() - last) / interval - 0.5)
            time.sleep(max(0.0, last + (k + 0.5) * interval - time.time()))
            ts = time.time()
            d = deduplicated(port)
            with open(out, "w") as f:
                f.write("%.6f %s\n" % (ts, d))
            return 0
        time.sleep(0.2)
    print("fewer than %d reports within 60 s" % min_reports)
    return 1


def check(events, scraped, window, interval):
    ts, d = open(scraped).read().split()
    ts, d = float(ts), int(d) if d != "None" else None
    if d is None:
        return "no deduplicated count in the scrape"
    per_stack = reports(events)
    if len(per_stack) != 1:
        return "expected one leaking (pid, stack), got %d" % len(per_stack)
    r = [x for x in next(iter(per_stack.values())) if x[0] < ts]
    if len(r) < 2:
        return "only %d reports before the scrape" % len(r)
    if r[0][1] != 0:
        return "first report carries repeats=%d" % r[0][1]
    for (t0, _), (t1, rep) in zip(r, r[1:]):
        gap = t1 - t0
        if gap < window - 0.005:
            return "two reports %.3f s apart, window %.3f s" % (gap, window)
        if window == 0 and gap > 1.5 * interval:
            return "no window, yet a tick was skipped (%.3f s)" % gap
        if rep != round(gap / interval) - 1:
            return "report after %.3f s carries repeats=%d, expected %d" % (
                gap, rep, round(gap / interval) - 1)
    since_last = math.floor((ts - r[-1][0]) / interval)
    want = sum(rep for _, rep in r) + since_last
    if d != want:
        return "deduplicated=%d, expected %d (repeats %s + %d ticks since the last report)" % (
            d, want, [rep for _, rep in r], since_last)
    return "ok %d reports, repeats %s, deduplicated %d" % (len(r), [rep for _, rep in r], d)


if __name__ == "__main__":
    if sys.argv[1] == "scrape":
        sys.exit(scrape(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]))
    print(check(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])))
