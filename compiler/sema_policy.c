/*
 * sema_policy: the semantic pass's checks of the policy as a whole, run
 * once every statement was checked on its own: names defined once and
 * every reference resolved (lists, users in 'as'), one listener per
 * address and port, one accept or outbound per domain, requirements
 * that can be met (users for auth, a certificate for TLS, trust anchors
 * for 'tls verify'), and no relay rule, alone or with the others, that
 * lets the whole Internet relay.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "bastion_limits.h"
#include "nameset.h"
#include "ptab.h"
#include "sema.h"
#include "sema_int.h"
#include "verifier.h"

struct sema_domain_dup {
	struct sema	*s;
	const char	*what;		/* "accept for", "outbound" */
};

static int	sema_list_cmp(const void *, const void *);
static int	sema_list_find(const void *, const void *);
static void	sema_list_dup(void *, void *, void *);
static void	sema_resolve_lists(struct sema *);
static int	sema_user_cmp(const void *, const void *);
static int	sema_user_find(const void *, const void *);
static void	sema_user_dup(void *, void *, void *);
static void	sema_check_as(struct sema *, struct sema_rule *,
		    const struct nameset *);
static void	sema_check_users(struct sema *);
static int	sema_listener_cmp(const void *, const void *);
static void	sema_listener_dup(void *, void *, void *);
static void	sema_check_listeners(struct sema *);
static int	sema_domain_cmp(const void *, const void *);
static void	sema_domain_dup(void *, void *, void *);
static void	sema_check_domains(struct sema *, struct sema_domain *,
		    size_t, const char *);
static void	sema_need(struct sema *, uint8_t, const char *,
		    const struct srcloc *);
static void	sema_check_needs(struct sema *);
static int	sema_ivl_cmp(const void *, const void *);
static uint64_t	sema_be(const uint8_t *, size_t);
static const struct addr **sema_rule_prefixes(struct sema_rule *,
		    size_t *);
static void	sema_check_relay(struct sema *);

void
sema_check_policy(struct sema *s)
{
	sema_resolve_lists(s);
	sema_check_users(s);
	sema_check_listeners(s);
	sema_check_domains(s, s->accept, s->naccept, "accept for");
	sema_check_domains(s, s->outbound, s->noutbound, "outbound");
	sema_check_needs(s);
	sema_check_relay(s);
}

/* ---- Names defined once ------------------------------------------------- */

/* Lists by name. */
static int
sema_list_cmp(const void *a, const void *b)
{
	const struct sema_list	*x = a, *y = b;

	return strcmp(x->name, y->name);
}

static int
sema_list_find(const void *k, const void *e)
{
	const struct sema_list	*l = e;

	return strcmp(k, l->name);
}

static void
sema_list_dup(void *arg, void *item, void *first)
{
	struct sema_list	*l = item, *f = first;

	sema_err(arg, &l->where, "list '%s' is already defined at line %lu",
	    l->name, (unsigned long)f->line);
	sema_note(arg, &f->where, "the first definition is here");
	l->used = 1;	/* not "never used" too */
	l->dup = 1;
}

/* Lists: defined once, every reference defined, every list used. */
static void
sema_resolve_lists(struct sema *s)
{
	struct nameset		 ns;
	struct sema_list	*hit;
	const char		**names, *near;
	char			 q[SEMA_QUOTE + 4];
	size_t			 i;
	struct sema_rule	*r;

	if ((names = calloc(s->nlists + 1, sizeof(*names))) == NULL)
		return;
	if (nameset_build(&ns, s->lists, s->nlists, sizeof(*s->lists),
	    sema_list_cmp, sema_list_dup, s) == -1) {
		free(names);
		return;
	}
	for (i = 0; i < ns.n; i++)
		names[i] = ((struct sema_list *)ns.v[i])->name;
	for (i = 0; i < s->nrules; i++) {
		r = &s->rules[i];
		if (r->kind != PTAB_RULE_LIST)
			continue;
		if ((hit = nameset_find(&ns, r->listref->s,
		    sema_list_find)) != NULL) {
			r->list = hit;
			hit->used = 1;
			continue;
		}
		near = diag_stopped(s->diag) ? NULL :
		    ast_nearest(r->listref->s, r->listref->len, names, ns.n);
		if (near != NULL)
			sema_err(s, &r->where, "list '%s' is not defined; did "
			    "you mean '%s'?", sema_q(q, r->listref->s,
			    r->listref->len), near);
		else
			sema_err(s, &r->where, "list '%s' is not defined",
			    sema_q(q, r->listref->s, r->listref->len));
	}
	for (i = 0; i < s->nlists; i++) {
		if (!s->lists[i].used)
			sema_warn(s, &s->lists[i].where, "list '%s' is never "
			    "used", s->lists[i].name);
	}
	nameset_free(&ns);
	free(names);
}

