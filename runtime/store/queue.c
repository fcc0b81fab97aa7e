/*
 * queue: delivery of spooled messages (see queue.h).  Each message
 * goes to local delivery (local.h), which delivers its Maildir
 * recipients (or fails them into a bounce) and hands what is left to
 * the route hook.
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
#include "queue.h"

static void	on_run(struct loop *, void *);
static void	soon(struct queue *);
static void	on_rescan(struct loop *, void *);
static void	deliver(struct queue *, const char *);
static int	on_local_busy(void *, const char *);
static void	on_local_route(void *, const char *);
static void	on_local_bounced(void *, const char *);
static void	on_local_room(void *);

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
	struct local_env	 le;

	memset(q, 0, sizeof(*q));
	q->env = *env;
	memset(&le, 0, sizeof(le));
	le.spool = env->spool;
	le.log = env->log;
	le.oplog = env->oplog;
	le.table = env->table;
	le.base = env->base;
	le.stats = env->stats;
	le.commit = env->commit;
	le.busy = on_local_busy;
	le.route = on_local_route;
	le.bounced = on_local_bounced;
	le.room = on_local_room;
	le.arg = q;
	local_init(&q->local, &le);
	loop_timer_init(&q->run, on_run, q);
	loop_timer_init(&q->rescan, on_rescan, q);
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
	local_stop(&q->local);
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
 * Deliver what can be delivered here of message id; the rest goes to
 * the route hook (the outbound side, which also fails what expires).
 * All local jobs busy: on_local_room() looks again.
 */
static void
deliver(struct queue *q, const char *id)
{
	/* A message out with an outbound session is that session's. */
	if (q->env.busy != NULL && q->env.busy(q->env.arg, id))
		return;
	(void)local_start(&q->local, id);
}

static int
on_local_busy(void *arg, const char *id)
{
	struct queue	*q = arg;

	return q->env.busy != NULL && q->env.busy(q->env.arg, id);
}

static void
on_local_route(void *arg, const char *id)
{
	struct queue	*q = arg;

	if (q->env.route != NULL)
		q->env.route(q->env.arg, id);
}

static void
on_local_bounced(void *arg, const char *id)
{
	queue_committed(arg, id);
}

static void
on_local_room(void *arg)
{
	queue_rescan(arg);
}
