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


def der_int(b):
    b = b.lstrip(b"\0") or b"\0"
    if b[0] & 0x80:
        b = b"\0" + b
    return b"\x02" + bytes([len(b)]) + b


def ecdsa_der(rs):
    """PKCS#11's r||s as the DER SEQUENCE openssl verifies."""
    h = len(rs) // 2
    body = der_int(rs[:h]) + der_int(rs[h:])
    return b"\x30" + bytes([len(body)]) + body


def main():
    out, name, kid, n = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), int(sys.argv[4])
    lib = PyKCS11.PyKCS11Lib()
    lib.load(os.environ["E2E_CLIENT"])
    slot = lib.getSlotList(tokenPresent=True)[0]
    s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
    s.login(os.environ["TOKEND_PIN"])
    key = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_ID, kid)])[0]
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
