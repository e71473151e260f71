/* tokend-module-helper MODULE
 *
 * Loads one PKCS#11 module and serves it to tokend over the socket tokend
 * left on fd 3: after a one-byte version handshake, p11-kit RPC frames whose
 * call code is tokend's request id, answered in any order. A small pool of
 * threads serves them, each running the request it read, concurrently once
 * the module took CKF_OS_LOCKING_OK, one at a time otherwise. A malformed
 * frame means tokend is not who we are talking to: exit, tokend restarts
 * us. */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "helper.h"
#include "link_proto.h"
#include "rpc_frame.h"

struct job {
	struct job *then; /* chained: runs after this one if it succeeded */
	uint32_t id;
	uint8_t *frame; /* the whole frame; body points into it */
	size_t frame_len;
	const uint8_t *body;
	size_t body_len;
};

#define RBUF_CAP 8192

static struct {
	struct helper h;
	int fd;
	int ep;	  /* fd and kick, each EPOLLONESHOT: see serve() */
	int kick; /* eventfd: requests wait in rb, none on the socket */
	/* Requests come through rb: one read takes both frames of a chain,
	 * where a read of each header and each body took four. Only the
	 * thread that holds the reading (see serve) touches it. */
	struct {
		size_t off, len;
		uint8_t p[RBUF_CAP];
	} rb;
	pthread_mutex_t serial; /* one module call at a time when unthreaded */
	pthread_mutex_t wlock;  /* one reply on the socket at a time */
	/* Held by the thread that holds the reading, and let go before it
	 * passes the reading on: the kernel orders the hand-off already,
	 * this shows ThreadSanitizer that it does. Never contended. */
	pthread_mutex_t rlock;
} srv = {
	.fd = MLINK_HELPER_FD,
	.ep = -1,
	.kick = -1,
	.serial = PTHREAD_MUTEX_INITIALIZER,
	.wlock = PTHREAD_MUTEX_INITIALIZER,
	.rlock = PTHREAD_MUTEX_INITIALIZER,
};

static void die(const char *what, int code)
{
	fprintf(stderr, "tokend-module-helper[%d]: %s\n", (int)getpid(), what);
	_exit(code);
}

/* 0: n bytes read; 1: end of file before the first byte; -1: else. */
static int read_full(int fd, void *p, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = read(fd, (uint8_t *)p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 && got == 0 ? 1 : -1;
		got += (size_t)r;
	}
	return 0;
}

/* n bytes: rb's first, then the socket's (a want smaller than rb refills
 * it with what is there). 0: read; 1: end of file before the first byte;
 * -1: else. */
static int rb_read(void *dst, size_t n)
{
	uint8_t *p = dst;
	bool any = false;
	size_t k;
	ssize_t r;

	while (n) {
		if (srv.rb.off == srv.rb.len) {
			srv.rb.off = srv.rb.len = 0;
			if (n >= sizeof(srv.rb.p)) {
				r = read_full(srv.fd, p, n);
				return r == 1 && any ? -1 : (int)r;
			}
			r = read(srv.fd, srv.rb.p, sizeof(srv.rb.p));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return r == 0 && !any ? 1 : -1;
			srv.rb.len = (size_t)r;
		}
		k = srv.rb.len - srv.rb.off < n ? srv.rb.len - srv.rb.off : n;
		memcpy(p, srv.rb.p + srv.rb.off, k);
		explicit_bzero(srv.rb.p + srv.rb.off, k); /* PINs travel here */
		srv.rb.off += k;
		p += k;
		n -= k;
		any = true;
	}
	return 0;
}

static int write_full(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	job_free(j->then);
	explicit_bzero(j->frame, j->frame_len); /* PINs travel here */
	free(j->frame);
	free(j);
}

/* Reads one request frame; NULL at a clean end of file. Exits on anything
 * malformed: the lengths are capped before anything is allocated. */
static struct job *read_frame(void)
{
	uint8_t hdr[RPC_FRAME_HEADER_LEN];
	struct rpc_frame f;
	struct job *j;
	size_t need;
	int rc;

