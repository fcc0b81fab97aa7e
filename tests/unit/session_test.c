/*
 * session_test: inbound sessions (runtime/inbound/session.c) on their
 * own, with a context built here as the server would build it: a
 * loop, a spool, a protocol log and a table of the test's own, and a
 * client on loopback talking to a listener.  A message goes through a
 * whole dialogue and reaches the committed hook; SIGTERM's shutdown
 * says 421 and reports the last session gone.
 */
#include "spool_testutil.h"

#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <fcntl.h>
#include <syslog.h>

#include <sodium.h>

#include "bastion_limits.h"
#include "rt_testutil.h"
#include "session.h"

struct client {
	struct loop	*L;
	int		 fd;
	int		 eof;
	size_t		 len;
	char		 buf[8192];
};

struct hooks {
	int	 committed;
	int	 drained;
	char	 id[SPOOL_ID_SIZE];
};

static void	on_committed(void *, const char *);
static void	on_drained(void *);
static void	on_listener(struct loop *, int, int, void *);
static void	on_client(struct loop *, int, int, void *);
static int	replied(void *);
static int	closed(void *);
static int	client_open(struct client *, struct loop *,
		    const struct sockaddr_in *);
static void	client_close(struct client *);
static int	talk(struct client *, const char *, const char *);
static void	test_async(struct loop *, struct session_ctx *,
		    struct hooks *, const struct sockaddr_in *,
		    struct client *);

static void
on_committed(void *arg, const char *id)
{
	struct hooks	*h = arg;

	h->committed++;
	snprintf(h->id, sizeof(h->id), "%s", id);
}

static void
on_drained(void *arg)
{
	((struct hooks *)arg)->drained++;
}

static void
on_listener(struct loop *L, int fd, int events, void *arg)
{
	(void)L;
	(void)fd;
	(void)events;
	session_accept(arg);
}

