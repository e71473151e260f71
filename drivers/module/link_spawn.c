/* Starting a helper: where its executable is, and socketpair + fork + exec
 * with only the link's socket (as fd 3) and stdin/stdout/stderr inherited.
 * Between fork and exec the child calls only async-signal-safe functions:
 * tokend has threads, and a lock held by one of them at fork time would
 * never be released in the child. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "error.h"
#include "link_int.h"

int mlink_helper_path(char *out, size_t size)
{
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return TK_ERR_NOT_FOUND;
	self[n] = '\0';
	if (!(slash = strrchr(self, '/')))
		return TK_ERR_NOT_FOUND;
	*slash = '\0';
	n = snprintf(out, size, "%s/%s", self, MLINK_HELPER_NAME);
	if (n < 0 || (size_t)n >= size)
		return TK_ERR_NOT_FOUND;
	return access(out, X_OK) == 0 ? 0 : TK_ERR_NOT_FOUND;
}

static void child(int sock, char *const argv[], char *const envp[])
{
	sigset_t none;

	/* tokend's threads may block signals: the helper starts clean. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (sock == MLINK_HELPER_FD) {
		if (fcntl(sock, F_SETFD, 0) != 0)
			_exit(126);
	} else if (dup2(sock, MLINK_HELPER_FD) != MLINK_HELPER_FD) {
		_exit(126);
	}
	close_range(MLINK_HELPER_FD + 1, ~0u, 0);
	execve(argv[0], argv, envp);
	_exit(127);
}

int mlink_spawn(const char *helper, const char *module, char *const envp[],
		pid_t *pid, int *fd)
{
	char *argv[3] = { (char *)helper, (char *)module, NULL };
	int sv[2];
	pid_t p;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return TK_ERR_IO;
	p = fork();
	if (p < 0) {
		close(sv[0]);
		close(sv[1]);
		return TK_ERR_IO;
	}
	if (p == 0)
		child(sv[1], argv, envp);
	close(sv[1]);
	*pid = p;
	*fd = sv[0];
	return 0;
}
