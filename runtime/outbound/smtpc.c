/*
 * smtpc: the outbound SMTP client session (see smtpc.h for the
 * contract).  One state machine per connection, on runtime/core/conn.c,
 * which moves the bytes: on_conn() hands each complete reply line to
 * line(), which assembles replies and dispatches them by state, and
 * refills the output with the transaction's commands and the body as
 * the socket takes them.
 *
 * Replies are matched to commands by counting: every command is one
 * line handed to the socket (the body is not a command; its final
 * "." is), and a reply may only begin once the command it answers has
 * been written.  A reply that begins earlier was sent out of turn,
 * which is how a confused or hostile next hop (or an injection in
 * front of STARTTLS) would desynchronise the dialogue; it fails the
 * session instead of being taken as the answer to something.
 *
 * Failures before MAIL FROM move on to the next address; after it,
 * the results are final for this attempt.  Each failure path ends in
 * smtpc_fail(), each end in finish(), which releases everything and calls
 * the caller back from a zero-delay timer, never from inside our own
 * call stack.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sodium.h>

#include "bastion_limits.h"
#include "scram.h"
#include "smtpc.h"
#include "smtpc_int.h"
#include "tls.h"

/* Room a command needs in the output buffer (a path is at most 256). */
#define CMD_ROOM	600
/* Body bytes read from the spool at a time (doubled at most by dots). */
#define BODY_CHUNK	1024
/*
 * The 250 to RSET on a kept connection, at most (Postfix's
 * smtp_rset_timeout): a kept peer that is slow to answer is dead
 * enough, and a new connection is the cheaper wait.
 */
#define RSET_MS		20000

static void	on_io(struct loop *, int, int, void *);
static int	on_conn(struct conn *, int, void *);
static void	on_timer(struct loop *, void *);
static void	on_fin(struct loop *, void *);
static void	connect_next(struct smtpc *);
static int	bind_source(const struct smtpc *, int, int);
static void	connected(struct smtpc *);
static void	written(struct smtpc *);
static void	fill(struct smtpc *);
static void	io_end(struct smtpc *, int);
static void	input(struct smtpc *);
static void	line(struct smtpc *, const char *, size_t);
static void	dispatch(struct smtpc *, int);
static void	ehlo_line(struct smtpc *, const char *, size_t);
static void	after_ehlo(struct smtpc *);
static void	start_tls(struct smtpc *);
static void	tls_up(struct smtpc *);
static void	tx_fill(struct smtpc *);
static void	tx_reply(struct smtpc *, int);
static void	body_fill(struct smtpc *);
static void	dot_reply(struct smtpc *, int);
static void	quit(struct smtpc *);
static void	tx_end(struct smtpc *);
static int	kept_event(struct smtpc *, int);
static void	kept_lost(struct smtpc *, const char *);
static void	rset_failed(struct smtpc *);
static void	take(struct smtpc *, const struct smtpc_config *,
		    const struct smtpc_route *, const struct dns_result *,
		    struct spool_msg *, struct smtpc_rcpt *, size_t,
		    smtpc_done_fn *, void *);
static void	afresh(struct smtpc *);
static int	hop_of(const struct smtpc *, const struct dns_result *,
		    size_t *);
static void	arm_reply(struct smtpc *);
static void	io_failed(struct smtpc *, const char *, int);
static void	drop_conn(struct smtpc *, int);
static int	fail_quit(struct smtpc *);
static void	fail_end(struct smtpc *);
static void	tls_fallback_warn(struct smtpc *, const char *);
static void	finish(struct smtpc *);
static void	set_result(struct smtpc *, struct smtpc_rcpt *, int,
		    const char *, int, size_t, const char *);
static void	settle(struct smtpc *, int, const char *, int, size_t,
		    const char *);
static void	settle_reply(struct smtpc *, int, int);
static void	logline(struct smtpc *, int, const char *, size_t);
static const char *peer_name(const struct smtpc *);
static void	clean_text(char *, size_t);
static size_t	room(const struct smtpc *);
static int	needs_utf8(const struct smtpc *);

void
smtpc_timeouts_default(struct smtpc_timeouts *to)
{
	to->connect = 30 * 1000;
	to->greeting = 5 * 60 * 1000;
	to->command = 5 * 60 * 1000;
	to->mail = 5 * 60 * 1000;
	to->rcpt = 5 * 60 * 1000;
	to->data_init = 2 * 60 * 1000;
	to->data_block = 3 * 60 * 1000;
	to->data_end = 10 * 60 * 1000;
	to->quit = 60 * 1000;
}

void
smtpc_route_from_ptab(struct smtpc_route *r, const struct ptab *t,
    const struct ptab_domain_rec *d)
{
	memset(r, 0, sizeof(*r));
	r->tls = d->tls;
	r->mech = d->mech;
	r->user = d->user != 0 ? ptab_str(t, d->user) : NULL;
	/* ptab_load() checked that the blob lies inside BLOBS. */
	if (d->secret != PTAB_NONE && d->secret_len > 0) {
		r->secret = t->blobs + d->secret;
		r->secret_len = d->secret_len;
	}
}

const char *
smtpc_result_name(int result)
{
	switch (result) {
	case SMTPC_DELIVERED:
		return "delivered";
	case SMTPC_DEFERRED:
		return "deferred";
	case SMTPC_BOUNCED:
		return "bounced";
	default:
		return "pending";
	}
}

char *
smtpc_reply_status(const char *text, size_t len, char *out)
{
	size_t	 i = 4, a, b;

	snprintf(out, SMTPC_STATUS_MAX, "%c.0.0", len > 0 &&
	    text[0] >= '2' && text[0] <= '5' ? text[0] : '4');
	/* "NNN C.SSS.DDD" with C the reply's class (RFC 3463, 2034). */
	if (len < 9 || text[3] != ' ' || text[4] != text[0] ||
	    text[5] != '.')
		return out;
	for (i = 6, a = 0; i < len && text[i] >= '0' && text[i] <= '9'; i++)
		a++;
	if (a < 1 || a > 3 || i >= len || text[i] != '.')
		return out;
	for (i++, b = 0; i < len && text[i] >= '0' && text[i] <= '9'; i++)
		b++;
	if (b < 1 || b > 3 || (i < len && text[i] != ' '))
		return out;
	memcpy(out, text + 4, i - 4);
	out[i - 4] = '\0';
	return out;
}

const char *
smtpc_peer_name(const struct smtpc *c)
{
	if (c->tries == 0)
		return "";
	return peer_name(c);
}

/* ---- start and end --------------------------------------------------- */

int
smtpc_start(struct smtpc *c, const struct smtpc_config *cf,
    const struct smtpc_route *rt, const struct dns_result *hops,
    struct spool_msg *m, struct smtpc_rcpt *rc, size_t nrc,
    smtpc_done_fn *done, void *arg, char *err, size_t errlen)
{
	if (cf == NULL || cf->loop == NULL || rt == NULL || hops == NULL ||
	    m == NULL || rc == NULL || nrc == 0 || done == NULL) {
		snprintf(err, errlen, "smtpc_start: bad arguments");
		return -1;
	}
	memset(c, 0, sizeof(*c));
	take(c, cf, rt, hops, m, rc, nrc, done, arg);
	conn_init(&c->io, cf->loop, c->in, sizeof(c->in), c->out,
	    sizeof(c->out), CONN_WIPE, on_conn, c);
	snprintf(c->local, sizeof(c->local), "-");
	snprintf(c->remote, sizeof(c->remote), "-");
	loop_timer_init(&c->timer, on_timer, c);
	loop_timer_init(&c->fin, on_fin, c);
	/*
	 * The completion's place in the timer heap is taken now, far in
	 * the future: finish() only moves it to "next turn", which cannot
	 * fail, so a session can never end without its callback (the job
	 * holding it would stay busy for ever).
	 */
	if (loop_timer_arm(cf->loop, &c->fin, UINT64_MAX) != 0) {
		snprintf(err, errlen, "smtpc_start: %s",
		    loop_error(cf->loop));
		return -1;
	}
	if (hops->status != DNS_OK || hops->naddr == 0) {
		settle(c, hops->status == DNS_PERMFAIL ? SMTPC_BOUNCED :
		    SMTPC_DEFERRED, hops->dsn[0] ? hops->dsn : "4.4.3", 0, 0,
		    hops->reason[0] ? hops->reason : "no address to deliver "
		    "to");
		finish(c);
	} else if (rt->mech != PTAB_MECH_NONE &&
	    rt->tls < PTAB_TLS_REQUIRED) {
		/* policyc refuses this; a table made elsewhere might not. */
		settle(c, SMTPC_DEFERRED, "4.7.0", 0, 0, "the route has "
		    "credentials but does not require TLS: not sending them");
		finish(c);
	} else if (rt->tls >= PTAB_TLS_REQUIRED && cf->creds == NULL) {
		settle(c, SMTPC_DEFERRED, "4.7.5", 0, 0, "the route requires "
		    "TLS but the client has no TLS setup");
		finish(c);
	} else
		connect_next(c);
	return 0;
}

