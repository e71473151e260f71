#!/usr/bin/python3
"""Client steps of tests/e2e/prefer.sh, each a fresh PKCS#11 application
(one process, one connection of p11-kit-client.so to the socket that
P11_KIT_SERVER_ADDRESS names):

  prefer.py tokens        "ok" and, per slot of C_GetSlotList(CK_TRUE),
                          " SLOT:MANUFACTURER:LABEL"; also fails when
                          C_GetSlotList(CK_FALSE) lists another slot
                          (a prefer export shows no empty slot either)
  prefer.py present       the same without that check (another export)
  prefer.py empty         an export none of whose tokens is present: its
                          one slot 0 is listed, empty (the slot's info says
                          so, the token calls answer CKR_TOKEN_NOT_PRESENT),
                          other slot ids are invalid: "ok"
  prefer.py wait          lists nothing, prints "blocked", then "ok SLOT"
                          or "err CKR_..." of a blocking C_WaitForSlotEvent
  prefer.py hold PIN MANUF CMD
                          logs in on the one token shown, signs with its
                          first private key, runs CMD (a shell command),
                          waits up to 10 s until the one token shown is
                          MANUF's, in the same slot: the old session answers
                          CKR_DEVICE_REMOVED, then CKR_SESSION_HANDLE_INVALID;
                          a new session in that slot (its session info says
                          so) logs in with PIN and signs: "ok SLOT"
Exit 0 with "ok ..." on stdout, else 1 with the reason."""
import subprocess
import sys
import time

import PyKCS11

from steps import Fail, expect_err, load, main, sign, slot_list, wait_event


def shown(lib):
    """[(slot, manufacturer, label)] of the tokens listed."""
    out = []
    for s in slot_list(lib, True):
        ti = lib.getTokenInfo(s)
        out.append((s, ti.manufacturerID.strip(), ti.label.strip()))
    return out


def the_one(lib, manuf=None, secs=10.0):
    """The one token shown (MANUF's, when given), waiting up to secs."""
    end = time.time() + secs
    while True:
        t = shown(lib)
        if len(t) == 1 and (manuf is None or t[0][1] == manuf):
            return t[0][0]
        if time.time() > end:
            raise Fail("shown: %r, wanted exactly one token%s" %
                       (t, " of " + manuf if manuf else ""))
        time.sleep(0.05)


def first_key(sess):
    keys = sess.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])
    if not keys:
        raise Fail("no private key")
    return keys[0]


def cmd_present():
    return "ok" + "".join(" %d:%s:%s" % x for x in shown(load()))


def cmd_empty():
    lib = load()
    if slot_list(lib, False) != [0] or slot_list(lib, True) != []:
        raise Fail("slots %r, with a token %r" % (slot_list(lib, False),
                                                  slot_list(lib, True)))
    if lib.getSlotInfo(0).flags & PyKCS11.CKF_TOKEN_PRESENT:
        raise Fail("the empty slot says a token is present")
    expect_err("C_GetTokenInfo", lambda: lib.getTokenInfo(0),
               "CKR_TOKEN_NOT_PRESENT")
    expect_err("C_OpenSession",
               lambda: lib.openSession(0, PyKCS11.CKF_SERIAL_SESSION),
               "CKR_TOKEN_NOT_PRESENT")
    for s in (1, 2, 3):
        expect_err("C_GetSlotInfo(%d)" % s, lambda: lib.getSlotInfo(s),
                   "CKR_SLOT_ID_INVALID")
    return "ok"


def cmd_tokens():
    lib = load()
    t = shown(lib)
    every = slot_list(lib, False)
    if sorted(every) != sorted(s for s, _, _ in t):
        raise Fail("C_GetSlotList(CK_FALSE) lists %r, the tokens are %r"
                   % (every, t))
    return "ok" + "".join(" %d:%s:%s" % x for x in t)


def cmd_hold(pin, manuf, cmd):
    lib = load()
    old = the_one(lib)
    sess = lib.openSession(old, PyKCS11.CKF_SERIAL_SESSION)
    sess.login(pin)
    key = first_key(sess)
    sign(sess, key)
    subprocess.run(cmd, shell=True, check=True)
    new = the_one(lib, manuf)
    if new != old:
        raise Fail("the new token is in slot %d, not %d" % (new, old))
    expect_err("C_Sign on the token no longer shown", lambda: sign(sess, key),
               "CKR_DEVICE_REMOVED")
    expect_err("C_Sign again", lambda: sign(sess, key),
               "CKR_SESSION_HANDLE_INVALID")
    sess = lib.openSession(old, PyKCS11.CKF_SERIAL_SESSION)
    if sess.getSessionInfo().slotID != old:
        raise Fail("the session is in slot %d" % sess.getSessionInfo().slotID)
    sess.login(pin)
    sign(sess, first_key(sess))
    sess.logout()
    sess.closeSession()
    return "ok %d" % old


CMDS = {"tokens": cmd_tokens, "present": cmd_present, "empty": cmd_empty, "wait": lambda: wait_event(False), "hold": cmd_hold}


if __name__ == "__main__":
    sys.exit(main(__doc__, CMDS))
