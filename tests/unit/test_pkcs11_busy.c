/* One application's sessions while another of its sessions is at the card:
 * a login, a PIN change, a key generation and a search's first read are
 * held inside the soft token (a gate the test opens), and the other
 * session's cached calls must be answered meanwhile. No timing is
 * asserted: a call that waited for the card would never return while the
 * gate is shut, and the alarm ends the test. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "frontend.h"
#include "soft_token.h"

#define WATCHDOG_S 30

static struct app *app;
static CK_SLOT_ID slot;

/* ---- the gate: a card call the test holds open ---- */

static struct {
	pthread_mutex_t m;
	pthread_cond_t cv;
	const char *op; /* the op held; NULL: none */
	int inside;
	bool release;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0,
	   false };

static void gate_hook(const char *op)
{
	pthread_mutex_lock(&gate.m);
	if (gate.op && strcmp(op, gate.op) == 0) {
		gate.inside++;
		pthread_cond_broadcast(&gate.cv);
		while (!gate.release)
			pthread_cond_wait(&gate.cv, &gate.m);
	}
	pthread_mutex_unlock(&gate.m);
}

static void gate_arm(const char *op)
{
	pthread_mutex_lock(&gate.m);
	gate.op = op;
	gate.inside = 0;
	gate.release = false;
	pthread_mutex_unlock(&gate.m);
}

static void gate_wait_inside(void)
{
	pthread_mutex_lock(&gate.m);
	while (gate.inside == 0)
		pthread_cond_wait(&gate.cv, &gate.m);
	pthread_mutex_unlock(&gate.m);
}

static void gate_open(void)
{
	pthread_mutex_lock(&gate.m);
	gate.release = true;
	gate.op = NULL;
	pthread_cond_broadcast(&gate.cv);
	pthread_mutex_unlock(&gate.m);
}

/* ---- a call on another thread ---- */

struct call {
	CK_RV (*fn)(struct call *c);
	CK_SESSION_HANDLE s;
	CK_USER_TYPE user;
	const char *pin;
	pthread_barrier_t *start; /* optional */
	CK_RV rv;
	pthread_t t;
};

static void *call_run(void *arg)
{
	struct call *c = arg;

	if (c->start)
		pthread_barrier_wait(c->start);
	c->rv = c->fn(c);
	return NULL;
}

static void call_start(struct call *c)
{
	c->rv = CKR_GENERAL_ERROR;
	assert_int_equal(pthread_create(&c->t, NULL, call_run, c), 0);
}

static CK_RV call_join(struct call *c)
{
	pthread_join(c->t, NULL);
	return c->rv;
}

static CK_RV do_login(struct call *c)
{
	return fe_C_Login(app, c->s, c->user, (CK_UTF8CHAR_PTR)c->pin,
			  strlen(c->pin));
}

static CK_RV do_setpin(struct call *c)
{
	return fe_C_SetPIN(app, c->s, (CK_UTF8CHAR_PTR)SOFT_PIN, 6,
			   (CK_UTF8CHAR_PTR) "654321", 6);
}

static CK_RV do_generate(struct call *c)
{
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48,
			   0xce, 0x3d, 0x03, 0x01, 0x07 };
	CK_ATTRIBUTE pub[] = { { CKA_EC_PARAMS, p256, sizeof(p256) },
			       { CKA_ID, (void *)soft_idb(6), SOFT_ID_LEN } };
	CK_OBJECT_HANDLE hp, hk;

	return fe_C_GenerateKeyPair(app, c->s, &m, pub, 2, pub + 1, 1, &hp,
				    &hk);
}

static CK_RV do_create_data(struct call *c)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL tok = CK_TRUE;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) },
			     { CKA_TOKEN, &tok, sizeof(tok) },
			     { CKA_VALUE, "new value", 9 } };
	CK_OBJECT_HANDLE h;

	return fe_C_CreateObject(app, c->s, t, 3, &h);
}

static CK_RV do_find_all(struct call *c)
{
	return fe_C_FindObjectsInit(app, c->s, NULL, 0);
}

/* ---- fixture ---- */

static int up(void **state)
{
	struct tk_driver **drv = calloc(1, sizeof(*drv));
	CK_ULONG n = 1;

	(void)state;
	soft_reset_all();
	soft_driver_new(&drv[0]);
	if (frontend_init(drv, 1) < 0 || app_new(&app) < 0)
		return -1;
	frontend_events_queue(soft_queue());
	/* The size query takes in the soft card's arrival. */
	if (fe_C_GetSlotList(app, CK_TRUE, NULL, &n) != CKR_OK ||
	    fe_C_GetSlotList(app, CK_TRUE, &slot, &n) != CKR_OK || n != 1)
		return -1;
	soft_control.card_hook = gate_hook;
	alarm(WATCHDOG_S); /* a call that waits for the gate ends here */
	return 0;
}

