/* TOKEND_TRACE=FILE: the in-process module appends one trace line per
 * call to FILE (trace.h), as tokenctl trace shows a daemon client's. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "buf.h"
#include "trace.h"

int trace_module_fd = -1;
static pthread_once_t trace_module_once = PTHREAD_ONCE_INIT;

static void trace_module_init(void)
{
	const char *path = getenv("TOKEND_TRACE");

	if (!path || !path[0])
		return;
	trace_module_fd =
	    open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (trace_module_fd < 0)
		fprintf(stderr, "tokend-pkcs11: TOKEND_TRACE %s: %m\n", path);
}

void trace_module_open(void)
{
	pthread_once(&trace_module_once, trace_module_init);
}

void trace_module_call(const char *name, const struct trace_arg *in, size_t nin,
		       const struct trace_arg *out, size_t nout, CK_RV rv,
		       uint64_t ns)
{
	char who[32];
	struct trace_call c = {
		.name = name,
		.who = who,
		.in = in,
		.nin = nin,
		.out = out,
		.nout = nout,
		.rv = rv,
		.ns = ns,
	};
	struct buf b;
	size_t off = 0;
	ssize_t w;

	snprintf(who, sizeof(who), "pid %d", (int)getpid());
	buf_init(&b, 0);
	trace_format(&b, false, &c);
	while (!buf_failed(&b) && off < b.len) {
		w = write(trace_module_fd, b.data + off, b.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	buf_free(&b);
}
