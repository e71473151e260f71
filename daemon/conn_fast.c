/* Requests answered on the loop thread: the calls the front end serves from
 * its cache (rpc_server_try) skip the hop to a worker thread. The loop
 * thread never waits here: the front end's locks are only tried, the reply
 * is written only if the socket takes it at once, and anything else goes
 * to a worker (the request before it runs, the reply after). */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "error.h"
#include "log.h"
#include "rpc_frame.h"
#include "rpc_server.h"
#include "worker.h"

/* A reply this small is one buffer of a Unix stream socket, which a
 * non-blocking send takes whole or not at all (Linux allocates one skb of
 * up to half the send buffer, 100+ KiB by default). */
#define CONN_FAST_MAX_REPLY ((size_t)8 << 10)

struct conn_fast_reply {
	struct conn *c;
	struct buf out;
};

static void conn_fast_fail(struct conn *c, const char *why)
{
	if (conn_abort(c))
		log_warn("export %s: connection %llu uid %u pid %d: %s; "
			 "closing it",
			 c->conf->name, (unsigned long long)c->id,
			 (unsigned)c->peer.uid, (int)c->peer.pid, why);
}

/* On a worker: the reply the socket would not take at once, written as
 * conn.c writes its replies (one at a time, waiting for room). */
static void conn_fast_send_job(void *arg)
{
	struct conn_fast_reply *j = arg;
	struct conn *c = j->c;

	if (conn_send_all(c, j->out.data, j->out.len) != 0)
		conn_fast_fail(c, "cannot write the reply");
	buf_free(&j->out);
	free(j);
	conn_work_end(c);
}

/* Hands the reply to a worker; takes out. */
static int conn_fast_defer(struct conn *c, struct buf *out, const char **why)
{
	struct conn_fast_reply *j;

	if (!(j = malloc(sizeof(*j)))) {
		buf_free(out);
		*why = "out of memory";
		return TK_ERR_NOMEM;
	}
	j->c = c;
	j->out = *out;
	if (!conn_work_begin(c)) { /* closing: nobody reads the reply */
		buf_free(&j->out);
		free(j);
		return 0;
	}
	if (worker_submit(conn_fast_send_job, j) != 0) {
		conn_work_end(c);
		buf_free(&j->out);
		free(j);
		*why = "no worker thread";
		return TK_ERR_NOMEM;
	}
	return 0;
}

/* Writes the reply now if the socket takes all of it, else defers it. */
static int conn_fast_send(struct conn *c, struct buf *out, const char **why)
{
	size_t len = out->len;
	ssize_t n;

	if (len > CONN_FAST_MAX_REPLY || pthread_mutex_trylock(&c->wlock) != 0)
		return conn_fast_defer(c, out, why);
	do
		n = send(c->fd, out->data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	pthread_mutex_unlock(&c->wlock);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return conn_fast_defer(c, out, why);
	buf_free(out);
	if (n < 0) {
		*why = "cannot write the reply";
		return TK_ERR_IO;
	}
	if ((size_t)n != len) {
		/* Not on a Unix socket (see CONN_FAST_MAX_REPLY); the frame
		 * is torn, and waiting here would stall every client. */
		*why = "reply written in part";
		return TK_ERR_IO;
	}
	return 0;
}

int conn_fast(struct conn *c, const struct rpc_frame *f, const char **why)
{
	struct buf out;
	size_t body;
	int r;

	if (!c->server)
		return TK_ERR_WOULD_BLOCK;
	buf_init(&out, 0);
	out.secret = true;
	if (!buf_reserve(&out, RPC_FRAME_HEADER_LEN)) {
		buf_free(&out);
		return TK_ERR_WOULD_BLOCK;
	}
	r = rpc_server_try(c->server, f->data, f->data_len, &out);
	if (r == 0 && buf_failed(&out))
		r = TK_ERR_NOMEM;
	body = r == 0 ? out.len - RPC_FRAME_HEADER_LEN : 0;
	if (r == 0 && body > UINT32_MAX)
		r = TK_ERR_TOO_LARGE;
	if (r != 0) {
		buf_free(&out);
		if (r != TK_ERR_WOULD_BLOCK)
			*why = r == TK_ERR_TOO_LARGE ? "request beyond a limit"
			       : r == TK_ERR_NOMEM   ? "out of memory"
						     : "malformed request";
		return r;
	}
	conn_put_u32be(out.data, f->call_code);
	conn_put_u32be(out.data + 4, 0);
	conn_put_u32be(out.data + 8, (uint32_t)body);
	return conn_fast_send(c, &out, why);
}
