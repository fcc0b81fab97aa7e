/*
 * queue: delivery of spooled messages, and their schedule (see
 * queue.h).  Each due message goes to local delivery (local.h), which
 * delivers its Maildir recipients (or fails them into a bounce) and
 * hands what is left to the route hook; the message is filed under its
 * next time meanwhile, and the hooks file it again (or drop it) when
 * they know better.
 *
 * An entry is in exactly one place: the heap (due later), the fresh or
 * the due FIFO (due now), or being handled (RUN, during deliver(), so
 * that the hooks it calls can file it and handle() knows they did).
 * Entries are numbered from 1 (0 is "none") and never move: a chunk,
 * once allocated, stays until queue_free.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "bastion_limits.h"
#include "queue.h"

enum { QE_FREE, QE_HEAP, QE_FRESH, QE_DUE, QE_RUN };

struct queue_ent {
	char		 id[SPOOL_ID_SIZE];
	uint8_t		 where;		/* QE_* */
	int64_t		 due;		/* QE_HEAP: seconds since the epoch */
	int64_t		 cap;		/* a Maildir deferred: no later than */
	uint32_t	 hnext;		/* chain of its bucket */
	uint32_t	 prev;		/* heap slot, or the list's previous */
	uint32_t	 next;		/* the list's next, or the free list */
};

static struct queue_ent *ent(const struct queue *, uint32_t);
static uint32_t	hash_id(const char *);
static uint32_t	find(const struct queue *, const char *);
static int	grow_index(struct queue *);
static uint32_t	add(struct queue *, const char *);
static uint32_t	entry_of(struct queue *, const char *);
static void	drop(struct queue *, uint32_t);
static void	unplace(struct queue *, uint32_t);
static void	list_push(struct queue *, struct queue_list *, uint32_t, int);
static void	list_unlink(struct queue *, struct queue_list *, uint32_t);
static uint32_t	list_pop(struct queue *, struct queue_list *);
static void	heap_swap(struct queue *, uint32_t, uint32_t);
static void	heap_up(struct queue *, uint32_t);
static void	heap_down(struct queue *, uint32_t);
static int	heap_push(struct queue *, uint32_t);
static void	heap_remove(struct queue *, uint32_t);
static void	file_at(struct queue *, uint32_t, int64_t);
static void	file_due(struct queue *, uint32_t, int);
static int64_t	date_of(const struct stat *);
static uint32_t	retry_of(const struct queue *);
static void	note_full(struct queue *, const char *);
static void	rearm(struct queue *);
static void	scan_open(struct queue *, struct queue_scan *, int);
static void	scan_close(struct queue_scan *);
static void	scan_turn(struct queue *);
static void	scan_name(struct queue *, const char *);
static void	handle(struct queue *, uint32_t);
static void	on_run(struct loop *, void *);
static void	on_sweep(struct loop *, void *);
static void	deliver(struct queue *, const char *);
static int	on_local_busy(void *, const char *);
static void	on_local_route(void *, const char *);
static void	on_local_bounced(void *, const char *);
static void	on_local_room(void *);
static void	on_local_gone(void *, const char *);
static void	on_local_deferred(void *, const char *);

/* ---- the entries and their index ------------------------------------ */

static struct queue_ent *
ent(const struct queue *q, uint32_t i)
{
	return &q->chunks[(i - 1) / QUEUE_CHUNK][(i - 1) % QUEUE_CHUNK];
}

/* FNV-1a: ids differ in their last digits (pid) and first (time). */
static uint32_t
hash_id(const char *id)
{
	uint32_t	 h = 2166136261u;

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h;
}

/* The entry of id, or 0. */
static uint32_t
find(const struct queue *q, const char *id)
{
	uint32_t	 i;

	if (q->nbucket == 0)
		return 0;
	for (i = q->bucket[hash_id(id) & (q->nbucket - 1)]; i != 0;
	    i = ent(q, i)->hnext)
		if (strcmp(ent(q, i)->id, id) == 0)
			return i;
	return 0;
}

/*
 * Double the index (at least 1024 buckets) and chain every entry again:
 * rare, and bounded by QUEUE_MAX.  Returns 0, or -1 out of memory (the
 * old index stays).
 */
