/*
 * ptab_test: the compiled table, writer to reader.  Round trips of the
 * sample tables, longest-prefix match against a brute-force scan of
 * random nested prefixes, shared prefixes, the domain lookup order,
 * determinism, hostile tables (every truncation, every single-byte
 * change with and without a fixed-up checksum), the committed fuzz
 * seeds, and a timing of a table with 1.2 million prefixes.
 */
#include "config.h"

#include "check.h"

#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "addr.h"
#include "bastion_limits.h"
#include "ptab.h"
#include "ptab_sample.h"
#include "seal.h"

/* ---- Helpers ------------------------------------------------------------- */

static uint64_t	 rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64*: a fixed seed, so a failure is reproducible. */
static uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* An 8-aligned private copy of len bytes (ptab_load wants alignment). */
static uint8_t *
copy_of(const uint8_t *p, size_t len)
{
	uint8_t	*c = malloc(len ? len : 1);

	if (c == NULL)
		abort();
	memcpy(c, p, len);
	return c;
}

/* Recompute the checksum of an image in place, as the writer does. */
static void
fix_checksum(uint8_t *p, size_t len)
{
	struct ptab_header	*h = (struct ptab_header *)p;

	if (len < sizeof(*h))
		return;
	memset(h->checksum, 0, sizeof(h->checksum));
	crypto_generichash(h->checksum, sizeof(h->checksum), p, len, NULL, 0);
}

static struct addr
A(const char *s)
{
	struct addr	 a;

	sample_addr(s, &a);
	return a;
}

static uint32_t
lookup(const struct ptab *t, const char *s, uint32_t *entry)
{
	struct addr	 a = A(s);

	return ptab_host_lookup(t, &a, entry);
}

/* The rule deciding s, by its source line (the default: its line). */
static uint32_t
line_of(const struct ptab *t, const char *s)
{
	uint32_t	 e;

	return t->rules[lookup(t, s, &e)].line;
}

static const char *
dom(const struct ptab_domain_rec *d, const struct ptab *t)
{
	return d == NULL ? "(none)" : ptab_str(t, d->domain);
}

/* Reasons seen while refusing tables, digits folded to '#'. */
#define NREASONS	256
static struct {
	char		 text[160];
	unsigned	 n;
} reasons[NREASONS];
static unsigned	 nreasons;

static void
note_reason(const char *err)
{
	char		 r[160];
	unsigned	 i;
	size_t		 j;

	/* A run of digits becomes one '#'. */
	for (j = 0; *err != '\0' && j + 1 < sizeof(r); err++) {
		if (*err >= '0' && *err <= '9') {
			if (j > 0 && r[j - 1] == '#')
				continue;
			r[j++] = '#';
		} else
			r[j++] = *err;
	}
	r[j] = '\0';
	for (i = 0; i < nreasons; i++)
		if (strcmp(reasons[i].text, r) == 0) {
			reasons[i].n++;
			return;
		}
	if (nreasons < NREASONS) {
		memcpy(reasons[nreasons].text, r, sizeof(r));
		reasons[nreasons++].n = 1;
	}
}

/* ---- Round trips --------------------------------------------------------- */

static void
test_full(void)
{
	struct ptab			 t;
	const struct ptab_domain_rec	*d;
	const struct ptab_user_rec	*u;
	uint8_t				*img;
	size_t				 len;
	char				 err[256], buf[ADDR_STRLEN];
	struct addr			 a;
	uint32_t			 e, r;

	CHECK(sample_table(1, &img, &len, err, sizeof(err)) == 0);
	CHECK(ptab_load(&t, img, len, err, sizeof(err)) == 0);
	printf("sample 1: %zu bytes, checksum %s\n", len, t.sum);
	CHECK(strlen(t.sum) == 16);

	CHECK(strcmp(ptab_str(&t, t.server->hostname), "mx.sf.example") == 0);
	CHECK(strcmp(ptab_str(&t, t.server->cert), "certs/sf.crt") == 0);
	CHECK(strcmp(ptab_str(&t, t.server->key), "certs/sf.key") == 0);
	CHECK(strcmp(ptab_str(&t, t.server->runas), "bastion") == 0);
	CHECK(t.server->max_msgsize == 25u * 1024 * 1024);
	CHECK(t.server->max_conns == 1000 && t.server->max_conns_host == 20);
	CHECK(t.server->to_data == PTAB_DEF_TO_DATA);	/* left out */
	CHECK(t.server->line[PTAB_SET_HOSTNAME] == 2);
	CHECK(t.server->line[PTAB_SET_TO_DATA] == 0);
	CHECK(t.server->mechs[0] == PTAB_MECH_SCRAM_SHA_256 &&
	    t.server->mechs[3] == 0);
	CHECK(ptab_str(&t, 0)[0] == '\0');
	CHECK(ptab_str(&t, 0xfffffff0u)[0] == '\0');

	CHECK(t.nlisteners == 4);
	CHECK(t.listeners[1].family == ADDR_V6 && t.listeners[1].tls == 1 &&
	    t.listeners[1].port == 4650 && t.listeners[1].line == 4);
	CHECK(t.listeners[2].require == (PTAB_REQ_TLS | PTAB_REQ_AUTH));

	CHECK(t.nrules == 7 && t.rules[0].kind == PTAB_RULE_DEFAULT &&
	    t.rules[0].line == 20);
	CHECK(t.nlists == 3);
	CHECK(strcmp(ptab_str(&t, t.lists[0].name), "partners") == 0);
	CHECK(t.rules[1].kind == PTAB_RULE_LIST && t.rules[1].list == 0);
	CHECK(strcmp(ptab_str(&t, t.rules[2].as_user), "ims-ny") == 0);
	CHECK(t.rules[2].family == ADDR_V4 && t.rules[2].plen == 32);

	/* The most specific prefix wins; no match is the default. */
	CHECK(line_of(&t, "192.0.2.10") == 26);
	CHECK(line_of(&t, "192.0.2.11") == 25);
	CHECK(line_of(&t, "192.0.3.1") == 20);
	CHECK(line_of(&t, "10.9.9.9") == 29);
	CHECK(line_of(&t, "10.9.9.8") == 28);
	CHECK(line_of(&t, "10.2.255.255") == 30);
	CHECK(line_of(&t, "10.3.0.0") == 28);
	CHECK(line_of(&t, "11.0.0.0") == 20);
	CHECK(line_of(&t, "9.255.255.255") == 20);
	CHECK(line_of(&t, "203.0.113.7") == 27);
	CHECK(line_of(&t, "::ffff:10.9.9.9") == 29);	/* folded */
	CHECK(line_of(&t, "2001:db8:1:ffff::1") == 25);
	CHECK(line_of(&t, "2001:db8:bad::1") == 27);
	CHECK(line_of(&t, "2001:db8:2::1") == 20);
	CHECK(line_of(&t, "::1") == 20);

	/* A v4-mapped client that the parser did not fold is folded too. */
	memset(&a, 0, sizeof(a));
	a.family = ADDR_V6;
	a.len = 128;
	a.a[10] = a.a[11] = 0xff;
	a.a[12] = 10;
	a.a[13] = 9;
	a.a[14] = 9;
	a.a[15] = 9;
	r = ptab_host_lookup(&t, &a, &e);
	CHECK(t.rules[r].line == 29 && e != PTAB_NONE);
	ptab_entry_addr(&t, ADDR_V4, e, &a);
	addr_format(&a, buf, sizeof(buf));
	CHECK(strcmp(buf, "10.9.9.9") == 0);
	r = ptab_host_lookup(&t, &a, NULL);		/* entry may be NULL */
	CHECK(t.rules[r].line == 29);
	a.family = 0;
	CHECK(ptab_host_lookup(&t, &a, &e) == 0 && e == PTAB_NONE);
	ptab_entry_addr(&t, ADDR_V4, t.nv4, &a);
	CHECK(a.family == 0);

	/* Users: exact, case-sensitive, not NUL-terminated. */
	u = ptab_user_lookup(&t, "alice-and-bob", 5);
	CHECK(u != NULL && u->line == 36);
	CHECK(u != NULL && strncmp(ptab_str(&t, u->verifier), "$argon2id$",
	    10) == 0);
	CHECK(ptab_user_lookup(&t, "Alice", 5) == NULL);
	CHECK(ptab_user_lookup(&t, "alic", 4) == NULL);
	CHECK(ptab_user_lookup(&t, "", 0) == NULL);

	d = ptab_accept_lookup(&t, "SF.Example", 10);
	CHECK(d != NULL && d->line == 39 &&
	    d->delivery == PTAB_DELIVER_MAILDIR &&
	    strcmp(ptab_str(&t, d->target), "var/mail/%u") == 0);
	d = ptab_accept_lookup(&t, "a.b.sf.example", 14);
	CHECK(d != NULL && d->line == 40 && d->port == 25 &&
	    d->tls == PTAB_TLS_REQUIRED);
	CHECK(ptab_accept_lookup(&t, "example", 7) == NULL);
	CHECK(ptab_accept_lookup(&t, "xsf.example", 11) == NULL);
	d = ptab_outbound_lookup(&t, "ny.example", 10);
	CHECK(d != NULL && d->line == 43 && d->secret != PTAB_NONE &&
	    d->secret_len == 19 &&
	    memcmp(t.blobs + d->secret, "sealed-bytes-for-ny", 19) == 0 &&
	    strcmp(ptab_str(&t, d->user), "ims-sf") == 0 &&
	    d->mech == PTAB_MECH_SCRAM_SHA_256);
	d = ptab_outbound_lookup(&t, "sub.ny.example", 14);
	CHECK(d != NULL && d->line == 45 && d->target == 0 &&
	    d->secret == PTAB_NONE);
	free(img);
}

