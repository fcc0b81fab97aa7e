/*
 * sema: the semantic pass.  It gives the parser's tree its meaning:
 * values are converted and range-checked, list files are read, names
 * are resolved, and the policy as a whole is checked for the mistakes
 * an administrator can make (an open relay, `require auth` with no
 * user, TLS with no certificate, credentials sent in clear, ...).
 *
 * Each check reports what it finds and the pass goes on, so that one
 * run shows every mistake; a statement with an error is left out of
 * the resolved policy, the rest is kept, so that the emitter can still
 * find prefix conflicts among the good rules.
 *
 * This file walks the statements, one at a time, and reads list files;
 * the checks of single values are in sema_values.c, those of the policy
 * as a whole in sema_policy.c (sema_int.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "bastion_limits.h"
#include "diag.h"
#include "fileio.h"
#include "grammar.h"
#include "ptab.h"
#include "seal.h"
#include "sema.h"
#include "sema_int.h"
#include "verifier.h"

struct sema_setting {
	enum ast_kind	 kind;
	int		 set;		/* enum ptab_setting */
	const char	*name;
};

static const struct sema_setting sema_settings[] = {
	{ AST_HOSTNAME,	PTAB_SET_HOSTNAME,	"hostname" },
	{ AST_CERT,	PTAB_SET_CERT,		"tls certificate" },
	{ AST_TRUST,	PTAB_SET_TRUST,		"tls trust" },
	{ AST_SPOOL,	PTAB_SET_SPOOL,		"spool" },
	{ AST_LOG,	PTAB_SET_LOG,		"log" },
	{ AST_RUNAS,	PTAB_SET_RUNAS,		"run as" },
	{ AST_MSGSIZE,	PTAB_SET_MSGSIZE,	"limit message-size" },
	{ AST_RCPTS,	PTAB_SET_RCPTS,		"limit recipients" },
	{ AST_CONNS,	PTAB_SET_CONNS,	"limit connections" },
	{ AST_AUTHFAIL,	PTAB_SET_AUTHFAIL, "limit auth-failures" },
	{ AST_TO_COMMAND, PTAB_SET_TO_COMMAND,	"timeout command" },
	{ AST_TO_DATA,	PTAB_SET_TO_DATA,	"timeout data" },
	{ AST_TO_CONNECT, PTAB_SET_TO_CONNECT,	"timeout connect" },
	{ AST_QUEUE,	PTAB_SET_QUEUE,		"queue lifetime" },
	{ AST_CONTROL,	PTAB_SET_CONTROL,	"control" },
};

static const char *const sema_tls_names[] = {
	"none", "opportunistic", "required", "verify"
};

static const char *const sema_mech_names[] = {
	"plain", "login", "scram-sha-256"
};
static const uint8_t sema_mech_values[] = {
	PTAB_MECH_PLAIN, PTAB_MECH_LOGIN, PTAB_MECH_SCRAM_SHA_256
};

static void	sema_server(struct sema *, struct ast_node *);
static void	sema_setting(struct sema *, struct ast_node *);
static void	sema_listen(struct sema *, struct ast_node *);
static int	sema_effect(struct sema *, struct ast_node *,
		    struct sema_rule *, int);
static void	sema_default(struct sema *, struct ast_node *);
static void	sema_host(struct sema *, struct ast_node *);
static void	sema_list(struct sema *, struct ast_node *);
static void	sema_listfile(struct sema *, struct sema_list *,
		    const struct ast_word *);
static int	sema_listfile_begin(struct sema *, void *, size_t);
static int	sema_listfile_entry(struct sema *, void *, int, const char *,
		    size_t, const struct srcloc *);
static void	sema_mechs(struct sema *, struct ast_node *);
static void	sema_user(struct sema *, struct ast_node *);
static void	sema_accept(struct sema *, struct ast_node *);
static void	sema_outbound(struct sema *, struct ast_node *);

/* ---- Statements --------------------------------------------------------- */

static void
sema_server(struct sema *s, struct ast_node *n)
{
	struct ast_node	*c;

	if (!sema_once(s, &s->server_node, n, "server"))
		return;
	for (c = n->sub; c != NULL; c = c->next) {
		if (c->kind == AST_LISTEN)
			sema_listen(s, c);
		else
			sema_setting(s, c);
	}
}

