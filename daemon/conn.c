/* Connections. For now the server part only reads and discards until the
 * peer hangs up; the p11-kit RPC server replaces conn_serve_*(). */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "loop.h"

static uint64_t conn_next_id = 1;

static void conn_free(struct conn *c);
static void conn_on_event(struct loop *loop, int fd, uint32_t events,
                          void *ctx);

/* ---- the server (placeholder) ---- */

static int conn_serve_start(struct conn *c)
{
	return loop_add(c->export->loop, c->fd, EPOLLIN, conn_on_event, c,
	                &c->watch);
}

static void conn_serve_stop(struct conn *c)
{
	/* The RPC server cancels blocking calls (C_WaitForSlotEvent) here and
	 * frees c->server after the in-flight wait in conn_close(). */
}

static void conn_free(struct conn *c);
static void conn_on_event(struct loop *loop, int fd, uint32_t events, void *ctx)
{
	struct conn *c = ctx;
	char buf[4096];
	ssize_t n;

	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		break; /* EOF or error */
	}
	conn_close(&c);
}

/* ---- lifetime ---- */

int conn_accept(struct export *ex, int fd, const struct peer *peer)
{
	struct conn *c;
	int r = TK_ERR_NOMEM;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	c->fd = fd;
	c->export = ex;
	c->id = conn_next_id++;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->idle, NULL);
	if (peer_copy(peer, &c->peer) != 0)
		goto fail;
	if ((r = export_conn_add(ex, c)) != 0) {
		log_warn("export %s: connection limit %zu reached, refusing "
		         "uid %u pid %d",
		         ex->conf->name, ex->limits.max_connections_per_export,
		         (unsigned)peer->uid, (int)peer->pid);
		goto fail;
	}
	c->conf = export_conf_ref(ex->conf);
	c->limits = ex->limits;
	log_info("export %s: connection %llu from uid %u gid %u pid %d",
	         c->conf->name, (unsigned long long)c->id, (unsigned)peer->uid,
	         (unsigned)peer->gid, (int)peer->pid);
	if ((r = conn_serve_start(c)) != 0) {
		conn_close(&c);
		return r;
	}
	return 0;
fail:
	if (c != NULL)
		conn_free(c);
	close(fd);
	return r;
}

static void conn_free(struct conn *c)
{
	export_conf_unref(&c->conf);
	peer_clear(&c->peer);
	pthread_cond_destroy(&c->idle);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void conn_close(struct conn **p)
{
	struct conn *c = *p;
	bool queued;

	if (c == NULL)
		return;
	*p = NULL;
	if (c->fd < 0)
		return; /* closed already, waiting for its queued close */
	loop_remove(c->export->loop, &c->watch);
	pthread_mutex_lock(&c->lock);
	c->closing = true;
	pthread_mutex_unlock(&c->lock);
	/* Wakes workers blocked on the socket. */
	shutdown(c->fd, SHUT_RDWR);
	conn_serve_stop(c);
	pthread_mutex_lock(&c->lock);
	while (c->inflight > 0)
		pthread_cond_wait(&c->idle, &c->lock);
	queued = c->close_queued;
	pthread_mutex_unlock(&c->lock);
	log_info("export %s: connection %llu closed", c->conf->name,
	         (unsigned long long)c->id);
	export_conn_remove(c->export, c);
	close(c->fd);
	c->fd = -1;
	c->export = NULL;
	/* A queued close still points here: it frees the memory. */
	if (!queued)
		conn_free(c);
}

static void conn_close_posted(struct loop *loop, void *ctx)
{
	struct conn *c = ctx;

	pthread_mutex_lock(&c->lock);
	c->close_queued = false;
	pthread_mutex_unlock(&c->lock);
	if (c->fd < 0)
		conn_free(c);
	else
		conn_close(&c);
}

void conn_close_later(struct conn *c)
{
	bool queue;

	pthread_mutex_lock(&c->lock);
	queue = !c->close_queued && !c->closing;
	c->close_queued = queue || c->close_queued;
	pthread_mutex_unlock(&c->lock);
	if (queue && loop_post(c->export->loop, conn_close_posted, c) != 0) {
		log_err("connection %llu: cannot queue its close",
		        (unsigned long long)c->id);
		pthread_mutex_lock(&c->lock);
		c->close_queued = false;
		pthread_mutex_unlock(&c->lock);
	}
}

bool conn_work_begin(struct conn *c)
{
	bool ok;

	pthread_mutex_lock(&c->lock);
	ok = !c->closing;
	if (ok)
		c->inflight++;
	pthread_mutex_unlock(&c->lock);
	return ok;
}

void conn_work_end(struct conn *c)
{
	pthread_mutex_lock(&c->lock);
	if (--c->inflight == 0)
		pthread_cond_broadcast(&c->idle);
	pthread_mutex_unlock(&c->lock);
}
