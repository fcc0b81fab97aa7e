/*
 * dns: MX and address lookups for outbound delivery through c-ares,
 * driven by the event loop (see dns.h for the contract).
 *
 * A lookup is a small fan-out: one MX question, then an A and an AAAA
 * question per exchanger, all in flight together; when the last
 * answer is in, the addresses are laid out in preference order and
 * the caller hears of it on a zero-delay timer.  c-ares calls our
 * answer callback from inside ares_process_fd() (and sometimes from
 * inside ares_query() itself, on an immediate failure); that is why
 * the caller's callback is never called from there.
 *
 * Each question holds a slot of the resolver's table, pointing at its
 * query; cancelling a query only unhooks its slots, because c-ares
 * cannot cancel a single question, and the answer, when it comes,
 * finds no query and is dropped.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ares.h>
#include <sodium.h>

#include "dns.h"

/* What a question asks. */
enum { REQ_MX = 1, REQ_A, REQ_AAAA };

/* Per host and family: what the answer said. */
enum { ST_PENDING = 0, ST_FOUND, ST_NODATA, ST_NX, ST_TEMP };

/* MX records looked at in one answer (the rest are ignored). */
#define DNS_MX_SEEN	64

struct mxrec {
	const char	*host;
	uint16_t	 pref;
};

static void	on_sock_state(void *, ares_socket_t, int, int);
static void	on_fd(struct loop *, int, int, void *);
static void	on_timer(struct loop *, void *);
static void	on_done(struct loop *, void *);
static void	on_mx(void *, int, int, unsigned char *, int);
static void	on_addr(void *, int, int, unsigned char *, int);
static void	rearm(struct dns *);
static int	start(struct dns *, struct dns_query *, int, const char *,
		    uint16_t, dns_done_fn *, void *);
static int	ask(struct dns_query *, int, int, const char *);
static void	ask_host(struct dns_query *, int);
static void	finish(struct dns_query *);
static void	fail(struct dns_query *, enum dns_status, const char *,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
static void	hosts_done(struct dns_query *);
static int	name_check(const char *, char *, size_t, char *, size_t);
static void	set_port(struct dns_addr *, uint16_t);
static int	literal(const char *, struct dns_addr *);

static ares_channel
chan(const struct dns *D)
{
	return (ares_channel)D->channel;
}

int
dns_init(struct dns *D, struct loop *L, const struct dns_config *cf,
    char *err, size_t errlen)
{
	struct ares_options	 o;
	ares_channel		 ch;
	int			 r, mask;
	char			 lookups[] = "b";

	memset(D, 0, sizeof(*D));
	D->loop = L;
	D->shuffle = cf == NULL || !cf->shuffle_off;
	if ((r = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(r));
		return -1;
	}
	if ((D->req = calloc(DNS_REQ_SLOTS, sizeof(*D->req))) == NULL) {
		snprintf(err, errlen, "out of memory for the resolver");
		ares_library_cleanup();
		return -1;
	}
	D->nfree = DNS_REQ_SLOTS;
	loop_timer_init(&D->timer, on_timer, D);

	memset(&o, 0, sizeof(o));
	/*
	 * No search list: a recipient domain is a full name, and a
	 * search would send questions about names nobody asked for.
	 */
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	o.timeout = cf != NULL && cf->timeout_ms > 0 ?
	    (int)cf->timeout_ms : 2000;
	o.tries = cf != NULL && cf->tries > 0 ? (int)cf->tries : 3;
	o.sock_state_cb = on_sock_state;
	o.sock_state_cb_data = D;
	o.lookups = lookups;
	o.domains = NULL;
	o.ndomains = 0;
	mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	    ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS | ARES_OPT_DOMAINS;
	if ((r = ares_init_options(&ch, &o, mask)) != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(r));
		free(D->req);
		ares_library_cleanup();
		return -1;
	}
	D->channel = (struct ares_channeldata *)ch;
	if (cf != NULL && cf->servers != NULL && cf->servers[0] != '\0') {
		if (strlen(cf->servers) > DNS_SERVERS_MAX) {
			snprintf(err, errlen, "name server list too long");
			goto bad;
		}
		r = ares_set_servers_ports_csv(ch, cf->servers);
		if (r != ARES_SUCCESS) {
			snprintf(err, errlen, "name servers \"%s\": %s",
			    cf->servers, ares_strerror(r));
			goto bad;
		}
	}
	D->inited = 1;
	return 0;
bad:
	ares_destroy(ch);
	free(D->req);
	ares_library_cleanup();
	D->channel = NULL;
	D->req = NULL;
	return -1;
}