static void
sema_setting(struct sema *s, struct ast_node *n)
{
	struct ptab_server_in	*sv = &s->server;
	const struct sema_setting *st = NULL;
	const char		*p, *q;
	uint64_t		 size;
	uint32_t		 a, b;
	size_t			 i;

	for (i = 0; i < sizeof(sema_settings) / sizeof(sema_settings[0]);
	    i++)
		if (sema_settings[i].kind == n->kind)
			st = &sema_settings[i];
	if (st == NULL)
		return;
	if (!sema_once(s, &s->set_node[st->set], n, st->name))
		return;
	switch (n->kind) {
	case AST_HOSTNAME:
		if ((p = sema_domain(s, n->arg[0], 0, "hostname")) == NULL)
			return;
		sv->hostname = p;
		break;
	case AST_CERT:
		p = sema_path(s, n->arg[0], "the certificate file");
		q = sema_path(s, n->arg[1], "the key file");
		if (p == NULL || q == NULL)
			return;
		sv->cert = p;
		sv->key = q;
		break;
	case AST_TRUST:
		if ((p = sema_path(s, n->arg[0], "the trust file")) == NULL)
			return;
		sv->trust = p;
		break;
	case AST_SPOOL:
		if ((p = sema_path(s, n->arg[0], "the spool")) == NULL)
			return;
		sv->spool = p;
		break;
	case AST_LOG:
		if ((p = sema_path(s, n->arg[0], "the log file")) == NULL)
			return;
		sv->log = p;
		break;
	case AST_CONTROL:
		if ((p = sema_path(s, n->arg[0], "the control socket")) ==
		    NULL)
			return;
		sv->control = p;
		break;
	case AST_RUNAS:
		if ((p = sema_path(s, n->arg[0], "the user to run as")) ==
		    NULL)
			return;
		sv->runas = p;
		break;
	case AST_MSGSIZE:
		if (sema_size(s, n->arg[0], LIM_MSGSIZE_MIN,
		    LIM_MSGSIZE_MAX, &size) == -1)
			return;
		sv->max_msgsize = size;
		break;
	case AST_RCPTS:
		if (sema_u32(s, n->arg[0], "the recipient limit",
		    LIM_RCPTS_MIN, LIM_RCPTS_MAX, &a) == -1)
			return;
		sv->max_rcpts = a;
		break;
	case AST_CONNS:
		if (sema_u32(s, n->arg[0], "the connection limit",
		    LIM_CONNS_MIN, LIM_CONNS_MAX, &a) == -1)
			return;
		b = a < PTAB_DEF_CONNS_HOST ? a : PTAB_DEF_CONNS_HOST;
		if (n->arg[1] != NULL) {
			if (sema_u32(s, n->arg[1], "the per-host limit",
			    LIM_CONNS_HOST_MIN, LIM_CONNS_HOST_MAX, &b) == -1)
				return;
			if (b > a)
				sema_warn(s, &n->arg[1]->loc, "the per-host "
				    "limit %lu is above the connection limit "
				    "%lu", (unsigned long)b, (unsigned long)a);
		}
		sv->max_conns = a;
		sv->max_conns_host = b;
		break;
	case AST_AUTHFAIL:
		if (sema_u32(s, n->arg[0], "the auth-failure limit",
		    LIM_AUTHFAIL_MIN, LIM_AUTHFAIL_MAX, &a) == -1)
			return;
		sv->max_authfail = a;
		break;
	case AST_TO_COMMAND:
	case AST_TO_DATA:
	case AST_TO_CONNECT:
		if (sema_duration(s, n->arg[0], LIM_TIMEOUT_MIN,
		    LIM_TIMEOUT_MAX, &a) == -1)
			return;
		if (n->kind == AST_TO_COMMAND)
			sv->to_command = a;
		else if (n->kind == AST_TO_DATA)
			sv->to_data = a;
		else
			sv->to_connect = a;
		break;
	case AST_QUEUE:
		if (sema_duration(s, n->arg[0], LIM_LIFETIME_MIN,
		    LIM_LIFETIME_MAX, &a) == -1)
			return;
		b = PTAB_DEF_RETRY;
		if (n->arg[1] != NULL &&
		    sema_duration(s, n->arg[1], LIM_RETRY_MIN, LIM_RETRY_MAX,
		    &b) == -1)
			return;
		sv->lifetime = a;
		sv->retry = b;
		break;
	default:
		return;
	}
	sv->line[st->set] = n->loc.line;
}

