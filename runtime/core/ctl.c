/*
 * ctl: the control socket (see ctl.h): accept, check the peer, read
 * one bounded request, and write its answer from a fixed buffer
 * without ever blocking the loop.
 */
#define _GNU_SOURCE	/* accept4(2), struct ucred */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "ctl.h"

static void	on_accept(struct loop *, int, int, void *);
static void	on_io(struct loop *, int, int, void *);
static void	on_timer(struct loop *, void *);
static void	conn_drop(struct ctl_conn *);
static void	conn_read(struct ctl_conn *);
static void	conn_run(struct ctl_conn *);
static int	conn_flush(struct ctl_conn *);
static int	conn_put(struct ctl_conn *, const char *, size_t,
		    const char *, va_list) __attribute__((format(printf, 4, 0)));

int
ctl_parse(const char *data, size_t len, struct ctl_req *req, char *err,
    size_t errlen)
{
	size_t	 i, n = 0;
	char	*p;

	memset(req, 0, sizeof(*req));
	if (len >= sizeof(req->buf)) {
		snprintf(err, errlen, "request too long (at most %d bytes)",
		    CTL_REQ_MAX - 1);
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)data[i];
		if (ch == '\r' && i == len - 1)
			break;		/* a CRLF client is welcome */
		if (ch < 0x20 || ch > 0x7e) {
			snprintf(err, errlen, "bad byte 0x%02x in the request "
			    "at %zu", ch, i);
			return -1;
		}
		req->buf[n++] = (char)ch;
	}
	req->buf[n] = '\0';
	for (p = req->buf; *p != '\0'; ) {
		while (*p == ' ')
			*p++ = '\0';
		if (*p == '\0')
			break;
		if (req->verb == NULL)
			req->verb = p;
		else if (req->nargs == CTL_ARGS_MAX) {
			snprintf(err, errlen, "too many arguments (at most "
			    "%d)", CTL_ARGS_MAX);
			return -1;
		} else
			req->arg[req->nargs++] = p;
		while (*p != ' ' && *p != '\0')
			p++;
	}
	if (req->verb == NULL) {
		snprintf(err, errlen, "empty request");
		return -1;
	}
	for (p = (char *)req->verb; *p != '\0'; p++)
		if (*p < 'a' || *p > 'z') {
			snprintf(err, errlen, "bad command name");
			return -1;
		}
	return 0;
}

