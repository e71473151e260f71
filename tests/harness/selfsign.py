"""Self-signs a certificate for a key on the card, signing on the card.

Debian 12's yubico-piv-tool 2.2 cannot do this with OpenSSL 3 ("Failed
signing certificate" before any APDU; Yubico/yubico-piv-tool#388), so tests
build the certificate here: the TBSCertificate comes from `cryptography`
(signed first with a throwaway key of the same type, for its encoding), the
signature from the card (VERIFY, then GENERAL AUTHENTICATE).

usage: selfsign.py SLOT PUBKEY.pem SUBJECT-CN OUT.pem [PIN]"""
import datetime
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from card import Card, fail, parse_tlvs, tlv  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

SHA256_DIGESTINFO = bytes.fromhex("3031300d060960864801650304020105000420")


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def main():
    if len(sys.argv) < 5:
        fail(__doc__)
    slot = int(sys.argv[1], 16)
    pub = serialization.load_pem_public_key(open(sys.argv[2], "rb").read())
    cn, out = sys.argv[3], sys.argv[4]
    pin = (sys.argv[5] if len(sys.argv) > 5 else "123456").encode()

    if isinstance(pub, rsa.RSAPublicKey):
        dummy = rsa.generate_private_key(65537, pub.key_size)
        alg = {1024: 0x06, 2048: 0x07, 3072: 0x05, 4096: 0x16}[pub.key_size]
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        dummy = ec.generate_private_key(pub.curve)
        alg = {"secp256r1": 0x11, "secp384r1": 0x14}[pub.curve.name]
    else:
        fail("unsupported key type")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(pub).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=365))
            .sign(dummy, hashes.SHA256()))
    tbs = cert.tbs_certificate_bytes
    # The outer SEQUENCE holds tbs, signatureAlgorithm, signature.
    parts = parse_tlvs(dict(parse_tlvs(cert.public_bytes(serialization.Encoding.DER)))[0x30])
    sigalg = parts[1][1]
    digest = hashlib.sha256(tbs).digest()

    if isinstance(pub, rsa.RSAPublicKey):
        k = pub.key_size // 8
        t = SHA256_DIGESTINFO + digest
        challenge = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    else:
        k = (pub.curve.key_size + 7) // 8
        challenge = digest.rjust(k, b"\x00") if k > len(digest) else digest

    card = Card()
    card.select()
    _, sw = card.tx(bytes([0, 0x20, 0, 0x80, 8]) + pin.ljust(8, b"\xff"))
    if sw != 0x9000:
        fail("VERIFY -> %04X" % sw)
    body = tlv(0x7C, tlv(0x82, b"") + tlv(0x81, challenge))
    if len(body) > 255:
        data, sw = card.send_chained(0, 0x87, alg, slot, body)
    else:
        data, sw = card.tx(bytes([0, 0x87, alg, slot, len(body)]) + body + b"\x00")
    data, sw, _ = card.get_all(data, sw)
    if sw != 0x9000:
        fail("GENERAL AUTHENTICATE (sign) -> %04X" % sw)
    sig = dict(parse_tlvs(dict(parse_tlvs(data))[0x7C]))[0x82]

    bitstr = b"\x03" + der_len(len(sig) + 1) + b"\x00" + sig
    alg_der = b"\x30" + der_len(len(sigalg)) + sigalg
    inner = tbs + alg_der + bitstr
    der = b"\x30" + der_len(len(inner)) + inner
    signed = x509.load_der_x509_certificate(der)
    with open(out, "wb") as f:
        f.write(signed.public_bytes(serialization.Encoding.PEM))


main()
