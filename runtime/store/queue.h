/*
 * queue: delivery of spooled messages from inside the event loop.  A
 * committed message is delivered soon after its 250; every retry
 * interval (and at start) the whole of queue/ is looked at again for
 * what is still pending.  One message is handled per loop turn, so a
 * long queue never holds the sessions up for long.
 *
 * Local delivery (`accept for ... deliver maildir`) is the queue's own
 * local.h, and so are its failures: a Maildir that refuses for good,
 * or still defers once the message has expired, bounces from there
 * (dsn.h).  A message with recipients that must go elsewhere is handed
 * on through the route hook, and stays pending in the spool until a
 * next hop has taken them: a restart finds it again.
 *
 * The queue knows nothing of the outbound side, nor of the program
 * around it: what it needs comes in a struct queue_env, filled by its
 * owner (the server wires route and busy to relay.h).  That is what
 * lets a test run a queue with a loop, a spool and a table alone.
 */
#ifndef BASTION_QUEUE_H
#define BASTION_QUEUE_H

#include "dsn.h"
#include "local.h"
#include "loop.h"
#include "oplog.h"
#include "plog.h"
#include "spool.h"
#include "stats.h"
#include "table.h"

#define QUEUE_RECENT		256	/* committed ids kept for delivery */

struct queue_env {
	struct loop		*loop;
	struct spool		*spool;
	struct plog		*log;
	const struct oplog	*oplog;
	/* The current table (its owner swaps it on reload). */
	struct table * const	*table;
	const char		*base;	/* relative Maildirs start here */
	struct stats		*stats;	/* counters, or NULL */
	struct commit		*commit;	/* Maildir fsyncs; NULL: here */
	/*
	 * The outbound side, or NULL for none.  busy: 1 if message id
	 * is out with an outbound session, which the queue then leaves
	 * alone.  route: message id, just looked at, still has pending
	 * recipients that are not delivered here.
	 */
	int			(*busy)(void *arg, const char *id);
	void			(*route)(void *arg, const char *id);
	void			*arg;
};

struct queue {
	struct queue_env	 env;
	struct loop_timer	 run;		/* one message per turn */
	struct loop_timer	 rescan;	/* all of queue/ again */
	char			 recent[QUEUE_RECENT][SPOOL_ID_SIZE];
	unsigned		 head, count;
	int			 overflow;	/* recent[] lost ids: rescan */
	int			 stopped;
	void			*dir;		/* DIR * of a rescan */
	struct local		 local;		/* Maildir delivery */
};

void	queue_init(struct queue *q, const struct queue_env *env);
/* A message was committed (received, or a bounce): deliver it soon. */
void	queue_committed(struct queue *q, const char *id);
/*
 * Look at every message in queue/ (at start, at every retry interval,
 * and when the outbound side has room again).
 */
void	queue_rescan(struct queue *q);
/*
 * SIGTERM: deliver nothing more; what is queued stays queued.  Call
 * again after commit_free() to free what local delivery kept.
 */
void	queue_stop(struct queue *q);

#endif
