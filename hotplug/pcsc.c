/* The PC/SC watcher: one long-lived pcscd context, SCardGetStatusChange
 * over every reader plus \\?PnP?\Notification, the reader list read again
 * after every wake-up and timeout (pcsc-lite 1.9.9 counts card events per
 * reader but not reader arrivals), and a reconnect with back-off when
 * pcscd goes away. What it knows (readers, their cards) is compared with
 * each answer, so the consumer gets arrived/left/changed, never a state. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>

#include "error.h"
#include "hotplug.h"

#define PNP_READER "\\\\?PnP?\\Notification"
#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 8000
#define RECHECK_MS 10000
/* A wait that returns this fast with nothing to report, this many times
 * in a row, means pcscd answers at once forever: nap instead of spinning. */
#define QUICK_MS 50
#define QUICK_MAX 3
#define QUICK_NAP_MS 1000

struct reader {
	char *name;
	DWORD state; /* the last dwEventState, SCARD_STATE_CHANGED cleared */
	bool card, mute;
	uint8_t atr[MAX_ATR_SIZE];
	size_t atr_len;
};

struct hotplug_pcsc {
	struct hotplug_queue *q;
	struct hotplug_pcsc_opts o;

	/* lock: the thread's life, the context handle (for SCardCancel from
	 * _stop()) and the stats. */
	pthread_mutex_t lock;
	pthread_cond_t cv; /* naps end early on stop */
	pthread_t thread;
	bool running, stop, in_wait;
	SCARDCONTEXT h;
	bool have_h;
	struct hotplug_pcsc_stats st;

	/* step: one pass at a time (the thread's, or a _scan()); it owns
	 * everything below. */
	pthread_mutex_t step;
	struct reader *rd;
	size_t nrd;
	DWORD pnp_state;
	bool lost; /* SERVICE_LOST reported, BACK not yet */
	uint64_t lost_at, next_try;
	unsigned backoff_ms, quick;
};

