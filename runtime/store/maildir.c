/*
 * maildir: local delivery into a Maildir (see maildir.h).
 *
 * The safety of %u rests on maildir_clean alone: whatever the address,
 * its cleaned local part is one path component that is neither empty,
 * nor "." or "..", nor hidden, and holds no '/'.  The pattern itself
 * comes from the administrator and is trusted.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "maildir.h"

#define MD_NONE		0
#define MD_COPYING	1
#define MD_COPIED	2
#define MD_FINISHING	3	/* a finish job owns the file */

#define MD_HOST_MAX	64	/* hostname bytes in a file name */
#define MD_NAME_TRIES	16

static int	maildir_class(int);
static int	maildir_mkdirs(const char *, char *, size_t);
static void	maildir_host(char [MD_HOST_MAX + 1]);
static void	maildir_fail(struct maildir_delivery *, char *, size_t,
		    const char *, int);

/*
 * The Maildir spec's uniqueness rule wants a per-process delivery
 * counter ("Q" below); it is process-wide state by nature, hence a
 * file-scope variable in a single-threaded daemon.
 */
static unsigned int	maildir_seq;

/* 0 for errors that retrying will not cure (bounce), -1 otherwise. */
static int
maildir_class(int e)
{
	switch (e) {
	case ENOTDIR:
	case ENAMETOOLONG:
	case ELOOP:
	case EINVAL:
	case EFBIG:
		return 0;
	default:
		return -1;
	}
}

size_t
maildir_clean(const char *addr, size_t len, char out[MAILDIR_LOCAL_MAX + 1])
{
	const char	*s = addr;
	size_t		 i, n, o;
	int		 quoted;
	unsigned char	 c;

	n = len;
	for (i = len; i > 0; i--)
		if (addr[i - 1] == '@') {
			n = i - 1;
			break;
		}
	quoted = n >= 2 && s[0] == '"' && s[n - 1] == '"';
	if (quoted) {
		s++;
		n -= 2;
	}
	o = 0;
	for (i = 0; i < n && o < MAILDIR_LOCAL_MAX; i++) {
		c = (unsigned char)s[i];
		if (quoted && c == '\\' && i + 1 < n)
			c = (unsigned char)s[++i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '+' || c == '_' || c == '-' || c == '.'))
			c = '_';
		if (c == '.' && (o == 0 || out[o - 1] == '.'))
			c = '_';
		out[o++] = (char)c;
	}
	if (o == 0) {
		memcpy(out, MAILDIR_EMPTY, sizeof(MAILDIR_EMPTY));
		return sizeof(MAILDIR_EMPTY) - 1;
	}
	out[o] = '\0';
	return o;
}

int
maildir_path(const char *pattern, const char *base, const char *rcpt,
    char *out, size_t outsz, char *err, size_t errlen)
{
	char		 local[MAILDIR_LOCAL_MAX + 1];
	const char	*p, *add;
	size_t		 o = 0, n, ll;
	char		 one[2];

	if (outsz == 0)
		return 0;
	out[0] = '\0';
	if (pattern == NULL || pattern[0] == '\0') {
		snprintf(err, errlen, "empty maildir pattern");
		return 0;
	}
	ll = maildir_clean(rcpt, strnlen(rcpt, SPOOL_ADDR_MAX + 1), local);
	if (pattern[0] != '/' && base != NULL && base[0] != '\0') {
		n = strlen(base);
		if (n + 1 >= outsz)
			goto toolong;
		memcpy(out, base, n);
		o = n;
		if (out[o - 1] != '/')
			out[o++] = '/';
	}
	one[1] = '\0';
	for (p = pattern; *p != '\0'; p++) {
		if (*p == '%') {
			if (p[1] == 'u') {
				add = local;
				n = ll;
			} else if (p[1] == '%') {
				add = "%";
				n = 1;
			} else {
				snprintf(err, errlen, "maildir pattern "
				    "\"%.64s\": only %%u and %%%% may follow "
				    "%%", pattern);
				out[0] = '\0';
				return 0;
			}
			p++;
		} else {
			one[0] = *p;
			add = one;
			n = 1;
		}
		if (n >= outsz - o)
			goto toolong;
		memcpy(out + o, add, n);
		o += n;
	}
	out[o] = '\0';
	return 1;

toolong:
	snprintf(err, errlen, "maildir path for <%.64s> is too long", rcpt);
	out[0] = '\0';
	return 0;
}

