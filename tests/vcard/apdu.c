/* The APDU layer of tokend-vcard: ISO 7816-4 parsing (short and extended
 * length, cases 1-4), command chaining in, 61xx + GET RESPONSE out, and the
 * APDU log. The application below sees one joined command at a time. */
#include "front.h"

#include <stdlib.h>
#include <string.h>

#include "reader.h"

#define INS_GET_RESPONSE 0xC0
#define INS_VERIFY 0x20
#define INS_CHANGE_REFERENCE 0x24
#define INS_RESET_RETRY 0x2C

/* An R-APDU travels in a vpcd frame with a 16-bit length, SW included. */
#define RAPDU_DATA_MAX 65533
/* What the application may answer with before the front gives up. */
#define APP_OUT_MAX (1u << 20)

struct apdu_front {
	struct vcard_app *app;
	/* A command chain being joined. */
	bool chaining;
	uint8_t chain_cla, chain_ins, chain_p1, chain_p2;
	struct buf chain;
	/* Response data not yet fetched with GET RESPONSE. */
	bool pending;
	struct buf resp;
	size_t resp_off;
	uint16_t resp_sw;
};

int apdu_parse(const uint8_t *raw, size_t n, struct apdu_parsed *out)
{
	struct reader r = reader_init(raw, n);
	uint8_t b, le8;
	uint16_t v, le16;
	size_t rest;

	memset(out, 0, sizeof(*out));
	if (reader_get_u8(&r, &out->cla) || reader_get_u8(&r, &out->ins) ||
	    reader_get_u8(&r, &out->p1) || reader_get_u8(&r, &out->p2))
		return -1;
	out->data_off = 4;
	rest = reader_left(&r);
	if (rest == 0) /* case 1 */
		return 0;
	if (reader_get_u8(&r, &b))
		return -1;
	if (rest == 1) { /* case 2S */
		out->le = b ? b : 256;
		return 0;
	}
	if (b != 0) { /* case 3S / 4S */
		out->len = b;
		out->data_off = 5;
		if (reader_skip(&r, out->len))
			return -1;
		if (reader_left(&r) == 0)
			return 0;
		if (reader_left(&r) != 1 || reader_get_u8(&r, &le8))
			return -1;
		out->le = le8 ? le8 : 256;
		return 0;
	}
	/* Extended length: 00 then two bytes. */
	out->extended = true;
	if (rest < 3 || reader_get_u16be(&r, &v))
		return -1;
	if (rest == 3) { /* case 2E */
		out->le = v ? v : 65536;
		return 0;
	}
	if (v == 0) /* Lc must not be zero */
		return -1;
	out->len = v;
	out->data_off = 7;
	if (reader_skip(&r, out->len))
		return -1;
	if (reader_left(&r) == 0) /* case 3E */
		return 0;
	if (reader_left(&r) != 2 || reader_get_u16be(&r, &le16))
		return -1;
	out->le = le16 ? le16 : 65536;
	return 0;
}

struct apdu_front *apdu_front_new(struct vcard_app *app)
{
	struct apdu_front *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->app = app;
	buf_init(&f->chain, APDU_CHAIN_MAX);
	f->chain.secret = true;
	buf_init(&f->resp, APP_OUT_MAX);
	f->resp.secret = true;
	return f;
}

static void chain_drop(struct apdu_front *f)
{
	f->chaining = false;
	buf_reset(&f->chain);
}

static void pending_drop(struct apdu_front *f)
{
	f->pending = false;
	f->resp_off = 0;
	buf_reset(&f->resp);
}

void apdu_front_reset(struct apdu_front *f)
{
	chain_drop(f);
	pending_drop(f);
}

void apdu_front_free(struct apdu_front **f)
{
	if (!f || !*f)
		return;
	buf_free(&(*f)->chain);
	buf_free(&(*f)->resp);
	free(*f);
	*f = NULL;
}

static void add_sw(struct buf *rapdu, uint16_t sw)
{
	buf_add_u16be(rapdu, sw);
}

/* Sends the next chunk of the pending response: at most max bytes, then 61xx
 * while more remain, else the application's status word. */
static void pending_send(struct apdu_front *f, size_t max, struct buf *rapdu)
{
	size_t left = f->resp.len - f->resp_off;
	size_t n = left < max ? left : max;

	buf_add(rapdu, f->resp.data + f->resp_off, n);
	f->resp_off += n;
	left -= n;
	if (left == 0) {
		add_sw(rapdu, f->resp_sw);
		pending_drop(f);
		return;
	}
	add_sw(rapdu, (uint16_t)(0x6100 | (left >= 256 ? 0 : left)));
}

/* How many response bytes one answer may carry. An absent Le still gets
 * data, as a YubiKey does: up to 256 (short) or everything (extended). */
static size_t answer_max(size_t le, bool extended)
{
	size_t max = le ? le : (extended ? 65536 : 256);

	return max > RAPDU_DATA_MAX ? RAPDU_DATA_MAX : max;
}

