/* The module bridge against a module that crashes, hangs and lies about
 * lengths (broken_module.c): each failure costs only that helper, the call
 * gets a clean error, and the link comes back as a new generation. */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "bridge_util.h"
#include "buf.h"
#include "error.h"
#include "link_int.h"
#include "rpc_frame.h"

/* The call timeout: short where a hang is the test, else long enough for
 * a sanitizer build on a loaded machine. */
#define HANG_TIMEOUT_MS 500
#define TIMEOUT_MS 10000

static struct mlink *link_new_timeout(const char *const *env, unsigned ms)
{
	struct mlink_config cfg = {
		.module = BROKEN_MODULE,
		.helper = HELPER_PATH,
		.env = env,
		.timeout_ms = ms,
		.backoff_ms = 100,
		.backoff_max_ms = 400,
	};
	struct mlink *l = NULL;
	uint64_t gen = 0;

	assert_int_equal(mlink_new(&cfg, &l), 0);
	assert_int_equal(mlink_wait_up(l, 5000, 0, &gen), 0);
	assert_int_equal(gen, 1);
	return l;
}

static struct mlink *link_new(const char *const *env)
{
	return link_new_timeout(env, TIMEOUT_MS);
}

static CK_RV slot_info(struct mlink *l, CK_SLOT_ID slot, struct mlink_reply *r)
{
	struct rpc_arg a[] = { U(slot) };

	return call(l, RPC_C_GetSlotInfo, a, 1, r);
}

/* Back up as the next generation, and slot 0 answers. */
static void assert_back(struct mlink *l, uint64_t gen)
{
	struct mlink_reply r;
	uint64_t now = 0;

	assert_int_equal(mlink_wait_up(l, 5000, gen, &now), 0);
	assert_int_equal(now, gen + 1);
	assert_int_equal(slot_info(l, 0, &r), CKR_OK);
	assert_int_equal(r.gen, gen + 1);
	mlink_reply_clear(&r);
}

static void test_normal(void **state)
{
	struct mlink *l = link_new(NULL);
	struct rpc_arg list[] = { Y(CK_TRUE), FU(16) };
	struct mlink_reply r;
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;

	assert_int_equal(call(l, RPC_C_GetInfo, NULL, 0, &r), CKR_OK);
	assert_int_equal(r.msg.nargs, 5);
	assert_memory_equal(r.msg.args[3].bytes.p, "broken module", 13);
	mlink_reply_clear(&r);
	assert_int_equal(call(l, RPC_C_GetSlotList, list, 2, &r), CKR_OK);
	assert_int_equal(mlink_out_ulongs(&r.msg.args[0], slots, &n), CKR_OK);
	assert_int_equal(n, 5);
	assert_int_equal(slots[4], 4);
	mlink_reply_clear(&r);
	/* A call the module lacks, and one it has on an invalid slot. */
	assert_int_equal(call0(l, RPC_C_Login,
			       (struct rpc_arg[]){ U(1), U(1), AY("1", 1) }, 3),
			 CKR_FUNCTION_NOT_SUPPORTED);
	assert_int_equal(slot_info(l, 9, &r), CKR_SLOT_ID_INVALID);
	mlink_reply_clear(&r);
	mlink_free(&l);
	assert_null(l);
}

static void test_crash(void **state)
{
	struct mlink *l = link_new(NULL);
	struct mlink_stats st;
	struct mlink_reply r;

	assert_int_equal(slot_info(l, 1, &r), LINK_FAILED);
	assert_int_equal(r.fail, MLINK_DIED);
	assert_int_equal(r.gen, 1);
	mlink_reply_clear(&r);
	assert_back(l, 1);
	mlink_stats(l, &st);
	assert_int_equal(st.deaths, 1);
	assert_int_equal(st.starts, 2);
	/* Twice more: the link keeps coming back. */
	assert_int_equal(slot_info(l, 1, &r), LINK_FAILED);
	mlink_reply_clear(&r);
	assert_back(l, 2);
	mlink_free(&l);
}

static void test_hang(void **state)
{
	struct mlink *l = link_new_timeout(NULL, HANG_TIMEOUT_MS);
	struct mlink_stats st;
	struct mlink_reply r;
	double t0 = now_s(), dt;

	assert_int_equal(slot_info(l, 2, &r), LINK_FAILED);
	dt = now_s() - t0;
	assert_int_equal(r.fail, MLINK_TIMEOUT);
	mlink_reply_clear(&r);
	assert_true(dt >= HANG_TIMEOUT_MS / 1000.0 && dt < 5.0);
	assert_back(l, 1);
	mlink_stats(l, &st);
	assert_int_equal(st.timeouts, 1);
	mlink_free(&l);
}

/* The module claims more output than the buffers it was given: an error
 * from the helper, no over-read, and the same helper goes on. */
