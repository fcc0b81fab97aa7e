/*
 * tls: BearSSL engines for bastiond's inbound (STARTTLS, implicit TLS)
 * and outbound sessions, moved by the event loop.  The engine is a
 * state machine with four doors (records in and out, plaintext in and
 * out); tls_run() opens whichever the engine's state allows, on a
 * non-blocking socket, until the caller's door opens or the socket
 * would block.  Nothing here blocks and nothing allocates after a
 * connection is made.
 *
 * Memory: a connection holds the BearSSL context and its two buffers.
 * The input buffer must take a whole 16 KiB record (the peer decides
 * record sizes); the output buffer is 4 KiB plus overhead, and BearSSL
 * cuts what we send into records that fit.  See tls_conn_size().
 *
 * Speed: a full handshake is three scalar multiplications on the
 * server (ECDHE key, shared secret, the ECDSA or RSA signature) and
 * they are most of its cost.  tls_pick() chooses, once, the fastest
 * code this BearSSL has and this CPU runs for each primitive.  With
 * Debian's BearSSL 0.6 on x86-64 the library's own defaults are that
 * already, except for Curve25519: X25519 goes to libsodium, some four
 * times faster than any Curve25519 code in BearSSL 0.6.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>
#include <sodium.h>

#include "pem.h"
#include "tls.h"

#define TLS_IBUF_SIZE	BR_SSL_BUFSIZE_INPUT	/* 16 KiB + 325 */
#define TLS_OBUF_SIZE	(4096 + 85)		/* 4 KiB records + 85 */
#define TLS_EE_MAX	8192	/* end-entity cert kept for an IP check */
#define TLS_ERR_MAX	128
#define TLS_NAME_MAX	256	/* BearSSL's server_name buffer */
/*
 * Socket reads per call: a peer that streams empty records must not
 * hold the loop.  Stopping early is safe with level-triggered interest:
 * the socket stays readable and the loop calls again.
 */
#define TLS_RUN_READS	16

/* tls_conn.flags */
#define TLS_F_HSDONE	0x01	/* handshake completed */
#define TLS_F_FAILED	0x02	/* sticky failure: sys_errno or why */
#define TLS_F_EOF	0x04	/* no more bytes will come */
#define TLS_F_TRUNC	0x08	/* socket closed without close_notify */
#define TLS_F_CLOSING	0x10	/* tls_close() started */
#define TLS_F_NODELAY	0x20	/* TCP_NODELAY was asked for */
#define TLS_F_ALERTED	0x40	/* tls_cert_alert() was sent */

struct tls_server_creds {
	unsigned		 refs;
	struct pem_chain	 chain;
	struct pem_key		*key;
	unsigned		 issuer_type;	/* the EE's CA key */
	char			 desc[24];
};

struct tls_client_creds {
	unsigned		 refs;
	struct pem_anchors	 anchors;
};

/* What both roles share; the role structures below start with it. */
struct tls_conn {
	br_ssl_engine_context	*eng;
	int			 role;
	unsigned		 flags;
	int			 sys_errno;	/* errno that failed us */
	const char		*why;		/* reason of our own */
	char			 errbuf[TLS_ERR_MAX];
	unsigned char		 ibuf[TLS_IBUF_SIZE];
	unsigned char		 obuf[TLS_OBUF_SIZE];
};

struct tls_sconn {
	struct tls_conn		 c;
	struct tls_server_creds	*creds;
	br_ssl_server_context	 sc;
};

/*
 * The client's certificate check, an X.509 class of our own around
 * BearSSL's.  At TLS_LEVEL_VERIFY it runs the "minimal" engine (chain
 * to an anchor, host name against the DNS names) and, when the next hop
 * is an address, also looks for it among the end entity's IP address
 * names, which BearSSL does not check.  At TLS_LEVEL_REQUIRED it only
 * decodes the end entity for its public key: any certificate will do,
 * the key is still needed to check the server's key exchange.
 */
struct tls_x509 {
	const br_x509_class	*vtable;	/* first: our class */
	struct tls_conn		*conn;		/* for why */
	int			 level;
	uint32_t		 ncert;		/* certificates ended */
	size_t			 iplen;		/* 4, 16: an IP */
	unsigned char		 ip[16];
	size_t			 eelen;
	int			 ee_overflow;
	union {
		br_x509_minimal_context	min;
		br_x509_decoder_context	dec;
	} u;
	unsigned char		 ee[TLS_EE_MAX];
};

struct tls_cconn {
	struct tls_conn		 c;
	struct tls_client_creds	*creds;
	br_ssl_client_context	 cc;
	struct tls_x509		 x;
	char			 peer[TLS_NAME_MAX];
};

/* Suites in preference order, for CPUs with and without fast AES. */
static const uint16_t tls_suites_aes[] = {
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
};
static const uint16_t tls_suites_chacha[] = {
	BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
};

static const struct {
	uint16_t	 id;
	const char	*name;
} tls_suite_names[] = {
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	    "ECDHE-ECDSA-AES128-GCM-SHA256" },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	    "ECDHE-ECDSA-AES256-GCM-SHA384" },
	{ BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	    "ECDHE-ECDSA-CHACHA20-POLY1305" },
	{ BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	    "ECDHE-RSA-AES128-GCM-SHA256" },
	{ BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	    "ECDHE-RSA-AES256-GCM-SHA384" },
	{ BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	    "ECDHE-RSA-CHACHA20-POLY1305" }
};

/*
 * The implementations every engine uses, picked once by tls_pick().
 * tls_ec sends each curve to its own code: P-256 and Curve25519 to the
 * fastest there is, the other curves to BearSSL's default.
 */
static struct {
	int			 done;
	int			 sodium25519;	/* X25519 by libsodium */
	int			 c25519_le;	/* BearSSL 0.6's byte order */
	const br_ec_impl	*p256;
	const br_ec_impl	*c25519;
	const br_ec_impl	*other;		/* P-384, P-521 */
	br_ecdsa_sign		 ecdsa_sign;
	br_ecdsa_vrfy		 ecdsa_vrfy;
	br_rsa_private		 rsa_priv;
	br_rsa_pkcs1_sign	 rsa_sign;
	br_rsa_pkcs1_vrfy	 rsa_vrfy;
	const br_block_ctr_class *aes_ctr;
	int			 fastaes;	/* AES in hardware */
	br_ghash		 ghash;
	br_chacha20_run		 chacha20;
	br_poly1305_run		 poly1305;
	char			 desc[192];
} tls_impl;

static void	tls_pick(void);
static const br_ec_impl *tls_ec_for(int);
static const unsigned char *tls_ec_generator(int, size_t *);
static const unsigned char *tls_ec_order(int, size_t *);
static size_t	tls_ec_xoff(int, size_t *);
static uint32_t	tls_ec_mul(unsigned char *, size_t, const unsigned char *,
		    size_t, int);
static size_t	tls_ec_mulgen(unsigned char *, const unsigned char *, size_t,
		    int);
static uint32_t	tls_ec_muladd(unsigned char *, const unsigned char *,
		    size_t, const unsigned char *, size_t,
		    const unsigned char *, size_t, int);
static int	tls_c25519_le(const br_ec_impl *);
static int	tls_x25519_scalar(unsigned char *, const unsigned char *,
		    size_t);
static void	tls_engine_setup(br_ssl_engine_context *, struct tls_conn *);
static int	tls_key_matches(const struct pem_key *, const br_x509_pkey *);
static int	tls_der(const unsigned char *, size_t, size_t *, unsigned *,
		    size_t *);
