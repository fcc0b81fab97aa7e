/*
 * rt_tlsclient: the STARTTLS load for the runtime benchmark
 * (bench/rt_bench.py).  Each of C client processes runs whole sessions
 * one after the other against a bastiond on the loopback: connect,
 * 220, EHLO, STARTTLS, the TLS handshake through the project's own
 * client side (runtime/core/tls.c over BearSSL, never a blocking BIO), QUIT
 * inside TLS, 221, close.  It stops after N sessions or D seconds,
 * whichever comes first, and prints one line for the parent:
 *
 *	sessions S errors E seconds T rate R
 *
 * then the negotiated version and suite, and, if anything failed, the
 * first reason.  C and not Python so
 * that the client costs less than the server it measures.
 *
 *   rt_tlsclient [-c CLIENTS] [-n SESSIONS] [-d SECONDS] [-b SOURCE]
 *	HOST PORT
 *   rt_tlsclient -z          print the size of a server and a client
 *	tls_conn, for the memory figures
 *
 * Every wait is bounded (BENCH_WAIT_MS), so a stuck server fails the
 * session and the run goes on; only 127.0.0.0/8 and ::1 are accepted.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bastion_limits.h"
#include "tls.h"

#define BENCH_WAIT_MS	10000	/* any one wait */
#define BENCH_MAX_CLIENTS 64
#define BENCH_LINE	1024
#define BENCH_WHY	256

struct peer {
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	struct sockaddr_storage	 src;
	socklen_t		 srcl;	/* 0: any source */
};

/* One client process's tally, sent to the parent through a pipe. */
struct tally {
	unsigned long	 sessions, errors;
	double		 seconds;
	char		 why[BENCH_WHY];
	char		 suite[64];	/* of the first session */
};

static double	bench_now(void);
static int	bench_addr(const char *, const char *,
		    struct sockaddr_storage *, socklen_t *);
static int	bench_loopback(const struct sockaddr_storage *);
static int	bench_wait(int, short);
static int	bench_wait_tls(struct tls_conn *, int);
static int	reply_scan(char *, size_t *);
static int	plain_reply(int, char *, size_t, const char *);
static int	plain_send(int, const char *);
static int	tls_reply(struct tls_conn *, int, char *, size_t,
		    const char *);
static int	tls_send(struct tls_conn *, int, const char *);
static int	one_session(const struct peer *, struct tls_client_creds *,
		    char *, size_t, char *, size_t);
static void	run_client(const struct peer *, unsigned long, double, int);
static void	usage(void);

static double
bench_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
bench_addr(const char *host, const char *port, struct sockaddr_storage *ss,
    socklen_t *sl)
{
	struct sockaddr_in	*s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)ss;
	char			*end;
	long			 p = 0;

	if (port != NULL) {
		errno = 0;
		p = strtol(port, &end, 10);
		if (errno != 0 || *end != '\0' || p < 0 || p > 65535)
			return -1;
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		*sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		*sl = sizeof(*s6);
	} else
		return -1;
	return bench_loopback(ss) ? 0 : -1;
}

/* The benchmark never leaves the machine: 127.0.0.0/8 and ::1 only. */
static int
bench_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in	*s4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6	*s6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
	return 0;
}

