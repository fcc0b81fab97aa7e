/*
 * ptab_write: the table builder.  The compiler's emitter pours resolved
 * values into a builder; ptab_build() interns and sorts the strings,
 * sorts the prefixes, settles prefixes that two rules share, links
 * every prefix to its nearest enclosing one, builds the 16-bit indexes,
 * lays the sections out as lib/ptab.h defines them and checksums the
 * image.  ptab_write_file() puts the image on disk atomically.
 *
 * A policy may hold millions of prefixes (block lists), so the prefix
 * path keeps each one as a packed sort key in one flat array, sorts
 * with an LSD radix sort and allocates nothing per prefix.  The image
 * depends only on the content, never on the order of the calls that
 * described it, so that `policyc dump` output compiles back to the same
 * bytes: strings are laid out sorted, blobs follow the sorted records.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "bastion_limits.h"
#include "fileio.h"
#include "ptab.h"
#include "seal.h"

#define PTAB_NSECTIONS	(PTAB_SEC_MAX - 1)

/* A v6 prefix while building: sorted by hi, lo, then lr. */
struct ptab_v6p {
	uint64_t	hi, lo;
	uint32_t	lr;		/* length << 24 | rule */
	uint32_t	pad;
};

struct ptab_builder {
	/* Strings: id 0 is "", others index soff[]; shash finds them. */
	char			*sbuf;
	size_t			 slen, scap;
	uint32_t		*soff;
	size_t			 nstr, capstr;
	uint32_t		*shash;		/* ids; 0 is an empty slot */
	size_t			 hcap;

	uint8_t			*blob;
	size_t			 bloblen, blobcap;

	struct ptab_server_rec	 server;	/* string fields are ids */
	struct ptab_listener_rec *lis;
	size_t			 nlis, caplis;
	struct ptab_rule_rec	*rules;		/* as_user is an id */
	size_t			 nrules, caprules;
	int			 has_default;
	struct ptab_list_rec	*lists;		/* name is an id */
	size_t			 nlists, caplists;
	uint64_t		*v4;	/* start << 32 | len << 24 | rule */
	size_t			 nv4, capv4;
	struct ptab_v6p		*v6;
	size_t			 nv6, capv6;
	struct ptab_user_rec	*users;		/* ids */
	size_t			 nusers, capusers;
	struct ptab_domain_rec	*acc, *out;	/* ids; secret in blob */
	size_t			 nacc, capacc, nout, capout;
	/* Senders: string ids; a user's senders index these. */
	uint32_t		*snd;
	size_t			 nsnd, capsnd;
	/* Recipients lists: first is the start of the parts in rpart. */
	struct ptab_rcpt_rec	*rl;		/* name, parts are ids */
	size_t			 nrl, caprl;
	uint32_t		*rpart;
	size_t			 nrpart, caprpart;
	/* PROXY prefixes: listeners index these. */
	struct ptab_proxy_rec	*px;
	size_t			 npx, cappx;
};

/* A string id with its text, for sorting strings and records. */
struct ptab_skey {
	const char	*s;
	uint32_t	 id;
};

static int	ptab_grow(void **, size_t *, size_t, size_t);
static uint32_t	ptab_hash(const char *, size_t);
static int	ptab_intern(struct ptab_builder *, const char *, uint32_t *);
static int	ptab_hash_resize(struct ptab_builder *);
static int	ptab_domain_add(struct ptab_builder *,
		    struct ptab_domain_rec **, size_t *, size_t *, int,
		    const struct ptab_domain_in *);
static int	ptab_push_prefix(struct ptab_builder *, uint32_t,
		    const struct addr *);
static int	ptab_skey_cmp(const void *, const void *);
static int	ptab_radix_u64(uint64_t *, size_t);
static int	ptab_radix_v6(struct ptab_v6p *, size_t);
static int	ptab_same_effect(const struct ptab_rule_rec *,
		    const struct ptab_rule_rec *);
static size_t	ptab_dedupe_v4(struct ptab_builder *, ptab_conflict_fn *,
		    void *);
static size_t	ptab_dedupe_v6(struct ptab_builder *, ptab_conflict_fn *,
		    void *);
static int	ptab_sort_recs(struct ptab_builder *, void *, size_t,
		    size_t, size_t, size_t, const char *, char *, size_t);
static unsigned	ptab_index_bits(size_t);
static void	ptab_put_v4(const struct ptab_builder *, uint8_t *,
		    const struct ptab_section_rec *);
static void	ptab_put_v6(const struct ptab_builder *, uint8_t *,
		    const struct ptab_section_rec *);
static int	ptab_id_cmp(const void *, const void *);
static void	ptab_sort_ids(uint32_t *, size_t);
static int	ptab_proxy_cmp(const void *, const void *);
static int	ptab_rcpt_layout(struct ptab_builder *, const uint32_t *,
		    uint32_t **, uint32_t **, size_t *, char *, size_t);
static int	ptab_rcpt_place(const struct ptab_builder *,
		    struct ptab_rcpt_rec *, const uint32_t *, uint32_t *);

struct ptab_builder *
ptab_builder_new(void)
{
	struct ptab_builder	*b;
	struct ptab_server_rec	*s;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	/* Id 0 is the empty string; it never enters the hash. */
	if (ptab_grow((void **)&b->soff, &b->capstr, 1, sizeof(uint32_t))
	    == -1 ||
	    ptab_grow((void **)&b->rules, &b->caprules, 1,
	    sizeof(*b->rules)) == -1) {
		ptab_builder_free(b);
		return NULL;
	}
	b->soff[0] = 0;
	b->nstr = 1;

	/* Rule 0: the implicit "default require none" at line 0. */
	memset(&b->rules[0], 0, sizeof(b->rules[0]));
	b->rules[0].kind = PTAB_RULE_DEFAULT;
	b->rules[0].action = PTAB_ACT_ALLOW;
	b->rules[0].list = PTAB_NONE;
	b->nrules = 1;

	s = &b->server;
	s->max_msgsize = PTAB_DEF_MSGSIZE;
	s->max_rcpts = PTAB_DEF_RCPTS;
	s->max_conns = PTAB_DEF_CONNS;
	s->max_conns_host = PTAB_DEF_CONNS_HOST;
	s->max_authfail = PTAB_DEF_AUTHFAIL;
	s->to_command = PTAB_DEF_TO_COMMAND;
	s->to_data = PTAB_DEF_TO_DATA;
	s->to_connect = PTAB_DEF_TO_CONNECT;
	s->lifetime = PTAB_DEF_LIFETIME;
	s->retry = PTAB_DEF_RETRY;
	s->mechs[0] = PTAB_MECH_SCRAM_SHA_256;
	s->mechs[1] = PTAB_MECH_PLAIN;
	s->mechs[2] = PTAB_MECH_LOGIN;
	return b;
}

void
ptab_builder_free(struct ptab_builder *b)
{
	if (b == NULL)
		return;
	free(b->sbuf);
	free(b->soff);
	free(b->shash);
	if (b->blob != NULL)
		sodium_memzero(b->blob, b->blobcap);
	free(b->blob);
	free(b->lis);
	free(b->rules);
	free(b->lists);
	free(b->v4);
	free(b->v6);
	free(b->users);
	free(b->acc);
	free(b->out);
	free(b->snd);
	free(b->rl);
	free(b->rpart);
	free(b->px);
	free(b);
}

/*
 * Make room for one more element after n in the array at *p, doubling.
 * The caps (32-bit offsets in the image) are checked by the callers.
 */