static void
test_domains(void)
{
	static const struct {
		const char	*q;
		const char	*want;
	} cases[] = {
		{ "example", "example" },
		{ "EXAMPLE", "example" },
		{ "a.example", "a.example" },
		{ "x.a.example", ".example" },
		{ "b.example", ".example" },
		{ "x.b.example", ".b.example" },
		{ "y.x.B.Example", ".b.example" },
		{ "other", "*" },
		{ "", "*" },
		{ "example.", "*" },
		{ ".example", ".example" },
		{ "xexample", "*" },
	};
	struct ptab	 t;
	uint8_t		*img;
	size_t		 len, i;
	char		 err[256], big[400];

	CHECK(sample_table(3, &img, &len, err, sizeof(err)) == 0);
	CHECK(ptab_load(&t, img, len, err, sizeof(err)) == 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char	*got = dom(ptab_outbound_lookup(&t, cases[i].q,
				    strlen(cases[i].q)), &t);

		if (strcmp(got, cases[i].want) != 0) {
			fprintf(stderr, "outbound '%s': got %s, want %s\n",
			    cases[i].q, got, cases[i].want);
			failures++;
		}
	}
	/* Longer than any domain: only "*" can match. */
	memset(big, 'a', sizeof(big));
	memcpy(big + sizeof(big) - 10, ".b.example", 10);
	CHECK(strcmp(dom(ptab_outbound_lookup(&t, big, sizeof(big)), &t),
	    "*") == 0);
	CHECK(strcmp(dom(ptab_outbound_lookup(&t, big + 200,
	    sizeof(big) - 200), &t), ".b.example") == 0);
	CHECK(ptab_accept_lookup(&t, "example", 7) == NULL);
	CHECK(t.nlisteners == 1 && t.listeners[0].family == ADDR_V6);

	/* ::ffff:10.0.0.0/104 went in as 10.0.0.0/8. */
	CHECK(t.nv4 == 1 && t.nv6 == 1);
	CHECK(line_of(&t, "10.1.2.3") == 3);
	CHECK(line_of(&t, "::ffff:10.1.2.3") == 3);
	CHECK(line_of(&t, "2001:db8::5") == 4);
	CHECK(line_of(&t, "2001:db9::5") == 2);
	free(img);
}

/* ---- Shared prefixes and determinism ------------------------------------- */

struct seen {
	unsigned	 n;
	uint32_t	 kept[8], dropped[8];
	int		 same[8];
	char		 pfx[8][ADDR_STRLEN];
};

static void
on_conflict(void *ctx, const struct addr *p, uint32_t kept, uint32_t dropped,
    int same)
{
	struct seen	*s = ctx;

	if (s->n < 8) {
		s->kept[s->n] = kept;
		s->dropped[s->n] = dropped;
		s->same[s->n] = same;
		addr_format(p, s->pfx[s->n], sizeof(s->pfx[0]));
	}
	s->n++;
}

static int
add_rule(struct ptab_builder *b, uint32_t line, uint8_t kind, uint8_t action,
    uint8_t require, const char *prefix, uint32_t list, const char *as)
{
	struct ptab_rule_in	 r;
	uint32_t		 id;

	memset(&r, 0, sizeof(r));
	r.line = line;
	r.kind = kind;
	r.action = action;
	r.require = require;
	r.list = list;
	r.as_user = as;
	if (prefix != NULL)
		r.prefix = A(prefix);
	if (ptab_builder_rule(b, &r, &id) == -1)
		return -1;
	return (int)id;
}

static void
test_conflicts(void)
{
	struct ptab_builder	*b;
	struct ptab		 t;
	struct seen		 s;
	struct addr		 a;
	uint8_t			*img;
	size_t			 len;
	char			 err[256];
	uint32_t		 l1, l2;
	int			 ra, rb, rc, rd;

	memset(&s, 0, sizeof(s));
	CHECK((b = ptab_builder_new()) != NULL);
	CHECK(ptab_builder_list(b, "one", 1, &l1) == 0);
	CHECK(ptab_builder_list(b, "two", 2, &l2) == 0);
	/* Rule ids in one order, lines in another. */
	ra = add_rule(b, 50, PTAB_RULE_LIST, PTAB_ACT_DENY, 0, NULL, l1,
	    NULL);
	rb = add_rule(b, 10, PTAB_RULE_LIST, PTAB_ACT_ALLOW, PTAB_REQ_TLS,
	    NULL, l2, NULL);
	rc = add_rule(b, 30, PTAB_RULE_ADDR, PTAB_ACT_ALLOW, PTAB_REQ_TLS,
	    "192.0.2.0/24", PTAB_NONE, NULL);
	rd = add_rule(b, 40, PTAB_RULE_ADDR, PTAB_ACT_ALLOW, PTAB_REQ_TLS,
	    "2001:db8::/32", PTAB_NONE, "bob");
	CHECK(ra == 1 && rb == 2 && rc == 3 && rd == 4);
	a = A("192.0.2.0/24");
	CHECK(ptab_builder_prefix(b, (uint32_t)ra, &a) == 0);
	CHECK(ptab_builder_prefix(b, (uint32_t)ra, &a) == 0);	/* silent */
	CHECK(ptab_builder_prefix(b, (uint32_t)rb, &a) == 0);
	a = A("2001:db8::/32");
	CHECK(ptab_builder_prefix(b, (uint32_t)rb, &a) == 0);
	CHECK(ptab_builder_prefix(b, (uint32_t)rd, &a) == 0);	/* its own */
	a = A("2001:db9::/32");
	CHECK(ptab_builder_prefix(b, (uint32_t)rd, &a) == -1);	/* not its */
	CHECK(ptab_builder_prefix(b, 0, &a) == -1);
	CHECK(ptab_builder_prefix(b, 99, &a) == -1);
	a = A("198.51.100.0/24");
	CHECK(ptab_builder_prefix(b, (uint32_t)ra, &a) == 0);
	CHECK(ptab_builder_prefix(b, (uint32_t)ra, &a) == 0);
	CHECK(ptab_build(b, on_conflict, &s, &img, &len, err,
	    sizeof(err)) == 0);
	ptab_builder_free(b);

	/* 192.0.2.0/24: rb (line 10) keeps it over ra and rc. */
	CHECK(s.n == 3);
	CHECK(strcmp(s.pfx[0], "192.0.2.0/24") == 0 && s.kept[0] == 2 &&
	    s.dropped[0] == 1 && s.same[0] == 0);
	CHECK(strcmp(s.pfx[1], "192.0.2.0/24") == 0 && s.kept[1] == 2 &&
	    s.dropped[1] == 3 && s.same[1] == 1);
	CHECK(strcmp(s.pfx[2], "2001:db8::/32") == 0 && s.kept[2] == 2 &&
	    s.dropped[2] == 4 && s.same[2] == 0);	/* as "bob" differs */
	CHECK(ptab_load(&t, img, len, err, sizeof(err)) == 0);
	CHECK(t.nv4 == 2 && t.nv6 == 1);
	CHECK(line_of(&t, "192.0.2.1") == 10);
	CHECK(line_of(&t, "198.51.100.1") == 50);
	CHECK(line_of(&t, "2001:db8::1") == 10);
	free(img);

	/* Builder refusals. */
	CHECK((b = ptab_builder_new()) != NULL);
	CHECK(ptab_builder_default(b, 1, PTAB_ACT_DENY, 0, 0, NULL) == 0);
	CHECK(ptab_builder_default(b, 2, PTAB_ACT_DENY, 0, 0, NULL) == -1);
	CHECK(add_rule(b, 3, PTAB_RULE_DEFAULT, 0, 0, NULL, PTAB_NONE,
	    NULL) == -1);
	CHECK(add_rule(b, 3, PTAB_RULE_ADDR, 7, 0, "10.0.0.0/8", PTAB_NONE,
	    NULL) == -1);
	CHECK(add_rule(b, 3, PTAB_RULE_LIST, 0, 0, NULL, 5, NULL) == 1);
	CHECK(ptab_build(b, NULL, NULL, &img, &len, err, sizeof(err)) == -1);
	printf("builder refuses: %s\n", err);
	ptab_builder_free(b);
}

