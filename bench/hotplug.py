#!/usr/bin/python3
"""Hotplug latency and the first client after an insert (bench/hotplug.sh).

  hotplug.py run --vcard BIN --vcard-dir DIR --reader NAME --socket SOCK
                 --tokend BIN --tokend-conf FILE --tokend-log FILE
                 --tokend-pidfile FILE
                 --module TOKEND_PKCS11_SO --pub PUB.pem [--runs N]
                 [--wake-timeout S] [--vcard-arg ARG]... [--note TEXT]...
  (internal) hotplug.py waiter pcsc|p11 present|absent READER [MODULE]
  (internal) hotplug.py client --out FILE.json

run: the card starts absent. Each round inserts it (starts tokend-vcard on
vpcd's port) and later removes it (SIGTERM to tokend-vcard, which then
closes its vpcd connection), once per waiter set (BENCH_LAYOUTS, default
"alone module socket all", run in that order: all rounds of one, then the
next). tokend (exporting SOCK) is started after the "alone" rounds, before
the first other set, and runs to the end. Before each event the waiters are
started as separate processes and each waits until it is blocked:
  pcscd   SCardGetStatusChange on the reader (pyscard), pcscd's own notice;
          in every set
  alone   PyKCS11 + tokend-pkcs11.so in-process, in C_WaitForSlotEvent,
          with no tokend daemon running: how the module is deployed on a
          host without the daemon
  module  the same with tokend running beside it (both read a new card)
  socket  PyKCS11 + p11-kit-client.so through tokend's socket, likewise
("all" = all three at once.) Each prints CLOCK_MONOTONIC (one clock for
all processes) when it wakes.
t0 is CLOCK_MONOTONIC read in this process immediately before the fork of
tokend-vcard (insert) or before kill(SIGTERM) to it (remove).
After an insert and the waiters, the card is left alone until its APDU log
has not grown for SETTLE_S (the daemon has settled); then (not for "all"
or "alone")
two clients run
one after the other through the socket, each a fresh process:
C_Initialize -> slot list, token info, open -> C_Login -> find all private
keys -> C_Sign x2 (ECDSA P-256 with key 01, verified) -> C_Finalize,
APDUs counted from the card's log per phase.
Fails (status 1, reason on stderr) when a waiter is not woken within
--wake-timeout seconds or a client fails; stops what it started on exit.
"""
import argparse
import hashlib
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time

# verify(pub.pem, [[msg hex, raw r|s hex]]) raises if one is bad; the card
# logs one line per APDU.
from apdu_budget import log_lines as apdus, verify

CLIENT = os.environ.get("E2E_CLIENT", "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so")
PIN = os.environ.get("TOKEND_PIN", "123456")
SETTLE_S = float(os.environ.get("BENCH_SETTLE_S", "1.0"))
# Who waits for an event, besides pcscd's waiter. Alone, each tokend waiter
# reads the card on an insert by itself; "all" shows them competing for it.
# "alone" runs before tokend is started: the module is the card's only reader.
LAYOUTS = {"alone": ["module"], "module": ["module"], "socket": ["socket"],
           "all": ["module", "socket"]}
LAYOUT_NAMES = {"alone": "pcscd + in-process, no tokend daemon",
                "module": "pcscd + in-process, tokend beside it", "socket": "pcscd + socket",
                "all": "all three at once"}
WAITER_NAMES = {"module": "in-process", "socket": "socket"}
CLIENT_COLS = {"module": "idle", "socket": "watching"}
PHASES = [("init", "C_Initialize (connect)"), ("open", "slot list, token info, open"),
          ("login", "C_Login"), ("find", "find all private keys"),
          ("sign", "C_Sign x2 (ECDSA P-256)"), ("final", "C_Finalize")]


def mono():
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def say(*words):
    print(*words, flush=True)


# ---- waiters (separate processes) ----

