/*
 * loop_epoll: the loop's Linux backend.  Level-triggered epoll; each
 * registration carries the fd and its table generation in the event's
 * 64-bit data, so that an event collected for a descriptor that a
 * callback has since closed and reused is recognised as stale.
 *
 * A descriptor with no interest is taken out of the epoll set rather
 * than kept with an empty mask, because epoll reports hang-ups and
 * errors whatever the mask says and a quiet fd would then spin.
 */
#include "config.h"

#include <sys/epoll.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOOP_BACKEND
#include "loop.h"

/* Events taken per wait; more simply wait for the next turn. */
#define LOOP_EPOLL_BATCH	256

struct loop_epoll {
	int			 epfd;
	struct epoll_event	 ev[LOOP_EPOLL_BATCH];
};

static int	loop_epoll_init(struct loop *);
static void	loop_epoll_free(struct loop *);
static int	loop_epoll_set(struct loop *, int, int, int);
static int	loop_epoll_wait(struct loop *, int);

const struct loop_backend loop_epoll_backend = {
	"epoll",
	loop_epoll_init,
	loop_epoll_free,
	loop_epoll_set,
	loop_epoll_wait
};

static int
loop_epoll_init(struct loop *L)
{
	struct loop_epoll	*e;

	if ((e = calloc(1, sizeof(*e))) == NULL) {
		snprintf(L->err, sizeof(L->err), "loop: out of memory");
		return -1;
	}
	if ((e->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		snprintf(L->err, sizeof(L->err), "loop: epoll_create1: %s",
		    strerror(errno));
		free(e);
		return -1;
	}
	L->bstate = e;
	return 0;
}

static void
loop_epoll_free(struct loop *L)
{
	struct loop_epoll	*e = L->bstate;

	if (e == NULL)
		return;
	close(e->epfd);
	free(e);
	L->bstate = NULL;
}

static int
loop_epoll_set(struct loop *L, int fd, int oldmask, int newmask)
{
	struct loop_epoll	*e = L->bstate;
	struct epoll_event	 ev;
	int			 op;

	memset(&ev, 0, sizeof(ev));
	if (newmask & LOOP_READ)
		ev.events |= EPOLLIN | EPOLLRDHUP;
	if (newmask & LOOP_WRITE)
		ev.events |= EPOLLOUT;
	ev.data.u64 = (uint64_t)(uint32_t)fd |
	    (uint64_t)L->fds[fd].gen << 32;
	if (oldmask == 0 && newmask != 0)
		op = EPOLL_CTL_ADD;
	else if (oldmask != 0 && newmask == 0)
		op = EPOLL_CTL_DEL;
	else if (oldmask != 0)
		op = EPOLL_CTL_MOD;
	else
		return 0;
	if (epoll_ctl(e->epfd, op, fd, &ev) != 0) {
		/* Closed before removal: the kernel dropped it already. */
		if (op == EPOLL_CTL_DEL && (errno == EBADF ||
		    errno == ENOENT))
			return 0;
		snprintf(L->err, sizeof(L->err), "epoll_ctl(%s, %d): %s",
		    op == EPOLL_CTL_ADD ? "ADD" : op == EPOLL_CTL_DEL ? "DEL" :
		    "MOD", fd, strerror(errno));
		return -1;
	}
	return 0;
}

static int
loop_epoll_wait(struct loop *L, int timeout_ms)
{
	struct loop_epoll	*e = L->bstate;
	int			 n, i, events;
	uint32_t		 got;

	n = epoll_wait(e->epfd, e->ev, LOOP_EPOLL_BATCH, timeout_ms);
	if (n < 0)
		return -1;
	loop_update_clock(L);
	for (i = 0; i < n; i++) {
		got = e->ev[i].events;
		events = 0;
		if (got & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			events |= LOOP_READ;
		if (got & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			events |= LOOP_WRITE;
		loop_backend_fire(L, (int)(uint32_t)e->ev[i].data.u64,
		    (uint32_t)(e->ev[i].data.u64 >> 32), events);
	}
	return n;
}
