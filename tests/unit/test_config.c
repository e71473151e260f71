/* daemon/config.c and config_value.c: the defaults a user reads in the
 * README and tokend.conf.example, every error naming FILE:LINE, bad values
 * refused, and the single-value parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "config_value.h"
#include "error.h"

static char tmpdir[] = "/tmp/tokend-config.XXXXXX";
static char conf_path[256];
static char err[1024];

/* Writes text to the test file and loads it; returns config_load's code. */
static int load(const char *text, struct config **cfg)
{
	FILE *f = fopen(conf_path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return config_load(conf_path, true, cfg, err, sizeof(err));
}

/* text must be refused with "FILE:LINE: ...what...". */
static void refused(const char *text, unsigned line, const char *what)
{
	struct config *cfg = NULL;
	char want[300];

	assert_int_equal(load(text, &cfg), TK_ERR_INVALID);
	assert_null(cfg);
	snprintf(want, sizeof(want), "%s:%u: ", conf_path, line);
	if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, what))
		fail_msg("wanted '%s...%s', got '%s'", want, what, err);
}

static void test_defaults_as_documented(void **state)
{
	struct config *cfg = NULL;
	const struct export_conf *ec;

	(void)state;
	/* README: read-only by default, pin-tries-reserved 1,
	 * max-connections-per-peer 32, max-workers 64, handshake-timeout 10;
	 * the header: max-connections-per-export 128, 64 sessions, 1 MiB
	 * messages, 256 attributes. A file that sets none of them. */
	assert_int_equal(load("[export a]\nsocket = /run/t/a\n", &cfg), 0);
	assert_int_equal(cfg->limits.pin_tries_reserved, 1);
	assert_int_equal(cfg->limits.max_connections_per_peer, 32);
	assert_int_equal(cfg->limits.max_workers, 64);
	assert_int_equal(cfg->limits.handshake_timeout, 10);
	assert_int_equal(cfg->limits.max_connections_per_export, 128);
	assert_int_equal(cfg->limits.max_sessions_per_connection, 64);
	assert_int_equal(cfg->limits.max_message_size, 1024 * 1024);
	assert_int_equal(cfg->limits.max_attributes, 256);
	assert_string_equal(cfg->state_dir, CONFIG_DEFAULT_STATE_DIR);
	ec = cfg->exports[0];
	assert_int_equal(ec->access, EXPORT_ACCESS_READ_ONLY);
	assert_int_equal(ec->mode, 0660);
	assert_int_equal(ec->owner, geteuid());
	assert_int_equal(ec->n_allow_uids + ec->n_allow_gids, 0);
	assert_int_equal(ec->n_tokens + ec->n_objects, 0);
	assert_null(ec->pin_file);
	assert_int_equal(ec->line, 1);
	config_free(&cfg);
	assert_null(cfg);
}

/* The shipped example spells out the defaults: loading it gives what no
 * file gives. */
static void test_example_matches_builtin(void **state)
{
	struct config *ex = NULL, *def = NULL;

	(void)state;
	assert_int_equal(
	    config_load(TOKEND_CONF_EXAMPLE, true, &ex, err, sizeof(err)), 0);
	assert_int_equal(config_default(&def), 0);
	assert_memory_equal(&ex->limits, &def->limits, sizeof(ex->limits));
	assert_string_equal(ex->state_dir, def->state_dir);
	assert_int_equal(ex->log_level, def->log_level);
	assert_string_equal(ex->exports[0]->name, "default");
	assert_true(export_conf_equal(ex->exports[0], def->exports[0]));
	/* The drivers too: PIV on every reader, no module. */
	assert_true(ex->drivers->piv.enabled && def->drivers->piv.enabled);
	assert_int_equal(ex->drivers->piv.nreaders + ex->drivers->nmodules +
			     def->drivers->piv.nreaders +
			     def->drivers->nmodules,
			 0);
	config_free(&ex);
	config_free(&def);
}

