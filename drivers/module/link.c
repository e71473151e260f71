/* The link to a module helper: the supervisor thread (spawn, handshake,
 * C_Initialize, watch for the end, reap, back off, again) and the calls
 * that travel over it. A waiting call reads replies itself while no other
 * call does, handing each to its caller, else waits on the link's
 * condition variable, until its reply came, the helper went down, or its
 * deadline passed, in which case the caller kills the helper: a module that
 * does not answer in time cannot be trusted to answer later. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "drv_log.h"
#include "error.h"
#include "link_int.h"
#include "rpc_frame.h"

/* p11-kit's client sends this in C_Initialize; the helper checks it. */
static const char init_handshake[] =
    "PRIVATE-GNOME-KEYRING-PKCS11-PROTOCOL-V-1";

#define HDR RPC_FRAME_HEADER_LEN
#define REAP_GRACE_MS 1000
#define FINALIZE_TIMEOUT_MS 5000u
#define RBUF_CAP 8192

struct pending {
	struct pending *next;
	uint32_t id;
	bool done;
	enum mlink_fail fail;
	uint8_t *frame; /* the reply frame, ours once done */
	size_t frame_len;
};

/* Replies come through this buffer: one recv takes both frames of a chain
 * (and whatever else is waiting), where reading each header and body on
 * its own took four. Used only by the one reader (reading set), or by the
 * supervisor before any caller; wiped as it is consumed. */
struct rbuf {
	size_t off, len;
	uint8_t p[RBUF_CAP];
};

struct mlink {
	struct mlink_config cfg;
	char *module, *helper, *reserved;
	char **envp;
	struct rpc_codec codec;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;   /* replies, state changes, room, stop */
	pthread_mutex_t wlock; /* one request on the socket at a time; held
				  while fd is used for writing */
	/* under lock: */
	bool up, stopping;
	bool reading;  /* a caller is reading replies (read_one) */
	bool broken;   /* a caller saw the link fail: nobody reads any more */
	bool threaded; /* the helper of gen runs calls concurrently */
	int fd;
	pid_t pid;
	uint64_t gen;
	uint32_t next_id;
	struct pending *pending;
	size_t inflight;
	struct mlink_stats st;
	struct rbuf rb; /* not under lock: the reader's */
};

static void mlog(const struct mlink *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void mlog(const struct mlink *l, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	drv_warn(NULL, "module %s: %s", l->module, msg);
}

/* ---- time ---- */

static struct timespec deadline_in(unsigned ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Milliseconds left until d (NULL: forever, -1); 0 once passed. */
static int ms_left(const struct timespec *d)
{
	struct timespec now;
	long long ms;

	if (!d)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(d->tv_sec - now.tv_sec) * 1000000000LL +
	     (d->tv_nsec - now.tv_nsec);
	/* Rounded up: a poll that timed out is past d. */
	ms = ms <= 0 ? 0 : (ms + 999999) / 1000000;
	return ms > 3600000 ? 3600000 : (int)ms;
}

static unsigned long long ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (unsigned long long)((now.tv_sec - t->tv_sec) * 1000 +
				    (now.tv_nsec - t->tv_nsec) / 1000000);
}

/* ---- socket I/O ---- */

/* 0: n bytes read; 1: end of file or deadline; -1: error. */
static int recv_full(int fd, void *p, size_t n, const struct timespec *d)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	ssize_t r;
	int rc;

	/* The bytes first, the wait only when none are there: a reply's
	 * body, and the second reply of a chain, come in the same write. */
	while (got < n) {
		r = recv(fd, (uint8_t *)p + got, n - got, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN) {
			rc = poll(&pfd, 1, ms_left(d));
			if (rc == 0)
				return 1;
			if (rc < 0 && errno != EINTR)
				return -1;
			continue;
		}
		if (r <= 0)
			return r == 0 ? 1 : -1;
		got += (size_t)r;
	}
	return 0;
}

/* Some bytes, at most cap, waiting for the first: the wait first, since a
 * reply is rarely there the moment it is wanted. 0 with *got; 1: end of
 * file or deadline; -1: error. */
