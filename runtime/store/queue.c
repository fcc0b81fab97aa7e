/*
 * queue: delivery of spooled messages (see queue.h).  Each message is
 * opened, its Maildir recipients delivered (or failed into a bounce),
 * and what is left is handed to the route hook.
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
#include "queue.h"

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
	if (loop_soon(q->env.loop, &q->run) != 0)
		oplog_write(q->env.oplog, LOG_ERR, "queue: no timer left");
}

void
queue_init(struct queue *q, const struct queue_env *env)
{
	memset(q, 0, sizeof(*q));
	q->env = *env;
	dsn_batch_init(&q->failed, env->spool, env->log, env->oplog, "local");
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
	(void)plog_vwritef(q->env.log, id, "-", "local", PLOG_DECISION, fmt,
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

	if (q->stopped)
		return;
	if (q->dir != NULL) {
		/*
		 * A scan is under way, but what it has passed may be due
		 * now (the outbound side asks when it has room): once
		 * more after.
		 */
		q->overflow = 1;
		return;
	}
	if ((fd = dup(q->env.spool->queue)) == -1 ||
	    (q->dir = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		oplog_write(q->env.oplog, LOG_ERR, "queue: cannot read the "
		    "spool: %s", strerror(errno));
	} else
		rewinddir(q->dir);
	q->overflow = 0;
	if (!loop_timer_armed(&q->run))
		soon(q);
	if (loop_timer_arm(q->env.loop, &q->rescan,
	    (uint64_t)(*q->env.table)->t.server->retry * 1000) != 0)
		oplog_write(q->env.oplog, LOG_ERR, "queue: no timer left for "
		    "retries");
}

void
queue_stop(struct queue *q)
{
	q->stopped = 1;
	loop_timer_cancel(q->env.loop, &q->run);
	loop_timer_cancel(q->env.loop, &q->rescan);
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
	if (q->stopped)
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
 * the route hook (the outbound side, which also fails what expires).
 */
static void
deliver(struct queue *q, const char *id)
{
	const struct queue_env		*e = &q->env;
	const struct table		*tb = *e->table;
	const struct ptab		*t = &tb->t;
	const struct ptab_domain_rec	*d;
	struct spool_msg		 m;
	struct spool_rcpt		 r;
	struct dsn_rcpt			 fr;
	char				 err[LIM_ERRMSG], merr[LIM_ERRMSG];
	char				 reason[LIM_ERRMSG];
	char				 bounce[SPOOL_ID_SIZE];
	const char			*domain;
	struct stat			 st;
	struct timespec			 date[2];
	int				 rc, pending = 0, dated = 0, marked = 0;
	int				 expired;

	/* A message out with an outbound session is that session's. */
	if (e->busy != NULL && e->busy(e->arg, id))
		return;
	rc = spool_msg_open(e->spool, &m, id, err, sizeof(err));
	if (rc == 0)
		return;		/* delivered meanwhile */
	if (rc == -1) {
		if (m.damaged && spool_quarantine(e->spool, id, err, merr,
		    sizeof(merr)) == 0)
			qlog(q, id, "damaged, moved to corrupt/: %s", err);
		else
			oplog_write(e->oplog, LOG_WARNING, "queue %s: %s", id,
			    err);
		return;
	}
	/*
	 * A date ahead is the outbound side's next attempt; marking a
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
		domain = table_rcpt_domain(tb, r.addr, NULL);
		d = ptab_accept_lookup(t, domain, strlen(domain));
		if (d == NULL || d->delivery != PTAB_DELIVER_MAILDIR) {
			pending++;	/* for the route hook */
			continue;
		}
		rc = maildir_deliver(&m, r.addr, ptab_str(t, d->target),
		    e->base, merr, sizeof(merr));
		if (rc == 1) {
			marked = 1;
			if (spool_mark(&m, &r, SPOOL_DELIVERED, err,
			    sizeof(err)) != 0) {
				oplog_write(e->oplog, LOG_ERR, "queue %s: %s",
				    id, err);
				pending++;
			}
			STATS_ADD(e->stats, rcpt_delivered, 1);
			qlog(q, id, "delivered <%s> to maildir (line %u)",
			    r.addr, d->line);
		} else if ((rc == 0 || expired) &&
		    q->failed.n < DSN_BATCH_MAX) {
			/*
			 * For good, or the last try of an expired message:
			 * it goes back to the sender below.
			 */
			qlog(q, id, "%s <%s>: %s", rc == 0 ? "failed" :
			    "expired, failed", r.addr, merr);
			/* Cut short if need be: the start says why. */
			if (snprintf(reason, sizeof(reason), "%s%s",
			    rc == 0 ? "" : "delivery time expired; the last "
			    "attempt: ", merr) < 0)
				reason[0] = '\0';
			memset(&fr, 0, sizeof(fr));
			fr.addr = r.addr;
			fr.status = rc == 0 ? "5.2.0" : "4.4.7";
			fr.reason = reason;
			if (dsn_batch_add(&q->failed, r.off, &fr) == 0)
				STATS_ADD(e->stats, rcpt_bounced, 1);
		} else {
			pending++;
			STATS_ADD(e->stats, rcpt_deferred, 1);
			qlog(q, id, "deferred <%s>: %s", r.addr, merr);
		}
	}
	if (rc == -1) {
		oplog_write(e->oplog, LOG_WARNING, "queue %s: %s", id, err);
		q->failed.n = 0;
		spool_msg_close(&m);
		return;
	}
	if (q->failed.n > 0) {
		marked = 1;
		rc = dsn_bounce_batch(&q->failed, &m, tb->hostname, 0, bounce);
		if (rc == -1)
			pending++;
		else if (rc == 1)
			queue_committed(q, bounce);
	}
	if (pending == 0) {
		if (spool_msg_remove(e->spool, &m, err, sizeof(err)) != 0)
			oplog_write(e->oplog, LOG_ERR, "queue %s: %s", id, err);
		return;
	}
	if (dated && marked && futimens(m.fd, date) != 0)
		oplog_write(e->oplog, LOG_WARNING, "queue %s: cannot keep the "
		    "date of the next attempt: %s", id, strerror(errno));
	spool_msg_close(&m);
	if (e->route != NULL)
		e->route(e->arg, id);
}
