/*
 * compile: the front end behind one call.  Read the policy (bounded by
 * LIM_SOURCE_SIZE), parse it into a tree, run the semantic pass, and
 * build the table; the diagnostics of all three stages are collected
 * and printed together, sorted, at the end.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bastion_limits.h"
#include "compile.h"
#include "diag.h"
#include "fileio.h"
#include "grammar.h"
#include "sema.h"

/* Where the grammar's reports go: the collector and the source's id. */
struct compile_src {
	struct diag	*diag;
	int		 file;
};

static void	compile_report(void *, enum grammar_sev,
		    const struct srcloc *, const char *, va_list)
		    __attribute__((format(printf, 4, 0)));
static int	compile_stopped(void *);

/* The grammar's report callback: into the diagnostics of the source. */
static void
compile_report(void *arg, enum grammar_sev sev, const struct srcloc *loc,
    const char *fmt, va_list ap)
{
	struct compile_src	*src = arg;

	diag_vreport(src->diag, sev == GRAMMAR_NOTE ? DIAG_NOTE :
	    DIAG_ERROR, src->file, loc, fmt, ap);
}

static int
compile_stopped(void *arg)
{
	struct compile_src	*src = arg;

	return diag_stopped(src->diag);
}

int
compile_file(const char *path, const struct compile_opts *o, uint8_t **out,
    size_t *outlen)
{
	struct fileio_data	 d;
	char			 err[LIM_ERRMSG];
	int			 r;

	if (sema_readfile(path, &d, err, sizeof(err)) == -1) {
		if (o->diag != NULL)
			fprintf(o->diag, "%s: error: cannot read: %s\n", path,
			    err);
		return -1;
	}
	r = compile_buffer(path, d.buf, d.len, o, out, outlen);
	fileio_data_free(&d);
	return r;
}

int
compile_buffer(const char *name, const char *buf, size_t len,
    const struct compile_opts *o, uint8_t **out, size_t *outlen)
{
	struct diag		*d;
	struct compile_src	 src;
	struct grammar		 p;
	struct sema		 s;
	int			 fid, r;

	if (out != NULL) {
		*out = NULL;
		*outlen = 0;
	}
	if ((d = diag_new(o->diag, o->werror)) == NULL)
		return 1;
	memset(&p, 0, sizeof(p));
	memset(&s, 0, sizeof(s));
	if ((fid = diag_source(d, name, buf, len)) == -1 ||
	    (p.arena = ast_arena_new()) == NULL) {
		if (o->diag != NULL)
			fprintf(o->diag, "%s: error: out of memory\n", name);
		diag_free(d);
		return 1;
	}
	if (len > LIM_SOURCE_SIZE) {
		diag_error(d, fid, NULL, "the policy is larger than %u bytes",
		    (unsigned)LIM_SOURCE_SIZE);
		goto done;
	}
	src.diag = d;
	src.file = fid;
	p.report = compile_report;
	p.stopped = compile_stopped;
	p.arg = &src;
	if (grammar_parse(&p, buf, len) == -1 && !diag_stopped(d)) {
		diag_error(d, fid, NULL, "out of memory while parsing");
		goto done;
	}
	if (diag_stopped(d))
		goto done;
	s.arena = p.arena;
	s.diag = d;
	s.file = fid;
	s.name = name;
	s.opts = o;
	sema_run(&s, p.stmts.head);
	/* A failure is reported to d, and so counted below. */
	if (!diag_stopped(d) && emit_run(&s, out, outlen) != 0 &&
	    diag_errors(d) == 0)
		diag_error(d, fid, NULL, "cannot build the table");
done:
	r = diag_errors(d) > 0 ? 1 : 0;
	if (r != 0 && out != NULL && *out != NULL) {
		free(*out);
		*out = NULL;
		*outlen = 0;
	}
	diag_flush(d);
	diag_free(d);
	ast_arena_free(p.arena);
	return r;
}
