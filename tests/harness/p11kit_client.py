"""PyKCS11 through p11-kit-client.so, what the client scripts of the bridge
and daemon tests share (found on the path as checks.py is): the client
($E2E_CLIENT, else Debian's; P11_KIT_SERVER_ADDRESS names the socket), the
token's slot, a logged-in session, a key by CKA_ID, and ECDSA's r || s as
the DER openssl verifies.

  lib, slot, s = login(pin)          the only slot with a token
  lib, slot, s = login(pin, label=L) the slot whose token is labelled L
  lib, s = rw_session(pin)           read-write, on the only token
  key = find_key(s, PyKCS11.CKO_PRIVATE_KEY, b"\\x01")
  with checked(s): ...               a PyKCS11 error fails the test
"""
import contextlib
import os

import PyKCS11

from checks import fail

CLIENT = os.environ.get("E2E_CLIENT",
                        "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so")


def load(path=None):
    lib = PyKCS11.PyKCS11Lib()
    lib.load(path or CLIENT)
    return lib


def token_slot(lib, label=None):
    """The one slot with a token (label: with that token label; SoftHSMv2
    itself also shows its free slot's blank token); the test stops if there
    is not exactly one."""
    slots = lib.getSlotList(tokenPresent=True)
    if label is not None:
        slots = [x for x in slots if lib.getTokenInfo(x).label.strip() == label]
    if len(slots) != 1:
        fail("%d slots with %s" % (len(slots), "the token " + label if label else "a token"))
    return slots[0]


def login(pin, path=None, label=None, flags=PyKCS11.CKF_SERIAL_SESSION):
    """A session on token_slot logged in as the user: (lib, slot, session).
    path: the module to load instead of the client."""
    lib = load(path)
    slot = token_slot(lib, label)
    s = lib.openSession(slot, flags)
    s.login(pin)
    return lib, slot, s


def rw_session(pin=None):
    """A read-write session on token_slot, logged in as the user when pin
    is given: (lib, session)."""
    lib = load()
    s = lib.openSession(token_slot(lib), PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    if pin:
        s.login(pin)
    return lib, s


def find_key(s, cls, kid):
    """The one object of class cls with CKA_ID kid (bytes); the test stops
    if there is not exactly one."""
    objs = s.findObjects([(PyKCS11.CKA_CLASS, cls), (PyKCS11.CKA_ID, kid)])
    if len(objs) != 1:
        fail("%d objects of class %d with CKA_ID %s" % (len(objs), cls, kid.hex()))
    return objs[0]


@contextlib.contextmanager
def checked(s):
    """The block's PyKCS11 error fails the test; s logs out however the
    block ends."""
    try:
        yield s
    except PyKCS11.PyKCS11Error as e:
        fail("PyKCS11: %s" % e)
    finally:
        s.logout()


def _der_int(b):
    b = b.lstrip(b"\0") or b"\0"
    if b[0] & 0x80:
        b = b"\0" + b
    return b"\x02" + bytes([len(b)]) + b


def ecdsa_der(rs):
    """PKCS#11's r || s as the DER SEQUENCE openssl verifies."""
    h = len(rs) // 2
    body = _der_int(rs[:h]) + _der_int(rs[h:])
    return b"\x30" + bytes([len(body)]) + body
