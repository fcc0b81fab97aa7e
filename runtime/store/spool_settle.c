/*
 * spool_settle: the end of a delivery round, made durable by the
 * commit thread instead of the loop (see spool.h).  The ops go in the
 * commit engine's stage order: the files' fsyncs and closes, then the
 * names, then the folder's fsync, then the tidying.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bastion_limits.h"
#include "spool.h"

static void	settle_done(struct commit_job *, void *);
static void	spool_settle_spent(struct spool_settle *);
static void	settle_build(struct spool_settle *, struct spool_msg *,
		    struct spool_state_writer *);

/*
 * The ops.  A removal leaves the state writer's work undone (the state
 * goes before the message); a kept message gets its marks and its
 * state made durable.  The descriptors pass to the job here.
 */
static void
settle_build(struct spool_settle *s, struct spool_msg *m,
    struct spool_state_writer *w)
{
	struct commit_job	*j = &s->job;
	struct spool		*sp = s->sp;
	int			 dir = s->held ? sp->hold : sp->queue;

	commit_job_init(j, settle_done, s);
	if (s->remove) {
		if (w != NULL)
			spool_state_abort(w);
		/*
		 * The state is a note about the message: dropped here, first,
		 * so that no one sees it outlive the message (an unlink needs
		 * no fsync to be seen, and a crash that keeps the message and
		 * loses its note loses nothing that matters).
		 */
		if (sp->state != -1)
			(void)unlinkat(sp->state, s->id, 0);
		(void)commit_op_close(j, m->fd);
		s->recycle = sp->free != -1 &&
		    sp->nfree + sp->freeing < SPOOL_FREE_MAX;
		if (s->recycle) {
			sp->freeing++;
			(void)commit_op_rename(j, dir, s->id, sp->free, s->id);
		} else
			(void)commit_op_unlink(j, dir, s->id);
		(void)commit_op_dirsync(j, dir);
	} else {
		if (m->noted)
			(void)commit_op_fsync(j, m->fd);
		(void)commit_op_close(j, m->fd);
		if (w != NULL)
			spool_state_job(w, j);
	}
	m->fd = -1;
	m->noted = 0;
}

int
spool_settle_start(struct spool *sp, struct spool_settle *s,
    struct commit *eng, struct spool_msg *m, struct spool_state_writer *w,
    int remove, spool_settle_fn *fn, void *arg)
{
	s->sp = sp;
	s->remove = remove;
	s->held = m->held;
	memcpy(s->id, m->id, SPOOL_ID_SIZE);
	s->fn = fn;
	s->arg = arg;
	settle_build(s, m, w);
	/* The stage order holds by construction; EBUSY/ESHUTDOWN remain. */
	if (eng != NULL && commit_started(eng) && commit_submit(eng,
	    &s->job) == 0)
		return 0;
	(void)commit_run_now(&s->job);
	spool_settle_spent(s);
	return 1;
}

/* A file renamed into free/ is there for the next message. */
static void
spool_settle_spent(struct spool_settle *s)
{
	struct spool		*sp = s->sp;
	const struct commit_job	*j = &s->job;
	unsigned		 k;

	if (!s->recycle)
		return;
	s->recycle = 0;
	sp->freeing--;
	for (k = 0; k < j->nops; k++)
		if (j->ops[k].kind == COMMIT_RENAME)
			break;
	if (k < j->nops && (j->error == 0 || j->failed > (int)k) &&
	    sp->nfree < SPOOL_FREE_MAX)
		memcpy(sp->spare[sp->nfree++], s->id, SPOOL_ID_SIZE);
}

int
spool_settle_result(const struct spool_settle *s, char *err, size_t errlen)
{
	const struct commit_job	*j = &s->job;
	const char		*what;
	const char		*folder = s->held ? "hold" : "queue";

	if (j->error == 0)
		return 0;
	switch (j->ops[j->failed].kind) {
	case COMMIT_FSYNC:
		what = "fsync";
		break;
	case COMMIT_CLOSE:
		what = "close";
		break;
	case COMMIT_RENAME:
		what = s->remove ? "remove" : "state rename";
		break;
	case COMMIT_UNLINK:
		what = "remove";
		break;
	default:
		what = "fsync of the folder";
		break;
	}
	snprintf(err, errlen, "%s/%s: %s: %s", folder, s->id, what,
	    strerror(j->error));
	return -1;
}

/* From the loop: report the outcome. */
static void
settle_done(struct commit_job *j, void *arg)
{
	struct spool_settle	*s = arg;
	char			 err[LIM_ERRMSG];
	int			 rc;

	(void)j;
	err[0] = '\0';
	rc = spool_settle_result(s, err, sizeof(err));
	spool_settle_spent(s);
	s->fn(s, rc, err, s->arg);
}
