#!/usr/bin/python3
"""Keys whose CKA_IDs repeat, through tokend's socket with PyKCS11 and the
p11-kit client ($E2E_CLIENT):

  dupid.py pairs PIN LABEL...
      each LABEL names one private and one public key; the private key
      shows the public value (CKA_MODULUS, CKA_EC_POINT) of its public key,
      and the CKA_ID and key type; both are CKA_MODIFIABLE (SoftHSMv2's
      default)
  dupid.py stable PIN LABEL...
      the handles of the keys LABEL name the same keys after a key pair of
      CKA_ID 01 is generated (the cache grows) and destroyed, its private
      key first (its public key stays), then its public key
  dupid.py batch PIN CERT.der
      in one connection (the cache grows and shrinks object by object): an
      RSA pair rsa-e of CKA_ID 01, an EC pair ec-e of CKA_ID 02, CERT.der as
      a certificate batch-cert of CKA_ID 01, a data object batch-data, and
      ec-e destroyed again (its private key, then its public key)
  dupid.py sign PIN LABEL DATA SIG
      the private key LABEL signs DATA into SIG (DER for ECDSA), for
      openssl dgst -sha256 -verify: CKM_SHA256_RSA_PKCS, or CKM_ECDSA over
      the SHA-256 digest (Debian's p11-kit client has no CKM_ECDSA_SHA256).
      By label: pkcs11-tool 0.23's --sign ignores --label (the first
      private key signs)"""
import hashlib
import os
import sys

import PyKCS11
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
from checks import check, fail, finish  # noqa: E402
from p11kit_client import rw_session  # noqa: E402



def one(s, cls, label):
    objs = s.findObjects([(PyKCS11.CKA_CLASS, cls), (PyKCS11.CKA_LABEL, label)])
    check(len(objs) == 1, "one %s %s (%d)" % (PyKCS11.CKO[cls], label, len(objs)))
    return objs[0] if objs else None


def session(pin):
    return rw_session(pin)


def sign(pin, label, data_file, sig_file):
    lib, s = session(pin)
    key = one(s, PyKCS11.CKO_PRIVATE_KEY, label)
    if key is None:
        fail("no private key " + label)
    data = open(data_file, "rb").read()
    if s.getAttributeValue(key, [PyKCS11.CKA_KEY_TYPE])[0] == PyKCS11.CKK_RSA:
        sig = bytes(s.sign(key, data, PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS, None)))
    else:
        rs = bytes(s.sign(key, hashlib.sha256(data).digest(), PyKCS11.Mechanism(PyKCS11.CKM_ECDSA, None)))
        n = len(rs) // 2
        sig = encode_dss_signature(int.from_bytes(rs[:n], "big"), int.from_bytes(rs[n:], "big"))
    open(sig_file, "wb").write(sig)
    s.logout()
    s.closeSession()


def pairs(pin, labels):
    lib, s = session(pin)
    for label in labels:
        priv = one(s, PyKCS11.CKO_PRIVATE_KEY, label)
        pub = one(s, PyKCS11.CKO_PUBLIC_KEY, label)
        if priv is None or pub is None:
            continue
        kt = s.getAttributeValue(pub, [PyKCS11.CKA_KEY_TYPE])[0]
        value = PyKCS11.CKA_MODULUS if kt == PyKCS11.CKK_RSA else PyKCS11.CKA_EC_POINT
        types = [PyKCS11.CKA_ID, PyKCS11.CKA_KEY_TYPE, value]
        a = s.getAttributeValue(priv, types)
        b = s.getAttributeValue(pub, types)
        check(a == b, "%s: the private key's CKA_ID, key type and %s are its public key's"
              % (label, PyKCS11.CKA[value]))
        for o, what in ((priv, "private"), (pub, "public")):
            m = s.getAttributeValue(o, [PyKCS11.CKA_MODIFIABLE])[0]
            check(bool(m), "%s: the %s key is CKA_MODIFIABLE, as in SoftHSMv2" % (label, what))
    s.logout()
    s.closeSession()


