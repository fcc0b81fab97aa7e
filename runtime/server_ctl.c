/*
 * server_ctl: bastionctl's commands, answered over the control socket
 * (ctl.h frames the requests and answers).  Here because a command
 * may touch every module: the queue listing reads the spool, flush
 * wakes the queue, hold asks the relay whether a message is out, and
 * reload is the server's own.  The modules below expose what is asked
 * of them; the dispatch is here.
 *
 * Long answers (the queue listing, a message's envelope and headers)
 * are streamed: a struct holds where the listing is, and the ctl
 * module calls back for more as the client reads.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "server.h"

#define SHOW_HEADERS_MAX	(64 * 1024)	/* header bytes shown */
#define JSON_MAX		(4 * CTL_LINE_MAX)
#define STATUS_TURN		64	/* files status counts per piece */

struct qlist {
	struct server		*srv;
	int			 json;
	int			 held;		/* the folder being read */
	DIR			*dir;
	int			 open;		/* m is open */
	struct spool_msg	 m;
	struct spool_rcpt	 r;
	struct spool_state	 st;
	time_t			 now;
	int64_t			 next;		/* 0: now */
	unsigned long		 nmsg;
};

/* bastionctl status, while it counts (queue/, then hold/). */
struct status {
	struct server		*srv;
	DIR			*dir;
	int			 held;		/* the folder being read */
	time_t			 now;
	unsigned long		 msgs[2], rcpts[2], deferred;
};

struct show {
	struct server		*srv;
	int			 phase;		/* 0 envelope, 1 rcpts, 2 ... */
	struct spool_msg	 m;
	struct spool_rcpt	 r;
	uint64_t		 off;		/* body bytes read */
	size_t			 blen;
	char			 buf[CTL_LINE_MAX - 64];
};

struct cmd {
	const char	*verb;
	size_t		 minargs, maxargs;
	void		(*fn)(struct server *, struct ctl_conn *,
			    const struct ctl_req *);
};

static void	on_request(void *, struct ctl_conn *, const struct ctl_req *);
static void	on_refused(void *, const struct ctl_peer *);
static void	audit(struct server *, const struct ctl_conn *, const char *,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
static void	when(int64_t, char *, size_t);
static void	span(int64_t, char *, size_t);
static size_t	json_str(char *, size_t, const char *);
static int	id_arg(struct ctl_conn *, const struct ctl_req *);
static int	busy(struct server *, struct ctl_conn *, const char *);
static int	msg_open(struct server *, struct ctl_conn *, const char *,
		    struct spool_msg *);
static void	cmd_status(struct server *, struct ctl_conn *,
		    const struct ctl_req *);
static void	cmd_queue(struct server *, struct ctl_conn *,
		    const struct ctl_req *);
static void	cmd_show(struct server *, struct ctl_conn *,
		    const struct ctl_req *);
static void	cmd_flush(struct server *, struct ctl_conn *,
		    const struct ctl_req *);
static void	cmd_hold(struct server *, struct ctl_conn *,
		    const struct ctl_req *);
static void	cmd_release(struct server *, struct ctl_conn *,
		    const struct ctl_req *);
static void	cmd_remove(struct server *, struct ctl_conn *,
		    const struct ctl_req *);
static void	cmd_bounce(struct server *, struct ctl_conn *,
		    const struct ctl_req *);
static void	cmd_reload(struct server *, struct ctl_conn *,
		    const struct ctl_req *);
static void	cmd_stats(struct server *, struct ctl_conn *,
		    const struct ctl_req *);
static int	status_more(struct ctl_conn *, void *);
static void	status_free(void *);
static int	qlist_more(struct ctl_conn *, void *);
static void	qlist_free(void *);
static int	show_more(struct ctl_conn *, void *);
static void	show_free(void *);

/* The commands, and how many words each takes after its name. */
static const struct cmd cmds[] = {
	{ "status",	0, 0, cmd_status },
	{ "queue",	0, 1, cmd_queue },
	{ "show",	1, 1, cmd_show },
	{ "flush",	0, 1, cmd_flush },
	{ "hold",	1, 1, cmd_hold },
	{ "release",	1, 1, cmd_release },
	{ "remove",	1, 1, cmd_remove },
	{ "bounce",	1, 1, cmd_bounce },
	{ "reload",	0, 0, cmd_reload },
	{ "stats",	0, 1, cmd_stats },
};

int
server_ctl_open(struct server *srv, char *err, size_t errlen)
{
	const struct ptab	*t = &srv->table->t;
	struct passwd		*pw;
	char			 path[PATH_MAX];
	uid_t			 owner = (uid_t)-1, allow = geteuid();
	gid_t			 group = (gid_t)-1;
	int			 n;

	if (t->server->control != 0) {
		const char *p = ptab_str(t, t->server->control);
		n = p[0] == '/' ? snprintf(path, sizeof(path), "%s", p) :
		    snprintf(path, sizeof(path), "%s/%s", srv->base, p);
	} else {
		const char *sp = ptab_str(t, t->server->spool);
		n = sp[0] == '/' ? snprintf(path, sizeof(path),
		    "%s/control.sock", sp) : snprintf(path, sizeof(path),
		    "%s/%s/control.sock", srv->base, sp);
	}
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errlen, "control socket: the path is too long");
		return -1;
	}
	/* Made as root, it must be the `run as' user's to answer. */
	if (t->server->runas != 0 && geteuid() == 0 &&
	    (pw = getpwnam(ptab_str(t, t->server->runas))) != NULL) {
		owner = allow = pw->pw_uid;
		group = pw->pw_gid;
	}
	/* Its missing folders are the `run as' user's, as the spool's. */
	if (t->server->control != 0) {
		char dir[PATH_MAX], *slash;

		snprintf(dir, sizeof(dir), "%s", path);
		if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
			*slash = '\0';
			if (fileio_mkdirs(dir, owner, group) != 0) {
				snprintf(err, errlen, "control socket %s: "
				    "cannot create its folders: %s", path,
				    strerror(errno));
				return -1;
			}
		}
	}
	return ctl_open(&srv->ctl, path, owner, group, allow, err, errlen);
}

