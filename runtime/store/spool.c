/*
 * spool: durable message storage (see spool.h for the API and
 * doc/spool-format.md for the file format).
 *
 * The writer streams the file through a small buffer in the caller's
 * struct: fixed header, envelope records, recipient records, body.
 * The fields only known at the end (where the body starts, its length,
 * the recipient count, the envelope checksum) live at fixed offsets in
 * the header and are filled in by one pwrite at commit, before the
 * fsync.  A file only ever reaches queue/ complete and fsynced, so the
 * reader treats anything malformed there as damage, not as a message
 * still being written.
 */
#define _GNU_SOURCE	/* renameat2(2): RENAME_NOREPLACE */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bastion_limits.h"
#include "fileio.h"
#include "spool.h"

/* Writer states; 0 so that a zeroed writer is inert. */
#define W_NONE		0
#define W_ENV		1	/* envelope and recipients */
#define W_BODY		2
#define W_DONE		3
#define W_COMMIT	4	/* the commit thread has it */

/* Offsets in the fixed header. */
#define H_MAGIC		0
#define H_VERSION	8
#define H_HDRSIZE	10
#define H_BODY		12
#define H_FLAGS		13
#define H_RESERVED1	14
#define H_RECEIVED	16
#define H_SIZE		24
#define H_BODYOFF	32	/* from here on, written at commit */
#define H_BODYLEN	40
#define H_NRCPT		48
#define H_CRC		52
#define H_COMMIT	56
#define H_RESERVED2	60
#define H_CRC_SPAN	32	/* header bytes the checksum covers */

#define SPOOL_COMMITTED	1

/* Record tags, in the order the envelope holds them. */
#define T_SESSION	'S'
#define T_CLIENT	'C'
#define T_HELO		'H'
#define T_AUTH		'A'
#define T_SENDER	'F'
#define T_PARAMS	'P'
#define T_RCPT		'R'

#define SPOOL_ID_TRIES	16
#define SPOOL_RD_SIZE	4096
#define SPOOL_QNAME_MAX	200	/* corrupt/ names: room for ".N.reason" */
#define SPOOL_READ_MAX	(1u << 30)

/* A sequential reader over [off, end) of a file, for the envelope. */
struct spool_rd {
	int		fd;
	uint64_t	off;		/* file offset of b[pos] */
	uint64_t	end;
	size_t		pos, len;
	unsigned char	b[SPOOL_RD_SIZE];
};

/* Outcomes of the envelope checks. */
#define RD_OK		0
#define RD_SYS		-1	/* errno says why */
#define RD_BAD		-2	/* the content is damaged */

static const struct {
	int	tag;
	size_t	max;
} spool_fields[] = {
	{ T_SESSION,	SPOOL_SESSION_MAX },
	{ T_CLIENT,	SPOOL_CLIENT_MAX },
	{ T_HELO,	SPOOL_HELO_MAX },
	{ T_AUTH,	SPOOL_AUTH_MAX },
	{ T_SENDER,	SPOOL_ADDR_MAX },
	{ T_PARAMS,	SPOOL_PARAMS_MAX },
};
#define SPOOL_NFIELDS	(sizeof(spool_fields) / sizeof(spool_fields[0]))

static void	spool_state_prune(struct spool *);
static uint32_t	spool_crc(uint32_t, const void *, size_t);
static void	put16(unsigned char *, uint16_t);
static void	put32(unsigned char *, uint32_t);
static void	put64(unsigned char *, uint64_t);
static uint16_t	get16(const unsigned char *);
static uint32_t	get32(const unsigned char *);
static uint64_t	get64(const unsigned char *);
static int	spool_clean(const char *, size_t);
static int	spool_subdir(int, const char *, int *, char *, size_t);
static void	spool_make_id(struct spool *, char *);
static void	w_fail(struct spool_writer *, int, const char *);
static void	w_flush(struct spool_writer *);
static void	w_put(struct spool_writer *, const void *, size_t);
static void	w_record(struct spool_writer *, int, int, const void *,
		    size_t, const void *, size_t);
static void	w_cleanup(struct spool_writer *);
static int	w_prepare(struct spool_writer *);
static void	w_job(struct spool_writer *, commit_done_fn *);
static int	w_finish(struct spool_writer *);
static void	w_errmsg(struct spool_writer *, char *, size_t);
static void	w_done(struct commit_job *, void *);
static int	rd_get(struct spool_rd *, void *, size_t);
static int	spool_check(struct spool_msg *, char *, size_t);
static int	spool_status_valid(int);
static void	spool_empty(int);
static int	quarantine_move(struct spool *, const char *, const char *,
		    int *, char *, size_t);

/*
 * CRC-32 (IEEE 802.3, reflected, as in zlib), a nibble at a time: the
 * envelope is small and this keeps the table at 64 bytes.  The running
 * value is kept uninverted; callers start at 0xffffffff and invert at
 * the end.
 */
static uint32_t
spool_crc(uint32_t crc, const void *data, size_t len)
{
	static const uint32_t tab[16] = {
		0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac,
		0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
		0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
		0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
	};
	const unsigned char *p = data;

	while (len-- > 0) {
		crc ^= *p++;
		crc = (crc >> 4) ^ tab[crc & 15];
		crc = (crc >> 4) ^ tab[crc & 15];
	}
	return crc;
}