static void
sema_listen(struct sema *s, struct ast_node *n)
{
	struct sema_listener	 l;
	struct ast_node		*c, *port = NULL, *tls = NULL;
	struct ast_node		*req = NULL;
	const struct ast_word	*w = n->arg[0];
	uint32_t		 v;
	int			 bad = 0;

	memset(&l, 0, sizeof(l));
	l.node = n;
	l.line = n->loc.line;
	l.port = PTAB_DEF_PORT;
	if (memchr(w->s, '/', w->len) != NULL) {
		sema_err(s, &w->loc, "listen takes an address, not a prefix");
		bad = 1;
	} else if (sema_prefix(s, s->file, w->s, w->len, &w->loc,
	    &l.addr) == -1)
		bad = 1;
	for (c = n->sub; c != NULL; c = c->next) {
		switch (c->kind) {
		case AST_C_PORT:
			if (!sema_once(s, &port, c, "port"))
				bad = 1;
			else if (sema_u32(s, c->arg[0], "port", LIM_PORT_MIN,
			    LIM_PORT_MAX, &v) == -1)
				bad = 1;
			else
				l.port = (uint16_t)v;
			break;
		case AST_C_TLS:
			if (!sema_once(s, &tls, c, "tls"))
				bad = 1;
			l.tls = 1;
			l.tls_where = c->loc;
			break;
		case AST_C_REQUIRE:
			if (!sema_once(s, &req, c, "require"))
				bad = 1;
			else if (sema_level(s, c->arg[0], &l.require) == -1)
				bad = 1;
			l.req_text = c->arg[0]->s;
			l.req_where = c->loc;
			l.req_where.len = c->arg[0]->loc.col +
			    c->arg[0]->loc.len - c->loc.col;
			break;
		case AST_C_PROXY:
			if (sema_mail_proxy(s, &l, c) == -1)
				bad = 1;
			break;
		default:
			break;
		}
	}
	if (!bad)
		s->listeners[s->nlisteners++] = l;
}

/*
 * The clauses of a host rule or the default into r.  Returns 0, or -1
 * if the rule has an error.
 */
static int
sema_effect(struct sema *s, struct ast_node *n, struct sema_rule *r,
    int is_default)
{
	struct ast_node	*c, *req = NULL, *as = NULL, *relay = NULL;
	struct ast_node	*clear = NULL, *deny = NULL, *other = NULL;
	int		 bad = 0, lvl_bad = 0;

	r->action = PTAB_ACT_ALLOW;
	for (c = n->sub; c != NULL; c = c->next) {
		switch (c->kind) {
		case AST_C_REQUIRE:
			if (!sema_once(s, &req, c, "require")) {
				bad = 1;
				break;
			}
			if (sema_level(s, c->arg[0], &r->require) == -1)
				bad = lvl_bad = 1;
			r->req_text = c->arg[0]->s;
			r->req_where = c->loc;
			r->req_where.len = c->arg[0]->loc.col +
			    c->arg[0]->loc.len - c->loc.col;
			break;
		case AST_C_AS:
			if (!sema_once(s, &as, c, "as")) {
				bad = 1;
				break;
			}
			r->as_where = c->arg[0]->loc;
			if ((r->as_user = sema_username(s, c->arg[0],
			    "the account named by 'as'")) == NULL)
				bad = 1;
			break;
		case AST_C_RELAY:
			if (!sema_once(s, &relay, c, "relay"))
				bad = 1;
			r->flags |= PTAB_RULE_RELAY;
			r->relay_where = c->loc;
			break;
		case AST_C_CLEARTEXT:
			if (!sema_once(s, &clear, c, "auth cleartext"))
				bad = 1;
			r->flags |= PTAB_RULE_CLEARTEXT;
			break;
		case AST_C_DENY:
			if (!sema_once(s, &deny, c, "deny"))
				bad = 1;
			r->action = PTAB_ACT_DENY;
			break;
		default:
			break;
		}
		if (c->kind != AST_C_DENY && other == NULL)
			other = c;
	}
	if (deny != NULL && other != NULL) {
		sema_err(s, &other->loc, "'deny' takes no other clauses");
		sema_note(s, &deny->loc, "'deny' is here");
		return -1;
	}
	if (is_default && deny == NULL && req == NULL) {
		sema_err(s, &n->loc, "'default' needs 'require LEVEL' or "
		    "'deny'");
		bad = 1;
	}
	if (clear != NULL)
		sema_warn(s, &clear->loc, "'auth cleartext': passwords cross "
		    "the network in clear");
	if (as != NULL && deny == NULL && !lvl_bad &&
	    !(is_default && req == NULL) && !(r->require & PTAB_REQ_AUTH))
		sema_warn(s, &as->loc, "'as' has no effect: this rule does "
		    "not require auth");
	return bad ? -1 : 0;
}