static int
ptab_grow(void **p, size_t *cap, size_t n, size_t elsz)
{
	size_t	 ncap;
	void	*np;

	if (n < *cap)
		return 0;
	ncap = *cap < 16 ? 16 : *cap;
	while (ncap <= n) {
		if (ncap > SIZE_MAX / 2 / elsz)
			return -1;
		ncap *= 2;
	}
	if ((np = realloc(*p, ncap * elsz)) == NULL)
		return -1;
	*p = np;
	*cap = ncap;
	return 0;
}

/* FNV-1a: the strings are few and short; any fair hash will do. */
static uint32_t
ptab_hash(const char *s, size_t n)
{
	uint32_t	 h = 2166136261u;
	size_t		 i;

	for (i = 0; i < n; i++) {
		h ^= (uint8_t)s[i];
		h *= 16777619u;
	}
	return h;
}

static int
ptab_hash_resize(struct ptab_builder *b)
{
	uint32_t	*nh;
	size_t		 ncap, i, j;

	ncap = b->hcap == 0 ? 64 : b->hcap * 2;
	if ((nh = calloc(ncap, sizeof(*nh))) == NULL)
		return -1;
	for (i = 1; i < b->nstr; i++) {
		const char	*s = b->sbuf + b->soff[i];

		j = ptab_hash(s, strlen(s)) & (ncap - 1);
		while (nh[j] != 0)
			j = (j + 1) & (ncap - 1);
		nh[j] = (uint32_t)i;
	}
	free(b->shash);
	b->shash = nh;
	b->hcap = ncap;
	return 0;
}

/* The id of string s, adding it once; NULL and "" are id 0. */
static int
ptab_intern(struct ptab_builder *b, const char *s, uint32_t *id)
{
	size_t		 n, j;

	*id = 0;
	if (s == NULL || s[0] == '\0')
		return 0;
	n = strlen(s);
	if (n >= PTAB_MAX_SIZE || b->slen > PTAB_MAX_SIZE - n - 1 ||
	    b->nstr >= PTAB_MAX_SIZE)
		return -1;
	if ((b->nstr + 1) * 2 > b->hcap && ptab_hash_resize(b) == -1)
		return -1;
	j = ptab_hash(s, n) & (b->hcap - 1);
	while (b->shash[j] != 0) {
		const char	*t = b->sbuf + b->soff[b->shash[j]];

		if (strcmp(s, t) == 0) {
			*id = b->shash[j];
			return 0;
		}
		j = (j + 1) & (b->hcap - 1);
	}
	if (ptab_grow((void **)&b->soff, &b->capstr, b->nstr,
	    sizeof(uint32_t)) == -1)
		return -1;
	while (b->slen + n + 1 > b->scap) {
		if (ptab_grow((void **)&b->sbuf, &b->scap, b->scap, 1) == -1)
			return -1;
	}
	memcpy(b->sbuf + b->slen, s, n + 1);
	b->soff[b->nstr] = (uint32_t)b->slen;
	b->slen += n + 1;
	b->shash[j] = (uint32_t)b->nstr;
	*id = (uint32_t)b->nstr++;
	return 0;
}

int
ptab_builder_server(struct ptab_builder *b, const struct ptab_server_in *in)
{
	struct ptab_server_rec	*s = &b->server;
	size_t			 i;
	int			 zero;

	if (ptab_intern(b, in->hostname, &s->hostname) == -1 ||
	    ptab_intern(b, in->cert, &s->cert) == -1 ||
	    ptab_intern(b, in->key, &s->key) == -1 ||
	    ptab_intern(b, in->trust, &s->trust) == -1 ||
	    ptab_intern(b, in->spool, &s->spool) == -1 ||
	    ptab_intern(b, in->log, &s->log) == -1 ||
	    ptab_intern(b, in->runas, &s->runas) == -1 ||
	    ptab_intern(b, in->control, &s->control) == -1)
		return -1;
	/* Zero means "left out": the default stays (limits are >= 1). */
#define PTAB_SET_IF(f)	do { if (in->f != 0) s->f = in->f; } while (0)
	PTAB_SET_IF(max_msgsize);
	PTAB_SET_IF(max_rcpts);
	PTAB_SET_IF(max_conns);
	PTAB_SET_IF(max_conns_host);
	PTAB_SET_IF(max_authfail);
	PTAB_SET_IF(to_command);
	PTAB_SET_IF(to_data);
	PTAB_SET_IF(to_connect);
	PTAB_SET_IF(lifetime);
	PTAB_SET_IF(retry);
#undef PTAB_SET_IF
	if (in->mechs[0] != 0) {
		/* Valid mechanisms, in order, ended by 0, none twice. */
		zero = 0;
		for (i = 0; i < PTAB_MECHS_MAX; i++) {
			if (in->mechs[i] > PTAB_MECH_SCRAM_SHA_256)
				return -1;
			if (in->mechs[i] == 0)
				zero = 1;
			else if (zero || i >= PTAB_MAX_MECHS ||
			    memchr(in->mechs, in->mechs[i], i) != NULL)
				return -1;
		}
		memcpy(s->mechs, in->mechs, sizeof(s->mechs));
	}
	memcpy(s->line, in->line, sizeof(s->line));
	return 0;
}

int
ptab_builder_listener(struct ptab_builder *b,
    const struct ptab_listener_in *in)
{
	struct ptab_listener_rec	*l;
	struct ptab_proxy_rec		*x;
	struct addr			 p;
	size_t				 i, first, n;

	if ((in->addr.family != ADDR_V4 && in->addr.family != ADDR_V6) ||
	    in->port == 0 ||
	    (in->require & ~(PTAB_REQ_TLS | PTAB_REQ_AUTH)) != 0 ||
	    b->nlis >= PTAB_MAX_SIZE / sizeof(*l) ||
	    (!in->proxy && in->nproxy > 0) ||
	    in->nproxy >= PTAB_MAX_SIZE / sizeof(*x) - b->npx ||
	    ptab_grow((void **)&b->lis, &b->caplis, b->nlis,
	    sizeof(*l)) == -1)
		return -1;
	/* The set, folded, masked, sorted, without repeats. */
	first = b->npx;
	for (i = 0; i < in->nproxy; i++) {
		p = in->proxy_pfx[i];
		if ((p.family != ADDR_V4 && p.family != ADDR_V6) ||
		    p.len > (p.family == ADDR_V4 ? 32 : 128))
			return -1;
		addr_unmap(&p);
		addr_mask(&p);
		if (ptab_grow((void **)&b->px, &b->cappx, b->npx,
		    sizeof(*x)) == -1)
			return -1;
		x = &b->px[b->npx++];
		memset(x, 0, sizeof(*x));
		memcpy(x->addr, p.a, p.family == ADDR_V4 ? 4 : 16);
		x->family = p.family;
		x->plen = p.len;
	}
	n = b->npx - first;
	if (n > 1) {
		qsort(b->px + first, n, sizeof(*x), ptab_proxy_cmp);
		for (i = 1, b->npx = first + 1; i < n; i++)
			if (ptab_proxy_cmp(&b->px[b->npx - 1],
			    &b->px[first + i]) != 0)
				b->px[b->npx++] = b->px[first + i];
		n = b->npx - first;
	}
	l = &b->lis[b->nlis++];
	memset(l, 0, sizeof(*l));
	if (in->addr.family == ADDR_V4)
		memcpy(l->addr, in->addr.a, 4);
	else
		memcpy(l->addr, in->addr.a, 16);
	l->family = in->addr.family;
	l->tls = in->tls ? 1 : 0;
	l->require = in->require;
	l->port = in->port;
	l->line = in->line;
	l->proxy = in->proxy ? 1 : 0;
	l->proxy_list = in->proxy ? in->proxy_list : PTAB_NONE;
	l->nproxy = (uint32_t)n;
	l->proxy_first = n > 0 ? (uint32_t)first : 0;
	return 0;
}

