/* PC/SC: the driver's pcscd connection (with back-off) and the per-token
 * card handle with transactions and the APDU transport. Readers are
 * watched elsewhere (hotplug/pcsc.c). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>

#include "drv_log.h"
#include "pcsc.h"

#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 8000
/* How long a failed transmit asks whether the card was pulled: pcscd sees
 * a removal at its next poll of the reader (vpcd every 0.4 s; a CCID
 * reader's interrupt sooner). */
#define PULLED_WAIT_MS 1000
#define PULLED_STEP_MS 50

/* One SCARDCONTEXT, shared by the driver and the cards opened on it. */
struct pcsc_conn {
	SCARDCONTEXT h;
	atomic_int refs;
};

struct pcsc_ctx {
	pthread_mutex_t lock;
	struct pcsc_conn *conn;
	uint64_t next_try_ms; /* monotonic; no attempt before */
	unsigned backoff_ms;
};

struct pcsc_card {
	struct pcsc_conn *conn;
	SCARDHANDLE h;
	DWORD proto;
};

struct rv_map {
	LONG rv;
	int err;
};

/* What a PC/SC result means for a card operation. */
static const struct rv_map card_errors[] = {
	{ SCARD_S_SUCCESS, 0 },
	{ SCARD_W_RESET_CARD, TK_ERR_RESET },
	{ SCARD_W_UNPOWERED_CARD, TK_ERR_RESET },
	{ SCARD_W_REMOVED_CARD, TK_ERR_REMOVED },
	{ SCARD_E_NO_SMARTCARD, TK_ERR_REMOVED },
	{ SCARD_E_READER_UNAVAILABLE, TK_ERR_REMOVED },
	{ SCARD_E_UNKNOWN_READER, TK_ERR_REMOVED },
	{ SCARD_E_NO_SERVICE, TK_ERR_REMOVED },
	{ SCARD_E_SERVICE_STOPPED, TK_ERR_REMOVED },
	{ SCARD_E_INVALID_HANDLE, TK_ERR_REMOVED },
	{ SCARD_E_SHARING_VIOLATION, TK_ERR_BUSY },
	{ SCARD_E_TIMEOUT, TK_ERR_BUSY },
	{ SCARD_E_NO_MEMORY, TK_ERR_NOMEM },
};

