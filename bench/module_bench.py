#!/usr/bin/python3
"""One SoftHSMv2 token behind two socket servers, both reached through the
same p11-kit-client.so: tokend ([module softhsm]) and `p11-kit server
--provider libsofthsm2.so`.

  module_bench.py measure --server NAME=SOCKET:PID ... --out FILE.json
                  [--rounds N] [--secs S] [--runs N] [--clients N]
  module_bench.py report FILE.json [--note TEXT]...
  (internal) module_bench.py newclient | signer KEYID MECH

measure, with every server up at once and the servers taken in turn each
round (the machine is shared: turns spread its noise over both):
(1) a new client's wall time, in a fresh process: load the client,
C_Initialize, slot list, open session, C_Login, find the private key,
C_SignInit + C_Sign (ECDSA P-256), C_Finalize; median of --runs.
(2) C_Sign/s (C_SignInit + C_Sign, both round trips) for ECDSA P-256 and
RSA-2048 (CKM_RSA_PKCS) on one connection, and summed over --clients
processes (one connection each) signing at once; --secs each, median of
--rounds. (3) the server's memory with 1, 10 and 100 idle connections
(daemon_bench.py's: VmRSS and Pss of the server and every process it
forked).
"""
import argparse
import ctypes as C
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon_bench as db  # noqa: E402  (memory, idle clients)

CLIENT = db.CLIENT
PIN = os.environ.get("BENCH_PIN", "1234")
U, P = C.c_ulong, C.c_void_p
MECHS = {"ECDSA P-256": (0x1041, 1), "RSA-2048": (0x1, 2)}  # mechanism, CKA_ID


class Attr(C.Structure):
    _fields_ = [("type", U), ("value", P), ("len", U)]


class Mech(C.Structure):
    _fields_ = [("mech", U), ("p", P), ("n", U)]


class Token:
    """A logged-in session of a fresh connection (ctypes: no wrapper cost)."""

    def __init__(self):
        self.f = db.p11_ctypes()  # loads the client, C_Initialize
        try:
            self.session()
        except SystemExit:
            self.f["Finalize"](None)  # a retry initialises again
            raise

    def session(self):
        n, slots = U(8), (U * 8)()
        if self.f["GetSlotList"](1, slots, C.byref(n)) or n.value < 1:
            raise SystemExit("C_GetSlotList")
        h = U()
        rv = self.f["OpenSession"](slots[0], 4, None, None, C.byref(h))
        if rv:
            raise SystemExit("C_OpenSession: 0x%x" % rv)
        self.h = h.value
        rv = self.f["Login"](self.h, 1, PIN.encode(), len(PIN))
        if rv:
            raise SystemExit("C_Login: 0x%x" % rv)
        self.buf = C.create_string_buffer(512)

    def key(self, kid):
        cls, idb = U(3), C.c_ubyte(kid)
        t = (Attr * 2)(Attr(0, C.cast(C.byref(cls), P), C.sizeof(cls)),
                       Attr(0x102, C.cast(C.byref(idb), P), 1))
        k, c = U(), U()
        self.f["FindObjectsInit"](self.h, t, 2)
        self.f["FindObjects"](self.h, C.byref(k), 1, C.byref(c))
        self.f["FindObjectsFinal"](self.h)
        if c.value != 1:
            raise SystemExit("key %02x not found" % kid)
        return k.value

    def sign(self, key, mech):
        m, bl, data = Mech(mech, None, 0), U(512), b"\x5a" * 32
        if self.f["SignInit"](self.h, C.byref(m), key):
            raise SystemExit("C_SignInit")
        if self.f["Sign"](self.h, data, len(data), self.buf, C.byref(bl)):
            raise SystemExit("C_Sign")
        return bl.value

    def close(self):
        self.f["Finalize"](None)


def child_newclient():
    t0 = time.perf_counter()
    tok = Token()
    if tok.sign(tok.key(1), 0x1041) != 64:
        raise SystemExit("ECDSA signature of the wrong size")
    tok.close()
    print(json.dumps((time.perf_counter() - t0) * 1000.0))


