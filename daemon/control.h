/* The control socket: how tokenctl asks the running daemon what it sees and
 * tells it to reload. A Unix stream socket (control-socket, default
 * /run/tokend/control), mode 0660, owned by the daemon's user and the
 * control-group (tokend-admin when it exists and the daemon may give the
 * file to it; else mode 0600: root only). Peers are
 * checked again by their credentials: root, or a member of the
 * control-group. Members of tokend are clients of the exports and are
 * refused here, so they cannot see each other's connections.
 *
 * The protocol, one request per connection:
 *
 *   request   one line of printable ASCII ending in "\n", at most
 *             CONTROL_MAX_REQUEST bytes: VERB [json]
 *   reply     "ok\n" or "error MESSAGE\n", then the body, then the daemon
 *             closes.
 *
 *   status    tokens, exports and their connections
 *   reload    as SIGHUP; error with the reason when refused
 *   watch     live events, one line each, until the client closes:
 *             token-arrived, token-left, conn-opened, conn-closed,
 *             login-refused, key-used (control_watch.c)
 *   trace ARG every PKCS#11 call of export ARG's connections, or of the
 *             connection whose id is ARG, one line each (pkcs11/trace.h),
 *             until the client closes
 *
 * With "json" the body is JSON (one object), else aligned text. A malformed or
 * oversized request, or none within CONTROL_REQUEST_MS, closes that control
 * connection only (logged). Everything runs on the daemon's event loop and
 * never waits; a reply is capped at CONTROL_MAX_OUTPUT.
 */
#ifndef TOKEND_CONTROL_H
#define TOKEND_CONTROL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "control_fmt.h"
#include "control_watch.h"

struct buf;
struct export;
struct loop;
struct control;

#define CONTROL_MAX_REQUEST 256
#define CONTROL_REQUEST_MS 5000
#define CONTROL_MAX_CONNS 32
#define CONTROL_MAX_OUTPUT (4u << 20)

/* What the control socket needs from the service (service.c). */
struct control_host {
	void *ctx;
	/* SIGHUP's work; on failure err says why. */
	int (*reload)(void *ctx, char *err, size_t errlen);
	/* The live exports (loop thread). */
	struct export *const *(*exports)(void *ctx, size_t *n);
	/* The group allowed besides root now, (gid_t)-1 for none. */
	gid_t (*admin_gid)(void *ctx);
};

/* Binds path (group gid with mode 0660, or mode 0600 when gid is
 * (gid_t)-1 or cannot be applied) and serves it on loop. host is copied.
 * Returns 0 or a TK_ERR_*. Loop thread. */
int control_open(struct loop *loop, const char *path, gid_t gid,
		 const struct control_host *host, struct control **out);
/* Closes every control connection and the socket (its file removed when
 * it is still ours); NULL-safe. Loop thread. */
void control_close(struct control **p);

/* ---- control_status.c ---- */

/* Writes the status (tokens from the front end, the exports and their
 * connections) to out as aligned text or JSON. Never waits. */
void control_status(struct buf *out, bool json, struct export *const *ex,
		    size_t n);

#endif