static int down(void **state)
{
	(void)state;
	gate_open(); /* a failed test may have left a call inside */
	alarm(0);
	soft_control.card_hook = NULL;
	app_free(&app);
	frontend_fini();
	return 0;
}

static CK_SESSION_HANDLE open_rw(void)
{
	CK_SESSION_HANDLE s;

	assert_int_equal(fe_C_OpenSession(app, slot,
					  CKF_SERIAL_SESSION | CKF_RW_SESSION,
					  NULL, NULL, &s),
			 CKR_OK);
	return s;
}

/* How many objects of class cls s finds (reads the card the first time). */
static CK_ULONG count_class(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls)
{
	CK_ATTRIBUTE t = { CKA_CLASS, &cls, sizeof(cls) };
	CK_OBJECT_HANDLE h[32];
	CK_ULONG n = 0;

	assert_int_equal(fe_C_FindObjectsInit(app, s, &t, 1), CKR_OK);
	assert_int_equal(fe_C_FindObjects(app, s, h, 32, &n), CKR_OK);
	assert_int_equal(fe_C_FindObjectsFinal(app, s), CKR_OK);
	return n;
}

/* The certificate of key 1, a public object. */
static CK_OBJECT_HANDLE cert_1(CK_SESSION_HANDLE s)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) },
			     { CKA_ID, (void *)soft_idb(1), SOFT_ID_LEN } };
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG n = 0;

	assert_int_equal(fe_C_FindObjectsInit(app, s, t, 2), CKR_OK);
	assert_int_equal(fe_C_FindObjects(app, s, &h, 1, &n), CKR_OK);
	assert_int_equal(fe_C_FindObjectsFinal(app, s), CKR_OK);
	assert_int_equal(n, 1);
	return h;
}

/* What s2 must answer at once while another session of the app is at the
 * card: the session's state, the token's info, the mechanisms; with
 * attrs, a cached attribute (the call at the card changes no cached
 * object, so it holds only io). */
static void answers_now(CK_SESSION_HANDLE s2, CK_OBJECT_HANDLE cert,
			CK_STATE want, bool attrs)
{
	CK_SESSION_INFO si;
	CK_TOKEN_INFO ti;
	CK_MECHANISM_TYPE mechs[64];
	CK_ULONG nm = 64;
	CK_BYTE label[64];
	CK_ATTRIBUTE a = { CKA_LABEL, label, sizeof(label) };

	assert_int_equal(fe_C_GetSessionInfo(app, s2, &si), CKR_OK);
	assert_int_equal(si.state, want);
	assert_int_equal(fe_C_GetTokenInfo(app, slot, &ti), CKR_OK);
	assert_int_equal(fe_C_GetMechanismList(app, slot, mechs, &nm), CKR_OK);
	assert_true(nm > 0);
	if (!attrs)
		return;
	assert_int_equal(fe_C_GetAttributeValue(app, s2, cert, &a, 1), CKR_OK);
	assert_true(a.ulValueLen > 0);
}

/* ---- tests ---- */

/* A slow C_Login: the other session answers from the cache, also on the
 * daemon's loop thread (fe_try_session); it sees no private object before
 * the login is over; the logging-in session is busy. */
static void test_login(void **state)
{
	CK_SESSION_HANDLE s1 = open_rw(), s2 = open_rw();
	CK_OBJECT_HANDLE cert = cert_1(s2);
	struct call c = {
		.fn = do_login, .s = s1, .user = CKU_USER, .pin = SOFT_PIN
	};
	struct fe_hold hold;
	CK_BYTE label[64];
	CK_ATTRIBUTE a = { CKA_LABEL, label, sizeof(label) };

	(void)state;
	assert_int_equal(count_class(s2, CKO_PRIVATE_KEY), 1); /* PIN never */
	assert_int_equal(count_class(s2, CKO_DATA), 1);        /* CHUID */
	gate_arm("login");
	call_start(&c);
	gate_wait_inside();
	/* the loop thread's fast path takes the app for s2, not for s1 */
	assert_true(fe_try_session(app, s2, &hold));
	assert_int_equal(fe_C_GetAttributeValue(app, s2, cert, &a, 1), CKR_OK);
	fe_try_end(&hold);
	assert_false(fe_try_session(app, s1, &hold));
	answers_now(s2, cert, CKS_RW_PUBLIC_SESSION, true);
	assert_int_equal(count_class(s2, CKO_PRIVATE_KEY), 1);
	gate_open();
	assert_int_equal(call_join(&c), CKR_OK);
	assert_int_equal(soft_stats.login, 1);
	answers_now(s2, cert, CKS_RW_USER_FUNCTIONS, true);
	assert_int_equal(count_class(s2, CKO_PRIVATE_KEY), 5);
	assert_int_equal(count_class(s2, CKO_DATA), 2); /* + printed */
}