int
server_ctl_start(struct server *srv, char *err, size_t errlen)
{
	srv->ctl.request = on_request;
	srv->ctl.refused = on_refused;
	srv->ctl.arg = srv;
	if (ctl_start(&srv->ctl, &srv->loop, &srv->oplog) != 0) {
		snprintf(err, errlen, "control socket: %s",
		    loop_error(&srv->loop));
		return -1;
	}
	return 0;
}

void
server_ctl_close(struct server *srv)
{
	ctl_close(&srv->ctl);
}

/* A protocol log line for a command that changed something: who. */
static void
audit(struct server *srv, const struct ctl_conn *c, const char *id,
    const char *fmt, ...)
{
	char	 text[512], who[64];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	snprintf(who, sizeof(who), "uid %u pid %d", (unsigned)c->peer.uid,
	    (int)c->peer.pid);
	(void)plog_write(&srv->log, NULL, id ? id : "-", "control", who,
	    PLOG_DECISION, text, strlen(text));
	oplog_write(&srv->oplog, LOG_NOTICE, "control: %s%s%s (%s)", id ?
	    id : "", id ? ": " : "", text, who);
}

static void
on_refused(void *arg, const struct ctl_peer *p)
{
	struct server	*srv = arg;
	char		 who[64];
	static const char text[] = "control refused: neither root nor the "
	    "run as user";

	snprintf(who, sizeof(who), "uid %d pid %d", (int)p->uid, (int)p->pid);
	oplog_write(&srv->oplog, LOG_WARNING, "control: refused %s: neither "
	    "root nor the `run as' user", who);
	(void)plog_write(&srv->log, NULL, "-", "control", who, PLOG_DECISION,
	    text, sizeof(text) - 1);
}

static void
on_request(void *arg, struct ctl_conn *c, const struct ctl_req *req)
{
	struct server	*srv = arg;
	size_t		 i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmds[i].verb, req->verb) != 0)
			continue;
		if (req->nargs < cmds[i].minargs ||
		    req->nargs > cmds[i].maxargs) {
			ctl_end(c, 0, "%s: wrong number of arguments",
			    req->verb);
			return;
		}
		cmds[i].fn(srv, c, req);
		return;
	}
	ctl_end(c, 0, "unknown command \"%.64s\"", req->verb);
}

/* ---- helpers ----------------------------------------------------------- */

static void
when(int64_t t, char *buf, size_t len)
{
	struct tm	 tm;
	time_t		 tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%" PRId64, t);
}

/* A duration as an administrator reads it: 45s, 12m, 3h05m, 2d04h. */
static void
span(int64_t s, char *buf, size_t len)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(buf, len, "%" PRId64 "s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", s / 60,
		    s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", s / 3600,
		    s % 3600 / 60);
	else
		snprintf(buf, len, "%" PRId64 "d%02" PRId64 "h", s / 86400,
		    s % 86400 / 3600);
}

