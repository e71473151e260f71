/* Runs the PC/SC watcher and prints what it reports, for pcsc_watch.sh:
 *   EV <event> <kind> <id>[ atr=<hex>][ lost]   one per queued message
 *   LOG <level> <line>                          the watcher's log lines
 * Commands on stdin: "stats" prints "STATS waits=N connects=N fails=N";
 * "quit" (or the end of input) stops the watcher (SCardCancel) and prints
 * "BYE <ms>", the time the stop took. The events come through the queue's fd in
 * a poll loop, as the daemon's epoll loop will get them. */
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hotplug.h"

static void on_log(void *ctx, int level, const char *line)
{
	printf("LOG %d %s\n", level, line);
}

static void print_msg(const struct hotplug_msg *m)
{
	printf("EV %s %s %s", hotplug_event_name(m->ev),
	       m->kind == HOTPLUG_PCSC_CARD     ? "card"
	       : m->kind == HOTPLUG_PCSC_READER ? "reader"
						: "service",
	       m->id);
	if (m->atr_len) {
		printf(" atr=");
		for (size_t i = 0; i < m->atr_len; i++)
			printf("%02X", m->atr[i]);
	}
	printf("%s\n", m->service_lost ? " lost" : "");
}

/* Returns false for "quit". */
static bool command(struct hotplug_pcsc *w, const char *line)
{
	struct hotplug_pcsc_stats st;

	if (strncmp(line, "quit", 4) == 0)
		return false;
	if (strncmp(line, "stats", 5) != 0)
		return true;
	hotplug_pcsc_stats(w, &st);
	printf("STATS waits=%llu connects=%llu fails=%llu\n",
	       (unsigned long long)st.waits, (unsigned long long)st.connects,
	       (unsigned long long)st.connect_fails);
	return true;
}

int main(void)
{
	struct hotplug_pcsc_opts o = { .log = on_log };
	struct hotplug_queue *q = NULL;
	struct hotplug_pcsc *w = NULL;
	struct hotplug_msg m;
	char line[256];
	uint64_t t0;
	int rc = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (hotplug_queue_new(&q) < 0 || hotplug_pcsc_new(&w, q, &o) < 0)
		goto out;
	/* First one pass on this thread, as the module's C_GetSlotList does;
	 * the thread then reports only what changed after it. */
	if (hotplug_pcsc_scan(w) < 0)
		goto out;
	while (hotplug_queue_pop(q, &m) == 1)
		print_msg(&m);
	printf("SCANNED\n");
	if (hotplug_pcsc_start(w) < 0)
		goto out;
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = 0, .events = POLLIN },
			{ .fd = hotplug_queue_fd(q), .events = POLLIN },
		};

		if (poll(p, 2, -1) < 0)
			goto out;
		while (hotplug_queue_pop(q, &m) == 1)
			print_msg(&m);
		if (p[0].revents) {
			if (!fgets(line, sizeof(line), stdin) ||
			    !command(w, line))
				break;
		}
	}
	t0 = hotplug_now_ms();
	hotplug_pcsc_stop(w);
	printf("BYE %llu\n", (unsigned long long)(hotplug_now_ms() - t0));
	rc = 0;
out:
	hotplug_pcsc_free(&w);
	hotplug_queue_free(&q);
	return rc;
}
