/*
 * relay: outbound delivery of queued messages (see relay.h).  A job
 * takes one message through one round: the recipients with no route
 * fail at once, then each group of recipients (one route, and one
 * domain for a route by MX) goes to one outbound session in turn, and
 * the round ends by dating the file for its next attempt, or removing
 * it when nothing is left to deliver.  The sessions are the relay's,
 * not the jobs': a job borrows one for a group (a parked one that
 * fits, else a new one) and gives it back after (sess_take,
 * sess_give).
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include <errno.h>
#include <ifaddrs.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "bastion_limits.h"
#include "relay.h"
#include "tls.h"

static void	rlog(struct relay_job *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static const struct ptab_domain_rec *route_of(const struct table *,
		    const char *, int *);
static int	attempted(const struct relay_job *, uint32_t);
static int	fail_unrouted(struct relay_job *);
static int	next_group(struct relay_job *);
static int	start_group(struct relay_job *);
static int	start_session(struct relay_job *);
static void	fail_group(struct relay_job *, const char *);
static int	host_local(const struct addr *);
static void	loop_check(struct relay_job *);
static void	advance(struct relay_job *);
static void	on_dns(struct dns_query *, void *);
static void	on_done(struct smtpc *, void *);
static int	record(struct relay_job *);
static void	expire_text(struct smtpc_rcpt *);
static void	finish(struct relay_job *);
static int	mark(struct relay *, struct spool_msg *, uint64_t, int);
static int	bounce(struct relay_job *);
static void	on_bounced(struct dsn_batch *, int, const char *, void *);
static void	on_settled(struct spool_settle *, int, const char *, void *);
static void	release(struct relay_job *);
static void	state_begin(struct relay_job *);
static int	same_addr(const struct dns_addr *, const struct dns_addr *);
static int	sess_idle(struct relay_sess *);
static void	sess_unpark(struct relay_sess *);
static void	sess_close(struct relay_sess *, const char *);
static void	sess_flush(struct relay *, const char *);
static unsigned	sess_count(struct relay *, const struct dns_addr *);
static struct relay_sess *sess_fit(struct relay_job *);
static struct relay_sess *sess_parked_to(struct relay *,
		    const struct dns_addr *);
static struct relay_sess *sess_slot(struct relay *);
static int	sess_take(struct relay_job *, char *, size_t);
static int	queued_before(const struct relay_job *,
		    const struct dns_addr *);
static void	sess_park(struct relay_sess *, struct relay_job *);
static void	sess_give(struct relay_job *);
static void	on_kick(struct loop *, void *);

int
relay_init(struct relay *r, const struct relay_env *env, char *err,
    size_t errlen)
{
	struct dns_config	 cf;

	memset(r, 0, sizeof(*r));
	r->env = *env;
	memset(&cf, 0, sizeof(cf));
	/* Tests point the resolver at a server on loopback. */
	cf.servers = getenv("BASTION_RESOLVERS");
	/*
	 * The kick's place in the timer heap, held from now on: a job
	 * waiting for a session must always be started again.  Without
	 * it, no job waits (RELAY_DEST_MAX is not kept).
	 */
	loop_timer_init(&r->kick, on_kick, r);
	r->kick_ok = loop_timer_arm(env->loop, &r->kick, UINT64_MAX) == 0;
	if (dns_init(&r->dns, env->loop, &cf, err, errlen) != 0)
		return -1;
	r->dns_ok = 1;
	return 0;
}

void
relay_free(struct relay *r)
{
	size_t	 i;

	relay_stop(r);
	loop_timer_cancel(r->env.loop, &r->kick);
	r->kick_ok = 0;
	for (i = 0; i < RELAY_JOBS; i++) {
		/*
		 * A settle still in flight (the engine was not freed first)
		 * belongs to the commit thread: leave the job to it rather
		 * than free memory in use.
		 */
		if (r->jobs[i] != NULL && (r->jobs[i]->settling ||
		    r->jobs[i]->bouncing))
			continue;
		free(r->jobs[i]);
	}
	for (i = 0; i < RELAY_SESSIONS; i++)
		free(r->sess[i]);
	if (r->dns_ok)
		dns_free(&r->dns);
	memset(r->jobs, 0, sizeof(r->jobs));
	memset(r->sess, 0, sizeof(r->sess));
	r->dns_ok = 0;
}

void
relay_stop(struct relay *r)
{
	struct relay_job	*j;
	char			 err[LIM_ERRMSG];
	size_t			 i;

	r->starved = 0;		/* no rescan from release() */
	r->stopped = 1;
	for (i = 0; i < RELAY_JOBS; i++) {
		if ((j = r->jobs[i]) == NULL || !j->busy || j->settling ||
		    j->bouncing)
			continue;	/* those end in their callbacks */
		dns_cancel(&j->dq);
		if (j->s != NULL) {
			smtpc_abort(&j->s->c, "shutting down");
			j->s->job = NULL;
			j->s = NULL;
		}
		j->waiting = 0;
		spool_state_abort(&j->sw);
		if (j->m.noted) {
			/* What was delivered is recorded for good. */
			j->settling = 1;
			if (spool_settle_start(r->env.spool, &j->settle,
			    r->env.commit, &j->m, NULL, 0, on_settled, j) == 1)
				on_settled(&j->settle, spool_settle_result(
				    &j->settle, err, sizeof(err)), err, j);
			continue;
		}
		spool_msg_close(&j->m);
		release(j);
	}
	sess_flush(r, "shutting down");
}

