/*
 * session: one inbound SMTP session, from accept to close, driven by
 * the event loop.  The policy is applied here: the host rule that
 * decides for the client, joined with the listener's floor, says
 * whether the client is refused, must STARTTLS first, must AUTH before
 * MAIL, and may relay.
 *
 * Memory: a session is one fixed-size allocation made at accept; the
 * SASL state, the spool writer and the TLS engine are allocated the
 * first time the session needs them and kept until it ends, so an idle
 * session stays small and handling commands allocates nothing.
 *
 * Input is framed strictly (smtp_proto.c): only CRLF ends a line, and
 * bare CR or LF, NUL and over-long lines are answered, never repaired.
 * Replies are queued in a fixed output buffer; when it runs low the
 * session stops reading commands until the client takes its replies,
 * so a client that pipelines without reading cannot grow anything.
 */
#define _GNU_SOURCE	/* accept4(2) */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bastion_limits.h"
#include "conn.h"
#include "proxy.h"
#include "session.h"
#include "smtp_proto.h"
#include "tls.h"
#include "verifier.h"

enum state {
	S_HANDSHAKE,	/* implicit TLS: handshake before the greeting */
	S_CMD,		/* reading commands */
	S_DATA,		/* reading the message */
	S_AUTH,		/* AUTH: waiting for the client's response */
	S_VERIFY,	/* AUTH: the password is being checked */
	S_AUTHDELAY,	/* AUTH failed: the reply waits on a timer */
	S_STARTTLS,	/* 220 sent; TLS starts once it is flushed */
	S_COMMIT,	/* end of DATA: the message is being made durable */
	S_CLOSING,	/* flush what is queued, then close */
	S_PROXY		/* `proxy from`: waiting for the PROXY header */
};

/* What the session allocates on first use and keeps. */
struct session_auth {
	struct sasl		sasl;
	struct pwcheck_job	job;
};

struct session {
	struct session_ctx	*ctx;
	struct listener		*lst;
	struct table		*tb;
	struct tls_server_creds	*creds;		/* held, as tb; NULL: no TLS */
	struct session		*prev, *next;
	enum state		 state;
	int			 dead;		/* free at the end of the turn */
	int			 busy;		/* inside a callback */
	int			 counted;	/* in ctx->hosts */
	int			 discard;	/* dropping up to the next LF */
	int			 quit_after;	/* SIGTERM: 421 when mail is in */
	int			 hup;		/* EOF in S_COMMIT */
	char			 id[17];
	struct addr		 peer;
	char			 remote[PLOG_ENDPOINT_SIZE];
	/*
	 * A `proxy from` listener: the balancer the connection came from,
	 * and the header so far (S_PROXY).  Once it is read, peer and
	 * remote are the client's.
	 */
	char			 via[PLOG_ENDPOINT_SIZE];
	struct proxy		 px;
	/* The policy for this client. */
	uint32_t		 rule;
	uint8_t			 action, require, flags;
	const char		*as_user;
	/* Protocol state. */
	int			 helo;		/* 0, SMTP_HELO or SMTP_EHLO */
	int			 authed;
	int			 as_refused;	/* AUTH named another account */
	unsigned		 errors, authfail, junk;
	int			 refused;	/* a 4xx or 5xx was sent */
	char			 heloname[SMTP_DOMAIN_MAX + 1];
	char			 user[LIM_USERNAME + 1];
	char			 delayed[128];	/* reply held by S_AUTHDELAY */
	/* The mail transaction. */
	int			 intx;
	uint32_t		 nrcpt;
	struct smtp_data	 data;
	struct spool_writer	*w;
	struct session_auth	*auth;
	struct loop_timer	 timer;
	struct conn		 conn;		/* over in and out */
	uint64_t		 data_start;	/* ms: the 354 */
	uint64_t		 data_in;	/* DATA bytes read since */
	char			 in[SESSION_IN_SIZE];
	char			 out[SESSION_OUT_SIZE];
};

static void	on_io(struct loop *, int, int, void *);
static void	on_timer(struct loop *, void *);
static void	on_verified(void *, int);
static int	session_new(struct listener *, int, struct sockaddr *,
		    socklen_t);
static void	session_start(struct session *, const char *);
static int	proxy_sender(struct listener *, const struct ptab *,
		    const struct addr *, const char *);
