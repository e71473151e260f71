#!/usr/bin/python3
"""p11client.py (same commands, same repl/run modes) plus commands that show
which objects an application can see, read and use, for the visibility
tests (isolation, objects=):

  objects              ok H:CLASS:ID:PRIV ...: every object C_FindObjects
                       returns (empty template); ID in hex, '-' for none,
                       PRIV 1 when CKA_PRIVATE is true
  scan N               the same for every handle number 1..N that
                       C_GetAttributeValue accepts (a guessed handle)
  usable N             ok H ...: the handle numbers 1..N that C_SignInit
                       (CKM_ECDSA) accepts; each started operation is ended
                       with C_Sign
  datah                ok H: the handle of the private data object
                       (CKO_DATA with CKA_PRIVATE true)
  read H               ok LEN: C_GetAttributeValue(CKA_LABEL) of handle H
"""
import os
import sys

import PyKCS11

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import p11client  # noqa: E402
from p11client import Err, ckr  # noqa: E402

CLASS = {PyKCS11.CKO_PRIVATE_KEY: "priv", PyKCS11.CKO_PUBLIC_KEY: "pub",
         PyKCS11.CKO_CERTIFICATE: "cert", PyKCS11.CKO_DATA: "data",
         PyKCS11.CKO_SECRET_KEY: "secret"}


class ObjApp(p11client.App):
    def handle(self, h):
        o = PyKCS11.CK_OBJECT_HANDLE(self.s)
        o.assign(int(h))
        return o

    def describe(self, h):
        """'H:CLASS:ID:PRIV' or None when the handle is refused."""
        o = self.handle(h)
        out = []
        for t in (PyKCS11.CKA_CLASS, PyKCS11.CKA_ID, PyKCS11.CKA_PRIVATE):
            v = PyKCS11.LowLevel.ckattrlist(1)
            v[0].SetType(t)
            rv = self.lib.lib.C_GetAttributeValue(self.s.session, o, v)
            if rv == PyKCS11.CKR_OBJECT_HANDLE_INVALID:
                return None
            if rv == PyKCS11.CKR_ATTRIBUTE_TYPE_INVALID:
                out.append("-")
                continue
            if rv != PyKCS11.CKR_OK:
                raise Err("%s (C_GetAttributeValue of %d)" % (ckr(rv), h))
            # the value itself, now that the size is known
            rv = self.lib.lib.C_GetAttributeValue(self.s.session, o, v)
            if rv != PyKCS11.CKR_OK:
                raise Err("%s (C_GetAttributeValue of %d)" % (ckr(rv), h))
            if t == PyKCS11.CKA_CLASS:
                out.append(CLASS.get(v[0].GetNum(), "?"))
            elif t == PyKCS11.CKA_ID:
                out.append(bytes(v[0].GetBin()).hex() or "-")
            else:
                out.append("1" if v[0].GetBool() else "0")
        return "%d:%s" % (h, ":".join(out))

    def c_objects(self):
        self.need("s")
        objs = self.call(self.s.findObjects, [])
        return "ok " + " ".join(self.describe(o.value()) or "%d:gone" % o.value()
                                for o in objs)

    def c_scan(self, n):
        self.need("s")
        found = [self.describe(h) for h in range(1, int(n) + 1)]
        return "ok " + " ".join(d for d in found if d)

    def c_usable(self, n):
        self.need("s")
        mech = PyKCS11.Mechanism(PyKCS11.CKM_ECDSA).to_native()
        ok = []
        for h in range(1, int(n) + 1):
            rv = self.lib.lib.C_SignInit(self.s.session, mech, self.handle(h))
            if rv != PyKCS11.CKR_OK:
                continue
            ok.append(str(h))
            sig = PyKCS11.ckbytelist([0] * 512)
            self.lib.lib.C_Sign(self.s.session, PyKCS11.ckbytelist(b"\x01" * 32), sig)
        return "ok " + " ".join(ok)

    def c_datah(self):
        self.need("s")
        objs = self.call(self.s.findObjects, [(PyKCS11.CKA_CLASS, PyKCS11.CKO_DATA),
                                              (PyKCS11.CKA_PRIVATE, True)])
        if len(objs) != 1:
            raise Err("nodata (%d private data objects)" % len(objs))
        return "ok %d" % objs[0].value()

    def c_read(self, h):
        self.need("s")
        v = PyKCS11.LowLevel.ckattrlist(1)
        v[0].SetType(PyKCS11.CKA_LABEL)
        rv = self.lib.lib.C_GetAttributeValue(self.s.session, self.handle(h), v)
        if rv != PyKCS11.CKR_OK:
            raise Err(ckr(rv))
        return "ok %d" % v[0].GetLen()


if __name__ == "__main__":
    p11client.App = ObjApp
    sys.exit(p11client.main())