static void test_oversized(void **state)
{
	struct mlink *l = link_new(NULL);
	CK_BYTE v[16];
	CK_ATTRIBUTE t = { CKA_LABEL, v, sizeof(v) };
	struct rpc_arg mechs[] = { U(3), FU(4) };
	struct rpc_arg sign_init[] = { U(4), MECH(CKM_ECDSA), U(1) };
	struct rpc_arg sign[] = { U(4), AY("0123456789abcdef", 16), FY(64) };
	struct rpc_arg find[] = { U(4), FU(10) };
	struct rpc_arg attrs[] = { U(4), U(1), FA(&t, 1) };
	struct mlink_stats st;

	assert_int_equal(call0(l, RPC_C_GetMechanismList, mechs, 2),
			 CKR_DEVICE_ERROR);
	assert_int_equal(call0(l, RPC_C_SignInit, sign_init, 3), CKR_OK);
	assert_int_equal(call0(l, RPC_C_Sign, sign, 3), CKR_DEVICE_ERROR);
	assert_int_equal(call0(l, RPC_C_FindObjects, find, 2),
			 CKR_DEVICE_ERROR);
	assert_int_equal(call0(l, RPC_C_GetAttributeValue, attrs, 3),
			 CKR_DEVICE_ERROR);
	mlink_stats(l, &st);
	assert_int_equal(st.gen, 1);
	assert_int_equal(st.deaths, 0);
	mlink_free(&l);
}

/* Slot 1 normal session: outputs by p11-kit's client rules. */
static void test_outputs(void **state)
{
	struct mlink *l = link_new(NULL);
	CK_BYTE v[16], sig[8];
	CK_ATTRIBUTE t = { CKA_LABEL, v, sizeof(v) };
	CK_ATTRIBUTE q = { CKA_LABEL, NULL, 0 };
	struct rpc_arg sign_init[] = { U(1), MECH(CKM_ECDSA), U(1) };
	struct rpc_arg size[] = { U(1), AY("x", 1), FY(0) };
	struct rpc_arg small[] = { U(1), AY("x", 1), FY(4) };
	struct rpc_arg sign[] = { U(1), AY("x", 1), FY(8) };
	struct mlink_reply r;
	CK_ULONG n;

	assert_int_equal(call0(l, RPC_C_SignInit, sign_init, 3), CKR_OK);
	assert_int_equal(call(l, RPC_C_Sign, size, 3, &r), CKR_OK);
	n = 0;
	assert_int_equal(mlink_out_bytes(&r.msg.args[0], NULL, &n), CKR_OK);
	assert_int_equal(n, 8);
	mlink_reply_clear(&r);
	assert_int_equal(call(l, RPC_C_Sign, small, 3, &r), CKR_OK);
	n = 4;
	assert_int_equal(mlink_out_bytes(&r.msg.args[0], sig, &n),
			 CKR_BUFFER_TOO_SMALL);
	assert_int_equal(n, 8);
	mlink_reply_clear(&r);
	assert_int_equal(call(l, RPC_C_Sign, sign, 3, &r), CKR_OK);
	n = sizeof(sig);
	assert_int_equal(mlink_out_bytes(&r.msg.args[0], sig, &n), CKR_OK);
	assert_int_equal(n, 8);
	assert_int_equal(sig[7], 0x5a);
	mlink_reply_clear(&r);
	/* Attributes: a value, then a size query that keeps its length. */
	assert_int_equal(call(l, RPC_C_GetAttributeValue,
			      (struct rpc_arg[]){ U(1), U(7), FA(&t, 1) }, 3,
			      &r),
			 CKR_OK);
	assert_int_equal(r.msg.args[0].attrs.v[0].ulValueLen, 4);
	assert_memory_equal(r.msg.args[0].attrs.v[0].pValue, "abcd", 4);
	mlink_reply_clear(&r);
	assert_int_equal(call(l, RPC_C_GetAttributeValue,
			      (struct rpc_arg[]){ U(1), U(7), FA(&q, 1) }, 3,
			      &r),
			 CKR_OK);
	assert_null(r.msg.args[0].attrs.v[0].pValue);
	assert_int_equal(r.msg.args[0].attrs.v[0].ulValueLen, 4);
	mlink_reply_clear(&r);
	mlink_free(&l);
}

struct slow {
	struct mlink *l;
	CK_RV rv;
	enum mlink_fail fail;
};

static void *slow_call(void *arg)
{
	struct slow *s = arg;
	struct mlink_reply r;

	s->rv = slot_info(s->l, 4, &r);
	s->fail = r.fail;
	mlink_reply_clear(&r);
	return NULL;
}

