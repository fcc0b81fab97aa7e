/*
 * b64: base64 (RFC 4648 section 4: standard alphabet, padded).  Both
 * directions take explicit lengths and never write past the caller's
 * buffer.  Decoding is strict, so that one byte string has exactly
 * one text form: no white space, no missing or stray padding, and the
 * unused bits of the last group must be zero.  A verifier or a sealed
 * token that differs from what we wrote is then refused rather than
 * quietly read as something else.
 *
 * Why not libsodium's sodium_base642bin: its decoder (1.0.18, Debian
 * 12) takes bytes outside the alphabet for letters of it (0xA2 reads
 * as '/'), so "\xa2YQ=" decodes; fuzz/seeds/b64/high-bit-char keeps
 * that case.  Strict decoding is the point of this module.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "b64.h"

/*
 * Longest input either way.  Far above any use here, and it keeps every
 * length within a long.
 */
#define B64_MAX_IN	((size_t)1 << 30)

static int	b64_value(unsigned char);

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * The 6-bit value of c, or -1.  Written as ranges rather than a table
 * lookup on the character so that no input byte indexes memory.
 */
static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
b64_encode(const uint8_t *in, size_t n, char *out, size_t outsz)
{
	size_t		 i, o, need;
	uint32_t	 v;

	if (n > B64_MAX_IN)
		return -1;
	need = B64_ENCODED_SIZE(n);
	if (out == NULL || outsz < need)
		return -1;
	o = 0;
	for (i = 0; n - i >= 3; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
		out[o++] = b64_alphabet[v & 63];
	}
	if (n - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return (long)o;
}

long
b64_decode(const char *in, size_t n, uint8_t *out, size_t outsz)
{
	size_t		 i, k, o, pad, need;
	uint32_t	 v;
	int		 d[4];

	if (n % 4 != 0 || n > B64_MAX_IN)
		return -1;
	if (n == 0)
		return 0;
	pad = 0;
	if (in[n - 1] == '=')
		pad++;
	if (in[n - 2] == '=')
		pad++;
	need = n / 4 * 3 - pad;
	if (out == NULL || outsz < need)
		return -1;
	o = 0;
	for (i = 0; i < n; i += 4) {
		for (k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == n && k + pad >= 4)
				d[k] = 0;
			else if ((d[k] = b64_value((unsigned char)in[i + k]))
			    < 0)
				return -1;
		}
		v = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 |
		    (uint32_t)d[2] << 6 | (uint32_t)d[3];
		if (i + 4 < n || pad == 0) {
			out[o++] = (uint8_t)(v >> 16);
			out[o++] = (uint8_t)(v >> 8);
			out[o++] = (uint8_t)v;
		} else if (pad == 1) {
			/* Two bytes: the last 2 bits of d[2] must be 0. */
			if ((v & 0xff) != 0)
				return -1;
			out[o++] = (uint8_t)(v >> 16);
			out[o++] = (uint8_t)(v >> 8);
		} else {
			/* One byte: the last 4 bits of d[1] must be 0. */
			if ((v & 0xffff) != 0)
				return -1;
			out[o++] = (uint8_t)(v >> 16);
		}
	}
	return (long)o;
}
