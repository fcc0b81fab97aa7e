/*
 * tls_ecbench: what the public-key steps of a TLS handshake cost, with
 * BearSSL's default code (what runtime/core/tls.c used before it picked
 * its own) and with the code it picks now (tls_ec_impl()): one X25519
 * and one P-256 ECDHE (our key, then the shared secret), one ECDSA
 * P-256 signature (the server's ServerKeyExchange) and one
 * verification (the client's check of it).  Before timing, both must
 * give the same bytes; the run exits 1 when they do not.
 *
 * Each figure is the median over BENCH_BATCHES batches of the process's
 * CPU time per operation (CLOCK_PROCESS_CPUTIME_ID: time the core spent
 * elsewhere does not count, which matters on a shared machine); the
 * batches of the two implementations alternate, so that a change in
 * the machine's load weighs on both alike.
 *
 *   tls_ecbench [-q]	-q: a smoke run, fewer batches
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>

#include "tls.h"

#define BENCH_BATCHES	15
#define BENCH_OPS	20	/* operations a batch */

struct op {
	const char	*name;
	void		(*run)(const br_ec_impl *);
};

static double	cpu_now(void);
static int	cmp_double(const void *, const void *);
static double	batch(void (*)(const br_ec_impl *), const br_ec_impl *);
static void	bench_op(void (*)(const br_ec_impl *), const br_ec_impl *,
		    const br_ec_impl *, int, double *, double *);
static void	fill(unsigned char *, size_t, unsigned);
static void	setup(void);
static void	ecdhe(const br_ec_impl *, int);
static void	op_x25519(const br_ec_impl *);
static void	op_p256(const br_ec_impl *);
static void	op_sign(const br_ec_impl *);
static void	op_verify(const br_ec_impl *);
static int	same(const br_ec_impl *, const br_ec_impl *);

static unsigned char	 skx[32], pubq[65], hv[32], sig[80];
static size_t		 siglen;
static br_ec_private_key sk = { BR_EC_secp256r1, skx, sizeof(skx) };
static br_ec_public_key	 pk = { BR_EC_secp256r1, pubq, sizeof(pubq) };
static volatile unsigned sink;

static const struct op ops[] = {
	{ "X25519 ECDHE (key + shared secret)", op_x25519 },
	{ "P-256 ECDHE (key + shared secret)", op_p256 },
	{ "ECDSA P-256 sign", op_sign },
	{ "ECDSA P-256 verify", op_verify }
};

static double
cpu_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* CPU microseconds of one operation, over a batch. */
static double
batch(void (*run)(const br_ec_impl *), const br_ec_impl *ec)
{
	double	 t0;
	int	 i;

	t0 = cpu_now();
	for (i = 0; i < BENCH_OPS; i++)
		run(ec);
	return (cpu_now() - t0) * 1e6 / BENCH_OPS;
}

/* Medians over the batches, a and b in turn. */
static void
bench_op(void (*run)(const br_ec_impl *), const br_ec_impl *a,
    const br_ec_impl *b, int batches, double *ma, double *mb)
{
	double	 ta[BENCH_BATCHES], tb[BENCH_BATCHES];
	int	 i;

	run(a);		/* warm the caches */
	run(b);
	for (i = 0; i < batches; i++) {
		ta[i] = batch(run, a);
		tb[i] = batch(run, b);
	}
	qsort(ta, batches, sizeof(ta[0]), cmp_double);
	qsort(tb, batches, sizeof(tb[0]), cmp_double);
	*ma = ta[batches / 2];
	*mb = tb[batches / 2];
}

static void
fill(unsigned char *p, size_t n, unsigned seed)
{
	uint32_t x;
	size_t	 i;

	x = seed * 2654435761u + 1;
	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
}

/* A fixed P-256 key and a signature of a fixed hash, for verify. */
static void
setup(void)
{
	fill(skx, sizeof(skx), 1);
	skx[0] &= 0x7f;		/* below the order */
	fill(hv, sizeof(hv), 2);
	pk.qlen = br_ec_all_m31.mulgen(pubq, skx, sizeof(skx),
	    BR_EC_secp256r1);
	siglen = br_ecdsa_i31_sign_asn1(&br_ec_all_m31, &br_sha256_vtable,
	    hv, &sk, sig);
}

/* What a server does for ECDHE: a fresh key's point, the shared secret. */
static void
ecdhe(const br_ec_impl *ec, int curve)
{
	unsigned char	 k[32], peer[65];
	size_t		 n;

	fill(k, sizeof(k), sink);
	k[0] &= 0x7f;
	k[31] |= 1;
	n = ec->mulgen(peer, k, sizeof(k), curve);
	sink += ec->mul(peer, n, k, sizeof(k), curve) + peer[1];
}

