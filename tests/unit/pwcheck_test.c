/*
 * Unit tests for runtime/inbound/pwcheck.c: SCRAM and argon2id verifiers (made
 * with verifier_make) match and do not match through the loop; unknown
 * users; refusals; the caller's password wiped; cancel in every state;
 * reuse of a job from its own callback; the child dying; and a NOOP
 * ping over a socketpair, answered by the loop from another process's
 * point of view while 20 verifications run (its latency is printed,
 * never judged: machines differ).
 */
#include "config.h"

#include "check.h"

#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "loop.h"
#include "scram.h"
#include "verifier.h"
#include "pwcheck.h"

static struct loop	L;
static struct pwcheck	V;
static char		scram_v[VERIFIER_MAX + 1], argon_v[VERIFIER_MAX + 1];
static char		odd_v[VERIFIER_MAX + 1];

struct res {
	int	 calls;
	int	 result;
	/* Start a new verification on the same job from the callback. */
	struct pwcheck_job *again;
	const char	*again_v;
	const char	*again_pw;
};

static void
on_done(void *arg, int result)
{
	struct res	*r = arg;
	char		 pw[64], err[128];

	r->calls++;
	r->result = result;
	if (r->again != NULL) {
		struct pwcheck_job *j = r->again;

		r->again = NULL;
		snprintf(pw, sizeof(pw), "%s", r->again_pw);
		if (pwcheck_start(&V, j, r->again_v, strlen(r->again_v), pw,
		    strlen(pw), on_done, r, err, sizeof(err)) != 0)
			printf("FAIL restart from the callback: %s\n", err);
	}
}

/* Run the loop until every res has been called back (or a bound). */
static void
wait_for(struct res *r, int n)
{
	int	 i, k, all;

	for (i = 0; i < 20000; i++) {
		for (k = 0, all = 1; k < n; k++)
			if (r[k].calls == 0)
				all = 0;
		if (all)
			return;
		if (loop_once(&L, 1) != 0)
			return;
	}
}

static int
start(struct pwcheck_job *j, const char *v, const char *password,
    struct res *r)
{
	char	 pw[PWCHECK_PW_MAX + 8], err[256];
	size_t	 n = strlen(password);
	int	 rc;

	memcpy(pw, password, n);
	rc = pwcheck_start(&V, j, v, v == NULL ? 0 : strlen(v), pw, n,
	    on_done, r, err, sizeof(err));
	if (rc != 0)
		printf("  pwcheck_start said: %s\n", err);
	return rc;
}

static void
test_match(void)
{
	struct pwcheck_job	 j[8];
	struct res		 r[8];
	char			 pw[32];
	char			 err[256];
	int			 i, k;

	memset(r, 0, sizeof(r));
	for (i = 0; i < 8; i++)
		pwcheck_job_init(&j[i]);
	CHECK(start(&j[0], scram_v, "correct horse", &r[0]) == 0, "start");
	CHECK(start(&j[1], scram_v, "correct horsf", &r[1]) == 0, "start");
	CHECK(start(&j[2], argon_v, "battery staple", &r[2]) == 0, "start");
	CHECK(start(&j[3], argon_v, "battery stapl", &r[3]) == 0, "start");
	CHECK(start(&j[4], NULL, "correct horse", &r[4]) == 0, "start");
	CHECK(start(&j[5], odd_v, "odd iterations", &r[5]) == 0, "start");
	CHECK(start(&j[6], odd_v, "", &r[6]) == 0, "empty password");
	for (i = 0; i < 7; i++)
		CHECK(pwcheck_busy(&j[i]), "job %d busy", i);
	CHECK(r[0].calls == 0 && r[2].calls == 0,
	    "no callback before the loop runs");
	wait_for(r, 7);
	for (i = 0; i < 7; i++)
		CHECK(r[i].calls == 1, "job %d called back once (%d)", i,
		    r[i].calls);
	CHECK(r[0].result == 1, "SCRAM verifier, right password");
	CHECK(r[1].result == 0, "SCRAM verifier, wrong password");
	CHECK(r[2].result == 1, "argon2id verifier, right password");
	CHECK(r[3].result == 0, "argon2id verifier, wrong password");
	CHECK(r[4].result == 0, "unknown user never matches");
	CHECK(r[5].result == 1, "SCRAM verifier with 5000 iterations");
	CHECK(r[6].result == 0, "empty password");
	for (i = 0; i < 7; i++)
		CHECK(!pwcheck_busy(&j[i]), "job %d idle", i);

	/* Refusals: no callback, the password still wiped. */
	memset(pw, 'x', sizeof(pw));
	CHECK(pwcheck_start(&V, &j[0], "plain:text", 10, pw, 8, on_done,
	    &r[0], err, sizeof(err)) == -1, "bad verifier refused");
	CHECK(strstr(err, "verifier") != NULL, "reason: %s", err);
	for (k = 0; k < 8; k++)
		CHECK(pw[k] == 0, "password wiped after a refusal");
	{
		char	 big[PWCHECK_PW_MAX + 1];

		memset(big, 'y', sizeof(big));
		CHECK(pwcheck_start(&V, &j[0], scram_v, strlen(scram_v), big,
		    sizeof(big), on_done, &r[0], err, sizeof(err)) == -1,
		    "over-long password refused");
	}
	memcpy(pw, "correct horse", 13);
	CHECK(pwcheck_start(&V, &j[0], scram_v, strlen(scram_v), pw, 13,
	    on_done, &r[0], err, sizeof(err)) == 0, "start");
	for (k = 0; k < 13; k++)
		CHECK(pw[k] == 0, "caller's password wiped by pwcheck_start");
	memcpy(pw, "correct horse", 13);
	CHECK(pwcheck_start(&V, &j[0], scram_v, strlen(scram_v), pw, 13,
	    on_done, &r[0], err, sizeof(err)) == -1, "busy job refused");
	r[0].calls = 0;
	wait_for(r, 1);
	CHECK(r[0].calls == 1 && r[0].result == 1, "the first one finished");
}

