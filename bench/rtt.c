/* The round trip between two processes over a Unix socketpair: one side
 * writes a request-sized message, the other answers with a reply-sized one.
 * That is the least a server with its module in another process pays per
 * call on top of a server with the module inside it; bench/module.sh
 * prints p11-kit's rate with one such round trip added. Prints the median
 * of 5 runs in microseconds. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 20000
#define RUNS 5

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int full(int fd, char *p, size_t n, int wr)
{
	ssize_t r;

	while (n) {
		r = wr ? write(fd, p, n) : read(fd, p, n);
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int main(void)
{
	char buf[512] = { 0 };
	double us[RUNS];
	struct timespec a, z;
	int sv[2], i, k;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 1;
	if ((pid = fork()) < 0)
		return 1;
	if (pid == 0) {
		close(sv[0]);
		while (full(sv[1], buf, 117, 0) == 0 &&
		       full(sv[1], buf, 111, 1) == 0)
			;
		_exit(0);
	}
	close(sv[1]);
	for (k = 0; k < RUNS; k++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (i = 0; i < ROUNDS; i++)
			if (full(sv[0], buf, 117, 1) || full(sv[0], buf, 111, 0))
				return 1;
		clock_gettime(CLOCK_MONOTONIC, &z);
		us[k] = ((double)(z.tv_sec - a.tv_sec) * 1e9 +
			 (double)(z.tv_nsec - a.tv_nsec)) / ROUNDS / 1000.0;
	}
	close(sv[0]);
	waitpid(pid, NULL, 0);
	qsort(us, RUNS, sizeof(us[0]), cmp);
	printf("%.1f\n", us[RUNS / 2]);
	return 0;
}
