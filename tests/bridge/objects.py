#!/usr/bin/python3
"""Object calls through tokend's socket on a SoftHSMv2 token, with PyKCS11
(and ctypes for C_CopyObject, which PyKCS11 lacks) through the p11-kit
client ($E2E_CLIENT), on the only token with a slot:

  objects.py import PIN KEY.pem CERT.der DATA SIG
      C_CreateObject of an RSA private key (its numbers from KEY.pem) and
      of its certificate as token objects; both found again; DATA signed
      (CKM_SHA256_RSA_PKCS) with the key into SIG (openssl checks it)
  objects.py copyset PIN
      a token AES key (C_CreateObject), C_CopyObject with the label
      "aes-copy", C_SetAttributeValue of the original's label to
      "aes-renamed"
  objects.py flags PIN
      a secret key and a data object made with CKA_MODIFIABLE and
      CKA_COPYABLE false read them back false, others (SoftHSMv2's
      defaults) true; the unmodifiable key's label cannot be changed
  objects.py labels PIN LABEL...
      every LABEL names a secret key here (a second connection), and
      "aes-orig" none
  objects.py wrap PIN
      C_WrapKey of an AES key under another (CKM_AES_CBC) and under an RSA
      public key of the session (CKM_RSA_PKCS), both checked in software;
      C_UnwrapKey with the RSA private key, and the unwrapped key encrypts
      a block as the original and as AES in software do
  objects.py hold PIN LABEL HANDLEFILE GOFILE
      connection A: a session AES key LABEL, its handle into HANDLEFILE,
      then waits for GOFILE and leaves without closing anything
  objects.py intrude PIN LABEL HANDLE
      connection B: finds no object LABEL (its own session key of that
      label only), cannot read, use, copy or change handle HANDLE
  objects.py count PIN LABEL N
      N objects LABEL are found
  objects.py readonly PIN
      on a read-only export: each writing call answers
      CKR_TOKEN_WRITE_PROTECTED; session keys are still made and wrap"""
import ctypes
import os
import sys
import time

import PyKCS11
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
from checks import check, fail, finish, log  # noqa: E402
from p11kit_client import rw_session  # noqa: E402

CLIENT = os.environ.get("E2E_CLIENT", "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so")
T = PyKCS11.CK_TRUE
F = PyKCS11.CK_FALSE


def session(pin):
    return rw_session(pin)


def rv_of(fn, *args):
    """The CK_RV a PyKCS11 call raised (CKR_OK when it did not)."""
    try:
        fn(*args)
        return PyKCS11.CKR_OK
    except PyKCS11.PyKCS11Error as e:
        return e.value


def refused(rv, want, what):
    name = PyKCS11.CKR.get(rv, hex(rv))
    if want is None:
        return check(rv != PyKCS11.CKR_OK, "%s refused (%s)" % (what, name))
    return check(rv == want, "%s: %s (want %s)" % (what, name, PyKCS11.CKR[want]))


def aes_tmpl(label, value, token=False, **extra):
    t = [
        (PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY),
        (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES),
        (PyKCS11.CKA_TOKEN, T if token else F),
        (PyKCS11.CKA_LABEL, label),
        (PyKCS11.CKA_VALUE, value),
        (PyKCS11.CKA_ENCRYPT, T),
        (PyKCS11.CKA_DECRYPT, T),
    ]
    t += [(getattr(PyKCS11, "CKA_" + k), v) for k, v in extra.items()]
    return t


def ecb(s, key, block):
    return bytes(s.encrypt(key, block, PyKCS11.Mechanism(PyKCS11.CKM_AES_ECB, None)))


def soft_ecb(value, block):
    e = Cipher(algorithms.AES(value), modes.ECB()).encryptor()
    return e.update(block) + e.finalize()


def labels_of(s, cls=PyKCS11.CKO_SECRET_KEY):
    return [s.getAttributeValue(o, [PyKCS11.CKA_LABEL])[0] for o in s.findObjects([(PyKCS11.CKA_CLASS, cls)])]


# ---- C_CopyObject through ctypes: a connection of its own ----


