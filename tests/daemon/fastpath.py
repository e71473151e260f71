#!/usr/bin/python3
"""A slow signature does not hold up the same connection's other sessions.

One process, so one p11-kit-client.so connection to tokend (ctypes: the
calls really overlap; PyKCS11 keeps the GIL). The virtual card takes 2 s
per key operation. Session A logs in and starts C_Sign on a thread; once
it is under way, session B reads attributes (certificate, public key,
private key's label), searches, and asks for session, token and slot info.
All of that must come back before the signature does (ordering, not
timing). A second C_Sign on session A meanwhile waits for the first, as if
it held the session, and then finds no operation (the first one ended
it), rather than signing beside it. The signature is written out for
openssl to verify.

usage: fastpath.py CLIENT.so OUTDIR   (P11_KIT_SERVER_ADDRESS names tokend)"""
import ctypes as C
import hashlib
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "harness"))
from checks import check, fail, finish, log, require_ok  # noqa: E402
from p11kit_client import ecdsa_der  # noqa: E402

ULONG = C.c_ulong
P = C.c_void_p
CKF_OS_LOCKING_OK, CKF_SERIAL_SESSION = 0x2, 0x4
CKU_USER, CKM_ECDSA = 1, 0x1041
CKA_CLASS, CKA_LABEL, CKA_VALUE, CKA_ID, CKA_EC_POINT = 0x0, 0x3, 0x11, 0x102, 0x181
CKO_CERTIFICATE, CKO_PUBLIC_KEY, CKO_PRIVATE_KEY = 1, 2, 3
PIN = b"123456"
# Head start for C_Sign to reach the card before B starts reading (set-up,
# not an assertion: a late sign would only make the test easier to pass).
HEAD_START_S = 0.5
READS = 10

FUNCS = """Initialize Finalize GetInfo GetFunctionList GetSlotList GetSlotInfo
GetTokenInfo GetMechanismList GetMechanismInfo InitToken InitPIN SetPIN OpenSession
CloseSession CloseAllSessions GetSessionInfo GetOperationState SetOperationState Login
Logout CreateObject CopyObject DestroyObject GetObjectSize GetAttributeValue
SetAttributeValue FindObjectsInit FindObjects FindObjectsFinal EncryptInit Encrypt
EncryptUpdate EncryptFinal DecryptInit Decrypt DecryptUpdate DecryptFinal DigestInit
Digest DigestUpdate DigestKey DigestFinal SignInit Sign""".split()


class Version(C.Structure):
    _fields_ = [("major", C.c_ubyte), ("minor", C.c_ubyte)]


class FunctionList(C.Structure):
    _fields_ = [("version", Version)] + [("C_" + f, P) for f in FUNCS]


class InitArgs(C.Structure):
    _fields_ = [("create", P), ("destroy", P), ("lock", P), ("unlock", P),
                ("flags", ULONG), ("reserved", P)]


class Mechanism(C.Structure):
    _fields_ = [("mechanism", ULONG), ("param", P), ("param_len", ULONG)]


class Attribute(C.Structure):
    _fields_ = [("type", ULONG), ("value", P), ("value_len", ULONG)]


if len(sys.argv) != 3:
    fail(__doc__)
outdir = sys.argv[2]
lib = C.CDLL(sys.argv[1])
pfl = C.POINTER(FunctionList)()
if lib.C_GetFunctionList(C.byref(pfl)):
    fail("C_GetFunctionList")
flist = pfl.contents


def fn(name, *args):
    return C.CFUNCTYPE(ULONG, *args)(getattr(flist, "C_" + name))


Initialize = fn("Initialize", P)
Finalize = fn("Finalize", P)
GetSlotList = fn("GetSlotList", C.c_ubyte, P, C.POINTER(ULONG))
GetSlotInfo = fn("GetSlotInfo", ULONG, P)
GetTokenInfo = fn("GetTokenInfo", ULONG, P)
GetMechanismList = fn("GetMechanismList", ULONG, P, C.POINTER(ULONG))
OpenSession = fn("OpenSession", ULONG, ULONG, P, P, C.POINTER(ULONG))
GetSessionInfo = fn("GetSessionInfo", ULONG, P)
Login = fn("Login", ULONG, ULONG, C.c_char_p, ULONG)
GetAttributeValue = fn("GetAttributeValue", ULONG, ULONG, P, ULONG)
FindObjectsInit = fn("FindObjectsInit", ULONG, P, ULONG)
FindObjects = fn("FindObjects", ULONG, P, ULONG, C.POINTER(ULONG))
FindObjectsFinal = fn("FindObjectsFinal", ULONG)
SignInit = fn("SignInit", ULONG, P, ULONG)
Sign = fn("Sign", ULONG, C.c_char_p, ULONG, P, C.POINTER(ULONG))

events = []
events_lock = threading.Lock()


