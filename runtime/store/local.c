/*
 * local: Maildir delivery of queued messages (see local.h).  A job
 * goes through the message's pending Maildir recipients one after
 * another: the copy is written in the loop, made durable by the commit
 * thread, and noted delivered when it lands; then the round's failures
 * bounce and spool_settle_start() ends it.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "bastion_limits.h"
#include "local.h"

static void	llog(struct local *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static int	scan(struct local *, struct spool_msg *, unsigned *,
		    unsigned *);
static struct local_job *job_get(struct local *);
static int	job_free(const struct local *);
static int	wait_add(struct local *, const char *);
static void	drain(struct local *);
static void	set_aside(struct local *, const char *, const char *);
static void	on_aside(struct commit_job *, void *);
static int	next_rcpt(struct local_job *);
static void	step(struct local_job *);
static void	on_landed(struct commit_job *, void *);
static void	outcome(struct local_job *, int, const char *);
static void	finish(struct local_job *);
static void	on_bounced(struct dsn_batch *, int, const char *, void *);
static void	settle(struct local_job *);
static void	on_settled(struct spool_settle *, int, const char *, void *);
static void	release(struct local_job *);

void
local_init(struct local *l, const struct local_env *env)
{
	memset(l, 0, sizeof(*l));
	l->env = *env;
}

int
local_busy(const struct local *l, const char *id)
{
	size_t	 i;

	for (i = 0; i < LOCAL_JOBS; i++)
		if (l->jobs[i] != NULL && l->jobs[i]->busy &&
		    strcmp(l->jobs[i]->id, id) == 0)
			return 1;
	return 0;
}

void
local_stop(struct local *l)
{
	size_t	 i;

	l->stopped = 1;
	l->starved = 0;		/* no rescan from release() */
	l->wcount = 0;		/* they stay queued */
	for (i = 0; i < LOCAL_JOBS; i++)
		if (l->jobs[i] != NULL && !l->jobs[i]->busy) {
			free(l->jobs[i]);
			l->jobs[i] = NULL;
		}
}

/* Protocol log lines for deliveries: the queue id takes the session's
 * place, and "local" the remote endpoint's. */
static void
llog(struct local *l, const char *id, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	(void)plog_vwritef(l->env.log, id, "-", "local", PLOG_DECISION, fmt,
	    ap);
	va_end(ap);
}

/* The Maildir rule for addr, or NULL when it is for another host. */
static const struct ptab_domain_rec *
rule_of(const struct table *tb, const char *addr)
{
	const struct ptab_domain_rec	*d;
	const char			*dom;

	dom = table_rcpt_domain(tb, addr, NULL);
	d = ptab_accept_lookup(&tb->t, dom, strlen(dom));
	return d != NULL && d->delivery == PTAB_DELIVER_MAILDIR ? d : NULL;
}

/*
 * Count m's pending recipients: those delivered here and the others.
 * Returns 0, or -1 on a read error (logged).
 */
static int
scan(struct local *l, struct spool_msg *m, unsigned *here, unsigned *other)
{
	const struct table	*tb = *l->env.table;
	struct spool_rcpt	 r;
	char			 err[LIM_ERRMSG];
	int			 rc;

	*here = *other = 0;
	memset(&r, 0, sizeof(r));
	while ((rc = spool_rcpt_next(m, &r, err, sizeof(err))) == 1) {
		if (r.status != SPOOL_PENDING)
			continue;
		if (rule_of(tb, r.addr) != NULL)
			(*here)++;
		else
			(*other)++;
	}
	if (rc == -1) {
		oplog_write(l->env.oplog, LOG_WARNING, "queue %s: %s", m->id,
		    err);
		return -1;
	}
	return 0;
}

/* A free job (allocated the first time), or NULL. */
static struct local_job *
job_get(struct local *l)
{
	size_t	 i;

	for (i = 0; i < LOCAL_JOBS; i++) {
		if (l->jobs[i] == NULL &&
		    (l->jobs[i] = calloc(1, sizeof(*l->jobs[i]))) == NULL)
			return NULL;
		if (!l->jobs[i]->busy)
			return l->jobs[i];
	}
	return NULL;
}

/* 1 if a job is free (or may be allocated). */
static int
job_free(const struct local *l)
{
	size_t	 i;

	for (i = 0; i < LOCAL_JOBS; i++)
		if (l->jobs[i] == NULL || !l->jobs[i]->busy)
			return 1;
	return 0;
}

