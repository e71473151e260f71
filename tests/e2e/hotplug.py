#!/usr/bin/python3
"""Client steps of tests/e2e/hotplug.sh, each a fresh PKCS#11 application
(one process, one connection of p11-kit-client.so; P11_KIT_SERVER_ADDRESS
says where):

  hotplug.py client READER PIN [N]  C_Initialize, slot list (waits up to
                                    10 s for READER's token), open, login,
                                    find key 01, N (default 1) ECDSA
                                    signatures, C_Finalize: "ok SLOT"
  hotplug.py slot READER            "ok SLOT present|empty" from
                                    C_GetSlotList(CK_FALSE)
  hotplug.py nologin READER         a session without login cannot sign:
                                    "ok SLOT"
  hotplug.py removed READER PIN PULL INSERT
                                    logs in and signs, runs PULL (a shell
                                    command), waits until the token is gone:
                                    the session answers CKR_DEVICE_REMOVED,
                                    then CKR_SESSION_HANDLE_INVALID; the
                                    empty slot stays listed. Runs INSERT,
                                    waits for the token: the same slot, and
                                    a new session of this application is
                                    not logged in until it logs in again:
                                    "ok SLOT"
  hotplug.py wait                   prints "blocked", then "ok SLOT" or
                                    "err CKR_..." of a blocking
                                    C_WaitForSlotEvent
Exit 0 with "ok ..." on stdout, else 1 with the reason."""
import subprocess
import sys
import time

import PyKCS11

from steps import Fail, expect_err, load, main, sign, slot_list, wait_event


def slot_of(lib, reader, present=True):
    for s in slot_list(lib, present):
        if reader in lib.getSlotInfo(s).slotDescription:
            return s
    return None


def wait_slot(lib, reader, secs=10.0):
    end = time.time() + secs
    while time.time() < end:
        s = slot_of(lib, reader)
        if s is not None:
            return s
        time.sleep(0.05)
    raise Fail("no token in '%s' after %.0f s" % (reader, secs))


def key01(sess):
    keys = sess.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
                             (PyKCS11.CKA_ID, (1,))])
    if len(keys) != 1:
        raise Fail("%d private keys with CKA_ID 01" % len(keys))
    return keys[0]


def cmd_client(reader, pin, n="1"):
    lib = load()
    slot = wait_slot(lib, reader)
    sess = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
    sess.login(pin)
    key = key01(sess)
    for _ in range(int(n)):
        sign(sess, key)
    sess.logout()
    sess.closeSession()
    del lib
    return "ok %d" % slot


def cmd_slot(reader):
    lib = load()
    s = slot_of(lib, reader, present=False)
    if s is None:
        raise Fail("no slot for '%s' in C_GetSlotList(CK_FALSE)" % reader)
    info = lib.getSlotInfo(s)
    return "ok %d %s" % (s, "present" if info.flags & PyKCS11.CKF_TOKEN_PRESENT
                         else "empty")


def cmd_nologin(reader):
    lib = load()
    slot = wait_slot(lib, reader)
    sess = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
    key = key01(sess)
    expect_err("C_Sign without login", lambda: sign(sess, key),
               "CKR_USER_NOT_LOGGED_IN")
    return "ok %d" % slot


def cmd_removed(reader, pin, pull, insert):
    lib = load()
    slot = wait_slot(lib, reader)
    sess = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
    sess.login(pin)
    key = key01(sess)
    sign(sess, key)
    subprocess.run(pull, shell=True, check=True)
    end = time.time() + 10
    while slot_of(lib, reader) is not None:
        if time.time() > end:
            raise Fail("the token still shows 10 s after the pull")
        time.sleep(0.05)
    expect_err("C_Sign after the removal", lambda: sign(sess, key),
               "CKR_DEVICE_REMOVED")
    expect_err("C_Sign again", lambda: sign(sess, key),
               "CKR_SESSION_HANDLE_INVALID")
    if slot_of(lib, reader, present=False) != slot:
        raise Fail("the empty slot left C_GetSlotList(CK_FALSE)")
    subprocess.run(insert, shell=True, check=True)
    if wait_slot(lib, reader) != slot:
        raise Fail("the re-inserted card is in another slot")
    sess = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
    state = PyKCS11.CKS[sess.getSessionInfo().state]
    if state != "CKS_RO_PUBLIC_SESSION":
        raise Fail("a new session on the re-inserted card is in %s" % state)
    if sess.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)]):
        raise Fail("private keys show before a new login")
    sess.login(pin)
    sign(sess, key01(sess))
    return "ok %d" % slot


CMDS = {"client": cmd_client, "slot": cmd_slot, "nologin": cmd_nologin,
        "removed": cmd_removed, "wait": lambda: wait_event(True)}


if __name__ == "__main__":
    sys.exit(main(__doc__, CMDS))
