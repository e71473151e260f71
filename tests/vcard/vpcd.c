/* The link to vsmartcard's vpcd reader driver inside pcscd: TCP to
 * 127.0.0.1:port, every message both ways a 2-byte big-endian length and the
 * bytes (design.md §4). Reads are incremental so the event loop never blocks
 * on a half-sent frame. */
#include "front.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reader.h"

#define VPCD_MSG_MAX 65535

struct vpcd {
	uint16_t port;
	int fd;
	uint8_t hdr[2];
	size_t hdr_got;
	size_t need; /* body length once the header is in */
	size_t got;
	uint8_t body[VPCD_MSG_MAX];
};

struct vpcd *vpcd_new(uint16_t port)
{
	struct vpcd *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->port = port;
	v->fd = -1;
	return v;
}

void vpcd_close(struct vpcd *v)
{
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
	v->hdr_got = v->need = v->got = 0;
}

void vpcd_free(struct vpcd **v)
{
	if (!v || !*v)
		return;
	vpcd_close(*v);
	explicit_bzero((*v)->body, sizeof((*v)->body));
	free(*v);
	*v = NULL;
}

bool vpcd_connected(const struct vpcd *v)
{
	return v->fd >= 0;
}

int vpcd_fd(const struct vpcd *v)
{
	return v->fd;
}

/* vpcd writes a frame's length and body with two send()s and no
 * TCP_NODELAY, so Nagle holds the body until we ACK the length; with Linux's
 * delayed ACK that costs 40 ms per APDU. Quick ACKs avoid it; the kernel
 * clears the flag now and then, so it is set again after every read. */
static void quick_ack(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

int vpcd_connect(struct vpcd *v)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	vpcd_close(v);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(v->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* A loopback connect completes or fails at once. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	quick_ack(fd);
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		close(fd);
		return -1;
	}
	v->fd = fd;
	return 0;
}

/* Reads into dst up to want bytes; returns bytes read, 0 when nothing is
 * available now, -1 on EOF or error. */
static ssize_t read_some(int fd, uint8_t *dst, size_t want)
{
	ssize_t n;

	do
		n = read(fd, dst, want);
	while (n < 0 && errno == EINTR);
	quick_ack(fd);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0)
		return -1;
	return n;
}

int vpcd_read(struct vpcd *v, const uint8_t **msg, size_t *len)
{
	struct reader r;
	uint16_t n16;
	ssize_t n;

	if (v->fd < 0)
		return -1;
	if (v->hdr_got < sizeof(v->hdr)) {
		n = read_some(v->fd, v->hdr + v->hdr_got,
			      sizeof(v->hdr) - v->hdr_got);
		if (n < 0)
			return -1;
		v->hdr_got += (size_t)n;
		if (v->hdr_got < sizeof(v->hdr))
			return 0;
		r = reader_init(v->hdr, sizeof(v->hdr));
		if (reader_get_u16be(&r, &n16))
			return -1;
		v->need = n16;
		v->got = 0;
	}
	if (v->got < v->need) {
		n = read_some(v->fd, v->body + v->got, v->need - v->got);
		if (n < 0)
			return -1;
		v->got += (size_t)n;
		if (v->got < v->need)
			return 0;
	}
	*msg = v->body;
	*len = v->need;
	v->hdr_got = 0;
	return 1;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	ssize_t w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* The socket buffer is full: wait for room. */
			if (poll(&pfd, 1, 5000) <= 0)
				return -1;
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int vpcd_send(struct vpcd *v, const uint8_t *p, size_t n)
{
	uint8_t *frame;
	int rc;

	if (v->fd < 0 || n > VPCD_MSG_MAX)
		return -1;
	frame = malloc(n + 2);
	if (!frame)
		return -1;
	frame[0] = (uint8_t)(n >> 8);
	frame[1] = (uint8_t)n;
	memcpy(frame + 2, p, n);
	rc = write_all(v->fd, frame, n + 2);
	explicit_bzero(frame, n + 2);
	free(frame);
	return rc;
}
