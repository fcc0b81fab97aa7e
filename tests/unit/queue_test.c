/*
 * queue_test: the queue (runtime/store/queue.c) on its own, with a
 * loop, a spool and a table of its own: a committed message is
 * delivered to its Maildir in the loop, a Maildir that fails for good
 * bounces from the queue itself (the bounce is delivered in turn), and
 * what is for other hosts goes to the route hook and stays queued.
 * Then the schedule: a queue of messages dated ahead is read a share
 * per turn and none is looked at before its time; the outbound side's
 * next attempt, its want of a job (wait, room), forget and flush.
 */
#include "spool_testutil.h"

#include "config.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <syslog.h>
#include <time.h>

#include "bastion_limits.h"
#include "queue.h"
#include "rt_testutil.h"

#define NSCHED		2000	/* messages dated ahead */

struct hooks {
	int	 busy;			/* calls to busy() */
	int	 routed;		/* calls to route() */
	char	 route_id[SPOOL_ID_SIZE];
	struct queue *q;		/* starve: the route has no job */
	int	 starve;
	int	 want;			/* routed() waits for this many */
};

static int	on_busy(void *, const char *);
static void	on_route(void *, const char *);
static int	routed(void *);
static int	has_file(void *);
static int	first_has(const char *, const char *, const char *);
static int	scanned(void *);
static int	routed_n(void *);
static void	start(struct queue *, struct rt_site *, struct hooks *);
static void	schedule_test(struct rt_site *, const char *);

static int
on_busy(void *arg, const char *id)
{
	struct hooks	*h = arg;

	(void)id;
	h->busy++;
	return 0;
}

static void
on_route(void *arg, const char *id)
{
	struct hooks	*h = arg;

	h->routed++;
	snprintf(h->route_id, sizeof(h->route_id), "%s", id);
	if (h->starve)
		queue_wait(h->q, id);
}

/* A queue on site S, with the hooks in h (zeroed). */
static void
start(struct queue *q, struct rt_site *S, struct hooks *h)
{
	struct queue_env	 env;

	memset(h, 0, sizeof(*h));
	memset(&env, 0, sizeof(env));
	env.loop = &S->L;
	env.spool = &S->sp;
	env.log = &S->log;
	env.oplog = &S->ol;
	env.table = &S->tb;
	env.base = S->dir;
	env.busy = on_busy;
	env.route = on_route;
	env.arg = h;
	h->q = q;
	queue_init(q, &env);
}

static int
routed_n(void *arg)
{
	struct hooks	*h = arg;

	return h->routed >= h->want;
}

static int
scanned(void *arg)
{
	struct queue_counts	 c;

	queue_counts(arg, &c);
	return !c.scanning;
}

/*
 * NSCHED copies of message model (for the outbound side only) under new
 * ids, dated an hour ahead, and the model itself due now: a queue that
 * starts finds them all and hands out the model alone.
 */
static void
schedule_test(struct rt_site *S, const char *model)
{
	static struct queue	 q;
	struct queue_counts	 c;
	struct hooks		 h;
	struct timespec		 ts[2];
	char			 ids[NSCHED][SPOOL_ID_SIZE], path[4096];
	char			 from[4096], buf[4096];
	unsigned long		 n;
	ssize_t			 len;
	int			 i, busy, fd;

	snprintf(from, sizeof(from), "%s/spool/queue/%s", S->dir, model);
	if ((fd = open(from, O_RDONLY)) == -1 ||
	    (len = read(fd, buf, sizeof(buf))) <= 0 ||
	    (size_t)len == sizeof(buf)) {
		CHECK(0, "read %s", from);
		return;
	}
	close(fd);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) + 3600;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	for (i = 0; i < NSCHED; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%014x%08x", 0x10000 + i,
		    0x7fff0000u);
		CHECK(spool_id_valid(ids[i]), "%s is an id", ids[i]);
		snprintf(path, sizeof(path), "%s/spool/queue/%.22s", S->dir,
		    ids[i]);
		/* The id is the name alone: a copy is another message. */
		if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) ==
		    -1 || write(fd, buf, (size_t)len) != len ||
		    futimens(fd, ts) != 0) {
			CHECK(0, "%s: %s", path, strerror(errno));
			return;
		}
		close(fd);
	}

	start(&q, S, &h);
	queue_start(&q);
	CHECK(loop_once(&S->L, 0) == 0, "a turn");
	queue_counts(&q, &c);
	CHECK(c.scanning && c.known <= QUEUE_SCAN_TURN, "the first turn "
	    "read a share of queue/ (%lu)", c.known);
	CHECK(rt_spin(&S->L, scanned, &q, 10000), "the start-up scan ends");
	h.want = 1;
	(void)rt_spin(&S->L, routed_n, &h, 2000);
	(void)rt_spin(&S->L, routed_n, &h, 200);	/* and no more */
	queue_counts(&q, &c);
	CHECK(c.known == NSCHED + 1, "the schedule knows %lu, want %d",
	    c.known, NSCHED + 1);
	CHECK(c.waiting == NSCHED + 1, "all wait (%lu), the model for its "
	    "retry interval", c.waiting);
	CHECK(h.routed == 1 && strcmp(h.route_id, model) == 0, "only the "
	    "model was handed out (%d, %s)", h.routed, h.route_id);
	CHECK(h.busy == 1, "only the model was looked at (%d)", h.busy);

	/* The outbound side's next attempt: in a second, then it is due. */
	queue_retry_at(&q, ids[7], time(NULL) + 1);
	h.want = 2;
	CHECK(rt_spin(&S->L, routed_n, &h, 3000), "due after its retry");
	CHECK(strcmp(h.route_id, ids[7]) == 0, "%s was due, not %s", ids[7],
	    h.route_id);
	queue_retry_at(&q, ids[7], 0);		/* delivered: gone */
	queue_forget(&q, ids[8]);		/* held */
	queue_counts(&q, &c);
	CHECK(c.known == NSCHED - 1, "known %lu after two left", c.known);

	/*
	 * No job free: the first of the flushed backlog waits, and no other
	 * is looked at until there is room.
	 */
	h.starve = 1;
	busy = h.busy;
	n = queue_flush_all(&q);
	CHECK(n == NSCHED - 1, "flush: %lu were due later", n);
	h.want = h.routed + 1;
	(void)rt_spin(&S->L, routed_n, &h, 2000);
	(void)rt_spin(&S->L, scanned, &q, 200);
	CHECK(h.busy == busy + 1, "one handed out while the route is full "
	    "(%d)", h.busy - busy);
	h.starve = 0;
	queue_room(&q);
	h.want = h.routed + NSCHED - 1;
	CHECK(rt_spin(&S->L, routed_n, &h, 20000), "all handed out after "
	    "room (%d)", h.routed);
	CHECK(h.busy - busy == NSCHED, "each looked at once, the waiting "
	    "one twice (%d)", h.busy - busy);
	queue_counts(&q, &c);
	CHECK(c.known == NSCHED - 1 && c.waiting == NSCHED - 1, "all filed "
	    "again for their retry (%lu, %lu)", c.known, c.waiting);
	queue_free(&q);
	for (i = 0; i < NSCHED; i++) {
		snprintf(path, sizeof(path), "%s/spool/queue/%.22s", S->dir,
		    ids[i]);
		(void)unlink(path);
	}
}

