/* drivers/tpm/tpm_pin.c without a TPM: the wrong-PIN delay grows 0, 0,
 * 1 s, 2 s, 4 s and stays at its cap however many tries; the token names
 * when the next try may come, and a try before it is refused at once
 * (never slept, nothing counted, the TPM not asked); keys' auth values
 * differ per key and per token secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "tpm_pin.h"

static void test_delay(void **state)
{
	(void)state;
	assert_int_equal(tpm_pin_delay_ms(0, 5000), 0);
	assert_int_equal(tpm_pin_delay_ms(1, 5000), 0);
	assert_int_equal(tpm_pin_delay_ms(2, 5000), 1000);
	assert_int_equal(tpm_pin_delay_ms(3, 5000), 2000);
	assert_int_equal(tpm_pin_delay_ms(4, 5000), 4000);
	assert_int_equal(tpm_pin_delay_ms(5, 5000), 5000);
	assert_int_equal(tpm_pin_delay_ms(50, 5000), 5000);
	assert_int_equal(tpm_pin_delay_ms(UINT32_MAX, 5000), 5000);
	assert_int_equal(tpm_pin_delay_ms(9, 200), 200);
}

static void test_not_before(void **state)
{
	struct tpm_pin p = { .have_salt = true,
			     .have_so = true,
			     .have_user = true,
			     .cap_ms = 5000 };
	uint8_t s[TPM_SECRET_LEN];
	struct timespec ts;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	p.last_fail_ms = (uint64_t)ts.tv_sec * 1000u + 60000u; /* future */
	p.fails = 1;
	assert_int_equal(tpm_pin_not_before(&p), 0);
	p.fails = 4;
	assert_int_equal(tpm_pin_not_before(&p), p.last_fail_ms + 4000);
	/* Refused before the TPM (ctx NULL is never used) and not counted. */
	assert_int_equal(tpm_pin_check(&p, NULL, TK_USER_PIN,
				       (const uint8_t *)"123456", 6, s),
			 TK_ERR_NOT_YET);
	assert_int_equal(p.fails, 4);
}

static void test_key_auth(void **state)
{
	uint8_t s1[TPM_SECRET_LEN], s2[TPM_SECRET_LEN];
	uint8_t a[TPM_AUTH_MAX], b[TPM_AUTH_MAX], c[TPM_AUTH_MAX];

	(void)state;
	memset(s1, 1, sizeof(s1));
	memset(s2, 2, sizeof(s2));
	assert_int_equal(tpm_pin_key_auth(s1, "key-0001", a), 0);
	assert_int_equal(tpm_pin_key_auth(s1, "key-0002", b), 0);
	assert_int_equal(tpm_pin_key_auth(s2, "key-0001", c), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, c, sizeof(a));
	assert_int_equal(tpm_pin_key_auth(s1, "key-0001", b), 0);
	assert_memory_equal(a, b, sizeof(a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay),
		cmocka_unit_test(test_not_before),
		cmocka_unit_test(test_key_auth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