/* Two sessions of one app log in at the same moment, many times: one
 * VERIFY each time; the other gets CKR_USER_ALREADY_LOGGED_IN. */
static void test_login_race(void **state)
{
	CK_SESSION_HANDLE s1 = open_rw(), s2 = open_rw();
	pthread_barrier_t start;
	CK_SESSION_INFO si;

	(void)state;
	soft_control.card_hook = NULL;
	pthread_barrier_init(&start, NULL, 2);
	for (int i = 0; i < 200; i++) {
		struct call a = { .fn = do_login,
				  .s = s1,
				  .user = CKU_USER,
				  .pin = SOFT_PIN,
				  .start = &start };
		struct call b = a;
		int logins = soft_stats.login;
		CK_RV ra, rb;

		b.s = s2;
		call_start(&a);
		call_start(&b);
		ra = call_join(&a);
		rb = call_join(&b);
		assert_int_equal(soft_stats.login, logins + 1);
		assert_true(
		    (ra == CKR_OK && rb == CKR_USER_ALREADY_LOGGED_IN) ||
		    (rb == CKR_OK && ra == CKR_USER_ALREADY_LOGGED_IN));
		assert_int_equal(fe_C_GetSessionInfo(app, s1, &si), CKR_OK);
		assert_int_equal(si.state, CKS_RW_USER_FUNCTIONS);
		assert_int_equal(fe_C_Logout(app, i % 2 ? s1 : s2), CKR_OK);
		assert_int_equal(fe_C_GetSessionInfo(app, s2, &si), CKR_OK);
		assert_int_equal(si.state, CKS_RW_PUBLIC_SESSION);
	}
	pthread_barrier_destroy(&start);
	/* the card was logged out with the last logout every time */
	assert_int_equal(soft_stats.logout, 200);
}

/* A slow PIN change (an admin call that changes no cached object). */
static void test_setpin(void **state)
{
	CK_SESSION_HANDLE s1 = open_rw(), s2 = open_rw();
	CK_OBJECT_HANDLE cert = cert_1(s2);
	struct call c = { .fn = do_setpin, .s = s1 };
	struct fe_hold hold;

	(void)state;
	gate_arm("change_pin");
	call_start(&c);
	gate_wait_inside();
	assert_true(fe_try_session(app, s2, &hold));
	fe_try_end(&hold);
	assert_false(fe_try_session(app, s1, &hold));
	answers_now(s2, cert, CKS_RW_PUBLIC_SESSION, true);
	gate_open();
	assert_int_equal(call_join(&c), CKR_OK);
	assert_int_equal(
	    fe_C_Login(app, s2, CKU_USER, (CK_UTF8CHAR_PTR) "654321", 6),
	    CKR_OK);
}

/* A slow key generation: it changes the token's objects, so it holds the
 * slot's cache; the session's state, the token's info, the mechanisms and
 * a search already made are still answered. */
static void test_generate(void **state)
{
	CK_SESSION_HANDLE s1 = open_rw(), s2 = open_rw();
	CK_OBJECT_HANDLE cert = cert_1(s2), h[8];
	struct call c = { .fn = do_generate, .s = s1 };
	CK_ULONG n = 0;

	(void)state;
	assert_int_equal(fe_C_Login(app, s1, CKU_SO,
				    (CK_UTF8CHAR_PTR)SOFT_SO_PIN,
				    strlen(SOFT_SO_PIN)),
			 CKR_OK);
	assert_int_equal(fe_C_FindObjectsInit(app, s2, NULL, 0), CKR_OK);
	gate_arm("generate");
	call_start(&c);
	gate_wait_inside();
	answers_now(s2, cert, CKS_RW_SO_FUNCTIONS, false);
	assert_int_equal(fe_C_FindObjects(app, s2, h, 8, &n), CKR_OK);
	assert_true(n > 0);
	gate_open();
	assert_int_equal(call_join(&c), CKR_OK);
	assert_int_equal(soft_stats.generate, 1);
	assert_int_equal(fe_C_FindObjectsFinal(app, s2), CKR_OK);
}

