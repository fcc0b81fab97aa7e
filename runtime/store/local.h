/*
 * local: the Maildir half of the queue, as relay.h is its outbound
 * half.  For a queued message with recipients delivered here (`accept
 * for ... deliver maildir`), a job writes each one's copy into its
 * Maildir's tmp/ from the loop (the page cache: no wait), and the
 * commit thread (commit.h) makes it durable and links it into new/;
 * each copy is noted delivered in the spool as it lands, and the round
 * ends with spool_settle_start(): the marks made durable, or the
 * message removed when nothing is left.  The loop never waits on the
 * disk for it.
 *
 * A Maildir that refuses for good, or still defers once the message
 * has expired, fails its recipient: the failures of a round go back to
 * the sender in one bounce (dsn.h), committed by the commit thread too
 * and handed to the bounced hook.  A
 * message that still has recipients for other hosts is handed to the
 * route hook once the round is settled (at once when it had nothing
 * to deliver here), and stays pending in the spool until a next hop
 * has taken them.
 *
 * A bounded pool of jobs (LOCAL_JOBS) runs at once; each holds one
 * message until its round is on disk, so no message is delivered here
 * twice at a time.  When every job is busy the message waits in a
 * short list (LOCAL_WAIT) and starts as soon as a job is free; beyond
 * that it is turned away, and the room hook says when to look again.
 *
 * Memory: a job (with its bounce batch, dsn.h) is allocated the first
 * time it is needed and kept; local_stop() frees the idle ones, and a
 * job that ends after it is freed as it ends.
 */
#ifndef BASTION_LOCAL_H
#define BASTION_LOCAL_H

#include "commit.h"
#include "dsn.h"
#include "maildir.h"
#include "oplog.h"
#include "plog.h"
#include "spool.h"
#include "stats.h"
#include "table.h"

#define LOCAL_JOBS	8	/* messages delivered here at once */
#define LOCAL_WAIT	64	/* messages waiting for a job */

struct local_env {
	struct spool		*spool;
	struct plog		*log;
	const struct oplog	*oplog;
	/* The current table (its owner swaps it on reload). */
	struct table * const	*table;
	const char		*base;	/* relative Maildirs start here */
	struct stats		*stats;	/* counters, or NULL */
	struct commit		*commit;	/* NULL, stopped: in the loop */
	/* 1 if message id is the outbound side's now: leave it. */
	int			(*busy)(void *arg, const char *id);
	/* Message id still has recipients for other hosts. */
	void			(*route)(void *arg, const char *id);
	/* A bounce was queued as id: deliver it. */
	void			(*bounced)(void *arg, const char *id);
	/* A job is free again after a message found none. */
	void			(*room)(void *arg);
	/* Message id was delivered (or failed) whole, and removed. */
	void			(*gone)(void *arg, const char *id);
	/* A Maildir deferred message id (before route, if any). */
	void			(*deferred)(void *arg, const char *id);
	void			*arg;
};

struct local;

struct local_job {
	struct local			*l;
	int				 busy;
	int				 landing;	/* a copy in flight */
	int				 bouncing;	/* its bounce */
	int				 settling;	/* the round's end */
	struct table			*tb;	/* held while the job runs */
	char				 id[SPOOL_ID_SIZE];
	struct spool_msg		 m;
	struct spool_rcpt		 r;	/* the recipient at hand */
	const struct ptab_domain_rec	*rule;	/* ... and its rule */
	int				 expired;
	int				 dated;	/* date[] to keep */
	int				 marked;
	int				 broken;	/* a read error */
	unsigned			 pending;	/* local, left */
	unsigned			 other;		/* for other hosts */
	struct timespec			 date[2];
	struct maildir_delivery		 md;
	struct commit_job		 cj;
	struct spool_settle		 settle;
	struct dsn_batch		 failed;
};

struct local {
	struct local_env	 env;
	int			 starved;	/* the waiting list was full */
	int			 stopped;
	int			 draining;	/* release() is starting them */
	struct local_job	*jobs[LOCAL_JOBS];
	/*
	 * Messages turned away for want of a job, started as jobs free
	 * up: a job lasts milliseconds, and a rescan of the whole queue
	 * each time one ends would cost more than the deliveries.
	 */
	unsigned		 whead, wcount;
	char			 wait[LOCAL_WAIT][SPOOL_ID_SIZE];
	/* A damaged message moved aside, its fsyncs in flight. */
	struct commit_job	 aside;
	int			 aside_busy;
	char			 aside_id[SPOOL_ID_SIZE];
};

void	local_init(struct local *l, const struct local_env *env);

/*
 * Deliver what message id has for this host.  Returns 1 when that is
 * under way, done or due (a job took it, or it had nothing to deliver
 * here and went straight to the route hook, or it is gone, or it waits
 * for a job), 0 when it was turned away (the room hook fires later).
 */
int	local_start(struct local *l, const char *id);

/* 1 if a job holds message id. */
int	local_busy(const struct local *l, const char *id);

/*
 * SIGTERM: start nothing more.  A job in flight stops after the copy
 * at hand and settles what it did (commit_free runs its callbacks);
 * what was not delivered stays queued.  Idle jobs are freed here, the
 * others as they end: call again after commit_free() to be sure.
 */
void	local_stop(struct local *l);

#endif
