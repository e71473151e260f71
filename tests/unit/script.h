/* A scripted card for unit tests: each step names the exact C-APDU we expect
 * (hex) and the R-APDU to answer, or a transport error, or a callback that
 * plays the card for that step (for exchanges that need real crypto). */
#ifndef TOKEND_TEST_SCRIPT_H
#define TOKEND_TEST_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include "piv.h"

typedef int (*script_card_fn)(void *ctx, const uint8_t *capdu, size_t clen,
			      uint8_t *rapdu, size_t *rlen);

struct script_step {
	const char *capdu; /* hex; NULL accepts any command */
	const char *rapdu; /* hex, data and SW */
	int err;           /* nonzero: the transport fails with this */
	script_card_fn card;
};

struct script {
	const struct script_step *steps;
	size_t n, pos;
	void *card_ctx;
	struct piv_transport t;
	struct piv_card *card;
};

/* Sets up only the transport s->t (s->card stays NULL), for code that makes
 * its own piv_card over it (the PIV driver); check s->pos == s->n after. */
void script_begin(struct script *s, const struct script_step *steps, size_t n);
/* Sets up s and s->card for steps; the card starts with ext as given. */
void script_start(struct script *s, const struct script_step *steps, size_t n,
		  enum piv_ext ext);
/* Asserts every step ran, frees the card. */
void script_finish(struct script *s);
#define SCRIPT(s, steps, ext)                                                  \
	script_start((s), (steps), sizeof(steps) / sizeof((steps)[0]), (ext))

/* Hex (spaces allowed) to bytes; returns the length. */
size_t hex2bin(const char *hex, uint8_t *out, size_t max);

/* Bytes to a hex string (malloc'd), for building long steps at run time. */
char *bin2hex(const uint8_t *p, size_t n);
#endif
