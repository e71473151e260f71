"""One PyKCS11 session of the module under test signs (ECDSA P-256, ID 01),
then another program uses the card (the command in argv: yubico-piv-tool),
then the same session signs again without logging in again. Both signatures
must verify.

usage: other_program.py PUB.pem CMD [ARGS...]"""
import hashlib
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from p11util import (PIN, PyKCS11, check, ecdsa_der, fail, finish, find_slot,  # noqa: E402
                     load, load_pub, log, private_key)
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

if len(sys.argv) < 3:
    fail(__doc__)
pub = load_pub(sys.argv[1])
lib = load()
s = lib.openSession(find_slot(lib), PyKCS11.CKF_SERIAL_SESSION)
s.login(PIN)
key = private_key(s, 1)


def sign_and_verify(what):
    msg = os.urandom(64)
    try:
        sig = bytes(s.sign(key, hashlib.sha256(msg).digest(), PyKCS11.Mechanism(PyKCS11.CKM_ECDSA)))
    except PyKCS11.PyKCS11Error as ex:
        check(False, "%s: C_Sign: %s" % (what, ex))
        return
    try:
        pub.verify(ecdsa_der(sig), msg, ec.ECDSA(hashes.SHA256()))
        check(True, "%s: signature verifies" % what)
    except Exception as ex:
        check(False, "%s: signature does not verify: %r" % (what, ex))


sign_and_verify("first signature")
for cmd in sys.argv[2:]:
    log("running: " + cmd)
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60)
    log(r.stdout + r.stderr)
    check(r.returncode == 0, "other program: %s (exit %d)" % (cmd, r.returncode))
sign_and_verify("signature after the other program")
s.logout()
s.closeSession()
finish()
