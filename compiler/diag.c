/*
 * diag: collect the compiler's diagnostics, then print them sorted by
 * file and position with the offending source line and a caret.
 *
 * They are collected rather than printed at once because the front end
 * finds them in passes (syntax while parsing, meaning afterwards, prefix
 * conflicts when the table is built) while a user reads a file top to
 * bottom.  The source line is copied when the diagnostic is recorded,
 * so a list file's text can be freed as soon as it has been read.  The
 * number kept is bounded: LIM_ERRORS errors, as many warnings, and the
 * notes that go with them.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "bastion_limits.h"

#define DIAG_MSGMAX	1024	/* one message, bytes */
#define DIAG_SNIPPET	512	/* bytes of a source line we quote */
#define DIAG_MAXWARN	LIM_ERRORS

struct diag_source {
	char		*name;
	const char	*buf;		/* NULL: cannot quote */
	size_t		 len;
	uint32_t	 cline;		/* line cline is at coff */
	size_t		 coff;
};

struct diag_entry {
	int		 sev;
	int		 file;
	int		 werror;	/* a warning reported as an error */
	struct srcloc	 loc;
	size_t		 seq;		/* order recorded */
	char		*msg;
	char		*text;		/* the source line, or NULL */
	size_t		 nnotes;	/* notes right after this entry */
};

struct diag {
	FILE			*fp;
	int			 werror;
	struct diag_source	*src;
	size_t			 nsrc;
	struct diag_entry	*ent;
	size_t			 nent, cap;
	size_t			 seq;
	unsigned long		 nerrors, nwarnings, hidden;
	int			 stopped;
	int			 last_kept;	/* may a note attach? */
	size_t			 last;	/* the last primary */
};

static int	diag_line(struct diag_source *, uint32_t, const char **,
		    size_t *);
static char	*diag_snippet(struct diag *, int, uint32_t);
static int	diag_cmp(const void *, const void *);
static void	diag_print(struct diag *, const struct diag_entry *);

struct diag *
diag_new(FILE *fp, int werror)
{
	struct diag	*d;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->fp = fp;
	d->werror = werror;
	return d;
}

void
diag_free(struct diag *d)
{
	size_t	 i;

	if (d == NULL)
		return;
	for (i = 0; i < d->nent; i++) {
		free(d->ent[i].msg);
		free(d->ent[i].text);
	}
	for (i = 0; i < d->nsrc; i++)
		free(d->src[i].name);
	free(d->ent);
	free(d->src);
	free(d);
}

int
diag_source(struct diag *d, const char *name, const char *buf, size_t len)
{
	struct diag_source	*s;

	if (d->nsrc >= 1u << 20)
		return -1;
	s = realloc(d->src, (d->nsrc + 1) * sizeof(*s));
	if (s == NULL)
		return -1;
	d->src = s;
	s = &d->src[d->nsrc];
	memset(s, 0, sizeof(*s));
	if ((s->name = strdup(name)) == NULL)
		return -1;
	s->buf = buf;
	s->len = len;
	s->cline = 1;
	return (int)d->nsrc++;
}

void
diag_source_drop(struct diag *d, int id)
{
	if (id >= 0 && (size_t)id < d->nsrc) {
		d->src[id].buf = NULL;
		d->src[id].len = 0;
	}
}

const char *
diag_source_name(const struct diag *d, int id)
{
	if (id < 0 || (size_t)id >= d->nsrc)
		return "(unknown)";
	return d->src[id].name;
}

void
diag_error(struct diag *d, int file, const struct srcloc *loc,
    const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	diag_vreport(d, DIAG_ERROR, file, loc, fmt, ap);
	va_end(ap);
}

void
diag_warning(struct diag *d, int file, const struct srcloc *loc,
    const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	diag_vreport(d, DIAG_WARNING, file, loc, fmt, ap);
	va_end(ap);
}

void
diag_note(struct diag *d, int file, const struct srcloc *loc,
    const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	diag_vreport(d, DIAG_NOTE, file, loc, fmt, ap);
	va_end(ap);
}

