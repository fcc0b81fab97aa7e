/*
 * oplog: the diagnostic log (see oplog.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "oplog.h"

void
oplog_write(const struct oplog *d, int prio, const char *fmt, ...)
{
	va_list	 ap;

	if (prio == LOG_DEBUG && !d->verbose)
		return;
	va_start(ap, fmt);
	if (d->foreground) {
		if (d->name != NULL)
			fprintf(stderr, "%s: ", d->name);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else
		vsyslog(prio, fmt, ap);
	va_end(ap);
}