static int pcsc_error(LONG rv)
{
	for (size_t i = 0; i < sizeof(card_errors) / sizeof(card_errors[0]);
	     i++)
		if (card_errors[i].rv == rv)
			return card_errors[i].err;
	return TK_ERR_TRANSPORT;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void conn_put(struct pcsc_conn **pc)
{
	struct pcsc_conn *c = *pc;

	*pc = NULL;
	if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	SCardReleaseContext(c->h);
	free(c);
}

int pcsc_ctx_new(struct pcsc_ctx **out)
{
	struct pcsc_ctx *ctx = calloc(1, sizeof(*ctx));

	*out = NULL;
	if (!ctx)
		return TK_ERR_NOMEM;
	pthread_mutex_init(&ctx->lock, NULL);
	*out = ctx;
	return 0;
}

void pcsc_ctx_free(struct pcsc_ctx **pctx)
{
	struct pcsc_ctx *ctx = *pctx;

	if (!ctx)
		return;
	*pctx = NULL;
	conn_put(&ctx->conn);
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

/* Establishes the connection unless within the back-off window. Called
 * with ctx->lock held. */
static int ctx_connect(struct pcsc_ctx *ctx)
{
	struct pcsc_conn *c;
	uint64_t now = now_ms();
	LONG rv;

	if (ctx->conn)
		return 0;
	if (now < ctx->next_try_ms)
		return TK_ERR_TRANSPORT;
	c = calloc(1, sizeof(*c));
	if (!c)
		return TK_ERR_NOMEM;
	rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &c->h);
	if (rv != SCARD_S_SUCCESS) {
		free(c);
		ctx->backoff_ms =
		    ctx->backoff_ms ? ctx->backoff_ms * 2 : BACKOFF_FIRST_MS;
		if (ctx->backoff_ms > BACKOFF_MAX_MS)
			ctx->backoff_ms = BACKOFF_MAX_MS;
		ctx->next_try_ms = now + ctx->backoff_ms;
		DRV_LOG("SCardEstablishContext: %s (next try in %u ms)",
			pcsc_stringify_error(rv), ctx->backoff_ms);
		return TK_ERR_TRANSPORT;
	}
	atomic_init(&c->refs, 1);
	ctx->conn = c;
	ctx->backoff_ms = 0;
	ctx->next_try_ms = 0;
	return 0;
}

/* pcscd went away: drop our reference; cards on it die with it. */
static void ctx_lost(struct pcsc_ctx *ctx, struct pcsc_conn *c)
{
	if (ctx->conn == c) {
		DRV_LOG("pcscd connection lost");
		conn_put(&ctx->conn);
	}
}

static int dead_service(LONG rv)
{
	return rv == SCARD_E_NO_SERVICE || rv == SCARD_E_SERVICE_STOPPED ||
	       rv == SCARD_E_INVALID_HANDLE;
}

int pcsc_card_open(struct pcsc_ctx *ctx, const char *reader,
		   struct pcsc_card **out)
{
	struct pcsc_card *card = calloc(1, sizeof(*card));
	LONG rv = SCARD_E_NO_SERVICE;
	int rc = TK_ERR_TRANSPORT;

	*out = NULL;
	if (!card)
		return TK_ERR_NOMEM;
	pthread_mutex_lock(&ctx->lock);
	for (int attempt = 0; attempt < 2 && dead_service(rv); attempt++) {
		if ((rc = ctx_connect(ctx)) != 0)
			goto out;
		rv = SCardConnect(ctx->conn->h, reader, SCARD_SHARE_SHARED,
				  SCARD_PROTOCOL_T1 | SCARD_PROTOCOL_T0,
				  &card->h, &card->proto);
		if (dead_service(rv))
			ctx_lost(ctx, ctx->conn);
	}
	rc = pcsc_error(rv);
	if (rc == TK_ERR_REMOVED || rv == SCARD_E_UNKNOWN_READER)
		rc = TK_ERR_NOT_FOUND;
	if (rc == 0) {
		card->conn = ctx->conn;
		atomic_fetch_add(&card->conn->refs, 1);
	} else {
		DRV_LOG("SCardConnect(%s): %s", reader,
			pcsc_stringify_error(rv));
	}
out:
	pthread_mutex_unlock(&ctx->lock);
	if (rc == 0)
		*out = card;
	else
		free(card);
	return rc;
}

void pcsc_card_free(struct pcsc_card **pcard)
{
	struct pcsc_card *card = *pcard;

	if (!card)
		return;
	*pcard = NULL;
	SCardDisconnect(card->h, SCARD_LEAVE_CARD);
	conn_put(&card->conn);
	free(card);
}

int pcsc_card_reconnect(struct pcsc_card *card, bool reset)
{
	LONG rv = SCardReconnect(
	    card->h, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1 | SCARD_PROTOCOL_T0,
	    reset ? SCARD_RESET_CARD : SCARD_LEAVE_CARD, &card->proto);
	int rc = pcsc_error(rv);

	if (rc)
		DRV_LOG("SCardReconnect: %s", pcsc_stringify_error(rv));
	/* A reset seen again here is the reset we are recovering from. */
	return rc == TK_ERR_RESET ? TK_ERR_TRANSPORT : rc;
}

int pcsc_card_begin(struct pcsc_card *card, bool *was_reset)
{
	LONG rv = SCardBeginTransaction(card->h);
	int rc = pcsc_error(rv);

	*was_reset = false;
	if (rc == TK_ERR_RESET) {
		*was_reset = true;
		rc = pcsc_card_reconnect(card, false);
		if (rc == 0)
			rc = pcsc_error(rv = SCardBeginTransaction(card->h));
	}
	if (rc)
		DRV_LOG("SCardBeginTransaction: %s", pcsc_stringify_error(rv));
	return rc == TK_ERR_RESET ? TK_ERR_TRANSPORT : rc;
}

void pcsc_card_end(struct pcsc_card *card)
{
	SCardEndTransaction(card->h, SCARD_LEAVE_CARD);
}

/* A transmit that got no answer (a card pulled mid-APDU looks like this
 * until pcscd's next poll of the reader): TK_ERR_REMOVED when pcscd soon
 * says the card is gone, else TK_ERR_TRANSPORT. */
static int transmit_lost(struct pcsc_card *card)
{
	for (unsigned waited = 0;; waited += PULLED_STEP_MS) {
		char name[MAX_READERNAME];
		BYTE atr[MAX_ATR_SIZE];
		DWORD state = 0, proto = 0, nlen = sizeof(name),
		      alen = sizeof(atr);
		LONG rv = SCardStatus(card->h, name, &nlen, &state, &proto, atr,
				      &alen);

		if (pcsc_error(rv) == TK_ERR_REMOVED ||
		    (rv == SCARD_S_SUCCESS && (state & SCARD_ABSENT)))
			return TK_ERR_REMOVED;
		if (rv != SCARD_S_SUCCESS || waited >= PULLED_WAIT_MS)
			return TK_ERR_TRANSPORT;
		nanosleep(&(struct timespec){ 0, PULLED_STEP_MS * 1000000L },
			  NULL);
	}
}

int pcsc_card_transmit(void *vcard, const uint8_t *capdu, size_t clen,
		       uint8_t *rapdu, size_t *rlen)
{
	struct pcsc_card *card = vcard;
	const SCARD_IO_REQUEST *pci =
	    card->proto == SCARD_PROTOCOL_T1 ? SCARD_PCI_T1 : SCARD_PCI_T0;
	DWORD n = *rlen > 0xffffffffu ? 0xffffffffu : (DWORD)*rlen;
	LONG rv;
	int rc;

	if (clen > 0xffffffffu)
		return TK_ERR_ARG;
	rv = SCardTransmit(card->h, pci, capdu, (DWORD)clen, NULL, rapdu, &n);
	rc = pcsc_error(rv);
	if (rc == 0 && n > *rlen)
		rc = TK_ERR_TRANSPORT;
	/* No status word (vpcd's answer when the card went mid-APDU) or no
	 * answer at all. */
	if ((rc == 0 && n < 2) || rv == SCARD_E_NOT_TRANSACTED ||
	    rv == SCARD_F_COMM_ERROR || rv == SCARD_E_COMM_DATA_LOST)
		rc = transmit_lost(card);
	if (rc) {
		if (rc != TK_ERR_RESET)
			DRV_LOG("SCardTransmit: %s%s", pcsc_stringify_error(rv),
				rc == TK_ERR_REMOVED ? " (card removed)" : "");
		*rlen = 0;
		return rc;
	}
	*rlen = n;
	return 0;
}
