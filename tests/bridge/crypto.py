#!/usr/bin/python3
"""Secret-key crypto, random and multi-part operations with PyKCS11 on the
bridged SoftHSMv2 token:

  crypto.py setup PIN        with SoftHSMv2's own module ($SOFTHSM_MODULE,
                             $SOFTHSM2_CONF): puts an HMAC generic secret
                             (CKA_ID 10) and an AES-256 key (CKA_ID 11) with
                             the known values below on the token, and an
                             RSA-2048 key pair (CKA_ID 12) whose private key
                             it writes to $CRYPTO_RSA_PEM
  crypto.py basic PIN        through the p11-kit client ($E2E_CLIENT):
                             C_GenerateRandom, C_SeedRandom, HMAC sign and
                             verify (single- and multi-part), AES-ECB multi-
                             part, the 1 MiB cap of a multi-part operation,
                             RSA-OAEP with a label (needs $CRYPTO_RSA_PEM)
  crypto.py cbc PIN          AES-CBC and AES-CBC-PAD multi-part (a client
                             that sends the IV: p11-kit 0.25+)
  crypto.py digestkey PIN    C_DigestKey: SHA-256 of data and the known
                             keys' values in order; a private key, a bad
                             handle, another connection's session key
                             refused (what "holder" made)
  crypto.py holder PIN       (for digestkey) makes a session AES key in its
                             own connection, prints its handle, waits for
                             stdin to close

Every result is checked against Python's hmac and `cryptography`."""
import hashlib
import hmac
import os
import sys
import time

import PyKCS11
from PyKCS11 import LowLevel as LL
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
from checks import check, finish, log  # noqa: E402
from p11kit_client import checked, find_key, login  # noqa: E402

HMAC_KEY = bytes(range(0x40, 0x60))  # 32 bytes
AES_KEY = bytes(range(0x80, 0xA0))  # AES-256
HMAC_ID, AES_ID, RSA_ID = b"\x10", b"\x11", b"\x12"
MSG = b"The quick brown fox jumps over the lazy dog, " * 7  # 315 bytes
CAP = 1 << 20
OTHER_KEY = bytes(range(0xC0, 0xD0))  # holder's session AES-128 key
LABEL = "gateway"  # softhsm.sh's


def setup(pin):
    _, _, s = login(pin, os.environ["SOFTHSM_MODULE"], LABEL,
                    PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    common = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY), (PyKCS11.CKA_TOKEN, True),
              (PyKCS11.CKA_PRIVATE, True), (PyKCS11.CKA_SENSITIVE, True)]
    s.createObject(common + [
        (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_GENERIC_SECRET), (PyKCS11.CKA_ID, HMAC_ID),
        (PyKCS11.CKA_LABEL, "hmac"), (PyKCS11.CKA_SIGN, True), (PyKCS11.CKA_VERIFY, True),
        (PyKCS11.CKA_VALUE, HMAC_KEY)])
    s.createObject(common + [
        (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES), (PyKCS11.CKA_ID, AES_ID),
        (PyKCS11.CKA_LABEL, "aes"), (PyKCS11.CKA_ENCRYPT, True), (PyKCS11.CKA_DECRYPT, True),
        (PyKCS11.CKA_SIGN, True), (PyKCS11.CKA_VERIFY, True), (PyKCS11.CKA_VALUE, AES_KEY)])
    rsa_import(s)
    s.logout()
    log("ok: HMAC, AES and RSA keys with known values on the SoftHSM token")


def rsa_import(s):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = k.private_numbers()

    def b(v):
        return v.to_bytes((v.bit_length() + 7) // 8, "big")
    pub = [(PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_RSA), (PyKCS11.CKA_TOKEN, True),
           (PyKCS11.CKA_ID, RSA_ID), (PyKCS11.CKA_LABEL, "oaep"),
           (PyKCS11.CKA_MODULUS, b(n.public_numbers.n)),
           (PyKCS11.CKA_PUBLIC_EXPONENT, b(n.public_numbers.e))]
    s.createObject([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY),
                    (PyKCS11.CKA_ENCRYPT, True)] + pub)
    s.createObject([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_PRIVATE, True),
                    (PyKCS11.CKA_SENSITIVE, True), (PyKCS11.CKA_DECRYPT, True),
                    (PyKCS11.CKA_SIGN, True),
                    (PyKCS11.CKA_PRIVATE_EXPONENT, b(n.d)), (PyKCS11.CKA_PRIME_1, b(n.p)),
                    (PyKCS11.CKA_PRIME_2, b(n.q)), (PyKCS11.CKA_EXPONENT_1, b(n.dmp1)),
                    (PyKCS11.CKA_EXPONENT_2, b(n.dmq1)), (PyKCS11.CKA_COEFFICIENT, b(n.iqmp))]
                   + pub)
    with open(os.environ["CRYPTO_RSA_PEM"], "wb") as f:
        f.write(k.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()))


