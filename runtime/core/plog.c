/*
 * plog: the protocol log (see plog.h for the line format).
 *
 * Every field goes through one encoder, so that nothing a client sends
 * (a comma, a quote, a CR, a terminal escape) can forge a field or a
 * line.  The line is sized up front and each field is cut to the room
 * left for it, leaving space for the fields after it and the newline.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "plog.h"

#define PLOG_MARK_LEN	(sizeof(PLOG_TRUNCATED) - 1)
#define PLOG_TIME_LEN	24	/* 2024-05-01T12:34:56.789Z */
#define PLOG_MIN_BUF	64

/* The line being built. */
struct plog_buf {
	char	*b;
	size_t	 cap;
	size_t	 o;
};

static int	plog_esc(unsigned char);
static size_t	plog_piece(unsigned char, int, char *);
static void	plog_put(struct plog_buf *, const char *, size_t);
static void	plog_field(struct plog_buf *, const char *, size_t, size_t,
		    size_t);
static int	plog_sp(char);
static void	plog_on_flush(struct loop *, void *);

/* Bytes written as \xHH (and the backslash as \\). */
static int
plog_esc(unsigned char c)
{
	return c < 0x20 || c >= 0x7f || c == '\\';
}

/* Encode one byte of a field into p (4 bytes); returns its length. */
static size_t
plog_piece(unsigned char c, int quoted, char *p)
{
	static const char hex[] = "0123456789abcdef";

	if (c == '\\') {
		p[0] = p[1] = '\\';
		return 2;
	}
	if (plog_esc(c)) {
		p[0] = '\\';
		p[1] = 'x';
		p[2] = hex[c >> 4];
		p[3] = hex[c & 15];
		return 4;
	}
	if (c == '"' && quoted) {
		p[0] = p[1] = '"';
		return 2;
	}
	p[0] = (char)c;
	return 1;
}

/* Append n bytes that the caller has made room for. */
static void
plog_put(struct plog_buf *w, const char *s, size_t n)
{
	if (n > w->cap - w->o)
		return;
	memcpy(w->b + w->o, s, n);
	w->o += n;
}

/*
 * Append field s (n bytes, looked at up to limit), keeping tail bytes
 * free for what follows it.  A field that does not fit is cut and ends
 * with the marker.
 */
static void
plog_field(struct plog_buf *w, const char *s, size_t n, size_t limit,
    size_t tail)
{
	char	p[4];
	size_t	i, room, enc, pl;
	int	quote = 0, cut = 0;

	if (n > limit) {
		n = limit;
		cut = 1;
	}
	enc = 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ',' || c == '"' || plog_esc(c))
			quote = 1;
		enc += c == '"' ? 2 : plog_piece(c, 0, p);
	}
	if (w->cap - w->o < tail)
		return;
	room = w->cap - w->o - tail;
	if (quote) {
		if (room < 2)
			return;
		room -= 2;
		plog_put(w, "\"", 1);
	}
	if (!cut && enc <= room) {
		for (i = 0; i < n; i++) {
			pl = plog_piece((unsigned char)s[i], quote, p);
			plog_put(w, p, pl);
		}
	} else if (room >= PLOG_MARK_LEN) {
		room -= PLOG_MARK_LEN;
		for (i = 0; i < n; i++) {
			pl = plog_piece((unsigned char)s[i], quote, p);
			if (pl > room)
				break;
			plog_put(w, p, pl);
			room -= pl;
		}
		plog_put(w, PLOG_TRUNCATED, PLOG_MARK_LEN);
	}
	if (quote)
		plog_put(w, "\"", 1);
}

