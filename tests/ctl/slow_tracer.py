#!/usr/bin/python3
"""slow_tracer.py CONTROL EXPORT_SOCKET N: a tracer of export "cards" that
does not read while a client makes N calls on one connection, then reads
what is there. Prints: the seconds the N calls took, the trace lines
received, and whether a "N events dropped" line came."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "daemon"))
import raw_client as rc  # noqa: E402


def main():
    control, sock, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ctl.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ctl.connect(control)
    ctl.sendall(b"trace cards\n")
    time.sleep(0.5)  # subscribed
    s, _ = rc.connect(sock, 2, timeout=30)
    rc.initialize(s)
    t0 = time.monotonic()
    for i in range(n):
        rc.get_info(s, 0x20 + (i & 0xff))
    took = time.monotonic() - t0
    s.close()
    data = b""
    ctl.settimeout(2.0)
    try:
        while True:
            chunk = ctl.recv(1 << 16)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    lines = data.split(b"\n")
    print("%.2f %d %s" % (took, sum(1 for l in lines if b"C_GetInfo" in l),
                          any(l.endswith(b"events dropped (the reader was too slow)") for l in lines)))


if __name__ == "__main__":
    main()
