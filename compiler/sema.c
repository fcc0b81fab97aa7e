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
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "ast.h"
#include "compile.h"
#include "diag.h"
#include "bastion_limits.h"
#include "ptab.h"
#include "seal.h"
#include "sema.h"
#include "verifier.h"

#define SEMA_QUOTE	64	/* bytes of user text quoted in a message */

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

static const char *const sema_level_names[] = {
	"none", "tls", "auth", "auth+tls", "tls+auth"
};
static const uint8_t sema_level_bits[] = {
	0, PTAB_REQ_TLS, PTAB_REQ_AUTH, PTAB_REQ_TLS | PTAB_REQ_AUTH,
	PTAB_REQ_TLS | PTAB_REQ_AUTH
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

static void	sema_err(struct sema *, const struct srcloc *, const char *,
		    ...) __attribute__((format(printf, 3, 4)));
static void	sema_warn(struct sema *, const struct srcloc *, const char *,
		    ...) __attribute__((format(printf, 3, 4)));
static void	sema_note(struct sema *, const struct srcloc *, const char *,
		    ...) __attribute__((format(printf, 3, 4)));
static const char *sema_q(char *, const char *, size_t);
static int	sema_oneof(struct sema *, const struct ast_word *,
		    const char *, const char *const *, size_t);
static int	sema_u32(struct sema *, const struct ast_word *,
		    const char *, uint32_t, uint32_t, uint32_t *);
static int	sema_size(struct sema *, const struct ast_word *,
		    uint64_t *);
static int	sema_duration(struct sema *, const struct ast_word *,
		    uint32_t *);
static int	sema_level(struct sema *, const struct ast_word *,
		    uint8_t *);
static int	sema_prefix(struct sema *, int, const char *, size_t,
		    const struct srcloc *, struct addr *);
static const char *sema_domain(struct sema *, const struct ast_word *,
		    int, const char *);
static const char *sema_nexthop(struct sema *, const struct ast_word *);
static const char *sema_path(struct sema *, const struct ast_word *,
		    const char *);
static const char *sema_username(struct sema *, const struct ast_word *,
		    const char *);
static int	sema_once(struct sema *, struct ast_node **,
		    struct ast_node *, const char *);

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
static void	sema_mechs(struct sema *, struct ast_node *);
static void	sema_user(struct sema *, struct ast_node *);
static void	sema_accept(struct sema *, struct ast_node *);
static void	sema_outbound(struct sema *, struct ast_node *);
static int	sema_secret(struct sema *, const struct ast_word *,
		    struct ptab_domain_in *);

static void	sema_resolve_lists(struct sema *);
static void	sema_check_users(struct sema *);
static void	sema_check_listeners(struct sema *);
static void	sema_check_domains(struct sema *, struct sema_domain *,
		    size_t, const char *);
static void	sema_check_needs(struct sema *);
static void	sema_check_relay(struct sema *);
static int	sema_listfile_begin(struct sema *, void *, size_t);
static int	sema_listfile_entry(struct sema *, void *, int, const char *,
		    size_t, const struct srcloc *);
static size_t	sema_digits(const struct ast_word *, uint64_t *);
static int	sema_list_cmp(const void *, const void *);
static int	sema_list_find(const void *, const void *);
static int	sema_user_cmp(const void *, const void *);
static int	sema_user_find(const void *, const void *);
static void	sema_check_as(struct sema *, struct sema_rule *,
		    struct sema_user **, size_t);
static int	sema_listener_cmp(const void *, const void *);
static int	sema_domain_cmp(const void *, const void *);
static void	sema_need(struct sema *, uint8_t, const char *,
		    const struct srcloc *);
static int	sema_ivl_cmp(const void *, const void *);
static uint64_t	sema_be(const uint8_t *, size_t);
static const struct addr **sema_rule_prefixes(struct sema_rule *,
		    size_t *);

/* ---- Messages ----------------------------------------------------------- */

static void
sema_err(struct sema *s, const struct srcloc *loc, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	diag_vreport(s->diag, DIAG_ERROR, s->file, loc, fmt, ap);
	va_end(ap);
}

static void
sema_warn(struct sema *s, const struct srcloc *loc, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	diag_vreport(s->diag, DIAG_WARNING, s->file, loc, fmt, ap);
	va_end(ap);
}

static void
sema_note(struct sema *s, const struct srcloc *loc, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	diag_vreport(s->diag, DIAG_NOTE, s->file, loc, fmt, ap);
	va_end(ap);
}

/*
 * User text for a message: printable, and cut short with "..." so that
 * a 4K string does not make a 4K line.  buf has SEMA_QUOTE + 4 bytes.
 */
static const char *
sema_q(char *buf, const char *s, size_t n)
{
	size_t	 i, m = n > SEMA_QUOTE ? SEMA_QUOTE : n;

	for (i = 0; i < m; i++) {
		unsigned char	 c = (unsigned char)s[i];

		buf[i] = (c >= 0x20 && c != 0x7f) ? (char)c : '?';
	}
	if (m < n) {
		memcpy(buf + m, "...", 3);
		m += 3;
	}
	buf[m] = '\0';
	return buf;
}

/* A clause or setting given twice in one place. */
static int
sema_once(struct sema *s, struct ast_node **seen, struct ast_node *n,
    const char *what)
{
	if (*seen == NULL) {
		*seen = n;
		return 1;
	}
	sema_err(s, &n->loc, "'%s' is given twice", what);
	sema_note(s, &(*seen)->loc, "the first is here");
	return 0;
}

/* ---- Values ------------------------------------------------------------- */

/* The index of w among names, or -1 with a message and a suggestion. */
static int
sema_oneof(struct sema *s, const struct ast_word *w, const char *what,
    const char *const *names, size_t n)
{
	const char	*near;
	char		 q[SEMA_QUOTE + 4], list[128];
	size_t		 i, off = 0;

	for (i = 0; i < n; i++)
		if (strcmp(w->s, names[i]) == 0)
			return (int)i;
	near = ast_nearest(w->s, w->len, names, n);
	if (near != NULL) {
		sema_err(s, &w->loc, "unknown %s '%s'; did you mean '%s'?",
		    what, sema_q(q, w->s, w->len), near);
		return -1;
	}
	list[0] = '\0';
	for (i = 0; i < n && off < sizeof(list); i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off,
		    "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ",
		    names[i]);
	sema_err(s, &w->loc, "unknown %s '%s'; expected %s", what,
	    sema_q(q, w->s, w->len), list);
	return -1;
}

/* Leading decimal digits of w into *v (saturating); their count. */
static size_t
sema_digits(const struct ast_word *w, uint64_t *v)
{
	size_t	 i;

	*v = 0;
	for (i = 0; i < w->len && w->s[i] >= '0' && w->s[i] <= '9'; i++) {
		if (*v > (UINT64_MAX - 9) / 10)
			*v = UINT64_MAX;
		else
			*v = *v * 10 + (uint64_t)(w->s[i] - '0');
	}
	return i;
}

static int
sema_u32(struct sema *s, const struct ast_word *w, const char *what,
    uint32_t min, uint32_t max, uint32_t *out)
{
	char		 q[SEMA_QUOTE + 4];
	uint64_t	 v;
	size_t		 n;

	n = sema_digits(w, &v);
	if (n == 0 || n != w->len) {
		sema_err(s, &w->loc, "%s must be a number, not '%s'", what,
		    sema_q(q, w->s, w->len));
		return -1;
	}
	if (v < min || v > max) {
		sema_err(s, &w->loc, "%s %s is out of range (%lu to %lu)",
		    what, sema_q(q, w->s, w->len), (unsigned long)min,
		    (unsigned long)max);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

/* N, NK, NM, NG: bytes, powers of 1024. */
static int
sema_size(struct sema *s, const struct ast_word *w, uint64_t *out)
{
	char		 q[SEMA_QUOTE + 4];
	uint64_t	 v;
	size_t		 n;
	unsigned	 shift = 0;

	n = sema_digits(w, &v);
	if (n > 0 && n + 1 == w->len) {
		switch (w->s[n]) {
		case 'K':
			shift = 10;
			break;
		case 'M':
			shift = 20;
			break;
		case 'G':
			shift = 30;
			break;
		case 'k':
		case 'm':
		case 'g':
			sema_err(s, &w->loc, "bad size '%s': the units are "
			    "upper case (K, M, G)", sema_q(q, w->s, w->len));
			return -1;
		default:
			n = 0;
			break;
		}
	} else if (n != w->len)
		n = 0;
	if (n == 0) {
		sema_err(s, &w->loc, "bad size '%s': expected a number of "
		    "bytes with an optional K, M or G", sema_q(q, w->s,
		    w->len));
		return -1;
	}
	if (v == 0) {
		sema_err(s, &w->loc, "size must be at least 1 byte");
		return -1;
	}
	if (v > (UINT64_MAX >> shift)) {
		sema_err(s, &w->loc, "size '%s' is too large",
		    sema_q(q, w->s, w->len));
		return -1;
	}
	*out = v << shift;
	return 0;
}

/* N (seconds), Ns, Nm, Nh, Nd. */
static int
sema_duration(struct sema *s, const struct ast_word *w, uint32_t *out)
{
	char		 q[SEMA_QUOTE + 4];
	uint64_t	 v, mul = 1;
	size_t		 n;

	n = sema_digits(w, &v);
	if (n > 0 && n + 1 == w->len) {
		switch (w->s[n]) {
		case 's':
			break;
		case 'm':
			mul = 60;
			break;
		case 'h':
			mul = 3600;
			break;
		case 'd':
			mul = 86400;
			break;
		case 'S':
		case 'M':
		case 'H':
		case 'D':
			sema_err(s, &w->loc, "bad duration '%s': the units "
			    "are lower case (s, m, h, d)",
			    sema_q(q, w->s, w->len));
			return -1;
		default:
			n = 0;
			break;
		}
	} else if (n != w->len)
		n = 0;
	if (n == 0) {
		sema_err(s, &w->loc, "bad duration '%s': expected a number "
		    "of seconds, or a number with s, m, h or d",
		    sema_q(q, w->s, w->len));
		return -1;
	}
	if (v == 0) {
		sema_err(s, &w->loc, "duration must be at least 1s");
		return -1;
	}
	if (v > UINT32_MAX / mul) {
		sema_err(s, &w->loc, "duration '%s' is too long",
		    sema_q(q, w->s, w->len));
		return -1;
	}
	*out = (uint32_t)(v * mul);
	return 0;
}

static int
sema_level(struct sema *s, const struct ast_word *w, uint8_t *out)
{
	int	 i;

	i = sema_oneof(s, w, "level", sema_level_names,
	    sizeof(sema_level_names) / sizeof(sema_level_names[0]));
	if (i < 0)
		return -1;
	*out = sema_level_bits[i];
	return 0;
}

/* An address or prefix, host bits clear, in source file. */
static int
sema_prefix(struct sema *s, int file, const char *p, size_t n,
    const struct srcloc *loc, struct addr *out)
{
	char	 err[LIM_ERRMSG];

	if (addr_parse(p, n, 0, out, err, sizeof(err)) == -1) {
		diag_error(s->diag, file, loc, "%s", err);
		return -1;
	}
	return 0;
}

/*
 * Why the n bytes at d are not a domain name (without the leading dot
 * of a suffix), or NULL if they are one.
 */
const char *
sema_domain_reason(const char *d, size_t n, int upper_ok)
{
	size_t	 i, label = 0;

	if (n == 0)
		return "it is empty";
	if (n > LIM_DOMAIN)
		return "it is longer than 253 characters";
	for (i = 0; i <= n; i++) {
		char	 c = i < n ? d[i] : '.';

		if (c == '.') {
			if (label == 0)
				return i == n ? "it ends with '.'" :
				    "it has an empty label";
			if (d[i - 1] == '-')
				return "a label ends with '-'";
			label = 0;
			continue;
		}
		if (label == 0 && c == '-')
			return "a label starts with '-'";
		if (++label > LIM_LABEL)
			return "a label is longer than 63 characters";
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || (upper_ok && c >= 'A' && c <= 'Z'))
			continue;
		return "only letters, digits, '-' and '.' may appear in it";
	}
	return NULL;
}

/*
 * A domain as written in accept, outbound or hostname: lower-cased copy
 * in the arena, or NULL (reported).  flags: 1 a ".suffix" is allowed,
 * 2 "*" is allowed.
 */
static const char *
sema_domain(struct sema *s, const struct ast_word *w, int flags,
    const char *what)
{
	char		 q[SEMA_QUOTE + 4], *d;
	const char	*why, *p = w->s;
	size_t		 i, n = w->len;

	if (n == 1 && p[0] == '*') {
		if (!(flags & 2)) {
			sema_err(s, &w->loc, "%s cannot be '*'", what);
			return NULL;
		}
		return "*";
	}
	if (n > 0 && p[0] == '.') {
		if (!(flags & 1)) {
			sema_err(s, &w->loc, "%s cannot be a '.suffix'",
			    what);
			return NULL;
		}
		p++;
		n--;
	}
	if ((why = sema_domain_reason(p, n, 1)) != NULL) {
		sema_err(s, &w->loc, "bad %s '%s': %s", what,
		    sema_q(q, w->s, w->len), why);
		return NULL;
	}
	if ((d = ast_strndup(s->arena, w->s, w->len)) == NULL)
		return NULL;
	for (i = 0; i < w->len; i++)
		if (d[i] >= 'A' && d[i] <= 'Z')
			d[i] = (char)(d[i] - 'A' + 'a');
	return d;
}

/* A next hop: an IP address (kept in its canonical form) or a name. */
static const char *
sema_nexthop(struct sema *s, const struct ast_word *w)
{
	struct addr	 a;
	char		 buf[ADDR_STRLEN], q[SEMA_QUOTE + 4];
	size_t		 i;
	int		 ip = 1;

	for (i = 0; i < w->len; i++)
		if (w->s[i] != '.' && !(w->s[i] >= '0' && w->s[i] <= '9'))
			ip = 0;
	if (memchr(w->s, ':', w->len) != NULL)
		ip = 1;
	if (memchr(w->s, '/', w->len) != NULL) {
		sema_err(s, &w->loc, "a next hop is an address or a host "
		    "name, not a prefix like '%s'", sema_q(q, w->s, w->len));
		return NULL;
	}
	if (!ip)
		return sema_domain(s, w, 0, "host name");
	if (sema_prefix(s, s->file, w->s, w->len, &w->loc, &a) == -1)
		return NULL;
	addr_format(&a, buf, sizeof(buf));
	return ast_strndup(s->arena, buf, strlen(buf));
}

/* A file name in a setting: not empty. */
static const char *
sema_path(struct sema *s, const struct ast_word *w, const char *what)
{
	if (w->len == 0) {
		sema_err(s, &w->loc, "%s cannot be an empty string", what);
		return NULL;
	}
	return w->s;
}

static const char *
sema_username(struct sema *s, const struct ast_word *w, const char *what)
{
	if (w->len == 0) {
		sema_err(s, &w->loc, "%s cannot be an empty string", what);
		return NULL;
	}
	if (w->len > LIM_USERNAME) {
		sema_err(s, &w->loc, "%s is longer than %u bytes", what,
		    (unsigned)LIM_USERNAME);
		return NULL;
	}
	return w->s;
}

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
		if (sema_size(s, n->arg[0], &size) == -1)
			return;
		sv->max_msgsize = size;
		break;
	case AST_RCPTS:
		if (sema_u32(s, n->arg[0], "the recipient limit", 1,
		    UINT32_MAX, &a) == -1)
			return;
		sv->max_rcpts = a;
		break;
	case AST_CONNS:
		if (sema_u32(s, n->arg[0], "the connection limit", 1,
		    UINT32_MAX, &a) == -1)
			return;
		b = a < PTAB_DEF_CONNS_HOST ? a : PTAB_DEF_CONNS_HOST;
		if (n->arg[1] != NULL) {
			if (sema_u32(s, n->arg[1], "the per-host limit", 1,
			    UINT32_MAX, &b) == -1)
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
		if (sema_u32(s, n->arg[0], "the auth-failure limit", 1,
		    UINT32_MAX, &a) == -1)
			return;
		sv->max_authfail = a;
		break;
	case AST_TO_COMMAND:
	case AST_TO_DATA:
	case AST_TO_CONNECT:
		if (sema_duration(s, n->arg[0], &a) == -1)
			return;
		if (n->kind == AST_TO_COMMAND)
			sv->to_command = a;
		else if (n->kind == AST_TO_DATA)
			sv->to_data = a;
		else
			sv->to_connect = a;
		break;
	case AST_QUEUE:
		if (sema_duration(s, n->arg[0], &a) == -1)
			return;
		b = PTAB_DEF_RETRY;
		if (n->arg[1] != NULL &&
		    sema_duration(s, n->arg[1], &b) == -1)
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
			else if (sema_u32(s, c->arg[0], "port", 1, 65535,
			    &v) == -1)
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
	char			 q[SEMA_QUOTE + 4];
	size_t			 i;
	int			 ok;

	ok = name->len > 0 && name->len <= LIM_IDENT;
	for (i = 0; ok && i < name->len; i++) {
		char	 c = name->s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || (i > 0 && ((c >= '0' && c <= '9') ||
		    c == '-'))))
			ok = 0;
	}
	if (!ok) {
		sema_err(s, &name->loc, "bad list name '%s': a letter or '_' "
		    "first, then letters, digits, '_' or '-' (at most %u)",
		    sema_q(q, name->s, name->len), (unsigned)LIM_IDENT);
		return;
	}
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
	char		 err[LIM_ERRMSG], q[SEMA_QUOTE + 4], *path, *buf;
	const char	*slash, *p, *end, *eol, *t, *bol;
	struct srcloc	 loc;
	size_t		 len, dlen, lines;
	uint32_t	 line;
	int		 fid, r;

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
	if (compile_readfile(path, &buf, &len, err, sizeof(err)) == -1) {
		sema_err(s, &pw->loc, "cannot read list file '%s': %s",
		    sema_q(q, path, strlen(path)), err);
		return -1;
	}
	if ((fid = diag_source(s->diag, path, buf, len)) == -1) {
		free(buf);
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
		if ((r = f->entry(s, ctx, fid, p, (size_t)(t - p), &loc)) ==
		    -2)
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
	free(buf);
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
	if ((d.in.domain = sema_domain(s, n->arg[0], 1, "domain")) == NULL)
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
			    sema_u32(s, c->arg[0], "port", 1, 65535, &v) == -1)
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
	if ((d.in.domain = sema_domain(s, n->arg[0], 3, "domain")) == NULL)
		bad = 1;
	if (strcmp(n->arg[1]->s, "mx") == 0)
		d.in.target = NULL;
	else if ((d.in.target = sema_nexthop(s, n->arg[1])) == NULL)
		bad = 1;
	for (c = n->sub; c != NULL; c = c->next) {
		switch (c->kind) {
		case AST_C_PORT:
			if (!sema_once(s, &port, c, "port") ||
			    sema_u32(s, c->arg[0], "port", 1, 65535, &v) == -1)
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

/* password sealed:...: decoded, and checked against -k's key. */
static int
sema_secret(struct sema *s, const struct ast_word *w,
    struct ptab_domain_in *in)
{
	char		 err[LIM_ERRMSG], a[SEAL_KEYID_HEXLEN + 1];
	char		 b[SEAL_KEYID_HEXLEN + 1];
	uint8_t		*bytes;
	long		 n;

	if (w->string) {
		sema_err(s, &w->loc, "a password is never written in clear: "
		    "seal it with 'policyc seal' and write the sealed: "
		    "token, unquoted");
		return -1;
	}
	if ((bytes = ast_alloc(s->arena, SEAL_MAX_SEALED)) == NULL)
		return -1;
	n = seal_token_decode(w->s, w->len, bytes, SEAL_MAX_SEALED, err,
	    sizeof(err));
	if (n < 0) {
		sema_err(s, &w->loc, "bad sealed password: %s", err);
		return -1;
	}
	if (s->pub_loaded == 1 &&
	    memcmp(bytes, s->pub_id, SEAL_KEYID_SIZE) != 0) {
		seal_keyid_hex(bytes, a);
		seal_keyid_hex(s->pub_id, b);
		sema_err(s, &w->loc, "this password was sealed for key %s, "
		    "but %s is key %s", a, s->opts->pubkey, b);
		return -1;
	}
	in->secret = bytes;
	in->secret_len = (size_t)n;
	return 0;
}

/* ---- The policy as a whole ---------------------------------------------- */

static int
sema_list_cmp(const void *a, const void *b)
{
	const struct sema_list	*x = *(const struct sema_list *const *)a;
	const struct sema_list	*y = *(const struct sema_list *const *)b;
	int			 c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int
sema_list_find(const void *k, const void *e)
{
	const struct sema_list	*l = *(const struct sema_list *const *)e;

	return strcmp(k, l->name);
}

/* Lists: defined once, every reference defined, every list used. */
static void
sema_resolve_lists(struct sema *s)
{
	struct sema_list	**v, **hit;
	const char		**names, *near;
	char			 q[SEMA_QUOTE + 4];
	size_t			 i, n = 0;
	struct sema_rule	*r;

	v = calloc(s->nlists + 1, sizeof(*v));
	names = calloc(s->nlists + 1, sizeof(*names));
	if (v == NULL || names == NULL)
		goto out;
	for (i = 0; i < s->nlists; i++)
		v[i] = &s->lists[i];
	qsort(v, s->nlists, sizeof(*v), sema_list_cmp);
	for (i = 0; i < s->nlists; i++) {
		if (n > 0 && strcmp(v[n - 1]->name, v[i]->name) == 0) {
			sema_err(s, &v[i]->where, "list '%s' is already "
			    "defined at line %lu", v[i]->name,
			    (unsigned long)v[n - 1]->line);
			sema_note(s, &v[n - 1]->where, "the first definition "
			    "is here");
			v[i]->used = 1;	/* not "never used" too */
			v[i]->dup = 1;
			continue;
		}
		v[n++] = v[i];
	}
	for (i = 0; i < n; i++)
		names[i] = v[i]->name;
	for (i = 0; i < s->nrules; i++) {
		r = &s->rules[i];
		if (r->kind != PTAB_RULE_LIST)
			continue;
		hit = bsearch(r->listref->s, v, n, sizeof(*v),
		    sema_list_find);
		if (hit != NULL) {
			r->list = *hit;
			(*hit)->used = 1;
			continue;
		}
		near = diag_stopped(s->diag) ? NULL :
		    ast_nearest(r->listref->s, r->listref->len, names, n);
		if (near != NULL)
			sema_err(s, &r->where, "list '%s' is not defined; did "
			    "you mean '%s'?", sema_q(q, r->listref->s,
			    r->listref->len), near);
		else
			sema_err(s, &r->where, "list '%s' is not defined",
			    sema_q(q, r->listref->s, r->listref->len));
	}
	for (i = 0; i < s->nlists; i++) {
		if (!s->lists[i].used)
			sema_warn(s, &s->lists[i].where, "list '%s' is never "
			    "used", s->lists[i].name);
	}
out:
	free(v);
	free(names);
}

static int
sema_user_cmp(const void *a, const void *b)
{
	const struct sema_user	*x = *(const struct sema_user *const *)a;
	const struct sema_user	*y = *(const struct sema_user *const *)b;
	int			 c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int
sema_user_find(const void *k, const void *e)
{
	const struct sema_user	*u = *(const struct sema_user *const *)e;

	return strcmp(k, u->name);
}

static void
sema_check_as(struct sema *s, struct sema_rule *r, struct sema_user **v,
    size_t n)
{
	char	 q[SEMA_QUOTE + 4];

	if (r->as_user == NULL || r->action != PTAB_ACT_ALLOW)
		return;
	if (bsearch(r->as_user, v, n, sizeof(*v), sema_user_find) == NULL)
		sema_err(s, &r->as_where, "'as' names no user: there is no "
		    "'user \"%s\"'", sema_q(q, r->as_user,
		    strlen(r->as_user)));
}

/*
 * Users: each defined once; 'as' names one; SCRAM can serve each one;
 * and AUTH can be offered at all.
 */
static void
sema_check_users(struct sema *s)
{
	struct sema_user	**v;
	const struct sema_user	*first = NULL;
	char			 q[SEMA_QUOTE + 4];
	size_t			 i, j, n = 0;
	int			 scram = 0, clear = 0;

	if ((v = calloc(s->nusers + 1, sizeof(*v))) == NULL)
		return;
	for (i = 0; i < s->nusers; i++)
		v[i] = &s->users[i];
	qsort(v, s->nusers, sizeof(*v), sema_user_cmp);
	for (i = 0; i < s->nusers; i++) {
		if (n > 0 && strcmp(v[n - 1]->name, v[i]->name) == 0) {
			sema_err(s, &v[i]->node->arg[0]->loc, "user '%s' is "
			    "already defined at line %lu",
			    sema_q(q, v[i]->name, strlen(v[i]->name)),
			    (unsigned long)v[n - 1]->line);
			sema_note(s, &v[n - 1]->node->arg[0]->loc, "the first "
			    "definition is here");
			v[i]->dup = 1;
			continue;
		}
		v[n++] = v[i];
	}
	if (s->have_default == 1)
		sema_check_as(s, &s->def, v, n);
	for (i = 0; i < s->nrules; i++)
		sema_check_as(s, &s->rules[i], v, n);

	for (j = 0; j < PTAB_MAX_MECHS; j++)
		if (s->server.mechs[j] == PTAB_MECH_SCRAM_SHA_256)
			scram = 1;
	for (i = 0; i < s->nusers; i++) {
		if (first == NULL)
			first = &s->users[i];
		if (!scram || s->users[i].kind != VERIFIER_ARGON2ID)
			continue;
		sema_warn(s, &s->users[i].node->arg[1]->loc, "scram-sha-256 "
		    "is offered but user '%s' has an argon2id verifier: "
		    "SCRAM cannot authenticate this user",
		    sema_q(q, s->users[i].name, strlen(s->users[i].name)));
		if (s->mechs_explicit)
			sema_note(s, &s->set_node[PTAB_SET_MECHS]->loc,
			    "the mechanisms are set here");
	}

	if (s->have_default == 1 && s->def.action == PTAB_ACT_ALLOW &&
	    (s->def.flags & PTAB_RULE_CLEARTEXT))
		clear = 1;
	for (i = 0; i < s->nrules; i++)
		if (s->rules[i].action == PTAB_ACT_ALLOW &&
		    (s->rules[i].flags & PTAB_RULE_CLEARTEXT))
			clear = 1;
	if (first != NULL && s->server.cert == NULL && !clear &&
	    s->set_node[PTAB_SET_CERT] == NULL)
		sema_warn(s, &first->node->loc, "AUTH can never be offered: "
		    "there is no 'tls certificate' and no rule allows "
		    "'auth cleartext'");
	free(v);
}

static int
sema_listener_cmp(const void *a, const void *b)
{
	const struct sema_listener *x = *(const struct sema_listener *const *)a;
	const struct sema_listener *y = *(const struct sema_listener *const *)b;
	int			 c;

	if (x->addr.family != y->addr.family)
		return x->addr.family < y->addr.family ? -1 : 1;
	if ((c = memcmp(x->addr.a, y->addr.a, sizeof(x->addr.a))) != 0)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static void
sema_check_listeners(struct sema *s)
{
	struct sema_listener	**v;
	char			 buf[ADDR_STRLEN];
	size_t			 i, first = 0;

	if ((v = calloc(s->nlisteners + 1, sizeof(*v))) == NULL)
		return;
	for (i = 0; i < s->nlisteners; i++)
		v[i] = &s->listeners[i];
	qsort(v, s->nlisteners, sizeof(*v), sema_listener_cmp);
	for (i = 1; i < s->nlisteners; i++) {
		if (v[i]->addr.family != v[first]->addr.family ||
		    memcmp(v[i]->addr.a, v[first]->addr.a,
		    sizeof(v[i]->addr.a)) != 0 ||
		    v[i]->port != v[first]->port) {
			first = i;
			continue;
		}
		addr_format(&v[i]->addr, buf, sizeof(buf));
		sema_err(s, &v[i]->node->arg[0]->loc, "there is already a "
		    "listener on %s port %u at line %lu", buf,
		    (unsigned)v[i]->port, (unsigned long)v[first]->line);
		sema_note(s, &v[first]->node->loc, "the other listener is "
		    "here");
		v[i]->dup = 1;
	}
	free(v);
}

static int
sema_domain_cmp(const void *a, const void *b)
{
	const struct sema_domain *x = *(const struct sema_domain *const *)a;
	const struct sema_domain *y = *(const struct sema_domain *const *)b;
	int			 c = strcmp(x->in.domain, y->in.domain);

	if (c != 0)
		return c;
	return x->in.line < y->in.line ? -1 : x->in.line > y->in.line;
}

/* The same domain twice among accept (or outbound) statements. */
static void
sema_check_domains(struct sema *s, struct sema_domain *d, size_t nd,
    const char *what)
{
	struct sema_domain	**v;
	size_t			 i, first = 0;

	if ((v = calloc(nd + 1, sizeof(*v))) == NULL)
		return;
	for (i = 0; i < nd; i++)
		v[i] = &d[i];
	qsort(v, nd, sizeof(*v), sema_domain_cmp);
	for (i = 1; i < nd; i++) {
		if (strcmp(v[i]->in.domain, v[first]->in.domain) != 0) {
			first = i;
			continue;
		}
		sema_err(s, &v[i]->where, "'%s %s' is already given at line "
		    "%lu", what, v[i]->in.domain,
		    (unsigned long)v[first]->in.line);
		sema_note(s, &v[first]->where, "the first is here");
		v[i]->in.domain = NULL;	/* left out of the table */
	}
	free(v);
}

/* What requirements need: users for auth, a certificate for TLS. */
static void
sema_need(struct sema *s, uint8_t req, const char *text,
    const struct srcloc *where)
{
	if ((req & PTAB_REQ_AUTH) && s->nusers == 0)
		sema_err(s, where, "'require %s' but no user is defined: no "
		    "client can ever authenticate", text);
	if ((req & PTAB_REQ_TLS) && s->server.cert == NULL &&
	    s->set_node[PTAB_SET_CERT] == NULL)
		sema_err(s, where, "'require %s' needs a certificate: the "
		    "server block has no 'tls certificate ... key ...'", text);
}

static void
sema_check_needs(struct sema *s)
{
	size_t	 i;

	if (s->have_default == 1 && s->def.action == PTAB_ACT_ALLOW)
		sema_need(s, s->def.require, s->def.req_text,
		    &s->def.req_where);
	for (i = 0; i < s->nrules; i++)
		if (s->rules[i].action == PTAB_ACT_ALLOW)
			sema_need(s, s->rules[i].require,
			    s->rules[i].req_text, &s->rules[i].req_where);
	for (i = 0; i < s->nlisteners; i++) {
		sema_need(s, s->listeners[i].require,
		    s->listeners[i].req_text, &s->listeners[i].req_where);
		if (s->listeners[i].tls && s->server.cert == NULL &&
		    s->set_node[PTAB_SET_CERT] == NULL)
			sema_err(s, &s->listeners[i].tls_where, "a 'tls' "
			    "listener needs a certificate: the server block "
			    "has no 'tls certificate ... key ...'");
	}
	if (s->server.trust != NULL || s->set_node[PTAB_SET_TRUST] != NULL)
		return;
	for (i = 0; i < s->naccept; i++)
		if (s->accept[i].in.tls == PTAB_TLS_VERIFY)
			sema_err(s, &s->accept[i].tls_where, "'tls verify' "
			    "needs trust anchors: the server block has no "
			    "'tls trust'");
	for (i = 0; i < s->noutbound; i++)
		if (s->outbound[i].in.tls == PTAB_TLS_VERIFY)
			sema_err(s, &s->outbound[i].tls_where, "'tls verify' "
			    "needs trust anchors: the server block has no "
			    "'tls trust'");
}

/* ---- Open relay --------------------------------------------------------- */

struct sema_ivl {
	uint64_t	 hi0, lo0;	/* first address, 128 bits */
	uint64_t	 hi1, lo1;	/* last address */
};

static int
sema_ivl_cmp(const void *a, const void *b)
{
	const struct sema_ivl	*x = a, *y = b;

	if (x->hi0 != y->hi0)
		return x->hi0 < y->hi0 ? -1 : 1;
	if (x->lo0 != y->lo0)
		return x->lo0 < y->lo0 ? -1 : 1;
	return 0;
}

/* Load the first n bytes of a as a big-endian number. */
static uint64_t
sema_be(const uint8_t *a, size_t n)
{
	uint64_t	 v = 0;
	size_t		 i;

	for (i = 0; i < 8; i++)
		v = v << 8 | (i < n ? a[i] : 0);
	return v;
}

/*
 * Do the prefixes of the given family together cover the whole address
 * space?  Sort their intervals and walk them looking for a gap.  An
 * address is a 128-bit number (hi, lo); IPv4 ones sit in the top 32
 * bits of hi, so "one more" is a step of 2^32 there.
 */
int
sema_covers(const struct addr *const *p, size_t n, int family)
{
	struct sema_ivl	*v;
	uint64_t	 rh, rl, nh, nl, mh, ml, toph, topl;
	size_t		 i, k = 0;
	unsigned	 len;
	int		 covered = 0;

	for (i = 0; i < n; i++)
		if (p[i]->family == family && p[i]->len == 0)
			return 1;
	if ((v = calloc(n + 1, sizeof(*v))) == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		if (p[i]->family != family)
			continue;
		/* The host part, all ones: the bits below the length. */
		if (family == ADDR_V4) {
			len = p[i]->len > 32 ? 32 : p[i]->len;
			v[k].hi0 = sema_be(p[i]->a, 4);
			v[k].lo0 = 0;
			mh = len == 32 ? 0 :
			    (UINT64_C(0xffffffff) >> len) << 32;
			ml = 0;
		} else {
			len = p[i]->len > 128 ? 128 : p[i]->len;
			v[k].hi0 = sema_be(p[i]->a, 8);
			v[k].lo0 = sema_be(p[i]->a + 8, 8);
			mh = len >= 64 ? 0 : UINT64_MAX >> len;
			ml = len >= 128 ? 0 : len <= 64 ? UINT64_MAX :
			    UINT64_MAX >> (len - 64);
		}
		v[k].hi1 = v[k].hi0 | mh;
		v[k].lo1 = v[k].lo0 | ml;
		k++;
	}
	if (family == ADDR_V4) {
		toph = UINT64_C(0xffffffff) << 32;
		topl = 0;
	} else
		toph = topl = UINT64_MAX;
	if (k == 0)
		goto out;
	qsort(v, k, sizeof(*v), sema_ivl_cmp);
	if (v[0].hi0 != 0 || v[0].lo0 != 0)
		goto out;
	rh = v[0].hi1;
	rl = v[0].lo1;
	for (i = 1; i < k && !(rh == toph && rl == topl); i++) {
		/* The first address past the reach. */
		if (family == ADDR_V4) {
			nh = rh + (UINT64_C(1) << 32);
			nl = 0;
		} else {
			nl = rl + 1;
			nh = rh + (nl == 0);
		}
		if (v[i].hi0 > nh || (v[i].hi0 == nh && v[i].lo0 > nl))
			goto out;		/* a gap */
		if (v[i].hi1 > rh || (v[i].hi1 == rh && v[i].lo1 > rl)) {
			rh = v[i].hi1;
			rl = v[i].lo1;
		}
	}
	covered = rh == toph && rl == topl;
out:
	free(v);
	return covered;
}

/* The prefixes a rule applies to, as pointers; NULL when out of memory. */
static const struct addr **
sema_rule_prefixes(struct sema_rule *r, size_t *n)
{
	const struct addr	**p;
	size_t			  i, m = r->kind == PTAB_RULE_ADDR ? 1 :
				    r->list != NULL ? r->list->n : 0;

	if ((p = calloc(m + 1, sizeof(*p))) == NULL)
		return NULL;
	if (r->kind == PTAB_RULE_ADDR)
		p[0] = &r->prefix;
	else
		for (i = 0; i < m; i++)
			p[i] = &r->list->pfx[i];
	*n = m;
	return p;
}

/*
 * A relay rule whose prefixes cover all of IPv4 or IPv6 lets the whole
 * Internet relay; so do several relay rules together.
 */
static void
sema_check_relay(struct sema *s)
{
	const struct addr	**p, **all = NULL;
	struct sema_rule	 *r, *first = NULL;
	size_t			  i, j, n, nall = 0, cap = 0, nrelay = 0;
	int			  fam, any = 0;

	if (s->have_default == 1 && s->def.action == PTAB_ACT_ALLOW &&
	    (s->def.flags & PTAB_RULE_RELAY)) {
		sema_err(s, &s->def.relay_where, "'relay' on the default "
		    "lets every client relay: an open relay");
		any = 1;
	}
	for (i = 0; i < s->nrules; i++) {
		r = &s->rules[i];
		if (r->action != PTAB_ACT_ALLOW ||
		    !(r->flags & PTAB_RULE_RELAY))
			continue;
		if (r->kind == PTAB_RULE_LIST && r->list == NULL)
			continue;
		if (first == NULL)
			first = r;
		nrelay++;
		if ((p = sema_rule_prefixes(r, &n)) == NULL)
			continue;
		fam = 0;
		if (r->kind == PTAB_RULE_LIST && r->list->cover >= 0)
			fam = r->list->cover;
		else {
			if (sema_covers(p, n, ADDR_V4))
				fam |= 1;
			if (sema_covers(p, n, ADDR_V6))
				fam |= 2;
			if (r->kind == PTAB_RULE_LIST)
				r->list->cover = fam;
		}
		if (fam != 0) {
			sema_err(s, &r->where, "this relay rule covers all of "
			    "%s: an open relay", fam & 1 ? "IPv4" : "IPv6");
			any = 1;
		}
		/* Gather for the union of all relay rules. */
		if (!any && nall + n >= cap) {
			const struct addr	**t;
			size_t			  ncap;

			ncap = (nall + n) * 2 + 16;

			t = realloc(all, ncap * sizeof(*t));
			if (t != NULL) {
				all = t;
				cap = ncap;
			}
		}
		if (!any && nall + n < cap)
			for (j = 0; j < n; j++)
				all[nall++] = p[j];
		free(p);
	}
	if (!any && nrelay > 1 && all != NULL) {
		fam = 0;
		if (sema_covers(all, nall, ADDR_V4))
			fam |= 1;
		if (sema_covers(all, nall, ADDR_V6))
			fam |= 2;
		if (fam != 0)
			sema_err(s, &first->where, "the relay rules together "
			    "cover all of %s: an open relay",
			    fam & 1 ? "IPv4" : "IPv6");
	}
	free(all);
}

/* ---- Entry -------------------------------------------------------------- */

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
	sema_mail_resolve(s);
	sema_resolve_lists(s);
	sema_check_users(s);
	sema_check_listeners(s);
	sema_check_domains(s, s->accept, s->naccept, "accept for");
	sema_check_domains(s, s->outbound, s->noutbound, "outbound");
	sema_check_needs(s);
	sema_check_relay(s);
}