static int
grow_index(struct queue *q)
{
	uint32_t	 n = q->nbucket ? q->nbucket * 2 : 1024;
	uint32_t	*b, i;
	struct queue_ent *e;

	if ((b = calloc(n, sizeof(*b))) == NULL)
		return -1;
	for (i = 1; i <= q->used; i++) {
		e = ent(q, i);
		if (e->where == QE_FREE)
			continue;
		e->hnext = b[hash_id(e->id) & (n - 1)];
		b[hash_id(e->id) & (n - 1)] = i;
	}
	free(q->bucket);
	q->bucket = b;
	q->nbucket = n;
	return 0;
}

/*
 * A new entry for id (not known yet), placed nowhere.  Returns its
 * index, or 0 when the schedule is full or memory is short: the sweep
 * finds the message later.
 */
static uint32_t
add(struct queue *q, const char *id)
{
	struct queue_ent	**c, *e;
	uint32_t		 i, h;

	if (q->count >= QUEUE_MAX)
		return 0;
	if (q->count >= q->nbucket && grow_index(q) != 0 && q->nbucket == 0)
		return 0;
	if ((i = q->free) != 0)
		q->free = ent(q, i)->next;
	else {
		if (q->used == q->nchunks * QUEUE_CHUNK) {
			c = realloc(q->chunks, (q->nchunks + 1) * sizeof(*c));
			if (c == NULL)
				return 0;
			q->chunks = c;
			if ((c[q->nchunks] = calloc(QUEUE_CHUNK,
			    sizeof(**c))) == NULL)
				return 0;
			q->nchunks++;
		}
		i = ++q->used;
	}
	e = ent(q, i);
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->where = QE_RUN;		/* placed by the caller */
	h = hash_id(id) & (q->nbucket - 1);
	e->hnext = q->bucket[h];
	q->bucket[h] = i;
	q->count++;
	return i;
}

/* Forget entry i, wherever it is. */
static void
drop(struct queue *q, uint32_t i)
{
	struct queue_ent	*e = ent(q, i);
	uint32_t		*p;

	unplace(q, i);
	for (p = &q->bucket[hash_id(e->id) & (q->nbucket - 1)]; *p != i;
	    p = &ent(q, *p)->hnext)
		;
	*p = e->hnext;
	e->where = QE_FREE;
	e->next = q->free;
	q->free = i;
	q->count--;
}

/* Take entry i out of the heap or its list (it is then RUN). */
static void
unplace(struct queue *q, uint32_t i)
{
	struct queue_ent	*e = ent(q, i);

	if (e->where == QE_HEAP)
		heap_remove(q, i);
	else if (e->where == QE_FRESH)
		list_unlink(q, &q->fresh, i);
	else if (e->where == QE_DUE)
		list_unlink(q, &q->due, i);
	e->where = QE_RUN;
}

/* ---- the FIFOs ------------------------------------------------------ */

static void
list_push(struct queue *q, struct queue_list *l, uint32_t i, int first)
{
	struct queue_ent	*e = ent(q, i);

	if (first) {
		e->prev = 0;
		e->next = l->head;
		if (l->head != 0)
			ent(q, l->head)->prev = i;
		else
			l->tail = i;
		l->head = i;
	} else {
		e->next = 0;
		e->prev = l->tail;
		if (l->tail != 0)
			ent(q, l->tail)->next = i;
		else
			l->head = i;
		l->tail = i;
	}
	l->n++;
}

static void
list_unlink(struct queue *q, struct queue_list *l, uint32_t i)
{
	struct queue_ent	*e = ent(q, i);

	if (e->prev != 0)
		ent(q, e->prev)->next = e->next;
	else
		l->head = e->next;
	if (e->next != 0)
		ent(q, e->next)->prev = e->prev;
	else
		l->tail = e->prev;
	l->n--;
	e->where = QE_RUN;
}

static uint32_t
list_pop(struct queue *q, struct queue_list *l)
{
	uint32_t	 i = l->head;

	if (i != 0)
		list_unlink(q, l, i);
	return i;
}

/* ---- the heap, by due time ------------------------------------------- */