static void
sema_default(struct sema *s, struct ast_node *n)
{
	struct sema_rule	 r;

	if (s->have_default) {
		sema_err(s, &n->loc, "'default' is given twice");
		sema_note(s, &s->def.node->loc, "the first is here");
		return;
	}
	memset(&r, 0, sizeof(r));
	r.node = n;
	r.where = n->loc;
	r.line = n->loc.line;
	r.kind = PTAB_RULE_DEFAULT;
	s->have_default = 1;
	if (sema_effect(s, n, &r, 1) == -1) {
		/* Keep the statement for "given twice", not its effect. */
		s->def.node = n;
		s->def.line = n->loc.line;
		s->have_default = 2;
		return;
	}
	s->def = r;
}

static void
sema_host(struct sema *s, struct ast_node *n)
{
	struct sema_rule	 r;
	const struct ast_word	*w = n->arg[0];
	int			 bad = 0;

	memset(&r, 0, sizeof(r));
	r.node = n;
	r.where = w->loc;
	r.line = n->loc.line;
	if (w->listref) {
		r.kind = PTAB_RULE_LIST;
		r.listref = n->arg[0];
		if (w->listref == 2)
			bad = 1;	/* the scanner said why */
	} else {
		r.kind = PTAB_RULE_ADDR;
		if (sema_prefix(s, s->file, w->s, w->len, &w->loc,
		    &r.prefix) == -1)
			bad = 1;
	}
	if (sema_effect(s, n, &r, 0) == -1)
		bad = 1;
	if (!bad)
		s->rules[s->nrules++] = r;
}

static void
sema_list(struct sema *s, struct ast_node *n)
{
	struct sema_list	*l;
	const struct ast_word	*name = n->arg[0], *w;

	if (!sema_ident(s, name, "list"))
		return;
	l = &s->lists[s->nlists++];
	memset(l, 0, sizeof(*l));
	l->node = n;
	l->name = name->s;
	l->where = name->loc;
	l->line = n->loc.line;
	l->cover = -1;
	if (n->kind == AST_LIST_FILE) {
		sema_listfile(s, l, n->arg[1]);
		return;
	}
	if (n->nwords > LIM_LIST_ENTRIES - s->entries) {
		sema_err(s, &name->loc, "too many list entries (at most %u "
		    "in all lists)", (unsigned)LIM_LIST_ENTRIES);
		return;
	}
	if (n->nwords > 0 && (l->pfx = ast_alloc(s->arena,
	    n->nwords * sizeof(*l->pfx))) == NULL)
		return;
	s->entries += n->nwords;
	for (w = n->words; w != NULL; w = w->next) {
		if (w->string || w->listref) {
			sema_err(s, &w->loc, "a list holds addresses and "
			    "prefixes only, not %s", w->string ?
			    "strings" : "other lists");
			continue;
		}
		if (sema_prefix(s, s->file, w->s, w->len, &w->loc,
		    &l->pfx[l->n]) == 0)
			l->n++;
	}
}

/*
 * A list file: one entry a line, '#' comments, blank lines.  It is read
 * with a small loop rather than the scanner because it may hold a
 * million entries; errors point into it as FILE:LINE:COL.  f->begin
 * hears the number of lines (at most one entry each) before the first
 * entry, f->entry each entry; `recipients NAME file` reads with it too.
 * Returns 0, or -1 if the file could not be read (reported).
 */
