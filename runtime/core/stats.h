/*
 * stats: the counters bastionctl's `stats` reports, since the daemon
 * started.  One struct per process, owned by the server; each module
 * is handed a pointer to it with the rest of its context (session_ctx,
 * queue_env, relay_env) and counts what it sees through STATS_ADD,
 * which does nothing when the pointer is NULL (unit tests give none).
 * Plain integers: one thread, and a reader on the same loop.
 */
#ifndef BASTION_STATS_H
#define BASTION_STATS_H

#include <stdint.h>

/* How a connection was decided (the index into conn[]). */
enum stats_conn {
	STATS_CONN_ADMITTED,	/* a host rule let it in */
	STATS_CONN_DENIED,	/* a `deny' rule: 554 */
	STATS_CONN_LIMITED,	/* a connection limit: 421 */
	STATS_CONN_SHUTDOWN,	/* stopping: 421 */
	STATS_CONN_N
};

struct stats {
	uint64_t	conn[STATS_CONN_N];
	uint64_t	tls_ok;		/* inbound handshakes done */
	uint64_t	tls_failed;
	uint64_t	auth_ok;
	uint64_t	auth_failed;
	uint64_t	msg_accepted;	/* 250 after DATA */
	uint64_t	bytes_accepted;	/* their sizes */
	uint64_t	rcpt_delivered;	/* to a Maildir or a next hop */
	uint64_t	rcpt_deferred;	/* attempts that will be retried */
	uint64_t	rcpt_bounced;	/* failed for good */
	uint64_t	out_sessions_opened;	/* outbound connections */
	uint64_t	out_sessions_reused;	/* messages over a kept one */
};

#define STATS_ADD(s, field, n)	do {				\
	if ((s) != NULL)					\
		(s)->field += (n);				\
} while (0)

#endif
