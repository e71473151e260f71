/* Logging to stderr in journald's form: every line starts with "<N>", N the
 * syslog priority (sd-daemon.h's SD_ERR and friends), so the journal files it
 * at the right level when tokend runs under systemd. One write(2) per line,
 * so lines from concurrent threads never interleave. */
#ifndef TOKEND_LOG_H
#define TOKEND_LOG_H

#include <stddef.h>
#include <syslog.h>
#include <time.h>

/* Messages above this priority (numerically greater) are dropped. */
void log_set_level(int level);
int log_get_level(void);
/* "err", "warning", "notice", "info", "debug" or a digit 0..7; -1 if bad. */
int log_level_parse(const char *s);

void log_msg(int level, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An audit line, at NOTICE priority whatever log-level says: a quieter
 * log must not lose the audit trail. */
void log_audit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The last LOG_RECENT_MAX error and warning lines, kept for tokenctl
 * status (log lines never carry PINs or keys). */
#define LOG_RECENT_MAX 20
#define LOG_RECENT_LINE 256

struct log_recent {
	time_t when;
	int level;
	char line[LOG_RECENT_LINE]; /* without the priority prefix */
};

/* Copies up to max of them into out, oldest first; returns how many. Any
 * thread. */
size_t log_recent(struct log_recent *out, size_t max);

/* Errors and warnings name the function that saw the failure. */
#define log_err(...) log_msg(LOG_ERR, __func__, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __func__, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, NULL, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __func__, __VA_ARGS__)

#endif