static void test_values_set(void **state)
{
	struct config *cfg = NULL;
	const struct export_conf *ec;

	(void)state;
	assert_int_equal(load("[tokend]\n"
			      "max-message-size = 64K\n"
			      "max-workers = 4\n"
			      "pin-tries-reserved = 0\n"
			      "handshake-timeout = 3600\n"
			      "[export a]\n"
			      "socket = /run/t/a\n"
			      "mode = 0600\n"
			      "owner = 0\n"
			      "group = 0\n"
			      "allow-users = 1000, 1001\n"
			      "  1002\n"
			      "allow-groups = 50\n"
			      "access = admin\n",
			      &cfg),
			 0);
	assert_int_equal(cfg->limits.max_message_size, 64 * 1024);
	assert_int_equal(cfg->limits.max_workers, 4);
	assert_int_equal(cfg->limits.pin_tries_reserved, 0);
	assert_int_equal(cfg->limits.handshake_timeout, 3600);
	ec = cfg->exports[0];
	assert_int_equal(ec->mode, 0600);
	assert_int_equal(ec->n_allow_uids, 3);
	assert_int_equal(ec->allow_uids[2], 1002);
	assert_int_equal(ec->n_allow_gids, 1);
	assert_int_equal(ec->access, EXPORT_ACCESS_ADMIN);
	assert_ptr_equal(config_find_export(cfg, "/run/t/a"), ec);
	assert_null(config_find_export(cfg, "/run/t/b"));
	config_free(&cfg);
}

static void test_errors_name_the_line(void **state)
{
	(void)state;
	refused("[export a]\nsocket = /run/t/a\n\nbogus = 1\n", 4,
		"unknown key 'bogus' in [export a]");
	refused("# c\n[export a]\nsocket = /run/t/a\naccess = write\n", 4,
		"bad access 'write'");
	refused("[export a]\nsocket = run/a\n", 2,
		"socket path must be absolute");
	refused("[export a]\nsocket = /run/t/a\nmode = 0800\n", 3, "mode");
	refused("[export a]\nsocket = /run/t/a\nmode = 1777\n", 3, "mode");
	refused("[export a]\nsocket = /run/t/a\nsocket = /run/t/b\n", 3,
		"duplicate key 'socket'");
	refused("[export a]\nsocket = /run/t/a\n[export a]\nsocket = /x\n", 3,
		"duplicate section [export a] (first at line 1)");
	refused("[export a]\nsocket = /run/t/a\n[export b]\n"
		"socket = /run/t/a\n",
		4, "/run/t/a");
	refused("[export a b]\nsocket = /run/t/a\n", 1, "bad export name");
	refused("[exports]\nsocket = /run/t/a\n", 1, "unknown section");
	/* Found only at the end of the file, still at the section's line. */
	refused("[tokend]\nmax-workers = 2\n\n[export a]\nmode = 0600\n", 4,
		"[export a] has no 'socket' key");
	refused("[export a]\nsocket = /run/t/a\nthis is not ini\n", 3,
		"syntax error");
	refused("[export a]\nsocket = /run/t/a\npin-file = /nonexistent/pin\n",
		3, "pin-file /nonexistent/pin");
	refused("[export a]\nsocket = /run/t/a\ntokens = notauri\n", 3,
		"notauri");
}

/* prefer: URIs kept in the order written (it is the preference), over
 * continuation lines too; a bad URI names its line; tokens beside it is an
 * error at whichever of the two comes second; a reload with the order
 * changed is a changed export. */
