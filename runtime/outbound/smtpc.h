/*
 * smtpc: one outbound SMTP client session (RFC 5321), non-blocking,
 * driven by bastiond's event loop: it carries one spooled message to
 * one next hop for a set of recipients, and says what became of each.
 *
 * The session, in order:
 *   - connect to the first address of a dns_result (connect timeout);
 *   - 220 greeting; EHLO (HELO if EHLO gets a 5xx);
 *   - STARTTLS as the route's TLS level says (see below), then EHLO
 *     again, having forgotten everything the clear-text EHLO said;
 *   - AUTH with the route's mechanism (PLAIN, LOGIN or SCRAM-SHA-256),
 *     only ever inside TLS;
 *   - MAIL FROM (SIZE= when the next hop offers SIZE; BODY=8BITMIME,
 *     SMTPUTF8 as the message needs and the hop offers), RCPT TO for
 *     every recipient, DATA: with PIPELINING, the whole group in one
 *     write (RFC 2920), else one command at a time;
 *   - the body streamed from the spool, dot-stuffed, then ".";
 *   - QUIT, or, when the caller asked for it (cf->keep), nothing: the
 *     connection is kept for another message (see "Reuse" below).
 * A failure before MAIL FROM (no connection, a bad greeting, TLS or
 * AUTH trouble, a timeout) moves on to the next address of the
 * result, up to SMTPC_TRIES connections; once MAIL FROM has been sent
 * the outcome of this attempt is final.
 *
 * Ending (RFC 5321 4.1.1.10): a session that failed while the
 * dialogue is still in order (a refused greeting, EHLO, STARTTLS or
 * AUTH, a missing STARTTLS or AUTH mechanism) says QUIT, waits for the
 * 221 a short while (at most SMTPC_FAILQUIT_MS), sends TLS close_notify
 * when inside TLS, and only then closes; an AUTH failed in the middle
 * of its exchange is cancelled with "*" first (RFC 4954 4).  After a
 * 421 the next hop is closing: close_notify, no QUIT.  Only a broken
 * stream (a timeout, a malformed or untimely reply, an I/O or TLS
 * error, a local failure) is closed at once.
 *
 * TLS levels (the route's enum ptab_tls_level):
 *   none           never STARTTLS.
 *   opportunistic  STARTTLS if offered, any certificate.  If the next
 *                  hop refuses STARTTLS (4xx/5xx) the session goes on in
 *                  clear; if the handshake itself fails, the session
 *                  connects again to the same address and delivers in
 *                  clear without trying STARTTLS (what Postfix does at
 *                  its "may" level): opportunistic TLS promises nothing
 *                  against an active attacker, and a broken TLS stack
 *                  at the peer must not stop the mail.
 *   required       STARTTLS must be offered and succeed (any
 *                  certificate); otherwise this address fails (next
 *                  address, then defer).  Nothing is ever sent in clear
 *                  past EHLO.
 *   verify         as required, and the certificate must chain to the
 *                  `tls trust' anchors and match the next hop's name
 *                  (the MX host name, or the `via' host).
 * Bytes the next hop sends after its 220 to STARTTLS and before the
 * handshake are discarded (RFC 3207 4.2; the STARTTLS injection): they
 * are logged as a count, never read as replies.
 *
 * Results, per recipient (struct smtpc_rcpt):
 *   SMTPC_DELIVERED  250 to the final "." (never anything less);
 *   SMTPC_DEFERRED   a 4xx, a timeout, a lost connection, a malformed
 *                    reply, TLS or AUTH failure, a local error: try
 *                    again later;
 *   SMTPC_BOUNCED    a 5xx to MAIL, RCPT, DATA or the final "."; a
 *                    message over the next hop's SIZE; an SMTPUTF8
 *                    message the hop cannot take; a 5xx greeting or
 *                    HELO from the last address tried;
 * each with the reply (or the local reason) and an RFC 3463 status.
 *
 * Replies are read robustly: a reply line is at most SMTPC_LINE_MAX
 * bytes, a whole reply at most SMTPC_REPLY_LINES lines and
 * SMTPC_REPLY_BYTES bytes (lines are handled as they arrive, so a
 * long reply costs time, never memory); every line of a multi-line
 * reply must carry the same code; a reply that arrives when none is
 * due, a missing code or a bad separator is malformed.  Any of these
 * fails the session (temporarily) with a reason.  LF alone ends a
 * line, as many servers send it; a NUL is malformed.
 *
 * Timeouts (struct smtpc_timeouts, RFC 5321 4.5.3.2): a silent peer
 * fails the session temporarily.
 *
 * Logging: every event is one protocol-log line (runtime/core/plog.h):
 * "+" connected, "<" each reply line (at most SMTPC_LOG_LINES of one
 * reply), ">" each command, "*" decisions (TLS established, bytes
 * discarded, each recipient's result), "-" disconnect with the reason.
 * The session id field is the caller's (the queue id), local and
 * remote are the socket's endpoints.  AUTH is written "AUTH PLAIN
 * ****", every SASL response "****" and every 334 challenge
 * "334 ****"; the body is one line with its size.
 *
 * Secrets: the route's password stays sealed (lib/seal.h) until AUTH
 * starts; it is opened then into sodium_malloc'd memory, used, and
 * wiped and freed as soon as AUTH is over (or the session ends).
 * Output bytes are wiped from the session's buffer once written.
 *
 * Memory: struct smtpc is caller-allocated and fixed-size (under
 * 10 KiB); the TLS engine (about 36 KiB, tls_conn_size(TLS_ROLE_CLIENT))
 * is allocated when the next hop answers 220 to STARTTLS and freed
 * when the connection closes, and the secret's block (sodium_malloc)
 * lives from the start of AUTH to its end.  Nothing else allocates
 * while the session runs, whatever the peer sends.  CPU: SCRAM's
 * PBKDF2 runs once per session, in the loop, in one go, so the next
 * hop's iteration count is refused above SMTPC_SCRAM_ITER_MAX.
 *
 * Reuse (cf->keep, as Postfix's connection cache): a transaction that
 * ended cleanly (every reply read, none a 421, no protocol or I/O
 * error, nothing unasked-for from the peer, TLS intact) leaves the
 * connection open instead of saying QUIT; after the callback,
 * smtpc_kept() says so, and the caller either parks the session
 * (smtpc_park: idle, on its own config, until its time is up, then
 * QUIT), carries another message on it (smtpc_reuse), or ends it
 * (smtpc_close).  A reused session keeps the next hop's EHLO
 * capabilities, its TLS and its AUTH; its transaction begins with RSET,
 * and anything but 250 (a 421, a timeout, the peer gone) means the
 * kept connection was dead: it is closed, and the message goes over a
 * new connection to the addresses given, exactly as from smtpc_start()
 * (that costs none of the SMTPC_TRIES).  A parked session the peer
 * closes, or speaks on, is closed at once.  Which sessions may carry
 * which messages (the same route, the same next hop and name) is the
 * caller's business: smtpc only checks that the address it is
 * connected to is among those given.
 *
 * Usage (what queue.c does for one message and one route):
 *
 *	struct smtpc_config cf = {
 *	    .loop = &srv->loop, .log = &srv->log, .sid = m->id,
 *	    .helo = hostname, .to = NULL, .creds = client_creds,
 *	    .key = srv->key };
 *	struct smtpc_route rt;
 *	smtpc_route_from_ptab(&rt, &table->t, d);	(d: the route)
 *	struct smtpc_rcpt rc[n];			(pending recipients)
 *	rc[i].addr = spool_rcpt[i].addr;
 *	... dns_lookup_mx() or dns_lookup_host() gives res ...
 *	smtpc_start(c, &cf, &rt, &res, m, rc, n, done, arg, err, errlen);
 *	    -> later, from the loop, done(c, arg), exactly once: every
 *	       rc[i].result is final; mark the spool (DELIVERED,
 *	       FAILED + bounce, or leave PENDING), then free c.
 *	smtpc_abort(c, "shutting down");  (no callback; pending deferred)
 *
 * cf, rt, res, m and rc (and what they point to) must stay valid until
 * the callback or smtpc_abort(): the session keeps pointers to them.
 * m is the caller's open spool message; smtpc only reads its envelope
 * and body (spool_body_read), never marks it.  Recipients are passed
 * as given (their RCPT parameters are not forwarded: the DSN extension
 * is not offered to clients).
 */
