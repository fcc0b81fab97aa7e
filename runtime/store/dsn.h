/*
 * dsn: bounces (RFC 3464 delivery status notifications) and the retry
 * schedule of the queue.
 *
 * A bounce is a new message in the spool, written through the spool
 * writer like any received message: from the null sender "<>", to the
 * failed message's envelope sender, a multipart/report (RFC 6522) with
 * report-type=delivery-status and three parts:
 *
 *   1. text/plain: what happened, for a person;
 *   2. message/delivery-status: Reporting-MTA, Arrival-Date, then per
 *      failed recipient Final-Recipient, Action: failed, Status,
 *      Remote-MTA (when a next hop answered), Diagnostic-Code: smtp;
 *      with its reply exactly (only when there was one: RFC 3464
 *      2.3.6 wants the code the next hop issued), X-Bastion-Reason
 *      with our words (when we have some), Last-Attempt-Date;
 *   3. text/rfc822-headers: the failed message's header section (RFC
 *      6522 allows the headers alone; the body stays private), cut at
 *      DSN_HEADERS_MAX bytes.
 *
 * Never bounce a bounce: a message whose envelope sender is empty gets
 * no DSN (dsn_bounce() returns 0 and writes nothing; the caller logs
 * and drops the recipients), which is what RFC 5321 6.1 and 3464
 * ask, and what keeps two broken MTAs from bouncing forever.
 *
 * The retry schedule is pure arithmetic on the message's arrival time,
 * so that it needs no state in the spool and survives restarts: the
 * k-th retry is due at received + retry * (2^k - 1) (the gaps double:
 * retry, 2 retry, 4 retry ...), a gap never longer than the lifetime,
 * and a message is expired (bounce what is left) once lifetime has
 * passed since it arrived.
 *
 * A bounce batch (struct dsn_batch) is how the queue and the outbound
 * side report failures: the recipients of one message that failed
 * together are gathered, then dsn_bounce_batch() writes their bounce,
 * logs it, and marks them failed in the spool, in that order, so that
 * a recipient is never marked failed without its bounce queued.
 *
 * I/O: dsn_bounce() reads the failed message's header section with
 * spool_body_read() and writes the bounce with the spool writer
 * (blocking, bounded file I/O on the local disk, as every spool call).
 * Nothing here allocates.
 */
#ifndef BASTION_DSN_H
#define BASTION_DSN_H

#include <stddef.h>
#include <stdint.h>

#include "oplog.h"
#include "plog.h"
#include "spool.h"

#define DSN_HEADERS_MAX		(64 * 1024)	/* original header bytes */
#define DSN_REASON_MAX		512		/* one recipient's text */
#define DSN_BATCH_MAX		100		/* recipients in one bounce */

/* One failed recipient, as the queue knows it. */
struct dsn_rcpt {
	const char	*addr;		/* the recipient, without < > */
	/*
	 * RFC 3463 "5.1.1"; NULL: "5.0.0".  A 4.x.y (the last temporary
	 * failure of an expired message, or 4.4.7) is reported as 5.x.y:
	 * the action is "failed", which is final.
	 */
	const char	*status;
	/*
	 * The next hop's reply ("550 5.1.1 no such user") when there was
	 * one: it becomes Diagnostic-Code: smtp; ...  NULL otherwise.
	 */
	const char	*reply;
	/*
	 * Why, in our words (expiry, DNS; or what a reply meant to us:
	 * "authentication failed: 535 ..."), or NULL.  It is what the
	 * text part says when set, and X-Bastion-Reason.
	 */
	const char	*reason;
	const char	*remote_mta;	/* the next hop's name, or NULL */
	int64_t		 last_attempt;	/* seconds since the epoch; 0: none */
};

/*
 * Write a bounce for the n failed recipients r of message m (open,
 * see spool_msg_open) into spool sp: Reporting-MTA is mta (our host
 * name), now the time to date it (0: the clock).  Returns 1 with the
 * bounce's queue id in id (deliver it like any queued message), 0 when
 * m has the null sender and no bounce is due (nothing is written), or
 * -1 with the reason in err (nothing is left in the spool).
 */
