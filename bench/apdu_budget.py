#!/usr/bin/python3
"""APDU budget of a fresh PKCS#11 client, per call, for several modules.

For each module, in a fresh process each time, this runs
  C_Initialize -> C_GetSlotList -> C_GetSlotInfo -> C_GetTokenInfo ->
  C_OpenSession -> C_Login -> C_FindObjects* (private key, CKA_ID 01) ->
  C_Sign x2 (CKM_ECDSA on a SHA-256 digest) -> C_Finalize
and counts the lines the virtual card (tokend-vcard --apdu-log) appends to its
APDU log during each call (one line per command/response exchange; the log
is flushed per line), plus the wall time of each call. Every signature is
verified against the card's public key, so a broken run cannot be counted.
A module that is missing or fails is shown as n/a with the reason.

usage: apdu_budget.py --apdu-log FILE --pub PUB.pem --module NAME=PATH...
                      [--reader NAME] [--runs N] [--pin PIN] [--note TEXT]
(bench/run.sh sets up pcscd and the virtual card and calls this.)"""
import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CALLS = [
    ("init", "C_Initialize (load)"),
    ("slots", "C_GetSlotList"),
    ("slotinfo", "C_GetSlotInfo"),
    ("tokeninfo", "C_GetTokenInfo"),
    ("open", "C_OpenSession"),
    ("login", "C_Login"),
    ("find", "C_FindObjects* (key 01)"),
    ("sign1", "C_Sign #1 (ECDSA P-256)"),
    ("sign2", "C_Sign #2 (ECDSA P-256)"),
    ("final", "C_Finalize"),
]


INS = {"A4": "SELECT", "CB": "GET DATA", "C0": "GET RESPONSE", "20": "VERIFY",
       "87": "GENERAL AUTH", "FD": "VERSION", "F8": "SERIAL", "F7": "METADATA",
       "24": "CHANGE REF", "2C": "RESET RETRY", "47": "GENERATE", "DB": "PUT DATA"}


def log_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def log_ins(path, skip):
    """Instruction bytes of the log lines after the first `skip`."""
    out = []
    try:
        with open(path, "rb") as f:
            for i, line in enumerate(f):
                if i >= skip and len(line) >= 4:
                    out.append(line[2:4].decode("ascii", "replace").upper())
    except FileNotFoundError:
        pass
    return out


def ins_summary(ins):
    counts = {}
    for i in ins:
        counts[i] = counts.get(i, 0) + 1
    return ", ".join(INS.get(i, "INS " + i) + (" x%d" % n if n > 1 else "")
                     for i, n in counts.items())


def child(args):
    """One fresh client: runs the workflow, writes JSON to args.out."""
    import PyKCS11

    res = {"calls": {}, "sigs": []}
    state = {}

    def measure(key, fn):
        before = log_lines(args.apdu_log)
        t0 = time.perf_counter()
        try:
            value = fn()
        except Exception as ex:  # PyKCS11Error or anything else: report where
            res["error"] = {"call": key, "what": str(ex).strip()}
            raise
        finally:
            ms = (time.perf_counter() - t0) * 1000.0
            res["calls"][key] = {"apdus": log_lines(args.apdu_log) - before, "ms": ms,
                                 "ins": log_ins(args.apdu_log, before)}
        return value

    def slot_of(slots):
        for s in slots:
            if args.reader in state["lib"].getSlotInfo(s).slotDescription:
                return s
        raise RuntimeError("no token in reader '%s'" % args.reader)

    try:
        lib = PyKCS11.PyKCS11Lib()
        state["lib"] = lib
        measure("init", lambda: lib.load(args.child))
        slots = measure("slots", lambda: lib.getSlotList(tokenPresent=True))
        slot = measure("slotinfo", lambda: slot_of(slots))
        info = measure("tokeninfo", lambda: lib.getTokenInfo(slot))
        res["token"] = "%s / %s / %s" % (info.label.strip(), info.manufacturerID.strip(), info.model.strip())
        session = measure("open", lambda: lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION))
        measure("login", lambda: session.login(args.pin))

        def find():
            keys = session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
                                        (PyKCS11.CKA_ID, b"\x01")])
            if len(keys) != 1:
                raise RuntimeError("%d private keys with CKA_ID 01" % len(keys))
            return keys[0]
        key = measure("find", find)
        for n in ("sign1", "sign2"):
            msg = os.urandom(64)
            digest = hashlib.sha256(msg).digest()
            sig = measure(n, lambda: session.sign(key, digest, PyKCS11.Mechanism(PyKCS11.CKM_ECDSA)))
            res["sigs"].append([msg.hex(), bytes(sig).hex()])

        def finalize():
            rv = lib.lib.C_Finalize()
            if rv != PyKCS11.CKR_OK:
                raise PyKCS11.PyKCS11Error(rv)
        measure("final", finalize)
    except Exception as ex:
        res.setdefault("error", {"call": "?", "what": repr(ex)})
    with open(args.out, "w") as f:
        json.dump(res, f)
    sys.stdout.flush()
    os._exit(0)  # no destructors calling into a finalized module


