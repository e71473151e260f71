#!/usr/bin/python3
"""C_WaitForSlotEvent over tokend's socket, as raw p11-kit RPC frames.

  slot_events.py serve SOCKET PIN VCARD_PID
      A blocked C_WaitForSlotEvent on a connection does not hold up
      C_GetInfo, C_SignInit and C_Sign on the same connection; pulling the
      card (SIGUSR1 to the virtual card) answers the wait with the slot, and
      re-inserting it (SIGUSR2) answers the next one; CKF_DONT_BLOCK with
      nothing pending answers CKR_NO_EVENT; C_Finalize on the connection
      answers a blocked wait with CKR_CRYPTOKI_NOT_INITIALIZED.
  slot_events.py block SOCKET
      Initialises, sends a blocking C_WaitForSlotEvent, prints "blocked" and
      waits for the reply or the end of the connection (which it prints).

Reports through tests/harness/checks.py; exits 1 when something failed.
"""
import os
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from raw_client import (C_FINDOBJECTS, C_FINDOBJECTSFINAL,  # noqa: E402
                        C_FINDOBJECTSINIT, C_GETINFO, C_GETSLOTLIST, C_LOGIN,
                        C_OPENSESSION, C_SIGN, C_SIGNINIT, CKM_ECDSA, ay,
                        body, call, connect, frame, initialize, read_reply,
                        u32, u64, ulongs)
from checks import check, fail, finish  # noqa: E402  (raw_client's path)

C_FINALIZE, C_WAITFORSLOTEVENT = 2, 65
CKF_DONT_BLOCK = 1
CKR_NO_EVENT, CKR_NOT_INIT = 0x8, 0x190
EVENT_S = 3.0  # a card event reaches the client within this
PROMPT_S = 1.0  # a call beside a blocked wait answers within this


def wait_frame(code, flags=0):
    return frame(code, body(C_WAITFORSLOTEVENT, b"u", u64(flags)))


def wait_result(data):
    """(rv, slot) of a C_WaitForSlotEvent reply body."""
    cid = struct.unpack(">I", data[:4])[0]
    siglen = struct.unpack(">I", data[4:8])[0]
    val = struct.unpack(">Q", data[8 + siglen:16 + siglen])[0]
    return (0, val) if cid == C_WAITFORSLOTEVENT else (val, None)


def replies(s, want, secs):
    """Reads replies until every call code in want came or secs passed:
    {code: (seconds, body)}."""
    got, t0 = {}, time.monotonic()
    while set(want) - set(got):
        left = secs - (time.monotonic() - t0)
        if left <= 0:
            break
        s.settimeout(left)
        try:
            code, _, data = read_reply(s)
        except (socket.timeout, EOFError):
            break
        got[code] = (time.monotonic() - t0, data)
    s.settimeout(30)
    return got


def session_with_key(s, pin):
    slots = ulongs(call(s, 0x11, C_GETSLOTLIST, b"yfu", b"\x01" + u32(8)))
    check(len(slots) == 1, "a slot with a token")
    sess = struct.unpack(">Q", call(s, 0x12, C_OPENSESSION, b"uu",
                                    u64(slots[0]) + u64(6))[:8])[0]
    check(call(s, 0x13, C_LOGIN, b"uuay",
               u64(sess) + u64(1) + ay(pin.encode())) is not None, "logged in")
    call(s, 0x14, C_FINDOBJECTSINIT, b"uaA", u64(sess) + u32(0))
    handles = ulongs(call(s, 0x15, C_FINDOBJECTS, b"ufu", u64(sess) + u32(32)))
    call(s, 0x16, C_FINDOBJECTSFINAL, b"u", u64(sess))
    for h in handles:
        if call(s, 0x17, C_SIGNINIT, b"uMu", u64(sess) + u32(CKM_ECDSA) + u64(h)) is not None:
            call(s, 0x18, C_SIGN, b"uayfy", u64(sess) + ay(b"\x42" * 32) + u32(256))
            return slots[0], sess, h
    fail("an ECDSA key")