	rc = rb_read(hdr, sizeof(hdr));
	if (rc == 1)
		return NULL;
	if (rc)
		die("link: short read", 1);
	rc = rpc_frame_parse(hdr, sizeof(hdr), MLINK_MAX_FRAME, &f, &need);
	if (rc < 0)
		die("link: oversized or malformed frame", 1);
	if (!(j = calloc(1, sizeof(*j))) || !(j->frame = malloc(need)))
		die("out of memory", 1);
	j->frame_len = need;
	memcpy(j->frame, hdr, sizeof(hdr));
	if (need > sizeof(hdr) &&
	    rb_read(j->frame + sizeof(hdr), need - sizeof(hdr)))
		die("link: short read", 1);
	if (rpc_frame_parse(j->frame, need, MLINK_MAX_FRAME, &f, &need) != 0 ||
	    f.options_len != 0)
		die("link: malformed frame", 1);
	j->id = f.call_code;
	j->body = f.data;
	j->body_len = f.data_len;
	return j;
}

/* One request, with the one chained to it (never a longer chain). */
static struct job *read_job(void)
{
	struct job *j = read_frame();

	if (j && (j->id & MLINK_ID_CHAIN)) {
		j->id &= ~MLINK_ID_CHAIN;
		j->then = read_frame();
		if (!j->then || (j->then->id & MLINK_ID_CHAIN))
			die("link: malformed chain", 1);
	}
	return j;
}

/* What the reply to C_Initialize tells tokend (link_proto.h). */
static uint32_t init_flags(const struct job *j)
{
	static const uint8_t init[4] = { 0, 0, 0, RPC_C_Initialize };

	if (j->body_len < 4 || memcmp(j->body, init, 4) != 0)
		return 0;
	return helper_threaded(&srv.h) ? MLINK_ID_THREADED : 0;
}

/* Appends j's reply frame to out: the module's answer, or (skip) an error
 * reply. Returns whether it is a CKR_OK answer. */
static bool reply_append(struct job *j, struct buf *out, bool skip)
{
	size_t start = out->len;
	bool serial = !helper_threaded(&srv.h);
	CK_RV err = CKR_DEVICE_MEMORY;
	int rc = TK_ERR_ARG;

	buf_reserve(out, RPC_FRAME_HEADER_LEN);
	if (skip) {
		err = CKR_OPERATION_NOT_INITIALIZED;
	} else {
		if (serial)
			pthread_mutex_lock(&srv.serial);
		rc = helper_handle(&srv.h, j->body, j->body_len, out);
		if (serial)
			pthread_mutex_unlock(&srv.serial);
		if (rc == TK_ERR_INVALID)
			die("link: malformed request", 1);
	}
	if (rc || buf_failed(out) ||
	    out->len - start > MLINK_MAX_FRAME + RPC_FRAME_HEADER_LEN) {
		/* A reply too large for the link: say so instead. */
		out->len = start + RPC_FRAME_HEADER_LEN;
		out->failed = false;
		if (rpc_error_encode(err, out) || buf_failed(out))
			die("out of memory", 1);
	}
	mlink_put_header(out->data + start, j->id | init_flags(j),
			 out->len - start - RPC_FRAME_HEADER_LEN);
	/* A body starts with its call code, RPC_CALL_ERROR for an error. */
	return memcmp(out->data + start + RPC_FRAME_HEADER_LEN, "\0\0\0\0",
		      4) != 0;
}

/* Runs j (and what is chained to it, if j succeeded); the replies leave
 * in one write. */
static void run_job(struct job *j)
{
	struct buf out;
	bool ok;
	int rc;

	buf_init(&out, 2 * (MLINK_MAX_FRAME + RPC_FRAME_HEADER_LEN));
	out.secret = true;
	ok = reply_append(j, &out, false);
	if (j->then)
		reply_append(j->then, &out, !ok);
	pthread_mutex_lock(&srv.wlock);
	rc = write_full(srv.fd, out.data, out.len);
	pthread_mutex_unlock(&srv.wlock);
	buf_free(&out);
	if (rc)
		die("link: write failed", 1);
}

/* Lets one idle thread take the next request: epoll wakes one waiter of
 * the set, and at once if bytes are already waiting. */
