/*
 * local_test: Maildir delivery (runtime/store/local.c) with a real
 * loop and commit thread: the copies land in new/ and the queue file
 * goes away only after them, with nothing left in tmp/; a message that
 * also has recipients for other hosts is handed on only once its marks
 * are on disk, and keeps them; a Maildir that fails for good bounces
 * (the bounce committed by the commit thread), but not a bounce;
 * with every job busy messages wait for one, and past the waiting list
 * are turned away until the room hook says to come back; a damaged
 * file is moved to corrupt/.
 */
#include "spool_testutil.h"

#include "config.h"

#include <fcntl.h>

#include "bastion_limits.h"
#include "local.h"
#include "rt_testutil.h"

/* Enough messages to fill every job and the waiting list, and one. */
#define NMANY	(LOCAL_JOBS + LOCAL_WAIT + 1)

struct hooks {
	struct local	*l;
	int		 routed;
	int		 route_busy;	/* the job still held it then */
	int		 bounced;
	int		 room;
	char		 route_id[SPOOL_ID_SIZE];
	char		 bounce_id[SPOOL_ID_SIZE];
};

/* What the watch over a round checks at every turn of the loop. */
struct watch {
	struct local	*l;
	const char	*id;
	char		 queued[4096];	/* the queue file */
	char		 new1[4096], new2[4096];	/* two new/ */
	int		 early;		/* queue file gone, a copy missing */
};

static void	on_route(void *, const char *);
static void	on_bounced(void *, const char *);
static void	on_room(void *);
static int	settled(void *);
static int	room(void *);
static int	idle(void *);
static int	aside_done(void *);

static void
on_route(void *arg, const char *id)
{
	struct hooks	*h = arg;

	h->routed++;
	h->route_busy = local_busy(h->l, id);
	snprintf(h->route_id, sizeof(h->route_id), "%s", id);
}

static void
on_bounced(void *arg, const char *id)
{
	struct hooks	*h = arg;

	h->bounced++;
	snprintf(h->bounce_id, sizeof(h->bounce_id), "%s", id);
}

static void
on_room(void *arg)
{
	((struct hooks *)arg)->room++;
}

static int
settled(void *arg)
{
	struct watch	*w = arg;

	if (access(w->queued, F_OK) == -1 &&
	    (tu_count(w->new1) < 1 || tu_count(w->new2) < 1))
		w->early = 1;
	return !local_busy(w->l, w->id);
}

static int
room(void *arg)
{
	return ((struct hooks *)arg)->room > 0;
}

static int
idle(void *arg)
{
	struct local	*l = arg;
	size_t		 i;

	for (i = 0; i < LOCAL_JOBS; i++)
		if (l->jobs[i] != NULL && l->jobs[i]->busy)
			return 0;
	return 1;
}

static int
aside_done(void *arg)
{
	return !((struct local *)arg)->aside_busy;
}