static void test_prefer(void **state)
{
	struct config *cfg = NULL, *cfg2 = NULL;
	const struct export_conf *ec;

	(void)state;
	assert_int_equal(load("[export gw]\nsocket = /run/t/gw\n"
			      "prefer = pkcs11:model=YubiKey%20YK5\n"
			      "  pkcs11:token=gateway;manufacturer=SoftHSM\n",
			      &cfg),
			 0);
	ec = cfg->exports[0];
	assert_int_equal(ec->n_prefer, 2);
	assert_int_equal(ec->n_tokens, 0);
	assert_string_equal(ec->prefer_strs[0], "pkcs11:model=YubiKey%20YK5");
	assert_string_equal(ec->prefer_strs[1],
			    "pkcs11:token=gateway;manufacturer=SoftHSM");
	assert_int_equal(load("[export gw]\nsocket = /run/t/gw\n"
			      "prefer = pkcs11:token=gateway;manufacturer="
			      "SoftHSM pkcs11:model=YubiKey%20YK5\n",
			      &cfg2),
			 0);
	assert_false(export_conf_equal(cfg->exports[0], cfg2->exports[0]));
	config_free(&cfg2);
	assert_int_equal(load("[export gw]\nsocket = /run/t/gw\n"
			      "prefer = pkcs11:model=YubiKey%20YK5\n"
			      "prefer = pkcs11:token=gateway;manufacturer="
			      "SoftHSM\n",
			      &cfg2),
			 0);
	assert_true(export_conf_equal(cfg->exports[0], cfg2->exports[0]));
	config_free(&cfg2);
	config_free(&cfg);

	refused("[export a]\nsocket = /run/t/a\n\nprefer = pkcs11:token=%zz\n",
		4, "bad PKCS#11 token URI 'pkcs11:token=%zz'");
	refused("[export a]\nsocket = /run/t/a\nprefer = notauri\n", 3,
		"notauri");
	refused("[export a]\nsocket = /run/t/a\ntokens = pkcs11:token=a\n"
		"prefer = pkcs11:token=b\n",
		4, "'prefer' and 'tokens' exclude each other");
	refused("[export a]\nsocket = /run/t/a\nprefer = pkcs11:token=b\n"
		"access = full\ntokens = pkcs11:token=a\n",
		5, "'tokens' in [export a]");
}

/* The driver sections in the daemon's file: parsed by drv_config.c in the
 * same pass, their errors at their lines like any other. */
static void test_driver_sections(void **state)
{
	struct config *cfg = NULL;

	(void)state;
	assert_int_equal(load("[piv]\nenabled = no\nreaders = A 00, B*\n"
			      "[export a]\nsocket = /run/t/a\n"
			      "[module soft]\npath = /usr/lib/soft.so\n"
			      "env = A=1\nenv = B=2\n",
			      &cfg),
			 0);
	assert_false(cfg->drivers->piv.enabled);
	assert_int_equal(cfg->drivers->piv.nreaders, 2);
	assert_string_equal(cfg->drivers->piv.readers[0], "A 00");
	assert_int_equal(cfg->drivers->nmodules, 1);
	assert_int_equal(cfg->drivers->modules[0].nenv, 2);
	assert_int_equal(cfg->n_exports, 1);
	config_free(&cfg);
	refused("[export a]\nsocket = /run/t/a\n[piv]\nbogus = 1\n", 4,
		"unknown key 'bogus' in [piv]");
	refused("[export a]\nsocket = /run/t/a\n[module x]\n"
		"timeout = 9\n",
		3, "[module x] has no 'path' key");
	refused("[module x]\npath = /x.so\n[export a]\nsocket = /run/t/a\n"
		"[module x]\npath = /y.so\n",
		5, "duplicate section [module x] (first at line 1)");
	refused("[export a]\nsocket = /run/t/a\n[modules x]\n", 3,
		"unknown section [modules x]");
}

static void test_bad_limits_refused(void **state)
{
	static const char *const bad[] = {
		"max-workers = 0",
		"max-workers = -1",
		"max-workers = many",
		"handshake-timeout = 0",
		"handshake-timeout = 3601",
		"pin-tries-reserved = 16",
		"max-message-size = 1G",
		"max-message-size = 99999999999999999999999M",
		"log-level = loud",
		"state-dir = relative/dir",
	};
	char text[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
			 "[tokend]\n%s\n[export a]\nsocket = /run/t/a\n",
			 bad[i]);
		refused(text, 2, "");
	}
}

static void test_no_export_and_missing_file(void **state)
{
	struct config *cfg = NULL;
	char want[300];

	(void)state;
	/* Not a line's fault: "FILE: reason". */
	assert_int_equal(load("[tokend]\nmax-workers = 2\n", &cfg),
			 TK_ERR_INVALID);
	snprintf(want, sizeof(want), "%s: no [export NAME] section", conf_path);
	assert_string_equal(err, want);
	unlink(conf_path);
	assert_int_equal(config_load(conf_path, true, &cfg, err, sizeof(err)),
			 TK_ERR_IO);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(config_load(conf_path, false, &cfg, err, sizeof(err)),
			 0);
	assert_string_equal(cfg->exports[0]->socket, CONFIG_DEFAULT_SOCKET);
	config_free(&cfg);
}

