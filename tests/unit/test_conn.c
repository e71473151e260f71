/* daemon/conn*.c with a fake owner (conn.h's conn_owner) instead of an
 * export, on a real event loop and a socketpair: a connection is listed
 * on its owner and reported to watchers (conn-opened), answers the
 * handshake, and when its client goes or misses the handshake deadline it
 * is taken off its owner and reported closed; plus the watch and trace
 * queues (control_watch.c): bounded, with a dropped count, and tracers
 * matched by export or connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "config.h"
#include "conn.h"
#include "control_watch.h"
#include "loop.h"
#include "peer.h"
#include "rpc_frame.h"
#include "rpc_server.h"

struct owner {
	int added, removed;
	struct conn *last;
};

static void owner_add(struct export *ex, struct conn *c)
{
	struct owner *o = (struct owner *)ex;

	o->added++;
	o->last = c;
}

static void owner_remove(struct export *ex, struct conn *c)
{
	struct owner *o = (struct owner *)ex;

	assert_ptr_equal(c, o->last);
	o->removed++;
}

struct fixture {
	struct loop *loop;
	struct config *cfg;
	struct owner owner;
	struct ctl_sub *watch;
	int fds[2];
};

/* A config with one export "t", for its export_conf and limits. */
static struct config *load_conf(unsigned hs_timeout)
{
	char path[] = "/tmp/test_conn_XXXXXX", err[256];
	struct config *cfg = NULL;
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fprintf(f,
		"[tokend]\nhandshake-timeout = %u\n\n[export t]\n"
		"socket = /tmp/test_conn.sock\n",
		hs_timeout);
	fclose(f);
	if (config_load(path, true, &cfg, err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
	unlink(path);
	return cfg;
}

static void quit_cb(struct loop *loop, void *ctx)
{
	(void)ctx;
	loop_quit(loop, 0);
}

/* Runs the loop for ms milliseconds. */
static void spin(struct fixture *fx, unsigned ms)
{
	struct loop_timer *t;

	assert_int_equal(loop_timer_add(fx->loop, ms, quit_cb, NULL, &t), 0);
	loop_run(fx->loop);
}

static void start(struct fixture *fx, unsigned hs_timeout)
{
	struct peer peer;
	struct conn_owner o;

	memset(fx, 0, sizeof(*fx));
	assert_int_equal(loop_new(&fx->loop), 0);
	fx->cfg = load_conf(hs_timeout);
	assert_int_equal(control_sub_new(false, false, NULL, 0, &fx->watch), 0);
	assert_int_equal(socketpair(AF_UNIX,
				    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
				    0, fx->fds),
			 0);
	assert_int_equal(peer_from_socket(fx->fds[0], &peer), 0);
	o = (struct conn_owner){
		.export = (struct export *)&fx->owner,
		.loop = fx->loop,
		.conf = fx->cfg->exports[0],
		.limits = &fx->cfg->limits,
		.add = owner_add,
		.remove = owner_remove,
	};
	assert_int_equal(conn_start(&o, fx->fds[0], &peer), 0);
	peer_clear(&peer);
}

static void stop(struct fixture *fx)
{
	if (fx->fds[1] >= 0)
		close(fx->fds[1]);
	control_sub_free(&fx->watch);
	config_free(&fx->cfg);
	loop_free(&fx->loop);
}

/* What the watcher got so far, as a string to free. */
static char *watched(struct fixture *fx)
{
	struct buf b;
	char *s;

	buf_init(&b, 0);
	control_sub_take(fx->watch, &b, 0);
	s = strndup((const char *)b.data, b.len);
	buf_free(&b);
	return s;
}

static void test_listed_answered_closed(void **state)
{
	struct fixture fx;
	uint8_t v = 1, answer = 0xff;
	char *w, want[64];

	(void)state;
	start(&fx, 10);
	assert_int_equal(fx.owner.added, 1);
	assert_int_equal(fx.owner.removed, 0);
	w = watched(&fx);
	snprintf(want, sizeof(want), "conn-opened    export t conn %llu uid %u",
		 (unsigned long long)fx.owner.last->id, (unsigned)getuid());
	assert_non_null(strstr(w, want));
	free(w);
	/* The handshake: our version byte back. */
	assert_int_equal(write(fx.fds[1], &v, 1), 1);
	spin(&fx, 50);
	assert_int_equal(read(fx.fds[1], &answer, 1), 1);
	assert_int_equal(answer, rpc_handshake_answer(1));
	assert_int_equal(fx.owner.removed, 0);
	/* The client goes: taken off its owner, reported. */
	close(fx.fds[1]);
	fx.fds[1] = -1;
	spin(&fx, 50);
	assert_int_equal(fx.owner.removed, 1);
	w = watched(&fx);
	assert_non_null(strstr(w, "conn-closed    export t conn"));
	free(w);
	stop(&fx);
}

static void test_handshake_deadline(void **state)
{
	struct fixture fx;
	char *w;

	(void)state;
	start(&fx, 1);
	spin(&fx, 300);
	assert_int_equal(fx.owner.removed, 0); /* not yet */
	spin(&fx, 1000);
	assert_int_equal(fx.owner.removed, 1);
	w = watched(&fx);
	assert_non_null(strstr(w, "conn-closed"));
	free(w);
	stop(&fx);
}

/* A watcher that does not read: CONTROL_SUB_QUEUE lines kept, the rest
 * counted, and the count follows the kept lines. */
static void test_watch_queue_bounded(void **state)
{
	const struct control_field f[] = { { "n", "1", true } };
	struct ctl_sub *s, *js;
	struct buf b;
	size_t lines = 0;
	const char *last;

	(void)state;
	assert_int_equal(control_sub_new(false, false, NULL, 0, &s), 0);
	assert_int_equal(control_sub_new(false, true, NULL, 0, &js), 0);
	for (int i = 0; i < CONTROL_SUB_QUEUE + 10; i++)
		control_event("test", f, 1);
	buf_init(&b, 0);
	while (control_sub_take(s, &b, b.len))
		;
	for (size_t i = 0; i < b.len; i++)
		lines += b.data[i] == '\n';
	assert_int_equal(lines, CONTROL_SUB_QUEUE + 1);
	buf_add_u8(&b, 0);
	last = strstr((const char *)b.data, "10 events dropped");
	assert_non_null(last);
	assert_string_equal(last, "10 events dropped (the reader was too "
				  "slow)\n");
	buf_reset(&b);
	control_sub_take(js, &b, 0);
	buf_add_u8(&b, 0);
	assert_non_null(
	    strstr((const char *)b.data, "\"event\":\"test\",\"n\":1}\n"));
	/* Nothing is queued for nobody: the watcher that left is gone. */
	control_sub_free(&s);
	control_sub_free(&js);
	assert_null(s);
	buf_free(&b);
}

/* Long lines: the queue's bytes are bounded too. */
static void test_watch_queue_bytes(void **state)
{
	static char big[4000];
	const struct control_field f[] = { { "v", big, false } };
	struct ctl_sub *s;
	struct buf b;
	size_t lines = 0;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	assert_int_equal(control_sub_new(false, false, NULL, 0, &s), 0);
	for (int i = 0; i < 600; i++)
		control_event("test", f, 1);
	buf_init(&b, 0);
	while (control_sub_take(s, &b, b.len))
		;
	for (size_t i = 0; i < b.len; i++)
		lines += b.data[i] == '\n';
	/* 1 MiB of ~4 KiB lines, then the count of the others. */
	assert_true(lines > 200 && lines < 300);
	assert_true(b.len < CONTROL_SUB_QUEUE_BYTES + 4096);
	buf_add_u8(&b, 0);
	assert_non_null(strstr((const char *)b.data, " events dropped"));
	buf_free(&b);
	control_sub_free(&s);
}

static void fmt_line(struct buf *b, bool json, void *ctx)
{
	buf_add(b, json ? "{}\n" : "line\n", json ? 3 : 5);
	(*(int *)ctx)++;
}

static void test_tracers_matched(void **state)
{
	struct ctl_sub *ex, *one;
	struct buf b;
	int formatted = 0;

	(void)state;
	assert_false(control_tracing("t", 5));
	assert_int_equal(rpc_server_tracing, 0);
	control_trace("t", 5, fmt_line, &formatted);
	assert_int_equal(formatted, 0); /* nobody traces: not even formatted */
	assert_int_equal(control_sub_new(true, false, "t", 0, &ex), 0);
	assert_int_equal(control_sub_new(true, true, "", 7, &one), 0);
	assert_int_equal(rpc_server_tracing, 2);
	assert_true(control_tracing("t", 5));
	assert_true(control_tracing("u", 7));
	assert_false(control_tracing("u", 5));
	control_trace("t", 5, fmt_line, &formatted);
	control_trace("u", 7, fmt_line, &formatted);
	control_trace("u", 8, fmt_line, &formatted);
	assert_int_equal(formatted, 2);
	buf_init(&b, 0);
	control_sub_take(ex, &b, 0);
	assert_int_equal(b.len, 5);
	buf_reset(&b);
	control_sub_take(one, &b, 0);
	assert_int_equal(b.len, 3);
	buf_free(&b);
	control_sub_free(&ex);
	control_sub_free(&one);
	assert_int_equal(rpc_server_tracing, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listed_answered_closed),
		cmocka_unit_test(test_handshake_deadline),
		cmocka_unit_test(test_watch_queue_bounded),
		cmocka_unit_test(test_watch_queue_bytes),
		cmocka_unit_test(test_tracers_matched),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
