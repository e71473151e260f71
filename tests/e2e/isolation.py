#!/usr/bin/python3
"""Isolation of applications behind one socket: every client is its own
process with its own connection (p11client.py repl), driven step by step.

  * A logs in; B (another connection) cannot sign: CKR_USER_NOT_LOGGED_IN;
    B's session is still public.
  * A's C_Finalize leaves B working: B logged in before keeps signing without
    logging in again; a client that logs in after A finalized signs too.
  * A client killed with SIGKILL while logged in with an operation open
    leaves nothing behind: the next client's session is public and it cannot
    sign without logging in (then it can).
  * While A is logged in, B (logged out) and C (never logged in) find no
    private object, read none by any handle number up to 64, and B's
    handles of the private key and the private data object (Printed
    Information), taken while B was logged in, are invalid for reading
    and signing (tokend: CKR_OBJECT_HANDLE_INVALID / CKR_KEY_HANDLE_INVALID).

Environment: TOKEND_PIN (default 123456), E2E_STRICT=1 to demand the exact
CKR codes (tokend), E2E_PREFIX (a command prefix for the clients, split on
spaces), plus p11client.py's."""
import os
import selectors
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "module"))
from p11util import PIN, check, finish, log  # noqa: E402

STRICT = os.environ.get("E2E_STRICT") == "1"
PREFIX = os.environ.get("E2E_PREFIX", "").split()


