"""AES management keys (yubico-piv-tool 2.2 speaks only 3DES): on firmware
5.7 the default key is AES-192; authenticate with it (mutual and single),
set a new AES-192 key with FF, authenticate with the new one, fail with the
old one, generate a key; then AES-128/256 and back."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from card import (Card, DEFAULT_MGM, MGM_3DES, MGM_AES128, MGM_AES192,  # noqa: E402
                  MGM_AES256, check, finish, mgm_auth, parse_tlvs)
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

card = Card()
card.select()


def metadata_9b():
    data, sw = card.tx("00F7009B00")
    check(sw == 0x9000, "F7 metadata of 9B -> %04X" % sw)
    return dict(parse_tlvs(data))


def set_key(alg, key):
    body = bytes([alg, 0x9B, len(key)]) + key
    return card.tx(bytes([0, 0xFF, 0xFF, 0xFF, len(body)]) + body)[1]


md = metadata_9b()
check(md.get(0x01) == bytes([MGM_AES192]), "default algorithm is AES-192: %r" % md.get(0x01))
check(md.get(0x05) == b"\x01", "default key flagged as default: %r" % md.get(0x05))

check(set_key(MGM_AES192, DEFAULT_MGM) == 0x6982, "FF refused without authentication")
check(mgm_auth(card, MGM_3DES, DEFAULT_MGM) != 0x9000, "3DES refused for an AES-192 key")
check(mgm_auth(card, MGM_AES192, DEFAULT_MGM, mutual=True) == 0x9000, "mutual AES-192 auth")
card.select()
check(mgm_auth(card, MGM_AES192, DEFAULT_MGM, mutual=False) == 0x9000, "single AES-192 auth")

new = os.urandom(24)
check(set_key(MGM_AES192, new) == 0x9000, "set a new AES-192 key")
card.select()
check(mgm_auth(card, MGM_AES192, DEFAULT_MGM) == 0x6982, "old key refused with 6982")
check(mgm_auth(card, MGM_AES192, new) == 0x9000, "new key accepted")
md = metadata_9b()
check(md.get(0x05) == b"\x00", "new key not flagged as default: %r" % md.get(0x05))

# Generate a P-256 key in 9A under the new key.
data, sw = card.tx("00 47 00 9A 05 AC 03 80 01 11")
check(sw == 0x9000, "GENERATE P-256 in 9A -> %04X" % sw)
if sw == 0x9000:
    pub = dict(parse_tlvs(dict(parse_tlvs(data)).get(0x7F49, b"")))
    point = pub.get(0x86, b"")
    check(len(point) == 65 and point[0] == 4, "uncompressed P-256 point")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        check(False, "generated point is not on P-256")

# Other AES sizes.
for alg, n in ((MGM_AES128, 16), (MGM_AES256, 32)):
    key = os.urandom(n)
    check(set_key(alg, key) == 0x9000, "set alg %02X" % alg)
    card.select()
    check(mgm_auth(card, alg, key) == 0x9000, "auth with alg %02X" % alg)
    check(metadata_9b().get(0x01) == bytes([alg]), "metadata shows alg %02X" % alg)
# A key of the wrong length for its algorithm is refused.
check(set_key(MGM_AES256, os.urandom(24)) not in (0x9000,), "24-byte AES-256 key refused")
# Back to 3DES: yubico-piv-tool 2.2 could use the card again.
check(set_key(MGM_3DES, DEFAULT_MGM) == 0x9000, "set the 3DES default key")
card.select()
check(mgm_auth(card, MGM_3DES, DEFAULT_MGM) == 0x9000, "3DES auth")
finish()