/* mkdir -p, mode 0700.  Returns 1, 0 (for good) or -1 (for now). */
static int
maildir_mkdirs(const char *path, char *err, size_t errlen)
{
	char	buf[MAILDIR_PATH_MAX], *p;
	size_t	n;

	n = strnlen(path, sizeof(buf));
	if (n == sizeof(buf)) {
		snprintf(err, errlen, "maildir path too long");
		return 0;
	}
	memcpy(buf, path, n + 1);
	for (p = buf + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (p[-1] != '/') {
			char	c = *p;

			*p = '\0';
			if (mkdir(buf, 0700) == -1 && errno != EEXIST) {
				int	e = errno;

				snprintf(err, errlen,
				    "cannot create %.900s: %s", buf,
				    strerror(e));
				return maildir_class(e);
			}
			*p = c;
		}
		if (*p == '\0')
			break;
	}
	return 1;
}

/*
 * This host's name as the Maildir spec wants it in a file name: '/'
 * and ':' written as \057 and \072, anything unusual as '_'; at most
 * MD_HOST_MAX bytes, so that the name always fits.
 */
static void
maildir_host(char out[MD_HOST_MAX + 1])
{
	char		h[256];
	size_t		i, o = 0;
	unsigned char	c;

	if (gethostname(h, sizeof(h)) == -1 || h[0] == '\0')
		memcpy(h, "localhost", sizeof("localhost"));
	h[sizeof(h) - 1] = '\0';
	for (i = 0; h[i] != '\0' && o < MD_HOST_MAX; i++) {
		c = (unsigned char)h[i];
		if (c == '/' || c == ':') {
			if (MD_HOST_MAX - o < 4)
				break;
			memcpy(out + o, c == '/' ? "\\057" : "\\072", 4);
			o += 4;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_'))
			c = '_';
		out[o++] = (char)c;
	}
	out[o] = '\0';
}

/* Report what failed, then abort the delivery. */
static void
maildir_fail(struct maildir_delivery *d, char *err, size_t errlen,
    const char *what, int e)
{
	snprintf(err, errlen, "%s %.900s/tmp/%s: %s", what, d->path, d->name,
	    strerror(e));
	maildir_abort(d);
}

int
maildir_begin(struct maildir_delivery *d, const char *pattern,
    const char *base, const char *rcpt, const char *sender, char *err,
    size_t errlen)
{
	static const char *const sub[] = { "tmp", "new", "cur" };
	struct timespec	 ts;
	char		 host[MD_HOST_MAX + 1], rel[MAILDIR_NAME_MAX + 8];
	char		 line[SPOOL_ADDR_MAX + 32];
	size_t		 i, sl;
	int		 rc, created = 0, tries, e, n;

	d->state = MD_NONE;
	d->dir = d->fd = d->newdir = -1;
	d->cr = 0;
	d->off = 0;
	d->name[0] = '\0';
	if (sender == NULL)
		sender = "";
	sl = strnlen(sender, SPOOL_ADDR_MAX + 1);
	if (sl > SPOOL_ADDR_MAX) {
		snprintf(err, errlen, "sender too long");
		return 0;
	}
	for (i = 0; i < sl; i++)
		if ((unsigned char)sender[i] < 0x20 || sender[i] == 0x7f) {
			snprintf(err, errlen, "control byte in sender");
			return 0;
		}
	rc = maildir_path(pattern, base, rcpt, d->path, sizeof(d->path), err,
	    errlen);
	if (rc != 1)
		return rc;
	rc = maildir_mkdirs(d->path, err, errlen);
	if (rc != 1)
		return rc;
	d->dir = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dir == -1) {
		e = errno;
		snprintf(err, errlen, "cannot open %.900s: %s", d->path,
		    strerror(e));
		return maildir_class(e);
	}
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		if (mkdirat(d->dir, sub[i], 0700) == 0)
			created = 1;
		else if (errno != EEXIST) {
			e = errno;
			snprintf(err, errlen, "cannot create %.900s/%s: %s",
			    d->path, sub[i], strerror(e));
			close(d->dir);
			d->dir = -1;
			return maildir_class(e);
		}
	}
	if (created && fsync(d->dir) == -1) {
		e = errno;
		snprintf(err, errlen, "cannot fsync %.900s: %s", d->path,
		    strerror(e));
		close(d->dir);
		d->dir = -1;
		return -1;
	}

	maildir_host(host);
	for (tries = 0; tries < MD_NAME_TRIES; tries++) {
		clock_gettime(CLOCK_REALTIME, &ts);
		n = snprintf(d->name, sizeof(d->name), "%lld.M%06ldP%ldQ%u.%s",
		    (long long)ts.tv_sec, (long)(ts.tv_nsec / 1000),
		    (long)getpid(), ++maildir_seq, host);
		if (n < 0 || (size_t)n >= sizeof(d->name)) {
			snprintf(err, errlen, "maildir file name too long");
			close(d->dir);
			d->dir = -1;
			return -1;
		}
		snprintf(rel, sizeof(rel), "tmp/%s", d->name);
		d->fd = openat(d->dir, rel, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (d->fd != -1 || errno != EEXIST)
			break;
	}
	if (d->fd == -1) {
		e = errno;
		snprintf(err, errlen, "cannot create %.900s/tmp/%s: %s",
		    d->path, d->name, strerror(e));
		close(d->dir);
		d->dir = -1;
		return maildir_class(e);
	}
	d->state = MD_COPYING;
	n = snprintf(line, sizeof(line), "Return-Path: <%s>\n", sender);
	if (fileio_write_all(d->fd, line, (size_t)n) == -1) {
		e = errno;
		maildir_fail(d, err, errlen, "cannot write", e);
		return maildir_class(e);
	}
	return 1;
}

