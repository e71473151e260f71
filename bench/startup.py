#!/usr/bin/python3
"""Start-up and footprint of tokend (bench/startup.sh drives it).

Each run starts tokend with NOTIFY_SOCKET naming a datagram socket this
script listens on (systemd's notify protocol, as systemd-notify uses it)
and measures the time from just before exec to READY=1; then waits until
the card present (if any) has been read (its 'token arrived' log line, or
--settle seconds) and reads VmRSS and VmHWM from /proc/PID/status; then
stops tokend with SIGTERM. Prints one markdown row per case.

  startup.py --tokend BIN --config FILE --runs N --case NAME [--card]
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def one_run(args, tmp):
    path = os.path.join(tmp, "notify.sock")
    if os.path.exists(path):
        os.unlink(path)
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(path)
    log = open(os.path.join(tmp, "tokend.log"), "w+")
    env = dict(os.environ, NOTIFY_SOCKET=path)
    t0 = time.monotonic()
    p = subprocess.Popen([args.tokend, "-f", "-c", args.config], env=env,
                         stdout=log, stderr=subprocess.STDOUT)
    ready = None
    ns.settimeout(10)
    try:
        while ready is None:
            msg = ns.recv(4096).decode(errors="replace")
            if "READY=1" in msg.split("\n"):
                ready = (time.monotonic() - t0) * 1000
    except socket.timeout:
        p.kill()
        p.wait()
        log.seek(0)
        sys.exit("tokend sent no READY=1 within 10 s:\n" + log.read())
    ns.close()
    # Idle: the card present has been read (or nothing happens for a while).
    deadline = time.monotonic() + args.settle
    read_ms = None
    while time.monotonic() < deadline:
        log.seek(0)
        if args.card and "token arrived" in log.read():
            read_ms = (time.monotonic() - t0) * 1000
            time.sleep(0.2)  # the job's tail, then the worker idles
            break
        time.sleep(0.01)
    if args.card and read_ms is None:
        p.kill()
        sys.exit("the card was not read within %.1f s" % args.settle)
    rss = status_kb(p.pid, "VmRSS")
    hwm = status_kb(p.pid, "VmHWM")
    p.terminate()
    if p.wait(10) != 0:
        sys.exit("tokend exited with %d" % p.returncode)
    log.close()
    return ready, read_ms, rss, hwm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokend", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--case", required=True)
    ap.add_argument("--card", action="store_true")
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--header", action="store_true")
    args = ap.parse_args()
    if args.header:
        print("| case | runs | READY median ms | READY p90 ms | READY max ms "
              "| card read (from exec) median ms | idle RSS median KiB "
              "| peak RSS (VmHWM) median KiB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        return
    with tempfile.TemporaryDirectory() as tmp:
        rows = [one_run(args, tmp) for _ in range(args.runs)]
    ready = sorted(r[0] for r in rows)
    p90 = ready[min(len(ready) - 1, int(round(0.9 * (len(ready) - 1))))]
    read = [r[1] for r in rows if r[1] is not None]
    print("| %s | %d | %.1f | %.1f | %.1f | %s | %d | %d |" % (
        args.case, len(rows), statistics.median(ready), p90, ready[-1],
        "%.1f" % statistics.median(read) if read else "–",
        statistics.median(r[2] for r in rows),
        statistics.median(r[3] for r in rows)))


if __name__ == "__main__":
    main()
