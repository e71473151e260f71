#!/usr/bin/python3
"""Socket servers side by side: tokend vs `p11-kit server` (+ a provider
module), both reached through Debian's p11-kit-client.so, on the same card.

  daemon_bench.py measure --name NAME --socket PATH --pid PID --apdu-log LOG
                  --out FILE.json [--runs N] [--sigs N] [--attr-secs S]
                  [--parts newclient,steady,memory]
  daemon_bench.py report FILE.json... [--note TEXT]...
  (internal) daemon_bench.py newclient | steady SIGS ATTR_SECS | idle

measure: (1) new-client cost: a fresh process connects, C_Initialize, finds
the private key with CKA_ID 01 (slot list, open session, find), logs in,
signs once (ECDSA P-256 over a SHA-256 digest, verified), finalizes; APDUs
counted from the card's APDU log per phase, wall time per phase; one
warm-up run first, then the median of N runs. (2) steady state over one
connection: C_GetAttributeValue and C_Sign round trips per second; the
attribute rate also from ctypes (less client overhead), with 4 threads of the one process (one connection,
a session each: ctypes calls, so the threads overlap), and while another
thread signs on the same connection. (3) the server's memory with 1, 10,
100 idle connections (clients that did C_Initialize and wait): VmRSS and
Pss summed over the server process and all its descendants (p11-kit
server forks one per connection). --parts picks what to run.
report: markdown tables of several measure outputs, side by side.
"""
import argparse
import ctypes
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time

CLIENT = os.environ.get("E2E_CLIENT", "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so")
PIN = os.environ.get("TOKEND_PIN", "123456")
PHASES = ["connect + C_Initialize", "find key (slots, session, find)", "C_Login",
          "C_Sign (ECDSA P-256)", "C_Finalize"]


def apdus(log):
    if not log:
        return 0
    try:
        with open(log, "rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


# ---- children (each its own connection) ----

def child_newclient():
    import PyKCS11
    log = os.environ.get("BENCH_APDU_LOG")
    res = []
    t, a = time.perf_counter(), apdus(log)

    def mark(name):
        nonlocal t, a
        t2, a2 = time.perf_counter(), apdus(log)
        res.append([name, (t2 - t) * 1000.0, a2 - a])
        t, a = time.perf_counter(), apdus(log)

    lib = PyKCS11.PyKCS11Lib()
    lib.load(CLIENT)
    mark(PHASES[0])
    slots = lib.getSlotList(tokenPresent=True)
    s = lib.openSession(slots[0], PyKCS11.CKF_SERIAL_SESSION)
    mark("_")  # (uncounted: merged below)
    s.login(PIN)
    mark(PHASES[2])
    key = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_ID, b"\x01")])
    if len(key) != 1:
        raise SystemExit("private key 01 not found")
    mark(PHASES[1])
    digest = hashlib.sha256(os.urandom(32)).digest()
    sig = bytes(s.sign(key[0], digest, PyKCS11.Mechanism(PyKCS11.CKM_ECDSA)))
    mark(PHASES[3])
    lib.lib.C_Finalize()
    mark(PHASES[4])
    # Slots+session count with the find (keys are private: found after login).
    merged = {}
    for name, ms, n in res:
        key_ = PHASES[1] if name == "_" else name
        m = merged.setdefault(key_, [0.0, 0])
        m[0] += ms
        m[1] += n
    verify(sig, digest)
    print(json.dumps(merged))


