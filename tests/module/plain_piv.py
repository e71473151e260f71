"""tokend only: a standard (non-Yubico) PIV card, tokend-vcard --plain-piv.

  plain_piv.py card            raw APDUs (pyscard): the YubiKey instructions
                               answer 6D00, the ATR is not a YubiKey's, the
                               CHUID holds a FASC-N and a GUID; prints the GUID
  plain_piv.py gen MGM GUID    through the module: label, serial and
                               manufacturer come from the CHUID; as SO (3DES
                               management key) generate P-256 in 9A (ID 01) and
                               RSA-2048 in 9C (ID 02) with the standard GENERATE
                               and store a certificate for each (C_CreateObject)
  plain_piv.py use             a fresh process finds both keys from their
                               certificates alone, 9A PIN once and 9C PIN
                               always (the slot defaults), and both signatures
                               verify against the certificates' keys."""
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from p11util import PIN, PyKCS11, check, ecdsa_der, fail, finish, find_slot, load, log  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

YK_INS = [0xFD, 0xF8, 0xF7, 0xF9, 0xFE, 0xFF, 0xFB, 0xFA, 0xF6]
OID_P256 = bytes.fromhex("06082A8648CE3D030107")


def card():
    import card as raw  # harness/card.py (pyscard)
    c = raw.Card()
    atr = bytes(c.conn.getATR())
    check(b"Yubi" not in atr and b"PIV card" in atr, "ATR %s is a plain PIV card's" % atr.hex())
    c.select()
    for ins in YK_INS:
        c.expect(bytes([0, ins, 0, 0x9A if ins in (0xF7, 0xF9) else 0, 0]), 0x6D00,
                 "YubiKey instruction %02X" % ins)
    data, sw, _ = c.get_all(*c.tx("00CB3FFF055C035FC102" + "00"))
    check(sw == 0x9000, "GET DATA CHUID -> %04X" % sw)
    inner = dict(raw.parse_tlvs(dict(raw.parse_tlvs(data)).get(0x53, b"")))
    check(len(inner.get(0x30, b"")) == 25, "CHUID has a FASC-N")
    guid = inner.get(0x34, b"")
    check(len(guid) == 16, "CHUID has a GUID")
    c.conn.disconnect()
    raw.finish()
    print(guid.hex())


def self_cert(pub, cn):
    """A certificate for the card's public key, issued by a software key:
    the card only stores it; the module finds the key through it."""
    ca = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(pub)
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=30)).sign(ca, hashes.SHA256()))


def pub_of(s, obj, is_rsa):
    if is_rsa:
        n, e = s.getAttributeValue(obj, [PyKCS11.CKA_MODULUS, PyKCS11.CKA_PUBLIC_EXPONENT])
        return rsa.RSAPublicNumbers(int.from_bytes(bytes(e), "big"), int.from_bytes(bytes(n), "big")).public_key()
    p = bytes(s.getAttributeValue(obj, [PyKCS11.CKA_EC_POINT])[0])
    if p[0] == 0x04 and p[1] == len(p) - 2:
        p = p[2:]
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p)


def gen(mgm_hex, guid_hex):
    lib = load()
    slot = find_slot(lib)
    ti = lib.getTokenInfo(slot)
    want = guid_hex[:16].upper()
    check(ti.label.strip() == "PIV card " + want, "token label '%s'" % ti.label.strip())
    check(ti.serialNumber.strip() == want, "token serial '%s' from the CHUID GUID" % ti.serialNumber.strip())
    check(ti.manufacturerID.strip() != "Yubico", "manufacturer '%s' is not Yubico" % ti.manufacturerID.strip())
    mechs = lib.getMechanismList(slot)
    check("CKM_EDDSA" not in mechs, "no CKM_EDDSA on a card that lists no Ed25519")
    s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    s.login(mgm_hex, user_type=PyKCS11.CKU_SO)
    for key_id, is_rsa in ((1, False), (2, True)):
        pub_t = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_TOKEN, True),
                 (PyKCS11.CKA_ID, bytes([key_id]))]
        priv_t = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_TOKEN, True),
                  (PyKCS11.CKA_PRIVATE, True), (PyKCS11.CKA_ID, bytes([key_id]))]
        if is_rsa:
            mech = PyKCS11.CKM_RSA_PKCS_KEY_PAIR_GEN
            pub_t += [(PyKCS11.CKA_MODULUS_BITS, 2048), (PyKCS11.CKA_PUBLIC_EXPONENT, b"\x01\x00\x01")]
        else:
            mech = PyKCS11.CKM_EC_KEY_PAIR_GEN
            pub_t.append((PyKCS11.CKA_EC_PARAMS, OID_P256))
        try:
            pub, _ = s.generateKeyPair(pub_t, priv_t, PyKCS11.Mechanism(mech))
        except PyKCS11.PyKCS11Error as ex:
            fail("C_GenerateKeyPair ID %02x: %s" % (key_id, ex))
        cert = self_cert(pub_of(s, pub, is_rsa), "plain PIV %02x" % key_id)
        try:
            s.createObject([(PyKCS11.CKA_CLASS, PyKCS11.CKO_CERTIFICATE), (PyKCS11.CKA_TOKEN, True),
                            (PyKCS11.CKA_CERTIFICATE_TYPE, PyKCS11.CKC_X_509),
                            (PyKCS11.CKA_ID, bytes([key_id])),
                            (PyKCS11.CKA_VALUE, cert.public_bytes(serialization.Encoding.DER))])
            check(True, "ID %02x: key generated, certificate stored" % key_id)
        except PyKCS11.PyKCS11Error as ex:
            check(False, "ID %02x: C_CreateObject(certificate): %s" % (key_id, ex))
    s.logout()
    s.closeSession()
    finish()


