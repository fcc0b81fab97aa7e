/*
 * diff: `policyc diff OLD NEW` says which networks and domains a new
 * table treats differently from the old one, so that a change can be
 * reviewed for what it does rather than for how its text moved.
 *
 * Networks: each table's host rules split the IPv4 and the IPv6 space
 * into ranges that one rule decides.  A walk over the sorted keys with
 * a stack of enclosing prefixes yields those ranges in order; the two
 * walks are merged like two sorted lists, ranges whose treatment
 * (action, require set, flags, `as` account; never the line alone)
 * differs are kept, neighbours with the same pair of rules joined, and
 * each is printed as the fewest CIDR blocks that cover it exactly.
 * All of it is linear in the number of prefixes.
 *
 * Domains: every pattern either table names is decided in both tables
 * the way the runtime decides a domain (exact, longest suffix, "*"),
 * and the decisions compared.  Listeners, server settings, `auth
 * mechanisms` and users are compared by what they hold.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "cmds.h"
#include "bastion_limits.h"
#include "ptab.h"
#include "render.h"

/* A 128-bit unsigned number; IPv4 uses lo only. */
struct diff_u128 {
	uint64_t	hi, lo;
};

#define DIFF_MAXDEPTH	130	/* 129 nested prefixes at most, and one */

/* One table's partition of one address family, produced in order. */
struct diff_part {
	const struct ptab	*t;
	int			 family;
	unsigned		 width;		/* 32 or 128 */
	uint32_t		 i, n;
	struct {
		struct diff_u128	end;
		uint32_t		rule;
	}			 stack[DIFF_MAXDEPTH];
	int			 depth;
	struct diff_u128	 pos;		/* first address not yet out */
	int			 done;		/* pos went past the end */
};

struct diff_seg {
	struct diff_u128	start, end;
	uint32_t		rule;
};

/* A run of changed addresses waiting to be printed. */
struct diff_run {
	int			 valid;
	struct diff_u128	 start, end;
	uint32_t		 ro, rn;
};

struct diff {
	const struct ptab	*o, *n;
	const char		*opath, *npath;
	int			 changes;
	char			 err[LIM_ERRMSG];	/* why a walk failed */
};

static void	diff_usage(FILE *);
static int	diff_u128_cmp(struct diff_u128, struct diff_u128);
static struct diff_u128 diff_u128_ones(unsigned);
static struct diff_u128 diff_u128_or(struct diff_u128, struct diff_u128);
static struct diff_u128 diff_u128_inc(struct diff_u128);
static struct diff_u128 diff_u128_dec(struct diff_u128);
static unsigned	diff_u128_tz(struct diff_u128, unsigned);
static void	diff_part_init(struct diff_part *, const struct ptab *, int);
static struct diff_u128 diff_part_key(const struct diff_part *, uint32_t);
static int	diff_part_next(struct diff_part *, struct diff_seg *);
static int	diff_same_rule(const struct ptab *, uint32_t,
		    const struct ptab *, uint32_t);
static int	diff_hosts(struct diff *, int);
static void	diff_run_add(struct diff *, struct diff_run *, int,
		    struct diff_u128, struct diff_u128, uint32_t, uint32_t);
static void	diff_run_flush(struct diff *, struct diff_run *, int);
static void	diff_print_block(struct diff *, int, struct diff_u128,
		    unsigned, uint32_t, uint32_t);
static void	diff_print_rule(const struct ptab *, uint32_t, const char *);
static const struct ptab_domain_rec *diff_domain_find(
		    const struct ptab_domain_rec *, uint32_t,
		    const struct ptab *, const char *);
static const struct ptab_domain_rec *diff_domain_decide(
		    const struct ptab_domain_rec *, uint32_t,
		    const struct ptab *, const char *);
static int	diff_same_domain(const struct ptab *,
		    const struct ptab_domain_rec *, const struct ptab *,
		    const struct ptab_domain_rec *);
static void	diff_domains(struct diff *, int);
static void	diff_print_domain(const struct ptab *,
		    const struct ptab_domain_rec *, int, const char *);
static int	diff_listener_cmp(const void *, const void *);
static int	diff_listeners(struct diff *);
static int	diff_same_setting(const struct ptab *, const struct ptab *,
		    int);
static void	diff_print_setting(const struct ptab *, int, const char *);
static void	diff_settings(struct diff *);
static void	diff_users(struct diff *);
static int	diff_rcpts_same(const struct ptab *,
		    const struct ptab_domain_rec *, const struct ptab *,
		    const struct ptab_domain_rec *);
