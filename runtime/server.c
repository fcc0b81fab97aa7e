/*
 * server: one bastiond process (see server.h): its table, listeners,
 * certificates and privileges, its signals, and the wiring between the
 * sessions, the queue and the relay, which know nothing of each other.
 *
 * Relative paths in the table (spool, log, certificates, Maildirs) are
 * taken from the table's own folder, so that a policy and its files can
 * move together.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bastion_limits.h"
#include "fileio.h"
#include "server.h"
#include "tls.h"

static int	server_path(const struct server *, const char *, char *,
		    size_t);
static int	listeners_open(struct server *, char *, size_t);
static int	listener_needs(const struct ptab *,
		    const struct ptab_listener_rec *, const char *,
		    const struct tls_server_creds *, char *, size_t);
static int	creds_load(struct server *, struct tls_server_creds **,
		    char *, size_t);
static int	client_creds_load(struct server *, struct tls_client_creds **,
		    char *, size_t);
static int	drop_privileges(struct server *, char *, size_t);
static int	runas_ids(const struct server *, uid_t *, gid_t *);
static int	store_mkdirs(const struct server *, const char *, int,
		    char *, size_t);
static void	raise_nofile(struct server *, int *);
static void	on_signal(struct loop *, int, void *);
static void	on_listener(struct loop *, int, int, void *);
static void	on_grace(struct loop *, void *);
static void	on_resume(struct loop *, void *);
static void	resume_cb(void *, int, const char *, const char *);
static void	accept_pause(void *);
static void	on_committed(void *, const char *);
static void	on_drained(void *);
static int	on_busy(void *, const char *);
static void	on_route(void *, const char *);
static void	on_room(void *);

/* A path from the table, taken from the table's folder if relative. */
static int
server_path(const struct server *srv, const char *p, char *out,
    size_t outsz)
{
	int	 n;

	if (p[0] == '/')
		n = snprintf(out, outsz, "%s", p);
	else
		n = snprintf(out, outsz, "%s/%s", srv->base, p);
	return (n < 0 || (size_t)n >= outsz) ? -1 : 0;
}

static int
creds_load(struct server *srv, struct tls_server_creds **creds, char *err,
    size_t errlen)
{
	const struct ptab	*t = &srv->table->t;
	char			 cert[PATH_MAX], key[PATH_MAX];

	*creds = NULL;
	if (t->server->cert == 0)
		return 0;
	if (server_path(srv, ptab_str(t, t->server->cert), cert,
	    sizeof(cert)) != 0 || server_path(srv, ptab_str(t,
	    t->server->key), key, sizeof(key)) != 0) {
		snprintf(err, errlen, "certificate path too long");
		return -1;
	}
	return tls_server_creds_load(cert, key, creds, err, errlen);
}

/* Outbound TLS: the `tls trust` anchors (none: only `verify` fails). */
static int
client_creds_load(struct server *srv, struct tls_client_creds **creds,
    char *err, size_t errlen)
{
	const struct ptab	*t = &srv->table->t;
	char			 trust[PATH_MAX];

	if (t->server->trust == 0)
		return tls_client_creds_load(NULL, creds, err, errlen);
	if (server_path(srv, ptab_str(t, t->server->trust), trust,
	    sizeof(trust)) != 0) {
		snprintf(err, errlen, "trust path too long");
		return -1;
	}
	return tls_client_creds_load(trust, creds, err, errlen);
}

/*
 * What a listener needs from a table and its certificate, at start and
 * at every reload: a certificate for TLS (implicit, or a `require tls'
 * floor, which only STARTTLS can meet), users and mechanisms for a
 * `require auth' floor.  policyc refuses a policy without them; this
 * holds against any table.  Returns 0, or -1 with the reason.
 */
static int
listener_needs(const struct ptab *t, const struct ptab_listener_rec *lr,
    const char *local, const struct tls_server_creds *creds, char *err,
    size_t errlen)
{
	if ((lr->tls || (lr->require & PTAB_REQ_TLS)) && creds == NULL) {
		snprintf(err, errlen, "listener %s (line %u) needs TLS but "
		    "the table has no certificate", local, lr->line);
		return -1;
	}
	if ((lr->require & PTAB_REQ_AUTH) && (t->nusers == 0 ||
	    t->server->mechs[0] == PTAB_MECH_NONE)) {
		snprintf(err, errlen, "listener %s (line %u) requires auth "
		    "but the table has no users or no mechanisms", local,
		    lr->line);
		return -1;
	}
	return 0;
}

