/*
 * dns: where outbound mail goes, asked of DNS through c-ares without
 * ever blocking bastiond's event loop.
 *
 * Two lookups:
 *
 *   dns_lookup_mx()    a recipient domain: its MX records ordered by
 *	preference (equal preferences shuffled, RFC 5321 5.1), then the
 *	A and AAAA records of each exchanger; a domain without MX
 *	records falls back to its own A/AAAA (the implicit MX of RFC
 *	5321 5.1); a null MX (RFC 7505, a single MX "." ) is a
 *	permanent failure; an address literal ("[192.0.2.1]",
 *	"[IPv6:2001:db8::1]") needs no lookup.
 *   dns_lookup_host()  a next hop named by the policy (`via HOST',
 *	`forward to HOST'): its A and AAAA records; an IP literal needs
 *	no lookup.
 *
 * Either gives a struct dns_result: the addresses to try, in order,
 * each with the port to use and the name of its host (the name a
 * `tls verify' certificate must match), or a temporary or permanent
 * failure with a reason and an RFC 3463 status.  Only DNS is asked
 * (never /etc/hosts, never a search list), so a test that points the
 * resolver at a local server sees every question.
 *
 * Failures, as a Postfix or OpenSMTPD administrator expects them:
 *   NXDOMAIN for the domain, a null MX, no address for any host when
 *   every answer was authoritative (NXDOMAIN or no data)    DNS_PERMFAIL
 *   SERVFAIL, REFUSED, timeouts, a malformed answer, no resolver
 *   reachable, any temporary failure on the way            DNS_TEMPFAIL
 *
 * Integration with the loop: the resolver's sockets are registered
 * with loop_fd_add() as c-ares opens them (ARES_OPT_SOCK_STATE_CB) and
 * serviced with ares_process_fd(); one loop timer follows
 * ares_timeout() for retransmissions and timeouts.  Nothing here
 * blocks or sleeps.
 *
 * Callbacks: a lookup's callback is always called from the loop (a
 * zero-delay timer), never from inside dns_lookup_*(), exactly once,
 * unless dns_cancel() was called first.  The query is the caller's,
 * and must stay alive until its callback or dns_cancel().
 *
 * Usage:
 *	struct dns D;				(one per process)
 *	struct dns_config cf = { .servers = "127.0.0.1:5353" };
 *	dns_init(&D, &L, &cf, err, errlen);
 *	...
 *	struct dns_query q;			(in the delivery)
 *	dns_lookup_mx(&D, &q, "example.org", 25, done, arg);
 *	    -> later, from the loop: done(&q, arg); q.res holds the answer
 *	dns_cancel(&q);				(the delivery went away)
 *	...
 *	dns_free(&D);				(before loop_free)
 *
 * Memory: a query is fixed-size (about 5 KiB, most of it host names);
 * c-ares allocates internally for each question it sends.  A resolver
 * has a fixed table of DNS_REQ_SLOTS requests in flight; a lookup that
 * finds none free fails temporarily ("resolver busy").
 *
 * XXX Internationalized domain names are sent as their bytes; an
 * SMTPUTF8 domain in U-labels finds nothing (IDNA is not done here).
 * XXX No DNSSEC, hence no DANE: `tls verify' checks the MX host name
 * as the MX record gives it, as Postfix's "verify" level does.
 */
#ifndef BASTION_DNS_H
#define BASTION_DNS_H

#include <sys/socket.h>

#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

#define DNS_NAME_MAX		253	/* a host name, RFC 1035, no NUL */
#define DNS_MX_MAX		8	/* exchangers looked at, best first */
#define DNS_HOST_ADDR_MAX	4	/* addresses kept per host and family */
#define DNS_ADDR_MAX		16	/* addresses in one result */
#define DNS_REASON_MAX		256
#define DNS_REQ_SLOTS		256	/* questions in flight, per resolver */
#define DNS_SERVERS_MAX		512	/* the servers list, bytes */

/* What a lookup found. */
enum dns_status {
	DNS_OK = 0,		/* naddr >= 1 addresses to try */
	DNS_TEMPFAIL = 1,	/* try again later (defer) */
	DNS_PERMFAIL = 2	/* never going to work (bounce) */
};

/* One address to try: connect to sa, and call the host hosts[host]. */
struct dns_addr {
	union {
		struct sockaddr		sa;
		struct sockaddr_in	v4;
		struct sockaddr_in6	v6;
	} u;
	socklen_t	len;		/* of the sockaddr in u */
	uint16_t	pref;		/* MX preference; 0 for hosts */
	uint8_t		host;		/* index in hosts[] */
	uint8_t		pad;
};

/*
 * The answer.  On DNS_OK, addr[0..naddr) are the addresses in the
 * order to try them, and hosts[0..nhost) their names (without a
 * trailing dot; an IP literal is its own name).  On a failure, status
 * is the RFC 3463 code ("4.4.3", "5.1.2", "5.1.10") and reason says
 * what happened, e.g. "example.org: domain does not exist (NXDOMAIN)".
 */
