/*
 * b64: base64 (RFC 4648, standard alphabet, padded), bounded both ways.
 * Used for sealed tokens, SCRAM verifiers and SMTP AUTH payloads.
 */
#ifndef BASTION_B64_H
#define BASTION_B64_H

#include <stddef.h>
#include <stdint.h>

/* Bytes needed to encode n bytes, with the NUL. */
#define B64_ENCODED_SIZE(n)	((((n) + 2) / 3) * 4 + 1)

/*
 * Encode n bytes of in as NUL-terminated text into out (outsz bytes).
 * Returns the text length, or -1 if out is too small.
 */
long	b64_encode(const uint8_t *in, size_t n, char *out, size_t outsz)
	    __attribute__((warn_unused_result));

/*
 * Decode n characters of in (padding required, no white space) into
 * out.  Returns the byte count, or -1 on bad input or a short out.
 */
long	b64_decode(const char *in, size_t n, uint8_t *out, size_t outsz)
	    __attribute__((warn_unused_result));

#endif
