/* Locked, non-dumpable memory for secrets. */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "error.h"
#include "log.h"

static int secret_alloc(size_t size, struct secret **out)
{
	struct secret *s;
	long page = sysconf(_SC_PAGESIZE);
	size_t cap = (size + (size_t)page - 1) / (size_t)page * (size_t)page;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return TK_ERR_NOMEM;
	s->data = mmap(NULL, cap, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->data == MAP_FAILED) {
		free(s);
		return TK_ERR_NOMEM;
	}
	s->cap = cap;
	if (mlock(s->data, cap) < 0)
		log_warn("mlock: %s (the PIN may be swapped out)",
			 strerror(errno));
	(void)madvise(s->data, cap, MADV_DONTDUMP);
	*out = s;
	return 0;
}

void secret_destroy(struct secret **p)
{
	struct secret *s = *p;

	if (s == NULL)
		return;
	explicit_bzero(s->data, s->cap);
	munlock(s->data, s->cap);
	munmap(s->data, s->cap);
	free(s);
	*p = NULL;
}

/* Files of the kernel's pseudo file systems are "regular" but generated
 * (/proc/self/environ, /sys/...): never a PIN someone put there. */
static bool secret_pseudo_fs(int fd)
{
	struct statfs sf;

	if (fstatfs(fd, &sf) < 0)
		return true;
	switch ((unsigned long)sf.f_type) {
	case PROC_SUPER_MAGIC:
	case SYSFS_MAGIC:
	case DEBUGFS_MAGIC:
	case SECURITYFS_MAGIC:
	case CGROUP_SUPER_MAGIC:
	case CGROUP2_SUPER_MAGIC:
	case TRACEFS_MAGIC:
	case BPF_FS_MAGIC:
		return true;
	default:
		return false;
	}
}

int secret_read_file(const char *path, size_t max, struct secret **out)
{
	struct secret *s = NULL;
	struct stat st;
	ssize_t n;
	int fd, r, saved;

	*out = NULL;
	/* O_NONBLOCK: a FIFO put in its place must not hang the loop. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return TK_ERR_IO;
	if (fstat(fd, &st) < 0) {
		r = TK_ERR_IO;
		goto out;
	}
	r = TK_ERR_DENIED;
	if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO)) ||
	    (st.st_uid != 0 && st.st_uid != geteuid()) || secret_pseudo_fs(fd))
		goto out;
	/* One byte more than allowed tells an over-long file apart. */
	if ((r = secret_alloc(max + 1, &s)) != 0)
		goto out;
	while (s->len <= max) {
		n = read(fd, s->data + s->len, max + 1 - s->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = TK_ERR_IO;
			goto out;
		}
		if (n == 0)
			break;
		s->len += (size_t)n;
	}
	r = TK_ERR_TOO_LARGE;
	if (s->len > max)
		goto out;
	/* Generated content (a pseudo file system we do not know by name)
	 * reports size 0 and reads something: not a file someone wrote. */
	r = TK_ERR_DENIED;
	if (st.st_size != (off_t)s->len)
		goto out;
	if (s->len > 0 && s->data[s->len - 1] == '\n')
		s->data[--s->len] = 0;
	if (s->len > 0 && s->data[s->len - 1] == '\r')
		s->data[--s->len] = 0;
	r = TK_ERR_INVALID;
	if (s->len == 0)
		goto out;
	*out = s;
	s = NULL;
	r = 0;
out:
	saved = errno;
	secret_destroy(&s);
	close(fd);
	errno = saved;
	return r;
}
