#!/usr/bin/python3
"""Speaks the p11-kit RPC wire to tokend by hand (no p11-kit involved).

  raw_client.py SOCKET
      Checks the version handshake, a valid call, pipelined calls, and that
      each kind of malformed input closes only the connection it came on: a
      well-behaved connection opened first keeps working after every one.
  raw_client.py limit SOCKET N
      The export's cap of N: the next client waits in the backlog.
  raw_client.py flood SOCKET N CAP GOFILE
      One peer's N connections against a per-peer cap of CAP.
  raw_client.py served SOCKET
      One client is served.
  raw_client.py silent SOCKET N SECS
      N silent sockets are all closed within SECS.
  raw_client.py order SOCKET PIN
      With a token whose key operations are slow: C_Sign and C_GetInfo
      sent together on one connection; C_GetInfo's reply must come first
      (replies in completion order, matched by call code).

Reports through tests/harness/checks.py ("ok: ..." / "FAIL: ..." lines);
exits 1 when something failed.
"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from checks import check, finish  # noqa: E402,F401  (check re-exported)

HANDSHAKE = b"PRIVATE-GNOME-KEYRING-PKCS11-PROTOCOL-V-1"
C_INITIALIZE, C_GETINFO, C_GETSLOTLIST, C_GETSLOTINFO = 1, 3, 4, 5
C_OPENSESSION, C_LOGIN, C_SIGNINIT, C_SIGN = 10, 18, 42, 43
C_FINDOBJECTSINIT, C_FINDOBJECTS, C_FINDOBJECTSFINAL = 26, 27, 28
CKM_ECDSA = 0x1041
NULL_ARRAY = 0xFFFFFFFF




def u32(v):
    return struct.pack(">I", v)


def u64(v):
    return struct.pack(">Q", v)


def arr(b):
    return u32(NULL_ARRAY) if b is None else u32(len(b)) + b


def ay(b):
    """An "ay" argument: a valid flag, then the length and the bytes."""
    return b"\x00" + u32(0) if b is None else b"\x01" + u32(len(b)) + b


def body(call_id, sig, args=b""):
    return u32(call_id) + arr(sig) + args


def frame(code, data, options=b"tokend-test"):
    return u32(code) + u32(len(options)) + u32(len(data)) + options + data


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError("closed after %d of %d bytes" % (len(out), n))
        out += chunk
    return out


def read_reply(s):
    """(call code, call id of the body, body)."""
    code, olen, dlen = struct.unpack(">III", recv_exact(s, 12))
    recv_exact(s, olen)
    data = recv_exact(s, dlen)
    return code, struct.unpack(">I", data[:4])[0], data


def connect(path, version=2, timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(bytes([version]))
    return s, recv_exact(s, 1)[0]


def initialize(s, code=0x10):
    req = body(C_INITIALIZE, b"ayyay", ay(HANDSHAKE) + b"\x00" + ay(b"\x00"))
    s.sendall(frame(code, req))
    return read_reply(s)


def get_info(s, code):
    s.sendall(frame(code, body(C_GETINFO, b"")))
    return read_reply(s)


def closed_by_server(s, secs=3.0):
    """True when the server closes the connection (EOF) within secs."""
    s.settimeout(secs)
    try:
        while True:
            if s.recv(4096) == b"":
                return True
    except socket.timeout:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def call(s, code, call_id, sig, args=b""):
    """One request and its reply's body after the signature; None for an
    error reply."""
    s.sendall(frame(code, body(call_id, sig, args)))
    rcode, cid, data = read_reply(s)
    if rcode != code or cid != call_id:
        return None
    siglen = struct.unpack(">I", data[4:8])[0]
    return data[8 + siglen:]


def ulongs(reply):
    """An "au" reply: valid flag, count, that many u64."""
    n = struct.unpack(">I", reply[1:5])[0]
    return list(struct.unpack(">%dQ" % n, reply[5:5 + 8 * n]))


def order(path, pin):
    s, _ = connect(path, 2, timeout=30)
    initialize(s, 0x10)
    slots = ulongs(call(s, 0x11, C_GETSLOTLIST, b"yfu", b"\x01" + u32(8)))
    check(len(slots) > 0, "a slot with a token")
    sess = struct.unpack(">Q", call(s, 0x12, C_OPENSESSION, b"uu",
                                    u64(slots[0]) + u64(6))[:8])[0]
    check(call(s, 0x13, C_LOGIN, b"uuay",
               u64(sess) + u64(1) + ay(pin.encode())) is not None, "logged in")
    call(s, 0x14, C_FINDOBJECTSINIT, b"uaA", u64(sess) + u32(0))
    handles = ulongs(call(s, 0x15, C_FINDOBJECTS, b"ufu", u64(sess) + u32(32)))
    call(s, 0x16, C_FINDOBJECTSFINAL, b"u", u64(sess))
    key = None
    for h in handles:
        if call(s, 0x17, C_SIGNINIT, b"uMu",
                u64(sess) + u32(CKM_ECDSA) + u64(h)) is not None:
            key = h
            break
    check(key is not None, "an ECDSA key among %d objects" % len(handles))
    sign = frame(0x20, body(C_SIGN, b"uayfy",
                            u64(sess) + ay(b"\x42" * 32) + u32(256)))
    info = frame(0x21, body(C_GETINFO, b""))
    s.sendall(sign + info)
    first, second = read_reply(s), read_reply(s)
    check((first[0], second[0]) == (0x21, 0x20),
          "C_GetInfo, sent after C_Sign, answered first (codes %#x then %#x)"
          % (first[0], second[0]))
    check(second[:2] == (0x20, C_SIGN),
          "C_Sign answered with its own call code and id")
    s.close()



def answered(s, secs):
    """The one-byte handshake answer within secs, or None (not served)."""
    s.settimeout(secs)
    try:
        b = s.recv(1)
        return b[0] if b else None
    except socket.timeout:
        return None


def limit(path, n):
    """n connections are served; the next one waits in the listen backlog
    (connects, but its handshake is not answered, and it is not closed);
    once one of the n hangs up, it is served."""
    conns = []
    for i in range(n):
        s, _ = connect(path, 2)
        code, cid, _ = initialize(s, 0x10 + i)
        check(cid == C_INITIALIZE, "connection %d of %d served" % (i + 1, n))
        conns.append(s)
    extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    extra.connect(path)
    extra.sendall(b"\x02")
    check(answered(extra, 1.5) is None,
          "connection %d waits: not answered, not closed" % (n + 1))
    code, cid, _ = get_info(conns[0], 0x40)
    check(cid == C_GETINFO, "the first connection still answers")
    conns.pop().close()
    check(answered(extra, 10) == 2,
          "once a place is free the waiting client is served")
    extra.settimeout(10)
    code, cid, _ = initialize(extra, 0x50)
    check(cid == C_INITIALIZE, "and initialises")


def peer_flood(path, n, cap):
    """This process's uid opens n connections with a per-peer cap of cap:
    cap are served, the others are accepted and held (no handshake answer,
    not closed); closing a served one serves the oldest held one. Prints
    "flooding" when the flood stands, then waits for GOFILE (argv[5])."""
    conns = []
    for i in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall(b"\x02")
        conns.append(s)
    served = [s for s in conns[:cap] if answered(s, 5) == 2]
    check(len(served) == cap, "%d of %d connections served" % (len(served), n))
    # C_Initialize first: the served ones are within handshake-timeout.
    for i, s in enumerate(served):
        s.settimeout(5)
        code, cid, _ = initialize(s, 0x10 + i)
    held = [s for s in conns[cap:] if answered(s, 0.2) is None]
    check(len(held) == n - cap, "the other %d held, not closed" % (n - cap))
    conns.pop().close()  # a held client that gives up
    print("flooding", flush=True)
    go = sys.argv[5]
    for _ in range(600):
        if os.path.exists(go):
            break
        time.sleep(0.05)
    served[0].close()
    check(answered(conns[cap], 10) == 2,
          "one served closed: the oldest held one is served")


def served(path):
    """One client: handshake, C_Initialize, C_GetInfo."""
    s, v = connect(path, 2, timeout=5)
    code, cid, _ = initialize(s, 0x10)
    check(v == 2 and cid == C_INITIALIZE,
          "another peer is served (handshake and C_Initialize)")
    code, cid, _ = get_info(s, 0x11)
    check(cid == C_GETINFO, "and answered C_GetInfo")


def silent(path, n, secs):
    """n sockets that never send a byte: each is closed by the server
    within secs."""
    conns = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        conns.append(s)
    print("silent", flush=True)
    deadline = time.time() + secs
    closed = 0
    for s in conns:
        if closed_by_server(s, max(0.1, deadline - time.time())):
            closed += 1
    check(closed == n,
          "%d of %d silent connections closed by the server" % (closed, n))


def protocol(path):
    """The default mode: handshake, calls, pipelining, malformed input."""
    for offered, want in ((0, 0), (1, 1), (2, 2), (200, 2)):
        s, got = connect(path, offered)
        check(got == want,
              "version %d offered, %d answered (want %d)" % (offered, got, want))
        s.close()

    # The well-behaved connection, opened before any bad one.
    good, _ = connect(path, 2)
    code, cid, _ = initialize(good, 0x10)
    check((code, cid) == (0x10, C_INITIALIZE), "C_Initialize answered, same call code")
    code, cid, data = get_info(good, 0x11)
    check((code, cid) == (0x11, C_GETINFO), "C_GetInfo answered with its call id")
    check(data[4:13] == arr(b"vsusv"), "C_GetInfo reply carries the signature vsusv")

    # Version 0 encoding and an uninitialised client: an error reply, the
    # connection stays.
    v0, _ = connect(path, 0)
    code, cid, data = get_info(v0, 0x20)
    check(code == 0x20 and cid == 0,
          "C_GetInfo before C_Initialize: error reply (call id 0), not a close")
    code, cid, _ = initialize(v0, 0x21)
    check(cid == C_INITIALIZE, "protocol 0 client initialises")
    v0.close()

    # Pipelined: three requests in one write, three replies by call code.
    reqs = b"".join(frame(0x30 + i, body(C_GETINFO, b"")) for i in range(3))
    good.sendall(reqs)
    codes = sorted(read_reply(good)[0] for _ in range(3))
    check(codes == [0x30, 0x31, 0x32],
          "three pipelined requests, three replies by call code")

    bad_inputs = [
        ("options length beyond the limit", u32(0x40) + u32(0x80000000) + u32(0)),
        ("huge data length", u32(0x40) + u32(0) + u32(0xFFFFFFF0)),
        ("unknown call id 200", frame(0x40, body(200, b""))),
        ("C_GetSlotInfo with its argument cut off",
         frame(0x40, body(C_GETSLOTINFO, b"u", b"\x00\x00"))),
        ("signature that does not match the call",
         frame(0x40, body(C_GETSLOTLIST, b"uuu", u64(0) * 3))),
        ("empty body", frame(0x40, b"")),
        ("garbage after the handshake", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    ]
    for what, data in bad_inputs:
        s, _ = connect(path, 2)
        initialize(s, 0x3F)
        s.sendall(data)
        check(closed_by_server(s), what + ": that connection is closed")
        s.close()
        code, cid, _ = get_info(good, 0x50)
        check(cid == C_GETINFO, what + ": the other connection still works")

    # A body cut short by the client's end of stream.
    s, _ = connect(path, 2)
    s.sendall(u32(0x60) + u32(0) + u32(100) + b"\x00" * 10)
    s.shutdown(socket.SHUT_WR)
    check(closed_by_server(s), "truncated body then end of stream: closed")
    s.close()

    # A client that leaves without C_Finalize, with a request in flight.
    s, _ = connect(path, 2)
    initialize(s, 0x70)
    s.sendall(frame(0x71, body(C_GETINFO, b"")))
    s.close()
    code, cid, _ = get_info(good, 0x72)
    check(cid == C_GETINFO,
          "a client vanishing mid-request leaves the others working")
    good.close()


def main():
    if sys.argv[1] == "order":
        order(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "limit":
        limit(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "flood":
        peer_flood(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "served":
        served(sys.argv[2])
    elif sys.argv[1] == "silent":
        silent(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        protocol(sys.argv[1])
    finish()


if __name__ == "__main__":
    main()