static int
build_order(int reverse, uint8_t **img, size_t *len)
{
	struct ptab_builder	*b;
	struct ptab_domain_in	 d;
	static const char *const doms[] = { "b.example", "a.example",
	    ".c.example", "*" };
	static const char *const users[] = { "zed", "amy", "kim" };
	char			 err[256];
	size_t			 i, k;
	int			 rc;

	if ((b = ptab_builder_new()) == NULL)
		return -1;
	for (k = 0; k < 3; k++) {
		i = reverse ? 2 - k : k;
		if (ptab_builder_user(b, users[i], "$argon2id$x",
		    (uint32_t)(10 + i), NULL, 0) == -1)
			return -1;
	}
	for (k = 0; k < 4; k++) {
		i = reverse ? 3 - k : k;
		memset(&d, 0, sizeof(d));
		d.domain = doms[i];
		d.line = 20 + (uint32_t)i;
		d.delivery = PTAB_DELIVER_RELAY;
		d.port = 25;
		d.tls = PTAB_TLS_REQUIRED;
		d.mech = PTAB_MECH_PLAIN;
		d.user = users[i % 3];
		d.secret = (const uint8_t *)doms[i];
		d.secret_len = strlen(doms[i]);
		if (ptab_builder_outbound(b, &d) == -1)
			return -1;
	}
	rc = ptab_build(b, NULL, NULL, img, len, err, sizeof(err));
	ptab_builder_free(b);
	return rc;
}

static void
test_determinism(void)
{
	struct ptab_builder	*b;
	struct ptab_domain_in	 d;
	uint8_t			*x, *y;
	size_t			 xl, yl;
	char			 err[256];

	CHECK(build_order(0, &x, &xl) == 0);
	CHECK(build_order(1, &y, &yl) == 0);
	CHECK(xl == yl && memcmp(x, y, xl) == 0);
	free(x);
	free(y);

	/* The same domain twice is refused, naming both lines. */
	CHECK((b = ptab_builder_new()) != NULL);
	memset(&d, 0, sizeof(d));
	d.domain = "a.example";
	d.delivery = PTAB_DELIVER_MAILDIR;
	d.line = 7;
	CHECK(ptab_builder_accept(b, &d) == 0);
	d.line = 3;
	CHECK(ptab_builder_accept(b, &d) == 0);
	CHECK(ptab_build(b, NULL, NULL, &x, &xl, err, sizeof(err)) == -1);
	CHECK(strstr(err, "lines 3 and 7") != NULL);
	printf("builder refuses: %s\n", err);
	ptab_builder_free(b);
}

/* ---- Longest-prefix match against brute force ------------------------------ */

#define LPM_RULES	40

struct pin {
	struct addr	 p;
	uint32_t	 rule;
};

static void
rand_addr(int fam, struct addr *a)
{
	uint64_t	 x = rnd(), y = rnd();

	memset(a, 0, sizeof(*a));
	a->family = (uint8_t)fam;
	a->len = fam == ADDR_V4 ? 32 : 128;
	memcpy(a->a, &x, 8);
	memcpy(a->a + 8, &y, 8);
	if (fam == ADDR_V4) {
		memset(a->a + 4, 0, 12);
		/* Keep clear of ::ffff:0:0/96 spellings in v6. */
	} else if (a->a[0] == 0)
		a->a[0] = 0x20;
}

/* A random prefix inside p, longer by 1..maxstep bits when it can be. */
static void
rand_inside(const struct addr *p, struct addr *c, unsigned maxstep)
{
	unsigned	 full = p->family == ADDR_V4 ? 32 : 128, i;
	struct addr	 r;

	rand_addr(p->family, &r);
	*c = *p;
	c->len = (uint8_t)(p->len + 1 + rnd() % maxstep);
	if (c->len > full)
		c->len = (uint8_t)full;
	for (i = p->len; i < c->len; i++) {
		uint8_t	 bit = (uint8_t)(0x80 >> (i % 8));

		c->a[i / 8] = (uint8_t)((c->a[i / 8] & ~bit) |
		    (r.a[i / 8] & bit));
	}
	addr_mask(c);
}

/* Add or subtract 1 from a host address; 0 on wrap. */
static int
step(struct addr *a, int up)
{
	int	 i = a->family == ADDR_V4 ? 3 : 15;

	for (; i >= 0; i--) {
		if (up ? a->a[i]++ != 0xff : a->a[i]-- != 0)
			return 1;
	}
	return 0;
}

static void
last_of(const struct addr *p, struct addr *x)
{
	unsigned	 full = p->family == ADDR_V4 ? 32 : 128, i;

	*x = *p;
	x->len = (uint8_t)full;
	for (i = p->len; i < full; i++)
		x->a[i / 8] |= (uint8_t)(0x80 >> (i % 8));
}

/* The longest pin containing x; for equal prefixes the lower line. */
static uint32_t
brute(const struct pin *pins, size_t n, const uint32_t *lines,
    const struct addr *x, struct addr *best)
{
	uint32_t	 rule = 0;
	int		 bl = -1;
	size_t		 i;

	for (i = 0; i < n; i++) {
		if (!addr_contains(&pins[i].p, x))
			continue;
		if (pins[i].p.len > bl || (pins[i].p.len == bl &&
		    lines[pins[i].rule] < lines[rule])) {
			bl = pins[i].p.len;
			rule = pins[i].rule;
			*best = pins[i].p;
		}
	}
	return rule;
}

static void
lpm_query(const struct ptab *t, const struct pin *pins, size_t n,
    const uint32_t *lines, const struct addr *x, unsigned *nq)
{
	struct addr	 best, got, m;
	uint32_t	 want, r, e;
	char		 b1[ADDR_STRLEN], b2[ADDR_STRLEN];

	/* A v4-mapped v6 client is an IPv4 one: no v6 prefix holds it. */
	m = *x;
	addr_unmap(&m);
	want = m.family != x->family ? 0 : brute(pins, n, lines, x, &best);
	r = ptab_host_lookup(t, x, &e);
	(*nq)++;
	if (r != want) {
		addr_format(x, b1, sizeof(b1));
		fprintf(stderr, "lpm %s: rule %u, want %u\n", b1, r, want);
		failures++;
		return;
	}
	if (want == 0) {
		CHECK(e == PTAB_NONE);
	} else {
		ptab_entry_addr(t, x->family, e, &got);
		if (got.family != best.family || got.len != best.len ||
		    memcmp(got.a, best.a, 16) != 0) {
			addr_format(&got, b1, sizeof(b1));
			addr_format(&best, b2, sizeof(b2));
			fprintf(stderr, "lpm entry %s, want %s\n", b1, b2);
			failures++;
		}
	}
	if (x->family == ADDR_V4) {
		/* The same client arriving as ::ffff:a.b.c.d. */
		memset(&m, 0, sizeof(m));
		m.family = ADDR_V6;
		m.len = 128;
		m.a[10] = m.a[11] = 0xff;
		memcpy(m.a + 12, x->a, 4);
		CHECK(ptab_host_lookup(t, &m, &e) == want);
		(*nq)++;
	}
}

static void
test_lpm_family(int fam, int with_zero)
{
	struct ptab_builder	*b;
	struct ptab		 t;
	struct pin		*pins;
	struct addr		 root, c, x;
	uint32_t		 lines[LPM_RULES + 1], lists[LPM_RULES];
	uint32_t		 id, r;
	uint8_t			*img;
	size_t			 n = 0, cap = 6000, len, i, k;
	unsigned		 nq = 0, full = fam == ADDR_V4 ? 32 : 128;
	char			 err[256];
	int			 depth;

	CHECK((pins = calloc(cap, sizeof(*pins))) != NULL);
	CHECK((b = ptab_builder_new()) != NULL);
	lines[0] = 0;
	/* Lines shuffled against rule ids: the lower line must win. */
	for (r = 1; r <= LPM_RULES; r++) {
		lines[r] = 1000 + (uint32_t)((r * 7919) % 997);
		CHECK(ptab_builder_list(b, "l", lines[r], &lists[r - 1]) == 0);
		CHECK(add_rule(b, lines[r], PTAB_RULE_LIST,
		    (uint8_t)(r % 2), (uint8_t)(r % 4), NULL, lists[r - 1],
		    NULL) == (int)r);
	}
	if (with_zero) {
		memset(&pins[n].p, 0, sizeof(pins[n].p));
		pins[n].p.family = (uint8_t)fam;
		pins[n++].rule = 1;
	}
	while (n < cap - 200) {
		rand_addr(fam, &root);
		root.len = (uint8_t)(1 + rnd() % (fam == ADDR_V4 ? 16 : 48));
		addr_mask(&root);
		pins[n].p = root;
		pins[n++].rule = 1 + (uint32_t)(rnd() % LPM_RULES);
		/* A nest under it, with siblings at each level. */
		c = root;
		for (depth = 0; depth < 12 && c.len < full; depth++) {
			struct addr	 sib;

			rand_inside(&c, &c, fam == ADDR_V4 ? 3 : 12);
			pins[n].p = c;
			pins[n++].rule = 1 + (uint32_t)(rnd() % LPM_RULES);
			if (rnd() % 3 == 0) {
				sib = c;
				sib.a[(c.len - 1) / 8] ^=
				    (uint8_t)(0x80 >> ((c.len - 1) % 8));
				pins[n].p = sib;
				pins[n++].rule = 1 +
				    (uint32_t)(rnd() % LPM_RULES);
			}
			/* Sometimes the same prefix for another rule. */
			if (rnd() % 8 == 0) {
				pins[n].p = c;
				pins[n++].rule = 1 +
				    (uint32_t)(rnd() % LPM_RULES);
			}
		}
	}
	for (i = 0; i < n; i++)
		CHECK(ptab_builder_prefix(b, pins[i].rule, &pins[i].p) == 0);
	CHECK(ptab_build(b, NULL, NULL, &img, &len, err, sizeof(err)) == 0);
	ptab_builder_free(b);
	CHECK(ptab_load(&t, img, len, err, sizeof(err)) == 0);

	for (i = 0; i < n; i++) {
		/* Both edges of every prefix, and just outside them. */
		x = pins[i].p;
		x.len = (uint8_t)full;
		lpm_query(&t, pins, n, lines, &x, &nq);
		if (step(&x, 0))
			lpm_query(&t, pins, n, lines, &x, &nq);
		last_of(&pins[i].p, &x);
		lpm_query(&t, pins, n, lines, &x, &nq);
		if (step(&x, 1))
			lpm_query(&t, pins, n, lines, &x, &nq);
		rand_inside(&pins[i].p, &c, full);
		c.len = (uint8_t)full;
		lpm_query(&t, pins, n, lines, &c, &nq);
	}
	for (k = 0; k < 3000; k++) {
		rand_addr(fam, &x);
		lpm_query(&t, pins, n, lines, &x, &nq);
	}
	printf("lpm %s%s: %zu prefixes (%u kept), %u lookups checked\n",
	    fam == ADDR_V4 ? "v4" : "v6", with_zero ? " with /0" : "", n,
	    fam == ADDR_V4 ? t.nv4 : t.nv6, nq);
	(void)id;
	free(img);
	free(pins);
}