/* Users by name. */
static int
sema_user_cmp(const void *a, const void *b)
{
	const struct sema_user	*x = a, *y = b;

	return strcmp(x->name, y->name);
}

static int
sema_user_find(const void *k, const void *e)
{
	const struct sema_user	*u = e;

	return strcmp(k, u->name);
}

static void
sema_user_dup(void *arg, void *item, void *first)
{
	struct sema_user	*u = item, *f = first;
	char			 q[SEMA_QUOTE + 4];

	sema_err(arg, &u->node->arg[0]->loc, "user '%s' is already defined "
	    "at line %lu", sema_q(q, u->name, strlen(u->name)),
	    (unsigned long)f->line);
	sema_note(arg, &f->node->arg[0]->loc, "the first definition is "
	    "here");
	u->dup = 1;
}

static void
sema_check_as(struct sema *s, struct sema_rule *r,
    const struct nameset *users)
{
	char	 q[SEMA_QUOTE + 4];

	if (r->as_user == NULL || r->action != PTAB_ACT_ALLOW)
		return;
	if (nameset_find(users, r->as_user, sema_user_find) == NULL)
		sema_err(s, &r->as_where, "'as' names no user: there is no "
		    "'user \"%s\"'", sema_q(q, r->as_user,
		    strlen(r->as_user)));
}

/*
 * Users: each defined once; 'as' names one; SCRAM can serve each one;
 * and AUTH can be offered at all.
 */
static void
sema_check_users(struct sema *s)
{
	struct nameset		 ns;
	const struct sema_user	*first = NULL;
	char			 q[SEMA_QUOTE + 4];
	size_t			 i, j;
	int			 scram = 0, clear = 0;

	if (nameset_build(&ns, s->users, s->nusers, sizeof(*s->users),
	    sema_user_cmp, sema_user_dup, s) == -1)
		return;
	if (s->have_default == 1)
		sema_check_as(s, &s->def, &ns);
	for (i = 0; i < s->nrules; i++)
		sema_check_as(s, &s->rules[i], &ns);

	for (j = 0; j < PTAB_MAX_MECHS; j++)
		if (s->server.mechs[j] == PTAB_MECH_SCRAM_SHA_256)
			scram = 1;
	for (i = 0; i < s->nusers; i++) {
		if (first == NULL)
			first = &s->users[i];
		if (!scram || s->users[i].kind != VERIFIER_ARGON2ID)
			continue;
		sema_warn(s, &s->users[i].node->arg[1]->loc, "scram-sha-256 "
		    "is offered but user '%s' has an argon2id verifier: "
		    "SCRAM cannot authenticate this user",
		    sema_q(q, s->users[i].name, strlen(s->users[i].name)));
		if (s->mechs_explicit)
			sema_note(s, &s->set_node[PTAB_SET_MECHS]->loc,
			    "the mechanisms are set here");
	}

	if (s->have_default == 1 && s->def.action == PTAB_ACT_ALLOW &&
	    (s->def.flags & PTAB_RULE_CLEARTEXT))
		clear = 1;
	for (i = 0; i < s->nrules; i++)
		if (s->rules[i].action == PTAB_ACT_ALLOW &&
		    (s->rules[i].flags & PTAB_RULE_CLEARTEXT))
			clear = 1;
	if (first != NULL && s->server.cert == NULL && !clear &&
	    s->set_node[PTAB_SET_CERT] == NULL)
		sema_warn(s, &first->node->loc, "AUTH can never be offered: "
		    "there is no 'tls certificate' and no rule allows "
		    "'auth cleartext'");
	nameset_free(&ns);
}

