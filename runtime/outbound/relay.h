/*
 * relay: the outbound half of the queue.  For a queued message with
 * recipients that are not delivered here, it finds each one's route
 * (`accept for ... forward to`, else the best `outbound` rule), looks
 * the next hop up (dns.c), and hands the message to an outbound SMTP
 * session (smtpc.c) per route (per route and domain when the route
 * goes by MX), one after another, inside the event loop; every one is
 * tried each round, so a next hop that defers holds up no other.  Then
 * it records each outcome in the spool: delivered, failed (with one
 * RFC 3464 bounce to the sender), or left pending for a later attempt.
 *
 * Retry times need no state in memory: after a round that left a
 * recipient pending, the queue file's modification time is set to the
 * next attempt (dsn_next_retry: the route's `retry`, doubling, up to
 * the queue lifetime), and a message whose file is dated in the future
 * is not due.  A restart therefore keeps the schedule.
 *
 * A bounded pool of jobs (RELAY_JOBS) runs at once; each holds one
 * message, so no message is delivered by two sessions at a time.
 *
 * The relay takes its work from the queue (queue.h) but does not call
 * it: what it needs, and the two things it reports, come through a
 * struct relay_env filled by its owner.  A bounce it writes is handed
 * to the bounced hook (the server's queue delivers it), and room says
 * that a job is free again after a due message found none.  Failures
 * of local (Maildir) recipients are the queue's, never the relay's.
 */
#ifndef BASTION_RELAY_H
#define BASTION_RELAY_H

#include "addr.h"
#include "dns.h"
#include "dsn.h"
#include "oplog.h"
#include "seal.h"
#include "smtpc.h"
#include "spool.h"
#include "stats.h"
#include "table.h"

#define RELAY_JOBS		16	/* outbound sessions at once */
#define RELAY_RCPT_MAX		DSN_BATCH_MAX	/* recipients in one session */

struct relay;
struct tls_client_creds;

struct relay_env {
	struct loop			*loop;
	struct spool			*spool;
	struct plog			*log;
	const struct oplog		*oplog;
	/* The current table and trust anchors (swapped on reload). */
	struct table * const		*table;
	struct tls_client_creds * const	*creds;
	const struct seal_key		*key;	/* opens route secrets */
	/* Where mail leaves from, per family: family 0 or NULL: any. */
	const struct addr		*src4, *src6;
	struct stats			*stats;	/* counters, or NULL */
	/* Makes a round's end durable off the loop; NULL: in it. */
	struct commit			*commit;
	/* A bounce was queued as id: deliver it. */
	void				(*bounced)(void *arg, const char *id);
	/* A job is free again after a due message found none. */
	void				(*room)(void *arg);
	void				*arg;
};

struct relay_job {
	struct relay			*r;
	int				 busy;
	struct table			*tb;	/* held while the job runs */
	char				 id[SPOOL_ID_SIZE];
	struct spool_msg		 m;
	/* This round's attempts and replies (spool.h, state/ID). */
	struct spool_state_writer	 sw;
	const struct ptab_domain_rec	*route;
	char				 domain[DNS_NAME_MAX + 1];
	/*
	 * A round takes the recipients in spool order, a group (one route,
	 * and one domain for an MX route) at a time: attempted has a bit
	 * per recipient index already given to a session this round, and
	 * every recipient before the cursor record has been.
	 */
	uint8_t				 attempted[(SPOOL_RCPT_MAX + 7) / 8];
	uint64_t			 cursor;	/* record offset */
	uint32_t			 cursor_index;
	int				 deferred;	/* this round */
	/*
	 * The round's end, in flight in the commit thread: the job keeps
	 * the message (busy) until its marks are on disk.
	 */
	struct spool_settle		 settle;
	int				 settling;
	/*
	 * A bounce in flight (committed by the commit thread), and what
	 * comes after it: the next batch of unrouted recipients (more),
	 * or the next group.
	 */
	int				 bouncing;
	int				 unrouted;	/* from fail_unrouted */
	int				 more;
	struct dns_query		 dq;
	struct smtpc_timeouts		 to;	/* cf.to: the table's */
	struct smtpc_config		 cf;	/* cf.creds: referenced */
	struct smtpc_route		 rt;
	struct smtpc			 c;
	size_t				 n;
	struct smtpc_rcpt		 rc[RELAY_RCPT_MAX];
	uint64_t			 off[RELAY_RCPT_MAX];
	uint32_t			 idx[RELAY_RCPT_MAX];
	char				 addr[RELAY_RCPT_MAX][SPOOL_ADDR_MAX + 1];
	/* The round's failures, for one bounce at a time; last: not zeroed. */
	struct dsn_batch		 failed;
};

struct relay {
	struct relay_env	 env;
	struct dns		 dns;
	int			 dns_ok;
	int			 starved;	/* a due message found no job */
	int			 stopped;
	struct relay_job	*jobs[RELAY_JOBS];
};

/*
 * Set up the resolver (servers from the BASTION_RESOLVERS environment
 * variable, as "127.0.0.1:5353", else /etc/resolv.conf).  Returns 0 or
 * -1 with the reason (outbound mail then defers until a restart).
 */
int	relay_init(struct relay *r, const struct relay_env *env, char *err,
	    size_t errlen)
	    __attribute__((warn_unused_result));
void	relay_free(struct relay *r);

/*
 * Message id has recipients for other hosts: start a job for it if it
 * is due and none runs for it yet.  Returns 1 if a job runs for it now,
 * 0 if not (not due; or all jobs busy: the queue is looked at again as
 * soon as one is free).
 */
int	relay_start(struct relay *r, const char *id);

/* 1 if a job holds message id. */
int	relay_busy(const struct relay *r, const char *id);

/*
 * 1 if sa (an address and port the relay would connect to) is where
 * this gateway listens, as the listeners of t say: a listener's own
 * address and port, or any address of this host (loopback, the
 * unspecified address, an interface's) on a wildcard listener's port.
 * Such a next hop is a mail loop (5.4.6, "loops back to myself").
 */
int	relay_self(const struct ptab *t, const struct sockaddr *sa);

/*
 * Stop every job (SIGTERM): what was not delivered stays queued.  A
 * job whose round is being settled, or whose bounce is committed, by
 * the commit thread ends when its callback comes (commit_free runs
 * it); a job stopped with marks not yet durable settles them first.
 * Stop the engine with commit_free() before relay_free().
 */
void	relay_stop(struct relay *r);

#endif