def verify(sig, digest):
    pub = os.environ.get("BENCH_PUB")
    if not pub:
        return
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
    k = serialization.load_pem_public_key(open(pub, "rb").read())
    n = len(sig) // 2
    k.verify(encode_dss_signature(int.from_bytes(sig[:n], "big"), int.from_bytes(sig[n:], "big")),
             digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def child_steady(sigs, attr_secs):
    import PyKCS11
    lib = PyKCS11.PyKCS11Lib()
    lib.load(CLIENT)
    s = lib.openSession(lib.getSlotList(tokenPresent=True)[0], PyKCS11.CKF_SERIAL_SESSION)
    s.login(PIN)
    key = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_ID, b"\x01")])[0]
    out = {}
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < attr_secs:
        s.getAttributeValue(key, [PyKCS11.CKA_KEY_TYPE, PyKCS11.CKA_LABEL])
        n += 1
    out["C_GetAttributeValue"] = n / (time.perf_counter() - t0)
    mech = PyKCS11.Mechanism(PyKCS11.CKM_ECDSA)
    digest = hashlib.sha256(b"steady").digest()
    verify(bytes(s.sign(key, digest, mech)), digest)
    t0 = time.perf_counter()
    for _ in range(sigs):
        s.sign(key, digest, mech)
    out["C_Sign (ECDSA P-256)"] = sigs / (time.perf_counter() - t0)
    s.logout()
    lib.lib.C_Finalize()
    out.update(attr_threads(attr_secs))
    print(json.dumps(out))


# ---- one connection, several threads (ctypes: the GIL is released in calls)

ATTR_THREADS = 4


def p11_ctypes():
    """The client's function list as ctypes callables, C_Initialize'd with
    CKF_OS_LOCKING_OK (so one process = one connection, shared by threads)."""
    C = ctypes
    U, P = C.c_ulong, C.c_void_p
    lib = C.CDLL(CLIENT)
    fl = P()
    if lib.C_GetFunctionList(C.byref(fl)):
        raise SystemExit("C_GetFunctionList")
    names = ("Initialize Finalize GetInfo GetFunctionList GetSlotList GetSlotInfo GetTokenInfo "
             "GetMechanismList GetMechanismInfo InitToken InitPIN SetPIN OpenSession CloseSession "
             "CloseAllSessions GetSessionInfo GetOperationState SetOperationState Login Logout "
             "CreateObject CopyObject DestroyObject GetObjectSize GetAttributeValue "
             "SetAttributeValue FindObjectsInit FindObjects FindObjectsFinal EncryptInit Encrypt "
             "EncryptUpdate EncryptFinal DecryptInit Decrypt DecryptUpdate DecryptFinal DigestInit "
             "Digest DigestUpdate DigestKey DigestFinal SignInit Sign").split()
    ptrs = C.cast(fl.value + 8, C.POINTER(P))  # CK_VERSION is padded to 8
    sig = {"Initialize": [P], "Finalize": [P], "GetSlotList": [C.c_ubyte, P, C.POINTER(U)],
           "OpenSession": [U, U, P, P, C.POINTER(U)], "Login": [U, U, C.c_char_p, U],
           "GetAttributeValue": [U, U, P, U], "FindObjectsInit": [U, P, U],
           "FindObjects": [U, P, U, C.POINTER(U)], "FindObjectsFinal": [U],
           "SignInit": [U, P, U], "Sign": [U, C.c_char_p, U, P, C.POINTER(U)]}
    f = {n: C.CFUNCTYPE(U, *sig[n])(ptrs[i]) for i, n in enumerate(names) if n in sig}

    class InitArgs(C.Structure):
        _fields_ = [("c", P), ("d", P), ("l", P), ("u", P), ("flags", U), ("r", P)]
    if f["Initialize"](C.byref(InitArgs(None, None, None, None, 2, None))):
        raise SystemExit("C_Initialize")
    return f


def run_threads(ths, stop, secs):
    """Starts ths, lets them run secs, stops (stop.set()) and joins them;
    returns the seconds they ran."""
    t0 = time.perf_counter()
    for t in ths:
        t.start()
    time.sleep(secs)
    stop.set()
    for t in ths:
        t.join()
    return time.perf_counter() - t0


