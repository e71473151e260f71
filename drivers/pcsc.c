/* PC/SC: the driver's pcscd connection (with back-off), reader scans and the
 * per-token card handle with transactions and the APDU transport. */
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
	/* under lock: the last scan (reader multi-string and event states),
	 * and pcsc_wait's own connection */
	char *seen_names;
	size_t seen_len;
	DWORD *seen_states;
	size_t seen_n;
	SCARDCONTEXT wait_h;
	bool wait_have;
	pthread_mutex_t wait_lock; /* one pcsc_wait at a time */
	atomic_bool woken;
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
	pthread_mutex_init(&ctx->wait_lock, NULL);
	atomic_init(&ctx->woken, false);
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
	if (ctx->wait_have)
		SCardReleaseContext(ctx->wait_h);
	free(ctx->seen_names);
	free(ctx->seen_states);
	pthread_mutex_destroy(&ctx->wait_lock);
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

/* Reader names as one multi-string; *names is malloc'd. */
static LONG list_readers(SCARDCONTEXT h, char **names)
{
	DWORD len = 0;
	LONG rv;

	*names = NULL;
	rv = SCardListReaders(h, NULL, NULL, &len);
	if (rv != SCARD_S_SUCCESS)
		return rv;
	*names = calloc(1, len + 1);
	if (!*names)
		return SCARD_E_NO_MEMORY;
	rv = SCardListReaders(h, NULL, *names, &len);
	if (rv != SCARD_S_SUCCESS) {
		free(*names);
		*names = NULL;
	}
	return rv;
}

static void device_fill(struct tk_device *d, const SCARD_READERSTATE *st)
{
	size_t w;

	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", st->szReader);
	snprintf(d->description, sizeof(d->description), "%s", st->szReader);
	w = strcspn(st->szReader, " ");
	if (w >= sizeof(d->manufacturer))
		w = sizeof(d->manufacturer) - 1;
	memcpy(d->manufacturer, st->szReader, w);
	d->present = (st->dwEventState & SCARD_STATE_PRESENT) &&
		     !(st->dwEventState & SCARD_STATE_MUTE);
	d->events = (uint32_t)(st->dwEventState >> 16);
}

/* The length of a multi-string with its final NUL. */
static size_t msz_len(const char *p)
{
	const char *q = p;

	while (*q)
		q += strlen(q) + 1;
	return (size_t)(q - p) + 1;
}

/* Lock held: keeps names (taken) and the states for pcsc_wait. */
static void scan_remember(struct pcsc_ctx *ctx, char *names,
			  const SCARD_READERSTATE *st, size_t n)
{
	DWORD *states = n ? calloc(n, sizeof(*states)) : NULL;

	free(ctx->seen_names);
	free(ctx->seen_states);
	ctx->seen_names = NULL;
	ctx->seen_states = NULL;
	ctx->seen_len = ctx->seen_n = 0;
	if (!names || (n && !states)) {
		free(names); /* pcsc_wait then sees the list differ: rescan */
		free(states);
		return;
	}
	for (size_t i = 0; i < n; i++)
		states[i] = st[i].dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
	ctx->seen_names = names;
	ctx->seen_len = msz_len(names);
	ctx->seen_states = states;
	ctx->seen_n = n;
}

/* The states of every reader in names (taken), into a new device list. */
static LONG scan_states(struct pcsc_ctx *ctx, char *names,
			struct tk_device **list, size_t *n)
{
	SCARD_READERSTATE *st = NULL;
	size_t count = 0, i = 0;
	LONG rv = SCARD_S_SUCCESS;

	for (const char *p = names; *p; p += strlen(p) + 1)
		count++;
	if (count == 0)
		goto out;
	st = calloc(count, sizeof(*st));
	*list = calloc(count, sizeof(**list));
	if (!st || !*list) {
		rv = SCARD_E_NO_MEMORY;
		goto out;
	}
	for (const char *p = names; *p; p += strlen(p) + 1) {
		st[i].szReader = p;
		st[i++].dwCurrentState = SCARD_STATE_UNAWARE;
	}
	rv = SCardGetStatusChange(ctx->conn->h, 0, st, (DWORD)count);
	if (rv == SCARD_E_TIMEOUT)
		rv = SCARD_S_SUCCESS;
	if (rv != SCARD_S_SUCCESS)
		goto out;
	for (i = 0; i < count; i++)
		device_fill(&(*list)[i], &st[i]);
	*n = count;
out:
	if (rv != SCARD_S_SUCCESS) {
		free(*list);
		*list = NULL;
		free(names);
	} else {
		scan_remember(ctx, names, st, count);
	}
	free(st);
	return rv;
}

int pcsc_scan(struct pcsc_ctx *ctx, struct tk_device **list, size_t *n)
{
	char *names = NULL;
	LONG rv = SCARD_E_NO_SERVICE;
	int rc = 0;

	*list = NULL;
	*n = 0;
	pthread_mutex_lock(&ctx->lock);
	/* Twice: a connection found dead is replaced once, at once (a
	 * socket-activated pcscd starts again on the new connection). */
	for (int attempt = 0; attempt < 2 && dead_service(rv); attempt++) {
		if (ctx_connect(ctx) != 0)
			goto out;
		rv = list_readers(ctx->conn->h, &names);
		if (rv == SCARD_S_SUCCESS) {
			rv = scan_states(ctx, names, list, n);
			names = NULL;
		} else if (rv == SCARD_E_NO_READERS_AVAILABLE) {
			scan_remember(ctx, NULL, NULL, 0);
		}
		if (dead_service(rv))
			ctx_lost(ctx, ctx->conn);
	}
	if (rv == SCARD_E_NO_READERS_AVAILABLE || dead_service(rv))
		rv = SCARD_S_SUCCESS;
	if (rv != SCARD_S_SUCCESS) {
		DRV_LOG("%s", pcsc_stringify_error(rv));
		rc = rv == SCARD_E_NO_MEMORY ? TK_ERR_NOMEM : TK_ERR_TRANSPORT;
	}
out:
	pthread_mutex_unlock(&ctx->lock);
	return rc;
}

