/*
 * ptab_bench: the in-process half of the table benchmark (bench/run.sh
 * runs it).  It measures what bastiond pays for its host table: mapping
 * and validating a table at start, and the longest-prefix-match lookup
 * per connection, and sets the lookup against the first-match linear
 * scan that Postfix cidr tables and OpenSMTPD static tables perform.
 *
 *   ptab_bench [-q] [-r RESULTS] big TABLE
 *   ptab_bench [-q] [-r RESULTS] scan NAME:RULES:TABLE ...
 *   ptab_bench [-q] [-r RESULTS] rcpts TABLE N
 *
 * rcpts: TABLE holds one accept rule for rcpt.example whose recipients
 * list is "user0000000" .. "user%07d" (N of them, as run.sh writes it);
 * it times the RCPT check (ptab_rcpt_known) for members and strangers.
 *
 * It prints figures and never fails on a time; it exits 1 only when it
 * cannot run (a table that does not open, a rules file it cannot read)
 * or when the two lookups disagree, since figures for wrong answers mean
 * nothing.  -r appends "key value" lines to RESULTS for the summary; -q
 * divides every iteration count by 10 (a smoke run).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "addr.h"
#include "bastion_limits.h"
#include "ptab.h"

/* Every iteration count, so the whole run stays bounded. */
#define BENCH_OPEN_RUNS		60	/* ptab_open + ptab_close */
#define BENCH_OPEN_BUDGET_NS	8000000000ull	/* stop earlier past 8 s */
#define BENCH_BATCH		32	/* dependent lookups per timed batch */
#define BENCH_BATCHES		50000	/* batches per address mode */
#define BENCH_WARMUP		200000	/* untimed lookups first */
#define BENCH_POOL		65536	/* prefixes for "inside" addresses */
#define BENCH_WARM		4096	/* distinct addresses, "warm" chain */
#define BENCH_TPUT_N		(1u << 20)	/* independent lookup array */
#define BENCH_REPEAT		5	/* medians of this many passes */
#define BENCH_SCAN_WORK		100000000ull	/* rule checks per scan pass */
#define BENCH_SCAN_MIN		500	/* lookups per scan pass, at least */
#define BENCH_SCAN_PTAB		(1u << 20)	/* ptab lookups per pass */
#define BENCH_VERIFY		2000	/* addresses cross-checked */
#define BENCH_MAX_RULES		(4u * 1024 * 1024)
#define BENCH_LINE		256	/* a rules-file line */
#define BENCH_RCPT_KEYS		65536	/* local parts drawn per mode */
#define BENCH_RCPT_LOOKUPS	(1u << 22)	/* lookups per pass */

/* An address or prefix as two 64-bit words, for building and masking. */
struct bench_pfx {
	uint64_t	hi, lo;		/* v4: in the top 32 bits of hi */
	uint64_t	mhi, mlo;	/* netmask */
	uint8_t		family;
	uint8_t		len;
};

/* How bench_chain draws its addresses. */
enum bench_mode {
	BENCH_RANDOM,		/* anywhere */
	BENCH_INSIDE,		/* inside a prefix of the pool */
	BENCH_HOT		/* BENCH_WARM distinct ones, over and over */
};

typedef uint32_t bench_lookup_fn(const struct ptab *, const struct addr *,
	    uint32_t *);

static uint64_t	bench_mix(uint64_t);
static uint64_t	bench_now(void);
static uint64_t	bench_cpu(void);
static int	bench_cmp_double(const void *, const void *);
static int	bench_cmp_u64(const void *, const void *);
static double	bench_pct(double *, size_t, double);
static uint64_t	bench_median_u64(uint64_t *, size_t);
static void	bench_result(const char *, const char *, double);
static void	bench_put64(uint8_t *, uint64_t);
static uint64_t	bench_get64(const uint8_t *);
static void	bench_pfx_mask(struct bench_pfx *);
static void	bench_pfx_from_addr(const struct addr *, struct bench_pfx *);
static void	bench_addr_random(uint64_t, struct addr *);
static void	bench_addr_inside(const struct bench_pfx *, uint64_t,
		    struct addr *);
static uint32_t	bench_fake_lookup(const struct ptab *, const struct addr *,
		    uint32_t *);
static int	bench_open_table(struct ptab *, const char *);
static void	bench_depth(const struct ptab *, int, unsigned *, double *);
static struct bench_pfx *bench_pool(const struct ptab *, size_t);
static void	bench_chain_addr(int, const struct bench_pfx *, uint64_t,
		    struct addr *);