static int recv_some(int fd, uint8_t *p, size_t cap, const struct timespec *d,
		     size_t *got)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t r;
	int rc;

	for (;;) {
		rc = poll(&pfd, 1, ms_left(d));
		if (rc == 0)
			return 1;
		if (rc < 0 && errno != EINTR)
			return -1;
		if (rc < 0)
			continue;
		r = recv(fd, p, cap, MSG_DONTWAIT);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return r == 0 ? 1 : -1;
		*got = (size_t)r;
		return 0;
	}
}

/* n bytes: the buffer's first, then the socket's; a want smaller than the
 * buffer refills it. 0: read; 1: end of file or deadline; -1: error. */
static int rbuf_read(struct rbuf *b, int fd, void *dst, size_t n,
		     const struct timespec *d)
{
	uint8_t *p = dst;
	size_t k;
	int rc;

	while (n) {
		if (b->off == b->len) {
			b->off = b->len = 0;
			if (n >= sizeof(b->p))
				return recv_full(fd, p, n, d);
			if ((rc = recv_some(fd, b->p, sizeof(b->p), d,
					    &b->len)) != 0)
				return rc;
		}
		k = b->len - b->off < n ? b->len - b->off : n;
		memcpy(p, b->p + b->off, k);
		explicit_bzero(b->p + b->off, k);
		b->off += k;
		p += k;
		n -= k;
	}
	return 0;
}

static void rbuf_clear(struct rbuf *b)
{
	explicit_bzero(b->p + b->off, b->len - b->off);
	b->off = b->len = 0;
}

/* 0: sent; 1: deadline; -1: error. */
static int send_full(int fd, const uint8_t *p, size_t n,
		     const struct timespec *d)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	ssize_t w;
	int rc;

	while (n) {
		w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && (errno == EINTR || errno == EAGAIN)) {
			rc = poll(&pfd, 1, ms_left(d));
			if (rc == 0)
				return 1;
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void frame_free(uint8_t *p, size_t len)
{
	if (p)
		explicit_bzero(p, len);
	free(p);
}

/* One frame, its lengths capped before the body is allocated. 0 with *frame
 * (malloc'd) and the parse; 1 at end of file or deadline; TK_ERR_* when
 * malformed. */
static int read_frame(struct rbuf *b, int fd, const struct timespec *d,
		      uint8_t **frame, size_t *len, struct rpc_frame *f)
{
	uint8_t hdr[HDR];
	size_t need, len2;
	uint8_t *p;
	int rc;

	*frame = NULL;
	if ((rc = rbuf_read(b, fd, hdr, HDR, d)) != 0)
		return rc < 0 ? 1 : rc;
	rc = rpc_frame_parse(hdr, HDR, MLINK_MAX_FRAME, f, &need);
	if (rc < 0)
		return rc;
	if (!(p = malloc(need)))
		return TK_ERR_NOMEM;
	memcpy(p, hdr, HDR);
	if (need > HDR &&
	    (rc = rbuf_read(b, fd, p + HDR, need - HDR, d)) != 0) {
		frame_free(p, need);
		return 1;
	}
	if (rpc_frame_parse(p, need, MLINK_MAX_FRAME, f, &len2) != 0 ||
	    f->options_len) {
		frame_free(p, need);
		return TK_ERR_INVALID;
	}
	*frame = p;
	*len = need; /* what was allocated, wiped by frame_free */
	return 0;
}

/* ---- the helper's life ---- */

/* Kills the helper of generation gen if it is the current one; the watch
 * sees the end (shutdown, in case the module's own children hold
 * the socket) and fails what is in flight. Under lock. */
static void kill_locked(struct mlink *l, uint64_t gen)
{
	if (!l->up || l->gen != gen || l->pid <= 0)
		return;
	kill(l->pid, SIGKILL);
	if (l->fd >= 0)
		shutdown(l->fd, SHUT_RDWR);
}

bool mlink_threaded(struct mlink *l, uint64_t gen)
{
	bool t;

	pthread_mutex_lock(&l->lock);
	t = l->up && l->gen == gen && l->threaded;
	pthread_mutex_unlock(&l->lock);
	return t;
}

void mlink_kill(struct mlink *l, uint64_t gen)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	kill_locked(l, gen);
	pthread_mutex_unlock(&l->lock);
}