/* s as a JSON string, quotes included, cut to fit.  Returns its length. */
static size_t
json_str(char *out, size_t outsz, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t	 n = 0;

	if (outsz < 3)
		return 0;
	out[n++] = '"';
	for (; *s != '\0' && n + 8 < outsz; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			out[n++] = '\\';
			out[n++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			memcpy(out + n, "\\u00", 4);
			out[n + 4] = hex[ch >> 4];
			out[n + 5] = hex[ch & 15];
			n += 6;
		} else
			out[n++] = (char)ch;
	}
	out[n++] = '"';
	out[n] = '\0';
	return n;
}

static int
id_arg(struct ctl_conn *c, const struct ctl_req *req)
{
	if (!spool_id_valid(req->arg[0])) {
		ctl_end(c, 0, "\"%.64s\" is not a queue id", req->arg[0]);
		return -1;
	}
	return 0;
}

/*
 * A message out with an outbound session, or in a Maildir delivery, is
 * left alone until it is back.
 */
static int
busy(struct server *srv, struct ctl_conn *c, const char *id)
{
	if (!relay_busy(&srv->relay, id) &&
	    !local_busy(&srv->queue.local, id))
		return 0;
	ctl_end(c, 0, "%s is being delivered now; try again in a moment", id);
	return 1;
}

/* Open id from queue/ or hold/.  Returns 1, or 0 with the answer ended. */
static int
msg_open(struct server *srv, struct ctl_conn *c, const char *id,
    struct spool_msg *m)
{
	char	 err[LIM_ERRMSG];
	int	 rc;

	rc = spool_msg_open(&srv->spool, m, id, err, sizeof(err));
	if (rc == 0)
		rc = spool_msg_open_held(&srv->spool, m, id, err,
		    sizeof(err));
	if (rc == 1)
		return 1;
	if (rc == 0)
		ctl_end(c, 0, "%s: no such message", id);
	else
		ctl_end(c, 0, "%s", err);
	return 0;
}

/* ---- status ------------------------------------------------------------ */

/*
 * Count the messages in queue/ and hold/ and their pending recipients,
 * STATUS_TURN files per call of the stream: a queue of a hundred
 * thousand is read over many turns of the loop, between the sessions'
 * work, rather than in one.
 */
static int
status_more(struct ctl_conn *c, void *arg)
{
	struct status	*st = arg;
	struct server	*srv = st->srv;
	struct spool_msg m;
	struct spool_rcpt r;
	struct dirent	*de;
	struct stat	 sb;
	char		 err[LIM_ERRMSG], at[32];
	unsigned long	 n;
	unsigned	 k;
	int		 fd, rc;

	for (k = 0; k < STATUS_TURN && st->dir != NULL; k++) {
		if ((de = readdir(st->dir)) == NULL) {
			closedir(st->dir);
			st->dir = NULL;
			if (st->held++)
				break;
			fd = openat(srv->spool.hold, ".", O_RDONLY |
			    O_DIRECTORY | O_CLOEXEC);
			if (fd != -1 && (st->dir = fdopendir(fd)) == NULL)
				close(fd);
			continue;
		}
		if (!spool_id_valid(de->d_name))
			continue;
		rc = st->held ? spool_msg_open_held(&srv->spool, &m,
		    de->d_name, err, sizeof(err)) : spool_msg_open(
		    &srv->spool, &m, de->d_name, err, sizeof(err));
		if (rc != 1)
			continue;
		st->msgs[st->held]++;
		n = 0;
		memset(&r, 0, sizeof(r));
		while (spool_rcpt_next(&m, &r, err, sizeof(err)) == 1)
			if (r.status == SPOOL_PENDING)
				n++;
		st->rcpts[st->held] += n;
		if (!st->held && fstat(m.fd, &sb) == 0 && sb.st_mtime > st->now)
			st->deferred += n;
		spool_msg_close(&m);
	}
	if (st->dir != NULL)
		return 1;
	ctl_line(c, "queue %lu message%s, %lu recipient%s, %lu deferred, "
	    "%lu held", st->msgs[0] + st->msgs[1], st->msgs[0] + st->msgs[1] ==
	    1 ? "" : "s", st->rcpts[0] + st->rcpts[1], st->rcpts[0] +
	    st->rcpts[1] == 1 ? "" : "s", st->deferred, st->msgs[1]);
	if (srv->reloaded == 0)
		ctl_line(c, "reload none since the start");
	else {
		when(srv->reloaded_at, at, sizeof(at));
		ctl_line(c, "reload %s at %s: %s", srv->reloaded > 0 ?
		    "accepted" : "refused", at, srv->reload_why);
	}
	ctl_end(c, 1, "%s", "");
	return 0;
}

