/*
 * Crash consistency of runtime/store/spool.c: a child writes and commits
 * messages as fast as it can and is killed with SIGKILL at a random
 * moment, many times over.  The child reports each id whose commit
 * returned through a pipe.  Afterwards every reported message must be
 * in queue/ and intact, every file in queue/ must be whole (no
 * half-written message ever reaches it), and resume must clear tmp/
 * and find nothing to move to corrupt/.
 *
 * Each message is derived from a seed carried in its sender, so any
 * queue file can be checked against what its writer meant to write.
 * SIGKILL tests atomicity against a process crash; losing power is
 * another matter (the fsyncs) that a test cannot reach from here.
 */
#include "spool_testutil.h"

#include "config.h"

#include <sys/wait.h>

#include <signal.h>
#include <stdint.h>
#include <time.h>

#include "spool.h"

#define ROUNDS		60
#define MAX_BODY	200000
#define MAX_REPORTS	4096

static char	ids[MAX_REPORTS][SPOOL_ID_SIZE];
static int	nids;

static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* What the message for seed looks like. */
static size_t
msg_body(uint32_t seed, unsigned char *b)
{
	uint32_t	s = seed | 1;
	size_t		n, i;

	n = rnd(&s) % MAX_BODY;
	for (i = 0; i < n; i++)
		b[i] = (unsigned char)rnd(&s);
	return n;
}

static unsigned
msg_nrcpt(uint32_t seed)
{
	return 1 + seed % 5;
}

static void
child(const char *root, int out, uint32_t base)
{
	static unsigned char	 body[MAX_BODY];
	struct spool		 sp;
	struct spool_writer	 w;
	struct spool_env	 e;
	char			 err[256], id[SPOOL_ID_SIZE], sender[64];
	char			 rcpt[64], line[64];
	uint32_t		 seed, s;
	size_t			 len, o, k;
	unsigned		 i;
	int			 n;

	if (spool_open(&sp, root, err, sizeof(err)) == -1)
		_exit(2);
	for (seed = base; ; seed++) {
		memset(&e, 0, sizeof(e));
		snprintf(sender, sizeof(sender), "seed-%lu@crash.example",
		    (unsigned long)seed);
		e.sender = sender;
		e.session = "crash";
		if (spool_begin(&sp, &w, &e) != 0)
			_exit(3);
		for (i = 0; i < msg_nrcpt(seed); i++) {
			n = snprintf(rcpt, sizeof(rcpt), "r%u-%lu@x", i,
			    (unsigned long)seed);
			if (spool_rcpt(&w, rcpt, (size_t)n, NULL, 0) != 0)
				_exit(3);
		}
		len = msg_body(seed, body);
		s = seed;
		for (o = 0; o < len; o += k) {
			k = 1 + rnd(&s) % 5000;
			if (k > len - o)
				k = len - o;
			if (spool_body(&w, body + o, k) != 0)
				_exit(3);
		}
		if (spool_commit(&w, id, err, sizeof(err)) != 0)
			_exit(4);
		n = snprintf(line, sizeof(line), "%s\n", id);
		if (write(out, line, (size_t)n) != n)
			_exit(5);
	}
}

/* Check queue/ID against its seed; returns 1 if whole. */
static int
verify(struct spool *sp, const char *id, char *why, size_t whylen)
{
	static unsigned char	 want[MAX_BODY], got[MAX_BODY];
	struct spool_msg	 m;
	struct spool_rcpt	 r;
	char			 err[256], rcpt[64];
	unsigned long		 seed;
	uint64_t		 o;
	ssize_t			 n;
	size_t			 len;
	unsigned		 i = 0;
	int			 rc;

	rc = spool_msg_open(sp, &m, id, err, sizeof(err));
	if (rc != 1) {
		snprintf(why, whylen, "open %d: %.200s", rc, err);
		return 0;
	}
	if (sscanf(m.sender, "seed-%lu@crash.example", &seed) != 1) {
		snprintf(why, whylen, "sender %.200s", m.sender);
		goto bad;
	}
	memset(&r, 0, sizeof(r));
	while ((rc = spool_rcpt_next(&m, &r, err, sizeof(err))) == 1) {
		snprintf(rcpt, sizeof(rcpt), "r%u-%lu@x", i, seed);
		if (strcmp(rcpt, r.addr) != 0 || r.status != SPOOL_PENDING) {
			snprintf(why, whylen, "rcpt %u %.200s", i, r.addr);
			goto bad;
		}
		i++;
	}
	if (rc != 0 || i != msg_nrcpt((uint32_t)seed)) {
		snprintf(why, whylen, "%u recipients", i);
		goto bad;
	}
	len = msg_body((uint32_t)seed, want);
	for (o = 0; (n = spool_body_read(&m, o, got + o, 65536)) > 0;
	    o += (uint64_t)n)
		continue;
	if (n != 0 || o != len || memcmp(want, got, len) != 0) {
		snprintf(why, whylen, "body %llu bytes, want %zu",
		    (unsigned long long)o, len);
		goto bad;
	}
	spool_msg_close(&m);
	return 1;
bad:
	spool_msg_close(&m);
	return 0;
}

