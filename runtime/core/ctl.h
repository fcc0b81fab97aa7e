/*
 * ctl: the control socket's framing, under bastionctl's commands (the
 * server's, server_ctl.c).  A Unix stream socket, mode 0600, owned by
 * the `run as` user; the kernel's word on each peer (SO_PEERCRED)
 * decides: root or that user is served, anyone else gets a refusal.
 *
 * The protocol is one request, one answer, then the server closes:
 *
 *	request:	VERB [ARG ...] LF	(at most CTL_REQ_MAX bytes,
 *					 printable ASCII, words split by
 *					 spaces)
 *	answer:		"* " TEXT LF		any number of data lines
 *			"OK " [TEXT] LF	the end: success
 *			"NO " REASON LF		the end: failure
 *
 * Answers are written from a bounded buffer without blocking: a short
 * answer is written whole by the request's handler; a long one (a
 * queue listing) is streamed, a piece at a time, by a callback the
 * handler sets (ctl_stream), called from the loop whenever the buffer
 * has room for CTL_LINE_MAX bytes and the client is reading.  A client
 * that stops reading is dropped after CTL_TIMEOUT_MS; one that hangs up
 * mid-answer is simply dropped (what its request did is done).
 *
 * Nothing here knows the commands: the owner's request hook gets the
 * parsed request and the peer, the refused hook every peer turned away.
 */
#ifndef BASTION_CTL_H
#define BASTION_CTL_H

#include <sys/types.h>

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"
#include "oplog.h"

#define CTL_REQ_MAX	1024	/* request line, LF included */
#define CTL_ARGS_MAX	4	/* words after the verb */
#define CTL_LINE_MAX	2048	/* one answer line at most */
#define CTL_OUT_SIZE	(8 * CTL_LINE_MAX)	/* answer buffer */
#define CTL_CONNS_MAX	8	/* clients at once */
#define CTL_TIMEOUT_MS	30000	/* to ask, and for each piece read */
#define CTL_PIECES_MAX	8	/* stream calls per loop turn */

/* A request split into words (pointers into buf). */
struct ctl_req {
	const char	*verb;
	const char	*arg[CTL_ARGS_MAX];
	size_t		 nargs;
	char		 buf[CTL_REQ_MAX];
};

/*
 * Parse the request line data (len bytes, without its LF): one or
 * more words of printable ASCII split by spaces, at most
 * 1 + CTL_ARGS_MAX of them, the verb in lower case letters.  Returns
 * 0, or -1 with the reason in err.  Pure: unit tests and fuzzing call
 * it with anything.
 */
int	ctl_parse(const char *data, size_t len, struct ctl_req *req,
	    char *err, size_t errlen) __attribute__((warn_unused_result));

/* Who is asking, from SO_PEERCRED. */
struct ctl_peer {
	uid_t	uid;
	gid_t	gid;
	pid_t	pid;
};

struct ctl;
struct ctl_conn;

/*
 * Stream hook: write what fits (ctl_room() says how many lines) and
 * return 1 to be called again, or 0 once ctl_end() has been called.
 * The free hook lets go of state when the stream ends or the client
 * goes away.
 */
typedef int	ctl_more_fn(struct ctl_conn *c, void *state);
typedef void	ctl_free_fn(void *state);

struct ctl_conn {
	struct ctl		*ctl;
	int			 fd;		/* -1: free slot */
	int			 ended;		/* end line written */
	struct ctl_peer		 peer;
	struct loop_timer	 timer;
	size_t			 inlen;
	char			 in[CTL_REQ_MAX];
	size_t			 outoff, outlen;
	char			 out[CTL_OUT_SIZE];
	ctl_more_fn		*more;
	ctl_free_fn		*free;
	void			*state;
};

struct ctl {
	struct loop		*loop;
	const struct oplog	*oplog;
	int			 fd;		/* -1: closed */
	int			 bound;		/* path is ours to remove */
	uid_t			 allow;		/* besides root */
	char			 path[PATH_MAX];
	/* A request from an allowed peer: answer it (ctl_line, ctl_end). */
	void			(*request)(void *arg, struct ctl_conn *c,
				    const struct ctl_req *req);
	/* A peer turned away (logged by the owner). */
	void			(*refused)(void *arg,
				    const struct ctl_peer *peer);
	void			*arg;
	struct ctl_conn		 conns[CTL_CONNS_MAX];
};

/*
 * Make the socket at path (a stale socket there is replaced; a live
 * one, or anything else, is an error), mode 0600, owned by uid:gid
 * ((uid_t)-1: leave as is), and listen.  Peers with uid allow (or 0)
 * will be served.  Returns 0, or -1 with the reason in err.
 */
int	ctl_open(struct ctl *c, const char *path, uid_t owner, gid_t group,
	    uid_t allow, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/* Serve from loop L (after ctl_open, with the hooks set). */
int	ctl_start(struct ctl *c, struct loop *L, const struct oplog *ol)
	    __attribute__((warn_unused_result));

/* Drop every client and close the socket (and remove it if ours). */
void	ctl_close(struct ctl *c);

/*
 * Lines of CTL_LINE_MAX that fit in the answer buffer now, besides
 * the end line (a stream writes that many, or fewer).
 */
size_t	ctl_room(const struct ctl_conn *c);

/*
 * Add a data line ("* " and LF are added; a longer line is cut at
 * CTL_LINE_MAX, control bytes become '?').  Returns 0, or -1 if it
 * does not fit with room left for the end line (it is dropped: a
 * long answer streams, checking ctl_room first).
 */
int	ctl_line(struct ctl_conn *c, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* The end line: "OK [text]" when ok, else "NO text".  Once. */
void	ctl_end(struct ctl_conn *c, int ok, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* Stream the rest of the answer from the loop (see ctl_more_fn). */
void	ctl_stream(struct ctl_conn *c, ctl_more_fn *more, ctl_free_fn *fr,
	    void *state);

#endif
