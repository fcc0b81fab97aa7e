/*
 * maildir: local delivery of a queued message into a Maildir, for an
 * `accept for DOMAIN deliver maildir "PATTERN"` rule.  %u in PATTERN
 * becomes the recipient's local part, cleaned so that no address can
 * name a path outside the directory the pattern puts it in.  The
 * message goes to DIR/tmp/ under a unique name, is fsynced, linked into
 * DIR/new/, and DIR/new/ is fsynced: a crash leaves at most a file in
 * tmp/ (which Maildir readers ignore), never half a message in new/.
 *
 * The file holds "Return-Path: <sender>" and then the stored message
 * (which begins with the session's Received: header), with CRLF line
 * ends turned into LF as Maildir readers expect; a lone CR is kept.
 *
 * The delivery can run in slices (maildir_begin, maildir_copy as often
 * as the caller likes, maildir_finish) so that a large message does not
 * hold the event loop; maildir_deliver does it all in one call.  The
 * daemon ends it with maildir_finish_job instead of maildir_finish, so
 * that the fsyncs are the commit thread's (commit.h), not the loop's.
 * Nothing here allocates memory.
 */
#ifndef BASTION_MAILDIR_H
#define BASTION_MAILDIR_H

#include <stddef.h>
#include <stdint.h>

#include "spool.h"

#define MAILDIR_LOCAL_MAX	64	/* a cleaned %u (RFC 5321 local part) */
#define MAILDIR_PATH_MAX	1024	/* an expanded pattern, with NUL */
#define MAILDIR_NAME_MAX	160	/* a file name in tmp/ and new/ */
#define MAILDIR_EMPTY		"_empty_"	/* %u for an empty local part */
#define MAILDIR_COPY_SIZE	8192	/* bytes read per step of a copy */

/*
 * Clean the local part of a recipient address (everything before its
 * last '@'; surrounding quotes and backslash escapes of a quoted local
 * part are removed) for use as one path component: ASCII letters are
 * folded to lower case; bytes outside [a-z0-9+_.-] become '_'; a '.'
 * that starts the name or follows another '.' becomes '_', so the
 * result is never "", ".", ".." or a hidden name; it is cut to
 * MAILDIR_LOCAL_MAX bytes; an empty local part becomes MAILDIR_EMPTY.
 * out must hold MAILDIR_LOCAL_MAX + 1 bytes.  Returns the length.
 */
size_t	maildir_clean(const char *addr, size_t len,
	    char out[MAILDIR_LOCAL_MAX + 1]);

/*
 * Expand pattern for recipient address rcpt into out (outsz bytes):
 * "%u" becomes the cleaned local part, "%%" a '%'; any other '%' is an
 * error.  A relative result is put under base (ignored when NULL or
 * "").  Returns 1, or 0 with the reason in err (a bad pattern, a path
 * too long: retrying will not help).
 */
int	maildir_path(const char *pattern, const char *base, const char *rcpt,
	    char *out, size_t outsz, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/* One delivery in progress; the caller allocates it. */
struct maildir_delivery {
	int		dir;		/* the Maildir directory */
	int		fd;		/* the file in tmp/ */
	int		state;		/* 0: inert (a zeroed struct is) */
	int		cr;		/* a CR held back at a slice's end */
	uint64_t	off;		/* next body byte to copy */
	int		newdir;		/* new/, while a finish job runs */
	char		name[MAILDIR_NAME_MAX];
	char		tmpname[MAILDIR_NAME_MAX + 8];	/* tmp/NAME */
	char		newname[MAILDIR_NAME_MAX + 8];	/* new/NAME */
	char		path[MAILDIR_PATH_MAX];
};

/*
 * Start delivering to the Maildir that pattern names for rcpt (see
 * maildir_path): create the directory and its tmp/, new/ and cur/ as
 * needed (mode 0700), create the file in tmp/ and write the
 * Return-Path: line for sender ("" for the null sender).
 * Returns 1 ready to copy; 0 refused for good (bad pattern, a path
 * component that is not a directory, a path too long): bounce; -1
 * failed for now (permissions, disk full): defer.  The reason is in
 * err.  After 0 or -1 nothing is left to clean up.
 */
int	maildir_begin(struct maildir_delivery *d, const char *pattern,
	    const char *base, const char *rcpt, const char *sender,
	    char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Copy up to max bytes (0: all that is left) of m's body into the file.
 * Returns 1 when the whole body is copied, 0 when some is left (call
 * again), -1 on failure (defer; reason in err; the delivery is
 * aborted).
 */
int	maildir_copy(struct maildir_delivery *d, struct spool_msg *m,
	    uint64_t max, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/*
 * fsync the file, link it into new/ (unlinking it from tmp/), fsync
 * new/.  Returns 1 when delivered, -1 on failure (defer; reason in err;
 * the delivery is aborted).  Call only after maildir_copy returned 1.
 */
int	maildir_finish(struct maildir_delivery *d, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/*
 * maildir_finish without waiting: fill job (commit_job_init with fn
 * and arg, then the ops) with its durable part, for the commit thread:
 * fsync and close the file, link it into new/ (rename where hard links
 * are refused), fsync new/, drop tmp/NAME.  The file's descriptor
 * passes to the job.  Returns 0 ready to submit (or to commit_run_now),
 * or -1 with the reason in err (the delivery is aborted).  Call only
 * after maildir_copy returned 1, and maildir_finish_done once the job
 * has run.  Until then d belongs to the job.
 */
int	maildir_finish_job(struct maildir_delivery *d, struct commit_job *job,
	    commit_done_fn *fn, void *arg, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/*
 * The outcome of the job maildir_finish_job filled, once it has run:
 * 1 delivered, or -1 (defer) with the reason in err, after taking back
 * what the job did (a copy linked into new/ whose fsync failed is
 * unlinked, as maildir_finish does).  d is inert again either way.
 */
int	maildir_finish_done(struct maildir_delivery *d,
	    const struct commit_job *job, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/* Give up: close and remove the file in tmp/.  Safe in any state. */
void	maildir_abort(struct maildir_delivery *d);

/*
 * All of the above in one call, for recipient rcpt of message m.
 * Returns 1 delivered, 0 refused for good (bounce), -1 failed for now
 * (defer), with the reason in err.
 */
int	maildir_deliver(struct spool_msg *m, const char *rcpt,
	    const char *pattern, const char *base, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

#endif