static void
status_free(void *arg)
{
	struct status	*st = arg;

	if (st->dir != NULL)
		closedir(st->dir);
	free(st);
}

static void
cmd_status(struct server *srv, struct ctl_conn *c, const struct ctl_req *req)
{
	struct status	*st;
	char		 up[32];
	size_t		 i;
	int		 fd;

	(void)req;
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		ctl_end(c, 0, "out of memory");
		return;
	}
	st->srv = srv;
	st->now = time(NULL);
	span(time(NULL) - srv->started, up, sizeof(up));
	ctl_line(c, "table %s %s", srv->table->t.sum, srv->table_path);
	ctl_line(c, "uptime %s (pid %d)", up, (int)getpid());
	for (i = 0; i < srv->nlisteners; i++)
		ctl_line(c, "listener %s sessions %u", srv->listeners[i].local,
		    srv->listeners[i].nopen);
	/* An unreadable queue/ counts as empty, as hold/ does. */
	fd = openat(srv->spool.queue, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd != -1 && (st->dir = fdopendir(fd)) == NULL)
		close(fd);
	if (st->dir == NULL)
		st->held = 1;
	if (st->held) {
		fd = openat(srv->spool.hold, ".", O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
		if (fd != -1 && (st->dir = fdopendir(fd)) == NULL)
			close(fd);
	}
	ctl_stream(c, status_more, status_free, st);
}

/* ---- queue ------------------------------------------------------------- */

