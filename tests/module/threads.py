"""8 threads, each with its own session on one logged-in token of the module
under test, 20 ECDSA P-256 signatures each (ID 01); every signature verifies.

The module is called through ctypes, which releases the GIL during foreign
calls, so the threads really are inside the module at the same time
(PyKCS11 holds the GIL across its calls and would serialise them).
C_Initialize gets CKF_OS_LOCKING_OK.

usage: threads.py PUB.pem"""
import ctypes as C
import hashlib
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from p11util import PIN, check, ecdsa_der, fail, finish, load_pub, log, require_ok  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

THREADS, SIGS = 8, 20
ULONG = C.c_ulong
CKF_OS_LOCKING_OK, CKF_SERIAL_SESSION = 0x2, 0x4
CKU_USER, CKA_CLASS, CKA_ID, CKO_PRIVATE_KEY, CKM_ECDSA = 1, 0x0, 0x102, 3, 0x1041
CKR_USER_ALREADY_LOGGED_IN = 0x100

# CK_FUNCTION_LIST: CK_VERSION, then the 2.40 functions in this order.
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
    _fields_ = [("version", Version)] + [("C_" + f, C.c_void_p) for f in FUNCS]


class InitArgs(C.Structure):
    _fields_ = [("create", C.c_void_p), ("destroy", C.c_void_p), ("lock", C.c_void_p),
                ("unlock", C.c_void_p), ("flags", ULONG), ("reserved", C.c_void_p)]


class Mechanism(C.Structure):
    _fields_ = [("mechanism", ULONG), ("param", C.c_void_p), ("param_len", ULONG)]


class Attribute(C.Structure):
    _fields_ = [("type", ULONG), ("value", C.c_void_p), ("value_len", ULONG)]


def fn(name, *args):
    return C.CFUNCTYPE(ULONG, *args)(getattr(flist, "C_" + name))


if len(sys.argv) != 2:
    fail(__doc__)
pub = load_pub(sys.argv[1])
lib = C.CDLL(os.environ["TOKEND_MODULE"])
pfl = C.POINTER(FunctionList)()
rv = lib.C_GetFunctionList(C.byref(pfl))
if rv:
    fail("C_GetFunctionList -> 0x%x" % rv)
flist = pfl.contents
P = C.c_void_p
Initialize = fn("Initialize", P)
Finalize = fn("Finalize", P)
GetSlotList = fn("GetSlotList", C.c_ubyte, P, C.POINTER(ULONG))
GetSlotInfo = fn("GetSlotInfo", ULONG, P)
OpenSession = fn("OpenSession", ULONG, ULONG, P, P, C.POINTER(ULONG))
CloseSession = fn("CloseSession", ULONG)
Login = fn("Login", ULONG, ULONG, C.c_char_p, ULONG)
FindObjectsInit = fn("FindObjectsInit", ULONG, P, ULONG)
FindObjects = fn("FindObjects", ULONG, P, ULONG, C.POINTER(ULONG))
FindObjectsFinal = fn("FindObjectsFinal", ULONG)
SignInit = fn("SignInit", ULONG, P, ULONG)
Sign = fn("Sign", ULONG, C.c_char_p, ULONG, P, C.POINTER(ULONG))



args = InitArgs(flags=CKF_OS_LOCKING_OK)
require_ok(Initialize(C.byref(args)), "C_Initialize(CKF_OS_LOCKING_OK)")

reader = os.environ.get("TOKEND_READER", "Virtual PCD 00 00").encode()
n = ULONG(0)
require_ok(GetSlotList(1, None, C.byref(n)), "C_GetSlotList")
slots = (ULONG * max(n.value, 1))()
require_ok(GetSlotList(1, slots, C.byref(n)), "C_GetSlotList")
slot = None
for s in slots[:n.value]:
    info = C.create_string_buffer(256)
    require_ok(GetSlotInfo(s, info), "C_GetSlotInfo")
    if reader in info.raw[:64]:
        slot = s
if slot is None:
    fail("no slot with a token in '%s'" % reader.decode())

h = ULONG(0)
require_ok(OpenSession(slot, CKF_SERIAL_SESSION, None, None, C.byref(h)), "C_OpenSession")
login_session = h.value
require_ok(Login(login_session, CKU_USER, PIN.encode(), len(PIN)), "C_Login")

cls, kid = ULONG(CKO_PRIVATE_KEY), C.c_ubyte(1)
templ = (Attribute * 2)(Attribute(CKA_CLASS, C.cast(C.byref(cls), P), C.sizeof(cls)),
                        Attribute(CKA_ID, C.cast(C.byref(kid), P), 1))

results, errors = {}, []
start = threading.Barrier(THREADS)


def worker(t):
    try:
        h = ULONG(0)
        require_ok(OpenSession(slot, CKF_SERIAL_SESSION, None, None, C.byref(h)), "C_OpenSession")
        require_ok(FindObjectsInit(h, templ, 2), "C_FindObjectsInit")
        key, cnt = ULONG(0), ULONG(0)
        require_ok(FindObjects(h, C.byref(key), 1, C.byref(cnt)), "C_FindObjects")
        require_ok(FindObjectsFinal(h), "C_FindObjectsFinal")
        if cnt.value != 1:
            raise RuntimeError("no private key with CKA_ID 01")
        mech = Mechanism(CKM_ECDSA, None, 0)
        start.wait()
        out = []
        for i in range(SIGS):
            msg = b"thread %d signature %d " % (t, i) + os.urandom(16)
            digest = hashlib.sha256(msg).digest()
            require_ok(SignInit(h, C.byref(mech), key), "C_SignInit")
            buf, blen = C.create_string_buffer(132), ULONG(132)
            require_ok(Sign(h, digest, len(digest), buf, C.byref(blen)), "C_Sign")
            out.append((msg, buf.raw[:blen.value]))
        require_ok(CloseSession(h), "C_CloseSession")
        results[t] = out
    except Exception as ex:  # recorded, the main thread reports it
        errors.append("thread %d: %s" % (t, ex))


threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join(120)
check(not any(t.is_alive() for t in threads), "all threads finished")
check(not errors, "no thread failed: %s" % "; ".join(errors))

good = bad = 0
for t, out in sorted(results.items()):
    for msg, sig in out:
        try:
            pub.verify(ecdsa_der(sig), msg, ec.ECDSA(hashes.SHA256()))
            good += 1
        except Exception:
            bad += 1
log("%d signatures verify, %d do not" % (good, bad))
check(good == THREADS * SIGS and bad == 0, "%d of %d signatures verify" % (good, THREADS * SIGS))
require_ok(CloseSession(login_session), "C_CloseSession")
require_ok(Finalize(None), "C_Finalize")
finish()
