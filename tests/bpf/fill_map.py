#!/usr/bin/env python3
"""fill_map.py PID NAME...: fill the named BPF hash maps that process PID
holds (found through /proc/PID/fdinfo) with dummy 4-byte keys no process
has, until they are full. Prints NAME and the entries added."""
import ctypes
import os
import re
import struct
import subprocess
import json
import sys

NR_BPF = 321
BPF_MAP_UPDATE_ELEM, BPF_MAP_GET_FD_BY_ID = 2, 14
BPF_NOEXIST = 1
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    r = libc.syscall(NR_BPF, cmd, buf, 128)
    return r, ctypes.get_errno()


def maps_of(pid):
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            m = re.search(r"^map_id:\s*(\d+)", open(f"/proc/{pid}/fdinfo/{fd}").read(), re.M)
        except OSError:
            continue
        if m:
            ids.add(int(m.group(1)))
    for i in ids:
        info = json.loads(subprocess.run(["bpftool", "-j", "map", "show", "id", str(i)],
                                         capture_output=True, text=True).stdout or "{}")
        if info:
            yield info


def fill(info):
    fd, err = bpf(BPF_MAP_GET_FD_BY_ID, struct.pack("<III", info["id"], 0, 0))
    if fd < 0:
        raise OSError(err, "map id %d" % info["id"])
    value = ctypes.create_string_buffer(info["bytes_value"])
    added = 0
    for i in range(info["max_entries"]):
        key = ctypes.create_string_buffer(struct.pack("<I", 0x7F000000 + i), info["bytes_key"])
        attr = struct.pack("<IIQQQ", fd, 0, ctypes.addressof(key), ctypes.addressof(value),
                           BPF_NOEXIST)
        r, err = bpf(BPF_MAP_UPDATE_ELEM, attr)
        if r < 0:
            if err in (7, 12):  # E2BIG, ENOMEM: full
                break
            raise OSError(err, "update %s" % info["name"])
        added += 1
    os.close(fd)
    return added


def main():
    pid, names = sys.argv[1], set(sys.argv[2:])
    done = set()
    for info in maps_of(pid):
        if info.get("name") in names:
            print(info["name"], fill(info))
            done.add(info["name"])
    missing = names - done
    if missing:
        print("not found:", " ".join(sorted(missing)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