def verify(pub_path, sigs):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    pub = serialization.load_pem_public_key(open(pub_path, "rb").read())
    for msg, sig in sigs:
        msg, sig = bytes.fromhex(msg), bytes.fromhex(sig)
        n = len(sig) // 2
        der = encode_dss_signature(int.from_bytes(sig[:n], "big"), int.from_bytes(sig[n:], "big"))
        pub.verify(der, msg, ec.ECDSA(hashes.SHA256()))  # raises InvalidSignature


def run_module(args, name, path):
    """Runs the workflow args.runs times in fresh processes. Returns
    {"calls": {key: (apdus, median ms)}, "error": str|None, ...}."""
    if not os.path.isfile(path):
        return {"error": "module not found: %s" % path}
    runs = []
    for _ in range(args.runs):
        with tempfile.NamedTemporaryFile("r", suffix=".json") as out:
            cmd = [sys.executable, os.path.abspath(__file__), "--child", path, "--out", out.name,
                   "--apdu-log", args.apdu_log, "--reader", args.reader, "--pin", args.pin]
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            except subprocess.TimeoutExpired:
                return {"error": "timed out after 120 s"}
            try:
                res = json.load(out)
            except ValueError:
                tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
                return {"error": "client process died (exit %d): %s" % (p.returncode, tail)}
        if "error" in res:
            e = res["error"]
            res["failed_call"] = e["call"]
            res["error"] = "%s failed: %s" % (dict(CALLS).get(e["call"], e["call"]), e["what"])
            return res | {"partial": True}
        try:
            verify(args.pub, res["sigs"])
        except Exception as ex:
            return {"error": "a signature does not verify (%r)" % ex}
        runs.append(res)
    calls = {}
    varies = []
    for key, _ in CALLS:
        counts = [r["calls"][key]["apdus"] for r in runs]
        if len(set(counts)) > 1:
            varies.append("%s %s" % (key, counts))
        calls[key] = (counts[-1], statistics.median(r["calls"][key]["ms"] for r in runs))
    ins = {key: runs[-1]["calls"][key]["ins"] for key, _ in CALLS}
    return {"calls": calls, "ins": ins, "error": None, "token": runs[-1].get("token"), "varies": varies,
            "signatures": sum(len(r["sigs"]) for r in runs)}