/* ---- Hostile tables ------------------------------------------------------ */

static const char *const probe_addrs[] = {
	"0.0.0.0", "255.255.255.255", "10.0.0.0", "10.1.2.130", "10.1.2.131",
	"10.9.9.9", "192.0.2.10", "192.0.2.255", "127.0.0.1", "11.255.255.255",
	"::", "::1", "2001:db8::", "2001:db8:1:2::1", "2001:db8:bad::1",
	"fe80::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	"::ffff:10.1.2.3", "::ffff:0.0.0.0", "8000::",
};
static const char *const probe_doms[] = {
	"sf.example", "a.sf.example", "ny.example", "example", "a.example",
	"x.b.example", "", "*", ".example", "A.B.C.D.E.F.example",
};

/* What bastiond and the tools do with a table that loaded. */
static unsigned
exercise(const struct ptab *t)
{
	const struct ptab_domain_rec	*d;
	struct addr			 a;
	unsigned			 sum = 0;
	uint32_t			 i, e, j;
	size_t				 k;

	for (k = 0; k < sizeof(probe_addrs) / sizeof(probe_addrs[0]); k++) {
		a = A(probe_addrs[k]);
		i = ptab_host_lookup(t, &a, &e);
		sum += t->rules[i].line + t->rules[i].action;
		sum += ptab_str(t, t->rules[i].as_user)[0];
		if (e != PTAB_NONE) {
			ptab_entry_addr(t, a.family, e, &a);
			sum += a.len;
		}
	}
	for (k = 0; k < sizeof(probe_doms) / sizeof(probe_doms[0]); k++) {
		const char	*q = probe_doms[k];
		size_t		 n = strlen(q);

		if ((d = ptab_accept_lookup(t, q, n)) != NULL)
			sum += ptab_str(t, d->target)[0];
		if ((d = ptab_outbound_lookup(t, q, n)) != NULL) {
			sum += ptab_str(t, d->user)[0];
			if (d->secret != PTAB_NONE)
				for (j = 0; j < d->secret_len; j++)
					sum += t->blobs[d->secret + j];
		}
		if (ptab_user_lookup(t, q, n) != NULL)
			sum++;
	}
	/* Everything dump would print. */
	for (i = 0; i < t->nrules; i++)
		sum += strlen(ptab_str(t, t->rules[i].as_user));
	for (i = 0; i < t->nlists; i++)
		sum += strlen(ptab_str(t, t->lists[i].name));
	for (i = 0; i < t->nusers; i++)
		sum += strlen(ptab_str(t, t->users[i].name)) +
		    strlen(ptab_str(t, t->users[i].verifier));
	for (i = 0; i < t->nv4; i++) {
		ptab_entry_addr(t, ADDR_V4, i, &a);
		sum += a.len + t->rules[PTAB_ENTRY_RULE(&t->v4ent[i])].line;
	}
	for (i = 0; i < t->nv6; i++) {
		ptab_entry_addr(t, ADDR_V6, i, &a);
		sum += a.len + t->rules[PTAB_ENTRY_RULE(&t->v6ent[i])].line;
	}
	sum += strlen(ptab_str(t, t->server->hostname));
	return sum;
}

static void
test_hostile(int v)
{
	static const int	 deltas[] = { 0x01, 0x02, 0x04, 0x08, 0x10,
				    0x20, 0x40, 0x80, 0xff };
	struct ptab		 t;
	uint8_t			*img, *c;
	size_t			 len, pos, k, co;
	unsigned		 refused = 0, loaded = 0, fixed_refused = 0;
	unsigned		 sink = 0;
	char			 err[256];

	CHECK(sample_table(v, &img, &len, err, sizeof(err)) == 0);
	co = offsetof(struct ptab_header, checksum);

	/* Every truncation. */
	for (pos = 0; pos < len; pos++) {
		c = copy_of(img, pos);
		err[0] = '\0';
		if (ptab_load(&t, c, pos, err, sizeof(err)) == 0) {
			fprintf(stderr, "sample %d truncated to %zu loaded\n",
			    v, pos);
			failures++;
		} else {
			CHECK(err[0] != '\0');
			note_reason(err);
			refused++;
		}
		free(c);
	}
	/* One byte longer is refused too. */
	c = calloc(1, len + 8);
	memcpy(c, img, len);
	CHECK(ptab_load(&t, c, len + 8, err, sizeof(err)) == -1);
	note_reason(err);
	free(c);

	c = copy_of(img, len);
	for (pos = 0; pos < len; pos++) {
		for (k = 0; k < sizeof(deltas) / sizeof(deltas[0]); k++) {
			uint8_t	 old = c[pos];

			/* As is: the checksum (or the header) refuses. */
			c[pos] ^= (uint8_t)deltas[k];
			err[0] = '\0';
			if (ptab_load(&t, c, len, err, sizeof(err)) == 0) {
				fprintf(stderr, "sample %d byte %zu ^ %#x "
				    "loaded\n", v, pos, deltas[k]);
				failures++;
			} else {
				CHECK(err[0] != '\0');
				note_reason(err);
				refused++;
			}
			/* Fixed up: refused, or it loads and holds up. */
			if (pos < co || pos >= co + PTAB_CHECKSUM_SIZE) {
				fix_checksum(c, len);
				err[0] = '\0';
				if (ptab_load(&t, c, len, err,
				    sizeof(err)) == 0) {
					sink += exercise(&t);
					loaded++;
				} else {
					CHECK(err[0] != '\0');
					note_reason(err);
					fixed_refused++;
				}
			}
			memcpy(c, img, len);
			c[pos] = old;
		}
	}
	free(c);
	printf("sample %d (%zu bytes): %u truncated or changed tables "
	    "refused; with the checksum fixed up %u refused, %u loaded and "
	    "survived lookups (digest %08x)\n", v, len, refused,
	    fixed_refused, loaded, sink);
	free(img);
}

/*
 * Each of these breaks one rule of the format in a way the checksum
 * cannot see (it is fixed up): the reader must name what is wrong.
 */
enum corrupt {
	C_RULE0, C_RULEBIG, C_PARENT, C_ORDER, C_HOSTBITS, C_LEN, C_INDEX,
	C_STRREF, C_STRNUL, C_DEFAULT, C_KIND, C_LIST, C_DOMORDER, C_SECRET,
	C_MECHS, C_USERORDER, C_V6PARENT, C_DELIVERY, C_PAD, C_ALIGN,
	C_OVERLAP, C_COUNT, C_SECID, C_NSEC, C_ADDRRULE,
	/* Numbers outside the range policyc accepts (bastion_limits.h). */
	C_MSGSIZE, C_RCPTS, C_CONNS, C_CONNS_HOST, C_AUTHFAIL, C_TO_COMMAND,
	C_TO_DATA, C_TO_CONNECT, C_LIFETIME, C_RETRY, C_MECHVAL, C_LPORT,
	C_LTLS, C_LREQUIRE, C_REQUIRE, C_FLAGS, C_ACTION, C_PLEN, C_FWDPORT,
	C_RELAYPORT, C_MAILDIRPORT, C_MAILDIRTLS, C_TLSLEVEL, C_DOMMECH,
	C_AUTHNOUSER, C_AUTHNOSECRET, C_AUTHTLS, C_ACCEPTAUTH, C_SECRETLEN,
	C_ARGON2T, C_SCRAMITER,
	/* The version 2 sections. */
	C_RSTRREF, C_RSIZE, C_RPROBE, C_RCOUNT, C_RUPPER, C_RHOME, C_ACCRCPT,
	C_SENDER, C_SENDRANGE, C_PROXYLEN, C_PROXYLIST, C_CONTROL, C_MAX
};

