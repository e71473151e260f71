/* The credentials of a connected peer (peer.h). */
#include "peer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "error.h"
#include "log.h"

int peer_from_socket(int fd, struct peer *out)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t *groups = NULL, *ng;
	int r = TK_ERR_IO;

	memset(out, 0, sizeof(*out));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    len != sizeof(cred)) {
		log_err("SO_PEERCRED: %s", strerror(errno));
		return TK_ERR_IO;
	}
	/* Room for 64 groups, then exactly what the kernel asks for. */
	len = 64 * sizeof(gid_t);
	for (int tries = 0; tries < 3; tries++) {
		if ((ng = realloc(groups, len ? len : 1)) == NULL) {
			r = TK_ERR_NOMEM;
			goto out;
		}
		groups = ng;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) ==
		    0)
			break;
		if (errno != ERANGE || tries == 2) {
			log_err("SO_PEERGROUPS: %s", strerror(errno));
			goto out;
		}
	}
	out->uid = cred.uid;
	out->gid = cred.gid;
	out->pid = cred.pid;
	out->groups = groups;
	out->ngroups = len / sizeof(gid_t);
	groups = NULL;
	r = 0;
out:
	free(groups);
	return r;
}

int peer_copy(const struct peer *src, struct peer *dst)
{
	*dst = *src;
	dst->groups = NULL;
	if (src->ngroups == 0)
		return 0;
	dst->groups = calloc(src->ngroups, sizeof(gid_t));
	if (dst->groups == NULL) {
		dst->ngroups = 0;
		return TK_ERR_NOMEM;
	}
	memcpy(dst->groups, src->groups, src->ngroups * sizeof(gid_t));
	return 0;
}

void peer_clear(struct peer *p)
{
	free(p->groups);
	memset(p, 0, sizeof(*p));
}