/*
 * An unknown user's check goes the way of its model, with the model's
 * parameters, and never matches, even with the model's own password.
 */
static void
test_unknown(void)
{
	struct {
		const char	*model, *pw, *what;
		int		 kind;
	} t[] = {
		{ argon_v, "battery staple", "argon2id model",
		    VERIFIER_ARGON2ID },
		{ odd_v, "odd iterations", "SCRAM model (5000 iterations)",
		    VERIFIER_SCRAM_SHA_256 },
		{ NULL, "anything", "no model", VERIFIER_SCRAM_SHA_256 },
	};
	struct pwcheck_job	 j;
	struct res		 r;
	uint64_t		 child, pbkdf2;
	char			 pw[64], err[256];
	size_t			 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&r, 0, sizeof(r));
		pwcheck_job_init(&j);
		child = V.nchild;
		pbkdf2 = V.npbkdf2;
		snprintf(pw, sizeof(pw), "%s", t[i].pw);
		CHECK(pwcheck_start_unknown(&V, &j, t[i].model, t[i].model ?
		    strlen(t[i].model) : 0, pw, strlen(pw), on_done, &r, err,
		    sizeof(err)) == 0, "%s: started (%s)", t[i].what, err);
		CHECK(pw[0] == '\0', "%s: the password was wiped", t[i].what);
		CHECK(pwcheck_kind(&j) == t[i].kind, "%s: the model's kind",
		    t[i].what);
		CHECK(t[i].kind == VERIFIER_ARGON2ID ?
		    V.nchild == child + 1 && V.npbkdf2 == pbkdf2 :
		    V.npbkdf2 == pbkdf2 + 1 && V.nchild == child,
		    "%s: the model's path (child %llu, pbkdf2 %llu)", t[i].what,
		    (unsigned long long)(V.nchild - child),
		    (unsigned long long)(V.npbkdf2 - pbkdf2));
		wait_for(&r, 1);
		CHECK(r.calls == 1 && r.result == 0, "%s: no match, even with "
		    "the model's password (%d, %d)", t[i].what, r.calls,
		    r.result);
	}
}

