/* libFuzzer target for tokend's config loader (inih + our validation): the
 * fuzz bytes are the file. pin-file paths point nowhere readable here, so
 * only parsing and validation run. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	char path[64], err[512];
	int fd = memfd_create("tokend-fuzz.conf", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (config_load(path, true, &cfg, err, sizeof(err)) == 0)
			config_free(&cfg);
	}
	close(fd);
	return 0;
}