def waiter_pcsc(want, reader):
    from smartcard import scard as S
    rv, ctx = S.SCardEstablishContext(S.SCARD_SCOPE_USER)
    if rv:
        raise SystemExit("SCardEstablishContext: %s" % S.SCardGetErrorMessage(rv))
    rv, st = S.SCardGetStatusChange(ctx, 0, [(reader, S.SCARD_STATE_UNAWARE)])
    if rv:
        raise SystemExit("SCardGetStatusChange: %s" % S.SCardGetErrorMessage(rv))
    flag = S.SCARD_STATE_PRESENT if want == "present" else S.SCARD_STATE_EMPTY
    if st[0][1] & flag:
        raise SystemExit("reader is already %s" % want)
    say("ready")
    while True:
        state = st[0][1] & ~S.SCARD_STATE_CHANGED
        rv, st = S.SCardGetStatusChange(ctx, S.INFINITE, [(reader, state)])
        t = mono()
        if rv:
            raise SystemExit("SCardGetStatusChange: %s" % S.SCardGetErrorMessage(rv))
        if st[0][1] & flag:
            say("woke", t, t)
            return


def waiter_p11(want, reader, module):
    import PyKCS11
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slot = None
    for s in lib.getSlotList(tokenPresent=False):
        if reader in lib.getSlotInfo(s).slotDescription:
            slot = s
    if slot is None:
        raise SystemExit("no slot for reader '%s'" % reader)

    def present():
        return bool(lib.getSlotInfo(slot).flags & PyKCS11.CKF_TOKEN_PRESENT)
    if present() == (want == "present"):
        raise SystemExit("slot is already %s" % want)
    # Consume what happened before (and make the module take its snapshot)
    # so the blocking wait below reports only the coming event.
    while True:
        try:
            lib.waitForSlotEvent(PyKCS11.CKF_DONT_BLOCK)
        except PyKCS11.PyKCS11Error as e:
            if e.value == PyKCS11.CKR_NO_EVENT:
                break
            raise
    say("ready")
    first = None
    while True:
        s = lib.waitForSlotEvent(0)
        t = mono()
        first = first or t
        # A wake counts when the slot then shows the new state.
        if s == slot and present() == (want == "present"):
            say("woke", first, t)
            break
    lib.lib.C_Finalize()
    sys.stdout.flush()
    os._exit(0)  # no destructors calling into a finalized module


# ---- the client after an insert ----

def client(out):
    import PyKCS11
    log = os.environ["BENCH_APDU_LOG"]
    res = {"phases": {}, "sigs": []}
    t, a = time.perf_counter(), apdus(log)

    def mark(name):
        nonlocal t, a
        t2, a2 = time.perf_counter(), apdus(log)
        res["phases"][name] = [(t2 - t) * 1000.0, a2 - a]
        t, a = time.perf_counter(), apdus(log)

    lib = PyKCS11.PyKCS11Lib()
    lib.load(CLIENT)
    mark("init")
    reader = os.environ["BENCH_READER"]
    slot = [s for s in lib.getSlotList(tokenPresent=True)
            if reader in lib.getSlotInfo(s).slotDescription]
    if len(slot) != 1:
        raise SystemExit("no token in '%s'" % reader)
    lib.getTokenInfo(slot[0])
    s = lib.openSession(slot[0], PyKCS11.CKF_SERIAL_SESSION)
    mark("open")
    s.login(PIN)
    mark("login")
    keys = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])
    mark("find")
    key = [k for k in keys if bytes(s.getAttributeValue(k, [PyKCS11.CKA_ID])[0]) == b"\x01"]
    if len(key) != 1:
        raise SystemExit("private key 01 not among %d private keys" % len(keys))
    t, a = time.perf_counter(), apdus(log)  # (the CKA_ID reads are not counted)
    for _ in range(2):
        msg = os.urandom(64)
        sig = bytes(s.sign(key[0], hashlib.sha256(msg).digest(), PyKCS11.Mechanism(PyKCS11.CKM_ECDSA)))
        res["sigs"].append([msg.hex(), sig.hex()])
    mark("sign")
    rv = lib.lib.C_Finalize()
    if rv != PyKCS11.CKR_OK:
        raise SystemExit("C_Finalize: %s" % PyKCS11.CKR[rv])
    mark("final")
    res["keys"] = len(keys)
    with open(out, "w") as f:
        json.dump(res, f)
    sys.stdout.flush()
    os._exit(0)