/* Put id on the waiting list (once).  Returns 1, or 0 when it is full. */
static int
wait_add(struct local *l, const char *id)
{
	unsigned	 i;

	for (i = 0; i < l->wcount; i++)
		if (strcmp(l->wait[(l->whead + i) % LOCAL_WAIT], id) == 0)
			return 1;
	if (l->wcount == LOCAL_WAIT)
		return 0;
	snprintf(l->wait[(l->whead + l->wcount) % LOCAL_WAIT], SPOOL_ID_SIZE,
	    "%s", id);
	l->wcount++;
	return 1;
}

/*
 * Start what waits while jobs are free.  Once at a time: a job that
 * ends at once (no engine) calls release() from inside, which leaves
 * the rest to the loop here instead of going deeper.
 */
static void
drain(struct local *l)
{
	const struct local_env	*e = &l->env;
	char			 id[SPOOL_ID_SIZE];

	if (l->draining)
		return;
	l->draining = 1;
	while (l->wcount > 0 && !l->stopped && job_free(l)) {
		memcpy(id, l->wait[l->whead], SPOOL_ID_SIZE);
		l->whead = (l->whead + 1) % LOCAL_WAIT;
		l->wcount--;
		(void)local_start(l, id);
	}
	l->draining = 0;
	if (l->wcount == 0 && l->starved && !l->stopped) {
		l->starved = 0;
		if (e->room != NULL)
			e->room(e->arg);
	}
}

int
local_start(struct local *l, const char *id)
{
	const struct local_env	*e = &l->env;
	struct local_job	*j;
	struct spool_msg	 m;
	struct stat		 st;
	char			 err[LIM_ERRMSG];
	unsigned		 here, other;
	int			 rc;

	/* Held here, or out with the outbound side: that one's. */
	if (l->stopped || local_busy(l, id) ||
	    (e->busy != NULL && e->busy(e->arg, id)))
		return 1;
	/* No job: wait without reading the message. */
	if (!job_free(l)) {
		if (wait_add(l, id))
			return 1;
		l->starved = 1;	/* drain() has the queue looked at again */
		return 0;
	}
	rc = spool_msg_open(e->spool, &m, id, err, sizeof(err));
	if (rc == 0)
		return 1;	/* delivered meanwhile */
	if (rc == -1) {
		if (m.damaged)
			set_aside(l, id, err);
		else
			oplog_write(e->oplog, LOG_WARNING, "queue %s: %s", id,
			    err);
		return 1;
	}
	if (scan(l, &m, &here, &other) != 0) {
		spool_msg_close(&m);
		return 1;
	}
	if (here == 0 && other > 0) {
		/* Nothing for this host: no job, no wait. */
		spool_msg_close(&m);
		if (e->route != NULL)
			e->route(e->arg, id);
		return 1;
	}
	if ((j = job_get(l)) == NULL) {
		spool_msg_close(&m);	/* out of memory */
		l->starved = 1;
		return 0;
	}
	memset(j, 0, offsetof(struct local_job, failed));
	j->l = l;
	j->busy = 1;
	j->m = m;
	j->other = other;
	snprintf(j->id, sizeof(j->id), "%s", id);
	dsn_batch_init(&j->failed, e->spool, e->log, e->oplog, "local");
	j->tb = *e->table;
	table_ref(j->tb);
	/*
	 * A date ahead is the outbound side's next attempt; noting a
	 * recipient writes the file, which would move it to now.
	 */
	if (fstat(j->m.fd, &st) == 0 && st.st_mtime > time(NULL)) {
		j->date[0] = st.st_atim;
		j->date[1] = st.st_mtim;
		j->dated = 1;
	}
	/* Past its lifetime a Maildir that defers is a failure. */
	j->expired = dsn_expired(j->m.received, time(NULL),
	    j->tb->t.server->lifetime);
	step(j);
	return 1;
}

/*
 * Move damaged message id to corrupt/ for reason, its fsyncs by the
 * commit thread; one at a time (damage is rare), another meanwhile
 * waits for them here.
 */
static void
set_aside(struct local *l, const char *id, const char *reason)
{
	const struct local_env	*e = &l->env;
	char			 merr[LIM_ERRMSG];
	int			 rc;

	if (l->aside_busy)
		rc = spool_quarantine(e->spool, id, reason, merr,
		    sizeof(merr));
	else {
		rc = spool_quarantine_start(e->spool, &l->aside, e->commit,
		    id, reason, on_aside, l, merr, sizeof(merr));
		if (rc == 0) {
			l->aside_busy = 1;
			snprintf(l->aside_id, sizeof(l->aside_id), "%s", id);
		}
	}
	if (rc == -1) {
		oplog_write(e->oplog, LOG_WARNING, "queue %s: %s", id, reason);
		oplog_write(e->oplog, LOG_ERR, "queue %s: %s", id, merr);
	} else
		llog(l, id, "damaged, moved to corrupt/: %s", reason);
}

