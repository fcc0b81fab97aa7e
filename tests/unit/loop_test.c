/*
 * Unit tests for runtime/core/loop.c and loop_epoll.c: timer order, cancel
 * and re-arm, many timers against a reference, the heap bound, fd
 * events over a socketpair (including a descriptor removed or reused
 * by an earlier callback of the same turn), and signals as events.
 */
#include "config.h"

#include "check.h"

#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"

#define NREC	64

static int	order[NREC];
static int	norder;

struct tt {
	struct loop_timer	 t;
	int			 id;
	int			 rearm;	/* re-arm once, delay 0 */
	struct loop_timer	*cancel;	/* cancel this when run */
	uint64_t		 turn;
};

static void
tt_fire(struct loop *L, void *arg)
{
	struct tt	*x = arg;

	if (norder < NREC)
		order[norder++] = x->id;
	x->turn = loop_turns(L);
	if (x->cancel != NULL)
		loop_timer_cancel(L, x->cancel);
	if (x->rearm) {
		x->rearm = 0;
		if (loop_soon(L, &x->t) != 0)
			printf("FAIL re-arm from a callback\n");
	}
}

static void
spin(struct loop *L, int until)
{
	int	 i;

	for (i = 0; i < 1000 && norder < until; i++)
		if (loop_once(L, 1) != 0)
			break;
}

static void
setup(struct loop *L, size_t maxtimers)
{
	char	 err[128];

	if (loop_init(L, 1024, maxtimers, err, sizeof(err)) != 0) {
		printf("FAIL loop_init: %s\n", err);
		exit(1);
	}
}

static void
test_timer_order(void)
{
	struct loop	 L;
	struct tt	 x[6];
	static const int delay[6] = { 30, 10, 0, 10, 20, 0 };
	static const int want[6] = { 2, 5, 1, 3, 4, 0 };
	int		 i;

	setup(&L, 16);
	norder = 0;
	memset(x, 0, sizeof(x));
	for (i = 0; i < 6; i++) {
		x[i].id = i;
		loop_timer_init(&x[i].t, tt_fire, &x[i]);
		CHECK(loop_timer_arm(&L, &x[i].t, delay[i]) == 0, "arm %d", i);
	}
	CHECK(loop_timer_count(&L) == 6, "six armed");
	spin(&L, 6);
	CHECK(norder == 6, "all six fired (%d)", norder);
	for (i = 0; i < 6 && i < norder; i++)
		CHECK(order[i] == want[i], "order[%d] = %d, want %d", i,
		    order[i], want[i]);
	CHECK(loop_timer_count(&L) == 0, "none armed after firing");
	for (i = 0; i < 6; i++)
		CHECK(!loop_timer_armed(&x[i].t), "timer %d disarmed", i);
	loop_free(&L);
}

static void
test_timer_cancel_rearm(void)
{
	struct loop	 L;
	struct tt	 a, b, c, d;
	uint64_t	 t0;

	setup(&L, 16);
	norder = 0;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	memset(&d, 0, sizeof(d));
	a.id = 1; b.id = 2; c.id = 3; d.id = 4;
	loop_timer_init(&a.t, tt_fire, &a);
	loop_timer_init(&b.t, tt_fire, &b);
	loop_timer_init(&c.t, tt_fire, &c);
	loop_timer_init(&d.t, tt_fire, &d);

	/* Cancel before it fires; cancelling twice is harmless. */
	CHECK(loop_timer_arm(&L, &a.t, 5) == 0, "arm a");
	loop_timer_cancel(&L, &a.t);
	loop_timer_cancel(&L, &a.t);
	CHECK(!loop_timer_armed(&a.t), "a cancelled");
	/* Re-arm later, then earlier: the last arming counts. */
	CHECK(loop_timer_arm(&L, &b.t, 1) == 0, "arm b");
	CHECK(loop_timer_arm(&L, &b.t, 40) == 0, "re-arm b later");
	CHECK(loop_timer_arm(&L, &c.t, 30) == 0, "arm c");
	CHECK(loop_timer_arm(&L, &c.t, 2) == 0, "re-arm c earlier");
	CHECK(loop_timer_count(&L) == 2, "two armed, re-arming adds none");
	/* c cancels b when it runs, both due at once is not required. */
	c.cancel = &b.t;
	t0 = loop_now(&L);
	spin(&L, 1);
	CHECK(norder == 1 && order[0] == 3, "c first and alone");
	CHECK(!loop_timer_armed(&b.t), "b cancelled from c's callback");
	CHECK(loop_now(&L) - t0 < 40, "did not wait for b");

	/* Two timers due in one turn; the first cancels the second. */
	norder = 0;
	c.cancel = &d.t;
	CHECK(loop_timer_arm(&L, &c.t, 0) == 0, "arm c");
	CHECK(loop_timer_arm(&L, &d.t, 0) == 0, "arm d");
	CHECK(loop_once(&L, 1) == 0, "turn");
	CHECK(norder == 1 && order[0] == 3, "d cancelled within the turn");

	/* A zero-delay re-arm from a callback waits for the next turn. */
	norder = 0;
	c.cancel = NULL;
	c.rearm = 1;
	CHECK(loop_soon(&L, &c.t) == 0, "soon");
	CHECK(loop_once(&L, 1) == 0, "turn");
	CHECK(norder == 1, "ran once in the first turn (%d)", norder);
	CHECK(loop_timer_armed(&c.t), "re-armed");
	CHECK(loop_once(&L, 1) == 0, "turn");
	CHECK(norder == 2 && order[1] == 3, "ran again next turn");
	loop_free(&L);
}

