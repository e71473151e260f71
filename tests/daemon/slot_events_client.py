#!/usr/bin/python3
"""C_WaitForSlotEvent through a stock p11-kit-client.so (ctypes, so the
calls overlap): thread A blocks in C_WaitForSlotEvent(0); C_GetInfo and
C_GetSlotList answer meanwhile; pulling the card (SIGUSR1 to the virtual
card) answers A with the slot, re-inserting it (SIGUSR2) answers the next
wait. P11_KIT_SERVER_ADDRESS names tokend. (Not C_Finalize beside a
blocked wait: p11-kit 0.24's client can abort on it, an assertion in its
own rpc-transport.c.)

usage: slot_events_client.py CLIENT.so VCARD_PID"""
import ctypes as C
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from checks import check, finish  # noqa: E402

ULONG = C.c_ulong
P = C.c_void_p
FUNCS = ("Initialize Finalize GetInfo GetFunctionList GetSlotList").split()
WAIT_INDEX = 67  # C_WaitForSlotEvent in CK_FUNCTION_LIST

lib = C.CDLL(sys.argv[1])
vcard_pid = int(sys.argv[2])
pfl = P()
if lib.C_GetFunctionList(C.byref(pfl)):
    sys.exit("C_GetFunctionList failed")
table = C.cast(pfl, C.POINTER(P))  # CK_VERSION padded to a pointer, then functions


def fn(i, *args):
    return C.CFUNCTYPE(ULONG, *args)(table[1 + i])


Initialize, Finalize = fn(0, P), fn(1, P)
GetInfo = fn(2, P)
GetSlotList = fn(4, C.c_ubyte, P, C.POINTER(ULONG))
WaitForSlotEvent = fn(WAIT_INDEX, ULONG, C.POINTER(ULONG), P)


class Waiter(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.rv, self.slot = None, ULONG(0)
        self.start()
        time.sleep(0.3)

    def run(self):
        self.rv = WaitForSlotEvent(0, C.byref(self.slot), None)


def slots():
    n = ULONG(8)
    ids = (ULONG * 8)()
    rv = GetSlotList(1, ids, C.byref(n))
    return rv, list(ids[:n.value])


check(Initialize(None) == 0, "C_Initialize")
rv, present = slots()
check(rv == 0 and len(present) == 1, "one slot with a token: %s" % present)
slot = present[0] if present else None

a = Waiter()
t0 = time.monotonic()
info = C.create_string_buffer(256)
rv = GetInfo(info)
dt = time.monotonic() - t0
check(rv == 0 and dt < 1.0 and a.is_alive(),
      "C_GetInfo beside a blocked wait: rv 0x%x in %.2f s" % (rv, dt))
t0 = time.monotonic()
os.kill(vcard_pid, signal.SIGUSR1)
a.join(5)
check(not a.is_alive() and a.rv == 0 and a.slot.value == slot,
      "pull: the wait answers slot %s (rv %s) in %.2f s" %
      (a.slot.value, a.rv, time.monotonic() - t0))
check(slots()[1] == [], "no token listed after the pull")
a = Waiter()
t0 = time.monotonic()
os.kill(vcard_pid, signal.SIGUSR2)
a.join(5)
check(not a.is_alive() and a.rv == 0 and a.slot.value == slot,
      "insert: the wait answers slot %s (rv %s) in %.2f s" %
      (a.slot.value, a.rv, time.monotonic() - t0))
check(slots()[1] == [slot], "the token is listed again")
check(Finalize(None) == 0, "C_Finalize")
finish()