static int
ptab_proxy_cmp(const void *a, const void *b)
{
	const struct ptab_proxy_rec	*x = a, *y = b;
	int				 c;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if ((c = memcmp(x->addr, y->addr, sizeof(x->addr))) != 0)
		return c;
	return x->plen < y->plen ? -1 : x->plen > y->plen;
}

int
ptab_builder_default(struct ptab_builder *b, uint32_t line, uint8_t action,
    uint8_t require, uint8_t flags, const char *as_user)
{
	struct ptab_rule_rec	*r = &b->rules[0];
	uint32_t		 u;

	if (b->has_default || action > PTAB_ACT_DENY ||
	    (require & ~(PTAB_REQ_TLS | PTAB_REQ_AUTH)) != 0 ||
	    (flags & ~(PTAB_RULE_RELAY | PTAB_RULE_CLEARTEXT)) != 0 ||
	    ptab_intern(b, as_user, &u) == -1)
		return -1;
	r->line = line;
	r->action = action;
	r->require = require;
	r->flags = flags;
	r->as_user = u;
	b->has_default = 1;
	return 0;
}

int
ptab_builder_list(struct ptab_builder *b, const char *name, uint32_t line,
    uint32_t *id)
{
	struct ptab_list_rec	*l;
	uint32_t		 n;

	if (b->nlists >= PTAB_MAX_SIZE / sizeof(*l) ||
	    ptab_intern(b, name, &n) == -1 ||
	    ptab_grow((void **)&b->lists, &b->caplists, b->nlists,
	    sizeof(*l)) == -1)
		return -1;
	l = &b->lists[b->nlists];
	l->name = n;
	l->line = line;
	*id = (uint32_t)b->nlists++;
	return 0;
}

int
ptab_builder_rule(struct ptab_builder *b, const struct ptab_rule_in *in,
    uint32_t *id)
{
	struct ptab_rule_rec	*r;
	struct addr		 p;
	uint32_t		 u, rid;

	if ((in->kind != PTAB_RULE_ADDR && in->kind != PTAB_RULE_LIST) ||
	    in->action > PTAB_ACT_DENY ||
	    (in->require & ~(PTAB_REQ_TLS | PTAB_REQ_AUTH)) != 0 ||
	    (in->flags & ~(PTAB_RULE_RELAY | PTAB_RULE_CLEARTEXT)) != 0 ||
	    b->nrules > PTAB_MAX_RULES)
		return -1;
	if (in->kind == PTAB_RULE_ADDR) {
		p = in->prefix;
		if (p.family != ADDR_V4 && p.family != ADDR_V6)
			return -1;
		if (p.len > (p.family == ADDR_V4 ? 32 : 128))
			return -1;
		addr_unmap(&p);
		addr_mask(&p);
	}
	if (ptab_intern(b, in->as_user, &u) == -1 ||
	    ptab_grow((void **)&b->rules, &b->caprules, b->nrules,
	    sizeof(*r)) == -1)
		return -1;
	rid = (uint32_t)b->nrules;
	r = &b->rules[rid];
	memset(r, 0, sizeof(*r));
	r->line = in->line;
	r->kind = in->kind;
	r->action = in->action;
	r->require = in->require;
	r->flags = in->flags;
	r->list = in->kind == PTAB_RULE_LIST ? in->list : PTAB_NONE;
	r->as_user = u;
	if (in->kind == PTAB_RULE_ADDR) {
		r->family = p.family;
		r->plen = p.len;
		memcpy(r->prefix, p.a, sizeof(r->prefix));
	}
	b->nrules++;
	/* An address rule's own prefix goes in without a separate call. */
	if (in->kind == PTAB_RULE_ADDR && ptab_push_prefix(b, rid, &p) == -1) {
		b->nrules--;
		return -1;
	}
	*id = rid;
	return 0;
}

int
ptab_builder_prefix(struct ptab_builder *b, uint32_t rule,
    const struct addr *prefix)
{
	const struct ptab_rule_rec	*r;
	struct addr			 p;

	if (rule == 0 || rule >= b->nrules)
		return -1;
	p = *prefix;
	if ((p.family != ADDR_V4 && p.family != ADDR_V6) ||
	    p.len > (p.family == ADDR_V4 ? 32 : 128))
		return -1;
	addr_unmap(&p);
	addr_mask(&p);
	r = &b->rules[rule];
	if (r->kind == PTAB_RULE_ADDR) {
		/* Already in; the same prefix again is harmless, others not. */
		if (r->family != p.family || r->plen != p.len ||
		    memcmp(r->prefix, p.a, sizeof(p.a)) != 0)
			return -1;
		return 0;
	}
	return ptab_push_prefix(b, rule, &p);
}

static int
ptab_push_prefix(struct ptab_builder *b, uint32_t rule, const struct addr *p)
{
	struct ptab_v6p	*e;
	uint64_t	 start;
	size_t		 i;

	if (p->family == ADDR_V4) {
		if (b->nv4 >= PTAB_MAX_SIZE / 12 ||
		    ptab_grow((void **)&b->v4, &b->capv4, b->nv4,
		    sizeof(*b->v4)) == -1)
			return -1;
		start = (uint64_t)p->a[0] << 24 | (uint64_t)p->a[1] << 16 |
		    (uint64_t)p->a[2] << 8 | p->a[3];
		b->v4[b->nv4++] = start << 32 | (uint64_t)p->len << 24 | rule;
		return 0;
	}
	if (b->nv6 >= PTAB_MAX_SIZE / 24 ||
	    ptab_grow((void **)&b->v6, &b->capv6, b->nv6, sizeof(*e)) == -1)
		return -1;
	e = &b->v6[b->nv6++];
	e->hi = e->lo = 0;
	for (i = 0; i < 8; i++) {
		e->hi = e->hi << 8 | p->a[i];
		e->lo = e->lo << 8 | p->a[8 + i];
	}
	e->lr = (uint32_t)p->len << 24 | rule;
	e->pad = 0;
	return 0;
}

int
ptab_builder_user(struct ptab_builder *b, const char *name,
    const char *verifier, uint32_t line, const char *const *senders,
    size_t nsenders)
{
	struct ptab_user_rec	*u;
	uint32_t		 n, v, id;
	size_t			 i, first = b->nsnd;

	if (b->nusers >= PTAB_MAX_SIZE / sizeof(*u) ||
	    nsenders >= PTAB_MAX_SIZE / 4 - b->nsnd ||
	    ptab_intern(b, name, &n) == -1 ||
	    ptab_intern(b, verifier, &v) == -1 ||
	    ptab_grow((void **)&b->users, &b->capusers, b->nusers,
	    sizeof(*u)) == -1)
		return -1;
	for (i = 0; i < nsenders; i++) {
		if (senders[i] == NULL || senders[i][0] == '\0' ||
		    ptab_intern(b, senders[i], &id) == -1 ||
		    ptab_grow((void **)&b->snd, &b->capsnd, b->nsnd,
		    sizeof(*b->snd)) == -1) {
			b->nsnd = first;
			return -1;
		}
		b->snd[b->nsnd++] = id;
	}
	/* Sorted, without repeats: the image ignores the order given. */
	if (nsenders > 0) {
		ptab_sort_ids(b->snd + first, nsenders);
		for (i = 1, b->nsnd = first + 1; i < nsenders; i++)
			if (b->snd[b->nsnd - 1] != b->snd[first + i])
				b->snd[b->nsnd++] = b->snd[first + i];
	}
	u = &b->users[b->nusers++];
	memset(u, 0, sizeof(*u));
	u->name = n;
	u->verifier = v;
	u->line = line;
	u->nsenders = (uint32_t)(b->nsnd - first);
	u->senders = (uint32_t)first;
	return 0;
}