class Client:
    def __init__(self, name):
        self.name = name
        self.p = subprocess.Popen(PREFIX + [sys.executable, os.path.join(HERE, "p11objects.py"), "repl"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.p.stdout, selectors.EVENT_READ)

    def __call__(self, cmd, timeout=60):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        if not self.sel.select(timeout):
            r = "hang (no reply in %d s)" % timeout
        else:
            r = self.p.stdout.readline().strip() or "eof (client died)"
        log("  %s: %s -> %s" % (self.name, cmd, r))
        return r

    def ok(self, cmd, what=None):
        r = self(cmd)
        check(r.startswith("ok"), "%s: %s" % (self.name, what or cmd))
        return r

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write("quit\n")
                self.p.stdin.flush()
            except BrokenPipeError:
                pass
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                check(False, "%s did not exit" % self.name)

    def kill(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait()


HIDDEN_CODES = ("err CKR_USER_NOT_LOGGED_IN", "err CKR_KEY_HANDLE_INVALID",
                "err CKR_OBJECT_HANDLE_INVALID")


def refused(r, what, hidden=False):
    """r must be an error; with E2E_STRICT, CKR_USER_NOT_LOGGED_IN, or when
    the private key is hidden before login (CKA_PRIVATE) and a handle of
    another application or from before C_Logout was tried, an invalid
    handle (PKCS#11: handles are per application, and C_Logout invalidates
    the handles of private objects)."""
    if STRICT:
        codes = HIDDEN_CODES if hidden else HIDDEN_CODES[:1]
        return check(r.startswith(codes), "%s: %s" % (what, r))
    return check(r.startswith("err"), "%s: %s" % (what, r))


def sign_or_handle(c, handle):
    """c signs with key 01; if the key is hidden, with the handle given.
    Returns (reply, hidden)."""
    r = c("sign 01")
    if r.startswith("err nokey"):
        return c("signh %s" % handle), True
    return r, False


log("== A logs in, B cannot sign")
a, b = Client("A"), Client("B")
for c in (a, b):
    c.ok("init")
    c.ok("open")
# B's own handle of the key, from its own login, before A logs in.
b.ok("login " + PIN, "B logs in")
b_handle = b("handle 01").split()[-1]
b.ok("logout", "B logs out")
a.ok("login " + PIN)
a.ok("sign 01 2", "A signs")
check(a("state") == "ok CKS_RO_USER_FUNCTIONS", "A's session is logged in")
check(b("state") == "ok CKS_RO_PUBLIC_SESSION", "B's session stays public while A is logged in")
# The private key may be hidden before login (CKA_PRIVATE): B then tries
# the handle it had while logged in, and the handle A found.
r, hidden = sign_or_handle(b, b_handle)
refused(r, "B's C_Sign while A is logged in is refused", hidden)
if hidden:
    r = b("signh %s" % a("handle 01").split()[-1])
    refused(r, "B's C_Sign with A's key handle is refused", True)
a.ok("sign 01", "A still signs")


def privates(reply):
    """The H:CLASS:ID:PRIV entries of an objects/scan reply that are
    private."""
    return [e for e in reply.split()[1:] if e.endswith(":1")]


log("== while A is logged in, B (logged out) and C (never) see nothing private")
b.ok("login " + PIN, "B logs in again")
b_key = b("handle 01").split()[-1]
b_data = b("datah").split()[-1]
check(b_data.isdigit(), "B (logged in) finds the private data object")
check(privates(b("objects")) != [], "B (logged in) finds private objects")
b.ok("logout", "B logs out again")
c = Client("C")
c.ok("init")
c.ok("open")
for cl in (b, c):
    r = cl("objects")
    check(r.startswith("ok") and privates(r) == [], "%s finds no private object: %s" % (cl.name, r))
    r = cl("scan 64")
    check(r.startswith("ok") and privates(r) == [],
          "%s reads no private object by any handle up to 64: %s" % (cl.name, r))
if STRICT:
    for h in (b_key, b_data):
        r = b("read %s" % h)
        check(r == "err CKR_OBJECT_HANDLE_INVALID", "B's handle %s is invalid after its logout: %s" % (h, r))
    r = b("signh %s" % b_key)
    check(r.startswith("err CKR_KEY_HANDLE_INVALID"), "B cannot sign with its old key handle: %s" % r)
    for cl in (b, c):
        r = cl("usable 64")
        check(r == "ok", "%s can start no signature with any handle up to 64: %s" % (cl.name, r))
check(a("state") == "ok CKS_RO_USER_FUNCTIONS", "A is still logged in")
a.ok("sign 01", "A still signs after B's and C's attempts")
c.ok("finalize")
c.close()

log("== A's C_Finalize leaves B working")
b2 = Client("B2")
b2.ok("init")
b2.ok("open")
b2.ok("login " + PIN, "B2 logs in while A is logged in")
a.ok("finalize", "A's C_Finalize")
a.close()
time.sleep(0.3)
b2.ok("sign 01 2", "B2 (logged in before) signs after A's C_Finalize")
check(b2("state") == "ok CKS_RO_USER_FUNCTIONS", "B2 still logged in after A's C_Finalize")
check(b("state") == "ok CKS_RO_PUBLIC_SESSION", "B's session survives A's C_Finalize")
b.ok("login " + PIN, "B logs in after A finalized")
b.ok("sign 01 2", "B signs after A finalized")
for c in (b, b2):
    c.ok("logout")
    c.ok("finalize")
    c.close()

log("== a client killed mid-session leaves nothing behind")
k = Client("K")
k.ok("init")
k.ok("open rw")
k.ok("login " + PIN)
k.ok("sign 01")
k_handle = k("handle 01").split()[-1]
k.ok("signinit 01", "K leaves a signing operation open")
k.kill()
log("  K killed with SIGKILL")
time.sleep(0.5)
d = Client("D")
d.ok("init")
d.ok("open rw")
check(d("state") in ("ok CKS_RO_PUBLIC_SESSION", "ok CKS_RW_PUBLIC_SESSION"),
      "D's new session is public (no login left by K)")
r, hidden = sign_or_handle(d, k_handle)
refused(r, "D cannot sign without logging in", hidden)
d.ok("login " + PIN, "D logs in")
d.ok("sign 01 2", "D signs")
d.ok("finalize")
d.close()
finish()