int
ctl_open(struct ctl *c, const char *path, uid_t owner, gid_t group,
    uid_t allow, char *err, size_t errlen)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 fd, probe;

	c->fd = -1;
	c->bound = 0;
	c->allow = allow;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path) ||
	    strlen(path) >= sizeof(c->path)) {
		snprintf(err, errlen, "control socket %s: the path is too long "
		    "(at most %zu bytes)", path, sizeof(sun.sun_path) - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	snprintf(c->path, sizeof(c->path), "%s", path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "control socket %s: something "
			    "else is there", path);
			return -1;
		}
		/* A daemon still answering there keeps its socket. */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe != -1 && connect(probe, (struct sockaddr *)&sun,
		    sizeof(sun)) == 0) {
			close(probe);
			snprintf(err, errlen, "control socket %s: in use by a "
			    "running bastiond", path);
			return -1;
		}
		if (probe != -1)
			close(probe);
		(void)unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		return -1;
	}
	/*
	 * Nobody but the owner may connect even for a moment: the mode
	 * is set by the umask at bind, then made exact.
	 */
	{
		mode_t old = umask(0177);
		int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
		umask(old);
		if (rc == -1) {
			snprintf(err, errlen, "control socket %s: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
	}
	c->bound = 1;
	if (chmod(path, 0600) == -1 || (owner != (uid_t)-1 &&
	    lchown(path, owner, group) == -1) || listen(fd, 16) == -1) {
		snprintf(err, errlen, "control socket %s: %s", path,
		    strerror(errno));
		close(fd);
		(void)unlink(path);
		c->bound = 0;
		return -1;
	}
	c->fd = fd;
	return 0;
}

int
ctl_start(struct ctl *c, struct loop *L, const struct oplog *ol)
{
	size_t	 i;

	c->loop = L;
	c->oplog = ol;
	for (i = 0; i < CTL_CONNS_MAX; i++) {
		c->conns[i].fd = -1;
		c->conns[i].ctl = c;
		loop_timer_init(&c->conns[i].timer, on_timer, &c->conns[i]);
	}
	return loop_fd_add(L, c->fd, LOOP_READ, on_accept, c);
}

void
ctl_close(struct ctl *c)
{
	size_t	 i;

	if (c->loop != NULL)
		for (i = 0; i < CTL_CONNS_MAX; i++)
			if (c->conns[i].fd != -1)
				conn_drop(&c->conns[i]);
	if (c->fd != -1) {
		if (c->loop != NULL)
			loop_fd_del(c->loop, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	if (c->bound)
		(void)unlink(c->path);
	c->bound = 0;
}

static void
on_accept(struct loop *L, int lfd, int events, void *arg)
{
	struct ctl	*c = arg;
	struct ctl_conn	*cc = NULL;
	struct ucred	 cr;
	socklen_t	 sl = sizeof(cr);
	size_t		 i;
	int		 fd;
	static const char busy[] = "NO too many control clients\n";
	static const char denied[] = "NO permission denied\n";

	(void)events;
	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) == -1)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &sl) == -1 ||
	    (cr.uid != 0 && cr.uid != c->allow)) {
		struct ctl_peer p = { (uid_t)-1, (gid_t)-1, 0 };
		if (sl == sizeof(cr)) {
			p.uid = cr.uid;
			p.gid = cr.gid;
			p.pid = cr.pid;
		}
		if (write(fd, denied, sizeof(denied) - 1) < 0) {
			/* Best effort: it is closed either way. */
		}
		close(fd);
		if (c->refused != NULL)
			c->refused(c->arg, &p);
		return;
	}
	for (i = 0; i < CTL_CONNS_MAX; i++)
		if (c->conns[i].fd == -1) {
			cc = &c->conns[i];
			break;
		}
	if (cc == NULL) {
		if (write(fd, busy, sizeof(busy) - 1) < 0) {
			/* As above. */
		}
		close(fd);
		return;
	}
	cc->fd = fd;
	cc->ended = 0;
	cc->inlen = cc->outoff = cc->outlen = 0;
	cc->more = NULL;
	cc->free = NULL;
	cc->state = NULL;
	cc->peer.uid = cr.uid;
	cc->peer.gid = cr.gid;
	cc->peer.pid = cr.pid;
	if (loop_fd_add(L, fd, LOOP_READ, on_io, cc) != 0 ||
	    loop_timer_arm(L, &cc->timer, CTL_TIMEOUT_MS) != 0) {
		oplog_write(c->oplog, LOG_WARNING, "control: %s",
		    loop_error(L));
		conn_drop(cc);
	}
}

static void
conn_drop(struct ctl_conn *c)
{
	struct ctl	*ctl = c->ctl;

	if (c->more != NULL && c->free != NULL)
		c->free(c->state);
	c->more = NULL;
	c->free = NULL;
	c->state = NULL;
	loop_timer_cancel(ctl->loop, &c->timer);
	loop_fd_del(ctl->loop, c->fd);
	close(c->fd);
	c->fd = -1;
}

static void
on_timer(struct loop *L, void *arg)
{
	(void)L;
	conn_drop(arg);
}

static void
on_io(struct loop *L, int fd, int events, void *arg)
{
	struct ctl_conn	*c = arg;

	(void)L;
	(void)fd;
	if (c->ended || c->more != NULL || c->outlen > 0) {
		if (events & LOOP_WRITE)
			conn_run(c);
		return;
	}
	if (events & LOOP_READ)
		conn_read(c);
}

/* Read until the request's LF; then answer it. */
static void
conn_read(struct ctl_conn *c)
{
	struct ctl	*ctl = c->ctl;
	struct ctl_req	 req;
	char		 err[128], *lf;
	ssize_t		 n;

	n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_drop(c);	/* gone before asking */
		return;
	}
	c->inlen += (size_t)n;
	if ((lf = memchr(c->in, '\n', c->inlen)) == NULL) {
		if (c->inlen < sizeof(c->in))
			return;
		ctl_end(c, 0, "request too long (at most %d bytes)",
		    CTL_REQ_MAX - 1);
	} else if (ctl_parse(c->in, (size_t)(lf - c->in), &req, err,
	    sizeof(err)) != 0)
		ctl_end(c, 0, "bad request: %s", err);
	else
		ctl->request(ctl->arg, c, &req);
	if (c->fd != -1)
		conn_run(c);
}