int
relay_busy(const struct relay *r, const char *id)
{
	size_t	 i;

	for (i = 0; i < RELAY_JOBS; i++)
		if (r->jobs[i] != NULL && r->jobs[i]->busy &&
		    strcmp(r->jobs[i]->id, id) == 0)
			return 1;
	return 0;
}

/* Protocol log lines of the outbound side: the queue id, then "relay". */
static void
rlog(struct relay_job *j, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	(void)plog_vwritef(j->r->env.log, j->id, "-", "relay",
	    PLOG_DECISION, fmt, ap);
	va_end(ap);
}

/*
 * The route for recipient addr: a `forward to` of its domain's accept
 * rule, else the best outbound rule.  *local is set when the mail is
 * ours to deliver here (a Maildir rule).  NULL: no route.  A bare
 * <postmaster> is the hostname's and never leaves by an outbound rule
 * (table_rcpt_domain).
 */
static const struct ptab_domain_rec *
route_of(const struct table *tb, const char *addr, int *local)
{
	const struct ptab		*t = &tb->t;
	const struct ptab_domain_rec	*d;
	int				 bare;
	const char			*dom = table_rcpt_domain(tb, addr, &bare);

	*local = 0;
	if ((d = ptab_accept_lookup(t, dom, strlen(dom))) != NULL) {
		if (d->delivery == PTAB_DELIVER_MAILDIR) {
			*local = 1;
			return NULL;
		}
		return d;
	}
	return bare ? NULL : ptab_outbound_lookup(t, dom, strlen(dom));
}

static int
mark(struct relay *r, struct spool_msg *m, uint64_t off, int status)
{
	struct spool_rcpt	 rr;
	char			 err[LIM_ERRMSG];

	memset(&rr, 0, sizeof(rr));
	rr.off = off;
	/* Made durable with the round's end (finish). */
	if (spool_note(m, &rr, status, err, sizeof(err)) != 0) {
		oplog_write(r->env.oplog, LOG_ERR, "queue %s: %s", m->id, err);
		return -1;
	}
	return 0;
}

/*
 * Bounce what the job gathered in j->failed (the commit thread queues
 * it), and hand the bounce to the queue.  Returns 0 while it is in
 * flight (on_bounced carries on), or 1 when it is over, with the
 * outcome in j->failed.rc: -1 if it could not be written (logged; the
 * recipients stay pending).
 */
static int
bounce(struct relay_job *j)
{
	struct relay	*r = j->r;

	j->bouncing = 1;
	if (dsn_bounce_batch_start(&j->failed, &j->m, j->tb->hostname, 0,
	    r->env.commit, on_bounced, j) == 0)
		return 0;
	j->bouncing = 0;
	if (j->failed.rc == 1 && r->env.bounced != NULL)
		r->env.bounced(r->env.arg, j->failed.id);
	return 1;
}

/* From the loop: the bounce is queued (or not); the round goes on. */
static void
on_bounced(struct dsn_batch *b, int rc, const char *id, void *arg)
{
	struct relay_job	*j = arg;
	struct relay		*r = j->r;

	(void)b;
	j->bouncing = 0;
	if (rc == 1 && r->env.bounced != NULL)
		r->env.bounced(r->env.arg, id);
	if (r->stopped) {
		finish(j);
		return;
	}
	if (j->unrouted) {
		if (rc != -1 && j->more && fail_unrouted(j))
			return;
	} else if (rc == -1)
		j->deferred = 1;
	advance(j);
}

int
relay_start(struct relay *r, const char *id)
{
	const struct relay_env	*e = &r->env;
	const struct ptab	*t = &(*e->table)->t;
	struct relay_job	*j = NULL;
	struct stat		 st;
	struct timespec		 now;
	char			 err[LIM_ERRMSG];
	size_t			 i;
	int			 rc;

	if (relay_busy(r, id))
		return 1;
	if (r->seen != *e->table) {
		/* Sessions made under the old rules are not reused. */
		sess_flush(r, "the policy changed");
		r->seen = *e->table;
	}
	for (i = 0; i < RELAY_JOBS; i++) {
		if (r->jobs[i] == NULL &&
		    (r->jobs[i] = calloc(1, sizeof(*j))) == NULL)
			break;
		if (!r->jobs[i]->busy) {
			j = r->jobs[i];
			break;
		}
	}
	if (j == NULL) {
		r->starved = 1;	/* release() has the queue looked at again */
		return 0;
	}
	/* The batch is big and needs no zeroing: dsn_batch_init. */
	memset(j, 0, offsetof(struct relay_job, failed));
	dsn_batch_init(&j->failed, e->spool, e->log, e->oplog, "relay");
	j->r = r;
	j->sw.fd = -1;
	rc = spool_msg_open(e->spool, &j->m, id, err, sizeof(err));
	if (rc != 1) {
		if (rc == -1)
			oplog_write(e->oplog, LOG_WARNING, "queue %s: %s", id,
			    err);
		return 0;
	}
	/*
	 * The file's date is its next attempt.  Compared to the
	 * nanosecond with the fine clock: time(3) reads a clock that may
	 * lag the stamp the kernel just put on a file written a moment
	 * ago (fine-grained file times), and a second's difference would
	 * leave a new message waiting for the next rescan.
	 */
	if (fstat(j->m.fd, &st) == 0 &&
	    clock_gettime(CLOCK_REALTIME, &now) == 0 &&
	    (st.st_mtim.tv_sec > now.tv_sec ||
	    (st.st_mtim.tv_sec == now.tv_sec &&
	    st.st_mtim.tv_nsec > now.tv_nsec))) {
		spool_msg_close(&j->m);
		return 0;
	}
	snprintf(j->id, sizeof(j->id), "%s", id);
	j->busy = 1;
	state_begin(j);
	j->tb = *e->table;
	table_ref(j->tb);
	/*
	 * A SIGHUP may swap the trust anchors while the job runs; the
	 * session opens TLS with them later, so hold them like the table.
	 */
	if ((j->cf.creds = *e->creds) != NULL)
		tls_client_creds_ref(j->cf.creds);
	/* The RFC 5321 timeouts, but `timeout connect' as the policy says. */
	smtpc_timeouts_default(&j->to);
	if (t->server->to_connect > 0)
		j->to.connect = t->server->to_connect > UINT32_MAX / 1000 ?
		    UINT32_MAX : t->server->to_connect * 1000;

	/*
	 * Even past its lifetime a message gets this attempt: the
	 * schedule's last point is received + lifetime (dsn.h), and what
	 * still defers then fails with the reason of its last try
	 * (record), as a Postfix administrator expects to read it.
	 */
	if (!fail_unrouted(j))
		advance(j);
	return 1;
}

