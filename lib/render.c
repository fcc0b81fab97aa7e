/*
 * render: table records back to policy source, one statement at a
 * time, for dump, query and diff.  What is written here must compile
 * to the very record it came from (the dump round trip depends on it),
 * so every spelling is the canonical one of the language spec.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "b64.h"
#include "ptab.h"
#include "render.h"

static int	render_target(FILE *, const struct ptab *, uint32_t);

static const char *const render_levels[4] = {
	"none", "tls", "auth", "auth+tls"
};

const char *
render_level(uint8_t require)
{
	return render_levels[require & (PTAB_REQ_TLS | PTAB_REQ_AUTH)];
}

const char *
render_tls(uint8_t tls)
{
	switch (tls) {
	case PTAB_TLS_NONE:
		return "none";
	case PTAB_TLS_OPPORTUNISTIC:
		return "opportunistic";
	case PTAB_TLS_REQUIRED:
		return "required";
	case PTAB_TLS_VERIFY:
		return "verify";
	}
	return NULL;
}

const char *
render_mech(uint8_t mech)
{
	switch (mech) {
	case PTAB_MECH_PLAIN:
		return "plain";
	case PTAB_MECH_LOGIN:
		return "login";
	case PTAB_MECH_SCRAM_SHA_256:
		return "scram-sha-256";
	}
	return NULL;
}

/*
 * The language has no escape for a line break, so a string holding one
 * (only a hand-made table can) is written as it is and reported.
 */
int
render_string(FILE *fp, const char *s)
{
	int	 rc = 0;

	putc('"', fp);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			putc('\\', fp);
		else if (*s == '\n' || *s == '\r')
			rc = -1;
		putc(*s, fp);
	}
	putc('"', fp);
	return rc;
}

void
render_size(FILE *fp, uint64_t n)
{
	static const char	 units[] = "GMK";
	int			 i;

	for (i = 0; i < 3; i++) {
		uint64_t	 u = (uint64_t)1 << (10 * (3 - i));

		if (n != 0 && n % u == 0) {
			fprintf(fp, "%llu%c", (unsigned long long)(n / u),
			    units[i]);
			return;
		}
	}
	fprintf(fp, "%llu", (unsigned long long)n);
}

void
render_duration(FILE *fp, uint32_t secs)
{
	if (secs != 0 && secs % 86400 == 0)
		fprintf(fp, "%lud", (unsigned long)(secs / 86400));
	else if (secs != 0 && secs % 3600 == 0)
		fprintf(fp, "%luh", (unsigned long)(secs / 3600));
	else if (secs != 0 && secs % 60 == 0)
		fprintf(fp, "%lum", (unsigned long)(secs / 60));
	else
		fprintf(fp, "%lus", (unsigned long)secs);
}

int
render_effect(FILE *fp, const struct ptab *t, const struct ptab_rule_rec *r)
{
	int	 rc = 0;

	if (r->action == PTAB_ACT_DENY) {
		fputs("deny", fp);
		/* deny takes no clauses: anything else cannot be spelled */
		if (r->require != 0 || r->flags != 0 || r->as_user != 0)
			rc = -1;
		return rc;
	}
	if (r->action != PTAB_ACT_ALLOW)
		rc = -1;
	fprintf(fp, "require %s", render_level(r->require));
	if (r->as_user != 0) {
		fputs(" as ", fp);
		if (render_string(fp, ptab_str(t, r->as_user)) == -1)
			rc = -1;
	}
	if (r->flags & PTAB_RULE_RELAY)
		fputs(" relay", fp);
	if (r->flags & PTAB_RULE_CLEARTEXT)
		fputs(" auth cleartext", fp);
	if ((r->flags & ~(PTAB_RULE_RELAY | PTAB_RULE_CLEARTEXT)) != 0 ||
	    (r->require & ~(PTAB_REQ_TLS | PTAB_REQ_AUTH)) != 0)
		rc = -1;
	return rc;
}

int
render_rule(FILE *fp, const struct ptab *t, uint32_t i)
{
	const struct ptab_rule_rec	*r = &t->rules[i];
	struct addr			 a;
	char				 buf[ADDR_STRLEN];
	int				 rc = 0;

	switch (r->kind) {
	case PTAB_RULE_DEFAULT:
		fputs("default ", fp);
		break;
	case PTAB_RULE_ADDR:
		memset(&a, 0, sizeof(a));
		a.family = r->family;
		a.len = r->plen;
		memcpy(a.a, r->prefix, sizeof(a.a));
		addr_format(&a, buf, sizeof(buf));
		fprintf(fp, "host %s ", buf);
		break;
	case PTAB_RULE_LIST:
		if (r->list < t->nlists)
			fprintf(fp, "host <%s> ",
			    ptab_str(t, t->lists[r->list].name));
		else {
			fputs("host <?> ", fp);
			rc = -1;
		}
		break;
	default:
		fputs("host ? ", fp);
		rc = -1;
		break;
	}
	if (render_effect(fp, t, r) == -1)
		rc = -1;
	return rc;
}