def attr_threads(secs):
    """C_GetAttributeValue/s summed over ATTR_THREADS threads of one
    connection; then one reader while another thread signs in a loop."""
    import threading
    C = ctypes
    U, P = C.c_ulong, C.c_void_p
    f = p11_ctypes()

    class Attr(C.Structure):
        _fields_ = [("type", U), ("value", P), ("len", U)]

    class Mech(C.Structure):
        _fields_ = [("mech", U), ("p", P), ("n", U)]
    n = U(1)
    slots = (U * 1)()
    if f["GetSlotList"](1, slots, C.byref(n)) or n.value < 1:
        raise SystemExit("C_GetSlotList")

    def session():
        h = U()
        if f["OpenSession"](slots[0], 4, None, None, C.byref(h)):
            raise SystemExit("C_OpenSession")
        return h.value

    def find_key(h):
        cls, kid = U(3), C.c_ubyte(1)
        t = (Attr * 2)(Attr(0, C.cast(C.byref(cls), P), C.sizeof(cls)),
                       Attr(0x102, C.cast(C.byref(kid), P), 1))
        k, c = U(), U()
        f["FindObjectsInit"](h, t, 2)
        f["FindObjects"](h, C.byref(k), 1, C.byref(c))
        f["FindObjectsFinal"](h)
        if c.value != 1:
            raise SystemExit("key 01 not found")
        return k.value

    first = session()
    if f["Login"](first, 1, PIN.encode(), len(PIN)):
        raise SystemExit("C_Login")
    key = find_key(first)
    stop = threading.Event()

    def reader(h, counts, i):
        kt, lbl = U(), C.create_string_buffer(64)
        t = (Attr * 2)(Attr(0x100, C.cast(C.byref(kt), P), C.sizeof(kt)),
                       Attr(0x3, C.cast(lbl, P), 64))
        while not stop.is_set():
            t[1].len = 64
            if f["GetAttributeValue"](h, key, t, 2):
                raise SystemExit("C_GetAttributeValue")
            counts[i] += 1

    def run(readers, signer):
        counts = [0] * readers
        signs = [0]
        ths = [threading.Thread(target=reader, args=(session(), counts, i)) for i in range(readers)]
        if signer:
            def sign_loop(h=session()):
                digest = hashlib.sha256(b"bench").digest()
                mech = Mech(0x1041, None, 0)
                buf, bl = C.create_string_buffer(132), U()
                while not stop.is_set():
                    f["SignInit"](h, C.byref(mech), key)
                    bl.value = 132
                    if f["Sign"](h, digest, len(digest), buf, C.byref(bl)):
                        raise SystemExit("C_Sign")
                    signs[0] += 1
            ths.append(threading.Thread(target=sign_loop))
        stop.clear()
        el = run_threads(ths, stop, secs)
        return sum(counts) / el

    out = {"C_GetAttributeValue, ctypes": run(1, False),
           "C_GetAttributeValue, %d threads" % ATTR_THREADS: run(ATTR_THREADS, False),
           "C_GetAttributeValue beside C_Sign": run(1, True)}
    f["Finalize"](None)
    return out


# ---- C_GetAttributeValue on one connection, servers interleaved ----

def cpu_ns(pid):
    """CPU time (ns, user+sys) of a process tree, all threads: p11-kit
    server's forked child included."""
    ns = 0
    for p in tree(pid):
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/schedstat" % (p, t)) as f:
                    ns += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return ns