int
sema_file_read(struct sema *s, const struct ast_word *pw,
    const struct sema_file *f, void *ctx)
{
	struct fileio_data	 d;
	char		 err[LIM_ERRMSG], q[SEMA_QUOTE + 4], *path, *buf;
	const char	*slash, *p, *end, *eol, *t, *bol;
	struct srcloc	 loc;
	size_t		 len, dlen, lines;
	uint32_t	 line;
	int		 fid;

	if (s->opts->no_files) {
		sema_err(s, &pw->loc, "list files are not read here");
		return -1;
	}
	if (pw->len == 0) {
		sema_err(s, &pw->loc, "the list file name is empty");
		return -1;
	}
	/* Relative to the folder of the policy that names it. */
	slash = strrchr(s->name, '/');
	dlen = pw->s[0] != '/' && slash != NULL ?
	    (size_t)(slash - s->name) + 1 : 0;
	if ((path = ast_alloc(s->arena, dlen + pw->len + 1)) == NULL)
		return -1;
	memcpy(path, s->name, dlen);
	memcpy(path + dlen, pw->s, pw->len + 1);
	if (sema_readfile(path, &d, err, sizeof(err)) == -1) {
		sema_err(s, &pw->loc, "cannot read list file '%s': %s",
		    sema_q(q, path, strlen(path)), err);
		return -1;
	}
	buf = d.buf;
	len = d.len;
	if ((fid = diag_source(s->diag, path, buf, len)) == -1) {
		fileio_data_free(&d);
		return -1;
	}
	/* At most one entry a line: the caller sizes its array once. */
	lines = 1;
	for (p = buf; (p = memchr(p, '\n', (size_t)(buf + len - p))) != NULL;
	    p++)
		lines++;
	if (f->begin(s, ctx, lines) == -1)
		goto done;

	end = buf + len;
	line = 0;
	for (bol = buf; bol < end; bol = eol + 1) {
		line++;
		if ((eol = memchr(bol, '\n', (size_t)(end - bol))) == NULL)
			eol = end;
		for (p = bol; p < eol && (*p == ' ' || *p == '\t'); p++)
			;
		if (p == eol || *p == '#' || *p == '\r')
			continue;
		for (t = p; t < eol && *t != ' ' && *t != '\t' &&
		    *t != '#' && *t != '\r'; t++)
			;
		loc.line = line;
		loc.col = (uint32_t)(p - bol) + 1;
		loc.len = (uint32_t)(t - p);
		if (f->entry(s, ctx, fid, p, (size_t)(t - p), &loc) == -2)
			break;
		while (t < eol && (*t == ' ' || *t == '\t' || *t == '\r'))
			t++;
		if (t < eol && *t != '#') {
			loc.col = (uint32_t)(t - bol) + 1;
			loc.len = 1;
			diag_error(s->diag, fid, &loc, "one %s a line; a "
			    "comment starts with '#'", f->one);
		}
		if (diag_stopped(s->diag))
			break;
	}
done:
	diag_source_drop(s->diag, fid);
	fileio_data_free(&d);
	return 0;
}

static int
sema_listfile_begin(struct sema *s, void *ctx, size_t lines)
{
	struct sema_list	*l = ctx;
	size_t			 room = LIM_LIST_ENTRIES - s->entries;

	if (lines > room)
		lines = room + 1;
	l->pfx = ast_alloc(s->arena, lines * sizeof(*l->pfx));
	return l->pfx == NULL ? -1 : 0;
}

static int
sema_listfile_entry(struct sema *s, void *ctx, int fid, const char *p,
    size_t n, const struct srcloc *loc)
{
	struct sema_list	*l = ctx;

	if (l->n == LIM_LIST_ENTRIES - s->entries) {
		diag_error(s->diag, fid, loc, "too many list entries (at most "
		    "%u in all lists)", (unsigned)LIM_LIST_ENTRIES);
		return -2;
	}
	if (sema_prefix(s, fid, p, n, loc, &l->pfx[l->n]) == -1)
		return -1;
	l->n++;
	return 0;
}

static void
sema_listfile(struct sema *s, struct sema_list *l, const struct ast_word *pw)
{
	static const struct sema_file	 f = {
		sema_listfile_begin, sema_listfile_entry, "address or prefix"
	};

	if (sema_file_read(s, pw, &f, l) == 0)
		s->entries += l->n;
}