static const struct {
	int		 sample;
	const char	*want;
} corrupt_want[C_MAX] = {
	[C_RULE0] = { 1, "names rule 0, which is not a host rule" },
	[C_RULEBIG] = { 1, "names rule 99, which is not a host rule" },
	[C_PARENT] = { 2, "has the wrong parent" },
	[C_ORDER] = { 2, "is out of order" },
	[C_HOSTBITS] = { 2, "has host bits set" },
	[C_LEN] = { 2, "has length 33" },
	[C_INDEX] = { 2, "index slot" },
	[C_STRREF] = { 1, "bad name reference" },
	[C_STRNUL] = { 1, "does not end with a NUL" },
	[C_DEFAULT] = { 1, "rule 0 is not the default" },
	[C_KIND] = { 1, "rule 2 is a second default" },
	[C_LIST] = { 1, "bad list index" },
	[C_DOMORDER] = { 3, "outbound 1 is out of order" },
	[C_SECRET] = { 1, "secret outside the blob section" },
	[C_MECHS] = { 1, "auth mechanism list is malformed" },
	[C_USERORDER] = { 1, "user 1 is out of order" },
	[C_V6PARENT] = { 2, "v6 prefix 1 has the wrong parent" },
	[C_DELIVERY] = { 1, "has bad delivery" },
	[C_PAD] = { 1, "nonzero padding in rule" },
	[C_ALIGN] = { 1, "is not 8-byte aligned" },
	[C_OVERLAP] = { 1, "overlaps what comes before it" },
	[C_COUNT] = { 1, "records take" },
	[C_SECID] = { 1, "appears twice" },
	[C_NSEC] = { 1, "the directory has 18 sections, not 19" },
	[C_ADDRRULE] = { 2, "is not the prefix of its rule" },
	[C_MSGSIZE] = { 1, "message-size limit is 0, out of range (1 to "
	    "18446744073709551615)" },
	[C_RCPTS] = { 1, "recipient limit is 0, out of range (1 to "
	    "4294967295)" },
	[C_CONNS] = { 1, "the server's connection limit is 0, out of range" },
	[C_CONNS_HOST] = { 1, "per-host connection limit is 0, out of range" },
	[C_AUTHFAIL] = { 1, "auth-failure limit is 0, out of range" },
	[C_TO_COMMAND] = { 1, "command timeout is 0, out of range" },
	[C_TO_DATA] = { 1, "data timeout is 0, out of range" },
	[C_TO_CONNECT] = { 1, "connect timeout is 0, out of range" },
	[C_LIFETIME] = { 1, "queue lifetime is 0, out of range" },
	[C_RETRY] = { 1, "the server's queue retry is 0, out of range (1 to "
	    "4294967295)" },
	[C_MECHVAL] = { 1, "the server's auth mechanisms include "
	    "unknown mechanism 4" },
	[C_LPORT] = { 1, "listener 1 has port 0, out of range (1 to 65535)" },
	[C_LTLS] = { 1, "listener 0 has tls 2, not 0 or 1" },
	[C_LREQUIRE] = { 1, "listener 2 has unknown require bits 0x7" },
	[C_REQUIRE] = { 1, "rule 1 has unknown require bits 0x7" },
	[C_FLAGS] = { 1, "rule 3 has unknown flag bits 0x4" },
	[C_ACTION] = { 1, "rule 2 has unknown action 2" },
	[C_PLEN] = { 1, "has a bad prefix" },
	[C_FWDPORT] = { 1, "accept 0 has port 0, out of range (1 to 65535)" },
	[C_RELAYPORT] = { 1, "outbound 1 has port 0, out of range" },
	[C_MAILDIRPORT] = { 1, "accept 1 delivers to a maildir but has a "
	    "port" },
	[C_MAILDIRTLS] = { 1, "accept 1 delivers to a maildir but has a "
	    "port or a tls level" },
	[C_TLSLEVEL] = { 1, "outbound 0 has unknown tls level 4" },
	[C_DOMMECH] = { 1, "outbound 1 has unknown auth mechanism 4" },
	[C_AUTHNOUSER] = { 1, "outbound 1 has an incomplete auth clause" },
	[C_AUTHNOSECRET] = { 1, "outbound 1 has an incomplete auth clause" },
	[C_AUTHTLS] = { 1, "outbound 1 sends credentials with tls level 1, "
	    "below required" },
	[C_ACCEPTAUTH] = { 1, "accept 0 has an incomplete auth clause" },
	[C_SECRETLEN] = { 1, "outbound 1 has a secret of 1081 bytes, out of "
	    "range (1 to 1080)" },
	[C_ARGON2T] = { 1, "user 0 (alice) has a bad verifier: argon2id" },
	[C_SCRAMITER] = { 1, "user 1 (ims-ny) has a bad verifier: SCRAM" },
	[C_RSTRREF] = { 1, "has a bad string reference" },
	[C_RSIZE] = { 1, "recipients list 0 has a bad slot range or size" },
	[C_RPROBE] = { 1, "recipients list 0 has a bad slot range or size" },
	[C_RCOUNT] = { 1, "recipients list 0 holds 3 local parts, not 4" },
	[C_RUPPER] = { 1, "is not a lower-case local part" },
	[C_RHOME] = { 1, "slots from its home" },
	[C_ACCRCPT] = { 1, "accept 1 has a bad recipients list" },
	[C_SENDER] = { 1, "has a bad string reference" },
	[C_SENDRANGE] = { 1, "has a bad sender range" },
	[C_PROXYLEN] = { 1, "proxy prefix 0 is malformed" },
	[C_PROXYLIST] = { 1, "listener 3 has a bad proxy set" },
	[C_CONTROL] = { 1, "server setting 7 has a bad string reference" },
};

/* Overwrite the first from in t's strings (inside image c) with to. */
static void
patch_str(uint8_t *c, const struct ptab *t, const char *from,
    const char *to)
{
	size_t	 n = strlen(from), i;
	uint8_t	*s = c + ((const uint8_t *)t->str - t->base);

	for (i = 0; i + n <= t->strsize; i++)
		if (memcmp(s + i, from, n) == 0) {
			memcpy(s + i, to, n);
			return;
		}
	fprintf(stderr, "patch_str: no '%s' in the strings\n", from);
	failures++;
}