static void wlog(struct hotplug_pcsc *w, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void wlog(struct hotplug_pcsc *w, int level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!w->o.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	w->o.log(w->o.log_ctx, level, line);
}

static void emit(struct hotplug_pcsc *w, enum hotplug_event ev,
		 enum hotplug_kind kind, const struct reader *r,
		 bool service_lost)
{
	struct hotplug_msg m;

	memset(&m, 0, sizeof(m));
	m.ev = ev;
	m.kind = kind;
	m.service_lost = service_lost;
	m.at_ms = hotplug_now_ms();
	snprintf(m.id, sizeof(m.id), "%s", r ? r->name : "pcscd");
	if (r && kind == HOTPLUG_PCSC_CARD) {
		memcpy(m.atr, r->atr, r->atr_len);
		m.atr_len = r->atr_len;
		m.mute = r->mute;
	}
	if (hotplug_queue_push(w->q, &m) < 0)
		wlog(w, LOG_ERR, "out of memory: a %s event of '%s' is lost",
		     hotplug_kind_name(kind), m.id);
}

/* Reports the reader (and its card) gone and forgets it. */
static void reader_drop(struct hotplug_pcsc *w, size_t i, bool service_lost)
{
	struct reader *r = &w->rd[i];

	if (r->card)
		emit(w, HOTPLUG_LEFT, HOTPLUG_PCSC_CARD, r, service_lost);
	emit(w, HOTPLUG_LEFT, HOTPLUG_PCSC_READER, r, service_lost);
	free(r->name);
	w->rd[i] = w->rd[--w->nrd];
}

static struct reader *reader_find(struct hotplug_pcsc *w, const char *name)
{
	for (size_t i = 0; i < w->nrd; i++)
		if (strcmp(w->rd[i].name, name) == 0)
			return &w->rd[i];
	return NULL;
}

static void context_release(struct hotplug_pcsc *w)
{
	pthread_mutex_lock(&w->lock);
	if (w->have_h)
		SCardReleaseContext(w->h);
	w->have_h = false;
	pthread_mutex_unlock(&w->lock);
}

static void backoff_next(struct hotplug_pcsc *w)
{
	unsigned max = w->o.backoff_max_ms;

	w->backoff_ms =
	    w->backoff_ms ? w->backoff_ms * 2 : w->o.backoff_first_ms;
	if (w->backoff_ms > max)
		w->backoff_ms = max;
	w->next_try = hotplug_now_ms() + w->backoff_ms;
}

/* pcscd is gone (or never was there): one line and one SERVICE_LOST per
 * outage, however often the reconnect fails. */
static void service_down(struct hotplug_pcsc *w, LONG rv, bool was_up)
{
	context_release(w);
	if (was_up) /* a socket-activated pcscd restarts on a new connect */
		w->backoff_ms = 0, w->next_try = 0;
	else
		backoff_next(w);
	if (w->lost)
		return;
	w->lost = true;
	w->lost_at = hotplug_now_ms();
	wlog(w, LOG_WARNING,
	     "pcscd %s (%s): PC/SC readers and their tokens are gone until it "
	     "is back; retrying in the background",
	     was_up ? "lost" : "not reachable", pcsc_stringify_error(rv));
	emit(w, HOTPLUG_SERVICE_LOST, HOTPLUG_PCSC_SERVICE, NULL, false);
	while (w->nrd)
		reader_drop(w, w->nrd - 1, true);
	w->pnp_state = 0;
}

static int connect_pcscd(struct hotplug_pcsc *w)
{
	SCARDCONTEXT h;
	LONG rv;

	if (w->have_h)
		return 0;
	if (hotplug_now_ms() < w->next_try)
		return TK_ERR_TRANSPORT;
	rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &h);
	pthread_mutex_lock(&w->lock);
	if (rv == SCARD_S_SUCCESS) {
		w->h = h;
		w->have_h = true;
		w->st.connects++;
	} else {
		w->st.connect_fails++;
	}
	pthread_mutex_unlock(&w->lock);
	if (rv != SCARD_S_SUCCESS) {
		service_down(w, rv, false);
		return TK_ERR_TRANSPORT;
	}
	w->backoff_ms = 0;
	w->next_try = 0;
	if (w->lost) {
		w->lost = false;
		wlog(w, LOG_NOTICE,
		     "pcscd back after %.1f s: reading readers and cards again",
		     (double)(hotplug_now_ms() - w->lost_at) / 1000.0);
		emit(w, HOTPLUG_SERVICE_BACK, HOTPLUG_PCSC_SERVICE, NULL,
		     false);
	}
	return 0;
}

/* Reader names as one multi-string ("" when there is none); malloc'd. */
static LONG list_readers(SCARDCONTEXT h, char **names)
{
	DWORD len = 0;
	LONG rv;

	*names = NULL;
	rv = SCardListReaders(h, NULL, NULL, &len);
	if (rv == SCARD_E_NO_READERS_AVAILABLE)
		len = 1;
	else if (rv != SCARD_S_SUCCESS)
		return rv;
	if (!(*names = calloc(1, (size_t)len + 1)))
		return SCARD_E_NO_MEMORY;
	if (rv == SCARD_E_NO_READERS_AVAILABLE)
		return SCARD_S_SUCCESS;
	rv = SCardListReaders(h, NULL, *names, &len);
	if (rv == SCARD_E_NO_READERS_AVAILABLE) { /* gone meanwhile */
		(*names)[0] = '\0';
		rv = SCARD_S_SUCCESS;
	}
	if (rv != SCARD_S_SUCCESS) {
		free(*names);
		*names = NULL;
	}
	return rv;
}

static bool listed(const char *names, const char *name)
{
	for (const char *p = names; *p; p += strlen(p) + 1)
		if (strcmp(p, name) == 0)
			return true;
	return false;
}