/* From the loop: the move to corrupt/ is on disk (or not quite). */
static void
on_aside(struct commit_job *job, void *arg)
{
	struct local	*l = arg;

	l->aside_busy = 0;
	if (job->error != 0)
		oplog_write(l->env.oplog, LOG_WARNING, "queue %s: corrupt/: "
		    "fsync: %s", l->aside_id, strerror(job->error));
}

/*
 * The next pending recipient delivered here, after j->r: into j->r and
 * j->rule.  Returns 1, 0 when there is none left, -1 on a read error
 * (logged).
 */
static int
next_rcpt(struct local_job *j)
{
	char	 err[LIM_ERRMSG];
	int	 rc;

	while ((rc = spool_rcpt_next(&j->m, &j->r, err, sizeof(err))) == 1) {
		if (j->r.status != SPOOL_PENDING)
			continue;
		if ((j->rule = rule_of(j->tb, j->r.addr)) != NULL)
			return 1;
	}
	if (rc == -1)
		oplog_write(j->l->env.oplog, LOG_WARNING, "queue %s: %s",
		    j->id, err);
	return rc;
}

/*
 * Deliver recipients until a copy is in flight (on_landed() carries
 * on) or none is left (the round ends).  A copy is written here; a
 * full or stopped engine has it made durable here too, as the settle
 * does: the disk is the bottleneck then anyway.
 */
static void
step(struct local_job *j)
{
	const struct local_env	*e = &j->l->env;
	const struct ptab	*t = &j->tb->t;
	char			 merr[LIM_ERRMSG];
	int			 rc;

	while (!j->l->stopped && (rc = next_rcpt(j)) != 0) {
		if (rc == -1) {
			j->broken = 1;
			break;
		}
		rc = maildir_begin(&j->md, ptab_str(t, j->rule->target),
		    e->base, j->r.addr, j->m.sender, merr, sizeof(merr));
		if (rc == 1)
			rc = maildir_copy(&j->md, &j->m, 0, merr,
			    sizeof(merr));
		if (rc == 1)
			rc = maildir_finish_job(&j->md, &j->cj, on_landed, j,
			    merr, sizeof(merr)) == 0 ? 1 : -1;
		if (rc != 1) {
			outcome(j, rc, merr);
			continue;
		}
		if (e->commit != NULL && commit_started(e->commit) &&
		    commit_submit(e->commit, &j->cj) == 0) {
			j->landing = 1;
			return;
		}
		(void)commit_run_now(&j->cj);
		rc = maildir_finish_done(&j->md, &j->cj, merr, sizeof(merr));
		outcome(j, rc, merr);
	}
	finish(j);
}

/* From the loop: a copy is in new/, or could not be put there. */
static void
on_landed(struct commit_job *cj, void *arg)
{
	struct local_job	*j = arg;
	char			 merr[LIM_ERRMSG];
	int			 rc;

	j->landing = 0;
	rc = maildir_finish_done(&j->md, cj, merr, sizeof(merr));
	outcome(j, rc, merr);
	step(j);
}

/*
 * Recipient j->r's delivery ended with rc (maildir_deliver's values):
 * noted delivered, added to the round's bounce, or left pending.
 */
static void
outcome(struct local_job *j, int rc, const char *merr)
{
	const struct local_env	*e = &j->l->env;
	struct dsn_rcpt		 fr;
	char			 err[LIM_ERRMSG], reason[LIM_ERRMSG];

	if (rc == 1) {
		j->marked = 1;
		if (spool_note(&j->m, &j->r, SPOOL_DELIVERED, err,
		    sizeof(err)) != 0) {
			oplog_write(e->oplog, LOG_ERR, "queue %s: %s", j->id,
			    err);
			j->pending++;
		}
		STATS_ADD(e->stats, rcpt_delivered, 1);
		llog(j->l, j->id, "delivered <%s> to maildir (line %u)",
		    j->r.addr, j->rule->line);
	} else if ((rc == 0 || j->expired) && j->failed.n < DSN_BATCH_MAX) {
		/*
		 * For good, or the last try of an expired message: it goes
		 * back to the sender at the end of the round.
		 */
		llog(j->l, j->id, "%s <%s>: %s", rc == 0 ? "failed" :
		    "expired, failed", j->r.addr, merr);
		/* Cut short if need be: the start says why. */
		if (snprintf(reason, sizeof(reason), "%s%s", rc == 0 ? "" :
		    "delivery time expired; the last attempt: ", merr) < 0)
			reason[0] = '\0';
		memset(&fr, 0, sizeof(fr));
		fr.addr = j->r.addr;
		fr.status = rc == 0 ? "5.2.0" : "4.4.7";
		fr.reason = reason;
		if (dsn_batch_add(&j->failed, j->r.off, &fr) == 0)
			STATS_ADD(e->stats, rcpt_bounced, 1);
	} else {
		j->pending++;
		STATS_ADD(e->stats, rcpt_deferred, 1);
		llog(j->l, j->id, "deferred <%s>: %s", j->r.addr, merr);
	}
}