static void
sema_mechs(struct sema *s, struct ast_node *n)
{
	struct ast_word	*w;
	uint8_t		 m[4] = { 0, 0, 0, 0 };
	size_t		 k = 0, j;
	int		 i, bad = 0;

	if (!sema_once(s, &s->set_node[PTAB_SET_MECHS], n,
	    "auth mechanisms"))
		return;
	for (w = n->words; w != NULL; w = w->next) {
		i = sema_oneof(s, w, "mechanism", sema_mech_names,
		    sizeof(sema_mech_names) / sizeof(sema_mech_names[0]));
		if (i < 0) {
			bad = 1;
			continue;
		}
		for (j = 0; j < k; j++)
			if (m[j] == sema_mech_values[i])
				break;
		if (j < k) {
			sema_err(s, &w->loc, "'%s' is listed twice", w->s);
			bad = 1;
			continue;
		}
		if (k < PTAB_MAX_MECHS)
			m[k++] = sema_mech_values[i];
	}
	if (bad)
		return;
	memcpy(s->server.mechs, m, sizeof(m));
	s->server.line[PTAB_SET_MECHS] = n->loc.line;
	s->mechs_explicit = 1;
}

static void
sema_user(struct sema *s, struct ast_node *n)
{
	struct sema_user	 u;
	char			 err[LIM_ERRMSG], q[SEMA_QUOTE + 4];
	int			 kind;

	memset(&u, 0, sizeof(u));
	u.node = n;
	u.line = n->loc.line;
	if ((u.name = sema_username(s, n->arg[0], "a user name")) == NULL)
		return;
	kind = verifier_check(n->arg[1]->s, n->arg[1]->len, err,
	    sizeof(err));
	if (kind < 0) {
		sema_err(s, &n->arg[1]->loc, "bad verifier for user '%s': "
		    "%s",
		    sema_q(q, u.name, strlen(u.name)), err);
		return;
	}
	u.kind = kind;
	u.verifier = n->arg[1]->s;
	if (n->sub != NULL && sema_mail_senders(s, &u, n->sub) == -1)
		return;
	s->users[s->nusers++] = u;
}

/* accept for DOMAIN deliver maildir PATH | forward to HOST ... */
static void
sema_accept(struct sema *s, struct ast_node *n)
{
	struct sema_domain	 d;
	struct ast_node		*c, *port = NULL, *tls = NULL;
	uint32_t		 v;
	int			 i, bad = 0;

	memset(&d, 0, sizeof(d));
	d.node = n;
	d.where = n->arg[0]->loc;
	d.in.line = n->loc.line;
	d.in.port = PTAB_DEF_PORT;
	d.in.tls = PTAB_TLS_OPPORTUNISTIC;
	if (n->arg[0]->len == 1 && n->arg[0]->s[0] == '*') {
		sema_err(s, &n->arg[0]->loc, "'accept for *' takes mail for "
		    "every domain from anyone: an open relay");
		return;
	}
	if ((d.in.domain = sema_domain(s, n->arg[0], SEMA_DOM_SUFFIX,
	    "domain")) == NULL)
		bad = 1;
	if (n->kind == AST_ACCEPT_MAILDIR) {
		d.in.delivery = PTAB_DELIVER_MAILDIR;
		d.in.tls = PTAB_TLS_NONE;
		d.in.port = 0;
		if ((d.in.target = sema_path(s, n->arg[1], "the maildir")) ==
		    NULL)
			bad = 1;
	} else {
		d.in.delivery = PTAB_DELIVER_FORWARD;
		if ((d.in.target = sema_nexthop(s, n->arg[1])) == NULL)
			bad = 1;
	}
	for (c = n->sub; c != NULL; c = c->next) {
		if (c->kind == AST_C_PORT) {
			if (!sema_once(s, &port, c, "port") ||
			    sema_u32(s, c->arg[0], "port", LIM_PORT_MIN,
			    LIM_PORT_MAX, &v) == -1)
				bad = 1;
			else
				d.in.port = (uint16_t)v;
		} else if (c->kind == AST_C_TLSLEVEL) {
			if (!sema_once(s, &tls, c, "tls"))
				bad = 1;
			else if ((i = sema_oneof(s, c->arg[0], "TLS level",
			    sema_tls_names, 4)) < 0)
				bad = 1;
			else
				d.in.tls = (uint8_t)i;
			d.tls_where = c->loc;
			d.tls_where.len = c->arg[0]->loc.col +
			    c->arg[0]->loc.len - c->loc.col;
		} else if (c->kind == AST_C_RCPTS &&
		    sema_mail_rcpt_clause(s, &d, c) == -1)
			bad = 1;
	}
	if (!bad)
		s->accept[s->naccept++] = d;
}

