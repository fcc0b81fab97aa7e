/*
 * server: the state bastiond shares between its parts (the daemon in
 * bastiond.c, the SMTP sessions in session.c, local delivery in
 * queue.c), and the small interfaces between them.  There is one
 * struct server per process.
 */
#ifndef BASTION_SERVER_H
#define BASTION_SERVER_H

#include <limits.h>
#include <stdint.h>

#include "addr.h"
#include "hostcount.h"
#include "loop.h"
#include "plog.h"
#include "relay.h"
#include "ptab.h"
#include "sasl.h"
#include "seal.h"
#include "spool.h"
#include "pwcheck.h"

struct tls_server_creds;
struct tls_client_creds;
struct session;

/* Session buffers, sized once (see session.c for why these sizes). */
#define SESSION_IN_SIZE		4096
#define SESSION_OUT_SIZE	2048
#define SESSION_MAX_ERRORS	10	/* bad commands before 421 */
#define SESSION_AUTH_DELAY_MS	1000	/* per failure, on a timer */
#define SERVER_GRACE_MS		30000	/* SIGTERM: time to finish */
#define SERVER_ACCEPT_BURST	64	/* accepts per turn per listener */
#define SERVER_ACCEPT_PAUSE_MS	500	/* after EMFILE */
#define QUEUE_RECENT		256	/* committed ids kept for delivery */

/*
 * A loaded table, shared by the sessions that began under it: SIGHUP
 * swaps in a new one for new sessions, and the old one is unmapped
 * when its last session ends.  rule_text holds each host rule rendered
 * once at load, so that decision lines cost no formatting.
 */
struct table {
	struct ptab	 t;
	int		 refs;
	char		**rule_text;
};

struct listener {
	struct server	*srv;
	int		 fd;
	int		 tls;		/* implicit TLS */
	uint8_t		 require;	/* the port's floor */
	uint32_t	 line;
	char		 local[PLOG_ENDPOINT_SIZE];
};

/* Local delivery: committed messages, then periodic rescans. */
struct queue {
	struct server	*srv;
	struct loop_timer run;		/* deliver one message per turn */
	struct loop_timer rescan;	/* look at all of queue/ again */
	char		 recent[QUEUE_RECENT][SPOOL_ID_SIZE];
	unsigned	 head, count;
	int		 overflow;	/* recent[] lost ids: rescan */
	void		*dir;		/* DIR * of a rescan in progress */
};

struct server {
	struct loop		 loop;
	struct loop_signal	 sig;
	struct table		*table;		/* for new sessions */
	const char		*table_path;
	char			 base[PATH_MAX];	/* the table's folder */
	char			 hostname[256];
	struct tls_server_creds	*creds;		/* NULL: no TLS */
	struct tls_client_creds	*client_creds;	/* outbound; anchors */
	struct plog		 log;
	struct spool		 spool;
	struct pwcheck		 verify;
	struct sasl_ctx		 sasl;
	struct hostcount	 hosts;
	struct seal_key		*key;
	struct listener		*listeners;
	size_t			 nlisteners;
	struct addr		 src4, src6;	/* outbound source; 0: any */
	struct session		*sessions;	/* all live sessions */
	uint32_t		 nsessions;
	uint64_t		 sid_next;
	uint32_t		 sid_salt;
	struct queue		 queue;
	struct relay		 relay;
	struct loop_timer	 grace;
	struct loop_timer	 resume;	/* accepting again after EMFILE */
	int			 stopping;
	int			 foreground;
	int			 verbose;
};

/* Diagnostics: stderr with -f, else syslog (LOG_MAIL). */
void	server_log(struct server *srv, int prio, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* Resolve a table path against the table's folder into out. */
int	server_path(const struct server *srv, const char *p, char *out,
	    size_t outsz);

void	table_ref(struct table *tb);
void	table_unref(struct table *tb);

/*
 * Out of descriptors: stop accepting for a moment.  The waiting
 * connections stay in the kernel's backlog; polling a listener that
 * cannot be served would only spin.
 */
void	server_accept_pause(struct server *srv);

/* session.c */
void	session_accept(struct listener *l);
/* SIGTERM: close idle sessions now, the rest when their mail is in. */
void	session_shutdown_all(struct server *srv, int now);

/* queue.c */
void	queue_init(struct queue *q, struct server *srv);
/* A message was committed: deliver it soon. */
void	queue_committed(struct queue *q, const char *id);
/* Look at every message in queue/ (at start, and every retry). */
void	queue_rescan(struct queue *q);
void	queue_stop(struct queue *q);

#endif
