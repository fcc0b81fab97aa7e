/*
 * conn: a buffered connection, plain or TLS, driven by the event loop.
 * The inbound session (session.c) and the outbound client (smtpc.c)
 * both sit on it, as OpenSMTPD's smtp_session.c and mta_session.c sit
 * on ioev.c: it moves bytes between the socket (or the TLS engine) and
 * two fixed buffers its owner provides, asks the loop for exactly the
 * events it can use, and tells the owner what happened through one
 * callback.
 *
 * Memory: struct conn and both buffers are the owner's (embedded in
 * its session); their sizes are the owner's choice.  Nothing here
 * allocates.  The TLS engine is made by the owner (tls_server_new,
 * tls_client_new: the credentials and the peer's name are the owner's
 * business), handed over with conn_start_tls() and freed by
 * conn_close().
 *
 * Buffers: input is read into in[0..inlen); the owner handles it in
 * place and takes what it used with conn_consume().  A full input
 * buffer stops reading (and the loop's read interest) until the owner
 * consumes, so a peer can fill nothing but the buffer.  Output is
 * queued in out[0..outlen), with conn_vputline() or by writing at
 * out + outlen and raising outlen (never past outsize); it leaves in
 * order, and a write pass stops when the socket is full.  The owner
 * may read in, inlen, out, outlen, outsize, fd, tls and written; the
 * other fields are conn's.
 *
 * Driving it: the owner registers the descriptor with conn_attach(),
 * giving its own loop callback, which calls conn_io() (and may then
 * free its session: conn touches nothing after conn_io() returns).
 * conn_io() finishes a connect(), drives the TLS handshake, writes,
 * and then goes round: read, CONN_EV_INPUT, write, as long as a round
 * takes input.  Input can wait without any socket event to announce
 * it (decrypted bytes in the TLS engine; input the owner left for
 * lack of room for its replies), so the rounds go on while input
 * moves; they are bounded, so that one peer cannot hold the loop, and
 * when work is left the connection asks for a writable event, which
 * comes at once, to carry on.  conn_resume() runs the same rounds
 * when the owner can take input again without an event (a password
 * checked, a delay over).
 *
 * Events (the callback's ev):
 *   CONN_EV_CONNECTED  a connect() in progress succeeded.
 *   CONN_EV_TLS        the TLS handshake is complete.
 *   CONN_EV_INPUT      a round: handle what is in the input buffer.
 *                      Called each round, with or without new bytes.
 *   CONN_EV_WRITTEN    the socket took bytes (written says how many in
 *                      all).
 *   CONN_EV_DRAINED    a write pass left nothing queued.  The owner may
 *                      queue more (it goes out in the same pass, up
 *                      to CONN_REFILLS times), close, or start TLS.
 *   CONN_EV_EOF        the peer closed: its close_notify, or the end of
 *                      the socket (tls_truncated() tells them apart).
 *                      Bytes read before it are still in the buffer.
 *   CONN_EV_ERROR      an operation failed: conn_error() says why; err
 *                      is the errno (0 if none) and op which operation
 *                      (CONN_OP_*).  Bytes read before it are still in
 *                      the buffer.
 * The callback returns 0 to go on, or -1 when the connection must not
 * be touched any more: the owner closed it (and perhaps opened another
 * on the same struct) or is finishing.  conn then returns at once,
 * -1, up to the owner's call.
 *
 * STARTTLS: conn_start_tls() discards what is in the input buffer: it
 * came in the clear before TLS existed (RFC 3207 4.2), and nothing read
 * then may be taken as if TLS had protected it.  An owner that answered
 * STARTTLS calls conn_stop_reading() first, so that nothing more is
 * read in the clear; whatever the peer sent meanwhile stays in the
 * socket and reaches the TLS engine (which will refuse it).
 *
 * Closing: conn_close(c, 1) sends TLS close_notify first, best effort,
 * without waiting for the peer's.  Both buffers are wiped, and with
 * CONN_WIPE every byte is wiped from the output buffer as soon as the
 * socket has taken it (secrets pass through the outbound client's).
 */
#ifndef BASTION_CONN_H
#define BASTION_CONN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

/* Rounds of read, input, write in one conn_io() or conn_resume(). */
#define CONN_ROUNDS		64
/* Output refills (CONN_EV_DRAINED) sent in one write pass. */
#define CONN_REFILLS		16
/* TLS reads per round: the engine decrypts a record at a time. */
#define CONN_TLS_READS		4

/* conn_init() flags. */
#define CONN_WIPE		0x01	/* wipe output once written */

/* Events. */
#define CONN_EV_CONNECTED	1
#define CONN_EV_TLS		2
#define CONN_EV_INPUT		3
#define CONN_EV_WRITTEN		4
#define CONN_EV_DRAINED		5
#define CONN_EV_EOF		6
#define CONN_EV_ERROR		7

