/* The helper's request handler: decode, call, encode. No I/O. */
#include "helper.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rpc_frame.h"

void helper_init(struct helper *h, CK_FUNCTION_LIST_PTR fl, size_t workers)
{
	memset(h, 0, sizeof(*h));
	h->fl = fl;
	/* Both ends are ours: the newest encoding. */
	rpc_codec_init(&h->codec, RPC_PROTOCOL_MAX);
	h->max_out = HELPER_MAX_OUT;
	h->workers = workers ? workers : 1;
	pthread_mutex_init(&h->lock, NULL);
}

void helper_fini(struct helper *h)
{
	pthread_mutex_destroy(&h->lock);
}

bool helper_threaded(struct helper *h)
{
	bool t;

	pthread_mutex_lock(&h->lock);
	t = h->threaded;
	pthread_mutex_unlock(&h->lock);
	return t;
}

static int helper_reply(struct hcall *c, CK_RV rv, struct buf *resp)
{
	return rpc_reply_encode(&c->h->codec, c->req.call_id, rv, c->out,
				c->nout, resp);
}

int helper_handle(struct helper *h, const uint8_t *req, size_t len,
		  struct buf *resp)
{
	struct hcall *c;
	CK_RV rv;
	int rc;

	if (!h || !resp || (!req && len))
		return TK_ERR_ARG;
	if (!(c = calloc(1, sizeof(*c))))
		return TK_ERR_NOMEM;
	c->h = h;
	rc = rpc_request_decode(&h->codec, req, len, &c->req);
	if (rc == 0) {
		rv = helper_dispatch(c);
		rc = helper_reply(c, rv, resp);
		rpc_message_clear(&c->req);
	}
	explicit_bzero(c->out, sizeof(c->out));
	free(c);
	return rc;
}