static void	proxy_input(struct session *);
static void	proxy_ready(struct session *, const struct proxy_result *);
static void	proxy_refuse(struct session *, const char *);
static void	session_free(struct session *);
static void	session_close(struct session *, const char *);
static void	session_drop(struct session *, const char *);
static void	session_done(struct session *);
static void	greet(struct session *);
static void	reply(struct session *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	logline(struct session *, int, const char *, size_t);
static void	slogf(struct session *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	decide(struct session *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	on_conn(struct conn *, int, void *);
static const char *io_reason(const struct session *, const char *);
static void	process(struct session *);
static int	junk_count(struct session *);
static void	command(struct session *, const char *, size_t);
static void	data_input(struct session *);
static void	data_end(struct session *);
static void	data_committed(struct spool_writer *, int, const char *,
		    const char *, void *);
static void	data_reply(struct session *, int, const char *,
		    const char *);
static void	tx_reset(struct session *);
static void	start_tls(struct session *);
static void	tls_ready(struct session *);
static void	auth_result(struct session *, int, const char *);
static int	auth_offered(const struct session *);
static const char *hostname_of(const struct session *);
static void	arm(struct session *, uint32_t);
static void	data_arm(struct session *);
static const char *model_verifier(const struct session *, const char *,
		    size_t *);

static void	cmd_helo(struct session *, struct smtp_cmd *);
static void	cmd_mail(struct session *, struct smtp_cmd *);
static void	cmd_rcpt(struct session *, struct smtp_cmd *);
static int	rcpt_refused(struct session *, const struct ptab_domain_rec *,
		    const struct smtp_cmd *);
static int	sender_refused(struct session *, const struct smtp_cmd *);
static void	cmd_data(struct session *, struct smtp_cmd *);
static void	cmd_rset(struct session *, struct smtp_cmd *);
static void	cmd_noop(struct session *, struct smtp_cmd *);
static void	cmd_quit(struct session *, struct smtp_cmd *);
static void	cmd_vrfy(struct session *, struct smtp_cmd *);
static void	cmd_help(struct session *, struct smtp_cmd *);
static void	cmd_starttls(struct session *, struct smtp_cmd *);
static void	cmd_auth(struct session *, struct smtp_cmd *);
static void	cmd_unimpl(struct session *, struct smtp_cmd *);

/*
 * The command table: which verbs may come before STARTTLS on a client
 * that must use TLS (RFC 3207 and DESIGN.md), and who handles each.
 */
static const struct {
	int	  pre_tls;
	void	(*fn)(struct session *, struct smtp_cmd *);
} commands[SMTP_NVERBS] = {
	[SMTP_HELO] =		{ 1, cmd_helo },
	[SMTP_EHLO] =		{ 1, cmd_helo },
	[SMTP_MAIL] =		{ 0, cmd_mail },
	[SMTP_RCPT] =		{ 0, cmd_rcpt },
	[SMTP_DATA] =		{ 0, cmd_data },
	[SMTP_RSET] =		{ 1, cmd_rset },
	[SMTP_NOOP] =		{ 1, cmd_noop },
	[SMTP_QUIT] =		{ 1, cmd_quit },
	[SMTP_VRFY] =		{ 0, cmd_vrfy },
	[SMTP_EXPN] =		{ 0, cmd_unimpl },
	[SMTP_HELP] =		{ 0, cmd_help },
	[SMTP_STARTTLS] =	{ 1, cmd_starttls },
	[SMTP_AUTH] =		{ 0, cmd_auth },
	[SMTP_BDAT] =		{ 0, cmd_unimpl },
};

/* ---- accept and free ------------------------------------------------ */

/* The listener is readable: take the waiting connections. */
void
session_accept(struct listener *l)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	int			 fd, i;

	for (i = 0; i < SESSION_ACCEPT_BURST; i++) {
		sl = sizeof(ss);
		fd = accept4(l->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				if (l->ctx->accept_pause != NULL)
					l->ctx->accept_pause(l->ctx->arg);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != ECONNABORTED && errno != EINTR)
				oplog_write(l->ctx->oplog, LOG_WARNING,
				    "accept on %s: %s", l->local,
				    strerror(errno));
			return;
		}
		if (session_new(l, fd, (struct sockaddr *)&ss, sl) == -1)
			close(fd);
	}
}

/* Write a refusal without a session (limits): best effort, then close. */
static void
refuse_raw(struct session_ctx *ctx, struct listener *l, int fd,
    const char *remote, const char *text)
{
	char	 line[256];
	int	 n;

	n = snprintf(line, sizeof(line), "%s\r\n", text);
	if (!l->tls && n > 0 && write(fd, line, (size_t)n) < 0) {
		/* Best effort: the connection is closed either way. */
	}
	plog_write(ctx->log, NULL, "-", l->local, remote, PLOG_OUT, text,
	    strlen(text));
	plog_write(ctx->log, NULL, "-", l->local, remote, PLOG_DISCONNECT,
	    "refused", 7);
}

static int
session_new(struct listener *l, int fd, struct sockaddr *sa, socklen_t sl)
{
	struct session_ctx	*ctx = l->ctx;
	const struct ptab	*t = &(*ctx->table)->t;
	struct session		*s;
	struct addr		 peer;
	char			 remote[PLOG_ENDPOINT_SIZE];
	int			 proxied;

	memset(&peer, 0, sizeof(peer));
	if (sa->sa_family == AF_INET) {
		peer.family = ADDR_V4;
		peer.len = 32;
		memcpy(peer.a, &((struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		peer.family = ADDR_V6;
		peer.len = 128;
		memcpy(peer.a, &((struct sockaddr_in6 *)sa)->sin6_addr, 16);
		addr_unmap(&peer);
	} else
		return -1;
	plog_endpoint(sa, sl, remote, sizeof(remote));

	/* Only the listed balancers may speak for someone else. */
	if ((proxied = proxy_sender(l, t, &peer, remote)) == -1)
		return -1;
	if (ctx->stopping) {
		STATS_ADD(ctx->stats, conn[STATS_CONN_SHUTDOWN], 1);
		refuse_raw(ctx, l, fd, remote,
		    "421 4.3.2 Service shutting down");
		return -1;
	}
	if (ctx->nsessions >= t->server->max_conns) {
		STATS_ADD(ctx->stats, conn[STATS_CONN_LIMITED], 1);
		refuse_raw(ctx, l, fd, remote,
		    "421 4.7.0 Too many connections, try again later");
		return -1;
	}
	/*
	 * Behind a balancer every connection comes from its address: the
	 * per-host count waits for the client's, in the header.
	 */
	if (!proxied && hostcount_add(ctx->hosts, &peer,
	    t->server->max_conns_host) != 1) {
		STATS_ADD(ctx->stats, conn[STATS_CONN_LIMITED], 1);
		refuse_raw(ctx, l, fd, remote,
		    "421 4.7.0 Too many connections from your address");
		return -1;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		if (!proxied)
			hostcount_del(ctx->hosts, &peer);
		oplog_write(ctx->oplog, LOG_ERR, "out of memory for a session");
		return -1;
	}
	s->ctx = ctx;
	s->lst = l;
	s->peer = peer;
	s->counted = !proxied;
	memcpy(s->remote, remote, sizeof(remote));
	/* The table and certificate of now, whatever a SIGHUP brings. */
	s->tb = *ctx->table;
	table_ref(s->tb);
	if ((s->creds = *ctx->creds) != NULL)
		tls_server_creds_ref(s->creds);
	snprintf(s->id, sizeof(s->id), "%08x%08x",
	    (unsigned)(ctx->sid_next >> 32) ^ ctx->sid_salt,
	    (unsigned)ctx->sid_next);
	ctx->sid_next++;
	loop_timer_init(&s->timer, on_timer, s);
	conn_init(&s->conn, ctx->loop, s->in, sizeof(s->in), s->out,
	    sizeof(s->out), 0, on_conn, s);
	s->next = ctx->sessions;
	if (s->next != NULL)
		s->next->prev = s;
	ctx->sessions = s;
	ctx->nsessions++;
	l->nopen++;

	if (conn_attach(&s->conn, fd, 0, on_io, s) != 0) {
		oplog_write(ctx->oplog, LOG_ERR, "cannot watch a session: %s",
		    loop_error(ctx->loop));
		session_free(s);	/* the caller closes fd */
		return -1;
	}
	if (proxied) {
		/* Nothing is said, and no TLS begins, before the header. */
		memcpy(s->via, remote, sizeof(remote));
		proxy_init(&s->px);
		s->state = S_PROXY;
		arm(s, SESSION_PROXY_TIMEOUT);
		session_done(s);
		return 0;
	}
	session_start(s, "");
	session_done(s);
	return 0;
}

/*
 * The client is known (its own address, or the one a balancer's header
 * gave): log the connection, find its rule, and greet it or start the
 * implicit TLS handshake.  via: how it came, for the connect line.
 */
static void
session_start(struct session *s, const char *via)
{
	struct session_ctx	*ctx = s->ctx;
	struct listener		*l = s->lst;
	const struct ptab	*t = &s->tb->t;
	const struct ptab_rule_rec *r;
	char			 err[LIM_ERRMSG];
	uint32_t		 ent;

	slogf(s, PLOG_CONNECT, "%s%s%s", l->tls ? "implicit TLS" : "SMTP",
	    via, l->require ? " (listener floor)" : "");

	/* The policy: most specific host rule, joined with the floor. */
	s->rule = ptab_host_lookup(t, &s->peer, &ent);
	r = &t->rules[s->rule];
	s->action = r->action;
	s->require = r->require | l->require;
	s->flags = r->flags;
	s->as_user = r->as_user ? ptab_str(t, r->as_user) : NULL;
	STATS_ADD(ctx->stats, conn[s->action == PTAB_ACT_DENY ?
	    STATS_CONN_DENIED : STATS_CONN_ADMITTED], 1);
	if (s->action == PTAB_ACT_DENY)
		decide(s, "deny");
	else
		decide(s, "admit, require %s%s%s",
		    (s->require & (PTAB_REQ_TLS | PTAB_REQ_AUTH)) ==
		    (PTAB_REQ_TLS | PTAB_REQ_AUTH) ? "auth+tls" :
		    (s->require & PTAB_REQ_TLS) ? "tls" :
		    (s->require & PTAB_REQ_AUTH) ? "auth" : "none",
		    (s->flags & PTAB_RULE_RELAY) ? ", may relay" : "",
		    s->as_user ? ", one account" : "");

	if (l->tls) {
		struct tls_conn	*tc;

		if ((tc = tls_server_new(s->creds, err, sizeof(err))) ==
		    NULL) {
			session_drop(s, err);
			return;
		}
		(void)conn_start_tls(&s->conn, tc);
		s->state = S_HANDSHAKE;
		arm(s, t->server->to_command);
		return;
	}
	greet(s);
}

/* ---- the PROXY header ------------------------------------------------ */

/*
 * Is this connection to a `proxy from` listener?  1: yes, from one of
 * its balancers; 0: not such a listener; -1: such a listener, and the
 * peer is no balancer of it (logged; the caller closes).
 */
static int
proxy_sender(struct listener *l, const struct ptab *t,
    const struct addr *peer, const char *remote)
{
	const struct ptab_listener_rec	*lr;
	char				 why[160];
	int				 n;

	if (l->index >= t->nlisteners)
		return 0;
	lr = &t->listeners[l->index];
	if (!lr->proxy)
		return 0;
	if (ptab_listener_proxy(t, lr, peer))
		return 1;
	n = snprintf(why, sizeof(why), "refused: not a PROXY sender of the "
	    "listener (line %u), table %s", lr->line, t->sum);
	plog_write(l->ctx->log, NULL, "-", l->local, remote, PLOG_DISCONNECT,
	    why, n > 0 && (size_t)n < sizeof(why) ? (size_t)n : strlen(why));
	return -1;
}

/*
 * The socket is readable in S_PROXY.  The header is peeked at and only
 * its own bytes are taken from the socket, so what follows it (SMTP, or
 * a ClientHello on an implicit-TLS port) stays there for the session,
 * exactly as if the client had connected directly.
 */
static void
proxy_input(struct session *s)
{
	uint8_t			 buf[PROXY_HDR_MAX];
	struct proxy_result	 res;
	char			 err[LIM_ERRMSG];
	size_t			 used;
	ssize_t			 n;
	int			 r;

	n = recv(s->conn.fd, buf, sizeof(buf), MSG_PEEK);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0) {
		if (n == 0)
			proxy_eof(&s->px, err, sizeof(err));
		else
			snprintf(err, sizeof(err), "%s", strerror(errno));
		proxy_refuse(s, err);
		return;
	}
	r = proxy_feed(&s->px, buf, (size_t)n, &used, &res, err, sizeof(err));
	if (r == -1) {
		proxy_refuse(s, err);
		return;
	}
	/* Peeked bytes are there: taking them cannot come up short. */
	if (used > 0 && recv(s->conn.fd, buf, used, 0) != (ssize_t)used) {
		proxy_refuse(s, "the header could not be taken from the "
		    "socket");
		return;
	}
	if (r == 1)
		proxy_ready(s, &res);
}

/* The header is in: the client it names becomes the session's. */
static void
proxy_ready(struct session *s, const struct proxy_result *res)
{
	const struct ptab	*t = &s->tb->t;
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	char			 via[16 + PLOG_ENDPOINT_SIZE];
	const char		*text;

	loop_timer_cancel(s->ctx->loop, &s->timer);
	if (res->kind == PROXY_ADDRS) {
		memset(&ss, 0, sizeof(ss));
		if (res->src.family == ADDR_V4) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

			sin->sin_family = AF_INET;
			sin->sin_port = htons(res->sport);
			memcpy(&sin->sin_addr, res->src.a, 4);
			sl = sizeof(*sin);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(res->sport);
			memcpy(&sin6->sin6_addr, res->src.a, 16);
			sl = sizeof(*sin6);
		}
		s->peer = res->src;
		plog_endpoint((struct sockaddr *)&ss, sl, s->remote,
		    sizeof(s->remote));
		snprintf(via, sizeof(via), " via %s", s->via);
	} else
		/* A health check, or a balancer that knows no client. */
		snprintf(via, sizeof(via), " from the balancer (PROXY v%d "
		    "%s)", res->version, res->kind == PROXY_LOCAL ? "LOCAL" :
		    "UNKNOWN");
	if (hostcount_add(s->ctx->hosts, &s->peer,
	    t->server->max_conns_host) != 1) {
		STATS_ADD(s->ctx->stats, conn[STATS_CONN_LIMITED], 1);
		text = "421 4.7.0 Too many connections from your address";
		slogf(s, PLOG_CONNECT, "%s%s", s->lst->tls ? "implicit TLS" :
		    "SMTP", via);
		if (!s->lst->tls)
			reply(s, "%s", text);
		else
			logline(s, PLOG_OUT, text, strlen(text));
		session_close(s, "refused");
		return;
	}
	s->counted = 1;
	session_start(s, via);
}

/* No usable header: close without a word, and say why in the log. */
static void
proxy_refuse(struct session *s, const char *why)
{
	char	 msg[LIM_ERRMSG + 64];

	snprintf(msg, sizeof(msg), "refused: %s", why);
	session_drop(s, msg);
}

/* After a callback: free a dead session, else fix the loop interest. */
static void
session_done(struct session *s)
{
	if (s->dead)
		session_free(s);
	else
		(void)conn_interest(&s->conn);
}

static void
session_free(struct session *s)
{
	struct session_ctx	*ctx = s->ctx;

	conn_close(&s->conn, 0);	/* wipes the input too */
	loop_timer_cancel(ctx->loop, &s->timer);
	if (s->w != NULL && spool_committing(s->w)) {
		/*
		 * The commit thread has the message: the client is gone,
		 * but the session (its place in the limits and in the count
		 * a shutdown waits for) lasts until data_committed().
		 */
		s->state = S_CLOSING;
		return;
	}
	if (s->auth != NULL) {
		pwcheck_cancel(&s->auth->job);
		sasl_reset(&s->auth->sasl);
		sodium_free(s->auth);
	}
	if (s->w != NULL) {
		spool_abort(s->w);
		free(s->w);
	}
	if (s->counted)
		hostcount_del(ctx->hosts, &s->peer);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		ctx->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	ctx->nsessions--;
	s->lst->nopen--;
	table_unref(s->tb);
	if (s->creds != NULL)
		tls_server_creds_unref(s->creds);
	free(s);
	if (ctx->stopping && ctx->nsessions == 0 && ctx->drained != NULL)
		ctx->drained(ctx->arg);
}

/* Close after what is queued has been written. */
static void
session_close(struct session *s, const char *why)
{
	if (s->state == S_CLOSING)
		return;
	slogf(s, PLOG_DISCONNECT, "%s", why);
	s->state = S_CLOSING;
	conn_stop_reading(&s->conn);
	loop_timer_cancel(s->ctx->loop, &s->timer);
	/* A client that does not read its last reply gets no time. */
	arm(s, 10);
	(void)conn_flush(&s->conn);
}

/* Close now, dropping anything queued. */
static void
session_drop(struct session *s, const char *why)
{
	if (s->state != S_CLOSING)
		slogf(s, PLOG_DISCONNECT, "%s", why);
	s->state = S_CLOSING;
	s->dead = 1;
}

/* ---- the protocol log ----------------------------------------------- */

static void
logline(struct session *s, int dir, const char *text, size_t len)
{
	plog_write(s->ctx->log, NULL, s->id, s->lst->local, s->remote, dir,
	    text, len);
}

static void
slogf(struct session *s, int dir, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	(void)plog_vwritef(s->ctx->log, s->id, s->lst->local, s->remote,
	    dir, fmt, ap);
	va_end(ap);
}

/*
 * A decision line: the verdict, then which rule made it, from which
 * source line, and the table's checksum prefix, so that an audit can
 * tie every verdict to a policy.
 */
static void
decide(struct session *s, const char *fmt, ...)
{
	const struct ptab	*t = &s->tb->t;
	char			 what[256], buf[PLOG_TEXT_MAX];
	va_list			 ap;
	size_t			 n;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	n = (size_t)snprintf(buf, sizeof(buf), "%s: ", what);
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	n += plog_decision(buf + n, sizeof(buf) - n, t->rules[s->rule].line,
	    s->tb->rule_text[s->rule], t->sum);
	logline(s, PLOG_DECISION, buf, n);
}

/* ---- output ---------------------------------------------------------- */

/*
 * Queue one reply line (CRLF added) and log it.  A reply that does not
 * fit means the client stopped reading: process() never runs a command
 * without room for its reply, so this only cuts a client that ignores
 * us, and it is dropped.
 */
static void
reply(struct session *s, const char *fmt, ...)
{
	va_list		 ap;
	const char	*line;
	int		 n;

	va_start(ap, fmt);
	n = conn_vputline(&s->conn, &line, fmt, ap);
	va_end(ap);
	if (n < 0) {
		session_drop(s, "output buffer full");
		return;
	}
	if (strncmp(line, "334 ", 4) == 0)
		logline(s, PLOG_OUT, "334 ****", 8);
	else
		logline(s, PLOG_OUT, line, (size_t)n);
	if ((line[0] == '4' || line[0] == '5') && strncmp(line, "421", 3))
		s->refused = 1;
}

/* ---- input ----------------------------------------------------------- */

/*
 * The loop's callback: conn moves the bytes and calls on_conn(); the
 * session may only be freed once it is out of conn, here.
 */
static void
on_io(struct loop *L, int fd, int events, void *arg)
{
	struct session	*s = arg;

	(void)L;
	(void)fd;
	if (s->state == S_PROXY)
		proxy_input(s);
	else
		(void)conn_io(&s->conn, events);
	session_done(s);
}

/*
 * What the connection says.  Replies queued while handling input go
 * out in the same round; a session that can do no more (its replies
 * wait for the client to read, a password is being checked) is taken
 * up again by conn_resume() from on_verified() or on_timer().
 */
static int
on_conn(struct conn *c, int ev, void *arg)
{
	struct session	*s = arg;

	switch (ev) {
	case CONN_EV_TLS:
		tls_ready(s);
		break;
	case CONN_EV_INPUT:
		process(s);
		break;
	case CONN_EV_DRAINED:
		if (s->state == S_CLOSING) {
			conn_close(c, 1);
			s->dead = 1;
		} else if (s->state == S_STARTTLS)
			start_tls(s);
		break;
	case CONN_EV_EOF:
		/* A client may close after pipelining QUIT: answer first. */
		if (s->state == S_COMMIT) {
			s->hup = 1;
			break;
		}
		session_drop(s, s->state == S_DATA ?
		    "connection lost during DATA" :
		    "connection closed by client");
		break;
	case CONN_EV_ERROR:
		if (c->op == CONN_OP_HANDSHAKE)
			STATS_ADD(s->ctx->stats, tls_failed, 1);
		session_drop(s, c->op == CONN_OP_HANDSHAKE ?
		    io_reason(s, "TLS handshake failed") :
		    c->op == CONN_OP_WRITE ? io_reason(s, "write error") :
		    c->op == CONN_OP_WATCH ? "cannot watch the socket" :
		    conn_error(c));
		break;
	default:
		break;
	}
	return s->dead ? -1 : 0;
}

/* The TLS engine's reason for a failure, or dflt. */
static const char *
io_reason(const struct session *s, const char *dflt)
{
	const char	*te;

	te = s->conn.tls != NULL ? tls_error(s->conn.tls) : NULL;
	return te != NULL ? te : dflt;
}

/* One more protocol error; too many end the session. */
static int
error_count(struct session *s)
{
	s->refused = 0;		/* counted here, as junk too */
	if (junk_count(s))
		return 1;
	if (++s->errors < SESSION_MAX_ERRORS)
		return 0;
	reply(s, "421 4.7.0 %s Too many errors, closing", hostname_of(s));
	session_close(s, "too many errors");
	return 1;
}

/* One more command that moved no mail: 421 past the limit. */
static int
junk_count(struct session *s)
{
	if (++s->junk <= SESSION_MAX_JUNK)
		return 0;
	reply(s, "421 4.7.0 %s Too many commands without mail, closing",
	    hostname_of(s));
	session_close(s, "too many junk commands");
	return 1;
}

/* Handle whatever complete input there is, as far as the state allows. */
static void
process(struct session *s)
{
	enum smtp_line	 r;
	size_t		 len, used;
	const char	*lf;

	/*
	 * SIGTERM came while this session was busy without mail in flight
	 * (a password being checked, a failed AUTH's delay): now that it is
	 * back to commands it gets its 421, rather than holding the
	 * shutdown for the whole grace period.
	 */
	if (s->quit_after && !s->intx && s->state == S_CMD) {
		reply(s, "421 4.3.2 %s Service shutting down", hostname_of(s));
		session_close(s, "shutdown");
		return;
	}
	while (!s->dead && s->conn.inlen > 0) {
		if (s->state == S_DATA) {
			data_input(s);
			continue;
		}
		if (s->state != S_CMD && s->state != S_AUTH)
			return;
		if (s->discard) {
			/* The rest of a refused line: up to its LF. */
			lf = memchr(s->in, '\n', s->conn.inlen);
			conn_consume(&s->conn, lf ? (size_t)(lf - s->in) + 1 :
			    s->conn.inlen);
			if (lf != NULL)
				s->discard = 0;
			continue;
		}
		/* Room for a multi-line reply (EHLO) before each command. */
		if (conn_room(&s->conn) < 512)
			return;
		r = smtp_line_scan(s->in, s->conn.inlen, sizeof(s->in), &len,
		    &used);
		switch (r) {
		case SMTP_LINE_MORE:
			return;
		case SMTP_LINE_OK:
			break;
		case SMTP_LINE_LONG:
			len = 0;
			break;
		default:
			slogf(s, PLOG_IN, "%s", r == SMTP_LINE_NUL ?
			    "<line with NUL>" : "<line with bare CR or LF>");
			reply(s, "500 5.5.2 %s", r == SMTP_LINE_NUL ?
			    "NUL characters are not allowed" :
			    "Bare CR or LF not allowed: lines end with CRLF");
			if (used > 0)
				conn_consume(&s->conn, used);
			else {
				s->discard = 1;
				conn_consume(&s->conn, s->conn.inlen);
			}
			if (s->state == S_AUTH) {
				sasl_reset(&s->auth->sasl);
				s->state = S_CMD;
			}
			if (error_count(s))
				return;
			continue;
		}
		if (r == SMTP_LINE_LONG || (s->state == S_CMD &&
		    len + 2 > SMTP_CMD_LINE_MAX &&
		    !(len >= 5 && strncasecmp(s->in, "AUTH ", 5) == 0))) {
			slogf(s, PLOG_IN, "<line too long>");
			reply(s, "500 5.5.2 Line too long");
			if (r == SMTP_LINE_LONG) {
				s->discard = 1;
				conn_consume(&s->conn, s->conn.inlen);
			} else
				conn_consume(&s->conn, used);
			if (s->state == S_AUTH) {
				sasl_reset(&s->auth->sasl);
				s->state = S_CMD;
			}
			if (error_count(s))
				return;
			continue;
		}
		s->in[len] = '\0';	/* over the CR: handy for parsing */
		if (s->state == S_AUTH) {
			char	 rep[SASL_REPLY_MAX];
			int	 st;

			logline(s, PLOG_IN, "****", 4);
			st = sasl_step(&s->auth->sasl, s->in, len, rep,
			    sizeof(rep));
			sodium_memzero(s->in, len);
			conn_consume(&s->conn, used);
			auth_result(s, st, rep);
			continue;
		}
		command(s, s->in, len);
		if (!s->dead && s->state != S_STARTTLS)
			conn_consume(&s->conn, used);
	}
}

/* ---- commands -------------------------------------------------------- */

static void
command(struct session *s, const char *line, size_t len)
{
	struct smtp_cmd	 cmd;
	const char	*rep;
	char		 masked[PLOG_TEXT_MAX];
	size_t		 ml;
	int		 rc, counted = 0;

	rc = smtp_cmd_parse(line, len, &cmd, &rep);
	/*
	 * What is not a command may be anything: a SASL response sent
	 * after a refused AUTH, a password typed at the wrong prompt.
	 * Only its size reaches the log.
	 */
	if (rc != 0 && cmd.verb == SMTP_UNKNOWN)
		slogf(s, PLOG_IN, "<unknown command, %zu bytes>", len);
	else {
		ml = plog_masked_auth(line, len, masked, sizeof(masked));
		logline(s, PLOG_IN, masked, ml);
	}
	arm(s, s->tb->t.server->to_command);
	if (rc != 0) {
		reply(s, "%s", rep);
		(void)error_count(s);
		return;
	}
	switch (cmd.verb) {
	case SMTP_NOOP:
	case SMTP_RSET:
	case SMTP_VRFY:
	case SMTP_EXPN:
	case SMTP_HELP:
		if (junk_count(s))
			return;
		counted = 1;
		break;
	default:
		break;
	}
	if ((s->require & PTAB_REQ_TLS) && s->conn.tls == NULL &&
	    !commands[cmd.verb].pre_tls) {
		reply(s, "530 5.7.0 Must issue a STARTTLS command first");
		(void)error_count(s);
		return;
	}
	s->refused = 0;
	commands[cmd.verb].fn(s, &cmd);
	/* A refused command moved no mail either: a 503 loop is junk. */
	if (s->refused && !counted && !s->dead && s->state != S_CLOSING)
		(void)junk_count(s);
}

static void
greet(struct session *s)
{
	const struct ptab	*t = &s->tb->t;
	const char		*host = s->tb->hostname;

	if (s->action == PTAB_ACT_DENY) {
		reply(s, "554 5.7.1 %s No SMTP service for you here", host);
		session_close(s, "denied by policy");
		return;
	}
	/*
	 * A client that talks before the greeting is not waiting for us
	 * (RFC 5321 4.3.1): typically a spam engine that pipelines blind.
	 * Refuse it now, while its bytes are still unread.
	 */
	if (s->conn.tls == NULL) {
		char	 c;
		if (recv(s->conn.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1) {
			slogf(s, PLOG_IN, "<data before the greeting>");
			reply(s, "554 5.5.1 %s Protocol error: talking before "
			    "the greeting", host);
			session_close(s, "talked before the greeting");
			return;
		}
	}
	reply(s, "220 %s ESMTP bastion", host);
	s->state = S_CMD;
	arm(s, t->server->to_command);
}

static const char *
hostname_of(const struct session *s)
{
	return s->tb->hostname;
}

static int
auth_offered(const struct session *s)
{
	const struct ptab	*t = &s->tb->t;

	return t->nusers > 0 && t->server->mechs[0] != PTAB_MECH_NONE &&
	    (s->conn.tls != NULL || (s->flags & PTAB_RULE_CLEARTEXT));
}

static void
cmd_helo(struct session *s, struct smtp_cmd *c)
{
	const struct ptab	*t = &s->tb->t;
	char			 mechs[64];
	size_t			 i, n = 0;

	tx_reset(s);
	memcpy(s->heloname, c->arg, c->arglen);
	s->heloname[c->arglen] = '\0';
	s->helo = c->verb;
	if (c->verb == SMTP_HELO) {
		reply(s, "250 %s", hostname_of(s));
		return;
	}
	reply(s, "250-%s Hello %s", hostname_of(s), s->heloname);
	reply(s, "250-PIPELINING");
	reply(s, "250-SIZE %llu",
	    (unsigned long long)t->server->max_msgsize);
	reply(s, "250-8BITMIME");
	if (s->creds != NULL && s->conn.tls == NULL)
		reply(s, "250-STARTTLS");
	if (auth_offered(s) && !s->authed) {
		mechs[0] = '\0';
		for (i = 0; i < PTAB_MECHS_MAX && t->server->mechs[i] != PTAB_MECH_NONE;
		    i++)
			n += (size_t)snprintf(mechs + n, sizeof(mechs) - n,
			    " %s", sasl_mech_name(t->server->mechs[i]));
		reply(s, "250-AUTH%s", mechs);
	}
	reply(s, "250-ENHANCEDSTATUSCODES");
	reply(s, "250 HELP");
}

static void
tx_reset(struct session *s)
{
	if (s->w != NULL && s->intx)
		spool_abort(s->w);
	s->intx = 0;
	s->nrcpt = 0;
}

static void
cmd_mail(struct session *s, struct smtp_cmd *c)
{
	const struct ptab	*t = &s->tb->t;
	struct spool_env	 env;
	char			 sender[SMTP_PATH_MAX + 1];
	char			 err[LIM_ERRMSG];

	if (s->helo == 0) {
		reply(s, "503 5.5.1 Send HELO or EHLO first");
		return;
	}
	if (s->intx) {
		reply(s, "503 5.5.1 Nested MAIL command");
		return;
	}
	if ((s->require & PTAB_REQ_AUTH) && !s->authed) {
		reply(s, "530 5.7.0 Authentication required");
		return;
	}
	if (c->has_size && c->size > t->server->max_msgsize) {
		reply(s, "552 5.3.4 Message size exceeds fixed limit");
		return;
	}
	if (sender_refused(s, c))
		return;
	if (s->w == NULL && (s->w = calloc(1, sizeof(*s->w))) == NULL) {
		reply(s, "452 4.3.1 Insufficient system resources");
		return;
	}
	memcpy(sender, c->path, c->pathlen);
	sender[c->pathlen] = '\0';
	memset(&env, 0, sizeof(env));
	env.session = s->id;
	env.client = s->remote;
	env.helo = s->heloname;
	env.auth = s->authed ? s->user : NULL;
	env.sender = sender;
	env.size = c->has_size ? c->size : 0;
	/*
	 * The limit is on the client's bytes, which the DATA machine
	 * counts; the spool's own check must leave room for the Received
	 * header we add (SESSION_RECEIVED_MAX bytes at most).
	 */
	env.limit = t->server->max_msgsize > UINT64_MAX -
	    SESSION_RECEIVED_MAX ? 0 : t->server->max_msgsize +
	    SESSION_RECEIVED_MAX;
	env.body = c->body == SMTP_BODY_8BITMIME ? SPOOL_BODY_8BITMIME :
	    SPOOL_BODY_7BIT;
	if (spool_begin(s->ctx->spool, s->w, &env) != 0) {
		oplog_write(s->ctx->oplog, LOG_ERR, "spool: cannot begin a "
		    "message: %s", strerror(spool_error(s->w)));
		spool_abort(s->w);
		memset(s->w, 0, sizeof(*s->w));
		reply(s, "451 4.3.0 Temporary failure, try again later");
		return;
	}
	(void)err;
	s->intx = 1;
	s->nrcpt = 0;
	reply(s, "250 2.1.0 Sender OK");
}

static void
cmd_rcpt(struct session *s, struct smtp_cmd *c)
{
	const struct ptab		*t = &s->tb->t;
	const struct ptab_domain_rec	*d;
	const char			*domain, *addr = c->path;
	char				 pm[SPOOL_ADDR_MAX + 1];
	size_t				 dlen, alen = c->pathlen;

	if (!s->intx) {
		reply(s, "503 5.5.1 Need MAIL command first");
		return;
	}
	if (s->nrcpt >= t->server->max_rcpts) {
		reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	if (c->atpos < c->pathlen) {
		domain = c->path + c->atpos + 1;
		dlen = c->pathlen - c->atpos - 1;
	} else {
		/*
		 * <postmaster> alone is our own (RFC 5321 4.5.1): decided,
		 * stored and routed as postmaster@hostname, so that it goes
		 * where the hostname's accept rule says, and is never
		 * relayed (an empty domain would match `outbound *`).
		 */
		domain = hostname_of(s);
		dlen = strlen(domain);
		alen = (size_t)snprintf(pm, sizeof(pm), "postmaster@%s",
		    domain);
		addr = pm;
		if (alen >= sizeof(pm) ||
		    ptab_accept_lookup(t, domain, dlen) == NULL) {
			decide(s, "RCPT <%.*s>: refused, %s is not a domain "
			    "we accept mail for", (int)c->pathlen, c->path,
			    domain);
			reply(s, "550 5.1.1 <%.*s>: No local postmaster "
			    "here", (int)c->pathlen, c->path);
			return;
		}
	}
	d = ptab_accept_lookup(t, domain, dlen);
	if (d != NULL) {
		if (rcpt_refused(s, d, c))
			return;
		slogf(s, PLOG_DECISION, "RCPT %.*s: accept, line %u, table %s",
		    (int)c->pathlen, c->path, d->line, t->sum);
	} else if ((s->flags & PTAB_RULE_RELAY) || s->authed) {
		decide(s, "RCPT %.*s: relay (%s)", (int)c->pathlen, c->path,
		    s->authed ? "authenticated" : "relay host");
	} else {
		decide(s, "RCPT %.*s: relay denied", (int)c->pathlen,
		    c->path);
		reply(s, "554 5.7.1 <%.*s>: Relay access denied",
		    (int)c->pathlen, c->path);
		return;
	}
	if (spool_rcpt(s->w, addr, alen, NULL, 0) != 0) {
		if (spool_error(s->w) == 0)
			reply(s, "452 4.5.3 Too many recipients");
		else
			reply(s, "451 4.3.0 Temporary failure, try again "
			    "later");
		return;
	}
	s->nrcpt++;
	reply(s, "250 2.1.5 Recipient OK");
}

/*
 * A user with `senders` may only send as those addresses, at those
 * domains, or as <> (bounces).  Returns 1 when MAIL was refused.
 */
static int
sender_refused(struct session *s, const struct smtp_cmd *c)
{
	const struct ptab		*t = &s->tb->t;
	const struct ptab_user_rec	*u;

	if (!s->authed || (u = ptab_user_lookup(t, s->user,
	    strlen(s->user))) == NULL ||
	    ptab_sender_ok(t, u, c->path, c->pathlen))
		return 0;
	slogf(s, PLOG_DECISION, "MAIL FROM <%.*s>: sender not owned by user "
	    "%s, line %u, table %s", (int)c->pathlen, c->path, s->user,
	    u->line, t->sum);
	reply(s, "553 5.7.1 Sender address rejected: not owned by user %s",
	    s->user);
	return 1;
}

/*
 * An accept rule with a recipients list takes its local parts and
 * postmaster; any other is refused here, not bounced later, and counts
 * as an error so that guessing names (directory harvest) ends the
 * session.  Returns 1 when the recipient was refused.
 */
static int
rcpt_refused(struct session *s, const struct ptab_domain_rec *d,
    const struct smtp_cmd *c)
{
	const struct ptab		*t = &s->tb->t;
	const struct ptab_rcpt_rec	*r;
	size_t				 llen;

	llen = c->atpos < c->pathlen ? c->atpos : c->pathlen;
	if (ptab_rcpt_known(t, d, c->path, llen))
		return 0;
	r = &t->rcpts[d->rcpt_list];
	slogf(s, PLOG_DECISION, "RCPT %.*s: user unknown, line %u, "
	    "recipients %s line %u, table %s", (int)c->pathlen, c->path,
	    d->line, ptab_str(t, r->name), r->line, t->sum);
	reply(s, "550 5.1.1 <%.*s>: Recipient address rejected: User unknown",
	    (int)c->pathlen, c->path);
	(void)error_count(s);
	return 1;
}

static void
cmd_data(struct session *s, struct smtp_cmd *c)
{
	const struct ptab	*t = &s->tb->t;
	char			 hdr[SESSION_RECEIVED_MAX], date[64];
	char			 peer[ADDR_STRLEN];
	time_t			 now = time(NULL);
	struct tm		 tm;
	int			 n;

	(void)c;
	if (!s->intx) {
		reply(s, "503 5.5.1 Need MAIL command first");
		return;
	}
	if (s->nrcpt == 0) {
		reply(s, "554 5.5.1 No valid recipients");
		return;
	}
	addr_format(&s->peer, peer, sizeof(peer));
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	/* RFC 5321 4.4 trace header; "with" per RFC 3848. */
	n = snprintf(hdr, sizeof(hdr),
	    "Received: from %s ([%s%s])\r\n\tby %s (bastion) with %s%s%s\r\n"
	    "\tid %s%s%s%s;\r\n\t%s\r\n",
	    s->heloname, s->peer.family == ADDR_V6 ? "IPv6:" : "", peer,
	    hostname_of(s),
	    s->helo == SMTP_EHLO ? "ESMTP" : "SMTP",
	    s->conn.tls ? "S" : "", s->authed ? "A" : "", s->w->id,
	    s->conn.tls ? " (" : "",
	    s->conn.tls ? tls_suite_name(s->conn.tls) : "",
	    s->conn.tls ? ")" : "", date);
	if (n > 0 && (size_t)n < sizeof(hdr))
		(void)spool_body(s->w, hdr, (size_t)n);
	smtp_data_init(&s->data, t->server->max_msgsize);
	s->state = S_DATA;
	s->data_start = loop_now(s->ctx->loop);
	s->data_in = 0;
	data_arm(s);
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

/* Body bytes: unstuff, spool, and find the end. */
static void
data_input(struct session *s)
{
	char	 body[SESSION_IN_SIZE + 1];
	size_t	 used, outn;
	int	 done;

	used = smtp_data_feed(&s->data, s->in, s->conn.inlen, body, &outn,
	    &done);
	if (outn > 0)
		(void)spool_body(s->w, body, outn);
	conn_consume(&s->conn, used);
	s->data_in += used;
	if (done)
		data_end(s);
	else if (used > 0)
		data_arm(s);
}

/*
 * The DATA timer: `timeout data` from the last progress, but no later
 * than `timeout data` after the 354 plus a second for every
 * SESSION_DATA_MIN_RATE bytes received so far (see session.h).
 */
static void
data_arm(struct session *s)
{
	uint64_t	 now = loop_now(s->ctx->loop), idle, end, delay;

	idle = (uint64_t)s->tb->t.server->to_data * 1000;
	end = s->data_start + idle + s->data_in * 1000 / SESSION_DATA_MIN_RATE;
	delay = end <= now ? 0 : end - now < idle ? end - now : idle;
	if (loop_timer_arm(s->ctx->loop, &s->timer, delay) != 0)
		session_drop(s, "no timer left");
}

static void
data_end(struct session *s)
{
	const struct ptab	*t = &s->tb->t;
	char			 id[SPOOL_ID_SIZE], err[LIM_ERRMSG];
	int			 rc;

	s->state = S_CMD;
	arm(s, t->server->to_command);
	if (s->data.flags != 0) {
		spool_abort(s->w);
		s->intx = 0;
		if (s->data.flags & SMTP_DATA_BARE)
			reply(s, "550 5.6.0 Message refused: bare CR or LF in "
			    "the message (lines end with CRLF)");
		else if (s->data.flags & SMTP_DATA_NUL)
			reply(s, "550 5.6.0 Message refused: NUL character");
		else if (s->data.flags & SMTP_DATA_LONG)
			reply(s, "500 5.5.2 Message refused: line longer than "
			    "%d characters", SMTP_TEXT_LINE_MAX - 2);
		else if (s->data.flags & SMTP_DATA_HOPS)
			reply(s, "554 5.4.6 Too many hops: over %d Received "
			    "headers, a mail loop?", SMTP_HOPS_MAX);
		else
			reply(s, "552 5.3.4 Message size exceeds fixed limit");
		decide(s, "message refused (%s)",
		    (s->data.flags & SMTP_DATA_BARE) ? "bare CR or LF" :
		    (s->data.flags & SMTP_DATA_NUL) ? "NUL" :
		    (s->data.flags & SMTP_DATA_LONG) ? "line too long" :
		    (s->data.flags & SMTP_DATA_HOPS) ? "a loop: too many "
		    "Received headers" : "too big");
		data_reply(s, 1, NULL, NULL);
		return;
	}
	if (s->ctx->commit == NULL) {
		rc = spool_commit(s->w, id, err, sizeof(err));
		data_reply(s, rc, id, err);
		return;
	}
	if (spool_commit_start(s->w, s->ctx->commit, data_committed, s, err,
	    sizeof(err)) != 0) {
		data_reply(s, -1, NULL, err);
		return;
	}
	/*
	 * The 250 waits for the disk (data_committed): meanwhile no
	 * command is taken (process() leaves pipelined input buffered)
	 * and no timeout runs, since the session cannot end before its
	 * commit does.
	 */
	s->state = S_COMMIT;
	loop_timer_cancel(s->ctx->loop, &s->timer);
}

/* The commit thread is done with the message: in the loop. */
static void
data_committed(struct spool_writer *w, int rc, const char *id,
    const char *err, void *arg)
{
	struct session	*s = arg;

	(void)w;
	if (s->state == S_CLOSING) {
		/* Torn down meanwhile: the mail goes on, the reply not. */
		if (rc == 0) {
			slogf(s, PLOG_DECISION, "queued as %s, %llu bytes, %u "
			    "recipient%s (client gone before the reply)", id,
			    (unsigned long long)s->data.size, s->nrcpt,
			    s->nrcpt == 1 ? "" : "s");
			if (s->ctx->committed != NULL)
				s->ctx->committed(s->ctx->arg, id);
		} else
			oplog_write(s->ctx->oplog, LOG_ERR, "spool: %s", err);
		session_free(s);
		return;
	}
	s->state = S_CMD;
	arm(s, s->tb->t.server->to_command);
	data_reply(s, rc, id, err);
	if (!s->dead)
		(void)conn_resume(&s->conn);
	if (s->hup && !s->dead)
		session_drop(s, "connection closed by client");
	session_done(s);
}

/*
 * The end of a transaction: rc 0 (queued as id), -1 (the commit failed
 * for err), or 1 (refused, and answered, already).
 */
static void
data_reply(struct session *s, int rc, const char *id, const char *err)
{
	int	e;

	s->intx = 0;
	if (rc == -1) {
		e = spool_error(s->w);
		oplog_write(s->ctx->oplog, LOG_ERR, "spool: %s", err);
		if (e == EMSGSIZE)
			reply(s, "552 5.3.4 Message size exceeds fixed limit");
		else if (e == ENOSPC || e == EDQUOT || e == EFBIG)
			reply(s, "452 4.3.1 Insufficient system storage");
		else
			reply(s, "451 4.3.0 Temporary failure, try again "
			    "later");
	} else if (rc == 0) {
		s->junk = 0;	/* mail moved: the count starts again */
		slogf(s, PLOG_DECISION, "queued as %s, %llu bytes, %u "
		    "recipient%s", id,
		    (unsigned long long)s->data.size, s->nrcpt,
		    s->nrcpt == 1 ? "" : "s");
		reply(s, "250 2.0.0 Ok: queued as %s", id);
		STATS_ADD(s->ctx->stats, msg_accepted, 1);
		STATS_ADD(s->ctx->stats, bytes_accepted, s->data.size);
		if (s->ctx->committed != NULL)
			s->ctx->committed(s->ctx->arg, id);
	}
	s->nrcpt = 0;
	if (s->quit_after) {
		reply(s, "421 4.3.2 %s Service shutting down",
		    hostname_of(s));
		session_close(s, "shutdown");
	}
}

static void
cmd_rset(struct session *s, struct smtp_cmd *c)
{
	(void)c;
	tx_reset(s);
	reply(s, "250 2.0.0 Ok");
	if (s->quit_after) {
		reply(s, "421 4.3.2 %s Service shutting down",
		    hostname_of(s));
		session_close(s, "shutdown");
	}
}

static void
cmd_noop(struct session *s, struct smtp_cmd *c)
{
	(void)c;
	reply(s, "250 2.0.0 Ok");
}

static void
cmd_quit(struct session *s, struct smtp_cmd *c)
{
	(void)c;
	tx_reset(s);
	reply(s, "221 2.0.0 %s Bye", hostname_of(s));
	session_close(s, "QUIT");
}

static void
cmd_vrfy(struct session *s, struct smtp_cmd *c)
{
	(void)c;
	reply(s, "252 2.5.0 Cannot VRFY user, but will accept message and "
	    "attempt delivery");
}

static void
cmd_help(struct session *s, struct smtp_cmd *c)
{
	(void)c;
	reply(s, "214 2.0.0 See RFC 5321: EHLO HELO MAIL RCPT DATA RSET "
	    "NOOP QUIT VRFY HELP STARTTLS AUTH");
}

static void
cmd_unimpl(struct session *s, struct smtp_cmd *c)
{
	(void)c;
	reply(s, "502 5.5.1 Command not implemented");
}

/* ---- STARTTLS -------------------------------------------------------- */

static void
cmd_starttls(struct session *s, struct smtp_cmd *c)
{
	(void)c;
	if (s->conn.tls != NULL) {
		reply(s, "503 5.5.1 TLS already active");
		return;
	}
	if (s->creds == NULL) {
		reply(s, "454 4.7.0 TLS not available");
		return;
	}
	if (s->intx) {
		reply(s, "503 5.5.1 STARTTLS not allowed during a mail "
		    "transaction");
		return;
	}
	reply(s, "220 2.0.0 Ready to start TLS");
	s->state = S_STARTTLS;
	/* What follows in the clear stays unread (see start_tls()). */
	conn_stop_reading(&s->conn);
}

/*
 * The 220 is out: anything the client sent after STARTTLS was sent in
 * the clear before TLS existed and must not be taken as if it came
 * through TLS (RFC 3207 4.2; the classic STARTTLS injection).
 */
static void
start_tls(struct session *s)
{
	struct tls_conn	*tc;
	char		 err[LIM_ERRMSG];
	size_t		 crlf = 0;
	const char	*lf;

	/* The STARTTLS line itself is still in the buffer. */
	lf = memchr(s->in, '\n', s->conn.inlen);
	if (lf != NULL)
		crlf = (size_t)(lf - s->in) + 1;
	if (s->conn.inlen > crlf) {
		slogf(s, PLOG_DECISION, "discarded %zu bytes sent after "
		    "STARTTLS in the clear", s->conn.inlen - crlf);
	}
	if ((tc = tls_server_new(s->creds, err, sizeof(err))) == NULL) {
		session_drop(s, err);
		return;
	}
	(void)conn_start_tls(&s->conn, tc);	/* wipes the input */
	s->state = S_HANDSHAKE;
	arm(s, s->tb->t.server->to_command);
}

/* The handshake is complete: greet (implicit TLS) or start afresh. */
static void
tls_ready(struct session *s)
{
	STATS_ADD(s->ctx->stats, tls_ok, 1);
	slogf(s, PLOG_DECISION, "TLS established: %s %s%s%s",
	    tls_version_name(s->conn.tls), tls_suite_name(s->conn.tls),
	    *tls_sni(s->conn.tls) ? ", SNI " : "", tls_sni(s->conn.tls));
	/* An implicit-TLS session has had no greeting yet (RFC 8314). */
	if (s->lst->tls) {
		s->state = S_CMD;
		greet(s);
		return;
	}
	/*
	 * RFC 3207 4.2: forget what was learned before TLS, a login made
	 * in the clear (`auth cleartext`) included.  The error and AUTH
	 * failure counts stay: they are ours, not the client's word.
	 */
	s->state = S_CMD;
	s->helo = 0;
	s->heloname[0] = '\0';
	s->authed = 0;
	s->as_refused = 0;
	sodium_memzero(s->user, sizeof(s->user));
	if (s->auth != NULL)
		sasl_reset(&s->auth->sasl);
	tx_reset(s);
	arm(s, s->tb->t.server->to_command);
}

/* ---- AUTH ------------------------------------------------------------ */

/* The table's verifier for user, honouring an `as` binding. */
static const char *
lookup_user(void *arg, const char *user, size_t len, size_t *vlen)
{
	struct session			*s = arg;
	const struct ptab_user_rec	*u;
	const char			*v;

	if (s->as_user != NULL && (strlen(s->as_user) != len ||
	    memcmp(s->as_user, user, len) != 0)) {
		/* Fails like a wrong password; the log says why. */
		s->as_refused = 1;
		return NULL;
	}
	if ((u = ptab_user_lookup(&s->tb->t, user, len)) == NULL)
		return NULL;
	v = ptab_str(&s->tb->t, u->verifier);
	*vlen = strlen(v);
	return v;
}

/*
 * The first verifier of the table that begins with prefix, or NULL: the
 * model an unknown user is checked like (pwcheck_start_unknown, and
 * sasl_set_model for SCRAM's mock), so that he costs, and looks, what a
 * known user does.
 */
static const char *
model_verifier(const struct session *s, const char *prefix, size_t *vlen)
{
	const struct ptab	*t = &s->tb->t;
	const char		*v;
	uint32_t		 i;

	for (i = 0; i < t->nusers; i++) {
		v = ptab_str(t, t->users[i].verifier);
		if (strncmp(v, prefix, strlen(prefix)) == 0) {
			*vlen = strlen(v);
			return v;
		}
	}
	*vlen = 0;
	return NULL;
}

static void
cmd_auth(struct session *s, struct smtp_cmd *c)
{
	const struct ptab	*t = &s->tb->t;
	char			 rep[SASL_REPLY_MAX];
	const char		*sp;
	size_t			 mlen, irlen = 0;
	const char		*ir = NULL, *mv;
	size_t			 mvlen;
	unsigned		 mechs = 0;
	int			 i, st;

	if (s->helo != SMTP_EHLO) {
		reply(s, "503 5.5.1 Send EHLO first");
		return;
	}
	if (s->authed) {
		reply(s, "503 5.5.1 Already authenticated");
		return;
	}
	if (s->intx) {
		reply(s, "503 5.5.1 AUTH not allowed during a mail "
		    "transaction");
		return;
	}
	if (t->nusers == 0 || t->server->mechs[0] == PTAB_MECH_NONE) {
		reply(s, "503 5.5.1 AUTH not available");
		return;
	}
	if (!auth_offered(s)) {
		reply(s, "538 5.7.11 Encryption required for requested "
		    "authentication mechanism");
		return;
	}
	if (s->auth == NULL) {
		if ((s->auth = sodium_malloc(sizeof(*s->auth))) == NULL) {
			reply(s, "454 4.7.0 Temporary authentication failure");
			return;
		}
		memset(s->auth, 0, sizeof(*s->auth));
		pwcheck_job_init(&s->auth->job);
	}
	for (i = 0; i < PTAB_MECHS_MAX && t->server->mechs[i] != PTAB_MECH_NONE; i++)
		mechs |= SASL_MECHBIT(t->server->mechs[i]);
	sasl_init(&s->auth->sasl, s->ctx->sasl, mechs, lookup_user, s);
	mv = model_verifier(s, "SCRAM-SHA-256$", &mvlen);
	sasl_set_model(&s->auth->sasl, mv, mvlen);
	s->as_refused = 0;
	sp = memchr(c->arg, ' ', c->arglen);
	mlen = sp ? (size_t)(sp - c->arg) : c->arglen;
	if (sp != NULL) {
		ir = sp + 1;
		irlen = c->arglen - mlen - 1;
	}
	st = sasl_start(&s->auth->sasl, c->arg, mlen, ir, irlen, rep,
	    sizeof(rep));
	if (ir != NULL)
		sodium_memzero((char *)ir, irlen);
	auth_result(s, st, rep);
}

static void
auth_result(struct session *s, int st, const char *rep)
{
	struct session_ctx	*ctx = s->ctx;
	char		 err[LIM_ERRMSG];
	const char	*u;
	char		*pw;
	size_t		 ulen, vlen, pwlen;
	const char	*v;
	int		 r;

	switch (st) {
	case SASL_CHALLENGE:
		s->state = S_AUTH;
		reply(s, "%s", rep);
		return;
	case SASL_VERIFY:
		s->state = S_VERIFY;
		v = sasl_verifier(&s->auth->sasl, &vlen);
		pw = sasl_password(&s->auth->sasl, &pwlen);
		/* An unknown user costs what a known one does. */
		/*
		 * argon2id wins when the table has both kinds: it is the
		 * dearer, and an unknown user who costs less than some
		 * known users tells more than one who costs more.
		 */
		if (v == NULL) {
			v = model_verifier(s, "$argon2id$", &vlen);
			if (v == NULL)
				v = model_verifier(s, "SCRAM-SHA-256$", &vlen);
			r = pwcheck_start_unknown(ctx->verify, &s->auth->job,
			    v, vlen, pw, pwlen, on_verified, s, err,
			    sizeof(err));
		} else
			r = pwcheck_start(ctx->verify, &s->auth->job, v, vlen,
			    pw, pwlen, on_verified, s, err, sizeof(err));
		if (r != 0) {
			oplog_write(ctx->oplog, LOG_WARNING, "verify: %s", err);
			sasl_reset(&s->auth->sasl);
			s->state = S_CMD;
			reply(s, "454 4.7.0 Temporary authentication failure");
		}
		return;
	case SASL_OK:
		u = sasl_user(&s->auth->sasl, &ulen);
		if (ulen >= sizeof(s->user))
			ulen = sizeof(s->user) - 1;
		memcpy(s->user, u, ulen);
		s->user[ulen] = '\0';
		s->authed = 1;
		s->state = S_CMD;
		STATS_ADD(ctx->stats, auth_ok, 1);
		decide(s, "AUTH %s as %s: success",
		    sasl_mech_name(s->auth->sasl.mech), s->user);
		reply(s, "%s", rep);
		sasl_reset(&s->auth->sasl);
		return;
	case SASL_FAIL:
		s->authfail++;
		STATS_ADD(ctx->stats, auth_failed, 1);
		u = sasl_user(&s->auth->sasl, &ulen);
		decide(s, "AUTH %s as %.*s: failed%s (%u of %u%s)",
		    sasl_mech_name(s->auth->sasl.mech), (int)ulen, u ? u : "",
		    s->as_refused ? ": this host may use only its bound "
		    "account" : "", s->authfail,
		    s->tb->t.server->max_authfail,
		    s->auth->sasl.mech == SASL_MECH_SCRAM ? "" :
		    pwcheck_kind(&s->auth->job) == VERIFIER_ARGON2ID ?
		    ", argon2id checked" : ", scram-sha-256 checked");
		sasl_reset(&s->auth->sasl);
		/* The reply waits: guessing gets slower, nobody sleeps. */
		snprintf(s->delayed, sizeof(s->delayed), "%s", rep);
		s->state = S_AUTHDELAY;
		arm(s, SESSION_AUTH_DELAY_MS / 1000 * s->authfail);
		return;
	case SASL_TEMP:
		s->state = S_CMD;
		reply(s, "%s", rep);
		sasl_reset(&s->auth->sasl);
		return;
	case SASL_BAD:
	default:
		s->state = S_CMD;
		reply(s, "%s", rep);
		sasl_reset(&s->auth->sasl);
		(void)error_count(s);
		return;
	}
}

static void
on_verified(void *arg, int result)
{
	struct session	*s = arg;
	char		 rep[SASL_REPLY_MAX];
	int		 st;

	st = sasl_verified(&s->auth->sasl, result, rep, sizeof(rep));
	auth_result(s, st, rep);
	if (!s->dead)
		(void)conn_resume(&s->conn);
	session_done(s);
}

/* ---- timers and shutdown --------------------------------------------- */

/* Arm the session timer: delay in seconds. */
static void
arm(struct session *s, uint32_t secs)
{
	if (loop_timer_arm(s->ctx->loop, &s->timer,
	    (uint64_t)secs * 1000) != 0)
		session_drop(s, "no timer left");
}

static void
on_timer(struct loop *L, void *arg)
{
	struct session	*s = arg;

	(void)L;
	switch (s->state) {
	case S_AUTHDELAY:
		s->state = S_CMD;
		reply(s, "%s", s->delayed);
		if (s->authfail >= s->tb->t.server->max_authfail) {
			reply(s, "421 4.7.0 %s Too many authentication "
			    "failures", hostname_of(s));
			session_close(s, "too many authentication failures");
		} else {
			arm(s, s->tb->t.server->to_command);
			(void)conn_resume(&s->conn);
		}
		if (!s->dead)
			(void)conn_flush(&s->conn);
		break;
	case S_CLOSING:
		session_drop(s, "closing");
		break;
	case S_PROXY: {
		char	 why[LIM_ERRMSG];

		proxy_eof(&s->px, why, sizeof(why));
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
		    " after %d s", SESSION_PROXY_TIMEOUT);
		proxy_refuse(s, why);
		break;
	}
	default:
		reply(s, "421 4.4.2 %s Timeout exceeded, closing",
		    hostname_of(s));
		session_close(s, s->state == S_DATA && loop_now(L) -
		    s->data_start >= (uint64_t)s->tb->t.server->to_data *
		    1000 + s->data_in * 1000 / SESSION_DATA_MIN_RATE ?
		    "DATA too slow" :
		    s->state == S_DATA ? "timeout during DATA" :
		    s->state == S_HANDSHAKE ? "timeout in the TLS handshake" :
		    "timeout");
		break;
	}
	session_done(s);
}

/*
 * SIGTERM.  Sessions without a transaction get 421 now; those in one
 * may finish it (then get 421), until the grace period ends (now = 1).
 */
void
session_shutdown_all(struct session_ctx *ctx, int now)
{
	struct session	*s, *next;

	ctx->stopping = 1;
	for (s = ctx->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == S_CLOSING)
			continue;
		/*
		 * A commit in flight cannot be called back, and a 421 now
		 * would have the client send again a message about to be
		 * queued: it gets its reply first, then the 421.
		 */
		if (s->state == S_COMMIT || (!now && (s->intx ||
		    s->state == S_DATA || s->state == S_VERIFY ||
		    s->state == S_AUTHDELAY))) {
			s->quit_after = 1;
			continue;
		}
		if (s->state != S_HANDSHAKE && s->state != S_STARTTLS &&
		    s->state != S_PROXY)
			reply(s, "421 4.3.2 %s Service shutting down",
			    hostname_of(s));
		session_close(s, "shutdown");
		if (!s->dead)
			(void)conn_flush(&s->conn);
		session_done(s);
	}
}
