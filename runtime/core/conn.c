/*
 * conn: the buffered plain/TLS connection under the inbound session and
 * the outbound client (see conn.h for the contract).  The two rules of
 * tls.h are kept here once: decrypted bytes may wait in the engine
 * with no socket event to say so (the rounds look at tls_pending()),
 * and written bytes may wait in the engine until tls_flush().
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "conn.h"
#include "tls.h"

static int	event(struct conn *, int);
static int	failed(struct conn *, int, int);
static int	read_pass(struct conn *);
static int	write_pass(struct conn *);
static int	rounds(struct conn *, int);
static size_t	pending(const struct conn *);

void
conn_init(struct conn *c, struct loop *L, char *in, size_t insize,
    char *out, size_t outsize, unsigned flags, conn_fn *fn, void *arg)
{
	memset(c, 0, sizeof(*c));
	c->loop = L;
	c->fd = -1;
	c->flags = flags;
	c->in = in;
	c->insize = insize;
	c->out = out;
	c->outsize = outsize;
	c->fn = fn;
	c->arg = arg;
}

int
conn_attach(struct conn *c, int fd, int connecting, loop_fd_fn *on_io,
    void *arg)
{
	if (loop_fd_add(c->loop, fd, connecting ? LOOP_WRITE : LOOP_READ,
	    on_io, arg) != 0)
		return -1;
	c->fd = fd;
	c->tls = NULL;
	c->inlen = c->outlen = 0;
	c->written = 0;
	c->err = 0;
	c->op = 0;
	c->connecting = connecting != 0;
	c->handshaking = 0;
	c->eof = 0;
	c->rdoff = 0;
	c->more = 0;
	return 0;
}

void
conn_close(struct conn *c, int polite)
{
	if (c->fd != -1) {
		loop_fd_del(c->loop, c->fd);
		if (c->tls != NULL && polite)
			(void)tls_close(c->tls, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	if (c->tls != NULL) {
		tls_free(c->tls);
		c->tls = NULL;
	}
	sodium_memzero(c->in, c->insize);
	sodium_memzero(c->out, c->outsize);
	c->inlen = c->outlen = 0;
	c->more = 0;
}

/* Tell the owner; -1 if it says the connection is gone. */
static int
event(struct conn *c, int ev)
{
	return c->fn(c, ev, c->arg);
}

static int
failed(struct conn *c, int op, int err)
{
	c->op = (uint8_t)op;
	c->err = err;
	(void)event(c, CONN_EV_ERROR);
	/* Nothing more can be done on this connection. */
	return -1;
}

static size_t
pending(const struct conn *c)
{
	return c->tls != NULL ? tls_pending(c->tls) : 0;
}

int
conn_io(struct conn *c, int events)
{
	int	 e = 0;
	socklen_t el = sizeof(e);

	if (c->fd == -1)
		return -1;
	if (c->connecting) {
		if (!(events & LOOP_WRITE))
			return 0;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el) == -1)
			e = errno;
		if (e != 0)
			return failed(c, CONN_OP_CONNECT, e);
		c->connecting = 0;
		if (event(c, CONN_EV_CONNECTED) == -1)
			return -1;
		return conn_interest(c);
	}
	if (c->handshaking) {
		int r = tls_handshake(c->tls, c->fd);

		c->more = 0;	/* nothing to carry on before TLS is up */
		if (r == -1)
			return failed(c, CONN_OP_HANDSHAKE, errno);
		if (r == 0)
			return conn_interest(c);
		c->handshaking = 0;
		if (event(c, CONN_EV_TLS) == -1)
			return -1;
		/*
		 * The engine may already hold the peer's first bytes,
		 * which no event announces.
		 */
		events |= LOOP_READ;
	}
	if ((events & LOOP_WRITE || c->tls != NULL) && write_pass(c) == -1)
		return -1;
	if (rounds(c, events & LOOP_READ) == -1)
		return -1;
	return conn_interest(c);
}

int
conn_resume(struct conn *c)
{
	if (c->fd == -1 || c->connecting || c->handshaking)
		return 0;
	return rounds(c, 0);
}

int
conn_flush(struct conn *c)
{
	if (c->fd == -1)
		return -1;
	return write_pass(c);
}

/*
 * Read, let the owner handle the input, write, as long as a round
 * takes input.  Rounds stop when the input is used up, or when a round
 * took nothing (the owner waits for something else: room for its
 * replies, a password check); c->more asks for the next turn when the
 * bound cut them short.
 */
static int
rounds(struct conn *c, int readable)
{
	size_t	 inlen, pend;
	int	 i;

	c->more = 0;
	for (i = 0; i < CONN_ROUNDS; i++) {
		inlen = c->inlen;
		pend = pending(c);
		if ((readable || pend > 0) && read_pass(c) == -1)
			return -1;
		if (event(c, CONN_EV_INPUT) == -1)
			return -1;
		if (write_pass(c) == -1)
			return -1;
		if (c->inlen == 0 && pending(c) == 0)
			return 0;
		if (i > 0 && c->inlen == inlen && pending(c) == pend)
			return 0;
		readable = 0;
	}
	c->more = 1;
	return 0;
}