class Attr(ctypes.Structure):
    _fields_ = [("type", ctypes.c_ulong), ("pValue", ctypes.c_void_p), ("ulValueLen", ctypes.c_ulong)]


class Raw:
    """The few PKCS#11 calls C_CopyObject needs, from the client's function
    list (CK_FUNCTION_LIST: a CK_VERSION, then the pointers in order)."""

    INDEX = {
        "C_Initialize": 0, "C_GetSlotList": 4, "C_OpenSession": 12, "C_Login": 18,
        "C_CopyObject": 21, "C_FindObjectsInit": 26, "C_FindObjects": 27, "C_FindObjectsFinal": 28,
    }

    def __init__(self):
        so = ctypes.CDLL(CLIENT)
        fl = ctypes.c_void_p()
        if so.C_GetFunctionList(ctypes.byref(fl)) != 0:
            fail("C_GetFunctionList")
        self.fl = fl.value
        rv = self.call("C_Initialize", None)
        if rv not in (0, PyKCS11.CKR_CRYPTOKI_ALREADY_INITIALIZED):
            fail("ctypes C_Initialize: 0x%x" % rv)

    def call(self, name, *args):
        ptr = ctypes.c_void_p.from_address(self.fl + 8 + 8 * self.INDEX[name]).value
        fn = ctypes.CFUNCTYPE(ctypes.c_ulong, *([ctypes.c_void_p] * len(args)))(ptr)
        return fn(*args)

    def open(self, pin):
        slots, n = (ctypes.c_ulong * 8)(), ctypes.c_ulong(8)
        if self.call("C_GetSlotList", ctypes.c_void_p(1), slots, ctypes.byref(n)) != 0 or n.value != 1:
            fail("ctypes C_GetSlotList")
        h = ctypes.c_ulong()
        flags = PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION
        if self.call("C_OpenSession", ctypes.c_void_p(slots[0]), ctypes.c_void_p(flags), None, None,
                     ctypes.byref(h)) != 0:
            fail("ctypes C_OpenSession")
        self.s = h.value
        p = pin.encode()
        rv = self.call("C_Login", ctypes.c_void_p(self.s), ctypes.c_void_p(PyKCS11.CKU_USER), p,
                       ctypes.c_void_p(len(p)))
        if rv not in (0, PyKCS11.CKR_USER_ALREADY_LOGGED_IN):
            fail("ctypes C_Login: 0x%x" % rv)
        return self

    def find_label(self, label):
        v = label.encode()
        a = Attr(PyKCS11.CKA_LABEL, ctypes.cast(ctypes.c_char_p(v), ctypes.c_void_p), len(v))
        hs, n = (ctypes.c_ulong * 16)(), ctypes.c_ulong()
        self.call("C_FindObjectsInit", ctypes.c_void_p(self.s), ctypes.byref(a), ctypes.c_void_p(1))
        self.call("C_FindObjects", ctypes.c_void_p(self.s), hs, ctypes.c_void_p(16), ctypes.byref(n))
        self.call("C_FindObjectsFinal", ctypes.c_void_p(self.s))
        return list(hs[: n.value])

    def copy(self, h, label):
        """C_CopyObject with a new label: (CK_RV, new handle)."""
        v = label.encode()
        buf = ctypes.create_string_buffer(v, len(v))
        a = Attr(PyKCS11.CKA_LABEL, ctypes.cast(buf, ctypes.c_void_p), len(v))
        out = ctypes.c_ulong()
        rv = self.call("C_CopyObject", ctypes.c_void_p(self.s), ctypes.c_void_p(h), ctypes.byref(a),
                       ctypes.c_void_p(1), ctypes.byref(out))
        return rv, out.value


# ---- the steps ----


