/*
 * tls-tool: drive runtime/core/tls.c and runtime/core/pem.c from test scripts,
 * against real peers (openssl s_client / s_server / s_time, Python's
 * ssl module).  Every socket is non-blocking and moved only through
 * the tls_* calls and poll(2), as bastiond's loop will.
 *
 *   tls-tool load CERT KEY           load server credentials
 *   tls-tool anchors CAFILE          load trust anchors
 *   tls-tool serve [-n N] CERT KEY   listen on 127.0.0.1, free port;
 *       print "port P"; for each of N connections (0: until killed)
 *       do the handshake, echo one line, close, and print
 *       "conn VERSION SUITE sni=NAME" or "conn error: REASON"
 *   tls-tool connect PORT PEER required|verify [CAFILE]
 *       connect to 127.0.0.1:PORT as a client for next hop PEER, send
 *       "hello from bastion", print "ok VERSION SUITE reply=LINE" or
 *       "error: REASON" (exit 1)
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bastion_limits.h"
#include "tls.h"

#define TOOL_WAIT_MS	10000	/* per wait: a stuck peer fails */
#define TOOL_LINE	1024

static int	tool_nonblock(int);
static int	tool_wait(struct tls_conn *, int);
static int	tool_handshake(struct tls_conn *, int);
static ssize_t	tool_read_line(struct tls_conn *, int, char *, size_t);
static int	tool_write_all(struct tls_conn *, int, const char *, size_t);
static void	tool_close(struct tls_conn *, int);
static const char *tool_why(struct tls_conn *);
static int	cmd_load(int, char **);
static int	cmd_anchors(int, char **);
static int	cmd_serve(int, char **);
static int	cmd_connect(int, char **);

static int
tool_nonblock(int fd)
{
	int	 fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	return 0;
}

