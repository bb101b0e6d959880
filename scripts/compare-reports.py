#!/usr/bin/env python3
"""Compare the leak reports two memobserver builds give for the same fixtures.

    python3 scripts/compare-reports.py OLD_JSON NEW_JSON

Each file is one run's --format json output. Records are compared after
the fields that differ from run to run by nature are removed: timestamps,
pids, addresses, ages and durations. A field only the new build writes is
listed as added (not a difference); a record or a value that changed is a
difference, and the exit status is 1.
"""
import json
import re
import sys

VOLATILE = {"timestamp", "pid", "ppid", "address", "addr", "ip", "age_seconds",
            "oldest_age_seconds", "first_seen", "last_seen", "duration_seconds",
            "min_unfreed_age_seconds", "build_id", "cpu_seconds", "stack_id",
            "growth_bytes_per_s", "confidence"}
HEX = re.compile(r"0x[0-9a-f]+")


def norm(v, added, path, old_keys):
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if k in VOLATILE:
                continue
            p = path + "." + k
            if old_keys is not None and p not in old_keys:
                added.add(p)
                continue
            out[k] = norm(x, added, p, old_keys)
        return out
    if isinstance(v, list):
        return [norm(x, added, path + "[]", old_keys) for x in v]
    if isinstance(v, str):
        return HEX.sub("0x?", v)
    return v


def keys(v, path, acc):
    if isinstance(v, dict):
        for k, x in v.items():
            acc.add(path + "." + k)
            keys(x, path + "." + k, acc)
    elif isinstance(v, list):
        for x in v:
            keys(x, path + "[]", acc)
    return acc


def leak_records(path):
    recs = []
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        # the final findings: the periodic ones depend on timing
        if r.get("kind") == "leak" and r.get("final"):
            recs.append(r)
    return recs


def main():
    old, new = leak_records(sys.argv[1]), leak_records(sys.argv[2])
    old_keys = set()
    for r in old:
        keys(r, "", old_keys)
    added = set()
    a = sorted(json.dumps(norm(r, set(), "", None), sort_keys=True) for r in old)
    b = sorted(json.dumps(norm(r, added, "", old_keys), sort_keys=True) for r in new)
    if added:
        print("fields only the new build writes: " + ", ".join(sorted(added)))
    if a == b:
        print("same: %d leak records" % len(a))
        return 0
    # pair the differing records by (size, count) and name the fields that differ
    da = [json.loads(x) for x in sorted(set(a) - set(b))]
    db = [json.loads(x) for x in sorted(set(b) - set(a))]
    key = lambda r: (r.get("size_bytes", 0), r.get("count", 0), r.get("unfreed_bytes", 0))
    bykey = {}
    for r in db:
        bykey.setdefault(key(r), []).append(r)
    for r in da:
        peer = bykey.get(key(r), [])
        if not peer:
            print("- only old: " + json.dumps(r, sort_keys=True)[:300])
            continue
        q = peer.pop(0)
        print("~ size %s count %s:" % (r.get("size_bytes"), r.get("count")))
        for d in diff(r, q, ""):
            print("    " + d)
    for rs in bykey.values():
        for q in rs:
            print("+ only new: " + json.dumps(q, sort_keys=True)[:300])
    print("different: %d old records, %d new" % (len(a), len(b)))
    return 1


def diff(x, y, path):
    if isinstance(x, dict) and isinstance(y, dict):
        for k in sorted(set(x) | set(y)):
            if k not in y:
                yield "%s.%s only old: %s" % (path, k, json.dumps(x[k])[:120])
            elif k not in x:
                yield "%s.%s only new: %s" % (path, k, json.dumps(y[k])[:120])
            else:
                yield from diff(x[k], y[k], path + "." + k)
    elif isinstance(x, list) and isinstance(y, list):
        if len(x) != len(y):
            yield "%s: %d items old, %d new" % (path, len(x), len(y))
        for i, (u, v) in enumerate(zip(x, y)):
            yield from diff(u, v, "%s[%d]" % (path, i))
    elif x != y:
        yield "%s: %s -> %s" % (path, json.dumps(x)[:100], json.dumps(y)[:100])


if __name__ == "__main__":
    sys.exit(main())