/*
 * A round is one more attempt: counted in the message's state, which
 * the round's replies then fill (a state that cannot be written only
 * leaves bastionctl with less to show).
 */
static void
state_begin(struct relay_job *j)
{
	struct spool_state	 old;
	unsigned		 n = 0;

	if (spool_state_open(j->r->env.spool, j->id, &old) == 1)
		n = old.attempts;
	spool_state_close(&old);
	(void)spool_state_begin(j->r->env.spool, &j->sw, j->id, n + 1,
	    time(NULL));
}

/* Recipient index i was given to a session this round (or is beyond). */
static int
attempted(const struct relay_job *j, uint32_t i)
{
	return i >= SPOOL_RCPT_MAX || (j->attempted[i / 8] & (1u << (i % 8)));
}

/*
 * Recipients with no route at all fail (RFC 5321 5.1 has nowhere to
 * send them), a batch to a bounce, until none is left.  Returns 1
 * while a bounce is in flight (on_bounced calls again for the next
 * batch), 0 when it is over.
 */
static int
fail_unrouted(struct relay_job *j)
{
	struct dsn_batch	*b = &j->failed;
	struct spool_rcpt	 rr;
	struct dsn_rcpt		 fr;
	char			 err[LIM_ERRMSG];
	size_t			 nf;
	int			 local;

	/*
	 * Each batch takes what the ones before it left: a recipient is
	 * attempted once a round, so every batch makes progress.
	 */
	for (;;) {
		memset(&rr, 0, sizeof(rr));
		while (b->n < DSN_BATCH_MAX &&
		    spool_rcpt_next(&j->m, &rr, err, sizeof(err)) == 1) {
			if (rr.status != SPOOL_PENDING ||
			    attempted(j, rr.index) ||
			    route_of(j->tb, rr.addr, &local) != NULL ||
			    local)
				continue;
			/* Once a round, even if its mark does not stick. */
			j->attempted[rr.index / 8] |= 1u << (rr.index % 8);
			memset(&fr, 0, sizeof(fr));
			fr.addr = rr.addr;
			fr.status = "5.4.4";
			fr.reason = "no route: the policy has no outbound "
			    "rule for this domain";
			(void)dsn_batch_add(b, rr.off, &fr);
		}
		if ((nf = b->n) == 0)
			return 0;
		rlog(j, "%zu recipient%s without a route", nf,
		    nf == 1 ? "" : "s");
		j->unrouted = 1;
		j->more = nf == DSN_BATCH_MAX;
		if (bounce(j) == 0)
			return 1;
		if (j->failed.rc == -1 || !j->more)
			return 0;
	}
}

/*
 * Gather the next group of pending recipients not attempted this round
 * (the first such recipient's route, and its domain if the route goes
 * by MX, up to RELAY_RCPT_MAX of them) into j->rc.  Every group of a
 * round is tried, however many routes and domains the message has: one
 * that defers holds up no other.  Returns 1 with a group, 0 if there is
 * none left this round.
 */
static int
next_group(struct relay_job *j)
{
	const struct ptab_domain_rec	*d;
	struct spool_rcpt		 rr;
	char				 err[LIM_ERRMSG];
	const char			*dom;
	int				 local, bare;

	/* From the first recipient not attempted yet, in spool order. */
	j->n = 0;
	j->route = NULL;
	memset(&rr, 0, sizeof(rr));
	if (j->cursor_index > 0) {
		rr.next = j->cursor;
		rr.index = j->cursor_index - 1;
	}
	while (j->n < RELAY_RCPT_MAX &&
	    spool_rcpt_next(&j->m, &rr, err, sizeof(err)) == 1) {
		if (rr.status != SPOOL_PENDING || attempted(j, rr.index))
			continue;
		if ((d = route_of(j->tb, rr.addr, &local)) == NULL)
			continue;	/* delivered here, or failed above */
		dom = table_rcpt_domain(j->tb, rr.addr, &bare);
		if (j->route == NULL) {
			j->route = d;
			snprintf(j->domain, sizeof(j->domain), "%s", dom);
			j->cursor = rr.off;
			j->cursor_index = rr.index;
		} else if (d != j->route || (d->target == 0 &&
		    strcasecmp(dom, j->domain) != 0))
			continue;	/* another route, or another MX */
		j->attempted[rr.index / 8] |= 1u << (rr.index % 8);
		snprintf(j->addr[j->n], sizeof(j->addr[j->n]), "%s", rr.addr);
		memset(&j->rc[j->n], 0, sizeof(j->rc[j->n]));
		j->rc[j->n].addr = j->addr[j->n];
		j->off[j->n] = rr.off;
		j->idx[j->n] = rr.index;
		j->n++;
	}
	return j->route != NULL;
}