/* C_Initialize with the handshake p11-kit's client sends and the module's
 * pReserved string, as request id 0, before anyone else may call. */
static int init_module(struct mlink *l, int fd, const struct timespec *d,
		       bool *threaded)
{
	struct rpc_arg a[3] = {
		{ .type = RPC_ARG_BYTES,
		  .bytes = { (const CK_BYTE *)init_handshake,
			     sizeof(init_handshake) - 1, false } },
		{ .type = RPC_ARG_BYTE, .byte = l->reserved ? 1 : 0 },
		{ .type = RPC_ARG_BYTES },
	};
	struct mlink_reply r = { 0 };
	struct rpc_frame f;
	struct buf b;
	uint8_t *frame = NULL;
	size_t len = 0;
	int rc;

	if (l->reserved) {
		a[2].bytes.p = (const CK_BYTE *)l->reserved;
		a[2].bytes.len = strlen(l->reserved) + 1;
	}
	buf_init(&b, 0);
	buf_reserve(&b, HDR);
	rc = rpc_request_encode(&l->codec, RPC_C_Initialize, a, 3, &b);
	if (rc == 0) {
		mlink_put_header(b.data, 0, b.len - HDR);
		rc = send_full(fd, b.data, b.len, d) ? TK_ERR_TRANSPORT : 0;
	}
	buf_free(&b);
	if (rc == 0 && (rc = read_frame(&l->rb, fd, d, &frame, &len, &f)) == 0) {
		*threaded = f.call_code == MLINK_ID_THREADED;
		rc = f.call_code & ~MLINK_ID_THREADED
			 ? TK_ERR_INVALID
			 : mlink_reply_decode(&l->codec, RPC_C_Initialize,
					      f.data, f.data_len, 0, &r);
		if (rc == 0 && r.rv != CKR_OK) {
			mlog(l, "C_Initialize: 0x%lx", (unsigned long)r.rv);
			rc = TK_ERR_DEVICE;
		}
		mlink_reply_clear(&r);
	}
	frame_free(frame, len);
	return rc > 0 ? TK_ERR_TRANSPORT : rc;
}

/* Spawns, then the version byte and C_Initialize within the call timeout. */
static int bring_up(struct mlink *l, bool *threaded)
{
	struct timespec d = deadline_in(l->cfg.timeout_ms);
	uint8_t v = RPC_PROTOCOL_MAX;
	pid_t pid;
	int fd, rc;

	if ((rc = mlink_spawn(l->helper, l->module, l->envp, &pid, &fd)))
		return rc;
	pthread_mutex_lock(&l->lock);
	l->fd = fd;
	l->pid = pid;
	if (l->stopping)
		shutdown(fd, SHUT_RDWR);
	pthread_mutex_unlock(&l->lock);
	if (send_full(fd, &v, 1, &d) || recv_full(fd, &v, 1, &d) ||
	    v != RPC_PROTOCOL_MAX)
		return TK_ERR_TRANSPORT;
	return init_module(l, fd, &d, threaded);
}

/* While the helper is up, the callers waiting for replies read them
 * (read_one): this thread only waits for the end, the helper gone or our
 * end shut down (kill_locked, mlink_free), which poll reports as POLLHUP
 * whatever events it was asked for. */
static void watch(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = 0 };
	int rc;

	do
		rc = poll(&pfd, 1, -1);
	while ((rc < 0 && errno == EINTR) || rc == 0);
}