def child_attr(secs):
    """One connection: C_GetAttributeValue from PyKCS11 (size query + read),
    from ctypes (one round trip), from ATTR_THREADS ctypes threads. For each:
    calls/s, this process's CPU time per call and the server's
    (BENCH_SERVER_PID's tree)."""
    import threading
    import PyKCS11
    spid = int(os.environ["BENCH_SERVER_PID"])
    out = {}

    def timed(name, body, nthreads=1):
        counts = [0] * nthreads
        stop = threading.Event()

        def loop(i):
            fn = body()
            while not stop.is_set():
                fn()
                counts[i] += 1
        ths = [threading.Thread(target=loop, args=(i,)) for i in range(nthreads)]
        s0, c0 = cpu_ns(spid), time.process_time()
        el = run_threads(ths, stop, secs)
        c1, s1 = time.process_time(), cpu_ns(spid)
        n = max(sum(counts), 1)
        out[name] = {"rate": n / el, "client_us": (c1 - c0) / n * 1e6,
                     "server_us": (s1 - s0) / n / 1e3}

    lib = PyKCS11.PyKCS11Lib()
    lib.load(CLIENT)
    s = lib.openSession(lib.getSlotList(tokenPresent=True)[0], PyKCS11.CKF_SERIAL_SESSION)
    s.login(PIN)
    key = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_ID, b"\x01")])[0]
    want = [PyKCS11.CKA_KEY_TYPE, PyKCS11.CKA_LABEL]
    for _ in range(200):
        s.getAttributeValue(key, want)
    timed("pykcs11", lambda: (lambda: s.getAttributeValue(key, want)))
    s.logout()
    lib.lib.C_Finalize()

    C = ctypes
    U, P = C.c_ulong, C.c_void_p
    f = p11_ctypes()

    class Attr(C.Structure):
        _fields_ = [("type", U), ("value", P), ("len", U)]
    n = U(1)
    slots = (U * 1)()
    if f["GetSlotList"](1, slots, C.byref(n)) or n.value < 1:
        raise SystemExit("C_GetSlotList")
    sessions = []
    for _ in range(ATTR_THREADS):
        h = U()
        if f["OpenSession"](slots[0], 4, None, None, C.byref(h)):
            raise SystemExit("C_OpenSession")
        sessions.append(h.value)
    if f["Login"](sessions[0], 1, PIN.encode(), len(PIN)):
        raise SystemExit("C_Login")
    cls, kid = U(3), C.c_ubyte(1)
    t = (Attr * 2)(Attr(0, C.cast(C.byref(cls), P), C.sizeof(cls)),
                   Attr(0x102, C.cast(C.byref(kid), P), 1))
    k, c = U(), U()
    f["FindObjectsInit"](sessions[0], t, 2)
    f["FindObjects"](sessions[0], C.byref(k), 1, C.byref(c))
    f["FindObjectsFinal"](sessions[0])
    if c.value != 1:
        raise SystemExit("key 01 not found")
    ga = f["GetAttributeValue"]
    free = list(sessions)

    def reader():
        h = free.pop()
        kt, lbl = U(), C.create_string_buffer(64)
        t = (Attr * 2)(Attr(0x100, C.cast(C.byref(kt), P), C.sizeof(kt)),
                       Attr(0x3, C.cast(lbl, P), 64))

        def call():
            t[1].len = 64
            if ga(h, k, t, 2):
                raise SystemExit("C_GetAttributeValue")
        for _ in range(200):
            call()
        return call
    timed("ctypes", reader)
    free[:] = sessions
    timed("threads", reader, ATTR_THREADS)
    f["Finalize"](None)
    print(json.dumps(out))


ATTR_MODES = (("pykcs11", "1 thread (PyKCS11)"), ("ctypes", "1 thread (ctypes)"),
              ("threads", "%d threads (ctypes)" % ATTR_THREADS))


def attr(a):
    """Rounds of child_attr against each server in turn (so a change in
    the machine's load hits all of them); medians per server and mode."""
    servers = []
    for spec in a.server:
        name, rest = spec.split("=", 1)
        sock, pid = rest.rsplit(":", 1)
        servers.append((name, sock, int(pid)))
    runs = {name: [] for name, _, _ in servers}
    for _ in range(a.rounds):
        for name, sock, pid in servers:
            env = dict(os.environ, P11_KIT_SERVER_ADDRESS="unix:path=" + sock,
                       BENCH_SERVER_PID=str(pid))
            runs[name].append(run_child(["attrchild", str(a.secs)], env))
    res = {name: {m: {k: statistics.median(r[m][k] for r in rr)
                      for k in ("rate", "client_us", "server_us")}
                  for m, _ in ATTR_MODES}
           for name, rr in runs.items()}
    res["rounds"] = a.rounds
    res["secs"] = a.secs
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print("\n".join(attr_cpu_table(res)))