/*
 * Start the group next_group() chose: look its next hop up and hand it
 * to a session.  Returns 1 if it is under way (on_dns() or on_done()
 * carries on from the loop), 0 if it is over already (the results are
 * in j->rc: record them).
 */
static int
start_group(struct relay_job *j)
{
	const struct relay_env		*e = &j->r->env;
	const struct ptab		*t = &j->tb->t;
	const struct ptab_domain_rec	*d = j->route;
	const char			*target;
	uint16_t			 port;

	j->cf.loop = e->loop;
	j->cf.log = e->log;
	j->cf.sid = j->id;
	j->cf.helo = j->tb->hostname;
	j->cf.to = &j->to;
	j->cf.key = e->key;
	j->cf.src4 = e->src4 != NULL && e->src4->family ? e->src4 : NULL;
	j->cf.src6 = e->src6 != NULL && e->src6->family ? e->src6 : NULL;
	j->cf.oplog = e->oplog;
	j->cf.keep = !j->r->stopped;
	j->peered = 0;
	smtpc_route_from_ptab(&j->rt, t, d);
	port = d->port ? d->port : 25;
	target = d->target != 0 ? ptab_str(t, d->target) : NULL;
	rlog(j, "%zu recipient%s for %s via %s port %u (line %u)", j->n,
	    j->n == 1 ? "" : "s", j->domain, target ? target : "mx",
	    (unsigned)port, d->line);
	if (!j->r->dns_ok && (target == NULL ||
	    dns_result_literal(&j->dq.res, target, port) != 1)) {
		memset(&j->dq.res, 0, sizeof(j->dq.res));
		j->dq.res.status = DNS_TEMPFAIL;
		snprintf(j->dq.res.reason, sizeof(j->dq.res.reason),
		    "no resolver");
		return start_session(j);
	}
	if (target == NULL) {
		if (dns_lookup_mx(&j->r->dns, &j->dq, j->domain, port, on_dns,
		    j) != 0)
			goto tempfail;
		return 1;
	}
	if (dns_result_literal(&j->dq.res, target, port) == 1)
		return start_session(j);
	if (dns_lookup_host(&j->r->dns, &j->dq, target, port, on_dns, j) != 0)
		goto tempfail;
	return 1;
tempfail:
	memset(&j->dq.res, 0, sizeof(j->dq.res));
	j->dq.res.status = DNS_TEMPFAIL;
	snprintf(j->dq.res.reason, sizeof(j->dq.res.reason),
	    "too many lookups in flight");
	return start_session(j);
}

/*
 * 1 if a is an address of this host: loopback, the unspecified address
 * (a connection to it reaches this host), or an interface's.
 */
static int
host_local(const struct addr *a)
{
	static const uint8_t	 any[16], one[16] = { [15] = 1 };
	struct ifaddrs		*ifs, *i;
	const uint8_t		*p;
	int			 found = 0;

	if (a->family == ADDR_V4 ? a->a[0] == 127 ||
	    memcmp(a->a, any, 4) == 0 : memcmp(a->a, any, 16) == 0 ||
	    memcmp(a->a, one, 16) == 0)
		return 1;
	if (getifaddrs(&ifs) == -1)
		return 0;
	for (i = ifs; i != NULL && !found; i = i->ifa_next) {
		if (i->ifa_addr == NULL)
			continue;
		if (a->family == ADDR_V4 && i->ifa_addr->sa_family == AF_INET) {
			p = (const uint8_t *)&((struct sockaddr_in *)
			    (void *)i->ifa_addr)->sin_addr;
			found = memcmp(p, a->a, 4) == 0;
		} else if (a->family == ADDR_V6 &&
		    i->ifa_addr->sa_family == AF_INET6) {
			p = (const uint8_t *)&((struct sockaddr_in6 *)
			    (void *)i->ifa_addr)->sin6_addr;
			found = memcmp(p, a->a, 16) == 0;
		}
	}
	freeifaddrs(ifs);
	return found;
}

