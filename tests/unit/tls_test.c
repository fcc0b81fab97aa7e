/*
 * tls_test: runtime/core/tls.c against itself.  A server and a client of
 * our own API talk over a non-blocking socketpair, both moved by one
 * little poll loop that only ever waits for what tls_events() asks:
 * data both ways at once for RSA and EC certificates, the `verify'
 * and `required' client levels (names, addresses, unknown CA), the
 * failure reasons, clean and truncated ends; then the per-connection
 * sizes and a bounded handshake-rate measurement.  Before all that,
 * the elliptic-curve code the engines run (tls_ec_impl()) against RFC
 * 7748's X25519 vectors and against BearSSL's own implementations.
 *
 * usage: tls_test CERTDIR   (made by tests/rt/tls-unit.sh)
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>

#include "bastion_limits.h"
#include "tls.h"

#include "check.h"

#define U_PATH		512
#define U_WAIT_MS	10000
#define U_RATE_MAX	2000	/* handshakes */
#define U_RATE_SECS	2.0

struct side {
	const char		*name;
	struct tls_conn		*c;
	int			 fd;
	const unsigned char	*out;		/* what to send */
	size_t			 outlen, outoff;
	int			 flushed;
	const unsigned char	*expect;	/* what must arrive */
	size_t			 inlen, inoff;
	int			 eof, closed, failed;
};

static const char	*certdir;

static const char *path(const char *);
static void	nonblock(int);
static int	side_step(struct side *);
static int	run_pair(struct side *, struct side *);
static void	fill(unsigned char *, size_t, unsigned);
static int	transfer(const char *, const char *, const char *,
		    const char *, int, const char *, const char *);
static int	expect_fail(const char *, const char *, const char *,
		    const char *, int, const char *, const char *,
		    const char *);
static int	handshake_pair(struct tls_server_creds *,
		    struct tls_client_creds *, const char *, int);
static void	rate(const char *, const char *, const char *);
static void	garbage(void);
static void	truncation(void);
static void	starttls(void);
static void	hex(unsigned char *, const char *);
static void	reverse(unsigned char *, const unsigned char *, size_t);
static void	ec_impl(void);

static const char *
path(const char *f)
{
	static char	 buf[4][U_PATH];
	static int	 i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", certdir, f);
	return buf[i];
}

/* 2n hex digits into n bytes. */
static void
hex(unsigned char *out, const char *s)
{
	unsigned	 b;

	for (; s[0] != '\0' && s[1] != '\0'; s += 2) {
		sscanf(s, "%2x", &b);
		*out++ = (unsigned char)b;
	}
}

/* RFC 7748 writes scalars little-endian; BearSSL takes them big. */
static void
reverse(unsigned char *out, const unsigned char *in, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		out[i] = in[n - 1 - i];
}

/*
 * tls_ec_impl() hands X25519 to libsodium and the other curves to the
 * fastest BearSSL code: it must give what BearSSL's portable
 * br_ec_all_m31 gives, byte for byte, and RFC 7748's answers.
 */