/* Wait for what the engine wants; -1 on timeout or nothing to wait for. */
static int
tool_wait(struct tls_conn *c, int fd)
{
	struct pollfd	 pfd;
	unsigned	 ev;
	int		 r;

	if (tls_pending(c) > 0)
		return 0;
	ev = tls_events(c);
	pfd.fd = fd;
	pfd.events = 0;
	pfd.revents = 0;
	if (ev & TLS_EV_READ)
		pfd.events |= POLLIN;
	if (ev & TLS_EV_WRITE)
		pfd.events |= POLLOUT;
	if (pfd.events == 0) {
		errno = EPIPE;
		return -1;
	}
	do
		r = poll(&pfd, 1, TOOL_WAIT_MS);
	while (r == -1 && errno == EINTR);
	if (r == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	return r < 0 ? -1 : 0;
}

static const char *
tool_why(struct tls_conn *c)
{
	const char	*e;

	if ((e = tls_error(c)) != NULL)
		return e;
	return strerror(errno);
}

static int
tool_handshake(struct tls_conn *c, int fd)
{
	int	 r;

	while ((r = tls_handshake(c, fd)) == 0)
		if (tool_wait(c, fd) == -1)
			return -1;
	return r == 1 ? 0 : -1;
}

/* Read up to and including '\n'; returns the length, 0 at EOF, -1. */
static ssize_t
tool_read_line(struct tls_conn *c, int fd, char *buf, size_t cap)
{
	size_t	 len;
	ssize_t	 r;

	len = 0;
	while (len < cap - 1) {
		r = tls_read(c, fd, buf + len, 1);
		if (r == 1) {
			if (buf[len++] == '\n')
				break;
			continue;
		}
		if (r == 0)
			break;
		if (errno != EAGAIN || tool_wait(c, fd) == -1)
			return -1;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

static int
tool_write_all(struct tls_conn *c, int fd, const char *buf, size_t n)
{
	size_t	 off;
	ssize_t	 r;

	for (off = 0; off < n;) {
		if ((r = tls_write(c, fd, buf + off, n - off)) > 0) {
			off += (size_t)r;
			continue;
		}
		if (errno != EAGAIN || tool_wait(c, fd) == -1)
			return -1;
	}
	while (tls_flush(c, fd) == -1)
		if (errno != EAGAIN || tool_wait(c, fd) == -1)
			return -1;
	return 0;
}

/* Best effort, as bastiond will: a few tries, then just go. */
static void
tool_close(struct tls_conn *c, int fd)
{
	int	 i;

	for (i = 0; i < 10 && tls_close(c, fd) == -1 && errno == EAGAIN;
	    i++)
		if (tool_wait(c, fd) == -1)
			break;
}

static int
cmd_load(int argc, char **argv)
{
	struct tls_server_creds	*cr;
	char			 err[LIM_ERRMSG];

	if (argc != 3) {
		fprintf(stderr, "usage: tls-tool load CERT KEY\n");
		return 2;
	}
	if (tls_server_creds_load(argv[1], argv[2], &cr, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("ok %s\n", tls_server_creds_describe(cr));
	tls_server_creds_unref(cr);
	return 0;
}

static int
cmd_anchors(int argc, char **argv)
{
	struct tls_client_creds	*cr;
	char			 err[LIM_ERRMSG];

	if (argc != 2) {
		fprintf(stderr, "usage: tls-tool anchors CAFILE\n");
		return 2;
	}
	if (tls_client_creds_load(argv[1], &cr, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("ok %zu anchors\n", tls_client_creds_anchors(cr));
	tls_client_creds_unref(cr);
	return 0;
}

static int
cmd_serve(int argc, char **argv)
{
	struct tls_server_creds	*cr;
	struct tls_conn		*c;
	struct sockaddr_in	 sin;
	socklen_t		 slen;
	char			 err[LIM_ERRMSG], line[TOOL_LINE];
	long			 count, n;
	ssize_t			 r;
	int			 ch, lfd, fd, one;

	count = 1;
	while ((ch = getopt(argc, argv, "n:")) != -1) {
		switch (ch) {
		case 'n':
			count = strtol(optarg, NULL, 10);
			break;
		default:
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2) {
		fprintf(stderr, "usage: tls-tool serve [-n N] CERT KEY\n");
		return 2;
	}
	if (tls_server_creds_load(argv[0], argv[1], &cr, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1) {
		perror("socket");
		return 1;
	}
	one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = 0;
	slen = sizeof(sin);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 64) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &slen) == -1) {
		perror("bind");
		return 1;
	}
	printf("port %u\n", (unsigned)ntohs(sin.sin_port));
	fflush(stdout);
	for (n = 0; count == 0 || n < count; n++) {
		if ((fd = accept(lfd, NULL, NULL)) == -1) {
			if (errno == EINTR) {
				n--;
				continue;
			}
			perror("accept");
			return 1;
		}
		if (tool_nonblock(fd) == -1) {
			printf("conn error: %s\n", strerror(errno));
			close(fd);
			continue;
		}
		if ((c = tls_server_new(cr, err, sizeof(err))) == NULL) {
			printf("conn error: %s\n", err);
			close(fd);
			continue;
		}
		if (tool_handshake(c, fd) == -1) {
			printf("conn error: %s\n", tool_why(c));
		} else {
			printf("conn %s %s sni=%s\n", tls_version_name(c),
			    tls_suite_name(c), tls_sni(c));
			if ((r = tool_read_line(c, fd, line,
			    sizeof(line))) > 0 &&
			    tool_write_all(c, fd, line, (size_t)r) == -1)
				printf("conn error: %s\n", tool_why(c));
			else if (r == -1)
				printf("conn error: %s\n", tool_why(c));
			tool_close(c, fd);
		}
		fflush(stdout);
		tls_free(c);
		close(fd);
	}
	close(lfd);
	tls_server_creds_unref(cr);
	return 0;
}

static int
cmd_connect(int argc, char **argv)
{
	static const char	 hello[] = "hello from bastion\n";
	struct tls_client_creds	*cr;
	struct tls_conn		*c;
	struct sockaddr_in	 sin;
	char			 err[LIM_ERRMSG], line[TOOL_LINE];
	ssize_t			 r;
	int			 fd, level, rc;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: tls-tool connect PORT PEER "
		    "required|verify [CAFILE]\n");
		return 2;
	}
	if (strcmp(argv[3], "verify") == 0)
		level = TLS_LEVEL_VERIFY;
	else if (strcmp(argv[3], "required") == 0)
		level = TLS_LEVEL_REQUIRED;
	else
		return 2;
	if (tls_client_creds_load(argc == 5 ? argv[4] : NULL, &cr, err,
	    sizeof(err)) == -1) {
		printf("error: %s\n", err);
		return 1;
	}
	if ((c = tls_client_new(cr, argv[2], level, err,
	    sizeof(err))) == NULL) {
		printf("error: %s\n", err);
		tls_client_creds_unref(cr);
		return 1;
	}
	/* The connection holds its own reference now. */
	tls_client_creds_unref(cr);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)strtol(argv[1], NULL, 10));
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    tool_nonblock(fd) == -1) {
		printf("error: connect: %s\n", strerror(errno));
		tls_free(c);
		return 1;
	}
	rc = 1;
	if (tool_handshake(c, fd) == -1 ||
	    tool_write_all(c, fd, hello, sizeof(hello) - 1) == -1 ||
	    (r = tool_read_line(c, fd, line, sizeof(line))) == -1)
		printf("error: %s\n", tool_why(c));
	else {
		line[strcspn(line, "\r\n")] = '\0';
		printf("ok %s %s reply=%s\n", tls_version_name(c),
		    tls_suite_name(c), line);
		rc = 0;
	}
	tool_close(c, fd);
	tls_free(c);
	close(fd);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: tls-tool load|anchors|serve|connect "
		    "...\n");
		return 2;
	}
	if (strcmp(argv[1], "load") == 0)
		return cmd_load(argc - 1, argv + 1);
	if (strcmp(argv[1], "anchors") == 0)
		return cmd_anchors(argc - 1, argv + 1);
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "connect") == 0)
		return cmd_connect(argc - 1, argv + 1);
	fprintf(stderr, "tls-tool: unknown command %s\n", argv[1]);
	return 2;
}