/* Sets r's card from st; returns whether the card facts differ. */
static bool reader_take(struct reader *r, const SCARD_READERSTATE *st)
{
	DWORD s = st->dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
	bool card = (s & SCARD_STATE_PRESENT) != 0;
	bool mute = card && (s & SCARD_STATE_MUTE);
	size_t atr_len = card && st->cbAtr <= MAX_ATR_SIZE ? st->cbAtr : 0;
	bool differ = card != r->card || mute != r->mute ||
		      atr_len != r->atr_len ||
		      memcmp(st->rgbAtr, r->atr, atr_len) != 0;

	r->state = s;
	r->card = card;
	r->mute = mute;
	r->atr_len = atr_len;
	memcpy(r->atr, st->rgbAtr, atr_len);
	return differ;
}

/* A reader we knew, with its new state. The upper 16 bits count card
 * insertions and removals: two or more with a card before and after is a
 * card pulled and put back between our looks. */
static int reader_update(struct hotplug_pcsc *w, struct reader *r,
			 const SCARD_READERSTATE *st)
{
	unsigned events =
	    ((st->dwEventState >> 16) - (r->state >> 16)) & 0xffff;
	bool had = r->card, mute = r->mute;
	bool differ = reader_take(r, st);

	if (had && r->card && events >= 2) {
		emit(w, HOTPLUG_LEFT, HOTPLUG_PCSC_CARD, r, false);
		emit(w, HOTPLUG_ARRIVED, HOTPLUG_PCSC_CARD, r, false);
	} else if (had != r->card) {
		emit(w, r->card ? HOTPLUG_ARRIVED : HOTPLUG_LEFT,
		     HOTPLUG_PCSC_CARD, r, false);
	} else if (r->card && differ) {
		emit(w, HOTPLUG_CHANGED, HOTPLUG_PCSC_CARD, r, false);
	} else {
		return mute != r->mute;
	}
	return 1;
}

static int reader_add(struct hotplug_pcsc *w, const SCARD_READERSTATE *st)
{
	struct reader *rd, *r;

	rd = realloc(w->rd, (w->nrd + 1) * sizeof(*rd));
	if (!rd)
		return TK_ERR_NOMEM;
	w->rd = rd;
	r = &rd[w->nrd];
	memset(r, 0, sizeof(*r));
	if (!(r->name = strdup(st->szReader)))
		return TK_ERR_NOMEM;
	w->nrd++;
	reader_take(r, st);
	emit(w, HOTPLUG_ARRIVED, HOTPLUG_PCSC_READER, r, false);
	if (r->card)
		emit(w, HOTPLUG_ARRIVED, HOTPLUG_PCSC_CARD, r, false);
	return 0;
}

/* Compares the model with pcscd's answer: readers no longer listed left;
 * with states (st, n readers) also arrivals and card changes. Returns the
 * number of changes reported. */
static int apply(struct hotplug_pcsc *w, const char *names,
		 const SCARD_READERSTATE *st, size_t n)
{
	int changes = 0;

	for (size_t i = w->nrd; i-- > 0;)
		if (!listed(names, w->rd[i].name)) {
			reader_drop(w, i, false);
			changes++;
		}
	for (size_t i = 0; i < n; i++) {
		struct reader *r = reader_find(w, st[i].szReader);
		bool gone = st[i].dwEventState &
			    (SCARD_STATE_UNKNOWN | SCARD_STATE_IGNORE);

		if (r && gone) { /* removed after the listing */
			reader_drop(w, (size_t)(r - w->rd), false);
			changes++;
		} else if (r) {
			changes += reader_update(w, r, &st[i]);
		} else if (!gone) {
			if (reader_add(w, &st[i]) < 0)
				wlog(w, LOG_ERR,
				     "out of memory: reader '%s' "
				     "not watched",
				     st[i].szReader);
			changes++;
		}
	}
	return changes;
}

static bool dead_service(LONG rv)
{
	return rv == SCARD_E_NO_SERVICE || rv == SCARD_E_SERVICE_STOPPED ||
	       rv == SCARD_E_INVALID_HANDLE || rv == SCARD_F_COMM_ERROR;
}