static void
ec_impl(void)
{
	const br_ec_impl	*ec = tls_ec_impl(), *ref = &br_ec_all_m31;
	unsigned char		 k[32], kb[32], u[32], want[32];
	unsigned char		 a[BR_EC_KBUF_PUB_MAX_SIZE];
	unsigned char		 b[BR_EC_KBUF_PUB_MAX_SIZE];
	size_t			 glen, n;
	const unsigned char	*g;
	unsigned		 i;
	int			 le;

	printf("implementations: %s\n", tls_impl_describe());
	CHECK(ec->supported_curves == ref->supported_curves);

	/*
	 * Section 6.1: Alice's public key.  BearSSL 0.6 reads Curve25519
	 * multipliers little-endian, later releases big-endian: ours
	 * must read them as the library does.
	 */
	hex(k, "77076d0a7318a57d3c16c17251b26645"
	    "df4c2f87ebc0992ab177fba51db92c2a");
	hex(want, "8520f0098930a754748b7ddcb43ef75a"
	    "0dbf3a0d26381af4eba4a98eaa9b4e6a");
	CHECK(ref->mulgen(a, k, 32, BR_EC_curve25519) == 32);
	le = memcmp(a, want, 32) == 0;
	printf("BearSSL's Curve25519 multipliers: %s-endian\n",
	    le ? "little" : "big");
	if (le)
		memcpy(kb, k, 32);
	else
		reverse(kb, k, 32);
	CHECK(ec->mulgen(a, kb, 32, BR_EC_curve25519) == 32);
	CHECK(memcmp(a, want, 32) == 0, "X25519: RFC 7748 6.1 mulgen");
	g = ec->generator(BR_EC_curve25519, &glen);
	CHECK(glen == 32);
	memcpy(a, g, glen);
	CHECK(ec->mul(a, 32, kb, 32, BR_EC_curve25519) == 1);
	CHECK(memcmp(a, want, 32) == 0, "X25519: RFC 7748 6.1 mul(G)");

	/* Section 5.2, first vector. */
	hex(k, "a546e36bf0527c9d3b16154b82465edd"
	    "62144c0ac1fc5a18506a2244ba449ac4");
	hex(u, "e6db6867583030db3594c1a424b15f7c"
	    "726624ec26b3353b10a903a6d0ab1c4c");
	hex(want, "c3da55379de9c6908e94ea4df28d084f"
	    "32eccf03491c71f754b4075577a28552");
	if (le)
		memcpy(kb, k, 32);
	else
		reverse(kb, k, 32);
	CHECK(ec->mul(u, 32, kb, 32, BR_EC_curve25519) == 1);
	CHECK(memcmp(u, want, 32) == 0, "X25519: RFC 7748 5.2 vector");

	/* A point of small order gives zero: the exchange must fail. */
	memset(u, 0, sizeof(u));
	CHECK(ec->mul(u, 32, kb, 32, BR_EC_curve25519) == 0,
	    "X25519 with the zero point accepted");
	/* Lengths BearSSL refuses. */
	memset(u, 9, sizeof(u));
	CHECK(ec->mul(u, 31, kb, 32, BR_EC_curve25519) == 0);
	memset(b, 1, 33);
	CHECK(ec->mul(u, 32, b, 33, BR_EC_curve25519) == 0);

	/*
	 * Against BearSSL's own code: scalars of every length up to 32
	 * bytes (the engine's ECDHE keys are shorter than the order),
	 * random points, and the high bit of the point set (ignored).
	 */
	for (i = 0; i < 40; i++) {
		n = 1 + i % 32;
		fill(kb, n, 100 + i);
		fill(u, 32, 200 + i);
		CHECK(ec->mulgen(a, kb, n, BR_EC_curve25519) ==
		    ref->mulgen(b, kb, n, BR_EC_curve25519));
		CHECK(memcmp(a, b, 32) == 0, "X25519 mulgen %u", i);
		memcpy(a, u, 32);
		memcpy(b, u, 32);
		CHECK(ec->mul(a, 32, kb, n, BR_EC_curve25519) ==
		    ref->mul(b, 32, kb, n, BR_EC_curve25519));
		CHECK(memcmp(a, b, 32) == 0, "X25519 mul %u", i);
	}
	/* The NIST curves: the same points. */
	for (i = 0; i < 4; i++) {
		int	 curve = i < 2 ? BR_EC_secp256r1 : BR_EC_secp384r1;

		fill(kb, 32, 300 + i);
		kb[0] &= 0x7f;
		n = ec->mulgen(a, kb, 32, curve);
		CHECK(n > 0 && n == ref->mulgen(b, kb, 32, curve) &&
		    memcmp(a, b, n) == 0, "curve %d mulgen", curve);
		CHECK(ec->mul(a, n, kb, 32, curve) == 1 &&
		    ref->mul(b, n, kb, 32, curve) == 1 &&
		    memcmp(a, b, n) == 0, "curve %d mul", curve);
	}
}

static void
nonblock(int fd)
{
	int	 fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		perror("fcntl");
		exit(1);
	}
}

/* Pseudo-random bytes, so that a misplaced record shows. */
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

/*
 * Do all one side can do without blocking: write, flush, read, and
 * close once its part is done.  Returns -1 when its connection failed.
 */
