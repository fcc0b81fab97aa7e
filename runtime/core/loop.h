/*
 * loop: bastiond's event loop.  One thread, one loop: file descriptors
 * watched for reading and writing, timers in a binary min-heap, a
 * millisecond monotonic clock read once per turn, and signals turned
 * into ordinary events (signalfd), in the manner of redis's ae.c.
 *
 * Memory is fixed at loop_init(): the fd table has one slot per
 * possible descriptor (the daemon raises RLIMIT_NOFILE and passes the
 * limit), the timer heap has room for a given number of armed timers.
 * Timers themselves are caller-allocated (embedded in a session), so
 * arming, re-arming and cancelling one allocates nothing and costs
 * O(log n).
 *
 * Usage:
 *	struct loop L;
 *	loop_init(&L, maxfd, maxtimers, err, sizeof(err));
 *	loop_fd_add(&L, fd, LOOP_READ, on_io, sess);
 *	loop_timer_init(&sess->timeout, on_timeout, sess);
 *	loop_timer_arm(&L, &sess->timeout, 300000);
 *	loop_run(&L);		(returns after loop_stop())
 *	loop_free(&L);
 *
 * One turn of the loop: wait for I/O (no longer than until the first
 * timer is due), read the clock, call the fd callbacks, call the timers
 * that are due, then the per-turn hook.  Callbacks may add, change or
 * remove any descriptor and arm or cancel any timer, their own
 * included; an fd removed (or removed and reused) during a turn gets
 * no stale event from that turn.  A timer armed from a timer callback
 * with delay 0 runs on the next turn, never in the same one, so a
 * zero-delay timer is the way to do something "soon" without starving
 * I/O.
 *
 * Errors: functions that can fail return -1 and leave a reason in the
 * loop (loop_error()); nothing here prints or exits.
 *
 * The loop is not thread-safe and never needs to be.
 */
#ifndef BASTION_LOOP_H
#define BASTION_LOOP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* Interest and event bits. */
#define LOOP_READ	0x01
#define LOOP_WRITE	0x02

#define LOOP_ERRLEN	128

struct loop;

/*
 * An fd is ready: events is LOOP_READ and/or LOOP_WRITE, only bits the
 * fd is registered for.  A hang-up or an error on the descriptor is
 * reported as whichever of the two the fd wants, so that the callback's
 * read() or write() sees the EOF or the error itself.
 */
typedef void	loop_fd_fn(struct loop *, int fd, int events, void *arg);

/* A timer is due.  It is disarmed before the call. */
typedef void	loop_timer_fn(struct loop *, void *arg);

/* A signal arrived (see loop_signal_open). */
typedef void	loop_signal_fn(struct loop *, int signo, void *arg);

/* Called once per turn, after the fd and timer callbacks. */
typedef void	loop_hook_fn(struct loop *, void *arg);

/*
 * A timer.  Caller-allocated; set up once with loop_timer_init(), then
 * armed and cancelled at will.  The fields are the loop's.
 */
struct loop_timer {
	uint64_t	 when;	/* deadline, in loop_now() milliseconds */
	uint64_t	 seq;	/* FIFO order among equal deadlines */
	size_t		 slot;	/* heap index + 1; 0: not armed */
	loop_timer_fn	*fn;
	void		*arg;
};

/* One slot of the fd table. */
struct loop_fd {
	uint8_t		 mask;	/* LOOP_READ | LOOP_WRITE; 0: quiet */
	uint8_t		 used;		/* registered */
	uint16_t	 pad;
	uint32_t	 gen;		/* bumped on add and remove */
	loop_fd_fn	*fn;
	void		*arg;
};

struct loop_backend;

/*
 * The loop.  Caller-allocated; its fields are private to loop.c and
 * the backends.
 */
struct loop {
	const struct loop_backend *be;
	void		*bstate;	/* the backend's */
	struct loop_fd	*fds;		/* maxfd slots */
	int		 maxfd;
	int		 nfds;		/* registered */
	struct loop_timer **heap;	/* maxtimers slots */
	size_t		 ntimers, maxtimers;
	uint64_t	 seq;
	uint64_t	 now;		/* cached clock, ms */
	uint64_t	 turns;
	int		 stop;
	loop_hook_fn	*hook;
	void		*hookarg;
	char		 err[LOOP_ERRLEN];
};

/*
 * Set up L for descriptors 0..maxfd-1 and at most maxtimers armed
 * timers at once.  Allocates the tables and the backend (epoll).
 * Returns 0, or -1 with the reason in err.
 */
int	loop_init(struct loop *L, int maxfd, size_t maxtimers, char *err,
	    size_t errlen) __attribute__((warn_unused_result));

/*
 * Release what loop_init() took.  Registered descriptors are not
 * closed (they are the caller's); armed timers are simply forgotten.
 */
void	loop_free(struct loop *L);

/* The reason for the last failure, for logs. */
const char *loop_error(const struct loop *L);