def do_import(pin, key_pem, cert_der, data_file, sig_file):
    priv = serialization.load_pem_private_key(open(key_pem, "rb").read(), None)
    n = priv.private_numbers()
    cert = open(cert_der, "rb").read()
    subject = x509.load_der_x509_certificate(cert).subject.public_bytes()
    kid = b"\x41"

    _, s = session(pin)
    key = s.createObject([
        (PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
        (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_RSA),
        (PyKCS11.CKA_TOKEN, T),
        (PyKCS11.CKA_PRIVATE, T),
        (PyKCS11.CKA_SENSITIVE, T),
        (PyKCS11.CKA_SIGN, T),
        (PyKCS11.CKA_ID, kid),
        (PyKCS11.CKA_LABEL, "imported"),
        (PyKCS11.CKA_MODULUS, be(n.public_numbers.n)),
        (PyKCS11.CKA_PUBLIC_EXPONENT, be(n.public_numbers.e)),
        (PyKCS11.CKA_PRIVATE_EXPONENT, be(n.d)),
        (PyKCS11.CKA_PRIME_1, be(n.p)),
        (PyKCS11.CKA_PRIME_2, be(n.q)),
        (PyKCS11.CKA_EXPONENT_1, be(n.dmp1)),
        (PyKCS11.CKA_EXPONENT_2, be(n.dmq1)),
        (PyKCS11.CKA_COEFFICIENT, be(n.iqmp)),
    ])
    log("ok: C_CreateObject of an RSA-2048 private key (handle %d)" % key.value())
    crt = s.createObject([
        (PyKCS11.CKA_CLASS, PyKCS11.CKO_CERTIFICATE),
        (PyKCS11.CKA_CERTIFICATE_TYPE, PyKCS11.CKC_X_509),
        (PyKCS11.CKA_TOKEN, T),
        (PyKCS11.CKA_ID, kid),
        (PyKCS11.CKA_LABEL, "imported-cert"),
        (PyKCS11.CKA_SUBJECT, subject),
        (PyKCS11.CKA_VALUE, cert),
    ])
    log("ok: C_CreateObject of its certificate (handle %d)" % crt.value())
    a = s.getAttributeValue(key, [PyKCS11.CKA_LABEL, PyKCS11.CKA_ID, PyKCS11.CKA_TOKEN])
    check(a[0] == "imported" and bytes(a[1]) == kid and a[2], "the key's handle names it: label, CKA_ID, token")
    v = s.getAttributeValue(crt, [PyKCS11.CKA_VALUE])[0]
    check(bytes(v) == cert, "the certificate's handle gives its DER back")
    found = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_LABEL, "imported")])
    check(len(found) == 1 and found[0].value() == key.value(), "a search finds the key under the same handle")
    data = open(data_file, "rb").read()
    sig = bytes(s.sign(key, data, PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS, None)))
    check(len(sig) == 256, "C_Sign with the imported key: %d bytes" % len(sig))
    open(sig_file, "wb").write(sig)
    s.logout()
    finish()


def do_copyset(pin):
    _, s = session(pin)
    orig = s.createObject(aes_tmpl("aes-orig", os.urandom(32), token=True, ID=b"\x21"))
    raw = Raw().open(pin)
    hs = raw.find_label("aes-orig")
    if len(hs) != 1:
        fail("the ctypes connection finds %d keys aes-orig" % len(hs))
    rv, new = raw.copy(hs[0], "aes-copy")
    check(rv == 0 and new != 0, "C_CopyObject with the label aes-copy (CK_RV 0x%x)" % rv)
    s.setAttributeValue(orig, [(PyKCS11.CKA_LABEL, "aes-renamed")])
    log("ok: C_SetAttributeValue of CKA_LABEL")
    check(s.getAttributeValue(orig, [PyKCS11.CKA_LABEL])[0] == "aes-renamed", "the handle reads the new label")
    s.logout()
    finish()


