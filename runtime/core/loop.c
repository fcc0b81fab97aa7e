/*
 * loop: the portable half of the event loop: the fd table, the timer
 * heap, the clock, the turn itself and signals.  The wait for I/O is
 * the backend's (loop_epoll.c).
 *
 * The heap is an array of pointers to caller-owned timers; each timer
 * keeps its own index (slot, 1-based so that 0 means "not armed"), so
 * that cancelling or moving one needs no search.  Order is (when, seq):
 * seq grows with every arming, which keeps equal deadlines FIFO and
 * lets a turn run only the timers that were due when it began.
 */
#include "config.h"

#include <sys/signalfd.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOOP_BACKEND
#include "loop.h"

static void	loop_reason(struct loop *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	loop_before(const struct loop_timer *,
		    const struct loop_timer *);
static void	loop_heap_put(struct loop *, size_t, struct loop_timer *);
static void	loop_heap_up(struct loop *, size_t);
static void	loop_heap_down(struct loop *, size_t);
static void	loop_heap_remove(struct loop *, size_t);
static int	loop_timeout(const struct loop *);
static void	loop_run_timers(struct loop *);
static void	loop_signal_read(struct loop *, int, int, void *);

static void
loop_reason(struct loop *L, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(L->err, sizeof(L->err), fmt, ap);
	va_end(ap);
}

int
loop_init(struct loop *L, int maxfd, size_t maxtimers, char *err,
    size_t errlen)
{
	memset(L, 0, sizeof(*L));
	if (maxfd < 1 || maxtimers < 1 ||
	    maxtimers > SIZE_MAX / sizeof(*L->heap)) {
		snprintf(err, errlen, "loop: bad table sizes (%d fds, %zu "
		    "timers)", maxfd, maxtimers);
		return -1;
	}
	L->fds = calloc((size_t)maxfd, sizeof(*L->fds));
	L->heap = calloc(maxtimers, sizeof(*L->heap));
	if (L->fds == NULL || L->heap == NULL) {
		snprintf(err, errlen, "loop: out of memory for %d fds and "
		    "%zu timers", maxfd, maxtimers);
		goto fail;
	}
	L->maxfd = maxfd;
	L->maxtimers = maxtimers;
	L->be = &loop_epoll_backend;
	if (L->be->init(L) != 0) {
		snprintf(err, errlen, "%s", L->err);
		goto fail;
	}
	loop_update_clock(L);
	return 0;
fail:
	free(L->fds);
	free(L->heap);
	memset(L, 0, sizeof(*L));
	return -1;
}

void
loop_free(struct loop *L)
{
	if (L->be != NULL)
		L->be->free(L);
	free(L->fds);
	free(L->heap);
	memset(L, 0, sizeof(*L));
}

const char *
loop_error(const struct loop *L)
{
	return L->err;
}

uint64_t
loop_update_clock(struct loop *L)
{
	struct timespec	 ts;

	/* CLOCK_MONOTONIC cannot fail with a valid pointer on Linux. */
	if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
		L->now = (uint64_t)ts.tv_sec * 1000 +
		    (uint64_t)ts.tv_nsec / 1000000;
	return L->now;
}

uint64_t
loop_now(const struct loop *L)
{
	return L->now;
}

uint64_t
loop_turns(const struct loop *L)
{
	return L->turns;
}

void
loop_stop(struct loop *L)
{
	L->stop = 1;
}

void
loop_set_hook(struct loop *L, loop_hook_fn *fn, void *arg)
{
	L->hook = fn;
	L->hookarg = arg;
}

/* Descriptors. */

int
loop_fd_add(struct loop *L, int fd, int mask, loop_fd_fn *fn, void *arg)
{
	struct loop_fd	*f;

	if (fd < 0 || fd >= L->maxfd) {
		loop_reason(L, "descriptor %d is beyond the table (%d)", fd,
		    L->maxfd);
		errno = EMFILE;
		return -1;
	}
	f = &L->fds[fd];
	if (f->used) {
		loop_reason(L, "descriptor %d is already registered", fd);
		errno = EEXIST;
		return -1;
	}
	mask &= LOOP_READ | LOOP_WRITE;
	f->gen++;
	if (mask != 0 && L->be->set(L, fd, 0, mask) != 0)
		return -1;
	f->used = 1;
	f->mask = (uint8_t)mask;
	f->fn = fn;
	f->arg = arg;
	L->nfds++;
	return 0;
}

int
loop_fd_set(struct loop *L, int fd, int mask)
{
	struct loop_fd	*f;

	if (fd < 0 || fd >= L->maxfd || !L->fds[fd].used) {
		loop_reason(L, "descriptor %d is not registered", fd);
		errno = EBADF;
		return -1;
	}
	f = &L->fds[fd];
	mask &= LOOP_READ | LOOP_WRITE;
	if (mask == f->mask)
		return 0;
	if (L->be->set(L, fd, f->mask, mask) != 0)
		return -1;
	f->mask = (uint8_t)mask;
	return 0;
}

void
loop_fd_del(struct loop *L, int fd)
{
	struct loop_fd	*f;

	if (fd < 0 || fd >= L->maxfd || !L->fds[fd].used)
		return;
	f = &L->fds[fd];
	if (f->mask != 0)
		(void)L->be->set(L, fd, f->mask, 0);
	f->used = 0;
	f->mask = 0;
	f->fn = NULL;
	f->arg = NULL;
	/* Events already collected this turn for fd are now stale. */
	f->gen++;
	L->nfds--;
}

int
loop_fd_mask(const struct loop *L, int fd)
{
	if (fd < 0 || fd >= L->maxfd || !L->fds[fd].used)
		return -1;
	return L->fds[fd].mask;
}

void
loop_backend_fire(struct loop *L, int fd, uint32_t gen, int events)
{
	struct loop_fd	*f;

	if (fd < 0 || fd >= L->maxfd)
		return;
	f = &L->fds[fd];
	/*
	 * A callback earlier in this turn may have removed fd, or removed
	 * it and registered a new descriptor under the same number, or
	 * dropped an interest: deliver only what is still wanted.
	 */
	if (!f->used || f->gen != gen)
		return;
	events &= f->mask;
	if (events != 0)
		f->fn(L, fd, events, f->arg);
}

/* Timers. */

void
loop_timer_init(struct loop_timer *t, loop_timer_fn *fn, void *arg)
{
	memset(t, 0, sizeof(*t));
	t->fn = fn;
	t->arg = arg;
}

int
loop_timer_armed(const struct loop_timer *t)
{
	return t->slot != 0;
}

size_t
loop_timer_count(const struct loop *L)
{
	return L->ntimers;
}

static int
loop_before(const struct loop_timer *a, const struct loop_timer *b)
{
	if (a->when != b->when)
		return a->when < b->when;
	return a->seq < b->seq;
}

static void
loop_heap_put(struct loop *L, size_t i, struct loop_timer *t)
{
	L->heap[i] = t;
	t->slot = i + 1;
}

static void
loop_heap_up(struct loop *L, size_t i)
{
	struct loop_timer	*t = L->heap[i];
	size_t			 p;

	while (i > 0) {
		p = (i - 1) / 2;
		if (!loop_before(t, L->heap[p]))
			break;
		loop_heap_put(L, i, L->heap[p]);
		i = p;
	}
	loop_heap_put(L, i, t);
}

static void
loop_heap_down(struct loop *L, size_t i)
{
	struct loop_timer	*t = L->heap[i];
	size_t			 c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= L->ntimers)
			break;
		if (c + 1 < L->ntimers && loop_before(L->heap[c + 1],
		    L->heap[c]))
			c++;
		if (!loop_before(L->heap[c], t))
			break;
		loop_heap_put(L, i, L->heap[c]);
		i = c;
	}
	loop_heap_put(L, i, t);
}

