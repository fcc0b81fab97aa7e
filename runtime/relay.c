/*
 * relay: outbound delivery of queued messages (see relay.h).  A job
 * takes one message through one round: the recipients with no route
 * fail at once, then each route's recipients go to one outbound
 * session in turn, and the round ends by dating the file for its next
 * attempt, or removing it when nothing is left to deliver.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "bastion_limits.h"
#include "relay.h"
#include "server.h"

static void	rlog(struct relay_job *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static const char *hostname(const struct server *);
static const struct ptab_domain_rec *route_of(const struct ptab *,
		    const char *, int *);
static int	next_group(struct relay_job *);
static void	on_dns(struct dns_query *, void *);
static void	on_done(struct smtpc *, void *);
static void	group_done(struct relay_job *);
static void	finish(struct relay_job *);
static int	mark(struct server *, struct spool_msg *, uint64_t, int);

int
relay_init(struct relay *r, struct server *srv, char *err, size_t errlen)
{
	struct dns_config	 cf;

	memset(r, 0, sizeof(*r));
	r->srv = srv;
	memset(&cf, 0, sizeof(cf));
	/* Tests point the resolver at a server on loopback. */
	cf.servers = getenv("BASTION_RESOLVERS");
	if (dns_init(&r->dns, &srv->loop, &cf, err, errlen) != 0)
		return -1;
	r->dns_ok = 1;
	return 0;
}

void
relay_free(struct relay *r)
{
	size_t	 i;

	relay_stop(r);
	for (i = 0; i < RELAY_JOBS; i++)
		free(r->jobs[i]);
	if (r->dns_ok)
		dns_free(&r->dns);
	memset(r->jobs, 0, sizeof(r->jobs));
	r->dns_ok = 0;
}

