/*
 * relay_test: the relay (runtime/outbound/relay.c) on its own, with a
 * loop, a spool and a table of its own, and a tiny SMTP peer on
 * loopback in a child process.  One message goes out in one job: the
 * recipient the peer takes is delivered, the one it refuses and the
 * one with no route at all come back in bounces handed to the bounced
 * hook, and the message leaves the spool.  A second message goes over
 * the same connection, after RSET, and the session says QUIT once it
 * has been idle for its time.  And relay_self(), which tells a next
 * hop that is the gateway itself (a mail loop).
 */
#include "spool_testutil.h"

#include "config.h"

#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <signal.h>
#include <syslog.h>

#include "bastion_limits.h"
#include "relay.h"
#include "rt_testutil.h"

#define MAX_BOUNCES	4

struct hooks {
	struct relay	*r;
	const char	*id;
	int		 nbounced;
	char		 bounced[MAX_BOUNCES][SPOOL_ID_SIZE];
};

struct peer_wait {
	pid_t	 pid;
	int	 status;
};

static void	on_bounced(void *, const char *);
static int	peer_gone(void *);
static int	job_over(void *);
static int	peer_line(FILE *, char *, size_t);
static int	peer(int);
static int	queued_has(const char *, const char *, const char *);
static pid_t	peer_start(uint16_t *);
static int	self(const struct ptab *, const char *, uint16_t);
static void	test_self(void);

static void
on_bounced(void *arg, const char *id)
{
	struct hooks	*h = arg;

	if (h->nbounced < MAX_BOUNCES)
		snprintf(h->bounced[h->nbounced], SPOOL_ID_SIZE, "%s", id);
	h->nbounced++;
}

static int
job_over(void *arg)
{
	struct hooks	*h = arg;

	return !relay_busy(h->r, h->id);
}

static int
peer_line(FILE *fp, char *buf, size_t bufsz)
{
	if (fgets(buf, (int)bufsz, fp) == NULL)
		return -1;
	return 0;
}

/*
 * The next hop: one session on the listening socket.  Takes any
 * recipient but bad@, and exits 0 if two messages came through DATA
 * with bob among the recipients of the first, RSET between them, and
 * QUIT at the end.
 */
static int
peer(int lfd)
{
	char	 line[1100];
	int	 fd, bob = 0, data = 0, rset = 0, quit = 0;
	FILE	*in, *out;

	alarm(20);
	if ((fd = accept(lfd, NULL, NULL)) == -1)
		return 2;
	in = fdopen(fd, "r");
	out = fdopen(dup(fd), "w");
	if (in == NULL || out == NULL)
		return 2;
	setvbuf(out, NULL, _IONBF, 0);
	fputs("220 peer.test ESMTP\r\n", out);
	while (peer_line(in, line, sizeof(line)) == 0) {
		if (strncasecmp(line, "EHLO", 4) == 0 ||
		    strncasecmp(line, "HELO", 4) == 0)
			fputs("250 peer.test\r\n", out);
		else if (strncasecmp(line, "MAIL", 4) == 0)
			fputs("250 2.1.0 Ok\r\n", out);
		else if (strncasecmp(line, "RCPT", 4) == 0) {
			if (strstr(line, "<bad@") != NULL)
				fputs("550 5.1.1 No such user here\r\n", out);
			else {
				bob |= strstr(line, "<bob@remote.example>") !=
				    NULL;
				fputs("250 2.1.5 Ok\r\n", out);
			}
		} else if (strncasecmp(line, "DATA", 4) == 0) {
			fputs("354 Go ahead\r\n", out);
			while (peer_line(in, line, sizeof(line)) == 0 &&
			    strcmp(line, ".\r\n") != 0)
				;
			data++;
			fputs("250 2.0.0 Ok: queued\r\n", out);
		} else if (strncasecmp(line, "QUIT", 4) == 0) {
			fputs("221 2.0.0 Bye\r\n", out);
			quit = 1;
			break;
		} else {
			rset += strncasecmp(line, "RSET", 4) == 0;
			fputs("250 2.0.0 Ok\r\n", out);
		}
	}
	fclose(in);
	fclose(out);
	return bob && data == 2 && rset == 1 && quit ? 0 : 1;
}

/* The peer's process has ended (its status in *status). */
static int
peer_gone(void *arg)
{
	struct peer_wait	*w = arg;

	return waitpid(w->pid, &w->status, WNOHANG) == w->pid;
}

