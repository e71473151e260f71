#!/usr/bin/python3
"""abandon_client.py SOCKET PIN: logs in, sends C_Sign (the card is slow),
prints "signing", then "eof-before-reply" when the server closes the
connection before the reply comes, or "reply" when the reply comes."""
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import raw_client as rc  # noqa: E402


def main():
    path, pin = sys.argv[1], sys.argv[2]
    s, _ = rc.connect(path, 2, timeout=60)
    rc.initialize(s, 0x10)
    slots = rc.ulongs(rc.call(s, 0x11, rc.C_GETSLOTLIST, b"yfu", b"\x01" + rc.u32(8)))
    sess = struct.unpack(">Q", rc.call(s, 0x12, rc.C_OPENSESSION, b"uu",
                                       rc.u64(slots[0]) + rc.u64(6))[:8])[0]
    rc.call(s, 0x13, rc.C_LOGIN, b"uuay", rc.u64(sess) + rc.u64(1) + rc.ay(pin.encode()))
    rc.call(s, 0x14, rc.C_FINDOBJECTSINIT, b"uaA", rc.u64(sess) + rc.u32(0))
    handles = rc.ulongs(rc.call(s, 0x15, rc.C_FINDOBJECTS, b"ufu", rc.u64(sess) + rc.u32(32)))
    rc.call(s, 0x16, rc.C_FINDOBJECTSFINAL, b"u", rc.u64(sess))
    for h in handles:
        if rc.call(s, 0x17, rc.C_SIGNINIT, b"uMu",
                   rc.u64(sess) + rc.u32(rc.CKM_ECDSA) + rc.u64(h)) is not None:
            break
    else:
        sys.exit("no ECDSA key")
    s.sendall(rc.frame(0x20, rc.body(rc.C_SIGN, b"uayfy",
                                     rc.u64(sess) + rc.ay(b"\x42" * 32) + rc.u32(256))))
    print("signing", flush=True)
    s.settimeout(120)
    try:
        data = s.recv(12)
    except (ConnectionResetError, BrokenPipeError):
        data = b""
    print("reply" if data else "eof-before-reply", flush=True)


if __name__ == "__main__":
    main()