/*
 * The session takes a message: what the caller gives it, and its
 * recipients with nothing decided yet.
 */
static void
take(struct smtpc *c, const struct smtpc_config *cf,
    const struct smtpc_route *rt, const struct dns_result *hops,
    struct spool_msg *m, struct smtpc_rcpt *rc, size_t nrc,
    smtpc_done_fn *done, void *arg)
{
	size_t	 i;

	c->cf = cf;
	if (cf->to != NULL)
		c->to = *cf->to;
	else
		smtpc_timeouts_default(&c->to);
	c->rt = rt;
	c->hops = hops;
	c->m = m;
	c->rc = rc;
	c->nrc = nrc;
	c->done = done;
	c->arg = arg;
	for (i = 0; i < nrc; i++) {
		rc[i].result = SMTPC_PENDING;
		rc[i].from_peer = 0;
		rc[i].accepted = 0;
		rc[i].reply_at = 0;
		rc[i].status[0] = '\0';
		rc[i].text[0] = '\0';
	}
}

void
smtpc_abort(struct smtpc *c, const char *reason)
{
	if (c->ended) {
		/* If the callback is due, it no longer is. */
		if (loop_timer_armed(&c->fin))
			loop_timer_cancel(c->cf->loop, &c->fin);
		if (c->kept) {
			drop_conn(c, 0);
			c->kept = 0;
			c->state = C_DONE;
		}
		return;
	}
	drop_conn(c, 0);
	settle(c, SMTPC_DEFERRED, "4.3.2", 0, 0, reason != NULL ? reason :
	    "delivery aborted");
	loop_timer_cancel(c->cf->loop, &c->timer);
	/* Its place, held since smtpc_start(): no callback comes now. */
	loop_timer_cancel(c->cf->loop, &c->fin);
	c->ended = 1;
	c->state = C_DONE;
}

/*
 * The session is over: release everything, make sure no recipient is
 * left pending, and call back on the next turn.
 */
static void
finish(struct smtpc *c)
{
	if (c->ended)
		return;
	if (c->kept)
		smtpc_auth_wipe(c);
	else
		drop_conn(c, c->state == C_QUIT);
	settle(c, SMTPC_DEFERRED, c->rstatus[0] ? c->rstatus : "4.4.2",
	    c->reasonpeer, c->reasonat, c->reason[0] ? c->reason :
	    "the session ended without a result");
	loop_timer_cancel(c->cf->loop, &c->timer);
	c->ended = 1;
	c->state = c->kept ? C_KEPT : C_DONE;
	/* Armed since smtpc_start(): moving it cannot fail. */
	if (loop_soon(c->cf->loop, &c->fin) != 0)
		abort();
}

static void
on_fin(struct loop *L, void *arg)
{
	struct smtpc	*c = arg;

	(void)L;
	c->done(c, c->arg);
}

/*
 * Close the connection, if any: the socket, the TLS engine, the
 * secret, the buffers.  polite: try to send TLS close_notify first.
 */
static void
drop_conn(struct smtpc *c, int polite)
{
	smtpc_auth_wipe(c);
	conn_close(&c->io, polite);
	loop_timer_cancel(c->cf->loop, &c->timer);
	c->conn++;
}

/*
 * A failure of the connection: say why, end the dialogue (QUIT when it
 * is still in order, see smtpc.h), close, and go on: with the next
 * address if the transaction has not started, else with the results
 * (every recipient still pending is deferred).  perm is for a 5xx
 * greeting or HELO; status the RFC 3463 code; peer says whether the
 * text ends with the next hop's reply (c->rtext), which a bounce then
 * quotes apart from our words.
 */
void
smtpc_fail(struct smtpc *c, int perm, const char *status, int peer,
    const char *fmt, ...)
{
	va_list	 ap;
	size_t	 at, k;
	int	 n;

	if (c->ended)
		return;
	if (c->state == C_FAILQUIT) {
		/* Ending already: the first failure is the reason. */
		fail_end(c);
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	clean_text(c->reason, strlen(c->reason));
	snprintf(c->rstatus, sizeof(c->rstatus), "%s", status);
	if (!perm)
		c->rstatus[0] = '4';
	c->permfail = perm;
	/* The reply is the tail of the text, as the callers format it. */
	c->reasonat = 0;
	at = n >= 0 && (size_t)n >= c->rtextlen ? (size_t)n - c->rtextlen :
	    sizeof(c->reason);
	if (peer && at < sizeof(c->reason) - 1 &&
	    (k = strlen(c->reason + at)) <= c->rtextlen &&
	    memcmp(c->reason + at, c->rtext, k) == 0)
		c->reasonat = at;
	else
		peer = 0;
	c->reasonpeer = peer;
	if (c->state == C_RSET) {
		rset_failed(c);
		return;
	}
	if (c->state == C_QUIT) {
		/* The results are in; QUIT is a courtesy. */
		logline(c, PLOG_DISCONNECT, c->reason, strlen(c->reason));
		c->reason[0] = '\0';
		finish(c);
		return;
	}
	if (fail_quit(c))
		return;
	fail_end(c);
}

/*
 * After a failure, if the dialogue is still in order: QUIT (after "*"
 * in the middle of an AUTH exchange) and wait for the reply a short
 * while; fail_end() follows.  Returns 1 if so, 0 if the connection
 * must simply close.
 */
static int
fail_quit(struct smtpc *c)
{
	unsigned	 conn = c->conn;
	uint32_t	 ms;

	if (c->broken || c->noquit || c->io.fd == -1 || c->expect != 0 ||
	    c->rcode != 0)
		return 0;
	switch (c->state) {
	case C_GREETING:
	case C_EHLO:
	case C_HELO:
	case C_STARTTLS:
	case C_AUTH:
		break;
	default:
		return 0;
	}
	if (c->io.tls != NULL && (!tls_handshake_done(c->io.tls) ||
	    tls_error(c->io.tls) != NULL))
		return 0;
	c->cancel = c->state == C_AUTH && c->lastcode == 334;
	c->state = C_FAILQUIT;
	/* The secret is no longer needed; "*" carries none. */
	smtpc_auth_wipe(c);
	if (c->cancel)
		(void)smtpc_cmd(c, NULL, "*");
	else
		(void)smtpc_cmd(c, NULL, "QUIT");
	if (conn != c->conn || c->ended)
		return 1;
	ms = c->to.quit < SMTPC_FAILQUIT_MS ? c->to.quit : SMTPC_FAILQUIT_MS;
	smtpc_arm(c, ms);
	return 1;
}

/* Close after a failure, and go on with the next address or the end. */
static void
fail_end(struct smtpc *c)
{
	logline(c, PLOG_DISCONNECT, c->reason, strlen(c->reason));
	drop_conn(c, !c->broken);
	if (c->txstarted) {
		settle(c, SMTPC_DEFERRED, c->rstatus, c->reasonpeer,
		    c->reasonat, c->reason);
		finish(c);
		return;
	}
	if (!c->retrysame) {
		c->hop++;
		c->notls = 0;
	}
	c->retrysame = 0;
	connect_next(c);
}

/* Connect from the configured source address of this family, if any. */
static int
bind_source(const struct smtpc *c, int fd, int family)
{
	const struct addr	*src;
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;

	if (family == AF_INET && (src = c->cf->src4) != NULL) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, src->a, 4);
		return bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	}
	if (family == AF_INET6 && (src = c->cf->src6) != NULL) {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, src->a, 16);
		return bind(fd, (struct sockaddr *)&sin6, sizeof(sin6));
	}
	return 0;
}

