/* pkcs11/trace.c: trace lines decode templates and mechanisms, and never
 * show a PIN or a secret value, whoever formats them (daemon or module). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "trace.h"

static char line[4096];

/* Formats the call as text (json false) or JSON into line, with the clock's
 * digits masked: the clock is not under test, and its digits could spell a
 * byte pattern that a check below says must be absent. */
static const char *fmt(const char *name, const struct trace_arg *in, size_t nin,
		       const struct trace_arg *out, size_t nout, CK_RV rv,
		       bool json)
{
	struct trace_call c = { .name = name,
				.who = "conn 1",
				.who_json = "\"conn\":1",
				.in = in,
				.nin = nin,
				.out = out,
				.nout = nout,
				.rv = rv,
				.ns = 1500000 };
	struct buf b;
	char *clock;

	buf_init(&b, 0);
	trace_format(&b, json, &c);
	assert_false(buf_failed(&b));
	assert_true(b.len < sizeof(line));
	memcpy(line, b.data, b.len);
	line[b.len] = '\0';
	buf_free(&b);
	clock = line;
	if (json) {
		assert_memory_equal(line, "{\"time\":\"", 9);
		clock += 9;
	}
	for (; *clock && *clock != ' ' && *clock != '"'; clock++)
		if (*clock >= '0' && *clock <= '9')
			*clock = 'T';
	return line;
}

static void test_pins_hidden(void **state)
{
	static const uint8_t pin[] = "12345678";
	const struct trace_arg login[] = {
		{ TRACE_ULONG, 3, NULL },
		{ TRACE_ULONG, CKU_USER, NULL },
		{ TRACE_BYTES, 8, pin },
	};
	const struct trace_arg setpin[] = {
		{ TRACE_ULONG, 3, NULL },
		{ TRACE_BYTES, 8, pin },
		{ TRACE_BYTES, 6, pin },
	};
	const struct trace_arg init[] = {
		{ TRACE_ULONG, 0, NULL },
		{ TRACE_BYTES, 8, pin },
		{ TRACE_STRING, 5, "label" },
	};

	(void)state;
	fmt("C_Login", login, 3, NULL, 0, CKR_PIN_INCORRECT, false);
	assert_non_null(strstr(line, "C_Login(session=3, user=CKU_USER, "
				     "pin=<hidden, 8 bytes>) = "
				     "CKR_PIN_INCORRECT 1.500 ms\n"));
	fmt("C_SetPIN", setpin, 3, NULL, 0, CKR_OK, true);
	assert_non_null(strstr(line, "\"old_pin\":\"<hidden, 8 bytes>\","
				     "\"new_pin\":\"<hidden, 6 bytes>\""));
	fmt("C_InitToken", init, 3, NULL, 0, CKR_OK, false);
	assert_non_null(
	    strstr(line, "so_pin=<hidden, 8 bytes>, label='label'"));
	/* A call the table does not know: its bytes are hidden too. */
	fmt("C_SomethingNew", login, 3, NULL, 0, CKR_OK, false);
	assert_null(strstr(line, "3132"));
	assert_non_null(strstr(line, "arg2=<hidden, 8 bytes>"));
}

static void test_template_secrets(void **state)
{
	CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY, cert = CKO_CERTIFICATE;
	CK_KEY_TYPE rsa = CKK_RSA;
	CK_BBOOL yes = CK_TRUE;
	uint8_t secret[4] = { 0xde, 0xad, 0xbe, 0xef }, id = 1;
	CK_ATTRIBUTE key[] = {
		{ CKA_CLASS, &priv, sizeof(priv) },
		{ CKA_KEY_TYPE, &rsa, sizeof(rsa) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_ID, &id, 1 },
		{ CKA_LABEL, "my key", 6 },
		{ CKA_PRIVATE_EXPONENT, secret, 4 },
		{ CKA_PRIME_1, secret, 4 },
		{ CKA_VALUE, secret, 4 },
	};
	CK_ATTRIBUTE crt[] = {
		{ CKA_CLASS, &cert, sizeof(cert) },
		{ CKA_VALUE, secret, 4 },
	};
	CK_ATTRIBUTE asked[] = { { CKA_VALUE, NULL, 4 } };
	/* A vendor type with the array bit: bytes, not a template. */
	CK_ATTRIBUTE vendor[] = { { CKF_ARRAY_ATTRIBUTE | 0x80000003UL, secret,
				    4 } };
	CK_ATTRIBUTE wrap[] = { { CKA_WRAP_TEMPLATE, crt, sizeof(crt) } };
	const struct trace_arg in[] = { { TRACE_ULONG, 1, NULL },
					{ TRACE_ATTRS, 8, key } };
	const struct trace_arg in2[] = { { TRACE_ULONG, 1, NULL },
					 { TRACE_ATTRS, 2, crt } };
	const struct trace_arg get[] = { { TRACE_ULONG, 1, NULL },
					 { TRACE_ULONG, 2, NULL },
					 { TRACE_ATTRS, 1, asked } };
	const struct trace_arg odd[] = { { TRACE_ULONG, 1, NULL },
					 { TRACE_ULONG, 2, NULL },
					 { TRACE_ATTRS, 1, vendor } };
	const struct trace_arg nested[] = { { TRACE_ULONG, 1, NULL },
					    { TRACE_ATTRS, 1, wrap } };
	const struct trace_arg got[] = { { TRACE_ATTRS, 1, key + 7 },
					 { TRACE_ULONG, CKR_OK, NULL } };

	(void)state;
	fmt("C_CreateObject", in, 2, NULL, 0, CKR_OK, false);
	assert_non_null(
	    strstr(line, "template={CKA_CLASS=CKO_PRIVATE_KEY, "
			 "CKA_KEY_TYPE=CKK_RSA, CKA_SIGN=true, CKA_ID=01, "
			 "CKA_LABEL='my key', "
			 "CKA_PRIVATE_EXPONENT=<hidden, 4 bytes>, "
			 "CKA_PRIME_1=<hidden, 4 bytes>, "
			 "CKA_VALUE=<hidden, 4 bytes>}"));
	assert_null(strstr(line, "deadbeef"));
	/* A certificate's value is public. */
	fmt("C_CreateObject", in2, 2, NULL, 0, CKR_OK, false);
	assert_non_null(strstr(line, "CKA_VALUE=deadbeef"));
	fmt("C_SetAttributeValue", odd, 3, NULL, 0, CKR_OK, false);
	assert_non_null(strstr(line, "template={CKA_0xc0000003=deadbeef}"));
	fmt("C_CreateObject", nested, 2, NULL, 0, CKR_OK, false);
	assert_non_null(strstr(line, "template={CKA_WRAP_TEMPLATE={CKA_CLASS="
				     "CKO_CERTIFICATE, CKA_VALUE=deadbeef}}"));
	/* Read back: the room asked for, then the value hidden. */
	fmt("C_GetAttributeValue", get, 3, got, 2, CKR_OK, false);
	assert_non_null(strstr(line, "template={CKA_VALUE=[room 4]}) -> "
				     "(template={CKA_VALUE=<hidden, 4 "
				     "bytes>}, rv=CKR_OK)"));
}

