#!/usr/bin/python3
"""Test clients for tokend's sockets (no PKCS#11 spoken).

  client.py eof PATH [SECS]       connect; print "eof" when the server closes
                                  the connection within SECS (default 3),
                                  else "open"
  client.py hold PATH GOFILE      connect, print "connected", wait until
                                  GOFILE exists (max 60 s), then print "open"
                                  or "eof" for the connection's state
  client.py notify SOCK [SECS]    bind a datagram socket at SOCK and print
                                  each sd_notify message until READY=1 came
                                  and SECS (default 10) passed or STOPPING=1
"""
import os
import socket
import sys
import time


def state(s, secs):
    s.settimeout(secs)
    try:
        data = s.recv(1)
        return "eof" if data == b"" else "data"
    except socket.timeout:
        return "open"
    except (ConnectionResetError, BrokenPipeError):
        return "eof"


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "eof":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        print(state(s, float(sys.argv[3]) if len(sys.argv) > 3 else 3.0), flush=True)
    elif mode == "hold":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        print("connected", flush=True)
        deadline = time.time() + 60
        while not os.path.exists(sys.argv[3]) and time.time() < deadline:
            time.sleep(0.05)
        print(state(s, 0.3), flush=True)
    elif mode == "notify":
        secs = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        deadline = time.time() + secs
        while time.time() < deadline:
            s.settimeout(max(0.01, deadline - time.time()))
            try:
                msg = s.recv(4096).decode()
            except socket.timeout:
                break
            for line in msg.splitlines():
                print(line, flush=True)
            if "STOPPING=1" in msg:
                break
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