int
ptab_builder_rcpts(struct ptab_builder *b, const char *name, uint32_t line,
    const char *const *parts, size_t n, uint32_t *id)
{
	struct ptab_rcpt_rec	*r;
	char			 buf[PTAB_RCPT_PARTMAX + 1];
	uint32_t		 nm, sid;
	size_t			 i, j, len, first = b->nrpart;

	if (b->nrl >= PTAB_MAX_SIZE / sizeof(*r) ||
	    n >= PTAB_RCPT_MAXSLOTS / 2 - b->nrpart ||
	    ptab_intern(b, name, &nm) == -1 || nm == 0 ||
	    ptab_grow((void **)&b->rl, &b->caprl, b->nrl, sizeof(*r)) == -1)
		return -1;
	if (n > b->caprpart - b->nrpart &&
	    ptab_grow((void **)&b->rpart, &b->caprpart, b->nrpart + n,
	    sizeof(*b->rpart)) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		len = strlen(parts[i]);
		if (len == 0 || len > PTAB_RCPT_PARTMAX) {
			b->nrpart = first;
			return -1;
		}
		for (j = 0; j < len; j++)
			buf[j] = parts[i][j] >= 'A' && parts[i][j] <= 'Z' ?
			    (char)(parts[i][j] - 'A' + 'a') : parts[i][j];
		buf[len] = '\0';
		if (ptab_intern(b, buf, &sid) == -1) {
			b->nrpart = first;
			return -1;
		}
		b->rpart[b->nrpart++] = sid;
	}
	/* Repeats go: a set holds each local part once. */
	if (n > 0) {
		ptab_sort_ids(b->rpart + first, n);
		for (i = 1, b->nrpart = first + 1; i < n; i++)
			if (b->rpart[b->nrpart - 1] != b->rpart[first + i])
				b->rpart[b->nrpart++] = b->rpart[first + i];
	}
	r = &b->rl[b->nrl];
	memset(r, 0, sizeof(*r));
	r->name = nm;
	r->line = line;
	r->first = (uint32_t)first;
	r->count = (uint32_t)(b->nrpart - first);
	*id = (uint32_t)b->nrl++;
	return 0;
}

/*
 * Ids are equal exactly when their strings are, so sorting by id finds
 * repeats; ptab_build() puts the survivors in string order.
 */
