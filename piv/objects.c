/* SP 800-73-4 data objects: the slot <-> certificate object table, the
 * certificate container (with gzip'd certificates), CHUID, Key History and
 * Discovery. Inputs are object values as piv_get_data returns them. */
#include <string.h>

#include <zlib.h>

#include "error.h"
#include "internal.h"

struct slot_object {
	uint8_t slot;
	uint32_t tag;
};

static const struct slot_object fixed_slots[] = {
	{ PIV_SLOT_AUTH, PIV_OBJ_AUTH },
	{ PIV_SLOT_SIGN, PIV_OBJ_SIGN },
	{ PIV_SLOT_KEYMGMT, PIV_OBJ_KEYMGMT },
	{ PIV_SLOT_CARDAUTH, PIV_OBJ_CARDAUTH },
	{ PIV_SLOT_ATTEST, PIV_OBJ_ATTEST },
};

int piv_slot_object(uint8_t slot, uint32_t *tag)
{
	for (size_t i = 0; i < sizeof(fixed_slots) / sizeof(fixed_slots[0]);
	     i++) {
		if (fixed_slots[i].slot == slot) {
			*tag = fixed_slots[i].tag;
			return 0;
		}
	}
	if (slot >= PIV_SLOT_RETIRED1 && slot <= PIV_SLOT_RETIRED20) {
		*tag = PIV_OBJ_RETIRED1 + (uint32_t)(slot - PIV_SLOT_RETIRED1);
		return 0;
	}
	return TK_ERR_NOT_FOUND;
}

int piv_object_slot(uint32_t tag, uint8_t *slot)
{
	for (size_t i = 0; i < sizeof(fixed_slots) / sizeof(fixed_slots[0]);
	     i++) {
		if (fixed_slots[i].tag == tag) {
			*slot = fixed_slots[i].slot;
			return 0;
		}
	}
	if (tag >= PIV_OBJ_RETIRED1 && tag <= PIV_OBJ_RETIRED20) {
		*slot = (uint8_t)(PIV_SLOT_RETIRED1 + (tag - PIV_OBJ_RETIRED1));
		return 0;
	}
	return TK_ERR_NOT_FOUND;
}

bool piv_slot_is_key(uint8_t slot)
{
	uint32_t tag;

	return slot != PIV_SLOT_ATTEST && piv_slot_object(slot, &tag) == 0;
}

/* Inflates a gzip (or zlib) stream into out, refusing to grow past
 * PIV_CERT_MAX: a small object must not become a memory bomb. */
static int inflate_cert(struct reader in, struct buf *out)
{
	z_stream zs;
	uint8_t chunk[4096];
	int zrc = Z_OK, rc = 0;

	memset(&zs, 0, sizeof(zs));
	/* 15 + 32: window of 32 KiB, gzip or zlib header detected. */
	if (inflateInit2(&zs, 15 + 32) != Z_OK)
		return TK_ERR_NOMEM;
	zs.next_in = (Bytef *)in.p;
	zs.avail_in = (uInt)in.len;
	while (zrc == Z_OK) {
		zs.next_out = chunk;
		zs.avail_out = sizeof(chunk);
		zrc = inflate(&zs, Z_NO_FLUSH);
		if (zrc != Z_OK && zrc != Z_STREAM_END)
			break;
		if (sizeof(chunk) - zs.avail_out > PIV_CERT_MAX - out->len) {
			rc = TK_ERR_TOO_LARGE;
			goto out;
		}
		buf_add(out, chunk, sizeof(chunk) - zs.avail_out);
		if (zrc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0)
			break; /* input ended before the stream did */
	}
	if (zrc != Z_STREAM_END)
		rc = TK_ERR_DEVICE;
	else if (buf_failed(out))
		rc = TK_ERR_NOMEM;
out:
	inflateEnd(&zs);
	return rc;
}

int piv_cert_parse(const uint8_t *p, size_t len, struct buf *der)
{
	static const uint32_t tags[] = { 0x70, 0x71 };
	struct reader v[2];
	unsigned found;
	uint8_t info = 0;
	int rc;

	buf_reset(der);
	rc = piv_tlv_scan(reader_init(p, len), tags, 2, v, &found);
	if (rc)
		return rc;
	if (!(found & 1) || reader_left(&v[0]) == 0)
		return TK_ERR_NOT_FOUND; /* an empty or deleted object */
	if (found & 2) {
		/* CertInfo is one byte; some writers leave it empty. */
		if (reader_left(&v[1]) > 1)
			return TK_ERR_DEVICE;
		if (reader_left(&v[1]) == 1)
			reader_get_u8(&v[1], &info);
	}
	if (info & 0x01)
		return inflate_cert(v[0], der);
	if (v[0].len > PIV_CERT_MAX)
		return TK_ERR_TOO_LARGE;
	buf_add(der, v[0].p, v[0].len);
	return buf_failed(der) ? TK_ERR_NOMEM : 0;
}

