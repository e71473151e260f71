"""The APDU layer as stock middleware sees it: command chaining in, 61xx and
GET RESPONSE out, extended length both ways, abandoned chains and responses,
a chain past the size limit, and one APDU log line per exchange."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from card import Card, DEFAULT_MGM, MGM_AES192, check, finish, fail, mgm_auth, tlv  # noqa: E402

card = Card()
sent = 0
_tx = card.tx


def counted_tx(apdu):
    global sent
    sent += 1
    return _tx(apdu)


card.tx = counted_tx
card.select()

_, sw = card.tx("00C0000000")
check(sw == 0x6985, "GET RESPONSE with nothing pending -> %04X" % sw)

if mgm_auth(card, MGM_AES192, DEFAULT_MGM) != 0x9000:
    fail("management key authentication failed")

OBJ = bytes.fromhex("5FC10D")
payload = os.urandom(3000)
put = tlv(0x5C, OBJ) + tlv(0x53, payload)
_, sw = card.send_chained(0x00, 0xDB, 0x3F, 0xFF, put)
check(sw == 0x9000, "chained PUT DATA of 3000 bytes -> %04X" % sw)

get = bytes([0, 0xCB, 0x3F, 0xFF, 5]) + tlv(0x5C, OBJ)
want = tlv(0x53, payload)

# Short Le=00: 256 bytes at a time.
data, sw = card.tx(get + b"\x00")
check(len(data) == 256 and sw >> 8 == 0x61, "first chunk: %d bytes, %04X" % (len(data), sw))
whole, sw, links = card.get_all(data, sw)
check(sw == 0x9000 and whole == want, "GET RESPONSE chain returns the object (%d bytes, %04X)" % (len(whole), sw))
check(links == (len(want) + 255) // 256 - 1, "%d GET RESPONSE links" % links)

# Le smaller than 256 is honoured.
data, sw = card.tx(get + b"\x10")
check(len(data) == 16 and sw == 0x6100, "Le=10: %d bytes, %04X" % (len(data), sw))
_, sw = card.tx("00C0000010")
check(sw == 0x6100, "GET RESPONSE Le=10 -> %04X" % sw)

# Any other command drops the pending response.
card.select()
_, sw = card.tx("00C0000000")
check(sw == 0x6985, "GET RESPONSE after another command -> %04X" % sw)

# Extended length: everything at once.
try:
    data, sw = card.tx(bytes([0, 0xCB, 0x3F, 0xFF, 0, 0, 5]) + tlv(0x5C, OBJ) + b"\x00\x00")
    check(sw == 0x9000 and data == want, "extended GET DATA: %d bytes, %04X" % (len(data), sw))
    payload2 = os.urandom(2500)
    put2 = tlv(0x5C, OBJ) + tlv(0x53, payload2)
    _, sw = card.tx(bytes([0, 0xDB, 0x3F, 0xFF, 0]) + len(put2).to_bytes(2, "big") + put2)
    check(sw == 0x9000, "extended PUT DATA -> %04X" % sw)
    data, sw = card.tx(bytes([0, 0xCB, 0x3F, 0xFF, 0, 0, 5]) + tlv(0x5C, OBJ) + b"\x00\x00")
    check(sw == 0x9000 and data == tlv(0x53, payload2), "extended read-back")
    want = tlv(0x53, payload2)
except Exception as e:
    check(False, "extended APDUs did not pass through pcscd: %s" % e)

# An abandoned chain: another command runs normally, the object is unchanged.
_, sw = card.tx(bytes([0x10, 0xDB, 0x3F, 0xFF, 5]) + tlv(0x5C, OBJ))
check(sw == 0x9000, "first chain link -> %04X" % sw)
data, sw = card.tx(bytes([0, 0xCB, 0x3F, 0xFF, 0, 0, 5]) + tlv(0x5C, OBJ) + b"\x00\x00")
check(sw == 0x9000 and data == want, "GET DATA after an abandoned chain (%04X)" % sw)

# A chain past the limit is refused, and the card carries on.
big = os.urandom(255)
sw = 0x9000
for i in range(80):
    _, sw = card.tx(bytes([0x10, 0xDB, 0x3F, 0xFF, 255]) + big)
    if sw != 0x9000:
        break
check(sw in (0x6A84, 0x6700), "oversized chain refused -> %04X after %d links" % (sw, i + 1))
card.select()
data, sw = card.tx(bytes([0, 0xCB, 0x3F, 0xFF, 0, 0, 5]) + tlv(0x5C, OBJ) + b"\x00\x00")
check(sw == 0x9000 and data == want, "object intact after the oversized chain")

log_path = os.environ.get("TOKEND_APDU_LOG")
if log_path:
    with open(log_path) as f:
        lines = f.read().splitlines()
    check(len(lines) == sent, "APDU log has %d lines for %d exchanges" % (len(lines), sent))
    check(all(len(x.split(" ")) == 2 for x in lines), "log lines are '<C-APDU> <R-APDU>'")
finish()
