"""Malformed and unexpected commands get the status word a card returns and
never take the card down: it still answers SELECT and VERIFY afterwards."""
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from card import Card, DEFAULT_MGM, MGM_AES192, check, finish, log, mgm_auth  # noqa: E402

card = Card()
card.select()


def expect(apdu, sws, what):
    try:
        card.expect(apdu, sws, what)
    except Exception as e:  # pcscd refusing to send it is fine too
        log("note: %s not sent (%s)" % (what, e))


CASES = [
    # Lengths (ISO 7816-4 cases 1-4, short and extended).
    ("00A40400 05 A00000", [0x6700], "Lc longer than the data"),
    ("00A40400 02 A000000308", [0x6700], "data longer than Lc + Le"),
    ("00CB3FFF 0000", [0x6700], "extended marker without a length"),
    ("00CB3FFF 000000 5C", [0x6700], "extended Lc of zero"),
    ("00CB3FFF 000005 5C035FC1", [0x6700], "extended Lc longer than the data"),
    ("00CB3FFF 05 5C035FC102 0000", [0x6700], "two-byte Le after short Lc"),
    # Classes and instructions.
    ("00420000", [0x6D00], "unknown INS"),
    ("00EE0000 00", [0x6D00], "unknown INS with Le"),
    ("80CB3FFF 05 5C035FC102 00", [0x6E00], "proprietary CLA"),
    ("B0A40400 0B A00000030800001000010000", [0x6E00], "unknown CLA on SELECT"),
    # SELECT.
    ("00A40400 05 A000000001", [0x6A82], "SELECT unknown AID"),
    # GET DATA.
    ("00CB3FFF 03 5C055F", [0x6A80], "truncated tag list TLV"),
    ("00CB3FFF 02 5300", [0x6A80], "wrong outer tag"),
    ("00CB3FFF 05 5C035FC105 00", [0x6A82], "absent certificate object"),
    ("00CB3FFF 05 5C03123456 00", [0x6A82, 0x6A80], "no such object"),
    ("00CB0000 05 5C035FC102 00", [0x6A86], "GET DATA wrong P1P2"),
    ("00CB3FFF", [0x6A80, 0x6700], "GET DATA without data"),
    # VERIFY.
    ("00200082", [0x6A88, 0x6A86, 0x6B00], "VERIFY unknown reference"),
    ("00200080 09 313233343536FFFF39", [0x6A80, 0x6700], "VERIFY 9-byte PIN block"),
    ("00200180", [0x6A86], "VERIFY bad P1"),
    # Needs the management key.
    ("0047009A 05 AC03800111", [0x6982], "GENERATE without management key"),
    ("00DB3FFF 07 5C035FC1025300", [0x6982], "PUT DATA without management key"),
    ("00F60000", [0x6982, 0x6A86, 0x6D00], "MOVE KEY without management key"),
    # GENERAL AUTHENTICATE shapes.
    ("0087039B 03 7C0580", [0x6A80, 0x6700], "truncated dynamic template"),
    ("0087039B 04 7D028000", [0x6A80], "wrong template tag"),
    ("0087119A 04 7C028100", [0x6982, 0x6A80, 0x6A82, 0x6A86], "sign with an empty slot"),
    # YubiKey instructions with bad parameters.
    ("00F70077", [0x6A86, 0x6A88, 0x6B00], "metadata of a bad slot"),
    ("00FB0000", [0x6985, 0x6982], "reset with PIN and PUK not blocked"),
    ("00F90077", [0x6A86, 0x6A88, 0x6B00], "attest a bad slot"),
]

for apdu, sws, what in CASES:
    expect(apdu.replace(" ", ""), sws, what)
    card.select()

# With the management key: bad algorithms and truncated templates.
check(mgm_auth(card, MGM_AES192, DEFAULT_MGM) == 0x9000, "management key auth")
expect("0047009A05AC038001FF", [0x6A80], "GENERATE unknown algorithm")
expect("0047009A03AC0380", [0x6A80, 0x6700], "GENERATE truncated template")
expect("0047007705AC03800111", [0x6A86, 0x6A88], "GENERATE into a bad slot")
expect("00DB3FFF035C035F", [0x6A80], "PUT DATA truncated")

# Random commands (not the ones that would burn PIN/PUK tries or reset).
rnd = random.Random(int(os.environ.get("TOKEND_FUZZ_SEED", "1")))
avoid = {0x20, 0x24, 0x2C, 0xFB, 0xFA, 0xFF, 0xFE, 0xF6, 0x47, 0xDB}
sent = 0
for i in range(400):
    ins = rnd.randrange(256)
    if ins in avoid or ins & 0xF0 in (0x60, 0x90):
        continue
    hdr = bytes([rnd.choice([0x00, 0x10, 0x00, 0x0C, 0x80]), ins, rnd.randrange(256), rnd.randrange(256)])
    n = rnd.choice([0, 1, 3, 10, 60, 255])
    body = bytes(rnd.randrange(256) for _ in range(n))
    tail = bytes([n]) + body if n else b""
    if rnd.random() < 0.5:
        tail += bytes([rnd.randrange(256)])
    try:
        card.tx(hdr + tail)
        sent += 1
    except Exception as e:
        log("note: random APDU not sent: %s" % e)
    if i % 50 == 0:
        card.select()
log("%d random APDUs sent" % sent)

card.select()
_, sw = card.tx("00200080")
check(sw == 0x63C3, "PIN status still 63C3 after all that: %04X" % sw)
_, sw = card.tx("00200080 08 313233343536FFFF")
check(sw == 0x9000, "PIN still verifies: %04X" % sw)
finish()
