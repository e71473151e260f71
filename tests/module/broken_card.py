"""tokend only: a card whose answers break (tokend-vcard --fault-file).

  broken_card.py sign FAULT_FILE PUB.pem   one process, one session: ECDSA
        with ID 01 works; while the card garbles / truncates / overlongs /
        answers an unknown status word to GENERAL AUTHENTICATE (87), C_Sign
        returns CKR_DEVICE_ERROR; once the fault is cleared the next C_Sign
        works and verifies, in the same session.
  broken_card.py open FAULT_FILE PUB.pem   for each of SELECT (A4), version
        (FD), serial (F8), metadata (F7), GET DATA (CB) and VERIFY (20), and
        each fault: a fresh process (below) opens the card: it must end
        normally (no crash, no sanitizer report), and a broken SELECT must
        leave no usable token; after the fault is cleared a fresh process
        signs again.
  broken_card.py child PUB.pem    what a user does: slot list, token info,
        session, login, find, sign. Prints the CK_RV of each step."""
import hashlib
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from p11util import PIN, PyKCS11, check, ecdsa_der, fail, finish, load, load_pub, log  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, utils  # noqa: E402

FAULTS = ["garble", "truncate", "bad-sw", "overlong"]
OPEN_INS = ["a4", "fd", "f8", "f7", "cb", "20"]


def set_fault(path, fault):
    with open(path + ".tmp", "w") as f:
        f.write(fault + "\n")
    os.rename(path + ".tmp", path)


def sign_once(s, key, digest):
    rv = s.lib.C_SignInit(s.session, PyKCS11.Mechanism(PyKCS11.CKM_ECDSA).to_native(), key)
    if rv != PyKCS11.CKR_OK:
        return rv, None
    sig = PyKCS11.ckbytelist([0] * 64)
    rv = s.lib.C_Sign(s.session, PyKCS11.ckbytelist(digest), sig)
    return rv, bytes(sig) if rv == PyKCS11.CKR_OK else None


def verifies(pub, digest, sig):
    try:
        pub.verify(ecdsa_der(sig), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        return True
    except Exception:  # noqa: BLE001
        return False


def find_reader_slot(lib):
    reader = os.environ.get("TOKEND_READER", "Virtual PCD 00 00")
    for slot in lib.getSlotList(tokenPresent=True):
        if reader in lib.getSlotInfo(slot).slotDescription:
            return slot
    return None


def sign_test(fault_file, pub_path):
    pub = load_pub(pub_path)
    lib = load()
    slot = find_reader_slot(lib)
    if slot is None:
        fail("no token")
    s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
    s.login(PIN)
    key = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_ID, b"\x01")])[0]
    digest = hashlib.sha256(b"before").digest()
    rv, sig = sign_once(s, key, digest)
    check(rv == PyKCS11.CKR_OK and verifies(pub, digest, sig), "sign before any fault")
    for fault in FAULTS:
        set_fault(fault_file, fault + " 87")
        digest = hashlib.sha256(fault.encode()).digest()
        rv, _ = sign_once(s, key, digest)
        check(rv == PyKCS11.CKR_DEVICE_ERROR,
              "GENERAL AUTHENTICATE %s: C_Sign -> %s (want CKR_DEVICE_ERROR)" % (fault, PyKCS11.CKR.get(rv, rv)))
        set_fault(fault_file, "none")
        rv, sig = sign_once(s, key, digest)
        check(rv == PyKCS11.CKR_OK and verifies(pub, digest, sig),
              "after %s is cleared: C_Sign -> %s, signature verifies" % (fault, PyKCS11.CKR.get(rv, rv)))
    s.logout()
    s.closeSession()
    finish()


def child(pub_path):
    """Each step's result on stdout as 'step RV'; exit 0 unless it crashed."""
    lib = load()
    slot = find_reader_slot(lib)
    if slot is None:
        print("slot none")
        return
    steps = [("token", lambda: lib.getTokenInfo(slot))]
    state = {}

    def open_():
        state["s"] = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)

    def login():
        state["s"].login(PIN)

    def find():
        state["k"] = state["s"].findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
                                             (PyKCS11.CKA_ID, b"\x01")])[0]

    def sign():
        digest = hashlib.sha256(b"child").digest()
        rv, sig = sign_once(state["s"], state["k"], digest)
        if rv != PyKCS11.CKR_OK:
            raise PyKCS11.PyKCS11Error(rv)
        if not verifies(load_pub(pub_path), digest, sig):
            raise PyKCS11.PyKCS11Error(-1)

    steps += [("open", open_), ("login", login), ("find", find), ("sign", sign)]
    for name, fn in steps:
        try:
            fn()
            print("%s CKR_OK" % name)
        except PyKCS11.PyKCS11Error as ex:
            print("%s %s" % (name, PyKCS11.CKR.get(ex.value, ex.value)))
            return
        except IndexError:
            print("%s not-found" % name)
            return


def run_child(pub_path):
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "child", pub_path],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout.split("\n"), r.stderr


def open_test(fault_file, pub_path):
    for ins in OPEN_INS:
        for fault in FAULTS:
            set_fault(fault_file, "%s %s" % (fault, ins))
            rc, out, err = run_child(pub_path)
            steps = [x for x in out if x]
            what = "%s on INS %s" % (fault, ins.upper())
            check(rc == 0 and "Sanitizer" not in err and "runtime error" not in err,
                  "%s: the program ends normally (status %d)%s" % (what, rc, ("\n" + err) if rc else ""))
            check(steps and steps[-1].split()[1] in ("CKR_OK", "CKR_DEVICE_ERROR", "CKR_TOKEN_NOT_PRESENT",
                                                     "CKR_TOKEN_NOT_RECOGNIZED", "not-found")
                  or steps == ["slot none"],
                  "%s: a clean result (%s)" % (what, ", ".join(steps)))
            if ins == "f7" or (ins == "f8" and fault in ("truncate", "bad-sw")):
                # A YubiKey's own instructions answered with garbage: the user
                # gets an error, never a token that silently lacks its key.
                # (A garbled 4-byte serial is just another number.)
                check("find not-found" not in steps and "sign CKR_OK" not in steps,
                      "%s: reported, not hidden (%s)" % (what, ", ".join(steps)))
            if ins == "a4":
                check(steps == ["slot none"] or steps[0].split()[1] != "CKR_OK"
                      or any(x.split()[1] == "CKR_DEVICE_ERROR" for x in steps),
                      "%s: no usable token (%s)" % (what, ", ".join(steps)))
    set_fault(fault_file, "none")
    rc, out, err = run_child(pub_path)
    check(rc == 0 and "sign CKR_OK" in out, "fault cleared: a fresh process signs (%s)" % ", ".join(x for x in out if x))
    finish()


if len(sys.argv) == 4 and sys.argv[1] == "sign":
    sign_test(sys.argv[2], sys.argv[3])
elif len(sys.argv) == 4 and sys.argv[1] == "open":
    open_test(sys.argv[2], sys.argv[3])
elif len(sys.argv) == 3 and sys.argv[1] == "child":
    child(sys.argv[2])
else:
    fail(__doc__)
