/* Connections: the handshake, frame reading on the loop thread, requests on
 * worker threads, replies in completion order, and the end of it all. */
#include "conn.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backoff.h"
#include "buf.h"
#include "conn_int.h"
#include "error.h"
#include "control_watch.h"
#include "log.h"
#include "loop.h"
#include "reader.h"
#include "rpc_frame.h"
#include "rpc_server.h"
#include "worker.h"

/* Requests of one connection running at once; one more closes it. The RPC
 * server refuses more than its own limit, which is the same. */
#define CONN_MAX_INFLIGHT RPC_SERVER_DEFAULT_INFLIGHT
/* A reply that cannot be written for this long: the client stopped
 * reading. */
#define CONN_WRITE_TIMEOUT_MS 30000
#define CONN_READ_CHUNK ((size_t)16 << 10)

static uint64_t conn_next_id = 1;
static unsigned conn_n_abandoned;

static void conn_free(struct conn *c);

static void conn_log_close(const struct conn *c, const char *why)
{
	log_warn("export %s: connection %llu uid %u pid %d: %s; closing it",
		 c->conf->name, (unsigned long long)c->id,
		 (unsigned)c->peer.uid, (int)c->peer.pid, why);
}

/* ---- writing (workers, and the loop thread for the handshake) ---- */

int conn_send_all(struct conn *c, const uint8_t *p, size_t len)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
	size_t off = 0;
	ssize_t n;
	int r = 0, e;

	pthread_mutex_lock(&c->wlock);
	pfd.fd = c->fd; /* -1 once abandoned: closed under wlock */
	if (pfd.fd < 0)
		r = TK_ERR_IO;
	while (r == 0 && off < len) {
		n = send(pfd.fd, p + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			e = poll(&pfd, 1, CONN_WRITE_TIMEOUT_MS);
			if (e > 0 || (e < 0 && errno == EINTR))
				continue;
			r = e == 0 ? TK_ERR_BUSY : TK_ERR_IO;
			break;
		}
		r = TK_ERR_IO;
		break;
	}
	pthread_mutex_unlock(&c->wlock);
	return r;
}

void conn_put_u32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- one request, on a worker ---- */

void conn_req_free(struct conn_req *q)
{
	explicit_bzero(q->data, q->len); /* a PIN travels in C_Login */
	free(q);
}

/* Whether a closing connection's request is dropped unrun: always, but
 * for a connection being drained (stop, export removal), whose queued
 * requests still get their replies, except waits. */
static bool conn_req_dropped(struct conn_req *q)
{
	struct conn *c = q->c;
	bool drop;

	pthread_mutex_lock(&c->lock);
	drop = c->aborted || (c->closing && (!c->waited || q->wait));
	pthread_mutex_unlock(&c->lock);
	return drop;
}

/* The body is the error reply CKR_NO_EVENT: call id 0, signature "u",
 * the CK_RV as u64 (our own output, read back). */
static bool conn_reply_no_event(const uint8_t *p, size_t len)
{
	struct reader r = reader_init(p, len);
	uint32_t id, siglen;
	uint8_t sig;
	uint64_t rv;

	return reader_get_u32be(&r, &id) == 0 && id == RPC_CALL_ERROR &&
	       reader_get_u32be(&r, &siglen) == 0 && siglen == 1 &&
	       reader_get_u8(&r, &sig) == 0 && sig == 'u' &&
	       reader_get_u64be(&r, &rv) == 0 && rv == CKR_NO_EVENT &&
	       reader_left(&r) == 0;
}

static void conn_work_end_park(struct conn *c, struct conn_req *q);

/* The reply frame is built in one buffer: header room first, the RPC
 * server appends the body, then the header is filled in. */
