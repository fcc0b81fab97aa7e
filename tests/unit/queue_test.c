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
static int	file_has(const char *, const char *);

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

/* 1 if the first file in dir holds text. */
static int
file_has(const char *dir, const char *text)
{
	char	 name[256], path[1024];
	static char buf[65536];
	long	 n;

	tu_first(dir, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (name[0] == '\0' || (n = tu_read(path, buf, sizeof(buf) - 1)) < 0)
		return 0;
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

int
main(void)
{
	static struct queue	 q;
	struct queue_env	 env;
	struct hooks		 h;
	struct loop		 L;
	struct spool		 sp;
	struct plog		 log;
	struct oplog		 ol = { "queue_test", 1, 0 };
	struct table		*tb;
	char			 dir[512], path[1024], err[LIM_ERRMSG];
	char			 id[SPOOL_ID_SIZE];
	const char		*rcpts[] = { "alice@local.example",
				    "bob@remote.example",
				    "carol@broken.example" };

	tu_mkdtemp(dir, sizeof(dir), "queue_test");
	memset(&log, 0, sizeof(log));
	log.fd = -1;
	CHECK((tb = rt_table(dir, 25)) != NULL, "the table");
	if (tb == NULL)
		return tu_done("queue_test");
	CHECK(strcmp(tb->hostname, RT_HOSTNAME) == 0, "hostname %s",
	    tb->hostname);
	snprintf(path, sizeof(path), "%s/spool", dir);
	CHECK(spool_open(&sp, path, err, sizeof(err)) == 0, "%s", err);
	snprintf(path, sizeof(path), "%s/protocol.log", dir);
	CHECK(plog_open(&log, path, err, sizeof(err)) == 0, "%s", err);
	CHECK(loop_init(&L, 256, 64, err, sizeof(err)) == 0, "%s", err);

	memset(&h, 0, sizeof(h));
	memset(&env, 0, sizeof(env));
	env.loop = &L;
	env.spool = &sp;
	env.log = &log;
	env.oplog = &ol;
	env.table = &tb;
	env.base = dir;
	env.busy = on_busy;
	env.route = on_route;
	env.arg = &h;
	queue_init(&q, &env);

	CHECK(rt_commit(&sp, "sender@local.example", rcpts, 3, id) == 0,
	    "commit");
	queue_committed(&q, id);
	CHECK(rt_spin(&L, routed, &h, 5000) == 1, "the route hook was called");
	CHECK(strcmp(h.route_id, id) == 0, "routed %s, want %s", h.route_id,
	    id);
	CHECK(h.busy >= 1, "busy() asked before delivering");

	/* alice's copy is in her Maildir. */
	snprintf(path, sizeof(path), "%s/mail/alice/new", dir);
	CHECK(tu_count(path) == 1, "%s holds %d", path, tu_count(path));
	CHECK(file_has(path, "Hello."), "alice got the message");

	/* carol's failure bounced from the queue, into sender's Maildir. */
	snprintf(path, sizeof(path), "%s/mail/sender/new", dir);
	(void)rt_spin(&L, has_file, path, 5000);
	CHECK(tu_count(path) == 1, "the bounce: %s holds %d", path,
	    tu_count(path));
	CHECK(file_has(path, "carol@broken.example"), "the bounce names "
	    "carol");
	CHECK(file_has(path, "Reporting-MTA: dns; " RT_HOSTNAME),
	    "the bounce comes from the table's host name");

	/* bob's stays queued for the outbound side; the bounce is gone. */
	snprintf(path, sizeof(path), "%s/spool/queue", dir);
	CHECK(tu_count(path) == 1, "%s holds %d", path, tu_count(path));
	snprintf(path, sizeof(path), "%s/spool/queue/%s", dir, id);
	CHECK(access(path, F_OK) == 0, "%s is still queued", id);

	/* Stopped, a queue delivers nothing more. */
	queue_stop(&q);
	CHECK(rt_commit(&sp, "sender@local.example", rcpts, 1, id) == 0,
	    "commit");
	queue_committed(&q, id);
	queue_rescan(&q);
	h.routed = 0;
	(void)rt_spin(&L, routed, &h, 100);
	snprintf(path, sizeof(path), "%s/mail/alice/new", dir);
	CHECK(tu_count(path) == 1, "nothing delivered after queue_stop");

	snprintf(path, sizeof(path), "%s/protocol.log", dir);
	{
		static char	 buf[65536];
		long		 n = tu_read(path, buf, sizeof(buf) - 1);

		buf[n > 0 ? n : 0] = '\0';
		CHECK(strstr(buf, "delivered <alice@local.example> to "
		    "maildir") != NULL, "the log has alice's delivery");
		CHECK(strstr(buf, "bounce for 1 recipient queued as") !=
		    NULL, "the log has the bounce");
	}

	plog_close(&log);
	spool_close(&sp);
	table_unref(tb);
	loop_free(&L);
	tu_rmtree(dir);
	return tu_done("queue_test");
}