/*
 * Run turns until loop_stop() is called (from a callback).  Returns 0
 * after a stop, -1 if waiting for events failed (loop_error()).
 */
int	loop_run(struct loop *L)
	    __attribute__((warn_unused_result));

/*
 * One turn.  If block is 0, do not wait for I/O.  Returns 0 or -1.
 * Tests use it; the daemon uses loop_run().
 */
int	loop_once(struct loop *L, int block)
	    __attribute__((warn_unused_result));

/* Make loop_run() return after the current turn. */
void	loop_stop(struct loop *L);

/*
 * The clock: monotonic milliseconds, read once per turn (after waiting)
 * so that every callback of a turn sees the same time.
 */
uint64_t loop_now(const struct loop *L);

/* Re-read the clock now (after a long piece of work), and return it. */
uint64_t loop_update_clock(struct loop *L);

/* Turns run so far. */
uint64_t loop_turns(const struct loop *L);

/*
 * Descriptors.  The fd must be non-blocking (the loop does not check).
 * loop_fd_add: watch fd for mask (which may be 0: registered but
 * quiet), calling fn(L, fd, events, arg).  -1 if fd is out of range
 * or already registered, or the backend refuses.
 * loop_fd_set: change the interest of a registered fd.
 * loop_fd_del: forget fd; call it before close(fd).  Unknown fds are
 * ignored.
 */
int	loop_fd_add(struct loop *L, int fd, int mask, loop_fd_fn *fn,
	    void *arg) __attribute__((warn_unused_result));
int	loop_fd_set(struct loop *L, int fd, int mask)
	    __attribute__((warn_unused_result));
void	loop_fd_del(struct loop *L, int fd);
/* The interest of fd, or -1 if it is not registered. */
int	loop_fd_mask(const struct loop *L, int fd);

/*
 * Timers.  loop_timer_arm() arms t to fire delay_ms from loop_now(),
 * or moves it if it is armed already (O(log n) either way); timers
 * with the same deadline fire in the order they were armed.  Returns
 * -1 only if t is not armed and the heap is full.
 * loop_timer_cancel() disarms t (nothing if it is not armed).
 * A timer must be cancelled before the memory holding it is freed.
 */
void	loop_timer_init(struct loop_timer *t, loop_timer_fn *fn, void *arg);
int	loop_timer_arm(struct loop *L, struct loop_timer *t,
	    uint64_t delay_ms) __attribute__((warn_unused_result));
void	loop_timer_cancel(struct loop *L, struct loop_timer *t);
int	loop_timer_armed(const struct loop_timer *t);
/* Arm t with delay 0: it runs on the next turn. */
int	loop_soon(struct loop *L, struct loop_timer *t)
	    __attribute__((warn_unused_result));
/* Armed timers. */
size_t	loop_timer_count(const struct loop *L);

/* Set (or with fn NULL, clear) the hook called once per turn. */
void	loop_set_hook(struct loop *L, loop_hook_fn *fn, void *arg);

/*
 * Signals as events.  loop_signal_open() blocks the n signals in
 * sigs[] for the process and opens a signalfd for them, registered in
 * L; each arrival calls fn(L, signo, arg) from the loop (for SIGCHLD,
 * fn reaps with waitpid(WNOHANG) in a loop: arrivals coalesce).  The
 * previous signal mask is kept in ls, and loop_signal_close() restores
 * it.  A child forked meanwhile inherits the blocked mask: it should
 * restore ls->oldmask (verify does) before doing anything else.
 * Returns 0, or -1 with the reason in loop_error().
 */
struct loop_signal {
	int		 fd;
	loop_signal_fn	*fn;
	void		*arg;
	sigset_t	 set;
	sigset_t	 oldmask;
};

int	loop_signal_open(struct loop *L, struct loop_signal *ls,
	    const int *sigs, size_t n, loop_signal_fn *fn, void *arg)
	    __attribute__((warn_unused_result));
void	loop_signal_close(struct loop *L, struct loop_signal *ls);

#ifdef LOOP_BACKEND
/*
 * The backend interface, for loop.c and loop_*.c only.  A backend keeps
 * its state in L->bstate.  set() moves fd from interest old to new
 * (either may be 0: 0 -> x adds, x -> 0 removes).  wait() waits up to
 * timeout_ms (-1: forever, 0: poll) and calls loop_backend_fire() for
 * each ready fd with the generation given to set(); it returns the
 * number fired or -1 (errno set; EINTR is not an error).
 */
struct loop_backend {
	const char	*name;
	int		(*init)(struct loop *L);
	void		(*free)(struct loop *L);
	int		(*set)(struct loop *L, int fd, int oldmask,
			    int newmask);
	int		(*wait)(struct loop *L, int timeout_ms);
};

extern const struct loop_backend loop_epoll_backend;

/* Deliver events for fd seen ready by the backend this turn. */
void	loop_backend_fire(struct loop *L, int fd, uint32_t gen, int events);
#endif

#endif
