/*
 * compile: the whole front end behind one call, from policy source to
 * table image: scan and parse (grammar/), the semantic pass (sema.c),
 * and the emitter (emit.c) that fills a ptab builder.
 */
#ifndef BASTION_COMPILE_H
#define BASTION_COMPILE_H

#include <stddef.h>
#include <stdint.h>

#include "opts.h"

/*
 * Compile the policy at path.  Diagnostics ("FILE:LINE:COL: error:
 * ...", the line, a caret) go to o->diag.  If out is not NULL and
 * there was no error, *out gets the malloc'd image and *outlen its
 * size.  Returns 0 on success, 1 if the policy has errors, -1 if the
 * file cannot be read (reason already printed).
 */
int	compile_file(const char *path, const struct compile_opts *o,
	    uint8_t **out, size_t *outlen)
	    __attribute__((warn_unused_result));

/* The same for len bytes of source at buf, named name in diagnostics. */
int	compile_buffer(const char *name, const char *buf, size_t len,
	    const struct compile_opts *o, uint8_t **out, size_t *outlen)
	    __attribute__((warn_unused_result));

#endif