int	dsn_bounce(struct spool *sp, struct spool_msg *m, const char *mta,
	    const struct dsn_rcpt *r, size_t n, int64_t now,
	    char id[SPOOL_ID_SIZE], char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/*
 * The failed recipients of one message, for one bounce.  Entries are
 * copied in (texts cut at the lengths dsn_bounce() uses), so that the
 * caller's buffers are free again at once.  About 160 kB: a module
 * keeps one, set up with dsn_batch_init(), rather than one per call.
 */
struct dsn_batch;
typedef void	dsn_batch_fn(struct dsn_batch *b, int rc, const char *id,
		    void *arg);

struct dsn_batch {
	struct spool		*sp;
	struct plog		*log;
	const struct oplog	*oplog;
	const char		*who;	/* the protocol log's remote field */
	size_t			 n;
	struct dsn_rcpt		 r[DSN_BATCH_MAX];
	uint64_t		 rec[DSN_BATCH_MAX];	/* spool records */
	struct {
		char	 addr[SPOOL_ADDR_MAX + 1];
		char	 status[16];
		char	 text[DSN_REASON_MAX];
		char	 reason[DSN_REASON_MAX];
		char	 mta[256];
	}			 buf[DSN_BATCH_MAX];
	/* A bounce in flight (dsn_bounce_batch_start), and its outcome. */
	struct spool_writer	 w;
	struct spool_msg	*m;
	size_t			 inflight;	/* its recipients */
	dsn_batch_fn		*fn;
	void			*arg;
	int			 rc;
	char			 id[SPOOL_ID_SIZE];
};

/*
 * Bounces go into spool sp; their lines into log (who as the remote
 * field: "local", "relay"); problems with the spool to ol.  Empty.
 */
void	dsn_batch_init(struct dsn_batch *b, struct spool *sp,
	    struct plog *log, const struct oplog *ol, const char *who);

/*
 * Add recipient r (spool record rec) to the batch.  Returns 0, or -1
 * when the batch is full (DSN_BATCH_MAX).
 */
int	dsn_batch_add(struct dsn_batch *b, uint64_t rec,
	    const struct dsn_rcpt *r);

/*
 * Fail the batch's recipients of message m for good: one bounce to the
 * sender, dated now (0: the clock), from mta; a decision line in the
 * protocol log; then each recipient marked failed in the spool.  A
 * message from the null sender gets no bounce (the line says so).
 * Returns 1 with the bounce's queue id in id (hand it to the queue), 0
 * when no bounce was due, or -1 when the bounce could not be written:
 * that is logged, and the recipients stay pending for another try.
 * The batch is empty again on return.
 */
int	dsn_bounce_batch(struct dsn_batch *b, struct spool_msg *m,
	    const char *mta, int64_t now, char id[SPOOL_ID_SIZE]);

/*
 * The same without waiting on the disk: the bounce is written (to the
 * page cache) and committed by the commit thread (spool_commit_start,
 * engine eng); then, from the loop, the decision line is logged, the
 * recipients are noted failed in m without an fsync (spool_note: the
 * caller's spool_settle_start makes them durable) and fn(b, rc, id,
 * arg) is called, rc as dsn_bounce_batch returns it.  Returns 0 when
 * that is under way: until fn, b and m belong to it (keep m open).
 * Returns 1 when it is over at once, with no call to come: nothing to
 * bounce, no bounce due (the null sender), a failure, or no engine
 * running (then it ran as dsn_bounce_batch, blocking); the outcome is
 * in b->rc and b->id.  A busy engine fails the bounce (EBUSY) and the
 * recipients stay pending, as when the bounce cannot be written.
 */
int	dsn_bounce_batch_start(struct dsn_batch *b, struct spool_msg *m,
	    const char *mta, int64_t now, struct commit *eng,
	    dsn_batch_fn *fn, void *arg);

/*
 * 1 when a message received at `received' has outlived the queue
 * lifetime (seconds) at `now', else 0.  A lifetime of 0 never expires.
 */
int	dsn_expired(int64_t received, int64_t now, uint32_t lifetime);

/*
 * The delay before retry number attempt (1 for the first retry):
 * retry * 2^(attempt - 1) seconds, never more than lifetime (when it
 * is not 0), never 0, and without overflow for any attempt.
 */
uint64_t dsn_backoff(uint32_t retry, uint32_t lifetime, unsigned attempt);

/*
 * When the next attempt for a message received at `received' is due,
 * after one that failed at `now': the first point of the schedule
 * received + retry * (2^k - 1), k >= 1, later than now; but never
 * after received + lifetime (the last attempt, after which the
 * message is expired), and never before now + 1.  Seconds since the
 * epoch.
 */
int64_t	dsn_next_retry(int64_t received, int64_t now, uint32_t retry,
	    uint32_t lifetime);

#endif
