/* Drives tokend's connection layer (daemon/conn.c) with hostile patterns
 * over its socket and checks that every connection's descriptor and
 * threads are given back: open/close storms, connections closed with
 * blocking C_WaitForSlotEvent calls queued (read or not), partial frames,
 * and a flood of pipelined requests. After each pattern tokend's
 * /proc/PID/fd count must return to its baseline and its thread count to
 * at most the baseline plus the idle workers it keeps; the peak thread
 * count must stay within max-workers plus its fixed threads.
 *
 *   stress_conn SOCKET PID MAX_WORKERS
 *
 * Prints the figures; exits 1 when a check failed. No card needed. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define IDLE_WORKERS 8  /* main.c MAIN_WORKERS_IDLE */
#define FIXED_THREADS 4 /* main, slot watcher, PC/SC helpers */
#define SETTLE_S 20

static const char *sock_path;
static int tokend_pid;
static int fails;
static int peak_threads;

static void check(const char *what, bool ok)
{
	printf("%s: %s\n", ok ? "ok" : "FAIL", what);
	fflush(stdout);
	if (!ok)
		fails++;
}

static int count_dir(const char *sub)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", tokend_pid, sub);
	if ((dir = opendir(path)) == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL)
		if (d->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

static int threads_now(void)
{
	int n = count_dir("task");

	if (n > peak_threads)
		peak_threads = n;
	return n;
}

static int conn_open(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 10 };
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- building requests ---- */

struct msg {
	uint8_t b[512];
	size_t n;
};

static void put_u32(struct msg *m, uint32_t v)
{
	for (int i = 3; i >= 0; i--)
		m->b[m->n++] = (uint8_t)(v >> (8 * i));
}

static void put_u64(struct msg *m, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
		m->b[m->n++] = (uint8_t)(v >> (8 * i));
}

static void put_bytes(struct msg *m, const void *p, size_t n)
{
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void put_ay(struct msg *m, const void *p, size_t n)
{
	m->b[m->n++] = 1;
	put_u32(m, (uint32_t)n);
	put_bytes(m, p, n);
}

/* A frame: header (code, no options, data length) and body. */
static void frame(struct msg *out, uint32_t code, const struct msg *body)
{
	put_u32(out, code);
	put_u32(out, 0);
	put_u32(out, (uint32_t)body->n);
	put_bytes(out, body->b, body->n);
}

static void req_initialize(struct msg *out, uint32_t code)
{
	static const char hs[] = "PRIVATE-GNOME-KEYRING-PKCS11-PROTOCOL-V-1";
	struct msg b = { .n = 0 };

	put_u32(&b, 1);
	put_u32(&b, 5);
	put_bytes(&b, "ayyay", 5);
	put_ay(&b, hs, sizeof(hs) - 1);
	b.b[b.n++] = 0;
	put_ay(&b, "\0", 1);
	frame(out, code, &b);
}

static void req_wait(struct msg *out, uint32_t code, uint64_t flags)
{
	struct msg b = { .n = 0 };

	put_u32(&b, 65);
	put_u32(&b, 1);
	put_bytes(&b, "u", 1);
	put_u64(&b, flags);
	frame(out, code, &b);
}

static void req_getinfo(struct msg *out, uint32_t code)
{
	struct msg b = { .n = 0 };

	put_u32(&b, 3);
	put_u32(&b, 0);
	frame(out, code, &b);
}

static bool send_all(int fd, const void *p, size_t n)
{
	return send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n;
}

static bool recv_all(int fd, void *p, size_t n)
{
	size_t off = 0;
	ssize_t r;

	while (off < n) {
		r = recv(fd, (uint8_t *)p + off, n - off, 0);
		if (r <= 0)
			return false;
		off += (size_t)r;
	}
	return true;
}

/* Reads one reply frame; returns its call code or -1. */
static long read_reply(int fd)
{
	uint8_t h[12], buf[4096];
	uint32_t code, olen, dlen;

	if (!recv_all(fd, h, sizeof(h)))
		return -1;
	code = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
	       (uint32_t)h[2] << 8 | h[3];
	olen = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 |
	       (uint32_t)h[6] << 8 | h[7];
	dlen = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 |
	       (uint32_t)h[10] << 8 | h[11];
	if ((uint64_t)olen + dlen > sizeof(buf) ||
	    !recv_all(fd, buf, olen + dlen))
		return -1;
	return code;
}

/* Handshake and C_Initialize; returns the fd or -1. */
static int conn_ready(void)
{
	struct msg m = { .n = 0 };
	uint8_t v = 2;
	int fd = conn_open();

	if (fd < 0)
		return -1;
	req_initialize(&m, 0x10);
	if (!send_all(fd, &v, 1) || !recv_all(fd, &v, 1) ||
	    !send_all(fd, m.b, m.n) || read_reply(fd) != 0x10) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- the patterns ---- */

static void storm(void)
{
	uint8_t v = 2;
	int fd, ok = 0;

	for (int i = 0; i < 300; i++)
		if ((fd = conn_open()) >= 0) {
			close(fd);
			ok++;
		}
	for (int i = 0; i < 200; i++)
		if ((fd = conn_open()) >= 0) {
			ok += send_all(fd, &v, 1);
			close(fd);
		}
	check("open/close storm: 500 connections made", ok == 500);
}

static void queued_waits(void)
{
	enum { N = 64, WAITS = 8 };
	int fds[N], made = 0;
	struct msg m;

	/* Initialised, then blocking waits queued, then gone. */
	for (int i = 0; i < N; i++) {
		if ((fds[i] = conn_ready()) < 0)
			continue;
		m.n = 0;
		for (int w = 0; w < WAITS; w++)
			req_wait(&m, 0x100 + (uint32_t)w, 0);
		made += send_all(fds[i], m.b, m.n);
	}
	usleep(300000);
	threads_now();
	for (int i = 0; i < N; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	check("64 connections closed with 8 blocking waits each queued",
	      made == N);
	/* Everything in one write, closed at once without reading. */
	made = 0;
	for (int i = 0; i < N; i++) {
		uint8_t v = 2;
		int fd = conn_open();

		if (fd < 0)
			continue;
		m.n = 0;
		put_bytes(&m, &v, 1);
		req_initialize(&m, 0x10);
		for (int w = 0; w < WAITS; w++)
			req_wait(&m, 0x100 + (uint32_t)w, 0);
		made += send_all(fd, m.b, m.n);
		close(fd);
	}
	check("64 more closed right after sending init and waits", made == N);
}

static void partial_frames(void)
{
	int made = 0;

	for (int i = 0; i < 200; i++) {
		struct msg m = { .n = 0 };
		uint8_t v = 2;
		int fd = conn_open();

		if (fd < 0)
			continue;
		put_bytes(&m, &v, 1);
		if (i % 2 == 0) {
			put_u32(&m, 0x10); /* half a header */
			put_u32(&m, 0);
		} else {
			put_u32(&m, 0x10); /* a body cut short */
			put_u32(&m, 0);
			put_u32(&m, 1000);
			put_bytes(&m, "0123456789", 10);
		}
		made += send_all(fd, m.b, m.n);
		close(fd);
	}
	check("200 connections closed mid-frame", made == 200);
}

static void flood(void)
{
	enum { N = 200, REQS = 4 };
	int fds[N], ready = 0, answered = 0;
	struct msg m;

	for (int i = 0; i < N; i++) {
		if ((fds[i] = conn_ready()) < 0)
			continue;
		ready++;
		m.n = 0;
		for (int r = 0; r < REQS; r++)
			req_getinfo(&m, 0x200 + (uint32_t)r);
		send_all(fds[i], m.b, m.n);
	}
	threads_now();
	for (int i = 0; i < N; i++)
		for (int r = 0; r < REQS && fds[i] >= 0; r++)
			answered += read_reply(fds[i]) >= 0x200;
	threads_now();
	for (int i = 0; i < N; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	check("flood: 200 connections initialised", ready == N);
	check("flood: every pipelined request answered", answered == N * REQS);
}

/* Waits until the fd count is back to base_fd and threads within bound. */
static void settle(const char *after, int base_fd, int max_threads)
{
	char what[160];
	int fd = -1, th = -1;

	for (int i = 0; i < SETTLE_S * 10; i++) {
		fd = count_dir("fd");
		th = threads_now();
		if (fd <= base_fd && th <= max_threads)
			break;
		usleep(100000);
	}
	printf("after %s: %d fds (baseline %d), %d threads (at most %d)\n",
	       after, fd, base_fd, th, max_threads);
	snprintf(what, sizeof(what), "after %s: descriptors back to baseline",
		 after);
	check(what, fd <= base_fd);
	snprintf(what, sizeof(what), "after %s: threads back within bound",
		 after);
	check(what, th <= max_threads);
}

int main(int argc, char **argv)
{
	struct {
		const char *name;
		void (*fn)(void);
	} patterns[] = {
		{ "open/close storm", storm },
		{ "closes with queued waits", queued_waits },
		{ "partial frames", partial_frames },
		{ "request flood", flood },
	};
	int base_fd, base_th, max_workers, fd;

	if (argc != 4) {
		fprintf(stderr, "usage: stress_conn SOCKET PID MAX_WORKERS\n");
		return 2;
	}
	sock_path = argv[1];
	tokend_pid = atoi(argv[2]);
	max_workers = atoi(argv[3]);
	/* Warm up: one client served, with a blocking wait, so lazily made
	 * state exists (the slot watcher's long-lived PC/SC context is one
	 * descriptor for the life of the process, not one per client). */
	if ((fd = conn_ready()) < 0) {
		fprintf(stderr, "stress_conn: cannot reach tokend at %s\n",
			sock_path);
		return 1;
	}
	{
		struct msg m = { .n = 0 };

		req_wait(&m, 0x100, 0);
		send_all(fd, m.b, m.n);
		usleep(300000);
	}
	close(fd);
	usleep(500000);
	base_fd = count_dir("fd");
	base_th = threads_now();
	printf("baseline: %d fds, %d threads\n", base_fd, base_th);
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		patterns[i].fn();
		settle(patterns[i].name, base_fd, base_th + IDLE_WORKERS);
	}
	printf("peak threads %d (max-workers %d)\n", peak_threads, max_workers);
	check("peak threads within max-workers and the fixed ones",
	      peak_threads <= max_workers + FIXED_THREADS);
	return fails ? 1 : 0;
}