static int	tls_ip_match(const unsigned char *, size_t,
		    const unsigned char *, size_t);
static void	tls_x509_start_chain(const br_x509_class **, const char *);
static void	tls_x509_start_cert(const br_x509_class **, uint32_t);
static void	tls_x509_append(const br_x509_class **,
		    const unsigned char *, size_t);
static void	tls_x509_end_cert(const br_x509_class **);
static unsigned	tls_x509_end_chain(const br_x509_class **);
static const br_x509_pkey *tls_x509_get_pkey(const br_x509_class *const *,
		    unsigned *);
static void	tls_nodelay(struct tls_conn *, int);
static int	tls_fail(struct tls_conn *, int, const char *);
static int	tls_check(struct tls_conn *);
static int	tls_send_some(struct tls_conn *, int);
static int	tls_recv_some(struct tls_conn *, int);
static int	tls_run(struct tls_conn *, int, unsigned);
static void	tls_cert_alert(struct tls_conn *, int);
static const char *tls_alert_name(int);
static const char *tls_engine_strerror(int);

/* P-256, P-384, P-521 and Curve25519, as br_ec_all_m31 has them. */
static const br_ec_impl tls_ec = {
	(uint32_t)1 << BR_EC_secp256r1 | (uint32_t)1 << BR_EC_secp384r1 |
	    (uint32_t)1 << BR_EC_secp521r1 | (uint32_t)1 << BR_EC_curve25519,
	tls_ec_generator,
	tls_ec_order,
	tls_ec_xoff,
	tls_ec_mul,
	tls_ec_mulgen,
	tls_ec_muladd
};

static const br_x509_class tls_x509_vtable = {
	sizeof(struct tls_x509),
	tls_x509_start_chain,
	tls_x509_start_cert,
	tls_x509_append,
	tls_x509_end_cert,
	tls_x509_end_chain,
	tls_x509_get_pkey
};

/*
 * Implementations.
 */

/*
 * Pick, once, the fastest code for each primitive.  BearSSL's own
 * defaults (br_ssl_engine_set_default_*) are partly decided when the
 * library is compiled; here each getter is asked at run time, and one
 * that returns NULL (no such CPU feature, or a build without that
 * code) falls through to the next, ending at BearSSL's default.  The
 * getters of the 64-bit curve code, which Debian's BearSSL 0.6 does
 * not have, are asked only when configure found them.
 */
static void
tls_pick(void)
{
	const br_ec_impl	*ec;

	if (tls_impl.done)
		return;
	tls_impl.done = 1;

	/*
	 * br_ec_get_default() is br_ec_all_m31 (m15 on CPUs with a slow
	 * multiplier): the fallback for every curve.  In 0.6 it is the
	 * 31-bit code; later releases have it call the m64 code where the
	 * compiler allows, which the getters below then name outright.
	 */
	ec = br_ec_get_default();
	tls_impl.p256 = tls_impl.c25519 = tls_impl.other = ec;
#ifdef HAVE_BR_EC_P256_M64_GET
	if (tls_impl.p256 == ec && br_ec_p256_m64_get() != NULL)
		tls_impl.p256 = br_ec_p256_m64_get();
#endif
#ifdef HAVE_BR_EC_P256_M62_GET
	if (tls_impl.p256 == ec && br_ec_p256_m62_get() != NULL)
		tls_impl.p256 = br_ec_p256_m62_get();
#endif
#ifdef HAVE_BR_EC_C25519_M64_GET
	if (tls_impl.c25519 == ec && br_ec_c25519_m64_get() != NULL)
		tls_impl.c25519 = br_ec_c25519_m64_get();
#endif
#ifdef HAVE_BR_EC_C25519_M62_GET
	if (tls_impl.c25519 == ec && br_ec_c25519_m62_get() != NULL)
		tls_impl.c25519 = br_ec_c25519_m62_get();
#endif
	/*
	 * libsodium's X25519 (fixed-base with a precomputed table, the
	 * ladder in 64-bit arithmetic) is constant-time like BearSSL's and
	 * some four times faster than br_ec_c25519_m31; the program links
	 * libsodium anyway.  sodium_init() is idempotent.
	 */
	tls_impl.sodium25519 = sodium_init() >= 0;
	if (tls_impl.sodium25519)
		tls_impl.c25519_le = tls_c25519_le(tls_impl.c25519);

	/* ECDSA: i31 (or i15) arithmetic modulo the order, tls_ec's points. */
	tls_impl.ecdsa_sign = br_ecdsa_sign_asn1_get_default();
	tls_impl.ecdsa_vrfy = br_ecdsa_vrfy_asn1_get_default();

	/* RSA: 62-bit limbs where the compiler has 64x64->128 products. */
	if ((tls_impl.rsa_priv = br_rsa_i62_private_get()) == 0)
		tls_impl.rsa_priv = br_rsa_private_get_default();
	if ((tls_impl.rsa_sign = br_rsa_i62_pkcs1_sign_get()) == 0)
		tls_impl.rsa_sign = br_rsa_pkcs1_sign_get_default();
	if ((tls_impl.rsa_vrfy = br_rsa_i62_pkcs1_vrfy_get()) == 0)
		tls_impl.rsa_vrfy = br_rsa_pkcs1_vrfy_get_default();

	/*
	 * AES-GCM: AES-NI and PCLMULQDQ (or POWER8); without them the
	 * constant-time bitsliced AES and GHASH, which are slow enough that
	 * tls_engine_setup() puts ChaCha20 first.
	 */
	if ((tls_impl.aes_ctr = br_aes_x86ni_ctr_get_vtable()) == NULL)
		tls_impl.aes_ctr = br_aes_pwr8_ctr_get_vtable();
	tls_impl.fastaes = tls_impl.aes_ctr != NULL;
	if (tls_impl.aes_ctr == NULL)
		tls_impl.aes_ctr = sizeof(void *) >= 8 ?
		    &br_aes_ct64_ctr_vtable : &br_aes_ct_ctr_vtable;
	if ((tls_impl.ghash = br_ghash_pclmul_get()) == 0 &&
	    (tls_impl.ghash = br_ghash_pwr8_get()) == 0)
		tls_impl.ghash = sizeof(void *) >= 8 ? br_ghash_ctmul64 :
		    br_ghash_ctmul;

	/* ChaCha20 with SSE2; Poly1305 with 64x64->128 products. */
	if ((tls_impl.chacha20 = br_chacha20_sse2_get()) == 0)
		tls_impl.chacha20 = br_chacha20_ct_run;
	if ((tls_impl.poly1305 = br_poly1305_ctmulq_get()) == 0)
		tls_impl.poly1305 = br_poly1305_ctmul_run;

	snprintf(tls_impl.desc, sizeof(tls_impl.desc),
	    "P-256 %s, X25519 %s, P-384/521 %s, RSA %s, AES %s, GHASH %s, "
	    "ChaCha20 %s, Poly1305 %s",
	    tls_impl.p256 == &br_ec_all_m31 ? "m31" :
	    tls_impl.p256 == &br_ec_all_m15 ? "m15" : "m62/m64",
	    tls_impl.sodium25519 ? "libsodium" :
	    tls_impl.c25519 == &br_ec_all_m31 ? "m31" :
	    tls_impl.c25519 == &br_ec_all_m15 ? "m15" : "m62/m64",
	    tls_impl.other == &br_ec_all_m31 ? "i31" : "i15",
	    tls_impl.rsa_priv == br_rsa_i62_private ? "i62" :
	    tls_impl.rsa_priv == br_rsa_i31_private ? "i31" : "i15",
	    !tls_impl.fastaes ? "ct" :
	    tls_impl.aes_ctr == br_aes_x86ni_ctr_get_vtable() ? "x86ni" :
	    "pwr8",
	    tls_impl.ghash == br_ghash_pclmul_get() &&
	    tls_impl.ghash != 0 ? "pclmul" :
	    tls_impl.ghash == br_ghash_ctmul64 ? "ctmul64" : "other",
	    tls_impl.chacha20 == br_chacha20_ct_run ? "ct" : "sse2",
	    tls_impl.poly1305 == br_poly1305_ctmul_run ? "ctmul" : "ctmulq");
}