/* Take the timer at index i out of the heap. */
static void
loop_heap_remove(struct loop *L, size_t i)
{
	struct loop_timer	*t = L->heap[i];
	struct loop_timer	*last;

	t->slot = 0;
	L->ntimers--;
	if (i == L->ntimers) {
		L->heap[i] = NULL;
		return;
	}
	last = L->heap[L->ntimers];
	L->heap[L->ntimers] = NULL;
	loop_heap_put(L, i, last);
	/* The moved timer may belong above or below i. */
	if (i > 0 && loop_before(last, L->heap[(i - 1) / 2]))
		loop_heap_up(L, i);
	else
		loop_heap_down(L, i);
}

int
loop_timer_arm(struct loop *L, struct loop_timer *t, uint64_t delay_ms)
{
	size_t	 i;

	if (t->slot == 0 && L->ntimers >= L->maxtimers) {
		loop_reason(L, "timer heap full (%zu timers)", L->maxtimers);
		errno = ENOSPC;
		return -1;
	}
	if (delay_ms > UINT64_MAX - L->now)
		delay_ms = UINT64_MAX - L->now;
	t->when = L->now + delay_ms;
	t->seq = L->seq++;
	if (t->slot == 0) {
		i = L->ntimers++;
		loop_heap_put(L, i, t);
		loop_heap_up(L, i);
		return 0;
	}
	/* Re-arming: the new key may be earlier or later than the old. */
	i = t->slot - 1;
	if (i > 0 && loop_before(t, L->heap[(i - 1) / 2]))
		loop_heap_up(L, i);
	else
		loop_heap_down(L, i);
	return 0;
}