/* Listeners by address and port. */
static int
sema_listener_cmp(const void *a, const void *b)
{
	const struct sema_listener	*x = a, *y = b;
	int				 c;

	if (x->addr.family != y->addr.family)
		return x->addr.family < y->addr.family ? -1 : 1;
	if ((c = memcmp(x->addr.a, y->addr.a, sizeof(x->addr.a))) != 0)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return 0;
}

static void
sema_listener_dup(void *arg, void *item, void *first)
{
	struct sema_listener	*l = item, *f = first;
	char			 buf[ADDR_STRLEN];

	addr_format(&l->addr, buf, sizeof(buf));
	sema_err(arg, &l->node->arg[0]->loc, "there is already a listener "
	    "on %s port %u at line %lu", buf, (unsigned)l->port,
	    (unsigned long)f->line);
	sema_note(arg, &f->node->loc, "the other listener is here");
	l->dup = 1;
}

static void
sema_check_listeners(struct sema *s)
{
	struct nameset	 ns;

	if (nameset_build(&ns, s->listeners, s->nlisteners,
	    sizeof(*s->listeners), sema_listener_cmp, sema_listener_dup,
	    s) == 0)
		nameset_free(&ns);
}

/* accept or outbound statements by domain. */
static int
sema_domain_cmp(const void *a, const void *b)
{
	const struct sema_domain	*x = a, *y = b;

	return strcmp(x->in.domain, y->in.domain);
}

static void
sema_domain_dup(void *arg, void *item, void *first)
{
	struct sema_domain_dup	*dd = arg;
	struct sema_domain	*d = item, *f = first;

	sema_err(dd->s, &d->where, "'%s %s' is already given at line %lu",
	    dd->what, d->in.domain, (unsigned long)f->in.line);
	sema_note(dd->s, &f->where, "the first is here");
	d->in.domain = NULL;	/* left out of the table */
}

/* The same domain twice among accept (or outbound) statements. */
static void
sema_check_domains(struct sema *s, struct sema_domain *d, size_t nd,
    const char *what)
{
	struct sema_domain_dup	 dd = { s, what };
	struct nameset		 ns;

	if (nameset_build(&ns, d, nd, sizeof(*d), sema_domain_cmp,
	    sema_domain_dup, &dd) == 0)
		nameset_free(&ns);
}

/* ---- Requirements ----------------------------------------------------- */

/* What requirements need: users for auth, a certificate for TLS. */
static void
sema_need(struct sema *s, uint8_t req, const char *text,
    const struct srcloc *where)
{
	if ((req & PTAB_REQ_AUTH) && s->nusers == 0)
		sema_err(s, where, "'require %s' but no user is defined: no "
		    "client can ever authenticate", text);
	if ((req & PTAB_REQ_TLS) && s->server.cert == NULL &&
	    s->set_node[PTAB_SET_CERT] == NULL)
		sema_err(s, where, "'require %s' needs a certificate: the "
		    "server block has no 'tls certificate ... key ...'", text);
}