struct dns_result {
	enum dns_status	 status;
	char		 dsn[8];
	char		 reason[DNS_REASON_MAX];
	size_t		 naddr;
	struct dns_addr	 addr[DNS_ADDR_MAX];
	size_t		 nhost;
	char		 hosts[DNS_MX_MAX][DNS_NAME_MAX + 1];
};

/* Resolver settings; zero fields take the defaults. */
struct dns_config {
	/*
	 * Name servers, as ares_set_servers_ports_csv() takes them:
	 * "127.0.0.1:5353,[::1]:53".  NULL or "": those of
	 * /etc/resolv.conf.
	 */
	const char	*servers;
	unsigned	 timeout_ms;	/* first try, per server; 2000 */
	unsigned	 tries;		/* per server; 3 */
	unsigned	 shuffle_off;	/* 1: keep equal-preference MX in
					 * answer order (tests) */
};

struct ares_channeldata;
struct dns;
struct dns_query;

typedef void	dns_done_fn(struct dns_query *q, void *arg);

/* One question sent, for the resolver's table (private). */
struct dns_req {
	struct dns		*dns;
	struct dns_query	*q;	/* NULL: free, or its query went */
	int			 used;
	uint8_t			 kind;	/* MX, A, AAAA */
	uint8_t			 host;	/* which exchanger */
};

/* The resolver.  Caller-allocated; its fields are private. */
struct dns {
	struct loop		*loop;
	struct ares_channeldata	*channel;
	struct loop_timer	 timer;	/* follows ares_timeout() */
	struct dns_req		*req;	/* DNS_REQ_SLOTS, from dns_init */
	size_t			 nfree;
	int			 shuffle;
	int			 fderrors;	/* sockets the loop refused */
	int			 inited;
};

/* Per exchanger, while its addresses are looked up (private). */
struct dns_hostq {
	uint16_t	pref;
	uint8_t		n4, n6;
	int8_t		st4, st6;	/* per family: see dns.c */
	struct dns_addr	a4[DNS_HOST_ADDR_MAX];
	struct dns_addr	a6[DNS_HOST_ADDR_MAX];
};

/*
 * A lookup.  Caller-allocated; res is the answer, valid in the
 * callback and until the query is used again; the rest is private.
 */
struct dns_query {
	struct dns_result	 res;
	struct dns		*dns;
	dns_done_fn		*fn;
	void			*arg;
	struct loop_timer	 done;
	int			 active;
	int			 settled;	/* the answer is made */
	int			 mx;		/* an MX lookup (else host) */
	int			 pending;	/* questions out */
	uint16_t		 port;
	char			 name[DNS_NAME_MAX + 1];
	struct dns_hostq	 hq[DNS_MX_MAX];
	struct dns_req		*reqs[1 + 2 * DNS_MX_MAX];
};

/*
 * Set up the resolver: c-ares's channel with our socket callback and
 * cf's servers, timeout and tries, no search list, DNS only; the
 * request table.  L must outlive D.  Returns 0, or -1 with the reason
 * in err (c-ares could not start, a bad servers list, out of memory).
 */
int	dns_init(struct dns *D, struct loop *L, const struct dns_config *cf,
	    char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Stop the resolver: questions in flight are dropped, its sockets
 * unregistered and closed, its timer cancelled.  Every lookup must be
 * finished (called back) or dns_cancel()ed first: a lookup whose
 * answer is complete may have its callback armed in the loop.  Call
 * before loop_free().
 */
void	dns_free(struct dns *D);

/*
 * Look up where mail for domain goes: MX, then addresses, as above;
 * every address gets port (25 unless a route says otherwise).  domain
 * may end with a dot, and may be an address literal in brackets.
 * q must not be in use by another lookup.  Returns 0: fn(q, arg) will
 * be called from the loop; or -1: it will not (no timer left in the
 * loop), q->res says why.
 */
int	dns_lookup_mx(struct dns *D, struct dns_query *q, const char *domain,
	    uint16_t port, dns_done_fn *fn, void *arg)
	    __attribute__((warn_unused_result));

/*
 * Look up the addresses of one host (A and AAAA; IPv4 first), or take
 * an IPv4 or IPv6 literal as it is (brackets allowed).  Returns as
 * dns_lookup_mx().
 */
int	dns_lookup_host(struct dns *D, struct dns_query *q, const char *host,
	    uint16_t port, dns_done_fn *fn, void *arg)
	    __attribute__((warn_unused_result));

/*
 * Forget a lookup: its callback will not be called, and q may be
 * freed at once.  Harmless on a query that is done, or zeroed and
 * never used.
 */
void	dns_cancel(struct dns_query *q);

/*
 * Fill res with the single address given by an IP literal ("192.0.2.1",
 * "2001:db8::1", "[192.0.2.1]", "[IPv6:2001:db8::1]") and port, as a
 * lookup would, without a resolver.  Returns 1 when s is a literal,
 * 0 when it is not (res untouched).  Pure: tests and the queue use it.
 */
int	dns_result_literal(struct dns_result *res, const char *s,
	    uint16_t port)
	    __attribute__((warn_unused_result));

/* Write addr a as "192.0.2.1:25" or "[2001:db8::1]:25" (for logs). */
void	dns_addr_format(const struct dns_addr *a, char *buf, size_t bufsz);

#endif
