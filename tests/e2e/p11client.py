#!/usr/bin/python3
"""One PKCS#11 application (one process, one connection of p11-kit-client.so)
for the end-to-end tests, driven by commands so that a test can interleave
several applications step by step.

  p11client.py repl            one command per line on stdin, one reply line
                               each on stdout ("ok ..." or "err CKR_...")
  p11client.py run 'CMD; CMD'  runs the commands, prints the replies; exit 1
                               at the first reply that is not "ok"

Commands:
  init                 C_Initialize (loads $E2E_CLIENT, default Debian's
                       p11-kit-client.so; P11_KIT_SERVER_ADDRESS says where)
  slots                ok N: slots with a token
  flags                ok FLAG ...: CKF_ names of the token's flags
  open [rw]            C_OpenSession on the token in $TOKEND_READER's slot
                       (default 'Virtual PCD 00 00'; the only slot if one)
  login PIN|-          C_Login as user; '-' logs in with a NULL PIN
  logout
  state                ok CKS_...: C_GetSessionInfo's state
  sign ID [N]          N (default 1) signatures with the private key of
                       CKA_ID ID (hex) over SHA-256 digests: ECDSA for EC
                       keys, RSA-PSS (SHA-256, MGF1-SHA256, salt 32) for
                       RSA; each verified with $E2E_PUBDIR/pub_SLOT.pem
                       when it exists, else the token's public key
  signloop ID          signs until an error; then "err CKR_... after N"
  handle ID            ok H: the private key's object handle
  signh H              C_SignInit + C_Sign (CKM_ECDSA) with handle H
  signinit ID          C_SignInit only (an operation left open)
  oaep ID [LABEL]      RSA-OAEP round trip (SHA-256) with key ID
  keygen               C_GenerateKeyPair EC P-256 (CKA_ID 0a) -> ok or err
  finalize             C_Finalize
  sleep SECS
  quit
"""
import hashlib
import os
import sys
import time

import PyKCS11
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (Prehashed,
                                                             encode_dss_signature)

CLIENT = os.environ.get("E2E_CLIENT", "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so")
READER = os.environ.get("TOKEND_READER", "Virtual PCD 00 00")
PUBDIR = os.environ.get("E2E_PUBDIR", "")
# CKA_ID -> PIV slot, as OpenSC and tokend number them.
ID_SLOT = {1: "9a", 2: "9c", 3: "9d", 4: "9e"}


class Err(Exception):
    pass


def ckr(rv):
    return PyKCS11.CKR.get(rv, "0x%x" % rv)