void
dns_free(struct dns *D)
{
	size_t	 i;

	if (!D->inited)
		return;
	/* Answers arriving during ares_destroy() find no query. */
	for (i = 0; i < DNS_REQ_SLOTS; i++)
		D->req[i].q = NULL;
	ares_destroy(chan(D));
	loop_timer_cancel(D->loop, &D->timer);
	free(D->req);
	D->req = NULL;
	D->channel = NULL;
	D->inited = 0;
	ares_library_cleanup();
}

/* ---- the loop's side ------------------------------------------------- */

/* c-ares opened, changed or is closing one of its sockets. */
static void
on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns	*D = data;
	int		 mask;

	mask = (readable ? LOOP_READ : 0) | (writable ? LOOP_WRITE : 0);
	if (mask == 0) {
		loop_fd_del(D->loop, fd);
		return;
	}
	if (loop_fd_mask(D->loop, fd) == -1) {
		/*
		 * Out of descriptors in the loop's table: the question
		 * will time out and fail temporarily, which is right.
		 */
		if (loop_fd_add(D->loop, fd, mask, on_fd, D) != 0)
			D->fderrors++;
	} else if (loop_fd_set(D->loop, fd, mask) != 0)
		D->fderrors++;
}

static void
on_fd(struct loop *L, int fd, int events, void *arg)
{
	struct dns	*D = arg;

	(void)L;
	ares_process_fd(chan(D), events & LOOP_READ ? fd : ARES_SOCKET_BAD,
	    events & LOOP_WRITE ? fd : ARES_SOCKET_BAD);
	rearm(D);
}

