/*
 * commit: a worker thread that does a loop's waits for the disk, a
 * batch at a time (see commit.h for the API, the stages and the rules
 * on who owns what).
 *
 * Two lists under one mutex: todo (submitted by the loop, taken whole
 * by the thread) and done (run, handed back).  The thread signals the
 * loop through an eventfd after each batch; the loop's handler takes
 * the done list whole and calls back.  The lists are intrusive (the
 * jobs' next fields), so nothing is allocated per job, and the mutex is
 * held only to move list heads, never across a system call.
 */
#include "config.h"

#include <sys/eventfd.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commit.h"
#include "loop.h"

/* Distinct directories remembered per batch; more are synced again. */
#define COMMIT_DIRS	32

static void	*commit_thread(void *);
static void	 commit_batch(struct commit_job *, struct commit_stats *);
static int	 commit_stage(int);
static void	 commit_run_stage(struct commit_job *, int,
		    struct commit_stats *);
static int	 commit_op1(struct commit_op *, struct commit_stats *);
static void	 commit_on_event(struct loop *, int, int, void *);
static void	 commit_deliver(struct commit *);
static int	 commit_add(struct commit_job *, int, int, int, const char *,
		    int, const char *);

int
commit_init(struct commit *c, struct loop *L, unsigned max, char *err,
    size_t errlen)
{
	sigset_t	all, old;
	int		e;

	memset(c, 0, sizeof(*c));
	c->L = L;
	c->max = max > 0 ? max : 1;
	c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->efd == -1) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -1;
	}
	if (loop_fd_add(L, c->efd, LOOP_READ, commit_on_event, c) != 0) {
		snprintf(err, errlen, "commit: %s", loop_error(L));
		close(c->efd);
		c->efd = -1;
		return -1;
	}
	if ((e = pthread_mutex_init(&c->mu, NULL)) != 0 ||
	    (e = pthread_cond_init(&c->cv, NULL)) != 0) {
		snprintf(err, errlen, "commit: %s", strerror(e));
		goto fail;
	}
	/*
	 * The thread takes no signals: they belong to the loop's signalfd,
	 * and one delivered here would interrupt an fsync for nothing.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&c->th, NULL, commit_thread, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		snprintf(err, errlen, "commit thread: %s", strerror(e));
		goto fail;
	}
	c->started = 1;
	return 0;

fail:
	loop_fd_del(L, c->efd);
	close(c->efd);
	c->efd = -1;
	return -1;
}

int
commit_started(const struct commit *c)
{
	return c->started;
}

void
commit_free(struct commit *c)
{
	struct commit_stats	st;
	struct commit_job	*batch;

	if (!c->started)
		return;
	pthread_mutex_lock(&c->mu);
	c->quit = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->th, NULL);

	/*
	 * The thread ran everything queued before it saw quit.  Callbacks
	 * may submit again (a spool commit retries under a new name), so
	 * go on here, in this thread, until nothing is left.
	 */
	for (;;) {
		commit_deliver(c);
		if (c->todo == NULL)
			break;
		batch = c->todo;
		c->todo = c->todo_tail = NULL;
		memset(&st, 0, sizeof(st));
		commit_batch(batch, &st);
		c->st.jobs += st.jobs;
		c->st.batches += st.batches;
		c->st.fsyncs += st.fsyncs;
		c->st.dirsyncs += st.dirsyncs;
		c->st.dirsync_asked += st.dirsync_asked;
		if (c->done_tail != NULL)
			c->done_tail->next = batch;
		else
			c->done = batch;
		while (batch->next != NULL)
			batch = batch->next;
		c->done_tail = batch;
	}
	loop_fd_del(c->L, c->efd);
	close(c->efd);
	c->efd = -1;
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	c->started = 0;
}

void
commit_job_init(struct commit_job *job, commit_done_fn *fn, void *arg)
{
	job->nops = 0;
	job->error = 0;
	job->failed = -1;
	job->busy = 0;
	job->fn = fn;
	job->arg = arg;
	job->next = NULL;
}

static int
commit_add(struct commit_job *job, int kind, int flags, int fd,
    const char *name, int todir, const char *to)
{
	struct commit_op	*op;

	if (job->busy || job->nops >= COMMIT_OPS_MAX)
		return -1;
	op = &job->ops[job->nops++];
	op->kind = (uint8_t)kind;
	op->flags = (uint8_t)flags;
	op->renamed = 0;
	op->fd = fd;
	op->name = name;
	op->todir = todir;
	op->to = to;
	return 0;
}

int
commit_op_fsync(struct commit_job *job, int fd)
{
	return commit_add(job, COMMIT_FSYNC, 0, fd, NULL, -1, NULL);
}