static void conn_req_run(void *arg)
{
	struct conn_req *q = arg;
	struct conn *c = q->c;
	struct buf out;
	const char *why = NULL;
	size_t body;
	int r;

	buf_init(&out, 0);
	out.secret = true; /* decrypted data, derived keys */
	if (conn_req_dropped(q))
		goto out;
	r = TK_ERR_NOMEM;
	if (buf_reserve(&out, RPC_FRAME_HEADER_LEN) != NULL)
		r = q->cancel
			? rpc_error_encode(CKR_CRYPTOKI_NOT_INITIALIZED, &out)
			: rpc_server_handle(c->server, q->data, q->len, &out);
	if (r == 0 && buf_failed(&out))
		r = TK_ERR_NOMEM;
	body = r == 0 ? out.len - RPC_FRAME_HEADER_LEN : 0;
	if (r == 0 && body > UINT32_MAX)
		r = TK_ERR_TOO_LARGE;
	if (r != 0) {
		why = r == TK_ERR_TOO_LARGE ? "request beyond a limit"
		      : r == TK_ERR_NOMEM   ? "out of memory"
					    : "malformed or unknown request";
		goto out;
	}
	if (q->wait && !q->cancel &&
	    conn_reply_no_event(out.data + RPC_FRAME_HEADER_LEN, body)) {
		/* No event yet: wait parked, not on this thread. */
		buf_free(&out);
		conn_work_end_park(c, q);
		return;
	}
	conn_put_u32be(out.data, q->call_code);
	conn_put_u32be(out.data + 4, 0);
	conn_put_u32be(out.data + 8, (uint32_t)body);
	if ((r = conn_send_all(c, out.data, out.len)) != 0)
		why = "cannot write the reply";
out:
	if (why != NULL && conn_abort(c))
		conn_log_close(c, why);
	buf_free(&out);
	conn_req_free(q);
	conn_work_end(c);
}

bool conn_run(struct conn_req *q)
{
	struct conn *c = q->c;

	if (!conn_work_begin(c)) {
		conn_req_free(q);
		return false;
	}
	if (worker_submit_key((uint64_t)c->peer.uid, conn_req_run, q) != 0) {
		conn_work_end(c);
		conn_req_free(q);
		return false;
	}
	return true;
}

/* ---- reading, on the loop thread ---- */

static void conn_drop_input(struct conn *c)
{
	if (c->in != NULL)
		explicit_bzero(c->in, c->in_cap);
	free(c->in);
	c->in = NULL;
	c->in_len = c->in_cap = 0;
}

/* Drops the first n bytes read; an empty buffer is released, so an idle
 * connection holds none. */
static void conn_consume(struct conn *c, size_t n)
{
	if (n == c->in_len) {
		conn_drop_input(c);
		return;
	}
	memmove(c->in, c->in + n, c->in_len - n);
	explicit_bzero(c->in + (c->in_len - n), n);
	c->in_len -= n;
}

/* Loop thread only. A read lands here first when no partial frame is
 * pending, so a connection keeps a buffer of its own only for a frame that
 * came in part: no allocation per request. */
static uint8_t conn_scratch[CONN_READ_CHUNK];

/* Room to read into c->in: at most one frame of the largest allowed size,
 * which is more than what can stay unparsed. */
static int conn_reserve(struct conn *c, size_t want)
{
	size_t max = c->limits.max_message_size + RPC_FRAME_HEADER_LEN;
	uint8_t *p;

	if (want > max)
		want = max;
	if (want <= c->in_cap)
		return 0;
	if ((p = malloc(want)) == NULL)
		return TK_ERR_NOMEM;
	if (c->in_len > 0)
		memcpy(p, c->in, c->in_len);
	if (c->in != NULL)
		explicit_bzero(c->in, c->in_cap);
	free(c->in);
	c->in = p;
	c->in_cap = want;
	return 0;
}

static int conn_handshake(struct conn *c, uint8_t offered, const char **why)
{
	uint8_t answer = rpc_handshake_answer(offered);

	c->offered = offered;
	if (conn_server_new(c, c->offered) != 0) {
		*why = "out of memory for its application context";
		return TK_ERR_NOMEM;
	}
	if (conn_send_all(c, &answer, 1) != 0)
		return TK_ERR_IO; /* gone already */
	c->handshaken = true;
	log_debug("connection %llu: client offered protocol %u, using %u",
		  (unsigned long long)c->id, c->offered, answer);
	return 0;
}
/* The call id of a request body, and for C_WaitForSlotEvent the offset
 * and value of its flags (body: u32 call id, signature "u" as a byte
 * array, u64 flags). Untrusted: anything else leaves *flags_at 0 and the
 * RPC server judges the request. */
static uint32_t conn_peek(const uint8_t *p, size_t len, size_t *flags_at,
			  uint64_t *flags)
{
	struct reader r = reader_init(p, len);
	uint32_t id = RPC_CALL_ERROR, siglen;
	uint8_t sig;

	*flags_at = 0;
	if (reader_get_u32be(&r, &id) != 0)
		return RPC_CALL_ERROR;
	if (id == RPC_C_WaitForSlotEvent &&
	    reader_get_u32be(&r, &siglen) == 0 && siglen == 1 &&
	    reader_get_u8(&r, &sig) == 0 && sig == 'u' &&
	    reader_left(&r) == 8 && reader_get_u64be(&r, flags) == 0)
		*flags_at = len - 8;
	return id;
}