def note(what):
    with events_lock:
        events.append(what)



def find(h, cls, key_id=1):
    c, kid = ULONG(cls), C.c_ubyte(key_id)
    t = (Attribute * 2)(Attribute(CKA_CLASS, C.cast(C.byref(c), P), C.sizeof(c)),
                        Attribute(CKA_ID, C.cast(C.byref(kid), P), 1))
    obj, n = ULONG(0), ULONG(0)
    require_ok(FindObjectsInit(h, t, 2), "C_FindObjectsInit")
    require_ok(FindObjects(h, C.byref(obj), 1, C.byref(n)), "C_FindObjects")
    require_ok(FindObjectsFinal(h), "C_FindObjectsFinal")
    if n.value != 1:
        fail("no object of class %d with CKA_ID %02x" % (cls, key_id))
    return obj.value


def attr(h, obj, typ):
    a = Attribute(typ, None, 0)
    require_ok(GetAttributeValue(h, obj, C.byref(a), 1), "C_GetAttributeValue (size)")
    buf = C.create_string_buffer(max(a.value_len, 1))
    a.value = C.cast(buf, P)
    require_ok(GetAttributeValue(h, obj, C.byref(a), 1), "C_GetAttributeValue")
    return buf.raw[:a.value_len]


def session():
    h = ULONG(0)
    require_ok(OpenSession(slot, CKF_SERIAL_SESSION, None, None, C.byref(h)), "C_OpenSession")
    return h.value


args = InitArgs(None, None, None, None, CKF_OS_LOCKING_OK, None)
require_ok(Initialize(C.byref(args)), "C_Initialize")
n = ULONG(0)
require_ok(GetSlotList(1, None, C.byref(n)), "C_GetSlotList")
ids = (ULONG * max(n.value, 1))()
require_ok(GetSlotList(1, ids, C.byref(n)), "C_GetSlotList")
if n.value != 1:
    fail("expected one slot with a token, got %d" % n.value)
slot = ids[0]

a, b = session(), session()
require_ok(Login(a, CKU_USER, PIN, len(PIN)), "C_Login")
key = find(a, CKO_PRIVATE_KEY)
cert, pub = find(b, CKO_CERTIFICATE), find(b, CKO_PUBLIC_KEY)
want_cert, want_point = attr(b, cert, CKA_VALUE), attr(b, pub, CKA_EC_POINT)

msg = b"fast path " + os.urandom(16)
digest = hashlib.sha256(msg).digest()
mech = Mechanism(CKM_ECDSA, None, 0)
require_ok(SignInit(a, C.byref(mech), key), "C_SignInit")
sig = C.create_string_buffer(132)
sig_len = ULONG(132)
sign_rv = []


def signer():
    note("sign sent")
    sign_rv.append(Sign(a, digest, len(digest), sig, C.byref(sig_len)))
    note("sign done")


t = threading.Thread(target=signer)
t.start()
while "sign sent" not in events:
    time.sleep(0.01)
time.sleep(HEAD_START_S)

same = True
for i in range(READS):
    same &= attr(b, cert, CKA_VALUE) == want_cert
    same &= attr(b, pub, CKA_EC_POINT) == want_point
    same &= len(attr(b, key, CKA_LABEL)) > 0
note("attributes read")
find(b, CKO_CERTIFICATE)
note("search done")
info = C.create_string_buffer(512)
require_ok(GetSessionInfo(b, info), "C_GetSessionInfo (B)")
require_ok(GetTokenInfo(slot, info), "C_GetTokenInfo")
require_ok(GetSlotInfo(slot, info), "C_GetSlotInfo")
m = ULONG(0)
require_ok(GetMechanismList(slot, None, C.byref(m)), "C_GetMechanismList")
note("info read")
# A call on A itself waits for A's signature, then sees it ended.
sig2, sig2_len = C.create_string_buffer(132), ULONG(132)
second = Sign(a, digest, len(digest), sig2, C.byref(sig2_len))
t.join()

log("order: " + ", ".join(events))
order = {e: i for i, e in enumerate(events)}
check(same, "attributes read during the signature are the cached values")
for e in ("attributes read", "search done", "info read"):
    check(order[e] < order["sign done"],
          "%s in session B before the signature returned" % e)
check(second == 0x91,  # CKR_OPERATION_NOT_INITIALIZED
      "a second C_Sign on the signing session waited and found it ended "
      "(rv 0x%x)" % second)
check(sign_rv == [0], "C_Sign succeeded (rv %r)" % sign_rv)
with open(os.path.join(outdir, "fast.hash"), "wb") as f:
    f.write(digest)
with open(os.path.join(outdir, "fast.sig"), "wb") as f:
    f.write(ecdsa_der(sig.raw[:sig_len.value]))
require_ok(Finalize(None), "C_Finalize")
finish()