/* A slow data object write (the driver's create_data): the other
 * session's state, the token's info and the mechanisms are answered;
 * after it, a search finds the new value. */
static void test_create_data(void **state)
{
	CK_SESSION_HANDLE s1 = open_rw(), s2 = open_rw();
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t = { CKA_CLASS, &cls, sizeof(cls) };
	struct call c = { .fn = do_create_data, .s = s1 };
	CK_BYTE value[32];
	CK_ATTRIBUTE a = { CKA_VALUE, value, sizeof(value) };
	CK_OBJECT_HANDLE h;
	CK_ULONG n = 0;

	(void)state;
	assert_int_equal(fe_C_Login(app, s1, CKU_SO,
				    (CK_UTF8CHAR_PTR)SOFT_SO_PIN,
				    strlen(SOFT_SO_PIN)),
			 CKR_OK);
	gate_arm("create_data");
	call_start(&c);
	gate_wait_inside();
	answers_now(s2, CK_INVALID_HANDLE, CKS_RW_SO_FUNCTIONS, false);
	gate_open();
	assert_int_equal(call_join(&c), CKR_OK);
	assert_int_equal(soft_stats.create_data, 1);
	assert_int_equal(fe_C_FindObjectsInit(app, s2, &t, 1), CKR_OK);
	assert_int_equal(fe_C_FindObjects(app, s2, &h, 1, &n), CKR_OK);
	assert_int_equal(fe_C_FindObjectsFinal(app, s2), CKR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(fe_C_GetAttributeValue(app, s2, h, &a, 1), CKR_OK);
	assert_int_equal(a.ulValueLen, 9);
	assert_memory_equal(value, "new value", 9);
}

/* A search's first read of the card: another search of the app runs on. */
static void test_first_read(void **state)
{
	CK_SESSION_HANDLE s1 = open_rw(), s2 = open_rw();
	CK_OBJECT_CLASS cls = CKO_HW_FEATURE; /* needs no card */
	CK_ATTRIBUTE t = { CKA_CLASS, &cls, sizeof(cls) };
	struct call c = { .fn = do_find_all, .s = s1 };
	CK_OBJECT_HANDLE h[32];
	CK_ULONG n = 1;

	(void)state;
	assert_int_equal(fe_C_FindObjectsInit(app, s2, &t, 1), CKR_OK);
	assert_int_equal(soft_stats.discover, 0);
	gate_arm("discover");
	call_start(&c);
	gate_wait_inside();
	answers_now(s2, CK_INVALID_HANDLE, CKS_RW_PUBLIC_SESSION, false);
	assert_int_equal(fe_C_FindObjects(app, s2, h, 32, &n), CKR_OK);
	assert_int_equal(n, 0);
	assert_int_equal(fe_C_FindObjectsFinal(app, s2), CKR_OK);
	gate_open();
	assert_int_equal(call_join(&c), CKR_OK);
	assert_int_equal(fe_C_FindObjects(app, s1, h, 32, &n), CKR_OK);
	assert_true(n > 5);
	assert_int_equal(fe_C_FindObjectsFinal(app, s1), CKR_OK);
}

static CK_RV do_close_all(struct call *c)
{
	(void)c;
	return fe_C_CloseAllSessions(app, slot);
}

/* Closing everything while a session is at the card: the close waits for
 * the card call and then logs the app out of the token. */
static void test_close_while_busy(void **state)
{
	CK_SESSION_HANDLE s1 = open_rw();
	struct call c = {
		.fn = do_login, .s = s1, .user = CKU_USER, .pin = SOFT_PIN
	};
	struct call cl = { .fn = do_close_all };
	CK_SESSION_INFO si;

	(void)state;
	gate_arm("login");
	call_start(&c);
	gate_wait_inside();
	call_start(&cl);
	gate_open();
	assert_int_equal(call_join(&cl), CKR_OK);
	assert_int_equal(call_join(&c), CKR_OK);
	assert_int_equal(fe_C_GetSessionInfo(app, s1, &si),
			 CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(soft_stats.login, 1);
	assert_int_equal(soft_stats.logout, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_login, up, down),
		cmocka_unit_test_setup_teardown(test_login_race, up, down),
		cmocka_unit_test_setup_teardown(test_setpin, up, down),
		cmocka_unit_test_setup_teardown(test_generate, up, down),
		cmocka_unit_test_setup_teardown(test_create_data, up, down),
		cmocka_unit_test_setup_teardown(test_first_read, up, down),
		cmocka_unit_test_setup_teardown(test_close_while_busy, up,
						down),
	};

	/* one test alone: TEST_FILTER=test_generate */
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
