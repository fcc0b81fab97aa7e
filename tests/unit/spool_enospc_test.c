/*
 * runtime/store/spool.c when the disk fills: a write that fails partway is
 * remembered (the error is sticky), later calls do nothing, and
 * spool_commit reports it with the errno the session maps to 452, and
 * leaves nothing in tmp/ or queue/.  The full disk is simulated with a
 * file-size limit (RLIMIT_FSIZE: EFBIG); when this process may mount, a
 * tiny tmpfs in a private mount namespace gives a real ENOSPC too.
 * Exit 77 (skip) if neither can be arranged.
 */
#define _GNU_SOURCE		/* unshare(2) */
#include "spool_testutil.h"

#include "config.h"

#include <sys/resource.h>
#include <sys/wait.h>

#include <signal.h>

#ifdef __linux__
#include <sched.h>
#include <sys/mount.h>
#endif

#include "spool.h"

static unsigned char	body[256 * 1024];

/* Write one message too big for the room; expect errno e at commit. */
static void
fill_up(const char *root, int e1, int e2, const char *what)
{
	struct spool		sp;
	struct spool_writer	w;
	struct spool_env	e;
	char			err[256], id[SPOOL_ID_SIZE], path[700];
	size_t			o;
	int			failed = 0;

	if (spool_open(&sp, root, err, sizeof(err)) == -1) {
		CHECK(0, "%s: spool_open: %s", what, err);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.sender = "a@b";
	CHECK(spool_begin(&sp, &w, &e) == 0, "%s: begin", what);
	CHECK(spool_rcpt(&w, "c@d", 3, NULL, 0) == 0, "%s: rcpt", what);
	for (o = 0; o < sizeof(body); o += 1000)
		if (spool_body(&w, body + o, 1000) == -1)
			failed++;
	CHECK(failed > 0, "%s: body writes fail once the room is gone", what);
	CHECK(spool_error(&w) == e1 || spool_error(&w) == e2,
	    "%s: sticky error %d", what, spool_error(&w));
	CHECK(spool_commit(&w, id, err, sizeof(err)) == -1,
	    "%s: commit refused", what);
	CHECK(spool_error(&w) == e1 || spool_error(&w) == e2,
	    "%s: commit says %s", what, err);
	printf("%s: commit said \"%s\"\n", what, err);
	snprintf(path, sizeof(path), "%s/tmp", root);
	CHECK(tu_count(path) == 0, "%s: tmp/ empty", what);
	snprintf(path, sizeof(path), "%s/queue", root);
	CHECK(tu_count(path) == 0, "%s: queue/ empty", what);

	/* Nothing leaked: a small message still fits. */
	CHECK(spool_begin(&sp, &w, &e) == 0, "%s: begin", what);
	CHECK(spool_rcpt(&w, "c@d", 3, NULL, 0) == 0, "%s: rcpt", what);
	CHECK(spool_body(&w, body, 100) == 0, "%s: body", what);
	CHECK(spool_commit(&w, id, err, sizeof(err)) == 0,
	    "%s: small commit: %s", what, err);
	CHECK(tu_count(path) == 1, "%s: queued", what);
	spool_close(&sp);
}

/* In a child, so that the limit and the namespace stay there. */
static int
run_rlimit(const char *top)
{
	struct rlimit	rl;
	char		root[600];

	snprintf(root, sizeof(root), "%s/rl", top);
	signal(SIGXFSZ, SIG_IGN);
	rl.rlim_cur = rl.rlim_max = 64 * 1024;
	if (setrlimit(RLIMIT_FSIZE, &rl) == -1)
		return 77;
	fill_up(root, EFBIG, EFBIG, "rlimit");
	return failures == 0 ? 0 : 1;
}

static int
run_tmpfs(const char *top)
{
#ifdef __linux__
	char	root[600];

	snprintf(root, sizeof(root), "%s/fs", top);
	if (mkdir(root, 0700) == -1)
		return 77;
	if (unshare(CLONE_NEWNS) == -1 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1 ||
	    mount("spooltest", root, "tmpfs", 0, "size=128k,mode=0700") == -1)
		return 77;
	snprintf(root, sizeof(root), "%s/fs/spool", top);
	fill_up(root, ENOSPC, EDQUOT, "tmpfs");
	return failures == 0 ? 0 : 1;
#else
	(void)top;
	return 77;
#endif
}

static int
in_child(int (*fn)(const char *), const char *top)
{
	pid_t	pid;
	int	st;

	fflush(stdout);
	if ((pid = fork()) == -1)
		return 99;
	if (pid == 0) {
		st = fn(top);
		fflush(stdout);
		_exit(st);
	}
	if (waitpid(pid, &st, 0) == -1 || !WIFEXITED(st))
		return 99;
	return WEXITSTATUS(st);
}

int
main(void)
{
	char	top[512];
	int	a, b;

	memset(body, 'x', sizeof(body));
	tu_mkdtemp(top, sizeof(top), "spool_enospc_test");
	a = in_child(run_rlimit, top);
	b = in_child(run_tmpfs, top);
	tu_rmtree(top);
	printf("spool_enospc_test: rlimit %s, tmpfs %s\n",
	    a == 0 ? "pass" : a == 77 ? "skipped" : "FAIL",
	    b == 0 ? "pass" : b == 77 ? "skipped" : "FAIL");
	if (a == 77 && b == 77)
		return 77;
	return (a == 0 || a == 77) && (b == 0 || b == 77) ? 0 : 1;
}