static void
test_cancel(void)
{
	struct pwcheck_job	 j[5];
	struct res		 r[5];
	int			 i;

	memset(r, 0, sizeof(r));
	for (i = 0; i < 5; i++)
		pwcheck_job_init(&j[i]);
	/* SCRAM, cancelled mid-way. */
	CHECK(start(&j[0], scram_v, "correct horse", &r[0]) == 0, "start");
	(void)loop_once(&L, 1);
	(void)loop_once(&L, 1);
	pwcheck_cancel(&j[0]);
	CHECK(!pwcheck_busy(&j[0]), "cancelled SCRAM job idle");
	/* argon2id, cancelled while queued (not yet sent). */
	CHECK(start(&j[1], argon_v, "battery staple", &r[1]) == 0, "start");
	pwcheck_cancel(&j[1]);
	/* argon2id, cancelled once sent; the next answer still lands. */
	CHECK(start(&j[2], argon_v, "battery staple", &r[2]) == 0, "start");
	CHECK(start(&j[3], argon_v, "battery staple", &r[3]) == 0, "start");
	(void)loop_once(&L, 0);
	pwcheck_cancel(&j[2]);
	/* Cancelling an idle job is harmless. */
	pwcheck_cancel(&j[4]);
	pwcheck_cancel(&j[2]);
	/* Reuse the cancelled memory at once, as a freed session would. */
	memset(&j[2], 0xa5, sizeof(j[2]));
	pwcheck_job_init(&j[2]);
	wait_for(&r[3], 1);
	for (i = 0; i < 100; i++)
		(void)loop_once(&L, 0);
	CHECK(r[0].calls == 0, "cancelled SCRAM job not called back");
	CHECK(r[1].calls == 0, "cancelled queued job not called back");
	CHECK(r[2].calls == 0, "cancelled sent job not called back");
	CHECK(r[3].calls == 1 && r[3].result == 1,
	    "the job after a cancelled one gets its own answer");

	/* A callback that starts the next verification on its job. */
	memset(r, 0, sizeof(r));
	r[0].again = &j[0];
	r[0].again_v = argon_v;
	r[0].again_pw = "wrong";
	CHECK(start(&j[0], scram_v, "correct horse", &r[0]) == 0, "start");
	for (i = 0; i < 20000 && r[0].calls < 2; i++)
		(void)loop_once(&L, 1);
	CHECK(r[0].calls == 2 && r[0].result == 0,
	    "restarted from its callback (%d calls)", r[0].calls);
}

/* The ping test. */

#define NVERIFY		20
#define MAXPINGS	20000