/* What failed (CONN_EV_ERROR). */
#define CONN_OP_CONNECT		1
#define CONN_OP_HANDSHAKE	2
#define CONN_OP_READ		3
#define CONN_OP_WRITE		4
#define CONN_OP_WATCH		5	/* the loop refused the interest */

struct conn;
struct tls_conn;

typedef int	conn_fn(struct conn *c, int ev, void *arg);

/* One connection.  Caller-allocated; see above for what is readable. */
struct conn {
	struct loop	*loop;
	int		 fd;		/* -1: none */
	unsigned	 flags;
	struct tls_conn	*tls;		/* NULL: plain */
	char		*in;
	size_t		 insize, inlen;
	char		*out;
	size_t		 outsize, outlen;
	uint64_t	 written;	/* bytes the socket took */
	conn_fn		*fn;
	void		*arg;
	int		 err;		/* CONN_EV_ERROR: errno */
	uint8_t		 op;		/* CONN_EV_ERROR: CONN_OP_* */
	uint8_t		 connecting;
	uint8_t		 handshaking;
	uint8_t		 eof;
	uint8_t		 rdoff;		/* conn_stop_reading() */
	uint8_t		 more;		/* rounds left work */
};

/*
 * Set c up, with no descriptor yet, for loop L and the owner's buffers
 * in (insize bytes) and out (outsize bytes); fn(c, ev, arg) is told
 * the events.  flags: 0 or CONN_WIPE.
 */
void	conn_init(struct conn *c, struct loop *L, char *in, size_t insize,
	    char *out, size_t outsize, unsigned flags, conn_fn *fn,
	    void *arg);

/*
 * Take the non-blocking socket fd, empty buffers and no TLS, and
 * register it in the loop with the owner's callback (which calls
 * conn_io()).  connecting: a connect() is in progress; CONN_EV_CONNECTED
 * or CONN_EV_ERROR (CONN_OP_CONNECT) says how it ends.  Returns 0, or
 * -1 with loop_error() saying why; the descriptor is then still the
 * caller's.
 */
int	conn_attach(struct conn *c, int fd, int connecting, loop_fd_fn *on_io,
	    void *arg) __attribute__((warn_unused_result));

/*
 * The loop said fd is ready for events: do the I/O and tell the owner,
 * then set the loop's interest.  Returns 0, or -1 when the connection
 * failed (after CONN_EV_ERROR) or a callback returned -1.
 */
int	conn_io(struct conn *c, int events);

/* Rounds of input and output without a socket event (see above). */
int	conn_resume(struct conn *c);

/*
 * One write pass now: write what is queued until the socket is full.
 * Returns 0, or -1 as conn_io().  The owner sets the interest after.
 */
int	conn_flush(struct conn *c);

/*
 * Set the loop's interest to what c can use now.  Returns 0, or -1
 * when the loop refused (then reported as CONN_EV_ERROR, CONN_OP_WATCH,
 * and -1 also when that callback returned -1).
 */
int	conn_interest(struct conn *c);

/*
 * Start TLS on the connection with engine t (which c now owns):
 * discard the input buffer, wiped, and return how many bytes it held.
 * The handshake runs from conn_io(); CONN_EV_TLS says it is done.
 * Reading starts again if conn_stop_reading() stopped it.
 */
size_t	conn_start_tls(struct conn *c, struct tls_conn *t);

/* Read nothing more (until conn_start_tls()): closing, or STARTTLS. */
void	conn_stop_reading(struct conn *c);

/*
 * Close the descriptor (leaving the loop first) and free the TLS
 * engine; polite: send close_notify first, best effort.  The buffers
 * are wiped and emptied.  Harmless when there is nothing to close.
 */
void	conn_close(struct conn *c, int polite);

/* Take n bytes (n <= inlen) from the front of the input. */
void	conn_consume(struct conn *c, size_t n);

/*
 * The next line of input, ended by LF: returns 1 with its length
 * without the LF (and a CR before it) in *len and the bytes it takes,
 * LF included, in *used (for conn_consume()); the line starts at
 * c->in.  Returns 0 when no LF has come yet, -1 when the line is (or
 * would be) longer than max bytes with its end.
 */
int	conn_getline(const struct conn *c, size_t max, size_t *len,
	    size_t *used);

/*
 * Queue one formatted line and CRLF.  Returns the length without CRLF
 * and sets *line to the text in the output buffer (for a log), or -1
 * when it does not fit: nothing is queued then (the bytes tried are
 * wiped).
 */
int	conn_vputline(struct conn *c, const char **line, const char *fmt,
	    va_list ap);

/* Room left in the output buffer. */
size_t	conn_room(const struct conn *c);

/*
 * Why the last CONN_EV_ERROR (or EOF) happened, in a few words for a
 * log: the TLS engine's reason when it has one, else the errno's.
 */
const char *conn_error(const struct conn *c);

#endif