int
relay_self(const struct ptab *t, const struct sockaddr *sa)
{
	static const uint8_t		 any[16];
	const struct ptab_listener_rec	*lr;
	struct addr			 a;
	uint16_t			 port;
	uint32_t			 i;
	size_t				 alen;
	int				 local = -1;

	memset(&a, 0, sizeof(a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		a.family = ADDR_V4;
		memcpy(a.a, &sin->sin_addr, 4);
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		a.family = ADDR_V6;
		a.len = 128;
		memcpy(a.a, &sin6->sin6_addr, 16);
		port = ntohs(sin6->sin6_port);
		addr_unmap(&a);
	} else
		return 0;
	alen = a.family == ADDR_V4 ? 4 : 16;
	for (i = 0; i < t->nlisteners; i++) {
		lr = &t->listeners[i];
		if (lr->port != port || lr->family != a.family)
			continue;
		if (memcmp(lr->addr, a.a, alen) == 0 ||
		    memcmp(a.a, any, alen) == 0)
			return 1;
		if (memcmp(lr->addr, any, alen) != 0)
			continue;
		if (local == -1)
			local = host_local(&a);
		if (local)
			return 1;
	}
	return 0;
}

/*
 * RFC 5321 5.1: a next hop that is this gateway is a loop, however
 * the route got there (an MX that names us, a `via' or `forward to'
 * host that resolves to one of our listeners).  As Postfix does with
 * MX records, the hosts at our own preference and beyond are dropped;
 * if none is left the mail can never leave and bounces, instead of
 * going round until its Received headers run out.
 */
static void
loop_check(struct relay_job *j)
{
	struct dns_result	*res = &j->dq.res;
	const struct ptab	*t = &j->tb->t;
	uint16_t		 pref = 0;
	size_t			 i, n = 0;
	int			 self = 0;

	for (i = 0; i < res->naddr; i++)
		if (relay_self(t, &res->addr[i].u.sa) &&
		    (!self || res->addr[i].pref < pref)) {
			pref = res->addr[i].pref;
			self = 1;
		}
	if (!self)
		return;
	for (i = 0; i < res->naddr; i++)
		if (res->addr[i].pref < pref)
			res->addr[n++] = res->addr[i];
	res->naddr = n;
	if (n > 0) {
		rlog(j, "%s: the hosts from MX preference %u on are this "
		    "gateway, not tried", j->domain, (unsigned)pref);
		return;
	}
	res->status = DNS_PERMFAIL;
	snprintf(res->dsn, sizeof(res->dsn), "5.4.6");
	snprintf(res->reason, sizeof(res->reason), "mail for %.200s loops back "
	    "to myself", j->domain);
}

/*
 * Hand the group to an outbound session with the next hop's addresses
 * (or why there are none: the session reports that as its results).
 * Returns 1 when the session runs (on_done() follows), 0 when it could
 * not be set up at all (every recipient deferred, in j->rc).
 */
static int
start_session(struct relay_job *j)
{
	char	 err[LIM_ERRMSG];

	if (j->dq.res.status == DNS_OK)
		loop_check(j);
	if (sess_take(j, err, sizeof(err)) == 0)
		return 1;
	fail_group(j, err);
	return 0;
}

/* No session could be set up for the group: every recipient defers. */
static void
fail_group(struct relay_job *j, const char *err)
{
	size_t	 i;

	for (i = 0; i < j->n; i++) {
		j->rc[i].result = SMTPC_DEFERRED;
		j->rc[i].from_peer = 0;
		j->rc[i].reply_at = 0;
		snprintf(j->rc[i].status, sizeof(j->rc[i].status), "4.3.0");
		snprintf(j->rc[i].text, sizeof(j->rc[i].text), "%s", err);
	}
}

/*
 * Go through the groups until one is under way (its callback carries
 * on) or none is left (the round ends).  A loop, not a recursion: the
 * groups that end at once (no session could be set up) may be many.
 */
static void
advance(struct relay_job *j)
{
	while (next_group(j)) {
		if (start_group(j) || record(j))
			return;
	}
	finish(j);
}

/* The lookup is done: start the session, or go on if it cannot. */
static void
on_dns(struct dns_query *q, void *arg)
{
	struct relay_job	*j = arg;

	(void)q;
	if (start_session(j) || record(j))
		return;
	advance(j);
}

/*
 * The group's session is over: give the session back (parked, if it
 * may carry another message, before the spool's work, so that a job
 * waiting for it goes on meanwhile), then record the outcomes.
 */
static void
on_done(struct smtpc *c, void *arg)
{
	struct relay_job	*j = arg;
	struct stats		*st = j->r->env.stats;

	snprintf(j->peer, sizeof(j->peer), "%s", smtpc_peer_name(c));
	j->peered = 1;
	STATS_ADD(st, out_sessions_opened, c->use.connects);
	STATS_ADD(st, out_sessions_reused, c->use.reused ? 1 : 0);
	sess_give(j);
	if (!record(j))
		advance(j);
}

/* ---- the sessions ---------------------------------------------------- */

static int
same_addr(const struct dns_addr *a, const struct dns_addr *b)
{
	return a->len == b->len && a->len > 0 &&
	    memcmp(&a->u, &b->u, a->len) == 0;
}

/*
 * 1 if s is parked and still open.  One that closed by itself (its
 * idle time over, or the peer gone) lets go of what it held here.
 */
static int
sess_idle(struct relay_sess *s)
{
	if (s == NULL || !s->parked)
		return 0;
	if (smtpc_kept(&s->c))
		return 1;
	sess_unpark(s);
	return 0;
}

/* A parked session is taken or closed: the table and anchors go. */
static void
sess_unpark(struct relay_sess *s)
{
	if (!s->parked)
		return;
	s->parked = 0;
	if (s->creds != NULL)
		tls_client_creds_unref(s->creds);
	if (s->tb != NULL)
		table_unref(s->tb);
	s->creds = NULL;
	s->tb = NULL;
	s->route = NULL;
}

static void
sess_close(struct relay_sess *s, const char *why)
{
	smtpc_close(&s->c, why);
	sess_unpark(s);
}

/* Close every parked session. */
static void
sess_flush(struct relay *r, const char *why)
{
	size_t	 i;

	for (i = 0; i < RELAY_SESSIONS; i++)
		if (sess_idle(r->sess[i]))
			sess_close(r->sess[i], why);
}

/* Sessions to next hop d: busy, or parked and open. */
static unsigned
sess_count(struct relay *r, const struct dns_addr *d)
{
	struct relay_sess	*s;
	unsigned		 n = 0;
	size_t			 i;

	for (i = 0; i < RELAY_SESSIONS; i++) {
		s = r->sess[i];
		if (s != NULL && (s->job != NULL || sess_idle(s)) &&
		    same_addr(&s->dest, d))
			n++;
	}
	return n;
}

/*
 * A parked session fit for j's group: the same table, route and trust
 * anchors, and connected to one of the group's next hop addresses by
 * the same name.  The one parked last, which is the least likely to
 * have been dropped by its peer.
 */
static struct relay_sess *
sess_fit(struct relay_job *j)
{
	struct relay_sess	*s, *best = NULL;
	size_t			 i;

	for (i = 0; i < RELAY_SESSIONS; i++) {
		s = j->r->sess[i];
		if (!sess_idle(s) || s->tb != j->tb || s->route != j->route ||
		    s->creds != j->cf.creds ||
		    !smtpc_fits(&s->c, &j->dq.res))
			continue;
		if (best == NULL || s->parked_at > best->parked_at)
			best = s;
	}
	return best;
}

/* A parked session to next hop d, of any route. */
static struct relay_sess *
sess_parked_to(struct relay *r, const struct dns_addr *d)
{
	size_t	 i;

	for (i = 0; i < RELAY_SESSIONS; i++)
		if (sess_idle(r->sess[i]) && same_addr(&r->sess[i]->dest, d))
			return r->sess[i];
	return NULL;
}

/*
 * A free slot for a new session (allocated the first time): if there
 * is none, the session parked longest is closed for it.  NULL only
 * when memory runs out.
 */
static struct relay_sess *
sess_slot(struct relay *r)
{
	struct relay_sess	*s, *old = NULL;
	size_t			 i;

	for (i = 0; i < RELAY_SESSIONS; i++) {
		if ((s = r->sess[i]) == NULL) {
			if ((s = calloc(1, sizeof(*s))) == NULL)
				break;
			r->sess[i] = s;
			return s;
		}
		if (s->job != NULL)
			continue;
		if (!sess_idle(s))
			return s;
		if (old == NULL || s->parked_at < old->parked_at)
			old = s;
	}
	if (old != NULL)
		sess_close(old, "room for another session");
	return old;
}

/*
 * A session for j's group: a parked one that fits, or a new one.  When
 * the next hop has RELAY_DEST_MAX sessions already, a parked one (of
 * another route) is closed to make room, or, if all are busy, the job
 * waits for one to end (on_kick() starts it again).  Returns 0 if the
 * session runs or the job waits (on_done() follows), -1 with the
 * reason when it could not be set up.
 */
static int
sess_take(struct relay_job *j, char *err, size_t errlen)
{
	struct relay		*r = j->r;
	const struct dns_result	*res = &j->dq.res;
	const struct dns_addr	*dest = NULL;
	struct relay_sess	*s;
	char			 to[PLOG_ENDPOINT_SIZE];
	unsigned		 n;

	if (res->status == DNS_OK && res->naddr > 0)
		dest = &res->addr[0];
	if (dest != NULL && r->kick_ok && queued_before(j, dest))
		goto wait;
	if (dest != NULL && (s = sess_fit(j)) != NULL) {
		sess_unpark(s);
		s->job = j;
		j->s = s;
		j->waiting = 0;
		if (smtpc_reuse(&s->c, &j->cf, &j->rt, res, &j->m, j->rc, j->n,
		    on_done, j, err, errlen) != 0)
			goto fail;
		return 0;
	}
	if (dest != NULL && r->kick_ok &&
	    (n = sess_count(r, dest)) >= RELAY_DEST_MAX) {
		for (; n >= RELAY_DEST_MAX && (s = sess_parked_to(r,
		    dest)) != NULL; n--)
			sess_close(s, "room for another route");
		if (n >= RELAY_DEST_MAX)
			goto wait;
	}
	if ((s = sess_slot(r)) == NULL) {
		snprintf(err, errlen, "out of memory for a session");
		return -1;
	}
	s->job = j;
	j->s = s;
	j->waiting = 0;
	memset(&s->dest, 0, sizeof(s->dest));
	if (dest != NULL)
		s->dest = *dest;
	if (smtpc_start(&s->c, &j->cf, &j->rt, res, &j->m, j->rc, j->n,
	    on_done, j, err, errlen) != 0)
		goto fail;
	return 0;
fail:
	s->job = NULL;
	j->s = NULL;
	return -1;
wait:
	if (!j->waiting) {
		j->waiting = ++r->turn;
		if (plog_endpoint(&dest->u.sa, dest->len, to, sizeof(to)) == -1)
			snprintf(to, sizeof(to), "?");
		rlog(j, "waiting for a session to %s (%u at most)", to,
		    RELAY_DEST_MAX);
	}
	return 0;
}

/*
 * 1 if another job began to wait for a session to next hop d before j
 * did (or while j does not wait): j waits behind it, so that a job
 * that comes later does not take the session the first is waiting for.
 */
static int
queued_before(const struct relay_job *j, const struct dns_addr *d)
{
	const struct relay_job	*o;
	size_t			 i;

	for (i = 0; i < RELAY_JOBS; i++) {
		o = j->r->jobs[i];
		if (o == NULL || o == j || !o->busy || !o->waiting ||
		    (j->waiting && o->waiting > j->waiting))
			continue;
		if (o->dq.res.naddr > 0 && same_addr(&o->dq.res.addr[0], d))
			return 1;
	}
	return 0;
}

/*
 * Park s, which j's group has just used, for another message: with
 * copies of what it needs that do not live in the job, and a hold on
 * the table and anchors that the job is about to let go of.
 */
static void
sess_park(struct relay_sess *s, struct relay_job *j)
{
	struct relay		*r = j->r;
	struct relay_sess	*o, *old = NULL;
	size_t			 i, n = 0;

	for (i = 0; i < RELAY_SESSIONS; i++) {
		o = r->sess[i];
		if (o == s || !sess_idle(o))
			continue;
		n++;
		if (old == NULL || o->parked_at < old->parked_at)
			old = o;
	}
	if (n >= RELAY_IDLE_MAX && old != NULL)
		sess_close(old, "too many idle sessions");
	s->tb = j->tb;
	table_ref(s->tb);
	s->route = j->route;
	if ((s->creds = j->cf.creds) != NULL)
		tls_client_creds_ref(s->creds);
	snprintf(s->sid, sizeof(s->sid), "%s", j->id);
	s->to = j->to;
	s->cf = j->cf;
	s->cf.sid = s->sid;
	s->cf.to = &s->to;
	s->rt = j->rt;		/* its strings are the table's */
	s->dest = s->c.peer;
	s->parked_at = loop_now(r->env.loop);
	s->parked = 1;
	if (smtpc_park(&s->c, &s->cf, &s->rt, RELAY_IDLE_MS) != 0)
		sess_unpark(s);
}

/*
 * j's group is over: its session is parked if it was kept and may
 * carry more (not under an old table, not past its bounds, not while
 * stopping), else closed; and the jobs waiting for a session are
 * looked at again.
 */
static void
sess_give(struct relay_job *j)
{
	struct relay		*r = j->r;
	struct relay_sess	*s = j->s;
	const char		*why = NULL;
	uint64_t		 now = loop_now(r->env.loop);

	if (s == NULL)
		return;
	j->s = NULL;
	s->job = NULL;
	if (smtpc_kept(&s->c)) {
		if (r->stopped)
			why = "shutting down";
		else if (j->tb != *r->env.table)
			why = "the policy changed";
		else if (s->c.use.messages >= RELAY_SESSION_MSGS)
			why = "message limit of the session reached";
		else if (now - s->c.use.since >= RELAY_SESSION_AGE_MS)
			why = "time limit of the session reached";
		if (why != NULL)
			smtpc_close(&s->c, why);
		else
			sess_park(s, j);
	}
	if (r->turn > 0 && r->kick_ok && loop_soon(r->env.loop, &r->kick) != 0)
		r->kick_ok = 0;
}

/*
 * Sessions have ended or been parked: the jobs waiting for one try
 * again, in the order they began to wait.
 */
static void
on_kick(struct loop *L, void *arg)
{
	struct relay		*r = arg;
	struct relay_job	*j, *first;
	char			 err[LIM_ERRMSG];
	uint64_t		 after = 0;
	size_t			 i, k;

	r->kick_ok = loop_timer_arm(L, &r->kick, UINT64_MAX) == 0;
	for (k = 0; k < RELAY_JOBS; k++) {
		first = NULL;
		for (i = 0; i < RELAY_JOBS; i++) {
			j = r->jobs[i];
			if (j != NULL && j->busy && j->waiting > after &&
			    (first == NULL || j->waiting < first->waiting))
				first = j;
		}
		if (first == NULL)
			break;
		after = first->waiting;
		if (sess_take(first, err, sizeof(err)) == 0)
			continue;
		first->waiting = 0;
		fail_group(first, err);
		if (!record(first))
			advance(first);
	}
	/* Nobody waits any more: the turns start again. */
	for (i = 0; i < RELAY_JOBS; i++)
		if (r->jobs[i] != NULL && r->jobs[i]->busy &&
		    r->jobs[i]->waiting)
			return;
	r->turn = 0;
}

/*
 * The last try of an expired message deferred: say so in the bounce,
 * with what went wrong.  A next hop's reply stays as it was (it is the
 * bounce's Diagnostic-Code); the status says the time ran out (RFC
 * 3463 4.4.7, which the bounce reports as 5.4.7) unless the reply had
 * its own.
 */
static void
expire_text(struct smtpc_rcpt *rc)
{
	char	 buf[sizeof(rc->text)];
	int	 n;

	if (rc->from_peer) {
		if (rc->status[0] == '\0')
			snprintf(rc->status, sizeof(rc->status), "4.4.7");
		return;
	}
	n = snprintf(buf, sizeof(buf), "delivery time expired; the last "
	    "attempt: %s", rc->text);
	if (n < 0)
		return;
	memcpy(rc->text, buf, sizeof(rc->text));
	snprintf(rc->status, sizeof(rc->status), "4.4.7");
}

/*
 * Record a group's outcomes in the spool (and bounce the failures).
 * Returns 1 while the bounce is in flight (on_bounced goes on), 0 when
 * the round may go on now.
 */
static int
record(struct relay_job *j)
{
	const struct ptab	*t = &j->tb->t;
	struct dsn_rcpt		 fr;
	const char		*peer = j->peered ? j->peer : NULL;
	time_t			 now = time(NULL);
	int			 expired;
	size_t			 i;

	expired = dsn_expired(j->m.received, now, t->server->lifetime);
	for (i = 0; i < j->n; i++) {
		struct smtpc_rcpt *rc = &j->rc[i];

		switch (rc->result) {
		case SMTPC_DELIVERED:
			if (mark(j->r, &j->m, j->off[i], SPOOL_DELIVERED) != 0)
				j->deferred = 1;
			STATS_ADD(j->r->env.stats, rcpt_delivered, 1);
			rlog(j, "delivered <%s>: %s", rc->addr, rc->text);
			continue;
		case SMTPC_BOUNCED:
			rlog(j, "failed <%s>: %s", rc->addr, rc->text);
			break;
		default:
			rlog(j, "deferred <%s>: %s", rc->addr, rc->text);
			spool_state_rcpt(&j->sw, j->idx[i], rc->text);
			if (!expired) {
				STATS_ADD(j->r->env.stats, rcpt_deferred, 1);
				j->deferred = 1;
				continue;
			}
			rlog(j, "expired <%s>: the queue lifetime is over",
			    rc->addr);
			expire_text(rc);
			break;
		}
		memset(&fr, 0, sizeof(fr));
		fr.addr = rc->addr;
		fr.status = rc->status[0] ? rc->status : NULL;
		/*
		 * The reply alone is the Diagnostic-Code; our words, when
		 * they explain it (or stand for it), go beside.
		 */
		fr.reply = rc->from_peer ? rc->text + rc->reply_at : NULL;
		fr.reason = !rc->from_peer || rc->reply_at > 0 ? rc->text :
		    NULL;
		fr.remote_mta = peer;
		fr.last_attempt = now;
		if (dsn_batch_add(&j->failed, j->off[i], &fr) == 0)
			STATS_ADD(j->r->env.stats, rcpt_bounced, 1);
	}
	if (j->failed.n == 0)
		return 0;
	j->unrouted = 0;
	if (bounce(j) == 0)
		return 1;
	if (j->failed.rc == -1)
		j->deferred = 1;
	return 0;
}

/*
 * End of the round: date the file for its next attempt, or remove it.
 * The marks, the state and the removal are the commit thread's; the
 * job holds the message until they are on disk (on_settled), so that
 * no other job delivers it again meanwhile.
 */
static void
finish(struct relay_job *j)
{
	const struct relay_env	*e = &j->r->env;
	const struct ptab	*t = &j->tb->t;
	struct spool_rcpt	 rr;
	struct timespec		 ts[2];
	char			 err[LIM_ERRMSG];
	size_t			 pending = 0;
	int			 rc, remove;

	memset(&rr, 0, sizeof(rr));
	while ((rc = spool_rcpt_next(&j->m, &rr, err, sizeof(err))) == 1)
		if (rr.status == SPOOL_PENDING)
			pending++;
	remove = rc == 0 && pending == 0;
	/* A date is metadata: futimens does not wait for the disk. */
	if (!remove && j->deferred) {
		ts[0].tv_sec = ts[1].tv_sec = (time_t)dsn_next_retry(
		    j->m.received, time(NULL), t->server->retry,
		    t->server->lifetime);
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		if (futimens(j->m.fd, ts) != 0)
			oplog_write(e->oplog, LOG_WARNING, "queue %s: "
			    "cannot date the next attempt: %s", j->id,
			    strerror(errno));
		else
			rlog(j, "next attempt in %lld s", (long long)
			    (ts[0].tv_sec - time(NULL)));
		if (e->retry_at != NULL)
			e->retry_at(e->arg, j->id, (int64_t)ts[0].tv_sec);
	}
	j->settling = 1;
	if (spool_settle_start(e->spool, &j->settle, e->commit, &j->m,
	    &j->sw, remove, on_settled, j) == 1) {
		rc = spool_settle_result(&j->settle, err, sizeof(err));
		on_settled(&j->settle, rc, err, j);
	}
}

/* The round's end is on disk (or could not be made so): let go. */
static void
on_settled(struct spool_settle *s, int rc, const char *err, void *arg)
{
	struct relay_job	*j = arg;

	if (rc != 0)
		oplog_write(j->r->env.oplog, LOG_ERR, "queue %s: %s", j->id,
		    err);
	else if (s->remove && j->r->env.retry_at != NULL)
		j->r->env.retry_at(j->r->env.arg, j->id, 0);	/* gone */
	j->settling = 0;
	release(j);
}

/*
 * The job lets go of what it held: the table and the trust anchors.
 * If a due message was turned away for want of a job, the queue is
 * looked at again now rather than at the next retry interval, which
 * may be minutes away.
 */
static void
release(struct relay_job *j)
{
	struct relay	*r = j->r;

	if (j->cf.creds != NULL)
		tls_client_creds_unref(j->cf.creds);
	j->cf.creds = NULL;
	table_unref(j->tb);
	j->tb = NULL;
	j->busy = 0;
	if (r->starved) {
		r->starved = 0;
		if (r->env.room != NULL)
			r->env.room(r->env.arg);
	}
}
