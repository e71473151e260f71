/* p11-kit RPC transport: handshake and frame parsing (rpc/rpc_frame.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "rpc_frame.h"

/* C_GetInfo as sent by Debian 12's p11-kit-client.so 0.24.1: call code 0x11,
 * options "client", data: call id 3, signature "". */
static const uint8_t real_getinfo[] = {
	0x00, 0x00, 0x00, 0x11, 0x00, 0x00, 0x00, 0x06, 0x00,
	0x00, 0x00, 0x08, 'c',  'l',  'i',  'e',  'n',  't',
	0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,
};

static void test_handshake(void **state)
{
	(void)state;
	assert_int_equal(rpc_handshake_answer(0), 0);
	assert_int_equal(rpc_handshake_answer(1), 1);
	assert_int_equal(rpc_handshake_answer(2), 2);
	assert_int_equal(rpc_handshake_answer(3), 2);
	assert_int_equal(rpc_handshake_answer(200), 2);
	assert_int_equal(rpc_handshake_answer(255), 2);
}

static void test_real_frame(void **state)
{
	struct rpc_frame f;
	size_t used;

	(void)state;
	assert_int_equal(
	    rpc_frame_parse(real_getinfo, sizeof(real_getinfo), 0, &f, &used),
	    0);
	assert_int_equal(used, sizeof(real_getinfo));
	assert_int_equal(f.call_code, 0x11);
	assert_int_equal(f.options_len, 6);
	assert_memory_equal(f.options, "client", 6);
	assert_int_equal(f.data_len, 8);
	assert_ptr_equal(f.data, real_getinfo + 18);
}

static void test_every_prefix_needs_more(void **state)
{
	struct rpc_frame f;
	uint8_t *copy;
	size_t n, used;

	(void)state;
	for (n = 0; n < sizeof(real_getinfo); n++) {
		/* exact-size heap copies so ASan sees any over-read */
		copy = malloc(n ? n : 1);
		memcpy(copy, real_getinfo, n);
		assert_int_equal(rpc_frame_parse(copy, n, 0, &f, &used),
				 RPC_FRAME_NEED_MORE);
		assert_int_equal(used, n < 12 ? 12 : sizeof(real_getinfo));
		free(copy);
	}
}

static void test_oversized(void **state)
{
	/* lengths far beyond the cap are refused from the header alone */
	static const uint8_t huge[] = { 0,    0,    0,    1,    0xff, 0xff,
					0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t sum[] = { 0,    0,    0,    1,    0x00, 0x08,
				       0x00, 0x00, 0x00, 0x08, 0x00, 0x01 };
	static const uint8_t at_cap[] = { 0,    0,    0,    1,    0x00, 0x00,
					  0x00, 0x10, 0x00, 0x00, 0x00, 0x10 };
	struct rpc_frame f;
	size_t used;

	(void)state;
	assert_int_equal(rpc_frame_parse(huge, sizeof(huge), 0, &f, &used),
			 TK_ERR_TOO_LARGE);
	/* 512 KiB + 512 KiB + 1 > 1 MiB */
	assert_int_equal(rpc_frame_parse(sum, sizeof(sum), 0, &f, &used),
			 TK_ERR_TOO_LARGE);
	assert_int_equal(rpc_frame_parse(at_cap, sizeof(at_cap), 32, &f, &used),
			 RPC_FRAME_NEED_MORE);
	assert_int_equal(used, 12 + 32);
	assert_int_equal(rpc_frame_parse(at_cap, sizeof(at_cap), 31, &f, &used),
			 TK_ERR_TOO_LARGE);
	assert_int_equal(rpc_frame_parse(NULL, 5, 0, &f, &used), TK_ERR_ARG);
}

static void test_write_and_pipeline(void **state)
{
	struct rpc_frame f;
	struct buf b;
	size_t used, off = 0;
	int i;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(rpc_frame_write(&b, 7, NULL, 0, "abc", 3), 0);
	assert_int_equal(rpc_frame_write(&b, 8, "o", 1, "", 0), 0);
	assert_int_equal(rpc_frame_write(&b, 9, NULL, 0, NULL, 0), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(
		    rpc_frame_parse(b.data + off, b.len - off, 0, &f, &used),
		    0);
		assert_int_equal(f.call_code, 7 + i);
		off += used;
	}
	assert_int_equal(off, b.len);
	assert_int_equal(rpc_frame_write(&b, 1, NULL, 1, NULL, 0), TK_ERR_ARG);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake),
		cmocka_unit_test(test_real_frame),
		cmocka_unit_test(test_every_prefix_needs_more),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_write_and_pipeline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
