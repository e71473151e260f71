/* common/reader and common/buf: the bounds-carrying reader every parser
 * stands on, and the sticky-failure buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "reader.h"
#include "unit_filter.h"

static void test_ints(void **state)
{
	static const uint8_t in[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	struct reader r = reader_init(in, sizeof(in));
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	assert_int_equal(reader_get_u8(&r, &u8), 0);
	assert_int_equal(u8, 1);
	assert_int_equal(reader_get_u16be(&r, &u16), 0);
	assert_int_equal(u16, 0x0203);
	assert_int_equal(reader_get_u32be(&r, &u32), 0);
	assert_int_equal(u32, 0x04050607);
	/* Two bytes left: wider reads fail and consume nothing. */
	assert_int_equal(reader_get_u32be(&r, &u32), -1);
	assert_int_equal(reader_get_u64be(&r, &u64), -1);
	assert_int_equal(reader_left(&r), 2);
	assert_int_equal(reader_skip(&r, 3), -1);
	assert_int_equal(reader_skip(&r, 2), 0);
	assert_int_equal(reader_get_u8(&r, &u8), -1);

	r = reader_init(in, 8);
	assert_int_equal(reader_get_u64be(&r, &u64), 0);
	assert_true(u64 == 0x0102030405060708ull);
	r = reader_init(NULL, 5); /* NULL never claims bytes */
	assert_int_equal(reader_left(&r), 0);
}

static void test_bytes_sub(void **state)
{
	static const uint8_t in[] = { 1, 2, 3, 4 };
	struct reader r = reader_init(in, sizeof(in)), sub;
	const uint8_t *p;
	uint8_t out[4];

	assert_int_equal(reader_get_bytes(&r, out, 5), -1);
	assert_int_equal(reader_get_ref(&r, (size_t)-1, &p), -1);
	assert_int_equal(reader_get_sub(&r, 2, &sub), 0);
	assert_int_equal(reader_left(&sub), 2);
	assert_int_equal(reader_get_bytes(&sub, out, 2), 0);
	assert_memory_equal(out, in, 2);
	assert_int_equal(reader_get_ref(&r, 2, &p), 0);
	assert_ptr_equal(p, in + 2);
	assert_int_equal(reader_left(&r), 0);
}

/* Parses hex-free byte arrays as one TLV and checks tag and length. */
static int tlv1(const uint8_t *in, size_t n, uint32_t *tag, size_t *len)
{
	struct reader r = reader_init(in, n), v;
	int rc = reader_get_tlv(&r, tag, &v);

	if (rc == 0)
		*len = reader_left(&v);
	else
		assert_int_equal(reader_left(&r), n); /* unchanged on failure */
	return rc;
}

