/*
 * table: a compiled policy table as the runtime holds it: mapped and
 * validated (ptab.h), with what the sessions and the queue read from
 * it on every message worked out once at load.
 *
 * A table is shared by reference count.  SIGHUP swaps a new one in for
 * new sessions and new deliveries, while each session, and each
 * outbound job, keeps the table it began under (table_ref) until it
 * ends (table_unref): the old one is unmapped with its last user.
 */
#ifndef BASTION_TABLE_H
#define BASTION_TABLE_H

#include <stddef.h>

#include "ptab.h"

#define TABLE_HOSTNAME_MAX	255

struct table {
	struct ptab	 t;
	int		 refs;
	/*
	 * Each host rule rendered once, so that the decision lines of
	 * the protocol log cost no formatting.
	 */
	char		**rule_text;
	/*
	 * The name this site gives itself (greetings, Received:, the
	 * Reporting-MTA of bounces, the domain of a bare <postmaster>):
	 * the policy's `hostname`, else the one the loader was given.
	 */
	const char	*hostname;
	char		 sysname[TABLE_HOSTNAME_MAX + 1];
};

/*
 * Map and validate the table at path, with sysname as its host name if
 * the policy names none.  Returns the table (one reference), or NULL
 * with the reason in err.
 */
struct table *table_load(const char *path, const char *sysname, char *err,
	    size_t errlen)
	    __attribute__((warn_unused_result));

/*
 * The domain recipient addr is delivered by: what follows its last
 * '@', or tb's hostname for a bare local part (<postmaster>, RFC 5321
 * 4.5.1; sessions store it as postmaster@hostname, an older spool may
 * hold it bare).  *bare (if not NULL) says which, for the routes a bare
 * address must never take.  One answer for the queue and the relay alike.
 */
const char *table_rcpt_domain(const struct table *tb, const char *addr,
	    int *bare);

void	table_ref(struct table *tb);
/* Drop a reference; the last one unmaps the table.  NULL is allowed. */
void	table_unref(struct table *tb);

#endif