#ifndef BASTION_SMTPC_H
#define BASTION_SMTPC_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "dns.h"
#include "loop.h"
#include "oplog.h"
#include "plog.h"
#include "ptab.h"
#include "seal.h"
#include "spool.h"

#define SMTPC_IN_SIZE		2048	/* input buffer: one reply line */
#define SMTPC_OUT_SIZE		4096	/* output: a pipelined group */
#define SMTPC_LINE_MAX		1000	/* a reply line, CRLF included */
#define SMTPC_REPLY_LINES	100	/* lines in one reply */
#define SMTPC_REPLY_BYTES	16384	/* bytes in one reply */
#define SMTPC_TEXT_MAX		384	/* reply text kept per result */
#define SMTPC_STATUS_MAX	12	/* "5.1.10" and a NUL, room to spare */
#define SMTPC_LOG_LINES		30	/* lines logged of one reply */
#define SMTPC_TRIES		5	/* connections per attempt */
#define SMTPC_FAILQUIT_MS	5000	/* the 221 after a failure, at most */
/*
 * PBKDF2 rounds a next hop may ask of us (about 25 ms on a current
 * CPU, in one go: lib/scram's client does it inside one call).
 */
#define SMTPC_SCRAM_ITER_MAX	65536
#define SMTPC_NAME_MAX		DNS_NAME_MAX
#define SMTPC_CMDQ		128	/* commands written, awaiting reply */