/* Seconds a fast call takes while a 1 s one is in the module (mark: the
 * file it creates then, BROKEN_SLOW_MARK in the link's environment). */
static double fast_beside_slow(struct mlink *l, const char *mark)
{
	struct slow s = { l, 0, 0 };
	struct mlink_reply r;
	pthread_t t;
	double t0;

	unlink(mark);
	assert_int_equal(pthread_create(&t, NULL, slow_call, &s), 0);
	for (int i = 0; i < 1000 && access(mark, F_OK) != 0; i++)
		usleep(10000);
	assert_int_equal(access(mark, F_OK), 0);
	t0 = now_s();
	assert_int_equal(slot_info(l, 0, &r), CKR_OK);
	t0 = now_s() - t0;
	mlink_reply_clear(&r);
	pthread_join(t, NULL);
	assert_int_equal(s.rv, CKR_OK);
	return t0;
}

/* SIGKILL from outside while a call is in the module: that call fails with
 * MLINK_DIED and the next generation answers. */
static void test_killed_mid_call(void **state)
{
	struct mlink *l = link_new(NULL);
	struct slow s = { l, 0, 0 };
	struct mlink_stats st;
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, slow_call, &s), 0);
	usleep(100000);
	mlink_stats(l, &st);
	/* kill(0) would take the test runner's process group */
	assert_true(st.pid > 0);
	assert_int_equal(kill(st.pid, SIGKILL), 0);
	pthread_join(t, NULL);
	assert_int_equal(s.rv, LINK_FAILED);
	assert_int_equal(s.fail, MLINK_DIED);
	assert_back(l, 1);
	mlink_free(&l);
}

/* A module that took CKF_OS_LOCKING_OK runs calls side by side; one that
 * answered CKR_CANT_LOCK gets them one at a time. */
static void test_concurrency(void **state)
{
	char mark[] = "/tmp/bridge-broken-XXXXXX", env1[64], env2[64];
	const char *threaded[] = { env1, NULL };
	const char *cant[] = { env2, "BROKEN_CANT_LOCK=1", NULL };
	struct mlink *l;
	double dt;
	int fd;

	assert_true((fd = mkstemp(mark)) >= 0);
	close(fd);
	snprintf(env1, sizeof(env1), "BROKEN_SLOW_MARK=%s", mark);
	snprintf(env2, sizeof(env2), "BROKEN_SLOW_MARK=%s", mark);
	l = link_new(threaded);
	dt = fast_beside_slow(l, mark);
	print_message("fast call beside a slow one: %.3f s (threaded)\n", dt);
	assert_true(dt < 0.5);
	mlink_free(&l);
	l = link_new(cant);
	/* The slow call is in the module first: the fast one waits for it. */
	dt = fast_beside_slow(l, mark);
	print_message("fast call beside a slow one: %.3f s (CANT_LOCK)\n", dt);
	assert_true(dt > 0.5);
	mlink_free(&l);
	unlink(mark);
}

/* The helper itself: a malformed or oversized frame makes it leave (exit
 * status 1) without an answer, and a well-formed one is answered. */
static void raw_frame(const uint8_t *f, size_t n, int want_status)
{
	char *const envp[] = { NULL };
	uint8_t v = 2, buf[1024];
	pid_t pid;
	int fd, status;

	assert_int_equal(
	    mlink_spawn(HELPER_PATH, BROKEN_MODULE, envp, &pid, &fd), 0);
	assert_int_equal(write(fd, &v, 1), 1);
	assert_int_equal(read(fd, &v, 1), 1);
	assert_int_equal(v, 2);
	assert_int_equal(write(fd, f, n), (ssize_t)n);
	if (want_status == 0) {
		assert_true(read(fd, buf, sizeof(buf)) >= 12);
		close(fd);
	} else {
		assert_int_equal(read(fd, buf, sizeof(buf)), 0);
		close(fd);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), want_status);
}