/* Marks the helper down and fails every call in flight. */
static void went_down(struct mlink *l)
{
	struct pending *p;

	pthread_mutex_lock(&l->lock);
	l->up = false;
	l->st.up = false;
	l->st.deaths++;
	for (p = l->pending; p; p = p->next) {
		p->done = true;
		p->fail = MLINK_DIED;
	}
	l->pending = NULL;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

/* Closes our end (a live helper sees end of file and leaves), then reaps
 * the helper, killing it if it lingers. One that never came up is killed
 * at once when the link stops: it has nothing to flush, and a module hung
 * in C_Initialize would hold the stop (tokend's, a probe's) the grace. */
static void reap(struct mlink *l, bool was_up)
{
	int status = 0, waited = 0, grace = REAP_GRACE_MS;
	char why[sizeof(l->st.last_exit)];
	pid_t pid, r;

	pthread_mutex_lock(&l->wlock);
	pthread_mutex_lock(&l->lock);
	/* A caller may still be in recv (returning: the socket is shut). */
	while (l->reading)
		pthread_cond_wait(&l->cond, &l->lock);
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	rbuf_clear(&l->rb);
	pid = l->pid;
	if (l->stopping && !was_up)
		grace = 0;
	pthread_mutex_unlock(&l->lock);
	pthread_mutex_unlock(&l->wlock);
	if (pid <= 0)
		return;
	while ((r = waitpid(pid, &status, WNOHANG)) == 0 && waited < grace) {
		usleep(10000);
		waited += 10;
	}
	if (r == 0) {
		kill(pid, SIGKILL);
		r = waitpid(pid, &status, 0);
	}
	if (r == pid && WIFSIGNALED(status))
		snprintf(why, sizeof(why), "killed by signal %d",
			 WTERMSIG(status));
	else if (r == pid && WEXITSTATUS(status) != 0)
		snprintf(why, sizeof(why), "exited with status %d",
			 WEXITSTATUS(status));
	else
		snprintf(why, sizeof(why), "exited");
	if (strcmp(why, "exited") != 0 && grace) /* else: killed by us */
		mlog(l, "helper %d %s", (int)pid, why);
	pthread_mutex_lock(&l->lock);
	memcpy(l->st.last_exit, why, sizeof(why));
	l->pid = 0;
	l->st.pid = 0;
	pthread_mutex_unlock(&l->lock);
}

/* Sleeps ms unless the link is being stopped; returns whether it is. */
static bool pause_or_stop(struct mlink *l, unsigned ms)
{
	struct timespec d = deadline_in(ms);
	bool stop;

	pthread_mutex_lock(&l->lock);
	while (!l->stopping &&
	       pthread_cond_timedwait(&l->cond, &l->lock, &d) != ETIMEDOUT)
		;
	stop = l->stopping;
	pthread_mutex_unlock(&l->lock);
	return stop;
}

static void *supervise(void *arg)
{
	struct mlink *l = arg;
	unsigned delay = l->cfg.backoff_ms;
	struct timespec since;
	uint64_t gen;
	bool stop, threaded = false;
	int rc, fd;

	for (;;) {
		rc = bring_up(l, &threaded);
		pthread_mutex_lock(&l->lock);
		stop = l->stopping;
		if (rc == 0 && !stop) {
			l->up = true;
			l->threaded = threaded;
			l->broken = false;
			gen = ++l->gen;
			l->next_id = 1;
			l->st.up = true;
			l->st.gen = gen;
			l->st.pid = l->pid;
			l->st.starts++;
			pthread_cond_broadcast(&l->cond);
		}
		fd = l->fd;
		pthread_mutex_unlock(&l->lock);
		if (rc == 0 && !stop) {
			clock_gettime(CLOCK_MONOTONIC, &since);
			if (l->cfg.on_state)
				l->cfg.on_state(l->cfg.ctx, gen, true);
			watch(fd);
			went_down(l);
			if (!l->stopping && l->cfg.on_state)
				l->cfg.on_state(l->cfg.ctx, gen, false);
			/* A long healthy run starts the back-off afresh. */
			if (ms_since(&since) >= l->cfg.backoff_max_ms)
				delay = l->cfg.backoff_ms;
		} else if (rc && !stop) {
			mlog(l, "helper did not come up (%s)", tk_strerror(rc));
		}
		reap(l, rc == 0 && !stop);
		if (pause_or_stop(l, delay))
			break;
		delay = delay > l->cfg.backoff_max_ms / 2
			    ? l->cfg.backoff_max_ms
			    : delay * 2;
	}
	return NULL;
}

/* ---- calls ---- */

static unsigned call_timeout(const struct mlink *l, uint32_t call_id)
{
	/* A wait for a slot event lasts as long as no token comes or goes. */
	return call_id == RPC_C_WaitForSlotEvent ? 0 : l->cfg.timeout_ms;
}

/* Sends the frame in b to generation gen. 0 sent, 1 deadline, -1 error or
 * no such helper any more. */
static int send_request(struct mlink *l, uint64_t gen, struct buf *b,
			const struct timespec *d)
{
	int fd, rc = -1;

	pthread_mutex_lock(&l->wlock);
	pthread_mutex_lock(&l->lock);
	fd = l->up && l->gen == gen ? l->fd : -1;
	pthread_mutex_unlock(&l->lock);
	if (fd >= 0)
		rc = send_full(fd, b->data, b->len, d);
	pthread_mutex_unlock(&l->wlock);
	return rc;
}

static void unlink_pending(struct mlink *l, struct pending *p)
{
	struct pending **pp;

	for (pp = &l->pending; *pp && *pp != p;)
		pp = &(*pp)->next;
	if (*pp)
		*pp = p->next;
}

/* Reads one reply frame, the lock dropped meanwhile, and hands it to its
 * caller: a caller reads while nobody else does, so a reply needs no hop
 * through another thread. ETIMEDOUT on the deadline; anything else amiss
 * marks the link broken and kills the helper (the supervisor then fails
 * every call). Under lock. */
static int read_one(struct mlink *l, uint64_t gen, const struct timespec *d)
{
	struct pending **pp, *p = NULL;
	struct rpc_frame f;
	uint8_t *frame = NULL;
	size_t len = 0;
	int fd = l->fd, rc;

	l->reading = true;
	pthread_mutex_unlock(&l->lock);
	rc = read_frame(&l->rb, fd, d, &frame, &len, &f);
	pthread_mutex_lock(&l->lock);
	l->reading = false;
	pthread_cond_broadcast(&l->cond); /* the next reader, or reap */
	if (rc == 0) {
		for (pp = &l->pending; (p = *pp) && p->id != f.call_code;)
			pp = &p->next;
		if (p) {
			*pp = p->next;
			p->frame = frame;
			p->frame_len = len;
			p->done = true;
			return 0;
		}
		frame_free(frame, len);
		rc = TK_ERR_INVALID;
	}
	/* Half a frame may have been read: nobody reads after this. */
	l->broken = true;
	if (rc == 1 && d && ms_left(d) == 0)
		return ETIMEDOUT; /* the caller kills the helper */
	if (rc < 0) {
		l->st.protocol++;
		mlog(l, "malformed reply from the helper (%s)",
		     tk_strerror(rc));
	}
	kill_locked(l, gen);
	return 0;
}

/* Waits for p's reply, reading replies while nobody else does; on the
 * deadline, kills the helper. Under lock. */
static void wait_reply(struct mlink *l, uint64_t gen, struct pending *p,
		       const struct timespec *d, int sent)
{
	int rc = 0;

	if (sent != 0) {
		/* Half a frame may be on the wire: this helper is done. */
		kill_locked(l, gen);
		if (sent > 0)
			rc = ETIMEDOUT;
	}
	while (!p->done && rc != ETIMEDOUT) {
		if (!l->reading && !l->broken && l->up && l->gen == gen &&
		    l->fd >= 0)
			rc = read_one(l, gen, d);
		else
			rc = d ? pthread_cond_timedwait(&l->cond, &l->lock, d)
			       : pthread_cond_wait(&l->cond, &l->lock);
	}
	if (p->done)
		return;
	unlink_pending(l, p);
	p->done = true;
	p->fail = MLINK_TIMEOUT;
	l->st.timeouts++;
	mlog(l, "no answer in %u ms: killing helper", l->cfg.timeout_ms);
	kill_locked(l, gen);
}

/* One call of a chain that travels in one round trip. */
struct mcall {
	uint32_t id;
	const struct rpc_arg *args;
	size_t nargs;
	CK_MECHANISM_TYPE pmech;
	struct mlink_reply *r;
};

static void fail_all(const struct mcall *c, size_t n, enum mlink_fail f)
{
	for (size_t i = 0; i < n; i++)
		c[i].r->fail = f;
}

/* Sends n (1 or 2) chained calls in one write and waits for each answer;
 * the chain counts as one call in flight. */
static int call_raw(struct mlink *l, uint64_t only, const struct mcall *c,
		    size_t n, unsigned timeout_ms)
{
	struct timespec dl = deadline_in(timeout_ms), *d = timeout_ms ? &dl : 0;
	struct pending p[2] = { 0 };
	size_t at[3] = { 0 }, used, i;
	struct rpc_frame f;
	struct buf b;
	uint64_t gen;
	int rc = 0, sent;

	buf_init(&b, n * (MLINK_MAX_FRAME + HDR));
	b.secret = true; /* PINs */
	for (i = 0; i < n && rc == 0; i++) {
		at[i] = b.len;
		buf_reserve(&b, HDR);
		rc = rpc_request_encode(&l->codec, c[i].id, c[i].args,
					c[i].nargs, &b);
		if (rc == 0 && !buf_failed(&b) &&
		    b.len - at[i] > MLINK_MAX_FRAME + HDR)
			rc = TK_ERR_TOO_LARGE;
	}
	at[n] = b.len;
	if (rc || buf_failed(&b)) {
		fail_all(c, n, MLINK_LOCAL);
		rc = rc ? rc : TK_ERR_TOO_LARGE;
		goto out;
	}
	pthread_mutex_lock(&l->lock);
	while (l->up && l->inflight >= l->cfg.max_inflight &&
	       (d ? pthread_cond_timedwait(&l->cond, &l->lock, d)
		  : pthread_cond_wait(&l->cond, &l->lock)) != ETIMEDOUT)
		;
	gen = l->gen;
	for (i = 0; i < n; i++)
		c[i].r->gen = gen;
	if (!l->up || (only && gen != only) ||
	    l->inflight >= l->cfg.max_inflight) {
		fail_all(c, n,
			 l->up && (!only || gen == only) ? MLINK_TIMEOUT
							 : MLINK_DOWN);
		pthread_mutex_unlock(&l->lock);
		rc = TK_ERR_TRANSPORT;
		goto out;
	}
	for (i = 0; i < n; i++) {
		p[i].id = l->next_id++ & ~MLINK_ID_CHAIN;
		p[i].next = l->pending;
		l->pending = &p[i];
	}
	l->inflight++;
	pthread_mutex_unlock(&l->lock);

	for (i = 0; i < n; i++)
		mlink_put_header(b.data + at[i],
				 p[i].id | (i + 1 < n ? MLINK_ID_CHAIN : 0),
				 at[i + 1] - at[i] - HDR);
	sent = send_request(l, gen, &b, d);

	pthread_mutex_lock(&l->lock);
	for (i = 0; i < n; i++) {
		if (i && p[0].fail == MLINK_TIMEOUT && !p[i].done) {
			/* Counted and killed once, for the chain. */
			unlink_pending(l, &p[i]);
			p[i].done = true;
			p[i].fail = MLINK_TIMEOUT;
			continue;
		}
		wait_reply(l, gen, &p[i], d, sent);
	}
	l->inflight--;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);

	for (i = 0; i < n; i++) {
		struct mlink_reply *r = c[i].r;
		int e;

		if (p[i].fail) {
			r->fail = p[i].fail;
			rc = TK_ERR_TRANSPORT;
			continue;
		}
		e = rpc_frame_parse(p[i].frame, p[i].frame_len, MLINK_MAX_FRAME,
				    &f, &used);
		if (e == 0)
			e = mlink_reply_decode(&l->codec, c[i].id, f.data,
					       f.data_len, c[i].pmech, r);
		if (e) {
			mlog(l, "malformed reply to %s: killing helper",
			     rpc_call_lookup(c[i].id)->name);
			pthread_mutex_lock(&l->lock);
			l->st.protocol++;
			kill_locked(l, gen);
			pthread_mutex_unlock(&l->lock);
			r->fail = MLINK_PROTOCOL;
			rc = TK_ERR_TRANSPORT;
		}
	}
out:
	for (i = 0; i < 2; i++)
		frame_free(p[i].frame, p[i].frame_len);
	buf_free(&b);
	return rc;
}