static void
heap_swap(struct queue *q, uint32_t a, uint32_t b)
{
	uint32_t	 t = q->heap[a];

	q->heap[a] = q->heap[b];
	q->heap[b] = t;
	ent(q, q->heap[a])->prev = a;
	ent(q, q->heap[b])->prev = b;
}

static void
heap_up(struct queue *q, uint32_t s)
{
	while (s > 0 && ent(q, q->heap[(s - 1) / 2])->due >
	    ent(q, q->heap[s])->due) {
		heap_swap(q, s, (s - 1) / 2);
		s = (s - 1) / 2;
	}
}

static void
heap_down(struct queue *q, uint32_t s)
{
	uint32_t	 c;

	for (;;) {
		c = 2 * s + 1;
		if (c >= q->nheap)
			return;
		if (c + 1 < q->nheap && ent(q, q->heap[c + 1])->due <
		    ent(q, q->heap[c])->due)
			c++;
		if (ent(q, q->heap[s])->due <= ent(q, q->heap[c])->due)
			return;
		heap_swap(q, s, c);
		s = c;
	}
}

/* Returns 0, or -1 out of memory. */
static int
heap_push(struct queue *q, uint32_t i)
{
	uint32_t	*h, n;

	if (q->nheap == q->heapcap) {
		n = q->heapcap ? q->heapcap * 2 : QUEUE_CHUNK;
		if ((h = realloc(q->heap, n * sizeof(*h))) == NULL)
			return -1;
		q->heap = h;
		q->heapcap = n;
	}
	q->heap[q->nheap] = i;
	ent(q, i)->prev = q->nheap;
	ent(q, i)->where = QE_HEAP;
	q->nheap++;
	heap_up(q, q->nheap - 1);
	return 0;
}

static void
heap_remove(struct queue *q, uint32_t i)
{
	uint32_t	 s = ent(q, i)->prev;

	q->nheap--;
	if (s != q->nheap) {
		heap_swap(q, s, q->nheap);
		heap_up(q, s);
		heap_down(q, s);
	}
	ent(q, i)->where = QE_RUN;
}

/* ---- filing --------------------------------------------------------- */

/* File entry i under time `when' (a Maildir's cap first). */
static void
file_at(struct queue *q, uint32_t i, int64_t when)
{
	struct queue_ent	*e = ent(q, i);

	unplace(q, i);
	if (e->cap != 0 && e->cap < when)
		when = e->cap;
	e->due = when;
	if (heap_push(q, i) != 0) {
		note_full(q, e->id);
		drop(q, i);
	}
}

/* Make entry i due now: fresh mail, or the backlog's (first: ahead). */
static void
file_due(struct queue *q, uint32_t i, int fresh)
{
	unplace(q, i);
	ent(q, i)->where = fresh ? QE_FRESH : QE_DUE;
	list_push(q, fresh ? &q->fresh : &q->due, i, 0);
}

/* A file's date as the outbound side reads it: rounded up to a second. */
static int64_t
date_of(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec + (st->st_mtim.tv_nsec > 0);
}

static uint32_t
retry_of(const struct queue *q)
{
	uint32_t	 r = (*q->env.table)->t.server->retry;

	return r > 0 ? r : 1;
}

/* The schedule could not take id: said once, the sweep finds it later. */
static void
note_full(struct queue *q, const char *id)
{
	if (q->warned)
		return;
	q->warned = 1;
	oplog_write(q->env.oplog, LOG_WARNING, "queue: no room in the "
	    "schedule for %s (%u messages%s); what does not fit is found "
	    "again by the sweep of queue/", id, q->count, q->count >=
	    QUEUE_MAX ? ", the most it holds" : ", out of memory");
}

/*
 * The next turn if there is work now, else the earliest due time (no
 * further than QUEUE_WAKE_MAX_MS: a step of the wall clock is seen).
 */