const char *
tls_impl_describe(void)
{
	tls_pick();
	return tls_impl.desc;
}

const void *
tls_ec_impl(void)
{
	tls_pick();
	return &tls_ec;
}

static const br_ec_impl *
tls_ec_for(int curve)
{
	switch (curve) {
	case BR_EC_secp256r1:
		return tls_impl.p256;
	case BR_EC_curve25519:
		return tls_impl.c25519;
	default:
		return tls_impl.other;
	}
}

static const unsigned char *
tls_ec_generator(int curve, size_t *len)
{
	return tls_ec_for(curve)->generator(curve, len);
}

static const unsigned char *
tls_ec_order(int curve, size_t *len)
{
	return tls_ec_for(curve)->order(curve, len);
}

static size_t
tls_ec_xoff(int curve, size_t *len)
{
	return tls_ec_for(curve)->xoff(curve, len);
}

/*
 * Which byte order BearSSL's Curve25519 code reads a multiplier in:
 * little-endian up to 0.6, big-endian (as documented) since upstream
 * fixed it in December 2018.  The engine's ECDHE keys are random bytes,
 * so TLS works either way, but reading them as the library would keeps
 * libsodium's results the very ones BearSSL's code gives (the tests
 * compare them).  Asked once, with RFC 7748's Alice (section 6.1): 1 if
 * her key read little-endian gives her public key.
 */
static int
tls_c25519_le(const br_ec_impl *ec)
{
	static const unsigned char	 a[32] = {
	    0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d,
	    0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2, 0x66, 0x45,
	    0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a,
	    0xb1, 0x77, 0xfb, 0xa5, 0x1d, 0xb9, 0x2c, 0x2a };
	static const unsigned char	 pub[32] = {
	    0x85, 0x20, 0xf0, 0x09, 0x89, 0x30, 0xa7, 0x54,
	    0x74, 0x8b, 0x7d, 0xdc, 0xb4, 0x3e, 0xf7, 0x5a,
	    0x0d, 0xbf, 0x3a, 0x0d, 0x26, 0x38, 0x1a, 0xf4,
	    0xeb, 0xa4, 0xa9, 0x8e, 0xaa, 0x9b, 0x4e, 0x6a };
	unsigned char			 out[32];

	return ec->mulgen(out, a, sizeof(a), BR_EC_curve25519) == 32 &&
	    memcmp(out, pub, sizeof(pub)) == 0;
}

/*
 * A Curve25519 multiplier from BearSSL, at most 32 bytes in its byte
 * order and short ones padded on the high side, into the 32
 * little-endian bytes libsodium wants.  Both clamp it the same way
 * (RFC 7748, section 5).  0 when it does not fit.
 */
static int
tls_x25519_scalar(unsigned char *le, const unsigned char *x, size_t xlen)
{
	size_t	 i;

	if (xlen > 32)
		return 0;
	memset(le, 0, 32);
	for (i = 0; i < xlen; i++)
		le[i] = tls_impl.c25519_le ? x[i] : x[xlen - 1 - i];
	return 1;
}

/*
 * G = x * G.  For X25519 through libsodium an all-zero result (the
 * peer sent a point of small order) fails the exchange, as RFC 7748,
 * section 6.1 allows; BearSSL's own code would go on with it.
 */
static uint32_t
tls_ec_mul(unsigned char *G, size_t Glen, const unsigned char *x,
    size_t xlen, int curve)
{
	unsigned char	 k[32], u[32];
	int		 r;

	if (curve != BR_EC_curve25519 || !tls_impl.sodium25519)
		return tls_ec_for(curve)->mul(G, Glen, x, xlen, curve);
	if (Glen != 32 || !tls_x25519_scalar(k, x, xlen))
		return 0;
	/* BearSSL's point is the 32-byte u-coordinate, as libsodium's. */
	memcpy(u, G, 32);
	r = crypto_scalarmult_curve25519(G, k, u);
	sodium_memzero(k, sizeof(k));
	return r == 0;
}

static size_t
tls_ec_mulgen(unsigned char *R, const unsigned char *x, size_t xlen,
    int curve)
{
	unsigned char	 k[32];
	int		 r;

	if (curve != BR_EC_curve25519 || !tls_impl.sodium25519)
		return tls_ec_for(curve)->mulgen(R, x, xlen, curve);
	if (!tls_x25519_scalar(k, x, xlen))
		return 0;
	r = crypto_scalarmult_curve25519_base(R, k);
	sodium_memzero(k, sizeof(k));
	return r == 0 ? 32 : 0;
}

/* A = x*A + y*B (ECDSA verification); not defined for Curve25519. */
static uint32_t
tls_ec_muladd(unsigned char *A, const unsigned char *B, size_t len,
    const unsigned char *x, size_t xlen, const unsigned char *y,
    size_t ylen, int curve)
{
	return tls_ec_for(curve)->muladd(A, B, len, x, xlen, y, ylen, curve);
}

/*
 * Credentials.
 */

/* Whether the private key is the one of the certificate's public key. */
static int
tls_key_matches(const struct pem_key *key, const br_x509_pkey *pk)
{
	unsigned char		 n[BR_X509_BUFSIZE_KEY];
	unsigned char		 kbuf[BR_EC_KBUF_PUB_MAX_SIZE];
	br_rsa_compute_modulus	 modulus;
	br_ec_public_key	 pub;
	const unsigned char	*cn;
	size_t			 nlen, cnlen, i;

	tls_pick();
	if (key->type != pk->key_type)
		return 0;
	if (key->type == BR_KEYTYPE_RSA) {
		modulus = br_rsa_compute_modulus_get_default();
		if ((nlen = modulus(NULL, &key->u.rsa)) == 0 ||
		    nlen > sizeof(n) || modulus(n, &key->u.rsa) != nlen)
			return 0;
		/* Both are big-endian; leading zeros do not count. */
		for (i = 0; i < nlen && n[i] == 0; i++)
			;
		cn = pk->key.rsa.n;
		cnlen = pk->key.rsa.nlen;
		while (cnlen > 0 && *cn == 0)
			cn++, cnlen--;
		return nlen - i == cnlen && memcmp(n + i, cn, cnlen) == 0;
	}
	if (pk->key.ec.curve != key->u.ec.curve ||
	    br_ec_compute_pub(&tls_ec, &pub, kbuf, &key->u.ec) == 0)
		return 0;
	return pub.qlen == pk->key.ec.qlen &&
	    memcmp(pub.q, pk->key.ec.q, pub.qlen) == 0;
}

int
tls_server_creds_load(const char *certfile, const char *keyfile,
    struct tls_server_creds **credsp, char *err, size_t errlen)
{
	struct tls_server_creds	*cr;
	br_x509_decoder_context	 dc;
	const br_x509_pkey	*pk;