static int
side_step(struct side *s)
{
	unsigned char	 buf[3000];
	ssize_t		 r;

	if (s->failed)
		return -1;
	while (s->outoff < s->outlen) {
		r = tls_write(s->c, s->fd, s->out + s->outoff,
		    s->outlen - s->outoff);
		if (r > 0) {
			s->outoff += (size_t)r;
			continue;
		}
		if (errno != EAGAIN)
			goto failed;
		break;
	}
	if (s->outoff == s->outlen && !s->flushed) {
		if (tls_flush(s->c, s->fd) == 0)
			s->flushed = 1;
		else if (errno != EAGAIN)
			goto failed;
	}
	while (!s->eof) {
		r = tls_read(s->c, s->fd, buf, sizeof(buf));
		if (r > 0) {
			if ((size_t)r > s->inlen - s->inoff ||
			    memcmp(buf, s->expect + s->inoff,
			    (size_t)r) != 0) {
				CHECK(0, "%s: received bytes differ at %zu",
				    s->name, s->inoff);
				s->failed = 1;
				return -1;
			}
			s->inoff += (size_t)r;
			continue;
		}
		if (r == 0) {
			s->eof = 1;
			break;
		}
		if (errno != EAGAIN)
			goto failed;
		break;
	}
	if (s->flushed && (s->inoff == s->inlen || s->eof) && !s->closed &&
	    tls_handshake_done(s->c)) {
		if (tls_close(s->c, s->fd) == 0)
			s->closed = 1;
		else if (errno != EAGAIN)
			goto failed;
	}
	return 0;
failed:
	s->failed = 1;
	return -1;
}

/*
 * Move both sides until both have read the other's close_notify, or
 * one fails.  The loop waits only for what tls_events() asks; a state
 * where neither side can wait for anything is a bug in the contract.
 */
static int
run_pair(struct side *a, struct side *b)
{
	struct pollfd	 pfd[2];
	struct side	*s[2];
	unsigned	 ev;
	int		 i, r, n, rounds;

	s[0] = a;
	s[1] = b;
	for (rounds = 0; rounds < 100000; rounds++) {
		for (i = 0; i < 2; i++)
			if (side_step(s[i]) == -1)
				return -1;
		if (a->eof && b->eof && a->closed && b->closed)
			return 0;
		n = 0;
		for (i = 0; i < 2; i++) {
			if (tls_pending(s[i]->c) > 0)
				break;
			ev = tls_events(s[i]->c);
			pfd[n].fd = s[i]->fd;
			pfd[n].events = 0;
			pfd[n].revents = 0;
			if (ev & TLS_EV_READ)
				pfd[n].events |= POLLIN;
			if (ev & TLS_EV_WRITE)
				pfd[n].events |= POLLOUT;
			if (pfd[n].events != 0)
				n++;
		}
		if (i < 2)
			continue;	/* plaintext waits: no poll */
		if (n == 0) {
			CHECK(0, "%s/%s: nothing to wait for but not done",
			    a->name, b->name);
			return -1;
		}
		if ((r = poll(pfd, (nfds_t)n, U_WAIT_MS)) == 0) {
			CHECK(0, "%s/%s: stalled", a->name, b->name);
			return -1;
		}
		if (r == -1 && errno != EINTR) {
			perror("poll");
			exit(1);
		}
	}
	CHECK(0, "%s/%s: too many rounds", a->name, b->name);
	return -1;
}

/*
 * Full-duplex transfer: the client sends cbytes while the server sends
 * sbytes, then both close.  Checks contents, suites and clean ends.
 */
