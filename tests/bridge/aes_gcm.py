#!/usr/bin/python3
"""AES-GCM with PyKCS11 through the p11-kit client ($E2E_CLIENT) on the only
token with a slot, with the secret key of CKA_ID ID:

  aes_gcm.py ID PIN KEYFILE   encrypts on the token (C_Encrypt, CKM_AES_GCM,
                              12-byte IV, AAD, 128-bit tag), checks the
                              answer against AES-GCM in software with the
                              key's value (KEYFILE), decrypts it on the
                              token, and sees a tampered tag refused."""
import os
import sys

import PyKCS11
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
from checks import check, finish, log  # noqa: E402
from p11kit_client import checked, find_key, login  # noqa: E402


def main():
    if len(sys.argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    kid, pin = bytes.fromhex(sys.argv[1]), sys.argv[2]
    value = open(sys.argv[3], "rb").read()
    _, _, s = login(pin)
    key = find_key(s, PyKCS11.CKO_SECRET_KEY, kid)
    iv, aad, plain = os.urandom(12), b"header", os.urandom(100)
    mech = PyKCS11.AES_GCM_Mechanism(iv, aad, 128)
    with checked(s):
        ct = bytes(s.encrypt(key, plain, mech))
        check(len(ct) == len(plain) + 16, "C_Encrypt AES-GCM: %d bytes, the tag included" % len(ct))
        check(ct == AESGCM(value).encrypt(iv, plain, aad), "the same bytes as AES-GCM in software")
        out = bytes(s.decrypt(key, ct, mech))
        check(out == plain, "C_Decrypt AES-GCM on the token gives the plain text back")
        bad = ct[:-1] + bytes([ct[-1] ^ 1])
        try:
            s.decrypt(key, bad, mech)
            check(False, "a tampered tag is refused")
        except PyKCS11.PyKCS11Error as e:
            log("ok: a tampered tag is refused (%s)" % e)
    finish()


if __name__ == "__main__":
    sys.exit(main())
