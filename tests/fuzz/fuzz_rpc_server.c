/* libFuzzer target for the p11-kit RPC server: a sequence of request bodies
 * into one rpc_server (one connection) over the front end and the software
 * token, as the daemon runs it.
 *
 * Input: byte 0 picks the version the client offered (0, 1, 2, 200); byte 1
 * the export policy (1 read-only, 2 token filter, 4 server-side PIN, 8 tiny
 * limits, 16 no automatic C_Initialize); then requests, each a big-endian
 * u16 length and that many bytes of body. A negative return closes the
 * connection, as the daemon would: the rest of the input is dropped. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"
#include "rpc_server.h"
#include "soft_token.h"

static const uint8_t initialize[] = {
	0,   0,   0,   1,   0,   0,   0,   5,   'a', 'y', 'y', 'a', 'y', 1,
	0,   0,   0,   41,  'P', 'R', 'I', 'V', 'A', 'T', 'E', '-', 'G', 'N',
	'O', 'M', 'E', '-', 'K', 'E', 'Y', 'R', 'I', 'N', 'G', '-', 'P', 'K',
	'C', 'S', '1', '1', '-', 'P', 'R', 'O', 'T', 'O', 'C', 'O', 'L', '-',
	'V', '-', '1', 0,   1,   0,   0,   0,   1,   0,
};

static bool filter(void *ctx, const CK_TOKEN_INFO *ti)
{
	(void)ctx;
	return ti && ti->serialNumber[0] == '1';
}

static void audit(void *ctx, const struct rpc_audit_event *ev)
{
	size_t *n = ctx;

	/* touch everything the event points to */
	*n += strlen(ev->call) + strlen(ev->op) + strlen(ev->serial) +
	      strlen(ev->key_label) + ev->key_id_len;
	if (ev->key_id_len)
		*n += ev->key_id[ev->key_id_len - 1];
}

static int pin(void *ctx, CK_SLOT_ID slot, enum tk_user user, uint8_t *out,
	       size_t *len)
{
	(void)ctx;
	if (*len < 6)
		return -2;
	memcpy(out, SOFT_PIN, 6);
	*len = 6;
	return 0;
}

static int frontend_up(void)
{
	struct tk_driver **drv = calloc(1, sizeof(*drv));

	soft_reset_all();
	/* An input that logs in as SO may generate keys: RSA ones in a blink
	 * (a fresh RSA-2048 key takes up to a second, -timeout is 10). */
	soft_control.cached_keygen = true;
	if (!drv || soft_driver_new(&drv[0]) < 0) {
		free(drv);
		return -1;
	}
	if (frontend_init(drv, 1) != 0)
		return -1;
	frontend_events_queue(soft_queue());
	return 0;
}

static void run(struct rpc_server *srv, const uint8_t *p, size_t n, bool init)
{
	struct buf resp;
	size_t len;
	int rc = 0;

	buf_init(&resp, 0);
	if (init)
		rc = rpc_server_handle(srv, initialize, sizeof(initialize),
				       &resp);
	while (rc == 0 && n >= 2) {
		len = (size_t)p[0] << 8 | p[1];
		p += 2;
		n -= 2;
		if (len > n)
			len = n;
		buf_reset(&resp);
		/* A blocking C_WaitForSlotEvent answers at once too
		 * (corpus: wait_blocking): the server never waits. */
		rc = rpc_server_handle(srv, p, len, &resp);
		p += len;
		n -= len;
	}
	buf_free(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t versions[] = { 0, 1, 2, 200 };
	struct rpc_policy pol = { 0 };
	struct rpc_server *srv;
	struct app *app;
	size_t audited = 0;
	uint8_t flags;

	if (size < 2)
		return 0;
	flags = data[1];
	/* a fresh token each time, so inputs replay alike */
	if (frontend_up() < 0)
		return 0;
	pol.ctx = &audited;
	pol.audit = audit;
	pol.read_only = flags & 1;
	if (flags & 2)
		pol.shows_token = filter;
	if (flags & 8)
		pol.limits = (struct rpc_server_limits){ .max_sessions = 2,
							 .max_out = 64,
							 .max_attrs = 4 };
	if (app_new(&app) == 0) {
		if (flags & 4)
			app_set_pin_provider(app, pin, NULL);
		if ((srv = rpc_server_new(versions[data[0] % 4], &pol, app))) {
			run(srv, data + 2, size - 2, !(flags & 16));
			rpc_server_free(&srv);
		}
	}
	frontend_fini();
	return 0;
}
