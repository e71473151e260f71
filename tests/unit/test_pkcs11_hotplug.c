/* The slot lifecycle under a scripted watcher (soft_token.c pushes hotplug
 * messages into the module's queue): 1000 remove/insert cycles through the
 * module's entry points, with a thread blocked in C_WaitForSlotEvent all
 * along. Each cycle: the slot keeps its id and stays listed when empty, the
 * old session answers CKR_DEVICE_REMOVED then CKR_SESSION_HANDLE_INVALID,
 * the new token needs a new login. No growth: the slot table stays one
 * slot, and resident memory after 1000 cycles is within a small bound of
 * what it was after 100 (not checked under ASan, whose quarantine holds
 * freed memory; its leak check covers that build). A slot list waits for
 * the device messages the daemon has under way. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "hotplug.h"
#include "test_pkcs11_util.h"

#define CYCLES 1000
#define RSS_SLACK_KB 1024

/* ASan's and TSan's own memory (quarantine, shadow, history) grows with
 * activity: RSS says nothing about tokend's leaks there. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

struct watcher {
	unsigned events;
	CK_RV rv;
};

static void *watch_run(void *arg)
{
	struct watcher *w = arg;
	CK_SLOT_ID id;
	CK_RV rv;

	while ((rv = fl->C_WaitForSlotEvent(0, &id, NULL)) == CKR_OK)
		__atomic_add_fetch(&w->events, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&w->rv, rv, __ATOMIC_SEQ_CST);
	return NULL;
}

static long rss_kb(void)
{
	long pages = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &res) != 2)
			res = 0;
		fclose(f);
	}
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static CK_ULONG count_slots(CK_BBOOL present)
{
	CK_SLOT_ID ids[8];
	CK_ULONG n = 8;

	assert_int_equal(fl->C_GetSlotList(present, NULL, &n), CKR_OK);
	n = 8;
	assert_int_equal(fl->C_GetSlotList(present, ids, &n), CKR_OK);
	if (n)
		assert_int_equal(ids[0], slot);
	return n;
}

static void one_cycle(CK_SESSION_HANDLE *s)
{
	CK_SESSION_INFO si;
	CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t = { CKA_CLASS, &priv, sizeof(priv) };
	CK_OBJECT_HANDLE h;
	CK_ULONG n = 0;

	soft_remove();
	assert_int_equal(count_slots(CK_TRUE), 0);
	assert_int_equal(count_slots(CK_FALSE), 1); /* kept, empty */
	assert_int_equal(fl->C_GetSessionInfo(*s, &si), CKR_DEVICE_REMOVED);
	assert_int_equal(fl->C_GetSessionInfo(*s, &si),
			 CKR_SESSION_HANDLE_INVALID);
	soft_insert();
	assert_int_equal(count_slots(CK_TRUE), 1);
	assert_int_equal(
	    fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, s), CKR_OK);
	/* A new token: nobody is logged in (no PIN remembered). */
	assert_int_equal(fl->C_GetSessionInfo(*s, &si), CKR_OK);
	assert_int_equal(si.state, CKS_RO_PUBLIC_SESSION);
	assert_int_equal(
	    fl->C_Login(*s, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6), CKR_OK);
	assert_int_equal(fl->C_FindObjectsInit(*s, &t, 1), CKR_OK);
	assert_int_equal(fl->C_FindObjects(*s, &h, 1, &n), CKR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(fl->C_FindObjectsFinal(*s), CKR_OK);
}

static void test_cycles(void **state)
{
	struct watcher w = { 0 };
	CK_SESSION_HANDLE s = p11_open(true);
	long rss100 = 0, rss_end;
	int opens;
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, watch_run, &w), 0);
	for (int i = 0; i < CYCLES; i++) {
		one_cycle(&s);
		if (i == 99)
			rss100 = rss_kb();
	}
	rss_end = rss_kb();
	opens = soft_stats.open;
	print_message("%d cycles: %d opens, %u events seen by the waiter, "
		      "RSS %ld kB after 100, %ld kB after %d\n",
		      CYCLES, opens,
		      __atomic_load_n(&w.events, __ATOMIC_SEQ_CST), rss100,
		      rss_end, CYCLES);
	assert_int_equal(opens, CYCLES + 1);
	assert_true(__atomic_load_n(&w.events, __ATOMIC_SEQ_CST) > 0);
