"""tokend only: every PIV key slot, every algorithm, through PKCS#11.

  all_slots.py gen MGM_HEX STATE.json   as SO (management key), C_GenerateKeyPair
                                        into all 24 key slots (9A 9C 9D 9E 82..95,
                                        CKA_ID 01..18), cycling RSA-1024..4096,
                                        P-256, P-384, Ed25519, X25519; the public
                                        keys go to STATE.json
  all_slots.py use STATE.json DIR       a fresh process: all 24 keys are found with
                                        their CKA_ID, label, key type and the public
                                        key generation returned; every signing key
                                        signs (ECDSA, RSA-PKCS, EdDSA) and
                                        cryptography verifies; ECDH/X25519 derive
                                        equals the peer's secret; 9C (PIN always)
                                        refuses C_Sign until CKU_CONTEXT_SPECIFIC;
                                        the F9 certificate is listed (ID 19) and
                                        the attestation of every key verifies
                                        against it (openssl verify)."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from p11util import PIN, PyKCS11, apdu_count, check, ecdsa_der, fail, finish, find_slot, load, log  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils, x25519  # noqa: E402

CKA_TOKEND_ATTESTATION = 0x80000000 | 0x544B0003
OID = {"p256": bytes.fromhex("06082A8648CE3D030107"), "p384": bytes.fromhex("06052B81040022"),
       "ed25519": bytes.fromhex("06032B6570"), "x25519": bytes.fromhex("06032B656E")}
REFS = [0x9A, 0x9C, 0x9D, 0x9E] + list(range(0x82, 0x96))
# One algorithm per slot, in REFS order: RSA-4096 once (slow on a software
# card), every other algorithm at least twice.
ALGS = ["p256", "rsa2048", "x25519", "ed25519", "p384", "rsa1024", "rsa3072", "rsa4096",
        "ed25519", "x25519", "p256", "p384", "rsa1024", "rsa2048", "ed25519", "x25519",
        "p256", "p384", "rsa1024", "rsa2048", "ed25519", "x25519", "p256", "rsa3072"]
KTYPE = {"p256": PyKCS11.CKK_EC, "p384": PyKCS11.CKK_EC, "ed25519": PyKCS11.CKK_EC_EDWARDS,
         "x25519": PyKCS11.CKK_EC_MONTGOMERY}
FIXED = {1: "PIV AUTH key", 2: "SIGN key", 3: "KEY MAN key", 4: "CARD AUTH key"}
RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw
DER_SPKI = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
SHA256_DIGESTINFO = bytes.fromhex("3031300d060960864801650304020105000420")


def label_of(key_id):
    return FIXED.get(key_id, "RETIRED KEY %d" % (key_id - 4))


def point(s, obj):
    """CKA_EC_POINT without a DER OCTET STRING wrapper."""
    p = bytes(s.getAttributeValue(obj, [PyKCS11.CKA_EC_POINT])[0])
    if p[0] == 0x04 and len(p) >= 2 and p[1] == len(p) - 2:
        return p[2:]
    if p[0] == 0x04 and len(p) >= 3 and p[1] == 0x81 and p[2] == len(p) - 3:
        return p[3:]
    return p


def public_key(s, obj, alg):
    """The public key of a PKCS#11 public-key object, for cryptography."""
    if alg.startswith("rsa"):
        n, e = s.getAttributeValue(obj, [PyKCS11.CKA_MODULUS, PyKCS11.CKA_PUBLIC_EXPONENT])
        return rsa.RSAPublicNumbers(int.from_bytes(bytes(e), "big"),
                                    int.from_bytes(bytes(n), "big")).public_key()
    p = point(s, obj)
    if alg == "p256":
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p)
    if alg == "p384":
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), p)
    if alg == "ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(p)
    return x25519.X25519PublicKey.from_public_bytes(p)


def der_of(pub):
    return pub.public_bytes(*DER_SPKI)


def gen(mgm_hex, state_path):
    lib = load()
    s = lib.openSession(find_slot(lib), PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    s.login(mgm_hex, user_type=PyKCS11.CKU_SO)
    out = {}
    for ref, alg in zip(REFS, ALGS):
        key_id = REFS.index(ref) + 1
        pub_t = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_TOKEN, True),
                 (PyKCS11.CKA_ID, bytes([key_id]))]
        priv_t = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_TOKEN, True),
                  (PyKCS11.CKA_PRIVATE, True), (PyKCS11.CKA_ID, bytes([key_id]))]
        if alg.startswith("rsa"):
            mech = PyKCS11.CKM_RSA_PKCS_KEY_PAIR_GEN
            pub_t += [(PyKCS11.CKA_MODULUS_BITS, int(alg[3:])),
                      (PyKCS11.CKA_PUBLIC_EXPONENT, b"\x01\x00\x01")]
        else:
            mech = {"ed25519": PyKCS11.CKM_EC_EDWARDS_KEY_PAIR_GEN,
                    "x25519": PyKCS11.CKM_EC_MONTGOMERY_KEY_PAIR_GEN}.get(alg, PyKCS11.CKM_EC_KEY_PAIR_GEN)
            pub_t.append((PyKCS11.CKA_EC_PARAMS, OID[alg]))
        t0 = time.monotonic()
        try:
            pub, _ = s.generateKeyPair(pub_t, priv_t, PyKCS11.Mechanism(mech))
        except PyKCS11.PyKCS11Error as ex:
            fail("C_GenerateKeyPair %s in %02X: %s" % (alg, ref, ex))
        out[str(key_id)] = {"alg": alg, "ref": ref, "spki": der_of(public_key(s, pub, alg)).hex()}
        log("generated %s in %02X (ID %02x) in %.1f s" % (alg, ref, key_id, time.monotonic() - t0))
    s.logout()
    s.closeSession()
    json.dump(out, open(state_path, "w"))
    finish()