int
main(void)
{
	static struct local	 l;
	static struct rt_site	 site;
	struct rt_site		*S = &site;
	struct local_env	 env;
	struct commit		 c;
	struct hooks		 h;
	struct watch		 w;
	struct spool_msg	 m;
	struct spool_rcpt	 r;
	char			 path[4096], err[256], id[SPOOL_ID_SIZE];
	static char		 ids[NMANY][SPOOL_ID_SIZE];
	const char		*two[] = { "alice@local.example",
				    "bob@local.example" };
	const char		*mixed[] = { "alice@local.example",
				    "dave@remote.example" };
	const char		*broken[] = { "carol@broken.example" };
	size_t			 i;
	int			 n, fd;

	if (rt_site_open(S, "local_test", 25) != 0)
		return 99;
	if (commit_init(&c, &S->L, 64, err, sizeof(err)) != 0) {
		printf("commit_init: %s\n", err);
		return 99;
	}
	memset(&h, 0, sizeof(h));
	h.l = &l;
	memset(&env, 0, sizeof(env));
	env.spool = &S->sp;
	env.log = &S->log;
	env.oplog = &S->ol;
	env.table = &S->tb;
	env.base = S->dir;
	env.commit = &c;
	env.route = on_route;
	env.bounced = on_bounced;
	env.room = on_room;
	env.arg = &h;
	local_init(&l, &env);

	/* Two Maildirs: both copies in new/ before the queue file goes. */
	CHECK(rt_commit(&S->sp, "sender@local.example", two, 2, id) == 0,
	    "commit");
	memset(&w, 0, sizeof(w));
	w.l = &l;
	w.id = id;
	snprintf(w.queued, sizeof(w.queued), "%s/spool/queue/%s", S->dir, id);
	snprintf(w.new1, sizeof(w.new1), "%s/mail/alice/new", S->dir);
	snprintf(w.new2, sizeof(w.new2), "%s/mail/bob/new", S->dir);
	CHECK(local_start(&l, id) == 1, "a job took it");
	CHECK(local_busy(&l, id), "the job holds it");
	CHECK(access(w.queued, F_OK) == 0, "queued until the loop turns");
	CHECK(rt_spin(&S->L, settled, &w, 5000) == 1, "the round ended");
	CHECK(!w.early, "the queue file went before a copy was in new/");
	CHECK(tu_count(w.new1) == 1 && tu_count(w.new2) == 1, "both in new/");
	CHECK(access(w.queued, F_OK) == -1 && errno == ENOENT,
	    "the queue file is gone");
	snprintf(path, sizeof(path), "%s/mail/alice/tmp", S->dir);
	CHECK(tu_count(path) == 0, "nothing left in alice's tmp/");
	snprintf(path, sizeof(path), "%s/mail/bob/tmp", S->dir);
	CHECK(tu_count(path) == 0, "nothing left in bob's tmp/");
	CHECK(h.routed == 0 && h.bounced == 0, "nothing routed or bounced");
	CHECK(rt_file_has(S->dir, "protocol.log", "delivered "
	    "<bob@local.example> to maildir (line 2)"), "bob's line");

	/* Mixed: handed on once settled, alice's mark kept. */
	CHECK(rt_commit(&S->sp, "sender@local.example", mixed, 2, id) == 0,
	    "commit");
	w.id = id;
	snprintf(w.queued, sizeof(w.queued), "%s/spool/queue/%s", S->dir, id);
	CHECK(local_start(&l, id) == 1, "a job took it");
	CHECK(h.routed == 0, "not handed on before the round ends");
	(void)rt_spin(&S->L, settled, &w, 5000);
	CHECK(h.routed == 1 && strcmp(h.route_id, id) == 0, "handed on");
	CHECK(!h.route_busy, "the job had let it go");
	CHECK(tu_count(w.new1) == 2, "alice has the second copy");
	CHECK(spool_msg_open(&S->sp, &m, id, err, sizeof(err)) == 1, "%s",
	    err);
	memset(&r, 0, sizeof(r));
	CHECK(spool_rcpt_next(&m, &r, err, sizeof(err)) == 1 &&
	    r.status == SPOOL_DELIVERED, "alice is marked delivered");
	CHECK(spool_rcpt_next(&m, &r, err, sizeof(err)) == 1 &&
	    r.status == SPOOL_PENDING, "dave is pending");
	spool_msg_close(&m);
	/* Nothing for this host any more: straight on, no job. */
	h.routed = 0;
	CHECK(local_start(&l, id) == 1 && !local_busy(&l, id) &&
	    h.routed == 1, "handed straight on");

	/* A Maildir that fails for good: a bounce, and the message goes. */
	CHECK(rt_commit(&S->sp, "sender@local.example", broken, 1, id) == 0,
	    "commit");
	w.id = id;
	snprintf(w.queued, sizeof(w.queued), "%s/spool/queue/%s", S->dir, id);
	CHECK(local_start(&l, id) == 1, "a job took it");
	(void)rt_spin(&S->L, settled, &w, 5000);
	CHECK(h.bounced == 1, "the bounce was handed on");
	CHECK(access(w.queued, F_OK) == -1, "the failed message is gone");
	snprintf(path, sizeof(path), "%s/spool/queue/%s", S->dir, h.bounce_id);
	CHECK(access(path, F_OK) == 0, "the bounce is queued");
	CHECK(local_start(&l, h.bounce_id) == 1, "the bounce is taken");
	w.id = h.bounce_id;
	(void)rt_spin(&S->L, settled, &w, 5000);
	snprintf(path, sizeof(path), "%s/mail/sender/new", S->dir);
	CHECK(tu_count(path) == 1, "the bounce is in sender's Maildir");

	/* From the null sender: no bounce, and the message goes anyway. */
	h.bounced = 0;
	CHECK(rt_commit(&S->sp, "", broken, 1, id) == 0, "commit");
	w.id = id;
	snprintf(w.queued, sizeof(w.queued), "%s/spool/queue/%s", S->dir, id);
	CHECK(local_start(&l, id) == 1, "a job took it");
	(void)rt_spin(&S->L, settled, &w, 5000);
	CHECK(h.bounced == 0, "no bounce of a bounce");
	CHECK(access(w.queued, F_OK) == -1, "the failed bounce is gone");

	/* A damaged file goes to corrupt/, with its reason beside it. */
	CHECK(rt_commit(&S->sp, "sender@local.example", two, 2, id) == 0,
	    "commit");
	snprintf(path, sizeof(path), "%s/spool/queue/%s", S->dir, id);
	fd = open(path, O_WRONLY);
	CHECK(fd != -1 && pwrite(fd, "X", 1, 0) == 1, "damage %s", id);
	if (fd != -1)
		close(fd);
	CHECK(local_start(&l, id) == 1 && !local_busy(&l, id), "looked at");
	CHECK(access(path, F_OK) == -1, "out of queue/");
	snprintf(path, sizeof(path), "%s/spool/corrupt/%s.reason", S->dir, id);
	CHECK(access(path, F_OK) == 0, "%s is there", path);
	CHECK(rt_spin(&S->L, aside_done, &l, 5000) == 1, "its fsyncs ended");
	CHECK(rt_file_has(S->dir, "protocol.log", "damaged, moved to "
	    "corrupt/"), "the log says so");

	/*
	 * Every job busy: the next ones wait, and start as jobs free up;
	 * past the waiting list, turned away, then the room hook.
	 */
	for (i = 0; i < NMANY; i++)
		CHECK(rt_commit(&S->sp, "sender@local.example", two, 2,
		    ids[i]) == 0, "commit");
	for (i = 0, n = 0; i < NMANY; i++)
		n += local_start(&l, ids[i]);
	CHECK(n == NMANY - 1, "%d of %d taken or waiting", n, NMANY);
	CHECK(local_busy(&l, ids[LOCAL_JOBS - 1]) &&
	    !local_busy(&l, ids[LOCAL_JOBS]), "the jobs took the first");
	CHECK(local_start(&l, ids[LOCAL_JOBS]) == 1 && l.wcount ==
	    LOCAL_WAIT, "a second start of a waiting one is no more");
	CHECK(h.room == 0, "no room yet");
	CHECK(rt_spin(&S->L, room, &h, 10000) == 1, "room once all started");
	CHECK(l.wcount == 0, "nothing waits");
	CHECK(local_start(&l, ids[NMANY - 1]) == 1, "taken now");
	CHECK(rt_spin(&S->L, idle, &l, 10000) == 1, "every job ended");
	CHECK(tu_count(w.new1) == 2 + NMANY, "alice has %d of %d",
	    tu_count(w.new1), 2 + NMANY);
	snprintf(path, sizeof(path), "%s/spool/queue", S->dir);
	CHECK(tu_count(path) == 1, "only dave's message is left queued");

	/* Stopped: nothing more is taken; the engine's end frees all. */
	local_stop(&l);
	CHECK(rt_commit(&S->sp, "sender@local.example", two, 2, id) == 0,
	    "commit");
	CHECK(local_start(&l, id) == 1 && !local_busy(&l, id),
	    "nothing taken after local_stop");
	commit_free(&c);
	local_stop(&l);
	for (i = 0; i < LOCAL_JOBS; i++)
		CHECK(l.jobs[i] == NULL, "job %zu freed", i);
	snprintf(path, sizeof(path), "%s/spool/queue/%s", S->dir, id);
	CHECK(access(path, F_OK) == 0, "still queued");

	rt_site_close(S);
	return tu_done("local_test");
}
