/*
 * server: one bastiond process.  It maps the compiled table, binds the
 * listeners it names, drops root, and serves inbound sessions
 * (session.h), local delivery (queue.h) and outbound delivery
 * (relay.h) in one event loop until SIGTERM.  SIGHUP maps a new table
 * (a bad one is refused and the old one kept), reloads the
 * certificates and reopens the protocol log.
 *
 * The server is the one module that knows the others.  It owns their
 * state and wires their hooks to one another: a message a session
 * committed goes to the queue; the queue's recipients for other hosts
 * go to the relay; a bounce the relay wrote goes back to the queue.
 * The modules below see only what they are given, so nothing under
 * runtime/core, store, inbound or outbound includes this header, and
 * each of them can be tested without it.
 *
 * There is one struct server per process; bastiond.c's main() reads
 * the command line and calls server_init, server_load, server_start,
 * server_run and server_free in turn.
 */
#ifndef BASTION_SERVER_H
#define BASTION_SERVER_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"
#include "bastion_limits.h"
#include "ctl.h"
#include "hostcount.h"
#include "loop.h"
#include "oplog.h"
#include "plog.h"
#include "pwcheck.h"
#include "queue.h"
#include "relay.h"
#include "sasl.h"
#include "seal.h"
#include "session.h"
#include "spool.h"
#include "stats.h"
#include "table.h"

#define SERVER_GRACE_MS		30000	/* SIGTERM: time to finish */
#define SERVER_ACCEPT_PAUSE_MS	500	/* after EMFILE */
/*
 * listen(2)'s backlog: connections the kernel holds while the loop is
 * busy (it caps this at net.core.somaxconn).  511, as other servers
 * use, so that a burst during a long loop turn is not refused.
 */
#define SERVER_BACKLOG		511
/* Descriptors we ask for at most: 10,000 idle sessions is a goal. */
#define SERVER_NOFILE_MAX	1048576
#define SERVER_COMMIT_MAX	4096	/* commits in flight; then 451 */

struct tls_server_creds;
struct tls_client_creds;

struct server {
	struct loop		 loop;
	struct loop_signal	 sig;
	struct oplog		 oplog;		/* diagnostics */
	struct table		*table;		/* for new work */
	const char		*table_path;
	char			 base[PATH_MAX];	/* the table's folder */
	char			 hostname[TABLE_HOSTNAME_MAX + 1];
	struct tls_server_creds	*creds;		/* NULL: no TLS */
	struct tls_client_creds	*client_creds;	/* outbound; anchors */
	struct plog		 log;
	struct spool		 spool;
	struct commit		 commit;	/* the spool's fsyncs */
	struct pwcheck		 verify;
	struct sasl_ctx		 sasl;
	struct hostcount	 hosts;
	struct seal_key		*key;
	struct listener		*listeners;
	size_t			 nlisteners;
	struct addr		 src4, src6;	/* outbound source; 0: any */
	struct session_ctx	 sessions;
	struct queue		 queue;
	struct relay		 relay;
	struct loop_timer	 grace;
	struct loop_timer	 resume;	/* accepting after EMFILE */
	int			 stopping;
	/* bastionctl (server_ctl.c). */
	struct ctl		 ctl;
	struct stats		 stats;
	time_t			 started;
	int			 reloaded;	/* 0 none, 1 accepted, -1 not */
	time_t			 reloaded_at;
	char			 reload_why[LIM_ERRMSG + 64];
	struct dsn_batch	*ctl_failed;	/* bounce: made when needed */
};

/*
 * Set srv up empty: diagnostics to stderr with foreground, else to
 * syslog; LOG_DEBUG with verbose.  Returns 0, or -1 with the reason.
 */
int	server_init(struct server *srv, int foreground, int verbose,
	    char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/*
 * Map the table at tablepath (its folder becomes the base of relative
 * paths), the route key at keypath (NULL: none), and the certificates
 * and trust anchors the table names.  Returns 0, or -1 with the reason.
 */
int	server_load(struct server *srv, const char *tablepath,
	    const char *keypath, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/* One line about the loaded table, called name (bastiond -n). */
void	server_describe(const struct server *srv, const char *name,
	    FILE *fp);

/*
 * Open the spool, the protocol log and the listeners, start the
 * password verifier, drop root, go into the background unless in the
 * foreground, and set up signals, sessions, queue and relay.  Returns
 * 0, or -1 with the reason.
 */
int	server_start(struct server *srv, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/* Serve until SIGTERM.  Returns 0, or -1 if the loop failed (logged). */
int	server_run(struct server *srv)
	    __attribute__((warn_unused_result));

void	server_free(struct server *srv);

/*
 * Map the table again (SIGHUP, bastionctl reload): all or nothing.
 * Returns 0 when the new table serves, or -1 with the reason in why
 * (the old one still serves).  The verdict is kept for `status'.
 */
int	server_reload(struct server *srv, char *why, size_t whylen);

/*
 * The control socket (server_ctl.c): server_ctl_open makes it, as root
 * before privileges drop (path from the table's `control', else
 * control.sock in the spool); server_ctl_start serves it from the loop.
 * Return 0, or -1 with the reason.
 */
int	server_ctl_open(struct server *srv, char *err, size_t errlen);
int	server_ctl_start(struct server *srv, char *err, size_t errlen);
void	server_ctl_close(struct server *srv);

#endif