size_t
plog_format(char *buf, size_t bufsz, const struct timespec *when,
    const char *sid, const char *local, const char *remote, int dir,
    const char *text, size_t len)
{
	struct plog_buf	w;
	struct timespec	now;
	struct tm	tm;
	char		t[32], d;
	int		n;

	if (bufsz < PLOG_MIN_BUF) {
		if (bufsz > 0)
			buf[0] = '\0';
		return 0;
	}
	if (when == NULL) {
		clock_gettime(CLOCK_REALTIME, &now);
		when = &now;
	}
	if (gmtime_r(&when->tv_sec, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	n = snprintf(t, sizeof(t), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (long)(when->tv_nsec / 1000000) % 1000);
	if (n != PLOG_TIME_LEN) {
		/* A year past 9999 or before 0: say so rather than shift. */
		memcpy(t, "0000-00-00T00:00:00.000Z", PLOG_TIME_LEN);
	}
	switch (dir) {
	case PLOG_CONNECT:
	case PLOG_DISCONNECT:
	case PLOG_IN:
	case PLOG_OUT:
	case PLOG_DECISION:
		d = (char)dir;
		break;
	default:
		d = '?';
		break;
	}
	if (sid == NULL)
		sid = "";
	if (local == NULL)
		local = "";
	if (remote == NULL)
		remote = "";
	if (text == NULL)
		len = 0;

	/* Keep one byte for the NUL, though the line is not a string. */
	w.b = buf;
	w.cap = bufsz - 1;
	w.o = 0;
	plog_put(&w, t, PLOG_TIME_LEN);
	plog_put(&w, ",", 1);
	plog_field(&w, sid, strnlen(sid, PLOG_FIELD_MAX + 1), PLOG_FIELD_MAX,
	    6);
	plog_put(&w, ",", 1);
	plog_field(&w, local, strnlen(local, PLOG_FIELD_MAX + 1),
	    PLOG_FIELD_MAX, 5);
	plog_put(&w, ",", 1);
	plog_field(&w, remote, strnlen(remote, PLOG_FIELD_MAX + 1),
	    PLOG_FIELD_MAX, 4);
	plog_put(&w, ",", 1);
	plog_put(&w, &d, 1);
	plog_put(&w, ",", 1);
	plog_field(&w, text, len, PLOG_TEXT_MAX, 1);
	plog_put(&w, "\n", 1);
	buf[w.o] = '\0';
	return w.o;
}

int
plog_open(struct plog *l, const char *path, char *err, size_t errlen)
{
	size_t	n;

	l->fd = -1;
	l->own = 0;
	l->errors = 0;
	l->path[0] = '\0';
	l->L = NULL;
	l->blen = 0;
	l->blines = 0;
	if (path == NULL) {
		l->fd = STDERR_FILENO;
		return 0;
	}
	n = strnlen(path, sizeof(l->path));
	if (n == 0 || n == sizeof(l->path)) {
		snprintf(err, errlen, "bad protocol log path");
		return -1;
	}
	memcpy(l->path, path, n + 1);
	l->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY |
	    O_CLOEXEC, 0640);
	if (l->fd == -1) {
		snprintf(err, errlen, "cannot open %.900s: %s", path,
		    strerror(errno));
		return -1;
	}
	l->own = 1;
	return 0;
}

int
plog_reopen(struct plog *l, char *err, size_t errlen)
{
	int	fd;

	if (!l->own)
		return 0;
	plog_flush(l);
	fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY |
	    O_CLOEXEC, 0640);
	if (fd == -1) {
		snprintf(err, errlen, "cannot reopen %.900s: %s", l->path,
		    strerror(errno));
		return -1;
	}
	if (l->fd != -1)
		close(l->fd);
	l->fd = fd;
	return 0;
}

void
plog_close(struct plog *l)
{
	plog_flush(l);
	if (l->L != NULL)
		loop_timer_cancel(l->L, &l->flush);
	l->L = NULL;
	if (l->own && l->fd != -1)
		close(l->fd);
	l->fd = -1;
	l->own = 0;
}

int
plog_write(struct plog *l, const struct timespec *when, const char *sid,
    const char *local, const char *remote, int dir, const char *text,
    size_t len)
{
	char	line[PLOG_LINE_MAX];
	size_t	n;
	ssize_t	r;

	n = plog_format(line, sizeof(line), when, sid, local, remote, dir,
	    text, len);
	if (l->fd == -1) {
		l->errors++;
		return -1;
	}
	if (l->L != NULL && l->own) {
		if (l->blen + n > sizeof(l->buf))
			plog_flush(l);
		memcpy(l->buf + l->blen, line, n);
		l->blen += n;
		l->blines++;
		/* No timer left: write at once rather than hold lines. */
		if (!loop_timer_armed(&l->flush) &&
		    loop_soon(l->L, &l->flush) != 0)
			plog_flush(l);
		return 0;
	}
	/*
	 * One write: O_APPEND places it whole at the end.  No retry after
	 * a short write, which would split the line around another one.
	 */
	do
		r = write(l->fd, line, n);
	while (r == -1 && errno == EINTR);
	if (r != (ssize_t)n) {
		l->errors++;
		return -1;
	}
	return 0;
}

