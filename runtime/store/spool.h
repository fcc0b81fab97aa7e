/*
 * spool: durable message storage.  A message is written to tmp/ as the
 * SMTP transaction goes (envelope first, recipient by recipient, then
 * the body), and committed by fsync, rename into queue/ and fsync of
 * queue/: only then may the session answer 250.  Delivery reads it
 * back, flips each recipient's status byte in place, and removes it
 * when every recipient is done.  At start, spool_clean_tmp() removes
 * what was never acknowledged (the daemon leaves queue/ to the queue,
 * queue.h, which reads it from its loop); spool_resume() also checks
 * every queued file.  A damaged queue file is moved to corrupt/, never
 * deleted.
 *
 * The file format is documented byte for byte in doc/spool-format.md.
 *
 * Layout of a spool directory (created by spool_open, mode 0700):
 *	ROOT/tmp/	messages being received (never acknowledged)
 *	ROOT/queue/	accepted messages, one file each, named by queue id
 *	ROOT/corrupt/	damaged queue files, each with a NAME.reason file
 *	ROOT/hold/	messages an administrator holds back (bastionctl)
 *	ROOT/state/	per message, its delivery attempts and last replies
 *
 * Memory: every structure here is allocated by the caller; nothing in
 * this module calls malloc.  The writer buffers in a small array inside
 * struct spool_writer.  The calls do blocking file I/O on a local disk
 * (write, fsync), a bounded amount each; the daemon commits with
 * spool_commit_start(), which leaves the fsyncs to the commit thread
 * (commit.h), so that its loop never waits for them.
 */
#ifndef BASTION_SPOOL_H
#define BASTION_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "commit.h"

/* Format. */
#define SPOOL_MAGIC		"BSPOOL\r\n"	/* 8 bytes */
#define SPOOL_VERSION		1
#define SPOOL_HDR_SIZE		64		/* fixed header, bytes */
#define SPOOL_REC_SIZE		6		/* record header, bytes */

/*
 * Bounds, checked when written and again when read.  The values are
 * the RFC 5321 limits (path 256, command line 512) where one applies.
 */
#define SPOOL_SESSION_MAX	64	/* session id */
#define SPOOL_CLIENT_MAX	64	/* "addr:port" or "[v6]:port" */
#define SPOOL_HELO_MAX		255	/* HELO/EHLO argument */
#define SPOOL_AUTH_MAX		256	/* authenticated user */
#define SPOOL_ADDR_MAX		256	/* sender or recipient, no <> */
#define SPOOL_PARAMS_MAX	512	/* MAIL or RCPT parameters, verbatim */
#define SPOOL_RCPT_MAX		10000	/* recipients in one message */
#define SPOOL_WBUF_SIZE		1024	/* writer buffer */

/* Queue ids: 14 hex digits of microseconds, 8 of the writer's pid. */
#define SPOOL_ID_LEN		22
#define SPOOL_ID_SIZE		(SPOOL_ID_LEN + 1)

/* Recipient status bytes, as stored (printable on purpose). */
#define SPOOL_PENDING		'P'
#define SPOOL_DELIVERED		'D'
#define SPOOL_FAILED		'F'

/* BODY= parameter, as stored. */
#define SPOOL_BODY_NONE		0	/* not given */
#define SPOOL_BODY_7BIT		1
#define SPOOL_BODY_8BITMIME	2
#define SPOOL_BODY_BINARYMIME	3

/* Envelope flags, as stored. */
#define SPOOL_F_SMTPUTF8	0x01

/*
 * Spent message files kept for the next messages (free/): a removed
 * message's file is renamed there instead of unlinked, and a new
 * message takes one by rename instead of creating a file.  On ext4
 * without a journal every create scans past the inodes freed in the
 * last seconds, which under a steady flow of mail is most of what a
 * message costs the kernel; a file that is never freed is never
 * scanned for.
 */
#define SPOOL_FREE_MAX		256	/* a backlog's worth; 6 KiB of names */

