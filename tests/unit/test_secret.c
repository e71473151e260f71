/* daemon/secret.c: what a pin-file must be to be read, what is read, and
 * that the memory holding a PIN is locked, left out of core dumps and wiped
 * before it is released (munmap is wrapped at link time to look). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "secret.h"
#include "unit_filter.h"

static char tmpdir[] = "/tmp/tokend-secret.XXXXXX";
static char path[256];

/* ---- munmap seen from secret.c (-Wl,--wrap=munmap) ---- */
int __real_munmap(void *addr, size_t len);
int __wrap_munmap(void *addr, size_t len);

static const void *watched;
static int watched_unmaps, watched_dirty;

int __wrap_munmap(void *addr, size_t len)
{
	if (addr == watched) {
		watched_unmaps++;
		for (size_t i = 0; i < len; i++)
			if (((const uint8_t *)addr)[i] != 0)
				watched_dirty++;
	}
	return __real_munmap(addr, len);
}

static void write_file(const char *text, size_t n, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

static int read_it(size_t max, struct secret **s)
{
	return secret_read_file(path, max, s);
}

static void test_contents(void **state)
{
	struct secret *s = NULL;

	(void)state;
	write_file("123456\n", 7, 0600);
	assert_int_equal(read_it(64, &s), 0);
	assert_int_equal(s->len, 6);
	assert_memory_equal(s->data, "123456", 6);
	secret_destroy(&s);
	assert_null(s);
	secret_destroy(&s); /* NULL-safe */

	write_file("123456\r\n", 8, 0400);
	assert_int_equal(read_it(64, &s), 0);
	assert_int_equal(s->len, 6);
	secret_destroy(&s);

	/* Only one newline goes: the rest is the PIN's. */
	write_file("12 34\n\n", 7, 0600);
	assert_int_equal(read_it(64, &s), 0);
	assert_int_equal(s->len, 6);
	assert_memory_equal(s->data, "12 34\n", 6);
	secret_destroy(&s);

	/* Exactly max bytes fit, one more does not. */
	write_file("12345678", 8, 0600);
	assert_int_equal(read_it(8, &s), 0);
	secret_destroy(&s);
	assert_int_equal(read_it(7, &s), TK_ERR_TOO_LARGE);
	assert_null(s);

	write_file("\n", 1, 0600);
	assert_int_equal(read_it(64, &s), TK_ERR_INVALID);
	write_file("", 0, 0600);
	assert_int_equal(read_it(64, &s), TK_ERR_INVALID);
}

static void test_refused_files(void **state)
{
	struct secret *s = NULL;
	char link[300];

	(void)state;
	write_file("1234\n", 5, 0640);
	assert_int_equal(read_it(64, &s), TK_ERR_DENIED);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(read_it(64, &s), TK_ERR_DENIED);
	assert_int_equal(chmod(path, 0610), 0);
	assert_int_equal(read_it(64, &s), TK_ERR_DENIED);

	/* Owned by another user (root reads anything: ownership decides). */
	assert_int_equal(chmod(path, 0600), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 4242, 4242), 0);
		assert_int_equal(read_it(64, &s), TK_ERR_DENIED);
		assert_int_equal(chown(path, 0, 0), 0);
	}

	/* A symlink is followed (secret mounts), its target checked. */
	snprintf(link, sizeof(link), "%s/link", tmpdir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(secret_read_file(link, 64, &s), 0);
	secret_destroy(&s);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(secret_read_file(link, 64, &s), TK_ERR_DENIED);
	unlink(link);

	/* Kernel pseudo files are regular and can be 0400 root: refused. */
	assert_int_equal(secret_read_file("/proc/self/environ", 64, &s),
			 TK_ERR_DENIED);
	assert_int_equal(secret_read_file(tmpdir, 64, &s), TK_ERR_DENIED);

	errno = 0;
	assert_int_equal(secret_read_file("/nonexistent/pin", 64, &s),
			 TK_ERR_IO);
	assert_int_equal(errno, ENOENT);
	assert_null(s);
}

/* A FIFO in the PIN's place: refused at once, never waited on. */
static void test_fifo_does_not_block(void **state)
{
	struct secret *s = NULL;

	(void)state;
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	alarm(5);
	assert_int_equal(read_it(64, &s), TK_ERR_DENIED);
	alarm(0);
	unlink(path);
}

/* The mapping's VmFlags in /proc/self/smaps. */
static void vm_flags(const void *addr, char *out, size_t outlen)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false;
	unsigned long lo, hi;

	assert_non_null(f);
	out[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
		else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(out, outlen, "%s", line + 8);
			break;
		}
	}
	fclose(f);
}

static void test_memory_locked_undumped_wiped(void **state)
{
	struct secret *s = NULL;
	char flags[512];

	(void)state;
	write_file("9876543210\n", 11, 0600);
	assert_int_equal(read_it(64, &s), 0);
	vm_flags(s->data, flags, sizeof(flags));
	assert_non_null(strstr(flags, " dd")); /* MADV_DONTDUMP */
	/* mlock may hit RLIMIT_MEMLOCK unless root; ASan and TSan make it a
	 * no-op. */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	if (geteuid() == 0)
		assert_non_null(strstr(flags, " lo"));
#endif
	watched = s->data;
	watched_unmaps = watched_dirty = 0;
	secret_destroy(&s);
	assert_int_equal(watched_unmaps, 1);
	assert_int_equal(watched_dirty, 0);
	watched = NULL;
}

static int setup(void **state)
{
	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/pin", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return rmdir(tmpdir);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contents),
		cmocka_unit_test(test_refused_files),
		cmocka_unit_test(test_fifo_does_not_block),
		cmocka_unit_test(test_memory_locked_undumped_wiped),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, setup, teardown);
}