def sign(s, key, mech, data, context_pin=None):
    rv = s.lib.C_SignInit(s.session, mech.to_native(), key)
    if rv == PyKCS11.CKR_OK and context_pin:
        s.login(context_pin, user_type=PyKCS11.CKU_CONTEXT_SPECIFIC)
    sig = PyKCS11.ckbytelist([0] * 512)
    if rv == PyKCS11.CKR_OK:
        rv = s.lib.C_Sign(s.session, PyKCS11.ckbytelist(data), sig)
    return rv, bytes(sig)


def use():
    lib = load()
    s = lib.openSession(find_slot(lib), PyKCS11.CKF_SERIAL_SESSION)
    s.login(PIN)
    keys = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])
    ids = sorted(bytes(s.getAttributeValue(k, [PyKCS11.CKA_ID])[0])[0] for k in keys)
    check(ids == [1, 2], "private keys found from certificates: IDs %s" % ids)
    digest = os.urandom(32)
    for key_id, is_rsa in ((1, False), (2, True)):
        key = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_ID, bytes([key_id]))])
        cert = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_CERTIFICATE), (PyKCS11.CKA_ID, bytes([key_id]))])
        if not check(len(key) == 1 and len(cert) == 1, "ID %02x: key and certificate" % key_id):
            continue
        key = key[0]
        pub = x509.load_der_x509_certificate(bytes(s.getAttributeValue(cert[0], [PyKCS11.CKA_VALUE])[0])).public_key()
        always = bool(s.getAttributeValue(key, [PyKCS11.CKA_ALWAYS_AUTHENTICATE])[0])
        check(always == (key_id == 2), "ID %02x: CKA_ALWAYS_AUTHENTICATE %s (slot default)" % (key_id, always))
        if is_rsa:
            mech, data = PyKCS11.Mechanism(PyKCS11.CKM_RSA_PKCS), \
                bytes.fromhex("3031300d060960864801650304020105000420") + digest
        else:
            mech, data = PyKCS11.Mechanism(PyKCS11.CKM_ECDSA), digest
        if always:
            rv, _ = sign(s, key, mech, data)
            check(rv == PyKCS11.CKR_USER_NOT_LOGGED_IN,
                  "ID %02x: C_Sign without CKU_CONTEXT_SPECIFIC -> %s" % (key_id, PyKCS11.CKR.get(rv, rv)))
        rv, sig = sign(s, key, mech, data, PIN if always else None)
        if not check(rv == PyKCS11.CKR_OK, "ID %02x: C_Sign -> %s" % (key_id, PyKCS11.CKR.get(rv, rv))):
            continue
        try:
            if is_rsa:
                pub.verify(sig[:256], digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
            else:
                pub.verify(ecdsa_der(sig[:64]), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
            check(True, "ID %02x: signature verifies against the certificate" % key_id)
        except Exception as ex:  # noqa: BLE001
            check(False, "ID %02x: verify: %r" % (key_id, ex))
    s.logout()
    s.closeSession()
    finish()


if len(sys.argv) == 2 and sys.argv[1] == "card":
    card()
elif len(sys.argv) == 4 and sys.argv[1] == "gen":
    gen(sys.argv[2], sys.argv[3])
elif len(sys.argv) == 2 and sys.argv[1] == "use":
    use()
else:
    fail(__doc__)