/* A shared export_conf outlives the config that loaded it. */
static void test_export_conf_refs(void **state)
{
	struct config *cfg = NULL;
	struct export_conf *ec;

	(void)state;
	assert_int_equal(load("[export a]\nsocket = /run/t/a\n", &cfg), 0);
	ec = export_conf_ref(cfg->exports[0]);
	config_free(&cfg);
	assert_string_equal(ec->socket, "/run/t/a");
	export_conf_unref(&ec);
	assert_null(ec);
}

static void test_value_parsers(void **state)
{
	mode_t m;
	size_t sz;
	uid_t u, *uids = NULL;
	gid_t g;
	size_t n = 0;
	char bad[32];

	(void)state;
	assert_int_equal(config_value_mode("0777", &m), 0);
	assert_int_equal(m, 0777);
	assert_int_equal(config_value_mode("640", &m), 0);
	assert_int_equal(m, 0640);
	assert_int_equal(config_value_mode("0778", &m), TK_ERR_INVALID);
	assert_int_equal(config_value_mode("01000", &m), TK_ERR_INVALID);
	assert_int_equal(config_value_mode("", &m), TK_ERR_INVALID);
	assert_int_equal(config_value_mode("rw", &m), TK_ERR_INVALID);

	assert_int_equal(config_value_size("2K", 1, 1 << 20, &sz), 0);
	assert_int_equal(sz, 2048);
	assert_int_equal(config_value_size("1M", 1, 1 << 20, &sz), 0);
	assert_int_equal(sz, 1 << 20);
	assert_int_not_equal(config_value_size("2M", 1, 1 << 20, &sz), 0);
	assert_int_not_equal(config_value_size("0", 1, 10, &sz), 0);
	assert_int_not_equal(config_value_size("5X", 1, 10, &sz), 0);
	assert_int_not_equal(config_value_size("", 1, 10, &sz), 0);
	assert_int_not_equal(
	    config_value_size("18446744073709551615K", 1, SIZE_MAX, &sz), 0);

	assert_int_equal(config_value_user("root", &u), 0);
	assert_int_equal(u, 0);
	assert_int_equal(config_value_user("4242", &u), 0);
	assert_int_equal(u, 4242);
	/* (uid_t)-1 is chown's "no change": never an id here. */
	assert_int_not_equal(config_value_user("4294967295", &u), 0);
	assert_int_equal(config_value_user("no-such-user-tokend", &u),
			 TK_ERR_NOT_FOUND);
	assert_int_equal(config_value_group("root", &g), 0);
	assert_int_equal(g, 0);

	/* Lists append; the offending item is named. */
	assert_int_equal(
	    config_value_uid_list("1, 2 3", &uids, &n, bad, sizeof(bad)), 0);
	assert_int_equal(
	    config_value_uid_list("4", &uids, &n, bad, sizeof(bad)), 0);
	assert_int_equal(n, 4);
	assert_int_equal(uids[3], 4);
	assert_int_not_equal(config_value_uid_list("5 no-such-user-tokend 6",
						   &uids, &n, bad, sizeof(bad)),
			     0);
	assert_string_equal(bad, "no-such-user-tokend");
	free(uids);
}

static int setup(void **state)
{
	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(conf_path, sizeof(conf_path), "%s/t.conf", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(conf_path);
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_as_documented),
		cmocka_unit_test(test_example_matches_builtin),
		cmocka_unit_test(test_values_set),
		cmocka_unit_test(test_errors_name_the_line),
		cmocka_unit_test(test_prefer),
		cmocka_unit_test(test_driver_sections),
		cmocka_unit_test(test_bad_limits_refused),
		cmocka_unit_test(test_no_export_and_missing_file),
		cmocka_unit_test(test_export_conf_refs),
		cmocka_unit_test(test_value_parsers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
