#include "script.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

size_t hex2bin(const char *hex, uint8_t *out, size_t max)
{
	size_t n = 0;
	int hi = -1;

	for (; *hex; hex++) {
		int v = 0;

		if (*hex == ' ' || *hex == ':')
			continue;
		if (*hex >= '0' && *hex <= '9')
			v = *hex - '0';
		else if (*hex >= 'a' && *hex <= 'f')
			v = *hex - 'a' + 10;
		else if (*hex >= 'A' && *hex <= 'F')
			v = *hex - 'A' + 10;
		else
			fail_msg("bad hex character '%c'", *hex);
		if (hi < 0) {
			hi = v;
			continue;
		}
		assert_true(n < max);
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	assert_int_equal(hi, -1);
	return n;
}

static void print_hex(const char *what, const uint8_t *p, size_t n)
{
	fprintf(stderr, "%s:", what);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %02X", p[i]);
	fprintf(stderr, "\n");
}

static int script_transmit(void *ctx, const uint8_t *capdu, size_t clen,
			   uint8_t *rapdu, size_t *rlen)
{
	struct script *s = ctx;
	const struct script_step *st;
	static uint8_t want[70000];

	if (s->pos >= s->n) {
		print_hex("unexpected APDU", capdu, clen);
		fail_msg("script has %zu steps, APDU %zu sent", s->n,
			 s->pos + 1);
	}
	st = &s->steps[s->pos++];
	if (st->capdu) {
		size_t wl = hex2bin(st->capdu, want, sizeof(want));

		if (wl != clen || memcmp(want, capdu, clen) != 0) {
			print_hex("expected", want, wl);
			print_hex("sent    ", capdu, clen);
			fail_msg("APDU %zu differs", s->pos);
		}
	}
	if (st->err)
		return st->err;
	if (st->card)
		return st->card(s->card_ctx, capdu, clen, rapdu, rlen);
	*rlen = hex2bin(st->rapdu, rapdu, *rlen);
	return 0;
}

void script_begin(struct script *s, const struct script_step *steps, size_t n)
{
	s->steps = steps;
	s->n = n;
	s->pos = 0;
	s->t.transmit = script_transmit;
	s->t.ctx = s;
	s->card = NULL;
}

void script_start(struct script *s, const struct script_step *steps, size_t n,
		  enum piv_ext ext)
{
	script_begin(s, steps, n);
	assert_int_equal(piv_card_new(&s->t, &s->card), 0);
	piv_card_set_extended(s->card, ext);
}

void script_finish(struct script *s)
{
	assert_int_equal(s->pos, s->n);
	assert_int_equal(piv_card_apdu_count(s->card), s->n);
	piv_card_free(&s->card);
	assert_null(s->card);
}

char *bin2hex(const uint8_t *p, size_t n)
{
	char *s = malloc(2 * n + 1);

	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		snprintf(s + 2 * i, 3, "%02X", p[i]);
	s[2 * n] = 0;
	return s;
}