int
commit_op_close(struct commit_job *job, int fd)
{
	return commit_add(job, COMMIT_CLOSE, 0, fd, NULL, -1, NULL);
}

int
commit_op_link(struct commit_job *job, int dir, const char *name, int todir,
    const char *to, int flags)
{
	return commit_add(job, COMMIT_LINK, flags, dir, name, todir, to);
}

int
commit_op_rename(struct commit_job *job, int dir, const char *name,
    int todir, const char *to)
{
	return commit_add(job, COMMIT_RENAME, 0, dir, name, todir, to);
}

int
commit_op_unlink(struct commit_job *job, int dir, const char *name)
{
	return commit_add(job, COMMIT_UNLINK, 0, dir, name, -1, NULL);
}

int
commit_op_dirsync(struct commit_job *job, int dirfd)
{
	return commit_add(job, COMMIT_DIRSYNC, 0, dirfd, NULL, -1, NULL);
}

int
commit_op_tidy(struct commit_job *job, int dir, const char *name)
{
	return commit_add(job, COMMIT_TIDY, 0, dir, name, -1, NULL);
}

/* The stage an op runs in (commit.h); 0 for an unknown kind. */
static int
commit_stage(int kind)
{
	switch (kind) {
	case COMMIT_FSYNC:
	case COMMIT_CLOSE:
		return 1;
	case COMMIT_LINK:
	case COMMIT_RENAME:
	case COMMIT_UNLINK:
		return 2;
	case COMMIT_DIRSYNC:
		return 3;
	case COMMIT_TIDY:
		return 4;
	}
	return 0;
}

int
commit_submit(struct commit *c, struct commit_job *job)
{
	unsigned	i;
	int		s, last = 0;

	if (!c->started) {
		errno = ESHUTDOWN;
		return -1;
	}
	if (job->busy || job->nops == 0) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < job->nops; i++) {
		s = commit_stage(job->ops[i].kind);
		if (s == 0 || s < last) {
			errno = EINVAL;
			return -1;
		}
		last = s;
	}
	if (c->inflight >= c->max) {
		c->st.busy++;
		errno = EBUSY;
		return -1;
	}
	job->error = 0;
	job->failed = -1;
	job->busy = 1;
	job->next = NULL;
	c->inflight++;
	pthread_mutex_lock(&c->mu);
	if (c->todo_tail != NULL)
		c->todo_tail->next = job;
	else
		c->todo = job;
	c->todo_tail = job;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

unsigned
commit_inflight(const struct commit *c)
{
	return c->inflight;
}

void
commit_get_stats(struct commit *c, struct commit_stats *st)
{
	if (c->started)
		pthread_mutex_lock(&c->mu);
	*st = c->st;
	if (c->started)
		pthread_mutex_unlock(&c->mu);
}

int
commit_run_now(struct commit_job *job)
{
	struct commit_stats	st;

	job->error = 0;
	job->failed = -1;
	job->next = NULL;
	memset(&st, 0, sizeof(st));
	commit_batch(job, &st);
	return job->error != 0 ? -1 : 0;
}

/* ---- the thread ------------------------------------------------------ */

static void *
commit_thread(void *arg)
{
	struct commit		*c = arg;
	struct commit_stats	 st;
	struct commit_job	*batch, *tail;
	uint64_t		 one = 1;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (c->todo == NULL && !c->quit)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->todo == NULL)
			break;
		batch = c->todo;
		c->todo = c->todo_tail = NULL;
		pthread_mutex_unlock(&c->mu);

		memset(&st, 0, sizeof(st));
		commit_batch(batch, &st);
		for (tail = batch; tail->next != NULL; tail = tail->next)
			;

		pthread_mutex_lock(&c->mu);
		c->st.jobs += st.jobs;
		c->st.batches += st.batches;
		c->st.fsyncs += st.fsyncs;
		c->st.dirsyncs += st.dirsyncs;
		c->st.dirsync_asked += st.dirsync_asked;
		if (c->done_tail != NULL)
			c->done_tail->next = batch;
		else
			c->done = batch;
		c->done_tail = tail;
		pthread_mutex_unlock(&c->mu);
		/*
		 * Only fails when the counter would overflow, which a loop
		 * that reads it cannot let happen; it is non-blocking.
		 */
		while (write(c->efd, &one, sizeof(one)) == -1 &&
		    errno == EINTR)
			;
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* One op of stages 1, 2 and 4.  Returns 0 or an errno. */
static int
commit_op1(struct commit_op *op, struct commit_stats *st)
{
	int	r, e;

	switch (op->kind) {
	case COMMIT_FSYNC:
		st->fsyncs++;
		r = fsync(op->fd);
		break;
	case COMMIT_CLOSE:
		/* Closed either way: EINTR here must not lead to a retry. */
		r = close(op->fd);
		if (r == -1 && errno == EINTR)
			r = 0;
		break;
	case COMMIT_LINK:
		r = linkat(op->fd, op->name, op->todir, op->to, 0);
		if (r == -1 && (op->flags & COMMIT_F_RENAME) &&
		    (errno == EPERM || errno == EOPNOTSUPP ||
		    errno == EMLINK || errno == ENOSYS)) {
			/* No hard links here: rename, and say so. */
			r = renameat(op->fd, op->name, op->todir, op->to);
			if (r == 0)
				op->renamed = 1;
		}
		break;
	case COMMIT_RENAME:
		r = renameat(op->fd, op->name, op->todir, op->to);
		break;
	case COMMIT_UNLINK:
	case COMMIT_TIDY:
		r = unlinkat(op->fd, op->name, 0);
		break;
	default:
		errno = EINVAL;
		r = -1;
		break;
	}
	if (r == 0)
		return 0;
	e = errno;
	return e != 0 ? e : EIO;
}