static void
cmd_queue(struct server *srv, struct ctl_conn *c, const struct ctl_req *req)
{
	struct qlist	*q;
	int		 fd;

	if (req->nargs == 1 && strcmp(req->arg[0], "-j") != 0) {
		ctl_end(c, 0, "queue: unknown option \"%.32s\"", req->arg[0]);
		return;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL) {
		ctl_end(c, 0, "out of memory");
		return;
	}
	q->srv = srv;
	q->json = req->nargs == 1;
	q->now = time(NULL);
	q->m.fd = -1;
	fd = openat(srv->spool.queue, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (q->dir = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		ctl_end(c, 0, "cannot read the queue: %s", strerror(errno));
		free(q);
		return;
	}
	ctl_stream(c, qlist_more, qlist_free, q);
}

static void
qlist_free(void *arg)
{
	struct qlist	*q = arg;

	if (q->open) {
		spool_state_close(&q->st);
		spool_msg_close(&q->m);
	}
	if (q->dir != NULL)
		closedir(q->dir);
	free(q);
}

/* The next message of queue/, then of hold/.  Returns 1, or 0 at the end. */
static int
qlist_next(struct qlist *q, struct ctl_conn *c)
{
	struct server	*srv = q->srv;
	struct dirent	*de;
	struct stat	 st;
	char		 err[LIM_ERRMSG], age[32];
	int		 fd, rc;

	for (;;) {
		if (q->dir == NULL)
			return 0;
		if ((de = readdir(q->dir)) == NULL) {
			closedir(q->dir);
			q->dir = NULL;
			if (q->held)
				return 0;
			q->held = 1;
			fd = openat(srv->spool.hold, ".", O_RDONLY |
			    O_DIRECTORY | O_CLOEXEC);
			if (fd != -1 && (q->dir = fdopendir(fd)) == NULL)
				close(fd);
			continue;
		}
		if (!spool_id_valid(de->d_name))
			continue;
		rc = q->held ? spool_msg_open_held(&srv->spool, &q->m,
		    de->d_name, err, sizeof(err)) : spool_msg_open(
		    &srv->spool, &q->m, de->d_name, err, sizeof(err));
		if (rc == 1)
			break;	/* else gone meanwhile, or unreadable */
	}
	q->open = 1;
	q->nmsg++;
	memset(&q->r, 0, sizeof(q->r));
	(void)spool_state_open(&srv->spool, q->m.id, &q->st);
	q->next = 0;
	if (!q->held && fstat(q->m.fd, &st) == 0 && st.st_mtime > q->now)
		q->next = st.st_mtime;
	if (!q->json) {
		span(q->now - q->m.received, age, sizeof(age));
		ctl_line(c, "%s %s %" PRIu64 " bytes <%s>%s attempts %u%s",
		    q->m.id, age, q->m.body_len, q->m.sender,
		    q->m.auth[0] ? " auth" : "", q->st.attempts,
		    q->held ? " held" : "");
	}
	return 1;
}

/* One pending recipient's line. */
static void
qlist_rcpt(struct qlist *q, struct ctl_conn *c)
{
	const char	*state;
	char		 next[32], jsender[SPOOL_ADDR_MAX * 6 + 3];
	char		 jrcpt[SPOOL_ADDR_MAX * 6 + 3];
	char		 jreply[SPOOL_STATE_TEXT_MAX * 6 + 3];
	int		 reply;

	reply = spool_state_reply(&q->st, q->r.index);
	state = q->held ? "held" : q->st.attempts > 0 ? "deferred" : "queued";
	if (q->held)
		snprintf(next, sizeof(next), "-");
	else if (q->next == 0)
		snprintf(next, sizeof(next), "now");
	else
		when(q->next, next, sizeof(next));
	if (!q->json) {
		ctl_line(c, "    <%s> %s, next %s%s%s", q->r.addr, state, next,
		    reply ? ", last: " : "", reply ? q->st.text : "");
		return;
	}
	json_str(jsender, sizeof(jsender), q->m.sender);
	json_str(jrcpt, sizeof(jrcpt), q->r.addr);
	if (reply)
		json_str(jreply, sizeof(jreply), q->st.text);
	ctl_line(c, "{\"id\":\"%s\",\"age\":%" PRId64 ",\"size\":%" PRIu64
	    ",\"sender\":%s,\"recipient\":%s,\"state\":\"%s\","
	    "\"attempts\":%u,\"last_reply\":%s,\"next_attempt\":%s%s%s}",
	    q->m.id, (int64_t)q->now - q->m.received, q->m.body_len, jsender,
	    jrcpt, state, q->st.attempts, reply ? jreply : "null",
	    q->held ? "" : "\"", q->held ? "null" : next, q->held ? "" : "\"");
}

static int
qlist_more(struct ctl_conn *c, void *arg)
{
	struct qlist	*q = arg;
	char		 err[LIM_ERRMSG];
	int		 rc;

	while (ctl_room(c) > 0) {
		if (!q->open) {
			if (qlist_next(q, c))
				continue;
			ctl_end(c, 1, "%lu message%s", q->nmsg,
			    q->nmsg == 1 ? "" : "s");
			return 0;
		}
		rc = spool_rcpt_next(&q->m, &q->r, err, sizeof(err));
		if (rc != 1) {
			spool_state_close(&q->st);
			spool_msg_close(&q->m);
			q->open = 0;
			continue;
		}
		if (q->r.status == SPOOL_PENDING)
			qlist_rcpt(q, c);
	}
	return 1;
}

/* ---- show -------------------------------------------------------------- */

static void
cmd_show(struct server *srv, struct ctl_conn *c, const struct ctl_req *req)
{
	struct show	*s;

	if (id_arg(c, req) != 0)
		return;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		ctl_end(c, 0, "out of memory");
		return;
	}
	s->srv = srv;
	if (!msg_open(srv, c, req->arg[0], &s->m)) {
		free(s);
		return;
	}
	ctl_stream(c, show_more, show_free, s);
}

static void
show_free(void *arg)
{
	struct show	*s = arg;

	spool_msg_close(&s->m);
	free(s);
}

