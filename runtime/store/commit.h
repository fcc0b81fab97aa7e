/*
 * commit: the waits for the disk, off the event loop.  Making a file
 * durable takes fsyncs that last milliseconds; done in the loop, every
 * session waits behind every other's.  So the loop hands the slow part
 * of a commit to one worker thread as a job (a short list of file
 * operations) and carries on; the thread runs it and the loop gets the
 * outcome back through an eventfd, as an ordinary callback in the loop
 * thread.  All the protocol logic stays in the one loop.
 *
 * Group commit: the thread takes every job queued when it wakes as one
 * batch and runs it in stages, each for the whole batch:
 *	1. COMMIT_FSYNC, COMMIT_CLOSE	(the files' data)
 *	2. COMMIT_LINK, COMMIT_RENAME, COMMIT_UNLINK	(the names)
 *	3. COMMIT_DIRSYNC, one fsync per distinct directory descriptor
 *	4. COMMIT_TIDY	(unlinks that need no durability)
 * One fsync of queue/ then covers every link any job of the batch made
 * in it, so messages finished by many sessions at about the same time
 * share it, and each job still completes only once its own names are
 * on disk.  A job's ops must be listed in stage order.
 *
 * Failure: the first op that fails stops its job (later ops of that job
 * are not run, its TIDY ops neither) and is reported in job->error and
 * job->failed; a failed directory fsync fails every job of the batch
 * that asked for it.  Undoing what the job did before it failed (a link
 * already made) is the caller's business, in the callback: only the
 * caller knows what the names mean.  TIDY ops run only for jobs that
 * succeeded, and their errors are ignored.
 *
 * Usage (spool.c, maildir and queue state changes alike):
 *	commit_init(&c, L, max, err, errlen);	(after any fork)
 *	commit_job_init(&j, done, arg);
 *	commit_op_fsync(&j, fd); commit_op_link(&j, tmp, n, queue, n, 0);
 *	commit_op_dirsync(&j, queue); commit_op_tidy(&j, tmp, n);
 *	if (commit_submit(&c, &j) == -1) ...	(EBUSY: answer 451)
 *	...	done(&j, arg) runs later, from the loop
 *	commit_free(&c);	(drains, runs the callbacks, joins)
 *
 * Ownership and threads.  From commit_submit() until its callback, a
 * job and everything its ops name belong to the thread: the caller
 * must not change or free the job, must keep every descriptor open and
 * every name valid and unchanged, and must not close a descriptor the
 * job will close (COMMIT_CLOSE hands it over: after the callback it is
 * closed whatever the outcome, and the caller forgets it at submit so
 * that the number, reused by a new accept(), is never closed twice).
 * The caller may read from a file the job fsyncs (pread is safe beside
 * fsync).  The thread touches nothing else: not the loop, not the
 * callback's argument, no global state; the callbacks run in the loop
 * thread, one at a time, in the order the jobs completed.  Everything
 * else in struct commit is the loop thread's; call nothing here from
 * another thread.
 *
 * Bound: at most max jobs in flight; beyond, commit_submit() fails
 * with EBUSY and the caller refuses for now (a session answers 451, a
 * delivery tries again later).  Why not a waiting list: a job stands
 * for a client already waiting for its reply, and the daemon already
 * bounds its sessions; a second queue in front of the thread would
 * only hide an overloaded disk behind ever longer waits, where a 451
 * tells the client to come back, which SMTP clients do.
 *
 * Memory: jobs are the caller's (embedded in its structures, with room
 * for COMMIT_OPS_MAX ops); after commit_init nothing is allocated.
 *
 * Fork: a child of a process with a thread inherits only the forking
 * thread, with the thread's locks in whatever state they were.  Start
 * the engine after every fork the daemon does at start (the verifier
 * child, the detach into the background): bastiond's server_start()
 * does it last.  A child forked later (the verifier is respawned) must
 * not call into this module; it is safe otherwise, since the thread
 * holds no lock of libc's (it allocates nothing and only makes system
 * calls) and the eventfd is close-on-exec.
 */
#ifndef BASTION_COMMIT_H
#define BASTION_COMMIT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct commit_job;

/* Operations, in stage order. */
#define COMMIT_FSYNC	1	/* fsync(fd) */
#define COMMIT_CLOSE	2	/* close(fd): may report a write error */
#define COMMIT_LINK	3	/* linkat(dir, name, todir, to) */
#define COMMIT_RENAME	4	/* renameat(dir, name, todir, to) */
#define COMMIT_UNLINK	5	/* unlinkat(dir, name) */
#define COMMIT_DIRSYNC	6	/* fsync(fd) of a directory, once */
#define COMMIT_TIDY	7	/* unlinkat(dir, name), errors ignored */