static void
test_corrupt(void)
{
	struct ptab			 t;
	struct ptab_section_rec		*dir;
	struct ptab_entry_rec		*ent;
	struct ptab_rule_rec		*rr;
	struct ptab_domain_rec		*dr, *ar;
	struct ptab_server_rec		*sr;
	struct ptab_listener_rec	*lr;
	struct ptab_user_rec		*ur, tmpu;
	uint32_t			*keys, *idx;
	uint8_t				*img, *c;
	size_t				 len;
	uint32_t			 i, j;
	char				 err[256];
	int				 k;

	for (k = 0; k < C_MAX; k++) {
		CHECK(sample_table(corrupt_want[k].sample, &img, &len, err,
		    sizeof(err)) == 0);
		c = copy_of(img, len);
		CHECK(ptab_load(&t, c, len, err, sizeof(err)) == 0);
#define AT(type, p)	((type)(uintptr_t)(c + ((const uint8_t *)(p) - \
			    t.base)))
		dir = (struct ptab_section_rec *)(c + PTAB_HEADER_SIZE);
		ent = AT(struct ptab_entry_rec *, t.v4ent);
		keys = AT(uint32_t *, t.v4keys);
		idx = AT(uint32_t *, t.v4index);
		rr = AT(struct ptab_rule_rec *, t.rules);
		dr = AT(struct ptab_domain_rec *, t.outbound);
		ur = AT(struct ptab_user_rec *, t.users);
		ar = AT(struct ptab_domain_rec *, t.accept);
		sr = AT(struct ptab_server_rec *, t.server);
		lr = AT(struct ptab_listener_rec *, t.listeners);
		switch (k) {
		case C_RULE0:
			ent[0].rule_len &= 0xff;
			break;
		case C_RULEBIG:
			ent[1].rule_len = 99u << 8 | (ent[1].rule_len & 0xff);
			break;
		case C_PARENT:
			ent[3].parent = 1;	/* 10.1.2.0/24 is under /16 */
			break;
		case C_ORDER:
			keys[2] = 0x09000000;	/* 9.0.0.0/16 after 10/8 */
			break;
		case C_HOSTBITS:
			keys[1] |= 1;
			break;
		case C_LEN:
			ent[1].rule_len = (ent[1].rule_len & ~0xffu) | 33;
			break;
		case C_INDEX:
			idx[1]++;
			break;
		case C_STRREF:
			AT(struct ptab_list_rec *, t.lists)[0].name =
			    t.strsize;
			break;
		case C_STRNUL:
			c[(const uint8_t *)t.str - t.base + t.strsize - 1] =
			    'x';
			break;
		case C_DEFAULT:
			rr[0].kind = PTAB_RULE_ADDR;
			break;
		case C_KIND:
			rr[2].kind = PTAB_RULE_DEFAULT;
			break;
		case C_LIST:
			rr[1].list = t.nlists;
			break;
		case C_DOMORDER:
			dr[1].domain = dr[0].domain;
			break;
		case C_SECRET:
			dr[0].secret_len = t.nblobs + 1;
			break;
		case C_MECHS:
			AT(struct ptab_server_rec *, t.server)->mechs[1] =
			    PTAB_MECH_SCRAM_SHA_256;
			break;
		case C_USERORDER:
			tmpu = ur[0];
			ur[0] = ur[1];
			ur[1] = tmpu;
			break;
		case C_V6PARENT:
			AT(struct ptab_entry_rec *, t.v6ent)[1].parent =
			    PTAB_NONE;
			break;
		case C_DELIVERY:
			dr[0].delivery = PTAB_DELIVER_MAILDIR;
			break;
		case C_PAD:
			rr[1].pad[1] = 1;
			break;
		case C_ALIGN:
			dir[3].offset += 4;
			break;
		case C_OVERLAP:
			dir[3].offset -= 8;
			break;
		case C_COUNT:
			dir[3].count++;
			break;
		case C_SECID:
			dir[5].id = dir[4].id;
			break;
		case C_NSEC:
			((struct ptab_header *)c)->nsections--;
			break;
		case C_ADDRRULE:
			/* Rule of 10.0.0.0/8 claims 11.0.0.0/8. */
			rr[PTAB_ENTRY_RULE(&ent[1])].prefix[0] = 11;
			break;
		case C_MSGSIZE:
			sr->max_msgsize = 0;
			break;
		case C_RCPTS:
			sr->max_rcpts = 0;
			break;
		case C_CONNS:
			sr->max_conns = 0;
			break;
		case C_CONNS_HOST:
			sr->max_conns_host = 0;
			break;
		case C_AUTHFAIL:
			sr->max_authfail = 0;
			break;
		case C_TO_COMMAND:
			sr->to_command = 0;
			break;
		case C_TO_DATA:
			sr->to_data = 0;
			break;
		case C_TO_CONNECT:
			sr->to_connect = 0;
			break;
		case C_LIFETIME:
			sr->lifetime = 0;
			break;
		case C_RETRY:
			sr->retry = 0;		/* policyc: "at least 1s" */
			break;
		case C_MECHVAL:
			sr->mechs[2] = PTAB_MECH_SCRAM_SHA_256 + 1;
			break;
		case C_LPORT:
			lr[1].port = 0;
			break;
		case C_LTLS:
			lr[0].tls = 2;
			break;
		case C_LREQUIRE:
			lr[2].require |= 4;
			break;
		case C_REQUIRE:
			rr[1].require |= 4;
			break;
		case C_FLAGS:
			rr[3].flags |= 4;
			break;
		case C_ACTION:
			rr[2].action = PTAB_ACT_DENY + 1;
			break;
		case C_PLEN:
			rr[2].plen = 33;	/* 192.0.2.10 */
			break;
		case C_FWDPORT:
			ar[0].port = 0;		/* .sf.example, forward */
			break;
		case C_RELAYPORT:
			dr[1].port = 0;		/* ny.example */
			break;
		case C_MAILDIRPORT:
			ar[1].port = 25;	/* sf.example, maildir */
			break;
		case C_MAILDIRTLS:
			ar[1].tls = PTAB_TLS_REQUIRED;
			break;
		case C_TLSLEVEL:
			dr[0].tls = PTAB_TLS_VERIFY + 1;
			break;
		case C_DOMMECH:
			dr[1].mech = PTAB_MECH_SCRAM_SHA_256 + 1;
			break;
		case C_AUTHNOUSER:
			dr[1].user = 0;
			break;
		case C_AUTHNOSECRET:
			dr[1].secret = PTAB_NONE;
			dr[1].secret_len = 0;
			break;
		case C_AUTHTLS:
			dr[1].tls = PTAB_TLS_OPPORTUNISTIC;
			break;
		case C_ACCEPTAUTH:
			ar[0].mech = PTAB_MECH_PLAIN;
			ar[0].user = dr[1].user;
			break;
		case C_SECRETLEN:
			dr[1].secret_len = SEAL_MAX_SEALED + 1;
			break;
		case C_ARGON2T:
			/* t=3 becomes t=0: no passes at all. */
			patch_str(c, &t, "t=3,", "t=0,");
			break;
		case C_SCRAMITER:
			/* 4096 iterations become 1096, below RFC 7677's 4096. */
			patch_str(c, &t, "$4096:", "$1096:");
			break;
		case C_RSTRREF:
		case C_RUPPER:
		case C_RHOME:
			for (i = 0; i < t.nrslots && t.rslots[i] == 0; i++)
				;
			if (k == C_RSTRREF)
				AT(uint32_t *, t.rslots)[i] = t.strsize;
			else if (k == C_RUPPER)
				c[(const uint8_t *)t.str - t.base +
				    t.rslots[i]] = 'B';
			else {
				/* Move a part one slot past its place. */
				for (j = i + 1; j < t.nrslots &&
				    t.rslots[j] != 0; j++)
					;
				AT(uint32_t *, t.rslots)[(j + 1) %
				    t.nrslots] = t.rslots[i];
				AT(uint32_t *, t.rslots)[i] = 0;
			}
			break;
		case C_RSIZE:
			AT(struct ptab_rcpt_rec *, t.rcpts)[0].nslots = 3;
			break;
		case C_RPROBE:
			AT(struct ptab_rcpt_rec *, t.rcpts)[0].maxprobe =
			    PTAB_RCPT_MAXPROBE + 1;
			break;
		case C_RCOUNT:
			AT(struct ptab_rcpt_rec *, t.rcpts)[0].count++;
			break;
		case C_ACCRCPT:
			/* sf.example sorts after .sf.example. */
			AT(struct ptab_domain_rec *, t.accept)[1].rcpt_list = 1;
			break;
		case C_SENDER:
			AT(uint32_t *, t.senders)[0] = t.strsize + 3;
			break;
		case C_SENDRANGE:
			ur[0].nsenders = 1;	/* alice's start is 0 */
			ur[1].nsenders = 3;
			break;
		case C_PROXYLEN:
			AT(struct ptab_proxy_rec *, t.proxy)[0].plen = 33;
			break;
		case C_PROXYLIST:
			AT(struct ptab_listener_rec *,
			    t.listeners)[3].proxy_list = 7;
			break;
		case C_CONTROL:
			AT(struct ptab_server_rec *, t.server)->control =
			    t.strsize;
			break;
		}
#undef AT
		fix_checksum(c, len);
		err[0] = '\0';
		if (ptab_load(&t, c, len, err, sizeof(err)) != -1 ||
		    strstr(err, corrupt_want[k].want) == NULL) {
			fprintf(stderr, "corruption %d: got '%s', want '%s'\n",
			    k, err, corrupt_want[k].want);
			failures++;
		} else
			printf("corruption %2d refused: %s\n", k, err);
		free(c);
		free(img);
	}
}

/*
 * Recipients, senders and proxy sets of the full sample: local parts
 * match in any case, postmaster always, senders by address or domain.
 */
static void
test_mail(void)
{
	struct ptab			 t;
	const struct ptab_domain_rec	*d;
	const struct ptab_user_rec	*u;
	struct addr			 a;
	uint8_t				*img;
	size_t				 len;
	char				 err[256], big[80];

	CHECK(sample_table(1, &img, &len, err, sizeof(err)) == 0);
	CHECK(ptab_load(&t, img, len, err, sizeof(err)) == 0);
	CHECK(t.nrcpts == 1 && t.rcpts[0].count == 3 &&
	    t.rcpts[0].nslots == 8 && t.rcpts[0].line == 38);
	CHECK((d = ptab_accept_lookup(&t, "SF.example", 10)) != NULL);
	CHECK(d->rcpts == PTAB_RCPTS_LIST && d->rcpt_list == 0);
#define KNOWN(s)	ptab_rcpt_known(&t, d, s, strlen(s))
	CHECK(KNOWN("alice") && KNOWN("ALICE") && KNOWN("Alice"));
	CHECK(KNOWN("bob") && KNOWN("BOB") && KNOWN("carol"));
	CHECK(KNOWN("postmaster") && KNOWN("PostMaster"));
	CHECK(!KNOWN("zed") && !KNOWN("alic") && !KNOWN("alicex") &&
	    !KNOWN("") && !KNOWN("postmaste"));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(!KNOWN(big));
	CHECK(ptab_rcpt_in(&t, 0, "Carol", 5) &&
	    !ptab_rcpt_in(&t, 0, "postmaster", 10) &&
	    !ptab_rcpt_in(&t, 1, "alice", 5));
	/* A forward rule without a list takes every local part. */
	CHECK((d = ptab_accept_lookup(&t, "a.sf.example", 12)) != NULL);
	CHECK(d->rcpts == PTAB_RCPTS_UNSET && KNOWN("anyone"));
#undef KNOWN

#define SENDER(s)	ptab_sender_ok(&t, u, s, strlen(s))
	CHECK((u = ptab_user_lookup(&t, "alice", 5)) != NULL);
	CHECK(u->nsenders == 2);
	CHECK(SENDER("alice@sf.example") && SENDER("ALICE@SF.Example"));
	CHECK(SENDER("bob@ny.example") && SENDER("x@NY.EXAMPLE"));
	CHECK(SENDER(""));		/* <> */
	CHECK(!SENDER("bob@sf.example") && !SENDER("alice@sf.example.org") &&
	    !SENDER("x@sub.ny.example") && !SENDER("alice") &&
	    !SENDER("xalice@sf.example") && !SENDER("@sf.example"));
	CHECK((u = ptab_user_lookup(&t, "ims-ny", 6)) != NULL);
	CHECK(u->nsenders == 0 && SENDER("anyone@anywhere.example"));
#undef SENDER

	CHECK(t.nlisteners == 4 && t.listeners[3].proxy == 1 &&
	    t.listeners[3].nproxy == 1 && t.listeners[3].proxy_list == 2);
	sample_addr("10.0.0.2", &a);
	CHECK(ptab_listener_proxy(&t, &t.listeners[3], &a));
	CHECK(!ptab_listener_proxy(&t, &t.listeners[0], &a));
	sample_addr("::ffff:10.0.0.2", &a);
	CHECK(ptab_listener_proxy(&t, &t.listeners[3], &a));
	sample_addr("10.0.0.3", &a);
	CHECK(!ptab_listener_proxy(&t, &t.listeners[3], &a));
	CHECK(strcmp(ptab_str(&t, t.server->control),
	    "var/control.sock") == 0);
	free(img);
}