static int
listeners_open(struct server *srv, char *err, size_t errlen)
{
	const struct ptab	*t = &srv->table->t;
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	uint32_t		 i;
	int			 fd, on = 1;

	if (t->nlisteners == 0) {
		snprintf(err, errlen, "the table has no listen statement");
		return -1;
	}
	srv->listeners = calloc(t->nlisteners, sizeof(*srv->listeners));
	if (srv->listeners == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < t->nlisteners; i++) {
		const struct ptab_listener_rec *lr = &t->listeners[i];
		struct listener *l = &srv->listeners[i];

		memset(&ss, 0, sizeof(ss));
		if (lr->family == ADDR_V4) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
			sin->sin_family = AF_INET;
			sin->sin_port = htons(lr->port);
			memcpy(&sin->sin_addr, lr->addr, 4);
			sl = sizeof(*sin);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(lr->port);
			memcpy(&sin6->sin6_addr, lr->addr, 16);
			sl = sizeof(*sin6);
		}
		l->ctx = &srv->sessions;
		l->tls = lr->tls;
		l->require = lr->require;
		l->line = lr->line;
		l->index = i;
		l->fd = -1;
		plog_endpoint((struct sockaddr *)&ss, sl, l->local,
		    sizeof(l->local));
		if (listener_needs(t, lr, l->local, srv->creds, err,
		    errlen) != 0)
			return -1;
		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1)
			goto fail;
		l->fd = fd;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
		    sizeof(on));
		if (ss.ss_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
			    sizeof(on));
		if (bind(fd, (struct sockaddr *)&ss, sl) == -1 ||
		    listen(fd, SERVER_BACKLOG) == -1)
			goto fail;
		srv->nlisteners++;
		/*
		 * Mail leaves from the first specific address we listen
		 * on, so that partners can tell this site by its address.
		 */
		{
			struct addr *src = lr->family == ADDR_V4 ?
			    &srv->src4 : &srv->src6;
			static const uint8_t any[16];
			if (src->family == 0 && memcmp(lr->addr, any,
			    lr->family == ADDR_V4 ? 4 : 16) != 0) {
				src->family = lr->family;
				src->len = lr->family == ADDR_V4 ? 32 : 128;
				memcpy(src->a, lr->addr, 16);
			}
		}
		continue;
fail:
		snprintf(err, errlen, "cannot listen on %s (line %u): %s",
		    l->local, lr->line, strerror(errno));
		return -1;
	}
	return 0;
}

/* Take as many descriptors as we may: 10,000 idle sessions is a goal. */
static void
raise_nofile(struct server *srv, int *maxfd)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rlim_t want = rl.rlim_max;
		if (want == RLIM_INFINITY || want > SERVER_NOFILE_MAX)
			want = SERVER_NOFILE_MAX;
		if (rl.rlim_cur < want) {
			rl.rlim_cur = want;
			if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
				oplog_write(&srv->oplog, LOG_WARNING, "cannot "
				    "raise the descriptor limit: %s",
				    strerror(errno));
		}
		(void)getrlimit(RLIMIT_NOFILE, &rl);
		*maxfd = rl.rlim_cur > SERVER_NOFILE_MAX ? SERVER_NOFILE_MAX :
		    (int)rl.rlim_cur;
	} else
		*maxfd = 1024;
}