/* ---- connecting ------------------------------------------------------ */

/* Connect to the next address, or settle the recipients if none is left. */
static void
connect_next(struct smtpc *c)
{
	const struct dns_addr	*a;
	int			 fd, e;

	while (c->hop < c->hops->naddr && c->tries < SMTPC_TRIES) {
		a = &c->hops->addr[c->hop];
		c->tries++;
		c->state = C_CONNECT;
		c->ext = 0;
		c->esmtp = 0;
		c->maxsize = 0;
		c->expect = 0;
		c->rcode = 0;
		c->nsent = c->nreplies = 0;
		c->qpos = 0;
		c->cqhead = c->cqlen = 0;
		c->starttls_refused = 0;
		c->authed = 0;
		c->broken = 0;
		c->noquit = 0;
		c->cancel = 0;
		c->lastcode = 0;
		snprintf(c->local, sizeof(c->local), "-");
		if (plog_endpoint(&a->u.sa, a->len, c->remote,
		    sizeof(c->remote)) == -1)
			snprintf(c->remote, sizeof(c->remote), "?");
		snprintf(c->hoptext, sizeof(c->hoptext), "%s [%s]",
		    c->hops->hosts[a->host], c->remote);
		c->peer = *a;
		snprintf(c->peername, sizeof(c->peername), "%s",
		    c->hops->hosts[a->host]);
		fd = socket(a->u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1) {
			e = errno;
			snprintf(c->reason, sizeof(c->reason), "socket: %s",
			    strerror(e));
			snprintf(c->rstatus, sizeof(c->rstatus), "4.4.1");
			c->permfail = 0;
			c->reasonpeer = 0;
			logline(c, PLOG_DISCONNECT, c->reason,
			    strlen(c->reason));
			c->hop++;
			continue;
		}
		if (bind_source(c, fd, a->u.sa.sa_family) != 0) {
			e = errno;
			close(fd);
			snprintf(c->reason, sizeof(c->reason),
			    "cannot bind the source address: %s", strerror(e));
			snprintf(c->rstatus, sizeof(c->rstatus), "4.4.1");
			c->permfail = 0;
			c->reasonpeer = 0;
			logline(c, PLOG_DISCONNECT, c->reason,
			    strlen(c->reason));
			c->hop++;
			continue;
		}
		if (connect(fd, &a->u.sa, a->len) == 0 ||
		    errno == EINPROGRESS) {
			if (conn_attach(&c->io, fd, 1, on_io, c) != 0) {
				close(fd);
				snprintf(c->reason, sizeof(c->reason),
				    "cannot watch the socket: %s",
				    loop_error(c->cf->loop));
				snprintf(c->rstatus, sizeof(c->rstatus),
				    "4.3.0");
				c->permfail = 0;
				c->reasonpeer = 0;
				break;
			}
			smtpc_arm(c, c->to.connect);
			return;
		}
		e = errno;
		close(fd);
		snprintf(c->reason, sizeof(c->reason), "connect to %s "
		    "failed: %s", c->hoptext, strerror(e));
		snprintf(c->rstatus, sizeof(c->rstatus), "4.4.1");
		c->permfail = 0;
		c->reasonpeer = 0;
		logline(c, PLOG_DISCONNECT, c->reason, strlen(c->reason));
		c->hop++;
		c->notls = 0;
	}
	/* Every address failed: the last failure speaks for them all. */
	if (c->reason[0] == '\0') {
		snprintf(c->reason, sizeof(c->reason), "no address left to "
		    "try");
		snprintf(c->rstatus, sizeof(c->rstatus), "4.4.1");
	}
	settle(c, c->permfail ? SMTPC_BOUNCED : SMTPC_DEFERRED, c->rstatus,
	    c->reasonpeer, c->reasonat, c->reason);
	finish(c);
}

/* connect() succeeded. */
static void
connected(struct smtpc *c)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);

	if (getsockname(c->io.fd, (struct sockaddr *)&ss, &sl) == 0)
		(void)plog_endpoint((struct sockaddr *)&ss, sl, c->local,
		    sizeof(c->local));
	smtpc_logfmt(c, PLOG_CONNECT, "connected to %s (try %u)%s",
	    peer_name(c), c->tries, c->notls ? ", not trying TLS again" : "");
	c->use.since = loop_now(c->cf->loop);
	c->use.messages = 0;
	c->use.connects++;
	c->state = C_GREETING;
	c->expect = 1;
	smtpc_arm(c, c->to.greeting);
}

/* ---- the loop's side ------------------------------------------------- */

static void
on_io(struct loop *L, int fd, int events, void *arg)
{
	struct smtpc	*c = arg;

	(void)L;
	(void)fd;
	if (!c->ended || c->kept)
		(void)conn_io(&c->io, events);
}

/*
 * What the connection says.  -1 tells conn that this connection is
 * over (closed, perhaps replaced by the next address's).
 */
static int
on_conn(struct conn *io, int ev, void *arg)
{
	struct smtpc	*c = arg;
	unsigned	 conn = c->conn;

	(void)io;
	if (c->kept)
		return kept_event(c, ev);
	switch (ev) {
	case CONN_EV_CONNECTED:
		connected(c);
		break;
	case CONN_EV_TLS:
		tls_up(c);
		break;
	case CONN_EV_INPUT:
		input(c);
		if (conn == c->conn && !c->ended)
			fill(c);
		break;
	case CONN_EV_WRITTEN:
		written(c);
		break;
	case CONN_EV_DRAINED:
		fill(c);
		break;
	case CONN_EV_EOF:
	case CONN_EV_ERROR:
		io_end(c, ev);
		break;
	default:
		break;
	}
	return conn != c->conn || c->ended ? -1 : 0;
}

static void
on_timer(struct loop *L, void *arg)
{
	struct smtpc	*c = arg;
	const char	*what;

	(void)L;
	if (c->state == C_PARKED) {
		smtpc_close(c, "idle time over");
		return;
	}
	/* A silent peer: nothing more is said on this stream. */
	c->broken = 1;
	switch (c->state) {
	case C_CONNECT:
		smtpc_fail(c, F_TEMP, "4.4.1", 0, "connect to %s timed out",
		    c->hoptext);
		return;
	case C_GREETING:
		what = "waiting for the greeting";
		break;
	case C_HANDSHAKE:
		what = "in the TLS handshake";
		break;
	case C_TX:
		what = c->txreply == 0 ? "waiting for the reply to MAIL" :
		    c->txreply <= c->nrc ? "waiting for the reply to RCPT" :
		    "waiting for the reply to DATA";
		break;
	case C_BODY:
		what = "sending the message";
		break;
	case C_DOT:
		what = c->io.outlen > 0 ? "sending the message" :
		    "waiting for the reply to the end of the message";
		break;
	case C_QUIT:
		finish(c);
		return;
	case C_FAILQUIT:
		fail_end(c);
		return;
	default:
		what = "waiting for a reply";
		break;
	}
	smtpc_fail(c, F_TEMP, "4.4.2", 0, "timeout %s from %s", what,
	    c->hoptext);
}

/*
 * The socket took bytes: the commands wholly written may be answered
 * now, and the body's timers run from each write (RFC 5321
 * 4.5.3.2.5/6: each block has its time, then the dot).
 */