def attr_cpu_table(res):
    """tokend next to p11-kit server (issue 7 asks for 2x), each with the
    client's and the server's CPU time per call; "zero" is cache_proxy.c."""
    out = ["### C_GetAttributeValue on one connection, servers interleaved "
           "(median of %d rounds of %g s)" % (res["rounds"], res["secs"]), "",
           "| client | tokend /s | p11-kit server /s | ratio | zero-cost server /s "
           "| client CPU µs/call (tokend / p11-kit) | server CPU µs/call (tokend / p11-kit / zero) "
           "| p11-kit µs/call, half |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    t, p, z = res.get("tokend"), res.get("p11-kit"), res.get("zero")
    if not t or not p:
        return out
    for m, what in ATTR_MODES:
        tm, pm, zm = t[m], p[m], (z or {}).get(m)
        out.append("| %s | %.0f | %.0f | %.2fx | %s | %.1f / %.1f | %.1f / %.1f / %s | %.1f, %.1f |" % (
            what, tm["rate"], pm["rate"], tm["rate"] / pm["rate"],
            "%.0f" % zm["rate"] if zm else "n/a", tm["client_us"], pm["client_us"],
            tm["server_us"], pm["server_us"], "%.1f" % zm["server_us"] if zm else "n/a",
            1e6 / pm["rate"], 0.5e6 / pm["rate"]))
    out += ["", "A synchronous client cannot go faster than one call per (its own CPU time "
            "+ the server's + two wake-ups); 2x p11-kit server's rate needs the client alone "
            "under half of p11-kit's time per call (last column)."]
    return out


def child_idle():
    """Reads counts on stdin: 'N' -> have N idle connections (forks more),
    answers 'ready N'; EOF -> close them all."""
    kids = []
    hold_r, hold_w = os.pipe()  # children wait for its EOF
    for line in sys.stdin:
        want = int(line)
        while len(kids) < want:
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                os.close(hold_w)
                rc = 1
                try:
                    lib = ctypes.CDLL(CLIENT)
                    fl = ctypes.c_void_p()
                    if lib.C_GetFunctionList(ctypes.byref(fl)) == 0:
                        # CK_FUNCTION_LIST: CK_VERSION (padded to 8), then C_Initialize.
                        init = ctypes.CFUNCTYPE(ctypes.c_ulong, ctypes.c_void_p)(
                            ctypes.cast(fl.value + 8, ctypes.POINTER(ctypes.c_void_p))[0])
                        rc = init(None)
                except Exception:
                    rc = 2
                os.write(w, b"%d\n" % rc)
                os.close(w)
                try:
                    os.read(hold_r, 1)  # until the parent closes hold_w
                finally:
                    os._exit(0)
            os.close(w)
            got = os.read(r, 16).strip()
            os.close(r)
            if got != b"0":
                print("error C_Initialize %s" % got.decode(), flush=True)
                return
            kids.append(pid)
        print("ready %d" % len(kids), flush=True)
    os.close(hold_w)
    for k in kids:
        os.waitpid(k, 0)


# ---- the measuring side ----

def tree(pid):
    out = [pid]
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                for c in f.read().split():
                    out += tree(int(c))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def memory(pid):
    rss = pss = 0
    procs = tree(pid)
    for p in procs:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return {"rss_kib": rss, "pss_kib": pss, "procs": len(procs)}


def run_child(args, env, timeout=600):
    p = subprocess.run([sys.executable, os.path.abspath(__file__)] + args, env=env,
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (args[0], p.returncode, p.stderr.strip()[-500:]))
    return json.loads(p.stdout.strip().splitlines()[-1])


def measure(a):
    env = dict(os.environ, P11_KIT_SERVER_ADDRESS="unix:path=" + a.socket,
               BENCH_APDU_LOG=a.apdu_log or "", BENCH_PUB=a.pub or "")
    res = {"name": a.name, "runs": a.runs}
    parts = set(a.parts.split(","))
    try:
        if "newclient" not in parts:
            raise RuntimeError("not run (--parts)")
        run_child(["newclient"], env)  # warm-up (tokend reads the card once)
        runs = [run_child(["newclient"], env) for _ in range(a.runs)]
        res["newclient"] = {ph: [statistics.median(r[ph][0] for r in runs),
                                 statistics.median(r[ph][1] for r in runs)] for ph in PHASES}
        res["newclient_total"] = [statistics.median(sum(r[ph][0] for ph in PHASES) for r in runs),
                                  statistics.median(sum(r[ph][1] for ph in PHASES) for r in runs)]
    except Exception as e:
        res["newclient_error"] = str(e)
    try:
        if "steady" not in parts:
            raise RuntimeError("not run (--parts)")
        res["steady"] = run_child(["steady", str(a.sigs), str(a.attr_secs)], env)
    except Exception as e:
        res["steady_error"] = str(e)
    if "memory" in parts:
        memory_idle(a, env, res)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)


