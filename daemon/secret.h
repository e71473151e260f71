/* Small secrets (a PIN read from a pin-file) in memory of their own: locked
 * against swapping (mlock), left out of core dumps (MADV_DONTDUMP), wiped
 * with explicit_bzero before release. */
#ifndef TOKEND_SECRET_H
#define TOKEND_SECRET_H

#include <stddef.h>
#include <stdint.h>

struct secret {
	uint8_t *data;
	size_t len;
	size_t cap; /* bytes mapped */
};

/* Reads a whole file of at most max bytes; one trailing "\n" or "\r\n" is
 * dropped. The file is checked after it is opened (fstat, so no swap
 * between check and read): it must be a regular file that group and others
 * cannot access, owned by root or the daemon's user, not on a kernel
 * pseudo file system (/proc, /sys, ...) and as long as its size says;
 * anything else is TK_ERR_DENIED, and a FIFO never blocks the caller. A symlink
 * is followed (secret mounts use them); its target is what is checked. Returns
 * 0, TK_ERR_IO (errno kept), TK_ERR_DENIED, TK_ERR_TOO_LARGE or TK_ERR_INVALID
 * (empty). */
int secret_read_file(const char *path, size_t max, struct secret **out);
/* Wipes and releases; NULL-safe, nulls *p. */
void secret_destroy(struct secret **p);

#endif
