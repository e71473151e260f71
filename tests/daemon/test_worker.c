/* The worker pool: every job runs; a job that blocks does not hold up the
 * others (a new thread takes them) while under the cap; over the cap jobs
 * wait their turn and are never refused; one key (peer) never takes more
 * than its share, so another key's job runs while it floods; stopping
 * waits for running jobs, and reports a job that outlives the wait. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "worker.h"

static atomic_int ran;
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;

static void job_count(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ran, 1);
}

/* Blocks until the gate opens (a C_WaitForSlotEvent, a slow card). */
static void job_block(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&gate_lock);
	while (!gate_open)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
	atomic_fetch_add(&ran, 1);
}

static void gate_set(bool open)
{
	pthread_mutex_lock(&gate_lock);
	gate_open = open;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

static bool wait_ran(int n)
{
	for (int i = 0; i < 500 && atomic_load(&ran) < n; i++)
		usleep(10000);
	return atomic_load(&ran) >= n;
}

static void test_all_jobs_run(void **state)
{
	(void)state;
	atomic_store(&ran, 0);
	assert_int_equal(worker_pool_start(2), 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(worker_submit(job_count, NULL), 0);
	assert_true(wait_ran(200));
	assert_true(worker_pool_stop(5000));
	/* stopped: refused */
	assert_int_not_equal(worker_submit(job_count, NULL), 0);
}

static void test_blocked_job_does_not_stall(void **state)
{
	(void)state;
	atomic_store(&ran, 0);
	gate_set(false);
	assert_int_equal(worker_pool_start(1), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(worker_submit(job_block, NULL), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(worker_submit(job_count, NULL), 0);
	assert_true(wait_ran(10)); /* while four jobs still block */
	assert_int_equal(atomic_load(&ran), 10);
	/* a blocked job outlives a short stop */
	assert_false(worker_pool_stop(100));
	gate_set(true);
	assert_true(wait_ran(14));
	assert_true(worker_pool_stop(5000));
}

static size_t pool_threads(void)
{
	size_t threads, queued;

	worker_pool_counts(&threads, &queued);
	return threads;
}

static void test_cap_queues_jobs(void **state)
{
	size_t threads, queued;

	(void)state;
	atomic_store(&ran, 0);
	gate_set(false);
	worker_pool_set_max(2);
	assert_int_equal(worker_pool_start(1), 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(worker_submit(job_block, NULL), 0);
	/* Until both threads took a job (then nothing changes any more). */
	for (int i = 0; i < 500; i++) {
		worker_pool_counts(&threads, &queued);
		if (queued <= 4)
			break;
		usleep(10000);
	}
	usleep(50000); /* a third thread, if any, would show now */
	worker_pool_counts(&threads, &queued);
	assert_int_equal(threads, 2);
	assert_int_equal(queued, 4); /* waiting, not refused */
	gate_set(true);
	assert_true(wait_ran(6));
	assert_true(pool_threads() <= 2);
	assert_true(worker_pool_stop(5000));
	worker_pool_set_max(0);
}

static void test_share_leaves_room_for_others(void **state)
{
	(void)state;
	atomic_store(&ran, 0);
	gate_set(false);
	worker_pool_set_max(4);
	assert_int_equal(worker_pool_start(4), 0);
	/* Key 1 floods with jobs that block: it gets half the pool. */
	for (int i = 0; i < 8; i++)
		assert_int_equal(worker_submit_key(1, job_block, NULL), 0);
	/* Key 2's jobs still run, on the other half. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(worker_submit_key(2, job_count, NULL), 0);
	assert_true(wait_ran(3));
	assert_int_equal(atomic_load(&ran), 3);
	assert_true(pool_threads() <= 4);
	gate_set(true);
	assert_true(wait_ran(11));
	assert_true(worker_pool_stop(5000));
	worker_pool_set_max(0);
}

/* Thread-local state with a slow destructor, as OpenSSL keeps per thread:
 * the process's exit cleanup (OpenSSL's atexit) must not run while a
 * worker is still in it. */
static pthread_key_t tls_key;
static atomic_int tls_set, tls_freed;

static void tls_free(void *p)
{
	(void)p;
	usleep(50000);
	atomic_fetch_add(&tls_freed, 1);
}

static void job_tls(void *arg)
{
	if (pthread_getspecific(tls_key) == NULL) {
		pthread_setspecific(tls_key, &tls_set);
		atomic_fetch_add(&tls_set, 1);
	}
	job_block(arg);
}

/* Once stop returns, every worker is over, its destructors included. */
static void test_stop_joins_threads(void **state)
{
	(void)state;
	assert_int_equal(pthread_key_create(&tls_key, tls_free), 0);
	atomic_store(&ran, 0);
	gate_set(false);
	assert_int_equal(worker_pool_start(4), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(worker_submit(job_tls, NULL), 0);
	gate_set(true);
	assert_true(wait_ran(4));
	assert_true(worker_pool_stop(5000));
	assert_true(atomic_load(&tls_set) >= 1);
	assert_int_equal(atomic_load(&tls_freed), atomic_load(&tls_set));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_jobs_run),
		cmocka_unit_test(test_blocked_job_does_not_stall),
		cmocka_unit_test(test_cap_queues_jobs),
		cmocka_unit_test(test_share_leaves_room_for_others),
		cmocka_unit_test(test_stop_joins_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