/* The reader states for one SCardGetStatusChange: known readers at their
 * last state when waiting (UNAWARE otherwise, and for new readers, so
 * those answer at once), the PnP pseudo-reader last when waiting. */
static SCARD_READERSTATE *states_new(struct hotplug_pcsc *w, const char *names,
				     bool waiting, size_t *n)
{
	SCARD_READERSTATE *st;
	size_t count = 0, i = 0;

	for (const char *p = names; *p; p += strlen(p) + 1)
		count++;
	if (!(st = calloc(count + 1, sizeof(*st))))
		return NULL;
	for (const char *p = names; *p; p += strlen(p) + 1, i++) {
		struct reader *r = waiting ? reader_find(w, p) : NULL;

		st[i].szReader = p;
		st[i].dwCurrentState = r ? r->state : SCARD_STATE_UNAWARE;
	}
	st[count].szReader = PNP_READER;
	st[count].dwCurrentState = w->pnp_state;
	*n = count;
	return st;
}

/* step held. The SCardGetStatusChange itself, marked for _stop(). */
static LONG status_change(struct hotplug_pcsc *w, unsigned timeout,
			  SCARD_READERSTATE *st, size_t n)
{
	LONG rv;

	pthread_mutex_lock(&w->lock);
	if (w->stop) {
		pthread_mutex_unlock(&w->lock);
		return SCARD_E_CANCELLED;
	}
	w->in_wait = true;
	w->st.waits++;
	pthread_mutex_unlock(&w->lock);
	rv = SCardGetStatusChange(w->h, timeout, st, (DWORD)n);
	pthread_mutex_lock(&w->lock);
	w->in_wait = false;
	pthread_mutex_unlock(&w->lock);
	return rv;
}

/* step held. One look: connect, list, get the states (waiting up to
 * timeout ms for a change when timeout > 0), report the differences.
 * Returns the number of changes, or TK_ERR_TRANSPORT while pcscd is
 * away. */
static int pass(struct hotplug_pcsc *w, unsigned timeout)
{
	SCARD_READERSTATE *st = NULL;
	char *names = NULL;
	size_t n = 0;
	int changes = 0;
	LONG rv;

	if (connect_pcscd(w) < 0)
		return TK_ERR_TRANSPORT;
	rv = list_readers(w->h, &names);
	if (rv == SCARD_S_SUCCESS &&
	    !(st = states_new(w, names, timeout > 0, &n)))
		rv = SCARD_E_NO_MEMORY;
	if (rv == SCARD_S_SUCCESS && (timeout > 0 || n > 0))
		rv = status_change(w, timeout, st, timeout > 0 ? n + 1 : n);
	if (rv == SCARD_S_SUCCESS) {
		changes = apply(w, names, st, n);
		if (timeout > 0)
			w->pnp_state =
			    st[n].dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
	} else if (rv == SCARD_E_TIMEOUT || rv == SCARD_E_UNKNOWN_READER ||
		   rv == SCARD_E_CANCELLED) {
		changes = apply(w, names, NULL, 0); /* departures only */
	} else if (dead_service(rv) || rv != SCARD_E_NO_MEMORY) {
		/* Anything else from pcscd: start over on a new context. */
		service_down(w, rv, true);
		changes = TK_ERR_TRANSPORT;
	}
	free(st);
	free(names);
	return changes;
}

int hotplug_pcsc_new(struct hotplug_pcsc **out, struct hotplug_queue *q,
		     const struct hotplug_pcsc_opts *opts)
{
	struct hotplug_pcsc *w;
	pthread_condattr_t ca;

	if (!out || !q)
		return TK_ERR_ARG;
	*out = NULL;
	if (!(w = calloc(1, sizeof(*w))))
		return TK_ERR_NOMEM;
	w->q = q;
	if (opts)
		w->o = *opts;
	if (!w->o.backoff_first_ms)
		w->o.backoff_first_ms = BACKOFF_FIRST_MS;
	if (!w->o.backoff_max_ms)
		w->o.backoff_max_ms = BACKOFF_MAX_MS;
	if (!w->o.recheck_ms)
		w->o.recheck_ms = RECHECK_MS;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->step, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	*out = w;
	return 0;
}

