#!/usr/bin/python3
"""Close-to-release time of tokend connections (no card needed).

  close_release.py SOCKET TOKEND_PID [SINGLES] [BATCH]

A connection that sent the handshake, C_Initialize and 8 blocking
C_WaitForSlotEvent calls (queued or parked) is closed; the time until
tokend's descriptor count (/proc/PID/fd) is back to what it was before the
connection was opened is measured. SINGLES such connections one at a time
(median, 95th percentile, max), then BATCH of them closed at once (time
until all are released). Prints a markdown table.
"""
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "daemon"))
import raw_client as rc  # noqa: E402

C_WAITFORSLOTEVENT = 65


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def ready_conn(path):
    s, _ = rc.connect(path, 2, timeout=10)
    rc.initialize(s, 0x10)
    waits = b"".join(rc.frame(0x100 + i, rc.body(C_WAITFORSLOTEVENT, b"u",
                                                 rc.u64(0)))
                     for i in range(8))
    s.sendall(waits)
    return s


def wait_fds(pid, target, limit=30.0):
    t0 = time.monotonic()
    while nfds(pid) > target:
        if time.monotonic() - t0 > limit:
            return None
        time.sleep(0.0002)
    return time.monotonic() - t0


def main():
    path, pid = sys.argv[1], int(sys.argv[2])
    singles = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    times = []
    for _ in range(singles):
        base = nfds(pid)
        s = ready_conn(path)
        time.sleep(0.05)  # the waits are parked
        t0 = time.monotonic()
        s.close()
        t = wait_fds(pid, base)
        if t is None:
            sys.exit("a closed connection was not released within 30 s")
        times.append(time.monotonic() - t0)
    base = nfds(pid)
    conns = [ready_conn(path) for _ in range(batch)]
    time.sleep(0.2)
    t0 = time.monotonic()
    for s in conns:
        s.close()
    if wait_fds(pid, base) is None:
        sys.exit("a batch was not released within 30 s")
    tb = time.monotonic() - t0
    times.sort()
    ms = [t * 1000 for t in times]
    print("| close to release (8 blocking waits queued) | ms |")
    print("|---|---|")
    print("| one connection, median of %d | %.2f |" % (singles, statistics.median(ms)))
    print("| one connection, 95th percentile | %.2f |" % ms[int(0.95 * (len(ms) - 1))])
    print("| one connection, max | %.2f |" % ms[-1])
    print("| %d connections closed at once, all released | %.2f |" % (batch, tb * 1000))


if __name__ == "__main__":
    main()