def do_flags(pin):
    """(PyKCS11 takes CKA_COPYABLE for a byte array: one byte it is.)"""
    _, s = session(pin)
    kinds = ((PyKCS11.CKA_MODIFIABLE, "CKA_MODIFIABLE"), (PyKCS11.CKA_COPYABLE, "CKA_COPYABLE"))

    def data(label, **extra):
        t = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_DATA), (PyKCS11.CKA_TOKEN, F),
             (PyKCS11.CKA_LABEL, label), (PyKCS11.CKA_VALUE, b"flags")]
        return s.createObject(t + [(getattr(PyKCS11, "CKA_" + k), v) for k, v in extra.items()])

    made = (
        (s.createObject(aes_tmpl("aes-fixed", os.urandom(16), MODIFIABLE=F, COPYABLE=b"\0")), False, "key aes-fixed"),
        (s.createObject(aes_tmpl("aes-free", os.urandom(16))), True, "key aes-free"),
        (data("data-fixed", MODIFIABLE=F, COPYABLE=b"\0"), False, "data object data-fixed"),
        (data("data-free"), True, "data object data-free"),
    )
    for h, want, what in made:
        got = s.getAttributeValue(h, [k for k, _ in kinds])
        for (_, name), v in zip(kinds, got):
            v = v[0] if isinstance(v, (list, tuple)) and len(v) == 1 else v
            check(bool(v) == want, "%s: %s %s (want %s)" % (what, name, bool(v), want))
    refused(rv_of(s.setAttributeValue, made[0][0], [(PyKCS11.CKA_LABEL, "aes-moved")]), None,
            "C_SetAttributeValue on the unmodifiable key")
    s.logout()
    finish()


def do_labels(pin, want):
    _, s = session(pin)
    got = labels_of(s)
    for w in want:
        check(w in got, "this connection sees the secret key %s" % w)
    check("aes-orig" not in got, "and no key aes-orig any more")
    s.logout()
    finish()


def be(x):
    return x.to_bytes((x.bit_length() + 7) // 8, "big")


def rsa_session_pair(s, kid):
    """A software RSA-2048 key made session objects: public (CKA_WRAP) and
    private (CKA_UNWRAP) key, CKA_ID kid."""
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = priv.private_numbers()
    common = [(PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_RSA), (PyKCS11.CKA_TOKEN, F), (PyKCS11.CKA_ID, kid),
              (PyKCS11.CKA_MODULUS, be(n.public_numbers.n)), (PyKCS11.CKA_PUBLIC_EXPONENT, be(n.public_numbers.e))]
    pub = s.createObject(common + [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_WRAP, T),
                                   (PyKCS11.CKA_LABEL, "rsa-wrap")])
    prv = s.createObject(common + [
        (PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_UNWRAP, T), (PyKCS11.CKA_PRIVATE, T),
        (PyKCS11.CKA_LABEL, "rsa-unwrap"), (PyKCS11.CKA_PRIVATE_EXPONENT, be(n.d)), (PyKCS11.CKA_PRIME_1, be(n.p)),
        (PyKCS11.CKA_PRIME_2, be(n.q)), (PyKCS11.CKA_EXPONENT_1, be(n.dmp1)), (PyKCS11.CKA_EXPONENT_2, be(n.dmq1)),
        (PyKCS11.CKA_COEFFICIENT, be(n.iqmp))])
    return priv, pub, prv