static int
transfer(const char *chain, const char *key, const char *trust,
    const char *peer, int level, const char *suite_prefix,
    const char *sni)
{
	struct tls_server_creds	*sc;
	struct tls_client_creds	*cc;
	struct side		 srv, cli;
	unsigned char		*up, *down;
	char			 err[LIM_ERRMSG];
	size_t			 ulen = 300000, dlen = 170000;
	int			 sv[2], rc;

	rc = -1;
	if (tls_server_creds_load(path(chain), path(key), &sc, err,
	    sizeof(err)) == -1) {
		CHECK(0, "load %s: %s", chain, err);
		return -1;
	}
	if (tls_client_creds_load(trust ? path(trust) : NULL, &cc, err,
	    sizeof(err)) == -1) {
		CHECK(0, "anchors %s: %s", trust, err);
		return -1;
	}
	if ((up = malloc(ulen)) == NULL || (down = malloc(dlen)) == NULL)
		exit(1);
	fill(up, ulen, 1);
	fill(down, dlen, 2);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
		perror("socketpair");
		exit(1);
	}
	nonblock(sv[0]);
	nonblock(sv[1]);
	memset(&srv, 0, sizeof(srv));
	memset(&cli, 0, sizeof(cli));
	srv.name = "server";
	srv.fd = sv[0];
	srv.out = down;
	srv.outlen = dlen;
	srv.expect = up;
	srv.inlen = ulen;
	cli.name = "client";
	cli.fd = sv[1];
	cli.out = up;
	cli.outlen = ulen;
	cli.expect = down;
	cli.inlen = dlen;
	if ((srv.c = tls_server_new(sc, err, sizeof(err))) == NULL ||
	    (cli.c = tls_client_new(cc, peer, level, err,
	    sizeof(err))) == NULL) {
		CHECK(0, "new: %s", err);
		goto out;
	}
	/* The connections hold references; the creds outlive our drop. */
	tls_server_creds_unref(sc);
	tls_client_creds_unref(cc);
	sc = NULL;
	cc = NULL;
	if (tls_events(srv.c) != TLS_EV_READ)
		CHECK(0, "fresh server should wait to read, not %u",
		    tls_events(srv.c));
	if (run_pair(&cli, &srv) == -1) {
		CHECK(0, "%s %s: client: %s; server: %s", chain, peer,
		    tls_error(cli.c) ? tls_error(cli.c) : "-",
		    tls_error(srv.c) ? tls_error(srv.c) : "-");
		goto out;
	}
	if (srv.inoff != ulen || cli.inoff != dlen)
		CHECK(0, "%s: short transfer %zu/%zu %zu/%zu", chain, srv.inoff,
		    ulen, cli.inoff, dlen);
	else if (tls_truncated(srv.c) || tls_truncated(cli.c))
		CHECK(0, "%s: end without close_notify", chain);
	else if (strcmp(tls_version_name(srv.c), "TLSv1.2") != 0 ||
	    strncmp(tls_suite_name(srv.c), suite_prefix,
	    strlen(suite_prefix)) != 0 ||
	    strcmp(tls_suite_name(srv.c), tls_suite_name(cli.c)) != 0)
		CHECK(0, "%s: negotiated %s %s / %s", chain,
		    tls_version_name(srv.c), tls_suite_name(srv.c),
		    tls_suite_name(cli.c));
	else if (strcmp(tls_sni(srv.c), sni) != 0)
		CHECK(0, "%s: server saw SNI \"%s\" for peer %s", chain,
		    tls_sni(srv.c), peer);
	else {
		printf("ok transfer %s peer=%s level=%s: %s %s, %zu up, "
		    "%zu down, clean close\n", chain, peer,
		    level == TLS_LEVEL_VERIFY ? "verify" : "required",
		    tls_version_name(srv.c), tls_suite_name(srv.c), ulen,
		    dlen);
		rc = 0;
	}
out:
	tls_free(srv.c);
	tls_free(cli.c);
	tls_server_creds_unref(sc);
	tls_client_creds_unref(cc);
	close(sv[0]);
	close(sv[1]);
	free(up);
	free(down);
	return rc;
}

/*
 * A handshake that must fail on the client side with a reason that
 * contains cwant (and on the server side with swant, if given).
 */