/* Wait for events on fd; -1 (errno ETIMEDOUT) after BENCH_WAIT_MS. */
static int
bench_wait(int fd, short events)
{
	struct pollfd	 pfd;
	int		 r;

	pfd.fd = fd;
	pfd.events = events;
	pfd.revents = 0;
	do
		r = poll(&pfd, 1, BENCH_WAIT_MS);
	while (r == -1 && errno == EINTR);
	if (r == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	return r < 0 ? -1 : 0;
}

/* Wait for what the TLS engine asks of the socket. */
static int
bench_wait_tls(struct tls_conn *c, int fd)
{
	unsigned	 ev;
	short		 events = 0;

	if (tls_pending(c) > 0)
		return 0;
	ev = tls_events(c);
	if (ev & TLS_EV_READ)
		events |= POLLIN;
	if (ev & TLS_EV_WRITE)
		events |= POLLOUT;
	if (events == 0) {
		errno = EPIPE;
		return -1;
	}
	return bench_wait(fd, events);
}

/*
 * Take the complete lines at the front of buf[0..*len): 1 when the last
 * line of a reply was found (it is left NUL-terminated at buf's start),
 * 0 when more input is needed (continuation lines dropped).
 */
static int
reply_scan(char *buf, size_t *len)
{
	char	*lf;
	size_t	 ll;

	while ((lf = memchr(buf, '\n', *len)) != NULL) {
		ll = (size_t)(lf - buf);
		if (ll < 4 || buf[3] != '-') {
			*lf = '\0';
			if (ll > 0 && buf[ll - 1] == '\r')
				buf[ll - 1] = '\0';
			return 1;
		}
		*len -= ll + 1;
		memmove(buf, lf + 1, *len);
	}
	return 0;
}

/*
 * Read one whole SMTP reply in the clear; 0 if its code starts with
 * want, else -1 with the last line (or the reason) in buf.  The server
 * sends nothing unasked, so no byte past the reply is taken.
 */
static int
plain_reply(int fd, char *buf, size_t cap, const char *want)
{
	size_t	 len = 0;
	ssize_t	 n;

	for (;;) {
		if (reply_scan(buf, &len))
			return strncmp(buf, want, strlen(want)) == 0 ? 0 : -1;
		if (len + 1 >= cap) {
			snprintf(buf, cap, "reply line too long");
			return -1;
		}
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0) {
			snprintf(buf, cap, "connection closed (waiting for "
			    "%s)", want);
			return -1;
		}
		if (errno == EINTR)
			continue;
		if ((errno != EAGAIN && errno != EWOULDBLOCK) ||
		    bench_wait(fd, POLLIN) == -1) {
			snprintf(buf, cap, "read: %s", strerror(errno));
			return -1;
		}
	}
}

static int
plain_send(int fd, const char *line)
{
	size_t	 off = 0, n = strlen(line);
	ssize_t	 r;

	while (off < n) {
		r = send(fd, line + off, n - off, MSG_NOSIGNAL);
		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    bench_wait(fd, POLLOUT) == 0)
			continue;
		return -1;
	}
	return 0;
}

/* As plain_reply, through TLS. */
static int
tls_reply(struct tls_conn *c, int fd, char *buf, size_t cap,
    const char *want)
{
	size_t	 len = 0;
	ssize_t	 n;

	for (;;) {
		if (reply_scan(buf, &len))
			return strncmp(buf, want, strlen(want)) == 0 ? 0 : -1;
		if (len + 1 >= cap) {
			snprintf(buf, cap, "reply line too long");
			return -1;
		}
		n = tls_read(c, fd, buf + len, cap - 1 - len);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0) {
			snprintf(buf, cap, "TLS closed (waiting for %s)", want);
			return -1;
		}
		if (errno != EAGAIN || bench_wait_tls(c, fd) == -1) {
			snprintf(buf, cap, "TLS read: %s", tls_error(c) ?
			    tls_error(c) : strerror(errno));
			return -1;
		}
	}
}

static int
tls_send(struct tls_conn *c, int fd, const char *line)
{
	size_t	 off = 0, n = strlen(line);
	ssize_t	 r;

	while (off < n) {
		if ((r = tls_write(c, fd, line + off, n - off)) > 0) {
			off += (size_t)r;
			continue;
		}
		if (errno != EAGAIN || bench_wait_tls(c, fd) == -1)
			return -1;
	}
	while (tls_flush(c, fd) == -1)
		if (errno != EAGAIN || bench_wait_tls(c, fd) == -1)
			return -1;
	return 0;
}