/* A blocking C_WaitForSlotEvent is run with CKF_DONT_BLOCK; conn_req_run
 * parks it when there is no event. */
static void conn_req_nonblocking(struct conn_req *q, size_t at, uint64_t fl)
{
	fl |= CKF_DONT_BLOCK;
	for (int i = 0; i < 8; i++)
		q->data[at + (size_t)i] = (uint8_t)(fl >> (56 - 8 * i));
	q->wait = true;
}

/* A complete frame: to a worker, or parked (a blocking wait runs once
 * first; a login of a peer in back-off waits for its time). */
static int conn_submit(struct conn *c, const struct rpc_frame *f,
		       const char **why)
{
	struct conn_req *q;
	unsigned busy, delay;
	size_t flags_at;
	uint64_t flags = 0;

	pthread_mutex_lock(&c->lock);
	busy = c->inflight;
	pthread_mutex_unlock(&c->lock);
	if (busy + c->nparked >= CONN_MAX_INFLIGHT) {
		*why = "too many requests in flight";
		return TK_ERR_TOO_LARGE;
	}
	if ((q = calloc(1, sizeof(*q) + f->data_len)) == NULL) {
		*why = "out of memory";
		return TK_ERR_NOMEM;
	}
	q->c = c;
	q->call_code = f->call_code;
	q->len = f->data_len;
	if (f->data_len > 0)
		memcpy(q->data, f->data, f->data_len);
	q->call_id = conn_peek(q->data, q->len, &flags_at, &flags);
	q->epoch = c->wait_epoch;
	q->gen = conn_park_gen();
	switch (q->call_id) {
	case RPC_C_Initialize:
		/* A client, not a silent socket: no deadline from here. */
		c->initialized = true;
		loop_timer_cancel(c->loop, &c->hs_timer);
		break;
	case RPC_C_Finalize:
		c->wait_epoch++;
		conn_park_finalize(c);
		break;
	case RPC_C_WaitForSlotEvent:
		if (flags_at != 0 && !(flags & CKF_DONT_BLOCK))
			conn_req_nonblocking(q, flags_at, flags);
		break;
	case RPC_C_Login:
	case RPC_C_LoginUser:
		if ((delay = backoff_delay_ms(c->peer.uid)) == 0)
			break;
		if (conn_park_login(q, delay) != 0) {
			*why = "out of memory";
			return TK_ERR_NOMEM;
		}
		return 0;
	}
	if (!conn_run(q)) {
		*why = "no worker thread";
		return TK_ERR_NOMEM;
	}
	return 0;
}

/* The handshake, then every complete frame of p[0..len): answered here
 * when it needs no card (conn_fast.c), else to a worker. *used: the bytes
 * taken (a partial frame at the end is left). */
static int conn_process(struct conn *c, const uint8_t *p, size_t len,
			size_t *used, const char **why)
{
	struct rpc_frame f;
	size_t off = 0, n;
	int r = 0;

	if (!c->handshaken) {
		if ((r = conn_handshake(c, p[0], why)) != 0)
			return r;
		off = 1;
	}
	while (off < len) {
		r = rpc_frame_parse(p + off, len - off,
				    c->limits.max_message_size, &f, &n);
		if (r == RPC_FRAME_NEED_MORE) {
			r = 0;
			break;
		}
		if (r < 0) {
			*why = r == TK_ERR_TOO_LARGE
				   ? "frame larger than max-message-size"
				   : "malformed frame";
			break;
		}
		r = conn_fast(c, &f, why);
		if (r == TK_ERR_WOULD_BLOCK)
			r = conn_submit(c, &f, why);
		if (r != 0)
			break;
		off += n;
	}
	*used = off;
	return r;
}

/* The bytes of a partial frame read into conn_scratch, kept in c->in. */
static int conn_keep(struct conn *c, const uint8_t *p, size_t len)
{
	if (conn_reserve(c, len + CONN_READ_CHUNK) != 0 || c->in_cap < len)
		return TK_ERR_NOMEM;
	memcpy(c->in, p, len);
	c->in_len = len;
	return 0;
}

/* Returns 0 to go on; otherwise the connection is to be closed, with *why
 * set for a protocol error (NULL: the peer went away). */