static void
op_x25519(const br_ec_impl *ec)
{
	ecdhe(ec, BR_EC_curve25519);
}

static void
op_p256(const br_ec_impl *ec)
{
	ecdhe(ec, BR_EC_secp256r1);
}

static void
op_sign(const br_ec_impl *ec)
{
	unsigned char	 s[80];

	sink += (unsigned)br_ecdsa_sign_asn1_get_default()(ec,
	    &br_sha256_vtable, hv, &sk, s);
}

static void
op_verify(const br_ec_impl *ec)
{
	sink += br_ecdsa_vrfy_asn1_get_default()(ec, hv, sizeof(hv), &pk,
	    sig, siglen);
}

/* Whether both give the same bytes (and the signature verifies). */
static int
same(const br_ec_impl *a, const br_ec_impl *b)
{
	static const int curves[] = { BR_EC_curve25519, BR_EC_secp256r1,
	    BR_EC_secp384r1 };
	unsigned char	 k[32], pa[BR_EC_KBUF_PUB_MAX_SIZE];
	unsigned char	 pb[BR_EC_KBUF_PUB_MAX_SIZE], sa[80], sb[80];
	size_t		 na, nb, la, lb;
	unsigned	 i, c;

	for (c = 0; c < sizeof(curves) / sizeof(curves[0]); c++)
		for (i = 0; i < 8; i++) {
			fill(k, sizeof(k), 10 + i);
			k[0] &= 0x7f;
			na = a->mulgen(pa, k, sizeof(k), curves[c]);
			nb = b->mulgen(pb, k, sizeof(k), curves[c]);
			if (na == 0 || na != nb || memcmp(pa, pb, na) != 0)
				return 0;
			if (a->mul(pa, na, k, sizeof(k), curves[c]) != 1 ||
			    b->mul(pb, nb, k, sizeof(k), curves[c]) != 1 ||
			    memcmp(pa, pb, na) != 0)
				return 0;
		}
	/* RFC 6979 nonces: the signatures are equal too. */
	la = br_ecdsa_i31_sign_asn1(a, &br_sha256_vtable, hv, &sk, sa);
	lb = br_ecdsa_i31_sign_asn1(b, &br_sha256_vtable, hv, &sk, sb);
	return la != 0 && la == lb && memcmp(sa, sb, la) == 0 &&
	    br_ecdsa_i31_vrfy_asn1(a, hv, sizeof(hv), &pk, sa, la) == 1;
}

int
main(int argc, char **argv)
{
	const br_ec_impl	*old = br_ec_get_default();
	const br_ec_impl	*cur = tls_ec_impl();
	double			 o[4], n[4];
	int			 batches = BENCH_BATCHES;
	size_t			 i;

	if (argc > 1 && strcmp(argv[1], "-q") == 0)
		batches = 3;
	setvbuf(stdout, NULL, _IOLBF, 0);
	setup();
	printf("picked: %s\n", tls_impl_describe());
	printf("BearSSL default: br_ec_get_default() is %s\n",
	    old == &br_ec_all_m31 ? "br_ec_all_m31" :
	    old == &br_ec_all_m15 ? "br_ec_all_m15" : "another");
	if (!same(old, cur)) {
		printf("tls_ecbench: the picked code and BearSSL's default "
		    "give different results\n");
		return 1;
	}
	printf("CPU time of one operation, median of %d batches of %d:\n",
	    batches, BENCH_OPS);
	printf("%-36s %12s %12s %7s\n", "", "default us", "picked us",
	    "ratio");
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		bench_op(ops[i].run, old, cur, batches, &o[i], &n[i]);
		printf("%-36s %12.1f %12.1f %6.2fx\n", ops[i].name, o[i], n[i],
		    n[i] > 0 ? o[i] / n[i] : 0);
	}
	/* What bastiond's side of a handshake with our certificate costs. */
	printf("%-36s %12.1f %12.1f %6.2fx\n",
	    "server: X25519 ECDHE + ECDSA sign", o[0] + o[2], n[0] + n[2],
	    n[0] + n[2] > 0 ? (o[0] + o[2]) / (n[0] + n[2]) : 0);
	printf("%-36s %12.1f %12.1f %6.2fx\n",
	    "client: X25519 ECDHE + ECDSA verify", o[0] + o[3], n[0] + n[3],
	    n[0] + n[3] > 0 ? (o[0] + o[3]) / (n[0] + n[3]) : 0);
	return 0;
}