/* One whole STARTTLS session; 0, or -1 with the reason in why. */
static int
one_session(const struct peer *p, struct tls_client_creds *cr, char *why,
    size_t whylen, char *suite, size_t suitelen)
{
	struct tls_conn	*c = NULL;
	char		 buf[BENCH_LINE], err[LIM_ERRMSG];
	int		 fd, r, i, one = 1, rc = -1;

	fd = socket(p->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (p->srcl > 0 && bind(fd, (const struct sockaddr *)&p->src,
	    p->srcl) == -1) {
		snprintf(why, whylen, "bind: %s", strerror(errno));
		goto out;
	}
	/* A blocking connect on the loopback is quick; then non-blocking. */
	if (connect(fd, (const struct sockaddr *)&p->ss, p->sl) == -1) {
		snprintf(why, whylen, "connect: %s", strerror(errno));
		goto out;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1) {
		snprintf(why, whylen, "fcntl: %s", strerror(errno));
		goto out;
	}
	if (plain_reply(fd, buf, sizeof(buf), "220") == -1 ||
	    plain_send(fd, "EHLO bench.example\r\n") == -1 ||
	    plain_reply(fd, buf, sizeof(buf), "250") == -1 ||
	    plain_send(fd, "STARTTLS\r\n") == -1 ||
	    plain_reply(fd, buf, sizeof(buf), "220") == -1) {
		snprintf(why, whylen, "before TLS: %.200s", buf);
		goto out;
	}
	if ((c = tls_client_new(cr, "127.0.0.1", TLS_LEVEL_REQUIRED, err,
	    sizeof(err))) == NULL) {
		snprintf(why, whylen, "tls_client_new: %.200s", err);
		goto out;
	}
	while ((r = tls_handshake(c, fd)) == 0)
		if (bench_wait_tls(c, fd) == -1)
			break;
	if (r != 1) {
		snprintf(why, whylen, "handshake: %.200s", tls_error(c) ?
		    tls_error(c) : strerror(errno));
		goto out;
	}
	if (suite != NULL)
		snprintf(suite, suitelen, "%s %s", tls_version_name(c),
		    tls_suite_name(c));
	if (tls_send(c, fd, "QUIT\r\n") == -1 ||
	    tls_reply(c, fd, buf, sizeof(buf), "221") == -1) {
		snprintf(why, whylen, "QUIT in TLS: %.200s", buf);
		goto out;
	}
	for (i = 0; i < 4 && tls_close(c, fd) == -1 && errno == EAGAIN; i++)
		if (bench_wait_tls(c, fd) == -1)
			break;
	rc = 0;
out:
	if (c != NULL)
		tls_free(c);
	close(fd);
	return rc;
}

/* A client process: sessions until max or the deadline; tally to out. */
static void
run_client(const struct peer *p, unsigned long max, double secs, int out)
{
	struct tls_client_creds	*cr = NULL;
	struct tally		 t;
	char			 err[LIM_ERRMSG], why[BENCH_WHY];
	double			 t0, end;

	memset(&t, 0, sizeof(t));
	if (tls_client_creds_load(NULL, &cr, err, sizeof(err)) == -1) {
		snprintf(t.why, sizeof(t.why), "client credentials: %.200s",
		    err);
		t.errors = 1;
		if (write(out, &t, sizeof(t)) == -1)
			_exit(1);
		return;
	}
	t0 = bench_now();
	end = t0 + secs;
	while (t.sessions + t.errors < max && bench_now() < end) {
		if (one_session(p, cr, why, sizeof(why), t.suite[0] ? NULL :
		    t.suite, sizeof(t.suite)) == 0)
			t.sessions++;
		else {
			if (t.errors++ == 0)
				memcpy(t.why, why, sizeof(t.why));
			/* A server that refuses should not make us spin. */
			if (t.errors > 100 && t.errors > t.sessions)
				break;
		}
	}
	t.seconds = bench_now() - t0;
	tls_client_creds_unref(cr);
	/* A short write shows as a dead client in the parent. */
	if (write(out, &t, sizeof(t)) == -1)
		_exit(1);
}

static void
usage(void)
{
	fprintf(stderr, "usage: rt_tlsclient [-c clients] [-n sessions] "
	    "[-d seconds] [-b source] host port\n"
	    "       rt_tlsclient -z\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct peer	 p;
	struct tally	 t, sum;
	pid_t		 pids[BENCH_MAX_CLIENTS];
	int		 fds[BENCH_MAX_CLIENTS][2];
	unsigned long	 max = 1000000;
	double		 secs = 3, t0, wall;
	int		 ch, clients = 1, i, status;
	char		*end;
	ssize_t		 n;

	memset(&p, 0, sizeof(p));
	while ((ch = getopt(argc, argv, "b:c:d:n:z")) != -1) {
		switch (ch) {
		case 'b':
			if (bench_addr(optarg, NULL, &p.src, &p.srcl) == -1) {
				fprintf(stderr, "rt_tlsclient: %s: not a "
				    "loopback address\n", optarg);
				return 2;
			}
			break;
		case 'c':
			clients = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || clients < 1 ||
			    clients > BENCH_MAX_CLIENTS)
				usage();
			break;
		case 'd':
			secs = strtod(optarg, &end);
			if (*end != '\0' || !(secs > 0 && secs <= 600))
				usage();
			break;
		case 'n':
			max = strtoul(optarg, &end, 10);
			if (*end != '\0' || max < 1 || max > 100000000)
				usage();
			break;
		case 'z':
			printf("tls_conn server %zu client %zu\n",
			    tls_conn_size(TLS_ROLE_SERVER),
			    tls_conn_size(TLS_ROLE_CLIENT));
			return 0;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2)
		usage();
	if (bench_addr(argv[0], argv[1], &p.ss, &p.sl) == -1) {
		fprintf(stderr, "rt_tlsclient: %s port %s: not a loopback "
		    "address and port\n", argv[0], argv[1]);
		return 2;
	}
	if (p.srcl > 0 && p.src.ss_family != p.ss.ss_family) {
		fprintf(stderr, "rt_tlsclient: source and server families "
		    "differ\n");
		return 2;
	}
	(void)signal(SIGPIPE, SIG_IGN);

	t0 = bench_now();
	for (i = 0; i < clients; i++) {
		if (pipe(fds[i]) == -1 || (pids[i] = fork()) == -1) {
			fprintf(stderr, "rt_tlsclient: %s\n", strerror(errno));
			return 1;
		}
		if (pids[i] == 0) {
			close(fds[i][0]);
			run_client(&p, max, secs, fds[i][1]);
			_exit(0);
		}
		close(fds[i][1]);
	}
	memset(&sum, 0, sizeof(sum));
	for (i = 0; i < clients; i++) {
		memset(&t, 0, sizeof(t));
		do
			n = read(fds[i][0], &t, sizeof(t));
		while (n == -1 && errno == EINTR);
		close(fds[i][0]);
		while (waitpid(pids[i], &status, 0) == -1 && errno == EINTR)
			;
		if (n != (ssize_t)sizeof(t)) {
			sum.errors++;
			if (sum.why[0] == '\0')
				snprintf(sum.why, sizeof(sum.why), "client %d "
				    "died", i);
			continue;
		}
		sum.sessions += t.sessions;
		sum.errors += t.errors;
		if (sum.why[0] == '\0' && t.why[0] != '\0')
			memcpy(sum.why, t.why, sizeof(sum.why));
		if (sum.suite[0] == '\0' && t.suite[0] != '\0')
			memcpy(sum.suite, t.suite, sizeof(sum.suite));
	}
	/* The clients ran side by side: their span is the parent's wall. */
	wall = bench_now() - t0;
	printf("sessions %lu errors %lu seconds %.4f rate %.1f\n",
	    sum.sessions, sum.errors, wall,
	    wall > 0 ? (double)sum.sessions / wall : 0.0);
	if (sum.suite[0] != '\0')
		printf("suite %s\n", sum.suite);
	if (sum.why[0] != '\0')
		printf("first error: %s\n", sum.why);
	return sum.sessions > 0 ? 0 : 1;
}