static int conn_read(struct conn *c, const char **why)
{
	bool aborted, partial = c->in_len > 0;
	uint8_t *dst = conn_scratch;
	size_t room = sizeof(conn_scratch), used = 0;
	ssize_t n;
	int r;

	pthread_mutex_lock(&c->lock);
	aborted = c->aborted;
	pthread_mutex_unlock(&c->lock);
	if (aborted)
		return TK_ERR_IO; /* the worker logged why */
	if (partial) {
		if (conn_reserve(c, c->in_len + CONN_READ_CHUNK) != 0) {
			*why = "out of memory";
			return TK_ERR_NOMEM;
		}
		dst = c->in + c->in_len;
		room = c->in_cap - c->in_len;
	}
	n = recv(c->fd, dst, room, 0);
	if (n < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n <= 0) {
		if (n < 0 && errno != ECONNRESET)
			log_debug("connection %llu: recv: %s",
				  (unsigned long long)c->id, strerror(errno));
		return TK_ERR_IO;
	}
	if (partial) {
		c->in_len += (size_t)n;
		r = conn_process(c, c->in, c->in_len, &used, why);
		conn_consume(c, used);
		return r;
	}
	r = conn_process(c, conn_scratch, (size_t)n, &used, why);
	if (r == 0 && used < (size_t)n &&
	    conn_keep(c, conn_scratch + used, (size_t)n - used) != 0) {
		*why = "out of memory";
		r = TK_ERR_NOMEM;
	}
	explicit_bzero(conn_scratch, (size_t)n); /* a PIN travels in C_Login */
	return r;
}

static void conn_on_event(struct loop *loop, int fd, uint32_t events, void *ctx)
{
	struct conn *c = ctx;
	const char *why = NULL;

	(void)loop;
	(void)fd;
	(void)events;
	if (conn_read(c, &why) == 0)
		return;
	if (why != NULL)
		conn_log_close(c, why);
	conn_close(&c);
}

/* ---- lifetime ---- */

static int conn_init(struct conn *c, const struct conn_owner *o, int fd)
{
	pthread_condattr_t ca;
	int r;

	c->fd = fd;
	c->export = o->export;
	c->owner_remove = o->remove;
	c->loop = o->loop;
	c->id = conn_next_id++;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->wlock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	r = pthread_cond_init(&c->idle, &ca);
	pthread_condattr_destroy(&ca);
	return r == 0 ? 0 : TK_ERR_NOMEM;
}

static void conn_on_hs_timeout(struct loop *loop, void *ctx)
{
	struct conn *c = ctx;

	(void)loop;
	c->hs_timer = NULL; /* fired: gone */
	if (c->initialized)
		return;
	log_notice("export %s: connection %llu uid %u pid %d: no handshake "
		   "and C_Initialize within %u s; closing it",
		   c->conf->name, (unsigned long long)c->id,
		   (unsigned)c->peer.uid, (int)c->peer.pid,
		   c->limits.handshake_timeout);
	conn_close(&c);
}

/* A held connection is watched for its client's hang-up only (its bytes
 * wait unread), so a client that gave up does not keep its place. */
static void conn_on_held_event(struct loop *loop, int fd, uint32_t events,
			       void *ctx)
{
	struct conn *c = ctx;

	(void)loop;
	(void)fd;
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		conn_close(&c);
}

int conn_activate(struct conn *c)
{
	int r;

	c->held = false;
	loop_remove(c->loop, &c->watch); /* the hang-up watch */
	r = loop_add(c->loop, c->fd, EPOLLIN, conn_on_event, c, &c->watch);
	if (r == 0 && c->limits.handshake_timeout > 0)
		r = loop_timer_add(c->loop, c->limits.handshake_timeout * 1000u,
				   conn_on_hs_timeout, c, &c->hs_timer);
	return r;
}

/* conn-opened / conn-closed for tokenctl watch. */
static void conn_event(const struct conn *c, const char *event)
{
	char id[24], uid[16], pid[16];
	const struct control_field f[] = {
		{ "export", c->conf->name, false },
		{ "conn", id, true },
		{ "uid", uid, true },
		{ "pid", pid, true },
	};

	snprintf(id, sizeof(id), "%llu", (unsigned long long)c->id);
	snprintf(uid, sizeof(uid), "%u", (unsigned)c->peer.uid);
	snprintf(pid, sizeof(pid), "%d", (int)c->peer.pid);
	control_event(event, f, sizeof(f) / sizeof(f[0]));
}

