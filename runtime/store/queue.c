/*
 * queue: delivery of spooled messages from inside the event loop.  A
 * committed message is delivered soon after its 250; every retry
 * interval (and at start) the whole of queue/ is looked at again for
 * what is still pending.  One message is handled per loop turn, so a
 * long queue never holds the sessions up for long.
 *
 * Local delivery (`accept for ... deliver maildir`) happens here; a
 * recipient that must go elsewhere (`forward to`, relayed mail for
 * `outbound` routes) is handed to relay.c, and stays pending in the
 * spool until a next hop has taken it: a restart finds it again.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "bastion_limits.h"
#include "maildir.h"
#include "server.h"

static void	on_run(struct loop *, void *);
static void	soon(struct queue *);
static void	on_rescan(struct loop *, void *);
static void	deliver(struct queue *, const char *);
static void	qlog(struct queue *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* Run the queue on the next turn. */
static void
soon(struct queue *q)
{
	if (loop_soon(&q->srv->loop, &q->run) != 0)
		server_log(q->srv, LOG_ERR, "queue: no timer left");
}

void
queue_init(struct queue *q, struct server *srv)
{
	memset(q, 0, sizeof(*q));
	q->srv = srv;
	loop_timer_init(&q->run, on_run, q);
	loop_timer_init(&q->rescan, on_rescan, q);
}

/* Protocol log lines for deliveries: the queue id takes the session's
 * place, and "local" the remote endpoint's. */
static void
qlog(struct queue *q, const char *id, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	(void)plog_vwritef(&q->srv->log, id, "-", "local", PLOG_DECISION, fmt,
	    ap);
	va_end(ap);
}

void
queue_committed(struct queue *q, const char *id)
{
	if (q->count == QUEUE_RECENT) {
		/* The rescan will find it; keep memory fixed. */
		q->overflow = 1;
	} else {
		snprintf(q->recent[(q->head + q->count) % QUEUE_RECENT],
		    SPOOL_ID_SIZE, "%s", id);
		q->count++;
	}
	if (!loop_timer_armed(&q->run))
		soon(q);
}