/* A spool directory, opened once by the daemon. */
struct spool {
	int		root;		/* directory fds, -1 when closed */
	int		tmp;
	int		queue;
	int		corrupt;
	int		hold;
	int		state;
	int		free;		/* spent files kept for reuse */
	uint64_t	last_us;	/* last id's time: keeps ids rising */
	unsigned	nfree;		/* names in spare[] */
	unsigned	freeing;	/* renames into free/ in flight */
	char		spare[SPOOL_FREE_MAX][SPOOL_ID_SIZE];
};

/*
 * Open (creating what is missing, mode 0700) the spool directory at
 * path: the directory itself (its parent must exist: the daemon makes
 * it) and tmp/, queue/
 * and corrupt/ in it.  Returns 0, or -1 with the reason in err.
 */
int	spool_open(struct spool *sp, const char *path, char *err,
	    size_t errlen) __attribute__((warn_unused_result));
void	spool_close(struct spool *sp);

/*
 * The envelope, as the session knows it at MAIL FROM.  Strings are
 * NUL-terminated; NULL is the same as "".  None may hold a control
 * byte (below 0x20, or 0x7f).  sender is the reverse path without the
 * angle brackets ("" for the null sender); params is the rest of the
 * MAIL command verbatim except SIZE and BODY (e.g. "RET=HDRS ENVID=x").
 */
struct spool_env {
	int64_t		 received;	/* seconds since the epoch; 0: now */
	const char	*session;	/* session id */
	const char	*client;	/* client endpoint */
	const char	*helo;
	const char	*auth;		/* authenticated user, or NULL */
	const char	*sender;
	const char	*params;
	uint64_t	 size;		/* SIZE= declared, 0 if not given */
	uint64_t	 limit;		/* refuse bodies over this; 0: none */
	uint8_t		 body;		/* SPOOL_BODY_* */
	uint8_t		 flags;		/* SPOOL_F_* */
};

/*
 * The writer: one per transaction in progress.  Its state is private;
 * read it through the functions below.  Errors are sticky: once a
 * write fails, every later call does nothing and spool_commit()
 * reports the failure, so nothing is half-accepted.
 */
struct spool_writer {
	struct spool	*sp;
	int		 fd;
	int		 state;
	int		 error;		/* sticky errno, 0 while fine */
	const char	*what;		/* the call that failed */
	uint64_t	 off;		/* bytes written and buffered */
	uint64_t	 body_off;
	uint64_t	 limit;
	uint32_t	 nrcpt;
	uint32_t	 crc;
	size_t		 blen;
	char		 id[SPOOL_ID_SIZE];
	unsigned char	 buf[SPOOL_WBUF_SIZE];
	/* A commit in flight (spool_commit_start). */
	struct commit_job job;
	struct commit	*eng;
	int		 tries;
	void		(*done)(struct spool_writer *, int, const char *,
			    const char *, void *);
	void		*done_arg;
};

/*
 * Begin a transaction (at MAIL FROM): make a queue id, create tmp/ID
 * and write the header and envelope.  w must be zeroed or finished
 * (committed or aborted): a transaction still open in it would leak.  Returns 0, or -1: a field was
 * out of bounds or held a control byte (EINVAL), or the file could not
 * be created or written (the errno).  Either way the writer is failed,
 * spool_error() says why, and the caller answers and calls
 * spool_abort().
 */
int	spool_begin(struct spool *sp, struct spool_writer *w,
	    const struct spool_env *env) __attribute__((warn_unused_result));

/*
 * Append a recipient (without <>) and its RCPT parameters (verbatim,
 * may be NULL), with status SPOOL_PENDING.  Must come before any body
 * bytes.  Returns 0 when recorded, or -1 when not:
 *	- spool_error(w) == 0: the argument was refused (too long, control
 *	  byte, or SPOOL_RCPT_MAX reached); the transaction goes on, and
 *	  the session answers this RCPT with 553 or 452;
 *	- spool_error(w) != 0: the transaction is lost (see spool_commit).
 */
