/*
 * libFuzzer entry for lib/b64.c, the decoder every AUTH payload and
 * sealed token goes through: no crash, no write past the buffer it is
 * given (the buffer is sized exactly), and what decodes re-encodes to
 * the same text (the decoder is strict: one spelling per value).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t	 cap = size / 4 * 3;
	uint8_t	*out;
	char	*text;
	long	 n, m;

	if ((out = malloc(cap + 1)) == NULL)
		return 0;
	n = b64_decode((const char *)data, size, out, cap);
	if (n >= 0) {
		if ((size_t)n > cap)
			abort();
		if ((text = malloc(B64_ENCODED_SIZE((size_t)n))) == NULL) {
			free(out);
			return 0;
		}
		m = b64_encode(out, (size_t)n, text,
		    B64_ENCODED_SIZE((size_t)n));
		if (m < 0 || (size_t)m != size || memcmp(text, data, size) != 0)
			abort();
		free(text);
	}
	free(out);
	return 0;
}
