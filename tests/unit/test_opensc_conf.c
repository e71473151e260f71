/* drivers/module/opensc_conf.c: which readers an OpenSC helper may use,
 * the ignored_readers that say so (OpenSC matches substrings, the config
 * globs), when a reader's arrival makes the list stale, and the file
 * (private directory, 0600, OPENSC_CONF in the helper's environment). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "drv_config.h"
#include "error.h"
#include "opensc_conf.h"

static char tmpdir[] = "/tmp/tokend-osc.XXXXXX";
static char conf_path[300];

static struct drv_config *load(const char *text)
{
	struct drv_config *cfg = NULL;
	char err[512];
	FILE *f = fopen(conf_path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(drv_config_load(conf_path, &cfg, err, sizeof(err)), 0);
	return cfg;
}

/* The config of the README: PIV on the YubiKeys, OpenSC on reader 01. */
static const char two_owners[] =
    "[piv]\n"
    "readers = Yubico YubiKey*, Virtual PCD 00 00\n"
    "[module opensc]\n"
    "path = /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so\n"
    "readers = Virtual PCD 00 01\n";

static char *render(const struct osc_plan *p)
{
	struct buf b;
	size_t len;
	char *s;

	buf_init(&b, 0);
	osc_plan_render(p, "opensc", &b);
	buf_add_u8(&b, 0);
	assert_false(buf_failed(&b));
	s = (char *)buf_steal(&b, &len);
	return s;
}

static void test_wanted(void **state)
{
	struct drv_module_cfg m = { .path = "/usr/lib/opensc-pkcs11.so" };
	char *globs[] = { "Virtual*" };

	(void)state;
	assert_true(osc_wanted(&m));
	m.path = "/usr/lib/x86_64-linux-gnu/pkcs11/onepin-opensc-pkcs11.so";
	assert_true(osc_wanted(&m));
	m.path = "/usr/lib/softhsm/libsofthsm2.so";
	assert_false(osc_wanted(&m)); /* SoftHSMv2 opens no reader */
	m.readers = globs;
	m.nreaders = 1;
	assert_true(osc_wanted(&m)); /* readers given: any module */
}

static void test_glob_literal(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(osc_glob_literal("Yubico YubiKey*", out, sizeof(out)),
			 0);
	assert_string_equal(out, "Yubico YubiKey");
	assert_int_equal(osc_glob_literal("*PCD 00 0?", out, sizeof(out)), 0);
	assert_string_equal(out, "PCD 00 0");
	assert_int_equal(osc_glob_literal("[Vv]irtual PCD*", out, sizeof(out)),
			 0);
	assert_string_equal(out, "irtual PCD");
	assert_int_equal(osc_glob_literal("a\\*bc*d", out, sizeof(out)), 0);
	assert_string_equal(out, "a*bc");
	/* too long for out: none rather than a part */
	assert_int_equal(osc_glob_literal("Virtual PCD 00 01", out, 8),
			 TK_ERR_NOT_FOUND);
	assert_int_equal(osc_glob_literal("*", out, sizeof(out)),
			 TK_ERR_NOT_FOUND);
	assert_int_equal(osc_glob_literal("*?*", out, sizeof(out)),
			 TK_ERR_NOT_FOUND);
}

static void test_owners(void **state)
{
	struct drv_config *cfg = load(two_owners);
	struct osc_owners o;

	(void)state;
	assert_int_equal(osc_owners_make(cfg, 0, &o), 0);
	assert_true(osc_reader_mine(&o, "Virtual PCD 00 01"));
	assert_false(osc_reader_mine(&o, "Virtual PCD 00 00"));
	assert_false(osc_reader_mine(&o, "Yubico YubiKey OTP+FIDO+CCID 00 00"));
	/* A module with readers owns only those. */
	assert_false(osc_reader_mine(&o, "Gemalto PC Twin Reader 00 00"));
	osc_owners_clear(&o);
	drv_config_free(&cfg);

	/* OpenSC without readers: what the PIV driver and the other
	 * modules leave. */
	cfg = load("[piv]\nreaders = Yubico*\n"
		   "[module hsm]\npath = /opt/hsm.so\nreaders = Nitro*\n"
		   "[module opensc]\npath = /usr/lib/opensc-pkcs11.so\n");
	assert_int_equal(osc_owners_make(cfg, 1, &o), 0);
	assert_true(osc_reader_mine(&o, "Gemalto PC Twin Reader 00 00"));
	assert_false(osc_reader_mine(&o, "Yubico YubiKey CCID 00 00"));
	assert_false(osc_reader_mine(&o, "Nitrokey 3 00 00"));
	osc_owners_clear(&o);
	drv_config_free(&cfg);

	/* The PIV driver on every reader: nothing left for OpenSC; PIV
	 * off: everything. */
	cfg = load("[module opensc]\npath = /usr/lib/opensc-pkcs11.so\n");
	assert_int_equal(osc_owners_make(cfg, 0, &o), 0);
	assert_false(osc_reader_mine(&o, "Gemalto PC Twin Reader 00 00"));
	osc_owners_clear(&o);
	drv_config_free(&cfg);
	cfg = load("[piv]\nenabled = no\n"
		   "[module opensc]\npath = /usr/lib/opensc-pkcs11.so\n");
	assert_int_equal(osc_owners_make(cfg, 0, &o), 0);
	assert_true(osc_reader_mine(&o, "Gemalto PC Twin Reader 00 00"));
	osc_owners_clear(&o);
	drv_config_free(&cfg);
}

