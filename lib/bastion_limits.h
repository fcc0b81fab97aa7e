/*
 * limits: every fixed bound of bastion in one place, so that a reader
 * can see at a glance what input sizes the code accepts.
 */
#ifndef BASTION_BASTION_LIMITS_H
#define BASTION_BASTION_LIMITS_H

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

/* Diagnostics and reasons. */
#define LIM_ERRMSG		256

#endif
