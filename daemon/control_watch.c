/* tokenctl watch and trace: the lines any thread posts, queued per
 * subscriber under one lock, and handed to the subscribers' control
 * connections on the loop thread (an eventfd wakes it). A subscriber's
 * queue is bounded: past it lines are dropped and counted, and the count
 * goes out as a line of its own once there is room again. Nothing here
 * waits for a subscriber. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "control_fmt.h"
#include "control_watch.h"
#include "rpc_server.h"

struct ctl_sub {
	bool trace; /* else watch */
	bool json;
	char export[128]; /* trace: this export's connections, or */
	uint64_t conn;    /* this connection */
	char *q[CONTROL_SUB_QUEUE];
	size_t qhead, qlen;
	size_t qbytes; /* held by the queued lines */
	unsigned long dropped;
	struct ctl_sub *next;
};

static pthread_mutex_t hub_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctl_sub *hub_subs;
static int hub_efd = -1;
static bool hub_kicked; /* the eventfd was written and not drained */
static atomic_uint hub_nwatch;

/* ---- subscribers (loop thread) ---- */

int control_sub_new(bool trace, bool json, const char *export, uint64_t conn,
		    struct ctl_sub **out)
{
	struct ctl_sub *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return -1;
	s->trace = trace;
	s->json = json;
	s->conn = conn;
	if (export)
		snprintf(s->export, sizeof(s->export), "%s", export);
	pthread_mutex_lock(&hub_lock);
	s->next = hub_subs;
	hub_subs = s;
	pthread_mutex_unlock(&hub_lock);
	if (trace)
		atomic_fetch_add(&rpc_server_tracing, 1);
	else
		atomic_fetch_add(&hub_nwatch, 1);
	*out = s;
	return 0;
}

void control_sub_free(struct ctl_sub **p)
{
	struct ctl_sub *s = *p;

	if (!s)
		return;
	pthread_mutex_lock(&hub_lock);
	for (struct ctl_sub **pp = &hub_subs; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	pthread_mutex_unlock(&hub_lock);
	if (s->trace)
		atomic_fetch_sub(&rpc_server_tracing, 1);
	else
		atomic_fetch_sub(&hub_nwatch, 1);
	for (size_t i = 0; i < s->qlen; i++)
		free(s->q[(s->qhead + i) % CONTROL_SUB_QUEUE]);
	free(s);
	*p = NULL;
}

static void sub_dropped_line(const struct ctl_sub *s, struct buf *out)
{
	if (s->json)
		control_printf(out, "{\"event\":\"dropped\",\"count\":%lu}\n",
			       s->dropped);
	else
		control_printf(out,
			       "%lu events dropped (the reader was too "
			       "slow)\n",
			       s->dropped);
}

bool control_sub_take(struct ctl_sub *s, struct buf *out, size_t sent)
{
	bool moved = false;

	pthread_mutex_lock(&hub_lock);
	while (out->len - sent < CONTROL_SUB_BACKLOG) {
		size_t before = out->len;

		if (s->qlen) {
			char *line = s->q[s->qhead];

			size_t len = strlen(line);

			buf_add(out, line, len);
			s->qbytes -= len;
			free(line);
			s->qhead = (s->qhead + 1) % CONTROL_SUB_QUEUE;
			s->qlen--;
		} else if (s->dropped) {
			/* After the lines queued before the drops. */
			sub_dropped_line(s, out);
			s->dropped = 0;
		} else {
			break;
		}
		moved = moved || out->len > before;
	}
	pthread_mutex_unlock(&hub_lock);
	return moved;
}

int control_hub_open(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	pthread_mutex_lock(&hub_lock);
	hub_efd = fd;
	hub_kicked = false;
	pthread_mutex_unlock(&hub_lock);
	return fd;
}

void control_hub_close(int fd)
{
	pthread_mutex_lock(&hub_lock);
	if (hub_efd == fd)
		hub_efd = -1;
	pthread_mutex_unlock(&hub_lock);
	if (fd >= 0)
		close(fd);
}

void control_hub_drain(int fd)
{
	uint64_t v;

	pthread_mutex_lock(&hub_lock);
	hub_kicked = false;
	pthread_mutex_unlock(&hub_lock);
	while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

/* ---- posting (any thread) ---- */

/* Under hub_lock: queues a copy of line on s. */
static void sub_push(struct ctl_sub *s, const char *line, size_t len)
{
	char *copy;

	if (s->qlen == CONTROL_SUB_QUEUE ||
	    s->qbytes + len > CONTROL_SUB_QUEUE_BYTES ||
	    !(copy = malloc(len + 1))) {
		s->dropped++;
		return;
	}
	memcpy(copy, line, len);
	copy[len] = '\0';
	s->q[(s->qhead + s->qlen) % CONTROL_SUB_QUEUE] = copy;
	s->qlen++;
	s->qbytes += len;
}

/* Under hub_lock: wakes the loop once per batch. */
static void hub_kick(void)
{
	uint64_t one = 1;

	if (hub_kicked || hub_efd < 0)
		return;
	hub_kicked = write(hub_efd, &one, sizeof(one)) == sizeof(one);
}

static void clock_now(char *s, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	snprintf(s, len, "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min,
		 tm.tm_sec, ts.tv_nsec / 1000000);
}

/* A value in text: bare when it is one word of printable ASCII, else in
 * single quotes with such bytes escaped. */
static void text_value(struct buf *b, const char *v)
{
	bool bare = v[0] != '\0';

	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p <= 0x20 || *p > 0x7e || *p == '\'' || *p == '\\')
			bare = false;
	if (bare) {
		buf_add(b, v, strlen(v)); /* control_printf would cut it */
		return;
	}
	buf_add_u8(b, '\'');
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p > 0x7e || *p == '\'' || *p == '\\')
			control_printf(b, "\\x%02x", *p);
		else
			buf_add_u8(b, *p);
	buf_add_u8(b, '\'');
}