/* 1 if queued message id in dir's spool holds text. */
static int
queued_has(const char *dir, const char *id, const char *text)
{
	char	 rel[1024];

	snprintf(rel, sizeof(rel), "spool/queue/%s", id);
	return rt_file_has(dir, rel, text);
}

/* The next hop, in a child, on a free port of 127.0.0.1: -1 or its pid. */
static pid_t
peer_start(uint16_t *port)
{
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);
	pid_t			 pid;
	int			 lfd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 4) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &sl) == -1) {
		printf("listen: %s\n", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == 0)
		_exit(peer(lfd));
	close(lfd);
	*port = ntohs(sin.sin_port);
	return pid;
}

/* relay_self() for the address text a and port. */
static int
self(const struct ptab *t, const char *a, uint16_t port)
{
	struct sockaddr_in6	 sin6;
	struct sockaddr_in	 sin;

	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, a, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		return relay_self(t, (struct sockaddr *)&sin);
	}
	if (inet_pton(AF_INET6, a, &sin6.sin6_addr) != 1)
		return -1;
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(port);
	return relay_self(t, (struct sockaddr *)&sin6);
}

/*
 * Listeners on 127.0.0.2 port 2525, 0.0.0.0 port 25 and :: port 587
 * (never bound: the table is all relay_self() looks at).
 */

/* One plain listener on a, port, at source line. */
static int
listener_add(struct ptab_builder *b, const struct addr *a, uint16_t port,
    uint32_t line)
{
	struct ptab_listener_in	 l;

	memset(&l, 0, sizeof(l));
	l.addr = *a;
	l.port = port;
	l.line = line;
	l.proxy_list = PTAB_NONE;
	return ptab_builder_listener(b, &l);
}

static void
test_self(void)
{
	struct ptab_builder	*b;
	struct ptab_server_in	 s;
	struct ptab		 t;
	struct addr		 a;
	uint8_t			*img = NULL;
	size_t			 len;
	char			 err[256];

	memset(&t, 0, sizeof(t));
	CHECK((b = ptab_builder_new()) != NULL, "builder");
	if (b == NULL)
		return;
	memset(&s, 0, sizeof(s));
	s.hostname = RT_HOSTNAME;
	s.spool = "spool";
	CHECK(ptab_builder_server(b, &s) == 0, "server");
	CHECK(addr_parse("127.0.0.2", 9, 0, &a, err, sizeof(err)) == 0 &&
	    listener_add(b, &a, 2525, 1) == 0, "listener 1");
	CHECK(addr_parse("0.0.0.0", 7, 0, &a, err, sizeof(err)) == 0 &&
	    listener_add(b, &a, 25, 2) == 0, "listener 2");
	CHECK(addr_parse("::", 2, 0, &a, err, sizeof(err)) == 0 &&
	    listener_add(b, &a, 587, 3) == 0, "listener 3");
	CHECK(ptab_build(b, NULL, NULL, &img, &len, err, sizeof(err)) == 0 &&
	    ptab_load(&t, img, len, err, sizeof(err)) == 0, "table: %s",
	    err);
	ptab_builder_free(b);
	if (img == NULL || t.nlisteners != 3) {
		free(img);
		return;
	}
	CHECK(self(&t, "127.0.0.2", 2525) == 1, "a listener's own address");
	CHECK(self(&t, "::ffff:127.0.0.2", 2525) == 1, "the same, mapped");
	CHECK(self(&t, "127.0.0.3", 2525) == 0, "another address");
	CHECK(self(&t, "127.0.0.2", 2526) == 0, "another port");
	CHECK(self(&t, "127.0.0.9", 25) == 1, "loopback on a wildcard");
	CHECK(self(&t, "0.0.0.0", 25) == 1, "0.0.0.0 on a wildcard");
	CHECK(self(&t, "0.0.0.0", 2525) == 1, "0.0.0.0 reaches a listener");
	CHECK(self(&t, "192.0.2.1", 25) == 0, "not an address of this host");
	CHECK(self(&t, "::1", 587) == 1, "::1 on the IPv6 wildcard");
	CHECK(self(&t, "::1", 25) == 0, "the IPv4 wildcard is not IPv6's");
	CHECK(self(&t, "2001:db8::1", 587) == 0, "not this host's");
	ptab_close(&t);
	free(img);
}