class App:
    def __init__(self):
        self.lib = None
        self.slot = None
        self.s = None
        self.pubs = {}

    def need(self, what):
        if getattr(self, what) is None:
            raise Err("no %s" % {"lib": "init", "slot": "init", "s": "session"}[what])

    def call(self, f, *a):
        try:
            return f(*a)
        except PyKCS11.PyKCS11Error as e:
            raise Err(ckr(e.value))

    def c_init(self):
        lib = PyKCS11.PyKCS11Lib()
        self.call(lib.load, CLIENT)
        self.lib = lib
        return "ok"

    def token_slots(self):
        self.need("lib")
        slots = PyKCS11.LowLevel.ckintlist()
        rv = self.lib.lib.C_GetSlotList(PyKCS11.CK_TRUE, slots)
        # PyKCS11 asks for the count, then for the list. With no slot at
        # all, p11-kit 0.24's client answers the second call with
        # CKR_BUFFER_TOO_SMALL (whatever the server: `p11-kit server` too).
        if rv == PyKCS11.CKR_BUFFER_TOO_SMALL and len(slots) == 0:
            return []
        if rv != PyKCS11.CKR_OK:
            raise Err(ckr(rv))
        return [slots[i] for i in range(len(slots))]

    def c_slots(self):
        return "ok %d" % len(self.token_slots())

    def find_slot(self):
        slots = self.token_slots()
        for s in slots:
            if READER in self.lib.getSlotInfo(s).slotDescription:
                return s
        if len(slots) == 1:
            return slots[0]
        raise Err("noslot (%d slots with a token)" % len(slots))

    def c_flags(self):
        ti = self.call(self.lib.getTokenInfo, self.find_slot())
        return "ok " + " ".join(ti.flags2text() or ["-"])

    def c_open(self, rw=None):
        self.slot = self.find_slot()
        fl = PyKCS11.CKF_SERIAL_SESSION | (PyKCS11.CKF_RW_SESSION if rw else 0)
        self.s = self.call(self.lib.openSession, self.slot, fl)
        return "ok"

    def c_login(self, pin):
        self.need("s")
        self.call(self.s.login, None if pin == "-" else pin)
        return "ok"

    def c_logout(self):
        self.need("s")
        self.call(self.s.logout)
        return "ok"

    def c_state(self):
        self.need("s")
        info = PyKCS11.LowLevel.CK_SESSION_INFO()
        rv = self.lib.lib.C_GetSessionInfo(self.s.session, info)
        if rv != PyKCS11.CKR_OK:
            raise Err(ckr(rv))
        return "ok " + PyKCS11.CKS[info.state]

    def key(self, key_id):
        self.need("s")
        kid = bytes.fromhex(key_id)
        objs = self.call(self.s.findObjects, [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
                                              (PyKCS11.CKA_ID, kid)])
        if len(objs) != 1:
            raise Err("nokey (%d private keys with CKA_ID %s)" % (len(objs), key_id))
        kt = self.call(self.s.getAttributeValue, objs[0], [PyKCS11.CKA_KEY_TYPE])[0]
        return objs[0], kt, kid

    def pub(self, kid, kt):
        if kid in self.pubs:
            return self.pubs[kid]
        slot = ID_SLOT.get(kid[0]) if len(kid) == 1 else None
        path = os.path.join(PUBDIR, "pub_%s.pem" % slot) if PUBDIR and slot else ""
        if path and os.path.exists(path):
            pk = serialization.load_pem_public_key(open(path, "rb").read())
        else:
            objs = self.call(self.s.findObjects, [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY),
                                                  (PyKCS11.CKA_ID, kid)])
            if not objs:
                raise Err("nopub")
            if kt == PyKCS11.CKK_EC:
                point = bytes(self.s.getAttributeValue(objs[0], [PyKCS11.CKA_EC_POINT])[0])
                if point[0] == 0x04 and len(point) in (67, 99):  # DER OCTET STRING
                    point = point[2:]
                curve = ec.SECP256R1() if len(point) == 65 else ec.SECP384R1()
                pk = ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
            else:
                n, e = self.s.getAttributeValue(objs[0], [PyKCS11.CKA_MODULUS,
                                                          PyKCS11.CKA_PUBLIC_EXPONENT])
                pk = rsa.RSAPublicNumbers(int.from_bytes(bytes(e), "big"),
                                          int.from_bytes(bytes(n), "big")).public_key()
        self.pubs[kid] = pk
        return pk

    def mech(self, kt):
        if kt == PyKCS11.CKK_EC:
            return PyKCS11.Mechanism(PyKCS11.CKM_ECDSA)
        return PyKCS11.RSA_PSS_Mechanism(PyKCS11.CKM_RSA_PKCS_PSS, PyKCS11.CKM_SHA256,
                                         PyKCS11.CKG_MGF1_SHA256, 32)

    def sign_once(self, key, kt, kid):
        digest = hashlib.sha256(os.urandom(32)).digest()
        sig = bytes(self.call(self.s.sign, key, digest, self.mech(kt)))
        pk = self.pub(kid, kt)
        try:
            if kt == PyKCS11.CKK_EC:
                n = len(sig) // 2
                der = encode_dss_signature(int.from_bytes(sig[:n], "big"),
                                           int.from_bytes(sig[n:], "big"))
                pk.verify(der, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
            else:
                pk.verify(sig, digest, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                   salt_length=32), Prehashed(hashes.SHA256()))
        except Exception as e:  # InvalidSignature
            raise Err("badsig (%r)" % e)

    def c_sign(self, key_id, n="1"):
        key, kt, kid = self.key(key_id)
        for _ in range(int(n)):
            self.sign_once(key, kt, kid)
        return "ok %s" % n

    def c_signloop(self, key_id):
        key, kt, kid = self.key(key_id)
        n = 0
        try:
            while True:
                self.sign_once(key, kt, kid)
                n += 1
        except Err as e:
            raise Err("%s after %d" % (e, n))

    def c_handle(self, key_id):
        return "ok %d" % self.key(key_id)[0].value()

    def c_signh(self, handle):
        """C_SignInit + C_Sign (CKM_ECDSA) with a raw key handle, e.g. one
        another application found."""
        self.need("s")
        h = PyKCS11.CK_OBJECT_HANDLE(self.s)
        h.assign(int(handle))
        rv = self.lib.lib.C_SignInit(self.s.session, PyKCS11.Mechanism(PyKCS11.CKM_ECDSA).to_native(), h)
        if rv != PyKCS11.CKR_OK:
            raise Err("%s (C_SignInit)" % ckr(rv))
        sig = PyKCS11.ckbytelist([0] * 512)
        rv = self.lib.lib.C_Sign(self.s.session, PyKCS11.ckbytelist(b"\x01" * 32), sig)
        if rv != PyKCS11.CKR_OK:
            raise Err("%s (C_Sign)" % ckr(rv))
        return "ok signed %d bytes" % len(sig)

    def c_signinit(self, key_id):
        key, kt, kid = self.key(key_id)
        rv = self.lib.lib.C_SignInit(self.s.session, self.mech(kt).to_native(), key)
        if rv != PyKCS11.CKR_OK:
            raise Err(ckr(rv))
        return "ok"

    def c_oaep(self, key_id, label=""):
        """RSA-OAEP (SHA-256, MGF1-SHA256, optional label) encrypted here with
        the public key, decrypted on the token, compared."""
        key, kt, kid = self.key(key_id)
        lab = label.encode() or None
        plain = os.urandom(48)
        ct = self.pub(kid, kt).encrypt(plain, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                           algorithm=hashes.SHA256(), label=lab))
        mech = PyKCS11.RSAOAEPMechanism(PyKCS11.CKM_SHA256, PyKCS11.CKG_MGF1_SHA256, lab)
        out = bytes(self.call(self.s.decrypt, key, ct, mech))
        if out != plain:
            raise Err("wrong plaintext (%d bytes)" % len(out))
        return "ok"

    def c_keygen(self):
        self.need("s")
        pub_t = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC),
                 (PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_ID, b"\x0a"),
                 (PyKCS11.CKA_EC_PARAMS, bytes.fromhex("06082a8648ce3d030107"))]
        priv_t = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC),
                  (PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_ID, b"\x0a"), (PyKCS11.CKA_SIGN, True)]
        self.call(self.s.generateKeyPair, pub_t, priv_t,
                  PyKCS11.Mechanism(PyKCS11.CKM_EC_KEY_PAIR_GEN))
        return "ok"

    def c_finalize(self):
        self.need("lib")
        rv = self.lib.lib.C_Finalize()
        self.s = None
        if rv != PyKCS11.CKR_OK:
            raise Err(ckr(rv))
        return "ok"

    def c_sleep(self, secs):
        time.sleep(float(secs))
        return "ok"

    def do(self, line):
        words = line.split()
        if not words:
            return None
        f = getattr(self, "c_" + words[0], None)
        if f is None:
            return "err unknown command %s" % words[0]
        try:
            return f(*words[1:])
        except Err as e:
            return "err %s" % e
        except TypeError as e:
            return "err usage: %s" % e


def main():
    app = App()
    if len(sys.argv) == 2 and sys.argv[1] == "repl":
        for line in sys.stdin:
            if line.strip() == "quit":
                break
            r = app.do(line)
            if r is not None:
                print(r, flush=True)
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "run":
        for cmd in sys.argv[2].split(";"):
            r = app.do(cmd)
            if r is None:
                continue
            print("%s: %s" % (cmd.strip(), r), flush=True)
            if not r.startswith("ok"):
                return 1
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