static int
expect_fail(const char *chain, const char *key, const char *trust,
    const char *peer, int level, const char *cwant, const char *swant,
    const char *label)
{
	struct tls_server_creds	*sc;
	struct tls_client_creds	*cc;
	struct side		 srv, cli;
	char			 err[LIM_ERRMSG];
	const char		*ce, *se;
	int			 sv[2], rc;

	if (tls_server_creds_load(path(chain), path(key), &sc, err,
	    sizeof(err)) == -1 ||
	    tls_client_creds_load(trust ? path(trust) : NULL, &cc, err,
	    sizeof(err)) == -1) {
		CHECK(0, "%s: %s", label, err);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(1);
	nonblock(sv[0]);
	nonblock(sv[1]);
	memset(&srv, 0, sizeof(srv));
	memset(&cli, 0, sizeof(cli));
	srv.name = "server";
	srv.fd = sv[0];
	cli.name = "client";
	cli.fd = sv[1];
	srv.c = tls_server_new(sc, err, sizeof(err));
	cli.c = tls_client_new(cc, peer, level, err, sizeof(err));
	if (srv.c == NULL || cli.c == NULL) {
		CHECK(0, "%s: %s", label, err);
		exit(1);
	}
	rc = -1;
	if (swant == NULL)
		swant = "peer closed the connection during the handshake";
	/* Drive until the client fails; then let the server see it. */
	if (run_pair(&cli, &srv) == 0)
		CHECK(0, "%s: handshake succeeded", label);
	else if (getenv("TLS_UNIT_DEBUG") != NULL)
		printf("debug %s: client failed %d \"%s\" server failed %d "
		    "\"%s\"\n", label, cli.failed, tls_error(cli.c) ?
		    tls_error(cli.c) : "-", srv.failed, tls_error(srv.c) ?
		    tls_error(srv.c) : "-");
	else {
		/* A failed client just goes away; the server sees that. */
		close(cli.fd);
		cli.fd = -1;
		side_step(&srv);
		ce = tls_error(cli.c);
		se = tls_error(srv.c);
		if (ce == NULL || strstr(ce, cwant) == NULL)
			CHECK(0, "%s: client error \"%s\", want \"%s\"", label,
			    ce ? ce : "(none)", cwant);
		/* With the flight unread, the client's close is a reset. */
		else if (se == NULL || (strstr(se, swant) == NULL &&
		    strstr(se, "reset by peer") == NULL))
			CHECK(0, "%s: server error \"%s\", want \"%s\"", label,
			    se ? se : "(none)", swant);
		else {
			printf("ok %s: client \"%s\", server \"%s\"\n", label,
			    ce, se ? se : "-");
			rc = 0;
		}
	}
	/* Sticky: a failed connection fails the same way again. */
	if (tls_read(cli.c, sv[1], err, 1) != -1 || tls_events(cli.c) != 0)
		CHECK(0, "%s: failure is not sticky", label);
	tls_free(srv.c);
	tls_free(cli.c);
	tls_server_creds_unref(sc);
	tls_client_creds_unref(cc);
	close(sv[0]);
	if (cli.fd != -1)
		close(sv[1]);
	return rc;
}

/* One handshake and nothing else, alternating sides; for the rate. */
static double	 rate_server_s;	/* time in the server's calls */

static double	now(void);

static int
handshake_pair(struct tls_server_creds *sc, struct tls_client_creds *cc,
    const char *peer, int level)
{
	double		 t0;
	struct tls_conn	*s, *c;
	char		 err[LIM_ERRMSG];
	int		 sv[2], i, rs, rc_, ok;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(1);
	nonblock(sv[0]);
	nonblock(sv[1]);
	t0 = now();
	s = tls_server_new(sc, err, sizeof(err));
	rate_server_s += now() - t0;
	c = tls_client_new(cc, peer, level, err, sizeof(err));
	ok = 0;
	rs = rc_ = 0;
	for (i = 0; s != NULL && c != NULL && i < 100; i++) {
		if (rc_ != 1 && (rc_ = tls_handshake(c, sv[1])) == -1)
			break;
		t0 = now();
		if (rs != 1)
			rs = tls_handshake(s, sv[0]);
		rate_server_s += now() - t0;
		if (rs == -1)
			break;
		if (rs == 1 && rc_ == 1) {
			/* The server's last flight must reach the client. */
			ok = tls_flush(s, sv[0]) == 0;
			break;
		}
	}
	t0 = now();
	tls_free(s);
	rate_server_s += now() - t0;
	tls_free(c);
	close(sv[0]);
	close(sv[1]);
	return ok ? 0 : -1;
}

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
rate(const char *label, const char *chain, const char *key)
{
	struct tls_server_creds	*sc;
	struct tls_client_creds	*cc;
	char			 err[LIM_ERRMSG];
	double			 t0, t;
	int			 n;

	if (tls_server_creds_load(path(chain), path(key), &sc, err,
	    sizeof(err)) == -1 ||
	    tls_client_creds_load(path("ca.crt"), &cc, err,
	    sizeof(err)) == -1) {
		CHECK(0, "rate: %s", err);
		return;
	}
	rate_server_s = 0;
	t0 = now();
	for (n = 0; n < U_RATE_MAX && (t = now() - t0) < U_RATE_SECS; n++)
		if (handshake_pair(sc, cc, "localhost",
		    TLS_LEVEL_VERIFY) == -1) {
			CHECK(0, "rate: handshake %d failed", n);
			break;
		}
	t = now() - t0;
	printf("rate %s: %d handshakes in %.2f s = %.0f/s (our server + "
	    "our client verifying the chain, one process, socketpair); "
	    "server share %.2f ms each = %.0f/s for the server alone\n",
	    label, n, t, n / t, rate_server_s * 1e3 / n, n / rate_server_s);
	tls_server_creds_unref(sc);
	tls_client_creds_unref(cc);
}

/* Plaintext SMTP at a TLS server: refused with a reason. */
static void
garbage(void)
{
	static const char	 ehlo[] = "EHLO client.example\r\n";
	struct tls_server_creds	*sc;
	struct tls_conn		*s;
	char			 err[LIM_ERRMSG], buf[16];
	int			 sv[2];

	if (tls_server_creds_load(path("ec-chain.crt"), path("ec.key"), &sc,
	    err, sizeof(err)) == -1) {
		CHECK(0, "garbage: %s", err);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(1);
	nonblock(sv[0]);
	s = tls_server_new(sc, err, sizeof(err));
	if (write(sv[1], ehlo, sizeof(ehlo) - 1) != sizeof(ehlo) - 1)
		exit(1);
	if (tls_read(s, sv[0], buf, sizeof(buf)) != -1 || errno != EPROTO ||
	    tls_error(s) == NULL ||
	    strstr(tls_error(s), "TLS") == NULL)
		CHECK(0, "garbage: got \"%s\"", tls_error(s) ? tls_error(s) :
		    "(none)");
	else
		printf("ok plaintext at a TLS server: %s\n", tls_error(s));
	tls_free(s);
	close(sv[0]);
	close(sv[1]);

	/* The peer leaves in the middle of the handshake. */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(1);
	nonblock(sv[0]);
	s = tls_server_new(sc, err, sizeof(err));
	close(sv[1]);
	if (tls_handshake(s, sv[0]) != -1 || tls_error(s) == NULL ||
	    strstr(tls_error(s), "during the handshake") == NULL)
		CHECK(0, "early close: got \"%s\"", tls_error(s) ? tls_error(s) :
		    "(none)");
	else
		printf("ok peer gone during handshake: %s\n", tls_error(s));
	tls_free(s);
	close(sv[0]);
	tls_server_creds_unref(sc);
}

/* The socket closes after the handshake without close_notify. */
static void
truncation(void)
{
	struct tls_server_creds	*sc;
	struct tls_client_creds	*cc;
	struct tls_conn		*s, *c;
	char			 err[LIM_ERRMSG], buf[64];
	ssize_t			 r;
	int			 sv[2], i, rs, rc_;

	if (tls_server_creds_load(path("rsa-chain.crt"), path("rsa.key"),
	    &sc, err, sizeof(err)) == -1 ||
	    tls_client_creds_load(NULL, &cc, err, sizeof(err)) == -1) {
		CHECK(0, "truncation: %s", err);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(1);
	nonblock(sv[0]);
	nonblock(sv[1]);
	s = tls_server_new(sc, err, sizeof(err));
	c = tls_client_new(cc, "mx.sf.example", TLS_LEVEL_REQUIRED, err,
	    sizeof(err));
	rs = rc_ = 0;
	for (i = 0; i < 100 && (rs != 1 || rc_ != 1); i++) {
		if (rc_ != 1)
			rc_ = tls_handshake(c, sv[1]);
		if (rs != 1)
			rs = tls_handshake(s, sv[0]);
	}
	/* A greeting reaches the client, then the server's socket goes. */
	if (tls_write(s, sv[0], "220 ok\r\n", 8) != 8 ||
	    tls_flush(s, sv[0]) != 0)
		CHECK(0, "truncation: write: %s", tls_error(s));
	close(sv[0]);
	r = tls_read(c, sv[1], buf, sizeof(buf));
	if (r != 8 || memcmp(buf, "220 ok\r\n", 8) != 0)
		CHECK(0, "truncation: greeting not read (%zd)", r);
	else if ((r = tls_read(c, sv[1], buf, sizeof(buf))) != 0 ||
	    !tls_truncated(c) || tls_error(c) != NULL)
		CHECK(0, "truncation: read %zd, truncated %d", r,
		    tls_truncated(c));
	else
		printf("ok end without close_notify: EOF, flagged truncated, "
		    "no error\n");
	tls_free(s);
	tls_free(c);
	close(sv[1]);
	tls_server_creds_unref(sc);
	tls_client_creds_unref(cc);
}

/*
 * STARTTLS as the session will do it: the client pipelines a command
 * behind STARTTLS (RFC 3207 forbids it; an injection attempt does it),
 * the session reads its plaintext input and throws all of it away,
 * answers 220, and only then makes the TLS connection, which starts
 * empty and reads only the socket.  The handshake and a reply work,
 * and nothing of the plaintext shows up inside TLS.
 */
static void
starttls(void)
{
	static const char	 cmd[] = "STARTTLS\r\nMAIL FROM:<evil@x>\r\n";
	struct tls_server_creds	*sc;
	struct tls_client_creds	*cc;
	struct side		 srv, cli;
	char			 err[LIM_ERRMSG], in[256];
	ssize_t			 r;
	int			 sv[2];

	if (tls_server_creds_load(path("ec-chain.crt"), path("ec.key"), &sc,
	    err, sizeof(err)) == -1 ||
	    tls_client_creds_load(path("ca.crt"), &cc, err,
	    sizeof(err)) == -1) {
		CHECK(0, "starttls: %s", err);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(1);
	if (write(sv[1], cmd, sizeof(cmd) - 1) != sizeof(cmd) - 1 ||
	    (r = read(sv[0], in, sizeof(in))) != sizeof(cmd) - 1 ||
	    write(sv[0], "220 2.0.0 go ahead\r\n", 20) != 20 ||
	    read(sv[1], in, sizeof(in)) != 20)
		exit(1);
	/* The session discards in[] here: STARTTLS and the MAIL line. */
	nonblock(sv[0]);
	nonblock(sv[1]);
	memset(&srv, 0, sizeof(srv));
	memset(&cli, 0, sizeof(cli));
	srv.name = "server";
	srv.fd = sv[0];
	srv.out = (const unsigned char *)"250 ok\r\n";
	srv.outlen = 8;
	srv.expect = (const unsigned char *)"EHLO me\r\n";
	srv.inlen = 9;
	cli.name = "client";
	cli.fd = sv[1];
	cli.out = srv.expect;
	cli.outlen = srv.inlen;
	cli.expect = srv.out;
	cli.inlen = srv.outlen;
	srv.c = tls_server_new(sc, err, sizeof(err));
	cli.c = tls_client_new(cc, "mx.sf.example", TLS_LEVEL_VERIFY, err,
	    sizeof(err));
	if (srv.c == NULL || cli.c == NULL)
		CHECK(0, "starttls: %s", err);
	else if (run_pair(&cli, &srv) == -1)
		CHECK(0, "starttls: client %s; server %s", tls_error(cli.c) ?
		    tls_error(cli.c) : "-", tls_error(srv.c) ?
		    tls_error(srv.c) : "-");
	else if (srv.inoff != srv.inlen || cli.inoff != cli.inlen)
		CHECK(0, "starttls: short exchange");
	else
		printf("ok STARTTLS with pipelined plaintext discarded: "
		    "handshake, EHLO in, 250 out\n");
	tls_free(srv.c);
	tls_free(cli.c);
	tls_server_creds_unref(sc);
	tls_client_creds_unref(cc);
	close(sv[0]);
	close(sv[1]);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: tls_test CERTDIR\n");
		return 2;
	}
	certdir = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);

	ec_impl();
	printf("sizeof server connection: %zu bytes\n",
	    tls_conn_size(TLS_ROLE_SERVER));
	printf("sizeof client connection: %zu bytes\n",
	    tls_conn_size(TLS_ROLE_CLIENT));
	if (tls_conn_size(TLS_ROLE_SERVER) > 32 * 1024)
		CHECK(0, "server connection above 32 KiB");

	/* Both key types, both key encodings, all three kinds of names. */
	transfer("ec-chain.crt", "ec.key", "ca.crt", "localhost",
	    TLS_LEVEL_VERIFY, "ECDHE-ECDSA-", "localhost");
	transfer("ec-chain.crt", "ec-sec1.key", "ca.crt", "mx.sf.example",
	    TLS_LEVEL_VERIFY, "ECDHE-ECDSA-", "mx.sf.example");
	transfer("rsa-chain.crt", "rsa.key", "ca.crt", "MX.SF.Example.",
	    TLS_LEVEL_VERIFY, "ECDHE-RSA-", "MX.SF.Example");
	transfer("rsa-chain.crt", "rsa-pkcs1.key", "ca.crt", "127.0.0.1",
	    TLS_LEVEL_VERIFY, "ECDHE-RSA-", "");
	transfer("ec-chain.crt", "ec.key", "ca.crt", "::1",
	    TLS_LEVEL_VERIFY, "ECDHE-ECDSA-", "");
	transfer("other-chain.crt", "ec.key", NULL, "localhost",
	    TLS_LEVEL_REQUIRED, "ECDHE-ECDSA-", "localhost");
	transfer("rsa-chain.crt", "rsa.key", NULL, "10.9.8.7",
	    TLS_LEVEL_REQUIRED, "ECDHE-RSA-", "");

	/* verify refuses what it must. */
	expect_fail("ec-chain.crt", "ec.key", "ca.crt", "wrong.example",
	    TLS_LEVEL_VERIFY, "does not match the server name", NULL,
	    "verify, wrong name");
	expect_fail("rsa-chain.crt", "rsa.key", "ca.crt", "127.0.0.2",
	    TLS_LEVEL_VERIFY, "does not match the server name", NULL,
	    "verify, wrong address");
	expect_fail("ec-chain.crt", "ec.key", "other-ca.crt", "localhost",
	    TLS_LEVEL_VERIFY, "not trusted", NULL, "verify, unknown CA");
	expect_fail("other-chain.crt", "ec.key", "ca.crt", "localhost",
	    TLS_LEVEL_VERIFY, "not trusted", NULL,
	    "verify, server from another CA");
	/* The end entity alone does not chain to the root. */
	expect_fail("ec.crt", "ec.key", "ca.crt", "localhost",
	    TLS_LEVEL_VERIFY, "not trusted", NULL,
	    "verify, chain without its intermediate");

	/*
	 * The IP check's own DER walk: a critical subjectAltName (with
	 * the BOOLEAN), and an end entity too large to keep for it.
	 */
	transfer("critsan-chain.crt", "ec.key", "ca.crt", "127.0.0.1",
	    TLS_LEVEL_VERIFY, "ECDHE-ECDSA-", "");
	expect_fail("critsan-chain.crt", "ec.key", "ca.crt", "127.0.0.9",
	    TLS_LEVEL_VERIFY, "does not match the server name", NULL,
	    "verify, critical SAN, wrong address");
	transfer("bigsan-chain.crt", "ec.key", "ca.crt", "localhost",
	    TLS_LEVEL_VERIFY, "ECDHE-ECDSA-", "localhost");
	expect_fail("bigsan-chain.crt", "ec.key", "ca.crt", "127.0.0.1",
	    TLS_LEVEL_VERIFY, "certificate too large to check its IP", NULL,
	    "verify, 8 KiB+ certificate, address");

	starttls();
	garbage();
	truncation();
	rate("ECDSA P-256", "ec-chain.crt", "ec.key");
	rate("RSA-2048", "rsa-chain.crt", "rsa.key");

	return check_finish();
}
