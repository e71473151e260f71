/* drivers/drv_config.c: the driver sections as the module reads them
 * (drv_config_load): defaults, every key, bad values refused with
 * FILE:LINE, other sections skipped unread; and the reader globs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "drv_config.h"
#include "error.h"

static char tmpdir[] = "/tmp/tokend-drvconf.XXXXXX";
static char conf_path[256];
static char err[1024];

static int load(const char *text, struct drv_config **cfg)
{
	FILE *f = fopen(conf_path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return drv_config_load(conf_path, cfg, err, sizeof(err));
}

/* text must be refused with "FILE:LINE: ...what...". */
static void refused(const char *text, unsigned line, const char *what)
{
	struct drv_config *cfg = NULL;
	char want[300];

	assert_int_equal(load(text, &cfg), TK_ERR_INVALID);
	assert_null(cfg);
	snprintf(want, sizeof(want), "%s:%u: ", conf_path, line);
	if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, what))
		fail_msg("wanted '%s...%s', got '%s'", want, what, err);
}

static void test_defaults(void **state)
{
	struct drv_config *cfg = NULL;
	char absent[300];

	(void)state;
	/* No file: PIV on every reader, no module. */
	snprintf(absent, sizeof(absent), "%s/absent.conf", tmpdir);
	assert_int_equal(drv_config_load(absent, &cfg, err, sizeof(err)), 0);
	assert_true(cfg->piv.enabled);
	assert_int_equal(cfg->piv.nreaders + cfg->nmodules, 0);
	drv_config_free(&cfg);
	assert_null(cfg);
	/* A file without driver sections: the same. */
	assert_int_equal(load("[tokend]\nlog-level = debug\n", &cfg), 0);
	assert_true(cfg->piv.enabled);
	assert_int_equal(cfg->piv.nreaders + cfg->nmodules, 0);
	drv_config_free(&cfg);
}

static void test_every_key(void **state)
{
	struct drv_config *cfg = NULL;
	const struct drv_module_cfg *m;

	(void)state;
	assert_int_equal(
	    load("[piv]\n"
		 "enabled = no\n"
		 "readers = Virtual PCD 00 01 , Yubico YubiKey*\n"
		 "  Other Reader [AB] 00\n"
		 "[module softhsm]\n"
		 "path = /usr/lib/softhsm/libsofthsm2.so\n"
		 "env = SOFTHSM2_CONF=/etc/softhsm/a b.conf\n"
		 "env = DEBUG=1\n"
		 "tokens = pkcs11:token=one pkcs11:token=two%20words\n"
		 "readers = OMNIKEY*\n"
		 "timeout = 5\n"
		 "[module opensc]\n"
		 "path = /usr/lib/opensc-pkcs11.so\n",
		 &cfg),
	    0);
	assert_false(cfg->piv.enabled);
	assert_int_equal(cfg->piv.nreaders, 3);
	assert_string_equal(cfg->piv.readers[0], "Virtual PCD 00 01");
	assert_string_equal(cfg->piv.readers[1], "Yubico YubiKey*");
	assert_string_equal(cfg->piv.readers[2], "Other Reader [AB] 00");
	assert_int_equal(cfg->nmodules, 2);
	m = &cfg->modules[0];
	assert_string_equal(m->name, "softhsm");
	assert_string_equal(m->path, "/usr/lib/softhsm/libsofthsm2.so");
	assert_int_equal(m->nenv, 2);
	assert_string_equal(m->env[0], "SOFTHSM2_CONF=/etc/softhsm/a b.conf");
	assert_string_equal(m->env[1], "DEBUG=1");
	assert_int_equal(m->ntokens, 2);
	assert_string_equal(m->tokens[1], "pkcs11:token=two%20words");
	assert_int_equal(m->nreaders, 1);
	assert_string_equal(m->readers[0], "OMNIKEY*");
	assert_int_equal(m->timeout, 5);
	assert_int_equal(m->line, 5);
	m = &cfg->modules[1];
	assert_string_equal(m->name, "opensc");
	assert_int_equal(m->timeout, DRV_MODULE_TIMEOUT_DEFAULT);
	assert_int_equal(m->nenv + m->ntokens + m->nreaders, 0);
	assert_int_equal(m->line, 12);
	drv_config_free(&cfg);
}

/* [tpm]: every key; the defaults say "not said" (enabled -1: yes when a
 * TPM is present), and the module's loader marks the config in-process. */
