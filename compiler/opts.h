/*
 * opts: what the caller of the compiler decides (policyc's -W error and
 * -k, the fuzzer's no files), read by the driver (compile.c) and by the
 * semantic pass (sema.c).  A header of its own so that neither of the
 * two needs the other's for it.
 */
#ifndef BASTION_OPTS_H
#define BASTION_OPTS_H

#include <stdio.h>

struct compile_opts {
	int		 werror;	/* -W error: warnings count as errors */
	const char	*pubkey;	/* -k: tokens must be sealed for it */
	int		 no_files;	/* refuse `list ... file` (fuzzing) */
	FILE		*diag;		/* where diagnostics go; NULL: none */
};

#endif
