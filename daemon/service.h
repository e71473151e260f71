/* The running daemon: the config, the event loop, the exports, signals and
 * the conversation with systemd (sd_notify, socket activation).
 *
 *   SIGHUP          re-read the config; on success apply the difference of
 *                   exports (by socket path): new ones start listening,
 *                   removed ones stop and close their connections, kept
 *                   ones keep their socket and connections and take the
 *                   new settings for new connections. A bad config is
 *                   logged and the old one stays.
 *   SIGTERM/SIGINT  stop accepting, wait for in-flight work, close every
 *                   connection and socket, return 0. */
#ifndef TOKEND_SERVICE_H
#define TOKEND_SERVICE_H

#include <stdbool.h>

#include "config.h"

struct service;

/* Takes cfg. config_path/explicit are used again at reload. The signals
 * SIGTERM, SIGINT and SIGHUP must already be blocked in every thread. */
int service_new(struct config *cfg, const char *config_path,
		bool config_explicit, bool verbose, struct service **out);
/* Opens the exports, tells systemd READY=1 and runs until a stop signal.
 * Returns 0 after a clean stop, a TK_ERR_* when start-up failed. */
int service_run(struct service *s);
void service_free(struct service **p);

/* SIGHUP's work: returns 0 when the new config is in force. */
int service_reload(struct service *s);

#endif