static void
rearm(struct queue *q)
{
	struct timespec	 now;
	int64_t		 ms, at;

	if (q->stopped)
		return;
	if (q->fresh.n > 0 || (!q->full && q->due.n > 0) ||
	    q->scan.dir != NULL) {
		if (loop_soon(q->env.loop, &q->run) != 0)
			oplog_write(q->env.oplog, LOG_ERR, "queue: no timer "
			    "left");
		return;
	}
	if (q->nheap == 0) {
		loop_timer_cancel(q->env.loop, &q->run);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	at = ent(q, q->heap[0])->due;
	ms = at <= now.tv_sec ? 0 : (at - now.tv_sec) * 1000 -
	    now.tv_nsec / 1000000;
	if (ms > QUEUE_WAKE_MAX_MS)
		ms = QUEUE_WAKE_MAX_MS;
	if (loop_timer_arm(q->env.loop, &q->run, (uint64_t)(ms < 0 ? 0 :
	    ms)) != 0)
		oplog_write(q->env.oplog, LOG_ERR, "queue: no timer left");
}

/* ---- the API ---------------------------------------------------------- */

void
queue_init(struct queue *q, const struct queue_env *env)
{
	struct local_env	 le;

	memset(q, 0, sizeof(*q));
	q->env = *env;
	memset(&le, 0, sizeof(le));
	le.spool = env->spool;
	le.log = env->log;
	le.oplog = env->oplog;
	le.table = env->table;
	le.base = env->base;
	le.stats = env->stats;
	le.commit = env->commit;
	le.busy = on_local_busy;
	le.route = on_local_route;
	le.bounced = on_local_bounced;
	le.room = on_local_room;
	le.gone = on_local_gone;
	le.deferred = on_local_deferred;
	le.arg = q;
	local_init(&q->local, &le);
	loop_timer_init(&q->run, on_run, q);
	loop_timer_init(&q->sweep, on_sweep, q);
}

void
queue_start(struct queue *q)
{
	if (q->stopped)
		return;
	q->started = time(NULL);
	scan_open(q, &q->scan, 1);
	rearm(q);
}

/* The entry of id, new if need be; 0 when stopped or out of room. */
static uint32_t
entry_of(struct queue *q, const char *id)
{
	uint32_t	 i;

	if (q->stopped)
		return 0;
	if ((i = find(q, id)) == 0 && (i = add(q, id)) == 0)
		note_full(q, id);
	return i;
}

void
queue_committed(struct queue *q, const char *id)
{
	uint32_t	 i;

	if ((i = entry_of(q, id)) == 0)
		return;
	file_due(q, i, 1);
	rearm(q);
}

void
queue_retry_at(struct queue *q, const char *id, int64_t when)
{
	uint32_t	 i;

	if (when == 0) {
		if ((i = find(q, id)) != 0)
			drop(q, i);
	} else if ((i = entry_of(q, id)) != 0)
		file_at(q, i, when);
	rearm(q);
}

void
queue_wait(struct queue *q, const char *id)
{
	uint32_t	 i;

	if ((i = entry_of(q, id)) == 0)
		return;
	unplace(q, i);
	ent(q, i)->where = QE_DUE;
	list_push(q, &q->due, i, 1);
	q->full = 1;
	rearm(q);
}

void
queue_room(struct queue *q)
{
	q->full = 0;
	rearm(q);
}

void
queue_forget(struct queue *q, const char *id)
{
	uint32_t	 i;

	if ((i = find(q, id)) != 0)
		drop(q, i);
	rearm(q);
}

unsigned long
queue_flush_all(struct queue *q)
{
	unsigned long	 n = 0;

	while (q->nheap > 0) {
		file_due(q, q->heap[q->nheap - 1], 0);
		n++;
	}
	/* What the start-up scan has not read yet is due too. */
	if (q->scan.dir != NULL)
		q->scan.due = 1;
	rearm(q);
	return n;
}

void
queue_counts(const struct queue *q, struct queue_counts *c)
{
	c->known = q->count;
	c->waiting = q->nheap;
	c->due = q->fresh.n + q->due.n;
	c->scanning = q->scan.dir != NULL && q->scan.first;
}

void
queue_stop(struct queue *q)
{
	q->stopped = 1;
	local_stop(&q->local);
	loop_timer_cancel(q->env.loop, &q->run);
	loop_timer_cancel(q->env.loop, &q->sweep);
	scan_close(&q->scan);
}

void
queue_free(struct queue *q)
{
	uint32_t	 i;

	queue_stop(q);
	for (i = 0; i < q->nchunks; i++)
		free(q->chunks[i]);
	free(q->chunks);
	free(q->bucket);
	free(q->heap);
	q->chunks = NULL;
	q->bucket = q->heap = NULL;
	q->nchunks = q->used = q->free = q->count = 0;
	q->nbucket = q->nheap = q->heapcap = 0;
	memset(&q->fresh, 0, sizeof(q->fresh));
	memset(&q->due, 0, sizeof(q->due));
}

/* ---- reading queue/ --------------------------------------------------- */

/* Read queue/ (first: at start, then state/ after it) from the top. */
static void
scan_open(struct queue *q, struct queue_scan *s, int first)
{
	int	 fd;

	scan_close(s);
	memset(s, 0, sizeof(*s));
	s->first = first;
	if ((fd = dup(q->env.spool->queue)) == -1 ||
	    (s->dir = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		oplog_write(q->env.oplog, LOG_ERR, "queue: cannot read the "
		    "spool: %s", strerror(errno));
		return;
	}
	/* A dup shares its offset with the spool's descriptor. */
	rewinddir(s->dir);
}

static void
scan_close(struct queue_scan *s)
{
	if (s->dir != NULL)
		closedir(s->dir);
	s->dir = NULL;
}

/* A name of queue/: into the schedule if it is not known. */
static void
scan_name(struct queue *q, const char *name)
{
	struct spool	*sp = q->env.spool;
	struct stat	 st;
	struct timespec	 now;
	char		 err[LIM_ERRMSG];
	uint32_t	 i;

	if (!spool_id_valid(name)) {
		/* Nothing writes such a name here: set it aside. */
		if (spool_quarantine(sp, name, "not a queue id", err,
		    sizeof(err)) == 0)
			oplog_write(q->env.oplog, LOG_WARNING, "spool: %s "
			    "moved to corrupt/: not a queue id", name);
		else
			oplog_write(q->env.oplog, LOG_WARNING, "spool: %s "
			    "skipped: %s", name, err);
		return;
	}
	if (find(q, name) != 0)
		return;
	if (fstatat(sp->queue, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return;		/* gone meanwhile */
	if ((i = add(q, name)) == 0) {
		note_full(q, name);
		return;
	}
	q->scan.found++;
	clock_gettime(CLOCK_REALTIME, &now);
	if (q->scan.due || date_of(&st) <= now.tv_sec)
		file_due(q, i, 0);
	else
		file_at(q, i, date_of(&st));
}

/*
 * One turn's worth of the scan: QUEUE_SCAN_TURN names of queue/, then
 * (the start-up scan only) of state/.
 */
static void
scan_turn(struct queue *q)
{
	struct queue_scan	*s = &q->scan;
	struct dirent		*de;
	unsigned		 n;
	int			 fd;

	for (n = 0; n < QUEUE_SCAN_TURN; n++) {
		errno = 0;
		if ((de = readdir(s->dir)) == NULL)
			break;
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (s->state)
			spool_state_stale(q->env.spool, de->d_name,
			    q->started);
		else
			scan_name(q, de->d_name);
	}
	if (de != NULL)
		return;
	if (errno != 0)
		oplog_write(q->env.oplog, LOG_ERR, "queue: cannot read the "
		    "spool: %s", strerror(errno));
	closedir(s->dir);
	s->dir = NULL;
	if (s->first && !s->state) {
		oplog_write(q->env.oplog, LOG_INFO, "queue: %lu message%s, "
		    "%u due later", s->found, s->found == 1 ? "" : "s",
		    q->nheap);
		/* Then what the state folder holds for no message. */
		if (q->env.spool->state != -1 &&
		    (fd = openat(q->env.spool->state, ".", O_RDONLY |
		    O_DIRECTORY | O_CLOEXEC)) != -1) {
			if ((s->dir = fdopendir(fd)) == NULL)
				close(fd);
			else
				s->state = 1;
		}
	}
	if (s->dir == NULL && !q->stopped && loop_timer_arm(q->env.loop,
	    &q->sweep, (uint64_t)(retry_of(q) > QUEUE_SWEEP_MIN ?
	    retry_of(q) : QUEUE_SWEEP_MIN) * 1000) != 0)
		oplog_write(q->env.oplog, LOG_ERR, "queue: no timer left for "
		    "the sweep");
}

/*
 * The safety net: once per retry interval, the names of queue/ that the
 * schedule does not know (it never loses one it was told of, but a
 * file may come back by hand, or not fit).
 */
static void
on_sweep(struct loop *L, void *arg)
{
	struct queue	*q = arg;

	(void)L;
	if (q->stopped || q->scan.dir != NULL)
		return;
	scan_open(q, &q->scan, 0);
	rearm(q);
}

/* ---- the turn --------------------------------------------------------- */

/*
 * Handle entry i (taken from its list): deliver() it, then file it
 * under its next time unless a hook did while it ran.  A message that
 * nobody dated is looked at again a retry interval later, or at its
 * file's date if that is ahead (the outbound side's, from an earlier
 * round).  A Maildir that deferred caps the next time at one retry
 * interval, whatever the outbound side says.
 */
static void
handle(struct queue *q, uint32_t i)
{
	struct spool	*sp = q->env.spool;
	struct stat	 st;
	struct timespec	 now;
	char		 id[SPOOL_ID_SIZE];

	memcpy(id, ent(q, i)->id, sizeof(id));
	ent(q, i)->cap = 0;
	deliver(q, id);
	/* The hooks may have filed it, dropped it, or reused its entry. */
	if ((i = find(q, id)) == 0 || ent(q, i)->where != QE_RUN)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	if (fstatat(sp->queue, id, &st, AT_SYMLINK_NOFOLLOW) != 0)
		drop(q, i);	/* delivered, bounced or set aside */
	else if (date_of(&st) > now.tv_sec)
		file_at(q, i, date_of(&st));
	else
		file_at(q, i, (int64_t)now.tv_sec + retry_of(q));
}

/*
 * One message per turn: fresh mail first, then the backlog (unless the
 * outbound side is full); a share of the start-up scan; and the heap's
 * entries whose time has come join the backlog.
 */
static void
on_run(struct loop *L, void *arg)
{
	struct queue	*q = arg;
	struct timespec	 now;
	unsigned	 n;
	uint32_t	 i;

	(void)L;
	if (q->stopped)
		return;
	if (q->scan.dir != NULL)
		scan_turn(q);
	clock_gettime(CLOCK_REALTIME, &now);
	for (n = 0; n < QUEUE_MOVE_TURN && q->nheap > 0 &&
	    ent(q, q->heap[0])->due <= now.tv_sec; n++)
		file_due(q, q->heap[0], 0);
	if ((i = list_pop(q, &q->fresh)) != 0 ||
	    (!q->full && (i = list_pop(q, &q->due)) != 0))
		handle(q, i);
	rearm(q);
}

/*
 * Deliver what can be delivered here of message id; the rest goes to
 * the route hook (the outbound side, which also fails what expires).
 * All local jobs busy: on_local_room() looks again.
 */
static void
deliver(struct queue *q, const char *id)
{
	/* Every job and the waiting list full: wait like the relay's. */
	if (local_start(&q->local, id) == 0)
		queue_wait(q, id);
}

static int
on_local_busy(void *arg, const char *id)
{
	struct queue	*q = arg;

	return q->env.busy != NULL && q->env.busy(q->env.arg, id);
}

static void
on_local_route(void *arg, const char *id)
{
	struct queue	*q = arg;

	if (q->env.route != NULL)
		q->env.route(q->env.arg, id);
}

static void
on_local_bounced(void *arg, const char *id)
{
	queue_committed(arg, id);
}

/* Local delivery removed message id: nothing is left of it. */
static void
on_local_gone(void *arg, const char *id)
{
	queue_retry_at(arg, id, 0);
}

/*
 * A Maildir deferred message id: it is looked at again within one
 * `retry' interval, whatever the outbound side's backoff.
 */
static void
on_local_deferred(void *arg, const char *id)
{
	struct queue	*q = arg;
	struct timespec	 now;
	uint32_t	 i;

	if ((i = find(q, id)) == 0)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	ent(q, i)->cap = (int64_t)now.tv_sec + retry_of(q);
	if (ent(q, i)->where == QE_HEAP)
		file_at(q, i, ent(q, i)->due);
	rearm(q);
}

static void
on_local_room(void *arg)
{
	queue_room(arg);
}
