#!/usr/bin/python3
"""Keys of which a module holds only some parts, through tokend's socket
with PyKCS11 and the p11-kit client ($E2E_CLIENT). IDs are hex.

  parts.py lone PIN ID DATA SIG
      before and after login, the objects of CKA_ID ID are exactly one
      public key (no private key); C_Verify with it accepts SIG over DATA
      (CKM_SHA256_RSA_PKCS) and refuses SIG with a bit flipped
  parts.py privonly PIN ID DATA SIG
      a search before login first (tokend reads the token without the
      private objects); after login the objects of CKA_ID ID are exactly
      one private key (also after a search of all objects, which reads
      the private objects), which signs DATA into SIG
      (CKM_SHA256_RSA_PKCS)
  parts.py destroy PIN ID
      C_DestroyObject of the private key of CKA_ID ID; then, in the same
      and in a new connection, the objects of CKA_ID ID are exactly one
      public key"""
import os
import sys

import PyKCS11

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
from checks import check, fail, finish  # noqa: E402
from p11kit_client import rw_session  # noqa: E402

SHA256_RSA = PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS, None)


def session():
    return rw_session()


def classes(s, kid):
    """The classes of the objects of CKA_ID kid, sorted by name, and the
    objects; a search by class too, so a front end's per-class paths are
    all asked."""
    objs = s.findObjects([(PyKCS11.CKA_ID, kid)])
    names = sorted(PyKCS11.CKO[s.getAttributeValue(o, [PyKCS11.CKA_CLASS])[0]] for o in objs)
    for cls in (PyKCS11.CKO_PRIVATE_KEY, PyKCS11.CKO_PUBLIC_KEY):
        n = len(s.findObjects([(PyKCS11.CKA_CLASS, cls), (PyKCS11.CKA_ID, kid)]))
        want = names.count(PyKCS11.CKO[cls])
        check(n == want, "%d %s of the ID by class, %d by ID alone" % (n, PyKCS11.CKO[cls], want))
    return names, objs


def lone(kid, data_file, sig_file):
    lib, s = session()
    data = open(data_file, "rb").read()
    sig = open(sig_file, "rb").read()
    names, objs = classes(s, kid)
    check(names == ["CKO_PUBLIC_KEY"], "before login: one public key of the ID: %s" % names)
    s.login(PIN)
    names, objs = classes(s, kid)
    check(names == ["CKO_PUBLIC_KEY"], "after login: one public key of the ID: %s" % names)
    if objs:
        try:
            ok = s.verify(objs[0], data, sig, SHA256_RSA)
        except PyKCS11.PyKCS11Error as e:
            ok = False
            print("C_Verify: %s" % e)
        check(ok, "C_Verify with the lone public key accepts openssl's signature")
        bad = bytearray(sig)
        bad[-1] ^= 1
        try:
            ok = s.verify(objs[0], data, bytes(bad), SHA256_RSA)
        except PyKCS11.PyKCS11Error:
            ok = False
        check(not ok, "and refuses a signature with a bit flipped")
    s.logout()
    s.closeSession()


def privonly(kid, data_file, sig_file):
    lib, s = session()
    s.findObjects([])  # tokend reads the token before login
    s.login(PIN)
    names, objs = classes(s, kid)
    check(names == ["CKO_PRIVATE_KEY"], "after login: one private key of the ID: %s" % names)
    s.findObjects([])  # a search that reads what login shows, whatever it is
    names, objs = classes(s, kid)
    check(names == ["CKO_PRIVATE_KEY"], "after a search of all: one private key of the ID: %s" % names)
    if objs:
        try:
            sig = bytes(s.sign(objs[0], open(data_file, "rb").read(), SHA256_RSA))
            open(sig_file, "wb").write(sig)
        except PyKCS11.PyKCS11Error as e:
            check(False, "the private key alone signs: %s" % e)
    s.logout()
    s.closeSession()


def destroy(kid):
    lib, s = session()
    s.login(PIN)
    s.findObjects([])  # the private objects read with this login's handles
    privs = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_ID, kid)])
    check(len(privs) == 1, "one private key of the ID before (%d)" % len(privs))
    if privs:
        s.destroyObject(privs[0])
    names, objs = classes(s, kid)
    check(names == ["CKO_PUBLIC_KEY"], "after C_DestroyObject: one public key of the ID: %s" % names)
    s.logout()
    s.closeSession()
    lib, s = session()
    s.login(PIN)
    names, objs = classes(s, kid)
    check(names == ["CKO_PUBLIC_KEY"], "a new connection: one public key of the ID: %s" % names)
    s.logout()
    s.closeSession()


PIN = None
if sys.argv[1] == "lone":
    PIN = sys.argv[2]
    lone(bytes.fromhex(sys.argv[3]), sys.argv[4], sys.argv[5])
elif sys.argv[1] == "privonly":
    PIN = sys.argv[2]
    privonly(bytes.fromhex(sys.argv[3]), sys.argv[4], sys.argv[5])
elif sys.argv[1] == "destroy":
    PIN = sys.argv[2]
    destroy(bytes.fromhex(sys.argv[3]))
else:
    fail("usage: see the docstring")
finish()
