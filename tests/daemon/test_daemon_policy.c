/* Export policy on configs loaded through config_load(): peer checks, the
 * token filter (p11-kit URI matching), read-only access, settings equality
 * for reload, and the PIN read from a pin-file or a systemd credential. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit.h"
#include "config.h"
#include "export.h"
#include "secret.h"

static char tmpdir[] = "/tmp/tokend-policy.XXXXXX";

static struct config *load(const char *text)
{
	char path[256], err[512];
	struct config *cfg = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/t.conf", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	if (config_load(path, true, &cfg, err, sizeof(err)) != 0)
		fail_msg("config_load: %s", err);
	return cfg;
}

static void pad(CK_UTF8CHAR *dst, size_t n, const char *s)
{
	memset(dst, ' ', n);
	memcpy(dst, s, strlen(s));
}

static void test_peers(void **state)
{
	struct config *cfg = load("[export a]\nsocket = /run/a\n"
				  "allow-users = 1000\nallow-groups = 50, 60\n"
				  "[export b]\nsocket = /run/b\n");
	const struct export_conf *a = cfg->exports[0], *b = cfg->exports[1];
	gid_t groups[] = { 7, 60 };
	struct peer p = { .uid = 1000, .gid = 1000 };

	assert_true(export_accepts_peer(a, &p));
	p.uid = 1001;
	assert_false(export_accepts_peer(a, &p));
	p.gid = 50;
	assert_true(export_accepts_peer(a, &p));
	p.gid = 1001;
	p.groups = groups;
	p.ngroups = 2;
	assert_true(export_accepts_peer(a, &p));
	p.ngroups = 1;
	assert_false(export_accepts_peer(a, &p));
	/* No allow lists: anyone. */
	assert_true(export_accepts_peer(b, &p));
	config_free(&cfg);
}

static void test_tokens(void **state)
{
	struct config *cfg = load("[export a]\nsocket = /run/a\n"
				  "tokens = pkcs11:manufacturer=Yubico%20AB "
				  "pkcs11:serial=42\n"
				  "[export b]\nsocket = /run/b\n");
	CK_TOKEN_INFO ti;

	memset(&ti, 0, sizeof(ti));
	pad(ti.label, sizeof(ti.label), "YubiKey PIV");
	pad(ti.manufacturerID, sizeof(ti.manufacturerID), "Yubico AB");
	pad(ti.model, sizeof(ti.model), "YubiKey 5");
	pad(ti.serialNumber, sizeof(ti.serialNumber), "1234");
	assert_true(export_shows_token(cfg->exports[0], &ti));
	pad(ti.manufacturerID, sizeof(ti.manufacturerID), "piv_II");
	assert_false(export_shows_token(cfg->exports[0], &ti));
	pad(ti.serialNumber, sizeof(ti.serialNumber), "42");
	assert_true(export_shows_token(cfg->exports[0], &ti));
	assert_true(export_shows_token(cfg->exports[1], &ti));
	config_free(&cfg);
}

static void test_access_and_equal(void **state)
{
	struct config *c1 = load("[export a]\nsocket = /run/a\n"
				 "access = read-only\nallow-users = 1, 2\n");
	struct config *c2 = load("[export a]\nsocket = /run/a\n"
				 "access = read-only\nallow-users = 1\n  2\n");
	struct config *c3 = load("[export a]\nsocket = /run/a\n");
	struct config *full = load("[export a]\nsocket = /run/a\n"
				   "access = full\n");
	struct config *admin = load("[export a]\nsocket = /run/a\n"
				    "access = admin\n");
	struct config *objs = load("[export a]\nsocket = /run/a\n"
				   "access = admin\n"
				   "objects = pkcs11:id=%01;type=private\n");
	const struct export_conf *ro = c3->exports[0];

	/* No access key: read-only, like access = read-only. */
	assert_int_equal(ro->access, EXPORT_ACCESS_READ_ONLY);
	for (int op = EXPORT_OP_INIT_TOKEN; op <= EXPORT_OP_SO_LOGIN; op++) {
		assert_false(export_allows(c1->exports[0], op));
		assert_false(export_allows(ro, op));
		assert_true(export_allows(admin->exports[0], op));
	}
	/* full: SO login and object changes, no PIN or token admin. */
	assert_true(export_allows(full->exports[0], EXPORT_OP_SO_LOGIN));
	assert_true(export_allows(full->exports[0], EXPORT_OP_GENERATE_KEY));
	assert_true(export_allows(full->exports[0], EXPORT_OP_DESTROY_OBJECT));
	assert_false(export_allows(full->exports[0], EXPORT_OP_SET_PIN));
	assert_false(export_allows(full->exports[0], EXPORT_OP_INIT_PIN));
	assert_false(export_allows(full->exports[0], EXPORT_OP_INIT_TOKEN));
	/* objects=: never generates or deletes, even as admin. */
	assert_false(export_allows(objs->exports[0], EXPORT_OP_GENERATE_KEY));
	assert_false(export_allows(objs->exports[0], EXPORT_OP_DESTROY_OBJECT));
	assert_int_equal(objs->exports[0]->n_objects, 1);
	assert_false(export_conf_equal(admin->exports[0], objs->exports[0]));
	assert_true(export_conf_equal(c1->exports[0], c2->exports[0]));
	assert_false(export_conf_equal(full->exports[0], c3->exports[0]));
	config_free(&full);
	config_free(&admin);
	config_free(&objs);
	assert_int_equal(c3->exports[0]->mode, 0660);
	assert_int_equal(c3->exports[0]->owner, geteuid());
	config_free(&c1);
	config_free(&c2);
	config_free(&c3);
}

