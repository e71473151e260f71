#!/usr/bin/python3
"""login_client.py SOCKET PIN GOFILE: C_Initialize, C_OpenSession on the
first slot with a token, C_Login as the user; prints "logged-in", then
holds the connection until GOFILE exists (60 s at most), then C_Logout."""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "daemon"))
import raw_client as rc  # noqa: E402


def main():
    path, pin, go = sys.argv[1], sys.argv[2], sys.argv[3]
    s, _ = rc.connect(path, 2, timeout=60)
    rc.initialize(s, 0x10)
    slots = rc.ulongs(rc.call(s, 0x11, rc.C_GETSLOTLIST, b"yfu", b"\x01" + rc.u32(8)))
    sess = struct.unpack(">Q", rc.call(s, 0x12, rc.C_OPENSESSION, b"uu",
                                       rc.u64(slots[0]) + rc.u64(6))[:8])[0]
    rc.call(s, 0x13, rc.C_LOGIN, b"uuay", rc.u64(sess) + rc.u64(1) + rc.ay(pin.encode()))
    print("logged-in", flush=True)
    deadline = time.time() + 60
    while not os.path.exists(go) and time.time() < deadline:
        time.sleep(0.05)
    rc.call(s, 0x14, 19, b"u", rc.u64(sess))  # C_Logout


if __name__ == "__main__":
    main()