static int
show_more(struct ctl_conn *c, void *arg)
{
	struct show	*s = arg;
	char		 at[32], err[LIM_ERRMSG], *lf;
	ssize_t		 n;

	if (s->phase == 0) {
		when(s->m.received, at, sizeof(at));
		ctl_line(c, "id: %s%s", s->m.id, s->m.held ? " (held)" : "");
		ctl_line(c, "received: %s from %s (%s)", at, s->m.client,
		    s->m.helo);
		if (s->m.auth[0] != '\0')
			ctl_line(c, "authenticated: %s", s->m.auth);
		ctl_line(c, "sender: <%s>%s%s", s->m.sender,
		    s->m.params[0] ? " " : "", s->m.params);
		ctl_line(c, "size: %" PRIu64 " bytes", s->m.body_len);
		s->phase = 1;
		return 1;
	}
	while (s->phase == 1 && ctl_room(c) > 0) {
		if (spool_rcpt_next(&s->m, &s->r, err, sizeof(err)) != 1) {
			ctl_line(c, "%s", "");
			s->phase = 2;
			break;
		}
		ctl_line(c, "recipient: <%s> %s", s->r.addr,
		    s->r.status == SPOOL_PENDING ? "pending" :
		    s->r.status == SPOOL_DELIVERED ? "delivered" : "failed");
	}
	/* The header section: up to the first empty line. */
	while (s->phase == 2 && ctl_room(c) > 0) {
		if ((lf = memchr(s->buf, '\n', s->blen)) != NULL ||
		    s->blen == sizeof(s->buf)) {
			size_t len = lf ? (size_t)(lf - s->buf) : s->blen;
			size_t eat = lf ? len + 1 : len;
			if (len > 0 && s->buf[len - 1] == '\r')
				len--;
			if (len == 0 && lf != NULL) {
				s->phase = 3;
				break;
			}
			ctl_line(c, "%.*s", (int)len, s->buf);
			memmove(s->buf, s->buf + eat, s->blen - eat);
			s->blen -= eat;
			continue;
		}
		if (s->off >= SHOW_HEADERS_MAX) {
			ctl_line(c, "[... headers cut at %d bytes]",
			    SHOW_HEADERS_MAX);
			s->phase = 3;
			break;
		}
		n = spool_body_read(&s->m, s->off, s->buf + s->blen,
		    sizeof(s->buf) - s->blen);
		if (n <= 0) {
			if (s->blen > 0)
				ctl_line(c, "%.*s", (int)s->blen, s->buf);
			s->phase = 3;
			break;
		}
		s->off += (uint64_t)n;
		s->blen += (size_t)n;
	}
	if (s->phase == 3) {
		ctl_end(c, 1, "%s", "");
		return 0;
	}
	return 1;
}

/* ---- flush, hold, release, remove, bounce ------------------------------ */