/* ---- waiting for changes ---- */

#define PNP_READER "\\\\?PnP?\\Notification"

/* What one pcsc_wait watches: the readers of the last scan with their
 * states then, and the PnP pseudo-reader last. */
struct wait_set {
	char *names;
	SCARD_READERSTATE *st;
	size_t n; /* entries in st, PnP included */
};

/* ctx->lock held: pcsc_wait's connection, made on first use. */
static int wait_connect(struct pcsc_ctx *ctx)
{
	LONG rv;

	if (ctx->wait_have)
		return 0;
	rv =
	    SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx->wait_h);
	if (rv != SCARD_S_SUCCESS) {
		DRV_LOG("SCardEstablishContext: %s", pcsc_stringify_error(rv));
		return TK_ERR_TRANSPORT;
	}
	ctx->wait_have = true;
	return 0;
}

static void wait_drop(struct pcsc_ctx *ctx)
{
	pthread_mutex_lock(&ctx->lock);
	if (ctx->wait_have)
		SCardReleaseContext(ctx->wait_h);
	ctx->wait_have = false;
	pthread_mutex_unlock(&ctx->lock);
}

/* Copies the last scan into w. Returns 0 or TK_ERR_NOMEM. Lock held. */
static int wait_set_fill(struct pcsc_ctx *ctx, struct wait_set *w)
{
	size_t len = ctx->seen_names ? ctx->seen_len : 1, i = 0;

	w->n = ctx->seen_n + 1;
	w->names = calloc(1, len + 1);
	w->st = calloc(w->n, sizeof(*w->st));
	if (!w->names || !w->st)
		return TK_ERR_NOMEM;
	if (ctx->seen_names)
		memcpy(w->names, ctx->seen_names, len);
	for (const char *p = w->names; *p && i < ctx->seen_n;
	     p += strlen(p) + 1) {
		w->st[i].szReader = p;
		w->st[i].dwCurrentState = ctx->seen_states[i];
		i++;
	}
	w->st[i].szReader = PNP_READER;
	w->n = i + 1;
	return 0;
}

/* Whether pcscd's reader list still is the one of the last scan. */
static int wait_same_readers(SCARDCONTEXT h, const struct wait_set *w)
{
	char *now = NULL;
	LONG rv = list_readers(h, &now);
	int same;

	if (rv == SCARD_E_NO_READERS_AVAILABLE)
		same = w->names[0] == '\0';
	else if (rv != SCARD_S_SUCCESS)
		same = -1;
	else
		same = msz_len(now) == msz_len(w->names) &&
		       memcmp(now, w->names, msz_len(now)) == 0;
	free(now);
	return same;
}

int pcsc_wait(struct pcsc_ctx *ctx, unsigned timeout_ms)
{
	struct wait_set w = { 0 };
	SCARDCONTEXT h = 0;
	int rc, same;
	LONG rv;

	pthread_mutex_lock(&ctx->wait_lock);
	pthread_mutex_lock(&ctx->lock);
	rc = wait_set_fill(ctx, &w);
	if (rc == 0 && (rc = wait_connect(ctx)) == 0)
		h = ctx->wait_h;
	pthread_mutex_unlock(&ctx->lock);
	if (rc)
		goto out;
	if ((same = wait_same_readers(h, &w)) != 1) {
		rc = same == 0 ? 1 : TK_ERR_TRANSPORT;
		goto out;
	}
	if (atomic_exchange(&ctx->woken, false))
		goto out; /* rc 0 */
	rv = SCardGetStatusChange(h, timeout_ms, w.st, (DWORD)w.n);
	if (rv == SCARD_S_SUCCESS)
		rc = 1;
	else if (rv != SCARD_E_TIMEOUT && rv != SCARD_E_CANCELLED) {
		DRV_LOG("SCardGetStatusChange: %s", pcsc_stringify_error(rv));
		rc = TK_ERR_TRANSPORT;
	}
out:
	if (rc == TK_ERR_TRANSPORT)
		wait_drop(
		    ctx); /* pcscd went away: a new connection next time */
	free(w.names);
	free(w.st);
	pthread_mutex_unlock(&ctx->wait_lock);
	return rc;
}

void pcsc_wake(struct pcsc_ctx *ctx)
{
	atomic_store(&ctx->woken, true);
	pthread_mutex_lock(&ctx->lock);
	if (ctx->wait_have)
		(void)SCardCancel(ctx->wait_h);
	pthread_mutex_unlock(&ctx->lock);
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
	if (rc == 0 && (n < 2 || n > *rlen))
		rc = TK_ERR_TRANSPORT;
	if (rc) {
		if (rc != TK_ERR_RESET)
			DRV_LOG("SCardTransmit: %s", pcsc_stringify_error(rv));
		*rlen = 0;
		return rc;
	}
	*rlen = n;
	return 0;
}
