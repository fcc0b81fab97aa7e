/*
 * session: inbound SMTP sessions, from accept to close, driven by the
 * event loop (see session.c for the policy they apply).
 *
 * The sessions of a process share a struct session_ctx.  Its owner
 * (the server) fills in what sessions use and do not own: the loop,
 * the logs, the spool, the password verifier, the current table and
 * certificate (pointers to the owner's, which a reload swaps: a
 * session keeps the table it began under), and the hooks through which
 * sessions report upward.  The rest of it is the session module's own.
 * Sessions call nothing above them; a test drives them with a context
 * it built, over a socketpair.
 */
#ifndef BASTION_SESSION_H
#define BASTION_SESSION_H

#include <stdint.h>

#include "hostcount.h"
#include "loop.h"
#include "oplog.h"
#include "plog.h"
#include "pwcheck.h"
#include "sasl.h"
#include "spool.h"
#include "stats.h"
#include "table.h"

/* Session buffers, sized once (see session.c for why these sizes). */
#define SESSION_IN_SIZE		4096
#define SESSION_OUT_SIZE	2048
#define SESSION_MAX_ERRORS	10	/* bad commands before 421 */
/*
 * Commands that move no mail (NOOP, RSET, VRFY, EXPN, HELP, and every
 * refused command) before 421, as Postfix's smtpd_junk_command_limit:
 * without it a client holds a session, and a slot of the connection
 * limits, forever.  A queued message starts the count again, so a long
 * session that delivers mail is never cut.
 */
#define SESSION_MAX_JUNK	100
/*
 * DATA: `timeout data` is the time allowed without progress; on top,
 * the phase as a whole may take `timeout data` plus one second per
 * SESSION_DATA_MIN_RATE bytes received, so that a client dripping a
 * byte now and then cannot hold a session (and a spool file) for ever.
 */
#define SESSION_DATA_MIN_RATE	512	/* bytes per second, on average */
/* Room kept for our Received: header beyond the message size limit. */
#define SESSION_RECEIVED_MAX	1024
#define SESSION_AUTH_DELAY_MS	1000	/* per failure, on a timer */
#define SESSION_ACCEPT_BURST	64	/* accepts per turn per listener */
/*
 * A `proxy from` listener: seconds for the balancer's PROXY header.
 * A balancer sends it with its connect, so anything slower is not one.
 */
#define SESSION_PROXY_TIMEOUT	5

struct session;
struct session_ctx;
struct tls_server_creds;

/* A listening socket, as the sessions it accepts see it. */
struct listener {
	struct session_ctx	*ctx;
	int			 fd;
	int			 tls;		/* implicit TLS */
	uint8_t			 require;	/* the port's floor */
	uint32_t		 line;
	uint32_t		 index;		/* in the table's listeners */
	uint32_t		 nopen;		/* its sessions now */
	char			 local[PLOG_ENDPOINT_SIZE];
};

struct session_ctx {
	/* Filled by the owner before the first accept. */
	struct loop			*loop;
	struct plog			*log;
	const struct oplog		*oplog;
	struct spool			*spool;
	struct pwcheck			*verify;
	struct sasl_ctx			*sasl;
	struct hostcount		*hosts;
	/*
	 * The table and certificate for new sessions (swapped by a
	 * reload); a session holds a reference to both for its life.
	 */
	struct table * const		*table;
	struct tls_server_creds * const	*creds;	/* NULL: no TLS */
	struct stats			*stats;	/* counters, or NULL */
	/* The commit thread (commit.h); NULL: commit in the loop. */
	struct commit			*commit;
	uint64_t			 sid_next;	/* session ids */
	uint32_t			 sid_salt;
	/* A message was committed as id: deliver it. */
	void				(*committed)(void *arg, const char *id);
	/*
	 * Out of descriptors: stop accepting for a moment.  The waiting
	 * connections stay in the kernel's backlog.
	 */
	void				(*accept_pause)(void *arg);
	/* Stopping, and the last session has ended. */
	void				(*drained)(void *arg);
	void				*arg;

	/* The sessions' own: all live sessions. */
	struct session			*sessions;
	uint32_t			 nsessions;
	int				 stopping;
};

/* The listener is readable: take the waiting connections. */
void	session_accept(struct listener *l);

/*
 * SIGTERM: new connections get 421 from now on; idle sessions are
 * closed now, the rest when their mail is in, or all now if now is 1.
 */
void	session_shutdown_all(struct session_ctx *ctx, int now);

#endif
