"""Expectation helpers shared by the Python test programs: check() records a
failure and goes on, finish() fails the test if any check did."""

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


def finish():
    if _failures:
        fail("%d expectation(s) failed" % _failures)
    log("PASS")