static void
on_timer(struct loop *L, void *arg)
{
	struct dns	*D = arg;

	(void)L;
	ares_process_fd(chan(D), ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rearm(D);
}

/* Follow c-ares's next deadline with our one timer. */
static void
rearm(struct dns *D)
{
	struct timeval	 tv, *t;
	uint64_t	 ms;

	if (!D->inited)
		return;
	if ((t = ares_timeout(chan(D), NULL, &tv)) == NULL) {
		loop_timer_cancel(D->loop, &D->timer);
		return;
	}
	/* Round up: a deadline 0.4 ms away must not spin the loop. */
	ms = (uint64_t)t->tv_sec * 1000 + ((uint64_t)t->tv_usec + 999) / 1000;
	if (loop_timer_arm(D->loop, &D->timer, ms) != 0) {
		/* No timer: the next socket event will look again. */
		D->fderrors++;
	}
}

/* ---- lookups --------------------------------------------------------- */

int
dns_lookup_mx(struct dns *D, struct dns_query *q, const char *domain,
    uint16_t port, dns_done_fn *fn, void *arg)
{
	return start(D, q, 1, domain, port, fn, arg);
}

int
dns_lookup_host(struct dns *D, struct dns_query *q, const char *host,
    uint16_t port, dns_done_fn *fn, void *arg)
{
	return start(D, q, 0, host, port, fn, arg);
}

/* Common start: literals and bad names are answered on the next turn. */
static int
start(struct dns *D, struct dns_query *q, int mx, const char *name,
    uint16_t port, dns_done_fn *fn, void *arg)
{
	char	 why[DNS_REASON_MAX];
	int	 r;

	memset(q, 0, sizeof(*q));
	q->dns = D;
	q->fn = fn;
	q->arg = arg;
	q->mx = mx;
	q->port = port;
	q->active = 1;
	loop_timer_init(&q->done, on_done, q);

	/*
	 * A recipient domain in brackets is an address literal (RFC
	 * 5321 4.1.3) and goes straight to that address; a policy's
	 * next hop may be a bare literal too.
	 */
	if (dns_result_literal(&q->res, name, port)) {
		finish(q);
		goto out;
	}
	r = name_check(name, q->name, sizeof(q->name), why, sizeof(why));
	if (r == -1) {
		fail(q, DNS_PERMFAIL, "5.1.2", "%s", why);
		goto out;
	}
	snprintf(q->res.hosts[0], sizeof(q->res.hosts[0]), "%s", q->name);
	if (mx)
		(void)ask(q, REQ_MX, 0, q->name);
	else {
		q->res.nhost = 1;
		ask_host(q, 0);
	}
	rearm(D);
out:
	if (q->settled && !loop_timer_armed(&q->done)) {
		/* Only a full timer heap gets here: finish() failed. */
		q->active = 0;
		snprintf(q->res.reason, sizeof(q->res.reason),
		    "no timer left in the loop");
		return -1;
	}
	return 0;
}

void
dns_cancel(struct dns_query *q)
{
	size_t	 i;

	if (q->dns == NULL)
		return;
	for (i = 0; i < sizeof(q->reqs) / sizeof(q->reqs[0]); i++) {
		if (q->reqs[i] != NULL) {
			q->reqs[i]->q = NULL;
			q->reqs[i] = NULL;
		}
	}
	loop_timer_cancel(q->dns->loop, &q->done);
	q->active = 0;
	q->pending = 0;
}

/*
 * Ask for the A and AAAA records of exchanger (or host) i.  The extra
 * count held meanwhile keeps an answer that c-ares gives at once from
 * settling the lookup before the second question is even sent.
 */
static void
ask_host(struct dns_query *q, int i)
{
	q->pending++;
	if (ask(q, REQ_A, i, q->res.hosts[i]) == 0)
		(void)ask(q, REQ_AAAA, i, q->res.hosts[i]);
	q->pending--;
	if (q->pending == 0 && !q->settled)
		hosts_done(q);
}

/*
 * Send one question for q.  Returns 0, or -1 when q is settled already
 * or no slot was free (q has then failed, temporarily).
 */
static int
ask(struct dns_query *q, int kind, int host, const char *name)
{
	struct dns	*D = q->dns;
	struct dns_req	*r = NULL;
	size_t		 i, idx;
	int		 type;

	if (q->settled)
		return -1;
	idx = kind == REQ_MX ? 0 : kind == REQ_A ? 1 + 2 * (size_t)host :
	    2 + 2 * (size_t)host;
	for (i = 0; i < DNS_REQ_SLOTS; i++) {
		if (!D->req[i].used) {
			r = &D->req[i];
			break;
		}
	}
	if (r == NULL) {
		fail(q, DNS_TEMPFAIL, "4.4.3", "%s: resolver busy "
		    "(%d questions in flight)", name, DNS_REQ_SLOTS);
		return -1;
	}
	r->used = 1;
	r->dns = D;
	r->q = q;
	r->kind = (uint8_t)kind;
	r->host = (uint8_t)host;
	D->nfree--;
	q->reqs[idx] = r;
	q->pending++;
	type = kind == REQ_MX ? 15 : kind == REQ_A ? 1 : 28;
	/* May call back at once (then pending drops again). */
	ares_query(chan(D), name, 1 /* IN */, type,
	    kind == REQ_MX ? on_mx : on_addr, r);
	return 0;
}

/* A question's answer is in: free its slot, return its query or NULL. */
static struct dns_query *
answered(struct dns_req *r)
{
	struct dns_query	*q = r->q;
	size_t			 idx;

	r->used = 0;
	r->q = NULL;
	r->dns->nfree++;
	if (q == NULL)
		return NULL;
	idx = r->kind == REQ_MX ? 0 : r->kind == REQ_A ?
	    1 + 2 * (size_t)r->host : 2 + 2 * (size_t)r->host;
	q->reqs[idx] = NULL;
	q->pending--;
	return q;
}

static int
mxcmp(const void *a, const void *b)
{
	const struct mxrec *x = a, *y = b;

	return (int)x->pref - (int)y->pref;
}

/* The MX answer: null MX, implicit MX, or the exchangers to look up. */
static void
on_mx(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_req		*r = arg;
	struct dns_query	*q;
	struct ares_mx_reply	*mxs = NULL, *m;
	struct mxrec		 recs[DNS_MX_SEEN], t;
	size_t			 n = 0, nnull = 0, i, j, k, run;
	int			 pr;

	(void)timeouts;
	if ((q = answered(r)) == NULL)
		return;
	if (status == ARES_ENOTFOUND) {
		fail(q, DNS_PERMFAIL, "5.1.2", "%s: domain does not exist "
		    "(NXDOMAIN)", q->name);
		return;
	}
	if (status == ARES_SUCCESS) {
		pr = ares_parse_mx_reply(abuf, alen, &mxs);
		if (pr == ARES_ENODATA)
			status = ARES_ENODATA;	/* a CNAME and no MX */
		else if (pr != ARES_SUCCESS) {
			fail(q, DNS_TEMPFAIL, "4.4.3", "%s: malformed MX "
			    "answer: %s", q->name, ares_strerror(pr));
			return;
		}
	}
	if (status == ARES_ENODATA) {
		/* RFC 5321 5.1: the domain itself, at preference 0. */
		q->res.nhost = 1;
		ask_host(q, 0);
		return;
	}
	if (status != ARES_SUCCESS) {
		fail(q, DNS_TEMPFAIL, "4.4.3", "%s: MX lookup failed: %s",
		    q->name, ares_strerror(status));
		return;
	}
	for (m = mxs; m != NULL && n < DNS_MX_SEEN; m = m->next) {
		if (m->host == NULL || m->host[0] == '\0' ||
		    strcmp(m->host, ".") == 0) {
			nnull++;
			continue;
		}
		recs[n].host = m->host;
		recs[n].pref = m->priority;
		n++;
	}
	if (n == 0) {
		ares_free_data(mxs);
		if (nnull > 0)
			fail(q, DNS_PERMFAIL, "5.1.10", "%s: domain does not "
			    "accept mail (null MX)", q->name);
		else
			fail(q, DNS_TEMPFAIL, "4.4.3", "%s: MX answer with "
			    "no usable record", q->name);
		return;
	}
	/* A "." beside real exchangers is a mistake; the rest still work. */
	qsort(recs, n, sizeof(recs[0]), mxcmp);
	if (q->dns->shuffle) {
		for (i = 0; i < n; i = j) {
			for (j = i + 1; j < n && recs[j].pref == recs[i].pref;
			    j++)
				;
			for (run = j - i; run > 1; run--) {
				k = i + randombytes_uniform((uint32_t)run);
				t = recs[k];
				recs[k] = recs[i + run - 1];
				recs[i + run - 1] = t;
			}
		}
	}
	q->res.nhost = 0;
	for (i = 0; i < n && q->res.nhost < DNS_MX_MAX; i++) {
		char	 name[DNS_NAME_MAX + 1], why[DNS_REASON_MAX];
		size_t	 h;

		if (name_check(recs[i].host, name, sizeof(name), why,
		    sizeof(why)) == -1)
			continue;
		for (h = 0; h < q->res.nhost; h++)
			if (strcasecmp(q->res.hosts[h], name) == 0)
				break;
		if (h < q->res.nhost)
			continue;	/* twice: the better one counts */
		memcpy(q->res.hosts[h], name, sizeof(name));
		q->hq[h].pref = recs[i].pref;
		q->res.nhost++;
	}
	ares_free_data(mxs);
	if (q->res.nhost == 0) {
		fail(q, DNS_TEMPFAIL, "4.4.3", "%s: no usable MX host name",
		    q->name);
		return;
	}
	q->pending++;		/* as in ask_host() */
	for (i = 0; i < q->res.nhost && !q->settled; i++)
		ask_host(q, (int)i);
	q->pending--;
	if (q->pending == 0 && !q->settled)
		hosts_done(q);
}

/* An A or AAAA answer for exchanger r->host. */
static void
on_addr(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_req		*r = arg;
	struct dns_query	*q;
	struct dns_hostq	*h;
	struct ares_addrttl	 a4[DNS_HOST_ADDR_MAX];
	struct ares_addr6ttl	 a6[DNS_HOST_ADDR_MAX];
	int			 kind = r->kind, n, pr, i, st;
	struct dns_addr		*d;

	(void)timeouts;
	if ((q = answered(r)) == NULL)
		return;
	h = &q->hq[r->host];
	if (status == ARES_SUCCESS) {
		n = DNS_HOST_ADDR_MAX;
		if (kind == REQ_A)
			pr = ares_parse_a_reply(abuf, alen, NULL, a4, &n);
		else
			pr = ares_parse_aaaa_reply(abuf, alen, NULL, a6, &n);
		if (pr == ARES_SUCCESS && n > 0) {
			st = ST_FOUND;
			for (i = 0; i < n && i < DNS_HOST_ADDR_MAX; i++) {
				d = kind == REQ_A ? &h->a4[i] : &h->a6[i];
				memset(d, 0, sizeof(*d));
				if (kind == REQ_A) {
					d->u.v4.sin_family = AF_INET;
					d->u.v4.sin_addr = a4[i].ipaddr;
					d->len = sizeof(d->u.v4);
				} else {
					d->u.v6.sin6_family = AF_INET6;
					memcpy(&d->u.v6.sin6_addr,
					    &a6[i].ip6addr, 16);
					d->len = sizeof(d->u.v6);
				}
				set_port(d, q->port);
				d->pref = h->pref;
				d->host = r->host;
			}
			if (kind == REQ_A)
				h->n4 = (uint8_t)i;
			else
				h->n6 = (uint8_t)i;
		} else if (pr == ARES_SUCCESS || pr == ARES_ENODATA)
			st = ST_NODATA;
		else {
			st = ST_TEMP;
			snprintf(q->res.reason, sizeof(q->res.reason),
			    "%s: malformed address answer", q->res.hosts[
			    r->host]);
		}
	} else if (status == ARES_ENODATA)
		st = ST_NODATA;
	else if (status == ARES_ENOTFOUND)
		st = ST_NX;
	else {
		st = ST_TEMP;
		snprintf(q->res.reason, sizeof(q->res.reason),
		    "%s: address lookup failed: %s", q->res.hosts[r->host],
		    ares_strerror(status));
	}
	if (kind == REQ_A)
		h->st4 = (int8_t)st;
	else
		h->st6 = (int8_t)st;
	if (q->pending == 0 && !q->settled)
		hosts_done(q);
}

/* Every address answer is in: lay the result out. */
static void
hosts_done(struct dns_query *q)
{
	struct dns_result	*res = &q->res;
	struct dns_hostq	*h;
	size_t			 i, j;
	int			 temp = 0, nx = 0;

	res->naddr = 0;
	for (i = 0; i < res->nhost; i++) {
		h = &q->hq[i];
		if (h->st4 == ST_TEMP || h->st6 == ST_TEMP)
			temp = 1;
		if (h->st4 == ST_NX && h->st6 == ST_NX)
			nx++;
		/* IPv4 first: it is the family more often routed. */
		for (j = 0; j < h->n4 && res->naddr < DNS_ADDR_MAX; j++)
			res->addr[res->naddr++] = h->a4[j];
		for (j = 0; j < h->n6 && res->naddr < DNS_ADDR_MAX; j++)
			res->addr[res->naddr++] = h->a6[j];
	}
	if (res->naddr > 0) {
		res->status = DNS_OK;
		res->reason[0] = '\0';
		res->dsn[0] = '\0';
		finish(q);
		return;
	}
	if (temp) {
		/* res->reason already says which lookup failed. */
		fail(q, DNS_TEMPFAIL, "4.4.3", "%s", res->reason);
		return;
	}
	if (!q->mx || (res->nhost == 1 && strcasecmp(res->hosts[0],
	    q->name) == 0)) {
		/* A host, or a domain without MX: its own name. */
		fail(q, DNS_PERMFAIL, "5.1.2", "%s: %s", q->name, nx ?
		    "host not found (NXDOMAIN)" : "no address (A or AAAA)");
		return;
	}
	fail(q, DNS_PERMFAIL, "5.4.4", "%s: no address for its MX host%s "
	    "(%s%s)", q->name, res->nhost > 1 ? "s" : "", res->hosts[0],
	    res->nhost > 1 ? ", ..." : "");
}

/* The answer is complete: tell the caller on the next turn. */
static void
finish(struct dns_query *q)
{
	size_t	 i;

	if (q->settled)
		return;
	q->settled = 1;
	/* Questions still out for a failed lookup go unanswered. */
	for (i = 0; i < sizeof(q->reqs) / sizeof(q->reqs[0]); i++) {
		if (q->reqs[i] != NULL) {
			q->reqs[i]->q = NULL;
			q->reqs[i] = NULL;
		}
	}
	q->pending = 0;
	/*
	 * A full timer heap loses the callback; start() reports it
	 * when it happens there, and the daemon sizes its heap with a
	 * timer for every lookup it may have in flight.
	 */
	if (loop_soon(q->dns->loop, &q->done) != 0)
		q->active = 0;
}

static void
fail(struct dns_query *q, enum dns_status st, const char *dsn,
    const char *fmt, ...)
{
	char	 buf[DNS_REASON_MAX];
	va_list	 ap;

	if (q->settled)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	q->res.status = st;
	q->res.naddr = 0;
	snprintf(q->res.dsn, sizeof(q->res.dsn), "%s", dsn);
	memcpy(q->res.reason, buf, sizeof(buf));
	finish(q);
}

static void
on_done(struct loop *L, void *arg)
{
	struct dns_query	*q = arg;

	(void)L;
	q->active = 0;
	q->fn(q, q->arg);
}

/* ---- names and literals ---------------------------------------------- */

/*
 * Check a host or domain name and copy it to out without a trailing
 * dot: LDH labels (and '_', which real MX names have) of 1..63 bytes,
 * at most DNS_NAME_MAX in all.  Returns 0, or -1 with the reason.
 */
static int
name_check(const char *s, char *out, size_t outsz, char *why, size_t wsz)
{
	size_t	 n = strlen(s), i, label = 0;

	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > DNS_NAME_MAX || n >= outsz) {
		snprintf(why, wsz, "%.*s: bad domain name length", (int)(n >
		    64 ? 64 : n), s);
		return -1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0)
				goto bad;
			label = 0;
			continue;
		}
		if (c >= 0x80) {
			snprintf(why, wsz, "%.*s: non-ASCII domain (IDNA is "
			    "not supported)", (int)(n > 64 ? 64 : n), s);
			return -1;
		}
		if (!isalnum(c) && c != '-' && c != '_')
			goto bad;
		if (++label > 63)
			goto bad;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