int conn_start(const struct conn_owner *o, int fd, const struct peer *peer)
{
	struct conn *c;
	bool held = false;
	int r = TK_ERR_NOMEM;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	if (conn_init(c, o, fd) != 0 || peer_copy(peer, &c->peer) != 0)
		goto fail;
	c->conf = export_conf_ref(o->conf);
	c->limits = *o->limits;
	if ((r = conn_peer_add(c, &held)) != 0)
		goto fail;
	o->add(o->export, c);
	conn_event(c, "conn-opened");
	log_info("export %s: connection %llu from uid %u gid %u pid %d%s",
		 c->conf->name, (unsigned long long)c->id, (unsigned)peer->uid,
		 (unsigned)peer->gid, (int)peer->pid,
		 held ? " held: the peer is at max-connections-per-peer" : "");
	if (held)
		r = loop_add(c->loop, c->fd, EPOLLRDHUP, conn_on_held_event, c,
			     &c->watch);
	else
		r = conn_activate(c);
	if (r != 0)
		conn_close(&c);
	return r;
fail:
	if (c != NULL)
		conn_free(c);
	close(fd);
	return r;
}

static void conn_free(struct conn *c)
{
	conn_drop_input(c);
	export_conf_unref(&c->conf);
	peer_clear(&c->peer);
	pthread_cond_destroy(&c->idle);
	pthread_mutex_destroy(&c->wlock);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Closes the client's sessions, logging it out of its tokens: card I/O,
 * so on a worker when there is one, not on the loop thread. The memory
 * goes with the last of this and the queued finishes. */
static void conn_release(void *arg)
{
	struct conn *c = arg;
	bool release;

	rpc_server_free(&c->server);
	pthread_mutex_lock(&c->lock);
	c->released = true;
	release = c->posts == 0;
	pthread_mutex_unlock(&c->lock);
	if (release)
		conn_free(c);
}

/* No request in flight: off the export, socket closed, then released.
 * Loop thread. */
static void conn_finish(struct conn *c)
{
	struct export *ex;

	if (c->finished)
		return;
	c->finished = true;
	log_info("export %s: connection %llu closed", c->conf->name,
		 (unsigned long long)c->id);
	conn_event(c, "conn-closed");
	pthread_mutex_lock(&c->lock);
	ex = c->export;
	c->export = NULL;
	pthread_mutex_unlock(&c->lock);
	close(c->fd);
	c->fd = -1;
	/* After the fd is closed: this may let the export accept again. */
	if (ex != NULL)
		c->owner_remove(ex, c);
	if (worker_submit(conn_release, c) != 0)
		conn_release(c); /* stopping: here, then */
}

/* Posts hold the memory (c->posts); the last of them and conn_release
 * frees it. Returns whether this one was the last after the release. */
static bool conn_post_done(struct conn *c, bool *finished)
{
	bool release;

	pthread_mutex_lock(&c->lock);
	c->posts--;
	release = c->released && c->posts == 0;
	/* Read before unlocking: once finished, a worker's conn_release may
	 * free c as soon as the lock is dropped. Unfinished, no release is
	 * queued (only conn_finish, on this thread, queues it). */
	*finished = c->finished;
	pthread_mutex_unlock(&c->lock);
	return release;
}

static void conn_finish_posted(struct loop *loop, void *ctx)
{
	struct conn *c = ctx;
	bool finished;

	(void)loop;
	if (conn_post_done(c, &finished))
		conn_free(c);
	else if (!finished)
		conn_finish(c);
}

/* A wait that found no event, back on the loop thread. */
static void conn_park_posted(struct loop *loop, void *ctx)
{
	struct conn_req *q = ctx;
	struct conn *c = q->c;
	bool finished, closing;

	(void)loop;
	pthread_mutex_lock(&c->lock);
	closing = c->closing;
	pthread_mutex_unlock(&c->lock);
	if (closing || q->epoch != c->wait_epoch) {
		/* C_Finalize meanwhile: answer it as cancelled. */
		q->cancel = !closing;
		if (!closing)
			conn_run(q);
		else
			conn_req_free(q);
	} else {
		conn_park_wait(q);
	}
	if (conn_post_done(c, &finished))
		conn_free(c);
}

/* Stops reading and refuses new requests. how: SHUT_RDWR when the client
 * is gone or misbehaved, SHUT_RD to still deliver the replies of requests
 * in flight. Returns whether none is in flight. */
static bool conn_stop(struct conn *c, int how, bool wait)
{
	bool idle;

	pthread_mutex_lock(&c->lock);
	c->waited = c->waited || wait;
	c->closing = true;
	idle = c->inflight == 0;
	pthread_mutex_unlock(&c->lock);
	loop_remove(c->loop, &c->watch);
	loop_timer_cancel(c->loop, &c->hs_timer);
	conn_park_drop(c);
	shutdown(c->fd, how);
	conn_drop_input(c);
	/* Running and later waits end at once. */
	rpc_server_cancel(c->server);
	/* Its place goes to the peer's next held connection. */
	conn_peer_release(c);
	return idle;
}

void conn_close(struct conn **p)
{
	struct conn *c = *p;
	bool closing;

	if (c == NULL)
		return;
	*p = NULL;
	pthread_mutex_lock(&c->lock);
	closing = c->closing;
	pthread_mutex_unlock(&c->lock);
	if (!closing && conn_stop(c, SHUT_RDWR, false))
		conn_finish(c);
	/* else the last worker posts conn_finish_posted */
}

bool conn_close_wait(struct conn **p, const struct timespec *deadline)
{
	struct conn *c = *p;
	struct export *ex;
	unsigned left;
	int e = 0;

	if (c == NULL)
		return true;
	*p = NULL;
	if (c->finished)
		return true; /* a finish is queued: it frees */
	conn_stop(c, SHUT_RD, true);
	pthread_mutex_lock(&c->lock);
	while (c->inflight > 0 && e != ETIMEDOUT)
		e = deadline
			? pthread_cond_timedwait(&c->idle, &c->lock, deadline)
			: pthread_cond_wait(&c->idle, &c->lock);
	left = c->inflight;
	pthread_mutex_unlock(&c->lock);
	if (left == 0) {
		conn_finish(c);
		return true;
	}
	/* Left to its workers: never finished, never freed (it only
	 * happens when stopping or dropping an export). The socket goes now:
	 * shut down first, so a worker blocked writing gives up wlock. */
	log_err("export %s: connection %llu: %u request(s) still running; "
		"abandoning it",
		c->conf->name, (unsigned long long)c->id, left);
	shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_lock(&c->wlock);
	close(c->fd);
	c->fd = -1;
	pthread_mutex_unlock(&c->wlock);
	pthread_mutex_lock(&c->lock);
	ex = c->export;
	c->export = NULL;
	pthread_mutex_unlock(&c->lock);
	if (ex != NULL)
		c->owner_remove(ex, c);
	conn_n_abandoned++;
	return false;
}

unsigned conn_abandoned(void)
{
	return conn_n_abandoned;
}

bool conn_abort(struct conn *c)
{
	bool first;

	pthread_mutex_lock(&c->lock);
	first = !c->aborted && !c->closing;
	c->aborted = true;
	pthread_mutex_unlock(&c->lock);
	/* The loop thread sees end-of-file and closes it; the fd stays open
	 * until then, since this request is still in flight (unless
	 * abandoned: then it is -1, under wlock). */
	pthread_mutex_lock(&c->wlock);
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&c->wlock);
	return first;
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

/* The request is done on its worker; q (when not NULL) goes back to the
 * loop thread to be parked, holding the memory until then. */
static void conn_work_done(struct conn *c, struct conn_req *q)
{
	bool post = false;

	pthread_mutex_lock(&c->lock);
	c->posts += q != NULL;
	if (--c->inflight == 0) {
		pthread_cond_broadcast(&c->idle);
		post = c->closing && !c->waited;
		c->posts += post;
	}
	pthread_mutex_unlock(&c->lock);
	if (q != NULL && loop_post(c->loop, conn_park_posted, q) != 0) {
		log_err("connection %llu: cannot park a wait; dropping it",
			(unsigned long long)c->id);
		conn_req_free(q);
		pthread_mutex_lock(&c->lock);
		c->posts--;
		pthread_mutex_unlock(&c->lock);
	}
	if (post && loop_post(c->loop, conn_finish_posted, c) != 0) {
		/* The export's close finishes it instead. */
		log_err("connection %llu: cannot queue its close",
			(unsigned long long)c->id);
		pthread_mutex_lock(&c->lock);
		c->posts--;
		pthread_mutex_unlock(&c->lock);
	}
}

void conn_work_end(struct conn *c)
{
	conn_work_done(c, NULL);
}

static void conn_work_end_park(struct conn *c, struct conn_req *q)
{
	conn_work_done(c, q);
}
