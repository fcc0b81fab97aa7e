/*
 * spool_state: the delivery state beside each queued message (see
 * spool.h), read by bastionctl's queue listing: rounds so far, the
 * time of the last, and each recipient's last reply.  A small text
 * file, so that an administrator can read it too:
 *
 *	bastion-state 1
 *	attempts N
 *	last T
 *	r INDEX TEXT		(one per recipient with a reply, rising)
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "spool.h"

#define STATE_MAGIC	"bastion-state 1\n"
#define STATE_NEW	".new"

static void	state_open(struct spool_state_writer *);
static void	state_put(struct spool_state_writer *, const char *, size_t);
static int	state_line(struct spool_state *);

/*
 * The file is made at the first thing written to it, not at begin: a
 * round that delivers everything removes the message and never writes
 * its state, and on a busy gateway most rounds are such.  A file not
 * made is an inode neither allocated nor freed, which is most of what
 * the state would cost (ext4 without a journal scans for an inode not
 * freed too recently on every create).
 */
static void
state_open(struct spool_state_writer *w)
{
	char	 line[128];
	int	 n;

	if (!w->begun || w->fd != -1 || w->error != 0)
		return;
	snprintf(w->tmp, sizeof(w->tmp), "%s%s", w->id, STATE_NEW);
	w->fd = openat(w->sp->state, w->tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (w->fd == -1) {
		w->error = errno ? errno : EIO;
		return;
	}
	n = snprintf(line, sizeof(line), "%sattempts %u\nlast %" PRId64 "\n",
	    STATE_MAGIC, w->attempts, w->last);
	state_put(w, line, (size_t)n);
}

static void
state_put(struct spool_state_writer *w, const char *s, size_t n)
{
	if (w->fd == -1 || w->error != 0)
		return;
	if (fileio_write_all(w->fd, s, n) == -1)
		w->error = errno ? errno : EIO;
}

int
spool_state_begin(struct spool *sp, struct spool_state_writer *w,
    const char *id, unsigned attempts, int64_t last)
{
	w->sp = sp;
	w->fd = -1;
	w->error = 0;
	w->begun = 0;
	if (sp->state == -1 || !spool_id_valid(id))
		return -1;
	memcpy(w->id, id, SPOOL_ID_SIZE);
	w->attempts = attempts;
	w->last = last;
	w->begun = 1;
	return 0;
}

void
spool_state_rcpt(struct spool_state_writer *w, uint32_t index,
    const char *text)
{
	char	 line[SPOOL_STATE_TEXT_MAX + 32];
	size_t	 n, i;

	state_open(w);
	if (w->fd == -1)
		return;
	n = (size_t)snprintf(line, sizeof(line), "r %" PRIu32 " ", index);
	for (i = 0; text != NULL && text[i] != '\0' &&
	    i < SPOOL_STATE_TEXT_MAX; i++) {
		unsigned char c = (unsigned char)text[i];
		line[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	line[n++] = '\n';
	state_put(w, line, n);
}

int
spool_state_commit(struct spool_state_writer *w, char *err, size_t errlen)
{
	int	 rc = 0;

	if (!w->begun) {
		snprintf(err, errlen, "no state begun");
		return -1;
	}
	state_open(w);
	if (w->error == 0 && fsync(w->fd) == -1)
		w->error = errno;
	if (w->error == 0 && renameat(w->sp->state, w->tmp, w->sp->state,
	    w->id) == -1)
		w->error = errno;
	if (w->error != 0) {
		snprintf(err, errlen, "state/%s: %s", w->id,
		    strerror(w->error));
		(void)unlinkat(w->sp->state, w->tmp, 0);
		rc = -1;
	}
	if (w->fd != -1)
		close(w->fd);
	w->fd = -1;
	w->begun = 0;
	return rc;
}

void
spool_state_job(struct spool_state_writer *w, struct commit_job *job)
{
	if (!w->begun)
		return;
	state_open(w);
	if (w->error != 0) {
		spool_state_abort(w);
		return;
	}
	(void)commit_op_fsync(job, w->fd);
	(void)commit_op_close(job, w->fd);
	(void)commit_op_rename(job, w->sp->state, w->tmp, w->sp->state,
	    w->id);
	w->fd = -1;
	w->begun = 0;
}

void
spool_state_abort(struct spool_state_writer *w)
{
	if (w->fd != -1) {
		(void)unlinkat(w->sp->state, w->tmp, 0);
		close(w->fd);
	}
	w->fd = -1;
	w->begun = 0;
}

/*
 * The next line into st->text, cut at its size (the rest of a longer
 * line is skipped).  Returns 1, or 0 at the end.
 */
static int
state_line(struct spool_state *st)
{
	size_t	 n;
	int	 c;

	if (fgets(st->text, sizeof(st->text), st->fp) == NULL)
		return 0;
	n = strlen(st->text);
	if (n > 0 && st->text[n - 1] == '\n')
		st->text[--n] = '\0';
	else
		while ((c = fgetc(st->fp)) != EOF && c != '\n')
			;
	return 1;
}

int
spool_state_open(struct spool *sp, const char *id, struct spool_state *st)
{
	unsigned long long	 v;
	char			*end;
	FILE			*fp;
	int			 fd;

	memset(st, 0, sizeof(*st));
	if (sp->state == -1 || !spool_id_valid(id))
		return 0;
	if ((fd = openat(sp->state, id, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return 0;
	if ((fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return 0;
	}
	st->fp = fp;
	if (!state_line(st) || strcmp(st->text, "bastion-state 1") != 0) {
		spool_state_close(st);
		return 0;
	}
	if (state_line(st) && strncmp(st->text, "attempts ", 9) == 0) {
		v = strtoull(st->text + 9, &end, 10);
		st->attempts = *end == '\0' && v <= 1000000 ? (unsigned)v : 0;
	}
	if (state_line(st) && strncmp(st->text, "last ", 5) == 0) {
		v = strtoull(st->text + 5, &end, 10);
		st->last = *end == '\0' && v <= INT64_MAX ? (int64_t)v : 0;
	}
	st->text[0] = '\0';
	return 1;
}

int
spool_state_reply(struct spool_state *st, uint32_t index)
{
	unsigned long long	 v;
	char			*end, *p;

	if (st->fp == NULL)
		return 0;
	while (!st->have || st->index < index) {
		if (!state_line(st) || strncmp(st->text, "r ", 2) != 0) {
			spool_state_close(st);
			return 0;
		}
		v = strtoull(st->text + 2, &end, 10);
		if (end == st->text + 2 || *end != ' ' || v > UINT32_MAX)
			continue;
		st->index = (uint32_t)v;
		st->have = 1;
		p = end + 1;
		memmove(st->text, p, strlen(p) + 1);
	}
	return st->index == index;
}

void
spool_state_close(struct spool_state *st)
{
	if (st->fp != NULL)
		fclose(st->fp);
	st->fp = NULL;
	st->have = 0;
}
