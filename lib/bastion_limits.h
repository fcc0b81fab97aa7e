/*
 * limits: every fixed bound of bastion in one place, so that a reader
 * can see at a glance what input sizes the code accepts.
 */
#ifndef BASTION_BASTION_LIMITS_H
#define BASTION_BASTION_LIMITS_H

#include <stdint.h>

/* Policy source. */
#define LIM_SOURCE_SIZE		(256u * 1024 * 1024)	/* one file, bytes */
#define LIM_LINE		65536	/* one physical source line, bytes */
#define LIM_STRING		4096	/* a quoted string */
#define LIM_IDENT		128	/* list and keyword names */
#define LIM_DOMAIN		253	/* RFC 1035 */
#define LIM_LABEL		63
#define LIM_ERRORS		100	/* diagnostics before giving up */
#define LIM_USERNAME		256
#define LIM_LIST_ENTRIES	(16u * 1024 * 1024)	/* prefixes in all */
#define LIM_RCPT_ENTRIES	(16u * 1024 * 1024)	/* local parts in all */
#define LIM_LOCALPART		64	/* RFC 5321 4.5.3.1.1 */

/*
 * The range of every number a policy sets.  policyc refuses a value
 * outside it with a diagnostic, and the table reader refuses a table
 * that holds one (a checksum proves only that the bytes are intact, not
 * that policyc wrote them), so the two sides read the same names here.
 * Zero is outside every range: a retry of 0 would spin the queue, a
 * timeout of 0 would drop every session.
 */
#define LIM_MSGSIZE_MIN		1	/* limit message-size, bytes */
#define LIM_MSGSIZE_MAX		UINT64_MAX
#define LIM_RCPTS_MIN		1	/* limit recipients */
#define LIM_RCPTS_MAX		UINT32_MAX
#define LIM_CONNS_MIN		1	/* limit connections N */
#define LIM_CONNS_MAX		UINT32_MAX
#define LIM_CONNS_HOST_MIN	1	/* ... per-host M */
#define LIM_CONNS_HOST_MAX	UINT32_MAX
#define LIM_AUTHFAIL_MIN	1	/* limit auth-failures */
#define LIM_AUTHFAIL_MAX	UINT32_MAX
#define LIM_TIMEOUT_MIN		1	/* timeout ..., seconds */
#define LIM_TIMEOUT_MAX		UINT32_MAX
#define LIM_LIFETIME_MIN	1	/* queue lifetime, seconds */
#define LIM_LIFETIME_MAX	UINT32_MAX
#define LIM_RETRY_MIN		1	/* queue ... retry, seconds */
#define LIM_RETRY_MAX		UINT32_MAX
#define LIM_PORT_MIN		1	/* listen, forward, outbound */
#define LIM_PORT_MAX		65535

/* Diagnostics and reasons. */
#define LIM_ERRMSG		256

#endif
