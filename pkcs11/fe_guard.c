/* The front end's use of the pin guard (pin_guard.h): an application's
 * guard against its slot's token, under the slot lock. */
#include <time.h>

#include "hotplug.h"
#include "internal.h"

bool guard_on(const struct app *app)
{
	return app->pin_reserved > 0;
}

/* The token's counter of `which`, asking the token only when the cache
 * does not know it; -1 when it cannot tell. */
static int guard_tries(struct fe_slot *slot, enum tk_user which, int *tries)
{
	const struct tk_token_ops *ops = slot->tok->ops;
	struct tk_token_info ti;
	int r;

	if ((r = slot_info(slot, &ti)) < 0)
		return r;
	*tries = which == TK_USER_PUK ? ti.puk_tries_left : ti.pin_tries_left;
	if (*tries >= 0)
		return 0;
	if (which == TK_USER_PIN && ops->pin_status)
		r = ops->pin_status(slot->tok, tries, NULL);
	else if (which == TK_USER_PUK && ops->puk_status)
		r = ops->puk_status(slot->tok, tries);
	if (r == TK_ERR_UNSUPPORTED) {
		*tries = -1;
		r = 0;
	}
	return r;
}

int guard_check(struct app *app, struct fe_slot *slot, enum tk_user which,
		const struct pin_hash *h)
{
	int tries = -1, r;

	if (!guard_on(app) || (which != TK_USER_PIN && which != TK_USER_PUK))
		return 0;
	if (!slot->tok)
		return TK_ERR_REMOVED;
	if ((r = guard_tries(slot, which, &tries)) < 0)
		return r;
	if (pin_guard_allows(&slot->guard, slot->epoch, which, tries,
			     app->pin_reserved, h))
		return 0;
	return TK_ERR_PIN_LOCKED;
}

void guard_result(struct fe_slot *slot, enum tk_user which,
		  const struct pin_hash *h, int r)
{
	pin_guard_result(&slot->guard, slot->epoch, which, h, r);
}

void guard_set(struct fe_slot *slot, enum tk_user which,
	       const struct pin_hash *h)
{
	pin_guard_set(&slot->guard, slot->epoch, which, h);
}

void guard_wait(struct fe_slot *slot)
{
	struct tk_token_info ti;
	struct timespec ts;
	uint64_t now, ms;

	if (slot_info_peek(slot, &ti) < 0 ||
	    (now = hotplug_now_ms()) >= ti.login_not_before_ms)
		return;
	ms = ti.login_not_before_ms - now;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0)
		;
}
