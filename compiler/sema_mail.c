/*
 * sema_mail: the semantic checks of the mail-side statements of the
 * language's version 2: `recipients` lists and the `recipients` clause
 * of accept rules, a user's `senders`, and a listener's `proxy from`.
 *
 * A recipients list may come from a file of a million local parts, so
 * repeats are found with a hash set while the file is read (its
 * diagnostics must point into it, and it is gone afterwards), and the
 * parts are kept as arena strings for the emitter.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "bastion_limits.h"
#include "diag.h"
#include "grammar.h"
#include "ptab.h"
#include "sema.h"
#include "sema_int.h"

/* A list being filled: the parts and a hash set of their indexes. */
struct sm_fill {
	struct sema_rcpts	*r;
	size_t			 cap;
	uint64_t		*set;		/* hash << 32 | index + 1;
						 * 0 is empty */
	uint32_t		*line;		/* line of each part */
	size_t			 setsize;	/* power of two */
};

static const char *sm_local_reason(const char *, size_t);
static int	sm_fill_begin(struct sema *, void *, size_t);
static int	sm_fill_entry(struct sema *, void *, int, const char *,
		    size_t, const struct srcloc *);
static int	sm_add(struct sema *, struct sm_fill *, int, const char *,
		    size_t, const struct srcloc *);
static struct sema_list *sm_list_find(struct sema *, const char *);
static int	sm_rcpts_cmp(const void *, const void *);
static void	sm_resolve_rcpts(struct sema *);
static void	sm_resolve_proxy(struct sema *);

/*
 * Why the n bytes at p are not a local part (RFC 5321 4.1.2: a
 * Dot-string, or a Quoted-string with its quotes), or NULL.  '#', '{'
 * and '}' are atext, but a policy cannot spell them in a list.
 */
static const char *
sm_local_reason(const char *p, size_t n)
{
	static const char	 atext[] = "!$%&'*+-/=?^_`|~";
	size_t			 i;
	unsigned char		 c;

	if (n == 0)
		return "it is empty";
	if (n > LIM_LOCALPART)
		return "it is longer than 64 bytes (RFC 5321 4.5.3.1.1)";
	if (p[0] == '"') {
		if (n < 2 || p[n - 1] != '"')
			return "a quoted local part ends with '\"'";
		for (i = 1; i < n - 1; i++) {
			c = (unsigned char)p[i];
			if (c == '\\' && i + 1 < n - 1 &&
			    p[i + 1] >= 32 && p[i + 1] <= 126) {
				i++;
				continue;
			}
			if (c < 32 || c > 126 || c == '"' || c == '\\')
				return "a quoted local part holds only "
				    "printable characters, '\"' and '\\' "
				    "escaped";
		}
		return NULL;
	}
	for (i = 0; i < n; i++) {
		c = (unsigned char)p[i];
		if (c == '.') {
			if (i == 0 || i == n - 1 || p[i - 1] == '.')
				return "a '.' may not start or end it, nor "
				    "follow another";
			continue;
		}
		if (c == '#' || c == '{' || c == '}')
			return "'#', '{' and '}' cannot be written in a list";
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr(atext, c) != NULL)
			continue;
		if (c == '@')
			return "it is a local part: write it without '@' and "
			    "the domain";
		return "only letters, digits, '.' and !$%&'*+-/=?^_`|~ may "
		    "appear in it (RFC 5321 Dot-string), or quote it";
	}
	return NULL;
}

/* ---- recipients NAME { ... } | file "path" ----------------------------- */

int
sema_mail_init(struct sema *s, struct ast_node *stmts)
{
	struct ast_node	*n;
	size_t		 k = 0;

	for (n = stmts; n != NULL; n = n->next)
		if (n->kind == AST_RCPTS_LIST || n->kind == AST_RCPTS_FILE)
			k++;
	s->nrcpts = 0;
	s->parts = 0;
	s->rcpts = ast_alloc(s->arena, (k + 1) * sizeof(*s->rcpts));
	return s->rcpts == NULL ? -1 : 0;
}

static int
sm_fill_begin(struct sema *s, void *ctx, size_t lines)
{
	struct sm_fill	*f = ctx;
	size_t		 room = LIM_RCPT_ENTRIES - s->parts;

	if (lines > room)
		lines = room + 1;
	f->cap = lines;
	f->r->parts = ast_alloc(s->arena, (lines + 1) * sizeof(char *));
	f->line = calloc(lines + 1, sizeof(*f->line));
	for (f->setsize = 16; f->setsize < 2 * lines; f->setsize *= 2)
		;
	f->set = calloc(f->setsize, sizeof(*f->set));
	if (f->r->parts == NULL || f->line == NULL || f->set == NULL) {
		diag_error(s->diag, s->file, NULL, "out of memory");
		return -1;
	}
	return 0;
}