/* gzip with a 16-byte window offset, as YubiKey tools write it. */
static int deflate_cert(const uint8_t *der, size_t len, struct buf *out)
{
	z_stream zs;
	uint8_t *p;
	uLong bound;
	int rc = TK_ERR_NOMEM;

	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return TK_ERR_NOMEM;
	bound = deflateBound(&zs, (uLong)len);
	p = buf_reserve(out, bound);
	if (p) {
		zs.next_in = (Bytef *)der;
		zs.avail_in = (uInt)len;
		zs.next_out = p;
		zs.avail_out = (uInt)bound;
		if (deflate(&zs, Z_FINISH) == Z_STREAM_END) {
			out->len -= zs.avail_out;
			rc = 0;
		} else {
			rc = TK_ERR_CRYPTO;
		}
	}
	deflateEnd(&zs);
	return rc;
}

int piv_cert_build(const uint8_t *der, size_t len, bool compress,
		   struct buf *out)
{
	struct buf z;
	int rc = 0;

	if (!der || len == 0 || len > PIV_CERT_MAX)
		return TK_ERR_ARG;
	buf_init(&z, 0);
	buf_reset(out);
	if (compress)
		rc = deflate_cert(der, len, &z);
	if (rc == 0) {
		if (compress)
			buf_add_tlv(out, 0x70, z.data, z.len);
		else
			buf_add_tlv(out, 0x70, der, len);
		buf_add_tlv(out, 0x71, (const uint8_t[]){ compress ? 1 : 0 },
			    1);
		buf_add_tlv(out, 0xfe, NULL, 0);
		rc = buf_failed(out) ? TK_ERR_NOMEM : 0;
	}
	buf_free(&z);
	return rc;
}

/* A fixed-size field: present means exactly n bytes. */
static int fixed_field(struct reader v, void *out, size_t n)
{
	if (reader_left(&v) != n)
		return TK_ERR_DEVICE;
	return reader_get_bytes(&v, out, n) == 0 ? 0 : TK_ERR_DEVICE;
}

int piv_chuid_parse(const uint8_t *p, size_t len, struct piv_chuid *out)
{
	static const uint32_t tags[] = { 0x30, 0x34, 0x35 };
	struct reader v[3];
	unsigned found;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = piv_tlv_scan(reader_init(p, len), tags, 3, v, &found);
	if (rc == 0 && (found & 1)) {
		out->has_fascn = true;
		rc = fixed_field(v[0], out->fascn, sizeof(out->fascn));
	}
	if (rc == 0 && (found & 2)) {
		out->has_guid = true;
		rc = fixed_field(v[1], out->guid, sizeof(out->guid));
	}
	if (rc == 0 && (found & 4)) {
		out->has_expiry = true;
		rc = fixed_field(v[2], out->expiry, 8);
	}
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* A one-byte count in 0..20 (there are 20 retired slots). */
static int count_field(struct reader v, uint8_t *out)
{
	if (reader_left(&v) != 1 || reader_get_u8(&v, out) != 0 || *out > 20)
		return TK_ERR_DEVICE;
	return 0;
}

int piv_key_history_parse(const uint8_t *p, size_t len,
			  struct piv_key_history *out)
{
	static const uint32_t tags[] = { 0xc1, 0xc2, 0xf3 };
	struct reader v[3];
	unsigned found;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = piv_tlv_scan(reader_init(p, len), tags, 3, v, &found);
	if (rc == 0 && (found & 1))
		rc = count_field(v[0], &out->on_card);
	if (rc == 0 && (found & 2))
		rc = count_field(v[1], &out->off_card);
	if (rc == 0 && out->on_card + out->off_card > 20)
		rc = TK_ERR_DEVICE;
	out->has_url = rc == 0 && (found & 4) && reader_left(&v[2]) > 0;
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

int piv_discovery_parse(const uint8_t *p, size_t len, struct piv_discovery *out)
{
	static const uint32_t tags[] = { 0x4f, 0x5f2f };
	struct reader v[2];
	unsigned found;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = piv_tlv_scan(reader_init(p, len), tags, 2, v, &found);
	if (rc == 0 && (found & 1)) {
		out->aid_len = reader_left(&v[0]);
		if (out->aid_len > sizeof(out->aid))
			rc = TK_ERR_DEVICE;
		else
			rc = fixed_field(v[0], out->aid, out->aid_len);
	}
	if (rc == 0 && (found & 2)) {
		out->has_pin_policy = true;
		rc = fixed_field(v[1], out->pin_policy, 2);
	}
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}