int
render_list_name(FILE *fp, const struct ptab *t, uint32_t i)
{
	fprintf(fp, "list %s { ", ptab_str(t, t->lists[i].name));
	return 0;
}

void
render_entry(FILE *fp, const struct ptab *t, int family, uint32_t i)
{
	struct addr	 a;
	char		 buf[ADDR_STRLEN];

	ptab_entry_addr(t, family, i, &a);
	addr_format(&a, buf, sizeof(buf));
	fputs(buf, fp);
}

/* A next hop: written as the compiler kept it (an address or a name). */
static int
render_target(FILE *fp, const struct ptab *t, uint32_t target)
{
	const char	*s = ptab_str(t, target);

	fputs(s, fp);
	return s[strcspn(s, " \t\r\n\"#")] == '\0' && *s != '\0' ? 0 : -1;
}

int
render_accept(FILE *fp, const struct ptab *t, const struct ptab_domain_rec *d)
{
	const char	*tls;
	int		 rc = 0;

	fprintf(fp, "accept for %s ", ptab_str(t, d->domain));
	switch (d->delivery) {
	case PTAB_DELIVER_MAILDIR:
		fputs("deliver maildir ", fp);
		rc = render_string(fp, ptab_str(t, d->target));
		break;
	case PTAB_DELIVER_FORWARD:
		fputs("forward to ", fp);
		if (render_target(fp, t, d->target) == -1)
			rc = -1;
		tls = render_tls(d->tls);
		fprintf(fp, " port %u tls %s", (unsigned)d->port,
		    tls != NULL ? tls : "?");
		if (tls == NULL)
			rc = -1;
		break;
	default:
		fprintf(fp, "(delivery %u)", (unsigned)d->delivery);
		rc = -1;
		break;
	}
	if (d->rcpts == PTAB_RCPTS_ANY)
		fputs(" recipients any", fp);
	else if (d->rcpts == PTAB_RCPTS_LIST) {
		if (d->rcpt_list < t->nrcpts)
			fprintf(fp, " recipients <%s>", ptab_str(t,
			    t->rcpts[d->rcpt_list].name));
		else {
			fputs(" recipients <?>", fp);
			rc = -1;
		}
	}
	return rc;
}

int
render_outbound(FILE *fp, const struct ptab *t,
    const struct ptab_domain_rec *d)
{
	const char	*tls, *mech;
	int		 rc = 0;

	fprintf(fp, "outbound %s via ", ptab_str(t, d->domain));
	if (d->target == 0)
		fputs("mx", fp);
	else if (render_target(fp, t, d->target) == -1)
		rc = -1;
	tls = render_tls(d->tls);
	fprintf(fp, " port %u tls %s", (unsigned)d->port,
	    tls != NULL ? tls : "?");
	if (tls == NULL || d->delivery != PTAB_DELIVER_RELAY)
		rc = -1;
	if (d->mech == PTAB_MECH_NONE) {
		if (d->user != 0 || d->secret != PTAB_NONE)
			rc = -1;
		return rc;
	}
	mech = render_mech(d->mech);
	fprintf(fp, " auth %s user ", mech != NULL ? mech : "?");
	if (mech == NULL)
		rc = -1;
	if (render_string(fp, ptab_str(t, d->user)) == -1)
		rc = -1;
	fputs(" password ", fp);
	if (d->secret == PTAB_NONE) {
		fputs("sealed:", fp);
		rc = -1;
	} else if (render_sealed(fp, t, d->secret, d->secret_len) == -1)
		rc = -1;
	return rc;
}

int
render_listener(FILE *fp, const struct ptab *t,
    const struct ptab_listener_rec *l)
{
	const struct ptab_proxy_rec	*x;
	struct addr			 a;
	char				 buf[ADDR_STRLEN];

	memset(&a, 0, sizeof(a));
	a.family = l->family;
	a.len = l->family == ADDR_V4 ? 32 : 128;
	memcpy(a.a, l->addr, sizeof(a.a));
	addr_format(&a, buf, sizeof(buf));
	fprintf(fp, "listen on %s port %u", buf, (unsigned)l->port);
	if (l->tls)
		fputs(" tls", fp);
	if (l->require != 0)
		fprintf(fp, " require %s", render_level(l->require));
	if (!l->proxy)
		return 0;
	if (l->proxy_list != PTAB_NONE) {
		if (l->proxy_list >= t->nlists)
			return -1;
		fprintf(fp, " proxy from <%s>",
		    ptab_str(t, t->lists[l->proxy_list].name));
		return 0;
	}
	if (l->nproxy != 1 || l->proxy_first >= t->nproxy) {
		fputs(" proxy from ?", fp);
		return -1;
	}
	x = &t->proxy[l->proxy_first];
	fputs(" proxy from ", fp);
	render_proxy(fp, x);
	return 0;
}