static void arm(int op, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT,
				  .data.fd = fd };

	if (epoll_ctl(srv.ep, op, fd, &ev) != 0)
		die("epoll_ctl failed", 1);
}

/* The idle threads all wait on one epoll set holding the socket and the
 * kick, each once-only. One thread at a time holds the reading: woken by
 * the socket (armed only while rb is empty) or by the kick (rung only
 * while rb holds bytes, the socket disarmed). It reads one request and
 * passes the reading on before running it: with bytes left in rb it rings
 * the kick, else it re-arms the socket. Another thread wakes only when
 * more requests wait, and a call goes from the socket to the module
 * without a hand-off. */
static void *serve(void *arg)
{
	struct epoll_event ev;
	struct job *j;
	uint64_t v;
	bool left;
	int n;

	for (;;) {
		n = epoll_wait(srv.ep, &ev, 1, -1);
		if (n < 0 && errno != EINTR)
			die("epoll_wait failed", 1);
		if (n <= 0)
			continue;
		pthread_mutex_lock(&srv.rlock);
		if (ev.data.fd == srv.kick) {
			if (read(srv.kick, &v, sizeof(v)) != sizeof(v))
				die("eventfd read failed", 1);
			arm(EPOLL_CTL_MOD, srv.kick);
		}
		j = read_job();
		if (!j)
			/* tokend closed the link: leave at once, calls in
			 * flight included (a module call may never return). */
			_exit(0);
		left = srv.rb.off < srv.rb.len;
		pthread_mutex_unlock(&srv.rlock);
		if (left) {
			v = 1;
			if (write(srv.kick, &v, sizeof(v)) != sizeof(v))
				die("eventfd write failed", 1);
		} else {
			arm(EPOLL_CTL_MOD, srv.fd);
		}
		run_job(j);
		job_free(j);
	}
	return arg;
}

static CK_FUNCTION_LIST_PTR load_module(const char *path)
{
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST_PTR fl = NULL;
	void *dl;

	/* RTLD_NOW: a module with missing symbols fails here, not mid-call. */
	if (!(dl = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
		fprintf(stderr, "tokend-module-helper: %s\n", dlerror());
		return NULL;
	}
	get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
	if (!get || get(&fl) != CKR_OK || !fl) {
		fprintf(stderr,
			"tokend-module-helper: %s: no C_GetFunctionList\n",
			path);
		return NULL;
	}
	return fl;
}

static size_t worker_count(void)
{
	const char *s = getenv(MLINK_ENV_WORKERS);
	long n = s ? strtol(s, NULL, 10) : 0;

	return n > 0 && n <= 64 ? (size_t)n : MLINK_DEFAULT_WORKERS;
}

int main(int argc, char **argv)
{
	CK_FUNCTION_LIST_PTR fl;
	struct stat st;
	pthread_t t;
	size_t i, n;
	uint8_t v;

	if (argc != 2) {
		fprintf(stderr, "usage: tokend-module-helper MODULE (link on "
				"fd 3; started by tokend)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (fstat(srv.fd, &st) != 0 || !S_ISSOCK(st.st_mode))
		die("fd 3 is not tokend's socket", 2);
	if (!(fl = load_module(argv[1])))
		return 3;
	/* The version byte: answered once the module is loaded, so tokend
	 * knows the helper is up. */
	if (read_full(srv.fd, &v, 1) != 0)
		return 0;
	v = rpc_handshake_answer(v);
	if (write_full(srv.fd, &v, 1))
		return 1;
	n = worker_count();
	helper_init(&srv.h, fl, n);
	if ((srv.ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (srv.kick = eventfd(0, EFD_CLOEXEC)) < 0)
		die("epoll_create1 or eventfd failed", 1);
	arm(EPOLL_CTL_ADD, srv.fd);
	arm(EPOLL_CTL_ADD, srv.kick);
	/* n threads in all, this one included. */
	for (i = 1; i < n; i++) {
		if (pthread_create(&t, NULL, serve, NULL) != 0)
			die("cannot start workers", 1);
		pthread_detach(t);
	}
	serve(NULL);
	return 0;
}