static void test_outputs(void **state)
{
	uint8_t plain[40], enc[16];
	const struct trace_arg in[] = { { TRACE_ULONG, 1, NULL },
					{ TRACE_BYTES, 16, enc },
					{ TRACE_ROOM, 256, NULL } };
	const struct trace_arg out[] = { { TRACE_BYTES, 40, plain } };
	const struct trace_arg size[] = { { TRACE_BYTES, 40, NULL } };

	(void)state;
	memset(plain, 0x41, sizeof(plain));
	memset(enc, 0x42, sizeof(enc));
	fmt("C_Decrypt", in, 3, out, 1, CKR_OK, false);
	assert_non_null(strstr(line,
			       "encrypted=42424242424242424242424242424242"
			       ", data=[room 256]) -> (data=<hidden, "
			       "40 bytes>)"));
	assert_null(strstr(line, "4141"));
	/* The size query: only the length. */
	fmt("C_Decrypt", in, 3, size, 1, CKR_OK, false);
	assert_non_null(strstr(line, "-> (data=[len 40])"));
	/* Outputs of a failed call are not shown. */
	fmt("C_Decrypt", in, 3, out, 1, CKR_BUFFER_TOO_SMALL, false);
	assert_null(strstr(line, "->"));
	/* Long public bytes: the first 16 and the length. */
	fmt("C_Sign", in, 3, out, 0, CKR_OK, false);
	fmt("C_Verify",
	    (const struct trace_arg[]){ { TRACE_ULONG, 1, NULL },
					{ TRACE_BYTES, 40, plain },
					{ TRACE_BYTES, 2, enc } },
	    3, NULL, 0, CKR_OK, false);
	assert_non_null(strstr(line, "data=41414141414141414141414141414141"
				     "..(40 bytes), signature=4242)"));
}

static void test_mechanism_params(void **state)
{
	CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
	CK_MECHANISM m = { CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof(pss) };
	CK_MECHANISM ec = { CKM_ECDSA, NULL, 0 };
	const struct trace_arg in[] = { { TRACE_ULONG, 1, NULL },
					{ TRACE_MECH, 0, &m },
					{ TRACE_ULONG, 4, NULL } };
	const struct trace_arg in2[] = { { TRACE_ULONG, 1, NULL },
					 { TRACE_MECH, 0, &ec },
					 { TRACE_ULONG, 4, NULL } };

	(void)state;
	fmt("C_SignInit", in, 3, NULL, 0, CKR_OK, false);
	assert_non_null(strstr(line, "mechanism=CKM_SHA256_RSA_PKCS_PSS{"
				     "hash=CKM_SHA256, mgf=CKG_MGF1_SHA256, "
				     "salt=32}, key=4)"));
	fmt("C_SignInit", in2, 3, NULL, 0, CKR_MECHANISM_INVALID, true);
	assert_non_null(strstr(line, "\"call\":\"C_SignInit\",\"args\":{"
				     "\"session\":\"1\",\"mechanism\":"
				     "\"CKM_ECDSA\",\"key\":\"4\"},\"out\":{},"
				     "\"rv\":\"CKR_MECHANISM_INVALID\","
				     "\"ms\":1.500}\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pins_hidden),
		cmocka_unit_test(test_template_secrets),
		cmocka_unit_test(test_outputs),
		cmocka_unit_test(test_mechanism_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
