"""Raw APDU helpers for card tests (pyscard + cryptography, Debian's
/usr/bin/python3). Responses are returned as they come: no automatic
GET RESPONSE, so tests see 61xx themselves."""

import os
import sys
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from smartcard.System import readers

from checks import check, fail, finish, log  # noqa: F401  (re-exported)

PIV_AID = bytes.fromhex("A000000308000010000100")
DEFAULT_MGM = bytes(range(1, 9)) * 3

MGM_3DES, MGM_AES128, MGM_AES192, MGM_AES256 = 0x03, 0x08, 0x0A, 0x0C


def h(b):
    return b.hex().upper()


class Card:
    def __init__(self, reader_name=None, timeout=10.0):
        name = reader_name or os.environ.get("TOKEND_READER", "Virtual PCD 00 00")
        deadline = time.monotonic() + timeout
        while True:
            try:
                r = [x for x in readers() if str(x) == name]
                if r:
                    self.conn = r[0].createConnection()
                    self.conn.connect()
                    break
            except Exception:  # card not in yet: retry until the timeout
                pass
            if time.monotonic() > deadline:
                fail("cannot connect to %r" % name)
            time.sleep(0.1)
        self.name = name

    def tx(self, apdu):
        """Sends one APDU (bytes or hex); returns (data, sw)."""
        if isinstance(apdu, str):
            apdu = bytes.fromhex(apdu.replace(" ", ""))
        data, sw1, sw2 = self.conn.transmit(list(apdu))
        return bytes(data), (sw1 << 8) | sw2

    def expect(self, apdu, sws, what):
        """Sends apdu and checks the SW is one of sws (int or list)."""
        if isinstance(sws, int):
            sws = [sws]
        data, sw = self.tx(apdu)
        shown = apdu if isinstance(apdu, str) else h(apdu)
        if len(shown) > 60:
            shown = shown[:60] + "..."
        check(sw in sws, "%s: %s -> %04X, expected %s" %
              (what, shown, sw, "/".join("%04X" % s for s in sws)))
        return data, sw

    def select(self):
        data, sw = self.tx(bytes([0, 0xA4, 4, 0, len(PIV_AID)]) + PIV_AID)
        if sw != 0x9000:
            fail("SELECT PIV -> %04X" % sw)
        return data

    def get_all(self, data, sw):
        """Follows 61xx with GET RESPONSE; returns (all data, final sw, links)."""
        out = bytearray(data)
        links = 0
        while (sw >> 8) == 0x61:
            links += 1
            le = sw & 0xFF
            data, sw = self.tx(bytes([0, 0xC0, 0, 0, le]))
            out += data
        return bytes(out), sw, links

    def send_chained(self, cla, ins, p1, p2, payload, size=255):
        """Command chaining: CLA|0x10 on every link but the last."""
        chunks = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
        for i, c in enumerate(chunks):
            last = i == len(chunks) - 1
            apdu = bytes([cla if last else cla | 0x10, ins, p1, p2, len(c)]) + c
            data, sw = self.tx(apdu)
            if not last and sw != 0x9000:
                return data, sw
        return data, sw


def tlv(tag, value):
    t = tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big")
    n = len(value)
    if n < 0x80:
        ln = bytes([n])
    elif n < 0x100:
        ln = bytes([0x81, n])
    else:
        ln = bytes([0x82, n >> 8, n & 0xFF])
    return t + ln + value


def parse_tlvs(b):
    """One level of BER-TLV into a list of (tag, value)."""
    out, i = [], 0
    while i < len(b):
        tag = b[i]
        i += 1
        if tag & 0x1F == 0x1F:
            while True:
                tag = (tag << 8) | b[i]
                i += 1
                if not b[i - 1] & 0x80:
                    break
        n = b[i]
        i += 1
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(b[i:i + k], "big")
            i += k
        out.append((tag, b[i:i + n]))
        i += n
    return out


def _ecb(alg, key, block, enc):
    algo = algorithms.TripleDES(key) if alg == MGM_3DES else algorithms.AES(key)
    c = Cipher(algo, modes.ECB())
    op = c.encryptor() if enc else c.decryptor()
    return op.update(block) + op.finalize()


def mgm_auth(card, alg, key, mutual=True):
    """Management-key authentication on 9B. Returns the final SW (and checks
    the card's proof on mutual authentication)."""
    blk = 8 if alg == MGM_3DES else 16
    if mutual:
        data, sw = card.tx(bytes([0, 0x87, alg, 0x9B, 4, 0x7C, 2, 0x80, 0]))
        if sw != 0x9000:
            return sw
        inner = dict(parse_tlvs(dict(parse_tlvs(data))[0x7C]))
        witness = _ecb(alg, key, inner[0x80], False)
        chal = os.urandom(blk)
        body = tlv(0x7C, tlv(0x80, witness) + tlv(0x81, chal))
        data, sw = card.tx(bytes([0, 0x87, alg, 0x9B, len(body)]) + body)
        if sw != 0x9000:
            return sw
        inner = dict(parse_tlvs(dict(parse_tlvs(data))[0x7C]))
        if inner.get(0x82) != _ecb(alg, key, chal, True):
            fail("card's response to our challenge is wrong")
        return sw
    data, sw = card.tx(bytes([0, 0x87, alg, 0x9B, 4, 0x7C, 2, 0x81, 0]))
    if sw != 0x9000:
        return sw
    inner = dict(parse_tlvs(dict(parse_tlvs(data))[0x7C]))
    body = tlv(0x7C, tlv(0x82, _ecb(alg, key, inner[0x81], True)))
    data, sw = card.tx(bytes([0, 0x87, alg, 0x9B, len(body)]) + body)
    return sw
