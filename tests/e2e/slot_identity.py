#!/usr/bin/python3
"""One long-lived PKCS#11 application for tests/e2e/slot_identity.sh: reads
commands on stdin, one answer line each.

  slots    "ok ID:SERIAL ..." of the present tokens (C_GetSlotList(CK_TRUE)
           + C_GetTokenInfo), sorted by serial
  quit

The module is E2E_CLIENT (p11-kit-client.so, P11_KIT_SERVER_ADDRESS says
where) or, given as argv[1], another one (tokend-pkcs11.so in-process)."""
import os
import sys

import PyKCS11

module = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    "E2E_CLIENT", "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so")
lib = PyKCS11.PyKCS11Lib()
lib.load(module)


def slot_list():
    try:
        return lib.getSlotList(tokenPresent=True)
    except PyKCS11.PyKCS11Error as e:
        # p11-kit 0.24's client answers the list call after a count of 0
        # with CKR_BUFFER_TOO_SMALL (as in hotplug.py).
        if e.value == PyKCS11.CKR_BUFFER_TOO_SMALL:
            return []
        raise


def slots():
    pairs = []
    for s in slot_list():
        try:
            serial = lib.getTokenInfo(s).serialNumber.strip()
        except PyKCS11.PyKCS11Error:
            continue  # left between the two calls
        pairs.append((serial, s))
    return "ok " + " ".join("%d:%s" % (s, serial) for serial, s in sorted(pairs))


for line in sys.stdin:
    cmd = line.strip()
    try:
        if cmd == "slots":
            out = slots()
        elif cmd == "quit":
            break
        else:
            out = "err unknown command"
    except PyKCS11.PyKCS11Error as e:
        out = "err " + PyKCS11.CKR.get(e.value, hex(e.value))
    print(out, flush=True)
