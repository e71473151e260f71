#!/usr/bin/python3
"""p11client.py's application with the calls an attacker (or the token's
administrator) makes, for tests/e2e/attack*.sh:

  setpin OLD NEW        C_SetPIN on the open session (OLD may carry the
                        "puk:" / "unblock:" prefix of tokend-pkcs11.h)
  inittoken SOPIN       C_InitToken on the token's slot, label "reset"
  loginso KEY           C_Login as CKU_SO (the management key, hex)
  expect CKR_X CMD ...  runs CMD; ok when it answers exactly CKR_X

plus every command of p11client.py (run / repl modes alike)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import p11client  # noqa: E402
import PyKCS11  # noqa: E402
from p11client import Err  # noqa: E402


class Attacker(p11client.App):
    def c_setpin(self, old, new):
        self.need("s")
        self.call(self.s.setPin, old, new)
        return "ok"

    def c_inittoken(self, so_pin):
        self.need("lib")
        self.call(self.lib.initToken, self.find_slot(), so_pin, "reset")
        return "ok"

    def c_loginso(self, key):
        self.need("s")
        self.call(self.s.login, key, PyKCS11.CKU_SO)
        return "ok"

    def c_expect(self, want, *cmd):
        r = self.do(" ".join(cmd))
        if r == "err " + want or (r or "").startswith("err %s " % want):
            return "ok %s" % want
        raise Err("wanted %s, got: %s" % (want, r))


def main():
    p11client.App = Attacker
    return p11client.main()


if __name__ == "__main__":
    sys.exit(main())