int	spool_rcpt(struct spool_writer *w, const char *addr, size_t alen,
	    const char *params, size_t plen)
	    __attribute__((warn_unused_result));

/*
 * Append len body bytes (dot-unstuffed, CRLF lines as received; the
 * session's Received: header is simply the first body bytes).  The
 * first call ends the envelope.  Returns 0, or -1 once the writer has
 * failed (the session keeps reading DATA to the end and then calls
 * spool_commit, which reports why).
 */
int	spool_body(struct spool_writer *w, const void *data, size_t len);

/*
 * Commit: flush, fill in the header, fsync the file, rename it into
 * queue/, fsync queue/.  On success returns 0 and copies the queue id
 * to id; the session may now answer 250.  On failure the temporary
 * file is removed, nothing is left in queue/, and -1 is returned with
 * the reason in err; spool_error(w) gives the errno to answer with:
 *	EMSGSIZE			552 5.3.4 (env->limit exceeded)
 *	ENOSPC, EDQUOT, EFBIG		452 4.3.1
 *	EINVAL (no recipients)		503 5.5.1
 *	anything else			451 4.3.0
 * The writer is finished either way (spool_abort is then a no-op).
 */
int	spool_commit(struct spool_writer *w, char id[SPOOL_ID_SIZE],
	    char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * The same commit without waiting: the fsyncs, the link into queue/
 * and the fsync of queue/ are handed to the commit thread as one job
 * (commit.h), and done(w, rc, id, err, arg) is called from the loop
 * when they are over: rc 0 with the queue id (answer 250 now), or -1
 * with the reason in err and spool_error(w) as for spool_commit() (the
 * temporary file is removed, nothing is left in queue/).  queue/ is
 * fsynced once for all the messages committed at about the same time.
 *
 * Returns 0 when the commit is under way, or -1 at once, with no call
 * to come, when it cannot start: the writer had failed, or the commit
 * thread is busy (EBUSY: answer 451) or stopped; the writer is then
 * finished, err and spool_error(w) say why, as for spool_commit().
 *
 * Until done is called the writer, the spool and the engine belong to
 * the commit: keep them allocated and open, and call nothing on w
 * (spool_abort would do nothing).  The message is durable and will be
 * delivered even if the session that sent it is gone by then.
 */
typedef void	spool_done_fn(struct spool_writer *w, int rc,
		    const char *id, const char *err, void *arg);

int	spool_commit_start(struct spool_writer *w, struct commit *eng,
	    spool_done_fn *done, void *arg, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/* 1 while a spool_commit_start() is in flight in w. */
int	spool_committing(const struct spool_writer *w);

/*
 * Drop the transaction: close and remove tmp/ID.  Safe in any state
 * but a commit in flight, where it does nothing.
 */
void	spool_abort(struct spool_writer *w);

/* The sticky errno (0 while the writer is fine). */
int	spool_error(const struct spool_writer *w);

/* Body bytes accepted so far (for SIZE checks and the log). */
uint64_t spool_body_size(const struct spool_writer *w);

/*
 * A queued message opened for delivery.  The envelope is read,
 * checked and copied into these fields by spool_msg_open; every field
 * is NUL-terminated and free of control bytes.
 */
struct spool_msg {
	int		fd;
	int		damaged;	/* set when open fails on content */
	int		held;		/* opened from hold/ */
	int		noted;		/* spool_note() since the last fsync */
	char		id[SPOOL_ID_SIZE];
	int64_t		received;
	uint64_t	size;		/* SIZE= declared */
	uint8_t		body;		/* SPOOL_BODY_* */
	uint8_t		flags;		/* SPOOL_F_* */
	uint32_t	nrcpt;
	uint64_t	rcpt_off;	/* first recipient record */
	uint64_t	body_off;
	uint64_t	body_len;
	char		session[SPOOL_SESSION_MAX + 1];
	char		client[SPOOL_CLIENT_MAX + 1];
	char		helo[SPOOL_HELO_MAX + 1];
	char		auth[SPOOL_AUTH_MAX + 1];	/* "" if none */
	char		sender[SPOOL_ADDR_MAX + 1];	/* "" null sender */
	char		params[SPOOL_PARAMS_MAX + 1];
};

/*
 * Open queue/ID and validate it whole (header, every record, the
 * envelope checksum, the body length against the file size).
 * Returns 1 when opened, 0 when there is no such message, -1 on error
 * with the reason in err: m->damaged is 1 when the content is bad (move
 * it aside with spool_quarantine), 0 for a system error (EMFILE, EIO:
 * leave it and try later).  Close with spool_msg_close.
 */
int	spool_msg_open(struct spool *sp, struct spool_msg *m, const char *id,
	    char *err, size_t errlen) __attribute__((warn_unused_result));
void	spool_msg_close(struct spool_msg *m);

/*
 * The same for a message in hold/ (m->held is set).  A held message is
 * never delivered: nothing but the control commands open it there.
 */
int	spool_msg_open_held(struct spool *sp, struct spool_msg *m,
	    const char *id, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/*
 * Hold message id back from delivery, or let it go again: rename it
 * from queue/ to hold/ (or back), then fsync both folders, as Postfix's
 * hold queue, so that the choice survives a crash.  Returns 1 when
 * moved, 0 when there is no such message where it should be, -1 with
 * the reason in err.
 */
int	spool_hold(struct spool *sp, const char *id, char *err,
	    size_t errlen) __attribute__((warn_unused_result));
int	spool_release(struct spool *sp, const char *id, char *err,
	    size_t errlen) __attribute__((warn_unused_result));

/*
 * Make queued message id due now (its file's date is its next attempt,
 * relay.h).  Returns 1, 0 when it is not in queue/, -1 on error.
 */
int	spool_due_now(struct spool *sp, const char *id);

/* One recipient, as read back. */
struct spool_rcpt {
	uint64_t	off;		/* its record; names it to spool_mark */
	uint64_t	next;		/* the record after it */
	uint32_t	index;		/* 0, 1, ... in RCPT order */
	int		status;		/* SPOOL_PENDING, _DELIVERED, _FAILED */
	char		addr[SPOOL_ADDR_MAX + 1];
	char		params[SPOOL_PARAMS_MAX + 1];
};

/*
 * Iterate the recipients: zero r (or set r->next = 0) first, then call
 * until it returns 0 (no more).  Returns 1 with the next recipient in
 * r, 0 at the end, -1 on a read error or damage (reason in err).
 */
int	spool_rcpt_next(struct spool_msg *m, struct spool_rcpt *r,
	    char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Set recipient r's status in place (pwrite of its status byte, then
 * fsync), and in r.  Returns 0, or -1 with the reason in err.
 */
int	spool_mark(struct spool_msg *m, struct spool_rcpt *r, int status,
	    char *err, size_t errlen) __attribute__((warn_unused_result));
/*
 * The same without the fsync: the status byte is written (to the page
 * cache) and m->noted is set; spool_settle_start() makes it durable,
 * off the loop.  For the delivery paths, which must not wait on the
 * disk.
 */
int	spool_note(struct spool_msg *m, struct spool_rcpt *r, int status,
	    char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Read up to len body bytes from body offset off (0 is the first body
 * byte).  Returns the count, 0 at the end of the body, -1 on error.
 */
ssize_t	spool_body_read(struct spool_msg *m, uint64_t off, void *buf,
	    size_t len);

/*
 * Remove a delivered message: unlink queue/ID (hold/ID if m->held) and
 * its state/ID, fsync the folder, close m.
 * Returns 0, or -1 with the reason in err (m is closed either way).
 */
int	spool_msg_remove(struct spool *sp, struct spool_msg *m, char *err,
	    size_t errlen) __attribute__((warn_unused_result));

/*
 * Move queue/NAME to corrupt/ (under the same name, or NAME.1, NAME.2
 * ... if taken) and write the reason next to it in corrupt/NAME.reason.
 * Nothing is deleted.  Returns 0, or -1 with the reason in err.
 */
int	spool_quarantine(struct spool *sp, const char *name,
	    const char *reason, char *err, size_t errlen)
	    __attribute__((warn_unused_result));
/*
 * The same without waiting: the move and the reason file are made here
 * (names and the page cache), their fsyncs (the reason file, corrupt/
 * and queue/) are the commit thread's, in job, with callback fn.
 * Returns 0 when submitted (fn follows from the loop; a failed fsync
 * is in job->error); 1 when the engine was not running or full and the
 * fsyncs ran here, with no callback; -1 with the reason in err when
 * nothing was moved.
 */
int	spool_quarantine_start(struct spool *sp, struct commit_job *job,
	    struct commit *eng, const char *name, const char *reason,
	    commit_done_fn *fn, void *arg, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/* What spool_resume tells its callback about. */
#define SPOOL_RESUME_QUEUED	1	/* id: a message to deliver */
#define SPOOL_RESUME_TMP	2	/* name: removed from tmp/ */
#define SPOOL_RESUME_CORRUPT	3	/* name: moved to corrupt/, reason */
#define SPOOL_RESUME_SKIPPED	4	/* name: left in place, reason */

typedef void spool_resume_fn(void *ctx, int what, const char *name,
    const char *reason);

/*
 * Resume at start, before any session runs (tools and tests; the daemon
 * does not, see spool_clean_tmp): remove every entry in tmp/
 * (never acknowledged), then check every entry in queue/ with
 * spool_msg_open; good ones are reported as SPOOL_RESUME_QUEUED (in
 * directory order: ids sort by time, the caller orders them), damaged
 * ones and names that are not queue ids are moved to corrupt/, and
 * ones that could not be checked (a system error) are skipped.  fn may
 * be NULL.  Returns the count of queued messages, or -1 with the reason
 * in err if a directory could not be read.
 */
long	spool_resume(struct spool *sp, spool_resume_fn *fn, void *ctx,
	    char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * The first half of spool_resume alone: remove every entry in tmp/,
 * reported as SPOOL_RESUME_TMP (or _SKIPPED).  Cheap whatever the
 * queue: the daemon calls it at start and leaves queue/ to the queue
 * (queue.h), which reads it from the loop.  Returns 0, or -1 with the
 * reason in err if tmp/ could not be read.
 */
int	spool_clean_tmp(struct spool *sp, spool_resume_fn *fn, void *ctx,
	    char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Delivery state: per message, state/ID holds how many delivery rounds
 * it has had, when the last one was, and each recipient's last reply
 * from its next hop (or why there was none), so that bastionctl can
 * show them after a restart.  It is a note beside the message, not part
 * of it: written whole to state/ID.new, fsynced and renamed over the
 * old one at the end of each round (a crash leaves the old or the new
 * one, never a mix), removed with the message, and ignored when
 * missing or unreadable.  The format is in doc/spool-format.md.
 */
#define SPOOL_STATE_TEXT_MAX	512	/* one reply, bytes */

struct spool_state_writer {
	struct spool	*sp;
	int		 begun;		/* 0: idle */
	int		 fd;		/* -1: not made yet (or idle) */
	int		 error;		/* sticky */
	unsigned	 attempts;
	int64_t		 last;
	char		 id[SPOOL_ID_SIZE];
	char		 tmp[SPOOL_ID_SIZE + 8];	/* ID.new */
};

/*
 * Begin the state of message id: attempts rounds so far (this one
 * included), the last at time last.  The file is only made when
 * something is written or committed (a round that removes the message
 * makes none).  w->begun is 0 again after commit or abort.  Returns 0,
 * or -1 (the writer is idle; nothing is left).
 */
int	spool_state_begin(struct spool *sp, struct spool_state_writer *w,
	    const char *id, unsigned attempts, int64_t last);
/* Recipient index's last reply (control bytes are written as '?'). */
void	spool_state_rcpt(struct spool_state_writer *w, uint32_t index,
	    const char *text);
/* fsync and rename into place.  Returns 0, or -1 with the reason. */
int	spool_state_commit(struct spool_state_writer *w, char *err,
	    size_t errlen);
/* Drop what was begun (the old state stays).  Safe when idle. */
void	spool_state_abort(struct spool_state_writer *w);

/*
 * Settling a delivery round without waiting on the disk.  The round
 * notes its outcomes with spool_note() and the state writer, then
 * hands the rest to the commit thread (commit.h) in one job:
 *
 *	keep (recipients still pending): fsync queue/ID if noted, fsync
 *	state/ID.new, close both, rename state/ID.new over state/ID;
 *	remove (nothing pending): drop state/ID at once, then unlink
 *	queue/ID (hold/ID) and fsync the folder.
 *
 * A removal does not fsync the marks first: the folder's fsync makes
 * the message gone for good, and it is shared with every other job of
 * the batch (commit.h), where a file's fsync would be one per message.
 * A crash before it completes finds the message again and delivers it
 * again at worst, which SMTP allows (a duplicate, never a loss); the
 * same holds for marks not yet durable when the loop moves on, which
 * is why the caller keeps the message to itself until the callback.
 *
 * From the call until the callback, s, m's descriptor and w's belong
 * to the job (both are closed by it; m->fd and w->fd read -1 at once).
 * Returns 0 when submitted (fn(s, rc, err, arg) follows from the loop,
 * rc 0 or -1 with the reason); or 1 when the engine was not running or
 * full, in which case the job ran here and now, blocking, its outcome
 * in spool_settle_result() and no callback: a full engine means the
 * disk is the bottleneck anyway, and a delivery already made must be
 * recorded.
 */
struct spool_settle;
typedef void	spool_settle_fn(struct spool_settle *s, int rc,
		    const char *err, void *arg);

struct spool_settle {
	struct commit_job	 job;
	struct spool		*sp;
	int			 remove;
	int			 recycle;	/* renamed into free/ */
	int			 held;
	char			 id[SPOOL_ID_SIZE];
	spool_settle_fn		*fn;
	void			*arg;
};

int	spool_settle_start(struct spool *sp, struct spool_settle *s,
	    struct commit *eng, struct spool_msg *m,
	    struct spool_state_writer *w, int remove, spool_settle_fn *fn,
	    void *arg);
/* The outcome of a settle that ran at once: 0, or -1 with the reason. */
int	spool_settle_result(const struct spool_settle *s, char *err,
	    size_t errlen);
/*
 * Append w's durable ops to job (fsync, close, rename into place), and
 * hand its descriptor over; an idle or failed writer adds nothing (a
 * failed one is dropped).  For spool_settle_start.
 */
void	spool_state_job(struct spool_state_writer *w, struct commit_job *job);

/* A state file read back, recipient by recipient in index order. */
struct spool_state {
	void		*fp;		/* FILE *, NULL if none */
	unsigned	 attempts;
	int64_t		 last;		/* 0: none */
	int		 have;		/* a record read ahead */
	uint32_t	 index;		/* ... for this recipient */
	char		 text[SPOOL_STATE_TEXT_MAX + 1];
};

/*
 * Open state/ID and read its counts.  Returns 1, or 0 when there is
 * none (or it is unreadable: the counts are then 0).  Close with
 * spool_state_close (safe either way).
 */
int	spool_state_open(struct spool *sp, const char *id,
	    struct spool_state *st);
/*
 * The last reply recorded for recipient index, which must rise from
 * call to call.  Returns 1 with it in st->text, 0 if none.
 */
int	spool_state_reply(struct spool_state *st, uint32_t index);
void	spool_state_close(struct spool_state *st);

/*
 * Entry name of state/ is of no use: remove it, and return 1.  That is
 * the state of a message in neither queue/ nor hold/, or a half-written
 * one (ID.new) older than `before' (one written since is a round's in
 * progress); with before 0, any half-written one (nothing runs).
 * Returns 0 when it is kept.
 */
int	spool_state_stale(struct spool *sp, const char *name, time_t before);

/* 1 if s is a well-formed queue id, 0 if not. */
int	spool_id_valid(const char *s);

#endif
