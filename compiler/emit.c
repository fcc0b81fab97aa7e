/*
 * emit: the resolved policy into a ptab builder, and ptab_build()'s
 * report of prefixes shared between rules back into diagnostics.
 *
 * The builder finds shared prefixes while it sorts (it has to sort
 * anyway), and names rules by its own ids; rule_of[] maps them back to
 * the statements.  A list shared by two rules can share thousands of
 * prefixes, so they are gathered by pair of rules and each pair is
 * reported once, with the first prefix and a count of the rest.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "diag.h"
#include "bastion_limits.h"
#include "ptab.h"
#include "sema.h"

struct emit_pair {
	uint32_t	 kept, dropped;
	int		 same;
	size_t		 count;
	struct addr	 first;
};

struct emit_ctx {
	struct sema		 *s;
	struct sema_rule	**rule_of;	/* builder id -> rule */
	uint32_t		  nids;
	struct emit_pair	 *pairs;	/* in the order found */
	size_t			  npairs, cap;
	uint32_t		 *hash;		/* pair index + 1; 0 */
	size_t			  hsize;	/* power of 2 */
	int			  oom;
};

static ptab_conflict_fn	emit_conflict;
static size_t	emit_slot(const struct emit_ctx *, uint32_t, uint32_t);
static int	emit_rehash(struct emit_ctx *);
static void	emit_effect(const struct sema_rule *, char *, size_t);
static void	emit_report(struct emit_ctx *, const struct emit_pair *);
static int	emit_listeners(struct sema *, struct ptab_builder *);
static int	emit_rcpts(struct sema *, struct ptab_builder *);

static size_t
emit_slot(const struct emit_ctx *c, uint32_t kept, uint32_t dropped)
{
	uint64_t	 h = ((uint64_t)kept << 32 | dropped) *
			    UINT64_C(0x9e3779b97f4a7c15);

	return (size_t)(h >> 32) & (c->hsize - 1);
}

static int
emit_rehash(struct emit_ctx *c)
{
	uint32_t	*h;
	size_t		 i, j, size = c->hsize == 0 ? 64 : c->hsize * 2;

	if ((h = calloc(size, sizeof(*h))) == NULL)
		return -1;
	free(c->hash);
	c->hash = h;
	c->hsize = size;
	for (i = 0; i < c->npairs; i++) {
		j = emit_slot(c, c->pairs[i].kept, c->pairs[i].dropped);
		while (h[j] != 0)
			j = (j + 1) & (size - 1);
		h[j] = (uint32_t)i + 1;
	}
	return 0;
}

static void
emit_conflict(void *ctx, const struct addr *prefix, uint32_t kept,
    uint32_t dropped, int same_effect)
{
	struct emit_ctx		*c = ctx;
	struct emit_pair	*p;
	size_t			 j;

	if (c->oom)
		return;
	if (c->npairs * 2 >= c->hsize && emit_rehash(c) == -1) {
		c->oom = 1;
		return;
	}
	for (j = emit_slot(c, kept, dropped); c->hash[j] != 0;
	    j = (j + 1) & (c->hsize - 1)) {
		p = &c->pairs[c->hash[j] - 1];
		if (p->kept == kept && p->dropped == dropped) {
			p->count++;
			return;
		}
	}
	if (c->npairs == c->cap) {
		size_t	 ncap = c->cap == 0 ? 16 : c->cap * 2;

		if (ncap > UINT32_MAX - 1 ||
		    (p = realloc(c->pairs, ncap * sizeof(*p))) == NULL) {
			c->oom = 1;
			return;
		}
		c->pairs = p;
		c->cap = ncap;
	}
	p = &c->pairs[c->npairs];
	p->kept = kept;
	p->dropped = dropped;
	p->same = same_effect;
	p->count = 1;
	p->first = *prefix;
	c->hash[j] = (uint32_t)++c->npairs;
}

