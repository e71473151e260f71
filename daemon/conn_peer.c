/* Per-peer (uid) connection counts over all exports, the connections
 * held while their peer is at max-connections-per-peer, and the closing of
 * a peer's connections when a reload revokes it. A held connection
 * is accepted (the decision fixed for this: the peer, not the export, is
 * over its limit, so the export's backlog must not fill with it) but not
 * read: no handshake, no timer, no worker; the peer's oldest held one is
 * served when one of its served connections ends. Loop thread only. */
#include <pthread.h>
#include <stdlib.h>

#include "conn_int.h"
#include "error.h"
#include "export.h"
#include "log.h"

#define CONN_PEER_BUCKETS 256

struct conn_peer {
	uid_t uid;
	size_t active; /* served, not yet ending */
	struct conn *held_head, *held_tail;
	size_t nheld;
	struct conn_peer *next; /* bucket chain */
};

static struct conn_peer *peers[CONN_PEER_BUCKETS];

static struct conn_peer **conn_peer_slot(uid_t uid)
{
	struct conn_peer **pp = &peers[(uid * 2654435761u) % CONN_PEER_BUCKETS];

	while (*pp != NULL && (*pp)->uid != uid)
		pp = &(*pp)->next;
	return pp;
}

int conn_peer_add(struct conn *c, bool *held)
{
	struct conn_peer **pp = conn_peer_slot(c->peer.uid), *pr = *pp;
	size_t cap = c->limits.max_connections_per_peer;

	if (pr == NULL) {
		if ((pr = calloc(1, sizeof(*pr))) == NULL)
			return TK_ERR_NOMEM;
		pr->uid = c->peer.uid;
		*pp = pr;
	}
	c->pr = pr;
	*held = cap > 0 && (pr->active >= cap || pr->nheld > 0);
	if (!*held) {
		pr->active++;
		return 0;
	}
	c->held = true;
	c->held_next = NULL;
	c->export->nheld++;
	if (pr->held_tail != NULL)
		pr->held_tail->held_next = c;
	else
		pr->held_head = c;
	pr->held_tail = c;
	pr->nheld++;
	return 0;
}

static void conn_peer_unhold(struct conn_peer *pr, struct conn *c)
{
	struct conn **pp = &pr->held_head, *prev = NULL;

	while (*pp != NULL && *pp != c) {
		prev = *pp;
		pp = &(*pp)->held_next;
	}
	if (*pp == NULL)
		return;
	*pp = c->held_next;
	if (pr->held_tail == c)
		pr->held_tail = prev;
	c->held_next = NULL;
	c->held = false;
	pr->nheld--;
	if (c->export != NULL)
		c->export->nheld--;
}

void conn_peer_release(struct conn *c)
{
	struct conn_peer *pr = c->pr, **pp;
	struct conn *h;

	if (pr == NULL)
		return;
	c->pr = NULL;
	if (c->held)
		conn_peer_unhold(pr, c);
	else
		pr->active--;
	/* The cap of the connection promoted (its settings at accept). */
	while ((h = pr->held_head) != NULL &&
	       (h->limits.max_connections_per_peer == 0 ||
		pr->active < h->limits.max_connections_per_peer)) {
		conn_peer_unhold(pr, h);
		pr->active++;
		log_info("export %s: connection %llu of uid %u served now",
			 h->conf->name, (unsigned long long)h->id,
			 (unsigned)pr->uid);
		if (conn_activate(h) != 0) {
			/* Uncounted here, so closing it does not come back
			 * to this peer. */
			h->pr = NULL;
			pr->active--;
			conn_close(&h);
		}
	}
	if (pr->active == 0 && pr->nheld == 0) {
		pp = conn_peer_slot(pr->uid);
		*pp = pr->next;
		free(pr);
	}
}

/* Loop thread: whether c still reads (not closing). */
static bool conn_serving(struct conn *c)
{
	bool closing;

	pthread_mutex_lock(&c->lock);
	closing = c->closing;
	pthread_mutex_unlock(&c->lock);
	return !closing;
}

void conn_revoke_refused(struct export *ex)
{
	struct conn *c;

	/* From the head again after each close: closing one may serve (or
	 * finish) others of the same peer on this list. */
	for (c = ex->conns; c != NULL;) {
		if (!conn_serving(c) ||
		    export_accepts_peer(ex->conf, &c->peer)) {
			c = c->next;
			continue;
		}
		log_notice("export %s: uid %u pid %d is no longer allowed; "
			   "closing its connection %llu",
			   ex->conf->name, (unsigned)c->peer.uid,
			   (int)c->peer.pid, (unsigned long long)c->id);
		conn_close(&c);
		c = ex->conns;
	}
}