static void test_tpm_keys(void **state)
{
	struct drv_config *cfg = NULL;

	(void)state;
	assert_int_equal(load("[piv]\n", &cfg), 0);
	assert_int_equal(cfg->tpm.enabled, -1);
	assert_null(cfg->tpm.tcti);
	assert_null(cfg->tpm.state);
	assert_null(cfg->tpm.label);
	assert_false(cfg->tpm.in_process);
	assert_int_equal(cfg->tpm.srk_handle, 0);
	assert_true(cfg->in_process);
	drv_config_free(&cfg);
	assert_int_equal(load("[tpm]\n"
			      "enabled = yes\n"
			      "tcti = swtpm:host=127.0.0.1,port=2321\n"
			      "state = /var/lib/tokend/tpm2\n"
			      "label = gateway 17\n"
			      "in-process = yes\n"
			      "srk-handle = 0x81000001\n",
			      &cfg),
			 0);
	assert_int_equal(cfg->tpm.enabled, 1);
	assert_string_equal(cfg->tpm.tcti, "swtpm:host=127.0.0.1,port=2321");
	assert_string_equal(cfg->tpm.state, "/var/lib/tokend/tpm2");
	assert_string_equal(cfg->tpm.label, "gateway 17");
	assert_true(cfg->tpm.in_process);
	assert_int_equal(cfg->tpm.srk_handle, 0x81000001u);
	drv_config_free(&cfg);
	refused("[tpm]\ntcti = mssim\n", 2, "bad tcti 'mssim'");
	refused("[tpm]\nstate = tpm\n", 2, "state must be absolute");
	refused("[tpm]\nlabel = 0123456789012345678901234567890123\n", 2,
		"bad label");
	refused("[tpm]\nsrk-handle = 0x40000001\n", 2, "bad srk-handle");
	refused("[tpm]\nin-process = sometimes\n", 2, "bad in-process");
	refused("[tpm]\n[tpm]\n", 2, "duplicate section [tpm]");
	refused("[tpm]\npath = /x\n", 2, "unknown key 'path' in [tpm]");
}

static void test_bad_values(void **state)
{
	(void)state;
	refused("[piv]\nenabled = maybe\n", 2, "bad enabled 'maybe'");
	refused("[piv]\nenabled = yes\nenabled = no\n", 3,
		"duplicate key 'enabled'");
	refused("# c\n[piv]\ncolour = red\n", 3,
		"unknown key 'colour' in [piv]");
	refused("[piv]\nreaders = a,,b\n", 2, "empty reader glob");
	refused("[piv]\nreaders = a,\n", 2, "empty reader glob");
	refused("[piv]\n[tokend]\n[piv]\n", 3, "duplicate section [piv]");
	refused("[module m]\npath = libfoo.so\n", 2, "must be absolute");
	refused("[module m]\npath = /a.so\ntimeout = 0\n", 3,
		"bad timeout '0'");
	refused("[module m]\npath = /a.so\ntimeout = 1h\n", 3, "bad timeout");
	refused("[module m]\npath = /a.so\ntimeout = 99999\n", 3,
		"bad timeout");
	refused("[module m]\npath = /a.so\nenv = NOVALUE\n", 3, "bad env");
	refused("[module m]\npath = /a.so\nenv = 1X=2\n", 3, "bad env");
	refused("[module m]\npath = /a.so\nenv = A B=2\n", 3, "bad env");
	refused("[module m]\npath = /a.so\ntokens = http://x\n", 3,
		"bad PKCS#11 token URI 'http://x'");
	refused("[module m]\npath = /a.so\nslots = 1\n", 3,
		"unknown key 'slots' in [module m]");
	refused("[module m]\npath = /a.so\npath = /b.so\n", 3,
		"duplicate key 'path'");
	refused("[module m]\npath = /a.so\n\n[module m]\npath = /b.so\n", 4,
		"duplicate section [module m] (first at line 1)");
	refused("[module a/b]\n", 1, "bad module name");
	refused("[export x]\nsocket = /s\n[module m]\ntimeout = 3\n", 3,
		"[module m] has no 'path' key");
	refused("[piv]\nthis is not a key\n", 2, "syntax error");
}

/* The module reads only driver sections: an export's pin-file, unknown
 * keys and even lines inih would refuse elsewhere are not its business. */
static void test_other_sections_skipped(void **state)
{
	struct drv_config *cfg = NULL;

	(void)state;
	assert_int_equal(load("key = before any section\n"
			      "[tokend]\nno-such-key = 1\n"
			      "[export a]\n"
			      "pin-file = /nonexistent/pin\n"
			      "owner = no-such-user-anywhere\n"
			      "a line without an equals sign\n"
			      "[piv]\nenabled = no\n",
			      &cfg),
			 0);
	assert_false(cfg->piv.enabled);
	drv_config_free(&cfg);
}

static void test_unreadable(void **state)
{
	struct drv_config *cfg = NULL;

	(void)state;
	/* A directory opens but cannot be read. */
	assert_int_equal(drv_config_load(tmpdir, &cfg, err, sizeof(err)),
			 TK_ERR_IO);
	assert_null(cfg);
	assert_non_null(strstr(err, tmpdir));
}

static void test_globs(void **state)
{
	char *g[] = { "Virtual PCD 00 01", "Yubico YubiKey*" };

	(void)state;
	assert_true(drv_globs_match(g, 2, "Virtual PCD 00 01"));
	assert_false(drv_globs_match(g, 2, "Virtual PCD 00 00"));
	assert_true(
	    drv_globs_match(g, 2, "Yubico YubiKey OTP+FIDO+CCID 00 00"));
	assert_false(drv_globs_match(g, 0, "Virtual PCD 00 01"));
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(conf_path, sizeof(conf_path), "%s/tokend.conf", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(conf_path);
	rmdir(tmpdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_tpm_keys),
		cmocka_unit_test(test_other_sections_skipped),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_globs),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
