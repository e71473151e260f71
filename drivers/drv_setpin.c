/* See drv_setpin.h. */
#include <string.h>

#include "drv_setpin.h"
#include "tokend-pkcs11.h"

static bool has_prefix(const uint8_t *p, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(p, prefix, n) == 0;
}

int drv_setpin_prefixes(struct tk_token *tok, const uint8_t *old,
			size_t old_len, struct tk_setpin *q)
{
	static const struct {
		const char *prefix;
		enum tk_user sets;
	} kinds[] = {
		{ TOKEND_SETPIN_PUK_PREFIX, TK_USER_PUK },
		{ TOKEND_SETPIN_UNBLOCK_PREFIX, TK_USER_PIN },
	};

	(void)tok;
	q->spends = q->sets = TK_USER_PIN;
	q->old = old;
	q->old_len = old_len;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (!has_prefix(old, old_len, kinds[i].prefix))
			continue;
		q->spends = TK_USER_PUK;
		q->sets = kinds[i].sets;
		q->old += strlen(kinds[i].prefix);
		q->old_len -= strlen(kinds[i].prefix);
		break;
	}
	return 0;
}