static int
sm_fill_entry(struct sema *s, void *ctx, int fid, const char *p, size_t n,
    const struct srcloc *loc)
{
	return sm_add(s, ctx, fid, p, n, loc);
}

/* One local part into the list, checked; a repeat is warned about. */
static int
sm_add(struct sema *s, struct sm_fill *f, int fid, const char *p, size_t n,
    const struct srcloc *loc)
{
	struct sema_rcpts	*r = f->r;
	const char		*why, *t;
	char			 q[SEMA_QUOTE + 4], *d;
	size_t			 j, i;
	uint32_t		 h, k;

	if (r->n == f->cap || r->n == LIM_RCPT_ENTRIES - s->parts) {
		diag_error(s->diag, fid, loc, "too many local parts (at most "
		    "%u in all recipients lists)", (unsigned)LIM_RCPT_ENTRIES);
		return -2;
	}
	if ((why = sm_local_reason(p, n)) != NULL) {
		diag_error(s->diag, fid, loc, "bad local part '%s': %s",
		    sema_q(q, p, n), why);
		r->bad = 1;
		return -1;
	}
	/* The hash kept beside the index spares most string compares. */
	h = ptab_rcpt_hash(p, n);
	for (j = h & (f->setsize - 1); f->set[j] != 0;
	    j = (j + 1) & (f->setsize - 1)) {
		if ((uint32_t)(f->set[j] >> 32) != h)
			continue;
		k = (uint32_t)f->set[j];
		t = r->parts[k - 1];
		if (strlen(t) != n)
			continue;
		for (i = 0; i < n; i++)
			if ((t[i] | (t[i] >= 'A' && t[i] <= 'Z' ? 0x20 : 0)) !=
			    (p[i] | (p[i] >= 'A' && p[i] <= 'Z' ? 0x20 : 0)))
				break;
		if (i == n) {
			diag_warning(s->diag, fid, loc, "'%s' is already "
			    "listed at line %lu (local parts compare without "
			    "regard to case)", sema_q(q, p, n),
			    (unsigned long)f->line[k - 1]);
			return 0;
		}
	}
	if ((d = ast_strndup(s->arena, p, n)) == NULL)
		return -2;
	f->line[r->n] = loc->line;
	r->parts[r->n++] = d;
	f->set[j] = (uint64_t)h << 32 | (uint32_t)r->n;
	return 0;
}

void
sema_rcpts(struct sema *s, struct ast_node *n)
{
	static const struct sema_file	 ff = {
		sm_fill_begin, sm_fill_entry, "local part"
	};
	struct sema_rcpts	*r;
	struct sm_fill		 f;
	struct ast_word		*w;
	char			 buf[LIM_LOCALPART * 2 + 3];
	size_t			 i, k;

	if (!sema_ident(s, n->arg[0], "recipients list"))
		return;
	r = &s->rcpts[s->nrcpts++];
	memset(r, 0, sizeof(*r));
	r->node = n;
	r->name = n->arg[0]->s;
	r->where = n->arg[0]->loc;
	r->line = n->loc.line;
	memset(&f, 0, sizeof(f));
	f.r = r;
	if (n->kind == AST_RCPTS_FILE) {
		if (sema_file_read(s, n->arg[1], &ff, &f) == -1)
			r->bad = 1;
	} else if (sm_fill_begin(s, &f, n->nwords) == 0) {
		for (w = n->words; w != NULL; w = w->next) {
			if (w->listref) {
				diag_error(s->diag, s->file, &w->loc, "a "
				    "recipients list holds local parts, not "
				    "other lists");
				r->bad = 1;
				continue;
			}
			if (!w->string) {
				if (sm_add(s, &f, s->file, w->s, w->len,
				    &w->loc) == -2)
					break;
				continue;
			}
			/* A quoted local part keeps its quotes. */
			k = 0;
			buf[k++] = '"';
			for (i = 0; i < w->len && k < sizeof(buf) - 2; i++) {
				if (w->s[i] == '"' || w->s[i] == '\\')
					buf[k++] = '\\';
				buf[k++] = w->s[i];
			}
			buf[k++] = '"';
			if (sm_add(s, &f, s->file, buf, i < w->len ?
			    sizeof(buf) : k, &w->loc) == -2)
				break;
		}
	}
	s->parts += r->n;
	free(f.set);
	free(f.line);
}

/* recipients <NAME> | any, on an accept rule; resolved later. */
int
sema_mail_rcpt_clause(struct sema *s, struct sema_domain *d,
    struct ast_node *c)
{
	const struct ast_word	*w = c->arg[0];
	char			 q[SEMA_QUOTE + 4];