def check_oaep_label(s):
    """C_Encrypt with the public key runs on the host, with the label;
    C_Decrypt with a label goes to the module as the client gave it.
    SoftHSMv2 2.6.1 ignores a decryption's label: it fails a labelled
    cipher text (CKR_GENERAL_ERROR, which tokend answers as
    CKR_DEVICE_ERROR) and refuses a label to encrypt (CKR_ARGUMENTS_BAD);
    a module that takes labels must give the plain text back."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding as apad
    with open(os.environ["CRYPTO_RSA_PEM"], "rb") as f:
        k = serialization.load_pem_private_key(f.read(), None)
    label = b"tokend label"
    pub = find_key(s, PyKCS11.CKO_PUBLIC_KEY, RSA_ID)
    priv = find_key(s, PyKCS11.CKO_PRIVATE_KEY, RSA_ID)
    m = PyKCS11.RSAOAEPMechanism(PyKCS11.CKM_SHA_1, PyKCS11.CKG_MGF1_SHA1, label)
    ct = bytes(s.encrypt(pub, MSG[:40], m))

    def dec(lab):
        try:
            return k.decrypt(ct, apad.OAEP(apad.MGF1(hashes.SHA1()), hashes.SHA1(), lab))
        except ValueError:
            return None
    check(dec(label) == MSG[:40], "OAEP with a label through tokend decrypts with that label")
    check(dec(b"another") is None and dec(None) is None,
          "and with no other label (the label reached the encryption)")
    ct2 = k.public_key().encrypt(MSG[:40], apad.OAEP(apad.MGF1(hashes.SHA1()), hashes.SHA1(),
                                                     label))
    lib, h = s.lib, s.session
    rv = lib.C_DecryptInit(h, m.to_native(), priv)
    out = buf(256)
    if rv == 0:
        rv = lib.C_Decrypt(h, PyKCS11.ckbytelist(ct2), out)
    check(rv in (0, PyKCS11.CKR_DEVICE_ERROR, PyKCS11.CKR_ARGUMENTS_BAD),
          "C_Decrypt with a label on the token: the module's answer (0x%x)" % rv)
    if rv == 0:
        check(bytes(out) == MSG[:40], "the module's decryption with the label is right")
    plain = PyKCS11.RSAOAEPMechanism(PyKCS11.CKM_SHA_1, PyKCS11.CKG_MGF1_SHA1)
    ct3 = k.public_key().encrypt(MSG[:40], apad.OAEP(apad.MGF1(hashes.SHA1()), hashes.SHA1(),
                                                     None))
    check(bytes(s.decrypt(priv, ct3, plain)) == MSG[:40],
          "then OAEP without a label decrypts on the token (the session goes on)")


def buf(n):
    return PyKCS11.ckbytelist([0] * n)


_MECHS = []  # the native mechanism points into its Mechanism: kept alive


def mech(m, param=None):
    _MECHS.append(PyKCS11.Mechanism(m, param))
    return _MECHS[-1].to_native()


def multi(s, init, update, final, m, k, parts, out_room=4096):
    """Init, Update per part (with an output buffer), Final: (rv, output)."""
    h = s.session
    rv = init(h, m, k)
    if rv:
        return rv, b""
    out = b""
    for p in parts:
        o = buf(out_room)
        rv = update(h, PyKCS11.ckbytelist(p), o)
        if rv:
            return rv, out
        out += bytes(o)
    o = buf(out_room)
    rv = final(h, o)
    return rv, out + (bytes(o) if rv == 0 else b"")


def sign_multi(s, m, k, parts, room=256):
    h = s.session
    rv = s.lib.C_SignInit(h, m, k)
    for p in parts:
        if rv:
            break
        rv = s.lib.C_SignUpdate(h, PyKCS11.ckbytelist(p))
    if rv:
        return rv, b""
    o = buf(room)
    rv = s.lib.C_SignFinal(h, o)
    return rv, bytes(o)


def verify_rv(s, m, k, data, sig, parts=None):
    lib, h = s.lib, s.session
    rv = lib.C_VerifyInit(h, m, k)
    if rv:
        return rv
    if parts is None:
        return lib.C_Verify(h, PyKCS11.ckbytelist(data), PyKCS11.ckbytelist(sig))
    for p in parts:
        rv = lib.C_VerifyUpdate(h, PyKCS11.ckbytelist(p))
        if rv:
            return rv
    return lib.C_VerifyFinal(h, PyKCS11.ckbytelist(sig))


def chunks(b, n):
    return [b[i:i + n] for i in range(0, len(b), n)]


def aes(mode, data, pad=False, decrypt=False):
    if pad and not decrypt:
        p = padding.PKCS7(128).padder()
        data = p.update(data) + p.finalize()
    c = Cipher(algorithms.AES(AES_KEY), mode)
    x = c.decryptor() if decrypt else c.encryptor()
    return x.update(data) + x.finalize()


def check_random(s):
    lib, h = s.lib, s.session
    a, b = buf(32), buf(32)
    check(lib.C_GenerateRandom(h, a) == 0 and lib.C_GenerateRandom(h, b) == 0,
          "C_GenerateRandom(32) twice: CKR_OK")
    check(len(bytes(a)) == 32 and bytes(a) != bytes(b) and any(bytes(a)),
          "two random answers of 32 bytes differ")
    big = buf(60000)  # several of the helper's pieces
    t0 = time.monotonic()
    rv = lib.C_GenerateRandom(h, big)
    log("info: C_GenerateRandom(60000) in %.1f ms" % ((time.monotonic() - t0) * 1000))
    check(rv == 0 and bytes(big).count(0) < 1000,
          "C_GenerateRandom(60000): random bytes all through")
    rv = lib.C_GenerateRandom(h, buf(200000))
    check(rv == PyKCS11.CKR_ARGUMENTS_BAD,
          "C_GenerateRandom beyond one answer's room: CKR_ARGUMENTS_BAD (0x%x)" % rv)
    rv = lib.C_SeedRandom(h, PyKCS11.ckbytelist(b"seed"))
    check(rv == PyKCS11.CKR_RANDOM_SEED_NOT_SUPPORTED,
          "C_SeedRandom: CKR_RANDOM_SEED_NOT_SUPPORTED (0x%x)" % rv)


def check_hmac(s, hk, mechs):
    want = hmac.new(HMAC_KEY, MSG, hashlib.sha256).digest()
    m = mech(PyKCS11.CKM_SHA256_HMAC)
    sig = bytes(s.sign(hk, MSG, PyKCS11.Mechanism(PyKCS11.CKM_SHA256_HMAC)))
    check(sig == want, "HMAC-SHA256 on the token equals Python's hmac")
    lib, h = s.lib, s.session
    size = PyKCS11.ckbytelist()
    lib.C_SignInit(h, m, hk)
    rv = lib.C_Sign(h, PyKCS11.ckbytelist(MSG), size)
    check(rv == 0 and len(size) == 32, "the size query says 32 bytes (%d)" % len(size))
    small = buf(16)
    rv = lib.C_Sign(h, PyKCS11.ckbytelist(MSG), small)
    check(rv == PyKCS11.CKR_BUFFER_TOO_SMALL, "16 bytes: CKR_BUFFER_TOO_SMALL (0x%x)" % rv)
    right = buf(32)
    rv = lib.C_Sign(h, PyKCS11.ckbytelist(MSG), right)
    check(rv == 0 and bytes(right) == want, "then 32 bytes: the HMAC (operation kept)")
    if PyKCS11.CKM_SHA_1_HMAC in mechs:
        sig1 = bytes(s.sign(hk, MSG, PyKCS11.Mechanism(PyKCS11.CKM_SHA_1_HMAC)))
        check(sig1 == hmac.new(HMAC_KEY, MSG, hashlib.sha1).digest(),
              "HMAC-SHA1 on the token equals Python's hmac")
    rv = verify_rv(s, m, hk, MSG, want)
    check(rv == 0, "C_Verify accepts the HMAC (0x%x)" % rv)
    bad = bytearray(want)
    bad[5] ^= 1
    rv = verify_rv(s, m, hk, MSG, bytes(bad))
    check(rv == PyKCS11.CKR_SIGNATURE_INVALID,
          "C_Verify of a flipped byte: CKR_SIGNATURE_INVALID (0x%x)" % rv)
    parts = chunks(MSG, 100)
    rv, msig = sign_multi(s, m, hk, parts)
    check(rv == 0 and msig[:32] == want, "multi-part HMAC equals the single-part one")
    rv = verify_rv(s, m, hk, None, want, parts)
    check(rv == 0, "multi-part C_VerifyUpdate/Final accepts it (0x%x)" % rv)
    rv = verify_rv(s, m, hk, None, bytes(bad), parts)
    check(rv == PyKCS11.CKR_SIGNATURE_INVALID,
          "multi-part verify of a flipped byte: CKR_SIGNATURE_INVALID (0x%x)" % rv)


def check_cmac(s, ak):
    from cryptography.hazmat.primitives import cmac
    c = cmac.CMAC(algorithms.AES(AES_KEY))
    c.update(MSG)
    want = c.finalize()
    m = mech(PyKCS11.CKM_AES_CMAC)
    rv, sig = sign_multi(s, m, ak, chunks(MSG, 33))
    check(rv == 0 and sig[:16] == want, "multi-part AES-CMAC equals cryptography's (0x%x)" % rv)
    rv = verify_rv(s, m, ak, MSG, want)
    check(rv == 0, "C_Verify accepts the CMAC (0x%x)" % rv)


def check_cap(s, hk):
    lib, h = s.lib, s.session
    m = mech(PyKCS11.CKM_SHA256_HMAC)
    part = os.urandom(CAP // 2 + 4096)
    rv = lib.C_SignInit(h, m, hk)
    rv1 = lib.C_SignUpdate(h, PyKCS11.ckbytelist(part)) if rv == 0 else rv
    rv2 = lib.C_SignUpdate(h, PyKCS11.ckbytelist(part)) if rv1 == 0 else rv1
    check(rv2 == PyKCS11.CKR_DATA_LEN_RANGE,
          "a multi-part operation beyond 1 MiB: CKR_DATA_LEN_RANGE (0x%x)" % rv2)
    rv = lib.C_SignFinal(h, buf(32))
    check(rv == PyKCS11.CKR_OPERATION_NOT_INITIALIZED,
          "and the operation is over (0x%x)" % rv)
    near = os.urandom(CAP - 8192)
    t0 = time.monotonic()
    rv, sig = sign_multi(s, m, hk, chunks(near, 300000))
    log("info: multi-part HMAC of %d bytes in %.1f ms" % (len(near),
                                                         (time.monotonic() - t0) * 1000))
    check(rv == 0 and sig[:32] == hmac.new(HMAC_KEY, near, hashlib.sha256).digest(),
          "the connection keeps working: a multi-part HMAC of 1 MiB - 8 KiB (0x%x)" % rv)


def check_aes(s, ak, name, ckm, param, mode, pad):
    lib = s.lib
    m = mech(ckm, param)
    plain = MSG if pad else MSG[:304]  # whole blocks without padding
    want = aes(mode, plain, pad)
    rv, ct = multi(s, lib.C_EncryptInit, lib.C_EncryptUpdate, lib.C_EncryptFinal, m, ak,
                   chunks(plain, 70))
    check(rv == 0 and ct == want,
          "multi-part %s encryption equals cryptography's (0x%x, %d bytes)" % (name, rv, len(ct)))
    rv, one = multi(s, lib.C_EncryptInit, lib.C_EncryptUpdate, lib.C_EncryptFinal, m, ak, [])
    if not pad:
        check(rv == 0 and one == b"", "Init then Final of nothing: no bytes (0x%x)" % rv)
    rv, back = multi(s, lib.C_DecryptInit, lib.C_DecryptUpdate, lib.C_DecryptFinal, m, ak,
                     chunks(want, 50))
    check(rv == 0 and back == plain, "multi-part %s decryption round-trips (0x%x)" % (name, rv))
    # the size query of Final (NULL output) runs nothing and keeps the operation
    h = s.session
    lib.C_EncryptInit(h, m, ak)
    lib.C_EncryptUpdate(h, PyKCS11.ckbytelist(plain), buf(8))
    q = PyKCS11.ckbytelist()
    rv = lib.C_EncryptFinal(h, q)
    check(rv == 0 and len(want) <= len(q) <= len(want) + 32,
          "%s EncryptFinal's size query: %d bytes for %d" % (name, len(q), len(want)))
    o = buf(len(q))
    rv = lib.C_EncryptFinal(h, o)
    check(rv == 0 and bytes(o) == want, "then Final gives the cipher text (0x%x)" % rv)
    # a decryption never answers more than it was given
    lib.C_DecryptInit(h, m, ak)
    lib.C_DecryptUpdate(h, PyKCS11.ckbytelist(want), buf(8))
    o = buf(len(want))
    rv = lib.C_DecryptFinal(h, o)
    check(rv == 0 and bytes(o) == plain,
          "%s DecryptFinal into as many bytes as the cipher text (0x%x)" % (name, rv))


def handle(s, v):
    h = PyKCS11.CK_OBJECT_HANDLE(s)
    h.assign(int(v))
    return h


def digest_rv(s, parts, room=64):
    """C_DigestInit(SHA-256), then per part C_DigestUpdate (bytes) or
    C_DigestKey (a handle), then C_DigestFinal: (rv, digest)."""
    lib, h = s.lib, s.session
    rv = lib.C_DigestInit(h, mech(PyKCS11.CKM_SHA256))
    for p in parts:
        if rv:
            return rv, b""
        rv = (lib.C_DigestUpdate(h, PyKCS11.ckbytelist(p)) if isinstance(p, bytes)
              else lib.C_DigestKey(h, p))
    if rv:
        return rv, b""
    o = buf(room)
    rv = lib.C_DigestFinal(h, o)
    return rv, bytes(o)


def sha256(*parts):
    return hashlib.sha256(b"".join(parts)).digest()


def holder(pin):
    """A session AES key in this connection, digested here, its handle
    printed; kept until stdin closes (the session ends it). Handles are
    per connection and numbered from 1: the key's comes after those of
    every token object, which the other connection has found too."""
    _, _, s = login(pin, label=LABEL)
    s.findObjects([])
    k = s.createObject([(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY),
                        (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES), (PyKCS11.CKA_TOKEN, False),
                        (PyKCS11.CKA_PRIVATE, True), (PyKCS11.CKA_SENSITIVE, True),
                        (PyKCS11.CKA_VALUE, OTHER_KEY)])
    rv, d = digest_rv(s, [b"abc", k])
    check(rv == 0 and d[:32] == sha256(b"abc", OTHER_KEY),
          "holder: its own session key digests in its connection (0x%x)" % rv)
    print(k.value(), flush=True)
    sys.stdin.read()
    s.logout()
    finish()


def check_other_connection(s, pin):
    import subprocess
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "holder", pin],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().strip()
        check(line.isdigit(), "another connection made a session AES key (%r)" % line)
        if not line.isdigit():
            return
        mine = [o.value() for o in s.findObjects([])]
        check(int(line) not in mine,
              "its handle %s names nothing in this connection's object list" % line)
        rv, _ = digest_rv(s, [b"abc", handle(s, line)])
        check(rv == PyKCS11.CKR_KEY_HANDLE_INVALID,
              "C_DigestKey with the other connection's key: CKR_KEY_HANDLE_INVALID (0x%x)"
              % rv)
    finally:
        p.stdin.close()
        check(p.wait(timeout=60) == 0, "the other connection ended cleanly")


def check_digest_key(s, hk, ak, pin):
    lib, h = s.lib, s.session
    rv, d = digest_rv(s, [b"abc", ak, b"xyz"])
    check(rv == 0 and d[:32] == sha256(b"abc", AES_KEY, b"xyz"),
          "SHA-256 of abc, the AES key, xyz (C_DigestKey) equals hashlib's (0x%x)" % rv)
    rv, d = digest_rv(s, [hk, MSG, ak])
    check(rv == 0 and d[:32] == sha256(HMAC_KEY, MSG, AES_KEY),
          "two keys and data between them, in order (0x%x)" % rv)
    rv, d = digest_rv(s, [ak, ak])
    check(rv == 0 and d[:32] == sha256(AES_KEY, AES_KEY), "the same key twice (0x%x)" % rv)
    # Final's size query after a key asks nothing and keeps the operation
    lib.C_DigestInit(h, mech(PyKCS11.CKM_SHA256))
    lib.C_DigestKey(h, ak)
    q = PyKCS11.ckbytelist()
    rv = lib.C_DigestFinal(h, q)
    check(rv == 0 and len(q) == 32, "DigestFinal's size query: 32 bytes (0x%x)" % rv)
    rv = lib.C_Digest(h, PyKCS11.ckbytelist(b"x"), buf(32))
    check(rv == PyKCS11.CKR_OPERATION_ACTIVE,
          "C_Digest after C_DigestKey: CKR_OPERATION_ACTIVE (0x%x)" % rv)
    o = buf(32)
    rv = lib.C_DigestFinal(h, o)
    check(rv == 0 and bytes(o) == sha256(AES_KEY), "then Final: SHA-256 of the key (0x%x)" % rv)
    # refusals; a refused key adds nothing and the digest goes on
    priv = find_key(s, PyKCS11.CKO_PRIVATE_KEY, RSA_ID)
    lib.C_DigestInit(h, mech(PyKCS11.CKM_SHA256))
    lib.C_DigestUpdate(h, PyKCS11.ckbytelist(b"abc"))
    rv = lib.C_DigestKey(h, priv)
    check(rv == PyKCS11.CKR_KEY_INDIGESTIBLE,
          "C_DigestKey with an RSA private key: CKR_KEY_INDIGESTIBLE (0x%x)" % rv)
    rv = lib.C_DigestKey(h, handle(s, 0x7ffff123))
    check(rv == PyKCS11.CKR_KEY_HANDLE_INVALID,
          "C_DigestKey with a bad handle: CKR_KEY_HANDLE_INVALID (0x%x)" % rv)
    o = buf(32)
    rv = lib.C_DigestFinal(h, o)
    check(rv == 0 and bytes(o) == sha256(b"abc"),
          "the digest went on without them (0x%x)" % rv)
    rv = lib.C_DigestKey(h, ak)
    check(rv == PyKCS11.CKR_OPERATION_NOT_INITIALIZED,
          "C_DigestKey with no digest: CKR_OPERATION_NOT_INITIALIZED (0x%x)" % rv)
    # beyond the 1 MiB of kept parts a digest stays in software; a key then
    # cannot follow
    big = os.urandom(CAP + 4096)
    lib.C_DigestInit(h, mech(PyKCS11.CKM_SHA256))
    for part in chunks(big, 300000):
        lib.C_DigestUpdate(h, PyKCS11.ckbytelist(part))
    rv = lib.C_DigestKey(h, ak)
    check(rv == PyKCS11.CKR_HOST_MEMORY,
          "a key after more than 1 MiB of data: CKR_HOST_MEMORY (0x%x)" % rv)
    o = buf(32)
    rv = lib.C_DigestFinal(h, o)
    check(rv == 0 and bytes(o) == sha256(big),
          "and that digest of 1 MiB + 4 KiB is right (0x%x)" % rv)
    check_other_connection(s, pin)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("setup", "basic", "cbc", "digestkey",
                                                 "holder"):
        sys.stderr.write(__doc__)
        return 2
    what, pin = sys.argv[1], sys.argv[2]
    if what == "setup":
        setup(pin)
        return 0
    if what == "holder":
        holder(pin)
        return 0
    lib, slot, s = login(pin, label=LABEL)
    with checked(s):
        hk = find_key(s, PyKCS11.CKO_SECRET_KEY, HMAC_ID)
        ak = find_key(s, PyKCS11.CKO_SECRET_KEY, AES_ID)
        if what == "basic":
            mechs = lib.getMechanismList(slot)
            mechs = [PyKCS11.CKM[x] if isinstance(x, str) else x for x in mechs]
            check_random(s)
            check_hmac(s, hk, mechs)
            check_cap(s, hk)
            check_aes(s, ak, "AES-ECB", PyKCS11.CKM_AES_ECB, None, modes.ECB(), False)
            check_oaep_label(s)
            if PyKCS11.CKM_AES_CMAC in mechs:
                check_cmac(s, ak)
        elif what == "digestkey":
            check_digest_key(s, hk, ak, pin)
        else:
            iv = bytes(range(16))
            check_aes(s, ak, "AES-CBC", PyKCS11.CKM_AES_CBC, iv, modes.CBC(iv), False)
            check_aes(s, ak, "AES-CBC-PAD", PyKCS11.CKM_AES_CBC_PAD, iv, modes.CBC(iv), True)
    finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