void
render_proxy(FILE *fp, const struct ptab_proxy_rec *x)
{
	struct addr	 a;
	char		 buf[ADDR_STRLEN];

	memset(&a, 0, sizeof(a));
	a.family = x->family;
	a.len = x->plen;
	memcpy(a.a, x->addr, sizeof(a.a));
	addr_format(&a, buf, sizeof(buf));
	fputs(buf, fp);
}

int
render_rcpts_name(FILE *fp, const struct ptab *t, uint32_t i)
{
	fprintf(fp, "recipients %s { ", ptab_str(t, t->rcpts[i].name));
	return 0;
}

int
render_user(FILE *fp, const struct ptab *t, const struct ptab_user_rec *u)
{
	uint32_t	 k;
	int		 rc;

	fputs("user ", fp);
	rc = render_string(fp, ptab_str(t, u->name));
	putc(' ', fp);
	if (render_string(fp, ptab_str(t, u->verifier)) == -1)
		rc = -1;
	if (u->nsenders == 0)
		return rc;
	fputs(" senders {", fp);
	for (k = 0; k < u->nsenders; k++)
		fprintf(fp, " %s", ptab_str(t, t->senders[u->senders + k]));
	fputs(" }", fp);
	return rc;
}

int
render_setting(FILE *fp, const struct ptab *t, int which)
{
	const struct ptab_server_rec	*s = t->server;
	const char			*m;
	int				 rc = 0, i;

	switch (which) {
	case PTAB_SET_HOSTNAME:
		fputs("hostname ", fp);
		return render_string(fp, ptab_str(t, s->hostname));
	case PTAB_SET_CERT:
		fputs("tls certificate ", fp);
		rc = render_string(fp, ptab_str(t, s->cert));
		fputs(" key ", fp);
		if (render_string(fp, ptab_str(t, s->key)) == -1)
			rc = -1;
		return rc;
	case PTAB_SET_TRUST:
		fputs("tls trust ", fp);
		return render_string(fp, ptab_str(t, s->trust));
	case PTAB_SET_SPOOL:
		fputs("spool ", fp);
		return render_string(fp, ptab_str(t, s->spool));
	case PTAB_SET_LOG:
		fputs("log ", fp);
		return render_string(fp, ptab_str(t, s->log));
	case PTAB_SET_RUNAS:
		fputs("run as ", fp);
		return render_string(fp, ptab_str(t, s->runas));
	case PTAB_SET_MSGSIZE:
		fputs("limit message-size ", fp);
		render_size(fp, s->max_msgsize);
		return 0;
	case PTAB_SET_RCPTS:
		fprintf(fp, "limit recipients %lu",
		    (unsigned long)s->max_rcpts);
		return 0;
	case PTAB_SET_CONNS:
		fprintf(fp, "limit connections %lu per-host %lu",
		    (unsigned long)s->max_conns,
		    (unsigned long)s->max_conns_host);
		return 0;
	case PTAB_SET_AUTHFAIL:
		fprintf(fp, "limit auth-failures %lu",
		    (unsigned long)s->max_authfail);
		return 0;
	case PTAB_SET_TO_COMMAND:
		fputs("timeout command ", fp);
		render_duration(fp, s->to_command);
		return 0;
	case PTAB_SET_TO_DATA:
		fputs("timeout data ", fp);
		render_duration(fp, s->to_data);
		return 0;
	case PTAB_SET_TO_CONNECT:
		fputs("timeout connect ", fp);
		render_duration(fp, s->to_connect);
		return 0;
	case PTAB_SET_QUEUE:
		fputs("queue lifetime ", fp);
		render_duration(fp, s->lifetime);
		fputs(" retry ", fp);
		render_duration(fp, s->retry);
		return 0;
	case PTAB_SET_MECHS:
		fputs("auth mechanisms", fp);
		for (i = 0; i < PTAB_MAX_MECHS && s->mechs[i] != 0; i++) {
			if ((m = render_mech(s->mechs[i])) == NULL) {
				m = "?";
				rc = -1;
			}
			fprintf(fp, " %s", m);
		}
		if (i == 0)
			rc = -1;
		return rc;
	case PTAB_SET_CONTROL:
		fputs("control ", fp);
		return render_string(fp, ptab_str(t, s->control));
	}
	fprintf(fp, "(setting %d)", which);
	return -1;
}

int
render_sealed(FILE *fp, const struct ptab *t, uint32_t off, uint32_t len)
{
	char	*buf;
	size_t	 need;

	/* The reader checked off and len against BLOBS at load. */
	if (off > t->nblobs || t->nblobs - off < len) {
		fputs("sealed:", fp);
		return -1;
	}
	need = B64_ENCODED_SIZE((size_t)len);
	if ((buf = malloc(need)) == NULL ||
	    b64_encode(t->blobs + off, len, buf, need) < 0) {
		free(buf);
		fputs("sealed:", fp);
		return -1;
	}
	fprintf(fp, "sealed:%s", buf);
	free(buf);
	return 0;
}