/* Tables the fuzzer starts from must still load. */
static void
test_seeds(void)
{
	const char	*src = getenv("top_srcdir");
	char		 path[4096], err[256];
	struct ptab	 t;
	int		 v;

	if (src == NULL)
		src = ".";
	for (v = 0; v < SAMPLE_VARIANTS; v++) {
		uint8_t	*img;
		size_t	 len;
		FILE	*f;
		uint8_t	 buf[8192];
		size_t	 n;

		snprintf(path, sizeof(path), "%s/fuzz/seeds/ptab/sample%d.bin",
		    src, v);
		if (ptab_open(&t, path, err, sizeof(err)) == -1) {
			fprintf(stderr, "%s: %s\n", path, err);
			failures++;
			continue;
		}
		ptab_close(&t);
		/* And they are exactly what the builder makes today. */
		CHECK(sample_table(v, &img, &len, err, sizeof(err)) == 0);
		CHECK((f = fopen(path, "rb")) != NULL);
		if (f != NULL) {
			n = fread(buf, 1, sizeof(buf), f);
			fclose(f);
			if (n != len || memcmp(buf, img, len) != 0) {
				fprintf(stderr, "%s is stale: run "
				    "tests/unit/gen_ptab_seeds\n", path);
				failures++;
			}
		}
		free(img);
	}
}

static void
test_files(void)
{
	struct ptab	 t;
	struct stat	 st;
	uint8_t		*img;
	size_t		 len;
	char		 dir[] = "/tmp/ptab_test.XXXXXX", path[256], err[256];
	FILE		*f;
	DIR		*dp;
	struct dirent	*de;
	int		 nfiles = 0;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/t.ptab", dir);
	CHECK(sample_table(1, &img, &len, err, sizeof(err)) == 0);
	CHECK(ptab_write_file(path, img, len, err, sizeof(err)) == 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644 &&
	    (size_t)st.st_size == len);
	CHECK(ptab_open(&t, path, err, sizeof(err)) == 0);
	CHECK(t.mapped == 1 && line_of(&t, "10.9.9.9") == 29);
	ptab_close(&t);
	CHECK(t.base == NULL);
	/* Replacing it leaves no temporary file behind. */
	CHECK(ptab_write_file(path, img, len, err, sizeof(err)) == 0);
	if ((dp = opendir(dir)) != NULL) {
		while ((de = readdir(dp)) != NULL)
			nfiles += de->d_name[0] != '.';
		closedir(dp);
	}
	CHECK(nfiles == 1);

	CHECK(ptab_open(&t, dir, err, sizeof(err)) == -1);
	printf("open a directory: %s\n", err);
	snprintf(path, sizeof(path), "%s/missing", dir);
	CHECK(ptab_open(&t, path, err, sizeof(err)) == -1);
	printf("open a missing file: %s\n", err);
	snprintf(path, sizeof(path), "%s/empty", dir);
	CHECK((f = fopen(path, "w")) != NULL);
	if (f != NULL)
		fclose(f);
	CHECK(ptab_open(&t, path, err, sizeof(err)) == -1);
	printf("open an empty file: %s\n", err);
	unlink(path);
	snprintf(path, sizeof(path), "%s/nodir/t.ptab", dir);
	CHECK(ptab_write_file(path, img, len, err, sizeof(err)) == -1);
	printf("write into a missing folder: %s\n", err);
	snprintf(path, sizeof(path), "%s/t.ptab", dir);
	unlink(path);
	CHECK(rmdir(dir) == 0);
	free(img);
}