static int
ptab_id_cmp(const void *a, const void *b)
{
	uint32_t	 x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void
ptab_sort_ids(uint32_t *v, size_t n)
{
	size_t		 i, j;
	uint32_t	 x;

	if (n > 16) {
		qsort(v, n, sizeof(*v), ptab_id_cmp);
		return;
	}
	for (i = 1; i < n; i++) {
		x = v[i];
		for (j = i; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

int
ptab_builder_accept(struct ptab_builder *b, const struct ptab_domain_in *d)
{
	return ptab_domain_add(b, &b->acc, &b->nacc, &b->capacc, 0, d);
}

int
ptab_builder_outbound(struct ptab_builder *b, const struct ptab_domain_in *d)
{
	return ptab_domain_add(b, &b->out, &b->nout, &b->capout, 1, d);
}

static int
ptab_domain_add(struct ptab_builder *b, struct ptab_domain_rec **arr,
    size_t *n, size_t *cap, int outbound, const struct ptab_domain_in *d)
{
	struct ptab_domain_rec	*r;
	uint32_t		 dom, tgt, usr, port;

	/* What the reader would refuse is refused here, at the source. */
	port = d->port;		/* as wide as the limit: it may tighten */
	if (d->tls > PTAB_TLS_VERIFY || d->mech > PTAB_MECH_SCRAM_SHA_256 ||
	    (!outbound && (d->rcpts > PTAB_RCPTS_LIST ||
	    (d->rcpts == PTAB_RCPTS_LIST && d->rcpt_list >= b->nrl))) ||
	    (outbound ? d->delivery != PTAB_DELIVER_RELAY :
	    (d->delivery != PTAB_DELIVER_MAILDIR &&
	    d->delivery != PTAB_DELIVER_FORWARD)) ||
	    (d->delivery == PTAB_DELIVER_MAILDIR ? d->port != 0 ||
	    d->tls != PTAB_TLS_NONE : port < LIM_PORT_MIN ||
	    port > LIM_PORT_MAX) ||
	    (d->mech != PTAB_MECH_NONE) != (d->user != NULL &&
	    d->user[0] != '\0') ||
	    (d->mech != PTAB_MECH_NONE) != (d->secret != NULL) ||
	    (d->mech != PTAB_MECH_NONE && (!outbound ||
	    d->tls < PTAB_TLS_REQUIRED)) ||
	    (d->secret != NULL && (d->secret_len == 0 ||
	    d->secret_len > SEAL_MAX_SEALED)) ||
	    *n >= PTAB_MAX_SIZE / sizeof(*r) ||
	    (d->secret != NULL && (d->secret_len >= PTAB_MAX_SIZE ||
	    b->bloblen > PTAB_MAX_SIZE - d->secret_len)))
		return -1;
	if (ptab_intern(b, d->domain, &dom) == -1 ||
	    ptab_intern(b, d->target, &tgt) == -1 ||
	    ptab_intern(b, d->user, &usr) == -1 ||
	    ptab_grow((void **)arr, cap, *n, sizeof(*r)) == -1)
		return -1;
	r = &(*arr)[*n];
	memset(r, 0, sizeof(*r));
	r->domain = dom;
	r->line = d->line;
	r->delivery = d->delivery;
	r->tls = d->tls;
	r->port = d->port;
	r->target = tgt;
	r->mech = d->mech;
	r->user = usr;
	r->rcpts = outbound ? PTAB_RCPTS_UNSET : d->rcpts;
	r->rcpt_list = !outbound && d->rcpts == PTAB_RCPTS_LIST ?
	    d->rcpt_list : PTAB_NONE;
	r->secret = PTAB_NONE;
	r->secret_len = 0;
	if (d->secret != NULL) {
		if (d->secret_len > 0) {
			while (b->bloblen + d->secret_len > b->blobcap) {
				if (ptab_grow((void **)&b->blob, &b->blobcap,
				    b->blobcap, 1) == -1)
					return -1;
			}
			memcpy(b->blob + b->bloblen, d->secret,
			    d->secret_len);
		}
		r->secret = (uint32_t)b->bloblen;
		r->secret_len = (uint32_t)d->secret_len;
		b->bloblen += d->secret_len;
	}
	(*n)++;
	return 0;
}

/* ---- Sorting ------------------------------------------------------------- */

static int
ptab_skey_cmp(const void *a, const void *b)
{
	const struct ptab_skey	*x = a, *y = b;
	int			 c;

	if ((c = strcmp(x->s, y->s)) != 0)
		return c;
	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * LSD radix sort, a byte at a time; all histograms come from one pass
 * and a byte that every key shares costs nothing.  Stable.
 */
static int
ptab_radix_u64(uint64_t *a, size_t n)
{
	uint64_t	*tmp, *src, *dst, *sw;
	size_t		(*cnt)[256], i, d, sum, c;

	if (n < 2)
		return 0;
	if ((cnt = calloc(8, sizeof(*cnt))) == NULL)
		return -1;
	if ((tmp = malloc(n * sizeof(*tmp))) == NULL) {
		free(cnt);
		return -1;
	}
	for (i = 0; i < n; i++)
		for (d = 0; d < 8; d++)
			cnt[d][(a[i] >> (d * 8)) & 0xff]++;
	src = a;
	dst = tmp;
	for (d = 0; d < 8; d++) {
		if (cnt[d][(src[0] >> (d * 8)) & 0xff] == n)
			continue;
		for (sum = 0, i = 0; i < 256; i++) {
			c = cnt[d][i];
			cnt[d][i] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			dst[cnt[d][(src[i] >> (d * 8)) & 0xff]++] = src[i];
		sw = src;
		src = dst;
		dst = sw;
	}
	if (src != a)
		memcpy(a, src, n * sizeof(*a));
	free(tmp);
	free(cnt);
	return 0;
}

/* Digit d (0 least significant) of the v6 sort key hi:lo:lr. */
static inline unsigned
ptab_v6digit(const struct ptab_v6p *e, size_t d)
{
	if (d < 4)
		return (e->lr >> (d * 8)) & 0xff;
	if (d < 12)
		return (unsigned)(e->lo >> ((d - 4) * 8)) & 0xff;
	return (unsigned)(e->hi >> ((d - 12) * 8)) & 0xff;
}

static int
ptab_radix_v6(struct ptab_v6p *a, size_t n)
{
	struct ptab_v6p	*tmp, *src, *dst, *sw;
	size_t		(*cnt)[256], i, d, sum, c;

	if (n < 2)
		return 0;
	if ((cnt = calloc(20, sizeof(*cnt))) == NULL)
		return -1;
	if ((tmp = malloc(n * sizeof(*tmp))) == NULL) {
		free(cnt);
		return -1;
	}
	for (i = 0; i < n; i++)
		for (d = 0; d < 20; d++)
			cnt[d][ptab_v6digit(&a[i], d)]++;
	src = a;
	dst = tmp;
	for (d = 0; d < 20; d++) {
		if (cnt[d][ptab_v6digit(&src[0], d)] == n)
			continue;
		for (sum = 0, i = 0; i < 256; i++) {
			c = cnt[d][i];
			cnt[d][i] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			dst[cnt[d][ptab_v6digit(&src[i], d)]++] = src[i];
		sw = src;
		src = dst;
		dst = sw;
	}
	if (src != a)
		memcpy(a, src, n * sizeof(*a));
	free(tmp);
	free(cnt);
	return 0;
}

/* ---- Shared prefixes ----------------------------------------------------- */

static int
ptab_same_effect(const struct ptab_rule_rec *a, const struct ptab_rule_rec *b)
{
	return a->action == b->action && a->require == b->require &&
	    a->flags == b->flags && a->as_user == b->as_user;
}

/*
 * Collapse each run of equal (start, length) in the sorted v4 keys to
 * one, telling the caller about every rule that loses the prefix.  The
 * rule numbers of a run are ascending, so repeats of a rule are
 * adjacent and vanish silently.  Returns the new count.
 */
static size_t
ptab_dedupe_v4(struct ptab_builder *b, ptab_conflict_fn *fn, void *ctx)
{
	uint64_t	*v = b->v4;
	size_t		 i, j, k, m = 0;
	uint32_t	 kept, r, prev;
	struct addr	 a;

	for (i = 0; i < b->nv4; i = j) {
		for (j = i + 1; j < b->nv4 && v[j] >> 24 == v[i] >> 24; j++)
			;
		kept = (uint32_t)(v[i] & 0xffffff);
		if (j - i > 1) {
			/* Lowest line wins; ties go to the earlier rule. */
			for (k = i + 1; k < j; k++) {
				r = (uint32_t)(v[k] & 0xffffff);
				if (b->rules[r].line < b->rules[kept].line)
					kept = r;
			}
			if (fn != NULL) {
				memset(&a, 0, sizeof(a));
				a.family = ADDR_V4;
				a.len = (uint8_t)((v[i] >> 24) & 0xff);
				a.a[0] = (uint8_t)(v[i] >> 56);
				a.a[1] = (uint8_t)(v[i] >> 48);
				a.a[2] = (uint8_t)(v[i] >> 40);
				a.a[3] = (uint8_t)(v[i] >> 32);
				prev = PTAB_NONE;
				for (k = i; k < j; k++) {
					r = (uint32_t)(v[k] & 0xffffff);
					if (r == prev || r == kept)
						continue;
					prev = r;
					fn(ctx, &a, kept, r, ptab_same_effect(
					    &b->rules[kept], &b->rules[r]));
				}
			}
		}
		v[m++] = (v[i] & ~(uint64_t)0xffffff) | kept;
	}
	return m;
}

static size_t
ptab_dedupe_v6(struct ptab_builder *b, ptab_conflict_fn *fn, void *ctx)
{
	struct ptab_v6p	*v = b->v6;
	size_t		 i, j, k, m = 0;
	uint32_t	 kept, r, prev;
	struct addr	 a;

	for (i = 0; i < b->nv6; i = j) {
		for (j = i + 1; j < b->nv6 && v[j].hi == v[i].hi &&
		    v[j].lo == v[i].lo && v[j].lr >> 24 == v[i].lr >> 24; j++)
			;
		kept = v[i].lr & 0xffffff;
		for (k = i + 1; k < j; k++) {
			r = v[k].lr & 0xffffff;
			/* Ties on the line go to the earlier rule. */
			if (b->rules[r].line < b->rules[kept].line)
				kept = r;
		}
		if (j - i > 1 && fn != NULL) {
			memset(&a, 0, sizeof(a));
			a.family = ADDR_V6;
			a.len = (uint8_t)(v[i].lr >> 24);
			for (k = 0; k < 8; k++) {
				a.a[k] = (uint8_t)(v[i].hi >> (56 - 8 * k));
				a.a[8 + k] = (uint8_t)(v[i].lo >> (56 - 8 * k));
			}
			prev = PTAB_NONE;
			for (k = i; k < j; k++) {
				r = v[k].lr & 0xffffff;
				if (r == prev || r == kept)
					continue;
				prev = r;
				fn(ctx, &a, kept, r, ptab_same_effect(
				    &b->rules[kept], &b->rules[r]));
			}
		}
		v[m] = v[i];
		v[m].lr = (v[i].lr & 0xff000000u) | kept;
		m++;
	}
	return m;
}

/* ---- Layout -------------------------------------------------------------- */

/*
 * Sort n records of size sz at recs by the string whose id sits at
 * byte offset keyoff in each; equal strings are an error named by what.
 */
static int
ptab_sort_recs(struct ptab_builder *b, void *recs, size_t n, size_t sz,
    size_t keyoff, size_t lineoff, const char *what, char *err,
    size_t errlen)
{
	struct ptab_skey	*k;
	uint8_t			*copy, *base = recs;
	uint32_t		 id, l1, l2;
	size_t			 i;

	if (n == 0)
		return 0;
	if ((k = calloc(n, sizeof(*k))) == NULL ||
	    (copy = malloc(n * sz)) == NULL) {
		free(k);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(copy, recs, n * sz);
	for (i = 0; i < n; i++) {
		memcpy(&id, base + i * sz + keyoff, sizeof(id));
		k[i].s = b->sbuf + b->soff[id];
		if (id == 0)
			k[i].s = "";
		k[i].id = (uint32_t)i;
	}
	qsort(k, n, sizeof(*k), ptab_skey_cmp);
	for (i = 0; i < n; i++) {
		if (k[i].s[0] == '\0' ||
		    (i > 0 && strcmp(k[i - 1].s, k[i].s) == 0)) {
			memcpy(&l1, copy + (size_t)k[i > 0 ? i - 1 : i].id *
			    sz + lineoff, sizeof(l1));
			memcpy(&l2, copy + (size_t)k[i].id * sz + lineoff,
			    sizeof(l2));
			if (k[i].s[0] == '\0')
				snprintf(err, errlen, "%s with an empty name "
				    "(line %u)", what, l2);
			else
				snprintf(err, errlen, "%s '%.*s' appears twice "
				    "(lines %u and %u)", what, 128, k[i].s,
				    l1 < l2 ? l1 : l2, l1 < l2 ? l2 : l1);
			free(k);
			free(copy);
			return -1;
		}
		memcpy(base + i * sz, copy + (size_t)k[i].id * sz, sz);
	}
	free(k);
	free(copy);
	return 0;
}

/*
 * Index bits for n keys: about four keys a slot, so the index costs
 * about a byte a prefix and a tiny table carries a tiny index.
 */
static unsigned
ptab_index_bits(size_t n)
{
	unsigned	 b = 0;

	while (b < PTAB_INDEX_MAXBITS && ((size_t)4 << b) <= n / 2)
		b++;
	return b;
}

/* Key, entry (parent by a stack of open prefixes) and index for v4. */
static void
ptab_put_v4(const struct ptab_builder *b, uint8_t *img,
    const struct ptab_section_rec *dir)
{
	uint32_t		*idx, *keys, stack[33], key, len, top, tl;
	struct ptab_entry_rec	*ent;
	size_t			 i, sp = 0, h = 0, slots;
	unsigned		 shift;

	idx = (uint32_t *)(img + dir[PTAB_SEC_V4_INDEX - 1].offset);
	keys = (uint32_t *)(img + dir[PTAB_SEC_V4_KEYS - 1].offset);
	ent = (struct ptab_entry_rec *)(img +
	    dir[PTAB_SEC_V4_ENTRIES - 1].offset);
	slots = dir[PTAB_SEC_V4_INDEX - 1].count;
	shift = PTAB_INDEX_MAXBITS - ptab_index_bits(b->nv4);
	for (i = 0; i < b->nv4; i++) {
		key = (uint32_t)(b->v4[i] >> 32);
		len = (uint32_t)(b->v4[i] >> 24) & 0xff;
		while (sp > 0) {
			top = stack[sp - 1];
			tl = PTAB_ENTRY_LEN(&ent[top]);
			if (tl == 0 || ((keys[top] ^ key) >> (32 - tl)) == 0)
				break;
			sp--;
		}
		keys[i] = key;
		ent[i].parent = sp > 0 ? stack[sp - 1] : PTAB_NONE;
		ent[i].rule_len = (uint32_t)(b->v4[i] & 0xffffff) << 8 | len;
		/* Nested prefixes grow strictly longer: at most 33 open. */
		if (sp < 33)
			stack[sp++] = (uint32_t)i;
		while (h <= ((key >> 16) >> shift))
			idx[h++] = (uint32_t)i;
	}
	while (h < slots)
		idx[h++] = (uint32_t)b->nv4;
}

static void
ptab_put_v6(const struct ptab_builder *b, uint8_t *img,
    const struct ptab_section_rec *dir)
{
	uint32_t		*idx, stack[129], len, top, plen;
	struct ptab_v6key	*keys;
	struct ptab_entry_rec	*ent;
	const struct ptab_v6p	*e;
	uint64_t		 mhi, mlo;
	size_t			 i, sp = 0, h = 0, slots;
	unsigned		 shift;

	idx = (uint32_t *)(img + dir[PTAB_SEC_V6_INDEX - 1].offset);
	keys = (struct ptab_v6key *)(img + dir[PTAB_SEC_V6_KEYS - 1].offset);
	ent = (struct ptab_entry_rec *)(img +
	    dir[PTAB_SEC_V6_ENTRIES - 1].offset);
	slots = dir[PTAB_SEC_V6_INDEX - 1].count;
	shift = PTAB_INDEX_MAXBITS - ptab_index_bits(b->nv6);
	for (i = 0; i < b->nv6; i++) {
		e = &b->v6[i];
		len = e->lr >> 24;
		while (sp > 0) {
			top = stack[sp - 1];
			plen = PTAB_ENTRY_LEN(&ent[top]);
			mhi = plen == 0 ? 0 : plen >= 64 ? ~(uint64_t)0 :
			    ~(uint64_t)0 << (64 - plen);
			mlo = plen <= 64 ? 0 : plen == 128 ? ~(uint64_t)0 :
			    ~(uint64_t)0 << (128 - plen);
			if (((keys[top].hi ^ e->hi) & mhi) == 0 &&
			    ((keys[top].lo ^ e->lo) & mlo) == 0)
				break;
			sp--;
		}
		keys[i].hi = e->hi;
		keys[i].lo = e->lo;
		ent[i].parent = sp > 0 ? stack[sp - 1] : PTAB_NONE;
		ent[i].rule_len = (e->lr & 0xffffff) << 8 | len;
		if (sp < 129)
			stack[sp++] = (uint32_t)i;
		while (h <= ((e->hi >> 48) >> shift))
			idx[h++] = (uint32_t)i;
	}
	while (h < slots)
		idx[h++] = (uint32_t)b->nv6;
}

/* ---- Recipients lists ---------------------------------------------------- */

/*
 * Place the local parts of list r (ids in b->rpart, already in string
 * order) into slots[0 .. r->nslots): linear probing from each part's
 * hash.  Returns 0, or 1 when a probe ran past PTAB_RCPT_MAXPROBE (the
 * caller doubles the table and tries again).
 */
static int
ptab_rcpt_place(const struct ptab_builder *b, struct ptab_rcpt_rec *r,
    const uint32_t *ids, uint32_t *slots)
{
	const char	*p;
	uint32_t	 i, k, h, mask = r->nslots - 1;

	memset(slots, 0, (size_t)r->nslots * sizeof(*slots));
	r->maxprobe = 0;
	for (i = 0; i < r->count; i++) {
		p = b->sbuf + b->soff[ids[i]];
		h = ptab_rcpt_hash(p, strlen(p));
		for (k = 0; slots[(h + k) & mask] != 0; k++)
			if (k >= PTAB_RCPT_MAXPROBE)
				return 1;
		slots[(h + k) & mask] = ids[i];
		if (k > r->maxprobe)
			r->maxprobe = k;
	}
	return 0;
}

/*
 * Sort the lists by name (*order: builder ids in image order), put each
 * list's parts in string order, and place them into one array of slot
 * ids (*slots, *nslots).  The result depends on the content only.
 */
static int
ptab_rcpt_layout(struct ptab_builder *b, const uint32_t *map,
    uint32_t **order, uint32_t **slots, size_t *nslots, char *err,
    size_t errlen)
{
	struct ptab_rcpt_rec	*r;
	uint64_t		*key = NULL;
	uint32_t		*o = NULL, *sl = NULL, *ids;
	size_t			 i, j, total = 0, cap = 0, maxc = 0;

	*order = NULL;
	*slots = NULL;
	*nslots = 0;
	if (b->nrl == 0)
		return 0;
	if ((o = calloc(b->nrl, sizeof(*o))) == NULL)
		goto nomem;
	for (i = 0; i < b->nrl; i++)
		if (b->rl[i].count > maxc)
			maxc = b->rl[i].count;
	if ((key = calloc(maxc > b->nrl ? maxc : b->nrl,
	    sizeof(*key))) == NULL)
		goto nomem;
	/* By name: map[] is in string order, and names are unique. */
	for (i = 0; i < b->nrl; i++)
		key[i] = (uint64_t)map[b->rl[i].name] << 32 | i;
	if (ptab_radix_u64(key, b->nrl) == -1)
		goto nomem;
	for (i = 0; i < b->nrl; i++) {
		o[i] = (uint32_t)key[i];
		if (i > 0 && key[i] >> 32 == key[i - 1] >> 32) {
			snprintf(err, errlen, "recipients list '%.*s' appears "
			    "twice", 128, b->sbuf + b->soff[b->rl[o[i]].name]);
			goto fail;
		}
	}
	for (i = 0; i < b->nrl; i++) {
		r = &b->rl[o[i]];
		ids = r->count > 0 ? b->rpart + r->first : NULL;
		for (j = 0; j < r->count; j++)
			key[j] = (uint64_t)map[ids[j]] << 32 | ids[j];
		if (ptab_radix_u64(key, r->count) == -1)
			goto nomem;
		for (j = 0; j < r->count; j++)
			ids[j] = (uint32_t)key[j];
		r->nslots = 1;
		while (r->nslots < 2 * (size_t)r->count)
			r->nslots *= 2;
		for (;;) {
			if (r->nslots > PTAB_RCPT_MAXSLOTS - total) {
				snprintf(err, errlen, "too many recipients");
				goto fail;
			}
			while (total + r->nslots > cap) {
				if (ptab_grow((void **)&sl, &cap, cap,
				    sizeof(*sl)) == -1)
					goto nomem;
			}
			if (ptab_rcpt_place(b, r, ids, sl + total) == 0)
				break;
			r->nslots *= 2;
		}
		total += r->nslots;
	}
	free(key);
	*order = o;
	*slots = sl;
	*nslots = total;
	return 0;

nomem:
	snprintf(err, errlen, "out of memory");
fail:
	free(key);
	free(o);
	free(sl);
	return -1;
}

int
ptab_build(struct ptab_builder *b, ptab_conflict_fn *conflict, void *ctx,
    uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	struct ptab_section_rec	 dir[PTAB_NSECTIONS];
	struct ptab_header	*hdr;
	struct ptab_skey	*sk = NULL;
	struct ptab_server_rec	*srv;
	struct ptab_rule_rec	*rr;
	struct ptab_list_rec	*lr;
	struct ptab_user_rec	*ur;
	struct ptab_domain_rec	*dr;
	struct ptab_rcpt_rec	*rc;
	uint32_t		*map = NULL, *rorder = NULL, *rslots = NULL;
	uint32_t		*rinv = NULL, *u32, boff, k;
	size_t			 nrslots = 0;
	uint64_t		 off, len, count;
	uint8_t			*img = NULL;
	char			*sp;
	size_t			 i, strsize;
	int			 s;

	*out = NULL;
	*outlen = 0;

	for (i = 1; i < b->nrules; i++) {
		if (b->rules[i].kind == PTAB_RULE_LIST &&
		    b->rules[i].list >= b->nlists) {
			snprintf(err, errlen, "rule at line %u names list %u, "
			    "which was never defined", b->rules[i].line,
			    b->rules[i].list);
			return -1;
		}
	}
	if (ptab_sort_recs(b, b->users, b->nusers, sizeof(*b->users),
	    offsetof(struct ptab_user_rec, name),
	    offsetof(struct ptab_user_rec, line), "user", err, errlen) == -1 ||
	    ptab_sort_recs(b, b->acc, b->nacc, sizeof(*b->acc),
	    offsetof(struct ptab_domain_rec, domain),
	    offsetof(struct ptab_domain_rec, line), "accept for", err,
	    errlen) == -1 ||
	    ptab_sort_recs(b, b->out, b->nout, sizeof(*b->out),
	    offsetof(struct ptab_domain_rec, domain),
	    offsetof(struct ptab_domain_rec, line), "outbound", err,
	    errlen) == -1)
		return -1;

	if (ptab_radix_u64(b->v4, b->nv4) == -1 ||
	    ptab_radix_v6(b->v6, b->nv6) == -1)
		goto nomem;
	b->nv4 = ptab_dedupe_v4(b, conflict, ctx);
	b->nv6 = ptab_dedupe_v6(b, conflict, ctx);

	/* Strings in sorted order, so the image ignores call order. */
	if ((sk = calloc(b->nstr, sizeof(*sk))) == NULL ||
	    (map = calloc(b->nstr, sizeof(*map))) == NULL)
		goto nomem;
	for (i = 1; i < b->nstr; i++) {
		sk[i].s = b->sbuf + b->soff[i];
		sk[i].id = (uint32_t)i;
	}
	qsort(sk + 1, b->nstr - 1, sizeof(*sk), ptab_skey_cmp);
	strsize = 1;
	for (i = 1; i < b->nstr; i++) {
		map[sk[i].id] = (uint32_t)strsize;
		strsize += strlen(sk[i].s) + 1;
	}
	if (ptab_rcpt_layout(b, map, &rorder, &rslots, &nrslots, err,
	    errlen) == -1)
		goto fail;
	if ((rinv = calloc(b->nrl + 1, sizeof(*rinv))) == NULL)
		goto nomem;
	for (i = 0; i < b->nrl; i++)
		rinv[rorder[i]] = (uint32_t)i;

	/* Lay the sections out in enum order, each 8-aligned. */
	off = PTAB_HEADER_SIZE + sizeof(dir);
	for (s = 1; s < PTAB_SEC_MAX; s++) {
		switch (s) {
		case PTAB_SEC_STRINGS:	count = strsize; break;
		case PTAB_SEC_SERVER:	count = 1; break;
		case PTAB_SEC_LISTENERS: count = b->nlis; break;
		case PTAB_SEC_RULES:	count = b->nrules; break;
		case PTAB_SEC_LISTS:	count = b->nlists; break;
		case PTAB_SEC_V4_INDEX:
			count = ((uint64_t)1 << ptab_index_bits(b->nv4)) + 1;
			break;
		case PTAB_SEC_V6_INDEX:
			count = ((uint64_t)1 << ptab_index_bits(b->nv6)) + 1;
			break;
		case PTAB_SEC_V4_KEYS:
		case PTAB_SEC_V4_ENTRIES: count = b->nv4; break;
		case PTAB_SEC_V6_KEYS:
		case PTAB_SEC_V6_ENTRIES: count = b->nv6; break;
		case PTAB_SEC_USERS:	count = b->nusers; break;
		case PTAB_SEC_ACCEPT:	count = b->nacc; break;
		case PTAB_SEC_OUTBOUND:	count = b->nout; break;
		case PTAB_SEC_RCPT_LISTS: count = b->nrl; break;
		case PTAB_SEC_RCPT_SLOTS: count = nrslots; break;
		case PTAB_SEC_SENDERS:	count = b->nsnd; break;
		case PTAB_SEC_PROXY:	count = b->npx; break;
		default:		count = b->bloblen; break;
		}
		len = count * ptab_recsize[s];
		if (count > PTAB_MAX_SIZE || len > PTAB_MAX_SIZE ||
		    off + len > PTAB_MAX_SIZE) {
			snprintf(err, errlen, "the table would exceed %u "
			    "bytes", PTAB_MAX_SIZE);
			goto fail;
		}
		dir[s - 1].id = (uint32_t)s;
		dir[s - 1].count = (uint32_t)count;
		dir[s - 1].offset = (uint32_t)off;
		dir[s - 1].length = (uint32_t)len;
		off = (off + len + 7) & ~(uint64_t)7;
	}
	if (off > PTAB_MAX_SIZE) {
		snprintf(err, errlen, "the table would exceed %u bytes",
		    PTAB_MAX_SIZE);
		goto fail;
	}
	if ((img = calloc(1, (size_t)off)) == NULL)
		goto nomem;

	hdr = (struct ptab_header *)img;
	memcpy(hdr->magic, PTAB_MAGIC, sizeof(hdr->magic));
	hdr->version = PTAB_VERSION;
	hdr->header_size = PTAB_HEADER_SIZE;
	hdr->nsections = PTAB_NSECTIONS;
	hdr->size = off;
	memcpy(img + PTAB_HEADER_SIZE, dir, sizeof(dir));

	sp = (char *)img + dir[PTAB_SEC_STRINGS - 1].offset;
	for (i = 1; i < b->nstr; i++) {
		size_t	 n = strlen(sk[i].s) + 1;

		memcpy(sp + map[sk[i].id], sk[i].s, n);
	}

	srv = (struct ptab_server_rec *)(img + dir[PTAB_SEC_SERVER - 1].offset);
	*srv = b->server;
	srv->hostname = map[b->server.hostname];
	srv->cert = map[b->server.cert];
	srv->key = map[b->server.key];
	srv->trust = map[b->server.trust];
	srv->spool = map[b->server.spool];
	srv->log = map[b->server.log];
	srv->runas = map[b->server.runas];
	srv->control = map[b->server.control];

	if (b->nlis > 0)
		memcpy(img + dir[PTAB_SEC_LISTENERS - 1].offset, b->lis,
		    b->nlis * sizeof(*b->lis));
	rr = (struct ptab_rule_rec *)(img + dir[PTAB_SEC_RULES - 1].offset);
	for (i = 0; i < b->nrules; i++) {
		rr[i] = b->rules[i];
		rr[i].as_user = map[b->rules[i].as_user];
	}
	lr = (struct ptab_list_rec *)(img + dir[PTAB_SEC_LISTS - 1].offset);
	for (i = 0; i < b->nlists; i++) {
		lr[i] = b->lists[i];
		lr[i].name = map[b->lists[i].name];
	}
	ptab_put_v4(b, img, dir);
	ptab_put_v6(b, img, dir);
	/* Senders follow the sorted users, each user's in string order. */
	ur = (struct ptab_user_rec *)(img + dir[PTAB_SEC_USERS - 1].offset);
	u32 = (uint32_t *)(img + dir[PTAB_SEC_SENDERS - 1].offset);
	for (i = 0, boff = 0; i < b->nusers; i++) {
		ur[i] = b->users[i];
		ur[i].name = map[b->users[i].name];
		ur[i].verifier = map[b->users[i].verifier];
		ur[i].senders = ur[i].nsenders > 0 ? boff : 0;
		for (k = 0; k < ur[i].nsenders; k++)
			u32[boff + k] = map[b->snd[b->users[i].senders + k]];
		ptab_sort_ids(u32 + boff, ur[i].nsenders);
		boff += ur[i].nsenders;
	}
	rc = (struct ptab_rcpt_rec *)(img +
	    dir[PTAB_SEC_RCPT_LISTS - 1].offset);
	for (i = 0, boff = 0; i < b->nrl; i++) {
		rc[i] = b->rl[rorder[i]];
		rc[i].name = map[rc[i].name];
		rc[i].first = boff;
		boff += rc[i].nslots;
	}
	u32 = (uint32_t *)(img + dir[PTAB_SEC_RCPT_SLOTS - 1].offset);
	for (i = 0; i < nrslots; i++)
		u32[i] = map[rslots[i]];
	if (b->npx > 0)
		memcpy(img + dir[PTAB_SEC_PROXY - 1].offset, b->px,
		    b->npx * sizeof(*b->px));
	/* Blobs follow the sorted accept, then outbound, records. */
	boff = 0;
	for (s = 0; s < 2; s++) {
		const struct ptab_domain_rec	*src = s ? b->out : b->acc;
		size_t				 n = s ? b->nout : b->nacc;

		dr = (struct ptab_domain_rec *)(img + dir[(s ?
		    PTAB_SEC_OUTBOUND : PTAB_SEC_ACCEPT) - 1].offset);
		for (i = 0; i < n; i++) {
			dr[i] = src[i];
			dr[i].domain = map[src[i].domain];
			dr[i].target = map[src[i].target];
			dr[i].user = map[src[i].user];
			if (src[i].rcpt_list != PTAB_NONE)
				dr[i].rcpt_list = rinv[src[i].rcpt_list];
			if (src[i].secret == PTAB_NONE)
				continue;
			dr[i].secret = boff;
			if (src[i].secret_len > 0)
				memcpy(img + dir[PTAB_SEC_BLOBS - 1].offset +
				    boff, b->blob + src[i].secret,
				    src[i].secret_len);
			boff += src[i].secret_len;
		}
	}

	/* The checksum field is still zero: hash, then fill it in. */
	crypto_generichash(hdr->checksum, sizeof(hdr->checksum), img,
	    (unsigned long long)off, NULL, 0);

	free(sk);
	free(map);
	free(rorder);
	free(rslots);
	free(rinv);
	*out = img;
	*outlen = (size_t)off;
	return 0;

nomem:
	snprintf(err, errlen, "out of memory");
fail:
	free(sk);
	free(map);
	free(rorder);
	free(rslots);
	free(rinv);
	free(img);
	return -1;
}

/* ---- Output -------------------------------------------------------------- */

int
ptab_write_file(const char *path, const uint8_t *buf, size_t len, char *err,
    size_t errlen)
{
	char		*tmp, *dir;
	const char	*slash;
	size_t		 n;
	int		 fd, dfd, saved;

	/* One allocation holds "PATH.tmpXXXXXX" and the directory name. */
	n = strlen(path);
	if (n == 0 || n > SIZE_MAX / 2 - 16) {
		snprintf(err, errlen, "bad output path");
		return -1;
	}
	if ((tmp = malloc(2 * n + 16)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	dir = tmp + n + sizeof(".tmpXXXXXX");
	snprintf(tmp, n + sizeof(".tmpXXXXXX"), "%s.tmpXXXXXX", path);
	if ((slash = strrchr(path, '/')) == NULL)
		snprintf(dir, n + 2, ".");
	else if (slash == path)
		snprintf(dir, n + 2, "/");
	else
		snprintf(dir, n + 2, "%.*s", (int)(slash - path), path);

	if ((fd = mkstemp(tmp)) == -1) {
		snprintf(err, errlen, "cannot create a temporary file in %s: "
		    "%s", dir, strerror(errno));
		free(tmp);
		return -1;
	}
	if (fchmod(fd, 0644) == -1)
		goto bad;
	if (fileio_write_all(fd, buf, len) == -1)
		goto bad;
	if (fsync(fd) == -1)
		goto bad;
	if (close(fd) == -1) {
		fd = -1;
		goto bad;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto bad;

	/* The rename is durable only once the directory is. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "cannot open %s to sync it: %s", dir,
		    strerror(errno));
		free(tmp);
		return -1;
	}
	if (fsync(dfd) == -1 && errno != EINVAL) {
		snprintf(err, errlen, "cannot sync %s: %s", dir,
		    strerror(errno));
		close(dfd);
		free(tmp);
		return -1;
	}
	close(dfd);
	free(tmp);
	return 0;

bad:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	free(tmp);
	snprintf(err, errlen, "cannot write %s: %s", path, strerror(saved));
	return -1;
}