static void
sema_outbound(struct sema *s, struct ast_node *n)
{
	struct sema_domain	 d;
	struct ast_node		*c, *port = NULL, *tls = NULL;
	struct ast_node		*auth = NULL;
	uint32_t		 v;
	int			 i, bad = 0;

	memset(&d, 0, sizeof(d));
	d.node = n;
	d.where = n->arg[0]->loc;
	d.in.line = n->loc.line;
	d.in.delivery = PTAB_DELIVER_RELAY;
	d.in.port = PTAB_DEF_PORT;
	d.in.tls = PTAB_TLS_OPPORTUNISTIC;
	d.in.mech = PTAB_MECH_NONE;
	if ((d.in.domain = sema_domain(s, n->arg[0],
	    SEMA_DOM_SUFFIX | SEMA_DOM_ANY, "domain")) == NULL)
		bad = 1;
	if (strcmp(n->arg[1]->s, "mx") == 0)
		d.in.target = NULL;
	else if ((d.in.target = sema_nexthop(s, n->arg[1])) == NULL)
		bad = 1;
	for (c = n->sub; c != NULL; c = c->next) {
		switch (c->kind) {
		case AST_C_PORT:
			if (!sema_once(s, &port, c, "port") ||
			    sema_u32(s, c->arg[0], "port", LIM_PORT_MIN,
			    LIM_PORT_MAX, &v) == -1)
				bad = 1;
			else
				d.in.port = (uint16_t)v;
			break;
		case AST_C_TLSLEVEL:
			if (!sema_once(s, &tls, c, "tls"))
				bad = 1;
			else if ((i = sema_oneof(s, c->arg[0], "TLS level",
			    sema_tls_names, 4)) < 0)
				bad = 1;
			else
				d.in.tls = (uint8_t)i;
			d.tls_where = c->loc;
			d.tls_where.len = c->arg[0]->loc.col +
			    c->arg[0]->loc.len - c->loc.col;
			break;
		case AST_C_AUTH:
			if (!sema_once(s, &auth, c, "auth")) {
				bad = 1;
				break;
			}
			i = sema_oneof(s, c->arg[0], "mechanism",
			    sema_mech_names, 3);
			if (i < 0)
				bad = 1;
			else
				d.in.mech = sema_mech_values[i];
			if ((d.in.user = sema_username(s, c->arg[1],
			    "the outbound user name")) == NULL)
				bad = 1;
			if (sema_secret(s, c->arg[2], &d.in) == -1)
				bad = 1;
			break;
		default:
			break;
		}
	}
	if (auth != NULL && d.in.tls < PTAB_TLS_REQUIRED && !bad) {
		struct srcloc	 kw = auth->loc;

		kw.len = 4;		/* "auth", not the whole clause */
		sema_err(s, &kw, "credentials are only sent inside "
		    "TLS: 'auth' needs 'tls required' or 'tls verify', and "
		    "this rule has 'tls %s'", sema_tls_names[d.in.tls]);
		if (tls != NULL)
			sema_note(s, &d.tls_where, "the TLS level is set "
			    "here");
		bad = 1;
	}
	if (!bad)
		s->outbound[s->noutbound++] = d;
}

/* ---- Entry -------------------------------------------------------------- */

int
sema_readfile(const char *path, struct fileio_data *d, char *err,
    size_t errlen)
{
	if (fileio_read_file(path, LIM_SOURCE_SIZE, 0, 0, d) == 0)
		return 0;
	switch (d->fail) {
	case FILEIO_TYPE:
		snprintf(err, errlen, "it is a directory");
		break;
	case FILEIO_SIZE:
		snprintf(err, errlen, "it is larger than %u bytes",
		    (unsigned)LIM_SOURCE_SIZE);
		break;
	case FILEIO_CHANGED:
		snprintf(err, errlen, "it changed while being read");
		break;
	case FILEIO_NOMEM:
		snprintf(err, errlen, "out of memory");
		break;
	default:
		snprintf(err, errlen, "%s", strerror(errno));
		break;
	}
	return -1;
}