static int
drop_privileges(struct server *srv, char *err, size_t errlen)
{
	const struct ptab	*t = &srv->table->t;
	const char		*user;
	struct passwd		*pw;

	if (t->server->runas == 0) {
		if (geteuid() == 0)
			oplog_write(&srv->oplog, LOG_WARNING, "running as "
			    "root: the policy has no `run as`");
		return 0;
	}
	user = ptab_str(t, t->server->runas);
	if (geteuid() != 0) {
		oplog_write(&srv->oplog, LOG_WARNING, "not root: `run as "
		    "\"%s\"` ignored", user);
		return 0;
	}
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errlen, "run as \"%s\": no such user", user);
		return -1;
	}
	/* The spool and the log must stay ours after the switch. */
	if (fchown(srv->spool.root, pw->pw_uid, pw->pw_gid) != 0 ||
	    fchown(srv->spool.tmp, pw->pw_uid, pw->pw_gid) != 0 ||
	    fchown(srv->spool.queue, pw->pw_uid, pw->pw_gid) != 0 ||
	    fchown(srv->spool.corrupt, pw->pw_uid, pw->pw_gid) != 0 ||
	    fchown(srv->spool.hold, pw->pw_uid, pw->pw_gid) != 0 ||
	    fchown(srv->spool.state, pw->pw_uid, pw->pw_gid) != 0 ||
	    (srv->log.own && srv->log.fd != -1 &&
	    fchown(srv->log.fd, pw->pw_uid, pw->pw_gid) != 0)) {
		snprintf(err, errlen, "cannot give the spool and log to "
		    "\"%s\": %s", user, strerror(errno));
		return -1;
	}
	if (setgroups(1, &pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		snprintf(err, errlen, "cannot become \"%s\": %s", user,
		    strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		snprintf(err, errlen, "could regain root after dropping it");
		return -1;
	}
	return 0;
}

static void
resume_cb(void *ctx, int what, const char *name, const char *reason)
{
	struct server	*srv = ctx;

	switch (what) {
	case SPOOL_RESUME_TMP:
		oplog_write(&srv->oplog, LOG_INFO, "spool: removed "
		    "unacknowledged %s", name);
		break;
	case SPOOL_RESUME_CORRUPT:
		oplog_write(&srv->oplog, LOG_WARNING, "spool: %s moved to "
		    "corrupt/: %s", name, reason);
		break;
	case SPOOL_RESUME_SKIPPED:
		oplog_write(&srv->oplog, LOG_WARNING, "spool: %s skipped: %s",
		    name, reason);
		break;
	default:
		break;
	}
}

static void
on_listener(struct loop *L, int fd, int events, void *arg)
{
	(void)L;
	(void)fd;
	(void)events;
	session_accept(arg);
}

/*
 * What a running daemon cannot take from a new table: the listeners
 * and the control socket were bound, and the spool and the log opened,
 * as root before privileges were dropped, and the listeners still need
 * what they were set up with (listener_needs).
 * Returns 0 if tb can replace the running table, or -1 with the
 * reason ("needs a restart" where a restart would apply it).
 */
static int
reload_check(const struct server *srv, const struct table *tb,
    const struct tls_server_creds *creds, char *err, size_t errlen)
{
	const struct ptab	*o = &srv->table->t, *n = &tb->t;
	uint32_t		 i;

	if (n->nlisteners != o->nlisteners) {
		snprintf(err, errlen, "the listeners changed (%u, were %u); "
		    "that needs a restart", n->nlisteners, o->nlisteners);
		return -1;
	}
	for (i = 0; i < n->nlisteners; i++) {
		const struct ptab_listener_rec *a = &o->listeners[i];
		const struct ptab_listener_rec *b = &n->listeners[i];

		/* Source lines may move; what the socket is may not. */
		if (a->family != b->family || a->port != b->port ||
		    memcmp(a->addr, b->addr, sizeof(a->addr)) != 0 ||
		    a->tls != b->tls || a->require != b->require) {
			snprintf(err, errlen, "listener %s (line %u) changed; "
			    "that needs a restart", srv->listeners[i].local,
			    b->line);
			return -1;
		}
		if (listener_needs(n, b, srv->listeners[i].local, creds, err,
		    errlen) != 0)
			return -1;
	}
	if (strcmp(ptab_str(o, o->server->spool),
	    ptab_str(n, n->server->spool)) != 0) {
		snprintf(err, errlen, "the spool changed; that needs a "
		    "restart");
		return -1;
	}
	/* Opened as root, perhaps in a folder only root may write. */
	if (strcmp(ptab_str(o, o->server->log),
	    ptab_str(n, n->server->log)) != 0) {
		snprintf(err, errlen, "the protocol log changed; that needs a "
		    "restart");
		return -1;
	}
	if (strcmp(ptab_str(o, o->server->runas),
	    ptab_str(n, n->server->runas)) != 0) {
		snprintf(err, errlen, "'run as' changed; that needs a "
		    "restart");
		return -1;
	}
	/* Made as root at start, like the listeners. */
	if (strcmp(ptab_str(o, o->server->control),
	    ptab_str(n, n->server->control)) != 0) {
		snprintf(err, errlen, "the control socket changed; that needs "
		    "a restart");
		return -1;
	}
	return 0;
}

/*
 * SIGHUP: a new table for new sessions, if it is good.  All or
 * nothing: the table, its certificate, its trust anchors and its
 * sealed secrets are loaded and checked before anything is swapped,
 * so a refused reload leaves the daemon exactly as it was.  Sessions
 * under way keep the table they began with.
 */
int
server_reload(struct server *srv, char *reason, size_t reasonlen)
{
	struct table		*tb = NULL, *old;
	struct tls_server_creds	*creds = NULL;
	struct tls_client_creds	*cc = NULL;
	char			 err[LIM_ERRMSG], why[LIM_ERRMSG + 64];
	char			 line[128];
	int			 n;

	/*
	 * The log first, whatever becomes of the table: SIGHUP is also how
	 * a rotated log is let go, and the verdict on the table belongs in
	 * the new file.
	 */
	if (plog_reopen(&srv->log, err, sizeof(err)) != 0)
		oplog_write(&srv->oplog, LOG_ERR, "reload: protocol log: %s",
		    err);
	if ((tb = table_load(srv->table_path, srv->hostname, err,
	    sizeof(err))) == NULL) {
		snprintf(why, sizeof(why), "%s: %s", srv->table_path, err);
		goto refuse;
	}
	old = srv->table;
	/* creds_load and client_creds_load read the paths of srv->table. */
	srv->table = tb;
	if (creds_load(srv, &creds, err, sizeof(err)) != 0 ||
	    client_creds_load(srv, &cc, err, sizeof(err)) != 0) {
		srv->table = old;
		snprintf(why, sizeof(why), "%s", err);
		goto refuse;
	}
	srv->table = old;
	if (reload_check(srv, tb, creds, err, sizeof(err)) != 0 ||
	    ptab_open_secrets(&tb->t, srv->key, err, sizeof(err)) != 0) {
		snprintf(why, sizeof(why), "%s", err);
		goto refuse;
	}

	/* Sessions under way hold their own references. */
	srv->table = tb;
	if (srv->creds != NULL)
		tls_server_creds_unref(srv->creds);
	srv->creds = creds;
	if (srv->client_creds != NULL)
		tls_client_creds_unref(srv->client_creds);
	srv->client_creds = cc;
	table_unref(old);
	oplog_write(&srv->oplog, LOG_INFO, "reload: table %s", tb->t.sum);
	n = snprintf(line, sizeof(line), "table %s loaded", tb->t.sum);
	plog_write(&srv->log, NULL, "-", "-", "-", PLOG_DECISION, line,
	    (size_t)n);
	srv->reloaded = 1;
	srv->reloaded_at = time(NULL);
	snprintf(srv->reload_why, sizeof(srv->reload_why), "table %s",
	    tb->t.sum);
	return 0;

refuse:
	if (creds != NULL)
		tls_server_creds_unref(creds);
	if (cc != NULL)
		tls_client_creds_unref(cc);
	if (tb != NULL)
		table_unref(tb);
	oplog_write(&srv->oplog, LOG_ERR, "reload: %s; keeping table %s",
	    why, srv->table->t.sum);
	n = snprintf(line, sizeof(line), "reload refused, old table kept");
	plog_write(&srv->log, NULL, "-", "-", "-", PLOG_DECISION, line,
	    (size_t)n);
	srv->reloaded = -1;
	srv->reloaded_at = time(NULL);
	snprintf(srv->reload_why, sizeof(srv->reload_why), "%s", why);
	snprintf(reason, reasonlen, "%s", why);
	return -1;
}

/*
 * Out of descriptors: stop accepting for a moment.  The waiting
 * connections stay in the kernel's backlog; polling a listener that
 * cannot be served would only spin.
 */
static void
accept_pause(void *arg)
{
	struct server	*srv = arg;
	size_t		 i;

	if (loop_timer_armed(&srv->resume))
		return;
	oplog_write(&srv->oplog, LOG_WARNING, "out of file descriptors (%s): "
	    "not accepting for %d ms", strerror(errno),
	    SERVER_ACCEPT_PAUSE_MS);
	for (i = 0; i < srv->nlisteners; i++)
		if (srv->listeners[i].fd != -1 &&
		    loop_fd_set(&srv->loop, srv->listeners[i].fd, 0) != 0)
			oplog_write(&srv->oplog, LOG_ERR, "listener: %s",
			    loop_error(&srv->loop));
	if (loop_timer_arm(&srv->loop, &srv->resume,
	    SERVER_ACCEPT_PAUSE_MS) != 0)
		on_resume(&srv->loop, srv);
}

static void
on_resume(struct loop *L, void *arg)
{
	struct server	*srv = arg;
	size_t		 i;

	for (i = 0; i < srv->nlisteners; i++)
		if (srv->listeners[i].fd != -1 &&
		    loop_fd_set(L, srv->listeners[i].fd, LOOP_READ) != 0)
			oplog_write(&srv->oplog, LOG_ERR, "listener: %s",
			    loop_error(L));
}

static void
on_grace(struct loop *L, void *arg)
{
	struct server	*srv = arg;

	(void)L;
	session_shutdown_all(&srv->sessions, 1);
}

static void
on_signal(struct loop *L, int signo, void *arg)
{
	struct server	*srv = arg;
	size_t		 i;
	pid_t		 pid;
	int		 status;

	switch (signo) {
	case SIGHUP: {
		char why[LIM_ERRMSG + 64];
		(void)server_reload(srv, why, sizeof(why));
		break;
	}
	case SIGTERM:
	case SIGINT:
		if (srv->stopping) {
			session_shutdown_all(&srv->sessions, 1);
			break;
		}
		oplog_write(&srv->oplog, LOG_INFO, "stopping: %u session%s "
		    "open", srv->sessions.nsessions,
		    srv->sessions.nsessions == 1 ? "" : "s");
		srv->stopping = 1;
		for (i = 0; i < srv->nlisteners; i++) {
			loop_fd_del(L, srv->listeners[i].fd);
			close(srv->listeners[i].fd);
			srv->listeners[i].fd = -1;
		}
		queue_stop(&srv->queue);
		relay_stop(&srv->relay);
		session_shutdown_all(&srv->sessions, 0);
		if (srv->sessions.nsessions == 0)
			loop_stop(L);
		else if (loop_timer_arm(L, &srv->grace, SERVER_GRACE_MS) != 0)
			session_shutdown_all(&srv->sessions, 1);
		break;
	case SIGCHLD:
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			pwcheck_child_reaped(&srv->verify, pid);
			oplog_write(&srv->oplog, LOG_WARNING, "verifier "
			    "process %d ended", (int)pid);
		}
		break;
	default:
		break;
	}
}

