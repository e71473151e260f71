"""C_WaitForSlotEvent through the module under test (ctypes, so threads
really overlap inside it; C_Initialize gets CKF_OS_LOCKING_OK).

Thread A blocks in C_WaitForSlotEvent(0) while the main thread lists slots,
reads token info and signs (none of it may stall); the card is pulled
(SIGUSR1 to the virtual card) and A returns the slot, which C_GetSlotList
(tokenPresent) no longer lists; re-inserted (SIGUSR2), another event, and
the token signs again. CKF_DONT_BLOCK with nothing pending answers
CKR_NO_EVENT; C_Finalize from another thread ends a blocked wait with
CKR_CRYPTOKI_NOT_INITIALIZED.

usage: slot_events.py PUB.pem VCARD_PID   ($TOKEND_READER names the reader)"""
import ctypes as C
import hashlib
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from p11util import PIN, check, ecdsa_der, fail, finish, load_pub, log, require_ok  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

ULONG = C.c_ulong
P = C.c_void_p
CKF_DONT_BLOCK, CKF_OS_LOCKING_OK, CKF_SERIAL_SESSION = 0x1, 0x2, 0x4
CKU_USER, CKA_CLASS, CKA_ID, CKO_PRIVATE_KEY, CKM_ECDSA = 1, 0x0, 0x102, 3, 0x1041
CKR_NO_EVENT, CKR_NOT_INIT = 0x8, 0x190
# How long a card event may take to come back (pcscd sees vpcd's change,
# then tokend's wait wakes): the brief is ~1 s, leave room for a busy host.
EVENT_S = 3.0
# No other call may take this long while A waits.
STALL_S = 1.5

FUNCS = """Initialize Finalize GetInfo GetFunctionList GetSlotList GetSlotInfo
GetTokenInfo GetMechanismList GetMechanismInfo InitToken InitPIN SetPIN OpenSession
CloseSession CloseAllSessions GetSessionInfo GetOperationState SetOperationState Login
Logout CreateObject CopyObject DestroyObject GetObjectSize GetAttributeValue
SetAttributeValue FindObjectsInit FindObjects FindObjectsFinal EncryptInit Encrypt
EncryptUpdate EncryptFinal DecryptInit Decrypt DecryptUpdate DecryptFinal DigestInit
Digest DigestUpdate DigestKey DigestFinal SignInit Sign SignUpdate SignFinal
SignRecoverInit SignRecover VerifyInit Verify VerifyUpdate VerifyFinal
VerifyRecoverInit VerifyRecover DigestEncryptUpdate DecryptDigestUpdate
SignEncryptUpdate DecryptVerifyUpdate GenerateKey GenerateKeyPair WrapKey UnwrapKey
DeriveKey SeedRandom GenerateRandom GetFunctionStatus CancelFunction
WaitForSlotEvent""".split()


class Version(C.Structure):
    _fields_ = [("major", C.c_ubyte), ("minor", C.c_ubyte)]


class FunctionList(C.Structure):
    _fields_ = [("version", Version)] + [("C_" + f, C.c_void_p) for f in FUNCS]


class InitArgs(C.Structure):
    _fields_ = [("create", P), ("destroy", P), ("lock", P), ("unlock", P),
                ("flags", ULONG), ("reserved", P)]


class Mechanism(C.Structure):
    _fields_ = [("mechanism", ULONG), ("param", P), ("param_len", ULONG)]


class Attribute(C.Structure):
    _fields_ = [("type", ULONG), ("value", P), ("value_len", ULONG)]


if len(sys.argv) != 3:
    fail(__doc__)
pub = load_pub(sys.argv[1])
vcard_pid = int(sys.argv[2])
lib = C.CDLL(os.environ["TOKEND_MODULE"])
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
OpenSession = fn("OpenSession", ULONG, ULONG, P, P, C.POINTER(ULONG))
Login = fn("Login", ULONG, ULONG, C.c_char_p, ULONG)
FindObjectsInit = fn("FindObjectsInit", ULONG, P, ULONG)
FindObjects = fn("FindObjects", ULONG, P, ULONG, C.POINTER(ULONG))
FindObjectsFinal = fn("FindObjectsFinal", ULONG)
SignInit = fn("SignInit", ULONG, P, ULONG)
Sign = fn("Sign", ULONG, C.c_char_p, ULONG, P, C.POINTER(ULONG))
WaitForSlotEvent = fn("WaitForSlotEvent", ULONG, C.POINTER(ULONG), P)



def present_slots():
    n = ULONG(0)
    require_ok(GetSlotList(1, None, C.byref(n)), "C_GetSlotList")
    ids = (ULONG * max(n.value, 1))()
    require_ok(GetSlotList(1, ids, C.byref(n)), "C_GetSlotList")
    return list(ids[:n.value])


def find_slot(reader):
    for s in present_slots():
        info = C.create_string_buffer(256)
        require_ok(GetSlotInfo(s, info), "C_GetSlotInfo")
        if reader in info.raw[:64]:
            return s
    return None