def do_wrap(pin):
    _, s = session(pin)
    kek_v, key_v, block, iv = os.urandom(32), os.urandom(32), os.urandom(16), os.urandom(16)
    kek = s.createObject(aes_tmpl("kek", kek_v, WRAP=T, UNWRAP=T))
    key = s.createObject(aes_tmpl("wrapped", key_v, EXTRACTABLE=T, SENSITIVE=T))
    # SoftHSMv2 2.6.1 wraps AES keys with CKM_AES_KEY_WRAP(_PAD) and
    # CKM_AES_CBC and unwraps them with the former or RSA only; no p11-kit
    # client sends CKM_AES_KEY_WRAP* (CKR_MECHANISM_INVALID in the client)
    cbc = PyKCS11.Mechanism(PyKCS11.CKM_AES_CBC, iv)
    wrapped = bytes(s.wrapKey(kek, key, cbc))
    e = Cipher(algorithms.AES(kek_v), modes.CBC(iv)).encryptor()
    check(wrapped == e.update(key_v) + e.finalize(),
          "C_WrapKey of an AES key under an AES key (CKM_AES_CBC): as AES-CBC in software")
    # under an RSA key of this session, back with its private key
    priv, pub, prv = rsa_session_pair(s, b"\x51")
    pkcs1 = PyKCS11.MechanismRSAPKCS1
    blob = bytes(s.wrapKey(pub, key, pkcs1))
    check(priv.decrypt(blob, padding.PKCS1v15()) == key_v,
          "C_WrapKey under an RSA public key (CKM_RSA_PKCS): software unwraps the key's value")
    tmpl = [
        (PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY),
        (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES),
        (PyKCS11.CKA_TOKEN, F),
        (PyKCS11.CKA_LABEL, "unwrapped"),
        (PyKCS11.CKA_ENCRYPT, T),
    ]
    back = s.unwrapKey(prv, blob, tmpl, pkcs1)
    check(s.getAttributeValue(back, [PyKCS11.CKA_LABEL])[0] == "unwrapped", "C_UnwrapKey: a key labelled unwrapped")
    a, b = ecb(s, key, block), ecb(s, back, block)
    check(a == b, "the original and the unwrapped key encrypt the block alike")
    check(a == soft_ecb(key_v, block), "as AES-256 in software does")
    soft = s.unwrapKey(prv, priv.public_key().encrypt(kek_v, padding.PKCS1v15()), tmpl, pkcs1)
    check(ecb(s, soft, block) == soft_ecb(kek_v, block), "a key wrapped in software unwraps on the token")
    refused(rv_of(s.unwrapKey, prv, blob[:-3], tmpl, pkcs1), None, "a truncated wrapped key")
    refused(rv_of(s.unwrapKey, kek, wrapped, tmpl, cbc), PyKCS11.CKR_MECHANISM_INVALID,
            "unwrapping with a mechanism SoftHSMv2 does not unwrap with")
    s.logout()
    finish()


def do_hold(pin, label, handle_file, go_file):
    _, s = session(pin)
    h = s.createObject(aes_tmpl(label, os.urandom(32), PRIVATE=T))
    check(len(s.findObjects([(PyKCS11.CKA_LABEL, label)])) == 1, "A finds its session key %s" % label)
    with open(handle_file + ".tmp", "w") as f:
        f.write("%d\n" % h.value())
    os.rename(handle_file + ".tmp", handle_file)
    for _ in range(600):
        if os.path.exists(go_file):
            break
        time.sleep(0.1)
    log("A leaves without closing its session")
    os._exit(0)  # the connection drops, nothing closed


def do_intrude(pin, label, handle):
    _, s = session(pin)
    # handles are per connection: before B has any, A's number names nothing
    h = PyKCS11.CK_OBJECT_HANDLE(s)
    h.assign(int(handle))
    inv = PyKCS11.CKR_OBJECT_HANDLE_INVALID
    refused(rv_of(s.getAttributeValue, h, [PyKCS11.CKA_LABEL]), inv, "B reads A's handle")
    refused(rv_of(ecb, s, h, bytes(16)), None, "B encrypts with A's handle")
    refused(rv_of(s.setAttributeValue, h, [(PyKCS11.CKA_LABEL, "stolen")]), inv, "B relabels A's handle")
    refused(Raw().open(pin).copy(int(handle), "stolen")[0], inv, "B copies A's handle")
    # the module's one session holds A's key: searches must not show it
    check(s.findObjects([(PyKCS11.CKA_LABEL, label)]) == [], "B finds no object %s" % label)
    check(label not in labels_of(s), "nor among all the secret keys it sees")
    check(all(s.getAttributeValue(o, [PyKCS11.CKA_LABEL])[0] != label for o in s.findObjects([])),
          "nor among all its objects")
    mine = s.createObject(aes_tmpl(label, os.urandom(32)))
    got = s.findObjects([(PyKCS11.CKA_LABEL, label)])
    check([o.value() for o in got] == [mine.value()], "B finds its own session key %s only" % label)
    s.logout()
    finish()


def do_count(pin, label, n):
    _, s = session(pin)
    got = len(s.findObjects([(PyKCS11.CKA_LABEL, label)]))
    check(got == n, "a fresh connection finds %d object(s) %s (want %d)" % (got, label, n))
    s.logout()
    finish()