static void
sema_check_needs(struct sema *s)
{
	size_t	 i;

	if (s->have_default == 1 && s->def.action == PTAB_ACT_ALLOW)
		sema_need(s, s->def.require, s->def.req_text,
		    &s->def.req_where);
	for (i = 0; i < s->nrules; i++)
		if (s->rules[i].action == PTAB_ACT_ALLOW)
			sema_need(s, s->rules[i].require,
			    s->rules[i].req_text, &s->rules[i].req_where);
	for (i = 0; i < s->nlisteners; i++) {
		sema_need(s, s->listeners[i].require,
		    s->listeners[i].req_text, &s->listeners[i].req_where);
		if (s->listeners[i].tls && s->server.cert == NULL &&
		    s->set_node[PTAB_SET_CERT] == NULL)
			sema_err(s, &s->listeners[i].tls_where, "a 'tls' "
			    "listener needs a certificate: the server block "
			    "has no 'tls certificate ... key ...'");
	}
	if (s->server.trust != NULL || s->set_node[PTAB_SET_TRUST] != NULL)
		return;
	for (i = 0; i < s->naccept; i++)
		if (s->accept[i].in.tls == PTAB_TLS_VERIFY)
			sema_err(s, &s->accept[i].tls_where, "'tls verify' "
			    "needs trust anchors: the server block has no "
			    "'tls trust'");
	for (i = 0; i < s->noutbound; i++)
		if (s->outbound[i].in.tls == PTAB_TLS_VERIFY)
			sema_err(s, &s->outbound[i].tls_where, "'tls verify' "
			    "needs trust anchors: the server block has no "
			    "'tls trust'");
}

/* ---- Open relay --------------------------------------------------------- */

struct sema_ivl {
	uint64_t	 hi0, lo0;	/* first address, 128 bits */
	uint64_t	 hi1, lo1;	/* last address */
};

static int
sema_ivl_cmp(const void *a, const void *b)
{
	const struct sema_ivl	*x = a, *y = b;

	if (x->hi0 != y->hi0)
		return x->hi0 < y->hi0 ? -1 : 1;
	if (x->lo0 != y->lo0)
		return x->lo0 < y->lo0 ? -1 : 1;
	return 0;
}

/* Load the first n bytes of a as a big-endian number. */
static uint64_t
sema_be(const uint8_t *a, size_t n)
{
	uint64_t	 v = 0;
	size_t		 i;

	for (i = 0; i < 8; i++)
		v = v << 8 | (i < n ? a[i] : 0);
	return v;
}

/*
 * Do the prefixes of the given family together cover the whole address
 * space?  Sort their intervals and walk them looking for a gap.  An
 * address is a 128-bit number (hi, lo); IPv4 ones sit in the top 32
 * bits of hi, so "one more" is a step of 2^32 there.
 */
int
sema_covers(const struct addr *const *p, size_t n, int family)
{
	struct sema_ivl	*v;
	uint64_t	 rh, rl, nh, nl, mh, ml, toph, topl;
	size_t		 i, k = 0;
	unsigned	 len;
	int		 covered = 0;

	for (i = 0; i < n; i++)
		if (p[i]->family == family && p[i]->len == 0)
			return 1;
	if ((v = calloc(n + 1, sizeof(*v))) == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		if (p[i]->family != family)
			continue;
		/* The host part, all ones: the bits below the length. */
		if (family == ADDR_V4) {
			len = p[i]->len > 32 ? 32 : p[i]->len;
			v[k].hi0 = sema_be(p[i]->a, 4);
			v[k].lo0 = 0;
			mh = len == 32 ? 0 :
			    (UINT64_C(0xffffffff) >> len) << 32;
			ml = 0;
		} else {
			len = p[i]->len > 128 ? 128 : p[i]->len;
			v[k].hi0 = sema_be(p[i]->a, 8);
			v[k].lo0 = sema_be(p[i]->a + 8, 8);
			mh = len >= 64 ? 0 : UINT64_MAX >> len;
			ml = len >= 128 ? 0 : len <= 64 ? UINT64_MAX :
			    UINT64_MAX >> (len - 64);
		}
		v[k].hi1 = v[k].hi0 | mh;
		v[k].lo1 = v[k].lo0 | ml;
		k++;
	}
	if (family == ADDR_V4) {
		toph = UINT64_C(0xffffffff) << 32;
		topl = 0;
	} else
		toph = topl = UINT64_MAX;
	if (k == 0)
		goto out;
	qsort(v, k, sizeof(*v), sema_ivl_cmp);
	if (v[0].hi0 != 0 || v[0].lo0 != 0)
		goto out;
	rh = v[0].hi1;
	rl = v[0].lo1;
	for (i = 1; i < k && !(rh == toph && rl == topl); i++) {
		/* The first address past the reach. */
		if (family == ADDR_V4) {
			nh = rh + (UINT64_C(1) << 32);
			nl = 0;
		} else {
			nl = rl + 1;
			nh = rh + (nl == 0);
		}
		if (v[i].hi0 > nh || (v[i].hi0 == nh && v[i].lo0 > nl))
			goto out;		/* a gap */
		if (v[i].hi1 > rh || (v[i].hi1 == rh && v[i].lo1 > rl)) {
			rh = v[i].hi1;
			rl = v[i].lo1;
		}
	}
	covered = rh == toph && rl == topl;
out:
	free(v);
	return covered;
}