static void test_plan(void **state)
{
	struct drv_config *cfg = load(two_owners);
	char *now[] = { "Virtual PCD 00 00", "Virtual PCD 00 01" };
	char *later[] = { "Virtual PCD 00 00", "Virtual PCD 00 01",
			  "Yubico YubiKey OTP+FIDO+CCID 01 00" };
	char *other[] = { "Virtual PCD 00 00", "Gemalto PC Twin 00 00" };
	struct osc_owners o;
	struct osc_plan p;
	char *text;

	(void)state;
	assert_int_equal(osc_owners_make(cfg, 0, &o), 0);
	assert_int_equal(osc_plan_make(&o, now, 2, &p), 0);
	/* The PIV reader by name; the YubiKeys to come by the literal part
	 * of the PIV driver's glob. */
	assert_int_equal(p.nignore, 2);
	assert_string_equal(p.ignore[0], "Virtual PCD 00 00");
	assert_string_equal(p.ignore[1], "Yubico YubiKey");
	text = render(&p);
	assert_non_null(strstr(text, "app default {\n\tignored_readers = "
				     "\"Virtual PCD 00 00\", \"Yubico "
				     "YubiKey\";\n"));
	assert_non_null(strstr(text, "\tpkcs11 {\n\t\tignored_readers = "));
	free(text);

	/* A YubiKey plugged in later is already ignored: no restart. */
	assert_false(osc_plan_stale(&o, &p, later, 3));
	/* A reader nobody's glob names: OpenSC would take it. */
	assert_true(osc_plan_stale(&o, &p, other, 2));
	osc_plan_clear(&p);
	/* Written again with it present, it is ignored by name. */
	assert_int_equal(osc_plan_make(&o, other, 2, &p), 0);
	assert_false(osc_plan_stale(&o, &p, other, 2));
	osc_plan_clear(&p);
	osc_owners_clear(&o);
	drv_config_free(&cfg);
}

/* A literal of another owner's glob that hits a reader the module owns is
 * left out; arriving later, that reader makes the plan stale. */
static void test_plan_literal_conflict(void **state)
{
	struct drv_config *cfg = load("[piv]\nreaders = Yubico*\n"
				      "[module opensc]\n"
				      "path = /usr/lib/opensc-pkcs11.so\n"
				      "readers = Yubico Special*\n");
	char *special[] = { "Yubico Special 00 00" };
	struct osc_owners o;
	struct osc_plan p;

	(void)state;
	assert_int_equal(osc_owners_make(cfg, 0, &o), 0);
	assert_int_equal(osc_plan_make(&o, NULL, 0, &p), 0);
	assert_int_equal(p.nignore, 1); /* "Yubico" */
	assert_true(osc_plan_stale(&o, &p, special, 1));
	osc_plan_clear(&p);
	assert_int_equal(osc_plan_make(&o, special, 1, &p), 0);
	assert_int_equal(p.nignore, 0);
	assert_false(osc_plan_stale(&o, &p, special, 1));
	osc_plan_clear(&p);
	osc_owners_clear(&o);
	drv_config_free(&cfg);
}

static void test_file(void **state)
{
	struct drv_config *cfg = load(two_owners);
	struct osc *osc = NULL;
	struct stat st;
	const char *env;
	char path[512], dir[512], text[1024];
	size_t n;
	FILE *f;

	(void)state;
	assert_int_equal(osc_new(cfg, 0, &osc), 0);
	assert_non_null(osc);
	env = osc_env(osc);
	assert_memory_equal(env, "OPENSC_CONF=", 12);
	snprintf(path, sizeof(path), "%s", env + 12);
	/* In the runtime directory, a private directory and a 0600 file. */
	snprintf(dir, sizeof(dir), "%s/tokend-opensc.", tmpdir);
	assert_memory_equal(path, dir, strlen(dir));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_non_null(f = fopen(path, "r"));
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	/* No pcscd here: only the globs' literal parts. */
	assert_non_null(strstr(text, "ignored_readers = \"Yubico YubiKey\", "
				     "\"Virtual PCD 00 00\";"));
	assert_int_equal(osc_refresh(osc), 0);
	osc_free(&osc);
	assert_null(osc);
	assert_int_not_equal(stat(dir, &st), 0); /* removed */
	drv_config_free(&cfg);

	/* SoftHSMv2 without readers: no file. */
	cfg =
	    load("[module softhsm]\npath = /usr/lib/softhsm/libsofthsm2.so\n");
	assert_int_equal(osc_new(cfg, 0, &osc), 0);
	assert_null(osc);
	drv_config_free(&cfg);
	/* The user's own OPENSC_CONF wins. */
	cfg = load("[module opensc]\npath = /usr/lib/opensc-pkcs11.so\n"
		   "env = OPENSC_CONF=/etc/mine.conf\n");
	assert_int_equal(osc_new(cfg, 0, &osc), 0);
	assert_null(osc);
	drv_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wanted),
		cmocka_unit_test(test_glob_literal),
		cmocka_unit_test(test_owners),
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_plan_literal_conflict),
		cmocka_unit_test(test_file),
	};
	char cmd[64];
	int rc;

	if (!mkdtemp(tmpdir))
		return 1;
	snprintf(conf_path, sizeof(conf_path), "%s/tokend.conf", tmpdir);
	/* The runtime directory is ours; no pcscd is reachable. */
	setenv("XDG_RUNTIME_DIR", tmpdir, 1);
	unsetenv("RUNTIME_DIRECTORY");
	setenv("PCSCLITE_CSOCK_NAME", "/nonexistent/pcscd.comm", 1);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		rc = rc ? rc : 1;
	return rc;
}
