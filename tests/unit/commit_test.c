/*
 * runtime/store/commit.c, the commit thread: many jobs at once are run
 * in batches that share their directory fsyncs, every completion is
 * called in the loop's thread, a failing op reports its errno and stops
 * only its own job, the bound refuses with EBUSY, commit_free() with
 * jobs in flight runs them all and calls them all back; and the spool's
 * asynchronous commit puts the message in queue/ before its callback,
 * and leaves nothing behind when it fails; a settled delivery round has
 * its marks and state, or its removal, on disk at its callback, and a
 * removed message's file is taken by the next message.
 */
#include "spool_testutil.h"

#include "config.h"

#include <pthread.h>

#include "commit.h"
#include "loop.h"
#include "spool.h"

#define NJOBS	200

struct item {
	struct commit_job	 job;
	char			 name[32];
	int			 fd;
	int			 called;
	int			 in_loop;
};

static struct loop	 L;
static pthread_t	 main_thread;
static int		 ncalled;

static void
on_done(struct commit_job *j, void *arg)
{
	struct item	*it = arg;

	CHECK(j == &it->job);
	it->called++;
	it->in_loop = pthread_equal(pthread_self(), main_thread);
	ncalled++;
}

/*
 * Turns of the loop until n callbacks came.  With no timer armed a turn
 * waits for the eventfd; alarm() in main() ends a test that hangs.
 */
static void
run_until(int n)
{
	int	turns;

	for (turns = 0; ncalled < n && turns < 10000; turns++)
		if (loop_once(&L, 1) == -1)
			break;
}

