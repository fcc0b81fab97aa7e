/*
 * libFuzzer entry for ctl_parse (runtime/core/ctl.c), the first thing
 * that reads what a control client sends: no crash, no read past the
 * bytes given, a reason that is a string on refusal, and on success a
 * request bastionctl could have sent (a lower-case verb, at most
 * CTL_ARGS_MAX printable words).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_req	 r;
	char		 err[96], *copy;
	const char	*p;
	size_t		 i;

	/* An exact copy, so that ASan sees a read past the end. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	if (ctl_parse(copy, size, &r, err, sizeof(err)) != 0) {
		if (memchr(err, '\0', sizeof(err)) == NULL)
			abort();
	} else {
		if (r.verb == NULL || r.nargs > CTL_ARGS_MAX)
			abort();
		for (p = r.verb; *p; p++)
			if (*p < 'a' || *p > 'z')
				abort();
		for (i = 0; i < r.nargs; i++)
			for (p = r.arg[i]; *p; p++)
				if (*p <= ' ' || *p > '~')
					abort();
	}
	free(copy);
	return 0;
}