int
maildir_copy(struct maildir_delivery *d, struct spool_msg *m, uint64_t max,
    char *err, size_t errlen)
{
	unsigned char	 in[MAILDIR_COPY_SIZE], out[MAILDIR_COPY_SIZE + 1];
	uint64_t	 budget = max != 0 ? max : UINT64_MAX;
	size_t		 want, i, o;
	ssize_t		 n;

	if (d->state == MD_COPIED)
		return 1;
	if (d->state != MD_COPYING) {
		snprintf(err, errlen, "no maildir delivery in progress");
		return -1;
	}
	while (d->off < m->body_len && budget > 0) {
		want = sizeof(in);
		if (want > budget)
			want = (size_t)budget;
		if (want > m->body_len - d->off)
			want = (size_t)(m->body_len - d->off);
		n = spool_body_read(m, d->off, in, want);
		if (n <= 0) {
			maildir_fail(d, err, errlen, "cannot read queue file "
			    "for", n == 0 ? EIO : errno);
			return -1;
		}
		/* CRLF to LF; a CR at the end of a slice waits for the next. */
		o = 0;
		for (i = 0; i < (size_t)n; i++) {
			if (d->cr) {
				d->cr = 0;
				if (in[i] != '\n')
					out[o++] = '\r';
			}
			if (in[i] == '\r')
				d->cr = 1;
			else
				out[o++] = in[i];
		}
		if (fileio_write_all(d->fd, out, o) == -1) {
			maildir_fail(d, err, errlen, "cannot write", errno);
			return -1;
		}
		d->off += (uint64_t)n;
		budget -= (uint64_t)n;
	}
	if (d->off < m->body_len)
		return 0;
	if (d->cr) {
		d->cr = 0;
		if (fileio_write_all(d->fd, "\r", 1) == -1) {
			maildir_fail(d, err, errlen, "cannot write", errno);
			return -1;
		}
	}
	d->state = MD_COPIED;
	return 1;
}