	*credsp = NULL;
	if ((cr = calloc(1, sizeof(*cr))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cr->refs = 1;
	if (pem_chain_load(certfile, &cr->chain, err, errlen) == -1)
		goto fail;
	if (pem_key_load(keyfile, &cr->key, err, errlen) == -1)
		goto fail;
	/* pem_chain_load() decoded every certificate already. */
	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, cr->chain.certs[0].data,
	    cr->chain.certs[0].data_len);
	if ((pk = br_x509_decoder_get_pkey(&dc)) == NULL) {
		snprintf(err, errlen, "%s: the first certificate has no "
		    "usable public key", certfile);
		goto fail;
	}
	if (!tls_key_matches(cr->key, pk)) {
		snprintf(err, errlen, "%s does not match the certificate in "
		    "%s", keyfile, certfile);
		goto fail;
	}
	cr->issuer_type = br_x509_decoder_get_signer_key_type(&dc);
	if (cr->issuer_type == 0)
		cr->issuer_type = cr->key->type;
	if (cr->key->type == BR_KEYTYPE_RSA)
		snprintf(cr->desc, sizeof(cr->desc), "RSA-%u",
		    cr->key->bits);
	else
		snprintf(cr->desc, sizeof(cr->desc), "EC P-%u",
		    cr->key->bits);
	*credsp = cr;
	return 0;
fail:
	tls_server_creds_unref(cr);
	return -1;
}

void
tls_server_creds_ref(struct tls_server_creds *cr)
{
	cr->refs++;
}

void
tls_server_creds_unref(struct tls_server_creds *cr)
{
	if (cr == NULL || --cr->refs > 0)
		return;
	pem_chain_free(&cr->chain);
	pem_key_free(cr->key);
	free(cr);
}

const char *
tls_server_creds_describe(const struct tls_server_creds *cr)
{
	return cr->desc;
}

int
tls_client_creds_load(const char *trustfile,
    struct tls_client_creds **credsp, char *err, size_t errlen)
{
	struct tls_client_creds	*cr;