/* ---- the hooks between the modules ---------------------------------- */

/* A session committed a message: the queue delivers it. */
static void
on_committed(void *arg, const char *id)
{
	struct server	*srv = arg;

	queue_committed(&srv->queue, id);
}

/* Stopping, and the last session ended: the loop may end. */
static void
on_drained(void *arg)
{
	struct server	*srv = arg;

	loop_stop(&srv->loop);
}

/* The queue leaves a message alone while an outbound job holds it. */
static int
on_busy(void *arg, const char *id)
{
	struct server	*srv = arg;

	return relay_busy(&srv->relay, id);
}

/*
 * The queue found recipients for other hosts: the relay takes them, or
 * has no job free, and the message waits first in the queue's line.
 */
static void
on_route(void *arg, const char *id)
{
	struct server	*srv = arg;

	if (!relay_start(&srv->relay, id) && srv->relay.starved)
		queue_wait(&srv->queue, id);
}

/* The relay has a free job again: the queue hands out what is due. */
static void
on_room(void *arg)
{
	struct server	*srv = arg;

	if (!srv->stopping)
		queue_room(&srv->queue);
}

/* The relay deferred a message to `when', or it is gone (0). */
static void
on_retry_at(void *arg, const char *id, int64_t when)
{
	struct server	*srv = arg;

	queue_retry_at(&srv->queue, id, when);
}

