#!/usr/bin/python3
"""The usage attributes of each key pair agree, as OpenSC's p11test
usage_test demands (p11test is not packaged by Debian; this is our own
check of the same rules): after login, for every private key with a public
key of the same CKA_ID,

  CKA_SIGN    on the private key  -> CKA_VERIFY  on the public key
  CKA_DECRYPT                     -> CKA_ENCRYPT
  CKA_UNWRAP                      -> CKA_WRAP
  CKA_DERIVE  the same on both
  and at least one of these is set on the pair.

Usage: usage_pairs.py MIN_PAIRS (fails with fewer key pairs).
Environment: TOKEND_MODULE (p11util), TOKEND_READER, TOKEND_PIN."""
import sys

from p11util import PIN, PyKCS11, check, find_slot, finish, load, log


def flags(s, obj, attrs):
    """attr -> bool; an attribute the object lacks counts as false."""
    out = {}
    for a in attrs:
        try:
            v = s.getAttributeValue(obj, [a])[0]
        except PyKCS11.PyKCS11Error:
            v = None
        out[a] = bool(v)
    return out


def main():
    want = int(sys.argv[1])
    lib = load()
    s = lib.openSession(find_slot(lib), PyKCS11.CKF_SERIAL_SESSION)
    s.login(PIN)
    pairs = 0
    for k in s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)]):
        kid = bytes(s.getAttributeValue(k, [PyKCS11.CKA_ID])[0])
        pubs = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_ID, kid)])
        if len(pubs) != 1:
            log("  ID %s: no public key, skipped" % kid.hex())
            continue
        pairs += 1
        p = flags(s, k, [PyKCS11.CKA_SIGN, PyKCS11.CKA_DECRYPT, PyKCS11.CKA_UNWRAP, PyKCS11.CKA_DERIVE])
        q = flags(s, pubs[0], [PyKCS11.CKA_VERIFY, PyKCS11.CKA_ENCRYPT, PyKCS11.CKA_WRAP,
                               PyKCS11.CKA_DERIVE])
        name = "ID %s" % kid.hex()
        log("  %s: private %s, public %s" % (
            name, [PyKCS11.CKA[a] for a in p if p[a]], [PyKCS11.CKA[a] for a in q if q[a]]))
        check(not p[PyKCS11.CKA_SIGN] or q[PyKCS11.CKA_VERIFY], "%s: CKA_SIGN comes with CKA_VERIFY" % name)
        check(not p[PyKCS11.CKA_DECRYPT] or q[PyKCS11.CKA_ENCRYPT],
              "%s: CKA_DECRYPT comes with CKA_ENCRYPT" % name)
        check(not p[PyKCS11.CKA_UNWRAP] or q[PyKCS11.CKA_WRAP], "%s: CKA_UNWRAP comes with CKA_WRAP" % name)
        check(p[PyKCS11.CKA_DERIVE] == q[PyKCS11.CKA_DERIVE],
              "%s: CKA_DERIVE the same on private and public key" % name)
        check(any(p.values()) or any(q.values()), "%s: at least one usage flag" % name)
    check(pairs >= want, "%d key pairs checked (want at least %d)" % (pairs, want))
    s.logout()
    finish()


if __name__ == "__main__":
    main()
