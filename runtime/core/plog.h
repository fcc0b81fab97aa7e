/*
 * plog: the protocol log.  One line per event, comma-separated like
 * Exchange's SMTP protocol logs:
 *
 *	time,session,local,remote,dir,text
 *
 *	time	UTC, ISO 8601 with milliseconds: 2024-05-01T12:34:56.789Z
 *	session	the session id
 *	local	local endpoint, addr:port or [v6addr]:port
 *	remote	remote endpoint, the same way
 *	dir	+ connect, - disconnect, < in, > out, * decision
 *	text	the command, reply or decision
 *
 * A field is written between double quotes (CSV style, a quote doubled)
 * when it holds a comma, a quote, or a byte that has to be escaped.
 * Escaped are the control bytes, bytes 0x7f and above, and the
 * backslash, as \xHH (\\ for the backslash), so a line is always one
 * line of printable ASCII and can be unescaped exactly.  Text longer
 * than PLOG_TEXT_MAX bytes, or that would not fit the line, is cut and
 * ends with the marker PLOG_TRUNCATED.
 *
 * Each line is built in a fixed buffer on the stack and written with
 * one write(2) to a file opened O_APPEND, so lines from several
 * processes (or a log shipper's writes) never interleave.  Nothing
 * here allocates memory.
 *
 * In the daemon (plog_buffer) the lines of one loop turn are gathered
 * and written together, whole lines in one write(2), at the start of
 * the next turn: a relayed message makes some thirty lines, and a
 * system call each was the largest count of system calls a message
 * cost.  The lines keep the time of their event; a process killed in
 * the middle of a turn loses that turn's lines, nothing else.
 */
#ifndef BASTION_PLOG_H
#define BASTION_PLOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "loop.h"

#define PLOG_LINE_MAX		2048	/* one line, with its newline */
#define PLOG_TEXT_MAX		1000	/* text bytes looked at */
#define PLOG_FIELD_MAX		64	/* session id and endpoint bytes */
#define PLOG_ENDPOINT_SIZE	56	/* "[" v6 "]:" port NUL */
#define PLOG_PATH_MAX		1024
#define PLOG_TRUNCATED		"[truncated]"
#define PLOG_BUF_SIZE		32768	/* lines of a turn, then a write */

/* Directions. */
#define PLOG_CONNECT		'+'
#define PLOG_DISCONNECT		'-'
#define PLOG_IN			'<'
#define PLOG_OUT		'>'
#define PLOG_DECISION		'*'

struct plog {
	int		fd;		/* -1 when closed */
	int		own;		/* 1: our file; 0: stderr */
	unsigned long	errors;		/* lines that could not be written */
	char		path[PLOG_PATH_MAX];
	/* Buffered (plog_buffer): the lines of this turn. */
	struct loop	*L;
	struct loop_timer flush;
	size_t		blen;
	unsigned	blines;
	char		buf[PLOG_BUF_SIZE];
};

/*
 * Open the log file at path for appending (created mode 0640), or use
 * stderr when path is NULL (bastiond -f).  Returns 0, or -1 with the
 * reason in err.
 */
int	plog_open(struct plog *l, const char *path, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/*
 * Open the path again (after SIGHUP or rotation) and swap the new file
 * in; on failure the old one stays in use.  A no-op for stderr.
 * Returns 0, or -1 with the reason in err.
 */
int	plog_reopen(struct plog *l, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/* Write what is buffered, then close. */
void	plog_close(struct plog *l);

/*
 * From now on gather lines and write them at the next turn of loop L
 * (or sooner, when the buffer is full).  plog_close() and
 * plog_reopen() write what is gathered first.  Lines to stderr (no
 * file) are not gathered: they share it with the daemon's messages,
 * whose order they keep.
 */
void	plog_buffer(struct plog *l, struct loop *L);
/* Write what is gathered now (one write(2) of whole lines). */
void	plog_flush(struct plog *l);

/*
 * Build one line, with its newline, in buf (bufsz bytes, at least 64):
 * when NULL means now; text is len bytes (no NUL needed); sid, local and
 * remote are NUL-terminated (NULL is ""), each cut at PLOG_FIELD_MAX
 * bytes.  An unknown dir is written as '?'.  Returns the line's length.
 */
size_t	plog_format(char *buf, size_t bufsz, const struct timespec *when,
	    const char *sid, const char *local, const char *remote, int dir,
	    const char *text, size_t len);

/*
 * Format a line (see plog_format; when may be NULL) and write it with
 * one write(2), or gather it for the turn's write (plog_buffer).
 * Returns 0, or -1 if it could not be written (counted in l->errors:
 * the log must never stop the mail; a gathered line that the turn's
 * write loses is counted then).
 */
int	plog_write(struct plog *l, const struct timespec *when,
	    const char *sid, const char *local, const char *remote, int dir,
	    const char *text, size_t len);

/*
 * plog_write() with the text made by vsnprintf(fmt, ap), cut at
 * PLOG_TEXT_MAX bytes: the one place that formats log text, for the
 * session, the queue and the outbound side alike.
 */
int	plog_vwritef(struct plog *l, const char *sid, const char *local,
	    const char *remote, int dir, const char *fmt, va_list ap)
	    __attribute__((format(printf, 6, 0)));

/*
 * Write the endpoint sa as "a.b.c.d:port" or "[v6]:port" into buf
 * (PLOG_ENDPOINT_SIZE bytes); an IPv4-mapped IPv6 address is written as
 * IPv4.  Returns 0, or -1 (unknown family: buf gets "?").
 */
int	plog_endpoint(const struct sockaddr *sa, socklen_t salen, char *buf,
	    size_t bufsz);

/*
 * The text of a decision line:
 *	rule line N (RULE), table SUM
 * e.g. "rule line 12 (host <partners> require auth+tls), table
 * 3f2a9c0d11e84b7a".  rule is the rule as the session renders it; sum
 * is the table's checksum prefix (struct ptab's sum).  Cut to fit buf,
 * always NUL-terminated.  Returns the length.
 */
size_t	plog_decision(char *buf, size_t bufsz, unsigned long line,
	    const char *rule, const char *sum);

/*
 * The masking rule, in one place: for "AUTH MECH PAYLOAD" (verb in any
 * case) the payload becomes "****", so "AUTH PLAIN dGVzdA==" is
 * logged as "AUTH PLAIN ****"; a server challenge "334 PAYLOAD" becomes
 * "334 ****".  Any other line, and AUTH without a payload, is copied as
 * it is.  Every SASL response line a client sends during an AUTH
 * exchange is all payload: the session logs it as "****" itself.
 * out gets at most outsz - 1 bytes and a NUL.  Returns the length.
 */
size_t	plog_masked_auth(const char *line, size_t len, char *out,
	    size_t outsz);

#endif