def memory_idle(a, env, res):
    mem = {"0": memory(a.pid)}
    idle = subprocess.Popen([sys.executable, os.path.abspath(__file__), "idle"], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    try:
        for n in (1, 10, 100):
            idle.stdin.write("%d\n" % n)
            idle.stdin.flush()
            line = idle.stdout.readline().strip()
            if line != "ready %d" % n:
                res["memory_error"] = "idle clients: %s" % (line or "died")
                break
            time.sleep(1.0)
            mem[str(n)] = memory(a.pid)
    finally:
        idle.stdin.close()
        idle.wait(120)
    res["memory"] = mem


def attr_table(rs, out):
    """C_GetAttributeValue on one connection, tokend next to p11-kit server
    and their ratio (issue 7 asks for at least 2x)."""
    by = {r["name"]: r.get("steady", {}) for r in rs}
    if "tokend" not in by or "p11-kit" not in by:
        return
    out.append("")
    out.append("### C_GetAttributeValue on one connection: tokend / p11-kit server")
    out.append("")
    out.append("| client | tokend /s | p11-kit server /s | ratio |")
    out.append("|---|---:|---:|---:|")
    for call, what in (("C_GetAttributeValue", "1 thread (PyKCS11)"),
                       ("C_GetAttributeValue, ctypes", "1 thread (ctypes)"),
                       ("C_GetAttributeValue, %d threads" % ATTR_THREADS, "%d threads" % ATTR_THREADS),
                       ("C_GetAttributeValue beside C_Sign", "1 thread, another signing")):
        t, p = by["tokend"].get(call), by["p11-kit"].get(call)
        if t is None or p is None:
            continue
        out.append("| %s | %.0f | %.0f | %.2fx |" % (what, t, p, t / p if p else float("inf")))


def report(a):
    rs = [json.load(open(p)) for p in a.files]
    names = [r["name"] for r in rs]
    out = []
    for n in a.note or []:
        out.append(n)
    out.append("")
    out.append("### New client: connect, C_Initialize, find key, login, sign, finalize "
               "(median of %s fresh processes)" % "/".join(str(r["runs"]) for r in rs))
    out.append("")
    out.append("| phase | " + " | ".join("%s APDUs" % n for n in names) + " | "
               + " | ".join("%s ms" % n for n in names) + " |")
    out.append("|---|" + "---:|" * (2 * len(rs)))
    for ph in PHASES:
        out.append("| %s | " % ph
                   + " | ".join(("%d" % r["newclient"][ph][1]) if "newclient" in r else "n/a" for r in rs)
                   + " | " + " | ".join(("%.1f" % r["newclient"][ph][0]) if "newclient" in r else "n/a"
                                        for r in rs) + " |")
    out.append("| **total** | "
               + " | ".join(("**%d**" % r["newclient_total"][1]) if "newclient" in r else "n/a" for r in rs)
               + " | " + " | ".join(("**%.1f**" % r["newclient_total"][0]) if "newclient" in r else "n/a"
                                    for r in rs) + " |")
    for r in rs:
        if "newclient_error" in r:
            out.append("\n%s: new client failed: %s" % (r["name"], r["newclient_error"]))
    out.append("")
    out.append("### Steady state over one connection (round trips per second)")
    out.append("")
    out.append("| call | " + " | ".join(names) + " |")
    out.append("|---|" + "---:|" * len(rs))
    calls = ("C_GetAttributeValue", "C_GetAttributeValue, ctypes",
             "C_GetAttributeValue, %d threads" % ATTR_THREADS,
             "C_GetAttributeValue beside C_Sign", "C_Sign (ECDSA P-256)")
    for call in calls:
        out.append("| %s | " % call + " | ".join(("%.1f" % r["steady"][call])
                                                  if call in r.get("steady", {}) else "n/a"
                                                  for r in rs) + " |")
    attr_table(rs, out)
    for r in rs:
        if "steady_error" in r:
            out.append("\n%s: steady state failed: %s" % (r["name"], r["steady_error"]))
    if a.attr:
        out.append("")
        out += attr_cpu_table(json.load(open(a.attr)))
    out.append("")
    if not any("memory" in r for r in rs):
        print("\n".join(out))
        return
    out.append("### Server memory with idle connections (VmRSS / Pss summed over the server "
               "and its children, MiB; processes)")
    out.append("")
    out.append("| idle connections | " + " | ".join(names) + " |")
    out.append("|---:|" + "---:|" * len(rs))
    for n in ("0", "1", "10", "100"):
        cells = []
        for r in rs:
            m = r.get("memory", {}).get(n)
            cells.append("%.1f / %.1f (%d)" % (m["rss_kib"] / 1024, m["pss_kib"] / 1024, m["procs"])
                         if m else "n/a")
        out.append("| %s | " % n + " | ".join(cells) + " |")
    for r in rs:
        if "memory_error" in r:
            out.append("\n%s: %s" % (r["name"], r["memory_error"]))
    print("\n".join(out))


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "newclient":
        return child_newclient()
    if len(sys.argv) == 4 and sys.argv[1] == "steady":
        return child_steady(int(sys.argv[2]), float(sys.argv[3]))
    if len(sys.argv) == 2 and sys.argv[1] == "idle":
        return child_idle()
    if len(sys.argv) == 3 and sys.argv[1] == "attrchild":
        return child_attr(float(sys.argv[2]))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--name", required=True)
    m.add_argument("--socket", required=True)
    m.add_argument("--pid", type=int, required=True)
    m.add_argument("--apdu-log")
    m.add_argument("--pub")
    m.add_argument("--out", required=True)
    m.add_argument("--runs", type=int, default=5)
    m.add_argument("--sigs", type=int, default=20)
    m.add_argument("--attr-secs", type=float, default=2.0)
    m.add_argument("--parts", default="newclient,steady,memory")
    t = sub.add_parser("attr")
    t.add_argument("--server", action="append", required=True, help="NAME=SOCKET:PID")
    t.add_argument("--rounds", type=int, default=5)
    t.add_argument("--secs", type=float, default=1.0)
    t.add_argument("--out", required=True)
    r = sub.add_parser("report")
    r.add_argument("files", nargs="+")
    r.add_argument("--note", action="append")
    r.add_argument("--attr", help="the output of attr")
    a = ap.parse_args()
    return {"measure": measure, "attr": attr, "report": report}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