/* Many timers: random arms, re-arms and cancels; check what fires. */
#define MANY	5000

struct mt {
	struct loop_timer	 t;
	uint64_t		 when;
	int			 fired;
	int			 want;
};

static uint64_t		 many_last;
static int		 many_bad, many_fired;

static void
mt_fire(struct loop *L, void *arg)
{
	struct mt	*m = arg;

	m->fired++;
	many_fired++;
	if (m->t.when < many_last || m->t.when > loop_now(L))
		many_bad++;
	many_last = m->t.when;
}

static void
test_many_timers(void)
{
	struct loop	 L;
	struct mt	*m;
	struct loop_timer extra;
	int		 i, j, want = 0, bad = 0;
	unsigned	 seed = 12345;

	setup(&L, MANY);
	if ((m = calloc(MANY, sizeof(*m))) == NULL)
		exit(1);
	for (i = 0; i < MANY; i++) {
		loop_timer_init(&m[i].t, mt_fire, &m[i]);
		seed = seed * 1103515245 + 12345;
		if (loop_timer_arm(&L, &m[i].t, (seed >> 16) % 40) != 0)
			bad++;
		m[i].want = 1;
	}
	CHECK(bad == 0, "%d arms failed", bad);
	/* The heap is full: one more is refused, re-arming is not. */
	loop_timer_init(&extra, mt_fire, NULL);
	CHECK(loop_timer_arm(&L, &extra, 1) == -1, "full heap refuses");
	CHECK(loop_timer_arm(&L, &m[0].t, 3) == 0, "full heap re-arms");
	for (j = 0; j < MANY / 2; j++) {
		seed = seed * 1103515245 + 12345;
		i = (int)((seed >> 8) % MANY);
		if (seed & 0x10000) {
			loop_timer_cancel(&L, &m[i].t);
			m[i].want = 0;
		} else {
			if (loop_timer_arm(&L, &m[i].t, (seed >> 20) % 40)
			    != 0)
				bad++;
			m[i].want = 1;
		}
	}
	for (i = 0; i < MANY; i++)
		want += m[i].want;
	CHECK(loop_timer_count(&L) == (size_t)want, "count %zu, want %d",
	    loop_timer_count(&L), want);
	many_last = 0;
	for (i = 0; i < 1000 && loop_timer_count(&L) > 0; i++)
		(void)loop_once(&L, 1);
	CHECK(many_fired == want, "fired %d, want %d", many_fired, want);
	CHECK(many_bad == 0, "%d out of order or early", many_bad);
	for (i = 0, bad = 0; i < MANY; i++)
		if (m[i].fired != m[i].want)
			bad++;
	CHECK(bad == 0, "%d timers fired the wrong number of times", bad);
	free(m);
	loop_free(&L);
}

/* Descriptors. */

struct ft {
	int	 reads, writes, eof;
	int	 other;		/* fd to remove when this one fires */
	int	 reuse;		/* then register a new socketpair */
	int	 newfd[2];
	char	 got[64];
	size_t	 gotlen;
};

static struct ft	*ft_by_fd[1024];