static void	bench_chain(const struct ptab *, bench_lookup_fn *, int,
		    const struct bench_pfx *, double *, size_t);
static int	bench_big(const char *);
static int	bench_open_times(const char *, off_t);
static void	bench_latency(const struct ptab *);
static void	bench_throughput(const struct ptab *);
static long	bench_read_rules(const char *, struct bench_pfx **);
static long	bench_linear(const struct bench_pfx *, long,
		    const struct addr *);
static int	bench_scan_one(const char *);
static int	bench_scan(int, char **);
static void	bench_usage(void);
static int	bench_rcpts(const char *, long);

static FILE	*bench_results;
static unsigned	 bench_div = 1;		/* -q: 10 */
static volatile uint64_t bench_sink;	/* keeps results live */

/* splitmix64's finaliser: cheap, and every output bit depends on all. */
static uint64_t
bench_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint64_t
bench_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * This process's CPU time, kernel included (page faults, mmap): on a
 * busy machine it leaves out the time other processes held the core.
 */
static uint64_t
bench_cpu(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
bench_cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int
bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The p-th percentile (0..1) of v, sorting it in place. */
static double
bench_pct(double *v, size_t n, double p)
{
	size_t	i;

	qsort(v, n, sizeof(*v), bench_cmp_double);
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static uint64_t
bench_median_u64(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), bench_cmp_u64);
	return v[n / 2];
}

static void
bench_result(const char *prefix, const char *key, double value)
{
	if (bench_results != NULL)
		fprintf(bench_results, "%s%s %.6g\n", prefix, key, value);
}