static int	corrupt_seen;

static void
resume_cb(void *ctx, int what, const char *name, const char *reason)
{
	(void)ctx;
	if (what == SPOOL_RESUME_CORRUPT || what == SPOOL_RESUME_SKIPPED) {
		printf("resume: %s: %s\n", name, reason);
		corrupt_seen++;
	}
}

int
main(void)
{
	struct spool	 sp;
	struct timespec	 ts;
	struct dirent	*de;
	DIR		*d;
	char		 top[512], root[600], path[700], err[256], why[256];
	char		 buf[8192], *p, *nl;
	uint32_t	 s;
	size_t		 have;
	ssize_t		 n;
	pid_t		 pid;
	int		 round, fds[2], i, nq, leftovers = 0;
	long		 count;

	tu_mkdtemp(top, sizeof(top), "spool_crash_test");
	snprintf(root, sizeof(root), "%s/spool", top);
	s = (uint32_t)time(NULL) | 1;
	if (getenv("SPOOL_CRASH_SEED") != NULL)
		s = (uint32_t)strtoul(getenv("SPOOL_CRASH_SEED"), NULL, 10);
	printf("seed %lu (SPOOL_CRASH_SEED to repeat)\n", (unsigned long)s);

	for (round = 0; round < ROUNDS; round++) {
		if (pipe(fds) == -1)
			return 99;
		fflush(stdout);
		if ((pid = fork()) == -1)
			return 99;
		if (pid == 0) {
			close(fds[0]);
			child(root, fds[1], (uint32_t)round * 100000 + 1);
		}
		close(fds[1]);
		/* Kill anywhere from at once to a few commits in. */
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(rnd(&s) % 60000) * 1000;
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		have = 0;
		while ((n = read(fds[0], buf + have, sizeof(buf) - 1 - have)) >
		    0)
			have += (size_t)n;
		close(fds[0]);
		buf[have] = '\0';
		for (p = buf; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
			*nl = '\0';
			if (nids < MAX_REPORTS && strlen(p) == SPOOL_ID_LEN)
				memcpy(ids[nids++], p, SPOOL_ID_SIZE);
		}
		snprintf(path, sizeof(path), "%s/tmp", root);
		if (tu_count(path) > 0)
			leftovers++;
	}
	printf("%d rounds, %d commits reported, %d rounds left a file in "
	    "tmp/\n", ROUNDS, nids, leftovers);

	if (spool_open(&sp, root, err, sizeof(err)) == -1) {
		printf("spool_open: %s\n", err);
		return 1;
	}
	CHECK(nids > 0, "some commits completed before the kills");
	/* Every acknowledged message is there and whole. */
	for (i = 0; i < nids; i++)
		CHECK(verify(&sp, ids[i], why, sizeof(why)), "reported %s: %s",
		    ids[i], why);
	/* Nothing in queue/ is half written, acknowledged or not. */
	snprintf(path, sizeof(path), "%s/queue", root);
	nq = 0;
	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			nq++;
			CHECK(verify(&sp, de->d_name, why, sizeof(why)),
			    "queued %s: %s", de->d_name, why);
		}
		closedir(d);
	}
	CHECK(nq >= nids, "queue holds %d, %d reported", nq, nids);
	count = spool_resume(&sp, resume_cb, NULL, err, sizeof(err));
	CHECK(count == nq, "resume found %ld of %d", count, nq);
	CHECK(corrupt_seen == 0, "nothing corrupt");
	snprintf(path, sizeof(path), "%s/tmp", root);
	CHECK(tu_count(path) == 0, "tmp/ cleared");
	snprintf(path, sizeof(path), "%s/corrupt", root);
	CHECK(tu_count(path) == 0, "corrupt/ empty");
	spool_close(&sp);

	tu_rmtree(top);
	return tu_done("spool_crash_test");
}