# ---- the run ----

class Fail(Exception):
    pass


class Bench:
    def __init__(self, args):
        self.a = args
        self.log = os.path.join(args.vcard_dir, "apdu.log")
        self.procs = []  # everything started, stopped in close()
        self.vcard = None
        self.tokend = None
        self.tmp = tempfile.mkdtemp(prefix="hotplug.", dir=args.vcard_dir)

    def spawn(self, cmd, **kw):
        p = subprocess.Popen(cmd, **kw)
        self.procs.append(p)
        return p

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def start_tokend(self):
        log = open(self.a.tokend_log, "a")
        self.tokend = self.spawn([self.a.tokend, "-f", "-c", self.a.tokend_conf],
                                 stdout=log, stderr=log)
        log.close()
        with open(self.a.tokend_pidfile, "w") as f:
            f.write("%d\n" % self.tokend.pid)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.a.socket):
            if self.tokend.poll() is not None or time.monotonic() > deadline:
                raise Fail("tokend did not start (see %s)" % self.a.tokend_log)
            time.sleep(0.05)

    def stderr_of(self, name):
        try:
            with open(os.path.join(self.tmp, name + ".err")) as f:
                return f.read().strip()[-800:]
        except FileNotFoundError:
            return ""

    def start_waiters(self, want, names):
        me = [sys.executable, os.path.abspath(__file__), "waiter"]
        cmds = {"pcscd": me + ["pcsc", want, self.a.reader],
                "module": me + ["p11", want, self.a.reader, self.a.module],
                "socket": me + ["p11", want, self.a.reader, CLIENT]}
        env = dict(os.environ, P11_KIT_SERVER_ADDRESS="unix:path=" + self.a.socket)
        ws = {}
        for name in ["pcscd"] + names:
            err = open(os.path.join(self.tmp, name + ".err"), "w")
            ws[name] = self.spawn(cmds[name], stdout=subprocess.PIPE, stderr=err, env=env, bufsize=0)
            err.close()
        for name, p in ws.items():
            line = self.read_line(p, time.monotonic() + 30)
            if line != "ready":
                raise Fail("%s waiter did not start (%s): %s" % (name, line or "no output",
                                                                 self.stderr_of(name)))
        time.sleep(0.3)  # let them reach the blocking call
        return ws

    @staticmethod
    def read_line(p, deadline):
        line = b""  # unbuffered: select() sees all that is unread
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([p.stdout], [], [], left)[0]:
                return None
            c = os.read(p.stdout.fileno(), 1)
            if not c:
                break
            line += c
        return line.decode().strip() or None

    def collect(self, ws, t0, what):
        out = {}
        deadline = time.monotonic() + self.a.wake_timeout
        for name, p in ws.items():
            line = self.read_line(p, deadline)
            if not line or not line.startswith("woke "):
                raise Fail("%s: the %s waiter was not woken within %g s%s" % (
                    what, name, self.a.wake_timeout,
                    (": " + self.stderr_of(name)) if self.stderr_of(name) else ""))
            _, woke, state = line.split()
            out[name] = ((float(woke) - t0) * 1000.0, (float(state) - t0) * 1000.0)
            p.wait(10)
        return out

    def insert(self, what, names):
        if self.vcard is not None:
            raise Fail("card already inserted")
        ws = self.start_waiters("present", names)
        cmd = [self.a.vcard, "--port", "35963", "--state", os.path.join(self.a.vcard_dir, "state"),
               "--apdu-log", self.log] + self.a.vcard_arg
        err = open(os.path.join(self.a.vcard_dir, "stderr.log"), "a")
        before = apdus(self.log)
        t0 = mono()
        self.vcard = self.spawn(cmd, stdout=err, stderr=err)
        err.close()
        with open(self.a.vcard_pidfile, "w") as f:
            f.write("%d\n" % self.vcard.pid)
        return self.collect(ws, t0, what), before

    def remove(self, what, names):
        ws = self.start_waiters("absent", names)
        t0 = mono()
        self.vcard.send_signal(signal.SIGTERM)
        res = self.collect(ws, t0, what)
        rc = self.vcard.wait(10)
        self.vcard = None
        if rc != 0:
            raise Fail("tokend-vcard exited with status %d" % rc)
        return res

    def settle(self):
        """Waits until the card's log has not grown for SETTLE_S."""
        n, since, start = apdus(self.log), time.monotonic(), time.monotonic()
        while time.monotonic() - since < SETTLE_S:
            time.sleep(0.05)
            m = apdus(self.log)
            if m != n:
                n, since = m, time.monotonic()
            if time.monotonic() - start > 60:
                raise Fail("the card did not go quiet within 60 s of the insert")
        return n

    def client(self, what):
        out = os.path.join(self.tmp, "client.json")
        if os.path.exists(out):
            os.unlink(out)
        env = dict(os.environ, P11_KIT_SERVER_ADDRESS="unix:path=" + self.a.socket,
                   BENCH_APDU_LOG=self.log, BENCH_READER=self.a.reader)
        t = time.perf_counter()
        p = subprocess.run([sys.executable, os.path.abspath(__file__), "client", "--out", out],
                           env=env, capture_output=True, text=True, timeout=120)
        wall = (time.perf_counter() - t) * 1000.0
        if p.returncode != 0 or not os.path.exists(out):
            raise Fail("%s failed (exit %d): %s" % (what, p.returncode, p.stderr.strip()[-800:]))
        res = json.load(open(out))
        try:
            verify(self.a.pub, res["sigs"])
        except Exception as ex:
            raise Fail("%s: a signature does not verify (%r)" % (what, ex))
        res["process_ms"] = wall
        return res

    def run(self, layouts):
        """Per layout, per round: insert, settle, two clients (not for
        "all"), remove. Returns {layout: [round, ...]}. Layouts run one
        after the other, in order: once a socket client has waited for a
        slot event, tokend keeps watching and reads every new card on
        arrival, so "module" comes first; "alone" before tokend starts."""
        out = {lay: [] for lay in layouts}
        for lay in layouts:
            if lay == "alone" and self.tokend is not None:
                raise Fail('BENCH_LAYOUTS: "alone" must come before the others')
            if lay != "alone" and self.tokend is None:
                self.start_tokend()
            for i in range(1, self.a.runs + 1):
                names, r, what = LAYOUTS[lay], {}, "round %d (%s)" % (i, LAYOUT_NAMES[lay])
                r["insert"], before = self.insert("insert, " + what, names)
                r["arrival_apdus"] = self.settle() - before
                if lay not in ("all", "alone"):
                    r["first"] = self.client("first client after insert, " + what)
                    r["second"] = self.client("second client after insert, " + what)
                time.sleep(0.2)
                r["remove"] = self.remove("remove, " + what, names)
                out[lay].append(r)
                print("%s: insert %s; remove %s%s" % (
                    what, fmt_round(r["insert"]), fmt_round(r["remove"]),
                    "; APDUs first %d, second %d" % (total(r["first"])[1], total(r["second"])[1])
                    if "first" in r else ""), file=sys.stderr, flush=True)
        if self.tokend is not None and self.tokend.poll() is not None:
            raise Fail("tokend died during the run (exit %d)" % self.tokend.returncode)
        return out


