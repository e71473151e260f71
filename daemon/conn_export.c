/* An export as its connections' owner (conn.h's conn_owner): conn.c
 * reaches its export only through these, so conn and export do not
 * include each other. */
#include "conn.h"
#include "export.h"

int conn_accept(struct export *ex, int fd, const struct peer *peer)
{
	const struct conn_owner o = {
		.export = ex,
		.loop = ex->loop,
		.conf = ex->conf,
		.limits = &ex->limits,
		.add = export_conn_add,
		.remove = export_conn_remove,
	};

	return conn_start(&o, fd, peer);
}