def child_signer(kid, mech):
    """Logs in, says ready, signs from 'go SECS' for SECS, prints the count.
    A session SoftHSMv2 refused (CKR_TOKEN_NOT_RECOGNIZED: another process
    was writing its token files, or C_Login's CKR_GENERAL_ERROR then) is
    tried again, and counted."""
    retries = []
    for i in range(20):
        try:
            tok = Token()
            break
        except SystemExit as e:
            if i == 19:
                raise
            retries.append(str(e))
            time.sleep(0.05)
    key = tok.key(kid)
    tok.sign(key, mech)
    print("ready", flush=True)
    secs = float(sys.stdin.readline().split()[1])
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < secs:
        tok.sign(key, mech)
        n += 1
    el, c = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps([n, el, retries, c]), flush=True)
    sys.stdin.read()  # connected until the server's CPU time is read
    tok.close()


DIRECT = None  # --direct: the module itself, loaded by the client


def me(args, sock):
    if sock:
        env = dict(os.environ, P11_KIT_SERVER_ADDRESS="unix:path=" + sock)
    else:
        env = dict(os.environ, E2E_CLIENT=DIRECT)
    return [sys.executable, os.path.abspath(__file__)] + args, env


def cpu_by_proc(pid):
    """[CPU ns, context switches] per process of a server's tree, all
    threads, by command name."""
    out = {}
    for p in db.tree(pid):
        try:
            comm = open("/proc/%d/comm" % p).read().strip()
            ns = cs = 0
            for t in os.listdir("/proc/%d/task" % p):
                ns += int(open("/proc/%d/task/%s/schedstat" % (p, t)).read().split()[0])
                for line in open("/proc/%d/task/%s/status" % (p, t)):
                    if line.endswith("ctxt_switches:", 0, line.find(":") + 1):
                        cs += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
        o = out.setdefault(comm, [0, 0])
        o[0] += ns
        o[1] += cs
    return out


def newclient(sock):
    cmd, env = me(["newclient"], sock)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    if p.returncode:
        raise RuntimeError("newclient: " + p.stderr.strip()[-300:])
    return json.loads(p.stdout)


def signers(sock, n, name, secs, pid=0, cpu=None):
    """n processes signing at once: signatures per second, summed. With
    cpu (a dict), the CPU µs per signature of the server's processes and of
    the client go into it."""
    mech, kid = MECHS[name]
    cmd, env = me(["signer", str(kid), str(mech)], sock)
    ps = [subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True) for _ in range(n)]
    try:
        for p in ps:
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError("signer (%s): %s" % (sock, p.stderr.read()[-300:]))
        before = cpu_by_proc(pid) if pid else {}
        for p in ps:
            p.stdin.write("go %f\n" % secs)
            p.stdin.flush()
        rate, retries, total, ccpu = 0.0, [], 0, 0.0
        for p in ps:
            n_, el, r, c = json.loads(p.stdout.readline())
            rate += n_ / el
            retries += r
            total += n_
            ccpu += c
        if cpu is not None and total:
            after = cpu_by_proc(pid) if pid else {}
            for k, v in after.items():
                b = before.get(k, [0, 0])
                cpu.setdefault(k, []).append([(v[0] - b[0]) / 1000.0 / total,
                                              (v[1] - b[1]) / total])
            cpu.setdefault("client", []).append([ccpu * 1e6 / total, None])
        return rate, retries
    finally:
        for p in ps:
            p.stdin.close()
            p.wait(60)


def measure(a):
    global DIRECT
    DIRECT = a.direct
    servers = []
    for s in a.server:
        name, rest = s.split("=", 1)
        sock, pid = rest.rsplit(":", 1)
        servers.append((name, sock, int(pid)))
    if a.direct:
        servers.append(("in-process (no server)", "", 0))
    res = {s[0]: {"newclient": [], "rates": {}, "setup_failures": [], "cpu": {}}
           for s in servers}
    for _ in range(a.runs):
        for name, sock, _pid in servers:
            res[name]["newclient"].append(newclient(sock))
    for mech in MECHS:
        for n in (1, a.clients):
            key = "%s, %d connection%s" % (mech, n, "" if n == 1 else "s")
            for _ in range(a.rounds):
                for name, sock, pid in servers:
                    cpu = res[name]["cpu"].setdefault(key, {}) if n == 1 else None
                    rate, retries = signers(sock, n, mech, a.secs, pid, cpu)
                    res[name]["rates"].setdefault(key, []).append(rate)
                    res[name]["setup_failures"] += retries
    for name, sock, pid in servers:
        if not pid:
            continue
        env = dict(os.environ, P11_KIT_SERVER_ADDRESS="unix:path=" + sock)
        db.memory_idle(argparse.Namespace(pid=pid), env, res[name])
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)