int
maildir_finish(struct maildir_delivery *d, char *err, size_t errlen)
{
	char	tmp[MAILDIR_NAME_MAX + 8], new[MAILDIR_NAME_MAX + 8];
	int	nd, e;

	if (d->state != MD_COPIED) {
		snprintf(err, errlen, "maildir delivery not copied");
		maildir_abort(d);
		return -1;
	}
	if (fsync(d->fd) == -1) {
		maildir_fail(d, err, errlen, "cannot fsync", errno);
		return -1;
	}
	e = close(d->fd) == -1 ? errno : 0;
	d->fd = -1;
	if (e != 0) {
		maildir_fail(d, err, errlen, "cannot close", e);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "tmp/%s", d->name);
	snprintf(new, sizeof(new), "new/%s", d->name);
	/* link, as the spec says: it never replaces an existing file. */
	if (linkat(d->dir, tmp, d->dir, new, 0) == 0)
		unlinkat(d->dir, tmp, 0);
	else if ((errno == EPERM || errno == EOPNOTSUPP || errno == EMLINK ||
	    errno == ENOSYS) && renameat(d->dir, tmp, d->dir, new) == 0) {
		/* a filesystem without hard links */
	} else {
		maildir_fail(d, err, errlen, "cannot link into new/", errno);
		return -1;
	}
	nd = openat(d->dir, "new", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (nd == -1 || fsync(nd) == -1) {
		/*
		 * Not durable: take it back out and defer, rather than risk
		 * a message the queue believes delivered vanishing.
		 */
		e = errno;
		if (nd != -1)
			close(nd);
		unlinkat(d->dir, new, 0);
		snprintf(err, errlen, "cannot fsync %.900s/new: %s", d->path,
		    strerror(e));
		close(d->dir);
		d->dir = -1;
		d->state = MD_NONE;
		return -1;
	}
	close(nd);
	close(d->dir);
	d->dir = -1;
	d->state = MD_NONE;
	return 1;
}

int
maildir_finish_job(struct maildir_delivery *d, struct commit_job *job,
    commit_done_fn *fn, void *arg, char *err, size_t errlen)
{
	if (d->state != MD_COPIED) {
		snprintf(err, errlen, "maildir delivery not copied");
		maildir_abort(d);
		return -1;
	}
	snprintf(d->tmpname, sizeof(d->tmpname), "tmp/%s", d->name);
	snprintf(d->newname, sizeof(d->newname), "new/%s", d->name);
	d->newdir = openat(d->dir, "new", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->newdir == -1) {
		snprintf(err, errlen, "cannot open %.900s/new: %s", d->path,
		    strerror(errno));
		maildir_abort(d);
		return -1;
	}
	/* As maildir_finish, in the commit engine's stage order. */
	commit_job_init(job, fn, arg);
	(void)commit_op_fsync(job, d->fd);
	(void)commit_op_close(job, d->fd);
	(void)commit_op_link(job, d->dir, d->tmpname, d->dir, d->newname,
	    COMMIT_F_RENAME);
	(void)commit_op_dirsync(job, d->newdir);
	(void)commit_op_tidy(job, d->dir, d->tmpname);
	d->fd = -1;		/* the job closes it */
	d->state = MD_FINISHING;
	return 0;
}

int
maildir_finish_done(struct maildir_delivery *d, const struct commit_job *job,
    char *err, size_t errlen)
{
	const char	*what;

	if (d->state != MD_FINISHING) {
		snprintf(err, errlen, "no maildir finish in progress");
		maildir_abort(d);
		return -1;
	}
	if (job->error == 0) {
		close(d->newdir);
		close(d->dir);
		d->newdir = d->dir = -1;
		d->state = MD_NONE;
		return 1;
	}
	switch (job->ops[job->failed].kind) {
	case COMMIT_FSYNC:
		what = "cannot fsync";
		break;
	case COMMIT_CLOSE:
		what = "cannot close";
		break;
	case COMMIT_LINK:
		what = "cannot link into new/";
		break;
	default:
		/*
		 * Not durable: take it back out and defer, rather than risk
		 * a message the queue believes delivered vanishing.
		 */
		(void)unlinkat(d->dir, d->newname, 0);
		snprintf(err, errlen, "cannot fsync %.900s/new: %s", d->path,
		    strerror(job->error));
		maildir_abort(d);
		return -1;
	}
	maildir_fail(d, err, errlen, what, job->error);
	return -1;
}

void
maildir_abort(struct maildir_delivery *d)
{
	char	tmp[MAILDIR_NAME_MAX + 8];

	if (d->state == MD_NONE)
		return;
	if (d->fd != -1) {
		close(d->fd);
		d->fd = -1;
	}
	if (d->newdir != -1) {
		close(d->newdir);
		d->newdir = -1;
	}
	if (d->dir != -1) {
		snprintf(tmp, sizeof(tmp), "tmp/%s", d->name);
		unlinkat(d->dir, tmp, 0);
		close(d->dir);
		d->dir = -1;
	}
	d->state = MD_NONE;
}

int
maildir_deliver(struct spool_msg *m, const char *rcpt, const char *pattern,
    const char *base, char *err, size_t errlen)
{
	struct maildir_delivery	d;
	int			rc;

	rc = maildir_begin(&d, pattern, base, rcpt, m->sender, err, errlen);
	if (rc != 1)
		return rc;
	if (maildir_copy(&d, m, 0, err, errlen) != 1)
		return -1;
	return maildir_finish(&d, err, errlen);
}