/* A recipient's outcome. */
enum smtpc_result {
	SMTPC_PENDING = 0,	/* not decided (never left so at the end) */
	SMTPC_DELIVERED,
	SMTPC_DEFERRED,
	SMTPC_BOUNCED
};

/*
 * One recipient.  The caller sets addr (the address without < >,
 * valid until the callback) and zeroes the rest; the session fills
 * in the outcome.
 */
struct smtpc_rcpt {
	const char	*addr;
	uint8_t		 result;	/* enum smtpc_result */
	uint8_t		 from_peer;	/* text is the next hop's reply */
	uint8_t		 accepted;	/* private: RCPT got 2xx */
	uint8_t		 pad;
	/*
	 * When from_peer: where the reply starts in text.  0 when text
	 * is the reply alone; more when our explanation comes first
	 * ("authentication failed: 535 5.7.8 ..."), so that a bounce can
	 * quote the reply exactly and explain it apart.
	 */
	uint16_t	 reply_at;
	/* RFC 3463 status: the reply's enhanced code, or one we chose */
	char		 status[SMTPC_STATUS_MAX];
	/*
	 * "550 5.1.1 <bob@example.org>: no such user" (the reply, lines
	 * joined by spaces, cut to fit, after our words if reply_at) when
	 * from_peer, else our reason ("connection to mx.example.org
	 * [192.0.2.1]:25 timed out").
	 */
	char		 text[SMTPC_TEXT_MAX];
};

/*
 * Timeouts in milliseconds.  smtpc_timeouts_default() fills in RFC
 * 5321 4.5.3.2's values; tests shorten them.
 */
struct smtpc_timeouts {
	uint32_t	connect;	/* 30 s: `timeout connect' */
	uint32_t	greeting;	/* 5 min: the initial 220 */
	uint32_t	command;	/* 5 min: EHLO, HELO, STARTTLS and its
					 * handshake, each AUTH step */
	uint32_t	mail;		/* 5 min */
	uint32_t	rcpt;		/* 5 min */
	uint32_t	data_init;	/* 2 min: the 354 */
	uint32_t	data_block;	/* 3 min: each write of the body */
	uint32_t	data_end;	/* 10 min: the reply to "." */
	uint32_t	quit;		/* 1 min: the 221 (the results are
					 * known by then) */
};

void	smtpc_timeouts_default(struct smtpc_timeouts *to);

/* What the session needs from the daemon. */
struct smtpc_config {
	struct loop			*loop;
	struct plog			*log;	/* NULL: no protocol log */
	const char			*sid;	/* log session id (queue id) */
	const char			*helo;	/* our name, for EHLO/HELO */
	const struct smtpc_timeouts	*to;	/* NULL: the defaults */
	/* trust anchors for `verify' (may hold none); NULL: no TLS */
	struct tls_client_creds		*creds;
	const struct seal_key		*key;	/* opens route secrets */
	/*
	 * Source addresses to connect from, per family (NULL: the
	 * kernel's choice); bastiond passes its listeners' addresses so
	 * that a site's mail leaves from the address it receives on.
	 */
	const struct addr		*src4;
	const struct addr		*src6;
	/*
	 * The daemon's diagnostics, for what its operator should hear of
	 * (mail sent in clear after a failed TLS handshake); NULL: none.
	 */
	const struct oplog		*oplog;
	/* 1: keep a clean connection after the transaction (see Reuse). */
	int				 keep;
};