def cpu_cell(v):
    if not v:
        return "—"
    us = statistics.median(x[0] for x in v)
    if v[0][1] is None:
        return "%.0f µs" % us
    return "%.0f µs, %.1f cs" % (us, statistics.median(x[1] for x in v))


def report(a):
    res = json.load(open(a.file))
    names = list(res)
    ref = names[1]  # the anchor: p11-kit server

    def ratio(v, r):
        return "%.2f×" % (v / r) if r and v is not None else "n/a"

    def row(label, v, fmt, key=lambda x: x):
        cells = [fmt(v[n]) if v.get(n) is not None else "—" for n in names]
        r = ratio(key(v[names[0]]), key(v[ref])) if v.get(names[0]) and v.get(ref) else "n/a"
        out.append("| %s | %s | %s |" % (label, " | ".join(cells), r))
    out = ["| | " + " | ".join(names) + " | %s / %s (memory: PSS) |" % (names[0], ref),
           "|---|" + "---|" * (len(names) + 1)]
    row("new client: init→login→find→sign→finalize (ms, median)",
        {n: statistics.median(res[n]["newclient"]) for n in names}, lambda x: "%.1f" % x)
    for key in res[ref]["rates"]:
        row("C_Sign/s, " + key, {n: statistics.median(res[n]["rates"][key]) for n in names},
            lambda x: "%.0f" % x)
    for k in ("1", "10", "100"):
        v = {n: res[n].get("memory", {}).get(k) for n in names}
        row("memory, %s idle connection%s: RSS / PSS MiB (processes)" % (k, "" if k == "1" else "s"),
            v, lambda x: "%.1f / %.1f (%d)" % (x["rss_kib"] / 1024, x["pss_kib"] / 1024, x["procs"]),
            lambda x: x["pss_kib"])
    keys = list(res[names[0]]["cpu"])
    out += ["", "CPU time (µs) and context switches per signature on one connection, "
            "medians of the rounds (server processes: schedstat and ctxt_switches "
            "of all their threads; the client: process_time):", "",
            "| server: process | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for n in names:
        procs = sorted({p for k in keys for p in res[n]["cpu"].get(k, {})})
        for proc in procs:
            out.append("| %s: %s | %s |" % (n, proc, " | ".join(
                cpu_cell(res[n]["cpu"].get(k, {}).get(proc)) for k in keys)))
    if a.rtt:
        ones = [k for k in res[ref]["rates"] if k.endswith(", 1 connection")]
        out += ["", "One connection against the most a server with its module in another "
                "process can do by this count: p11-kit server's time per signature plus "
                "one process round trip over a Unix socket (%.1f µs on this machine, "
                "bench/rtt.c):" % a.rtt, "",
                "| one connection | %s | %s + one round trip | %s | %s / that |"
                % (ref, ref, names[0], names[0]), "|---|---|---|---|---|"]
        for k in ones:
            p = statistics.median(res[ref]["rates"][k])
            t = statistics.median(res[names[0]]["rates"][k])
            ceil = 1e6 / (1e6 / p + a.rtt)
            out.append("| C_Sign/s, %s | %.0f | %.0f (%.2f×) | %.0f | %.2f× |"
                       % (k.rsplit(",", 1)[0], p, ceil, ceil / p, t, t / ceil))
    for n in names:
        f = res[n].get("setup_failures")
        if f:
            out.append("\n%s: %d of the concurrent clients' set-ups failed and were tried again (%s)."
                       % (n, len(f), ", ".join(sorted(set(f)))))
        if res[n].get("memory_error"):
            out.append("\n%s: %s" % (n, res[n]["memory_error"]))
    for note in a.note or []:
        out.append("\n" + note)
    print("\n".join(out))


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "newclient":
        return child_newclient()
    if len(sys.argv) == 4 and sys.argv[1] == "signer":
        return child_signer(int(sys.argv[2]), int(sys.argv[3]))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--server", action="append", required=True, help="NAME=SOCKET:PID")
    m.add_argument("--out", required=True)
    m.add_argument("--runs", type=int, default=7)
    m.add_argument("--rounds", type=int, default=3)
    m.add_argument("--secs", type=float, default=2.0)
    m.add_argument("--clients", type=int, default=8)
    m.add_argument("--direct", help="the module: also measured loaded by the client itself")
    r = sub.add_parser("report")
    r.add_argument("file")
    r.add_argument("--note", action="append")
    r.add_argument("--rtt", type=float, help="µs of one process round trip (bench/rtt.c)")
    a = ap.parse_args()
    return {"measure": measure, "report": report}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