/* A file in tmp/ with a line in it, open for the job. */
static void
item_make(struct item *it, int tmp, unsigned i)
{
	snprintf(it->name, sizeof(it->name), "m%u", i);
	it->fd = openat(tmp, it->name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(it->fd != -1, "create %s: %s", it->name, strerror(errno));
	CHECK(write(it->fd, "hello\n", 6) == 6);
	it->called = it->in_loop = 0;
}

/* fsync, close, link into q/, fsync q/, drop the tmp/ name. */
static void
item_job(struct item *it, int tmp, int q)
{
	commit_job_init(&it->job, on_done, it);
	CHECK(commit_op_fsync(&it->job, it->fd) == 0);
	CHECK(commit_op_close(&it->job, it->fd) == 0);
	CHECK(commit_op_link(&it->job, tmp, it->name, q, it->name, 0) == 0);
	CHECK(commit_op_dirsync(&it->job, q) == 0);
	CHECK(commit_op_tidy(&it->job, tmp, it->name) == 0);
}

static struct item	items[NJOBS];

static void
test_batch(const char *root, int tmp, int q)
{
	struct commit		c;
	struct commit_stats	st;
	char			err[128], path[600];
	unsigned		i, inloop = 0, once = 0;

	CHECK(commit_init(&c, &L, NJOBS, err, sizeof(err)) == 0, "%s", err);
	ncalled = 0;
	for (i = 0; i < NJOBS; i++) {
		item_make(&items[i], tmp, i);
		item_job(&items[i], tmp, q);
		CHECK(commit_submit(&c, &items[i].job) == 0, "submit %u: %s",
		    i, strerror(errno));
	}
	CHECK(commit_inflight(&c) == NJOBS);
	run_until(NJOBS);
	CHECK(ncalled == NJOBS, "%d of %d called back", ncalled, NJOBS);
	for (i = 0; i < NJOBS; i++) {
		once += items[i].called == 1;
		inloop += items[i].in_loop;
		CHECK(items[i].job.error == 0, "job %u: %s", i,
		    strerror(items[i].job.error));
	}
	CHECK(once == NJOBS, "each called back once: %u", once);
	CHECK(inloop == NJOBS, "in the loop's thread: %u", inloop);
	CHECK(commit_inflight(&c) == 0);
	snprintf(path, sizeof(path), "%s/q", root);
	CHECK(tu_count(path) == NJOBS, "q/ has %d", tu_count(path));
	snprintf(path, sizeof(path), "%s/tmp", root);
	CHECK(tu_count(path) == 0, "tmp/ has %d", tu_count(path));
	commit_get_stats(&c, &st);
	printf("batch: %llu jobs, %llu batches, %llu file fsyncs, %llu of "
	    "%llu directory fsyncs\n", (unsigned long long)st.jobs,
	    (unsigned long long)st.batches, (unsigned long long)st.fsyncs,
	    (unsigned long long)st.dirsyncs,
	    (unsigned long long)st.dirsync_asked);
	CHECK(st.jobs == NJOBS);
	CHECK(st.fsyncs == NJOBS);
	CHECK(st.dirsync_asked == NJOBS);
	CHECK(st.batches < NJOBS, "batched: %llu batches",
	    (unsigned long long)st.batches);
	CHECK(st.dirsyncs == st.batches, "one q/ fsync per batch");
	CHECK(st.dirsyncs < st.jobs);
	commit_free(&c);
	CHECK(!commit_started(&c));
}

/* A link to a name that exists fails with EEXIST; the others go. */
static void
test_failure(int tmp, int q)
{
	struct commit	c;
	char		err[128];
	unsigned	i;

	CHECK(commit_init(&c, &L, 8, err, sizeof(err)) == 0, "%s", err);
	ncalled = 0;
	for (i = 0; i < 3; i++) {
		/* m0 is in q/ already (test_batch): that one clashes. */
		item_make(&items[i], tmp, i == 1 ? 0 : 1000 + i);
		item_job(&items[i], tmp, q);
		CHECK(commit_submit(&c, &items[i].job) == 0);
	}
	run_until(3);
	CHECK(ncalled == 3);
	CHECK(items[0].job.error == 0);
	CHECK(items[1].job.error == EEXIST, "error %d", items[1].job.error);
	CHECK(items[1].job.failed == 2, "failed at op %d",
	    items[1].job.failed);
	CHECK(items[2].job.error == 0);
	/* A failed job leaves its tmp/ name: the caller undoes. */
	CHECK(faccessat(tmp, "m0", F_OK, 0) == 0);
	CHECK(unlinkat(tmp, "m0", 0) == 0);

	/* A bad descriptor: EBADF from the fsync, the close not retried. */
	commit_job_init(&items[0].job, on_done, &items[0]);
	items[0].called = 0;
	CHECK(commit_op_fsync(&items[0].job, 1000000) == 0);
	CHECK(commit_op_dirsync(&items[0].job, q) == 0);
	ncalled = 0;
	CHECK(commit_submit(&c, &items[0].job) == 0);
	run_until(1);
	CHECK(items[0].called == 1);
	CHECK(items[0].job.error == EBADF && items[0].job.failed == 0,
	    "error %d at %d", items[0].job.error, items[0].job.failed);

	/* Out of stage order, or empty: refused, no callback. */
	commit_job_init(&items[0].job, on_done, &items[0]);
	CHECK(commit_submit(&c, &items[0].job) == -1 && errno == EINVAL);
	CHECK(commit_op_dirsync(&items[0].job, q) == 0);
	CHECK(commit_op_fsync(&items[0].job, q) == 0);
	CHECK(commit_submit(&c, &items[0].job) == -1 && errno == EINVAL);
	commit_free(&c);
}

/* At most max in flight: the next is refused with EBUSY. */
static void
test_bound(int q)
{
	struct commit	c;
	char		err[128];
	unsigned	i;

	CHECK(commit_init(&c, &L, 2, err, sizeof(err)) == 0, "%s", err);
	for (i = 0; i < 3; i++) {
		commit_job_init(&items[i].job, on_done, &items[i]);
		CHECK(commit_op_dirsync(&items[i].job, q) == 0);
	}
	ncalled = 0;
	CHECK(commit_submit(&c, &items[0].job) == 0);
	CHECK(commit_submit(&c, &items[1].job) == 0);
	CHECK(commit_submit(&c, &items[2].job) == -1 && errno == EBUSY);
	CHECK(commit_submit(&c, &items[0].job) == -1 && errno == EINVAL,
	    "a job in flight is not taken twice");
	run_until(2);
	CHECK(ncalled == 2);
	CHECK(commit_submit(&c, &items[2].job) == 0, "room again");
	run_until(3);
	commit_free(&c);
	CHECK(commit_submit(&c, &items[0].job) == -1 && errno == ESHUTDOWN);
}

/* commit_free with jobs in flight: all run, all called back. */
static void
test_shutdown(const char *root, int tmp, int q)
{
	struct commit	c;
	char		err[128], path[600];
	unsigned	i, called = 0;

	CHECK(commit_init(&c, &L, NJOBS, err, sizeof(err)) == 0, "%s", err);
	ncalled = 0;
	for (i = 0; i < NJOBS; i++) {
		item_make(&items[i], tmp, 5000 + i);
		item_job(&items[i], tmp, q);
		CHECK(commit_submit(&c, &items[i].job) == 0);
	}
	commit_free(&c);
	for (i = 0; i < NJOBS; i++)
		called += items[i].called == 1 && items[i].in_loop &&
		    items[i].job.error == 0;
	CHECK(called == NJOBS, "%u of %d done at shutdown", called, NJOBS);
	snprintf(path, sizeof(path), "%s/q", root);
	CHECK(tu_count(path) == 2 * NJOBS + 2, "q/ has %d", tu_count(path));
	snprintf(path, sizeof(path), "%s/tmp", root);
	CHECK(tu_count(path) == 0, "tmp/ has %d", tu_count(path));
}

/* ---- the spool's asynchronous commit --------------------------------- */

static int	spool_rc = -2;
static char	spool_id[SPOOL_ID_SIZE];
static int	spool_in_loop;

static void
on_spooled(struct spool_writer *w, int rc, const char *id, const char *err,
    void *arg)
{
	(void)w;
	(void)arg;
	spool_rc = rc;
	if (rc == 0)
		snprintf(spool_id, sizeof(spool_id), "%s", id);
	else
		printf("spool commit failed: %s\n", err);
	spool_in_loop = pthread_equal(pthread_self(), main_thread);
	ncalled++;
}

static void
test_spool(const char *root)
{
	struct spool		sp;
	struct spool_writer	w;
	struct spool_env	e;
	struct commit		c;
	char			err[256], path[700], dir[600];

	snprintf(dir, sizeof(dir), "%s/spool", root);
	if (spool_open(&sp, dir, err, sizeof(err)) == -1) {
		CHECK(0, "spool_open: %s", err);
		return;
	}
	CHECK(commit_init(&c, &L, 4, err, sizeof(err)) == 0, "%s", err);
	memset(&e, 0, sizeof(e));
	e.sender = "a@b";
	CHECK(spool_begin(&sp, &w, &e) == 0);
	CHECK(spool_rcpt(&w, "c@d", 3, NULL, 0) == 0);
	CHECK(spool_body(&w, "Subject: x\r\n\r\nhi\r\n", 18) == 0);
	ncalled = 0;
	CHECK(spool_commit_start(&w, &c, on_spooled, NULL, err,
	    sizeof(err)) == 0, "%s", err);
	CHECK(spool_committing(&w));
	spool_abort(&w);	/* must leave the commit alone */
	CHECK(spool_committing(&w));
	run_until(1);
	CHECK(spool_rc == 0 && spool_in_loop);
	CHECK(!spool_committing(&w));
	snprintf(path, sizeof(path), "%s/queue/%s", dir, spool_id);
	CHECK(access(path, F_OK) == 0, "%s in queue/", spool_id);
	snprintf(path, sizeof(path), "%s/tmp", dir);
	CHECK(tu_count(path) == 0);

	/* The writer failed before the commit: -1 at once, no callback. */
	CHECK(spool_begin(&sp, &w, &e) == 0);
	CHECK(spool_commit_start(&w, &c, on_spooled, NULL, err,
	    sizeof(err)) == -1, "no recipients: refused");
	CHECK(spool_error(&w) == EINVAL);
	CHECK(tu_count(path) == 0);

	/* The engine stopped: refused, the transaction undone. */
	commit_free(&c);
	CHECK(spool_begin(&sp, &w, &e) == 0);
	CHECK(spool_rcpt(&w, "c@d", 3, NULL, 0) == 0);
	CHECK(spool_commit_start(&w, &c, on_spooled, NULL, err,
	    sizeof(err)) == -1);
	CHECK(spool_error(&w) == ESHUTDOWN, "%s", err);
	CHECK(tu_count(path) == 0);
	snprintf(path, sizeof(path), "%s/queue", dir);
	CHECK(tu_count(path) == 1);
	spool_close(&sp);
}

/* ---- settling a delivery round --------------------------------------- */

static int	settle_rc = -2;

static void
on_settled(struct spool_settle *s, int rc, const char *err, void *arg)
{
	(void)s;
	(void)arg;
	settle_rc = rc;
	if (rc != 0)
		printf("settle failed: %s\n", err);
	ncalled++;
}

/* A message for two recipients, committed at once. */
static void
settle_msg(struct spool *sp, char id[SPOOL_ID_SIZE])
{
	struct spool_writer	w;
	struct spool_env	e;
	char			err[256];

	memset(&e, 0, sizeof(e));
	e.sender = "a@b";
	CHECK(spool_begin(sp, &w, &e) == 0);
	CHECK(spool_rcpt(&w, "c@d", 3, NULL, 0) == 0);
	CHECK(spool_rcpt(&w, "e@f", 3, NULL, 0) == 0);
	CHECK(spool_body(&w, "Subject: x\r\n\r\nhi\r\n", 18) == 0);
	CHECK(spool_commit(&w, id, err, sizeof(err)) == 0, "%s", err);
}

/*
 * A round that keeps the message: the mark and the state are on disk
 * at the callback and both descriptors are gone; then a round that
 * removes it: queue/ID and state/ID are gone at the callback.  Without
 * an engine the same runs at once and says so.
 */
static void
test_settle(const char *root)
{
	struct spool			sp;
	struct spool_msg		m;
	struct spool_rcpt		r;
	struct spool_state_writer	sw;
	struct spool_settle		s;
	struct commit			c;
	char				err[256], path[700], dir[600];
	char				id[SPOOL_ID_SIZE];
	struct stat			st, st2;

	snprintf(dir, sizeof(dir), "%s/spool2", root);
	if (spool_open(&sp, dir, err, sizeof(err)) == -1) {
		CHECK(0, "spool_open: %s", err);
		return;
	}
	CHECK(commit_init(&c, &L, 4, err, sizeof(err)) == 0, "%s", err);
	settle_msg(&sp, id);
	CHECK(spool_msg_open(&sp, &m, id, err, sizeof(err)) == 1, "%s", err);
	memset(&r, 0, sizeof(r));
	CHECK(spool_rcpt_next(&m, &r, err, sizeof(err)) == 1);
	CHECK(spool_note(&m, &r, SPOOL_DELIVERED, err, sizeof(err)) == 0);
	CHECK(m.noted);
	CHECK(spool_state_begin(&sp, &sw, id, 1, 1) == 0);
	spool_state_rcpt(&sw, 1, "451 later");
	ncalled = 0;
	CHECK(spool_settle_start(&sp, &s, &c, &m, &sw, 0, on_settled,
	    NULL) == 0);
	CHECK(m.fd == -1 && sw.fd == -1, "descriptors handed over");
	run_until(1);
	CHECK(ncalled == 1 && settle_rc == 0);
	snprintf(path, sizeof(path), "%s/state/%s", dir, id);
	CHECK(access(path, F_OK) == 0, "state/%s in place", id);
	CHECK(spool_msg_open(&sp, &m, id, err, sizeof(err)) == 1, "%s", err);
	memset(&r, 0, sizeof(r));
	CHECK(spool_rcpt_next(&m, &r, err, sizeof(err)) == 1);
	CHECK(r.status == SPOOL_DELIVERED, "the mark is kept");
	CHECK(spool_rcpt_next(&m, &r, err, sizeof(err)) == 1);
	CHECK(spool_note(&m, &r, SPOOL_DELIVERED, err, sizeof(err)) == 0);
	CHECK(spool_state_begin(&sp, &sw, id, 2, 2) == 0);
	CHECK(spool_settle_start(&sp, &s, &c, &m, &sw, 1, on_settled,
	    NULL) == 0);
	run_until(2);
	CHECK(ncalled == 2 && settle_rc == 0);
	CHECK(access(path, F_OK) == -1 && errno == ENOENT, "state/ gone");
	snprintf(path, sizeof(path), "%s/state", dir);
	CHECK(tu_count(path) == 0, "no state/%s.new left", id);
	snprintf(path, sizeof(path), "%s/queue/%s", dir, id);
	CHECK(access(path, F_OK) == -1 && errno == ENOENT, "queue/ gone");

	/*
	 * The spent file went to free/, and the next message takes it
	 * (the same inode), truncated: the new message reads back whole.
	 */
	snprintf(path, sizeof(path), "%s/free/%s", dir, id);
	CHECK(stat(path, &st) == 0 && sp.nfree == 1, "spent file kept");
	settle_msg(&sp, id);
	snprintf(path, sizeof(path), "%s/queue/%s", dir, id);
	CHECK(stat(path, &st2) == 0 && st2.st_ino == st.st_ino,
	    "the next message reuses it");
	snprintf(path, sizeof(path), "%s/free", dir);
	CHECK(tu_count(path) == 0 && sp.nfree == 0, "free/ empty again");
	CHECK(spool_msg_open(&sp, &m, id, err, sizeof(err)) == 1, "%s", err);
	CHECK(spool_settle_start(&sp, &s, &c, &m, NULL, 1, on_settled,
	    NULL) == 0);
	run_until(3);
	CHECK(ncalled == 3 && settle_rc == 0 && tu_count(path) == 1);
	/* Opened again, the spool forgets free/ and empties it. */
	spool_close(&sp);
	CHECK(spool_open(&sp, dir, err, sizeof(err)) == 0, "%s", err);
	CHECK(tu_count(path) == 0 && sp.nfree == 0, "free/ emptied at open");
	snprintf(path, sizeof(path), "%s/queue/%s", dir, id);

	/* No engine: at once, no callback. */
	commit_free(&c);
	settle_msg(&sp, id);
	CHECK(spool_msg_open(&sp, &m, id, err, sizeof(err)) == 1, "%s", err);
	CHECK(spool_settle_start(&sp, &s, &c, &m, NULL, 1, on_settled,
	    NULL) == 1);
	CHECK(ncalled == 3);
	CHECK(spool_settle_result(&s, err, sizeof(err)) == 0, "%s", err);
	CHECK(access(path, F_OK) == -1, "removed at once");
	spool_close(&sp);
}

int
main(void)
{
	char	root[512], path[600], err[128];
	int	tmp, q;

	main_thread = pthread_self();
	alarm(120);
	tu_mkdtemp(root, sizeof(root), "commit_test");
	snprintf(path, sizeof(path), "%s/tmp", root);
	CHECK(mkdir(path, 0700) == 0);
	tmp = open(path, O_RDONLY | O_DIRECTORY);
	snprintf(path, sizeof(path), "%s/q", root);
	CHECK(mkdir(path, 0700) == 0);
	q = open(path, O_RDONLY | O_DIRECTORY);
	CHECK(tmp != -1 && q != -1);
	if (loop_init(&L, 1024, 16, err, sizeof(err)) != 0) {
		printf("loop_init: %s\n", err);
		return 99;
	}
	test_batch(root, tmp, q);
	test_failure(tmp, q);
	test_settle(root);
	test_bound(q);
	test_shutdown(root, tmp, q);
	test_spool(root);
	loop_free(&L);
	close(tmp);
	close(q);
	tu_rmtree(root);
	return tu_done("commit_test");
}