static void test_pin(void **state)
{
	char pin[256], text[512];
	struct config *cfg;
	FILE *f;

	snprintf(pin, sizeof(pin), "%s/pin", tmpdir);
	f = fopen(pin, "w");
	assert_non_null(f);
	fputs("123456\n", f);
	fclose(f);
	chmod(pin, 0600);
	snprintf(text, sizeof(text),
		 "[export a]\nsocket = /run/a\n"
		 "pin-file = %s\n",
		 pin);
	cfg = load(text);
	assert_true(export_conf_has_pin(cfg->exports[0]));
	assert_non_null(cfg->exports[0]->pin);
	assert_int_equal(cfg->exports[0]->pin->len, 6);
	assert_memory_equal(cfg->exports[0]->pin->data, "123456", 6);
	unlink(pin);
	config_free(&cfg);
}

/* config_load's error for text, which must be refused. */
static void refused(const char *text, const char *want)
{
	char path[256], err[512];
	struct config *cfg = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/t.conf", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_not_equal(config_load(path, true, &cfg, err, sizeof(err)),
			     0);
	assert_null(cfg);
	if (strstr(err, want) == NULL)
		fail_msg("error '%s' does not say '%s'", err, want);
}

/* pin-credential NAME: $CREDENTIALS_DIRECTORY/NAME, as systemd lays it
 * out (mode 0400), checked like a pin-file. */
static void test_pin_credential(void **state)
{
	char cred[256], text[512];
	struct config *cfg;
	FILE *f;

	snprintf(cred, sizeof(cred), "%s/user.pin", tmpdir);
	f = fopen(cred, "w");
	assert_non_null(f);
	fputs("654321\n", f);
	fclose(f);
	chmod(cred, 0400);
	unsetenv("CREDENTIALS_DIRECTORY");
	refused("[export a]\nsocket = /run/a\npin-credential = user.pin\n",
		"pin-credential user.pin: $CREDENTIALS_DIRECTORY is not set");
	setenv("CREDENTIALS_DIRECTORY", tmpdir, 1);
	cfg = load("[export a]\nsocket = /run/a\n"
		   "pin-credential = user.pin\n");
	assert_true(export_conf_has_pin(cfg->exports[0]));
	assert_int_equal(cfg->exports[0]->pin->len, 6);
	assert_memory_equal(cfg->exports[0]->pin->data, "654321", 6);
	config_free(&cfg);
	snprintf(text, sizeof(text), "pin-credential %s/absent.pin: ", tmpdir);
	refused("[export a]\nsocket = /run/a\npin-credential = absent.pin\n",
		text);
	refused("[export a]\nsocket = /run/a\npin-credential = ../x\n",
		"must be a credential's name, not a path");
	snprintf(text, sizeof(text),
		 "[export a]\nsocket = /run/a\npin-file = %s\n"
		 "pin-credential = user.pin\n",
		 cred);
	refused(text, "pin-file and pin-credential exclude each other");
	chmod(cred, 0644); /* as pin-file: world-readable is refused */
	refused("[export a]\nsocket = /run/a\npin-credential = user.pin\n",
		"group and others cannot access");
	unsetenv("CREDENTIALS_DIRECTORY");
	unlink(cred);
}

static void test_default(void **state)
{
	struct config *cfg = NULL;
	char err[64];

	assert_int_equal(config_load("/nonexistent/tokend.conf", false, &cfg,
				     err, sizeof(err)),
			 0);
	assert_int_equal(cfg->n_exports, 1);
	assert_string_equal(cfg->exports[0]->name, "default");
	assert_string_equal(cfg->exports[0]->socket, "/run/tokend/pkcs11");
	assert_int_equal(cfg->exports[0]->n_tokens, 0);
	assert_int_equal(cfg->exports[0]->access, EXPORT_ACCESS_READ_ONLY);
	assert_int_equal(cfg->limits.max_message_size, 1 << 20);
	assert_int_equal(cfg->limits.pin_tries_reserved, 1);
	assert_int_equal(cfg->limits.max_connections_per_peer, 32);
	assert_int_equal(cfg->limits.max_workers, 64);
	assert_int_equal(cfg->limits.handshake_timeout, 10);
	config_free(&cfg);
	assert_int_not_equal(config_load("/nonexistent/tokend.conf", true, &cfg,
					 err, sizeof(err)),
			     0);
}

static void test_audit(void **state)
{
	char path[256], line[1024];
	const uint8_t id[] = { 0x01, 0xab };
	struct audit_key key = { "0123", id, sizeof(id), "evil\"\nlabel" };
	struct peer p = { .uid = 1234, .gid = 100, .pid = 42 };
	int saved = dup(2), fd;
	FILE *f;

	snprintf(path, sizeof(path), "%s/audit", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	dup2(fd, 2);
	audit_login("e1", &p, "0123", CKU_USER, CKR_PIN_INCORRECT);
	audit_key_op("e1", &p, &key, "sign", CKM_ECDSA, CKR_OK);
	dup2(saved, 2);
	close(fd);
	close(saved);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "<5>AUDIT login export=e1 uid=1234 gid=100 "
				  "pid=42 token=\"0123\" user=CKU_USER "
				  "result=CKR_PIN_INCORRECT\n");
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "<5>AUDIT key-op export=e1 uid=1234 gid=100 "
				  "pid=42 token=\"0123\" op=sign key-id=01ab "
				  "key-label=\"evil\\x22\\x0alabel\" "
				  "mech=CKM_ECDSA result=CKR_OK\n");
	assert_null(fgets(line, sizeof(line), f));
	fclose(f);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peers),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_access_and_equal),
		cmocka_unit_test(test_pin),
		cmocka_unit_test(test_pin_credential),
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_audit),
	};
	int r;

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(tmpdir);
	return r;
}
