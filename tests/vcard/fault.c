/* Fault injection: the front breaks the R-APDUs of one instruction, so tests
 * can check that a driver survives a broken card. The fault comes from the
 * command line (--fault MODE --fault-ins HEX) or, switched at run time, from
 * a control file (--fault-file PATH) holding "MODE [INS]": read before every
 * response, it overrides the command line while it exists; "none" or an
 * empty file clears the fault. GET RESPONSE (C0) counts as the instruction
 * whose response it continues. */
#include <stdio.h>
#include <string.h>

#include "front.h"

#define FAULT_BAD_SW 0x6F5A /* no meaning in ISO 7816-4 or PIV */

static const struct {
	const char *name;
	enum fault_mode mode;
} modes[] = {
	{ "none", FAULT_NONE },         { "garble", FAULT_GARBLE },
	{ "truncate", FAULT_TRUNCATE }, { "bad-sw", FAULT_BAD_SW_MODE },
	{ "overlong", FAULT_OVERLONG },
};

int fault_mode_parse(const char *s, enum fault_mode *out)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(s, modes[i].name) == 0) {
			*out = modes[i].mode;
			return 0;
		}
	}
	return -1;
}

/* "MODE [INS]" from the control file; -1 when absent or unreadable. */
static int fault_read_file(const char *path, enum fault_mode *mode, int *ins)
{
	char line[64], name[32] = "";
	unsigned v;
	int n;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		*mode = FAULT_NONE; /* empty: no fault */
		return 0;
	}
	fclose(f);
	n = sscanf(line, "%31s %x", name, &v);
	if (n < 1 || fault_mode_parse(name, mode) != 0) {
		fprintf(stderr, "tokend-vcard: %s: bad fault '%s'\n", path,
			line);
		*mode = FAULT_NONE;
		return 0;
	}
	*ins = n == 2 && v <= 0xff ? (int)v : -1;
	return 0;
}

/* Flips every data byte: tags and lengths become nonsense. */
static void garble(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] ^= 0xA5;
}

void fault_apply(struct fault *f, const uint8_t *capdu, size_t clen,
		 struct buf *rapdu)
{
	enum fault_mode mode = f->mode;
	int want = f->ins;
	uint8_t ins;
	size_t dlen;
	uint8_t sw[2];

	if (clen < 4 || rapdu->len < 2 || buf_failed(rapdu))
		return;
	ins = capdu[1];
	if (ins == 0xC0)
		ins = f->cur_ins;
	else
		f->cur_ins = ins;
	if (f->file)
		fault_read_file(f->file, &mode, &want);
	if (mode == FAULT_NONE || (want >= 0 && want != ins))
		return;
	dlen = rapdu->len - 2;
	memcpy(sw, rapdu->data + dlen, 2);
	switch (mode) {
	case FAULT_GARBLE:
		garble(rapdu->data, dlen);
		break;
	case FAULT_TRUNCATE: /* half the data, the status word kept */
		memmove(rapdu->data + dlen / 2, sw, 2);
		rapdu->len = dlen / 2 + 2;
		break;
	case FAULT_BAD_SW_MODE:
		rapdu->data[0] = FAULT_BAD_SW >> 8;
		rapdu->data[1] = FAULT_BAD_SW & 0xff;
		rapdu->len = 2;
		break;
	case FAULT_OVERLONG: /* the first TLV's length: 84 xx xx xx xx */
		if (dlen >= 2)
			rapdu->data[1] = 0x84;
		break;
	case FAULT_NONE:
		break;
	}
}