	*credsp = NULL;
	if ((cr = calloc(1, sizeof(*cr))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cr->refs = 1;
	if (trustfile != NULL &&
	    pem_anchors_load(trustfile, &cr->anchors, err, errlen) == -1) {
		free(cr);
		return -1;
	}
	*credsp = cr;
	return 0;
}

void
tls_client_creds_ref(struct tls_client_creds *cr)
{
	cr->refs++;
}

void
tls_client_creds_unref(struct tls_client_creds *cr)
{
	if (cr == NULL || --cr->refs > 0)
		return;
	pem_anchors_free(&cr->anchors);
	free(cr);
}

size_t
tls_client_creds_anchors(const struct tls_client_creds *cr)
{
	return cr->anchors.n;
}

/*
 * Connections.
 */

/* What server and client engines share: versions, suites, algorithms. */
static void
tls_engine_setup(br_ssl_engine_context *eng, struct tls_conn *c)
{
	tls_pick();
	br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
	/*
	 * Without AES instructions BearSSL's AES is constant-time but
	 * slow, and ChaCha20 is the better first choice.
	 */
	if (tls_impl.fastaes)
		br_ssl_engine_set_suites(eng, tls_suites_aes,
		    sizeof(tls_suites_aes) / sizeof(tls_suites_aes[0]));
	else
		br_ssl_engine_set_suites(eng, tls_suites_chacha,
		    sizeof(tls_suites_chacha) / sizeof(tls_suites_chacha[0]));
	/* TLS 1.2 PRFs and signatures; no SHA-1, no MD5. */
	br_ssl_engine_set_hash(eng, br_sha256_ID, &br_sha256_vtable);
	br_ssl_engine_set_hash(eng, br_sha384_ID, &br_sha384_vtable);
	br_ssl_engine_set_hash(eng, br_sha512_ID, &br_sha512_vtable);
	br_ssl_engine_set_prf_sha256(eng, &br_tls12_sha256_prf);
	br_ssl_engine_set_prf_sha384(eng, &br_tls12_sha384_prf);
	br_ssl_engine_set_gcm(eng, &br_sslrec_in_gcm_vtable,
	    &br_sslrec_out_gcm_vtable);
	br_ssl_engine_set_aes_ctr(eng, tls_impl.aes_ctr);
	br_ssl_engine_set_ghash(eng, tls_impl.ghash);
	br_ssl_engine_set_chapol(eng, &br_sslrec_in_chapol_vtable,
	    &br_sslrec_out_chapol_vtable);
	br_ssl_engine_set_chacha20(eng, tls_impl.chacha20);
	br_ssl_engine_set_poly1305(eng, tls_impl.poly1305);
	/* ECDHE; BearSSL's server takes X25519 whenever the client has it. */
	br_ssl_engine_set_ec(eng, &tls_ec);
	br_ssl_engine_set_buffers_bidi(eng, c->ibuf, sizeof(c->ibuf),
	    c->obuf, sizeof(c->obuf));
	/* A client-driven renegotiation is work for us and nothing else. */
	br_ssl_engine_add_flags(eng, BR_OPT_NO_RENEGOTIATION);
}

struct tls_conn *
tls_server_new(struct tls_server_creds *cr, char *err, size_t errlen)
{
	struct tls_sconn	*s;
	br_ssl_server_context	*sc;

	/* A listener or a session must never reach TLS without a key. */
	if (cr == NULL) {
		snprintf(err, errlen, "TLS is not available: no certificate");
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory for TLS");
		return NULL;
	}
	s->c.role = TLS_ROLE_SERVER;
	s->c.eng = &s->sc.eng;
	sc = &s->sc;
	br_ssl_server_zero(sc);
	tls_engine_setup(&sc->eng, &s->c);
	if (cr->key->type == BR_KEYTYPE_RSA)
		br_ssl_server_set_single_rsa(sc, cr->chain.certs, cr->chain.n,
		    &cr->key->u.rsa, BR_KEYTYPE_SIGN,
		    tls_impl.rsa_priv, tls_impl.rsa_sign);
	else
		br_ssl_server_set_single_ec(sc, cr->chain.certs, cr->chain.n,
		    &cr->key->u.ec, BR_KEYTYPE_SIGN, cr->issuer_type,
		    &tls_ec, tls_impl.ecdsa_sign);
	br_ssl_engine_add_flags(&sc->eng, BR_OPT_ENFORCE_SERVER_PREFERENCES);
	if (!br_ssl_server_reset(sc)) {
		snprintf(err, errlen, "TLS server setup: %s",
		    tls_engine_strerror(br_ssl_engine_last_error(&sc->eng)));
		sodium_memzero(s, sizeof(*s));
		free(s);
		return NULL;
	}
	tls_server_creds_ref(cr);
	s->creds = cr;
	return &s->c;
}

struct tls_conn *
tls_client_new(struct tls_client_creds *cr, const char *peer, int level,
    char *err, size_t errlen)
{
	struct tls_cconn	*k;
	br_ssl_client_context	*cc;
	struct tls_x509		*x;
	const char		*sni;
	size_t			 n;
	int			 i;

	if (level != TLS_LEVEL_REQUIRED && level != TLS_LEVEL_VERIFY) {
		snprintf(err, errlen, "bad TLS level %d", level);
		return NULL;
	}
	if (level == TLS_LEVEL_VERIFY && cr->anchors.n == 0) {
		snprintf(err, errlen, "tls verify for %s needs trust "
		    "anchors (tls trust)", peer);
		return NULL;
	}
	n = strlen(peer);
	/* A trailing dot is the DNS root: neither SNI nor certs have it. */
	if (n > 0 && peer[n - 1] == '.')
		n--;
	if (n == 0 || n >= TLS_NAME_MAX) {
		snprintf(err, errlen, "bad TLS peer name");
		return NULL;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		snprintf(err, errlen, "out of memory for TLS");
		return NULL;
	}
	memcpy(k->peer, peer, n);
	k->peer[n] = '\0';
	k->c.role = TLS_ROLE_CLIENT;
	k->c.eng = &k->cc.eng;
	cc = &k->cc;
	x = &k->x;

	x->vtable = &tls_x509_vtable;
	x->conn = &k->c;
	x->level = level;
	if (inet_pton(AF_INET, k->peer, x->ip) == 1)
		x->iplen = 4;
	else if (inet_pton(AF_INET6, k->peer, x->ip) == 1) {
		static const unsigned char mapped[12] = {
		    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

		/* An IPv4-mapped next hop is an IPv4 host. */
		if (memcmp(x->ip, mapped, sizeof(mapped)) == 0) {
			memmove(x->ip, x->ip + 12, 4);
			x->iplen = 4;
		} else
			x->iplen = 16;
	}
	if (level == TLS_LEVEL_VERIFY) {
		br_x509_minimal_init(&x->u.min, &br_sha256_vtable,
		    cr->anchors.ta, cr->anchors.n);
		for (i = br_sha224_ID; i <= br_sha512_ID; i++)
			br_x509_minimal_set_hash(&x->u.min, i,
			    i == br_sha224_ID ? &br_sha224_vtable :
			    i == br_sha256_ID ? &br_sha256_vtable :
			    i == br_sha384_ID ? &br_sha384_vtable :
			    &br_sha512_vtable);
		tls_pick();
		br_x509_minimal_set_rsa(&x->u.min, tls_impl.rsa_vrfy);
		br_x509_minimal_set_ecdsa(&x->u.min, &tls_ec,
		    tls_impl.ecdsa_vrfy);
	}

	br_ssl_client_zero(cc);
	tls_engine_setup(&cc->eng, &k->c);
	br_ssl_engine_set_rsavrfy(&cc->eng, tls_impl.rsa_vrfy);
	br_ssl_engine_set_ecdsa(&cc->eng, tls_impl.ecdsa_vrfy);
	br_ssl_engine_set_x509(&cc->eng, &x->vtable);
	/*
	 * No SNI for an address (RFC 6066, section 3); without a name
	 * the minimal engine checks no name, and tls_x509_end_chain()
	 * checks the address instead.
	 */
	sni = x->iplen != 0 ? NULL : k->peer;
	if (!br_ssl_client_reset(cc, sni, 0)) {
		snprintf(err, errlen, "TLS client setup: %s",
		    tls_engine_strerror(br_ssl_engine_last_error(&cc->eng)));
		sodium_memzero(k, sizeof(*k));
		free(k);
		return NULL;
	}
	tls_client_creds_ref(cr);
	k->creds = cr;
	return &k->c;
}

void
tls_free(struct tls_conn *c)
{
	size_t	 size;

	if (c == NULL)
		return;
	if (c->role == TLS_ROLE_SERVER) {
		tls_server_creds_unref(((struct tls_sconn *)c)->creds);
		size = sizeof(struct tls_sconn);
	} else {
		tls_client_creds_unref(((struct tls_cconn *)c)->creds);
		size = sizeof(struct tls_cconn);
	}
	/* Keys, master secret and plaintext live in here. */
	sodium_memzero(c, size);
	free(c);
}

size_t
tls_conn_size(int role)
{
	return role == TLS_ROLE_SERVER ? sizeof(struct tls_sconn) :
	    sizeof(struct tls_cconn);
}

/*
 * The client's X.509 class.
 */

/*
 * Read one DER header at *off, below end: the tag (low tag numbers
 * only, which is all the walk below meets) and a content length that
 * fits before end.  Returns 0, or -1 on anything malformed.
 */
static int
tls_der(const unsigned char *p, size_t end, size_t *off, unsigned *tag,
    size_t *len)
{
	size_t	 o, l;
	unsigned n;

	o = *off;
	if (o > end || end - o < 2)
		return -1;
	*tag = p[o++];
	if ((*tag & 0x1f) == 0x1f)
		return -1;
	l = p[o++];
	if (l & 0x80) {
		n = l & 0x7f;
		if (n == 0 || n > 3 || end - o < n)
			return -1;
		for (l = 0; n > 0; n--)
			l = (l << 8) | p[o++];
	}
	if (l > end - o)
		return -1;
	*off = o;
	*len = l;
	return 0;
}

/*
 * Look for the address among the iPAddress names of the certificate's
 * subjectAltName (RFC 5280, 4.2.1.6).  Returns 1 found, 0 not found,
 * -1 malformed.  Every length is checked against its container.
 */
static int
tls_ip_match(const unsigned char *der, size_t len, const unsigned char *ip,
    size_t iplen)
{
	static const unsigned char san_oid[] = { 0x55, 0x1d, 0x11 };
	size_t	 off, clen, tend, eend, xend, gend;
	unsigned tag;
	int	 san;

	off = 0;
	/* Certificate, then tbsCertificate. */
	if (tls_der(der, len, &off, &tag, &clen) == -1 || tag != 0x30)
		return -1;
	if (tls_der(der, off + clen, &off, &tag, &clen) == -1 || tag != 0x30)
		return -1;
	tend = off + clen;
	while (off < tend) {
		if (tls_der(der, tend, &off, &tag, &clen) == -1)
			return -1;
		if (tag != 0xa3) {		/* not [3] extensions */
			off += clen;
			continue;
		}
		if (tls_der(der, off + clen, &off, &tag, &clen) == -1 ||
		    tag != 0x30)
			return -1;
		eend = off + clen;
		while (off < eend) {
			/* Extension ::= SEQUENCE { OID, [BOOLEAN], OCTETS } */
			if (tls_der(der, eend, &off, &tag, &clen) == -1 ||
			    tag != 0x30)
				return -1;
			xend = off + clen;
			if (tls_der(der, xend, &off, &tag, &clen) == -1 ||
			    tag != 0x06)
				return -1;
			san = clen == sizeof(san_oid) &&
			    memcmp(der + off, san_oid, clen) == 0;
			off += clen;
			if (!san) {
				off = xend;
				continue;
			}
			if (tls_der(der, xend, &off, &tag, &clen) == -1)
				return -1;
			if (tag == 0x01) {
				off += clen;
				if (tls_der(der, xend, &off, &tag,
				    &clen) == -1)
					return -1;
			}
			if (tag != 0x04 || tls_der(der, off + clen, &off,
			    &tag, &clen) == -1 || tag != 0x30)
				return -1;
			gend = off + clen;
			while (off < gend) {
				if (tls_der(der, gend, &off, &tag,
				    &clen) == -1)
					return -1;
				/* [7] iPAddress, OCTET STRING of 4 or 16 */
				if (tag == 0x87 && clen == iplen &&
				    memcmp(der + off, ip, iplen) == 0)
					return 1;
				off += clen;
			}
			return 0;
		}
		return 0;
	}
	return 0;
}

static void
tls_x509_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct tls_x509	*x = (struct tls_x509 *)(void *)ctx;

	x->ncert = 0;
	x->eelen = 0;
	x->ee_overflow = 0;
	if (x->level == TLS_LEVEL_VERIFY)
		x->u.min.vtable->start_chain(&x->u.min.vtable, server_name);
	else
		br_x509_decoder_init(&x->u.dec, NULL, NULL);
}

static void
tls_x509_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct tls_x509	*x = (struct tls_x509 *)(void *)ctx;

	if (x->level == TLS_LEVEL_VERIFY)
		x->u.min.vtable->start_cert(&x->u.min.vtable, length);
	if (x->ncert == 0 && length > sizeof(x->ee))
		x->ee_overflow = 1;
}

static void
tls_x509_append(const br_x509_class **ctx, const unsigned char *buf,
    size_t len)
{
	struct tls_x509	*x = (struct tls_x509 *)(void *)ctx;

	if (x->level == TLS_LEVEL_VERIFY) {
		x->u.min.vtable->append(&x->u.min.vtable, buf, len);
		if (x->ncert != 0 || x->iplen == 0 || x->ee_overflow)
			return;
		if (len > sizeof(x->ee) - x->eelen) {
			x->ee_overflow = 1;
			return;
		}
		memcpy(x->ee + x->eelen, buf, len);
		x->eelen += len;
	} else if (x->ncert == 0)
		br_x509_decoder_push(&x->u.dec, buf, len);
}

static void
tls_x509_end_cert(const br_x509_class **ctx)
{
	struct tls_x509	*x = (struct tls_x509 *)(void *)ctx;

	if (x->level == TLS_LEVEL_VERIFY)
		x->u.min.vtable->end_cert(&x->u.min.vtable);
	x->ncert++;
}

static unsigned
tls_x509_end_chain(const br_x509_class **ctx)
{
	struct tls_x509	*x = (struct tls_x509 *)(void *)ctx;
	unsigned	 r;

	if (x->level != TLS_LEVEL_VERIFY) {
		if (x->ncert == 0)
			return BR_ERR_X509_EMPTY_CHAIN;
		return (unsigned)br_x509_decoder_last_error(&x->u.dec);
	}
	if ((r = x->u.min.vtable->end_chain(&x->u.min.vtable)) != 0)
		return r;
	if (x->iplen == 0)
		return 0;
	if (x->ee_overflow) {
		x->conn->why = "certificate too large to check its IP "
		    "addresses";
		return BR_ERR_X509_BAD_SERVER_NAME;
	}
	if (tls_ip_match(x->ee, x->eelen, x->ip, x->iplen) != 1)
		return BR_ERR_X509_BAD_SERVER_NAME;
	return 0;
}

static const br_x509_pkey *
tls_x509_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	struct tls_x509	*x = (struct tls_x509 *)(void *)ctx;

