/*
 * queue_test: the queue (runtime/store/queue.c) on its own, with a
 * loop, a spool and a table of its own: a committed message is
 * delivered to its Maildir in the loop, a Maildir that fails for good
 * bounces from the queue itself (the bounce is delivered in turn), and
 * what is for other hosts goes to the route hook and stays queued.
 */
#include "spool_testutil.h"

#include "config.h"

#include <syslog.h>

#include "bastion_limits.h"
#include "queue.h"
#include "rt_testutil.h"

struct hooks {
	int	 busy;			/* calls to busy() */
	int	 routed;		/* calls to route() */
	char	 route_id[SPOOL_ID_SIZE];
};

static int	on_busy(void *, const char *);
static void	on_route(void *, const char *);
static int	routed(void *);
static int	has_file(void *);
static int	first_has(const char *, const char *, const char *);

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
	struct queue_env	 env;
	struct hooks		 h;
	char			 path[4096], id[SPOOL_ID_SIZE];
	const char		*rcpts[] = { "alice@local.example",
				    "bob@remote.example",
				    "carol@broken.example" };

	if (rt_site_open(S, "queue_test", 25) != 0)
		return 99;
	CHECK(strcmp(S->tb->hostname, RT_HOSTNAME) == 0, "hostname %s",
	    S->tb->hostname);

	memset(&h, 0, sizeof(h));
	memset(&env, 0, sizeof(env));
	env.loop = &S->L;
	env.spool = &S->sp;
	env.log = &S->log;
	env.oplog = &S->ol;
	env.table = &S->tb;
	env.base = S->dir;
	env.busy = on_busy;
	env.route = on_route;
	env.arg = &h;
	queue_init(&q, &env);

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

	/* Stopped, a queue delivers nothing more. */
	queue_stop(&q);
	CHECK(rt_commit(&S->sp, "sender@local.example", rcpts, 1, id) == 0,
	    "commit");
	queue_committed(&q, id);
	queue_rescan(&q);
	h.routed = 0;
	(void)rt_spin(&S->L, routed, &h, 100);
	snprintf(path, sizeof(path), "%s/mail/alice/new", S->dir);
	CHECK(tu_count(path) == 1, "nothing delivered after queue_stop");

	CHECK(rt_file_has(S->dir, "protocol.log", "delivered "
	    "<alice@local.example> to maildir"), "the log has alice's "
	    "delivery");
	CHECK(rt_file_has(S->dir, "protocol.log", "bounce for 1 recipient "
	    "queued as"), "the log has the bounce");

	rt_site_close(S);
	return tu_done("queue_test");
}