def do_readonly(pin):
    _, s = session(pin)
    wp = PyKCS11.CKR_TOKEN_WRITE_PROTECTED
    refused(rv_of(s.createObject, aes_tmpl("ro-token", os.urandom(32), token=True)), wp,
            "C_CreateObject of a token object")
    refused(rv_of(s.createObject, [(PyKCS11.CKA_CLASS, PyKCS11.CKO_DATA), (PyKCS11.CKA_TOKEN, T),
                                   (PyKCS11.CKA_LABEL, "ro-data"), (PyKCS11.CKA_VALUE, b"x")]), wp,
            "C_CreateObject of a token data object")
    tok = s.findObjects([(PyKCS11.CKA_LABEL, "aes-copy")])
    if len(tok) != 1:
        fail("the read-only export shows %d keys aes-copy" % len(tok))
    refused(rv_of(s.setAttributeValue, tok[0], [(PyKCS11.CKA_LABEL, "ro")]), wp, "C_SetAttributeValue")
    refused(rv_of(s.destroyObject, tok[0]), wp, "C_DestroyObject")
    raw = Raw().open(pin)
    refused(raw.copy(raw.find_label("aes-copy")[0], "ro-copy")[0], wp, "C_CopyObject without CKA_TOKEN")
    gen = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY), (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES),
           (PyKCS11.CKA_VALUE_LEN, 32), (PyKCS11.CKA_ID, b"\x77"), (PyKCS11.CKA_ENCRYPT, T)]
    aes_gen = PyKCS11.Mechanism(PyKCS11.CKM_AES_KEY_GEN, None)
    refused(rv_of(s.generateKey, gen, aes_gen), wp, "C_GenerateKey without CKA_TOKEN (tokend's keys are token keys)")
    check(rv_of(s.generateKey, gen + [(PyKCS11.CKA_TOKEN, F)], aes_gen) == PyKCS11.CKR_OK,
          "C_GenerateKey of a session key works")
    # what only the session sees is no write
    kek_v, key_v, iv = os.urandom(32), os.urandom(32), os.urandom(16)
    kek = s.createObject(aes_tmpl("ro-kek", kek_v, WRAP=T, UNWRAP=T))
    key = s.createObject(aes_tmpl("ro-key", key_v, EXTRACTABLE=T))
    log("ok: session keys are made on the read-only export")
    mech = PyKCS11.Mechanism(PyKCS11.CKM_AES_CBC, iv)
    e = Cipher(algorithms.AES(kek_v), modes.CBC(iv)).encryptor()
    check(bytes(s.wrapKey(kek, key, mech)) == e.update(key_v) + e.finalize(), "and C_WrapKey works there")
    tmpl = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY), (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES),
            (PyKCS11.CKA_TOKEN, T), (PyKCS11.CKA_ENCRYPT, T)]
    refused(rv_of(s.unwrapKey, kek, bytes(32), tmpl, mech), wp, "C_UnwrapKey into a token object")
    check(labels_of(s).count("aes-copy") == 1, "the token key is still there")
    s.logout()
    finish()


def main():
    a = sys.argv[1:]
    steps = {
        "import": (5, lambda: do_import(*a[1:6])),
        "copyset": (1, lambda: do_copyset(a[1])),
        "flags": (1, lambda: do_flags(a[1])),
        "wrap": (1, lambda: do_wrap(a[1])),
        "hold": (4, lambda: do_hold(*a[1:5])),
        "intrude": (3, lambda: do_intrude(*a[1:4])),
        "count": (3, lambda: do_count(a[1], a[2], int(a[3]))),
        "readonly": (1, lambda: do_readonly(a[1])),
    }
    if a and a[0] == "labels" and len(a) >= 3:
        return do_labels(a[1], a[2:])
    if not a or a[0] not in steps or len(a) != steps[a[0]][0] + 1:
        sys.stderr.write(__doc__)
        return 2
    try:
        steps[a[0]][1]()
    except PyKCS11.PyKCS11Error as e:
        fail("PyKCS11: %s" % e)


if __name__ == "__main__":
    sys.exit(main())