static void
ft_io(struct loop *L, int fd, int events, void *arg)
{
	struct ft	*f = arg;
	ssize_t		 n;

	if (events & LOOP_READ) {
		f->reads++;
		n = read(fd, f->got + f->gotlen, sizeof(f->got) - f->gotlen);
		if (n == 0)
			f->eof = 1;
		else if (n > 0)
			f->gotlen += (size_t)n;
	}
	if (events & LOOP_WRITE)
		f->writes++;
	if (f->other >= 0) {
		loop_fd_del(L, f->other);
		close(f->other);
		if (f->reuse && socketpair(AF_UNIX, SOCK_STREAM |
		    SOCK_NONBLOCK, 0, f->newfd) == 0) {
			/* Ready at once: data waits on it. */
			CHECK(write(f->newfd[1], "x", 1) == 1,
			    "wake the new descriptor");
			if (loop_fd_add(L, f->newfd[0], LOOP_READ, ft_io,
			    ft_by_fd[f->other]) != 0)
				printf("FAIL re-register\n");
		}
		f->other = -1;
	}
}

static void
test_fd_events(void)
{
	struct loop	 L;
	struct ft	 a, b;
	int		 sp[2], sq[2];

	setup(&L, 8);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.other = b.other = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) != 0)
		exit(1);
	CHECK(loop_fd_add(&L, sp[0], LOOP_READ, ft_io, &a) == 0, "add");
	CHECK(loop_fd_add(&L, sp[0], LOOP_READ, ft_io, &a) == -1,
	    "adding twice is refused");
	CHECK(loop_fd_add(&L, 5000, LOOP_READ, ft_io, &a) == -1,
	    "fd beyond the table is refused");
	CHECK(loop_fd_mask(&L, sp[0]) == LOOP_READ, "mask");
	CHECK(loop_once(&L, 0) == 0 && a.reads == 0, "nothing to read");
	CHECK(write(sp[1], "hello", 5) == 5, "write");
	CHECK(loop_once(&L, 1) == 0, "turn");
	CHECK(a.reads == 1 && a.gotlen == 5 &&
	    memcmp(a.got, "hello", 5) == 0, "read event");
	CHECK(loop_fd_set(&L, sp[0], LOOP_READ | LOOP_WRITE) == 0, "set");
	CHECK(loop_once(&L, 1) == 0 && a.writes == 1 && a.reads == 1,
	    "write event, no read event (%d %d)", a.writes, a.reads);
	CHECK(loop_fd_set(&L, sp[0], 0) == 0, "quiet");
	CHECK(write(sp[1], "x", 1) == 1, "write");
	CHECK(loop_once(&L, 0) == 0 && a.writes == 1 && a.reads == 1,
	    "quiet fd gets nothing");
	CHECK(loop_fd_set(&L, sp[0], LOOP_READ) == 0, "read again");
	CHECK(loop_once(&L, 1) == 0 && a.reads == 2, "pending data seen");
	/* Hang-up: the peer closes; read() sees EOF. */
	close(sp[1]);
	CHECK(loop_once(&L, 1) == 0 && a.eof == 1, "EOF reported");
	loop_fd_del(&L, sp[0]);
	loop_fd_del(&L, sp[0]);
	CHECK(loop_fd_mask(&L, sp[0]) == -1, "removed");
	close(sp[0]);

	/*
	 * Two fds ready in one turn; whichever runs first removes the
	 * other, which must then get nothing.
	 */
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) != 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sq) != 0)
		exit(1);
	a.other = sq[0];
	b.other = sp[0];
	CHECK(loop_fd_add(&L, sp[0], LOOP_READ, ft_io, &a) == 0, "add a");
	CHECK(loop_fd_add(&L, sq[0], LOOP_READ, ft_io, &b) == 0, "add b");
	CHECK(write(sp[1], "1", 1) == 1 && write(sq[1], "2", 1) == 1,
	    "write both");
	CHECK(loop_once(&L, 1) == 0, "turn");
	CHECK(a.reads + b.reads == 1, "only one of two ran (%d %d)",
	    a.reads, b.reads);
	if (a.reads) {
		loop_fd_del(&L, sp[0]);
		close(sp[0]);
	} else {
		loop_fd_del(&L, sq[0]);
		close(sq[0]);
	}
	close(sp[1]);
	close(sq[1]);

	/*
	 * The same, but the first callback reuses the number of the one
	 * it closed for a new registration: the stale event of this turn
	 * must not reach it.
	 */
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	struct ft	 fresh;
	memset(&fresh, 0, sizeof(fresh));
	fresh.other = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) != 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sq) != 0)
		exit(1);
	a.other = sq[0];
	b.other = sp[0];
	a.reuse = b.reuse = 1;
	ft_by_fd[sq[0]] = &fresh;
	ft_by_fd[sp[0]] = &fresh;
	CHECK(loop_fd_add(&L, sp[0], LOOP_READ, ft_io, &a) == 0, "add a");
	CHECK(loop_fd_add(&L, sq[0], LOOP_READ, ft_io, &b) == 0, "add b");
	CHECK(write(sp[1], "1", 1) == 1 && write(sq[1], "2", 1) == 1,
	    "write both");
	CHECK(loop_once(&L, 1) == 0, "turn");
	CHECK(a.reads + b.reads == 1, "only one of two ran");
	CHECK(fresh.reads == 0, "the reused number got no stale event");
	{
		int	 nfd = a.reads ? a.newfd[0] : b.newfd[0];
		int	 peer = a.reads ? a.newfd[1] : b.newfd[1];
		int	 oldfd = a.reads ? sq[0] : sp[0];

		CHECK(nfd == oldfd, "the number was reused (%d, %d)", nfd,
		    oldfd);
		CHECK(loop_once(&L, 1) == 0 && fresh.reads == 1,
		    "the new registration works next turn");
		loop_fd_del(&L, nfd);
		close(nfd);
		close(peer);
		if (a.reads) {
			loop_fd_del(&L, sp[0]);
			close(sp[0]);
		} else {
			loop_fd_del(&L, sq[0]);
			close(sq[0]);
		}
	}
	close(sp[1]);
	close(sq[1]);
	loop_free(&L);
}

