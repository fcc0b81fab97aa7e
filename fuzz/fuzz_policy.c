/*
 * fuzz_policy: libFuzzer entry for the whole policyc front end, from
 * source text to table image: scanner, parser, semantic pass and table
 * builder.  List files are refused (no_files) so that an input cannot
 * make the compiler read the file system, and diagnostics are counted
 * but not printed.  Seeds: fuzz/seeds/policy/.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "compile.h"

/* The subcommands linked in beside the front end name the program. */
const char *progname = "fuzz_policy";

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct compile_opts	 o;
	uint8_t			*img = NULL;
	size_t			 len = 0;

	memset(&o, 0, sizeof(o));
	o.no_files = 1;
	o.diag = NULL;
	(void)compile_buffer("fuzz.policy", (const char *)data, size, &o,
	    &img, &len);
	free(img);
	return 0;
}
