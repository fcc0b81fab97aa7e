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
 * Retry times are kept on disk: after a round that left a recipient
 * pending, the queue file's modification time is set to the next
 * attempt (dsn_next_retry: the route's `retry`, doubling, up to the
 * queue lifetime), and a message whose file is dated in the future is
 * not due.  A restart therefore keeps the schedule.  The same time goes
 * to the retry_at hook, so that the queue files the message under it
 * in memory and looks at nothing until then.
 *
 * A bounded pool of jobs (RELAY_JOBS) runs at once; each holds one
 * message, so no message is delivered by two sessions at a time.
 *
 * Sessions outlive their messages, as with Postfix's connection cache
 * under a backlog: a session whose transaction ended cleanly is parked
 * instead of saying QUIT, and the next message for the same next hop
 * over the same route goes over it after RSET (smtpc.h, "Reuse"),
 * without a new connection, greeting, EHLO, STARTTLS or AUTH.  A
 * parked session fits a message when everything that made it is the
 * same: the table and the route in it (so the credentials, TLS level,
 * HELO name and source address), the trust anchors, and the next hop,
 * its address and port and the name TLS verified or would have; a
 * session authenticated for one route never carries another route's
 * mail.  A new table (SIGHUP) closes every parked session.  The bounds
 * are RELAY_IDLE_MS, RELAY_SESSION_MSGS, RELAY_SESSION_AGE_MS,
 * RELAY_IDLE_MAX and RELAY_DEST_MAX below; a message whose next hop
 * has RELAY_DEST_MAX sessions busy waits, in its job, for one of them
 * to finish.
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

#define RELAY_JOBS		16	/* messages delivered at once */
#define RELAY_RCPT_MAX		DSN_BATCH_MAX	/* recipients in one session */
/*
 * How long a parked session waits for another message before QUIT:
 * Postfix's smtp_connection_cache_time_limit (2 s).  Long enough for a
 * backlog's next message to come, short enough that a next hop is not
 * held by idle connections (many servers drop a client silent for a
 * few seconds after its transaction, which RSET would then find).
 */
#define RELAY_IDLE_MS		2000
/*
 * Messages over one session at most.  Postfix sets no such limit
 * (smtp_connection_reuse_count_limit 0); Exchange's receive connectors
 * take 20 messages a connection by default (MaxMessagesPerConnection)
 * and refuse the next, which would defer a message: 20 stays under it,
 * and a new connection every 20 messages costs little.
 */
#define RELAY_SESSION_MSGS	20
/*
 * A session older than this is not reused (Postfix's
 * smtp_connection_reuse_time_limit, 300 s): it bounds how long one
 * connection lives, so that a changed DNS answer or a next hop taken
 * out of service is noticed, and a peer's per-connection state (its
 * own counters, a TLS session) does not grow for ever.
 */
#define RELAY_SESSION_AGE_MS	(300 * 1000)
/*
 * Parked sessions overall: one for each job is as many as the jobs can
 * use at once; beyond, the one parked longest is closed.
 */
#define RELAY_IDLE_MAX		RELAY_JOBS
/*
 * Sessions at once to one next hop (address and port), busy or parked.
 * Postfix allows 20 a destination (default_destination_concurrency_
 * limit) among 100 delivery processes; with 16 jobs, half of them: a
 * backlog to one next hop is carried by a few long sessions, under the
 * per-client limits receiving servers apply (Postfix's smtpd allows a
 * client 50 connections, Exchange 20 from one source by default), and
 * more sessions would add nothing but the next hop's own contention.
 */
#define RELAY_DEST_MAX		8
/* Session slots: one busy per job, and the parked ones. */
#define RELAY_SESSIONS		(RELAY_JOBS + RELAY_IDLE_MAX)

struct relay;
struct relay_job;
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
	/*
	 * The round of message id is over and it was deferred: its next
	 * attempt is at `when' (seconds since the epoch, as its file's
	 * date); or when is 0: it is delivered and gone.  NULL: none.
	 */
	void				(*retry_at)(void *arg, const char *id,
					    int64_t when);
	void				*arg;
};

/*
 * An outbound session the relay holds: a job's (job set), parked
 * (parked and smtpc_kept(&c)), or free.  A parked session has its own
 * copies of what smtpc needs, and holds the table and trust anchors it
 * was made under.
 */
struct relay_sess {
	struct relay_job		*job;	/* busy: its job */
	int				 parked;
	/*
	 * The next hop counted against RELAY_DEST_MAX: the first address
	 * of the job's lookup, then the one connected to when parked.
	 */
	struct dns_addr			 dest;
	/* What a message must share to go over it (see above). */
	struct table			*tb;
	const struct ptab_domain_rec	*route;
	struct tls_client_creds		*creds;
	uint64_t			 parked_at;	/* loop_now() */
	char				 sid[SPOOL_ID_SIZE];	/* its log id */
	struct smtpc_timeouts		 to;
	struct smtpc_config		 cf;
	struct smtpc_route		 rt;
	struct smtpc			 c;
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
	struct relay_sess		*s;	/* the group's session */
	uint64_t			 waiting;	/* for a session: its
							 * turn, or 0 */
	int				 peered;	/* peer is set */
	char				 peer[SMTPC_NAME_MAX + 1];
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
	int			 stopped;	/* relay_stop(): park none */
	struct relay_job	*jobs[RELAY_JOBS];
	struct relay_sess	*sess[RELAY_SESSIONS];
	const struct table	*seen;		/* the table sessions are
						 * parked under */
	/* Starts the jobs waiting for a session, from the loop. */
	struct loop_timer	 kick;
	int			 kick_ok;	/* its place is held */
	uint64_t		 turn;		/* of the last to wait */
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
 * Stop every job (SIGTERM): what was not delivered stays queued; the
 * parked sessions say QUIT and close, and none is parked from now on.
 * A job whose round is being settled, or whose bounce is committed, by
 * the commit thread ends when its callback comes (commit_free runs
 * it); a job stopped with marks not yet durable settles them first.
 * Stop the engine with commit_free() before relay_free().
 */
void	relay_stop(struct relay *r);

#endif