/* Fill the input buffer from the socket or the engine. */
static int
read_pass(struct conn *c)
{
	ssize_t	 n;
	int	 i;

	for (i = 0; i < CONN_TLS_READS && c->inlen < c->insize; i++) {
		/* The handshake is conn_io()'s, which says when it ends. */
		if (c->rdoff || c->eof || c->handshaking)
			return 0;
		if (c->tls != NULL)
			n = tls_read(c->tls, c->fd, c->in + c->inlen,
			    c->insize - c->inlen);
		else
			n = recv(c->fd, c->in + c->inlen,
			    c->insize - c->inlen, 0);
		if (n == 0) {
			c->eof = 1;
			c->err = 0;
			return event(c, CONN_EV_EOF);
		}
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return failed(c, CONN_OP_READ, errno);
		}
		c->inlen += (size_t)n;
		/* A plain socket gave what it had. */
		if (c->tls == NULL)
			return 0;
	}
	return 0;
}

/*
 * Write until the socket is full or nothing is queued; the owner may
 * queue more when the buffer drains, a bounded number of times.
 */
static int
write_pass(struct conn *c)
{
	ssize_t	 n;
	int	 wrote, refill;

	for (refill = 0; ; refill++) {
		wrote = 0;
		while (c->outlen > 0) {
			if (c->tls != NULL)
				n = tls_write(c->tls, c->fd, c->out,
				    c->outlen);
			else
				n = send(c->fd, c->out, c->outlen,
				    MSG_NOSIGNAL);
			if (n == -1) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				if (errno == EINTR)
					continue;
				return failed(c, CONN_OP_WRITE, errno);
			}
			memmove(c->out, c->out + n, c->outlen - (size_t)n);
			c->outlen -= (size_t)n;
			if (c->flags & CONN_WIPE)
				sodium_memzero(c->out + c->outlen, (size_t)n);
			c->written += (uint64_t)n;
			wrote = 1;
		}
		if (c->tls != NULL && tls_flush(c->tls, c->fd) == -1 &&
		    errno != EAGAIN)
			return failed(c, CONN_OP_WRITE, errno);
		if (wrote && event(c, CONN_EV_WRITTEN) == -1)
			return -1;
		if (c->outlen > 0)
			return 0;	/* the socket is full */
		if (event(c, CONN_EV_DRAINED) == -1)
			return -1;
		if (c->outlen == 0)
			return 0;
		if (refill == CONN_REFILLS) {
			c->more = 1;	/* the rest on the next turn */
			return 0;
		}
	}
}

int
conn_interest(struct conn *c)
{
	unsigned ev;
	int	 mask = 0;

	if (c->fd == -1)
		return 0;
	if (c->connecting)
		mask = LOOP_WRITE;
	else if (c->tls != NULL) {
		ev = tls_events(c->tls);
		if (ev & TLS_EV_READ)
			mask |= LOOP_READ;
		if (ev & TLS_EV_WRITE)
			mask |= LOOP_WRITE;
		/* No room for input: reading would only spin. */
		if (c->inlen == c->insize && !c->handshaking &&
		    !(ev & TLS_EV_WRITE))
			mask &= ~LOOP_READ;
	} else {
		if (c->inlen < c->insize && !c->rdoff && !c->eof)
			mask |= LOOP_READ;
		if (c->outlen > 0)
			mask |= LOOP_WRITE;
	}
	if (c->more)
		mask |= LOOP_WRITE;	/* comes at once: see rounds() */
	if (loop_fd_set(c->loop, c->fd, mask) != 0)
		return failed(c, CONN_OP_WATCH, errno);
	return 0;
}

size_t
conn_start_tls(struct conn *c, struct tls_conn *t)
{
	size_t	 n = c->inlen;

	sodium_memzero(c->in, c->inlen);
	c->inlen = 0;
	c->tls = t;
	c->handshaking = 1;
	c->rdoff = 0;
	c->more = 0;
	return n;
}

void
conn_stop_reading(struct conn *c)
{
	c->rdoff = 1;
}

void
conn_consume(struct conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->inlen - n);
	c->inlen -= n;
}

int
conn_getline(const struct conn *c, size_t max, size_t *len, size_t *used)
{
	const char	*lf;
	size_t		 n;

	lf = memchr(c->in, '\n', c->inlen < max ? c->inlen : max);
	if (lf == NULL)
		return c->inlen >= max ? -1 : 0;
	*used = (size_t)(lf - c->in) + 1;
	n = *used - 1;
	if (n > 0 && c->in[n - 1] == '\r')
		n--;
	*len = n;
	return 1;
}

int
conn_vputline(struct conn *c, const char **line, const char *fmt,
    va_list ap)
{
	size_t	 room = c->outsize - c->outlen;
	char	*p = c->out + c->outlen;
	int	 n;

	if (room < 2)
		return -1;
	n = vsnprintf(p, room, fmt, ap);
	if (n < 0 || (size_t)n + 2 > room) {
		sodium_memzero(p, room);
		return -1;
	}
	memcpy(p + n, "\r\n", 2);
	c->outlen += (size_t)n + 2;
	*line = p;
	return n;
}

size_t
conn_room(const struct conn *c)
{
	return c->outsize - c->outlen;
}

const char *
conn_error(const struct conn *c)
{
	const char	*te;

	if (c->tls != NULL && (te = tls_error(c->tls)) != NULL)
		return te;
	if (c->op == CONN_OP_WATCH)
		return loop_error(c->loop);
	if (c->err != 0)
		return strerror(c->err);
	return "connection closed";
}
