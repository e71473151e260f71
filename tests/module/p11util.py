"""PyKCS11 helpers for tests/module (Debian's /usr/bin/python3).

The module under test comes from $TOKEND_MODULE, the reader from
$TOKEND_READER (default 'Virtual PCD 00 00'), the APDU log of the virtual
card from $TOKEND_APDU_LOG (optional)."""

import os
import sys

import PyKCS11
from PyKCS11 import LowLevel  # noqa: F401  (re-exported for the tests)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PIN = os.environ.get("TOKEND_PIN", "123456")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from checks import check, fail, finish, log, require_ok  # noqa: E402,F401  (re-exported)


def load():
    path = os.environ.get("TOKEND_MODULE")
    if not path:
        fail("TOKEND_MODULE must name the PKCS#11 module under test")
    lib = PyKCS11.PyKCS11Lib()
    lib.load(path)
    return lib


def is_tokend(lib):
    kind = os.environ.get("TOKEND_MODULE_KIND")
    if kind:
        return kind == "tokend"
    return lib.getInfo().manufacturerID.strip() == "tokend"


def find_slot(lib, reader=None):
    """The slot with a token whose description names our reader."""
    reader = reader or os.environ.get("TOKEND_READER", "Virtual PCD 00 00")
    for s in lib.getSlotList(tokenPresent=True):
        if reader in lib.getSlotInfo(s).slotDescription:
            return s
    fail("no slot with a token in '%s'" % reader)


def find_one(session, template):
    objs = session.findObjects(template)
    if len(objs) != 1:
        fail("%d objects match %r" % (len(objs), template))
    return objs[0]


def private_key(session, key_id):
    return find_one(session, [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
                              (PyKCS11.CKA_ID, bytes([key_id]))])


def load_pub(path):
    return serialization.load_pem_public_key(open(path, "rb").read())


def apdu_count():
    """Lines (= exchanges) in the virtual card's APDU log so far, or None."""
    p = os.environ.get("TOKEND_APDU_LOG")
    if not p:
        return None
    with open(p, "rb") as f:
        return sum(1 for _ in f)


def ecdsa_der(raw):
    """PKCS#11's r||s as a DER ECDSA-Sig-Value, for cryptography's verify."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    n = len(raw) // 2
    return encode_dss_signature(int.from_bytes(raw[:n], "big"), int.from_bytes(raw[n:], "big"))


__all__ = ["PyKCS11", "LowLevel", "ec", "rsa", "log", "fail", "check", "finish", "load",
           "is_tokend", "find_slot", "find_one", "private_key", "load_pub", "apdu_count",
           "ecdsa_der", "PIN"]