static void
cmd_flush(struct server *srv, struct ctl_conn *c, const struct ctl_req *req)
{
	struct spool_msg	 m;
	struct dirent		*de;
	struct stat		 st;
	char			 err[LIM_ERRMSG];
	unsigned long		 n = 0;
	time_t			 now = time(NULL);
	DIR			*d;
	int			 fd, rc;

	if (req->nargs == 1) {
		if (id_arg(c, req) != 0)
			return;
		rc = spool_due_now(&srv->spool, req->arg[0]);
		if (rc == 1) {
			queue_committed(&srv->queue, req->arg[0]);
			audit(srv, c, req->arg[0], "flushed");
			ctl_end(c, 1, "%s: due now", req->arg[0]);
			return;
		}
		if (rc == -1)
			ctl_end(c, 0, "%s: %s", req->arg[0], strerror(errno));
		else if (spool_msg_open_held(&srv->spool, &m, req->arg[0],
		    err, sizeof(err)) == 1) {
			spool_msg_close(&m);
			ctl_end(c, 0, "%s is held: release it first",
			    req->arg[0]);
		} else
			ctl_end(c, 0, "%s: no such message", req->arg[0]);
		return;
	}
	/*
	 * Every deferred message: the ones dated ahead of now.
	 * XXX: this dates every file in one turn of the loop (a few
	 * hundred milliseconds for 100,000); the queue could date each as
	 * it hands it out, but until then `queue' and `status' would show
	 * the old dates of messages that are due.
	 */
	fd = openat(srv->spool.queue, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		ctl_end(c, 0, "cannot read the queue: %s", strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (spool_id_valid(de->d_name) && fstatat(srv->spool.queue,
		    de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_mtime > now && spool_due_now(&srv->spool,
		    de->d_name) == 1)
			n++;
	closedir(d);
	(void)queue_flush_all(&srv->queue);
	audit(srv, c, NULL, "flush: %lu deferred message%s due now", n,
	    n == 1 ? "" : "s");
	ctl_end(c, 1, "%lu deferred message%s due now", n, n == 1 ? "" : "s");
}

static void
cmd_hold(struct server *srv, struct ctl_conn *c, const struct ctl_req *req)
{
	struct spool_msg	 m;
	const char		*id = req->arg[0];
	char			 err[LIM_ERRMSG];
	int			 rc;

	if (id_arg(c, req) != 0 || busy(srv, c, id))
		return;
	rc = spool_hold(&srv->spool, id, err, sizeof(err));
	if (rc == 1) {
		queue_forget(&srv->queue, id);
		audit(srv, c, id, "held");
		ctl_end(c, 1, "%s held", id);
	} else if (rc == -1)
		ctl_end(c, 0, "%s", err);
	else if (spool_msg_open_held(&srv->spool, &m, id, err,
	    sizeof(err)) == 1) {
		spool_msg_close(&m);
		ctl_end(c, 1, "%s was held already", id);
	} else
		ctl_end(c, 0, "%s: no such message", id);
}

static void
cmd_release(struct server *srv, struct ctl_conn *c,
    const struct ctl_req *req)
{
	struct spool_msg	 m;
	const char		*id = req->arg[0];
	char			 err[LIM_ERRMSG];
	int			 rc;

	if (id_arg(c, req) != 0)
		return;
	rc = spool_release(&srv->spool, id, err, sizeof(err));
	if (rc == 1) {
		/* Let go means try now, not at a date set before. */
		(void)spool_due_now(&srv->spool, id);
		queue_committed(&srv->queue, id);
		audit(srv, c, id, "released");
		ctl_end(c, 1, "%s released", id);
	} else if (rc == -1)
		ctl_end(c, 0, "%s", err);
	else if (spool_msg_open(&srv->spool, &m, id, err, sizeof(err)) == 1) {
		spool_msg_close(&m);
		ctl_end(c, 0, "%s is not held", id);
	} else
		ctl_end(c, 0, "%s: no such message", id);
}

static void
cmd_remove(struct server *srv, struct ctl_conn *c, const struct ctl_req *req)
{
	struct spool_msg	 m;
	const char		*id = req->arg[0];
	char			 err[LIM_ERRMSG];

	if (id_arg(c, req) != 0 || busy(srv, c, id) ||
	    !msg_open(srv, c, id, &m))
		return;
	if (spool_msg_remove(&srv->spool, &m, err, sizeof(err)) != 0) {
		ctl_end(c, 0, "%s", err);
		return;
	}
	queue_forget(&srv->queue, id);
	audit(srv, c, id, "removed without a bounce, from <%s>", m.sender);
	ctl_end(c, 1, "%s removed", id);
}

static void
cmd_bounce(struct server *srv, struct ctl_conn *c, const struct ctl_req *req)
{
	struct dsn_batch	*b;
	struct spool_msg	 m;
	struct spool_rcpt	 r;
	struct dsn_rcpt		 fr;
	const char		*id = req->arg[0];
	char			 err[LIM_ERRMSG], bid[SPOOL_ID_SIZE];
	unsigned long		 n = 0;
	int			 rc, sent = 0;

	if (id_arg(c, req) != 0 || busy(srv, c, id))
		return;
	if (srv->ctl_failed == NULL &&
	    (srv->ctl_failed = calloc(1, sizeof(*srv->ctl_failed))) == NULL) {
		ctl_end(c, 0, "out of memory");
		return;
	}
	b = srv->ctl_failed;
	dsn_batch_init(b, &srv->spool, &srv->log, &srv->oplog, "control");
	if (!msg_open(srv, c, id, &m))
		return;
	/* A batch at a time: each marks its recipients failed. */
	for (;;) {
		memset(&r, 0, sizeof(r));
		while (b->n < DSN_BATCH_MAX &&
		    (rc = spool_rcpt_next(&m, &r, err, sizeof(err))) == 1) {
			if (r.status != SPOOL_PENDING)
				continue;
			memset(&fr, 0, sizeof(fr));
			fr.addr = r.addr;
			fr.status = "5.0.0";
			fr.reason = "returned to the sender by the "
			    "postmaster of this gateway";
			fr.last_attempt = time(NULL);
			(void)dsn_batch_add(b, r.off, &fr);
		}
		if (b->n == 0)
			break;
		n += b->n;
		rc = dsn_bounce_batch(b, &m, srv->table->hostname, 0, bid);
		if (rc == -1) {
			spool_msg_close(&m);
			ctl_end(c, 0, "%s: the bounce could not be written "
			    "(see the log); nothing was removed", id);
			return;
		}
		if (rc == 1) {
			sent = 1;
			queue_committed(&srv->queue, bid);
		}
	}
	audit(srv, c, id, "bounced %lu recipient%s to <%s>", n,
	    n == 1 ? "" : "s", m.sender);
	if (spool_msg_remove(&srv->spool, &m, err, sizeof(err)) != 0) {
		ctl_end(c, 0, "%s", err);
		return;
	}
	queue_forget(&srv->queue, id);
	ctl_end(c, 1, "%s: %lu recipient%s returned%s", id, n,
	    n == 1 ? "" : "s", sent ? "" : " (null sender: no bounce)");
}

/* ---- reload, stats ----------------------------------------------------- */

static void
cmd_reload(struct server *srv, struct ctl_conn *c, const struct ctl_req *req)
{
	char	 why[LIM_ERRMSG + 64];

	(void)req;
	if (server_reload(srv, why, sizeof(why)) == 0) {
		audit(srv, c, NULL, "reload: table %s", srv->table->t.sum);
		ctl_end(c, 1, "accepted: table %s", srv->table->t.sum);
	} else {
		audit(srv, c, NULL, "reload refused");
		ctl_end(c, 0, "refused: %s; table %s still serves", why,
		    srv->table->t.sum);
	}
}

static void
cmd_stats(struct server *srv, struct ctl_conn *c, const struct ctl_req *req)
{
	static const char *decision[STATS_CONN_N] = {
		"admitted", "denied", "limited", "shutdown" };
	const struct stats	*s = &srv->stats;
	const struct {
		const char	*name, *help, *label, *value;
		uint64_t	 n;
	} m[] = {
		{ "tls_handshakes", "Inbound TLS handshakes.", "result", "ok",
		    s->tls_ok },
		{ "tls_handshakes", NULL, "result", "failed", s->tls_failed },
		{ "auth", "AUTH attempts.", "result", "success", s->auth_ok },
		{ "auth", NULL, "result", "failure", s->auth_failed },
		{ "messages_accepted", "Messages accepted (250 after DATA).",
		    NULL, NULL, s->msg_accepted },
		{ "accepted_bytes", "Bytes of the messages accepted.", NULL,
		    NULL, s->bytes_accepted },
		{ "recipients", "Delivery outcomes, per recipient.",
		    "outcome", "delivered", s->rcpt_delivered },
		{ "recipients", NULL, "outcome", "deferred", s->rcpt_deferred },
		{ "recipients", NULL, "outcome", "bounced", s->rcpt_bounced },
		{ "outbound_sessions", "Outbound SMTP sessions: connections "
		    "opened, and messages sent over a kept one.", "kind",
		    "opened", s->out_sessions_opened },
		{ "outbound_sessions", NULL, "kind", "reused",
		    s->out_sessions_reused },
	};
	uint32_t	 open = srv->sessions.nsessions;
	size_t		 i;
	int		 prom;

	if (req->nargs == 1 && strcmp(req->arg[0], "-p") != 0) {
		ctl_end(c, 0, "stats: unknown option \"%.32s\"", req->arg[0]);
		return;
	}
	prom = req->nargs == 1;
	if (prom) {
		ctl_line(c, "# HELP bastion_connections_total Inbound "
		    "connections, by the decision taken.");
		ctl_line(c, "# TYPE bastion_connections_total counter");
	}
	for (i = 0; i < STATS_CONN_N; i++)
		ctl_line(c, prom ? "bastion_connections_total{decision=\"%s\"}"
		    " %" PRIu64 : "connections %s %" PRIu64, decision[i],
		    s->conn[i]);
	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		if (!prom) {
			ctl_line(c, "%s%s%s %" PRIu64, m[i].name,
			    m[i].value ? " " : "", m[i].value ? m[i].value :
			    "", m[i].n);
			continue;
		}
		if (m[i].help != NULL) {
			ctl_line(c, "# HELP bastion_%s_total %s", m[i].name,
			    m[i].help);
			ctl_line(c, "# TYPE bastion_%s_total counter",
			    m[i].name);
		}
		if (m[i].label != NULL)
			ctl_line(c, "bastion_%s_total{%s=\"%s\"} %" PRIu64,
			    m[i].name, m[i].label, m[i].value, m[i].n);
		else
			ctl_line(c, "bastion_%s_total %" PRIu64, m[i].name,
			    m[i].n);
	}
	if (prom) {
		ctl_line(c, "# HELP bastion_sessions_open Inbound sessions "
		    "open now.");
		ctl_line(c, "# TYPE bastion_sessions_open gauge");
		ctl_line(c, "bastion_sessions_open %u", open);
		ctl_line(c, "# HELP bastion_start_time_seconds When bastiond "
		    "started, in seconds since the epoch.");
		ctl_line(c, "# TYPE bastion_start_time_seconds gauge");
		ctl_line(c, "bastion_start_time_seconds %lld",
		    (long long)srv->started);
	} else {
		ctl_line(c, "sessions_open %u", open);
		ctl_line(c, "uptime_seconds %lld",
		    (long long)(time(NULL) - srv->started));
	}
	ctl_end(c, 1, "%s", "");
}
