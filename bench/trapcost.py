#!/usr/bin/python3
"""trapcost.py PID SPEC...: attach empty BPF programs to the C library of PID.

Measures what a probe costs by itself, with a BPF program that does nothing,
so that the kind of trap can be told apart from what a tracer does in it.
SPEC is u:SYMBOL:OFFSET (a uprobe OFFSET bytes into SYMBOL) or r:SYMBOL (a
uretprobe). Prints ATTACHED once every probe is in place, then waits for
SIGINT or SIGTERM. Uses bcc, which Debian's bpfcc-tools installs for
/usr/bin/python3.
"""
import signal
import sys

from bcc import BPF


def main():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    pid = int(sys.argv[1])
    b = BPF(text="int empty_probe(void *ctx) { return 0; }")
    for spec in sys.argv[2:]:
        parts = spec.split(":")
        if parts[0] == "u":
            b.attach_uprobe(name="c", sym=parts[1], sym_off=int(parts[2], 0),
                            fn_name="empty_probe", pid=pid)
        elif parts[0] == "r":
            b.attach_uretprobe(name="c", sym=parts[1], fn_name="empty_probe", pid=pid)
        else:
            sys.exit(f"trapcost: bad probe spec '{spec}'")
    print("ATTACHED", flush=True)
    signal.sigwait({signal.SIGINT, signal.SIGTERM})


if __name__ == "__main__":
    main()