#ifndef UNDER_SANITIZER
	assert_true(rss_end - rss100 < RSS_SLACK_KB);
#endif
	/* C_Finalize ends the blocked wait. */
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(__atomic_load_n(&w.rv, __ATOMIC_SEQ_CST),
			 CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(p11_up(NULL), 0); /* for the teardown */
}

/* The daemon's way: a card is read whole as it arrives, and searches
 * then cost the card nothing; the module's way reads on demand. */
static void test_read_on_arrival(void **state)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_ATTRIBUTE t = { CKA_CLASS, &cls, sizeof(cls) };
	CK_OBJECT_HANDLE h[8];
	CK_SESSION_HANDLE s;
	CK_ULONG n = 0;

	(void)state;
	assert_int_equal(soft_stats.discover, 0); /* the module: lazy */
	frontend_read_on_arrival(true);
	soft_swap();
	assert_int_equal(count_slots(CK_TRUE), 1);
	assert_int_equal(soft_stats.discover, 1);
	assert_int_equal(soft_stats.discover_what,
			 TK_DISCOVER_KEY | TK_DISCOVER_CERT | TK_DISCOVER_ALL |
			     TK_DISCOVER_DATA);
	s = p11_open(true);
	assert_int_equal(fl->C_FindObjectsInit(s, &t, 1), CKR_OK);
	assert_int_equal(fl->C_FindObjects(s, h, 8, &n), CKR_OK);
	assert_int_equal(fl->C_FindObjectsFinal(s), CKR_OK);
	assert_int_equal(n, 2);
	assert_int_equal(soft_stats.discover, 1);
	frontend_read_on_arrival(false);
}

/* A reader that leaves keeps its slot (empty); it and its card coming
 * back get the same id; a second reader gets a slot of its own. */
static void test_reader_identity(void **state)
{
	struct hotplug_msg m = { .ev = HOTPLUG_LEFT,
				 .kind = HOTPLUG_PCSC_READER };

	(void)state;
	strcpy(m.id, SOFT_DEVICE);
	soft_remove();
	assert_int_equal(hotplug_queue_push(soft_queue(), &m), 0);
	assert_int_equal(count_slots(CK_FALSE), 1);
	assert_int_equal(count_slots(CK_TRUE), 0);
	m.ev = HOTPLUG_ARRIVED;
	assert_int_equal(hotplug_queue_push(soft_queue(), &m), 0);
	soft_insert();
	assert_int_equal(count_slots(CK_TRUE), 1);
	strcpy(m.id, "Other Reader 00");
	assert_int_equal(hotplug_queue_push(soft_queue(), &m), 0);
	{
		CK_SLOT_ID ids[4];
		CK_ULONG n = 4;

		assert_int_equal(fl->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
		assert_int_equal(fl->C_GetSlotList(CK_FALSE, ids, &n), CKR_OK);
		assert_int_equal(n, 2);
		assert_int_equal(ids[0], slot);
		assert_int_not_equal(ids[1], slot);
	}
}

static void *list_run(void *arg)
{
	CK_ULONG n = 0;

	assert_int_equal(fl->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
	__atomic_store_n((int *)arg, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* The daemon's device messages under way (frontend_devices_pending: the
 * cards present at start, read after READY): a slot list waits for them,
 * and goes on once they are applied. */
static void test_pending_wait(void **state)
{
	int done = 0;
	pthread_t t;

	(void)state;
	frontend_devices_pending(1);
	assert_int_equal(pthread_create(&t, NULL, list_run, &done), 0);
	usleep(200 * 1000);
	assert_int_equal(__atomic_load_n(&done, __ATOMIC_SEQ_CST), 0);
	frontend_devices_pending(-1);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(done, 1);
	assert_int_equal(count_slots(CK_TRUE), 1); /* nothing else waits */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cycles, p11_up, p11_down),
		cmocka_unit_test_setup_teardown(test_pending_wait, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_reader_identity, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_read_on_arrival, p11_up,
						p11_down),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
