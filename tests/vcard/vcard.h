/* tokend-vcard: a virtual YubiKey 5 PIV application for vpcd.
 *
 * Two halves meet here. The front (main.c, vpcd.c, apdu.c) owns the socket to
 * vpcd, the ATR, the APDU log, the latency model, command chaining in and
 * 61xx/GET RESPONSE out. The application (piv_app*.c) sees one complete
 * command at a time and owns all card state, its persistence included. */
#ifndef TOKEND_VCARD_H
#define TOKEND_VCARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Management key algorithms, as PIV/YubiKey number them. */
#define VCARD_MGM_3DES 0x03
#define VCARD_MGM_AES128 0x08
#define VCARD_MGM_AES192 0x0a
#define VCARD_MGM_AES256 0x0c

struct vcard_opts {
	uint32_t serial;        /* default 10000001 */
	uint8_t fw[3];          /* default 5.7.2 */
	const char *state_path; /* NULL: nothing persists */
	char pin[9];            /* initial PIN, default "123456" */
	char puk[9];            /* initial PUK, default "12345678" */
	uint8_t mgm_key[32]; /* initial management key, default 0102..08 x3 */
	size_t mgm_key_len;
	uint8_t mgm_alg; /* 0: the firmware's default (AES-192 on 5.7+, else
			    3DES) */
	bool plain_piv;  /* a standard PIV card, not a YubiKey: no
			  * YubiKey instructions (6D00), no attestation,
			  * a CHUID from the start, 3DES management key,
			  * the SP 800-78 algorithms only */
};

/* One complete command, chaining already joined. cla has the chaining bit
 * cleared. le is the expected length: 0 when absent, 256 (short) or 65536
 * (extended) for an encoded zero. */
struct vcard_apdu {
	uint8_t cla, ins, p1, p2;
	const uint8_t *data;
	size_t len;
	size_t le;
	bool extended;
};

struct vcard_app;

/* Loads opts->state_path when it exists, else starts from a fresh card
 * built from opts. NULL on failure (reason on stderr). */
struct vcard_app *vcard_app_new(const struct vcard_opts *opts);
void vcard_app_free(struct vcard_app **app);

/* Power off, power on or reset: security status (PIN verified, management
 * key authenticated) and the selected application are dropped. */
void vcard_app_reset(struct vcard_app *app);

/* Handles one command. Response data (without SW) is appended to out;
 * the status word is returned. *key_op is set when a private-key operation
 * ran, so the front can apply the latency model. Never aborts on bad input:
 * every malformed command gets the status word a YubiKey returns. */
uint16_t vcard_app_command(struct vcard_app *app, const struct vcard_apdu *cmd,
			   struct buf *out, bool *key_op);

#endif