/* A rule's effect as the source spells it: "deny", "require auth ...". */
static void
emit_effect(const struct sema_rule *r, char *buf, size_t sz)
{
	static const char *const lv[] = { "none", "tls", "auth", "auth+tls" };
	size_t	 off;

	if (r->action == PTAB_ACT_DENY) {
		snprintf(buf, sz, "deny");
		return;
	}
	off = (size_t)snprintf(buf, sz, "require %s", lv[r->require & 3]);
	if (r->as_user != NULL && off < sz)
		off += (size_t)snprintf(buf + off, sz - off, " as \"%.*s%s\"",
		    64, r->as_user, strlen(r->as_user) > 64 ? "..." : "");
	if ((r->flags & PTAB_RULE_RELAY) && off < sz)
		off += (size_t)snprintf(buf + off, sz - off, " relay");
	if ((r->flags & PTAB_RULE_CLEARTEXT) && off < sz)
		snprintf(buf + off, sz - off, " auth cleartext");
}

static void
emit_report(struct emit_ctx *c, const struct emit_pair *p)
{
	struct sema_rule	*k, *d;
	char			 pfx[ADDR_STRLEN], eff[160], more[96];

	if (p->kept >= c->nids || p->dropped >= c->nids ||
	    (k = c->rule_of[p->kept]) == NULL ||
	    (d = c->rule_of[p->dropped]) == NULL)
		return;
	addr_format(&p->first, pfx, sizeof(pfx));
	more[0] = '\0';
	if (p->count > 1)
		snprintf(more, sizeof(more), " (and %zu more prefix%s this "
		    "rule shares with it)", p->count - 1,
		    p->count == 2 ? "" : "es");
	if (p->same) {
		diag_warning(c->s->diag, c->s->file, &d->where, "%s "
		    "duplicates the rule at line %lu%s", pfx,
		    (unsigned long)k->line, more);
	} else {
		emit_effect(k, eff, sizeof(eff));
		diag_error(c->s->diag, c->s->file, &d->where, "%s is already "
		    "'%s' at line %lu%s", pfx, eff, (unsigned long)k->line,
		    more);
	}
	diag_note(c->s->diag, c->s->file, &k->where, "the other rule is "
	    "here");
}

/* Listeners, with their proxy sets (a list's ids are known by now). */
static int
emit_listeners(struct sema *s, struct ptab_builder *b)
{
	struct sema_listener	*sl;
	struct ptab_listener_in	 in;
	size_t			 i;

	for (i = 0; i < s->nlisteners; i++) {
		sl = &s->listeners[i];
		if (sl->dup)
			continue;
		memset(&in, 0, sizeof(in));
		in.addr = sl->addr;
		in.port = sl->port;
		in.tls = sl->tls;
		in.require = sl->require;
		in.line = sl->line;
		in.proxy = sl->proxy;
		in.proxy_list = PTAB_NONE;
		if (sl->proxy_list != NULL && !sl->proxy_list->dup) {
			in.proxy_list = sl->proxy_list->id;
			in.proxy_pfx = sl->proxy_list->pfx;
			in.nproxy = sl->proxy_list->n;
		} else if (sl->proxy && sl->proxy_ref == NULL) {
			in.proxy_pfx = &sl->proxy_pfx;
			in.nproxy = 1;
		}
		if (ptab_builder_listener(b, &in) == -1)
			return -1;
	}
	return 0;
}

/* Recipients lists, and each accept rule's reference to its own. */
static int
emit_rcpts(struct sema *s, struct ptab_builder *b)
{
	struct sema_rcpts	*r;
	struct sema_domain	*d;
	size_t			 i;

	for (i = 0; i < s->nrcpts; i++) {
		r = &s->rcpts[i];
		if (r->dup)
			continue;
		if (ptab_builder_rcpts(b, r->name, r->line, r->parts, r->n,
		    &r->id) == -1)
			return -1;
	}
	for (i = 0; i < s->naccept; i++) {
		d = &s->accept[i];
		d->in.rcpt_list = PTAB_NONE;
		if (d->in.rcpts != PTAB_RCPTS_LIST)
			continue;
		/* An undefined list was reported: no table comes of it. */
		if (d->rcpts == NULL || d->rcpts->dup)
			d->in.rcpts = PTAB_RCPTS_ANY;
		else
			d->in.rcpt_list = d->rcpts->id;
	}
	return 0;
}