static void
written(struct smtpc *c)
{
	while (c->cqlen > 0 && c->cmdend[c->cqhead] <= c->io.written) {
		c->cqhead = (c->cqhead + 1) % SMTPC_CMDQ;
		c->cqlen--;
		c->nsent++;
	}
	if (c->state == C_BODY || c->state == C_DOT) {
		if (c->state == C_BODY || c->io.outlen > 0)
			smtpc_arm(c, c->to.data_block);
		else
			smtpc_arm(c, c->to.data_end);
	}
}

/* Room in the output: the transaction's commands, or more body. */
static void
fill(struct smtpc *c)
{
	if (c->state == C_TX)
		tx_fill(c);
	else if (c->state == C_BODY)
		body_fill(c);
}

/*
 * The connection failed or the peer closed.  After a read, the
 * complete lines are handled first (a 221 may be among them); the
 * rest is lost.
 */
static void
io_end(struct smtpc *c, int ev)
{
	unsigned	 conn = c->conn;
	int		 err = ev == CONN_EV_ERROR ? c->io.err : 0;

	c->broken = 1;
	if (ev == CONN_EV_ERROR) {
		switch (c->io.op) {
		case CONN_OP_CONNECT:
			smtpc_fail(c, F_TEMP, "4.4.1", 0,
			    "connect to %s failed: %s",
			    c->hoptext, strerror(err));
			return;
		case CONN_OP_WATCH:
			smtpc_fail(c, F_TEMP, "4.3.0", 0,
			    "cannot watch the socket: "
			    "%s", loop_error(c->cf->loop));
			return;
		case CONN_OP_HANDSHAKE:
			io_failed(c, "TLS handshake", 0);
			return;
		case CONN_OP_WRITE:
			io_failed(c, "write", err);
			return;
		default:
			break;
		}
	}
	input(c);
	if (conn != c->conn || c->ended)
		return;
	if (c->state == C_QUIT)
		finish(c);
	else if (c->state == C_FAILQUIT)
		fail_end(c);
	else
		io_failed(c, "read", err);
}

/* A read or write failed, or the peer closed: say why, in its words. */
static void
io_failed(struct smtpc *c, const char *what, int err)
{
	struct tls_conn	*t = c->io.tls;
	const char	*te = t != NULL ? tls_error(t) : NULL;
	int		 hs = t != NULL && !tls_handshake_done(t);

	if (hs && c->rt->tls == PTAB_TLS_OPPORTUNISTIC) {
		/*
		 * Opportunistic TLS that fails in the handshake: the
		 * same address again, in clear (see smtpc.h).
		 */
		c->notls = 1;
		c->retrysame = 1;
		tls_fallback_warn(c, te != NULL ? te : "connection closed");
		smtpc_fail(c, F_TEMP, "4.7.5", 0,
		    "TLS handshake with %s failed: "
		    "%s; trying again without TLS", c->hoptext, te != NULL ?
		    te : "connection closed");
		return;
	}
	if (hs) {
		smtpc_fail(c, F_TEMP, "4.7.5", 0,
		    "TLS handshake with %s failed: %s",
		    c->hoptext, te != NULL ? te : "connection closed");
		return;
	}
	if (te != NULL)
		smtpc_fail(c, F_TEMP, "4.4.2", 0, "TLS %s error with %s: %s",
		    what, c->hoptext, te);
	else if (err != 0)
		smtpc_fail(c, F_TEMP, "4.4.2", 0, "%s error with %s: %s", what,
		    c->hoptext, strerror(err));
	else
		smtpc_fail(c, F_TEMP, "4.4.2", 0, "connection closed by %s%s",
		    c->hoptext, c->rcode != 0 || c->io.inlen > 0 ?
		    " in the middle of a reply" : "");
}

/*
 * Opportunistic TLS failed in the handshake and the mail is about to
 * go in clear: the operator should know, and why.  A protocol_version
 * alert says the peer wants a newer TLS than ours (1.2): it could be
 * reached with TLS 1.3 (see bastiond(8), "TLS versions").
 */
static void
tls_fallback_warn(struct smtpc *c, const char *te)
{
	const char	*ver = "";

	if (c->io.tls != NULL && tls_peer_alert(c->io.tls) ==
	    TLS_ALERT_PROTOCOL_VERSION)
		ver = "; the peer wanted TLS 1.3 or newer (protocol_version "
		    "alert)";
	smtpc_logfmt(c, PLOG_DECISION, "warning: TLS handshake with %s "
	    "failed (%s)%s; delivering in clear (opportunistic TLS)",
	    c->hoptext, te, ver);
	if (c->cf->oplog != NULL)
		oplog_write(c->cf->oplog, LOG_WARNING, "queue %s: warning: "
		    "TLS handshake with %s failed (%s)%s; delivering in clear "
		    "(opportunistic TLS)", c->cf->sid != NULL ? c->cf->sid :
		    "-", c->hoptext, te, ver);
}

/* ---- replies --------------------------------------------------------- */

/* Split the input into lines and hand them on. */
static void
input(struct smtpc *c)
{
	char		 buf[SMTPC_LINE_MAX + 1];
	unsigned	 conn = c->conn;
	size_t		 len, used;
	int		 r;

	while (c->io.inlen > 0 && conn == c->conn && !c->ended) {
		if (c->state == C_HANDSHAKE)
			return;
		if ((r = conn_getline(&c->io, SMTPC_LINE_MAX, &len,
		    &used)) == 0)
			return;
		if (r == -1) {
			c->broken = 1;
			smtpc_fail(c, F_TEMP, "4.5.0", 0,
			    "reply line from %s longer "
			    "than %d bytes", c->hoptext, SMTPC_LINE_MAX);
			return;
		}
		/*
		 * Take the line out first: handling it may start TLS,
		 * which throws away whatever follows it.
		 */
		memcpy(buf, c->in, len);
		buf[len] = '\0';
		conn_consume(&c->io, used);
		line(c, buf, len);
	}
}