/* A route: how to talk to the next hop. */
struct smtpc_route {
	int		 tls;		/* enum ptab_tls_level */
	int		 mech;		/* enum ptab_mech */
	const char	*user;		/* SASL user, or NULL */
	const uint8_t	*secret;	/* the sealed password, or NULL */
	size_t		 secret_len;
};

/*
 * Fill r from a route record of table t (`outbound' or `accept ...
 * forward to'): TLS level, mechanism, user, and the sealed secret from
 * the BLOBS section.  r points into t: keep the table referenced for
 * as long as a session uses r.
 */
void	smtpc_route_from_ptab(struct smtpc_route *r, const struct ptab *t,
	    const struct ptab_domain_rec *d);

struct smtpc;
typedef void	smtpc_done_fn(struct smtpc *c, void *arg);

struct smtpc_secret;

/* How a session's connection has served: the caller may read it. */
struct smtpc_use {
	uint64_t	 since;		/* loop_now() when it connected */
	unsigned	 messages;	/* transactions begun on it */
	unsigned	 connects;	/* connections this attempt made */
	int		 reused;	/* this attempt went over a kept one */
};

/*
 * The session.  Caller-allocated; the fields are private but for use
 * (read only).
 */
struct smtpc {
	/* Set by smtpc_start. */
	const struct smtpc_config	*cf;
	struct smtpc_timeouts		 to;
	const struct smtpc_route	*rt;
	const struct dns_result		*hops;
	struct spool_msg		*m;
	struct smtpc_rcpt		*rc;
	size_t				 nrc;
	smtpc_done_fn			*done;
	void				*arg;
	/* The connection. */
	struct conn			 io;		/* over in and out */
	int				 state;
	int				 ended;		/* released */
	unsigned			 conn;		/* bumped per close */
	size_t				 hop;		/* address index */
	unsigned			 tries;
	int				 notls;		/* opportunistic
							 * fallback */
	int				 retrysame;
	int				 txstarted;	/* MAIL queued */
	int				 starttls_refused;
	int				 authed;
	int				 broken;	/* the stream is: no
							 * QUIT */
	int				 noquit;	/* 421: closing */
	int				 cancel;	/* AUTH "*" first */
	int				 lastcode;	/* last reply */
	int				 kept;		/* open, clean, idle */
	struct smtpc_use		 use;
	/* The address connected to, and its name (copies: see Reuse). */
	struct dns_addr			 peer;
	char				 peername[SMTPC_NAME_MAX + 1];
	struct smtpc_secret		*sec;		/* AUTH only */
	struct loop_timer		 timer;
	struct loop_timer		 fin;	/* the done callback */
	char				 local[PLOG_ENDPOINT_SIZE];
	char				 remote[PLOG_ENDPOINT_SIZE];
	char				 hoptext[SMTPC_NAME_MAX +
					     PLOG_ENDPOINT_SIZE + 4];
	/* The last failure. */
	int				 permfail;
	int				 reasonpeer;
	size_t				 reasonat;	/* reply in reason */
	char				 rstatus[SMTPC_STATUS_MAX];
	char				 reason[SMTPC_TEXT_MAX];
	/* What the next hop offers (its last EHLO). */
	int				 esmtp;
	unsigned			 ext;
	uint64_t			 maxsize;	/* SIZE; 0: none */
	/* Matching replies to commands (see smtpc.c). */
	int				 expect;	/* replies due */
	unsigned			 nsent;		/* commands written */
	unsigned			 nreplies;	/* replies begun */
	uint64_t			 qpos;		/* bytes queued */
	uint64_t			 cmdend[SMTPC_CMDQ];
	unsigned			 cqhead, cqlen;
	/* The reply being read. */
	int				 rcode;		/* 0: none yet */
	unsigned			 rlines;
	size_t				 rbytes;
	size_t				 rtextlen;
	char				 rtext[SMTPC_TEXT_MAX];
	/* The transaction. */
	int				 authstep;
	size_t				 txnext;	/* next command */
	size_t				 txreply;	/* next reply */
	size_t				 naccepted;
	int				 mailfailed;
	int				 dotignore;
	uint64_t			 bodyoff;
	int				 bodysol;	/* at a line start */
	int				 bodydone;
	/* Buffers. */
	char				 in[SMTPC_IN_SIZE];
	char				 out[SMTPC_OUT_SIZE];
};

