/*
 * conn_test: runtime/core/conn.c over socketpairs, moved by the real
 * event loop.  Plain: lines both ways, output refilled as it drains
 * through a small socket buffer (partial writes, the write interest
 * while the socket is full, every byte in order, wiped once sent), a
 * line longer than the input buffer, input left unread stopping the
 * read interest, a peer that closes (what it sent before stays), and
 * a write to a peer that is gone.  TLS: STARTTLS with clear text
 * pipelined behind it (discarded), the handshake on both sides, 256 KiB
 * through small buffers, a polite close seen as close_notify and a
 * vanished peer as a truncation (over TCP on the loopback).
 *
 * usage: conn_test [CERTDIR]  (without one, tests/certs/make-certs.sh
 * makes a throw-away set under $TMPDIR, found through $top_srcdir)
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "conn.h"
#include "loop.h"
#include "tls.h"

#define T_IN		64	/* small, so that lines and TLS records
				 * overrun it */
#define T_OUT		128
#define T_BULK		(256 * 1024)
#define T_WAIT_MS	10000
#define T_PATH		512

/* One end of a pair: a conn and what the test saw of it. */
struct end {
	const char		*name;
	struct conn		 c;
	char			 in[T_IN];
	char			 out[T_OUT];
	int			 ev[CONN_EV_ERROR + 1];
	int			 (*on_input)(struct end *);
	int			 (*on_drained)(struct end *);
	/* Bytes handed out by refills as the output drains. */
	const unsigned char	*src;
	size_t			 srclen, srcoff;
	/* Bytes taken from the input as they come (sink != NULL). */
	unsigned char		*sink;
	unsigned char		*got;		/* the sink, once set */
	size_t			 sinklen, sinkcap;
	int			 consume;
	int			 gone;		/* EOF or ERROR seen */
	int			 op, err;
	int			 truncated;
	size_t			 eofinlen;
	size_t			 dropped;
	int			 phase;
	struct tls_server_creds	*screds;
	struct tls_client_creds	*ccreds;
};

static struct loop	 L;
static const char	*certdir;
static unsigned char	 bulk[T_BULK];

static const char *
path(const char *f)
{
	static char	 buf[4][T_PATH];
	static int	 i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", certdir, f);
	return buf[i];
}

/* Pseudo-random bytes, so that a misplaced block shows. */
static void
fill(unsigned char *p, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;
	size_t	 i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
}

static int
on_conn(struct conn *c, int ev, void *arg)
{
	struct end	*e = arg;
	size_t		 n;

	e->ev[ev]++;
	switch (ev) {
	case CONN_EV_INPUT:
		if (e->sink != NULL && c->inlen > 0) {
			n = c->inlen;
			if (n > e->sinkcap - e->sinklen)
				n = e->sinkcap - e->sinklen;
			memcpy(e->sink + e->sinklen, c->in, n);
			e->sinklen += n;
			conn_consume(c, n);
		}
		if (e->on_input != NULL)
			return e->on_input(e);
		if (e->consume)
			conn_consume(c, c->inlen);
		break;
	case CONN_EV_DRAINED:
		if (e->on_drained != NULL && e->on_drained(e) == -1)
			return -1;
		n = e->srclen - e->srcoff;
		if (n > conn_room(c))
			n = conn_room(c);
		if (n == 0)	/* no source at all: memcpy's NULL is UB */
			break;
		memcpy(c->out + c->outlen, e->src + e->srcoff, n);
		c->outlen += n;
		e->srcoff += n;
		break;
	case CONN_EV_EOF:
	case CONN_EV_ERROR:
		e->gone = ev;
		e->op = c->op;
		e->err = c->err;
		e->eofinlen = c->inlen;
		e->truncated = c->tls != NULL ? tls_truncated(c->tls) : -1;
		conn_close(c, 0);
		return -1;
	default:
		break;
	}
	return 0;
}

static void
on_io(struct loop *l, int fd, int events, void *arg)
{
	struct end	*e = arg;

	(void)l;
	(void)fd;
	(void)conn_io(&e->c, events);
}

static void
end_init(struct end *e, const char *name, int fd, unsigned flags)
{
	memset(e, 0, sizeof(*e));
	e->name = name;
	conn_init(&e->c, &L, e->in, sizeof(e->in), e->out, sizeof(e->out),
	    flags, on_conn, e);
	if (conn_attach(&e->c, fd, 0, on_io, e) != 0) {
		printf("conn_attach: %s\n", loop_error(&L));
		exit(1);
	}
}