int
loop_soon(struct loop *L, struct loop_timer *t)
{
	return loop_timer_arm(L, t, 0);
}

void
loop_timer_cancel(struct loop *L, struct loop_timer *t)
{
	size_t	 i;

	if (t->slot == 0)
		return;
	i = t->slot - 1;
	if (i >= L->ntimers || L->heap[i] != t)
		return;		/* not ours: never armed on L */
	loop_heap_remove(L, i);
}

/* Milliseconds to wait for I/O: until the first timer, or forever. */
static int
loop_timeout(const struct loop *L)
{
	uint64_t	 d;

	if (L->stop)
		return 0;
	if (L->ntimers == 0)
		return -1;
	if (L->heap[0]->when <= L->now)
		return 0;
	d = L->heap[0]->when - L->now;
	return d > 24 * 3600 * 1000 ? 24 * 3600 * 1000 : (int)d;
}

/*
 * Run the timers that are due.  Only those armed before this point
 * (seq below the mark) run: a callback that re-arms its timer, or
 * another, with delay 0 gets the next turn, so I/O is never starved.
 * Because a new timer's deadline is at least now and its seq above
 * every older one, the first timer past the mark ends the due ones.
 */
static void
loop_run_timers(struct loop *L)
{
	struct loop_timer	*t;
	uint64_t		 mark = L->seq;

	while (L->ntimers > 0) {
		t = L->heap[0];
		if (t->when > L->now || t->seq >= mark)
			break;
		loop_heap_remove(L, 0);
		t->fn(L, t->arg);
	}
}

int
loop_once(struct loop *L, int block)
{
	int	 timeout;

	timeout = block ? loop_timeout(L) : 0;
	L->turns++;
	/* The backend reads the clock once it has waited. */
	if (L->be->wait(L, timeout) < 0) {
		if (errno != EINTR) {
			loop_reason(L, "waiting for events: %s",
			    strerror(errno));
			return -1;
		}
		loop_update_clock(L);
	}
	loop_run_timers(L);
	if (L->hook != NULL)
		L->hook(L, L->hookarg);
	return 0;
}

int
loop_run(struct loop *L)
{
	L->stop = 0;
	while (!L->stop) {
		if (loop_once(L, 1) != 0)
			return -1;
	}
	return 0;
}

/* Signals. */

static void
loop_signal_read(struct loop *L, int fd, int events, void *arg)
{
	struct loop_signal		*ls = arg;
	struct signalfd_siginfo		 si[8];
	ssize_t				 n;
	size_t				 i;

	(void)events;
	/* Bounded: at most a few batches per turn, the rest next turn. */
	for (int round = 0; round < 4; round++) {
		n = read(fd, si, sizeof(si));
		if (n <= 0)
			return;
		for (i = 0; i < (size_t)n / sizeof(si[0]); i++)
			ls->fn(L, (int)si[i].ssi_signo, ls->arg);
		if ((size_t)n < sizeof(si))
			return;
	}
}

int
loop_signal_open(struct loop *L, struct loop_signal *ls, const int *sigs,
    size_t n, loop_signal_fn *fn, void *arg)
{
	size_t	 i;

	memset(ls, 0, sizeof(*ls));
	ls->fd = -1;
	ls->fn = fn;
	ls->arg = arg;
	sigemptyset(&ls->set);
	for (i = 0; i < n; i++) {
		if (sigaddset(&ls->set, sigs[i]) != 0) {
			loop_reason(L, "bad signal number %d", sigs[i]);
			return -1;
		}
	}
	/*
	 * Block first: a signal must wait in the kernel for the signalfd
	 * instead of running its default action.
	 */
	if (sigprocmask(SIG_BLOCK, &ls->set, &ls->oldmask) != 0) {
		loop_reason(L, "sigprocmask: %s", strerror(errno));
		return -1;
	}
	ls->fd = signalfd(-1, &ls->set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (ls->fd < 0) {
		loop_reason(L, "signalfd: %s", strerror(errno));
		goto fail;
	}
	if (loop_fd_add(L, ls->fd, LOOP_READ, loop_signal_read, ls) != 0)
		goto fail;
	return 0;
fail:
	if (ls->fd >= 0)
		close(ls->fd);
	ls->fd = -1;
	(void)sigprocmask(SIG_SETMASK, &ls->oldmask, NULL);
	return -1;
}

void
loop_signal_close(struct loop *L, struct loop_signal *ls)
{
	if (ls->fd < 0)
		return;
	loop_fd_del(L, ls->fd);
	close(ls->fd);
	ls->fd = -1;
	(void)sigprocmask(SIG_SETMASK, &ls->oldmask, NULL);
}