void
queue_rescan(struct queue *q)
{
	int	 fd;

	if (q->dir != NULL) {
		/*
		 * A scan is under way, but what it has passed may be due
		 * now (relay.c asks when a job is free): once more after.
		 */
		q->overflow = 1;
		return;
	}
	if ((fd = dup(q->srv->spool.queue)) == -1 ||
	    (q->dir = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		server_log(q->srv, LOG_ERR, "queue: cannot read the spool: %s",
		    strerror(errno));
	} else
		rewinddir(q->dir);
	q->overflow = 0;
	if (!loop_timer_armed(&q->run))
		soon(q);
	if (loop_timer_arm(&q->srv->loop, &q->rescan,
	    (uint64_t)q->srv->table->t.server->retry * 1000) != 0)
		server_log(q->srv, LOG_ERR, "queue: no timer left for retries");
}

void
queue_stop(struct queue *q)
{
	loop_timer_cancel(&q->srv->loop, &q->run);
	loop_timer_cancel(&q->srv->loop, &q->rescan);
	if (q->dir != NULL) {
		closedir(q->dir);
		q->dir = NULL;
	}
}

static void
on_rescan(struct loop *L, void *arg)
{
	(void)L;
	queue_rescan(arg);
}

/* One message per turn: recent commits first, then the rescan. */
static void
on_run(struct loop *L, void *arg)
{
	struct queue	*q = arg;
	struct dirent	*de;
	char		 id[SPOOL_ID_SIZE];

	(void)L;
	if (q->srv->stopping)
		return;
	if (q->count > 0) {
		memcpy(id, q->recent[q->head], SPOOL_ID_SIZE);
		q->head = (q->head + 1) % QUEUE_RECENT;
		q->count--;
		deliver(q, id);
	} else if (q->dir != NULL) {
		do {
			errno = 0;
			de = readdir(q->dir);
		} while (de != NULL && !spool_id_valid(de->d_name));
		if (de == NULL) {
			closedir(q->dir);
			q->dir = NULL;
		} else {
			/* spool_id_valid() vouched for its length. */
			memcpy(id, de->d_name, SPOOL_ID_SIZE);
			deliver(q, id);
		}
	} else if (q->overflow) {
		queue_rescan(q);
		return;
	}
	if (q->count > 0 || q->dir != NULL || q->overflow)
		soon(q);
}

/*
 * Deliver what can be delivered here of message id; hand the rest to
 * the outbound side (relay.c), which also fails what has expired.
 */
static void
deliver(struct queue *q, const char *id)
{
	struct server			*srv = q->srv;
	const struct ptab		*t = &srv->table->t;
	const struct ptab_domain_rec	*d;
	struct spool_msg		 m;
	struct spool_rcpt		 r;
	struct dsn_rcpt			 fr[RELAY_RCPT_MAX];
	uint64_t			 recs[RELAY_RCPT_MAX];
	char				 reasons[RELAY_RCPT_MAX][LIM_ERRMSG];
	char				 addrs[RELAY_RCPT_MAX][SPOOL_ADDR_MAX + 1];
	char				 err[LIM_ERRMSG], merr[LIM_ERRMSG];
	const char			*at, *domain;
	struct stat			 st;
	struct timespec			 date[2];
	int				 rc, pending = 0, dated = 0, marked = 0;
	int				 expired;
	size_t				 nf = 0;

	/* A message out with an outbound session is that session's. */
	if (relay_busy(&srv->relay, id))
		return;
	rc = spool_msg_open(&srv->spool, &m, id, err, sizeof(err));
	if (rc == 0)
		return;		/* delivered meanwhile */
	if (rc == -1) {
		if (m.damaged && spool_quarantine(&srv->spool, id, err, merr,
		    sizeof(merr)) == 0)
			qlog(q, id, "damaged, moved to corrupt/: %s", err);
		else
			server_log(srv, LOG_WARNING, "queue %s: %s", id, err);
		return;
	}
	/*
	 * A date ahead is relay.c's next outbound attempt; marking a
	 * recipient writes the file, which would move it to now.
	 */
	if (fstat(m.fd, &st) == 0 && st.st_mtime > time(NULL)) {
		date[0] = st.st_atim;
		date[1] = st.st_mtim;
		dated = 1;
	}
	/* Past its lifetime a Maildir that defers is a failure. */
	expired = dsn_expired(m.received, time(NULL), t->server->lifetime);
	memset(&r, 0, sizeof(r));
	while ((rc = spool_rcpt_next(&m, &r, err, sizeof(err))) == 1) {
		if (r.status != SPOOL_PENDING)
			continue;
		at = strrchr(r.addr, '@');
		domain = at ? at + 1 : (*ptab_str(t, t->server->hostname) ?
		    ptab_str(t, t->server->hostname) : srv->hostname);
		d = ptab_accept_lookup(t, domain, strlen(domain));
		if (d == NULL || d->delivery != PTAB_DELIVER_MAILDIR) {
			pending++;	/* for relay.c */
			continue;
		}
		rc = maildir_deliver(&m, r.addr, ptab_str(t, d->target),
		    srv->base, merr, sizeof(merr));
		if (rc == 1) {
			marked = 1;
			if (spool_mark(&m, &r, SPOOL_DELIVERED, err,
			    sizeof(err)) != 0) {
				server_log(srv, LOG_ERR, "queue %s: %s", id,
				    err);
				pending++;
			}
			qlog(q, id, "delivered <%s> to maildir (line %u)",
			    r.addr, d->line);
		} else if ((rc == 0 || expired) && nf < RELAY_RCPT_MAX) {
			/*
			 * For good, or the last try of an expired message:
			 * it goes back to the sender below.
			 */
			qlog(q, id, "%s <%s>: %s", rc == 0 ? "failed" :
			    "expired, failed", r.addr, merr);
			snprintf(addrs[nf], sizeof(addrs[nf]), "%s", r.addr);
			/* Cut short if need be: the start says why. */
			if (snprintf(reasons[nf], sizeof(reasons[nf]), "%s%s",
			    rc == 0 ? "" : "delivery time expired; the last "
			    "attempt: ", merr) < 0)
				reasons[nf][0] = '\0';
			memset(&fr[nf], 0, sizeof(fr[nf]));
			fr[nf].addr = addrs[nf];
			fr[nf].status = rc == 0 ? "5.2.0" : "4.4.7";
			fr[nf].reason = reasons[nf];
			recs[nf++] = r.off;
		} else {
			pending++;
			qlog(q, id, "deferred <%s>: %s", r.addr, merr);
		}
	}
	if (rc == -1) {
		server_log(srv, LOG_WARNING, "queue %s: %s", id, err);
		spool_msg_close(&m);
		return;
	}
	if (nf > 0) {
		marked = 1;
		if (relay_fail(srv, &m, fr, recs, nf) != 0)
			pending++;
	}
	if (pending == 0) {
		if (spool_msg_remove(&srv->spool, &m, err, sizeof(err)) != 0)
			server_log(srv, LOG_ERR, "queue %s: %s", id, err);
		return;
	}
	if (dated && marked && futimens(m.fd, date) != 0)
		server_log(srv, LOG_WARNING, "queue %s: cannot keep the date "
		    "of the next attempt: %s", id, strerror(errno));
	spool_msg_close(&m);
	(void)relay_start(&srv->relay, id);
}