int
main(void)
{
	static struct relay	 r;
	static struct rt_site	 site;
	struct rt_site		*S = &site;
	struct relay_env	 env;
	struct hooks		 h;
	struct tls_client_creds	*creds = NULL;
	char			 path[4096], err[LIM_ERRMSG];
	char			 id[SPOOL_ID_SIZE], id2[SPOOL_ID_SIZE];
	struct peer_wait	 pw;
	const char		*rcpts[] = { "bob@remote.example",
				    "bad@remote.example",
				    "zed@unrouted.example" };
	uint16_t		 port;
	pid_t			 pid;
	int			 status = -1, i;

	test_self();
	if ((pid = peer_start(&port)) == -1)
		return 99;
	if (rt_site_open(S, "relay_test", port) != 0) {
		kill(pid, SIGTERM);
		(void)waitpid(pid, NULL, 0);
		return 99;
	}

	memset(&h, 0, sizeof(h));
	memset(&env, 0, sizeof(env));
	env.loop = &S->L;
	env.spool = &S->sp;
	env.log = &S->log;
	env.oplog = &S->ol;
	env.table = &S->tb;
	env.creds = &creds;
	env.bounced = on_bounced;
	env.arg = &h;
	/* No resolver is needed: the next hop is an address. */
	setenv("BASTION_RESOLVERS", "127.0.0.1:9", 1);
	(void)relay_init(&r, &env, err, sizeof(err));
	h.r = &r;

	CHECK(rt_commit(&S->sp, "sender@local.example", rcpts, 3, id) == 0,
	    "commit");
	h.id = id;
	CHECK(relay_start(&r, id) == 1, "a job runs for %s", id);
	CHECK(relay_busy(&r, id) == 1, "the job holds %s", id);
	CHECK(relay_start(&r, id) == 1, "a second start finds the job");
	CHECK(rt_spin(&S->L, job_over, &h, 15000) == 1, "the job ended");

	/* The second message goes over the session the first left. */
	CHECK(rt_commit(&S->sp, "sender@local.example", rcpts, 1, id2) == 0,
	    "commit 2");
	h.id = id2;
	CHECK(relay_start(&r, id2) == 1, "a job runs for %s", id2);
	CHECK(rt_spin(&S->L, job_over, &h, 15000) == 1, "the job ended");
	CHECK(rt_file_has(S->dir, "protocol.log", "reusing session to "
	    "127.0.0.1:") && rt_file_has(S->dir, "protocol.log",
	    "(message 2 on it)"), "the log says the session was reused");

	/* Idle for RELAY_IDLE_MS, the session says QUIT. */
	pw.pid = pid;
	pw.status = -1;
	if (rt_spin(&S->L, peer_gone, &pw, RELAY_IDLE_MS + 10000) != 1) {
		kill(pid, SIGTERM);
		(void)waitpid(pid, &pw.status, 0);
	}
	status = pw.status;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the next hop got bob's copy, then the second message after "
	    "RSET on the same connection, then QUIT (status %d)", status);

	/* Two bounces: no route for zed, then the peer's 550 for bad. */
	CHECK(h.nbounced == 2, "%d bounces", h.nbounced);
	for (i = 0; i < h.nbounced && i < 2; i++)
		CHECK(queued_has(S->dir, h.bounced[i], "Reporting-MTA: dns; "
		    RT_HOSTNAME), "bounce %d from the table's host name", i);
	if (h.nbounced == 2) {
		CHECK(queued_has(S->dir, h.bounced[0], "zed@unrouted.example")
		    && queued_has(S->dir, h.bounced[0], "Status: 5.4.4"),
		    "the first bounce is zed's, no route");
		CHECK(queued_has(S->dir, h.bounced[1], "bad@remote.example") &&
		    queued_has(S->dir, h.bounced[1], "550 5.1.1"),
		    "the second bounce is bad's, with the peer's reply");
	}
	/* Nothing is left of the message itself: the bounces only. */
	snprintf(path, sizeof(path), "%s/spool/queue/%s", S->dir, id);
	CHECK(access(path, F_OK) == -1, "%s left the spool", id);
	snprintf(path, sizeof(path), "%s/spool/queue/%s", S->dir, id2);
	CHECK(access(path, F_OK) == -1, "%s left the spool", id2);
	snprintf(path, sizeof(path), "%s/spool/queue", S->dir);
	CHECK(tu_count(path) == 2, "%s holds %d", path, tu_count(path));

	relay_free(&r);
	rt_site_close(S);
	return tu_done("relay_test");
}
