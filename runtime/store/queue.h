/*
 * queue: delivery of spooled messages from inside the event loop, and
 * their schedule.  Every message in queue/ has its place in memory: a
 * time it is due (a min-heap keyed by that time, with one loop timer
 * armed for the earliest), or a place in a FIFO of ids due now.  A
 * message waiting for its next attempt therefore costs a few dozen
 * bytes and nothing else: no file is read, no directory scanned, until
 * its time comes.  One due message is handled per loop turn, so a long
 * queue never holds the sessions up for long.
 *
 * The schedule is fed by:
 *	- queue_start: the names and dates of the files in queue/, read a
 *	  bounded number per turn after the listeners are up (a file's
 *	  date is its next attempt: relay.h); nothing is opened until it
 *	  is due, when spool_msg_open validates it whole and a damaged
 *	  one is moved to corrupt/;
 *	- queue_committed: a received message, a bounce, a flushed or
 *	  released one: due now, ahead of the backlog;
 *	- queue_retry_at: the outbound side's next attempt for a message
 *	  it deferred, or that it is gone;
 *	- queue_wait / queue_room: the outbound side had no free job; the
 *	  due messages wait in the FIFO until it has one again;
 *	- queue_forget, queue_flush_all: bastionctl.
 * A message the queue handled and nobody dated is looked at again one
 * `retry' interval later (a Maildir that deferred, say).  A slow sweep
 * of queue/, once per retry interval (at least a minute), adds what the
 * schedule does not know (a file put back by hand, or ids beyond
 * QUEUE_MAX); it reads names, a bounded number per turn, and opens
 * nothing.
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
 *
 * Memory: the schedule's entries are allocated QUEUE_CHUNK at a time as
 * the queue grows, with an index by id and the heap doubling beside
 * them: about 70 bytes per message.  It never holds more than QUEUE_MAX
 * ids (some 75 MB); beyond that a message waits for the sweep to find
 * it, late but not lost.  queue_free gives it back.
 */
#ifndef BASTION_QUEUE_H
#define BASTION_QUEUE_H

#include <stdint.h>

#include "dsn.h"
#include "local.h"
#include "loop.h"
#include "oplog.h"
#include "plog.h"
#include "spool.h"
#include "stats.h"
#include "table.h"

#define QUEUE_CHUNK		4096	/* schedule entries allocated at once */
#define QUEUE_MAX		(1u << 20)	/* ids the schedule holds */
#define QUEUE_SCAN_TURN		256	/* directory entries read per turn */
#define QUEUE_MOVE_TURN		1024	/* heap entries made due per turn */
#define QUEUE_SWEEP_MIN		60	/* seconds between two sweeps, least */
#define QUEUE_WAKE_MAX_MS	60000	/* a clock step is seen within this */

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
	 * recipients that are not delivered here (if the outbound side
	 * has no job free for it, its owner calls queue_wait).
	 */
	int			(*busy)(void *arg, const char *id);
	void			(*route)(void *arg, const char *id);
	void			*arg;
};

struct queue_ent;

/* A list of entries (FIFO), by index; 0 is none. */
struct queue_list {
	uint32_t		 head, tail;
	uint32_t		 n;
};

/* Reading a folder a bounded number of names per turn. */
struct queue_scan {
	void			*dir;		/* DIR *, NULL: none */
	int			 state;		/* reading state/, not queue/ */
	int			 first;		/* the start-up scan */
	int			 due;		/* file all it finds as due */
	unsigned long		 found;		/* ids added */
};

struct queue {
	struct queue_env	 env;
	struct loop_timer	 run;		/* next turn, or earliest */
	struct loop_timer	 sweep;		/* the safety sweep */
	int			 stopped;
	int			 full;		/* the route has no job */
	int			 warned;	/* no room: logged */
	time_t			 started;
	struct queue_scan	 scan;
	/* The schedule. */
	struct queue_ent	**chunks;	/* QUEUE_CHUNK entries each */
	uint32_t		 nchunks, used;	/* entries handed out, ever */
	uint32_t		 free;		/* free list, by index */
	uint32_t		 count;		/* ids known */
	uint32_t		*bucket;	/* index by id: chains */
	uint32_t		 nbucket;	/* a power of two, or 0 */
	uint32_t		*heap;		/* entries by due time */
	uint32_t		 nheap, heapcap;
	struct queue_list	 fresh;		/* due now: new mail first */
	struct queue_list	 due;		/* due now: the backlog */
	struct local		 local;		/* Maildir delivery */
};

/* What the schedule holds, for bastionctl and the tests. */
struct queue_counts {
	unsigned long		 known;		/* ids in the schedule */
	unsigned long		 waiting;	/* of which, due later */
	unsigned long		 due;		/* of which, due now */
	int			 scanning;	/* the start-up scan runs */
};

void	queue_init(struct queue *q, const struct queue_env *env);
/*
 * Begin: read the names and dates of queue/ (then prune state/, see
 * spool_state_stale) a bounded number per turn, from the loop, and
 * deliver what is due as it is found.  Call once the listeners are up.
 */
void	queue_start(struct queue *q);
/* A message was committed (received, or a bounce): deliver it soon. */
void	queue_committed(struct queue *q, const char *id);
/*
 * The outbound side is done with message id for now: its next attempt
 * is at `when' (seconds since the epoch), or when is 0: the message is
 * gone.
 */
void	queue_retry_at(struct queue *q, const char *id, int64_t when);
/*
 * The route hook could not start message id for want of a free job:
 * it stays first in line, and nothing more of the backlog is handed
 * out until queue_room().
 */
void	queue_wait(struct queue *q, const char *id);
/* The outbound side has a free job again. */
void	queue_room(struct queue *q);
/* Message id left queue/ (held, removed, bounced): forget it. */
void	queue_forget(struct queue *q, const char *id);
/*
 * Every message due now (bastionctl flush; the caller dates the files).
 * Returns how many were due later.
 */
unsigned long queue_flush_all(struct queue *q);
void	queue_counts(const struct queue *q, struct queue_counts *c);
/*
 * SIGTERM: deliver nothing more; what is queued stays queued.  Call
 * again after commit_free() to free what local delivery kept.
 */
void	queue_stop(struct queue *q);
/* Stop, and give the schedule's memory back. */
void	queue_free(struct queue *q);

#endif
