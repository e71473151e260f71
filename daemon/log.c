/* Logging to stderr with journald priority prefixes. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int log_level = LOG_INFO;

/* The ring of recent errors and warnings (log_recent). */
static struct {
	pthread_mutex_t lock;
	struct log_recent ring[LOG_RECENT_MAX];
	size_t next, n;
} log_ring = { .lock = PTHREAD_MUTEX_INITIALIZER };

static const char *const log_level_names[] = {
	"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

void log_set_level(int level)
{
	if (level >= LOG_EMERG && level <= LOG_DEBUG)
		__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

int log_get_level(void)
{
	return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

int log_level_parse(const char *s)
{
	size_t i;

	if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';
	for (i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]);
	     i++)
		if (strcasecmp(s, log_level_names[i]) == 0)
			return (int)i;
	return -1;
}

static void log_remember(int level, const char *text, size_t len)
{
	struct log_recent *e;

	if (level > LOG_WARNING)
		return;
	pthread_mutex_lock(&log_ring.lock);
	e = &log_ring.ring[log_ring.next];
	e->when = time(NULL);
	e->level = level;
	if (len >= sizeof(e->line))
		len = sizeof(e->line) - 1;
	memcpy(e->line, text, len);
	e->line[len] = '\0';
	log_ring.next = (log_ring.next + 1) % LOG_RECENT_MAX;
	if (log_ring.n < LOG_RECENT_MAX)
		log_ring.n++;
	pthread_mutex_unlock(&log_ring.lock);
}

size_t log_recent(struct log_recent *out, size_t max)
{
	size_t n, first;

	pthread_mutex_lock(&log_ring.lock);
	n = log_ring.n < max ? log_ring.n : max;
	/* the newest n, oldest first */
	first = (log_ring.next + LOG_RECENT_MAX - n) % LOG_RECENT_MAX;
	for (size_t i = 0; i < n; i++)
		out[i] = log_ring.ring[(first + i) % LOG_RECENT_MAX];
	pthread_mutex_unlock(&log_ring.lock);
	return n;
}

static void log_write(int level, const char *func, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void log_write(int level, const char *func, const char *fmt, va_list ap)
{
	char line[2048];
	size_t n = 0, prefix;
	int r, saved_errno = errno;

	r = snprintf(line, sizeof(line), "<%d>%s%s", level, func ? func : "",
		     func ? ": " : "");
	if (r > 0)
		n = (size_t)r < sizeof(line) ? (size_t)r : sizeof(line) - 1;
	prefix = (size_t)(strchr(line, '>') - line) + 1;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r
						  : sizeof(line) - n - 1;
	/* One line per message: newlines inside become spaces. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n')
			line[i] = ' ';
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (prefix < n)
		log_remember(level, line + prefix, n - 1 - prefix);
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
	errno = saved_errno;
}

void log_msg(int level, const char *func, const char *fmt, ...)
{
	va_list ap;

	if (level > log_get_level())
		return;
	va_start(ap, fmt);
	log_write(level, func, fmt, ap);
	va_end(ap);
}

void log_audit(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(LOG_NOTICE, NULL, fmt, ap);
	va_end(ap);
}