static bool call_ok(uint32_t id)
{
	return rpc_call_lookup(id) && id != RPC_CALL_ERROR &&
	       id != RPC_C_Initialize && id != RPC_C_Finalize;
}

int mlink_call2_gen(struct mlink *l, uint64_t gen, uint32_t id1,
		    const struct rpc_arg *a1, size_t n1, struct mlink_reply *r1,
		    uint32_t id2, const struct rpc_arg *a2, size_t n2,
		    struct mlink_reply *r2)
{
	const struct mcall c[2] = { { id1, a1, n1, 0, r1 },
				    { id2, a2, n2, 0, r2 } };

	if (r1)
		memset(r1, 0, sizeof(*r1));
	if (r2)
		memset(r2, 0, sizeof(*r2));
	if (!l || !r1 || !r2 || !call_ok(id1) || !call_ok(id2) ||
	    id1 == RPC_C_WaitForSlotEvent || id2 == RPC_C_WaitForSlotEvent)
		return TK_ERR_ARG;
	return call_raw(l, gen, c, 2, l->cfg.timeout_ms);
}

int mlink_call_gen(struct mlink *l, uint64_t gen, uint32_t call_id,
		   const struct rpc_arg *args, size_t nargs,
		   CK_MECHANISM_TYPE pmech, struct mlink_reply *r)
{
	const struct mcall c = { call_id, args, nargs, pmech, r };

	if (r)
		memset(r, 0, sizeof(*r));
	if (!l || !r || !call_ok(call_id))
		return TK_ERR_ARG;
	return call_raw(l, gen, &c, 1, call_timeout(l, call_id));
}