static void get_response(struct apdu_front *f, const struct apdu_parsed *a,
			 struct buf *rapdu)
{
	if (a->p1 != 0 || a->p2 != 0) {
		add_sw(rapdu, SW_WRONG_P1P2);
		return;
	}
	if (!f->pending) {
		add_sw(rapdu, SW_CONDITIONS);
		return;
	}
	pending_send(f, answer_max(a->le, a->extended), rapdu);
}

static void run_command(struct apdu_front *f, const struct vcard_apdu *cmd,
			struct buf *rapdu, bool *key_op)
{
	uint16_t sw;

	pending_drop(f);
	sw = vcard_app_command(f->app, cmd, &f->resp, key_op);
	if (buf_failed(&f->resp)) {
		pending_drop(f);
		add_sw(rapdu, 0x6F00);
		return;
	}
	f->pending = true;
	f->resp_off = 0;
	f->resp_sw = sw;
	pending_send(f, answer_max(cmd->le, cmd->extended), rapdu);
}

static bool chain_matches(const struct apdu_front *f, uint8_t cla,
			  const struct apdu_parsed *a)
{
	return f->chaining && f->chain_cla == cla && f->chain_ins == a->ins &&
	       f->chain_p1 == a->p1 && f->chain_p2 == a->p2;
}

void apdu_front_process(struct apdu_front *f, const uint8_t *capdu, size_t n,
			struct buf *rapdu, bool *key_op)
{
	struct apdu_parsed a;
	struct vcard_apdu cmd;
	bool interindustry, chained;
	uint8_t cla;

	*key_op = false;
	if (apdu_parse(capdu, n, &a) != 0) {
		apdu_front_reset(f);
		add_sw(rapdu, SW_WRONG_LENGTH);
		return;
	}
	/* The chaining bit only exists in the first interindustry class. */
	interindustry = (a.cla & 0xE0) == 0;
	chained = interindustry && (a.cla & 0x10);
	cla = chained ? (uint8_t)(a.cla & ~0x10) : a.cla;

	/* GET RESPONSE is served whatever the class (OpenSC's default driver
	 * sends it with the class of the command it follows). */
	if (!chained && a.ins == INS_GET_RESPONSE) {
		chain_drop(f);
		get_response(f, &a, rapdu);
		return;
	}
	pending_drop(f);

	if (f->chaining && !chain_matches(f, cla, &a))
		chain_drop(f); /* another command: the chain is abandoned */
	if (chained || f->chaining) {
		if (!f->chaining) {
			f->chaining = true;
			f->chain_cla = cla;
			f->chain_ins = a.ins;
			f->chain_p1 = a.p1;
			f->chain_p2 = a.p2;
		}
		buf_add(&f->chain, capdu + a.data_off, a.len);
		if (buf_failed(&f->chain)) {
			chain_drop(f);
			add_sw(rapdu, SW_NO_SPACE);
			return;
		}
		if (chained) {
			add_sw(rapdu, SW_OK);
			return;
		}
	}

	memset(&cmd, 0, sizeof(cmd));
	cmd.cla = cla;
	cmd.ins = a.ins;
	cmd.p1 = a.p1;
	cmd.p2 = a.p2;
	cmd.le = a.le;
	cmd.extended = a.extended;
	if (f->chaining) {
		cmd.data = f->chain.data;
		cmd.len = f->chain.len;
	} else {
		cmd.data = a.len ? capdu + a.data_off : NULL;
		cmd.len = a.len;
	}
	run_command(f, &cmd, rapdu, key_op);
	chain_drop(f);
}

static void hex_write(FILE *log, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(log, "%02X", p[i]);
}

static bool carries_secret(uint8_t ins)
{
	return ins == INS_VERIFY || ins == INS_CHANGE_REFERENCE ||
	       ins == INS_RESET_RETRY;
}

void apdu_log_write(FILE *log, const uint8_t *capdu, size_t clen,
		    const uint8_t *rapdu, size_t rlen)
{
	struct apdu_parsed a;
	size_t mask_off = clen, mask_len = 0;

	if (!log)
		return;
	if (clen >= 2 && carries_secret(capdu[1])) {
		if (apdu_parse(capdu, clen, &a) == 0) {
			mask_off = a.data_off;
			mask_len = a.len;
		} else if (clen > 5) { /* malformed: hide everything after Lc */
			mask_off = 5;
			mask_len = clen - 5;
		}
	}
	hex_write(log, capdu, mask_off < clen ? mask_off : clen);
	for (size_t i = 0; i < mask_len; i++)
		fputs("**", log);
	if (mask_off + mask_len < clen)
		hex_write(log, capdu + mask_off + mask_len,
			  clen - mask_off - mask_len);
	fputc(' ', log);
	hex_write(log, rapdu, rlen);
	fputc('\n', log);
	fflush(log);
}
