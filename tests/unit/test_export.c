/* daemon/export.c without a client: a peer's credentials over a
 * socketpair, the listening socket made as configured (mode, stale file,
 * missing directories) and removed at close, a reload's new mode, and the
 * pin-file PIN handed out, refused once the card rejected it, and brought
 * back by a reload. (The policy functions: tests/daemon/test_daemon_policy.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "error.h"
#include "export.h"
#include "loop.h"

static char tmpdir[] = "/tmp/tokend-export.XXXXXX";

static struct config *load(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static struct config *load(const char *fmt, ...)
{
	char path[300], text[1024], err[512];
	struct config *cfg = NULL;
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/t.conf", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	if (config_load(path, true, &cfg, err, sizeof(err)) != 0)
		fail_msg("config_load: %s", err);
	return cfg;
}

static void test_peer_from_socketpair(void **state)
{
	struct peer p = { 0 }, q = { 0 };
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(peer_from_socket(sv[0], &p), 0);
	assert_int_equal(p.uid, geteuid());
	assert_int_equal(p.gid, getegid());
	assert_int_equal(p.pid, getpid());
	assert_int_equal(peer_copy(&p, &q), 0);
	assert_int_equal(q.ngroups, p.ngroups);
	if (p.ngroups)
		assert_memory_equal(q.groups, p.groups,
				    p.ngroups * sizeof(*p.groups));
	peer_clear(&p);
	peer_clear(&q);
	assert_int_equal(p.ngroups, 0);
	assert_null(p.groups);
	close(sv[0]);
	close(sv[1]);
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	return st.st_mode & 07777;
}

static void test_socket_made_as_configured(void **state)
{
	char dir[60], sock[80];
	struct config *cfg, *cfg2;
	struct loop *loop = NULL;
	struct export *ex = NULL;
	struct stat st;
	int fd;

	(void)state;
	snprintf(dir, sizeof(dir), "%.40s/a/b", tmpdir);
	snprintf(sock, sizeof(sock), "%s/s", dir);
	cfg = load("[export e]\nsocket = %s\nmode = 0640\n", sock);
	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(
	    export_open(loop, cfg->exports[0], &cfg->limits, -1, &ex), 0);
	assert_int_equal(mode_of(sock), 0640);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);

	/* A reload with another mode applies it to the same socket. */
	cfg2 = load("[export e]\nsocket = %s\nmode = 0600\n", sock);
	assert_int_equal(export_update(ex, cfg2->exports[0], &cfg2->limits), 0);
	assert_int_equal(mode_of(sock), 0600);
	export_close(&ex);
	assert_null(ex);
	assert_int_equal(access(sock, F_OK), -1);

	/* A stale socket file (no one listening) is replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	{
		struct sockaddr_un sun = { .sun_family = AF_UNIX };

		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
		assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)),
				 0);
	}
	close(fd);
	assert_int_equal(
	    export_open(loop, cfg->exports[0], &cfg->limits, -1, &ex), 0);
	assert_int_equal(mode_of(sock), 0640);
	export_close(&ex);
	loop_free(&loop);
	config_free(&cfg);
	config_free(&cfg2);
}

static void test_pin_handed_out(void **state)
{
	char pinpath[300], sock[300];
	uint8_t pin[64];
	size_t len;
	struct config *with, *without, *again;
	struct loop *loop = NULL;
	struct export *ex = NULL;
	FILE *f;

	(void)state;
	snprintf(pinpath, sizeof(pinpath), "%s/pin", tmpdir);
	snprintf(sock, sizeof(sock), "%s/p", tmpdir);
	f = fopen(pinpath, "w");
	assert_non_null(f);
	fputs("246810\n", f);
	fclose(f);
	chmod(pinpath, 0600);
	with = load("[export e]\nsocket = %s\npin-file = %s\n", sock, pinpath);
	without = load("[export e]\nsocket = %s\n", sock);
	again = load("[export e]\nsocket = %s\npin-file = %s\n", sock, pinpath);
	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(
	    export_open(loop, without->exports[0], &without->limits, -1, &ex),
	    0);
	len = sizeof(pin);
	assert_int_equal(export_pin_get(ex, pin, &len), TK_ERR_NOT_FOUND);

	assert_int_equal(export_update(ex, with->exports[0], &with->limits), 0);
	len = 5;
	assert_int_equal(export_pin_get(ex, pin, &len), TK_ERR_TOO_LARGE);
	len = sizeof(pin);
	assert_int_equal(export_pin_get(ex, pin, &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(pin, "246810", 6);

	/* The card said PIN incorrect: no more tries with it... */
	export_pin_rejected(ex);
	len = sizeof(pin);
	assert_int_equal(export_pin_get(ex, pin, &len), TK_ERR_PIN_INCORRECT);
	/* ...until a reload brings a (re-read) pin-file. */
	assert_int_equal(export_update(ex, again->exports[0], &again->limits),
			 0);
	len = sizeof(pin);
	assert_int_equal(export_pin_get(ex, pin, &len), 0);
	export_close(&ex);
	loop_free(&loop);
	config_free(&with);
	config_free(&without);
	config_free(&again);
	unlink(pinpath);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peer_from_socketpair),
		cmocka_unit_test(test_socket_made_as_configured),
		cmocka_unit_test(test_pin_handed_out),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
