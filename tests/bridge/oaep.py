#!/usr/bin/python3
"""RSA-OAEP with PyKCS11 through the p11-kit client ($E2E_CLIENT) on the
only token with a slot (the bridged SoftHSMv2 token):

  oaep.py ID PIN                 encrypts 48 random bytes with the public key
                                 of CKA_ID ID (C_Encrypt), decrypts them with
                                 the private key on the token, compares
  oaep.py ID PIN IN OUT          decrypts the file IN on the token into OUT

OAEP with SHA-1 and MGF1-SHA1, no label: all SoftHSMv2 2.6 decrypts (it
answers CKR_ARGUMENTS_BAD to any other hash)."""
import os
import sys

import PyKCS11

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
from checks import check, finish, log  # noqa: E402
from p11kit_client import checked, find_key, login  # noqa: E402

MECH = PyKCS11.RSAOAEPMechanism(PyKCS11.CKM_SHA_1, PyKCS11.CKG_MGF1_SHA1)


def main():
    if len(sys.argv) not in (3, 5):
        sys.stderr.write(__doc__)
        return 2
    kid, pin = bytes.fromhex(sys.argv[1]), sys.argv[2]
    _, _, s = login(pin)
    priv = find_key(s, PyKCS11.CKO_PRIVATE_KEY, kid)
    with checked(s):
        if len(sys.argv) == 5:
            ct = open(sys.argv[3], "rb").read()
            open(sys.argv[4], "wb").write(bytes(s.decrypt(priv, ct, MECH)))
            log("ok: decrypted %s on the token" % sys.argv[3])
            return 0
        plain = os.urandom(48)
        ct = bytes(s.encrypt(find_key(s, PyKCS11.CKO_PUBLIC_KEY, kid), plain, MECH))
        check(len(ct) == 256 and ct != plain, "C_Encrypt with the public key: %d bytes" % len(ct))
        out = bytes(s.decrypt(priv, ct, MECH))
        check(out == plain, "C_Decrypt on the token gives the plain text back")
    finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