/* Write len bytes at p over the file at path in place, as cp(1) does. */
static int
rewrite_in_place(const char *path, const uint8_t *p, size_t len)
{
	FILE	*f;
	int	 ok;

	if ((f = fopen(path, "r+b")) == NULL)
		return -1;
	ok = ftruncate(fileno(f), 0) == 0 && fwrite(p, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/*
 * A table truncated and then overwritten in place under an open one:
 * the reader keeps answering from the image it validated (a mapping
 * of the file gave SIGBUS after the truncation, then records nobody
 * had checked).
 */
static void
test_in_place(void)
{
	const struct ptab_domain_rec	*d;
	struct ptab			 t, u;
	uint8_t				*img, *other;
	size_t				 len, olen;
	char				 dir[] = "/tmp/test_ptab.XXXXXX";
	char				 path[256], err[256];
	int				 v;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/site.ptab", dir);
	CHECK(sample_table(1, &img, &len, err, sizeof(err)) == 0);
	CHECK(ptab_write_file(path, img, len, err, sizeof(err)) == 0);
	CHECK(ptab_open(&t, path, err, sizeof(err)) == 0);
	CHECK(truncate(path, 0) == 0);
	CHECK(t.size == len && memcmp(t.base, img, len) == 0);
	CHECK(line_of(&t, "10.9.9.9") == 29);
	for (v = 0; v < SAMPLE_VARIANTS; v++) {
		if (v == 1)
			continue;
		CHECK(sample_table(v, &other, &olen, err, sizeof(err)) == 0);
		CHECK(rewrite_in_place(path, other, olen) == 0);
		/* The new bytes are a good table, for the next reload. */
		CHECK(ptab_open(&u, path, err, sizeof(err)) == 0);
		ptab_close(&u);
		CHECK(t.size == len && memcmp(t.base, img, len) == 0);
		CHECK(line_of(&t, "192.0.2.10") == 26);
		CHECK(line_of(&t, "10.9.9.9") == 29);
		CHECK(line_of(&t, "2001:db8:bad::1") == 27);
		CHECK(line_of(&t, "::1") == 20);
		d = ptab_accept_lookup(&t, "a.b.sf.example", 14);
		CHECK(d != NULL && strcmp(dom(d, &t), ".sf.example") == 0);
		CHECK(ptab_user_lookup(&t, "alice", 5) != NULL);
		free(other);
	}
	ptab_close(&t);
	printf("in place: a table truncated and rewritten under an open "
	    "one still answers as it did\n");
	unlink(path);
	CHECK(rmdir(dir) == 0);
	free(img);
}

/* A table whose route ny.example (line 43) holds secret, ims-sf's. */
static int
secret_table(const uint8_t *secret, size_t n, uint8_t **img, size_t *len)
{
	struct ptab_builder	*b;
	struct ptab_domain_in	 d;
	char			 err[256];
	int			 rc;

	if ((b = ptab_builder_new()) == NULL)
		return -1;
	memset(&d, 0, sizeof(d));
	d.domain = "ny.example";
	d.line = 43;
	d.delivery = PTAB_DELIVER_RELAY;
	d.port = 2525;
	d.tls = PTAB_TLS_REQUIRED;
	d.mech = PTAB_MECH_PLAIN;
	d.user = "ims-sf";
	d.secret = secret;
	d.secret_len = n;
	rc = ptab_builder_outbound(b, &d);
	memset(&d, 0, sizeof(d));
	d.domain = "*";
	d.line = 45;
	d.delivery = PTAB_DELIVER_RELAY;
	d.port = 25;
	if (rc == 0)
		rc = ptab_builder_outbound(b, &d);
	if (rc == 0)
		rc = ptab_build(b, NULL, NULL, img, len, err, sizeof(err));
	ptab_builder_free(b);
	return rc;
}

/* ptab_open_secrets: the right key, another key, no key, no secret. */
static void
test_secrets(void)
{
	struct seal_pub	 pa;
	struct seal_key	*ka = NULL, *kb = NULL;
	struct ptab	 t;
	uint8_t		*img, sealed[SEAL_MAX_SEALED];
	size_t		 len;
	long		 n;
	char		 dir[] = "/tmp/test_ptab.XXXXXX", path[256];
	char		 err[512], tok[2 * SEAL_MAX_SEALED];
	char		 ida[SEAL_KEYID_HEXLEN + 1], idb[SEAL_KEYID_HEXLEN + 1];
	static const char pw[] = "ims-sf's outbound password";

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/a", dir);
	CHECK(seal_keygen(path, err, sizeof(err)) == 0);
	snprintf(path, sizeof(path), "%s/b", dir);
	CHECK(seal_keygen(path, err, sizeof(err)) == 0);
	snprintf(path, sizeof(path), "%s/a.pub", dir);
	CHECK(seal_pub_load(path, &pa, err, sizeof(err)) == 0);
	snprintf(path, sizeof(path), "%s/a.key", dir);
	CHECK(seal_key_load(path, &ka, err, sizeof(err)) == 0);
	snprintf(path, sizeof(path), "%s/b.key", dir);
	CHECK(seal_key_load(path, &kb, err, sizeof(err)) == 0);
	if (ka == NULL || kb == NULL)
		goto out;
	seal_keyid_hex(ka->id, ida);
	seal_keyid_hex(kb->id, idb);
	CHECK(seal_token(&pa, (const uint8_t *)pw, strlen(pw), tok,
	    sizeof(tok), err, sizeof(err)) == 0);
	n = seal_token_decode(tok, strlen(tok), sealed, sizeof(sealed), err,
	    sizeof(err));
	CHECK(n > 0);
	CHECK(secret_table(sealed, (size_t)(n > 0 ? n : 0), &img, &len) ==
	    0);
	CHECK(ptab_load(&t, img, len, err, sizeof(err)) == 0);

	CHECK(ptab_open_secrets(&t, ka, err, sizeof(err)) == 0);
	err[0] = '\0';
	CHECK(ptab_open_secrets(&t, kb, err, sizeof(err)) == -1);
	printf("secrets, another key: %s\n", err);
	CHECK(strstr(err, "ny.example (line 43)") != NULL &&
	    strstr(err, ida) != NULL && strstr(err, idb) != NULL &&
	    strstr(err, ida) < strstr(err, idb));
	err[0] = '\0';
	CHECK(ptab_open_secrets(&t, NULL, err, sizeof(err)) == -1);
	printf("secrets, no key: %s\n", err);
	CHECK(strstr(err, "ny.example (line 43)") != NULL &&
	    strstr(err, ida) != NULL && strstr(err, "no key given") != NULL);
	free(img);

	/* Damaged in the table: named, not opened. */
	sealed[n - 1] ^= 1;
	CHECK(secret_table(sealed, (size_t)n, &img, &len) == 0);
	CHECK(ptab_load(&t, img, len, err, sizeof(err)) == 0);
	err[0] = '\0';
	CHECK(ptab_open_secrets(&t, ka, err, sizeof(err)) == -1 &&
	    strstr(err, "does not open with key") != NULL);
	printf("secrets, damaged: %s\n", err);
	free(img);

	/* No secret at all: nothing to open, with or without a key. */
	CHECK(sample_table(2, &img, &len, err, sizeof(err)) == 0);
	CHECK(ptab_load(&t, img, len, err, sizeof(err)) == 0);
	CHECK(ptab_open_secrets(&t, NULL, err, sizeof(err)) == 0);
	CHECK(ptab_open_secrets(&t, kb, err, sizeof(err)) == 0);
	free(img);
out:
	seal_key_free(ka);
	seal_key_free(kb);
	for (n = 0; n < 4; n++) {
		snprintf(path, sizeof(path), "%s/%c.%s", dir, "ab"[n / 2],
		    n % 2 ? "pub" : "key");
		unlink(path);
	}
	CHECK(rmdir(dir) == 0);
}

/*
 * Strings longer than policyc lets them be, refused at load: any
 * string past a quoted string's limit, a hostname past a domain's.
 */
static void
test_long_strings(void)
{
	struct ptab_builder	*b;
	struct ptab_server_in	 sv;
	struct ptab		 t;
	uint8_t			*img;
	size_t			 len;
	char			 err[256], *s;
	int			 k;
	static const struct {
		size_t		 n;
		int		 hostname;
		const char	*want;
	} cases[] = {
		{ LIM_STRING + 1, 0, "is 4097 bytes long, more than 4096" },
		{ LIM_DOMAIN + 1, 1, "the server's hostname is 254 bytes "
		    "long, more than 253" },
	};

	for (k = 0; k < 2; k++) {
		CHECK((s = malloc(cases[k].n + 1)) != NULL);
		if (s == NULL)
			return;
		memset(s, 'p', cases[k].n);
		s[cases[k].n] = '\0';
		memset(&sv, 0, sizeof(sv));
		if (cases[k].hostname)
			sv.hostname = s;
		else
			sv.cert = s;
		CHECK((b = ptab_builder_new()) != NULL);
		CHECK(ptab_builder_server(b, &sv) == 0);
		CHECK(ptab_build(b, NULL, NULL, &img, &len, err,
		    sizeof(err)) == 0);
		ptab_builder_free(b);
		err[0] = '\0';
		CHECK(ptab_load(&t, img, len, err, sizeof(err)) == -1 &&
		    strstr(err, cases[k].want) != NULL);
		printf("a long string refused: %s\n", err);
		free(img);
		free(s);
	}
}

/* ---- A large table ------------------------------------------------------- */

static void
test_large(void)
{
	struct ptab_builder	*b;
	struct ptab		 t;
	struct addr		 a;
	uint8_t			*img, *c;
	size_t			 len, i;
	uint32_t		 l, e, hits = 0;
	int			 r1, r2;
	double			 t0, t1, t2, t3, t4;
	char			 err[256], dir[] = "/tmp/ptab_test.XXXXXX";
	char			 path[256];
	const size_t		 n4 = 1000000, n6 = 200000;

	CHECK((b = ptab_builder_new()) != NULL);
	CHECK(ptab_builder_list(b, "big", 1, &l) == 0);
	r1 = add_rule(b, 2, PTAB_RULE_LIST, PTAB_ACT_DENY, 0, NULL, l, NULL);
	r2 = add_rule(b, 3, PTAB_RULE_ADDR, PTAB_ACT_ALLOW, 0,
	    "10.0.0.0/8", PTAB_NONE, NULL);
	CHECK(r1 == 1 && r2 == 2);
	t0 = now();
	for (i = 0; i < n4; i++) {
		rand_addr(ADDR_V4, &a);
		a.len = (uint8_t)(i % 4 == 0 ? 32 : 16 + rnd() % 17);
		addr_mask(&a);
		CHECK(ptab_builder_prefix(b, (uint32_t)r1, &a) == 0);
	}
	for (i = 0; i < n6; i++) {
		rand_addr(ADDR_V6, &a);
		a.len = (uint8_t)(32 + rnd() % 97);
		addr_mask(&a);
		CHECK(ptab_builder_prefix(b, (uint32_t)r1, &a) == 0);
	}
	t1 = now();
	CHECK(ptab_build(b, NULL, NULL, &img, &len, err, sizeof(err)) == 0);
	t2 = now();
	ptab_builder_free(b);
	c = copy_of(img, len);
	t3 = now();
	CHECK(ptab_load(&t, c, len, err, sizeof(err)) == 0);
	t4 = now();
	printf("large: %u v4 + %u v6 prefixes kept of %zu; %zu bytes, "
	    "%.2f bytes a prefix\n", t.nv4, t.nv6, n4 + n6, len,
	    (double)len / (t.nv4 + t.nv6));
	printf("large: builder calls %.0f ms, ptab_build %.0f ms, "
	    "ptab_load (checksum + validation) %.1f ms\n",
	    (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t4 - t3) * 1e3);

	t0 = now();
	for (i = 0; i < 1000000; i++) {
		rand_addr(i % 4 ? ADDR_V4 : ADDR_V6, &a);
		hits += ptab_host_lookup(&t, &a, &e) != 0;
	}
	t1 = now();
	printf("large: 1e6 lookups in %.0f ms (%.0f ns each), %u matched\n",
	    (t1 - t0) * 1e3, (t1 - t0) * 1e3, hits);
	CHECK(line_of(&t, "10.0.0.0") == 3 || line_of(&t, "10.0.0.0") == 2);

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/big.ptab", dir);
	t0 = now();
	CHECK(ptab_write_file(path, img, len, err, sizeof(err)) == 0);
	t1 = now();
	ptab_close(&t);
	CHECK(ptab_open(&t, path, err, sizeof(err)) == 0);
	t2 = now();
	printf("large: ptab_write_file %.0f ms, ptab_open (copy + validate) "
	    "%.1f ms\n", (t1 - t0) * 1e3, (t2 - t1) * 1e3);
	ptab_close(&t);
	unlink(path);
	rmdir(dir);
	free(c);
	free(img);
}

int
main(void)
{
	unsigned	 i;
	int		 v;

	if (sodium_init() < 0)
		return 99;
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_full();
	test_mail();
	test_domains();
	test_conflicts();
	test_determinism();
	test_lpm_family(ADDR_V4, 0);
	test_lpm_family(ADDR_V4, 1);
	test_lpm_family(ADDR_V6, 0);
	test_lpm_family(ADDR_V6, 1);
	test_files();
	test_in_place();
	test_secrets();
	test_long_strings();
	test_seeds();
	test_corrupt();
	for (v = 0; v < SAMPLE_VARIANTS; v++)
		test_hostile(v);
	printf("refusal reasons seen (numbers shown as #):\n");
	for (i = 0; i < nreasons; i++)
		printf("  %7u  %s\n", reasons[i].n, reasons[i].text);
	if (getenv("PTAB_SKIP_LARGE") == NULL)
		test_large();
	return check_finish();
}