int mlink_call(struct mlink *l, uint32_t call_id, const struct rpc_arg *args,
	       size_t nargs, CK_MECHANISM_TYPE pmech, struct mlink_reply *r)
{
	return mlink_call_gen(l, 0, call_id, args, nargs, pmech, r);
}

void mlink_reply_clear(struct mlink_reply *r)
{
	if (r)
		rpc_message_clear(&r->msg);
}

/* ---- life cycle ---- */

static bool env_overridden(const char *entry, const char *const *env)
{
	size_t n = strcspn(entry, "=");

	for (; env && *env; env++)
		if (strncmp(*env, entry, n) == 0 && (*env)[n] == '=')
			return true;
	return false;
}

static void env_free(char **envp)
{
	for (char **e = envp; e && *e; e++)
		free(*e);
	free(envp);
}

/* tokend's environment, then the module's entries over it. */
static char **env_build(const struct mlink_config *cfg)
{
	extern char **environ;
	char workers[64];
	const char *extra[2] = { workers, NULL };
	size_t n = 2, k = 0;
	char **e, **envp;
	const char *const *x;

	snprintf(workers, sizeof(workers), "%s=%u", MLINK_ENV_WORKERS,
		 cfg->workers);
	for (e = environ; e && *e; e++)
		n++;
	for (x = cfg->env; x && *x; x++)
		n++;
	if (!(envp = calloc(n, sizeof(*envp))))
		return NULL;
	for (e = environ; e && *e; e++)
		if (!env_overridden(*e, cfg->env) &&
		    !(cfg->workers && env_overridden(*e, extra)) &&
		    !(envp[k++] = strdup(*e)))
			goto fail;
	for (x = cfg->env; x && *x; x++)
		if (strchr(*x, '=') && !(envp[k++] = strdup(*x)))
			goto fail;
	if (cfg->workers && !(envp[k++] = strdup(workers)))
		goto fail;
	return envp;
fail:
	env_free(envp);
	return NULL;
}