/* COMMIT_LINK flag: where hard links are refused, rename instead. */
#define COMMIT_F_RENAME	0x01

#define COMMIT_OPS_MAX	6
#define COMMIT_ERRLEN	128

typedef void	commit_done_fn(struct commit_job *job, void *arg);

struct commit_op {
	uint8_t		 kind;
	uint8_t		 flags;
	uint8_t		 renamed;	/* LINK, F_RENAME: renamed */
	int		 fd;		/* file or directory */
	int		 todir;		/* LINK, RENAME */
	const char	*name;		/* LINK, RENAME, UNLINK, TIDY */
	const char	*to;		/* LINK, RENAME */
};

/*
 * A job: caller-allocated, set up with commit_job_init() and the
 * commit_op_*() calls, reusable once its callback has run.  After the
 * callback, error is 0 or the errno of the op at index failed.
 */
struct commit_job {
	struct commit_op	 ops[COMMIT_OPS_MAX];
	unsigned		 nops;
	int			 error;
	int			 failed;	/* op index, -1: none */
	int			 busy;		/* in flight */
	commit_done_fn		*fn;
	void			*arg;
	struct commit_job	*next;		/* the engine's lists */
};

/* Counters, for tests and statistics. */
struct commit_stats {
	uint64_t	jobs;		/* completed */
	uint64_t	batches;
	uint64_t	fsyncs;		/* of files */
	uint64_t	dirsyncs;	/* of directories, after merging */
	uint64_t	dirsync_asked;	/* DIRSYNC ops, before merging */
	uint64_t	busy;		/* submits refused for the bound */
};

/* The engine: one per loop.  Caller-allocated; fields are private. */
struct commit {
	struct loop		*L;
	int			 efd;		/* eventfd */
	int			 started;	/* thread running */
	int			 quit;
	unsigned		 max, inflight;
	pthread_t		 th;
	pthread_mutex_t		 mu;		/* guards the rest */
	pthread_cond_t		 cv;
	struct commit_job	*todo, *todo_tail;	/* submitted */
	struct commit_job	*done, *done_tail;	/* run */
	struct commit_stats	 st;
	char			 err[COMMIT_ERRLEN];
};

/*
 * Start the engine for loop L, at most max jobs in flight: an eventfd
 * registered in L and the thread.  Returns 0, or -1 with the reason in
 * err (c is then inert; commit_free is harmless).
 */
int	commit_init(struct commit *c, struct loop *L, unsigned max,
	    char *err, size_t errlen) __attribute__((warn_unused_result));

/* 1 once commit_init() has succeeded (and until commit_free()). */
int	commit_started(const struct commit *c);

/*
 * Stop: wait for every job submitted (also those a callback submits
 * meanwhile), run their callbacks here, join the thread, and take the
 * eventfd out of the loop.  Call from the loop thread, outside a
 * callback of this module.
 */
void	commit_free(struct commit *c);

/* Prepare job (no ops yet) with its callback. */
void	commit_job_init(struct commit_job *job, commit_done_fn *fn,
	    void *arg);

/* Append an op; -1 if the job is full or in flight (a caller bug). */
int	commit_op_fsync(struct commit_job *job, int fd);
int	commit_op_close(struct commit_job *job, int fd);
int	commit_op_link(struct commit_job *job, int dir, const char *name,
	    int todir, const char *to, int flags);
int	commit_op_rename(struct commit_job *job, int dir, const char *name,
	    int todir, const char *to);
int	commit_op_unlink(struct commit_job *job, int dir, const char *name);
int	commit_op_dirsync(struct commit_job *job, int dirfd);
int	commit_op_tidy(struct commit_job *job, int dir, const char *name);

/*
 * Hand job to the thread.  Returns 0; or -1 with errno EBUSY (max jobs
 * in flight), EINVAL (no ops, ops out of stage order, or the job is in
 * flight already) or ESHUTDOWN (commit_free has begun, or never
 * started): the job is not taken and no callback will come.
 */
int	commit_submit(struct commit *c, struct commit_job *job)
	    __attribute__((warn_unused_result));

/* Jobs submitted whose callback has not run yet. */
unsigned commit_inflight(const struct commit *c);

/* A copy of the counters. */
void	commit_get_stats(struct commit *c, struct commit_stats *st);

/*
 * Run job now, in the calling thread, as a batch of one (for tools and
 * tests without a loop).  Returns 0 or -1 (job->error says why); no
 * callback is called.
 */
int	commit_run_now(struct commit_job *job);

#endif
