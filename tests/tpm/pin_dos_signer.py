"""Client B of e2e_tpm_pin_dos.sh: one PyKCS11 session through the p11-kit
client (argv[1]), logged in with the user PIN (argv[2]), that signs on
request. Lines on stdin: "sign N DIR HASHFILE" signs the SHA-256 hash in
HASHFILE N times with CKM_ECDSA (key CKA_ID 01) and writes DIR/sig.I as
DER for openssl, then answers "done N"; end of input logs out. Answers
"ready" once logged in, "error WHAT" when a call fails."""

import os
import sys

import PyKCS11
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def say(line):
    print(line, flush=True)


def main():
    lib = PyKCS11.PyKCS11Lib()
    lib.load(sys.argv[1])
    slot = lib.getSlotList(tokenPresent=True)[0]
    session = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
    session.login(sys.argv[2])
    key = session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
                               (PyKCS11.CKA_ID, b"\x01")])[0]
    say("ready")
    for line in sys.stdin:
        words = line.split()
        if len(words) != 4 or words[0] != "sign":
            say("error bad request " + line.strip())
            continue
        n, out, hashfile = int(words[1]), words[2], words[3]
        digest = open(hashfile, "rb").read()
        try:
            for i in range(n):
                raw = bytes(session.sign(key, digest,
                                         PyKCS11.Mechanism(PyKCS11.CKM_ECDSA)))
                half = len(raw) // 2
                der = encode_dss_signature(int.from_bytes(raw[:half], "big"),
                                           int.from_bytes(raw[half:], "big"))
                with open(os.path.join(out, "sig.%d" % i), "wb") as f:
                    f.write(der)
        except PyKCS11.PyKCS11Error as e:
            say("error " + str(e))
            continue
        say("done %d" % n)
    session.logout()
    session.closeSession()


main()