def find(s, cls, key_id):
    return s.findObjects([(PyKCS11.CKA_CLASS, cls), (PyKCS11.CKA_ID, bytes([key_id]))])


def raw_sign(s, key, mech, data, context_pin=None):
    """C_SignInit, [C_Login(CKU_CONTEXT_SPECIFIC)], C_Sign: (rv, signature)."""
    rv = s.lib.C_SignInit(s.session, mech.to_native(), key)
    if rv != PyKCS11.CKR_OK:
        return rv, None
    if context_pin is not None:
        s.login(context_pin, user_type=PyKCS11.CKU_CONTEXT_SPECIFIC)
    sig = PyKCS11.ckbytelist([0] * 1024)
    rv = s.lib.C_Sign(s.session, PyKCS11.ckbytelist(data), sig)
    return rv, bytes(sig) if rv == PyKCS11.CKR_OK else None


def sign_and_verify(s, key, key_id, alg, pub, always):
    msg = os.urandom(64)
    try:
        if alg.startswith("rsa"):
            digest = hashes.Hash(hashes.SHA256())
            digest.update(msg)
            h = digest.finalize()
            mech, data = PyKCS11.Mechanism(PyKCS11.CKM_RSA_PKCS), SHA256_DIGESTINFO + h
        elif alg in ("p256", "p384"):
            hc = hashes.SHA256() if alg == "p256" else hashes.SHA384()
            digest = hashes.Hash(hc)
            digest.update(msg)
            mech, data = PyKCS11.Mechanism(PyKCS11.CKM_ECDSA), digest.finalize()
        else:
            mech, data = PyKCS11.Mechanism(PyKCS11.CKM_EDDSA), msg
        if always:
            rv, _ = raw_sign(s, key, mech, data)
            check(rv == PyKCS11.CKR_USER_NOT_LOGGED_IN,
                  "ID %02x (PIN always): C_Sign without CKU_CONTEXT_SPECIFIC -> %s"
                  % (key_id, PyKCS11.CKR.get(rv, rv)))
        rv, sig = raw_sign(s, key, mech, data, PIN if always else None)
        if not check(rv == PyKCS11.CKR_OK, "ID %02x %s: C_Sign -> %s" % (key_id, alg, PyKCS11.CKR.get(rv, rv))):
            return
        if alg.startswith("rsa"):
            pub.verify(sig, h, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        elif alg in ("p256", "p384"):
            pub.verify(ecdsa_der(sig), data, ec.ECDSA(utils.Prehashed(hc)))
        else:
            pub.verify(sig, msg)
        check(True, "ID %02x %s: signature verifies" % (key_id, alg))
    except Exception as ex:  # noqa: BLE001 - any failure is the test's
        check(False, "ID %02x %s: sign/verify: %r" % (key_id, alg, ex))


def derive_and_compare(s, key, key_id, alg, pub):
    if alg == "x25519":
        peer = x25519.X25519PrivateKey.generate()
        peer_pub = peer.public_key().public_bytes(*RAW)
        expect, vlen = peer.exchange(pub), 32
    else:
        peer = ec.generate_private_key(pub.curve)
        peer_pub = peer.public_key().public_bytes(serialization.Encoding.X962,
                                                  serialization.PublicFormat.UncompressedPoint)
        expect = peer.exchange(ec.ECDH(), pub)
        vlen = len(expect)
    tmpl = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY), (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_GENERIC_SECRET),
            (PyKCS11.CKA_TOKEN, False), (PyKCS11.CKA_SENSITIVE, False), (PyKCS11.CKA_EXTRACTABLE, True),
            (PyKCS11.CKA_VALUE_LEN, vlen)]
    try:
        secret = s.deriveKey(key, tmpl, PyKCS11.ECDH1_DERIVE_Mechanism(peer_pub))
        value = bytes(s.getAttributeValue(secret, [PyKCS11.CKA_VALUE])[0])
        check(value == expect, "ID %02x %s: derived secret equals the peer's" % (key_id, alg))
        s.destroyObject(secret)
    except PyKCS11.PyKCS11Error as ex:
        check(False, "ID %02x %s: derive: %s" % (key_id, alg, ex))