static void
on_guard(struct loop *l, void *arg)
{
	(void)l;
	*(int *)arg = 1;
}

/* Turn the loop until *flag, or fail after T_WAIT_MS. */
static int
run_until(const int *flag, const char *what)
{
	struct loop_timer	 guard;
	int			 late = 0;

	loop_timer_init(&guard, on_guard, &late);
	if (loop_timer_arm(&L, &guard, T_WAIT_MS) != 0)
		exit(1);
	while (!*flag && !late)
		if (loop_once(&L, 1) != 0)
			break;
	loop_timer_cancel(&L, &guard);
	CHECK(*flag, "%s: not before the deadline", what);
	return *flag ? 0 : -1;
}

static void
pair(int sv[2])
{
	int	 i;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
		perror("socketpair");
		exit(1);
	}
	for (i = 0; i < 2; i++)
		if (fcntl(sv[i], F_SETFL, O_NONBLOCK) == -1) {
			perror("fcntl");
			exit(1);
		}
}

/*
 * A TCP pair on the loopback, for TLS: on a socketpair, the answer to
 * a close_notify finds the peer gone (EPIPE), where TCP takes it.
 */
static void
tcp_pair(int sv[2])
{
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);
	int			 l, i;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((l = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(l, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(l, 1) == -1 ||
	    getsockname(l, (struct sockaddr *)&sin, &sl) == -1 ||
	    (sv[1] = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(sv[1], (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    (sv[0] = accept(l, NULL, NULL)) == -1) {
		perror("loopback pair");
		exit(1);
	}
	close(l);
	for (i = 0; i < 2; i++)
		if (fcntl(sv[i], F_SETFL, O_NONBLOCK) == -1) {
			perror("fcntl");
			exit(1);
		}
}

static int
putline(struct end *e, const char *fmt, ...)
{
	const char	*line;
	va_list		 ap;
	int		 n;

	va_start(ap, fmt);
	n = conn_vputline(&e->c, &line, fmt, ap);
	va_end(ap);
	return n;
}

/* Read what a raw peer has, into buf; returns the count. */
static size_t
drain_raw(int fd, unsigned char *buf, size_t cap, size_t have)
{
	ssize_t	 n;

	while (have < cap && (n = read(fd, buf + have, cap - have)) > 0)
		have += (size_t)n;
	return have;
}

/* ---- plain ----------------------------------------------------------- */

static int
lines_input(struct end *e)
{
	size_t	 len, used;
	int	 r;

	while ((r = conn_getline(&e->c, T_IN, &len, &used)) == 1) {
		if (len == 5 && memcmp(e->c.in, "hello", 5) == 0)
			e->phase |= 1;
		else if (len == 5 && memcmp(e->c.in, "world", 5) == 0)
			e->phase |= 2;
		else
			e->phase |= 4;
		conn_consume(&e->c, used);
	}
	if (r == -1)
		e->phase |= 8;
	return 0;
}

static void
plain_lines(void)
{
	struct end	 a;
	unsigned char	 buf[64];
	int		 sv[2];
	size_t		 n;

	pair(sv);
	end_init(&a, "plain", sv[0], 0);
	a.on_input = lines_input;

	/* Out: two lines, CRLF added, the text pointed at. */
	CHECK(putline(&a, "%s %d", "250", 1) == 5, "putline length");
	CHECK(putline(&a, "quit") == 4, "second putline");
	CHECK(conn_flush(&a.c) == 0 && a.c.outlen == 0, "flush");
	CHECK(a.c.written == 13, "written %llu", (unsigned long long)
	    a.c.written);
	n = drain_raw(sv[1], buf, sizeof(buf), 0);
	CHECK(n == 13 && memcmp(buf, "250 1\r\nquit\r\n", 13) == 0,
	    "the peer read %zu bytes", n);
	CHECK(a.ev[CONN_EV_WRITTEN] == 1 && a.ev[CONN_EV_DRAINED] == 1,
	    "written %d drained %d", a.ev[CONN_EV_WRITTEN],
	    a.ev[CONN_EV_DRAINED]);
	/* A line that cannot fit is not queued at all. */
	memset(buf, 'x', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	CHECK(putline(&a, "%s%s%s", buf, buf, buf) == -1 && a.c.outlen == 0,
	    "an over-long line was queued");

	/* In: CRLF and bare LF lines, split over two writes. */
	CHECK(write(sv[1], "hello\r\nwor", 10) == 10, "write");
	(void)loop_once(&L, 0);
	CHECK(a.phase == 1 && a.c.inlen == 3, "phase %d inlen %zu", a.phase,
	    a.c.inlen);
	CHECK(write(sv[1], "ld\n", 3) == 3, "write");
	(void)loop_once(&L, 0);
	CHECK(a.phase == 3 && a.c.inlen == 0, "phase %d inlen %zu", a.phase,
	    a.c.inlen);

	/* A line longer than the input buffer. */
	memset(buf, 'y', sizeof(buf));
	CHECK(write(sv[1], buf, sizeof(buf)) == (ssize_t)sizeof(buf) &&
	    write(sv[1], buf, 10) == 10, "write");
	(void)loop_once(&L, 0);
	CHECK(a.phase & 8, "no over-long line seen");
	CHECK(a.c.inlen == T_IN, "inlen %zu", a.c.inlen);
	/* A full buffer the owner leaves stops the read interest. */
	CHECK(!(loop_fd_mask(&L, sv[0]) & LOOP_READ), "still reading");
	conn_consume(&a.c, a.c.inlen);
	CHECK(conn_interest(&a.c) == 0 && (loop_fd_mask(&L, sv[0]) &
	    LOOP_READ), "not reading again");
	a.on_input = NULL;
	a.consume = 1;
	(void)loop_once(&L, 0);
	CHECK(a.c.inlen == 0, "the rest of the line not read");

	/* conn_stop_reading(): nothing more comes in. */
	conn_stop_reading(&a.c);
	CHECK(conn_interest(&a.c) == 0 && !(loop_fd_mask(&L, sv[0]) &
	    LOOP_READ), "reading after conn_stop_reading");
	CHECK(write(sv[1], "late\r\n", 6) == 6, "write");
	(void)conn_resume(&a.c);
	CHECK(a.c.inlen == 0, "read after conn_stop_reading");
	conn_close(&a.c, 1);
	CHECK(a.c.fd == -1 && loop_fd_mask(&L, sv[0]) == -1, "not closed");
	close(sv[1]);
}

/* Output refilled as it drains, through a small socket buffer. */
static void
plain_bulk(void)
{
	struct end	 a;
	static unsigned char got[T_BULK];
	size_t		 i, n = 0;
	int		 sv[2], sz = 4096, blocked = 0, done = 0, zero = 1;

	pair(sv);
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	(void)setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	end_init(&a, "bulk", sv[0], CONN_WIPE);
	a.consume = 1;
	a.src = bulk;
	a.srclen = sizeof(bulk);
	/* As an owner does after a call of its own: flush, interest. */
	CHECK(conn_flush(&a.c) == 0 && conn_interest(&a.c) == 0, "flush");
	/* The peer reads nothing yet: the socket fills. */
	for (i = 0; i < 1000 && loop_once(&L, 0) == 0; i++) {
		if (a.c.outlen > 0 && (loop_fd_mask(&L, sv[0]) & LOOP_WRITE)) {
			blocked = 1;
			break;
		}
	}
	CHECK(blocked, "the socket never filled");
	CHECK(a.c.written < sizeof(bulk), "all written at once");
	/* Now the peer reads, and the rest goes out as room comes. */
	while (!done) {
		n = drain_raw(sv[1], got, sizeof(got), n);
		if (n == sizeof(got))
			done = 1;
		else if (loop_once(&L, 1) != 0)
			break;
	}
	CHECK(n == sizeof(got) && memcmp(got, bulk, n) == 0,
	    "%zu bytes arrived, or not in order", n);
	CHECK(a.c.written == sizeof(bulk), "written %llu",
	    (unsigned long long)a.c.written);
	CHECK(a.ev[CONN_EV_WRITTEN] > 1, "one write only");
	for (i = 0; i < sizeof(a.out); i++)
		zero &= a.out[i] == 0;
	CHECK(zero, "written output left in the buffer");
	conn_close(&a.c, 0);
	close(sv[1]);
}

/* The peer closes: what it sent first stays; then a write fails. */
static void
plain_eof(void)
{
	struct end	 a;
	int		 sv[2];

	pair(sv);
	end_init(&a, "eof", sv[0], 0);
	CHECK(write(sv[1], "bye\r\n", 5) == 5, "write");
	close(sv[1]);
	CHECK(run_until(&a.gone, "EOF") == 0 && a.gone == CONN_EV_EOF,
	    "gone %d", a.gone);
	CHECK(a.eofinlen == 5, "inlen %zu at EOF", a.eofinlen);
	CHECK(a.c.fd == -1, "not closed by the owner");

	pair(sv);
	end_init(&a, "epipe", sv[0], 0);
	close(sv[1]);
	CHECK(putline(&a, "hello") == 5, "putline");
	CHECK(conn_flush(&a.c) == -1, "write to a closed peer");
	CHECK(a.gone == CONN_EV_ERROR && a.op == CONN_OP_WRITE &&
	    a.err == EPIPE, "gone %d op %d err %d", a.gone, a.op, a.err);
}

/* ---- TLS ------------------------------------------------------------- */

/* Server: STARTTLS in the clear, then count bytes and say "done". */
static int
srv_input(struct end *e)
{
	size_t	 len, used;

	if (e->phase == 0 && conn_getline(&e->c, T_IN, &len, &used) == 1) {
		CHECK(len == 8 && memcmp(e->c.in, "STARTTLS", 8) == 0,
		    "server: not STARTTLS");
		conn_consume(&e->c, used);
		conn_stop_reading(&e->c);
		(void)putline(e, "220 go ahead");
		e->phase = 1;
	}
	if (e->phase == 2 && e->sinklen == T_BULK) {
		(void)putline(e, "done");
		e->phase = 3;
	}
	return 0;
}

static int
srv_drained(struct end *e)
{
	struct tls_conn	*t;
	char		 err[256];

	if (e->phase != 1)
		return 0;
	if ((t = tls_server_new(e->screds, err, sizeof(err))) == NULL) {
		CHECK(0, "tls_server_new: %s", err);
		return 0;
	}
	e->dropped = conn_start_tls(&e->c, t);
	e->phase = 2;
	e->sink = e->got;	/* from now on, everything is bulk */
	return 0;
}

/* Client: on the 220, TLS; once TLS is up, the bulk; on "done", close. */
static int
cli_input(struct end *e)
{
	struct tls_conn	*t;
	char		 err[256];
	size_t		 len, used;

	if (conn_getline(&e->c, T_IN, &len, &used) != 1)
		return 0;
	if (e->phase == 0) {
		CHECK(len == 12 && memcmp(e->c.in, "220 go ahead", 12) == 0,
		    "client: no 220");
		conn_consume(&e->c, used);
		t = tls_client_new(e->ccreds, "localhost", TLS_LEVEL_VERIFY,
		    err, sizeof(err));
		if (t == NULL) {
			CHECK(0, "tls_client_new: %s", err);
			return 0;
		}
		e->dropped = conn_start_tls(&e->c, t);
		e->phase = 1;
		return 0;
	}
	CHECK(len == 4 && memcmp(e->c.in, "done", 4) == 0, "client: no done");
	conn_consume(&e->c, used);
	e->phase = 3;
	conn_close(&e->c, 1);
	return -1;
}

/* The EC server certificate, and the root it chains to. */
static int
load_creds(struct tls_server_creds **sc, struct tls_client_creds **cc)
{
	char	 err[256];

	if (tls_server_creds_load(path("ec-chain.crt"), path("ec.key"), sc,
	    err, sizeof(err)) != 0)
		goto bad;
	if (tls_client_creds_load(path("ca.crt"), cc, err,
	    sizeof(err)) != 0) {
		tls_server_creds_unref(*sc);
		goto bad;
	}
	return 0;
bad:
	CHECK(0, "credentials: %s", err);
	return -1;
}

static void
tls_pair(void)
{
	struct tls_server_creds	*sc;
	struct tls_client_creds	*cc;
	static unsigned char	 got[T_BULK];
	struct end		 s, c;
	int			 sv[2];

	if (load_creds(&sc, &cc) != 0)
		return;
	tcp_pair(sv);
	end_init(&s, "server", sv[0], 0);
	end_init(&c, "client", sv[1], CONN_WIPE);
	s.screds = sc;
	c.ccreds = cc;
	s.on_input = srv_input;
	s.on_drained = srv_drained;
	s.got = got;
	s.sinkcap = sizeof(got);
	c.on_input = cli_input;

	/* Clear text pipelined behind STARTTLS: an injection. */
	memcpy(c.out, "STARTTLS\r\nMAIL FROM:<x@y>\r\n", 27);
	c.c.outlen = 27;
	CHECK(conn_flush(&c.c) == 0, "client flush");
	CHECK(run_until(&c.ev[CONN_EV_TLS], "client handshake") == 0, "tls");
	CHECK(s.ev[CONN_EV_TLS] == 1, "server handshake events %d",
	    s.ev[CONN_EV_TLS]);
	CHECK(s.dropped == 17, "server dropped %zu bytes", s.dropped);
	CHECK(c.dropped == 0, "client dropped %zu bytes", c.dropped);
	CHECK(s.sinklen == 0, "clear text reached the server through TLS");

	/* The bulk, through 64- and 128-byte buffers. */
	c.src = bulk;
	c.srclen = sizeof(bulk);
	c.phase = 2;
	(void)conn_flush(&c.c);
	(void)conn_interest(&c.c);
	CHECK(run_until(&s.gone, "close_notify") == 0, "server end");
	CHECK(s.sinklen == sizeof(got) && memcmp(got, bulk, sizeof(got)) == 0,
	    "server got %zu bytes, or not in order", s.sinklen);
	CHECK(c.phase == 3 && c.c.fd == -1, "client not done");
	CHECK(s.gone == CONN_EV_EOF && s.truncated == 0,
	    "server end: event %d (op %d, %s), truncated %d", s.gone, s.op,
	    strerror(s.err), s.truncated);
	tls_server_creds_unref(sc);
	tls_client_creds_unref(cc);
}

/* A TLS peer that vanishes in the middle: an EOF marked truncated. */
static void
tls_truncated_end(void)
{
	struct tls_server_creds	*sc;
	struct tls_client_creds	*cc;
	struct end		 s, c;
	char			 err[256];
	int			 sv[2];

	if (load_creds(&sc, &cc) != 0)
		return;
	tcp_pair(sv);
	end_init(&s, "server", sv[0], 0);
	end_init(&c, "client", sv[1], 0);
	s.consume = c.consume = 1;
	(void)conn_start_tls(&s.c, tls_server_new(sc, err, sizeof(err)));
	(void)conn_start_tls(&c.c, tls_client_new(cc, "localhost",
	    TLS_LEVEL_VERIFY, err, sizeof(err)));
	(void)conn_interest(&s.c);
	(void)conn_interest(&c.c);
	CHECK(run_until(&s.ev[CONN_EV_TLS], "implicit TLS") == 0, "tls");
	CHECK(run_until(&c.ev[CONN_EV_TLS], "implicit TLS client") == 0,
	    "tls");
	conn_close(&c.c, 0);
	CHECK(run_until(&s.gone, "truncation") == 0, "server end");
	CHECK(s.gone == CONN_EV_EOF && s.truncated == 1,
	    "server end: event %d, truncated %d", s.gone, s.truncated);
	tls_server_creds_unref(sc);
	tls_client_creds_unref(cc);
}

int
main(int argc, char **argv)
{
	char	 tmp[T_PATH], cmd[3 * T_PATH];
	char	 err[LOOP_ERRLEN];
	const char *src;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1)
		certdir = argv[1];
	else {
		src = getenv("top_srcdir") ? getenv("top_srcdir") : ".";
		snprintf(tmp, sizeof(tmp), "%s/conn_test.XXXXXX",
		    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (mkdtemp(tmp) == NULL) {
			perror("mkdtemp");
			return 1;
		}
		snprintf(cmd, sizeof(cmd), "sh '%s/tests/certs/make-certs.sh' "
		    "'%s' >/dev/null 2>&1", src, tmp);
		if (system(cmd) != 0) {
			printf("cannot make test certificates (openssl?)\n");
			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
			(void)system(cmd);
			return 1;
		}
		certdir = tmp;
	}
	if (loop_init(&L, 1024, 64, err, sizeof(err)) != 0) {
		printf("loop_init: %s\n", err);
		return 1;
	}
	fill(bulk, sizeof(bulk), 7);

	plain_lines();
	plain_bulk();
	plain_eof();
	tls_pair();
	tls_truncated_end();

	loop_free(&L);
	if (argc <= 1) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		(void)system(cmd);
	}
	return check_finish();
}