static uint64_t
usec_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* CPU time of this process: a turn's work without the waits. */
static uint64_t
cpu_usec(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	 x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The pinger, a separate process: NOOP, wait for the answer, measure,
 * pause a little, until the server answers "221"; then report.
 */
static void
pinger(int fd)
{
	static uint64_t	 rtt[MAXPINGS];
	struct pollfd	 p;
	char		 buf[256], out[256];
	size_t		 n = 0;
	uint64_t	 t0;
	ssize_t		 k;
	int		 stop = 0;

	while (!stop && n < MAXPINGS) {
		t0 = usec_now();
		if (write(fd, "NOOP\r\n", 6) != 6)
			_exit(1);
		p.fd = fd;
		p.events = POLLIN;
		if (poll(&p, 1, 10000) != 1)
			_exit(1);
		if ((k = read(fd, buf, sizeof(buf) - 1)) <= 0)
			_exit(1);
		buf[k] = '\0';
		rtt[n++] = usec_now() - t0;
		if (strncmp(buf, "221", 3) == 0)
			stop = 1;
		else
			usleep(500);
	}
	qsort(rtt, n, sizeof(rtt[0]), cmp_u64);
	k = snprintf(out, sizeof(out), "%zu %llu %llu %llu\n", n,
	    (unsigned long long)rtt[n / 2],
	    (unsigned long long)rtt[n * 99 / 100],
	    (unsigned long long)rtt[n - 1]);
	/* A child: a short write shows as a missing line in the parent. */
	_exit(write(fd, out, (size_t)k) == k ? 0 : 1);
}

struct server {
	int	 fd;
	int	 finished;	/* verifications done */
	int	 answered;
	char	 stats[256];
	size_t	 statslen;
};

static void
server_io(struct loop *l, int fd, int events, void *arg)
{
	struct server	*s = arg;
	char		 buf[256];
	ssize_t		 k;

	(void)l;
	(void)events;
	if ((k = read(fd, buf, sizeof(buf))) <= 0)
		return;
	if (k >= 4 && memcmp(buf, "NOOP", 4) == 0) {
		s->answered++;
		if (s->finished == NVERIFY)
			CHECK(write(fd, "221 2.0.0 Bye\r\n", 15) == 15,
			    "server writes 221");
		else
			CHECK(write(fd, "250 2.0.0 OK\r\n", 14) == 14,
			    "server writes 250");
		return;
	}
	if ((size_t)k > sizeof(s->stats) - 1 - s->statslen)
		k = (ssize_t)(sizeof(s->stats) - 1 - s->statslen);
	memcpy(s->stats + s->statslen, buf, (size_t)k);
	s->statslen += (size_t)k;
	s->stats[s->statslen] = '\0';
}

static struct server	srv;

static void
ping_done(void *arg, int result)
{
	struct res	*r = arg;

	r->calls++;
	r->result = result;
	srv.finished++;
}

static void
test_ping(void)
{
	struct pwcheck_job	 j[NVERIFY];
	struct res		 r[NVERIFY];
	char			 pw[64], err[256];
	int			 sp[2], i, ok = 0, st;
	int			 nscram = 0, nargon = 0;
	unsigned long long	 n = 0, p50 = 0, p99 = 0, max = 0;
	uint64_t		 t0, t1, inline_scram, inline_argon;
	uint64_t		 longest = 0, longest_cpu = 0;
	pid_t			 pid;

	/* For scale: what one verification costs inline. */
	t0 = usec_now();
	(void)verifier_match(scram_v, "correct horse", 13);
	t1 = usec_now();
	inline_scram = t1 - t0;
	(void)verifier_match(argon_v, "battery staple", 14);
	inline_argon = usec_now() - t1;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0)
		exit(1);
	if ((pid = fork()) == 0) {
		close(sp[0]);
		pinger(sp[1]);
	}
	close(sp[1]);
	memset(&srv, 0, sizeof(srv));
	srv.fd = sp[0];
	CHECK(loop_fd_add(&L, sp[0], LOOP_READ, server_io, &srv) == 0,
	    "add");
	/* Let the pinger get going. */
	for (i = 0; i < 20 && srv.answered < 5; i++)
		(void)loop_once(&L, 1);
	memset(r, 0, sizeof(r));
	t0 = usec_now();
	for (i = 0; i < NVERIFY; i++) {
		const char	*v = i % 2 ? argon_v : scram_v;

		pwcheck_job_init(&j[i]);
		snprintf(pw, sizeof(pw), "%s", i % 2 ? "battery staple" :
		    "correct horse");
		if (pwcheck_start(&V, &j[i], v, strlen(v), pw, strlen(pw),
		    ping_done, &r[i], err, sizeof(err)) != 0)
			printf("FAIL start %d: %s\n", i, err);
		if (i % 2)
			nargon++;
		else
			nscram++;
	}
	/*
	 * A turn with slices due does not wait for I/O, so the longest
	 * turn measures the loop's own stall, apart from scheduling.
	 */
	while (srv.finished < NVERIFY) {
		uint64_t	 a = usec_now(), ca = cpu_usec(), d;

		if (loop_once(&L, 1) != 0)
			break;
		d = usec_now() - a;
		if (loop_timer_count(&L) > 0 && d > longest)
			longest = d;
		d = cpu_usec() - ca;
		if (d > longest_cpu)
			longest_cpu = d;
	}
	t1 = usec_now();
	/* Until the pinger has reported. */
	for (i = 0; i < 100000 && strchr(srv.stats, '\n') == NULL; i++)
		(void)loop_once(&L, 1);
	loop_fd_del(&L, sp[0]);
	close(sp[0]);
	waitpid(pid, &st, 0);
	for (i = 0; i < NVERIFY; i++)
		ok += r[i].calls == 1 && r[i].result == 1;
	CHECK(ok == NVERIFY, "%d of %d verifications matched", ok, NVERIFY);
	CHECK(sscanf(srv.stats, "%llu %llu %llu %llu", &n, &p50, &p99,
	    &max) == 4, "pinger stats: '%s'", srv.stats);
	printf("inline, one verification blocks for: SCRAM (4096 "
	    "iterations) %llu us, argon2id %llu us\n",
	    (unsigned long long)inline_scram,
	    (unsigned long long)inline_argon);
	printf("%d verifications (%d SCRAM sliced by %d, %d argon2id in "
	    "the child) took %llu ms\n", NVERIFY, nscram, PWCHECK_SLICE,
	    nargon, (unsigned long long)(t1 - t0) / 1000);
	printf("meanwhile %llu NOOP pings from another process: p50 %llu "
	    "us, p99 %llu us, max %llu us\n", n, p50, p99, max);
	printf("longest loop turn with slices due: %llu us of wall time, "
	    "longest turn on the CPU: %llu us\n",
	    (unsigned long long)longest, (unsigned long long)longest_cpu);
}

/*
 * More argon2id jobs than the in-flight window, through a send buffer
 * made tiny so that sends also meet EAGAIN; some cancelled while
 * queued, some once sent.  A cheap verifier keeps it quick.
 */
#define NMANY	100

