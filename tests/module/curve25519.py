"""tokend only: Ed25519 and X25519 (YubiKey 5.7) through PKCS#11. As SO
(management key), C_GenerateKeyPair makes an Ed25519 key in retired slot 83
(ID 06) and an X25519 key in 84 (ID 07); as user, CKM_EDDSA signs (verified
with cryptography against CKA_EC_POINT) and CKM_ECDH1_DERIVE with a software
peer gives the same secret as the peer computes.

usage: curve25519.py MGM_KEY_HEX"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from p11util import PIN, PyKCS11, check, fail, finish, find_one, find_slot, load, log  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519  # noqa: E402

OID_ED25519 = bytes.fromhex("06032B6570")
OID_X25519 = bytes.fromhex("06032B656E")
RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw

if len(sys.argv) != 2:
    fail(__doc__)
lib = load()
slot = find_slot(lib)
s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)


def point(obj):
    """CKA_EC_POINT of an Edwards/Montgomery key: 32 bytes, maybe in a DER
    OCTET STRING (PKCS#11 3.0 says raw; many modules wrap it)."""
    p = bytes(s.getAttributeValue(obj, [PyKCS11.CKA_EC_POINT])[0])
    if len(p) == 34 and p[0] == 0x04 and p[1] == 32:
        p = p[2:]
    return p


def generate(mech, oid, key_id, label, derive):
    pub_t = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_TOKEN, True),
             (PyKCS11.CKA_EC_PARAMS, oid), (PyKCS11.CKA_ID, bytes([key_id])),
             (PyKCS11.CKA_LABEL, label)]
    priv_t = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_TOKEN, True),
              (PyKCS11.CKA_PRIVATE, True), (PyKCS11.CKA_ID, bytes([key_id])),
              (PyKCS11.CKA_LABEL, label),
              (PyKCS11.CKA_DERIVE if derive else PyKCS11.CKA_SIGN, True)]
    try:
        return s.generateKeyPair(pub_t, priv_t, PyKCS11.Mechanism(mech))
    except PyKCS11.PyKCS11Error as ex:
        fail("C_GenerateKeyPair %s: %s" % (label, ex))


s.login(sys.argv[1], user_type=PyKCS11.CKU_SO)
ed_pub, ed_priv = generate(PyKCS11.CKM_EC_EDWARDS_KEY_PAIR_GEN, OID_ED25519, 6, "ed25519 83", False)
x_pub, x_priv = generate(PyKCS11.CKM_EC_MONTGOMERY_KEY_PAIR_GEN, OID_X25519, 7, "x25519 84", True)
s.logout()

s.login(PIN)
key = find_one(s, [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_ID, b"\x06")])
ktype = s.getAttributeValue(key, [PyKCS11.CKA_KEY_TYPE])[0]
check(ktype == PyKCS11.CKK_EC_EDWARDS, "ID 06 is CKK_EC_EDWARDS (got %s)" % ktype)
pub = ed25519.Ed25519PublicKey.from_public_bytes(point(ed_pub))
msg = os.urandom(100)
try:
    sig = bytes(s.sign(key, msg, PyKCS11.Mechanism(PyKCS11.CKM_EDDSA)))
    pub.verify(sig, msg)
    check(True, "Ed25519 signature verifies")
except Exception as ex:
    check(False, "Ed25519 sign/verify: %r" % ex)

key = find_one(s, [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_ID, b"\x07")])
ktype = s.getAttributeValue(key, [PyKCS11.CKA_KEY_TYPE])[0]
check(ktype == PyKCS11.CKK_EC_MONTGOMERY, "ID 07 is CKK_EC_MONTGOMERY (got %s)" % ktype)
card_pub = x25519.X25519PublicKey.from_public_bytes(point(x_pub))
peer = x25519.X25519PrivateKey.generate()
peer_pub = peer.public_key().public_bytes(*RAW)
try:
    tmpl = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY), (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_GENERIC_SECRET),
            (PyKCS11.CKA_TOKEN, False), (PyKCS11.CKA_SENSITIVE, False), (PyKCS11.CKA_EXTRACTABLE, True),
            (PyKCS11.CKA_VALUE_LEN, 32)]
    secret = s.deriveKey(key, tmpl, PyKCS11.ECDH1_DERIVE_Mechanism(peer_pub))
    value = bytes(s.getAttributeValue(secret, [PyKCS11.CKA_VALUE])[0])
    check(value == peer.exchange(card_pub), "X25519 secret equals the peer's")
except PyKCS11.PyKCS11Error as ex:
    check(False, "X25519 derive: %s" % ex)
log("Ed25519 %s, X25519 %s" % (point(ed_pub).hex(), point(x_pub).hex()))
s.logout()
s.closeSession()
finish()