static void
plog_on_flush(struct loop *L, void *arg)
{
	(void)L;
	plog_flush(arg);
}

void
plog_buffer(struct plog *l, struct loop *L)
{
	l->L = L;
	l->blen = 0;
	l->blines = 0;
	loop_timer_init(&l->flush, plog_on_flush, l);
}

void
plog_flush(struct plog *l)
{
	ssize_t	r;

	if (l->blen == 0)
		return;
	/*
	 * Whole lines in one write, O_APPEND: no retry after a short
	 * write, which would split a line around another writer's.
	 */
	do
		r = write(l->fd, l->buf, l->blen);
	while (r == -1 && errno == EINTR);
	if (r != (ssize_t)l->blen)
		l->errors += l->blines;
	l->blen = 0;
	l->blines = 0;
}

int
plog_endpoint(const struct sockaddr *sa, socklen_t salen, char *buf,
    size_t bufsz)
{
	char	a[INET6_ADDRSTRLEN];
	int	n = -1;

	if (bufsz == 0)
		return -1;
	if (sa != NULL && sa->sa_family == AF_INET &&
	    salen >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const void *)sa;

		if (inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a)) != NULL)
			n = snprintf(buf, bufsz, "%s:%u", a,
			    (unsigned)ntohs(s4->sin_port));
	} else if (sa != NULL && sa->sa_family == AF_INET6 &&
	    salen >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			if (inet_ntop(AF_INET, s6->sin6_addr.s6_addr + 12, a,
			    sizeof(a)) != NULL)
				n = snprintf(buf, bufsz, "%s:%u", a,
				    (unsigned)ntohs(s6->sin6_port));
		} else if (inet_ntop(AF_INET6, &s6->sin6_addr, a,
		    sizeof(a)) != NULL)
			n = snprintf(buf, bufsz, "[%s]:%u", a,
			    (unsigned)ntohs(s6->sin6_port));
	}
	if (n < 0 || (size_t)n >= bufsz) {
		snprintf(buf, bufsz, "?");
		return -1;
	}
	return 0;
}

size_t
plog_decision(char *buf, size_t bufsz, unsigned long line, const char *rule,
    const char *sum)
{
	int	n;

	if (bufsz == 0)
		return 0;
	n = snprintf(buf, bufsz, "rule line %lu (%s), table %s", line,
	    rule != NULL ? rule : "", sum != NULL ? sum : "");
	if (n < 0) {
		buf[0] = '\0';
		return 0;
	}
	return (size_t)n < bufsz ? (size_t)n : bufsz - 1;
}

static int
plog_sp(char c)
{
	return c == ' ' || c == '\t';
}

size_t
plog_masked_auth(const char *line, size_t len, char *out, size_t outsz)
{
	static const char	stars[] = " ****";
	size_t			i, keep, n;

	if (outsz == 0)
		return 0;
	keep = len;
	if (len > 4 && (line[0] | 0x20) == 'a' && (line[1] | 0x20) == 'u' &&
	    (line[2] | 0x20) == 't' && (line[3] | 0x20) == 'h' &&
	    plog_sp(line[4])) {
		for (i = 4; i < len && plog_sp(line[i]); i++)
			continue;
		for (; i < len && !plog_sp(line[i]); i++)
			continue;
		keep = i;	/* "AUTH MECH" */
		for (; i < len && plog_sp(line[i]); i++)
			continue;
		if (i == len)
			keep = len;	/* no initial response */
	} else if (len > 4 && memcmp(line, "334", 3) == 0 &&
	    plog_sp(line[3]))
		keep = 3;
	n = keep < outsz - 1 ? keep : outsz - 1;
	memcpy(out, line, n);
	if (keep < len && n == keep && outsz - 1 - n >= sizeof(stars) - 1) {
		memcpy(out + n, stars, sizeof(stars) - 1);
		n += sizeof(stars) - 1;
	}
	out[n] = '\0';
	return n;
}

int
plog_vwritef(struct plog *l, const char *sid, const char *local,
    const char *remote, int dir, const char *fmt, va_list ap)
{
	char	 buf[PLOG_TEXT_MAX];
	int	 n;

	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n < 0)
		return -1;
	return plog_write(l, NULL, sid, local, remote, dir, buf,
	    (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}