void control_event_token(bool arrived, const char *reader, unsigned long slot,
			 const char *serial, const char *what)
{
	char sl[24];
	struct control_field f[] = {
		{ "slot", sl, true },
		{ "reader", reader, false },
		{ "serial", serial && serial[0] ? serial : NULL, false },
		{ "token", what, false },
	};

	snprintf(sl, sizeof(sl), "%lu", slot);
	control_event(arrived ? "token-arrived" : "token-left", f,
		      sizeof(f) / sizeof(f[0]));
}

void control_event(const char *event, const struct control_field *f, size_t n)
{
	char when[32];
	struct buf text, json;

	if (atomic_load_explicit(&hub_nwatch, memory_order_relaxed) == 0)
		return;
	clock_now(when, sizeof(when));
	buf_init(&text, 0);
	buf_init(&json, 0);
	control_printf(&text, "%s  %-14s", when, event);
	control_printf(&json, "{\"time\":\"%s\",\"event\":\"%s\"", when, event);
	for (size_t i = 0; i < n; i++) {
		if (!f[i].value)
			continue;
		control_printf(&text, " %s ", f[i].name);
		text_value(&text, f[i].value);
		control_printf(&json, ",\"%s\":", f[i].name);
		if (f[i].number)
			control_printf(&json, "%s", f[i].value);
		else
			control_json_str(&json, f[i].value);
	}
	buf_add(&text, "\n", 1);
	buf_add(&json, "}\n", 2);
	pthread_mutex_lock(&hub_lock);
	for (struct ctl_sub *s = hub_subs; s; s = s->next) {
		const struct buf *b = s->json ? &json : &text;

		if (s->trace)
			continue;
		if (buf_failed(b))
			s->dropped++;
		else
			sub_push(s, (const char *)b->data, b->len);
	}
	hub_kick();
	pthread_mutex_unlock(&hub_lock);
	buf_free(&text);
	buf_free(&json);
}

bool control_tracing(const char *export, uint64_t conn)
{
	bool any = false;

	pthread_mutex_lock(&hub_lock);
	for (struct ctl_sub *s = hub_subs; s && !any; s = s->next)
		any = s->trace && (s->conn ? s->conn == conn
					   : strcmp(s->export, export) == 0);
	pthread_mutex_unlock(&hub_lock);
	return any;
}

void control_trace(const char *export, uint64_t conn,
		   void (*format)(struct buf *b, bool json, void *ctx),
		   void *ctx)
{
	struct buf text, json;
	bool want[2] = { false, false };

	pthread_mutex_lock(&hub_lock);
	for (struct ctl_sub *s = hub_subs; s; s = s->next)
		if (s->trace && (s->conn ? s->conn == conn
					 : strcmp(s->export, export) == 0))
			want[s->json] = true;
	pthread_mutex_unlock(&hub_lock);
	if (!want[0] && !want[1])
		return;
	/* Formatted outside the lock: a template can be long. */
	buf_init(&text, 0);
	buf_init(&json, 0);
	if (want[0])
		format(&text, false, ctx);
	if (want[1])
		format(&json, true, ctx);
	pthread_mutex_lock(&hub_lock);
	for (struct ctl_sub *s = hub_subs; s; s = s->next) {
		const struct buf *b = s->json ? &json : &text;

		if (!s->trace || (s->conn ? s->conn != conn
					  : strcmp(s->export, export) != 0))
			continue;
		if (buf_failed(b))
			s->dropped++;
		else if (b->len > 0) /* else it came after the formatting */
			sub_push(s, (const char *)b->data, b->len);
	}
	hub_kick();
	pthread_mutex_unlock(&hub_lock);
	buf_free(&text);
	buf_free(&json);
}
