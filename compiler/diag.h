/*
 * diag: compiler diagnostics in the form a compiler user expects,
 *
 *	FILE:LINE:COL: error: text
 *	<the source line>
 *	    ^~~~~
 *
 * collected while the front end runs and printed, sorted by file and
 * position, by diag_flush().  A note belongs to the error or warning
 * just before it and travels with it.  Every source a diagnostic can
 * point into (the policy, each list file) is registered first, so that
 * the line can be quoted.
 */
#ifndef BASTION_DIAG_H
#define BASTION_DIAG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "grammar.h"		/* struct srcloc */

enum diag_sev {
	DIAG_ERROR = 0,
	DIAG_WARNING,
	DIAG_NOTE
};

struct diag;

/*
 * New collector writing to fp (NULL: count only, print nothing).
 * werror: warnings are reported and counted as errors.  NULL on
 * allocation failure.
 */
struct diag	*diag_new(FILE *fp, int werror)
	    __attribute__((warn_unused_result));
void		 diag_free(struct diag *);

/*
 * Register a source named name (copied) whose text is the len bytes at
 * buf (kept by reference; NULL if it cannot be quoted).  Returns the
 * source id (the first is 0), or -1 on allocation failure.
 */
int	diag_source(struct diag *, const char *name, const char *buf,
	    size_t len)
	    __attribute__((warn_unused_result));

/* Forget the text of source id, before the caller frees it. */
void	diag_source_drop(struct diag *, int id);

/* The name source id was registered with. */
const char *diag_source_name(const struct diag *, int id);

/*
 * Record a diagnostic at loc in source file (loc NULL or line 0: the
 * whole file).  Errors beyond LIM_ERRORS are dropped and the collector
 * stops (diag_stopped); notes follow the fate of their diagnostic.
 */
void	diag_error(struct diag *, int file, const struct srcloc *loc,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	diag_warning(struct diag *, int file, const struct srcloc *loc,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	diag_note(struct diag *, int file, const struct srcloc *loc,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	diag_vreport(struct diag *, enum diag_sev, int file,
	    const struct srcloc *loc, const char *fmt, va_list ap)
	    __attribute__((format(printf, 5, 0)));

/* Errors so far, warnings included under werror. */
unsigned long	diag_errors(const struct diag *);

/* 1 once LIM_ERRORS errors were recorded: the caller should stop. */
int	diag_stopped(const struct diag *);

/* Print everything recorded, sorted, and forget it. */
void	diag_flush(struct diag *);

#endif
