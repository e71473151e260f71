/* PC/SC for the drivers: one pcscd connection per driver, shared by the
 * tokens it opened, and one card handle per token. Which readers exist and
 * hold a card is the PC/SC watcher's business (hotplug/pcsc.c).
 *
 * The connection (SCARDCONTEXT) is re-established with back-off when pcscd
 * went away (SCARD_E_NO_SERVICE: Debian's pcscd exits 60 s after its last
 * client, and may not run at first). Tokens keep a reference to the
 * connection they were opened on; when that connection dies their handles
 * fail with TK_ERR_REMOVED and the front end closes them.
 *
 * Errors are TK_ERR_*: SCARD_W_RESET_CARD is TK_ERR_RESET;
 * SCARD_W_REMOVED_CARD, SCARD_E_NO_SMARTCARD, SCARD_E_READER_UNAVAILABLE
 * and a dead connection are TK_ERR_REMOVED, and so is a transmit that got
 * no answer or one without a status word (the card pulled mid-APDU) when
 * pcscd says within a second that the card is gone; a transaction held by
 * another program past the timeout is TK_ERR_BUSY; anything else
 * TK_ERR_TRANSPORT. */
#ifndef TOKEND_DRIVERS_PCSC_H
#define TOKEND_DRIVERS_PCSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"

struct pcsc_ctx;
struct pcsc_card;

/* Never fails for want of pcscd: the connection is made on first use. */
int pcsc_ctx_new(struct pcsc_ctx **out);
void pcsc_ctx_free(struct pcsc_ctx **ctx);

/* Connects to the card in reader (shared, T=1 or T=0). No card or no such
 * reader: TK_ERR_NOT_FOUND. */
int pcsc_card_open(struct pcsc_ctx *ctx, const char *reader,
		   struct pcsc_card **out);
void pcsc_card_free(struct pcsc_card **card);

/* SCardBeginTransaction / SCardEndTransaction (leave the card). begin
 * reconnects by itself when the card was reset since the last use and says
 * so with *was_reset (the caller re-SELECTs and re-VERIFYs). */
int pcsc_card_begin(struct pcsc_card *card, bool *was_reset);
void pcsc_card_end(struct pcsc_card *card);
/* SCardReconnect; reset: SCARD_RESET_CARD instead of leaving the card. */
int pcsc_card_reconnect(struct pcsc_card *card, bool reset);
/* The piv_transport callback (ctx is the struct pcsc_card). */
int pcsc_card_transmit(void *card, const uint8_t *capdu, size_t clen,
		       uint8_t *rapdu, size_t *rlen);

#endif
