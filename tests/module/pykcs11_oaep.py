"""PyKCS11 against the module under test: RSA-OAEP (SHA-256, MGF1-SHA256)
encrypted in software with the token's public key, decrypted on the token,
with and without a label; C_Sign's size query with a NULL buffer, a too
small buffer, then the signature (which must verify).

usage: pykcs11_oaep.py PUB_9A.pem PUB_9D.pem PUB_9E.pem
  9A RSA-2048 (ID 01, signs), 9D RSA-2048 (ID 03, decrypts), 9E P-256 (ID 04)."""
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from p11util import (PIN, PyKCS11, apdu_count, check, ecdsa_der, fail, finish,  # noqa: E402
                     find_one, find_slot, is_tokend, load, load_pub, log, private_key)
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding  # noqa: E402

if len(sys.argv) != 4:
    fail(__doc__)
pub_9a, pub_9d, pub_9e = (load_pub(p) for p in sys.argv[1:])

lib = load()
tokend = is_tokend(lib)
slot = find_slot(lib)
s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
s.login(PIN)

# The token's public key 03 is the one we generated; encrypt with it.
pub = find_one(s, [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_ID, b"\x03")])
n, e = s.getAttributeValue(pub, [PyKCS11.CKA_MODULUS, PyKCS11.CKA_PUBLIC_EXPONENT])
check(int.from_bytes(bytes(n), "big") == pub_9d.public_numbers().n, "CKA_MODULUS of 03 is the card's")
check(int.from_bytes(bytes(e), "big") == pub_9d.public_numbers().e, "CKA_PUBLIC_EXPONENT of 03")

key = private_key(s, 3)
for label in (None, b"tokend label"):
    plain = os.urandom(48)
    ct = pub_9d.encrypt(plain, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                            algorithm=hashes.SHA256(), label=label))
    mech = PyKCS11.RSAOAEPMechanism(PyKCS11.CKM_SHA256, PyKCS11.CKG_MGF1_SHA256, label)
    try:
        out = bytes(s.decrypt(key, ct, mech))
    except PyKCS11.PyKCS11Error as ex:
        check(False, "OAEP decrypt (label %r): %s" % (label, ex))
        continue
    check(out == plain, "OAEP round trip (label %r)" % label)

# A ciphertext that is no OAEP block must not decrypt to anything (tokend:
# CKR_ENCRYPTED_DATA_INVALID as the specification says; OpenSC returns
# CKR_DATA_INVALID).
try:
    out = s.decrypt(key, b"\x00" + os.urandom(255), PyKCS11.RSAOAEPMechanism(
        PyKCS11.CKM_SHA256, PyKCS11.CKG_MGF1_SHA256))
    check(False, "OAEP decrypt of garbage returned %d bytes" % len(out))
except PyKCS11.PyKCS11Error as ex:
    ok = (ex.value == PyKCS11.CKR_ENCRYPTED_DATA_INVALID) if tokend else True
    check(ok, "OAEP decrypt of garbage fails: %s" % ex)


def raw_sign(key, mech, data, pub_verify, bits):
    """C_SignInit, C_Sign(NULL) for the size, C_Sign with a short buffer,
    C_Sign with the right one. Returns nothing; records the checks."""
    lib.lib.C_SignInit(s.session, mech.to_native(), key)
    before = apdu_count()
    sig = PyKCS11.ckbytelist()  # empty: the wrapper passes NULL
    rv = lib.lib.C_Sign(s.session, PyKCS11.ckbytelist(data), sig)
    after = apdu_count()
    check(rv == PyKCS11.CKR_OK, "%s: C_Sign(NULL) -> %s" % (bits, PyKCS11.CKR[rv]))
    size = len(sig)
    expect = {"rsa2048": 256, "p256": 64}[bits]
    check(size == expect, "%s: size query says %d (expected %d)" % (bits, size, expect))
    if tokend and before is not None:
        check(after == before, "%s: size query sent %d APDUs (expected 0)" % (bits, after - before))
    short = PyKCS11.ckbytelist([0] * 10)
    rv = lib.lib.C_Sign(s.session, PyKCS11.ckbytelist(data), short)
    check(rv == PyKCS11.CKR_BUFFER_TOO_SMALL,
          "%s: C_Sign with 10 bytes -> %s (expected CKR_BUFFER_TOO_SMALL)" % (bits, PyKCS11.CKR[rv]))
    sig = PyKCS11.ckbytelist([0] * size)
    rv = lib.lib.C_Sign(s.session, PyKCS11.ckbytelist(data), sig)
    check(rv == PyKCS11.CKR_OK, "%s: C_Sign -> %s" % (bits, PyKCS11.CKR[rv]))
    if rv != PyKCS11.CKR_OK:
        return
    try:
        pub_verify(bytes(sig[:size]))
        check(True, "%s: signature verifies" % bits)
    except Exception as ex:  # cryptography's InvalidSignature
        check(False, "%s: signature does not verify: %r" % (bits, ex))
    # The operation is over: another C_Sign has no operation.
    rv = lib.lib.C_Sign(s.session, PyKCS11.ckbytelist(data), PyKCS11.ckbytelist([0] * size))
    check(rv == PyKCS11.CKR_OPERATION_NOT_INITIALIZED,
          "%s: C_Sign after the end -> %s" % (bits, PyKCS11.CKR[rv]))


msg = os.urandom(200)
raw_sign(private_key(s, 1), PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS), msg,
         lambda sig: pub_9a.verify(sig, msg, padding.PKCS1v15(), hashes.SHA256()), "rsa2048")
digest = hashlib.sha256(msg).digest()
raw_sign(private_key(s, 4), PyKCS11.Mechanism(PyKCS11.CKM_ECDSA), digest,
         lambda sig: pub_9e.verify(ecdsa_der(sig), msg, ec.ECDSA(hashes.SHA256())), "p256")

s.logout()
s.closeSession()
log("module %s (%s)" % (os.environ["TOKEND_MODULE"], "tokend" if tokend else "other"))
finish()