int
emit_run(struct sema *s, uint8_t **out, size_t *outlen)
{
	struct ptab_builder	*b;
	struct ptab_rule_in	 ri;
	struct emit_ctx		 c;
	struct sema_rule	*r;
	struct sema_list	*l;
	char			 err[LIM_ERRMSG];
	uint8_t			*img = NULL;
	size_t			 len = 0, i, j;
	uint32_t		 id;
	int			 rc = -1;

	memset(&c, 0, sizeof(c));
	c.s = s;
	if ((b = ptab_builder_new()) == NULL) {
		diag_error(s->diag, s->file, NULL, "out of memory");
		return -1;
	}
	c.nids = (uint32_t)s->nrules + 1;
	if (s->nrules >= PTAB_MAX_RULES ||
	    (c.rule_of = calloc(c.nids, sizeof(*c.rule_of))) == NULL) {
		snprintf(err, sizeof(err), "too many rules");
		goto fail;
	}
	snprintf(err, sizeof(err), "out of memory");
	if (ptab_builder_server(b, &s->server) == -1)
		goto fail;
	if (s->have_default == 1 && ptab_builder_default(b, s->def.line,
	    s->def.action, s->def.require, s->def.flags,
	    s->def.as_user) == -1)
		goto fail;
	for (i = 0; i < s->nlists; i++) {
		l = &s->lists[i];
		if (l->dup)
			continue;
		if (ptab_builder_list(b, l->name, l->line, &l->id) == -1)
			goto fail;
	}
	if (emit_listeners(s, b) == -1 || emit_rcpts(s, b) == -1)
		goto fail;
	for (i = 0; i < s->nrules; i++) {
		r = &s->rules[i];
		if (r->kind == PTAB_RULE_LIST && r->list == NULL)
			continue;		/* undefined list: reported */
		memset(&ri, 0, sizeof(ri));
		ri.line = r->line;
		ri.kind = r->kind;
		ri.action = r->action;
		ri.require = r->require;
		ri.flags = r->flags;
		ri.as_user = r->as_user;
		if (r->kind == PTAB_RULE_ADDR)
			ri.prefix = r->prefix;
		else
			ri.list = r->list->id;
		if (ptab_builder_rule(b, &ri, &id) == -1)
			goto fail;
		r->id = id;
		if (id < c.nids)
			c.rule_of[id] = r;
		if (r->kind != PTAB_RULE_LIST)
			continue;
		for (j = 0; j < r->list->n; j++)
			if (ptab_builder_prefix(b, id, &r->list->pfx[j]) == -1)
				goto fail;
	}
	for (i = 0; i < s->nusers; i++)
		if (!s->users[i].dup && ptab_builder_user(b, s->users[i].name,
		    s->users[i].verifier, s->users[i].line,
		    s->users[i].senders, s->users[i].nsenders) == -1)
			goto fail;
	for (i = 0; i < s->naccept; i++)
		if (s->accept[i].in.domain != NULL &&
		    ptab_builder_accept(b, &s->accept[i].in) == -1)
			goto fail;
	for (i = 0; i < s->noutbound; i++)
		if (s->outbound[i].in.domain != NULL &&
		    ptab_builder_outbound(b, &s->outbound[i].in) == -1)
			goto fail;

	if (ptab_build(b, emit_conflict, &c, &img, &len, err,
	    sizeof(err)) == -1)
		goto fail;
	for (i = 0; i < c.npairs; i++)
		emit_report(&c, &c.pairs[i]);
	if (c.oom)
		diag_error(s->diag, s->file, NULL, "out of memory while "
		    "checking for shared prefixes");
	rc = 0;
	if (out != NULL && diag_errors(s->diag) == 0) {
		*out = img;
		*outlen = len;
		img = NULL;
	}
	goto done;

fail:
	diag_error(s->diag, s->file, NULL, "cannot build the table: %s", err);
done:
	free(img);
	free(c.rule_of);
	free(c.pairs);
	free(c.hash);
	ptab_builder_free(b);
	return rc;
}
