#!/usr/bin/python3
"""One client of tests/bridge/concurrent.sh: its own process and p11-kit
connection, logs in and signs N messages with the key of CKA_ID ID, each
written as DIR/NAME.I.msg and DIR/NAME.I.sig (DER) for openssl to verify.

  concurrent.py DIR NAME ID N

Environment: E2E_CLIENT (the p11-kit client module), TOKEND_PIN; the
socket in P11_KIT_SERVER_ADDRESS."""
import hashlib
import os
import sys

import PyKCS11

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from p11kit_client import ecdsa_der, find_key, login  # noqa: E402


def main():
    out, name, kid, n = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), int(sys.argv[4])
    _, _, s = login(os.environ["TOKEND_PIN"])
    key = find_key(s, PyKCS11.CKO_PRIVATE_KEY, kid)
    ec = s.getAttributeValue(key, [PyKCS11.CKA_KEY_TYPE])[0] == PyKCS11.CKK_EC
    for i in range(n):
        msg = ("%s message %d" % (name, i)).encode()
        if ec:
            sig = ecdsa_der(bytes(s.sign(key, hashlib.sha256(msg).digest(),
                                         PyKCS11.Mechanism(PyKCS11.CKM_ECDSA))))
        else:
            sig = bytes(s.sign(key, msg, PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS)))
        base = os.path.join(out, "%s.%d" % (name, i))
        with open(base + ".msg", "wb") as f:
            f.write(msg)
        with open(base + ".sig", "wb") as f:
            f.write(sig)
    s.logout()
    s.closeSession()
    print("ok %d" % n)


if __name__ == "__main__":
    try:
        main()
    except PyKCS11.PyKCS11Error as e:
        print("err %s" % e)
        sys.exit(1)