/* One reply line: check it, log it, gather it, and act on the last. */
static void
line(struct smtpc *c, const char *s, size_t len)
{
	char	 show[80];
	size_t	 i, n, tlen;
	int	 code, sep;

	for (i = 0; i < 3 && i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			break;
	sep = len > 3 ? s[3] : ' ';
	if (i < 3 || s[0] < '2' || s[0] > '5' || s[1] > '5' ||
	    (sep != ' ' && sep != '-') || memchr(s, '\0', len) != NULL) {
		n = len < sizeof(show) - 1 ? len : sizeof(show) - 1;
		memcpy(show, s, n);
		show[n] = '\0';
		clean_text(show, n);
		logline(c, PLOG_IN, s, len);
		c->broken = 1;
		smtpc_fail(c, F_TEMP, "4.5.0", 0,
		    "malformed reply from %s: \"%s\"", c->hoptext, show);
		return;
	}
	code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	if (c->rcode == 0) {
		/* A new reply: was anything asked? */
		if (c->expect <= 0 || c->nreplies >= c->nsent + 1) {
			logline(c, PLOG_IN, s, len);
			n = len < sizeof(show) - 1 ? len : sizeof(show) - 1;
			memcpy(show, s, n);
			show[n] = '\0';
			clean_text(show, n);
			c->broken = 1;
			smtpc_fail(c, F_TEMP, "4.5.0", 0,
			    "reply out of turn from "
			    "%s: \"%s\"", c->hoptext, show);
			return;
		}
		c->nreplies++;
		c->rcode = code;
		c->rlines = 0;
		c->rbytes = 0;
		c->rtextlen = 0;
	} else if (code != c->rcode) {
		logline(c, PLOG_IN, s, len);
		c->broken = 1;
		smtpc_fail(c, F_TEMP, "4.5.0", 0,
		    "malformed reply from %s: codes %d "
		    "and %d in one reply", c->hoptext, c->rcode, code);
		return;
	}
	c->rlines++;
	c->rbytes += len + 2;
	if (c->rlines <= SMTPC_LOG_LINES) {
		if (code == 334 && c->state == C_AUTH)
			logline(c, PLOG_IN, "334 ****", 8);
		else
			logline(c, PLOG_IN, s, len);
	}
	if (c->rlines > SMTPC_REPLY_LINES || c->rbytes > SMTPC_REPLY_BYTES) {
		c->broken = 1;
		smtpc_fail(c, F_TEMP, "4.5.0", 0,
		    "reply from %s too long (over %d "
		    "lines or %d bytes)", c->hoptext, SMTPC_REPLY_LINES,
		    SMTPC_REPLY_BYTES);
		return;
	}
	/* Keep "NNN text text ..." as far as it fits. */
	if (c->rlines == 1) {
		memcpy(c->rtext, s, 3);
		c->rtextlen = 3;
	}
	if (len > 4 && c->rtextlen < sizeof(c->rtext) - 2) {
		tlen = len - 4;
		if (tlen > sizeof(c->rtext) - 2 - c->rtextlen)
			tlen = sizeof(c->rtext) - 2 - c->rtextlen;
		c->rtext[c->rtextlen++] = ' ';
		memcpy(c->rtext + c->rtextlen, s + 4, tlen);
		clean_text(c->rtext + c->rtextlen, tlen);
		c->rtextlen += tlen;
	}
	c->rtext[c->rtextlen] = '\0';
	if (c->state == C_EHLO && c->rlines > 1 && len > 4)
		ehlo_line(c, s + 4, len - 4);
	/* A challenge may not fit rtext: keep it whole for AUTH. */
	if (c->state == C_AUTH && code == 334 && c->rlines == 1)
		smtpc_auth_challenge(c, s + 4, len > 4 ? len - 4 : 0);
	if (sep == '-')
		return;
	if (c->rlines > SMTPC_LOG_LINES)
		smtpc_logfmt(c, PLOG_IN, "(%u more lines)", c->rlines -
		    SMTPC_LOG_LINES);
	c->rcode = 0;
	c->expect--;
	c->lastcode = code;
	dispatch(c, code);
	if (!c->ended && c->expect > 0)
		arm_reply(c);
}

/* A complete reply: what it means depends on what it answers. */
static void
dispatch(struct smtpc *c, int code)
{
	int	 cls = code / 100;
	char	 st[SMTPC_STATUS_MAX];

	smtpc_reply_status(c->rtext, c->rtextlen, st);
	if (code == 421 && c->state != C_QUIT && c->state != C_FAILQUIT) {
		/*
		 * Service closing: whatever we were doing is over, and
		 * the next hop closes; a QUIT would find nobody.
		 */
		c->noquit = 1;
		smtpc_fail(c, F_TEMP, st, 1, "%s", c->rtext);
		return;
	}
	switch (c->state) {
	case C_GREETING:
		if (cls == 2) {
			c->state = C_EHLO;
			c->ext = 0;
			(void)smtpc_cmd(c, NULL, "EHLO %s", c->cf->helo);
			smtpc_arm(c, c->to.command);
		} else
			smtpc_fail(c, cls == 5 ? F_PERM : F_TEMP, st, 1, "%s",
			    c->rtext);
		break;
	case C_EHLO:
		if (cls == 2) {
			c->esmtp = 1;
			after_ehlo(c);
		} else if (cls == 5) {
			/* An old server: HELO, and no extensions. */
			c->ext = 0;
			c->maxsize = 0;
			c->state = C_HELO;
			(void)smtpc_cmd(c, NULL, "HELO %s", c->cf->helo);
			smtpc_arm(c, c->to.command);
		} else
			smtpc_fail(c, F_TEMP, st, 1, "%s", c->rtext);
		break;
	case C_HELO:
		if (cls == 2) {
			c->esmtp = 0;
			c->ext = 0;
			after_ehlo(c);
		} else
			smtpc_fail(c, cls == 5 ? F_PERM : F_TEMP, st, 1, "%s",
			    c->rtext);
		break;
	case C_STARTTLS:
		if (code == 220) {
			start_tls(c);
		} else if (c->rt->tls == PTAB_TLS_OPPORTUNISTIC) {
			smtpc_logfmt(c, PLOG_DECISION,
			    "STARTTLS refused, going on "
			    "without TLS (opportunistic)");
			c->starttls_refused = 1;
			after_ehlo(c);
		} else
			smtpc_fail(c, F_TEMP, "4.7.5", 1,
			    "TLS is required, but "
			    "STARTTLS was refused: %s", c->rtext);
		break;
	case C_AUTH:
		smtpc_auth_reply(c, code);
		break;
	case C_TX:
		tx_reply(c, code);
		break;
	case C_DOT:
		dot_reply(c, code);
		break;
	case C_QUIT:
		finish(c);
		break;
	case C_RSET:
		if (code == 250)
			smtpc_tx_begin(c);
		else
			smtpc_fail(c, F_TEMP, st, 1, "%s", c->rtext);
		break;
	case C_FAILQUIT:
		if (c->cancel) {
			/* The 501 to "*": now QUIT. */
			c->cancel = 0;
			if (smtpc_cmd(c, NULL, "QUIT") == 0)
				smtpc_arm(c, c->to.quit < SMTPC_FAILQUIT_MS ?
				    c->to.quit : SMTPC_FAILQUIT_MS);
		} else
			fail_end(c);
		break;
	default:
		smtpc_fail(c, F_TEMP, "4.5.0", 1, "unexpected reply: %s",
		    c->rtext);
		break;
	}
}

/* An EHLO keyword line: what the next hop offers. */
static void
ehlo_line(struct smtpc *c, const char *s, size_t n)
{
	size_t		 k, i, j;
	uint64_t	 v;

	for (k = 0; k < n && s[k] != ' ' && s[k] != '='; k++)
		;
#define KW(w)	(k == sizeof(w) - 1 && strncasecmp(s, w, k) == 0)
	if (KW("STARTTLS"))
		c->ext |= EXT_STARTTLS;
	else if (KW("PIPELINING"))
		c->ext |= EXT_PIPELINING;
	else if (KW("8BITMIME"))
		c->ext |= EXT_8BITMIME;
	else if (KW("SMTPUTF8"))
		c->ext |= EXT_SMTPUTF8;
	else if (KW("SIZE")) {
		c->ext |= EXT_SIZE;
		v = 0;
		for (i = k + 1; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
			if (v > (UINT64_MAX - 9) / 10) {
				v = 0;	/* absurd: as good as no limit */
				break;
			}
			v = v * 10 + (uint64_t)(s[i] - '0');
		}
		c->maxsize = v;
	} else if (KW("AUTH")) {
		for (i = k; i < n; i = j) {
			while (i < n && (s[i] == ' ' || s[i] == '='))
				i++;
			for (j = i; j < n && s[j] != ' '; j++)
				;
#define MECH(w)	(j - i == sizeof(w) - 1 && strncasecmp(s + i, w, j - i) == 0)
			if (MECH("PLAIN"))
				c->ext |= EXT_AUTH_PLAIN;
			else if (MECH("LOGIN"))
				c->ext |= EXT_AUTH_LOGIN;
			else if (MECH(SCRAM_MECH))
				c->ext |= EXT_AUTH_SCRAM;
#undef MECH
		}
	}
#undef KW
}

/* EHLO or HELO succeeded: TLS, AUTH or the transaction. */
static void
after_ehlo(struct smtpc *c)
{
	int	 lvl = c->rt->tls;
	unsigned bit;

	if (c->io.tls == NULL && !c->starttls_refused) {
		if (lvl >= PTAB_TLS_REQUIRED) {
			if (!(c->ext & EXT_STARTTLS)) {
				smtpc_fail(c, F_TEMP, "4.7.4", 0,
				    "TLS is required, "
				    "but %s does not offer STARTTLS",
				    c->hoptext);
				return;
			}
		}
		if (lvl >= PTAB_TLS_REQUIRED ||
		    (lvl == PTAB_TLS_OPPORTUNISTIC &&
		    (c->ext & EXT_STARTTLS) && !c->notls &&
		    c->cf->creds != NULL)) {
			c->state = C_STARTTLS;
			(void)smtpc_cmd(c, NULL, "STARTTLS");
			smtpc_arm(c, c->to.command);
			return;
		}
	}
	if (c->rt->mech != PTAB_MECH_NONE && !c->authed) {
		bit = c->rt->mech == PTAB_MECH_PLAIN ? EXT_AUTH_PLAIN :
		    c->rt->mech == PTAB_MECH_LOGIN ? EXT_AUTH_LOGIN :
		    EXT_AUTH_SCRAM;
		if (c->io.tls == NULL) {
			smtpc_fail(c, F_TEMP, "4.7.0", 0,
			    "not sending credentials "
			    "to %s without TLS", c->hoptext);
			return;
		}
		if (!(c->ext & bit)) {
			smtpc_fail(c, F_TEMP, "4.7.0", 0,
			    "%s does not offer AUTH %s",
			    c->hoptext, c->rt->mech == PTAB_MECH_PLAIN ?
			    "PLAIN" : c->rt->mech == PTAB_MECH_LOGIN ?
			    "LOGIN" : SCRAM_MECH);
			return;
		}
		smtpc_auth_begin(c);
		return;
	}
	smtpc_tx_begin(c);
}

/* ---- TLS ------------------------------------------------------------- */

/*
 * The 220 to STARTTLS is in.  Whatever came after it in the clear
 * was sent before TLS protects anything: an attacker's injection or a
 * broken server, never a reply (RFC 3207 4.2).  Drop it.
 */
static void
start_tls(struct smtpc *c)
{
	struct tls_conn	*t;
	char		 err[LIM_ERRMSG];
	int		 level;

	if (c->io.inlen > 0)
		smtpc_logfmt(c, PLOG_DECISION,
		    "discarded %zu bytes sent after the "
		    "220 to STARTTLS", c->io.inlen);
	level = c->rt->tls == PTAB_TLS_VERIFY ? TLS_LEVEL_VERIFY :
	    TLS_LEVEL_REQUIRED;
	t = tls_client_new(c->cf->creds, peer_name(c), level, err, sizeof(err));
	if (t == NULL) {
		/* The next hop awaits a handshake, not a command. */
		c->broken = 1;
		smtpc_fail(c, F_TEMP, "4.7.5", 0, "TLS setup for %s: %s",
		    c->hoptext, err);
		return;
	}
	(void)conn_start_tls(&c->io, t);	/* wipes the input */
	c->state = C_HANDSHAKE;
	smtpc_arm(c, c->to.command);
}

/* The handshake is done: EHLO again, knowing nothing (RFC 3207 4.2). */
static void
tls_up(struct smtpc *c)
{
	smtpc_logfmt(c, PLOG_DECISION, "TLS established with %s: %s %s%s",
	    peer_name(c), tls_version_name(c->io.tls),
	    tls_suite_name(c->io.tls),
	    c->rt->tls == PTAB_TLS_VERIFY ? ", certificate verified" : "");
	c->ext = 0;
	c->maxsize = 0;
	c->esmtp = 0;
	c->state = C_EHLO;
	(void)smtpc_cmd(c, NULL, "EHLO %s", c->cf->helo);
	smtpc_arm(c, c->to.command);
}

/* ---- the transaction ------------------------------------------------- */

/* 1 if the envelope needs SMTPUTF8: a non-ASCII byte in an address. */
static int
needs_utf8(const struct smtpc *c)
{
	const unsigned char	*p;
	size_t			 i;

	if (!(c->m->flags & SPOOL_F_SMTPUTF8))
		return 0;
	for (p = (const unsigned char *)c->m->sender; *p; p++)
		if (*p >= 0x80)
			return 1;
	for (i = 0; i < c->nrc; i++)
		for (p = (const unsigned char *)c->rc[i].addr; *p; p++)
			if (*p >= 0x80)
				return 1;
	return 0;
}

/* Ready for MAIL: refuse here what the next hop said it cannot take. */
void
smtpc_tx_begin(struct smtpc *c)
{
	char	 text[SMTPC_TEXT_MAX];

	c->use.messages++;
	if ((c->ext & EXT_SIZE) && c->maxsize > 0 &&
	    c->m->body_len > c->maxsize) {
		snprintf(text, sizeof(text), "message of %llu bytes exceeds "
		    "the %llu bytes %s accepts (SIZE)",
		    (unsigned long long)c->m->body_len,
		    (unsigned long long)c->maxsize, peer_name(c));
		settle(c, SMTPC_BOUNCED, "5.3.4", 0, 0, text);
		tx_end(c);
		return;
	}
	if (needs_utf8(c) && !(c->ext & EXT_SMTPUTF8)) {
		snprintf(text, sizeof(text), "the addresses need SMTPUTF8, "
		    "which %s does not offer", peer_name(c));
		settle(c, SMTPC_BOUNCED, "5.6.7", 0, 0, text);
		tx_end(c);
		return;
	}
	c->state = C_TX;
	c->txnext = 0;
	c->txreply = 0;
	c->naccepted = 0;
	c->mailfailed = 0;
	c->dotignore = 0;
}

/* Queue MAIL, RCPT... and DATA: all at once with PIPELINING. */
static void
tx_fill(struct smtpc *c)
{
	struct spool_msg	*m = c->m;
	int			 pipe = (c->ext & EXT_PIPELINING) != 0;

	while (c->state == C_TX && c->txnext <= c->nrc + 1 &&
	    !c->mailfailed) {
		if (!pipe && c->expect > 0)
			break;
		if (room(c) < CMD_ROOM || c->cqlen >= SMTPC_CMDQ)
			break;
		if (c->txnext == 0) {
			char	 size[32] = "";

			c->txstarted = 1;
			if (c->ext & EXT_SIZE)
				snprintf(size, sizeof(size), " SIZE=%llu",
				    (unsigned long long)m->body_len);
			if (smtpc_cmd(c, NULL, "MAIL FROM:<%s>%s%s%s",
			    m->sender,
			    size, m->body != SPOOL_BODY_NONE && m->body !=
			    SPOOL_BODY_7BIT && (c->ext & EXT_8BITMIME) ?
			    " BODY=8BITMIME" : "",
			    needs_utf8(c) ? " SMTPUTF8" : "") == -1)
				return;
		} else if (c->txnext <= c->nrc) {
			if (smtpc_cmd(c, NULL, "RCPT TO:<%s>",
			    c->rc[c->txnext - 1].addr) == -1)
				return;
		} else {
			if (!pipe && c->naccepted == 0) {
				/* Nobody to send to. */
				tx_end(c);
				return;
			}
			if (smtpc_cmd(c, NULL, "DATA") == -1)
				return;
		}
		c->txnext++;
		if (c->expect == 1)
			arm_reply(c);
	}
}

/* A reply in the transaction, matched to its command by position. */
static void
tx_reply(struct smtpc *c, int code)
{
	size_t			 idx = c->txreply++;
	struct smtpc_rcpt	*r;
	char			 st[SMTPC_STATUS_MAX];
	int			 cls = code / 100;

	smtpc_reply_status(c->rtext, c->rtextlen, st);
	if (idx == 0) {
		if (cls != 2) {
			c->mailfailed = 1;
			settle_reply(c, code, 0);
		}
	} else if (idx <= c->nrc) {
		r = &c->rc[idx - 1];
		if (!c->mailfailed && r->result == SMTPC_PENDING) {
			if (cls == 2) {
				r->accepted = 1;
				c->naccepted++;
			} else
				set_result(c, r, cls == 5 ? SMTPC_BOUNCED :
				    SMTPC_DEFERRED, st, 1, 0, c->rtext);
		}
	} else {
		if (code == 354) {
			if (c->mailfailed || c->naccepted == 0) {
				/*
				 * RFC 2920 3.1: DATA went with the group
				 * and was accepted though nobody was:
				 * end an empty message and ignore it.
				 */
				c->dotignore = 1;
				c->state = C_DOT;
				(void)smtpc_cmd(c, NULL, ".");
				smtpc_arm(c, c->to.data_end);
				return;
			}
			c->state = C_BODY;
			c->bodyoff = 0;
			c->bodysol = 1;
			c->bodydone = 0;
			smtpc_arm(c, c->to.data_block);
			return;
		}
		if (!c->mailfailed)
			settle_reply(c, code, 1);
		tx_end(c);
		return;
	}
	if (c->state == C_TX && c->expect == 0 && (c->mailfailed ||
	    (c->txnext > c->nrc && c->naccepted == 0 &&
	    !(c->ext & EXT_PIPELINING))))
		tx_end(c);
}

/* Stream the body: dot-stuffed, CRLF lines as spooled, then ".". */
static void
body_fill(struct smtpc *c)
{
	char	 buf[BODY_CHUNK];
	size_t	 want, i;
	ssize_t	 n;

	while (c->state == C_BODY && !c->bodydone) {
		if (room(c) < 2 * 64 + 8)
			return;
		want = (room(c) - 8) / 2;
		if (want > sizeof(buf))
			want = sizeof(buf);
		n = spool_body_read(c->m, c->bodyoff, buf, want);
		if (n < 0) {
			c->broken = 1;
			smtpc_fail(c, F_TEMP, "4.3.0", 0,
			    "cannot read message %s from the spool", c->m->id);
			return;
		}
		if (n == 0) {
			if (!c->bodysol) {
				/* Not CRLF-ended: "." must start a line. */
				memcpy(c->out + c->io.outlen, "\r\n", 2);
				c->io.outlen += 2;
				c->qpos += 2;
			}
			smtpc_logfmt(c, PLOG_OUT, "<message, %llu bytes>",
			    (unsigned long long)c->bodyoff);
			c->bodydone = 1;
			c->state = C_DOT;
			(void)smtpc_cmd(c, NULL, ".");
			return;
		}
		for (i = 0; i < (size_t)n; i++) {
			/* RFC 5321 4.5.2: a leading dot is doubled. */
			if (c->bodysol && buf[i] == '.') {
				c->out[c->io.outlen++] = '.';
				c->qpos++;
			}
			c->out[c->io.outlen++] = buf[i];
			c->qpos++;
			c->bodysol = buf[i] == '\n';
		}
		c->bodyoff += (uint64_t)n;
	}
}

/* The reply to ".": the only thing that makes a delivery. */
static void
dot_reply(struct smtpc *c, int code)
{
	size_t	 i;
	char	 st[SMTPC_STATUS_MAX];
	int	 cls = code / 100;

	if (c->dotignore) {
		tx_end(c);
		return;
	}
	smtpc_reply_status(c->rtext, c->rtextlen, st);
	for (i = 0; i < c->nrc; i++) {
		if (!c->rc[i].accepted || c->rc[i].result != SMTPC_PENDING)
			continue;
		if (code == 250)
			set_result(c, &c->rc[i], SMTPC_DELIVERED, st, 1, 0,
			    c->rtext);
		else
			set_result(c, &c->rc[i], cls == 5 ? SMTPC_BOUNCED :
			    SMTPC_DEFERRED, st, 1, 0, c->rtext);
	}
	tx_end(c);
}

/* The results are in: say goodbye. */
static void
quit(struct smtpc *c)
{
	c->state = C_QUIT;
	c->reason[0] = '\0';
	c->expect = 0;
	(void)smtpc_cmd(c, NULL, "QUIT");
	smtpc_arm(c, c->to.quit);
}

/*
 * The transaction is over: keep the connection for another (cf->keep)
 * if nothing is amiss with it, else say goodbye.  Kept means that the
 * dialogue is in step (no reply due, none begun, nothing unasked-for
 * in the input), the stream whole (no I/O, TLS or protocol error, no
 * 421, the peer has not closed).
 */
static void
tx_end(struct smtpc *c)
{
	if (!c->cf->keep || c->broken || c->noquit || c->io.fd == -1 ||
	    c->io.eof || c->expect != 0 || c->rcode != 0 ||
	    c->io.inlen > 0 || c->io.outlen > 0 || (c->io.tls != NULL &&
	    tls_error(c->io.tls) != NULL)) {
		quit(c);
		return;
	}
	c->reason[0] = '\0';
	c->kept = 1;
	finish(c);
}

/*
 * What the connection says while it is kept: bytes from the peer, its
 * close or an error mean it is of no more use (a kept peer has nothing
 * to say: a 421 it sends now would only announce its close).
 */
static int
kept_event(struct smtpc *c, int ev)
{
	switch (ev) {
	case CONN_EV_INPUT:
		if (c->io.inlen == 0)
			return 0;
		kept_lost(c, "unexpected data while idle");
		return -1;
	case CONN_EV_EOF:
		kept_lost(c, "connection closed by the peer while idle");
		return -1;
	case CONN_EV_ERROR:
		kept_lost(c, conn_error(&c->io));
		return -1;
	default:
		return 0;
	}
}

/* A kept connection is lost: close it, no QUIT. */
static void
kept_lost(struct smtpc *c, const char *why)
{
	smtpc_logfmt(c, PLOG_DISCONNECT, "%s", why);
	drop_conn(c, 0);
	c->kept = 0;
	c->state = C_DONE;
}

int
smtpc_kept(const struct smtpc *c)
{
	return c->kept && c->io.fd != -1;
}

int
smtpc_park(struct smtpc *c, const struct smtpc_config *cf,
    const struct smtpc_route *rt, uint32_t idle_ms)
{
	if (!smtpc_kept(c))
		return -1;
	if (loop_timer_armed(&c->fin))
		loop_timer_cancel(c->cf->loop, &c->fin);
	c->cf = cf;
	c->rt = rt;
	c->hops = NULL;
	c->m = NULL;
	c->rc = NULL;
	c->nrc = 0;
	c->state = C_PARKED;
	if (loop_timer_arm(cf->loop, &c->timer, idle_ms) != 0) {
		smtpc_close(c, "no timer left in the loop");
		return -1;
	}
	return 0;
}

void
smtpc_close(struct smtpc *c, const char *why)
{
	unsigned	 conn = c->conn;

	if (!c->kept)
		return;
	loop_timer_cancel(c->cf->loop, &c->timer);
	/* A write error is a lost connection (kept_event() closes it). */
	if (smtpc_cmd(c, NULL, "QUIT") == 0)
		(void)conn_flush(&c->io);
	if (conn != c->conn || !c->kept)
		return;
	smtpc_logfmt(c, PLOG_DISCONNECT, "%s", why);
	drop_conn(c, 1);
	c->kept = 0;
	c->state = C_DONE;
}

/*
 * The index in hops of the address c is connected to, by the same
 * name (which TLS verified, or would have): 1 and *i, or 0.
 */
static int
hop_of(const struct smtpc *c, const struct dns_result *hops, size_t *i)
{
	const struct dns_addr	*a;

	if (hops->status != DNS_OK)
		return 0;
	for (*i = 0; *i < hops->naddr; (*i)++) {
		a = &hops->addr[*i];
		if (a->len == c->peer.len &&
		    memcmp(&a->u, &c->peer.u, a->len) == 0 &&
		    strcmp(hops->hosts[a->host], c->peername) == 0)
			return 1;
	}
	return 0;
}

int
smtpc_fits(const struct smtpc *c, const struct dns_result *hops)
{
	size_t	 i;

	return smtpc_kept(c) && hop_of(c, hops, &i);
}

int
smtpc_reuse(struct smtpc *c, const struct smtpc_config *cf,
    const struct smtpc_route *rt, const struct dns_result *hops,
    struct spool_msg *m, struct smtpc_rcpt *rc, size_t nrc,
    smtpc_done_fn *done, void *arg, char *err, size_t errlen)
{
	unsigned	 conn;
	size_t		 hop;

	if (!smtpc_kept(c) || cf == NULL || cf->loop == NULL || rt == NULL ||
	    hops == NULL || m == NULL || rc == NULL || nrc == 0 ||
	    done == NULL || !hop_of(c, hops, &hop)) {
		smtpc_close(c, "not fit for this message");
		return smtpc_start(c, cf, rt, hops, m, rc, nrc, done, arg,
		    err, errlen);
	}
	/* The callback's place in the heap, as smtpc_start() takes it. */
	if (loop_timer_arm(cf->loop, &c->fin, UINT64_MAX) != 0) {
		snprintf(err, errlen, "smtpc_reuse: %s", loop_error(cf->loop));
		smtpc_close(c, "no timer left in the loop");
		return -1;
	}
	loop_timer_cancel(c->cf->loop, &c->timer);
	take(c, cf, rt, hops, m, rc, nrc, done, arg);
	c->hop = hop;
	c->tries = 1;
	c->txstarted = 0;
	afresh(c);
	c->use.connects = 0;
	c->use.reused = 1;
	c->kept = 0;
	c->ended = 0;
	smtpc_logfmt(c, PLOG_DECISION, "reusing session to %s (message %u "
	    "on it)", c->remote, c->use.messages + 1);
	c->state = C_RSET;
	conn = c->conn;
	if (smtpc_cmd(c, NULL, "RSET") != 0 || conn != c->conn)
		return 0;
	smtpc_arm(c, c->to.command < RSET_MS ? c->to.command : RSET_MS);
	/* Out now: no event of this connection is due to write it. */
	if (conn == c->conn && conn_flush(&c->io) == 0 && conn == c->conn)
		(void)conn_interest(&c->io);
	return 0;
}

/*
 * The kept connection did not take RSET: it was dead (a peer that
 * closed it, or says 421, or nothing).  Close it and connect afresh,
 * as if none had been kept: the message has lost nothing yet.
 */
static void
rset_failed(struct smtpc *c)
{
	smtpc_logfmt(c, PLOG_DISCONNECT, "the kept session failed: %s; "
	    "connecting again", c->reason);
	drop_conn(c, !c->broken && !c->noquit);
	c->hop = 0;
	c->tries = 0;
	afresh(c);
	c->use.reused = 0;
	connect_next(c);
}

/* No failure yet, and TLS to be tried: a message's first connection. */
static void
afresh(struct smtpc *c)
{
	c->notls = 0;
	c->retrysame = 0;
	c->permfail = 0;
	c->reasonpeer = 0;
	c->reasonat = 0;
	c->rstatus[0] = '\0';
	c->reason[0] = '\0';
}

/* ---- commands, timers, results, logs --------------------------------- */

static size_t
room(const struct smtpc *c)
{
	return conn_room(&c->io);
}

/*
 * Queue one command line (CRLF added) and log it, as shown if shown is
 * not NULL (AUTH).  Returns 0, or -1 when it does not fit (the session
 * has failed then).
 */
int
smtpc_cmd(struct smtpc *c, const char *shown, const char *fmt, ...)
{
	va_list		 ap;
	const char	*line;
	int		 n;

	if (c->cqlen >= SMTPC_CMDQ) {
		c->broken = 1;
		smtpc_fail(c, F_TEMP, "4.3.0", 0, "too many commands queued");
		return -1;
	}
	va_start(ap, fmt);
	n = conn_vputline(&c->io, &line, fmt, ap);
	va_end(ap);
	if (n < 0) {
		c->broken = 1;
		smtpc_fail(c, F_TEMP, "4.3.0", 0, "command too long");
		return -1;
	}
	if (shown != NULL)
		logline(c, PLOG_OUT, shown, strlen(shown));
	else
		logline(c, PLOG_OUT, line, (size_t)n);
	c->qpos += (uint64_t)n + 2;
	c->cmdend[(c->cqhead + c->cqlen) % SMTPC_CMDQ] = c->qpos;
	c->cqlen++;
	c->expect++;
	return 0;
}

void
smtpc_arm(struct smtpc *c, uint32_t ms)
{
	if (loop_timer_arm(c->cf->loop, &c->timer, ms) != 0) {
		/* Nothing could bound a wait for a reply. */
		c->broken = 1;
		smtpc_fail(c, F_TEMP, "4.3.0", 0, "no timer left in the loop");
	}
}

/* Wait for the next reply due in the transaction, with its own time. */
static void
arm_reply(struct smtpc *c)
{
	if (c->state != C_TX)
		return;
	if (c->txreply == 0)
		smtpc_arm(c, c->to.mail);
	else if (c->txreply <= c->nrc)
		smtpc_arm(c, c->to.rcpt);
	else
		smtpc_arm(c, c->to.data_init);
}

/* Decide one recipient, and log it. */
static void
set_result(struct smtpc *c, struct smtpc_rcpt *r, int result,
    const char *status, int peer, size_t at, const char *text)
{
	r->result = (uint8_t)result;
	r->from_peer = (uint8_t)(peer != 0);
	r->reply_at = (uint16_t)(peer && at < sizeof(r->text) ? at : 0);
	snprintf(r->status, sizeof(r->status), "%s", status);
	if (result == SMTPC_DEFERRED)
		r->status[0] = '4';
	else if (result == SMTPC_BOUNCED)
		r->status[0] = '5';
	snprintf(r->text, sizeof(r->text), "%s", text);
	smtpc_logfmt(c, PLOG_DECISION, "<%s>: %s (%s): %s", r->addr,
	    smtpc_result_name(result), r->status, r->text);
}

/*
 * Decide every recipient still pending, accepted by RCPT or not: no
 * address, the connection lost in the middle, a message refused
 * before MAIL.
 */
static void
settle(struct smtpc *c, int result, const char *status, int peer,
    size_t at, const char *text)
{
	size_t	 i;

	for (i = 0; i < c->nrc; i++)
		if (c->rc[i].result == SMTPC_PENDING)
			set_result(c, &c->rc[i], result, status, peer, at,
			    text);
}

/*
 * A reply that decides for many: MAIL's (everyone pending) or DATA's
 * (only_accepted: those RCPT took).
 */
static void
settle_reply(struct smtpc *c, int code, int only_accepted)
{
	char	 st[SMTPC_STATUS_MAX];
	size_t	 i;
	int	 res = code / 100 == 5 ? SMTPC_BOUNCED : SMTPC_DEFERRED;

	smtpc_reply_status(c->rtext, c->rtextlen, st);
	for (i = 0; i < c->nrc; i++) {
		if (c->rc[i].result != SMTPC_PENDING ||
		    (only_accepted && !c->rc[i].accepted))
			continue;
		set_result(c, &c->rc[i], res, st, 1, 0, c->rtext);
	}
}

static void
logline(struct smtpc *c, int dir, const char *text, size_t len)
{
	if (c->cf->log == NULL)
		return;
	(void)plog_write(c->cf->log, NULL, c->cf->sid, c->local, c->remote,
	    dir, text, len);
}

void
smtpc_logfmt(struct smtpc *c, int dir, const char *fmt, ...)
{
	va_list	 ap;

	if (c->cf->log == NULL)
		return;
	va_start(ap, fmt);
	(void)plog_vwritef(c->cf->log, c->cf->sid, c->local, c->remote, dir,
	    fmt, ap);
	va_end(ap);
}

/* The name of the host being talked to (for TLS and messages). */
static const char *
peer_name(const struct smtpc *c)
{
	size_t	 h;

	if (c->hops == NULL || c->hops->naddr == 0)
		return c->peername;
	h = c->hop < c->hops->naddr ? c->hop : c->hops->naddr - 1;
	return c->hops->hosts[c->hops->addr[h].host];
}

/* Control bytes in text from the wire become '?'. */
static void
clean_text(char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = '?';
}
