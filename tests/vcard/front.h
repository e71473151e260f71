/* The front half of tokend-vcard, internal to it: the APDU layer (apdu.c)
 * and the vpcd connection (vpcd.c). main.c ties them to the event loop. */
#ifndef TOKEND_VCARD_FRONT_H
#define TOKEND_VCARD_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "vcard.h"

/* Joined chained data is capped here (a YubiKey object is at most ~3 KB). */
#define APDU_CHAIN_MAX 16384

/* ISO 7816-4 status words the front itself answers with. */
#define SW_OK 0x9000
#define SW_WRONG_LENGTH 0x6700
#define SW_CONDITIONS 0x6985
#define SW_WRONG_P1P2 0x6A86
#define SW_NO_SPACE 0x6A84
#define SW_LAST_CHAIN_EXPECTED 0x6883

/* One C-APDU as it came over the wire (not yet joined). */
struct apdu_parsed {
	uint8_t cla, ins, p1, p2;
	size_t data_off; /* offset of the command data in the raw bytes */
	size_t len;      /* Nc */
	size_t le;       /* Ne: 0 absent, 256/65536 for an encoded zero */
	bool extended;
};

/* Parses ISO 7816-4 cases 1-4, short and extended. -1 when malformed. */
int apdu_parse(const uint8_t *raw, size_t n, struct apdu_parsed *out);

struct apdu_front;

struct apdu_front *apdu_front_new(struct vcard_app *app);
void apdu_front_free(struct apdu_front **f);
/* Drops a partial chain and a pending response (power off/on, reset). */
void apdu_front_reset(struct apdu_front *f);
/* One C-APDU in, one R-APDU (data + SW) appended to rapdu. *key_op is set
 * when the application ran a private-key operation. */
void apdu_front_process(struct apdu_front *f, const uint8_t *capdu, size_t n,
			struct buf *rapdu, bool *key_op);

/* Writes "<C-APDU hex> <R-APDU hex>\n" and flushes; the data of VERIFY,
 * CHANGE REFERENCE DATA and RESET RETRY COUNTER is masked with '*'. */
void apdu_log_write(FILE *log, const uint8_t *capdu, size_t clen,
		    const uint8_t *rapdu, size_t rlen);

/* Fault injection (fault.c): broken R-APDUs for one instruction. */
enum fault_mode {
	FAULT_NONE,
	FAULT_GARBLE,      /* every data byte XOR A5, status word kept */
	FAULT_TRUNCATE,    /* half the data, status word kept */
	FAULT_BAD_SW_MODE, /* no data, status word 6F5A */
	FAULT_OVERLONG,    /* the first TLV's length byte becomes 84 */
};

struct fault {
	enum fault_mode mode; /* from the command line */
	int ins;              /* -1: every instruction */
	const char *file;     /* control file "MODE [INS]", or NULL */
	uint8_t cur_ins;      /* the instruction GET RESPONSE continues */
};

int fault_mode_parse(const char *s, enum fault_mode *out);
/* Breaks rapdu (data + SW) when the fault in force covers capdu's INS. */
void fault_apply(struct fault *f, const uint8_t *capdu, size_t clen,
		 struct buf *rapdu);

/* The vpcd link: a framed TCP stream to 127.0.0.1:port. */
struct vpcd;

struct vpcd *vpcd_new(uint16_t port);
void vpcd_free(struct vpcd **v);
/* Tries once to connect; 0 on success, -1 (quietly) otherwise. */
int vpcd_connect(struct vpcd *v);
void vpcd_close(struct vpcd *v);
bool vpcd_connected(const struct vpcd *v);
int vpcd_fd(const struct vpcd *v);
/* Reads what is available without blocking. Returns 1 with *msg and *len set
 * when a whole message is in (valid until the next call), 0 when more is
 * needed, -1 when the peer closed or the stream broke. */
int vpcd_read(struct vpcd *v, const uint8_t **msg, size_t *len);
/* Sends one framed message; -1 on failure. */
int vpcd_send(struct vpcd *v, const uint8_t *p, size_t n);

#endif