/*
 * Start delivering message m for the nrc recipients rc to the
 * addresses of hops, in order, over route rt.  hops may be a failed
 * lookup as dns.c gave it: every recipient is then bounced
 * (DNS_PERMFAIL) or deferred (DNS_TEMPFAIL) with the lookup's status
 * and reason, through the same callback, so that the caller has one
 * path for results.
 * Returns 0: done(c, arg) will be called from the loop exactly once,
 * never from inside smtpc_start(); or -1 with the reason in err when
 * c could not be set up at all (a bad argument, no timer left in the
 * loop), and no callback will come.  c uses two loop timers and,
 * while connected, one descriptor: size the loop for them.
 */
int	smtpc_start(struct smtpc *c, const struct smtpc_config *cf,
	    const struct smtpc_route *rt, const struct dns_result *hops,
	    struct spool_msg *m, struct smtpc_rcpt *rc, size_t nrc,
	    smtpc_done_fn *done, void *arg, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/*
 * Stop now (daemon shutdown, a table change): close the connection,
 * wipe and free what the session holds, mark every recipient still
 * pending SMTPC_DEFERRED with reason.  The callback is not called;
 * c may be freed on return.  Harmless after the callback (a kept
 * connection is closed then, without QUIT).
 */
void	smtpc_abort(struct smtpc *c, const char *reason);

/*
 * After the callback: 1 if the connection is kept (cf->keep, a clean
 * transaction) and still open; the caller must then park it, reuse it
 * or close it.  0 if it is closed.
 */
int	smtpc_kept(const struct smtpc *c);

/*
 * 1 if kept session c is connected to one of the addresses of hops by
 * the same name: fit for their message as far as smtpc can tell.
 */
int	smtpc_fits(const struct smtpc *c, const struct dns_result *hops);

/*
 * Park a kept session: it waits, detached from the message, with cf
 * and rt (which must stay valid while it is parked: the caller's own
 * copies, not a message's), for smtpc_reuse() or smtpc_close().  After
 * idle_ms it says QUIT and closes by itself, as it does at once when
 * the peer closes or sends anything; no callback comes either way, and
 * smtpc_kept() turns 0.  Returns 0, or -1 (no timer: it is closed).
 */
int	smtpc_park(struct smtpc *c, const struct smtpc_config *cf,
	    const struct smtpc_route *rt, uint32_t idle_ms);

/*
 * Carry message m for rc over kept (or parked) session c, as
 * smtpc_start() would over a new one: the same arguments, the same
 * callback and results.  RSET first; if it fails, a new connection to
 * hops.  A session that is no longer kept, or whose address is not
 * among hops (with the same name), is simply started afresh.  Returns
 * 0, or -1 as smtpc_start() (the session is then closed).
 */
int	smtpc_reuse(struct smtpc *c, const struct smtpc_config *cf,
	    const struct smtpc_route *rt, const struct dns_result *hops,
	    struct spool_msg *m, struct smtpc_rcpt *rc, size_t nrc,
	    smtpc_done_fn *done, void *arg, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/*
 * End a kept or parked session now: QUIT, written as far as the socket
 * takes it at once (the 221 is not waited for), TLS close_notify, and
 * close; why goes to the protocol log.  Harmless on a closed session.
 */
void	smtpc_close(struct smtpc *c, const char *why);

/*
 * The name of the host last connected to (for a DSN's Remote-MTA),
 * or "" if none was.
 */
const char *smtpc_peer_name(const struct smtpc *c);

/* "delivered", "deferred", "bounced" or "pending", for logs. */
const char *smtpc_result_name(int result);

/*
 * The RFC 3463 status of reply text "550 5.1.1 ..." into out
 * (SMTPC_STATUS_MAX bytes): its enhanced code when it has one whose
 * class agrees with the reply code, else "4.0.0" or "5.0.0" by the
 * code's first digit ("2.0.0" for 2xx).  Pure; returns out.
 */
char	*smtpc_reply_status(const char *text, size_t len, char *out);

#endif