void
relay_stop(struct relay *r)
{
	struct relay_job	*j;
	size_t			 i;

	for (i = 0; i < RELAY_JOBS; i++) {
		if ((j = r->jobs[i]) == NULL || !j->busy)
			continue;
		dns_cancel(&j->dq);
		if (j->c.cf != NULL)	/* a session was started */
			smtpc_abort(&j->c, "shutting down");
		spool_msg_close(&j->m);
		table_unref(j->tb);
		j->busy = 0;
	}
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

static const char *
hostname(const struct server *srv)
{
	const struct ptab	*t = &srv->table->t;
	const char		*h = ptab_str(t, t->server->hostname);

	return *h ? h : srv->hostname;
}

/* Protocol log lines of the outbound side: the queue id, then "relay". */
static void
rlog(struct relay_job *j, const char *fmt, ...)
{
	char	 buf[PLOG_TEXT_MAX];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	plog_write(&j->r->srv->log, NULL, j->id, "-", "relay", PLOG_DECISION,
	    buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/*
 * The route for a recipient domain: a `forward to` of its accept rule,
 * else the best outbound rule.  *local is set when the mail is ours to
 * deliver here (a Maildir rule).  NULL: no route.
 */
static const struct ptab_domain_rec *
route_of(const struct ptab *t, const char *domain, int *local)
{
	const struct ptab_domain_rec	*d;

	*local = 0;
	if ((d = ptab_accept_lookup(t, domain, strlen(domain))) != NULL) {
		if (d->delivery == PTAB_DELIVER_MAILDIR) {
			*local = 1;
			return NULL;
		}
		return d;
	}
	return ptab_outbound_lookup(t, domain, strlen(domain));
}

static const char *
domain_of(const char *addr)
{
	const char	*at = strrchr(addr, '@');

	return at != NULL ? at + 1 : "";
}

static int
mark(struct server *srv, struct spool_msg *m, uint64_t off, int status)
{
	struct spool_rcpt	 r;
	char			 err[LIM_ERRMSG];

	memset(&r, 0, sizeof(r));
	r.off = off;
	if (spool_mark(m, &r, status, err, sizeof(err)) != 0) {
		server_log(srv, LOG_ERR, "queue %s: %s", m->id, err);
		return -1;
	}
	return 0;
}

int
relay_fail(struct server *srv, struct spool_msg *m,
    const struct dsn_rcpt *fr, const uint64_t *recs, size_t n)
{
	char	 newid[SPOOL_ID_SIZE], err[LIM_ERRMSG], line[PLOG_TEXT_MAX];
	size_t	 i;
	int	 rc, len;

	if (n == 0)
		return 0;
	rc = dsn_bounce(&srv->spool, m, hostname(srv), fr, n, time(NULL),
	    newid, err, sizeof(err));
	if (rc == -1) {
		server_log(srv, LOG_ERR, "queue %s: cannot queue a bounce: %s",
		    m->id, err);
		return -1;
	}
	if (rc == 1) {
		len = snprintf(line, sizeof(line), "bounce for %zu "
		    "recipient%s queued as %s", n, n == 1 ? "" : "s", newid);
		queue_committed(&srv->queue, newid);
	} else
		len = snprintf(line, sizeof(line), "%zu recipient%s failed; "
		    "no bounce for a message from the null sender", n,
		    n == 1 ? "" : "s");
	plog_write(&srv->log, NULL, m->id, "-", "relay", PLOG_DECISION,
	    line, (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1);
	for (i = 0; i < n; i++)
		(void)mark(srv, m, recs[i], SPOOL_FAILED);
	return 0;
}

int
relay_start(struct relay *r, const char *id)
{
	struct server		*srv = r->srv;
	const struct ptab	*t = &srv->table->t;
	struct relay_job	*j = NULL;
	struct spool_rcpt	 rr;
	struct dsn_rcpt		 fr[RELAY_RCPT_MAX];
	uint64_t		 recs[RELAY_RCPT_MAX];
	struct stat		 st;
	char			 err[LIM_ERRMSG];
	time_t			 now = time(NULL);
	size_t			 i, n = 0;
	int			 rc;

	if (relay_busy(r, id))
		return 1;
	for (i = 0; i < RELAY_JOBS; i++) {
		if (r->jobs[i] == NULL &&
		    (r->jobs[i] = calloc(1, sizeof(*j))) == NULL)
			break;
		if (!r->jobs[i]->busy) {
			j = r->jobs[i];
			break;
		}
	}
	if (j == NULL)
		return 0;	/* all busy: the rescan comes back */
	memset(j, 0, sizeof(*j));
	j->r = r;
	rc = spool_msg_open(&srv->spool, &j->m, id, err, sizeof(err));
	if (rc != 1) {
		if (rc == -1)
			server_log(srv, LOG_WARNING, "queue %s: %s", id, err);
		return 0;
	}
	/* The file's date is its next attempt. */
	if (fstat(j->m.fd, &st) == 0 && st.st_mtime > now) {
		spool_msg_close(&j->m);
		return 0;
	}
	snprintf(j->id, sizeof(j->id), "%s", id);
	j->busy = 1;
	j->tb = srv->table;
	table_ref(j->tb);

	/* Past its lifetime: everything still pending fails now. */
	if (dsn_expired(j->m.received, now, t->server->lifetime)) {
		memset(&rr, 0, sizeof(rr));
		while (n < RELAY_RCPT_MAX &&
		    spool_rcpt_next(&j->m, &rr, err, sizeof(err)) == 1) {
			if (rr.status != SPOOL_PENDING)
				continue;
			snprintf(j->addr[n], sizeof(j->addr[n]), "%s", rr.addr);
			memset(&fr[n], 0, sizeof(fr[n]));
			fr[n].addr = j->addr[n];
			fr[n].status = "4.4.7";
			fr[n].reason = "delivery time expired: the message "
			    "stayed in the queue for its whole lifetime";
			recs[n++] = rr.off;
		}
		rlog(j, "expired with %zu recipient%s pending", n,
		    n == 1 ? "" : "s");
		(void)relay_fail(srv, &j->m, fr, recs, n);
		finish(j);
		return 0;
	}
	if (next_group(j) == 0)
		finish(j);
	return 1;
}

/*
 * Gather the next route's pending recipients and start on them.
 * Recipients with no route at all fail first.  Returns 1 if a group is
 * under way, 0 if there is none left this round.
 */
static int
next_group(struct relay_job *j)
{
	struct server			*srv = j->r->srv;
	const struct ptab		*t = &j->tb->t;
	const struct ptab_domain_rec	*d;
	struct spool_rcpt		 rr;
	struct dsn_rcpt			 fr[RELAY_RCPT_MAX];
	uint64_t			 recs[RELAY_RCPT_MAX];
	char				 err[LIM_ERRMSG];
	const char			*dom, *target;
	size_t				 i, nf = 0;
	int				 local, tried;
	uint16_t			 port;

	/* No route: bounce (RFC 5321 5.1 has nowhere to send it). */
	memset(&rr, 0, sizeof(rr));
	while (nf < RELAY_RCPT_MAX &&
	    spool_rcpt_next(&j->m, &rr, err, sizeof(err)) == 1) {
		if (rr.status != SPOOL_PENDING)
			continue;
		if (route_of(t, domain_of(rr.addr), &local) != NULL || local)
			continue;
		snprintf(j->addr[nf], sizeof(j->addr[nf]), "%s", rr.addr);
		memset(&fr[nf], 0, sizeof(fr[nf]));
		fr[nf].addr = j->addr[nf];
		fr[nf].status = "5.4.4";
		fr[nf].reason = "no route: the policy has no outbound rule "
		    "for this domain";
		recs[nf++] = rr.off;
	}
	if (nf > 0) {
		rlog(j, "%zu recipient%s without a route", nf,
		    nf == 1 ? "" : "s");
		(void)relay_fail(srv, &j->m, fr, recs, nf);
	}

	/* The first pending recipient of a route not tried this round. */
	j->n = 0;
	j->route = NULL;
	memset(&rr, 0, sizeof(rr));
	while (j->n < RELAY_RCPT_MAX &&
	    spool_rcpt_next(&j->m, &rr, err, sizeof(err)) == 1) {
		if (rr.status != SPOOL_PENDING)
			continue;
		dom = domain_of(rr.addr);
		if ((d = route_of(t, dom, &local)) == NULL)
			continue;
		if (j->route == NULL) {
			for (tried = 0, i = 0; i < j->ntried; i++)
				if (j->tried[i] == d)
					tried = 1;
			if (tried)
				continue;
			j->route = d;
			snprintf(j->domain, sizeof(j->domain), "%s", dom);
		} else if (d != j->route || (d->target == 0 &&
		    strcasecmp(dom, j->domain) != 0))
			continue;	/* another route, or another MX */
		snprintf(j->addr[j->n], sizeof(j->addr[j->n]), "%s", rr.addr);
		memset(&j->rc[j->n], 0, sizeof(j->rc[j->n]));
		j->rc[j->n].addr = j->addr[j->n];
		j->off[j->n] = rr.off;
		j->n++;
	}
	if (j->route == NULL || j->ntried == RELAY_ROUTES_MAX)
		return 0;
	d = j->route;
	j->tried[j->ntried++] = d;

	j->cf.loop = &srv->loop;
	j->cf.log = &srv->log;
	j->cf.sid = j->id;
	j->cf.helo = hostname(srv);
	j->cf.to = NULL;
	j->cf.creds = srv->client_creds;
	j->cf.key = srv->key;
	j->cf.src4 = srv->src4.family ? &srv->src4 : NULL;
	j->cf.src6 = srv->src6.family ? &srv->src6 : NULL;
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
		on_dns(&j->dq, j);
		return 1;
	}
	if (target == NULL) {
		if (dns_lookup_mx(&j->r->dns, &j->dq, j->domain, port, on_dns,
		    j) != 0)
			goto tempfail;
		return 1;
	}
	if (dns_result_literal(&j->dq.res, target, port) == 1) {
		on_dns(&j->dq, j);
		return 1;
	}
	if (dns_lookup_host(&j->r->dns, &j->dq, target, port, on_dns, j) != 0)
		goto tempfail;
	return 1;
tempfail:
	memset(&j->dq.res, 0, sizeof(j->dq.res));
	j->dq.res.status = DNS_TEMPFAIL;
	snprintf(j->dq.res.reason, sizeof(j->dq.res.reason),
	    "too many lookups in flight");
	on_dns(&j->dq, j);
	return 1;
}

/* The next hop's addresses (or why there are none): start the session. */
static void
on_dns(struct dns_query *q, void *arg)
{
	struct relay_job	*j = arg;
	char			 err[LIM_ERRMSG];
	size_t			 i;

	(void)q;
	if (smtpc_start(&j->c, &j->cf, &j->rt, &j->dq.res, &j->m, j->rc, j->n,
	    on_done, j, err, sizeof(err)) != 0) {
		for (i = 0; i < j->n; i++) {
			j->rc[i].result = SMTPC_DEFERRED;
			snprintf(j->rc[i].status, sizeof(j->rc[i].status),
			    "4.3.0");
			snprintf(j->rc[i].text, sizeof(j->rc[i].text), "%s",
			    err);
		}
		group_done(j);
	}
}

static void
on_done(struct smtpc *c, void *arg)
{
	(void)c;
	group_done(arg);
}

/* Record a route's outcomes, then on to the next route. */
static void
group_done(struct relay_job *j)
{
	struct server		*srv = j->r->srv;
	const struct ptab	*t = &j->tb->t;
	struct dsn_rcpt		 fr[RELAY_RCPT_MAX];
	uint64_t		 recs[RELAY_RCPT_MAX];
	const char		*peer = j->c.cf != NULL ? smtpc_peer_name(&j->c) :
				    NULL;
	time_t			 now = time(NULL);
	int			 expired;
	size_t			 i, nf = 0;

	expired = dsn_expired(j->m.received, now, t->server->lifetime);
	for (i = 0; i < j->n; i++) {
		struct smtpc_rcpt *rc = &j->rc[i];

		switch (rc->result) {
		case SMTPC_DELIVERED:
			if (mark(srv, &j->m, j->off[i], SPOOL_DELIVERED) != 0)
				j->deferred = 1;
			rlog(j, "delivered <%s>: %s", rc->addr, rc->text);
			continue;
		case SMTPC_BOUNCED:
			rlog(j, "failed <%s>: %s", rc->addr, rc->text);
			break;
		default:
			rlog(j, "deferred <%s>: %s", rc->addr, rc->text);
			if (!expired) {
				j->deferred = 1;
				continue;
			}
			break;
		}
		memset(&fr[nf], 0, sizeof(fr[nf]));
		fr[nf].addr = rc->addr;
		fr[nf].status = rc->status[0] ? rc->status : NULL;
		fr[nf].reply = rc->from_peer ? rc->text : NULL;
		fr[nf].reason = rc->from_peer ? NULL : rc->text;
		fr[nf].remote_mta = peer;
		fr[nf].last_attempt = now;
		recs[nf++] = j->off[i];
	}
	if (nf > 0 && relay_fail(srv, &j->m, fr, recs, nf) != 0)
		j->deferred = 1;
	if (next_group(j) == 0)
		finish(j);
}

/* End of the round: date the file for its next attempt, or remove it. */
static void
finish(struct relay_job *j)
{
	struct server		*srv = j->r->srv;
	const struct ptab	*t = &j->tb->t;
	struct spool_rcpt	 rr;
	struct timespec		 ts[2];
	char			 err[LIM_ERRMSG];
	size_t			 pending = 0;
	int			 rc;

	memset(&rr, 0, sizeof(rr));
	while ((rc = spool_rcpt_next(&j->m, &rr, err, sizeof(err))) == 1)
		if (rr.status == SPOOL_PENDING)
			pending++;
	if (rc == 0 && pending == 0) {
		if (spool_msg_remove(&srv->spool, &j->m, err, sizeof(err)) != 0)
			server_log(srv, LOG_ERR, "queue %s: %s", j->id, err);
	} else {
		if (j->deferred) {
			ts[0].tv_sec = ts[1].tv_sec = (time_t)dsn_next_retry(
			    j->m.received, time(NULL), t->server->retry,
			    t->server->lifetime);
			ts[0].tv_nsec = ts[1].tv_nsec = 0;
			if (futimens(j->m.fd, ts) != 0)
				server_log(srv, LOG_WARNING, "queue %s: cannot "
				    "date the next attempt: %s", j->id,
				    strerror(errno));
			else
				rlog(j, "next attempt in %lld s", (long long)
				    (ts[0].tv_sec - time(NULL)));
		}
		spool_msg_close(&j->m);
	}
	table_unref(j->tb);
	j->tb = NULL;
	j->busy = 0;
}