def fmt_round(w):
    return ", ".join("%s %.1f" % (k, v[0]) for k, v in w.items())


def total(res):
    return (sum(v[0] for v in res["phases"].values()), sum(v[1] for v in res["phases"].values()))


def ms(v):
    return "%.1f" % v


def med_max(vals):
    return [ms(statistics.median(vals)), ms(max(vals))]


def report(args, res):
    n = args.runs
    print("### Hotplug: from the event to a blocked waiter's wake-up (ms)\n")
    for note in args.note:
        print(note)
    print("t0 = CLOCK_MONOTONIC read just before the fork+exec of tokend-vcard (insert: it then "
          "connects to vpcd) or just before kill(SIGTERM) to it (remove: it closes its vpcd "
          "connection); each waiter, a process of its own started and blocked before t0, reads "
          "CLOCK_MONOTONIC when its call returns. pcscd = SCardGetStatusChange on the reader; "
          "in-process = C_WaitForSlotEvent in tokend-pkcs11.so (\"no tokend daemon\": before tokend "
          "is started; \"tokend beside it\": the daemon also reads the new card); socket = C_WaitForSlotEvent "
          "through p11-kit-client.so and tokend. Per waiter set, in this order, %d rounds of: "
          "insert, settle, two clients (not with no tokend daemon or all three), remove. The addition is per event (waiter − pcscd's waiter of the "
          "same event), then median/max.\n" % n)
    print("| event | waiters | tokend waiter | pcscd median | pcscd max | tokend median | tokend max "
          "| **tokend adds, median** | **max** |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    adds = {}
    for ev in ("insert", "remove"):
        for lay, rounds in res.items():
            for w in LAYOUTS[lay]:
                pc = [r[ev]["pcscd"][0] for r in rounds]
                tk = [r[ev][w][0] for r in rounds]
                add = [r[ev][w][0] - r[ev]["pcscd"][0] for r in rounds]
                adds[(ev, lay, w)] = max(add)
                cells = med_max(pc) + med_max(tk) + ["**%s**" % c for c in med_max(add)]
                print("| %s | %s | %s | %s |" % (ev, LAYOUT_NAMES[lay], WAITER_NAMES[w], " | ".join(cells)))
    late = [(ev, lay, w, r[ev][w]) for lay, rounds in res.items() for r in rounds
            for ev in ("insert", "remove") for w in LAYOUTS[lay] if r[ev][w][1] - r[ev][w][0] > 0.5]
    if late:
        print("\nWakes before the slot showed the new state (woke/state seen, ms): " +
              "; ".join("%s %s %s %.1f/%.1f" % (ev, lay, w, a, b) for ev, lay, w, (a, b) in late))
    # Deployed: the module without the daemon, or clients through the socket.
    alone = [v for (ev, lay, w), v in adds.items() if lay in ("alone", "socket")]
    if alone:
        print("\nTarget, tokend adds < 100 ms over pcscd (the module with no daemon, the "
              "socket): %s, max %.1f ms." % ("met" if max(alone) < 100 else "NOT met", max(alone)))
    both = [v for (ev, lay, w), v in adds.items() if lay in ("module", "all") and w == "module"]
    if both:
        print("The in-process module with the daemon beside it: max %.1f ms. Both then read "
              "the new card at the same time, and pcsc-lite makes the one that finds the "
              "reader in the other's transaction retry in 100 ms steps "
              "(PCSCLITE_LOCK_POLL_RATE): PC/SC contention, not tokend's own delay." % max(both))
    arrival = {lay: "/".join(str(r["arrival_apdus"]) for r in rounds) for lay, rounds in res.items()}
    print("\nAPDUs from the insert until the card's log was quiet for %.1f s (settled), per round: %s.\n"
          % (SETTLE_S, "; ".join("%s %s" % (LAYOUT_NAMES[k], v) for k, v in arrival.items())))
    clients = [lay for lay in res if lay not in ("all", "alone")]
    if not clients:
        return
    print("### The first client after an insert vs a second one (through the socket)\n")
    print("After each insert and settle, two fresh client processes one after the other: "
          "C_Initialize -> slot list, token info, open -> C_Login -> find all private keys -> "
          "C_Sign x2 (each verified against the card's public key) -> C_Finalize. "
          "Columns by what tokend did when the card arrived: \"idle\" = no client of tokend "
          "was waiting (after the in-process rounds, tokend had never had one), \"watching\" = "
          "a socket client was blocked in C_WaitForSlotEvent. APDUs: median over rounds [min–max]; ms: median.\n")
    head = ["phase"]
    for kind in ("APDUs", "ms"):
        for lay in clients:
            head += ["%s, %s: first" % (kind, CLIENT_COLS[lay]), "second"]
    print("| " + " | ".join(head) + " |")
    print("|---" + "|---:" * (len(head) - 1) + "|")

    def cell_a(vals):
        s = "%g" % statistics.median(vals)
        return s if min(vals) == max(vals) else "%s [%d–%d]" % (s, min(vals), max(vals))

    def row(label, get, bold=False):
        cells = []
        for kind, fmt in ((1, cell_a), (0, lambda v: ms(statistics.median(v)))):
            for lay in clients:
                for c in ("first", "second"):
                    cells.append(fmt([get(r[c])[kind] for r in res[lay]]))
        if bold:
            cells = ["**%s**" % c for c in cells]
            label = "**%s**" % label
        print("| %s | %s |" % (label, " | ".join(cells)))
    for key, label in PHASES:
        row(label, lambda c, key=key: c["phases"][key])
    row("total", total, bold=True)
    keys = sorted({str(r[c]["keys"]) for lay in clients for r in res[lay] for c in ("first", "second")})
    print("\nPrivate keys found: %s; %d signatures, all verified. Whole client process (Python start "
          "included), median ms: %s." % (
              "/".join(keys), 4 * n * len(clients),
              "; ".join("%s first %.0f, second %.0f" % (
                  CLIENT_COLS[lay], statistics.median(r["first"]["process_ms"] for r in res[lay]),
                  statistics.median(r["second"]["process_ms"] for r in res[lay])) for lay in clients)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--vcard", required=True)
    r.add_argument("--vcard-dir", required=True)
    r.add_argument("--vcard-arg", action="append", default=[])
    r.add_argument("--vcard-pidfile", required=True)
    r.add_argument("--reader", required=True)
    r.add_argument("--socket", required=True)
    r.add_argument("--module", required=True)
    r.add_argument("--tokend", required=True)
    r.add_argument("--tokend-conf", required=True)
    r.add_argument("--tokend-log", required=True)
    r.add_argument("--tokend-pidfile", required=True)
    r.add_argument("--pub", required=True)
    r.add_argument("--runs", type=int, default=5)
    r.add_argument("--wake-timeout", type=float, default=30.0)
    r.add_argument("--note", action="append", default=[])
    w = sub.add_parser("waiter")
    w.add_argument("kind", choices=["pcsc", "p11"])
    w.add_argument("want", choices=["present", "absent"])
    w.add_argument("reader")
    w.add_argument("module", nargs="?")
    c = sub.add_parser("client")
    c.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.cmd == "waiter":
        if args.kind == "pcsc":
            waiter_pcsc(args.want, args.reader)
        else:
            waiter_p11(args.want, args.reader, args.module)
        return 0
    if args.cmd == "client":
        client(args.out)
        return 0
    layouts = os.environ.get("BENCH_LAYOUTS", "alone module socket all").split()
    if not layouts or not set(layouts) <= set(LAYOUTS):
        ap.error("BENCH_LAYOUTS: any of %s" % " ".join(LAYOUTS))
    bench = Bench(args)
    # SIGTERM from hotplug.sh's trap (or a timeout) still stops our children.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        res = bench.run(layouts)
    except Fail as ex:
        print("FAIL: %s" % ex, file=sys.stderr)
        return 1
    finally:
        bench.close()
    report(args, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