def table(args, names, results):
    out = []
    head = ["call"] + ["%s APDUs" % n for n in names] + ["%s ms" % n for n in names]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join(["---"] + ["---:"] * (2 * len(names))) + "|")
    totals = {n: [0, 0.0, True] for n in names}
    for key, label in CALLS:
        row = [label]
        cells_a, cells_t = [], []
        for n in names:
            r = results[n]
            c = (r.get("calls") or {}).get(key)
            if r.get("error") and (not r.get("partial") or c is None):
                cells_a.append("n/a")
                cells_t.append("n/a")
                totals[n][2] = False
                continue
            if key == r.get("failed_call"):
                cells_a.append("fail")
                cells_t.append("fail")
                totals[n][2] = False
                continue
            if isinstance(c, dict):  # partial run: raw child figures
                c = (c["apdus"], c["ms"])
            cells_a.append(str(c[0]))
            cells_t.append("%.1f" % c[1])
            totals[n][0] += c[0]
            totals[n][1] += c[1]
            if r.get("error"):
                totals[n][2] = False
        out.append("| " + " | ".join(row + cells_a + cells_t) + " |")
    tot = ["**total**"]
    tot += ["**%d**" % totals[n][0] if totals[n][2] else "n/a" for n in names]
    tot += ["**%.1f**" % totals[n][1] if totals[n][2] else "n/a" for n in names]
    out.append("| " + " | ".join(tot) + " |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--apdu-log", required=True)
    ap.add_argument("--pub", help="PEM public key of the card's key 01 (9A, P-256)")
    ap.add_argument("--module", action="append", default=[], metavar="NAME=PATH")
    ap.add_argument("--reader", default="Virtual PCD 00 00")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pin", default="123456")
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("--budget", action="append", default=[], metavar="NAME",
                    help="check NAME's counts against tokend's budget (issue 3, part 5)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return 0
    if not args.module or not args.pub:
        ap.error("--module and --pub are required")
    names, results = [], {}
    for m in args.module:
        name, _, path = m.partition("=")
        names.append(name)
        results[name] = run_module(args, name, path)

    print("### APDUs and wall time per call, fresh process (init -> slot list -> token info ->")
    print("### open -> login -> find key -> ECDSA sign x2 -> finalize)\n")
    for n in args.note:
        print(n)
    print("Runs per module: %d (APDU counts of the last run, median times).\n" % args.runs)
    print(table(args, names, results))
    print()
    status = 0
    for n in names:
        r = results[n]
        if r.get("error"):
            print("* %s: n/a — %s" % (n, r["error"]))
            status = 1
        else:
            print("* %s: token '%s'; %d signatures, all verified" % (n, r["token"], r["signatures"]))
            if r["varies"]:
                print("  APDU counts varied between runs: %s" % "; ".join(r["varies"]))
    print("\nAPDUs by instruction (last run):\n")
    for n in names:
        r = results[n]
        if r.get("error"):
            continue
        print("* %s:" % n)
        for key, label in CALLS:
            if r["ins"][key]:
                print("  * %s: %s" % (label, ins_summary(r["ins"][key])))
    for n in args.budget:
        bad = budget_violations(results.get(n, {}))
        print("\nBudget check for %s (after the card is read: no APDU for slot/token info, "
              "open, find; one VERIFY per login; one GENERAL AUTHENTICATE per signature): %s"
              % (n, "ok" if not bad else "VIOLATED"))
        for b in bad:
            print("* " + b)
        if bad:
            status = 1
    return status if os.environ.get("APDU_BUDGET_STRICT") else 0


def budget_violations(r):
    if not r or r.get("error"):
        return ["no complete run: %s" % (r or {}).get("error", "module not run")]
    out = []
    want = {"slotinfo": [], "tokeninfo": [], "open": [], "find": [], "login": ["20"],
            "sign1": ["87"], "sign2": ["87"]}
    for key, ins in want.items():
        got = r["ins"][key]
        # Chaining (several GENERAL AUTHENTICATE parts) or GET RESPONSE only
        # where the data needs it: a P-256 signature needs neither.
        if got != ins:
            out.append("%s: expected %s, got %s" % (dict(CALLS)[key], ins_summary(ins) or "no APDU",
                                                   ins_summary(got) or "no APDU"))
    return out


if __name__ == "__main__":
    sys.exit(main())