	if (x->level == TLS_LEVEL_VERIFY)
		return x->u.min.vtable->get_pkey(&x->u.min.vtable, usages);
	if (usages != NULL)
		*usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
	return br_x509_decoder_get_pkey(&x->u.dec);
}

/*
 * Moving bytes.
 */

/* Make the failure sticky; returns -1 with errno set. */
static int
tls_fail(struct tls_conn *c, int e, const char *why)
{
	c->flags |= TLS_F_FAILED;
	c->sys_errno = e;
	if (why != NULL)
		c->why = why;
	errno = e;
	return -1;
}

/*
 * Before any work: -1 (errno set) if the connection failed, -2 if it
 * ended (clean close, or the socket closed after the handshake), 0 if
 * it is alive.
 */
static int
tls_check(struct tls_conn *c)
{
	if (c->flags & TLS_F_FAILED) {
		errno = c->sys_errno;
		return -1;
	}
	if (br_ssl_engine_current_state(c->eng) & BR_SSL_CLOSED) {
		if (br_ssl_engine_last_error(c->eng) != BR_ERR_OK)
			return tls_fail(c, EPROTO, NULL);
		if (!(c->flags & TLS_F_HSDONE))
			return tls_fail(c, ECONNRESET, "connection closed "
			    "during the handshake");
		return -2;
	}
	if (c->flags & TLS_F_EOF)
		return -2;
	return 0;
}

/*
 * BearSSL hands out one record at a time, so a flight of several
 * records (ChangeCipherSpec then Finished) takes several sends; with
 * Nagle's algorithm the second waits for the peer's delayed ACK, some
 * 40 ms per handshake.  Our records are already as large as the
 * engine's buffering makes them, so Nagle gains nothing.  Failure (not
 * TCP) is fine.
 */
static void
tls_nodelay(struct tls_conn *c, int fd)
{
	int	 one = 1;

	if (c->flags & TLS_F_NODELAY)
		return;
	c->flags |= TLS_F_NODELAY;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Send pending record bytes: 1 progress, 0 would block, -1 failed. */
static int
tls_send_some(struct tls_conn *c, int fd)
{
	unsigned char	*buf;
	size_t		 len;
	ssize_t		 r;

	if ((buf = br_ssl_engine_sendrec_buf(c->eng, &len)) == NULL)
		return 1;
	tls_nodelay(c, fd);
	for (;;) {
		r = send(fd, buf, len, MSG_NOSIGNAL);
		if (r > 0)
			break;
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return tls_fail(c, r == -1 ? errno : EIO, NULL);
	}
	br_ssl_engine_sendrec_ack(c->eng, (size_t)r);
	return 1;
}

/*
 * Receive record bytes: 1 progress, 0 would block, -1 failed, -2 the
 * socket closed (an error during the handshake).
 */
static int
tls_recv_some(struct tls_conn *c, int fd)
{
	unsigned char	*buf;
	size_t		 len;
	ssize_t		 r;

	if ((buf = br_ssl_engine_recvrec_buf(c->eng, &len)) == NULL)
		return 1;
	for (;;) {
		r = recv(fd, buf, len, 0);
		if (r >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return tls_fail(c, errno, NULL);
	}
	if (r == 0) {
		if (!(c->flags & TLS_F_HSDONE))
			return tls_fail(c, ECONNRESET, "peer closed the "
			    "connection during the handshake");
		c->flags |= TLS_F_EOF | TLS_F_TRUNC;
		return -2;
	}
	br_ssl_engine_recvrec_ack(c->eng, (size_t)r);
	return 1;
}

/*
 * Run the engine until its state has a bit of want (1), the socket
 * would block (0, errno EAGAIN), the stream ended (-2) or the
 * connection failed (-1).  Output goes first: the handshake's replies
 * and our records should not wait behind reading.  In full-duplex
 * mode the engine may also take records while its output is stuck,
 * so a blocked send does not stop reading.
 */
static int
tls_run(struct tls_conn *c, int fd, unsigned want)
{
	unsigned st;
	int	 r, wblocked, reads;

	reads = 0;
	for (;;) {
		if ((r = tls_check(c)) != 0)
			return r;
		st = br_ssl_engine_current_state(c->eng);
		if (st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP))
			c->flags |= TLS_F_HSDONE;
		wblocked = 0;
		if (st & BR_SSL_SENDREC) {
			if ((r = tls_send_some(c, fd)) == 1)
				continue;
			if (r == -1)
				return -1;
			wblocked = 1;
		}
		if (st & want)
			return 1;
		if ((st & BR_SSL_RECVREC) && reads < TLS_RUN_READS) {
			reads++;
			if ((r = tls_recv_some(c, fd)) == 1)
				continue;
			if (r != 0)
				return r;
			errno = EAGAIN;
			return 0;
		}
		if (wblocked || (st & BR_SSL_RECVREC)) {
			errno = EAGAIN;
			return 0;
		}
		/*
		 * Nothing to send, no room to receive, and not what we
		 * want: the peer's close_notify shut the receiving side.
		 * For a reader that is the end of the stream.
		 */
		if (want & BR_SSL_RECVAPP) {
			c->flags |= TLS_F_EOF;
			return -2;
		}
		return tls_fail(c, EPIPE, "connection is closing");
	}
}

ssize_t
tls_read(struct tls_conn *c, int fd, void *buf, size_t n)
{
	unsigned char	*p;
	size_t		 len;
	int		 r;

	if (n == 0) {
		errno = EINVAL;
		return -1;
	}
	if ((r = tls_run(c, fd, BR_SSL_RECVAPP)) == -2)
		return 0;
	if (r != 1)
		return -1;
	p = br_ssl_engine_recvapp_buf(c->eng, &len);
	if (len > n)
		len = n;
	memcpy(buf, p, len);
	br_ssl_engine_recvapp_ack(c->eng, len);
	return (ssize_t)len;
}

ssize_t
tls_write(struct tls_conn *c, int fd, const void *buf, size_t n)
{
	unsigned char	*p;
	size_t		 len;
	int		 r;

	if (n == 0)
		return 0;
	if (c->flags & TLS_F_CLOSING) {
		errno = EPIPE;
		return -1;
	}
	if ((r = tls_run(c, fd, BR_SSL_SENDAPP)) == -2) {
		errno = EPIPE;
		return -1;
	}
	if (r != 1)
		return -1;
	p = br_ssl_engine_sendapp_buf(c->eng, &len);
	if (len > n)
		len = n;
	memcpy(p, buf, len);
	br_ssl_engine_sendapp_ack(c->eng, len);
	return (ssize_t)len;
}

int
tls_flush(struct tls_conn *c, int fd)
{
	int	 r;

	if ((r = tls_check(c)) == -1)
		return -1;
	if (r == -2 && (br_ssl_engine_current_state(c->eng) &
	    BR_SSL_CLOSED)) {
		errno = EPIPE;
		return -1;
	}
	br_ssl_engine_flush(c->eng, 0);
	while (br_ssl_engine_current_state(c->eng) & BR_SSL_SENDREC) {
		if ((r = tls_send_some(c, fd)) == 0) {
			errno = EAGAIN;
			return -1;
		}
		if (r == -1)
			return -1;
	}
	return 0;
}

int
tls_handshake(struct tls_conn *c, int fd)
{
	int	 r;

	if (c->flags & TLS_F_HSDONE)
		return 1;
	r = tls_run(c, fd, BR_SSL_SENDAPP | BR_SSL_RECVAPP);
	if (r == 1)
		return 1;
	if (r == 0)
		return 0;
	if (r == -2)
		tls_fail(c, ECONNRESET, "connection closed during the "
		    "handshake");
	else
		tls_cert_alert(c, fd);
	return -1;
}

/*
 * We refused the peer's certificate.  BearSSL's engine then stops
 * without a word, and the peer, its flight unread, sees the socket
 * reset: say why instead, with a fatal alert (RFC 5246 7.2, 7.4.6).
 * The chain is checked before our side sends ChangeCipherSpec, so
 * the alert is a plaintext record, written here on the engine's
 * behalf; what the peer sent meanwhile is read and dropped, so that
 * closing the socket does not reset the connection under the alert.
 */
static void
tls_cert_alert(struct tls_conn *c, int fd)
{
	unsigned char	 rec[7], junk[512];
	unsigned	 v;
	int		 e, alert, i;

	e = br_ssl_engine_last_error(c->eng);
	if ((c->flags & (TLS_F_ALERTED | TLS_F_HSDONE)) ||
	    e <= BR_ERR_X509_OK || e >= BR_ERR_X509_OK + 32)
		return;
	c->flags |= TLS_F_ALERTED;
	switch (e) {
	case BR_ERR_X509_EXPIRED:
		alert = BR_ALERT_CERTIFICATE_EXPIRED;
		break;
	case BR_ERR_X509_NOT_TRUSTED:
		alert = BR_ALERT_UNKNOWN_CA;
		break;
	default:
		/* A name mismatch, or a chain that does not hold. */
		alert = BR_ALERT_BAD_CERTIFICATE;
		break;
	}
	v = br_ssl_engine_get_version(c->eng);
	if (v < BR_TLS10 || v > BR_TLS12)
		v = BR_TLS12;
	rec[0] = 21;			/* alert */
	rec[1] = (unsigned char)(v >> 8);
	rec[2] = (unsigned char)v;
	rec[3] = 0;
	rec[4] = 2;
	rec[5] = 2;			/* fatal */
	rec[6] = (unsigned char)alert;
	if (send(fd, rec, sizeof(rec), MSG_NOSIGNAL | MSG_DONTWAIT) !=
	    (ssize_t)sizeof(rec))
		return;
	(void)shutdown(fd, SHUT_WR);
	for (i = 0; i < 128; i++)
		if (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) <= 0)
			break;
}

int
tls_close(struct tls_conn *c, int fd)
{
	unsigned st;
	int	 r;

	if (c->flags & TLS_F_FAILED) {
		errno = c->sys_errno;
		return -1;
	}
	if (!(c->flags & TLS_F_CLOSING)) {
		c->flags |= TLS_F_CLOSING;
		/* Seal what was written, so that it goes before the alert. */
		br_ssl_engine_flush(c->eng, 0);
		br_ssl_engine_close(c->eng);
	}
	for (;;) {
		st = br_ssl_engine_current_state(c->eng);
		if (st & BR_SSL_CLOSED) {
			if (br_ssl_engine_last_error(c->eng) == BR_ERR_OK)
				return 0;
			errno = EPROTO;
			return -1;
		}
		if (!(st & BR_SSL_SENDREC))
			return 0;
		if ((r = tls_send_some(c, fd)) == 0) {
			errno = EAGAIN;
			return -1;
		}
		if (r == -1)
			return -1;
	}
}

unsigned
tls_events(const struct tls_conn *c)
{
	unsigned st, ev;

	if (c->flags & TLS_F_FAILED)
		return 0;
	st = br_ssl_engine_current_state(c->eng);
	if (st & BR_SSL_CLOSED)
		return 0;
	ev = 0;
	if (st & BR_SSL_SENDREC)
		ev |= TLS_EV_WRITE;
	if ((st & BR_SSL_RECVREC) && !(c->flags & TLS_F_EOF))
		ev |= TLS_EV_READ;
	return ev;
}

size_t
tls_pending(const struct tls_conn *c)
{
	size_t	 len;

	if (br_ssl_engine_recvapp_buf(c->eng, &len) == NULL)
		return 0;
	return len;
}

int
tls_peer_alert(const struct tls_conn *c)
{
	int	 e = br_ssl_engine_last_error(c->eng);

	if (e >= BR_ERR_RECV_FATAL_ALERT && e < BR_ERR_SEND_FATAL_ALERT)
		return e - BR_ERR_RECV_FATAL_ALERT;
	return -1;
}

int
tls_handshake_done(const struct tls_conn *c)
{
	return (c->flags & TLS_F_HSDONE) != 0;
}

int
tls_truncated(const struct tls_conn *c)
{
	return (c->flags & TLS_F_TRUNC) != 0;
}

const char *
tls_version_name(const struct tls_conn *c)
{
	if (!(c->flags & TLS_F_HSDONE))
		return "none";
	switch (br_ssl_engine_get_version(c->eng)) {
	case BR_TLS12:
		return "TLSv1.2";
	case BR_TLS11:
		return "TLSv1.1";
	case BR_TLS10:
		return "TLSv1.0";
	default:
		return "unknown";
	}
}

const char *
tls_suite_name(const struct tls_conn *c)
{
	br_ssl_session_parameters	 sp;
	uint16_t			 id;
	size_t				 i;

	if (!(c->flags & TLS_F_HSDONE))
		return "none";
	/* The copy holds the master secret too: wipe it at once. */
	br_ssl_engine_get_session_parameters(c->eng, &sp);
	id = sp.cipher_suite;
	sodium_memzero(&sp, sizeof(sp));
	for (i = 0; i < sizeof(tls_suite_names) / sizeof(tls_suite_names[0]);
	    i++)
		if (tls_suite_names[i].id == id)
			return tls_suite_names[i].name;
	return "unknown";
}

const char *
tls_sni(const struct tls_conn *c)
{
	return br_ssl_engine_get_server_name(c->eng);
}

/*
 * Reasons.
 */

static const char *
tls_alert_name(int a)
{
	static const struct {
		int		 code;
		const char	*name;
	} alerts[] = {
		{ BR_ALERT_CLOSE_NOTIFY, "close_notify" },
		{ BR_ALERT_UNEXPECTED_MESSAGE, "unexpected_message" },
		{ BR_ALERT_BAD_RECORD_MAC, "bad_record_mac" },
		{ BR_ALERT_RECORD_OVERFLOW, "record_overflow" },
		{ BR_ALERT_DECOMPRESSION_FAILURE, "decompression_failure" },
		{ BR_ALERT_HANDSHAKE_FAILURE, "handshake_failure" },
		{ BR_ALERT_BAD_CERTIFICATE, "bad_certificate" },
		{ BR_ALERT_UNSUPPORTED_CERTIFICATE, "unsupported_certificate" },
		{ BR_ALERT_CERTIFICATE_REVOKED, "certificate_revoked" },
		{ BR_ALERT_CERTIFICATE_EXPIRED, "certificate_expired" },
		{ BR_ALERT_CERTIFICATE_UNKNOWN, "certificate_unknown" },
		{ BR_ALERT_ILLEGAL_PARAMETER, "illegal_parameter" },
		{ BR_ALERT_UNKNOWN_CA, "unknown_ca" },
		{ BR_ALERT_ACCESS_DENIED, "access_denied" },
		{ BR_ALERT_DECODE_ERROR, "decode_error" },
		{ BR_ALERT_DECRYPT_ERROR, "decrypt_error" },
		{ BR_ALERT_PROTOCOL_VERSION, "protocol_version" },
		{ BR_ALERT_INSUFFICIENT_SECURITY, "insufficient_security" },
		{ BR_ALERT_INTERNAL_ERROR, "internal_error" },
		{ 86, "inappropriate_fallback" },
		{ BR_ALERT_USER_CANCELED, "user_canceled" },
		{ BR_ALERT_NO_RENEGOTIATION, "no_renegotiation" },
		{ 109, "missing_extension" },
		{ BR_ALERT_UNSUPPORTED_EXTENSION, "unsupported_extension" },
		{ 112, "unrecognized_name" },
		{ 116, "certificate_required" },
		{ BR_ALERT_NO_APPLICATION_PROTOCOL, "no_application_protocol" }
	};
	size_t	 i;

	for (i = 0; i < sizeof(alerts) / sizeof(alerts[0]); i++)
		if (alerts[i].code == a)
			return alerts[i].name;
	return "unknown alert";
}

/* BearSSL's engine codes; X.509 codes (32..63) are pem's. */
static const char *
tls_engine_strerror(int e)
{
	if (e >= BR_ERR_X509_OK && e < BR_ERR_X509_OK + 32)
		return pem_x509_strerror(e);
	switch (e) {
	case BR_ERR_OK:
		return "no error";
	case BR_ERR_BAD_PARAM:
		return "bad parameter (internal error)";
	case BR_ERR_BAD_STATE:
		return "bad state (internal error)";
	case BR_ERR_UNSUPPORTED_VERSION:
		return "peer does not speak TLS 1.2 (or not TLS at all)";
	case BR_ERR_BAD_VERSION:
		return "record version mismatch";
	case BR_ERR_BAD_LENGTH:
		return "bad record length";
	case BR_ERR_TOO_LARGE:
		return "record too large";
	case BR_ERR_BAD_MAC:
		return "bad record MAC (corrupted data)";
	case BR_ERR_NO_RANDOM:
		return "no random source";
	case BR_ERR_UNKNOWN_TYPE:
		return "unknown record type";
	case BR_ERR_UNEXPECTED:
		return "unexpected message";
	case BR_ERR_BAD_CCS:
		return "bad ChangeCipherSpec";
	case BR_ERR_BAD_ALERT:
		return "bad alert";
	case BR_ERR_BAD_HANDSHAKE:
		return "malformed handshake message";
	case BR_ERR_OVERSIZED_ID:
		return "oversized session id";
	case BR_ERR_BAD_CIPHER_SUITE:
		return "no common cipher suite";
	case BR_ERR_BAD_COMPRESSION:
		return "no common compression";
	case BR_ERR_BAD_FRAGLEN:
		return "bad fragment length";
	case BR_ERR_BAD_SECRENEG:
		return "secure renegotiation failure";
	case BR_ERR_EXTRA_EXTENSION:
		return "unexpected extension";
	case BR_ERR_BAD_SNI:
		return "bad server name (SNI)";
	case BR_ERR_BAD_HELLO_DONE:
		return "bad ServerHelloDone";
	case BR_ERR_LIMIT_EXCEEDED:
		return "limit exceeded";
	case BR_ERR_BAD_FINISHED:
		return "bad Finished message";
	case BR_ERR_RESUME_MISMATCH:
		return "session resumption mismatch";
	case BR_ERR_INVALID_ALGORITHM:
		return "unsupported or invalid algorithm";
	case BR_ERR_BAD_SIGNATURE:
		return "bad signature on the key exchange";
	case BR_ERR_WRONG_KEY_USAGE:
		return "certificate key usage forbids this";
	case BR_ERR_NO_CLIENT_AUTH:
		return "no client certificate";
	case BR_ERR_IO:
		return "I/O error";
	default:
		return "TLS error";
	}
}

const char *
tls_error(struct tls_conn *c)
{
	int	 e;

	if (c->why != NULL)
		return c->why;
	e = br_ssl_engine_last_error(c->eng);
	if (e >= BR_ERR_SEND_FATAL_ALERT) {
		snprintf(c->errbuf, sizeof(c->errbuf), "sent fatal alert %d "
		    "(%s)", e - BR_ERR_SEND_FATAL_ALERT,
		    tls_alert_name(e - BR_ERR_SEND_FATAL_ALERT));
		return c->errbuf;
	}
	if (e >= BR_ERR_RECV_FATAL_ALERT) {
		snprintf(c->errbuf, sizeof(c->errbuf), "received fatal alert "
		    "%d (%s)", e - BR_ERR_RECV_FATAL_ALERT,
		    tls_alert_name(e - BR_ERR_RECV_FATAL_ALERT));
		return c->errbuf;
	}
	if (e != BR_ERR_OK)
		return tls_engine_strerror(e);
	if (c->flags & TLS_F_FAILED) {
		snprintf(c->errbuf, sizeof(c->errbuf), "socket: %s",
		    strerror(c->sys_errno));
		return c->errbuf;
	}
	return NULL;
}