int mlink_new(const struct mlink_config *cfg, struct mlink **out)
{
	char path[4096];
	pthread_condattr_t ca;
	struct mlink *l;
	int rc = TK_ERR_NOMEM;

	if (!cfg || !cfg->module || !out)
		return TK_ERR_ARG;
	*out = NULL;
	if (!cfg->helper && mlink_helper_path(path, sizeof(path)) != 0)
		return TK_ERR_NOT_FOUND;
	if (cfg->helper && access(cfg->helper, X_OK) != 0)
		return TK_ERR_NOT_FOUND;
	if (!(l = calloc(1, sizeof(*l))))
		return TK_ERR_NOMEM;
	l->cfg = *cfg;
	l->cfg.env = NULL;
	if (!l->cfg.timeout_ms)
		l->cfg.timeout_ms = MLINK_DEFAULT_TIMEOUT_MS;
	if (!l->cfg.backoff_ms)
		l->cfg.backoff_ms = MLINK_DEFAULT_BACKOFF_MS;
	if (!l->cfg.backoff_max_ms)
		l->cfg.backoff_max_ms = MLINK_DEFAULT_BACKOFF_MAX_MS;
	if (l->cfg.backoff_max_ms < l->cfg.backoff_ms)
		l->cfg.backoff_max_ms = l->cfg.backoff_ms;
	if (!l->cfg.max_inflight)
		l->cfg.max_inflight = MLINK_DEFAULT_INFLIGHT;
	rpc_codec_init(&l->codec, RPC_PROTOCOL_MAX);
	l->fd = -1;
	l->module = strdup(cfg->module);
	l->helper = strdup(cfg->helper ? cfg->helper : path);
	l->reserved = cfg->init_reserved ? strdup(cfg->init_reserved) : NULL;
	l->envp = env_build(cfg);
	l->cfg.module = l->module;
	l->cfg.helper = l->helper;
	l->cfg.init_reserved = l->reserved;
	if (!l->module || !l->helper || !l->envp ||
	    (cfg->init_reserved && !l->reserved))
		goto fail;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&l->lock, NULL);
	pthread_mutex_init(&l->wlock, NULL);
	if (pthread_create(&l->thread, NULL, supervise, l) != 0) {
		pthread_cond_destroy(&l->cond);
		pthread_mutex_destroy(&l->lock);
		pthread_mutex_destroy(&l->wlock);
		rc = TK_ERR_NOMEM;
		goto fail;
	}
	*out = l;
	return 0;