/* ---- the server's life ----------------------------------------------- */

int
server_init(struct server *srv, int foreground, int verbose, char *err,
    size_t errlen)
{
	memset(srv, 0, sizeof(*srv));
	srv->log.fd = -1;
	srv->ctl.fd = -1;
	srv->spool.root = srv->spool.tmp = srv->spool.queue = -1;
	srv->spool.corrupt = srv->spool.hold = srv->spool.state = -1;
	srv->oplog.name = "bastiond";
	srv->oplog.foreground = foreground;
	srv->oplog.verbose = verbose;
	if (!foreground)
		openlog("bastiond", LOG_PID | LOG_NDELAY, LOG_MAIL);
	if (sodium_init() < 0) {
		snprintf(err, errlen, "cannot initialise libsodium");
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int
server_load(struct server *srv, const char *tablepath, const char *keypath,
    char *err, size_t errlen)
{
	char	 path[PATH_MAX], lerr[LIM_ERRMSG];

	/* Everything relative is relative to the table's folder. */
	if (realpath(tablepath, path) == NULL) {
		snprintf(err, errlen, "%s: %s", tablepath, strerror(errno));
		return -1;
	}
	if ((srv->table_path = strdup(path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(srv->base, sizeof(srv->base), "%s", dirname(path));
	/* The host name a table that names none goes by, decided once. */
	if (gethostname(srv->hostname, sizeof(srv->hostname) - 1) != 0)
		snprintf(srv->hostname, sizeof(srv->hostname), "localhost");
	if ((srv->table = table_load(srv->table_path, srv->hostname, lerr,
	    sizeof(lerr))) == NULL) {
		snprintf(err, errlen, "%s: %s", tablepath, lerr);
		return -1;
	}
	if (keypath != NULL && seal_key_load(keypath, &srv->key, err,
	    errlen) != 0)
		return -1;
	/*
	 * Every sealed secret opens now, or the daemon does not start: a
	 * key that cannot open a route's password would otherwise only
	 * show as mail deferred on that route until it bounces, days on.
	 */
	if (ptab_open_secrets(&srv->table->t, srv->key, lerr,
	    sizeof(lerr)) != 0) {
		snprintf(err, errlen, "%s: %s", tablepath, lerr);
		return -1;
	}
	if (creds_load(srv, &srv->creds, err, errlen) != 0 ||
	    client_creds_load(srv, &srv->client_creds, err, errlen) != 0)
		return -1;
	return 0;
}

void
server_describe(const struct server *srv, const char *name, FILE *fp)
{
	const struct ptab	*t = &srv->table->t;

	fprintf(fp, "bastiond: table %s (%s): %u listener%s, %u rules, "
	    "%u users%s%s\n", name, t->sum, t->nlisteners,
	    t->nlisteners == 1 ? "" : "s", t->nrules, t->nusers,
	    srv->creds ? ", certificate " : "",
	    srv->creds ? tls_server_creds_describe(srv->creds) : "");
}

/*
 * The `run as' account's ids, if there is one to switch to (root with
 * a `run as'): 1, else 0 with both -1.
 */
static int
runas_ids(const struct server *srv, uid_t *uid, gid_t *gid)
{
	const struct ptab	*t = &srv->table->t;
	struct passwd		*pw;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (t->server->runas == 0 || geteuid() != 0 ||
	    (pw = getpwnam(ptab_str(t, t->server->runas))) == NULL)
		return 0;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 1;
}

/*
 * The folders of path (path itself too unless parent_only), as the log
 * and the spool want them: missing ones made, private (0700), and the
 * `run as' account's, which reopens the log by its path after a SIGHUP.
 */
static int
store_mkdirs(const struct server *srv, const char *path, int parent_only,
    char *err, size_t errlen)
{
	char	 dir[PATH_MAX];
	char	*slash;
	uid_t	 uid;
	gid_t	 gid;

	snprintf(dir, sizeof(dir), "%s", path);
	if (parent_only) {
		if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
			return 0;
		*slash = '\0';
	}
	(void)runas_ids(srv, &uid, &gid);
	if (fileio_mkdirs(dir, uid, gid) != 0) {
		snprintf(err, errlen, "cannot create %.200s: %s", dir,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* The spool, and the protocol log if the table (or -f) asks for one. */
static int
store_open(struct server *srv, char *err, size_t errlen)
{
	const struct ptab	*t = &srv->table->t;
	char			 path[PATH_MAX], lerr[LIM_ERRMSG];

	if (t->server->spool == 0) {
		snprintf(err, errlen, "the table has no spool statement");
		return -1;
	}
	if (server_path(srv, ptab_str(t, t->server->spool), path,
	    sizeof(path)) != 0 || store_mkdirs(srv, path, 0, lerr,
	    sizeof(lerr)) != 0 || spool_open(&srv->spool, path, lerr,
	    sizeof(lerr)) != 0) {
		snprintf(err, errlen, "spool %s: %s", path, lerr);
		return -1;
	}
	if (t->server->log != 0) {
		if (server_path(srv, ptab_str(t, t->server->log), path,
		    sizeof(path)) != 0 || store_mkdirs(srv, path, 1, lerr,
		    sizeof(lerr)) != 0 || plog_open(&srv->log, path, lerr,
		    sizeof(lerr)) != 0) {
			snprintf(err, errlen, "log %s: %s", path, lerr);
			return -1;
		}
	} else if (srv->oplog.foreground &&
	    plog_open(&srv->log, NULL, lerr, sizeof(lerr)) != 0) {
		snprintf(err, errlen, "log: %s", lerr);
		return -1;
	}
	return 0;
}

/* The verifier child runs as the `run as` user too. */
static int
verifier_start(struct server *srv, char *err, size_t errlen)
{
	uid_t			 uid;
	gid_t			 gid;
	char			 lerr[LIM_ERRMSG];

	(void)runas_ids(srv, &uid, &gid);
	if (pwcheck_init(&srv->verify, &srv->loop, uid, gid, lerr,
	    sizeof(lerr)) != 0) {
		snprintf(err, errlen, "verifier: %s", lerr);
		return -1;
	}
	return 0;
}

static int
daemonize(char *err, size_t errlen)
{
	pid_t	 pid;
	int	 fd;

	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0)
		_exit(0);
	(void)setsid();
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		(void)dup2(fd, 0);
		(void)dup2(fd, 1);
		(void)dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return 0;
}

/* Give the sessions, the queue and the relay what they use. */
static void
wire(struct server *srv)
{
	struct session_ctx	*sc = &srv->sessions;
	struct queue_env	 qe;
	struct relay_env	 re;
	char			 err[LIM_ERRMSG];

	sc->loop = &srv->loop;
	sc->log = &srv->log;
	sc->oplog = &srv->oplog;
	sc->spool = &srv->spool;
	sc->verify = &srv->verify;
	sc->sasl = &srv->sasl;
	sc->hosts = &srv->hosts;
	sc->table = &srv->table;
	sc->creds = &srv->creds;
	sc->stats = &srv->stats;
	randombytes_buf(&sc->sid_salt, sizeof(sc->sid_salt));
	sc->sid_next = (uint64_t)time(NULL) << 32;
	sc->committed = on_committed;
	sc->accept_pause = accept_pause;
	sc->drained = on_drained;
	sc->arg = srv;

	memset(&qe, 0, sizeof(qe));
	qe.loop = &srv->loop;
	qe.spool = &srv->spool;
	qe.log = &srv->log;
	qe.oplog = &srv->oplog;
	qe.table = &srv->table;
	qe.base = srv->base;
	qe.stats = &srv->stats;
	qe.commit = &srv->commit;
	qe.busy = on_busy;
	qe.route = on_route;
	qe.arg = srv;
	queue_init(&srv->queue, &qe);

	memset(&re, 0, sizeof(re));
	re.loop = &srv->loop;
	re.spool = &srv->spool;
	re.log = &srv->log;
	re.oplog = &srv->oplog;
	re.table = &srv->table;
	re.creds = &srv->client_creds;
	re.key = srv->key;
	re.src4 = &srv->src4;
	re.src6 = &srv->src6;
	re.stats = &srv->stats;
	re.commit = &srv->commit;
	re.bounced = on_committed;
	re.room = on_room;
	re.retry_at = on_retry_at;
	re.arg = srv;
	if (relay_init(&srv->relay, &re, err, sizeof(err)) != 0)
		oplog_write(&srv->oplog, LOG_ERR, "resolver: %s; outbound mail "
		    "waits in the queue", err);
}

int
server_start(struct server *srv, char *err, size_t errlen)
{
	static const int sigs[] = { SIGHUP, SIGTERM, SIGINT, SIGCHLD };
	char		 lerr[LIM_ERRMSG];
	size_t		 i;
	int		 maxfd;

	lerr[0] = '\0';
	raise_nofile(srv, &maxfd);
	if (loop_init(&srv->loop, maxfd, 2 * (size_t)maxfd + 16, lerr,
	    sizeof(lerr)) != 0 || hostcount_init(&srv->hosts,
	    (uint32_t)maxfd) != 0) {
		snprintf(err, errlen, "cannot set up the event loop: %s", lerr);
		return -1;
	}
	if (store_open(srv, err, errlen) != 0 ||
	    listeners_open(srv, err, errlen) != 0 ||
	    server_ctl_open(srv, err, errlen) != 0 ||
	    verifier_start(srv, err, errlen) != 0 ||
	    drop_privileges(srv, err, errlen) != 0)
		return -1;
	if (!srv->oplog.foreground && daemonize(err, errlen) != 0)
		return -1;
	/* After every fork: a child of a threaded process is fragile. */
	if (commit_init(&srv->commit, &srv->loop, SERVER_COMMIT_MAX, lerr,
	    sizeof(lerr)) != 0)
		oplog_write(&srv->oplog, LOG_WARNING, "%s: committing in the "
		    "loop", lerr);
	/* The protocol log's lines, a write per loop turn from now on. */
	plog_buffer(&srv->log, &srv->loop);
	sasl_ctx_init(&srv->sasl);
	loop_timer_init(&srv->grace, on_grace, srv);
	loop_timer_init(&srv->resume, on_resume, srv);
	if (loop_signal_open(&srv->loop, &srv->sig, sigs,
	    sizeof(sigs) / sizeof(sigs[0]), on_signal, srv) != 0) {
		snprintf(err, errlen, "signals: %s", loop_error(&srv->loop));
		return -1;
	}
	for (i = 0; i < srv->nlisteners; i++)
		if (loop_fd_add(&srv->loop, srv->listeners[i].fd, LOOP_READ,
		    on_listener, &srv->listeners[i]) != 0) {
			snprintf(err, errlen, "listener: %s",
			    loop_error(&srv->loop));
			return -1;
		}

	wire(srv);
	srv->started = time(NULL);
	if (server_ctl_start(srv, err, errlen) != 0)
		return -1;
	if (commit_started(&srv->commit))
		srv->sessions.commit = &srv->commit;
	/*
	 * tmp/ is cleaned now, which is cheap; queue/ is the queue's to
	 * read from the loop, names and dates only, so that a long queue
	 * does not keep the listeners waiting (queue.h).
	 */
	if (spool_clean_tmp(&srv->spool, resume_cb, srv, lerr,
	    sizeof(lerr)) != 0)
		oplog_write(&srv->oplog, LOG_ERR, "spool: %s", lerr);
	queue_start(&srv->queue);
	return 0;
}

int
server_run(struct server *srv)
{
	char	 line[128];
	int	 len, rc = 0;

	oplog_write(&srv->oplog, LOG_INFO, "started: table %s, %zu "
	    "listener%s", srv->table->t.sum, srv->nlisteners,
	    srv->nlisteners == 1 ? "" : "s");
	len = snprintf(line, sizeof(line), "started, table %s",
	    srv->table->t.sum);
	plog_write(&srv->log, NULL, "-", "-", "-", PLOG_DECISION, line,
	    (size_t)len);
	if (loop_run(&srv->loop) != 0) {
		oplog_write(&srv->oplog, LOG_ERR, "event loop: %s",
		    loop_error(&srv->loop));
		rc = -1;
	}
	return rc;
}

void
server_free(struct server *srv)
{
	struct commit_stats	 cst;

	/* Stopped: nothing in flight is lost; tmp/ is cleaned at start. */
	commit_free(&srv->commit);
	commit_get_stats(&srv->commit, &cst);
	if (cst.jobs > 0)
		oplog_write(&srv->oplog, LOG_INFO, "commits: %llu in %llu "
		    "batches, %llu folder fsyncs", (unsigned long long)cst.jobs,
		    (unsigned long long)cst.batches,
		    (unsigned long long)cst.dirsyncs);
	queue_stop(&srv->queue);
	relay_free(&srv->relay);
	queue_free(&srv->queue);
	server_ctl_close(srv);
	loop_signal_close(&srv->loop, &srv->sig);
	pwcheck_free(&srv->verify);
	if (srv->key != NULL)
		seal_key_free(srv->key);
	sasl_ctx_clear(&srv->sasl);
	if (srv->creds != NULL)
		tls_server_creds_unref(srv->creds);
	if (srv->client_creds != NULL)
		tls_client_creds_unref(srv->client_creds);
	table_unref(srv->table);
	spool_close(&srv->spool);
	oplog_write(&srv->oplog, LOG_INFO, "stopped");
	plog_write(&srv->log, NULL, "-", "-", "-", PLOG_DECISION, "stopped",
	    7);
	plog_close(&srv->log);
	hostcount_free(&srv->hosts);
	loop_free(&srv->loop);
	free(srv->ctl_failed);
	free((char *)srv->table_path);
}