bad:
	snprintf(why, wsz, "bad domain name \"%.*s\"", (int)(n > 64 ? 64 : n),
	    s);
	for (i = 0; why[i] != '\0'; i++)
		if ((unsigned char)why[i] < 0x20 || why[i] == 0x7f)
			why[i] = '?';
	return -1;
}

static void
set_port(struct dns_addr *a, uint16_t port)
{
	if (a->u.sa.sa_family == AF_INET)
		a->u.v4.sin_port = htons(port);
	else
		a->u.v6.sin6_port = htons(port);
}

/* Parse an IP literal, bare or bracketed, into a. 1 yes, 0 no. */
static int
literal(const char *s, struct dns_addr *a)
{
	char	 buf[64];
	size_t	 n = strlen(s);

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
		if (n > 5 && strncasecmp(s, "IPv6:", 5) == 0) {
			s += 5;
			n -= 5;
		}
	}
	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, buf, &a->u.v4.sin_addr) == 1) {
		a->u.v4.sin_family = AF_INET;
		a->len = sizeof(a->u.v4);
		return 1;
	}
	if (inet_pton(AF_INET6, buf, &a->u.v6.sin6_addr) == 1) {
		a->u.v6.sin6_family = AF_INET6;
		a->len = sizeof(a->u.v6);
		return 1;
	}
	return 0;
}