static void
test_many_argon(void)
{
	static struct pwcheck_job j[NMANY];
	static struct res	 r[NMANY];
	char			 cheap[crypto_pwhash_STRBYTES];
	int			 i, sndbuf = 1, right = 0, wrong = 0, bad = 0;

	if (crypto_pwhash_argon2id_str(cheap, "cheap", 5, 1, 8192) != 0) {
		CHECK(0, "cheap argon2id verifier");
		return;
	}
	/* Poking the private socket: only a test may. */
	(void)setsockopt(V.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
	    sizeof(sndbuf));
	memset(r, 0, sizeof(r));
	for (i = 0; i < NMANY; i++) {
		pwcheck_job_init(&j[i]);
		CHECK(start(&j[i], cheap, i % 3 ? "cheap" : "dear", &r[i]) ==
		    0, "start %d", i);
	}
	pwcheck_cancel(&j[NMANY - 1]);		/* queued */
	for (i = 0; i < 3; i++)
		(void)loop_once(&L, 0);
	pwcheck_cancel(&j[1]);			/* sent by now */
	pwcheck_cancel(&j[NMANY - 2]);
	for (i = 0; i < 100000; i++) {
		int	 k, n = 0;

		for (k = 0; k < NMANY; k++)
			n += r[k].calls;
		if (n >= NMANY - 3)
			break;
		(void)loop_once(&L, 1);
	}
	for (i = 0; i < NMANY; i++) {
		if (i == 1 || i >= NMANY - 2) {
			if (r[i].calls != 0)
				bad++;
			continue;
		}
		if (r[i].calls != 1)
			bad++;
		else if (r[i].result == (i % 3 ? 1 : 0))
			right++;
		else
			wrong++;
	}
	CHECK(bad == 0 && wrong == 0 && right == NMANY - 3,
	    "%d jobs through a window of %d: %d right, %d wrong, %d "
	    "called back amiss", NMANY, PWCHECK_INFLIGHT, right, wrong, bad);
}

static void
test_child_death(void)
{
	struct pwcheck_job	 j[3];
	struct res		 r[3];
	int			 st;

	memset(r, 0, sizeof(r));
	pwcheck_job_init(&j[0]);
	pwcheck_job_init(&j[1]);
	pwcheck_job_init(&j[2]);
	CHECK(start(&j[0], argon_v, "battery staple", &r[0]) == 0, "start");
	CHECK(start(&j[1], argon_v, "battery staple", &r[1]) == 0, "start");
	(void)loop_once(&L, 0);
	CHECK(kill(pwcheck_child_pid(&V), SIGKILL) == 0, "kill the child");
	CHECK(waitpid(pwcheck_child_pid(&V), &st, 0) > 0, "reaped");
	pwcheck_child_reaped(&V, pwcheck_child_pid(&V));
	CHECK(pwcheck_child_pid(&V) == -1, "forgotten");
	wait_for(r, 2);
	CHECK(r[0].calls == 1 && r[0].result == -1, "in flight: -1 (%d %d)",
	    r[0].calls, r[0].result);
	CHECK(r[1].calls == 1 && r[1].result == -1, "second: -1");
	CHECK(pwcheck_child_dead(&V), "child seen dead");
	CHECK(start(&j[0], argon_v, "battery staple", &r[0]) == -1,
	    "argon2id refused without a child");
	r[2].calls = 0;
	CHECK(start(&j[2], scram_v, "correct horse", &r[2]) == 0,
	    "SCRAM still works");
	wait_for(&r[2], 1);
	CHECK(r[2].calls == 1 && r[2].result == 1, "SCRAM matched");
}

int
main(void)
{
	struct scram_verifier	 sv;
	char			 err[256];

	signal(SIGPIPE, SIG_IGN);
	alarm(300);
	if (sodium_init() < 0)
		return 1;
	if (verifier_make(VERIFIER_SCRAM_SHA_256, "correct horse", 13,
	    scram_v, sizeof(scram_v)) != 0 ||
	    verifier_make(VERIFIER_ARGON2ID, "battery staple", 14, argon_v,
	    sizeof(argon_v)) != 0) {
		printf("FAIL verifier_make\n");
		return 1;
	}
	/* A count that is no multiple of the slice. */
	memset(&sv, 0, sizeof(sv));
	sv.iter = 5000;
	sv.saltlen = 7;
	memcpy(sv.salt, "NaCl+KC", 7);
	if (scram_derive("odd iterations", 14, sv.salt, sv.saltlen, sv.iter,
	    sv.stored_key, sv.server_key) != 0 ||
	    scram_verifier_format(&sv, odd_v, sizeof(odd_v)) < 0) {
		printf("FAIL odd verifier\n");
		return 1;
	}
	if (loop_init(&L, 1024, 256, err, sizeof(err)) != 0 ||
	    pwcheck_init(&V, &L, (uid_t)-1, (gid_t)-1, err,
	    sizeof(err)) != 0) {
		printf("FAIL init: %s\n", err);
		return 1;
	}
	test_match();
	test_unknown();
	test_cancel();
	test_ping();
	test_many_argon();
	test_child_death();
	pwcheck_free(&V);
	loop_free(&L);
	return check_finish();
}