def check_attestation(s, key, key_id, spki, f9_pem, tmp):
    try:
        att = bytes(s.getAttributeValue(key, [CKA_TOKEND_ATTESTATION], allAsBinary=True)[0])
    except PyKCS11.PyKCS11Error as ex:
        check(False, "ID %02x: CKA_TOKEND_ATTESTATION: %s" % (key_id, ex))
        return
    cert = x509.load_der_x509_certificate(att)
    check(der_of(cert.public_key()) == spki, "ID %02x: attestation certifies the key's public key" % key_id)
    path = os.path.join(tmp, "attest_%02x.pem" % key_id)
    with open(path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    r = subprocess.run(["openssl", "verify", "-CAfile", f9_pem, "-partial_chain", path],
                       capture_output=True, text=True)
    check(r.returncode == 0, "ID %02x: attestation verifies against F9 (%s)" % (key_id, (r.stdout + r.stderr).strip()))


def token_info_flags(lib, slot, what):
    """C_GetTokenInfo's flags, checking that the call sent no APDU."""
    before = apdu_count()
    flags = lib.getTokenInfo(slot).flags
    check(apdu_count() == before, "C_GetTokenInfo %s sends no APDU" % what)
    return flags


def token_info_costs_nothing(lib, slot, s):
    """A wrong PIN: CKF_USER_PIN_COUNT_LOW; the right one clears it; the
    token info comes from memory either way. Leaves the session logged in."""
    try:
        s.login("999999")
        check(False, "a wrong PIN logs in")
    except PyKCS11.PyKCS11Error as ex:
        check(ex.value == PyKCS11.CKR_PIN_INCORRECT, "wrong PIN: %s" % ex)
    flags = token_info_flags(lib, slot, "after a wrong PIN")
    check(flags & PyKCS11.CKF_USER_PIN_COUNT_LOW and not flags & PyKCS11.CKF_USER_PIN_FINAL_TRY,
          "CKF_USER_PIN_COUNT_LOW after one wrong PIN (flags %#x)" % flags)
    s.login(PIN)
    flags = token_info_flags(lib, slot, "after login")
    check(not flags & (PyKCS11.CKF_USER_PIN_COUNT_LOW | PyKCS11.CKF_USER_PIN_FINAL_TRY |
                       PyKCS11.CKF_USER_PIN_LOCKED),
          "no PIN warning flag after a good login (flags %#x)" % flags)


def use(state_path, tmp):
    state = json.load(open(state_path))
    lib = load()
    slot = find_slot(lib)
    s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
    token_info_costs_nothing(lib, slot, s)
    keys = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])
    check(len(keys) == 24, "24 private keys found (got %d)" % len(keys))
    f9 = find(s, PyKCS11.CKO_CERTIFICATE, 0x19)
    if not check(len(f9) == 1, "the F9 attestation certificate is listed with CKA_ID 19"):
        fail("no F9 certificate")
    f9_der = bytes(s.getAttributeValue(f9[0], [PyKCS11.CKA_VALUE])[0])
    f9_pem = os.path.join(tmp, "f9.pem")
    with open(f9_pem, "wb") as f:
        f.write(x509.load_der_x509_certificate(f9_der).public_bytes(serialization.Encoding.PEM))
    for key_id in range(1, 25):
        st = state[str(key_id)]
        alg = st["alg"]
        privs, pubs = find(s, PyKCS11.CKO_PRIVATE_KEY, key_id), find(s, PyKCS11.CKO_PUBLIC_KEY, key_id)
        if not check(len(privs) == 1 and len(pubs) == 1,
                     "ID %02x: one private and one public key (%d, %d)" % (key_id, len(privs), len(pubs))):
            continue
        key = privs[0]
        label, ktype, always = s.getAttributeValue(
            key, [PyKCS11.CKA_LABEL, PyKCS11.CKA_KEY_TYPE, PyKCS11.CKA_ALWAYS_AUTHENTICATE])
        check(label == label_of(key_id), "ID %02x: label '%s'" % (key_id, label))
        check(ktype == KTYPE.get(alg, PyKCS11.CKK_RSA), "ID %02x: key type %s for %s" % (key_id, ktype, alg))
        check(bool(always) == (key_id == 2), "ID %02x: CKA_ALWAYS_AUTHENTICATE %s" % (key_id, bool(always)))
        pub = public_key(s, pubs[0], alg)
        check(der_of(pub).hex() == st["spki"], "ID %02x: public key is the one generated" % key_id)
        if alg == "x25519":
            derive_and_compare(s, key, key_id, alg, pub)
        else:
            sign_and_verify(s, key, key_id, alg, pub, bool(always))
            if alg in ("p256", "p384") and key_id > 4:
                derive_and_compare(s, key, key_id, alg, pub)
        check_attestation(s, key, key_id, bytes.fromhex(st["spki"]), f9_pem, tmp)
    s.logout()
    s.closeSession()
    finish()


if len(sys.argv) == 4 and sys.argv[1] == "gen":
    gen(sys.argv[2], sys.argv[3])
elif len(sys.argv) == 4 and sys.argv[1] == "use":
    use(sys.argv[2], sys.argv[3])
else:
    fail(__doc__)