/* Signals, the hook and loop_stop(). */

static int	seen_hup, seen_term, seen_chld, reaped, hooks;

static void
on_signal(struct loop *L, int signo, void *arg)
{
	int	 st;

	(void)arg;
	if (signo == SIGHUP)
		seen_hup++;
	else if (signo == SIGTERM) {
		seen_term++;
		loop_stop(L);
	} else if (signo == SIGCHLD) {
		seen_chld++;
		while (waitpid(-1, &st, WNOHANG) > 0)
			reaped++;
	}
}

static void
on_hook(struct loop *L, void *arg)
{
	(void)L;
	(void)arg;
	hooks++;
}

static void
on_hup_timer(struct loop *L, void *arg)
{
	(void)L;
	(void)arg;
	kill(getpid(), SIGHUP);
}

static void
on_term_timer(struct loop *L, void *arg)
{
	(void)L;
	(void)arg;
	kill(getpid(), SIGTERM);
}

static void
test_signals(void)
{
	struct loop		 L;
	struct loop_signal	 ls;
	struct loop_timer	 t1, t2;
	static const int	 sigs[] = { SIGHUP, SIGTERM, SIGCHLD };
	sigset_t		 cur;
	pid_t			 pid;
	uint64_t		 turns;

	setup(&L, 8);
	CHECK(loop_signal_open(&L, &ls, sigs, 3, on_signal, NULL) == 0,
	    "signal_open: %s", loop_error(&L));
	loop_set_hook(&L, on_hook, NULL);
	pid = fork();
	if (pid == 0)
		_exit(0);
	CHECK(pid > 0, "fork");
	loop_timer_init(&t1, on_hup_timer, NULL);
	loop_timer_init(&t2, on_term_timer, NULL);
	CHECK(loop_timer_arm(&L, &t1, 1) == 0, "arm");
	CHECK(loop_timer_arm(&L, &t2, 30) == 0, "arm");
	CHECK(loop_run(&L) == 0, "run until SIGTERM stops it");
	turns = loop_turns(&L);
	CHECK(seen_hup == 1, "SIGHUP seen %d times", seen_hup);
	CHECK(seen_term == 1, "SIGTERM seen %d times", seen_term);
	CHECK(seen_chld >= 1 && reaped == 1, "SIGCHLD seen, child reaped");
	CHECK(hooks > 0 && (uint64_t)hooks == turns,
	    "hook once per turn (%d hooks, %llu turns)", hooks,
	    (unsigned long long)turns);
	loop_signal_close(&L, &ls);
	sigprocmask(SIG_SETMASK, NULL, &cur);
	CHECK(!sigismember(&cur, SIGHUP), "mask restored on close");
	loop_free(&L);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	alarm(300);
	test_timer_order();
	test_timer_cancel_rearm();
	test_many_timers();
	test_fd_events();
	test_signals();
	return check_finish();
}