void
diag_vreport(struct diag *d, enum diag_sev sev, int file,
    const struct srcloc *loc, const char *fmt, va_list ap)
{
	struct diag_entry	*e;
	char			 msg[DIAG_MSGMAX];
	int			 werror = 0;

	if (d == NULL)
		return;
	if (sev == DIAG_WARNING && d->werror) {
		sev = DIAG_ERROR;
		werror = 1;
	}
	/* Count first: the verdict must not depend on what is shown. */
	if (sev == DIAG_ERROR) {
		if (d->stopped) {
			d->last_kept = 0;
			return;
		}
		d->nerrors++;
		if (d->nerrors >= LIM_ERRORS)
			d->stopped = 1;
	} else if (sev == DIAG_WARNING) {
		d->nwarnings++;
		if (d->nwarnings > DIAG_MAXWARN) {
			d->hidden++;
			d->last_kept = 0;
			return;
		}
	} else if (!d->last_kept)
		return;

	if (d->nent == d->cap) {
		size_t	 ncap = d->cap == 0 ? 16 : d->cap * 2;

		e = realloc(d->ent, ncap * sizeof(*e));
		if (e == NULL) {
			d->last_kept = 0;
			return;
		}
		d->ent = e;
		d->cap = ncap;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	e = &d->ent[d->nent];
	memset(e, 0, sizeof(*e));
	e->sev = sev;
	e->file = file;
	e->werror = werror;
	if (loc != NULL)
		e->loc = *loc;
	if (e->loc.len == 0)
		e->loc.len = 1;
	e->seq = d->seq++;
	if ((e->msg = strdup(msg)) == NULL) {
		d->last_kept = 0;
		return;
	}
	if (e->loc.line > 0 && d->fp != NULL)
		e->text = diag_snippet(d, file, e->loc.line);
	if (sev == DIAG_NOTE)
		d->ent[d->last].nnotes++;
	else {
		d->last = d->nent;
		d->last_kept = 1;
	}
	d->nent++;
}

unsigned long
diag_errors(const struct diag *d)
{
	return d->nerrors;
}

int
diag_stopped(const struct diag *d)
{
	return d != NULL && d->stopped;
}

/*
 * Find line n of s.  Diagnostics mostly come in order, so the search
 * starts from the last line found whenever it can.
 */
static int
diag_line(struct diag_source *s, uint32_t n, const char **start,
    size_t *len)
{
	const char	*p, *nl;
	size_t		 off;
	uint32_t	 line;

	if (s->buf == NULL)
		return -1;
	if (n >= s->cline) {
		line = s->cline;
		off = s->coff;
	} else {
		line = 1;
		off = 0;
	}
	while (line < n) {
		if (off >= s->len)
			return -1;
		nl = memchr(s->buf + off, '\n', s->len - off);
		if (nl == NULL)
			return -1;
		off = (size_t)(nl - s->buf) + 1;
		line++;
	}
	if (off > s->len)
		return -1;
	s->cline = line;
	s->coff = off;
	p = s->buf + off;
	nl = memchr(p, '\n', s->len - off);
	*start = p;
	*len = nl != NULL ? (size_t)(nl - p) : s->len - off;
	if (*len > 0 && p[*len - 1] == '\r')
		(*len)--;
	return 0;
}

/* A printable copy of the start of a source line. */
static char *
diag_snippet(struct diag *d, int file, uint32_t line)
{
	const char	*p;
	size_t		 len, i;
	char		*t;

	if (file < 0 || (size_t)file >= d->nsrc)
		return NULL;
	if (diag_line(&d->src[file], line, &p, &len) == -1)
		return NULL;
	if (len > DIAG_SNIPPET)
		len = DIAG_SNIPPET;
	if ((t = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		unsigned char	 c = (unsigned char)p[i];

		t[i] = (c == '\t' || (c >= 0x20 && c != 0x7f)) ? (char)c : '?';
	}
	t[len] = '\0';
	return t;
}

/* Sort by file, then position, then the order found. */
static int
diag_cmp(const void *a, const void *b)
{
	const struct diag_entry	*x, *y;

	x = *(const struct diag_entry *const *)a;
	y = *(const struct diag_entry *const *)b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if (x->loc.line != y->loc.line)
		return x->loc.line < y->loc.line ? -1 : 1;
	if (x->loc.col != y->loc.col)
		return x->loc.col < y->loc.col ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

static void
diag_print(struct diag *d, const struct diag_entry *e)
{
	static const char *const sevname[] = { "error", "warning", "note" };
	const char	*name = diag_source_name(d, e->file);
	size_t		 tlen, i, col, end;

	if (e->loc.line > 0)
		fprintf(d->fp, "%s:%lu:%lu: %s: %s%s\n", name,
		    (unsigned long)e->loc.line, (unsigned long)e->loc.col,
		    sevname[e->sev], e->msg, e->werror ? " [-W error]" : "");
	else
		fprintf(d->fp, "%s: %s: %s%s\n", name, sevname[e->sev],
		    e->msg, e->werror ? " [-W error]" : "");
	if (e->text == NULL || e->loc.col == 0)
		return;
	tlen = strlen(e->text);
	col = e->loc.col - 1;
	if (col > tlen)
		return;
	fprintf(d->fp, "%s\n", e->text);
	/* Tabs copied from the line keep the caret under its token. */
	for (i = 0; i < col; i++)
		putc(e->text[i] == '\t' ? '\t' : ' ', d->fp);
	putc('^', d->fp);
	end = col + e->loc.len;
	if (end > tlen)
		end = tlen;
	for (i = col + 1; i < end; i++)
		putc('~', d->fp);
	putc('\n', d->fp);
}

void
diag_flush(struct diag *d)
{
	struct diag_entry	**v;
	size_t			 i, j, n = 0;

	if (d == NULL)
		return;
	if (d->fp != NULL && d->nent > 0) {
		if ((v = calloc(d->nent, sizeof(*v))) == NULL) {
			/* Unsorted is better than nothing. */
			for (i = 0; i < d->nent; i++)
				diag_print(d, &d->ent[i]);
		} else {
			for (i = 0; i < d->nent; i += 1 + d->ent[i].nnotes)
				v[n++] = &d->ent[i];
			qsort(v, n, sizeof(*v), diag_cmp);
			for (i = 0; i < n; i++)
				for (j = 0; j <= v[i]->nnotes; j++)
					diag_print(d, v[i] + j);
			free(v);
		}
	}
	if (d->fp != NULL && d->stopped)
		fprintf(d->fp, "%s: error: too many errors; stopping\n",
		    diag_source_name(d, 0));
	if (d->fp != NULL && d->hidden > 0)
		fprintf(d->fp, "%s: note: %lu more warning%s not shown\n",
		    diag_source_name(d, 0), d->hidden,
		    d->hidden == 1 ? "" : "s");
	if (d->fp != NULL)
		fflush(d->fp);
	for (i = 0; i < d->nent; i++) {
		free(d->ent[i].msg);
		free(d->ent[i].text);
	}
	d->nent = 0;
	d->hidden = 0;
	d->last_kept = 0;
}