fail:
	env_free(l->envp);
	free(l->module);
	free(l->helper);
	free(l->reserved);
	free(l);
	return rc;
}

void mlink_free(struct mlink **pl)
{
	struct mlink_reply r = { 0 };
	const struct mcall fin = { RPC_C_Finalize, NULL, 0, 0, &r };
	struct mlink *l;
	bool up;

	if (!pl || !(l = *pl))
		return;
	pthread_mutex_lock(&l->lock);
	up = l->up;
	pthread_mutex_unlock(&l->lock);
	/* An orderly goodbye lets the module flush its state. */
	if (up)
		call_raw(l, 0, &fin, 1,
			 l->cfg.timeout_ms < FINALIZE_TIMEOUT_MS
			     ? l->cfg.timeout_ms
			     : FINALIZE_TIMEOUT_MS);
	mlink_reply_clear(&r);
	pthread_mutex_lock(&l->lock);
	l->stopping = true;
	if (l->fd >= 0)
		shutdown(l->fd, SHUT_RDWR);
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->thread, NULL);
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
	pthread_mutex_destroy(&l->wlock);
	env_free(l->envp);
	free(l->module);
	free(l->helper);
	free(l->reserved);
	free(l);
	*pl = NULL;
}

int mlink_wait_up(struct mlink *l, unsigned timeout_ms, uint64_t after,
		  uint64_t *gen)
{
	struct timespec d = deadline_in(timeout_ms);
	bool up;

	if (!l)
		return TK_ERR_ARG;
	pthread_mutex_lock(&l->lock);
	while (!(l->up && l->gen > after) && !l->stopping &&
	       pthread_cond_timedwait(&l->cond, &l->lock, &d) != ETIMEDOUT)
		;
	up = l->up && l->gen > after;
	if (gen)
		*gen = l->gen;
	pthread_mutex_unlock(&l->lock);
	return up ? 0 : TK_ERR_TRANSPORT;
}

void mlink_stats(struct mlink *l, struct mlink_stats *st)
{
	if (!l || !st)
		return;
	pthread_mutex_lock(&l->lock);
	*st = l->st;
	pthread_mutex_unlock(&l->lock);
}