static void
on_client(struct loop *L, int fd, int events, void *arg)
{
	struct client	*c = arg;
	ssize_t		 n;

	(void)events;
	n = read(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	if (n > 0) {
		c->len += (size_t)n;
		c->buf[c->len] = '\0';
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		c->eof = 1;
		loop_fd_del(L, fd);
	}
}

/* A whole reply is in: its last line is "NNN text\r\n". */
static int
replied(void *arg)
{
	struct client	*c = arg;
	const char	*last, *end;

	if (c->len < 2 || memcmp(c->buf + c->len - 2, "\r\n", 2) != 0)
		return c->eof;
	end = c->buf + c->len - 2;
	for (last = end; last > c->buf && last[-1] != '\n'; last--)
		;
	return end - last >= 4 && last[3] == ' ';
}

static int
closed(void *arg)
{
	return ((struct client *)arg)->eof;
}

static int
client_open(struct client *c, struct loop *L, const struct sockaddr_in *sin)
{
	memset(c, 0, sizeof(*c));
	c->L = L;
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(c->fd, (const struct sockaddr *)sin, sizeof(*sin)) == -1 ||
	    fcntl(c->fd, F_SETFL, O_NONBLOCK) == -1 ||
	    loop_fd_add(L, c->fd, LOOP_READ, on_client, c) != 0) {
		printf("client: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static void
client_close(struct client *c)
{
	if (!c->eof)
		loop_fd_del(c->L, c->fd);
	close(c->fd);
}

/*
 * Send line (CRLF added; NULL: nothing, wait for what comes) and wait
 * for the reply; 1 if it starts with want.
 */
static int
talk(struct client *c, const char *line, const char *want)
{
	char	 out[1024];
	int	 n;

	c->len = 0;
	c->buf[0] = '\0';
	if (line != NULL) {
		n = snprintf(out, sizeof(out), "%s\r\n", line);
		if (write(c->fd, out, (size_t)n) != n)
			return 0;
	}
	(void)rt_spin(c->L, replied, c, 5000);
	if (strncmp(c->buf, want, strlen(want)) != 0) {
		printf("after \"%s\": \"%s\", want \"%s...\"\n",
		    line ? line : "(connect)", c->buf, want);
		return 0;
	}
	return 1;
}

static int
two_replies(void *arg)
{
	struct client	*c = arg;

	return c->eof || (replied(c) && strstr(c->buf, "\r\n") !=
	    c->buf + c->len - 2);
}

static int
commit_busy(void *arg)
{
	return commit_inflight(arg) > 0;
}

static int
no_sessions(void *arg)
{
	return ((struct session_ctx *)arg)->nsessions == 0;
}

/* Up to DATA's 354 on a new connection. */
static int
open_tx(struct client *c, struct loop *L, const struct sockaddr_in *sin)
{
	return client_open(c, L, sin) == 0 && talk(c, NULL, "220 ") &&
	    talk(c, "HELO client.example", "250 ") &&
	    talk(c, "MAIL FROM:<sender@client.example>", "250 ") &&
	    talk(c, "RCPT TO:<alice@local.example>", "250 ") &&
	    talk(c, "DATA", "354 ");
}

/*
 * With the commit thread: the 250 comes from the commit's completion,
 * and input pipelined after the dot waits for it; a client that closes
 * after pipelining QUIT still gets its replies; one reset while its
 * message is committed gets none, but the message is queued.
 */
static void
test_async(struct loop *L, struct session_ctx *ctx, struct hooks *h,
    const struct sockaddr_in *sin, struct client *c)
{
	static const char	 body[] = "Subject: a\r\n\r\nA.\r\n.\r\n";
	struct commit		 eng;
	struct linger		 lg;
	char			 err[128], out[256];
	int			 before = h->committed, n;

	CHECK(commit_init(&eng, L, 4, err, sizeof(err)) == 0, "%s", err);
	ctx->commit = &eng;

	CHECK(open_tx(c, L, sin), "async: up to DATA");
	c->len = 0;
	n = snprintf(out, sizeof(out), "%sNOOP\r\n", body);
	CHECK(write(c->fd, out, (size_t)n) == n);
	(void)rt_spin(L, two_replies, c, 5000);
	CHECK(strncmp(c->buf, "250 2.0.0 Ok: queued as ", 24) == 0 &&
	    strstr(c->buf, "\r\n250 2.0.0 Ok\r\n") != NULL,
	    "async: 250, then NOOP's: \"%s\"", c->buf);
	CHECK(h->committed == before + 1);
	client_close(c);
	CHECK(rt_spin(L, no_sessions, ctx, 5000) == 1);

	CHECK(open_tx(c, L, sin), "async: up to DATA");
	c->len = 0;
	n = snprintf(out, sizeof(out), "%sQUIT\r\n", body);
	CHECK(write(c->fd, out, (size_t)n) == n);
	CHECK(shutdown(c->fd, SHUT_WR) == 0);
	CHECK(rt_spin(L, closed, c, 5000) == 1, "async: closed");
	CHECK(strncmp(c->buf, "250 2.0.0 Ok: queued as ", 24) == 0 &&
	    strstr(c->buf, "\r\n221 ") != NULL,
	    "async: the replies after a half-close: \"%s\"", c->buf);
	CHECK(h->committed == before + 2);
	client_close(c);
	CHECK(rt_spin(L, no_sessions, ctx, 5000) == 1);

	CHECK(open_tx(c, L, sin), "async: up to DATA");
	CHECK(write(c->fd, body, sizeof(body) - 1) ==
	    (ssize_t)sizeof(body) - 1);
	CHECK(rt_spin(L, commit_busy, &eng, 5000) == 1, "async: in flight");
	lg.l_onoff = 1;
	lg.l_linger = 0;	/* close() sends a reset */
	CHECK(setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg,
	    sizeof(lg)) == 0);
	client_close(c);
	CHECK(rt_spin(L, no_sessions, ctx, 5000) == 1, "async: session gone");
	CHECK(h->committed == before + 3, "async: queued all the same (%d)",
	    h->committed - before);
	CHECK(commit_inflight(&eng) == 0);
	commit_free(&eng);
	ctx->commit = NULL;
}

int
main(void)
{
	static struct sasl_ctx	 sasl;
	static struct client	 c;
	static struct rt_site	 site;
	struct rt_site		*S = &site;
	struct session_ctx	 ctx;
	struct listener		 l;
	struct hooks		 h;
	struct hostcount	 hosts;
	struct tls_server_creds	*creds = NULL;
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);
	char			 path[4096];

	if (sodium_init() < 0 || rt_site_open(S, "session_test", 25) != 0)
		return 99;
	CHECK(hostcount_init(&hosts, 256) == 0, "hostcount_init");
	sasl_ctx_init(&sasl);

	/* What the server would fill in; no AUTH (no users), no TLS. */
	memset(&h, 0, sizeof(h));
	memset(&ctx, 0, sizeof(ctx));
	ctx.loop = &S->L;
	ctx.log = &S->log;
	ctx.oplog = &S->ol;
	ctx.spool = &S->sp;
	ctx.sasl = &sasl;
	ctx.hosts = &hosts;
	ctx.table = &S->tb;
	ctx.creds = &creds;
	ctx.sid_next = 1;
	ctx.committed = on_committed;
	ctx.drained = on_drained;
	ctx.arg = &h;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memset(&l, 0, sizeof(l));
	l.ctx = &ctx;
	l.line = 1;
	if ((l.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1 ||
	    bind(l.fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(l.fd, 8) == -1 ||
	    getsockname(l.fd, (struct sockaddr *)&sin, &sl) == -1 ||
	    loop_fd_add(&S->L, l.fd, LOOP_READ, on_listener, &l) != 0) {
		printf("listen: %s\n", strerror(errno));
		return 99;
	}
	snprintf(l.local, sizeof(l.local), "127.0.0.1:%u",
	    (unsigned)ntohs(sin.sin_port));

	/* A whole dialogue. */
	CHECK(client_open(&c, &S->L, &sin) == 0, "connect");
	CHECK(talk(&c, NULL, "220 " RT_HOSTNAME " ESMTP"), "greeting");
	CHECK(ctx.nsessions == 1, "%u sessions", ctx.nsessions);
	CHECK(talk(&c, "EHLO client.example", "250-" RT_HOSTNAME " Hello "
	    "client.example"), "EHLO");
	CHECK(strstr(c.buf, "STARTTLS") == NULL, "no STARTTLS without a "
	    "certificate");
	CHECK(talk(&c, "MAIL FROM:<sender@client.example>", "250 "), "MAIL");
	CHECK(talk(&c, "RCPT TO:<x@elsewhere.example>", "554 5.7.1"),
	    "relaying is denied");
	CHECK(talk(&c, "RCPT TO:<alice@local.example>", "250 "), "RCPT");
	CHECK(talk(&c, "DATA", "354 "), "DATA");
	CHECK(talk(&c, "Subject: hi\r\n\r\nHello.\r\n.", "250 2.0.0 Ok: "
	    "queued as "), "the message is queued");
	CHECK(h.committed == 1 && strstr(c.buf, h.id) != NULL,
	    "the committed hook had the queue id (%d, %s)", h.committed,
	    h.id);
	snprintf(path, sizeof(path), "%s/spool/queue/%s", S->dir, h.id);
	CHECK(access(path, F_OK) == 0, "%s is in the spool", path);
	CHECK(talk(&c, "QUIT", "221 2.0.0 " RT_HOSTNAME " Bye"), "QUIT");
	CHECK(rt_spin(&S->L, closed, &c, 5000) == 1, "closed after QUIT");
	client_close(&c);
	(void)loop_once(&S->L, 0);
	CHECK(ctx.nsessions == 0, "%u sessions after QUIT", ctx.nsessions);
	CHECK(h.drained == 0, "not drained while not stopping");

	test_async(&S->L, &ctx, &h, &sin, &c);
	/* Which came first, the reset or the completion, is the kernel's. */
	printf("async: the reset came %s the commit completed\n",
	    rt_file_has(S->dir, "protocol.log", "client gone before the "
	    "reply") ? "before" : "after");

	/* SIGTERM: an idle session is told, and the last one reported. */
	CHECK(client_open(&c, &S->L, &sin) == 0, "connect");
	CHECK(talk(&c, NULL, "220 "), "greeting");
	session_shutdown_all(&ctx, 0);
	CHECK(talk(&c, NULL, "421 4.3.2 " RT_HOSTNAME " Service shutting "
	    "down"), "421 at shutdown");
	CHECK(rt_spin(&S->L, closed, &c, 5000) == 1, "closed at shutdown");
	client_close(&c);
	CHECK(ctx.nsessions == 0 && h.drained == 1, "drained (%u, %d)",
	    ctx.nsessions, h.drained);

	/* And a client that comes now is refused at once. */
	CHECK(client_open(&c, &S->L, &sin) == 0, "connect");
	CHECK(talk(&c, NULL, "421 4.3.2 Service shutting down"),
	    "refused while stopping");
	client_close(&c);

	CHECK(rt_file_has(S->dir, "protocol.log", "queued as "), "the log "
	    "has the queue id");
	CHECK(rt_file_has(S->dir, "protocol.log", "relay denied"), "the log "
	    "has the refused relay");

	loop_fd_del(&S->L, l.fd);
	close(l.fd);
	sasl_ctx_clear(&sasl);
	hostcount_free(&hosts);
	rt_site_close(S);
	return tu_done("session_test");
}
