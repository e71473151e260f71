/* Hex digits to bytes, for keys and state given as text. */
#ifndef TOKEND_HEX_H
#define TOKEND_HEX_H

#include <stddef.h>
#include <stdint.h>

/* The value of one hex digit, or -1. */
int hex_digit(int c);
/* Decodes exactly len characters (an even number of hex digits, nothing
 * else) into out; fails with -1 when they are not, or when more than cap
 * bytes would result. */
int hex_decode(const char *s, size_t len, uint8_t *out, size_t cap,
	       size_t *out_len);

#endif
