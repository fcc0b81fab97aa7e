/*
 * smtp_proto: the byte-level parts of the SMTP server that need no
 * session: framing command lines, parsing a command and its arguments,
 * and the DATA state machine that unstuffs the body and finds its end.
 * Pure functions over caller buffers, so that they can be fuzzed alone.
 *
 * Strictness is deliberate: only CRLF ends a line; a bare CR or LF, a
 * NUL or an over-long line is reported, never silently repaired, since
 * two parties that disagree on where a line or a message ends are how
 * SMTP smuggling works.
 */
#ifndef BASTION_SMTP_PROTO_H
#define BASTION_SMTP_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* RFC 5321 4.5.3.1: lengths with the CRLF. */
#define SMTP_CMD_LINE_MAX	512
#define SMTP_TEXT_LINE_MAX	1000
#define SMTP_PATH_MAX		256
#define SMTP_LOCAL_MAX		64
#define SMTP_DOMAIN_MAX		255
/* A longer command line is still accepted for AUTH (RFC 4954 4). */
#define SMTP_AUTH_LINE_MAX	12288
/* RFC 5321 6.3: more Received headers than this is a mail loop. */
#define SMTP_HOPS_MAX		100

enum smtp_line {
	SMTP_LINE_OK = 0,	/* a line of *len bytes, CRLF not counted */
	SMTP_LINE_MORE,		/* no complete line yet */
	SMTP_LINE_BARE_LF,	/* LF not after CR */
	SMTP_LINE_BARE_CR,	/* CR not before LF */
	SMTP_LINE_NUL,		/* a NUL byte */
	SMTP_LINE_LONG		/* longer than the limit */
};

/*
 * Find the first line in the n bytes at buf, allowing max bytes with
 * the CRLF.  On SMTP_LINE_OK, *len is the line's length without CRLF
 * and *used the bytes to consume.  On an error, *used is where the
 * offending line ends (after its LF), or 0 when its end has not been
 * seen: the caller discards up to there and answers.
 */
enum smtp_line smtp_line_scan(const char *buf, size_t n, size_t max,
	    size_t *len, size_t *used);

enum smtp_verb {
	SMTP_UNKNOWN = 0,
	SMTP_HELO, SMTP_EHLO, SMTP_MAIL, SMTP_RCPT, SMTP_DATA, SMTP_RSET,
	SMTP_NOOP, SMTP_QUIT, SMTP_VRFY, SMTP_EXPN, SMTP_HELP,
	SMTP_STARTTLS, SMTP_AUTH, SMTP_BDAT,
	SMTP_NVERBS
};

#define SMTP_BODY_7BIT		0
#define SMTP_BODY_8BITMIME	1

struct smtp_cmd {
	enum smtp_verb	 verb;
	const char	*arg;		/* after the verb and one space */
	size_t		 arglen;
	/* MAIL and RCPT: the path without < >, possibly empty ("<>") */
	const char	*path;
	size_t		 pathlen;
	size_t		 atpos;		/* index of '@' in path, or pathlen */
	/* MAIL parameters */
	int		 has_size;
	uint64_t	 size;
	int		 body;		/* SMTP_BODY_* */
};

/*
 * Parse the len bytes of a command line (without CRLF).  Returns 0
 * with cmd filled, or -1 with *reply set to the full reply line to send
 * (e.g. "501 5.1.7 Bad sender address syntax").  An unknown verb gives
 * 500 5.5.1; cmd->verb is still set when it is known.
 */
int	smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd,
	    const char **reply)
	    __attribute__((warn_unused_result));

/* Check a domain as in EHLO or a path: labels or an address literal. */
int	smtp_domain_ok(const char *d, size_t n);

/* DATA: the state machine.  Flags say why a message must be refused. */
#define SMTP_DATA_BARE		0x01	/* bare CR or LF */
#define SMTP_DATA_LONG		0x02	/* a line over SMTP_TEXT_LINE_MAX */
#define SMTP_DATA_BIG		0x04	/* over the size limit */
#define SMTP_DATA_NUL		0x08	/* a NUL byte */
#define SMTP_DATA_HOPS		0x10	/* over maxhops Received headers */

struct smtp_data {
	uint8_t		state;
	uint8_t		flags;
	uint8_t		hstate;		/* the Received counter's */
	uint8_t		hmatch;		/* "received" bytes matched */
	uint32_t	linelen;
	uint64_t	size;		/* body bytes after unstuffing */
	uint64_t	max;		/* SMTP_DATA_BIG beyond this */
	uint32_t	hops;		/* Received headers so far */
	uint32_t	maxhops;	/* SMTP_DATA_HOPS beyond this */
};

/*
 * Start a message of at most max bytes and SMTP_HOPS_MAX Received
 * headers (a test may lower maxhops afterwards).  The Received headers
 * are counted in the header block only, up to the first empty line,
 * whatever the pieces the message arrives in: a header line that
 * begins "Received:" in any case (blanks allowed before the colon),
 * never a folded continuation line.
 */
void	smtp_data_init(struct smtp_data *d, uint64_t max);

/*
 * Feed n bytes of DATA input.  Unstuffed body bytes are written to out
 * (which must hold n + 1 bytes: a CR held back from the previous call
 * comes out with its LF) and counted in *outn; once a flag is set
 * nothing more is written.  Returns the bytes consumed: fewer than n
 * when the terminating CRLF.CRLF ended within them (then *done is 1
 * and the rest is the next command).
 */
size_t	smtp_data_feed(struct smtp_data *d, const char *in, size_t n,
	    char *out, size_t *outn, int *done);

#endif