static void test_helper_refuses_garbage(void **state)
{
	/* GetInfo: id 7, empty options, body "u32 3, sig ''" */
	static const uint8_t ok[] = { 0, 0, 0, 7, 0, 0, 0, 0, 0, 0,
				      0, 8, 0, 0, 0, 3, 0, 0, 0, 0 };
	static const uint8_t huge[] = { 0, 0, 0,    7,    0,    0,
					0, 0, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t opts[] = { 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 9 };
	static const uint8_t badsig[] = { 0, 0, 0, 7, 0, 0, 0, 0, 0, 0,
					  0, 8, 0, 0, 0, 3, 0, 0, 0, 1 };
	static const uint8_t badcall[] = { 0, 0, 0, 7, 0, 0,   0, 0, 0, 0,
					   0, 8, 0, 0, 0, 200, 0, 0, 0, 0 };

	raw_frame(ok, sizeof(ok), 0);
	raw_frame(huge, sizeof(huge), 1);
	raw_frame(opts, sizeof(opts), 1);
	raw_frame(badsig, sizeof(badsig), 1);
	raw_frame(badcall, sizeof(badcall), 1);
}

/* Appends one request frame (id, call, args) to b. */
static void put_request(const struct rpc_codec *c, struct buf *b, uint32_t id,
			uint32_t call, const struct rpc_arg *a, size_t n)
{
	size_t at = b->len;

	assert_non_null(buf_reserve(b, RPC_FRAME_HEADER_LEN));
	assert_int_equal(rpc_request_encode(c, call, a, n, b), 0);
	assert_false(buf_failed(b));
	mlink_put_header(b->data + at, id, b->len - at - RPC_FRAME_HEADER_LEN);
}

/* Reads one reply frame from the helper; returns its id. */
static uint32_t get_reply(int fd)
{
	uint8_t hdr[RPC_FRAME_HEADER_LEN], body[4096];
	size_t len;

	assert_int_equal(read(fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	len = (size_t)hdr[8] << 24 | (size_t)hdr[9] << 16 |
	      (size_t)hdr[10] << 8 | hdr[11];
	assert_true(len <= sizeof(body));
	for (size_t got = 0; got < len;) {
		ssize_t r = read(fd, body + got, len - got);

		assert_true(r > 0);
		got += (size_t)r;
	}
	return ((uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
		(uint32_t)hdr[2] << 8 | hdr[3]) &
	       ~MLINK_ID_THREADED;
}

/* The helper with the broken module, initialised; then a call that never
 * returns (slot 2) and a fast one (slot 0) in one write. Returns the id of
 * the first answer within 10 s, 0 for none: 3 (the fast one) when another
 * helper thread took the second request while the first hung in the
 * module. */
static uint32_t burst_first_answer(void)
{
	char *const envp[] = { NULL };
	struct pollfd pfd;
	static const char hs[] = "PRIVATE-GNOME-KEYRING-PKCS11-PROTOCOL-V-1";
	const struct rpc_arg init[3] = {
		{ .type = RPC_ARG_BYTES,
		  .bytes = { (const CK_BYTE *)hs, sizeof(hs) - 1, false } },
		{ .type = RPC_ARG_BYTE, .byte = 0 },
		{ .type = RPC_ARG_BYTES },
	};
	const struct rpc_arg hang[] = { U(2) }, fast[] = { U(0) };
	struct rpc_codec codec;
	struct buf b;
	uint8_t v = 2;
	uint32_t first;
	pid_t pid;
	int fd, status;

	rpc_codec_init(&codec, RPC_PROTOCOL_MAX);
	assert_int_equal(
	    mlink_spawn(HELPER_PATH, BROKEN_MODULE, envp, &pid, &fd), 0);
	assert_int_equal(write(fd, &v, 1), 1);
	assert_int_equal(read(fd, &v, 1), 1);
	buf_init(&b, 0);
	put_request(&codec, &b, 1, RPC_C_Initialize, init, 3);
	assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
	assert_int_equal(get_reply(fd), 1);
	b.len = 0;
	put_request(&codec, &b, 2, RPC_C_GetSlotInfo, hang, 1);
	put_request(&codec, &b, 3, RPC_C_GetSlotInfo, fast, 1);
	assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	first = poll(&pfd, 1, 10000) == 1 ? get_reply(fd) : 0;
	buf_free(&b);
	/* End of file: the helper leaves, the hung call with it (unless no
	 * thread reads any more: then it is killed). */
	close(fd);
	if (first == 0 && pid > 0)
		kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(first == 0 ||
		    (WIFEXITED(status) && WEXITSTATUS(status) == 0));
	return first;
}

/* Requests that reach the helper together are still run side by side:
 * the thread that read one lets the next idle thread read on before it
 * runs its own. (Under CKR_CANT_LOCK they run one at a time, in either
 * order: the second reader may take the module first; test_concurrency
 * shows that case.) */
static void test_burst(void **state)
{
	(void)state;
	assert_int_equal(burst_first_answer(), 3);
}

static void test_no_helper(void **state)
{
	struct mlink_config cfg = { .module = BROKEN_MODULE,
				    .helper = "/nonexistent/helper" };
	struct mlink *l = NULL;

	assert_int_equal(mlink_new(&cfg, &l), TK_ERR_NOT_FOUND);
	assert_null(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normal),
		cmocka_unit_test(test_outputs),
		cmocka_unit_test(test_crash),
		cmocka_unit_test(test_hang),
		cmocka_unit_test(test_killed_mid_call),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_concurrency),
		cmocka_unit_test(test_burst),
		cmocka_unit_test(test_helper_refuses_garbage),
		cmocka_unit_test(test_no_helper),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
