/* Private to the link (link.c, link_spawn.c). */
#ifndef TOKEND_MODULE_LINK_INT_H
#define TOKEND_MODULE_LINK_INT_H

#include "link.h"
#include "link_proto.h"

/* socketpair + fork + exec of helper with argv {helper, module}; *fd is
 * tokend's end (close-on-exec). 0 or a negative TK_ERR_*. */
int mlink_spawn(const char *helper, const char *module, char *const envp[],
		pid_t *pid, int *fd);

#endif
