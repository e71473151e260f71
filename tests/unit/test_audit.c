/* daemon/audit.c: the audit trail's lines as an admin greps them: one line
 * per event whatever a token or client puts in a label, unknown values
 * shown as "-", long strings cut, and nothing but the documented fields
 * (no PIN has a way in: it is never an argument). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit.h"
#include "export.h"
#include "log.h"

static char tmpdir[] = "/tmp/tokend-audit.XXXXXX";
static char path[256];
static int saved_stderr = -1;
static const struct peer peer = { .uid = 1234, .gid = 100, .pid = 42 };

/* stderr to a file until lines() reads it back. */
static void capture(void)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

/* The captured lines, NUL-separated into buf; returns their number. */
static int lines(char *buf, size_t len, char **v, int max)
{
	FILE *f;
	int n = 0;

	dup2(saved_stderr, 2);
	close(saved_stderr);
	f = fopen(path, "r");
	assert_non_null(f);
	while (n < max && fgets(buf, (int)len, f)) {
		size_t l = strlen(buf);

		assert_true(l > 0 && buf[l - 1] == '\n');
		buf[l - 1] = '\0';
		v[n++] = buf;
		buf += l;
		len -= l;
	}
	assert_null(fgets(buf, (int)len, f));
	fclose(f);
	return n;
}

static void test_refused_and_set_pin(void **state)
{
	char buf[4096], *v[4];

	(void)state;
	capture();
	audit_refused("ro", &peer, "C_SetPIN", "admin",
		      CKR_TOKEN_WRITE_PROTECTED);
	audit_set_pin("adm", &peer, NULL, CKR_PIN_LOCKED);
	assert_int_equal(lines(buf, sizeof(buf), v, 4), 2);
	assert_string_equal(v[0], "<5>AUDIT refused export=ro uid=1234 gid=100 "
				  "pid=42 call=C_SetPIN needs=admin "
				  "result=CKR_TOKEN_WRITE_PROTECTED");
	assert_string_equal(v[1], "<5>AUDIT set-pin export=adm uid=1234 "
				  "gid=100 pid=42 token=- "
				  "result=CKR_PIN_LOCKED");
}

/* log-level = err silences notices and info, never the audit trail. */
static void test_quiet_log_keeps_audit(void **state)
{
	char buf[4096], *v[4];

	(void)state;
	log_set_level(LOG_ERR);
	capture();
	log_msg(LOG_NOTICE, NULL, "an ordinary notice");
	audit_refused("ro", &peer, "C_InitToken", "admin",
		      CKR_TOKEN_WRITE_PROTECTED);
	log_set_level(LOG_INFO);
	assert_int_equal(lines(buf, sizeof(buf), v, 4), 1);
	assert_non_null(strstr(v[0], "<5>AUDIT refused export=ro"));
}

/* A label or serial cannot add a line or a field of its own. */
static void test_strings_cannot_forge(void **state)
{
	static const char forged[] = "x\" result=CKR_OK\n<5>AUDIT login "
				     "export=e uid=0\\";
	struct audit_key key = { forged, NULL, 0, "\xff\x01tab\there" };
	char buf[4096], *v[4], *p;

	(void)state;
	capture();
	audit_key_op("e", &peer, &key, "sign", CKM_ECDSA, CKR_PIN_INCORRECT);
	audit_login("e", &peer, forged, CKU_SO, CKR_OK);
	assert_int_equal(lines(buf, sizeof(buf), v, 4), 2);
	assert_string_equal(v[0],
			    "<5>AUDIT key-op export=e uid=1234 gid=100 "
			    "pid=42 token=\"x\\x22 result=CKR_OK\\x0a<5>"
			    "AUDIT login export=e uid=0\\x5c\" op=sign "
			    "key-id=- key-label=\"\\xff\\x01tab\\x09here\" "
			    "mech=CKM_ECDSA result=CKR_PIN_INCORRECT");
	/* The serial stays inside its two quotes; the real fields follow. */
	assert_null(strchr(strchr(strchr(v[1], '"') + 1, '"') + 1, '"'));
	p = strrchr(v[1], '"');
	assert_string_equal(p, "\" user=CKU_SO result=CKR_OK");
}

static void test_long_values_cut(void **state)
{
	char label[200], buf[8192], *v[2], *p;
	uint8_t id[100];
	struct audit_key key = { "1", id, sizeof(id), label };

	(void)state;
	memset(label, 'L', sizeof(label) - 1);
	label[sizeof(label) - 1] = '\0';
	memset(id, 0xab, sizeof(id));
	capture();
	audit_key_op("e", &peer, &key, "decrypt", CKM_RSA_PKCS_OAEP, CKR_OK);
	assert_int_equal(lines(buf, sizeof(buf), v, 2), 1);
	/* 64 bytes of CKA_ID in hex, 64 characters of label, then "...". */
	p = strstr(v[0], "key-id=");
	assert_non_null(p);
	assert_int_equal(strcspn(p + 7, " "), 128);
	p = strstr(v[0], "key-label=\"");
	assert_non_null(p);
	assert_int_equal(strspn(p + 11, "L"), 64);
	assert_memory_equal(p + 11 + 64, "...\" mech=CKM_RSA_PKCS_OAEP", 26);
}

static int setup(void **state)
{
	(void)state;
	log_set_level(LOG_INFO);
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/stderr", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused_and_set_pin),
		cmocka_unit_test(test_quiet_log_keeps_audit),
		cmocka_unit_test(test_strings_cannot_forge),
		cmocka_unit_test(test_long_values_cut),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