/*
 * Write what is buffered, stream more while there is room, a bounded
 * number of pieces per turn; close once the end is out.
 */
static void
conn_run(struct ctl_conn *c)
{
	struct ctl	*ctl = c->ctl;
	int		 pieces = 0, rc;

	for (;;) {
		if ((rc = conn_flush(c)) == -1) {
			conn_drop(c);	/* hung up: nothing to undo */
			return;
		}
		while (c->more != NULL && ctl_room(c) > 0 &&
		    pieces < CTL_PIECES_MAX) {
			pieces++;
			if (c->more(c, c->state) == 0) {
				if (c->free != NULL)
					c->free(c->state);
				c->more = NULL;
				c->free = NULL;
				c->state = NULL;
				if (!c->ended)
					ctl_end(c, 0, "internal error: the "
					    "answer stopped");
			}
		}
		if (c->outlen == 0 && c->ended && c->more == NULL) {
			conn_drop(c);
			return;
		}
		if (rc == 0 || pieces >= CTL_PIECES_MAX ||
		    (c->more == NULL && c->outlen == 0))
			break;
	}
	/* Wait for the client to read (or for the next turn). */
	if (loop_fd_set(ctl->loop, c->fd, LOOP_WRITE) != 0 ||
	    loop_timer_arm(ctl->loop, &c->timer, CTL_TIMEOUT_MS) != 0)
		conn_drop(c);
}

/*
 * Write the buffer.  Returns 1 when it is empty, 0 when the socket is
 * full, -1 when the client is gone.
 */
static int
conn_flush(struct ctl_conn *c)
{
	ssize_t	 n;

	while (c->outlen > 0) {
		n = send(c->fd, c->out + c->outoff, c->outlen, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			return -1;
		}
		c->outoff += (size_t)n;
		c->outlen -= (size_t)n;
	}
	if (c->outlen == 0) {
		c->outoff = 0;
		return 1;
	}
	/* Keep the free space in one piece. */
	memmove(c->out, c->out + c->outoff, c->outlen);
	c->outoff = 0;
	return 0;
}

/* One line is always kept for the end line. */
size_t
ctl_room(const struct ctl_conn *c)
{
	size_t	 space = sizeof(c->out) - c->outoff - c->outlen;

	return space < CTL_LINE_MAX ? 0 : (space - CTL_LINE_MAX) /
	    CTL_LINE_MAX;
}

/*
 * Append prefix, the formatted text cleaned and cut, and LF, if that
 * leaves keep bytes free.  Returns 0, or -1 (nothing appended).
 */
static int
conn_put(struct ctl_conn *c, const char *prefix, size_t keep,
    const char *fmt, va_list ap)
{
	char	 line[CTL_LINE_MAX];
	size_t	 n, i, p = strlen(prefix);
	int	 len;

	memcpy(line, prefix, p);
	len = vsnprintf(line + p, sizeof(line) - p - 1, fmt, ap);
	if (len < 0)
		len = 0;
	n = p + (size_t)len;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	for (i = p; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[n++] = '\n';
	if (sizeof(c->out) - c->outoff - c->outlen < n + keep)
		return -1;
	memcpy(c->out + c->outoff + c->outlen, line, n);
	c->outlen += n;
	return 0;
}

int
ctl_line(struct ctl_conn *c, const char *fmt, ...)
{
	va_list	 ap;
	int	 rc;

	if (c->ended)
		return -1;
	/* The end line must still fit after it. */
	va_start(ap, fmt);
	rc = conn_put(c, "* ", CTL_LINE_MAX, fmt, ap);
	va_end(ap);
	return rc;
}

void
ctl_end(struct ctl_conn *c, int ok, const char *fmt, ...)
{
	va_list	 ap;

	if (c->ended)
		return;
	c->ended = 1;
	/* It fits: ctl_room() keeps a line free for it. */
	va_start(ap, fmt);
	(void)conn_put(c, ok ? "OK " : "NO ", 0, fmt, ap);
	va_end(ap);
}

void
ctl_stream(struct ctl_conn *c, ctl_more_fn *more, ctl_free_fn *fr,
    void *state)
{
	c->more = more;
	c->free = fr;
	c->state = state;
}