/* The prefixes a rule applies to, as pointers; NULL when out of memory. */
static const struct addr **
sema_rule_prefixes(struct sema_rule *r, size_t *n)
{
	const struct addr	**p;
	size_t			  i, m = r->kind == PTAB_RULE_ADDR ? 1 :
				    r->list != NULL ? r->list->n : 0;

	if ((p = calloc(m + 1, sizeof(*p))) == NULL)
		return NULL;
	if (r->kind == PTAB_RULE_ADDR)
		p[0] = &r->prefix;
	else
		for (i = 0; i < m; i++)
			p[i] = &r->list->pfx[i];
	*n = m;
	return p;
}

/*
 * A relay rule whose prefixes cover all of IPv4 or IPv6 lets the whole
 * Internet relay; so do several relay rules together.
 */
static void
sema_check_relay(struct sema *s)
{
	const struct addr	**p, **all = NULL;
	struct sema_rule	 *r, *first = NULL;
	size_t			  i, j, n, nall = 0, cap = 0, nrelay = 0;
	int			  fam, any = 0;

	if (s->have_default == 1 && s->def.action == PTAB_ACT_ALLOW &&
	    (s->def.flags & PTAB_RULE_RELAY)) {
		sema_err(s, &s->def.relay_where, "'relay' on the default "
		    "lets every client relay: an open relay");
		any = 1;
	}
	for (i = 0; i < s->nrules; i++) {
		r = &s->rules[i];
		if (r->action != PTAB_ACT_ALLOW ||
		    !(r->flags & PTAB_RULE_RELAY))
			continue;
		if (r->kind == PTAB_RULE_LIST && r->list == NULL)
			continue;
		if (first == NULL)
			first = r;
		nrelay++;
		if ((p = sema_rule_prefixes(r, &n)) == NULL)
			continue;
		fam = 0;
		if (r->kind == PTAB_RULE_LIST && r->list->cover >= 0)
			fam = r->list->cover;
		else {
			if (sema_covers(p, n, ADDR_V4))
				fam |= 1;
			if (sema_covers(p, n, ADDR_V6))
				fam |= 2;
			if (r->kind == PTAB_RULE_LIST)
				r->list->cover = fam;
		}
		if (fam != 0) {
			sema_err(s, &r->where, "this relay rule covers all of "
			    "%s: an open relay", fam & 1 ? "IPv4" : "IPv6");
			any = 1;
		}
		/* Gather for the union of all relay rules. */
		if (!any && nall + n >= cap) {
			const struct addr	**t;
			size_t			  ncap;

			ncap = (nall + n) * 2 + 16;

			t = realloc(all, ncap * sizeof(*t));
			if (t != NULL) {
				all = t;
				cap = ncap;
			}
		}
		if (!any && nall + n < cap)
			for (j = 0; j < n; j++)
				all[nall++] = p[j];
		free(p);
	}
	if (!any && nrelay > 1 && all != NULL) {
		fam = 0;
		if (sema_covers(all, nall, ADDR_V4))
			fam |= 1;
		if (sema_covers(all, nall, ADDR_V6))
			fam |= 2;
		if (fam != 0)
			sema_err(s, &first->where, "the relay rules together "
			    "cover all of %s: an open relay",
			    fam & 1 ? "IPv4" : "IPv6");
	}
	free(all);
}