static void
put16(unsigned char *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void
put32(unsigned char *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

static void
put64(unsigned char *p, uint64_t v)
{
	put32(p, v & 0xffffffff);
	put32(p + 4, v >> 32);
}

static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
get32(const unsigned char *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t
get64(const unsigned char *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* 1 if the n bytes at s hold no control byte, 0 if one does. */
static int
spool_clean(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

int
spool_id_valid(const char *s)
{
	size_t	i;

	for (i = 0; i < SPOOL_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[i] == '\0';
}

/* Create (if missing) and open the directory name under dirfd. */
static int
spool_subdir(int dirfd, const char *name, int *fd, char *err, size_t errlen)
{
	if (mkdirat(dirfd, name, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", name,
		    strerror(errno));
		return -1;
	}
	*fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd == -1) {
		snprintf(err, errlen, "cannot open %s: %s", name,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Unlink every entry of a folder (spent files: nothing to keep). */
static void
spool_empty(int dirfd)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd;

	if ((fd = dup(dirfd)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			(void)unlinkat(dirfd, de->d_name, 0);
	closedir(d);
}

int
spool_open(struct spool *sp, const char *path, char *err, size_t errlen)
{
	sp->root = sp->tmp = sp->queue = sp->corrupt = -1;
	sp->hold = sp->state = sp->free = -1;
	sp->last_us = 0;
	sp->nfree = sp->freeing = 0;
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create spool %s: %s", path,
		    strerror(errno));
		return -1;
	}
	sp->root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->root == -1) {
		snprintf(err, errlen, "cannot open spool %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (spool_subdir(sp->root, "tmp", &sp->tmp, err, errlen) == -1 ||
	    spool_subdir(sp->root, "queue", &sp->queue, err, errlen) == -1 ||
	    spool_subdir(sp->root, "corrupt", &sp->corrupt, err,
	    errlen) == -1 ||
	    spool_subdir(sp->root, "hold", &sp->hold, err, errlen) == -1 ||
	    spool_subdir(sp->root, "state", &sp->state, err, errlen) == -1 ||
	    spool_subdir(sp->root, "free", &sp->free, err, errlen) == -1) {
		spool_close(sp);
		return -1;
	}
	/* free/ holds nothing of value: what a stop left there goes. */
	spool_empty(sp->free);
	/* The subdirectories must survive a crash as much as their files. */
	if (fsync(sp->root) == -1) {
		snprintf(err, errlen, "cannot fsync spool %s: %s", path,
		    strerror(errno));
		spool_close(sp);
		return -1;
	}
	return 0;
}

void
spool_close(struct spool *sp)
{
	if (sp->state != -1)
		close(sp->state);
	if (sp->free != -1)
		close(sp->free);
	if (sp->hold != -1)
		close(sp->hold);
	if (sp->corrupt != -1)
		close(sp->corrupt);
	if (sp->queue != -1)
		close(sp->queue);
	if (sp->tmp != -1)
		close(sp->tmp);
	if (sp->root != -1)
		close(sp->root);
	sp->root = sp->tmp = sp->queue = sp->corrupt = -1;
	sp->hold = sp->state = sp->free = -1;
}

/*
 * Ids sort by time: 14 hex digits of microseconds since the epoch (good
 * until the year 4253), kept rising even if the clock steps back, then
 * the pid so that two processes sharing a spool never collide.
 */
static void
spool_make_id(struct spool *sp, char *id)
{
	struct timespec	ts;
	uint64_t	us;

	clock_gettime(CLOCK_REALTIME, &ts);
	us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	if (us <= sp->last_us)
		us = sp->last_us + 1;
	sp->last_us = us;
	snprintf(id, SPOOL_ID_SIZE, "%014llx%08x",
	    (unsigned long long)(us & 0xffffffffffffffULL),
	    (unsigned)getpid());
}

/* Record the first failure only: later ones are its consequences. */
static void
w_fail(struct spool_writer *w, int e, const char *what)
{
	if (w->error == 0) {
		w->error = e != 0 ? e : EIO;
		w->what = what;
	}
}

static void
w_flush(struct spool_writer *w)
{
	if (w->error == 0 && w->blen > 0 &&
	    fileio_write_all(w->fd, w->buf, w->blen) == -1)
		w_fail(w, errno, "write");
	w->blen = 0;
}

static void
w_put(struct spool_writer *w, const void *data, size_t len)
{
	if (w->error != 0 || len == 0)
		return;
	if (len > sizeof(w->buf) - w->blen) {
		w_flush(w);
		if (w->error != 0)
			return;
	}
	if (len >= sizeof(w->buf)) {
		/* Big chunks go straight through, not via the buffer. */
		if (fileio_write_all(w->fd, data, len) == -1) {
			w_fail(w, errno, "write");
			return;
		}
	} else {
		memcpy(w->buf + w->blen, data, len);
		w->blen += len;
	}
	w->off += len;
}

/*
 * One record: tag, status, two lengths, two values.  The checksum sees
 * the status byte as 0, since delivery flips it in place later.
 */
static void
w_record(struct spool_writer *w, int tag, int status, const void *a,
    size_t alen, const void *b, size_t blen)
{
	unsigned char	h[SPOOL_REC_SIZE];

	h[0] = (unsigned char)tag;
	h[1] = 0;
	put16(h + 2, (uint16_t)alen);
	put16(h + 4, (uint16_t)blen);
	w->crc = spool_crc(w->crc, h, sizeof(h));
	w->crc = spool_crc(w->crc, a, alen);
	w->crc = spool_crc(w->crc, b, blen);
	h[1] = (unsigned char)status;
	w_put(w, h, sizeof(h));
	w_put(w, a, alen);
	w_put(w, b, blen);
}

/* Close and remove the temporary file; the writer is finished. */
static void
w_cleanup(struct spool_writer *w)
{
	/* The commit thread has the file and its names: hands off. */
	if (w->state == W_COMMIT)
		return;
	if (w->state == W_ENV || w->state == W_BODY) {
		close(w->fd);
		unlinkat(w->sp->tmp, w->id, 0);
	}
	w->fd = -1;
	w->state = W_DONE;
	w->blen = 0;
}

int
spool_begin(struct spool *sp, struct spool_writer *w,
    const struct spool_env *env)
{
	const char	*v[SPOOL_NFIELDS];
	size_t		 vl[SPOOL_NFIELDS], i;
	unsigned char	 h[SPOOL_HDR_SIZE];
	int64_t		 received;
	int		 tries;

	w->sp = sp;
	w->fd = -1;
	w->state = W_DONE;
	w->error = 0;
	w->what = NULL;
	w->off = w->body_off = 0;
	w->limit = env->limit;
	w->nrcpt = 0;
	w->crc = 0xffffffff;
	w->blen = 0;
	w->id[0] = '\0';

	v[0] = env->session;
	v[1] = env->client;
	v[2] = env->helo;
	v[3] = env->auth;
	v[4] = env->sender;
	v[5] = env->params;
	for (i = 0; i < SPOOL_NFIELDS; i++) {
		if (v[i] == NULL)
			v[i] = "";
		vl[i] = strnlen(v[i], spool_fields[i].max + 1);
		if (vl[i] > spool_fields[i].max || !spool_clean(v[i], vl[i])) {
			w_fail(w, EINVAL, "envelope");
			return -1;
		}
	}
	if (env->body > SPOOL_BODY_BINARYMIME ||
	    (env->flags & ~SPOOL_F_SMTPUTF8) != 0) {
		w_fail(w, EINVAL, "envelope");
		return -1;
	}

	w->fd = -1;
	if (sp->nfree > 0) {
		/* A spent file, if the name is free in tmp/. */
		spool_make_id(sp, w->id);
		sp->nfree--;
		if (renameat2(sp->free, sp->spare[sp->nfree], sp->tmp, w->id,
		    RENAME_NOREPLACE) == 0) {
			w->fd = openat(sp->tmp, w->id, O_WRONLY | O_TRUNC |
			    O_NOFOLLOW | O_CLOEXEC);
			if (w->fd == -1)
				(void)unlinkat(sp->tmp, w->id, 0);
		}
	}
	for (tries = 0; w->fd == -1 && tries < SPOOL_ID_TRIES; tries++) {
		spool_make_id(sp, w->id);
		w->fd = openat(sp->tmp, w->id,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (w->fd != -1 || errno != EEXIST)
			break;
	}
	if (w->fd == -1) {
		w_fail(w, errno, "create");
		return -1;
	}
	w->state = W_ENV;

	received = env->received != 0 ? env->received : (int64_t)time(NULL);
	memset(h, 0, sizeof(h));
	memcpy(h + H_MAGIC, SPOOL_MAGIC, 8);
	put16(h + H_VERSION, SPOOL_VERSION);
	put16(h + H_HDRSIZE, SPOOL_HDR_SIZE);
	h[H_BODY] = env->body;
	h[H_FLAGS] = env->flags;
	put64(h + H_RECEIVED, (uint64_t)received);
	put64(h + H_SIZE, env->size);
	w->crc = spool_crc(w->crc, h, H_CRC_SPAN);
	w_put(w, h, sizeof(h));
	for (i = 0; i < SPOOL_NFIELDS; i++)
		w_record(w, spool_fields[i].tag, 0, v[i], vl[i], "", 0);
	if (w->error != 0) {
		w_cleanup(w);
		return -1;
	}
	return 0;
}

int
spool_rcpt(struct spool_writer *w, const char *addr, size_t alen,
    const char *params, size_t plen)
{
	if (w->state != W_ENV) {
		if (w->state == W_BODY)
			w_fail(w, EINVAL, "recipient after body");
		else
			w_fail(w, EINVAL, "recipient outside a transaction");
		return -1;
	}
	if (w->error != 0)
		return -1;
	if (params == NULL)
		plen = 0;
	if (alen == 0 || alen > SPOOL_ADDR_MAX || plen > SPOOL_PARAMS_MAX ||
	    !spool_clean(addr, alen) || (plen > 0 &&
	    !spool_clean(params, plen)) || w->nrcpt >= SPOOL_RCPT_MAX)
		return -1;
	w_record(w, T_RCPT, SPOOL_PENDING, addr, alen, params, plen);
	if (w->error != 0)
		return -1;
	w->nrcpt++;
	return 0;
}

int
spool_body(struct spool_writer *w, const void *data, size_t len)
{
	if (w->state == W_ENV) {
		w->body_off = w->off;
		w->state = W_BODY;
	}
	if (w->state != W_BODY) {
		w_fail(w, EINVAL, "body outside a transaction");
		return -1;
	}
	if (w->error != 0)
		return -1;
	if (w->limit != 0 && (len > w->limit ||
	    w->off - w->body_off > w->limit - len)) {
		w_fail(w, EMSGSIZE, "body");
		return -1;
	}
	w_put(w, data, len);
	return w->error != 0 ? -1 : 0;
}

/*
 * The part of a commit the loop does itself, all of it quick: flush the
 * buffer and fill in the header.  0, or -1 with the writer failed.
 */
static int
w_prepare(struct spool_writer *w)
{
	unsigned char	t[SPOOL_HDR_SIZE - H_BODYOFF];

	if (w->state != W_ENV && w->state != W_BODY) {
		if (w->error == 0)
			w_fail(w, EINVAL, "commit outside a transaction");
		return -1;
	}
	if (w->error == 0 && w->nrcpt == 0)
		w_fail(w, EINVAL, "commit without recipients");
	if (w->state == W_ENV)
		w->body_off = w->off;
	w_flush(w);
	if (w->error != 0)
		return -1;

	memset(t, 0, sizeof(t));
	put64(t + H_BODYOFF - H_BODYOFF, w->body_off);
	put64(t + H_BODYLEN - H_BODYOFF, w->off - w->body_off);
	put32(t + H_NRCPT - H_BODYOFF, w->nrcpt);
	put32(t + H_CRC - H_BODYOFF, w->crc ^ 0xffffffff);
	put32(t + H_COMMIT - H_BODYOFF, SPOOL_COMMITTED);
	if (pwrite(w->fd, t, sizeof(t), H_BODYOFF) != (ssize_t)sizeof(t)) {
		w_fail(w, errno, "write");
		return -1;
	}
	w->tries = 0;
	return 0;
}

/*
 * The slow part, as a commit job: fsync the file, close it (close() can
 * report a deferred write error on some filesystems), link it into
 * queue/, fsync queue/, and only then drop the tmp/ name.
 *
 * link(2) refuses to replace an existing queue file, which rename(2)
 * would silently do if an id ever repeated (a clock stepped back across
 * a restart, a recycled pid): so link, and on a clash w_finish gives
 * the message another name and links again; the id lives only in the
 * file name.  Filesystems without hard links get rename.
 *
 * The job owns the descriptor from here: the writer forgets it.
 */
static void
w_job(struct spool_writer *w, commit_done_fn *fn)
{
	struct commit_job	*j = &w->job;

	commit_job_init(j, fn, w);
	if (w->fd != -1) {
		(void)commit_op_fsync(j, w->fd);
		(void)commit_op_close(j, w->fd);
	}
	(void)commit_op_link(j, w->sp->tmp, w->id, w->sp->queue, w->id,
	    COMMIT_F_RENAME);
	(void)commit_op_dirsync(j, w->sp->queue);
	(void)commit_op_tidy(j, w->sp->tmp, w->id);
	w->fd = -1;
	w->state = W_COMMIT;
}

/*
 * The job is over: 0 when the message is in queue/ and durable, 1 when
 * it must go again under a new name (w->job is ready for it), -1 when
 * it failed (the writer is finished and nothing is left behind).
 */
static int
w_finish(struct spool_writer *w)
{
	const struct commit_job	*j = &w->job;
	char			 nid[SPOOL_ID_SIZE];
	int			 kind;

	if (j->error == 0) {
		w->state = W_DONE;
		return 0;
	}
	kind = j->ops[j->failed].kind;
	switch (kind) {
	case COMMIT_FSYNC:
		w_fail(w, j->error, "fsync");
		break;
	case COMMIT_CLOSE:
		w_fail(w, j->error, "close");
		break;
	case COMMIT_LINK:
		if (j->error == EEXIST && ++w->tries < SPOOL_ID_TRIES) {
			spool_make_id(w->sp, nid);
			if (renameat(w->sp->tmp, w->id, w->sp->tmp,
			    nid) == 0) {
				memcpy(w->id, nid, sizeof(nid));
				w_job(w, j->fn);
				return 1;
			}
			w_fail(w, errno, "rename");
			break;
		}
		w_fail(w, j->error, "rename");
		break;
	default:
		/*
		 * Not durable, so not accepted: take it back out, or it
		 * would be delivered after the client was told to retry.
		 */
		w_fail(w, j->error, "fsync queue");
		unlinkat(w->sp->queue, w->id, 0);
		break;
	}
	unlinkat(w->sp->tmp, w->id, 0);
	w->state = W_DONE;
	return -1;
}

/* The reason a commit failed, for the caller's log. */
static void
w_errmsg(struct spool_writer *w, char *err, size_t errlen)
{
	if (w->error == EMSGSIZE)
		snprintf(err, errlen, "message exceeds the size limit");
	else
		snprintf(err, errlen, "spool %s%s%s: %s",
		    w->what != NULL ? w->what : "error",
		    w->id[0] != '\0' ? " " : "", w->id, strerror(w->error));
}

int
spool_commit(struct spool_writer *w, char id[SPOOL_ID_SIZE], char *err,
    size_t errlen)
{
	int	rc;

	if (w_prepare(w) == -1) {
		w_cleanup(w);
		w_errmsg(w, err, errlen);
		return -1;
	}
	w_job(w, NULL);
	do {
		(void)commit_run_now(&w->job);
		rc = w_finish(w);
	} while (rc == 1);
	if (rc == -1) {
		w_errmsg(w, err, errlen);
		return -1;
	}
	memcpy(id, w->id, SPOOL_ID_SIZE);
	return 0;
}

/* The commit thread is done with w's job: in the loop thread. */
static void
w_done(struct commit_job *j, void *arg)
{
	struct spool_writer	*w = arg;
	char			 err[LIM_ERRMSG];
	int			 rc;

	(void)j;
	while ((rc = w_finish(w)) == 1) {
		if (commit_submit(w->eng, &w->job) == 0)
			return;
		/* The link was refused and the retry cannot go: undo. */
		w_fail(w, errno, "commit");
		unlinkat(w->sp->tmp, w->id, 0);
		w->state = W_DONE;
		rc = -1;
		break;
	}
	err[0] = '\0';
	if (rc == -1)
		w_errmsg(w, err, sizeof(err));
	w->done(w, rc, rc == 0 ? w->id : NULL, err, w->done_arg);
}

int
spool_commit_start(struct spool_writer *w, struct commit *eng,
    spool_done_fn *done, void *arg, char *err, size_t errlen)
{
	if (w_prepare(w) == -1)
		goto fail;
	w->eng = eng;
	w->done = done;
	w->done_arg = arg;
	/*
	 * Keep the descriptor until the job is taken: a refused job
	 * leaves the transaction to undo here.
	 */
	{
		int	fd = w->fd;

		w_job(w, w_done);
		if (commit_submit(eng, &w->job) == 0)
			return 0;
		w_fail(w, errno, "commit");
		w->fd = fd;
		w->state = W_BODY;
	}
fail:
	w_cleanup(w);
	w_errmsg(w, err, errlen);
	return -1;
}

int
spool_committing(const struct spool_writer *w)
{
	return w->state == W_COMMIT;
}

void
spool_abort(struct spool_writer *w)
{
	w_cleanup(w);
}

int
spool_error(const struct spool_writer *w)
{
	return w->error;
}

uint64_t
spool_body_size(const struct spool_writer *w)
{
	return w->state == W_BODY ? w->off - w->body_off : 0;
}

/* Copy n bytes from the reader; RD_BAD past the end. */
static int
rd_get(struct spool_rd *r, void *dst, size_t n)
{
	unsigned char	*d = dst;
	size_t		 k;
	ssize_t		 got;

	while (n > 0) {
		if (r->pos == r->len) {
			r->off += r->len;
			r->pos = r->len = 0;
			if (r->off >= r->end)
				return RD_BAD;
			k = sizeof(r->b);
			if (r->end - r->off < k)
				k = (size_t)(r->end - r->off);
			got = pread(r->fd, r->b, k, (off_t)r->off);
			if (got == -1) {
				if (errno == EINTR)
					continue;
				return RD_SYS;
			}
			if (got == 0)
				return RD_BAD;
			r->len = (size_t)got;
		}
		k = r->len - r->pos;
		if (k > n)
			k = n;
		memcpy(d, r->b + r->pos, k);
		r->pos += k;
		d += k;
		n -= k;
	}
	return RD_OK;
}

static int
spool_status_valid(int s)
{
	return s == SPOOL_PENDING || s == SPOOL_DELIVERED ||
	    s == SPOOL_FAILED;
}

/*
 * Validate the open file m->fd whole and fill m.  Returns RD_OK, RD_SYS
 * or RD_BAD, with the reason in err.
 */
static int
spool_check(struct spool_msg *m, char *err, size_t errlen)
{
	struct stat	 st;
	struct spool_rd	 rd;
	unsigned char	 h[SPOOL_HDR_SIZE], rh[SPOOL_REC_SIZE];
	unsigned char	 val[SPOOL_ADDR_MAX + SPOOL_PARAMS_MAX];
	char		*dst[SPOOL_NFIELDS];
	uint32_t	 crc, i;
	size_t		 a, b;
	uint64_t	 size;
	int		 rc;

	if (fstat(m->fd, &st) == -1) {
		snprintf(err, errlen, "stat: %s", strerror(errno));
		return RD_SYS;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		return RD_BAD;
	}
	size = (uint64_t)st.st_size;
	if (size < SPOOL_HDR_SIZE) {
		snprintf(err, errlen, "truncated header (%llu bytes)",
		    (unsigned long long)size);
		return RD_BAD;
	}
	if (fileio_pread_all(m->fd, h, sizeof(h), 0) == -1) {
		snprintf(err, errlen, "read: %s", strerror(errno));
		return RD_SYS;
	}
	if (memcmp(h + H_MAGIC, SPOOL_MAGIC, 8) != 0) {
		snprintf(err, errlen, "bad magic");
		return RD_BAD;
	}
	if (get16(h + H_VERSION) != SPOOL_VERSION) {
		snprintf(err, errlen, "unsupported format version %u",
		    get16(h + H_VERSION));
		return RD_BAD;
	}
	if (get16(h + H_HDRSIZE) != SPOOL_HDR_SIZE) {
		snprintf(err, errlen, "bad header size %u",
		    get16(h + H_HDRSIZE));
		return RD_BAD;
	}
	if (h[H_BODY] > SPOOL_BODY_BINARYMIME ||
	    (h[H_FLAGS] & ~SPOOL_F_SMTPUTF8) != 0 ||
	    get16(h + H_RESERVED1) != 0 || get32(h + H_RESERVED2) != 0) {
		snprintf(err, errlen, "bad header flags");
		return RD_BAD;
	}
	if (get32(h + H_COMMIT) != SPOOL_COMMITTED) {
		snprintf(err, errlen, "never committed");
		return RD_BAD;
	}
	m->received = (int64_t)get64(h + H_RECEIVED);
	m->size = get64(h + H_SIZE);
	m->body = h[H_BODY];
	m->flags = h[H_FLAGS];
	m->body_off = get64(h + H_BODYOFF);
	m->body_len = get64(h + H_BODYLEN);
	m->nrcpt = get32(h + H_NRCPT);
	if (m->body_off < SPOOL_HDR_SIZE || m->body_off > size) {
		snprintf(err, errlen, "body offset %llu outside the file "
		    "(%llu bytes)", (unsigned long long)m->body_off,
		    (unsigned long long)size);
		return RD_BAD;
	}
	if (m->body_len != size - m->body_off) {
		snprintf(err, errlen, "body length %llu, but %llu bytes "
		    "follow the envelope", (unsigned long long)m->body_len,
		    (unsigned long long)(size - m->body_off));
		return RD_BAD;
	}
	if (m->nrcpt == 0 || m->nrcpt > SPOOL_RCPT_MAX) {
		snprintf(err, errlen, "bad recipient count %lu",
		    (unsigned long)m->nrcpt);
		return RD_BAD;
	}

	crc = spool_crc(0xffffffff, h, H_CRC_SPAN);
	rd.fd = m->fd;
	rd.off = SPOOL_HDR_SIZE;
	rd.end = m->body_off;
	rd.pos = rd.len = 0;
	dst[0] = m->session;
	dst[1] = m->client;
	dst[2] = m->helo;
	dst[3] = m->auth;
	dst[4] = m->sender;
	dst[5] = m->params;
	for (i = 0; i < SPOOL_NFIELDS + m->nrcpt; i++) {
		if (i == SPOOL_NFIELDS)
			m->rcpt_off = rd.off + rd.pos;
		if ((rc = rd_get(&rd, rh, sizeof(rh))) != RD_OK)
			goto short_read;
		a = get16(rh + 2);
		b = get16(rh + 4);
		if (i < SPOOL_NFIELDS) {
			if (rh[0] != spool_fields[i].tag || rh[1] != 0 ||
			    a > spool_fields[i].max || b != 0) {
				snprintf(err, errlen, "bad envelope record %lu",
				    (unsigned long)i);
				return RD_BAD;
			}
		} else if (rh[0] != T_RCPT || !spool_status_valid(rh[1]) ||
		    a == 0 || a > SPOOL_ADDR_MAX || b > SPOOL_PARAMS_MAX) {
			snprintf(err, errlen, "bad recipient record %lu",
			    (unsigned long)(i - SPOOL_NFIELDS));
			return RD_BAD;
		}
		if ((rc = rd_get(&rd, val, a + b)) != RD_OK)
			goto short_read;
		if (!spool_clean((char *)val, a + b)) {
			snprintf(err, errlen, "control byte in record %lu",
			    (unsigned long)i);
			return RD_BAD;
		}
		rh[1] = 0;
		crc = spool_crc(crc, rh, sizeof(rh));
		crc = spool_crc(crc, val, a + b);
		if (i < SPOOL_NFIELDS) {
			memcpy(dst[i], val, a);
			dst[i][a] = '\0';
		}
	}
	if (rd.off + rd.pos != m->body_off) {
		snprintf(err, errlen, "envelope ends at %llu, body starts at "
		    "%llu", (unsigned long long)(rd.off + rd.pos),
		    (unsigned long long)m->body_off);
		return RD_BAD;
	}
	if ((crc ^ 0xffffffff) != get32(h + H_CRC)) {
		snprintf(err, errlen, "envelope checksum mismatch");
		return RD_BAD;
	}
	return RD_OK;

short_read:
	if (rc == RD_SYS) {
		snprintf(err, errlen, "read: %s", strerror(errno));
		return RD_SYS;
	}
	snprintf(err, errlen, "envelope runs past the body offset %llu",
	    (unsigned long long)m->body_off);
	return RD_BAD;
}

/* Open and check folder/ID (folder: queue or hold). */
static int
spool_msg_open_at(struct spool *sp, int held, struct spool_msg *m,
    const char *id, char *err, size_t errlen)
{
	const char	*folder = held ? "hold" : "queue";
	char		 why[LIM_ERRMSG];
	int		 rc;

	m->fd = -1;
	m->damaged = 0;
	m->noted = 0;
	m->held = held;
	m->id[0] = '\0';
	if (!spool_id_valid(id)) {
		m->damaged = 1;
		snprintf(err, errlen, "not a queue id");
		return -1;
	}
	memcpy(m->id, id, SPOOL_ID_SIZE);
	m->fd = openat(held ? sp->hold : sp->queue, id, O_RDWR | O_NOFOLLOW |
	    O_CLOEXEC);
	if (m->fd == -1) {
		if (errno == ENOENT)
			return 0;
		if (errno == ELOOP)
			m->damaged = 1;
		snprintf(err, errlen, "%s/%s: %s", folder, id,
		    strerror(errno));
		return -1;
	}
	rc = spool_check(m, why, sizeof(why));
	if (rc != RD_OK) {
		m->damaged = rc == RD_BAD;
		snprintf(err, errlen, "%s/%s: %s", folder, id, why);
		close(m->fd);
		m->fd = -1;
		return -1;
	}
	return 1;
}

int
spool_msg_open(struct spool *sp, struct spool_msg *m, const char *id,
    char *err, size_t errlen)
{
	return spool_msg_open_at(sp, 0, m, id, err, errlen);
}

int
spool_msg_open_held(struct spool *sp, struct spool_msg *m, const char *id,
    char *err, size_t errlen)
{
	return spool_msg_open_at(sp, 1, m, id, err, errlen);
}

/* Move id from one folder to the other; both are fsynced after. */
static int
spool_move(int from, const char *fname, int to, const char *tname,
    const char *id, char *err, size_t errlen)
{
	struct stat	st;

	if (!spool_id_valid(id)) {
		snprintf(err, errlen, "not a queue id");
		return -1;
	}
	if (fstatat(from, id, &st, AT_SYMLINK_NOFOLLOW) == -1 &&
	    errno == ENOENT)
		return 0;
	/* renameat would replace a message of the same id: never. */
	if (fstatat(to, id, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		snprintf(err, errlen, "%s/%s exists already", tname, id);
		return -1;
	}
	if (renameat(from, id, to, id) == -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot move %s/%s to %s/: %s", fname,
		    id, tname, strerror(errno));
		return -1;
	}
	if (fsync(to) == -1 || fsync(from) == -1) {
		snprintf(err, errlen, "cannot fsync %s/ and %s/: %s", fname,
		    tname, strerror(errno));
		return -1;
	}
	return 1;
}

int
spool_hold(struct spool *sp, const char *id, char *err, size_t errlen)
{
	return spool_move(sp->queue, "queue", sp->hold, "hold", id, err,
	    errlen);
}

int
spool_release(struct spool *sp, const char *id, char *err, size_t errlen)
{
	return spool_move(sp->hold, "hold", sp->queue, "queue", id, err,
	    errlen);
}

int
spool_due_now(struct spool *sp, const char *id)
{
	if (!spool_id_valid(id))
		return 0;
	if (utimensat(sp->queue, id, NULL, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	return 1;
}

void
spool_msg_close(struct spool_msg *m)
{
	if (m->fd != -1)
		close(m->fd);
	m->fd = -1;
}

int
spool_rcpt_next(struct spool_msg *m, struct spool_rcpt *r, char *err,
    size_t errlen)
{
	unsigned char	rh[SPOOL_REC_SIZE];
	size_t		a, b;

	if (r->next == 0) {
		r->next = m->rcpt_off;
		r->index = 0;
	} else
		r->index++;
	if (r->next >= m->body_off)
		return 0;
	/* Checked at open; checked again, the file may have changed. */
	if (m->body_off - r->next < SPOOL_REC_SIZE)
		goto bad;
	if (fileio_pread_all(m->fd, rh, sizeof(rh), r->next) == -1)
		goto sys;
	a = get16(rh + 2);
	b = get16(rh + 4);
	if (rh[0] != T_RCPT || !spool_status_valid(rh[1]) || a == 0 ||
	    a > SPOOL_ADDR_MAX || b > SPOOL_PARAMS_MAX ||
	    m->body_off - r->next - SPOOL_REC_SIZE < a + b)
		goto bad;
	if (fileio_pread_all(m->fd, r->addr, a, r->next + SPOOL_REC_SIZE) ==
	    -1 || fileio_pread_all(m->fd, r->params, b,
	    r->next + SPOOL_REC_SIZE + a) == -1)
		goto sys;
	if (!spool_clean(r->addr, a) || !spool_clean(r->params, b))
		goto bad;
	r->addr[a] = '\0';
	r->params[b] = '\0';
	r->status = rh[1];
	r->off = r->next;
	r->next += SPOOL_REC_SIZE + a + b;
	return 1;

sys:
	snprintf(err, errlen, "queue/%s: read: %s", m->id, strerror(errno));
	return -1;
bad:
	snprintf(err, errlen, "queue/%s: bad recipient record at %llu",
	    m->id, (unsigned long long)r->next);
	return -1;
}

int
spool_mark(struct spool_msg *m, struct spool_rcpt *r, int status,
    char *err, size_t errlen)
{
	if (spool_note(m, r, status, err, errlen) != 0)
		return -1;
	if (fsync(m->fd) == -1) {
		snprintf(err, errlen, "queue/%s: fsync: %s", m->id,
		    strerror(errno));
		return -1;
	}
	m->noted = 0;
	return 0;
}

int
spool_note(struct spool_msg *m, struct spool_rcpt *r, int status,
    char *err, size_t errlen)
{
	unsigned char	tag, st;

	if (!spool_status_valid(status) || r->off < m->rcpt_off ||
	    r->off >= m->body_off) {
		snprintf(err, errlen, "queue/%s: bad mark", m->id);
		return -1;
	}
	if (fileio_pread_all(m->fd, &tag, 1, r->off) == -1) {
		snprintf(err, errlen, "queue/%s: read: %s", m->id,
		    strerror(errno));
		return -1;
	}
	if (tag != T_RCPT) {
		snprintf(err, errlen, "queue/%s: no recipient record at %llu",
		    m->id, (unsigned long long)r->off);
		return -1;
	}
	st = (unsigned char)status;
	if (pwrite(m->fd, &st, 1, (off_t)(r->off + 1)) != 1) {
		snprintf(err, errlen, "queue/%s: write: %s", m->id,
		    strerror(errno));
		return -1;
	}
	m->noted = 1;
	r->status = status;
	return 0;
}

ssize_t
spool_body_read(struct spool_msg *m, uint64_t off, void *buf, size_t len)
{
	ssize_t	n;

	if (off >= m->body_len)
		return 0;
	if (len > m->body_len - off)
		len = (size_t)(m->body_len - off);
	if (len > SPOOL_READ_MAX)
		len = SPOOL_READ_MAX;
	do
		n = pread(m->fd, buf, len, (off_t)(m->body_off + off));
	while (n == -1 && errno == EINTR);
	if (n == 0 && len > 0) {
		/* The file shrank under us. */
		errno = EIO;
		return -1;
	}
	return n;
}

int
spool_msg_remove(struct spool *sp, struct spool_msg *m, char *err,
    size_t errlen)
{
	const char	*folder = m->held ? "hold" : "queue";
	int		 dir = m->held ? sp->hold : sp->queue;
	int		 rc = 0;

	if (unlinkat(dir, m->id, 0) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove %s/%s: %s", folder, m->id,
		    strerror(errno));
		rc = -1;
	} else if (fsync(dir) == -1) {
		snprintf(err, errlen, "cannot fsync %s: %s", folder,
		    strerror(errno));
		rc = -1;
	}
	/* Its state is only a note about it: gone with it, no fsync. */
	if (sp->state != -1)
		(void)unlinkat(sp->state, m->id, 0);
	spool_msg_close(m);
	return rc;
}

/*
 * The part of a quarantine that waits for nothing: find a free name in
 * corrupt/, move queue/NAME there and write NAME.reason beside it,
 * whose descriptor goes to *fd (-1 if it could not be made: the move
 * is what matters, the reason a note).  Returns 0, or -1 with the
 * reason in err (nothing moved).
 */
static int
quarantine_move(struct spool *sp, const char *name, const char *reason,
    int *fd, char *err, size_t errlen)
{
	struct stat	st;
	char		dst[SPOOL_QNAME_MAX + 16], why[SPOOL_QNAME_MAX + 24];
	size_t		nl, rl;
	int		i, n;

	*fd = -1;
	nl = strnlen(name, SPOOL_QNAME_MAX + 1);
	if (nl == 0 || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0) {
		snprintf(err, errlen, "bad queue entry name");
		return -1;
	}
	/* Keep room for ".N.reason" within NAME_MAX. */
	if (nl > SPOOL_QNAME_MAX)
		nl = SPOOL_QNAME_MAX;
	for (i = 0; i < 100; i++) {
		if (i == 0)
			n = snprintf(dst, sizeof(dst), "%.*s", (int)nl, name);
		else
			n = snprintf(dst, sizeof(dst), "%.*s.%d", (int)nl,
			    name, i);
		if (n < 0 || (size_t)n >= sizeof(dst))
			continue;
		snprintf(why, sizeof(why), "%s.reason", dst);
		if (fstatat(sp->corrupt, dst, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1 && errno == ENOENT && fstatat(sp->corrupt, why, &st,
		    AT_SYMLINK_NOFOLLOW) == -1 && errno == ENOENT)
			break;
	}
	if (i == 100) {
		snprintf(err, errlen, "no free name in corrupt/ for %s", dst);
		return -1;
	}
	if (renameat(sp->queue, name, sp->corrupt, dst) == -1) {
		snprintf(err, errlen, "cannot move queue/%s to corrupt/: %s",
		    name, strerror(errno));
		return -1;
	}
	*fd = openat(sp->corrupt, why, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (*fd != -1) {
		rl = reason != NULL ? strnlen(reason, LIM_ERRMSG) : 0;
		if (fileio_write_all(*fd, reason, rl) == -1 ||
		    fileio_write_all(*fd, "\n", 1) == -1) {
			/* The move is what matters; the reason is a note. */
		}
	}
	return 0;
}

int
spool_quarantine(struct spool *sp, const char *name, const char *reason,
    char *err, size_t errlen)
{
	int	fd;

	if (quarantine_move(sp, name, reason, &fd, err, errlen) != 0)
		return -1;
	if (fd != -1) {
		(void)fsync(fd);
		close(fd);
	}
	fsync(sp->corrupt);
	fsync(sp->queue);
	return 0;
}

int
spool_quarantine_start(struct spool *sp, struct commit_job *job,
    struct commit *eng, const char *name, const char *reason,
    commit_done_fn *fn, void *arg, char *err, size_t errlen)
{
	int	fd;

	if (quarantine_move(sp, name, reason, &fd, err, errlen) != 0)
		return -1;
	/* Errors of the reason file are ignored, as spool_quarantine's. */
	commit_job_init(job, fn, arg);
	if (fd != -1) {
		(void)commit_op_fsync(job, fd);
		(void)commit_op_close(job, fd);
	}
	(void)commit_op_dirsync(job, sp->corrupt);
	(void)commit_op_dirsync(job, sp->queue);
	if (eng != NULL && commit_started(eng) && commit_submit(eng,
	    job) == 0)
		return 0;
	(void)commit_run_now(job);
	return 1;
}

int
spool_clean_tmp(struct spool *sp, spool_resume_fn *fn, void *ctx, char *err,
    size_t errlen)
{
	struct dirent		*de;
	DIR			*d;
	char			 why[LIM_ERRMSG];
	int			 fd;

	fd = openat(sp->tmp, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		snprintf(err, errlen, "cannot read tmp: %s", strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(sp->tmp, de->d_name, 0) == 0) {
			if (fn != NULL)
				fn(ctx, SPOOL_RESUME_TMP, de->d_name, NULL);
		} else if (fn != NULL) {
			snprintf(why, sizeof(why), "cannot remove: %s",
			    strerror(errno));
			fn(ctx, SPOOL_RESUME_SKIPPED, de->d_name, why);
		}
	}
	closedir(d);
	return 0;
}

long
spool_resume(struct spool *sp, spool_resume_fn *fn, void *ctx, char *err,
    size_t errlen)
{
	struct spool_msg	 m;
	struct dirent		*de;
	DIR			*d;
	char			 why[LIM_ERRMSG], qerr[LIM_ERRMSG];
	long			 count = 0;
	int			 fd, rc;

	if (spool_clean_tmp(sp, fn, ctx, err, errlen) != 0)
		return -1;

	fd = openat(sp->queue, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		snprintf(err, errlen, "cannot read queue: %s",
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (!spool_id_valid(de->d_name)) {
			snprintf(why, sizeof(why), "not a queue id");
			m.damaged = 1;
			rc = -1;
		} else
			rc = spool_msg_open(sp, &m, de->d_name, why,
			    sizeof(why));
		if (rc == 1) {
			spool_msg_close(&m);
			count++;
			if (fn != NULL)
				fn(ctx, SPOOL_RESUME_QUEUED, de->d_name, NULL);
		} else if (rc == -1 && m.damaged) {
			if (spool_quarantine(sp, de->d_name, why, qerr,
			    sizeof(qerr)) == 0) {
				if (fn != NULL)
					fn(ctx, SPOOL_RESUME_CORRUPT,
					    de->d_name, why);
			} else if (fn != NULL)
				fn(ctx, SPOOL_RESUME_SKIPPED, de->d_name,
				    qerr);
		} else if (rc == -1 && fn != NULL)
			fn(ctx, SPOOL_RESUME_SKIPPED, de->d_name, why);
	}
	closedir(d);
	spool_state_prune(sp);
	return count;
}

/*
 * state/: a half-written state, or the state of a message that is
 * gone (removed before its state was), is of no use to anyone.
 * hold/ is not scanned: a held message waits for `release'.
 */
static void
spool_state_prune(struct spool *sp)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd;

	if (sp->state == -1 || (fd = openat(sp->state, ".", O_RDONLY |
	    O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			(void)spool_state_stale(sp, de->d_name, 0);
	closedir(d);
}

int
spool_state_stale(struct spool *sp, const char *name, time_t before)
{
	struct stat	 st;

	if (sp->state == -1 || name[0] == '.')
		return 0;
	if (spool_id_valid(name)) {
		if (fstatat(sp->queue, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
		    fstatat(sp->hold, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return 0;
	} else if (before != 0 && (fstatat(sp->state, name, &st,
	    AT_SYMLINK_NOFOLLOW) != 0 || st.st_mtime >= before))
		return 0;
	return unlinkat(sp->state, name, 0) == 0;
}