int
dns_result_literal(struct dns_result *res, const char *s, uint16_t port)
{
	struct dns_addr	 a;

	if (!literal(s, &a))
		return 0;
	set_port(&a, port);
	memset(res, 0, sizeof(*res));
	res->status = DNS_OK;
	res->naddr = 1;
	res->addr[0] = a;
	res->nhost = 1;
	/* The name a certificate must carry: the address itself. */
	if (a.u.sa.sa_family == AF_INET)
		inet_ntop(AF_INET, &a.u.v4.sin_addr, res->hosts[0],
		    sizeof(res->hosts[0]));
	else
		inet_ntop(AF_INET6, &a.u.v6.sin6_addr, res->hosts[0],
		    sizeof(res->hosts[0]));
	return 1;
}

void
dns_addr_format(const struct dns_addr *a, char *buf, size_t bufsz)
{
	char	 ip[INET6_ADDRSTRLEN];

	if (a->u.sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &a->u.v4.sin_addr, ip, sizeof(ip));
		snprintf(buf, bufsz, "%s:%u", ip, ntohs(a->u.v4.sin_port));
	} else if (a->u.sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &a->u.v6.sin6_addr, ip, sizeof(ip));
		snprintf(buf, bufsz, "[%s]:%u", ip, ntohs(a->u.v6.sin6_port));
	} else
		snprintf(buf, bufsz, "?");
}
