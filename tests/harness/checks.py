"""The one set of pass/fail helpers every Python test uses (the shell tests'
counterpart is in lib.sh; same words, same meanings):

  check(cond, msg)    "ok: msg", or records "FAIL: msg" and goes on
  fail(msg)           "FAIL: msg", the test stops here (exit 1)
  require_ok(rv, what)  a PKCS#11 return value that must be CKR_OK, or the
                      test stops; it raises, so a worker thread can catch it
  finish()            exits 1 when a check failed, else logs PASS and returns
"""

import sys

_failures = 0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def fail(msg):
    log("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    global _failures
    if not cond:
        _failures += 1
        log("FAIL: " + msg)
    else:
        log("ok: " + msg)
    return cond


def require_ok(rv, what):
    if rv != 0:
        raise RuntimeError("FAIL: %s -> CKR 0x%x" % (what, rv))


def finish():
    if _failures:
        fail("%d expectation(s) failed" % _failures)
    log("PASS")