	if (d->rcpt_clause != NULL) {
		diag_error(s->diag, s->file, &c->loc, "'recipients' is given "
		    "twice");
		diag_note(s->diag, s->file, &d->rcpt_clause->loc, "the first "
		    "is here");
		return -1;
	}
	d->rcpt_clause = c;
	if (w->listref == 2)
		return -1;		/* the scanner said why */
	if (!w->listref && strcmp(w->s, "any") != 0) {
		diag_error(s->diag, s->file, &w->loc, "expected "
		    "'recipients <NAME>' or 'recipients any', not '%s'",
		    sema_q(q, w->s, w->len));
		return -1;
	}
	d->in.rcpts = w->listref ? PTAB_RCPTS_LIST : PTAB_RCPTS_ANY;
	return 0;
}

static int
sm_rcpts_cmp(const void *a, const void *b)
{
	const struct sema_rcpts	*x = *(const struct sema_rcpts *const *)a;
	const struct sema_rcpts	*y = *(const struct sema_rcpts *const *)b;
	int			 c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/*
 * Lists defined once, every reference defined, every list used; a
 * maildir needs a clause, a forward without one is warned about.
 */
static void
sm_resolve_rcpts(struct sema *s)
{
	struct sema_rcpts	**v;
	struct sema_domain	 *d;
	const struct ast_word	 *w;
	char			  q[SEMA_QUOTE + 4];
	size_t			  i, j, n = 0;

	if ((v = calloc(s->nrcpts + 1, sizeof(*v))) == NULL)
		return;
	for (i = 0; i < s->nrcpts; i++)
		v[i] = &s->rcpts[i];
	qsort(v, s->nrcpts, sizeof(*v), sm_rcpts_cmp);
	for (i = 0; i < s->nrcpts; i++) {
		if (n > 0 && strcmp(v[n - 1]->name, v[i]->name) == 0) {
			diag_error(s->diag, s->file, &v[i]->where, "recipients "
			    "list '%s' is already defined at line %lu",
			    v[i]->name, (unsigned long)v[n - 1]->line);
			diag_note(s->diag, s->file, &v[n - 1]->where, "the "
			    "first definition is here");
			v[i]->used = v[i]->dup = 1;
			continue;
		}
		v[n++] = v[i];
	}
	for (i = 0; i < s->naccept; i++) {
		d = &s->accept[i];
		if (d->rcpt_clause == NULL) {
			if (d->in.delivery == PTAB_DELIVER_MAILDIR)
				diag_error(s->diag, s->file, &d->node->loc,
				    "'deliver maildir' needs 'recipients "
				    "<NAME>' or 'recipients any': without it "
				    "every local part would make a mailbox");
			else
				diag_warning(s->diag, s->file, &d->node->loc,
				    "'forward to' without 'recipients' takes "
				    "every local part, and the next hop's "
				    "refusals become bounces (backscatter)");
			continue;
		}
		if (d->in.rcpts != PTAB_RCPTS_LIST)
			continue;
		w = d->rcpt_clause->arg[0];
		for (j = 0; j < n; j++)
			if (strcmp(v[j]->name, w->s) == 0)
				break;
		if (j == n) {
			diag_error(s->diag, s->file, &w->loc, "recipients list "
			    "'%s' is not defined", sema_q(q, w->s, w->len));
			continue;

		}
		d->rcpts = v[j];
		v[j]->used = 1;
	}
	for (i = 0; i < s->nrcpts; i++)
		if (!s->rcpts[i].used)
			diag_warning(s->diag, s->file, &s->rcpts[i].where,
			    "recipients list '%s' is never used",
			    s->rcpts[i].name);
	free(v);
}

/* ---- user ... senders { ... } ------------------------------------------- */

int
sema_mail_senders(struct sema *s, struct sema_user *u, struct ast_node *c)
{
	const struct ast_word	*w;
	const char		*at, *why;
	char			 q[SEMA_QUOTE + 4], *d;
	size_t			 i, k;
	int			 bad = 0;

	if (c->nwords == 0) {
		diag_error(s->diag, s->file, &c->loc, "'senders' needs at "
		    "least one address or @domain");
		return -1;
	}
	if ((u->senders = ast_alloc(s->arena,
	    c->nwords * sizeof(*u->senders))) == NULL)
		return -1;
	for (w = c->words; w != NULL; w = w->next) {
		if (w->string || w->listref) {
			diag_error(s->diag, s->file, &w->loc, "'senders' holds "
			    "addresses and @domains, unquoted");
			bad = 1;
			continue;
		}
		at = memchr(w->s, '@', w->len);
		while (at != NULL && memchr(at + 1, '@',
		    (size_t)(w->s + w->len - at - 1)) != NULL)
			at = memchr(at + 1, '@',
			    (size_t)(w->s + w->len - at - 1));
		why = at == NULL ? "it is neither local@domain nor @domain" :
		    at + 1 == w->s + w->len ? "no domain follows '@'" :
		    at > w->s ? sm_local_reason(w->s, (size_t)(at - w->s)) :
		    NULL;
		if (why == NULL)
			why = sema_domain_reason(at + 1,
			    (size_t)(w->s + w->len - at - 1), 1);
		if (why != NULL) {
			diag_error(s->diag, s->file, &w->loc, "bad sender "
			    "'%s': %s", sema_q(q, w->s, w->len), why);
			bad = 1;
			continue;
		}
		if ((d = ast_strndup(s->arena, w->s, w->len)) == NULL)
			return -1;
		for (i = 0; i < w->len; i++)
			if (d[i] >= 'A' && d[i] <= 'Z')
				d[i] = (char)(d[i] - 'A' + 'a');
		for (k = 0; k < u->nsenders; k++)
			if (strcmp(u->senders[k], d) == 0)
				break;
		if (k < u->nsenders) {
			diag_warning(s->diag, s->file, &w->loc, "'%s' is "
			    "listed twice", sema_q(q, w->s, w->len));
			continue;
		}
		u->senders[u->nsenders++] = d;
	}
	return bad ? -1 : 0;
}

/* ---- listen ... proxy from <LIST> | PREFIX ------------------------------ */

int
sema_mail_proxy(struct sema *s, struct sema_listener *l, struct ast_node *c)
{
	const struct ast_word	*w = c->arg[0];
	char			 err[LIM_ERRMSG];

	if (l->proxy) {
		diag_error(s->diag, s->file, &c->loc, "'proxy from' is given "
		    "twice");
		diag_note(s->diag, s->file, &l->proxy_where, "the first is "
		    "here");
		return -1;
	}
	l->proxy = 1;
	l->proxy_where = c->loc;
	if (w->listref) {
		l->proxy_ref = c->arg[0];
		return w->listref == 2 ? -1 : 0;
	}
	if (addr_parse(w->s, w->len, 0, &l->proxy_pfx, err,
	    sizeof(err)) == -1) {
		diag_error(s->diag, s->file, &w->loc, "%s", err);
		return -1;
	}
	return 0;
}

/* The first definition of host list name, as sema_resolve_lists keeps. */
static struct sema_list *
sm_list_find(struct sema *s, const char *name)
{
	struct sema_list	*best = NULL;
	size_t			 i;

	for (i = 0; i < s->nlists; i++)
		if (strcmp(s->lists[i].name, name) == 0 &&
		    (best == NULL || s->lists[i].line < best->line))
			best = &s->lists[i];
	return best;
}

/*
 * A proxy set that covers all of IPv4 or IPv6 lets anyone claim any
 * client address: every host rule would be void.
 */
static void
sm_resolve_proxy(struct sema *s)
{
	struct sema_listener	 *l;
	const struct addr	**p;
	char			  q[SEMA_QUOTE + 4];
	size_t			  i, j, n;
	int			  fam;

	for (i = 0; i < s->nlisteners; i++) {
		l = &s->listeners[i];
		if (!l->proxy)
			continue;
		if (l->proxy_ref != NULL) {
			l->proxy_list = sm_list_find(s, l->proxy_ref->s);
			if (l->proxy_list == NULL) {
				diag_error(s->diag, s->file,
				    &l->proxy_ref->loc, "list '%s' is not "
				    "defined", sema_q(q, l->proxy_ref->s,
				    l->proxy_ref->len));
				continue;
			}
			l->proxy_list->used = 1;
			n = l->proxy_list->n;
		} else
			n = 1;
		if ((p = calloc(n + 1, sizeof(*p))) == NULL)
			continue;
		for (j = 0; j < n; j++)
			p[j] = l->proxy_list != NULL ?
			    &l->proxy_list->pfx[j] : &l->proxy_pfx;
		fam = sema_covers(p, n, ADDR_V4) ? 1 :
		    sema_covers(p, n, ADDR_V6) ? 2 : 0;
		free(p);
		if (fam != 0)
			diag_error(s->diag, s->file, &l->proxy_where, "'proxy "
			    "from' covers all of %s: anyone could claim any "
			    "client address", fam == 1 ? "IPv4" : "IPv6");
	}
}

void
sema_mail_resolve(struct sema *s)
{
	sm_resolve_rcpts(s);
	sm_resolve_proxy(s);
}