void
sema_run(struct sema *s, struct ast_node *stmts)
{
	struct ast_node		*n, *c;
	struct seal_pub		 pub;
	char			 err[LIM_ERRMSG];
	size_t			 nrules = 0, nlists = 0, nlisteners = 0;
	size_t			 nusers = 0, naccept = 0, noutbound = 0;

	memset(&s->server, 0, sizeof(s->server));
	s->server.max_msgsize = PTAB_DEF_MSGSIZE;
	s->server.max_rcpts = PTAB_DEF_RCPTS;
	s->server.max_conns = PTAB_DEF_CONNS;
	s->server.max_conns_host = PTAB_DEF_CONNS_HOST;
	s->server.max_authfail = PTAB_DEF_AUTHFAIL;
	s->server.to_command = PTAB_DEF_TO_COMMAND;
	s->server.to_data = PTAB_DEF_TO_DATA;
	s->server.to_connect = PTAB_DEF_TO_CONNECT;
	s->server.lifetime = PTAB_DEF_LIFETIME;
	s->server.retry = PTAB_DEF_RETRY;
	s->server.mechs[0] = PTAB_MECH_SCRAM_SHA_256;
	s->server.mechs[1] = PTAB_MECH_PLAIN;
	s->server.mechs[2] = PTAB_MECH_LOGIN;
	memset(&s->def, 0, sizeof(s->def));
	s->def.kind = PTAB_RULE_DEFAULT;
	s->def.action = PTAB_ACT_ALLOW;

	if (s->opts->pubkey != NULL) {
		if (seal_pub_load(s->opts->pubkey, &pub, err,
		    sizeof(err)) == -1) {
			sema_err(s, NULL, "cannot use the key given with -k: "
			    "%s", err);
			s->pub_loaded = -1;
		} else {
			memcpy(s->pub_id, pub.id, SEAL_KEYID_SIZE);
			s->pub_loaded = 1;
		}
	}

	/* Size the arrays once. */
	for (n = stmts; n != NULL; n = n->next) {
		switch (n->kind) {
		case AST_HOST:
			nrules++;
			break;
		case AST_LIST:
		case AST_LIST_FILE:
			nlists++;
			break;
		case AST_USER:
			nusers++;
			break;
		case AST_ACCEPT_MAILDIR:
		case AST_ACCEPT_FORWARD:
			naccept++;
			break;
		case AST_OUTBOUND:
			noutbound++;
			break;
		case AST_SERVER:
			for (c = n->sub; c != NULL; c = c->next)
				if (c->kind == AST_LISTEN)
					nlisteners++;
			break;
		default:
			break;
		}
	}
	s->rules = ast_alloc(s->arena, (nrules + 1) * sizeof(*s->rules));
	s->lists = ast_alloc(s->arena, (nlists + 1) * sizeof(*s->lists));
	s->users = ast_alloc(s->arena, (nusers + 1) * sizeof(*s->users));
	s->accept = ast_alloc(s->arena, (naccept + 1) * sizeof(*s->accept));
	s->outbound = ast_alloc(s->arena,
	    (noutbound + 1) * sizeof(*s->outbound));
	s->listeners = ast_alloc(s->arena,
	    (nlisteners + 1) * sizeof(*s->listeners));
	if (s->rules == NULL || s->lists == NULL || s->users == NULL ||
	    s->accept == NULL || s->outbound == NULL ||
	    s->listeners == NULL || sema_mail_init(s, stmts) == -1) {
		sema_err(s, NULL, "out of memory");
		return;
	}

	for (n = stmts; n != NULL && !diag_stopped(s->diag); n = n->next) {
		switch (n->kind) {
		case AST_SERVER:
			sema_server(s, n);
			break;
		case AST_DEFAULT:
			sema_default(s, n);
			break;
		case AST_LIST:
		case AST_LIST_FILE:
			sema_list(s, n);
			break;
		case AST_HOST:
			sema_host(s, n);
			break;
		case AST_MECHS:
			sema_mechs(s, n);
			break;
		case AST_USER:
			sema_user(s, n);
			break;
		case AST_ACCEPT_MAILDIR:
		case AST_ACCEPT_FORWARD:
			sema_accept(s, n);
			break;
		case AST_OUTBOUND:
			sema_outbound(s, n);
			break;
		case AST_RCPTS_LIST:
		case AST_RCPTS_FILE:
			sema_rcpts(s, n);
			break;
		default:
			break;
		}
	}
	if (diag_stopped(s->diag))
		return;
	/* First: a list that only a listener's proxy set names is used. */
	sema_mail_resolve(s);
	sema_check_policy(s);
}
