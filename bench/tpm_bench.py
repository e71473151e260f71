#!/usr/bin/python3
"""One contender of bench/tpm.sh (it drives this script).

Loads --module (tokend's in-process module, p11-kit-client.so on tokend's
socket, or tpm2-pkcs11), finds the token labelled --token, opens one
session and logs in once; generates --keygen EC P-256 and RSA-2048 key
pairs in the TPM (C_GenerateKeyPair, wall time each), then signs in a loop
for --secs seconds per key type with the last key of each (CKM_ECDSA over a
SHA-256 digest; CKM_SHA256_RSA_PKCS over 34 bytes), verifying the first
signature of each with openssl. With --keygen 0 it signs with the keys
CKA_ID --id-base (EC) and --id-base + 0x40 (RSA) made in an earlier run. Prints
one JSON line: {"ec_keygen_ms": [...], "rsa_keygen_ms": [...],
"ec_per_s": N, "rsa_per_s": N}.

  tpm_bench.py --module SO --token LABEL --pin PIN [--keygen N] [--secs S]
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import PyKCS11

P256_OID = bytes.fromhex("06082a8648ce3d030107")


def open_session(a):
    lib = PyKCS11.PyKCS11Lib()
    lib.load(a.module)
    for _ in range(100):  # a token that is still arriving
        for slot in lib.getSlotList(tokenPresent=True):
            if lib.getTokenInfo(slot).label.strip() == a.token:
                s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
                s.login(a.pin)
                return lib, s
        time.sleep(0.1)
    sys.exit("token %r not found in %s" % (a.token, a.module))


def keygen(s, kind, kid):
    common = [(PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_ID, kid),
              (PyKCS11.CKA_LABEL, "bench-" + kid.hex())]
    if kind == "ec":
        pub = common + [(PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC),
                        (PyKCS11.CKA_EC_PARAMS, P256_OID), (PyKCS11.CKA_VERIFY, True)]
        priv = common + [(PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC), (PyKCS11.CKA_PRIVATE, True),
                         (PyKCS11.CKA_SENSITIVE, True), (PyKCS11.CKA_SIGN, True)]
        mech = PyKCS11.Mechanism(PyKCS11.CKM_EC_KEY_PAIR_GEN)
    else:
        pub = common + [(PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_RSA), (PyKCS11.CKA_MODULUS_BITS, 2048),
                        (PyKCS11.CKA_PUBLIC_EXPONENT, (1, 0, 1)), (PyKCS11.CKA_VERIFY, True)]
        priv = common + [(PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_RSA), (PyKCS11.CKA_PRIVATE, True),
                         (PyKCS11.CKA_SENSITIVE, True), (PyKCS11.CKA_SIGN, True)]
        mech = PyKCS11.MechanismRSAGENERATEKEYPAIR
    t0 = time.monotonic()
    pubh, privh = s.generateKeyPair(pub, priv, mech)
    return (time.monotonic() - t0) * 1000, pubh, privh


def pub_der(s, kind, pubh):
    """SubjectPublicKeyInfo DER of the public key, for openssl."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    if kind == "ec":
        point = bytes(s.getAttributeValue(pubh, [PyKCS11.CKA_EC_POINT])[0])
        if point[0] == 0x04 and len(point) == 67:  # DER OCTET STRING wrapper
            point = point[2:]
        k = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    else:
        n, e = s.getAttributeValue(pubh, [PyKCS11.CKA_MODULUS, PyKCS11.CKA_PUBLIC_EXPONENT])
        k = rsa.RSAPublicNumbers(int.from_bytes(bytes(e), "big"),
                                 int.from_bytes(bytes(n), "big")).public_key()
    return k.public_bytes(serialization.Encoding.DER,
                          serialization.PublicFormat.SubjectPublicKeyInfo)


def verify(s, kind, pubh, data, sig):
    """openssl checks the first signature, so a rate of failures counts nothing."""
    with tempfile.TemporaryDirectory() as t:
        open(os.path.join(t, "pub.der"), "wb").write(pub_der(s, kind, pubh))
        open(os.path.join(t, "data"), "wb").write(data)
        if kind == "ec":  # raw r||s to DER
            n = len(sig) // 2
            from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
            sig = encode_dss_signature(int.from_bytes(sig[:n], "big"),
                                       int.from_bytes(sig[n:], "big"))
        open(os.path.join(t, "sig"), "wb").write(sig)
        cmd = ["openssl", "dgst", "-sha256", "-keyform", "DER", "-verify",
               os.path.join(t, "pub.der"), "-signature", os.path.join(t, "sig"),
               os.path.join(t, "data")]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("%s signature does not verify: %s" % (kind, r.stdout + r.stderr))


def rate(s, kind, pubh, privh, secs):
    data = b"tokend tpm bench " * 2
    if kind == "ec":
        mech, payload = PyKCS11.Mechanism(PyKCS11.CKM_ECDSA), hashlib.sha256(data).digest()
    else:
        mech, payload = PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS), data
    verify(s, kind, pubh, data, bytes(s.sign(privh, payload, mech)))
    n, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < secs:
        s.sign(privh, payload, mech)
        n += 1
    return n / (time.monotonic() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--module", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--pin", required=True)
    ap.add_argument("--keygen", type=int, default=3)
    ap.add_argument("--secs", type=float, default=5)
    ap.add_argument("--id-base", type=int, default=1)
    a = ap.parse_args()
    lib, s = open_session(a)
    out = {}
    for kind in ("ec", "rsa"):
        times = []
        for i in range(a.keygen):
            kid = bytes([a.id_base + i + (0x40 if kind == "rsa" else 0)])
            ms, pubh, privh = keygen(s, kind, kid)
            times.append(round(ms, 1))
        if not a.keygen:  # the key made in an earlier run
            kid = bytes([a.id_base + (0x40 if kind == "rsa" else 0)])
            pubh, privh = (s.findObjects([(PyKCS11.CKA_CLASS, c), (PyKCS11.CKA_ID, kid)])[0]
                           for c in (PyKCS11.CKO_PUBLIC_KEY, PyKCS11.CKO_PRIVATE_KEY))
        out[kind + "_keygen_ms"] = times
        out[kind + "_per_s"] = round(rate(s, kind, pubh, privh, a.secs), 1)
    s.logout()
    s.closeSession()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