def beside_wait(s, sess, key):
    """C_GetInfo, C_SignInit, C_Sign while the wait sent as 0x30 blocks."""
    s.sendall(wait_frame(0x30))
    time.sleep(0.3)
    s.sendall(frame(0x31, body(C_GETINFO, b"")))
    got = replies(s, [0x31], PROMPT_S)
    check(0x31 in got and 0x30 not in got,
          "C_GetInfo answers beside a blocked wait (%s)" %
          ("%.2f s" % got[0x31][0] if 0x31 in got else "no reply"))
    # One after the other: requests of a connection run concurrently.
    s.sendall(frame(0x32, body(C_SIGNINIT, b"uMu", u64(sess) + u32(CKM_ECDSA) + u64(key))))
    got = replies(s, [0x32], PROMPT_S)
    s.sendall(frame(0x33, body(C_SIGN, b"uayfy", u64(sess) + ay(b"\x17" * 32) + u32(256))))
    got.update(replies(s, [0x33], PROMPT_S))
    check(0x32 in got and 0x33 in got and 0x30 not in got and
          struct.unpack(">I", got[0x33][1][:4])[0] == C_SIGN,
          "C_SignInit and C_Sign answer beside it")


def serve(path, pin, vcard_pid):
    s, _ = connect(path, 2, timeout=30)
    initialize(s, 0x10)
    slot, sess, key = session_with_key(s, pin)
    s.sendall(wait_frame(0x20, CKF_DONT_BLOCK))
    check(wait_result(read_reply(s)[2]) == (CKR_NO_EVENT, None),
          "CKF_DONT_BLOCK, nothing pending: CKR_NO_EVENT")
    beside_wait(s, sess, key)
    # Pull the card: the wait answers with the slot.
    os.kill(vcard_pid, signal.SIGUSR1)
    got = replies(s, [0x30], EVENT_S)
    check(0x30 in got and wait_result(got[0x30][1]) == (0, slot),
          "pull: the wait answers with slot %d (%s)" %
          (slot, "%.2f s" % got[0x30][0] if 0x30 in got else "no reply"))
    # Insert it again: the next wait answers.
    s.sendall(wait_frame(0x34))
    time.sleep(0.3)
    os.kill(vcard_pid, signal.SIGUSR2)
    got = replies(s, [0x34], EVENT_S)
    check(0x34 in got and wait_result(got[0x34][1]) == (0, slot),
          "insert: the wait answers with slot %d (%s)" %
          (slot, "%.2f s" % got[0x34][0] if 0x34 in got else "no reply"))
    s.sendall(wait_frame(0x35, CKF_DONT_BLOCK))
    check(wait_result(read_reply(s)[2]) == (CKR_NO_EVENT, None),
          "then nothing pending: CKR_NO_EVENT")
    # C_Finalize on the connection ends its blocked wait.
    s.sendall(wait_frame(0x36))
    time.sleep(0.3)
    s.sendall(frame(0x37, body(C_FINALIZE, b"")))
    got = replies(s, [0x36, 0x37], PROMPT_S)
    check(0x36 in got and 0x37 in got and
          wait_result(got[0x36][1]) == (CKR_NOT_INIT, None),
          "C_Finalize: the blocked wait answers CKR_CRYPTOKI_NOT_INITIALIZED")
    s.close()


def block(path):
    s, _ = connect(path, 2, timeout=30)
    initialize(s, 0x10)
    s.sendall(wait_frame(0x20))
    print("blocked", flush=True)
    s.settimeout(60)
    try:
        code, _, data = read_reply(s)
        print("reply %s" % (wait_result(data),), flush=True)
    except (EOFError, ConnectionResetError):
        print("closed", flush=True)
    except socket.timeout:
        print("timeout", flush=True)


def main():
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "block":
        block(sys.argv[2])
    finish()


if __name__ == "__main__":
    main()
