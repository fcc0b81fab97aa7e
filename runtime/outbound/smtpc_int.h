/*
 * smtpc_int: what smtpc.c (the client's state machine) and
 * smtpc_auth.c (its AUTH) share.  Internal to runtime/outbound/smtpc*.c;
 * the public interface is smtpc.h.
 */
#ifndef BASTION_SMTPC_INT_H
#define BASTION_SMTPC_INT_H

#include <stddef.h>
#include <stdint.h>

struct smtpc;

enum state {
	C_IDLE = 0,
	C_CONNECT,	/* connect() in progress */
	C_GREETING,	/* waiting for the 220 */
	C_EHLO,
	C_HELO,
	C_STARTTLS,	/* waiting for the 220 to STARTTLS */
	C_HANDSHAKE,	/* TLS handshake */
	C_AUTH,
	C_TX,		/* MAIL, RCPT, DATA and their replies */
	C_BODY,		/* streaming the message */
	C_DOT,		/* waiting for the reply to "." */
	C_QUIT,
	C_FAILQUIT,	/* QUIT after a failure, before closing */
	C_RSET,		/* a kept connection: waiting for the 250 to RSET */
	C_KEPT,		/* a clean end, the connection kept (cf->keep) */
	C_PARKED,	/* kept and idle, until smtpc_reuse() or its time */
	C_DONE
};

/* What the next hop's EHLO offered. */
#define EXT_STARTTLS	0x0001
#define EXT_PIPELINING	0x0002
#define EXT_SIZE	0x0004
#define EXT_8BITMIME	0x0008
#define EXT_SMTPUTF8	0x0010
#define EXT_AUTH_PLAIN	0x0100
#define EXT_AUTH_LOGIN	0x0200
#define EXT_AUTH_SCRAM	0x0400

/* How a failure counts. */
#define F_TEMP		0
#define F_PERM		1

/* smtpc.c */
/*
 * The connection failed: log why, close, and go on with the next
 * address, or with the results once MAIL FROM is out.
 */
void	smtpc_fail(struct smtpc *c, int perm, const char *status, int peer,
	    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/*
 * Queue one command line, logged as shown when shown is not NULL.
 * Returns 0, or -1 when it does not fit (the session failed then).
 */
int	smtpc_cmd(struct smtpc *c, const char *shown, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Arm the session's timer for ms milliseconds. */
void	smtpc_arm(struct smtpc *c, uint32_t ms);
void	smtpc_logfmt(struct smtpc *c, int dir, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Ready for MAIL FROM. */
void	smtpc_tx_begin(struct smtpc *c);

/* smtpc_auth.c */
/* Open the route's password and send the first AUTH line. */
void	smtpc_auth_begin(struct smtpc *c);
/* A complete reply to an AUTH line: respond, or go on to MAIL. */
void	smtpc_auth_reply(struct smtpc *c, int code);
/* The text of a 334 line, kept whole for smtpc_auth_reply(). */
void	smtpc_auth_challenge(struct smtpc *c, const char *text, size_t len);
/* Wipe and free the password and what came of it, if any. */
void	smtpc_auth_wipe(struct smtpc *c);

#endif
