"""What the e2e client-step scripts (hotplug.py, prefer.py) share: each
step is a fresh PKCS#11 application through p11-kit-client.so (E2E_CLIENT,
else Debian's), printing "ok ..." and exiting 0, or "FAIL: reason" and 1."""
import hashlib
import os
import sys

import PyKCS11

CLIENT = os.environ.get("E2E_CLIENT",
                        "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so")


class Fail(Exception):
    pass


def ckr(e):
    return PyKCS11.CKR.get(e.value, "0x%x" % e.value)


def load():
    lib = PyKCS11.PyKCS11Lib()
    lib.load(CLIENT)
    return lib


def slot_list(lib, present):
    try:
        return lib.getSlotList(tokenPresent=present)
    except PyKCS11.PyKCS11Error as e:
        # p11-kit 0.24's client answers the list call after a count of 0
        # with CKR_BUFFER_TOO_SMALL (see p11client.py).
        if e.value == PyKCS11.CKR_BUFFER_TOO_SMALL:
            return []
        raise


def sign(sess, key):
    """One ECDSA P-256 signature of a random digest."""
    digest = hashlib.sha256(os.urandom(16)).digest()
    sig = sess.sign(key, digest, PyKCS11.Mechanism(PyKCS11.CKM_ECDSA))
    if len(sig) != 64:
        raise Fail("signature of %d bytes" % len(sig))


def expect_err(what, f, want):
    try:
        f()
    except PyKCS11.PyKCS11Error as e:
        if ckr(e) != want:
            raise Fail("%s: %s, expected %s" % (what, ckr(e), want))
        return
    raise Fail("%s succeeded, expected %s" % (what, want))


def wait_event(list_first):
    """Prints "blocked", then the blocking C_WaitForSlotEvent's answer
    (after a C_GetSlotList when list_first)."""
    lib = load()
    if list_first:
        lib.getSlotList()
    print("blocked", flush=True)
    try:
        return "ok %d" % lib.waitForSlotEvent(0)
    except PyKCS11.PyKCS11Error as e:
        return "err " + ckr(e)


def main(doc, cmds):
    """Runs the step sys.argv[1] names in cmds with the other arguments."""
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(doc, file=sys.stderr)
        return 2
    try:
        print(cmds[sys.argv[1]](*sys.argv[2:]), flush=True)
    except (Fail, PyKCS11.PyKCS11Error) as e:
        print("FAIL: %s" % (ckr(e) if isinstance(e, PyKCS11.PyKCS11Error)
                            else e), flush=True)
        return 1
    return 0