static int	diff_rcpts(struct diff *, const char *,
		    const struct ptab_domain_rec *,
		    const struct ptab_domain_rec *);
static int	diff_rcpts_side(struct diff *, const char *,
		    const struct ptab *, const struct ptab_domain_rec *,
		    const struct ptab *,
		    const struct ptab_domain_rec *, const char *);
static int	diff_u32_cmp(const void *, const void *);
static void	diff_print_senders(const struct ptab *,
		    const struct ptab_user_rec *);
static int	diff_senders_same(const struct ptab *,
		    const struct ptab_user_rec *, const struct ptab *,
		    const struct ptab_user_rec *);
static int	diff_proxy_same(const struct ptab *,
		    const struct ptab_listener_rec *, const struct ptab *,
		    const struct ptab_listener_rec *);

static void
diff_usage(FILE *fp)
{
	fprintf(fp, "usage: %s diff OLD NEW\n", progname);
}

int
cmd_diff(int argc, char **argv)
{
	struct ptab	 o, n;
	struct diff	 d;
	char		 err[LIM_ERRMSG];
	int		 a, rc = 0;

	if ((a = cmd_operands(argc, argv, 2, "diff", diff_usage, &rc)) == -1)
		return rc;
	if (ptab_open(&o, argv[a], err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s: %s\n", progname, argv[a], err);
		return EXIT_USER;
	}
	if (ptab_open(&n, argv[a + 1], err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s: %s\n", progname, argv[a + 1], err);
		ptab_close(&o);
		return EXIT_USER;
	}
	memset(&d, 0, sizeof(d));
	d.o = &o;
	d.n = &n;
	d.opath = argv[a];
	d.npath = argv[a + 1];
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (diff_hosts(&d, ADDR_V4) == -1 || diff_hosts(&d, ADDR_V6) == -1) {
		fprintf(stderr, "%s: %s\n", progname, d.err);
		rc = EXIT_USER;
	} else {
		diff_domains(&d, 0);
		diff_domains(&d, 1);
		if (diff_listeners(&d) == -1) {
			fprintf(stderr, "%s: diff: out of memory\n", progname);
			rc = EXIT_USER;
		}
		diff_settings(&d);
		diff_users(&d);
		if (rc == 0 && d.changes == 0)
			puts("no change in treatment");
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "%s: diff: write error: %s\n", progname,
		    strerror(errno));
		rc = EXIT_USER;
	}
	ptab_close(&n);
	ptab_close(&o);
	return rc;
}

/* ---- 128-bit arithmetic, just what the walk needs ------------------- */

static int
diff_u128_cmp(struct diff_u128 a, struct diff_u128 b)
{
	if (a.hi != b.hi)
		return a.hi < b.hi ? -1 : 1;
	if (a.lo != b.lo)
		return a.lo < b.lo ? -1 : 1;
	return 0;
}

/* 2^k - 1, for k = 0..128. */
static struct diff_u128
diff_u128_ones(unsigned k)
{
	struct diff_u128	 r;

	if (k >= 128) {
		r.hi = r.lo = UINT64_MAX;
	} else if (k >= 64) {
		r.hi = k == 64 ? 0 : (UINT64_MAX >> (128 - k));
		r.lo = UINT64_MAX;
	} else {
		r.hi = 0;
		r.lo = k == 0 ? 0 : (UINT64_MAX >> (64 - k));
	}
	return r;
}

static struct diff_u128
diff_u128_or(struct diff_u128 a, struct diff_u128 b)
{
	a.hi |= b.hi;
	a.lo |= b.lo;
	return a;
}

/* Callers never step past the ends: they check against 0 and max. */
static struct diff_u128
diff_u128_inc(struct diff_u128 a)
{
	if (++a.lo == 0)
		a.hi++;
	return a;
}

static struct diff_u128
diff_u128_dec(struct diff_u128 a)
{
	if (a.lo-- == 0)
		a.hi--;
	return a;
}

/* Trailing zero bits of a, at most width (a == 0 gives width). */
static unsigned
diff_u128_tz(struct diff_u128 a, unsigned width)
{
	unsigned	 k = 0;

	if (a.lo == 0) {
		if (a.hi == 0)
			return width;
		k = 64;
		a.lo = a.hi;
	}
	while ((a.lo & 1) == 0) {
		a.lo >>= 1;
		k++;
	}
	return k < width ? k : width;
}

/* ---- one table's partition of the address space --------------------- */

static void
diff_part_init(struct diff_part *p, const struct ptab *t, int family)
{
	memset(p, 0, sizeof(*p));
	p->t = t;
	p->family = family;
	p->width = family == ADDR_V4 ? 32 : 128;
	p->n = family == ADDR_V4 ? t->nv4 : t->nv6;
}

static struct diff_u128
diff_part_key(const struct diff_part *p, uint32_t i)
{
	struct diff_u128	 k;

	if (p->family == ADDR_V4) {
		k.hi = 0;
		k.lo = p->t->v4keys[i];
	} else {
		k.hi = p->t->v6keys[i].hi;
		k.lo = p->t->v6keys[i].lo;
	}
	return k;
}

/*
 * The next range of the partition: from pos to where the innermost
 * open prefix ends or the next prefix starts, whichever is first.
 * The ranges follow each other without a gap, from address 0 to the
 * last one, whatever the table holds.  Returns 1 with a range in *s,
 * 0 at the end, -1 if prefixes nest deeper than any valid table can.
 */
static int
diff_part_next(struct diff_part *p, struct diff_seg *s)
{
	const struct ptab_entry_rec	*e;
	struct diff_u128		 k, max;
	unsigned			 len;

	max = diff_u128_ones(p->width);
	for (;;) {
		if (p->done)
			return 0;
		if (p->depth > 0 && (p->i == p->n ||
		    diff_u128_cmp(p->stack[p->depth - 1].end,
		    diff_part_key(p, p->i)) < 0)) {
			p->depth--;
			if (diff_u128_cmp(p->pos, p->stack[p->depth].end) > 0)
				continue;	/* a child ended with it */
			s->start = p->pos;
			s->end = p->stack[p->depth].end;
			s->rule = p->stack[p->depth].rule;
			if (diff_u128_cmp(s->end, max) == 0)
				p->done = 1;
			else
				p->pos = diff_u128_inc(s->end);
			return 1;
		}
		if (p->i < p->n) {
			k = diff_part_key(p, p->i);
			if (diff_u128_cmp(p->pos, k) < 0) {
				s->start = p->pos;
				s->end = diff_u128_dec(k);
				s->rule = p->depth > 0 ?
				    p->stack[p->depth - 1].rule : 0;
				p->pos = k;
				return 1;
			}
			if (p->depth == DIFF_MAXDEPTH)
				return -1;
			e = p->family == ADDR_V4 ? &p->t->v4ent[p->i] :
			    &p->t->v6ent[p->i];
			len = PTAB_ENTRY_LEN(e);
			if (len > p->width)
				len = p->width;
			p->stack[p->depth].end = diff_u128_or(k,
			    diff_u128_ones(p->width - len));
			p->stack[p->depth].rule = PTAB_ENTRY_RULE(e) <
			    p->t->nrules ? PTAB_ENTRY_RULE(e) : 0;
			p->depth++;
			p->i++;
			continue;
		}
		s->start = p->pos;
		s->end = max;
		s->rule = 0;
		p->done = 1;
		return 1;
	}
}

/* ---- networks ------------------------------------------------------- */

/* Do rule ra of a and rule rb of b treat a client alike? */
static int
diff_same_rule(const struct ptab *a, uint32_t ra, const struct ptab *b,
    uint32_t rb)
{
	const struct ptab_rule_rec	*x = &a->rules[ra], *y = &b->rules[rb];

	if (x->action != y->action)
		return 0;
	if (x->action == PTAB_ACT_DENY)
		return 1;
	return x->require == y->require && x->flags == y->flags &&
	    strcmp(ptab_str(a, x->as_user), ptab_str(b, y->as_user)) == 0;
}

static int
diff_hosts(struct diff *d, int family)
{
	struct diff_part	*po, *pn;
	struct diff_seg		 so, sn;
	struct diff_run		 run;
	struct diff_u128	 pos, hi, max;
	int			 rc = 0;

	/* The stacks are a few kilobytes each: keep them off the stack. */
	po = malloc(sizeof(*po));
	pn = malloc(sizeof(*pn));
	if (po == NULL || pn == NULL) {
		snprintf(d->err, sizeof(d->err), "diff: out of memory");
		free(po);
		free(pn);
		return -1;
	}
	diff_part_init(po, d->o, family);
	diff_part_init(pn, d->n, family);
	memset(&run, 0, sizeof(run));
	max = diff_u128_ones(po->width);
	if (diff_part_next(po, &so) != 1 || diff_part_next(pn, &sn) != 1) {
		rc = -1;
		goto out;
	}
	/* Each walk covers its whole space: both end on the last address. */
	pos.hi = pos.lo = 0;
	for (;;) {
		hi = diff_u128_cmp(so.end, sn.end) < 0 ? so.end : sn.end;
		if (!diff_same_rule(d->o, so.rule, d->n, sn.rule))
			diff_run_add(d, &run, family, pos, hi, so.rule,
			    sn.rule);
		if (diff_u128_cmp(hi, max) == 0)
			break;
		pos = diff_u128_inc(hi);
		if (diff_u128_cmp(so.end, hi) == 0 &&
		    diff_part_next(po, &so) != 1) {
			rc = -1;
			break;
		}
		if (diff_u128_cmp(sn.end, hi) == 0 &&
		    diff_part_next(pn, &sn) != 1) {
			rc = -1;
			break;
		}
	}
	if (rc == 0)
		diff_run_flush(d, &run, family);
out:
	if (rc == -1)
		snprintf(d->err, sizeof(d->err), "%s or %s: the %s prefixes "
		    "nest deeper than any table can", d->opath, d->npath,
		    family == ADDR_V4 ? "IPv4" : "IPv6");
	free(po);
	free(pn);
	return rc;
}

static void
diff_run_add(struct diff *d, struct diff_run *run, int family,
    struct diff_u128 start, struct diff_u128 end, uint32_t ro, uint32_t rn)
{
	if (run->valid && run->ro == ro && run->rn == rn &&
	    diff_u128_cmp(diff_u128_inc(run->end), start) == 0) {
		run->end = end;
		return;
	}
	diff_run_flush(d, run, family);
	run->valid = 1;
	run->start = start;
	run->end = end;
	run->ro = ro;
	run->rn = rn;
}

/* The fewest CIDR blocks that make up the run, each on its line. */
static void
diff_run_flush(struct diff *d, struct diff_run *run, int family)
{
	struct diff_u128	 s, blockend;
	unsigned		 width, k;

	if (!run->valid)
		return;
	run->valid = 0;
	width = family == ADDR_V4 ? 32 : 128;
	s = run->start;
	for (;;) {
		k = diff_u128_tz(s, width);
		for (;;) {
			blockend = diff_u128_or(s, diff_u128_ones(k));
			if (k == 0 || diff_u128_cmp(blockend, run->end) <= 0)
				break;
			k--;
		}
		diff_print_block(d, family, s, width - k, run->ro, run->rn);
		if (diff_u128_cmp(blockend, run->end) >= 0)
			break;
		s = diff_u128_inc(blockend);
	}
}

static void
diff_print_block(struct diff *d, int family, struct diff_u128 s,
    unsigned len, uint32_t ro, uint32_t rn)
{
	struct addr	 a;
	char		 buf[ADDR_STRLEN];
	int		 i;

	memset(&a, 0, sizeof(a));
	a.family = (uint8_t)family;
	a.len = (uint8_t)len;
	if (family == ADDR_V4) {
		for (i = 0; i < 4; i++)
			a.a[i] = (uint8_t)(s.lo >> (24 - 8 * i));
	} else {
		for (i = 0; i < 8; i++) {
			a.a[i] = (uint8_t)(s.hi >> (56 - 8 * i));
			a.a[8 + i] = (uint8_t)(s.lo >> (56 - 8 * i));
		}
	}
	addr_format(&a, buf, sizeof(buf));
	printf("%s: ", buf);
	diff_print_rule(d->o, ro, "old");
	fputs(" -> ", stdout);
	diff_print_rule(d->n, rn, "new");
	putchar('\n');
	d->changes++;
}

/* "require tls (old line 17)", "deny (new default, line 3)". */
static void
diff_print_rule(const struct ptab *t, uint32_t ri, const char *side)
{
	const struct ptab_rule_rec	*r = &t->rules[ri];

	render_effect(stdout, t, r);
	if (ri != 0)
		printf(" (%s line %lu)", side, (unsigned long)r->line);
	else if (r->line != 0)
		printf(" (%s default, line %lu)", side,
		    (unsigned long)r->line);
	else
		printf(" (%s implicit default)", side);
}

/* ---- domains -------------------------------------------------------- */

static const struct ptab_domain_rec *
diff_domain_find(const struct ptab_domain_rec *v, uint32_t n,
    const struct ptab *t, const char *pat)
{
	uint32_t	 lo = 0, hi = n, mid;
	int		 c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(ptab_str(t, v[mid].domain), pat);
		if (c == 0)
			return &v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * The record that decides for the names a pattern stands for: an exact
 * name for itself, ".x.example" for any name below x.example.  The
 * order is the runtime's: exact, each suffix from the longest, "*".
 */
static const struct ptab_domain_rec *
diff_domain_decide(const struct ptab_domain_rec *v, uint32_t n,
    const struct ptab *t, const char *pat)
{
	const struct ptab_domain_rec	*r;
	const char			*p;

	if (strcmp(pat, "*") != 0) {
		if (pat[0] != '.') {
			if ((r = diff_domain_find(v, n, t, pat)) != NULL)
				return r;
			p = strchr(pat, '.');
		} else
			p = pat;
		for (; p != NULL; p = strchr(p + 1, '.'))
			if ((r = diff_domain_find(v, n, t, p)) != NULL)
				return r;
	}
	return diff_domain_find(v, n, t, "*");
}

static int
diff_same_domain(const struct ptab *a, const struct ptab_domain_rec *x,
    const struct ptab *b, const struct ptab_domain_rec *y)
{
	uint32_t	 xl, yl;

	if (x == NULL || y == NULL)
		return x == y;
	if (x->delivery != y->delivery || x->tls != y->tls ||
	    x->port != y->port || x->mech != y->mech ||
	    !diff_rcpts_same(a, x, b, y) ||
	    strcmp(ptab_str(a, x->target), ptab_str(b, y->target)) != 0 ||
	    strcmp(ptab_str(a, x->user), ptab_str(b, y->user)) != 0)
		return 0;
	xl = x->secret == PTAB_NONE ? 0 : x->secret_len;
	yl = y->secret == PTAB_NONE ? 0 : y->secret_len;
	if ((x->secret == PTAB_NONE) != (y->secret == PTAB_NONE) || xl != yl)
		return 0;
	return xl == 0 || memcmp(a->blobs + x->secret, b->blobs + y->secret,
	    xl) == 0;
}

/* Both sorted by strcmp: walk them as one sorted union of patterns. */
static void
diff_domains(struct diff *d, int outbound)
{
	const struct ptab_domain_rec	*vo, *vn, *ro, *rn;
	uint32_t			 no, nn, i = 0, j = 0;
	const char			*pat;
	int				 c;

	vo = outbound ? d->o->outbound : d->o->accept;
	no = outbound ? d->o->noutbound : d->o->naccept;
	vn = outbound ? d->n->outbound : d->n->accept;
	nn = outbound ? d->n->noutbound : d->n->naccept;
	while (i < no || j < nn) {
		if (i == no)
			c = 1;
		else if (j == nn)
			c = -1;
		else
			c = strcmp(ptab_str(d->o, vo[i].domain),
			    ptab_str(d->n, vn[j].domain));
		pat = c <= 0 ? ptab_str(d->o, vo[i].domain) :
		    ptab_str(d->n, vn[j].domain);
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
		ro = diff_domain_decide(vo, no, d->o, pat);
		rn = diff_domain_decide(vn, nn, d->n, pat);
		if (diff_same_domain(d->o, ro, d->n, rn))
			continue;
		/* Only the local parts changed: say which. */
		if (!outbound && ro != NULL && rn != NULL &&
		    ro->rcpts == PTAB_RCPTS_LIST &&
		    rn->rcpts == PTAB_RCPTS_LIST &&
		    diff_rcpts(d, pat, ro, rn) == 0)
			continue;
		printf("%s: ", pat);
		diff_print_domain(d->o, ro, outbound, "old");
		fputs(" -> ", stdout);
		diff_print_domain(d->n, rn, outbound, "new");
		putchar('\n');
		d->changes++;
	}
}

static void
diff_print_domain(const struct ptab *t, const struct ptab_domain_rec *r,
    int outbound, const char *side)
{
	if (r == NULL) {
		fputs(outbound ? "no outbound route" : "not accepted", stdout);
		return;
	}
	if (outbound)
		render_outbound(stdout, t, r);
	else
		render_accept(stdout, t, r);
	printf(" (%s line %lu)", side, (unsigned long)r->line);
}

/* ---- listeners, settings, users ------------------------------------- */

static int
diff_listener_cmp(const void *a, const void *b)
{
	const struct ptab_listener_rec	*x = *(const void *const *)a;
	const struct ptab_listener_rec	*y = *(const void *const *)b;
	int				 c;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if ((c = memcmp(x->addr, y->addr, sizeof(x->addr))) != 0)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return 0;
}

static int
diff_listeners(struct diff *d)
{
	const struct ptab_listener_rec	**lo, **ln, *x, *y, *k;
	struct addr			 a;
	char				 buf[ADDR_STRLEN];
	uint32_t			 i, j, no, nn;
	int				 c;

	no = d->o->nlisteners;
	nn = d->n->nlisteners;
	lo = calloc(no + 1, sizeof(*lo));
	ln = calloc(nn + 1, sizeof(*ln));
	if (lo == NULL || ln == NULL) {
		free(lo);
		free(ln);
		return -1;
	}
	for (i = 0; i < no; i++)
		lo[i] = &d->o->listeners[i];
	for (j = 0; j < nn; j++)
		ln[j] = &d->n->listeners[j];
	qsort(lo, no, sizeof(*lo), diff_listener_cmp);
	qsort(ln, nn, sizeof(*ln), diff_listener_cmp);
	i = j = 0;
	while (i < no || j < nn) {
		if (i == no)
			c = 1;
		else if (j == nn)
			c = -1;
		else
			c = diff_listener_cmp(&lo[i], &ln[j]);
		x = c <= 0 ? lo[i] : NULL;
		y = c >= 0 ? ln[j] : NULL;
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
		if (x != NULL && y != NULL && x->tls == y->tls &&
		    x->require == y->require &&
		    diff_proxy_same(d->o, x, d->n, y))
			continue;
		k = x != NULL ? x : y;
		memset(&a, 0, sizeof(a));
		a.family = k->family;
		a.len = a.family == ADDR_V4 ? 32 : 128;
		memcpy(a.a, k->addr, sizeof(a.a));
		addr_format(&a, buf, sizeof(buf));
		printf("%s port %u: ", buf, (unsigned)k->port);
		if (x != NULL) {
			render_listener(stdout, d->o, x);
			printf(" (old line %lu)", (unsigned long)x->line);
		} else
			fputs("no listener", stdout);
		fputs(" -> ", stdout);
		if (y != NULL) {
			render_listener(stdout, d->n, y);
			printf(" (new line %lu)", (unsigned long)y->line);
		} else
			fputs("no listener", stdout);
		putchar('\n');
		d->changes++;
	}
	free(lo);
	free(ln);
	return 0;
}

static int
diff_same_setting(const struct ptab *a, const struct ptab *b, int which)
{
	const struct ptab_server_rec	*x = a->server, *y = b->server;
	int				 i;

#define DIFF_SAME_STR(f)	\
	(strcmp(ptab_str(a, x->f), ptab_str(b, y->f)) == 0)
	switch (which) {
	case PTAB_SET_HOSTNAME:
		return DIFF_SAME_STR(hostname);
	case PTAB_SET_CERT:
		return DIFF_SAME_STR(cert) && DIFF_SAME_STR(key);
	case PTAB_SET_TRUST:
		return DIFF_SAME_STR(trust);
	case PTAB_SET_SPOOL:
		return DIFF_SAME_STR(spool);
	case PTAB_SET_LOG:
		return DIFF_SAME_STR(log);
	case PTAB_SET_RUNAS:
		return DIFF_SAME_STR(runas);
	case PTAB_SET_MSGSIZE:
		return x->max_msgsize == y->max_msgsize;
	case PTAB_SET_RCPTS:
		return x->max_rcpts == y->max_rcpts;
	case PTAB_SET_CONNS:
		return x->max_conns == y->max_conns &&
		    x->max_conns_host == y->max_conns_host;
	case PTAB_SET_AUTHFAIL:
		return x->max_authfail == y->max_authfail;
	case PTAB_SET_TO_COMMAND:
		return x->to_command == y->to_command;
	case PTAB_SET_TO_DATA:
		return x->to_data == y->to_data;
	case PTAB_SET_TO_CONNECT:
		return x->to_connect == y->to_connect;
	case PTAB_SET_QUEUE:
		return x->lifetime == y->lifetime && x->retry == y->retry;
	case PTAB_SET_MECHS:
		for (i = 0; i < PTAB_MAX_MECHS; i++) {
			if (x->mechs[i] != y->mechs[i])
				return 0;
			if (x->mechs[i] == 0)
				break;
		}
		return 1;
	}
#undef DIFF_SAME_STR
	return 1;
}

static void
diff_print_setting(const struct ptab *t, int which, const char *side)
{
	static const char *const names[] = {
		[PTAB_SET_HOSTNAME] = "hostname",
		[PTAB_SET_CERT] = "tls certificate",
		[PTAB_SET_TRUST] = "tls trust",
		[PTAB_SET_SPOOL] = "spool",
		[PTAB_SET_LOG] = "log",
		[PTAB_SET_RUNAS] = "run as",
	};
	const struct ptab_server_rec	*s = t->server;
	uint32_t			 str = 1;

	switch (which) {
	case PTAB_SET_HOSTNAME:
		str = s->hostname;
		break;
	case PTAB_SET_CERT:
		str = s->cert;
		break;
	case PTAB_SET_TRUST:
		str = s->trust;
		break;
	case PTAB_SET_SPOOL:
		str = s->spool;
		break;
	case PTAB_SET_LOG:
		str = s->log;
		break;
	case PTAB_SET_RUNAS:
		str = s->runas;
		break;
	}
	/* An unset path or name would read as "" otherwise. */
	if (str == 0 || *ptab_str(t, str) == '\0') {
		printf("no %s", names[which]);
	} else
		render_setting(stdout, t, which);
	if (s->line[which] != 0)
		printf(" (%s line %lu)", side, (unsigned long)s->line[which]);
	else
		printf(" (%s default)", side);
}

static void
diff_settings(struct diff *d)
{
	int	 i;

	for (i = 0; i < PTAB_SET_MAX; i++) {
		if (diff_same_setting(d->o, d->n, i))
			continue;
		fputs(i == PTAB_SET_MECHS ? "auth: " : "server: ", stdout);
		diff_print_setting(d->o, i, "old");
		fputs(" -> ", stdout);
		diff_print_setting(d->n, i, "new");
		putchar('\n');
		d->changes++;
	}
}

/* Users are sorted by name in both tables. */
static void
diff_users(struct diff *d)
{
	const struct ptab_user_rec	*x, *y;
	uint32_t			 i = 0, j = 0;
	int				 c;

	while (i < d->o->nusers || j < d->n->nusers) {
		x = i < d->o->nusers ? &d->o->users[i] : NULL;
		y = j < d->n->nusers ? &d->n->users[j] : NULL;
		if (x == NULL)
			c = 1;
		else if (y == NULL)
			c = -1;
		else
			c = strcmp(ptab_str(d->o, x->name),
			    ptab_str(d->n, y->name));
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
		if (c == 0 && strcmp(ptab_str(d->o, x->verifier),
		    ptab_str(d->n, y->verifier)) == 0) {
			if (diff_senders_same(d->o, x, d->n, y))
				continue;
			fputs("user ", stdout);
			render_string(stdout, ptab_str(d->o, x->name));
			fputs(": ", stdout);
			diff_print_senders(d->o, x);
			printf(" (old line %lu) -> ", (unsigned long)x->line);
			diff_print_senders(d->n, y);
			printf(" (new line %lu)\n", (unsigned long)y->line);
			d->changes++;
			continue;
		}
		fputs("user ", stdout);
		render_string(stdout, c <= 0 ? ptab_str(d->o, x->name) :
		    ptab_str(d->n, y->name));
		if (c < 0)
			printf(": removed (old line %lu)\n",
			    (unsigned long)x->line);
		else if (c > 0)
			printf(": added (new line %lu)\n",
			    (unsigned long)y->line);
		else
			printf(": verifier changed (old line %lu, new line "
			    "%lu)\n", (unsigned long)x->line,
			    (unsigned long)y->line);
		d->changes++;
	}
}

/* ---- recipients, senders, proxy sets -------------------------------- */

/* The same local parts taken: any and no list take them all. */
static int
diff_rcpts_same(const struct ptab *a, const struct ptab_domain_rec *x,
    const struct ptab *b, const struct ptab_domain_rec *y)
{
	const struct ptab_rcpt_rec	*rx, *ry;
	const char			*p;
	uint32_t			 k;

	if ((x->rcpts == PTAB_RCPTS_LIST) != (y->rcpts == PTAB_RCPTS_LIST))
		return 0;
	if (x->rcpts != PTAB_RCPTS_LIST)
		return 1;
	rx = &a->rcpts[x->rcpt_list];
	ry = &b->rcpts[y->rcpt_list];
	if (rx->count != ry->count)
		return 0;
	for (k = 0; k < rx->nslots; k++) {
		if (a->rslots[rx->first + k] == 0)
			continue;
		p = a->str + a->rslots[rx->first + k];
		if (!ptab_rcpt_in(b, y->rcpt_list, p, strlen(p)))
			return 0;
	}
	return 1;
}

static int
diff_u32_cmp(const void *a, const void *b)
{
	uint32_t	 x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * One line per local part that x's list has and y's has not, in string
 * order.  Returns -1 when out of memory.
 */
static int
diff_rcpts_side(struct diff *d, const char *pat, const struct ptab *ta,
    const struct ptab_domain_rec *x, const struct ptab *tb,
    const struct ptab_domain_rec *y, const char *what)
{
	const struct ptab_rcpt_rec	*r = &ta->rcpts[x->rcpt_list];
	const char			*p;
	uint32_t			*v, k, n = 0;

	if ((v = calloc((size_t)r->count + 1, sizeof(*v))) == NULL)
		return -1;
	for (k = 0; k < r->nslots; k++) {
		if (ta->rslots[r->first + k] == 0)
			continue;
		p = ta->str + ta->rslots[r->first + k];
		if (!ptab_rcpt_in(tb, y->rcpt_list, p, strlen(p)))
			v[n++] = ta->rslots[r->first + k];
	}
	qsort(v, n, sizeof(*v), diff_u32_cmp);
	for (k = 0; k < n; k++) {
		printf("%s: recipient %s %s (%s <%s>, old line %lu, new line "
		    "%lu)\n", pat, ta->str + v[k], what,
		    ta == d->o ? "from" : "to",
		    ptab_str(ta, r->name), (unsigned long)(ta == d->o ?
		    x : y)->line, (unsigned long)(ta == d->o ? y : x)->line);
		d->changes++;
	}
	free(v);
	return 0;
}

/*
 * Two accept rules alike but for their lists' local parts: print what
 * was removed and added.  Returns 0, or -1 if they differ otherwise.
 */
static int
diff_rcpts(struct diff *d, const char *pat, const struct ptab_domain_rec *x,
    const struct ptab_domain_rec *y)
{
	struct ptab_domain_rec	 xa = *x, ya = *y;

	xa.rcpts = ya.rcpts = PTAB_RCPTS_ANY;
	if (!diff_same_domain(d->o, &xa, d->n, &ya))
		return -1;
	if (diff_rcpts_side(d, pat, d->o, x, d->n, y, "removed") == -1 ||
	    diff_rcpts_side(d, pat, d->n, y, d->o, x, "added") == -1)
		return -1;
	return 0;
}

/* Both lists are sorted by string; strings compare across tables. */
static int
diff_senders_same(const struct ptab *a, const struct ptab_user_rec *x,
    const struct ptab *b, const struct ptab_user_rec *y)
{
	uint32_t	 k;

	if (x->nsenders != y->nsenders)
		return 0;
	for (k = 0; k < x->nsenders; k++)
		if (strcmp(a->str + a->senders[x->senders + k],
		    b->str + b->senders[y->senders + k]) != 0)
			return 0;
	return 1;
}

/* Sorted, deduplicated prefix sets compare record by record. */
static int
diff_proxy_same(const struct ptab *a, const struct ptab_listener_rec *x,
    const struct ptab *b, const struct ptab_listener_rec *y)
{
	if (x->proxy != y->proxy || x->nproxy != y->nproxy)
		return 0;
	return x->nproxy == 0 || memcmp(&a->proxy[x->proxy_first],
	    &b->proxy[y->proxy_first], x->nproxy * sizeof(*a->proxy)) == 0;
}

static void
diff_print_senders(const struct ptab *t, const struct ptab_user_rec *u)
{
	uint32_t	 k;

	if (u->nsenders == 0) {
		fputs("any sender", stdout);
		return;
	}
	fputs("senders {", stdout);
	for (k = 0; k < u->nsenders; k++)
		printf(" %s", t->str + t->senders[u->senders + k]);
	fputs(" }", stdout);
}