def keypair(s, label, kid, ec=False):
    """A token key pair generated through tokend; its private key."""
    T = PyKCS11.CK_TRUE
    if ec:
        m = PyKCS11.Mechanism(PyKCS11.CKM_EC_KEY_PAIR_GEN, None)
        size = [(PyKCS11.CKA_EC_PARAMS, bytes.fromhex("06082a8648ce3d030107"))]
    else:
        m = PyKCS11.MechanismRSAGENERATEKEYPAIR
        size = [(PyKCS11.CKA_MODULUS_BITS, 2048), (PyKCS11.CKA_PUBLIC_EXPONENT, (1, 0, 1))]
    _, priv = s.generateKeyPair(
        [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_TOKEN, T),
         (PyKCS11.CKA_ID, (kid,)), (PyKCS11.CKA_LABEL, label), (PyKCS11.CKA_VERIFY, T)] + size,
        [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_TOKEN, T),
         (PyKCS11.CKA_ID, (kid,)), (PyKCS11.CKA_LABEL, label), (PyKCS11.CKA_SIGN, T),
         (PyKCS11.CKA_PRIVATE, T), (PyKCS11.CKA_SENSITIVE, T)], m)
    return priv


def stable(pin, labels):
    lib, s = session(pin)
    held = []
    for label in labels:
        for cls in (PyKCS11.CKO_PRIVATE_KEY, PyKCS11.CKO_PUBLIC_KEY):
            o = one(s, cls, label)
            if o is not None:
                held.append((o, label, PyKCS11.CKO[cls]))

    def same(when):
        for o, label, cls in held:
            got = s.getAttributeValue(o, [PyKCS11.CKA_LABEL])[0]
            check(got == label, "%s %s's handle names it %s (%s)" % (cls, label, when, got))

    priv = keypair(s, "rsa-d", 1)
    same("after a key pair of CKA_ID 01 was generated")
    check(s.getAttributeValue(priv, [PyKCS11.CKA_LABEL])[0] == "rsa-d", "the new private key is rsa-d")
    s.destroyObject(priv)  # that object alone: its public key stays
    pubs = s.findObjects([(PyKCS11.CKA_LABEL, "rsa-d")])
    check(len(pubs) == 1 and s.getAttributeValue(pubs[0], [PyKCS11.CKA_CLASS])[0]
          == PyKCS11.CKO_PUBLIC_KEY, "rsa-d's public key stays")
    same("after its private key was destroyed")
    for o in pubs:
        s.destroyObject(o)
    check(not s.findObjects([(PyKCS11.CKA_LABEL, "rsa-d")]), "rsa-d is gone")
    same("after it was destroyed")
    s.logout()
    s.closeSession()


def batch(pin, cert_file):
    lib, s = session(pin)
    T = PyKCS11.CK_TRUE
    keypair(s, "rsa-e", 1)
    ec = keypair(s, "ec-e", 2, ec=True)
    der = open(cert_file, "rb").read()
    # (SoftHSMv2 wants CKA_SUBJECT: without, C_CreateObject fails yet
    # leaves the object behind until it restarts)
    subject = x509.load_der_x509_certificate(der).subject.public_bytes()
    s.createObject([(PyKCS11.CKA_CLASS, PyKCS11.CKO_CERTIFICATE), (PyKCS11.CKA_TOKEN, T),
                    (PyKCS11.CKA_CERTIFICATE_TYPE, PyKCS11.CKC_X_509), (PyKCS11.CKA_ID, (1,)),
                    (PyKCS11.CKA_LABEL, "batch-cert"), (PyKCS11.CKA_SUBJECT, subject),
                    (PyKCS11.CKA_VALUE, der)])
    s.createObject([(PyKCS11.CKA_CLASS, PyKCS11.CKO_DATA), (PyKCS11.CKA_TOKEN, T),
                    (PyKCS11.CKA_LABEL, "batch-data"), (PyKCS11.CKA_VALUE, b"batch")])
    s.destroyObject(ec)  # that object alone, then its public key
    for o in s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_LABEL, "ec-e")]):
        s.destroyObject(o)
    for label, n in (("rsa-e", 2), ("ec-e", 0), ("batch-cert", 1), ("batch-data", 1)):
        got = len(s.findObjects([(PyKCS11.CKA_LABEL, label)]))
        check(got == n, "%d objects %s (want %d)" % (got, label, n))
    s.logout()
    s.closeSession()


if sys.argv[1] == "sign":
    sign(*sys.argv[2:6])
elif sys.argv[1] == "batch":
    batch(sys.argv[2], sys.argv[3])
elif sys.argv[1] == "stable":
    stable(sys.argv[2], sys.argv[3:])
else:
    pairs(sys.argv[2], sys.argv[3:])
finish()