/* Run every op of stage s for the jobs of the batch still going. */
static void
commit_run_stage(struct commit_job *batch, int s, struct commit_stats *st)
{
	struct commit_job	*j;
	unsigned		 i;
	int			 e;

	for (j = batch; j != NULL; j = j->next) {
		if (j->error != 0)
			continue;
		for (i = 0; i < j->nops; i++) {
			if (commit_stage(j->ops[i].kind) != s)
				continue;
			e = commit_op1(&j->ops[i], st);
			if (e != 0 && s != 4) {
				j->error = e;
				j->failed = (int)i;
				break;
			}
		}
		/* A CLOSE was a hand-over: it happens even after a failure. */
		while (j->error != 0 && ++i < j->nops)
			if (j->ops[i].kind == COMMIT_CLOSE)
				(void)close(j->ops[i].fd);
	}
}

/*
 * A batch, stage by stage (commit.h).  Directory fsyncs are merged: the
 * first job that asks for a directory syncs it, and the later ones of
 * the batch take that outcome, since every link of the batch was made
 * before it.  A job that closes its file before failing must not have
 * the close retried, so a job's failure stops it where it stands.
 */
static void
commit_batch(struct commit_job *batch, struct commit_stats *st)
{
	struct {
		int	fd, error;
	}			 dirs[COMMIT_DIRS];
	struct commit_job	*j;
	size_t			 ndirs = 0, k;
	unsigned		 i;
	int			 e;

	st->batches++;
	commit_run_stage(batch, 1, st);
	commit_run_stage(batch, 2, st);
	for (j = batch; j != NULL; j = j->next) {
		for (i = 0; i < j->nops && j->error == 0; i++) {
			if (j->ops[i].kind != COMMIT_DIRSYNC)
				continue;
			st->dirsync_asked++;
			for (k = 0; k < ndirs; k++)
				if (dirs[k].fd == j->ops[i].fd)
					break;
			if (k < ndirs)
				e = dirs[k].error;
			else {
				st->dirsyncs++;
				e = fsync(j->ops[i].fd) == -1 ?
				    (errno != 0 ? errno : EIO) : 0;
				if (ndirs < COMMIT_DIRS) {
					dirs[ndirs].fd = j->ops[i].fd;
					dirs[ndirs].error = e;
					ndirs++;
				}
			}
			if (e != 0) {
				j->error = e;
				j->failed = (int)i;
			}
		}
	}
	commit_run_stage(batch, 4, st);
	for (j = batch; j != NULL; j = j->next)
		st->jobs++;
}

/* ---- back in the loop ------------------------------------------------ */

static void
commit_on_event(struct loop *L, int fd, int events, void *arg)
{
	struct commit	*c = arg;
	uint64_t	 n;

	(void)L;
	(void)events;
	/* Reset the counter first: a batch done meanwhile signals anew. */
	while (read(fd, &n, sizeof(n)) == -1 && errno == EINTR)
		;
	commit_deliver(c);
}

/* Call back for every job run so far, in order. */
static void
commit_deliver(struct commit *c)
{
	struct commit_job	*j, *next;

	pthread_mutex_lock(&c->mu);
	j = c->done;
	c->done = c->done_tail = NULL;
	pthread_mutex_unlock(&c->mu);
	for (; j != NULL; j = next) {
		next = j->next;
		j->next = NULL;
		j->busy = 0;
		c->inflight--;
		/* The callback may reuse the job, and submit it again. */
		j->fn(j, j->arg);
	}
}
