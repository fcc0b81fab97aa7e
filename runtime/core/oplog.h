/*
 * oplog: the daemon's diagnostic log, for its operator: problems with
 * the host (the spool, descriptors, the resolver), not what clients
 * did (that is the protocol log, plog.h).  Lines go to stderr in the
 * foreground (-f), else to syslog (LOG_MAIL, opened by the caller);
 * LOG_DEBUG lines only with verbose (-v).
 *
 * It sits in core so that every module can report a problem to the
 * same place without knowing the program that set it up: the server
 * fills a struct oplog once and hands the modules a pointer to it.
 */
#ifndef BASTION_OPLOG_H
#define BASTION_OPLOG_H

#include <syslog.h>

struct oplog {
	const char	*name;		/* prefix on stderr; NULL: none */
	int		 foreground;	/* stderr, not syslog */
	int		 verbose;	/* LOG_DEBUG too */
};

/* One line at priority prio (syslog's LOG_ERR ... LOG_DEBUG). */
void	oplog_write(const struct oplog *d, int prio, const char *fmt,
	    ...)
	    __attribute__((format(printf, 3, 4)));

#endif