/*
 * End of the round: bounce the failures (the commit thread queues the
 * bounce), then settle.  Until on_settled the job holds the message.
 */
static void
finish(struct local_job *j)
{
	const struct local_env	*e = &j->l->env;

	/* Stopped, or a read error: what was not looked at stays. */
	if (j->l->stopped || j->broken)
		j->pending++;
	if (j->failed.n == 0) {
		settle(j);
		return;
	}
	j->marked = 1;
	j->bouncing = 1;
	if (dsn_bounce_batch_start(&j->failed, &j->m, j->tb->hostname, 0,
	    e->commit, on_bounced, j) == 1)
		on_bounced(&j->failed, j->failed.rc, j->failed.id, j);
}

/* The round's bounce is queued (or could not be: the failures stay). */
static void
on_bounced(struct dsn_batch *b, int rc, const char *id, void *arg)
{
	struct local_job	*j = arg;
	const struct local_env	*e = &j->l->env;

	(void)b;
	j->bouncing = 0;
	if (rc == -1)
		j->pending++;
	else if (rc == 1 && e->bounced != NULL)
		e->bounced(e->arg, id);
	settle(j);
}

/*
 * Keep the date of the next attempt, and settle: the notes made
 * durable, or the message removed when nothing is left.
 */
static void
settle(struct local_job *j)
{
	const struct local_env	*e = &j->l->env;
	char			 err[LIM_ERRMSG];
	int			 rc, remove;

	remove = j->pending == 0 && j->other == 0;
	/* A date is metadata: futimens does not wait for the disk. */
	if (!remove && j->dated && j->marked &&
	    futimens(j->m.fd, j->date) != 0)
		oplog_write(e->oplog, LOG_WARNING, "queue %s: cannot keep the "
		    "date of the next attempt: %s", j->id, strerror(errno));
	j->settling = 1;
	if (spool_settle_start(e->spool, &j->settle, e->commit, &j->m, NULL,
	    remove, on_settled, j) == 1) {
		rc = spool_settle_result(&j->settle, err, sizeof(err));
		on_settled(&j->settle, rc, err, j);
	}
}

/*
 * The round is on disk (or could not be made so: a failed removal
 * leaves the message, delivered, for the next look): let go of the
 * message, and hand what is left for other hosts on.
 */
static void
on_settled(struct spool_settle *s, int rc, const char *err, void *arg)
{
	struct local_job	*j = arg;
	struct local		*l = j->l;
	char			 id[SPOOL_ID_SIZE];
	int			 route, gone, deferred;

	if (rc != 0)
		oplog_write(l->env.oplog, LOG_ERR, "queue %s: %s", j->id, err);
	route = !s->remove && j->other > 0 && !j->broken && !l->stopped;
	gone = rc == 0 && s->remove;
	deferred = !s->remove && j->pending > 0;
	memcpy(id, j->id, SPOOL_ID_SIZE);
	j->settling = 0;
	release(j);
	if (gone && l->env.gone != NULL)
		l->env.gone(l->env.arg, id);
	if (deferred && l->env.deferred != NULL)
		l->env.deferred(l->env.arg, id);
	if (route && l->env.route != NULL)
		l->env.route(l->env.arg, id);
}

/*
 * The job lets go of the table; after a stop it is freed.  What waits
 * for a job starts now; if a message was turned away, the queue is
 * looked at again.
 */
static void
release(struct local_job *j)
{
	struct local	*l = j->l;
	size_t		 i;

	table_unref(j->tb);
	j->tb = NULL;
	j->busy = 0;
	if (l->stopped) {
		for (i = 0; i < LOCAL_JOBS; i++)
			if (l->jobs[i] == j)
				l->jobs[i] = NULL;
		free(j);
		return;
	}
	drain(l);
}