static void test_tlv_lengths(void **state)
{
	static uint8_t big[3 + 0x10000 + 8];
	uint32_t tag;
	size_t len;

	assert_int_equal(
	    tlv1((const uint8_t[]){ 0x53, 0x02, 1, 2 }, 4, &tag, &len), 0);
	assert_int_equal(tag, 0x53);
	assert_int_equal(len, 2);
	assert_int_equal(
	    tlv1((const uint8_t[]){ 0x53, 0x81, 0x01, 9 }, 4, &tag, &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(
	    tlv1((const uint8_t[]){ 0x53, 0x82, 0x00, 0x01, 9 }, 5, &tag, &len),
	    0);
	assert_int_equal(len, 1);
	/* Overlong: the value runs past the input. */
	assert_int_equal(
	    tlv1((const uint8_t[]){ 0x53, 0x03, 1, 2 }, 4, &tag, &len), -1);
	assert_int_equal(
	    tlv1((const uint8_t[]){ 0x53, 0x82, 0xff, 0xff, 1 }, 5, &tag, &len),
	    -1);
	/* Truncated length bytes. */
	assert_int_equal(
	    tlv1((const uint8_t[]){ 0x53, 0x82, 0x01 }, 3, &tag, &len), -1);
	assert_int_equal(tlv1((const uint8_t[]){ 0x53 }, 1, &tag, &len), -1);
	/* Indefinite (80) and four-byte (84) lengths are refused. */
	assert_int_equal(
	    tlv1((const uint8_t[]){ 0x53, 0x80, 0, 0 }, 4, &tag, &len), -1);
	assert_int_equal(
	    tlv1((const uint8_t[]){ 0x53, 0x84, 0, 0, 0, 1, 9 }, 7, &tag, &len),
	    -1);
	/* Three-byte length. */
	big[0] = 0x70;
	big[1] = 0x83;
	big[2] = 0x01;
	big[3] = 0x00;
	big[4] = 0x00;
	assert_int_equal(tlv1(big, 5 + 0x10000, &tag, &len), 0);
	assert_int_equal(len, 0x10000);
	assert_int_equal(tlv1(big, 5 + 0xffff, &tag, &len), -1);
}

static void test_tlv_tags(void **state)
{
	uint32_t tag;
	size_t len;

	assert_int_equal(
	    tlv1((const uint8_t[]){ 0x5f, 0xc1, 0x05, 0x01, 0 }, 5, &tag, &len),
	    0);
	assert_int_equal(tag, 0x5fc105);
	assert_int_equal(
	    tlv1((const uint8_t[]){ 0x7f, 0x49, 0x00 }, 3, &tag, &len), 0);
	assert_int_equal(tag, 0x7f49);
	assert_int_equal(len, 0);
	/* Four-byte tags and tags cut short are refused. */
	assert_int_equal(tlv1((const uint8_t[]){ 0x5f, 0xc1, 0x85, 0x01, 0x00 },
			      5, &tag, &len),
			 -1);
	assert_int_equal(tlv1((const uint8_t[]){ 0x5f, 0xc1 }, 2, &tag, &len),
			 -1);
	assert_int_equal(tlv1((const uint8_t[]){ 0x7f }, 1, &tag, &len), -1);
}

static void test_tlv_expect_find(void **state)
{
	static const uint8_t in[] = { 0x70, 0x01, 0xaa, 0x71,
				      0x01, 0x00, 0xfe, 0x00 };
	static const uint8_t bad[] = { 0x70, 0x01, 0xaa, 0x71, 0x05, 0x00 };
	struct reader r = reader_init(in, sizeof(in)), v;

	assert_int_equal(reader_expect_tlv(&r, 0x71, &v), -1);
	assert_int_equal(reader_left(&r), sizeof(in));
	assert_int_equal(reader_find_tlv(&r, 0xfe, &v), 0);
	assert_int_equal(reader_left(&v), 0);
	assert_int_equal(reader_find_tlv(&r, 0x71, &v), 0);
	assert_int_equal(v.p[0], 0x00);
	assert_int_equal(reader_find_tlv(&r, 0x72, &v), -1);
	assert_int_equal(reader_left(&r), sizeof(in)); /* not advanced */
	assert_int_equal(reader_expect_tlv(&r, 0x70, &v), 0);
	assert_int_equal(reader_left(&r), sizeof(in) - 3);

	r = reader_init(bad, sizeof(bad));
	assert_int_equal(reader_find_tlv(&r, 0x70, &v), 0);
	assert_int_equal(reader_find_tlv(&r, 0xfe, &v),
			 -1); /* malformed first */
}

/* Every prefix and every single-byte change of a nested template either
 * parses or fails cleanly. An ASan build catches any read outside (the
 * reason for the asan-only label); every build checks that each value found
 * lies inside its input and that parsing always advances. */
static void tlv_walk(const uint8_t *m, size_t n, size_t *parsed,
		     size_t *refused)
{
	struct reader r = reader_init(m, n), v, w;
	uint32_t tag;
	size_t before = reader_left(&r);

	while (reader_get_tlv(&r, &tag, &v) == 0) {
		assert_true(reader_left(&r) < before); /* never stuck */
		before = reader_left(&r);
		assert_true(v.p >= m && v.len <= n &&
			    v.p - m <= (long)(n - v.len));
		assert_ptr_equal(v.p + v.len, r.p); /* the value ends the TLV */
		if (reader_find_tlv(&v, 0x81, &w) == 0)
			assert_true(w.p >= v.p && w.len <= v.len &&
				    w.p - v.p <= (long)(v.len - w.len));
		(*parsed)++;
	}
	if (reader_left(&r) > 0)
		(*refused)++;
}

static void test_tlv_garbage(void **state)
{
	static const uint8_t good[] = { 0x7c, 0x0a, 0x82, 0x00, 0x81, 0x81,
					0x01, 0x55, 0x5f, 0xc1, 0x02, 0x00 };
	uint8_t m[sizeof(good)];
	size_t parsed = 0, refused = 0;
	struct reader r = reader_init(good, sizeof(good)), v, w;
	uint32_t tag;

	/* The template itself: 7C holding 82, 81 (long-form length 1) and a
	 * three-byte tag 5FC102, all of it consumed. */
	assert_int_equal(reader_get_tlv(&r, &tag, &v), 0);
	assert_int_equal(tag, 0x7c);
	assert_int_equal(reader_left(&r), 0);
	assert_int_equal(reader_find_tlv(&v, 0x81, &w), 0);
	assert_int_equal(w.len, 1);
	assert_int_equal(w.p[0], 0x55);
	assert_int_equal(reader_find_tlv(&v, 0x5fc102, &w), 0);
	assert_int_equal(w.len, 0);

	for (size_t n = 0; n <= sizeof(good); n++) {
		for (size_t i = 0; i < n; i++) {
			for (int b = 0; b < 256; b += 17) {
				memcpy(m, good, n);
				m[i] = (uint8_t)b;
				tlv_walk(m, n, &parsed, &refused);
			}
		}
	}
	/* Both outcomes happen: the walk is not vacuous either way. */
	assert_true(parsed > 0);
	assert_true(refused > 0);
}

static void test_buf(void **state)
{
	struct buf b;
	struct reader r, v;
	uint32_t tag;
	uint8_t big[300] = { 0 };

	buf_init(&b, 0);
	buf_add_tlv(&b, 0x5fc105, big, 300);
	buf_add_tlv(&b, 0x7f49, big, 0x90);
	buf_add_tlv(&b, 0x53, big, 3);
	assert_false(buf_failed(&b));
	r = reader_init(b.data, b.len);
	assert_int_equal(reader_get_tlv(&r, &tag, &v), 0);
	assert_int_equal(tag, 0x5fc105);
	assert_int_equal(v.len, 300);
	assert_int_equal(reader_get_tlv(&r, &tag, &v), 0);
	assert_int_equal(tag, 0x7f49);
	assert_int_equal(v.len, 0x90);
	assert_int_equal(reader_get_tlv(&r, &tag, &v), 0);
	assert_int_equal(reader_left(&r), 0);
	buf_free(&b);

	/* Failure is sticky: later small writes do not clear it. */
	buf_init(&b, 4);
	buf_add_u32be(&b, 1);
	assert_false(buf_failed(&b));
	buf_add_u8(&b, 1);
	assert_true(buf_failed(&b));
	buf_add(&b, NULL, 0);
	assert_true(buf_failed(&b));
	assert_int_equal(b.len, 4);
	buf_free(&b);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ints),
		cmocka_unit_test(test_bytes_sub),
		cmocka_unit_test(test_tlv_lengths),
		cmocka_unit_test(test_tlv_tags),
		cmocka_unit_test(test_tlv_expect_find),
		cmocka_unit_test(test_tlv_garbage),
		cmocka_unit_test(test_buf),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