static int
routed(void *arg)
{
	return ((struct hooks *)arg)->routed > 0;
}

static int
has_file(void *dir)
{
	return tu_count(dir) > 0;
}

/* 1 if the first file in folder sub of dir holds text. */
static int
first_has(const char *dir, const char *sub, const char *text)
{
	char	 name[256], path[4096], rel[1024];

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	tu_first(path, name, sizeof(name));
	snprintf(rel, sizeof(rel), "%s/%s", sub, name);
	return name[0] != '\0' && rt_file_has(dir, rel, text);
}

int
main(void)
{
	static struct queue	 q;
	static struct rt_site	 site;
	struct rt_site		*S = &site;
	struct hooks		 h;
	char			 path[4096], id[SPOOL_ID_SIZE];
	const char		*rcpts[] = { "alice@local.example",
				    "bob@remote.example",
				    "carol@broken.example" };

	if (rt_site_open(S, "queue_test", 25) != 0)
		return 99;
	CHECK(strcmp(S->tb->hostname, RT_HOSTNAME) == 0, "hostname %s",
	    S->tb->hostname);

	start(&q, S, &h);

	CHECK(rt_commit(&S->sp, "sender@local.example", rcpts, 3, id) == 0,
	    "commit");
	queue_committed(&q, id);
	CHECK(rt_spin(&S->L, routed, &h, 5000) == 1, "the route hook was "
	    "called");
	CHECK(strcmp(h.route_id, id) == 0, "routed %s, want %s", h.route_id,
	    id);
	CHECK(h.busy >= 1, "busy() asked before delivering");

	/* alice's copy is in her Maildir. */
	snprintf(path, sizeof(path), "%s/mail/alice/new", S->dir);
	CHECK(tu_count(path) == 1, "%s holds %d", path, tu_count(path));
	CHECK(first_has(S->dir, "mail/alice/new", "Hello."), "alice got the "
	    "message");

	/* carol's failure bounced from the queue, into sender's Maildir. */
	snprintf(path, sizeof(path), "%s/mail/sender/new", S->dir);
	(void)rt_spin(&S->L, has_file, path, 5000);
	CHECK(tu_count(path) == 1, "the bounce: %s holds %d", path,
	    tu_count(path));
	CHECK(first_has(S->dir, "mail/sender/new", "carol@broken.example"),
	    "the bounce names carol");
	CHECK(first_has(S->dir, "mail/sender/new", "Reporting-MTA: dns; "
	    RT_HOSTNAME), "the bounce comes from the table's host name");

	/* bob's stays queued for the outbound side; the bounce is gone. */
	snprintf(path, sizeof(path), "%s/spool/queue", S->dir);
	CHECK(tu_count(path) == 1, "%s holds %d", path, tu_count(path));
	snprintf(path, sizeof(path), "%s/spool/queue/%s", S->dir, id);
	CHECK(access(path, F_OK) == 0, "%s is still queued", id);

	/* bob's message, as a model for the schedule. */
	schedule_test(S, id);

	/* Stopped, a queue delivers nothing more. */
	queue_stop(&q);
	CHECK(rt_commit(&S->sp, "sender@local.example", rcpts, 1, id) == 0,
	    "commit");
	queue_committed(&q, id);
	queue_start(&q);
	h.routed = 0;
	(void)rt_spin(&S->L, routed, &h, 100);
	snprintf(path, sizeof(path), "%s/mail/alice/new", S->dir);
	CHECK(tu_count(path) == 1, "nothing delivered after queue_stop");

	CHECK(rt_file_has(S->dir, "protocol.log", "delivered "
	    "<alice@local.example> to maildir"), "the log has alice's "
	    "delivery");
	CHECK(rt_file_has(S->dir, "protocol.log", "bounce for 1 recipient "
	    "queued as"), "the log has the bounce");

	queue_free(&q);
	rt_site_close(S);
	return tu_done("queue_test");
}