static void
bench_put64(uint8_t *p, uint64_t v)
{
	int	i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
bench_get64(const uint8_t *p)
{
	uint64_t v = 0;
	int	 i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Set the netmask words from len and clear the host bits. */
static void
bench_pfx_mask(struct bench_pfx *p)
{
	unsigned len = p->len;

	if (p->family == ADDR_V4) {
		/* The address sits in the top 32 bits of hi. */
		if (len > 32)
			len = 32;
		p->mhi = len == 0 ? 0 : ~0ull << (64 - len);
		p->mlo = 0;
	} else if (len <= 64) {
		p->mhi = len == 0 ? 0 : ~0ull << (64 - len);
		p->mlo = 0;
	} else {
		if (len > 128)
			len = 128;
		p->mhi = ~0ull;
		p->mlo = len == 128 ? ~0ull : ~0ull << (128 - len);
	}
	p->hi &= p->mhi;
	p->lo &= p->mlo;
}

static void
bench_pfx_from_addr(const struct addr *a, struct bench_pfx *p)
{
	memset(p, 0, sizeof(*p));
	p->family = a->family;
	p->len = a->len;
	if (a->family == ADDR_V4) {
		p->hi = (uint64_t)a->a[0] << 56 | (uint64_t)a->a[1] << 48 |
		    (uint64_t)a->a[2] << 40 | (uint64_t)a->a[3] << 32;
	} else {
		p->hi = bench_get64(a->a);
		p->lo = bench_get64(a->a + 8);
	}
	bench_pfx_mask(p);
}

/*
 * A client address drawn from hash h: 13 in 16 IPv4 (the share of v4
 * prefixes in the big table) anywhere in the 32-bit space, the rest
 * IPv6 in 2000::/3, where the generator puts its v6 prefixes.
 */
static void
bench_addr_random(uint64_t h, struct addr *a)
{
	uint64_t h2;

	memset(a, 0, sizeof(*a));
	if ((h >> 60) < 13) {
		a->family = ADDR_V4;
		a->len = 32;
		a->a[0] = (uint8_t)(h >> 24);
		a->a[1] = (uint8_t)(h >> 16);
		a->a[2] = (uint8_t)(h >> 8);
		a->a[3] = (uint8_t)h;
	} else {
		h2 = bench_mix(h ^ 0x9e3779b97f4a7c15ull);
		a->family = ADDR_V6;
		a->len = 128;
		bench_put64(a->a, 0x2000000000000000ull | (h2 >> 3));
		bench_put64(a->a + 8, h);
	}
}

/* A host address inside prefix p, host bits from h. */
static void
bench_addr_inside(const struct bench_pfx *p, uint64_t h, struct addr *a)
{
	uint64_t hi, lo;

	memset(a, 0, sizeof(*a));
	a->family = p->family;
	if (p->family == ADDR_V4) {
		hi = p->hi | ((h << 32) & ~p->mhi & 0xffffffff00000000ull);
		a->len = 32;
		a->a[0] = (uint8_t)(hi >> 56);
		a->a[1] = (uint8_t)(hi >> 48);
		a->a[2] = (uint8_t)(hi >> 40);
		a->a[3] = (uint8_t)(hi >> 32);
	} else {
		hi = p->hi | (bench_mix(h) & ~p->mhi);
		lo = p->lo | (h & ~p->mlo);
		a->len = 128;
		bench_put64(a->a, hi);
		bench_put64(a->a + 8, lo);
	}
}

/*
 * Stands in for ptab_host_lookup to time the chain itself (hashing,
 * building the address, the call).  noinline so the call stays a call,
 * as the real one into libbastion.a is.
 */
__attribute__((noinline)) static uint32_t
bench_fake_lookup(const struct ptab *t, const struct addr *a,
    uint32_t *entry)
{
	(void)t;
	*entry = a->a[1];
	return a->a[3] ^ a->a[15];
}

static int
bench_open_table(struct ptab *t, const char *path)
{
	char	err[LIM_ERRMSG];

	if (ptab_open(t, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "ptab_bench: %s: %s\n", path, err);
		return -1;
	}
	return 0;
}

/*
 * Nesting depth of the prefixes of one family: parents come before
 * their children, so one pass in index order fills the depths.
 */
static void
bench_depth(const struct ptab *t, int family, unsigned *maxp, double *meanp)
{
	const struct ptab_entry_rec *ent;
	uint32_t n, i, p;
	uint8_t	*d;
	uint64_t sum = 0;
	unsigned max = 0;

	ent = family == ADDR_V4 ? t->v4ent : t->v6ent;
	n = family == ADDR_V4 ? t->nv4 : t->nv6;
	*maxp = 0;
	*meanp = 0;
	if (n == 0 || (d = malloc(n)) == NULL)
		return;
	for (i = 0; i < n; i++) {
		p = ent[i].parent;
		d[i] = p < i && d[p] < 255 ? d[p] + 1 : 1;
		sum += d[i];
		if (d[i] > max)
			max = d[i];
	}
	free(d);
	*maxp = max;
	*meanp = (double)sum / n;
}

/* n prefixes of the table, drawn uniformly over both families. */
static struct bench_pfx *
bench_pool(const struct ptab *t, size_t n)
{
	struct bench_pfx *pool;
	struct addr a;
	uint64_t h = 0x5eed;
	uint64_t total = (uint64_t)t->nv4 + t->nv6;
	uint32_t i;
	size_t	 k;

	if (total == 0 || (pool = calloc(n, sizeof(*pool))) == NULL)
		return NULL;
	for (k = 0; k < n; k++) {
		h = bench_mix(h + k);
		i = (uint32_t)(h % total);
		if (i < t->nv4)
			ptab_entry_addr(t, ADDR_V4, i, &a);
		else
			ptab_entry_addr(t, ADDR_V6, i - t->nv4, &a);
		bench_pfx_from_addr(&a, &pool[k]);
	}
	return pool;
}

/* The next address of a chain from its state x. */
static void
bench_chain_addr(int mode, const struct bench_pfx *pool, uint64_t x,
    struct addr *a)
{
	if (mode == BENCH_INSIDE)
		bench_addr_inside(&pool[x & (BENCH_POOL - 1)], x >> 16, a);
	else if (mode == BENCH_HOT)
		bench_addr_random(bench_mix(x & (BENCH_WARM - 1)), a);
	else
		bench_addr_random(x, a);
}

/*
 * Dependent lookups: each address is a hash of the previous address,
 * the rule and the entry returned, so no lookup can start before the
 * one before it is done and the time per lookup is its latency, not
 * the throughput of several in flight.  Fills per[] with the mean ns
 * per lookup of each batch.
 */
static void
bench_chain(const struct ptab *t, bench_lookup_fn *fn, int mode,
    const struct bench_pfx *pool, double *per, size_t nbatch)
{
	struct addr a;
	uint64_t x = 0x243f6a8885a308d3ull, t0;
	uint32_t r, e = 0;
	size_t	 b, k;

	for (k = 0; k < BENCH_WARMUP / bench_div; k++) {
		bench_chain_addr(mode, pool, x, &a);
		r = fn(t, &a, &e);
		x = bench_mix(x ^ ((uint64_t)r << 32 | e));
	}
	for (b = 0; b < nbatch; b++) {
		t0 = bench_now();
		for (k = 0; k < BENCH_BATCH; k++) {
			bench_chain_addr(mode, pool, x, &a);
			r = fn(t, &a, &e);
			x = bench_mix(x ^ ((uint64_t)r << 32 | e));
		}
		per[b] = (double)(bench_now() - t0) / BENCH_BATCH;
	}
	bench_sink += x;
}

static int
bench_big(const char *path)
{
	struct ptab t;
	unsigned d4, d6;
	double	 m4, m6;
	off_t	 size;

	if (bench_open_table(&t, path) == -1)
		return 1;
	size = (off_t)t.size;
	bench_depth(&t, ADDR_V4, &d4, &m4);
	bench_depth(&t, ADDR_V6, &d6, &m6);
	printf("== Table %s\n", path);
	printf("  %-34s %12u\n", "IPv4 prefixes", t.nv4);
	printf("  %-34s %12u\n", "IPv6 prefixes", t.nv6);
	printf("  %-34s %12u\n", "rules (with the default)", t.nrules);
	printf("  %-34s %12u   (mean %.2f)\n", "IPv4 nesting depth, max",
	    d4, m4);
	printf("  %-34s %12u   (mean %.2f)\n", "IPv6 nesting depth, max",
	    d6, m6);
	printf("  %-34s %12lld   (%.1f MiB)\n", "table size, bytes",
	    (long long)size, (double)size / 1048576.0);
	if (t.nv4 + (uint64_t)t.nv6 > 0)
		printf("  %-34s %12.2f   (target <= 16)\n", "bytes per prefix",
		    (double)size / ((double)t.nv4 + t.nv6));
	bench_result("", "big.nv4", t.nv4);
	bench_result("", "big.nv6", t.nv6);
	bench_result("", "big.nrules", t.nrules);
	bench_result("", "big.depth4", d4);
	bench_result("", "big.depth6", d6);
	bench_result("", "big.size", (double)size);
	bench_result("", "big.bpp", (double)size / ((double)t.nv4 + t.nv6));
	fflush(stdout);

	bench_latency(&t);
	bench_throughput(&t);
	ptab_close(&t);
	return bench_open_times(path, size);
}

/*
 * What bastiond pays at start and on every SIGHUP: map and validate.
 * The file is in the page cache (it was just written and read), as it
 * is on a reload.  The same validation over a buffer already in memory
 * (ptab_load) tells the checks apart from the mapping.
 */
static int
bench_open_times(const char *path, off_t size)
{
	struct ptab t;
	uint64_t v[BENCH_OPEN_RUNS], c[BENCH_OPEN_RUNS], start, t0, c0, med;
	char	 err[LIM_ERRMSG];
	uint8_t	*buf, sum[PTAB_CHECKSUM_SIZE];
	FILE	*fp;
	size_t	 n = 0, runs = BENCH_OPEN_RUNS / (bench_div > 1 ? 4 : 1), i;

	start = bench_now();
	for (i = 0; i < runs; i++) {
		c0 = bench_cpu();
		t0 = bench_now();
		if (ptab_open(&t, path, err, sizeof(err)) == -1) {
			fprintf(stderr, "ptab_bench: %s: %s\n", path, err);
			return 1;
		}
		ptab_close(&t);
		v[n] = bench_now() - t0;
		c[n++] = bench_cpu() - c0;
		if (n >= 5 && bench_now() - start > BENCH_OPEN_BUDGET_NS)
			break;
	}
	med = bench_median_u64(v, n);	/* sorts v */
	printf("== Start: map and validate (warm page cache)\n");
	printf("  %-34s %9.2f ms (median of %zu; min %.2f, max %.2f)"
	    "   target <= 30\n", "ptab_open + ptab_close",
	    med / 1e6, n, v[0] / 1e6, v[n - 1] / 1e6);
	bench_result("", "open.median_ms", med / 1e6);
	bench_result("", "open.runs", (double)n);
	med = bench_median_u64(c, n);
	printf("  %-34s %9.2f ms (median; user + system)\n",
	    "  the same, CPU time", med / 1e6);
	bench_result("", "open.cpu_ms", med / 1e6);

	/* The validation alone, from memory. */
	if ((buf = malloc((size_t)size)) == NULL ||
	    (fp = fopen(path, "rb")) == NULL) {
		free(buf);
		fprintf(stderr, "ptab_bench: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (fread(buf, 1, (size_t)size, fp) != (size_t)size) {
		fprintf(stderr, "ptab_bench: %s: short read\n", path);
		fclose(fp);
		free(buf);
		return 1;
	}
	fclose(fp);
	for (n = 0; n < runs && n < 20; n++) {
		t0 = bench_now();
		if (ptab_load(&t, buf, (size_t)size, err, sizeof(err)) == -1) {
			fprintf(stderr, "ptab_bench: %s: %s\n", path, err);
			free(buf);
			return 1;
		}
		ptab_close(&t);
		v[n] = bench_now() - t0;
	}
	med = bench_median_u64(v, n);
	printf("  %-34s %9.2f ms (median of %zu)\n",
	    "ptab_load from memory (checks only)", med / 1e6, n);
	bench_result("", "load.median_ms", med / 1e6);

	/*
	 * Of which the checksum: BLAKE2b over the whole image, a floor no
	 * layout of the checks can go below.
	 */
	for (n = 0; n < runs && n < 20; n++) {
		t0 = bench_now();
		(void)crypto_generichash(sum, sizeof(sum), buf, (size_t)size,
		    NULL, 0);
		v[n] = bench_now() - t0;
		bench_sink += sum[0];
	}
	free(buf);
	med = bench_median_u64(v, n);
	printf("  %-34s %9.2f ms (median of %zu)\n",
	    "  of which BLAKE2b of the image", med / 1e6, n);
	bench_result("", "blake2b.median_ms", med / 1e6);
	return 0;
}

static void
bench_latency(const struct ptab *t)
{
	struct bench_pfx *pool;
	double	*per, over, m, p99;
	size_t	 nb = BENCH_BATCHES / bench_div;

	if ((per = calloc(nb, sizeof(*per))) == NULL ||
	    (pool = bench_pool(t, BENCH_POOL)) == NULL) {
		free(per);
		fprintf(stderr, "ptab_bench: out of memory\n");
		return;
	}
	printf("== Lookup latency: dependent chain, %zu batches of %d"
	    " (ns per lookup)\n", nb, BENCH_BATCH);
	printf("  %-34s %9s %9s %9s\n", "addresses", "median", "p99",
	    "p99.9");

	bench_chain(t, bench_fake_lookup, BENCH_RANDOM, pool, per, nb);
	over = bench_pct(per, nb, 0.5);

	bench_chain(t, ptab_host_lookup, BENCH_RANDOM, pool, per, nb);
	m = bench_pct(per, nb, 0.5);
	p99 = bench_pct(per, nb, 0.99);
	printf("  %-34s %9.1f %9.1f %9.1f   target median <= 100\n",
	    "random (v4 anywhere, v6 2000::/3)", m, p99,
	    bench_pct(per, nb, 0.999));
	bench_result("", "lat.random.median_ns", m);
	bench_result("", "lat.random.p99_ns", p99);

	bench_chain(t, ptab_host_lookup, BENCH_INSIDE, pool, per, nb);
	m = bench_pct(per, nb, 0.5);
	p99 = bench_pct(per, nb, 0.99);
	printf("  %-34s %9.1f %9.1f %9.1f\n", "inside a random table prefix",
	    m, p99, bench_pct(per, nb, 0.999));
	bench_result("", "lat.inside.median_ns", m);
	bench_result("", "lat.inside.p99_ns", p99);

	bench_chain(t, ptab_host_lookup, BENCH_HOT, pool, per, nb);
	m = bench_pct(per, nb, 0.5);
	p99 = bench_pct(per, nb, 0.99);
	printf("  %-34s %9.1f %9.1f %9.1f\n", "random, 4096 addresses (cached)",
	    m, p99, bench_pct(per, nb, 0.999));
	bench_result("", "lat.hot.median_ns", m);

	bench_chain(t, bench_fake_lookup, BENCH_INSIDE, pool, per, nb);
	printf("  %-34s %9.1f / %.1f (included above)\n",
	    "chain overhead, random / inside", over, bench_pct(per, nb, 0.5));
	bench_result("", "lat.overhead_ns", over);
	free(pool);
	free(per);
	fflush(stdout);
}

/*
 * Independent lookups over a precomputed array: the processor may
 * overlap several, so this is the rate a busy runtime could reach,
 * not the latency of one.
 */
static void
bench_throughput(const struct ptab *t)
{
	struct bench_pfx *pool;
	struct addr *q;
	uint64_t v[BENCH_REPEAT], h = 0x13198a2e03707344ull, sum = 0, t0;
	uint32_t e;
	size_t	 n = BENCH_TPUT_N / bench_div, i, r;

	if ((q = calloc(n, sizeof(*q))) == NULL ||
	    (pool = bench_pool(t, BENCH_POOL)) == NULL) {
		free(q);
		fprintf(stderr, "ptab_bench: out of memory\n");
		return;
	}
	for (i = 0; i < n; i++) {
		h = bench_mix(h + i);
		if (i & 1)
			bench_addr_inside(&pool[h & (BENCH_POOL - 1)],
			    h >> 16, &q[i]);
		else
			bench_addr_random(h, &q[i]);
	}
	for (r = 0; r < BENCH_REPEAT; r++) {
		t0 = bench_now();
		for (i = 0; i < n; i++)
			sum += ptab_host_lookup(t, &q[i], &e) + e;
		v[r] = bench_now() - t0;
	}
	bench_sink += sum;
	t0 = bench_median_u64(v, BENCH_REPEAT);
	printf("== Lookup throughput: %zu independent lookups, half random,"
	    " half inside, median of %d\n", n, BENCH_REPEAT);
	printf("  %-34s %9.2f M/s  (%.1f ns each)\n", "lookups per second",
	    (double)n / (double)t0 * 1e3, (double)t0 / (double)n);
	bench_result("", "tput.mlps", (double)n / (double)t0 * 1e3);
	free(pool);
	free(q);
	fflush(stdout);
}

/*
 * Read "PREFIX/LEN LABEL LINE" lines (gen.py's .rules, already most
 * specific first) into *out.  Returns the count, or -1.
 */
static long
bench_read_rules(const char *path, struct bench_pfx **out)
{
	struct bench_pfx *v = NULL, *nv;
	struct addr a;
	char	 line[BENCH_LINE], *sp, *sl, *end;
	size_t	 cap = 0, n = 0, lineno = 0;
	unsigned long len;
	FILE	*fp;

	if ((fp = fopen(path, "r")) == NULL) {
		fprintf(stderr, "ptab_bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		if ((sp = strchr(line, ' ')) == NULL ||
		    (sl = memchr(line, '/', (size_t)(sp - line))) == NULL)
			goto bad;
		*sp = '\0';
		*sl = '\0';
		errno = 0;
		len = strtoul(sl + 1, &end, 10);
		if (errno != 0 || *end != '\0')
			goto bad;
		memset(&a, 0, sizeof(a));
		if (inet_pton(AF_INET, line, a.a) == 1 && len <= 32)
			a.family = ADDR_V4;
		else if (inet_pton(AF_INET6, line, a.a) == 1 && len <= 128)
			a.family = ADDR_V6;
		else
			goto bad;
		a.len = (uint8_t)len;
		if (n == cap) {
			if (cap >= BENCH_MAX_RULES)
				goto bad;
			cap = cap ? cap * 2 : 1024;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL)
				goto bad;
			v = nv;
		}
		bench_pfx_from_addr(&a, &v[n++]);
	}
	fclose(fp);
	*out = v;
	return (long)n;
bad:
	fprintf(stderr, "ptab_bench: %s:%zu: bad rule line\n", path, lineno);
	fclose(fp);
	free(v);
	return -1;
}

/*
 * First match wins, the way a cidr or static table is searched.  The
 * rules are most specific first, so the first match is the longest.
 * This is a generous version (one masked compare of two words per
 * rule); Postfix compares byte by byte.  Returns the index, or -1.
 */
static long
bench_linear(const struct bench_pfx *r, long n, const struct addr *a)
{
	struct bench_pfx q;
	long	 i;

	bench_pfx_from_addr(a, &q);
	for (i = 0; i < n; i++)
		if (r[i].family == q.family &&
		    (q.hi & r[i].mhi) == r[i].hi &&
		    (q.lo & r[i].mlo) == r[i].lo)
			return i;
	return -1;
}

/* One "NAME:RULES:TABLE" row of the comparison; -1 on a mismatch. */
static int
bench_scan_one(const char *spec)
{
	struct bench_pfx *rules = NULL, p;
	struct addr *q = NULL, ea;
	struct ptab t;
	char	 buf[1024], key[80], *name, *rpath, *tpath;
	uint64_t vl[BENCH_REPEAT], vp[BENCH_REPEAT], h = 0xa4093822299f31d0ull;
	uint64_t t0, sum = 0;
	uint32_t e;
	long	 nr, li;
	size_t	 nq = 65536, nlin, nver, i, r, bad = 0, nomatch = 0;
	size_t	 nptab = BENCH_SCAN_PTAB / bench_div;
	double	 lin, pt;
	int	 rc = 1;

	if (strlen(spec) >= sizeof(buf)) {
		fprintf(stderr, "ptab_bench: %s: too long\n", spec);
		return 1;
	}
	memcpy(buf, spec, strlen(spec) + 1);
	name = buf;
	if ((rpath = strchr(name, ':')) == NULL ||
	    (tpath = strchr(rpath + 1, ':')) == NULL) {
		bench_usage();
		return 1;
	}
	*rpath++ = '\0';
	*tpath++ = '\0';
	if ((nr = bench_read_rules(rpath, &rules)) <= 0)
		return 1;
	if (bench_open_table(&t, tpath) == -1) {
		free(rules);
		return 1;
	}
	if ((q = calloc(nq, sizeof(*q))) == NULL)
		goto out;
	/* Half inside a rule prefix, half anywhere: the same for both. */
	for (i = 0; i < nq; i++) {
		h = bench_mix(h + i);
		if (i & 1)
			bench_addr_inside(&rules[h % (uint64_t)nr], h >> 20,
			    &q[i]);
		else
			bench_addr_random(h, &q[i]);
	}

	/* Same answers, or the figures are meaningless. */
	nver = nq < BENCH_VERIFY ? nq : BENCH_VERIFY;
	for (i = 0; i < nver; i++) {
		(void)ptab_host_lookup(&t, &q[i], &e);
		li = bench_linear(rules, nr, &q[i]);
		if (li < 0 || e == PTAB_NONE) {
			nomatch += li < 0;
			bad += (li < 0) != (e == PTAB_NONE);
			continue;
		}
		ptab_entry_addr(&t, q[i].family, e, &ea);
		bench_pfx_from_addr(&ea, &p);
		if (p.family != rules[li].family || p.len != rules[li].len ||
		    p.hi != rules[li].hi || p.lo != rules[li].lo)
			bad++;
	}
	if (bad != 0) {
		printf("  %-8s MISMATCH: ptab and the linear scan disagree on"
		    " %zu of %zu addresses\n", name, bad, nver);
		rc = -1;
		goto out;
	}

	nlin = (size_t)(BENCH_SCAN_WORK / bench_div / (uint64_t)nr);
	if (nlin < BENCH_SCAN_MIN / bench_div)
		nlin = BENCH_SCAN_MIN / bench_div;
	if (nlin > nq)
		nlin = nq;
	for (r = 0; r < BENCH_REPEAT; r++) {
		t0 = bench_now();
		for (i = 0; i < nlin; i++)
			sum += (uint64_t)bench_linear(rules, nr, &q[i]);
		vl[r] = bench_now() - t0;
		t0 = bench_now();
		for (i = 0; i < nptab; i++)
			sum += ptab_host_lookup(&t, &q[i & (nq - 1)], &e) + e;
		vp[r] = bench_now() - t0;
	}
	bench_sink += sum;
	lin = (double)bench_median_u64(vl, BENCH_REPEAT) / (double)nlin;
	pt = (double)bench_median_u64(vp, BENCH_REPEAT) / (double)nptab;
	printf("  %-8s %9ld %14.1f %12.1f %10.0fx   (%zu/%zu no match)\n",
	    name, nr, lin, pt, lin / pt, nomatch, nver);
	snprintf(key, sizeof(key), "scan.%.60s.", name);
	bench_result(key, "n", (double)nr);
	bench_result(key, "linear_ns", lin);
	bench_result(key, "ptab_ns", pt);
	rc = 0;
out:
	fflush(stdout);
	free(q);
	free(rules);
	ptab_close(&t);
	return rc;
}

static int
bench_scan(int argc, char **argv)
{
	int	i, rc = 0, r;

	printf("== First-match linear scan (cidr / static table) against"
	    " ptab, same rules and addresses\n");
	printf("  %-8s %9s %14s %12s %11s\n", "set", "prefixes",
	    "linear ns/op", "ptab ns/op", "ratio");
	for (i = 0; i < argc; i++) {
		r = bench_scan_one(argv[i]);
		if (r != 0)
			rc = 1;
	}
	return rc;
}

/*
 * The RCPT check against a big recipients list: members (in mixed
 * case, as clients write them) and strangers, drawn at random so that
 * the slots touched are spread over the whole table.
 */
static int
bench_rcpts(const char *path, long n)
{
	struct ptab			 t;
	const struct ptab_domain_rec	*d;
	static char			 keys[BENCH_RCPT_KEYS][16];
	const char			*key;
	uint64_t			 t0, ns[BENCH_REPEAT], hits;
	uint32_t			 i, k, runs;
	int				 mode, r;
	double				 per;

	runs = BENCH_RCPT_LOOKUPS / bench_div;
	/* Opening validates every slot: what a reload of this costs. */
	for (r = 0; r < BENCH_REPEAT; r++) {
		t0 = bench_now();
		if (n <= 0 || bench_open_table(&t, path) == -1)
			return 1;
		ns[r] = bench_now() - t0;
		if (r < BENCH_REPEAT - 1)
			ptab_close(&t);
	}
	per = (double)bench_median_u64(ns, BENCH_REPEAT) / 1e6;
	printf("== Recipients: ptab_open (map + validate) %.1f ms\n", per);
	bench_result("rcpts.", "open_ms", per);
	if ((d = ptab_accept_lookup(&t, "rcpt.example", 12)) == NULL ||
	    d->rcpts != PTAB_RCPTS_LIST) {
		fprintf(stderr, "ptab_bench: %s: no recipients list for "
		    "rcpt.example\n", path);
		ptab_close(&t);
		return 1;
	}
	printf("   %u local parts in %u slots (longest probe %u)\n",
	    t.rcpts[d->rcpt_list].count,
	    t.rcpts[d->rcpt_list].nslots, t.rcpts[d->rcpt_list].maxprobe);
	for (mode = 0; mode < 2; mode++) {
		for (i = 0; i < BENCH_RCPT_KEYS; i++)
			snprintf(keys[i], sizeof(keys[i]), mode == 0 ?
			    "User%07lu" : "stranger%07lu", (unsigned long)
			    (bench_mix((uint64_t)i * 2 + (uint64_t)mode) %
			    (uint64_t)n));
		for (r = 0; r < BENCH_REPEAT; r++) {
			hits = 0;
			t0 = bench_now();
			for (k = 0; k < runs; k++) {
				key = keys[k & (BENCH_RCPT_KEYS - 1)];
				hits += (uint64_t)ptab_rcpt_known(&t, d, key,
				    mode == 0 ? 11 : 15);
			}
			ns[r] = bench_now() - t0;
			bench_sink += hits;
			if (hits != (mode == 0 ? runs : 0)) {
				fprintf(stderr, "ptab_bench: %s lookups got "
				    "%llu hits of %u\n", mode == 0 ? "member" :
				    "stranger", (unsigned long long)hits, runs);
				ptab_close(&t);
				return 1;
			}
		}
		per = (double)bench_median_u64(ns, BENCH_REPEAT) / runs;
		printf("  %-9s %8.1f ns a lookup (median of %d passes of %u)\n",
		    mode == 0 ? "member" : "stranger", per, BENCH_REPEAT,
		    runs);
		bench_result("rcpts.", mode == 0 ? "hit_ns" : "miss_ns", per);
	}
	ptab_close(&t);
	return 0;
}

static void
bench_usage(void)
{
	fprintf(stderr, "usage: ptab_bench [-q] [-r RESULTS] big TABLE\n"
	    "       ptab_bench [-q] [-r RESULTS] scan NAME:RULES:TABLE ...\n"
	    "       ptab_bench [-q] [-r RESULTS] rcpts TABLE N\n");
}

int
main(int argc, char **argv)
{
	int	ch, rc;

	while ((ch = getopt(argc, argv, "qr:")) != -1) {
		switch (ch) {
		case 'q':
			bench_div = 10;
			break;
		case 'r':
			if ((bench_results = fopen(optarg, "a")) == NULL) {
				fprintf(stderr, "ptab_bench: %s: %s\n", optarg,
				    strerror(errno));
				return 1;
			}
			break;
		default:
			bench_usage();
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (sodium_init() < 0) {
		fprintf(stderr, "ptab_bench: cannot initialise libsodium\n");
		return 1;
	}
	if (argc == 2 && strcmp(argv[0], "big") == 0)
		rc = bench_big(argv[1]);
	else if (argc >= 2 && strcmp(argv[0], "scan") == 0)
		rc = bench_scan(argc - 1, argv + 1);
	else if (argc == 3 && strcmp(argv[0], "rcpts") == 0)
		rc = bench_rcpts(argv[1], strtol(argv[2], NULL, 10));
	else {
		bench_usage();
		return 2;
	}
	if (bench_results != NULL && fclose(bench_results) == EOF)
		rc = 1;
	return rc;
}