def sign_once(slot):
    """Opens a session, logs in, signs with ID 01, verifies."""
    h = ULONG(0)
    require_ok(OpenSession(slot, CKF_SERIAL_SESSION, None, None, C.byref(h)), "C_OpenSession")
    rv = Login(h, CKU_USER, PIN.encode(), len(PIN))
    if rv not in (0, 0x100):  # CKR_USER_ALREADY_LOGGED_IN
        require_ok(rv, "C_Login")
    cls, kid = ULONG(CKO_PRIVATE_KEY), C.c_ubyte(1)
    templ = (Attribute * 2)(Attribute(CKA_CLASS, C.cast(C.byref(cls), P), C.sizeof(cls)),
                            Attribute(CKA_ID, C.cast(C.byref(kid), P), 1))
    key, cnt = ULONG(0), ULONG(0)
    require_ok(FindObjectsInit(h, templ, 2), "C_FindObjectsInit")
    require_ok(FindObjects(h, C.byref(key), 1, C.byref(cnt)), "C_FindObjects")
    require_ok(FindObjectsFinal(h), "C_FindObjectsFinal")
    if cnt.value != 1:
        raise RuntimeError("no private key with CKA_ID 01")
    msg = b"slot events " + os.urandom(16)
    digest = hashlib.sha256(msg).digest()
    mech = Mechanism(CKM_ECDSA, None, 0)
    require_ok(SignInit(h, C.byref(mech), key), "C_SignInit")
    buf, blen = C.create_string_buffer(132), ULONG(132)
    require_ok(Sign(h, digest, len(digest), buf, C.byref(blen)), "C_Sign")
    pub.verify(ecdsa_der(buf.raw[:blen.value]), msg, ec.ECDSA(hashes.SHA256()))


class Waiter(threading.Thread):
    """Thread A: one blocking C_WaitForSlotEvent."""

    def __init__(self):
        super().__init__(daemon=True)
        self.rv, self.slot, self.at = None, ULONG(0), None
        self.start()
        time.sleep(0.3)  # let it block

    def run(self):
        self.rv = WaitForSlotEvent(0, C.byref(self.slot), None)
        self.at = time.monotonic()

    def result(self, since):
        self.join(EVENT_S + 5)
        if self.is_alive():
            return None, None, None
        return self.rv, self.slot.value, self.at - since


require_ok(Initialize(C.byref(InitArgs(flags=CKF_OS_LOCKING_OK))), "C_Initialize")
reader = os.environ.get("TOKEND_READER", "Virtual PCD 00 00").encode()
slot = find_slot(reader)
if slot is None:
    fail("no slot with a token in '%s'" % reader.decode())
ev = ULONG(0)
check(WaitForSlotEvent(CKF_DONT_BLOCK, C.byref(ev), None) == CKR_NO_EVENT,
      "CKF_DONT_BLOCK right after C_Initialize: CKR_NO_EVENT")

# A waits; the main thread's calls go on meanwhile.
a = Waiter()
slowest = 0.0
for i in range(5):
    t0 = time.monotonic()
    present_slots()
    require_ok(GetTokenInfo(slot, C.create_string_buffer(512)), "C_GetTokenInfo")
    sign_once(slot)
    slowest = max(slowest, time.monotonic() - t0)
check(a.is_alive(), "A is still blocked (nothing happened to the card)")
check(slowest < STALL_S, "list, token info and a signature while A waits: slowest "
      "round %.2f s" % slowest)

# Pull the card: A returns the slot; the token is gone.
t0 = time.monotonic()
os.kill(vcard_pid, signal.SIGUSR1)
rv, got, dt = a.result(t0)
check(rv == 0 and got == slot, "pull: A returns the slot (rv %s, slot %s of %d)" %
      (rv, got, slot))
check(dt is not None and dt < EVENT_S, "pull reported in %s s" %
      ("%.2f" % dt if dt is not None else "never"))
check(slot not in present_slots(), "C_GetSlotList(tokenPresent) no longer lists it")
check(WaitForSlotEvent(CKF_DONT_BLOCK, C.byref(ev), None) == CKR_NO_EVENT,
      "CKF_DONT_BLOCK after the event: CKR_NO_EVENT")

# Insert it again: another event; it signs again.
a = Waiter()
t0 = time.monotonic()
os.kill(vcard_pid, signal.SIGUSR2)
rv, got, dt = a.result(t0)
check(rv == 0 and got == slot, "insert: A returns the slot (rv %s, slot %s)" % (rv, got))
check(dt is not None and dt < EVENT_S, "insert reported in %s s" %
      ("%.2f" % dt if dt is not None else "never"))
check(slot in present_slots(), "the token is listed again")
try:
    sign_once(slot)
    check(True, "the token signs again (signature verifies)")
except Exception as ex:  # noqa: BLE001
    check(False, "the token signs again: %s" % ex)
check(WaitForSlotEvent(CKF_DONT_BLOCK, C.byref(ev), None) == CKR_NO_EVENT,
      "nothing pending: CKR_NO_EVENT")

# C_Finalize from this thread ends A's wait.
a = Waiter()
t0 = time.monotonic()
require_ok(Finalize(None), "C_Finalize")
fin = time.monotonic() - t0
rv, got, dt = a.result(t0)
check(rv == CKR_NOT_INIT, "C_Finalize: A returns CKR_CRYPTOKI_NOT_INITIALIZED (rv %s)" %
      (hex(rv) if rv is not None else "none: still blocked"))
check(dt is not None and dt < 1.5 and fin < 1.5,
      "C_Finalize took %.2f s, A returned after %s s" %
      (fin, "%.2f" % dt if dt is not None else "never"))
log("done")
finish()
