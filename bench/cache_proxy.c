/* A near zero-cost p11-kit RPC server for daemon_bench.py: a proxy in front
 * of a real server (tokend) that answers a C_GetAttributeValue it has seen
 * before from a cache, without decoding it, and forwards every other
 * request. Once warm it costs one read of the request and one write of the
 * reply, so a client's rate against it is about the best any server on
 * this socket could give that client.
 *
 *   cache_proxy LISTEN_PATH UPSTREAM_PATH
 *
 * One process per client connection (fork), blocking I/O, one request at a
 * time. Bench only: it trusts the upstream server and caps frames at
 * 1 MiB. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CALL_GET_ATTRIBUTE_VALUE 24u /* p11-kit's call id */
#define MAX_FRAME ((uint32_t)1 << 20)
#define CACHE_SLOTS 16

struct frame {
	uint8_t hdr[12]; /* call code, options length, body length */
	uint8_t *data;   /* options then body */
	uint32_t len;
};

struct entry {
	uint8_t *req, *rep;
	uint32_t req_len, rep_len;
	uint8_t rep_hdr[12];
};

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static int read_full(int fd, void *p, size_t len)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = read(fd, (uint8_t *)p + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *p, size_t len)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = send(fd, (const uint8_t *)p + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

static int frame_read(int fd, struct frame *f)
{
	uint32_t opts, body;

	if (read_full(fd, f->hdr, 12) != 0)
		return -1;
	opts = get_u32(f->hdr + 4);
	body = get_u32(f->hdr + 8);
	if (opts > MAX_FRAME || body > MAX_FRAME - opts)
		return -1;
	f->len = opts + body;
	free(f->data);
	if (!(f->data = malloc(f->len ? f->len : 1)))
		return -1;
	return read_full(fd, f->data, f->len);
}

/* The header and the bytes in one write, as a server would send them. */
static int frame_write(int fd, const uint8_t hdr[12], const uint8_t *p,
		       uint32_t len)
{
	uint8_t buf[4096];

	if (len <= sizeof(buf) - 12) {
		memcpy(buf, hdr, 12);
		memcpy(buf + 12, p, len);
		return write_full(fd, buf, 12 + (size_t)len);
	}
	return write_full(fd, hdr, 12) || write_full(fd, p, len) ? -1 : 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static struct entry *cache_find(struct entry *c, const struct frame *q)
{
	for (int i = 0; i < CACHE_SLOTS && c[i].req; i++)
		if (c[i].req_len == q->len &&
		    !memcmp(c[i].req, q->data, q->len))
			return &c[i];
	return NULL;
}

static void cache_put(struct entry *c, const struct frame *q,
		      const struct frame *r)
{
	int i;

	for (i = 0; i < CACHE_SLOTS && c[i].req; i++)
		;
	if (i == CACHE_SLOTS || !(c[i].req = malloc(q->len ? q->len : 1)))
		return;
	if (!(c[i].rep = malloc(r->len ? r->len : 1))) {
		free(c[i].req);
		c[i].req = NULL;
		return;
	}
	memcpy(c[i].req, q->data, q->len);
	memcpy(c[i].rep, r->data, r->len);
	memcpy(c[i].rep_hdr, r->hdr, 12);
	c[i].req_len = q->len;
	c[i].rep_len = r->len;
}

static int serve(int cl, const char *upstream)
{
	struct entry cache[CACHE_SLOTS] = { 0 };
	struct frame q = { 0 }, r = { 0 };
	struct entry *e;
	uint32_t opts;
	uint8_t v;
	int up;

	if ((up = connect_to(upstream)) < 0)
		return 1;
	/* The version byte both ways. */
	if (read_full(cl, &v, 1) || write_full(up, &v, 1) ||
	    read_full(up, &v, 1) || write_full(cl, &v, 1))
		return 1;
	while (frame_read(cl, &q) == 0) {
		opts = get_u32(q.hdr + 4);
		e = q.len - opts >= 4 &&
			    get_u32(q.data + opts) == CALL_GET_ATTRIBUTE_VALUE
			? cache_find(cache, &q)
			: NULL;
		if (e) {
			memcpy(e->rep_hdr, q.hdr,
			       4); /* the request's call code */
			if (frame_write(cl, e->rep_hdr, e->rep, e->rep_len))
				return 1;
			continue;
		}
		if (frame_write(up, q.hdr, q.data, q.len) ||
		    frame_read(up, &r) != 0)
			return 1;
		if (q.len - opts >= 4 &&
		    get_u32(q.data + opts) == CALL_GET_ATTRIBUTE_VALUE)
			cache_put(cache, &q, &r);
		if (frame_write(cl, r.hdr, r.data, r.len))
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int ls, cl;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr,
			"usage: cache_proxy LISTEN_PATH UPSTREAM_PATH\n");
		return 2;
	}
	signal(SIGCHLD, SIG_IGN); /* no zombies */
	strcpy(sa.sun_path, argv[1]);
	unlink(argv[1]);
	if ((ls = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
	    bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(ls, 64) != 0) {
		perror("cache_proxy: listen");
		return 1;
	}
	for (;;) {
		if ((cl = accept(ls, NULL, NULL)) < 0) {
			if (errno == EINTR)
				continue;
			perror("cache_proxy: accept");
			return 1;
		}
		switch (fork()) {
		case 0:
			close(ls);
			_exit(serve(cl, argv[2]));
		case -1:
			perror("cache_proxy: fork");
			break;
		}
		close(cl);
	}
}