void hotplug_pcsc_free(struct hotplug_pcsc **pw)
{
	struct hotplug_pcsc *w;

	if (!pw || !(w = *pw))
		return;
	hotplug_pcsc_stop(w);
	context_release(w);
	for (size_t i = 0; i < w->nrd; i++)
		free(w->rd[i].name);
	free(w->rd);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->step);
	pthread_mutex_destroy(&w->lock);
	free(w);
	*pw = NULL;
}

/* Sleeps ms unless stopped meanwhile. */
static void nap(struct hotplug_pcsc *w, uint64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->lock);
	while (!w->stop && pthread_cond_timedwait(&w->cv, &w->lock, &ts) == 0)
		;
	pthread_mutex_unlock(&w->lock);
}

/* step held, after a waiting pass: how long to nap before the next. */
static uint64_t pause_after(struct hotplug_pcsc *w, int changes, uint64_t t0)
{
	uint64_t now = hotplug_now_ms();

	if (changes == TK_ERR_TRANSPORT)
		return w->next_try > now ? w->next_try - now : 0;
	if (changes > 0 || now - t0 >= QUICK_MS) {
		w->quick = 0;
		return 0;
	}
	if (++w->quick < QUICK_MAX)
		return 0;
	w->quick = 0;
	return QUICK_NAP_MS;
}

static void *run(void *arg)
{
	struct hotplug_pcsc *w = arg;

	for (;;) {
		uint64_t t0 = hotplug_now_ms(), ms;
		bool stop;
		int changes;

		pthread_mutex_lock(&w->lock);
		stop = w->stop;
		pthread_mutex_unlock(&w->lock);
		if (stop)
			break;
		pthread_mutex_lock(&w->step);
		changes = pass(w, w->o.recheck_ms);
		ms = pause_after(w, changes, t0);
		pthread_mutex_unlock(&w->step);
		if (ms)
			nap(w, ms);
	}
	return NULL;
}

int hotplug_pcsc_start(struct hotplug_pcsc *w)
{
	int rc = 0;

	if (!w)
		return TK_ERR_ARG;
	pthread_mutex_lock(&w->lock);
	if (!w->running) {
		w->stop = false;
		if (pthread_create(&w->thread, NULL, run, w) != 0)
			rc = TK_ERR_NOMEM;
		else
			w->running = true;
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

void hotplug_pcsc_stop(struct hotplug_pcsc *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	if (!w->running) {
		pthread_mutex_unlock(&w->lock);
		return;
	}
	w->stop = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->lock);
	/* SCardCancel is lost when it comes before the wait began: repeat
	 * it until the thread is out. */
	for (;;) {
		struct timespec ts;

		pthread_mutex_lock(&w->lock);
		if (w->in_wait && w->have_h)
			(void)SCardCancel(w->h);
		pthread_mutex_unlock(&w->lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (pthread_timedjoin_np(w->thread, NULL, &ts) == 0)
			break;
	}
	pthread_mutex_lock(&w->lock);
	w->running = false;
	w->stop = false;
	pthread_mutex_unlock(&w->lock);
}

int hotplug_pcsc_scan(struct hotplug_pcsc *w)
{
	bool running;
	int rc;

	if (!w)
		return TK_ERR_ARG;
	pthread_mutex_lock(&w->lock);
	running = w->running;
	pthread_mutex_unlock(&w->lock);
	if (running)
		return 0;
	pthread_mutex_lock(&w->step);
	rc = pass(w, 0);
	pthread_mutex_unlock(&w->step);
	return rc < 0 ? rc : 0;
}

void hotplug_pcsc_stats(struct hotplug_pcsc *w, struct hotplug_pcsc_stats *out)
{
	if (!w || !out)
		return;
	pthread_mutex_lock(&w->lock);
	*out = w->st;
	out->connected = w->have_h;
	pthread_mutex_unlock(&w->lock);
}
