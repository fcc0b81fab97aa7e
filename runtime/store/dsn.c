/*
 * dsn: bounce messages (RFC 3464, RFC 6522) written into the spool,
 * and the queue's retry arithmetic (see dsn.h).
 *
 * The bounce is built piece by piece in a small buffer and handed to
 * the spool writer as it goes, so that its size costs no memory: the
 * failed message's header section is streamed from its spool file.
 * Text from the wire (replies, addresses) is made printable ASCII
 * before it goes into a header-like field.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "bastion_limits.h"
#include "dsn.h"

/* A bounce under construction. */
struct out {
	struct spool_writer	*w;
	int			 failed;
	size_t			 len;
	char			 buf[2048];
};

static void	put(struct out *, const char *, size_t);
static void	putf(struct out *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	flush(struct out *);
static void	rfc5322_date(int64_t, char *, size_t);
static void	ascii(const char *, char *, size_t);
static int	is_utf8_addr(const char *);
static void	utf8_addr(const char *, char *, size_t);
static void	headers(struct out *, struct spool_msg *);
static void	envid(const char *, char *, size_t);
static const char *keep(char *, size_t, const char *);
static int	dsn_write(struct spool *, struct spool_writer *,
		    struct spool_msg *, const char *, const struct dsn_rcpt *,
		    size_t, int64_t, char *, size_t);
static void	batch_end(struct dsn_batch *, struct spool_msg *, size_t, int,
		    const char *, int);
static void	batch_committed(struct spool_writer *, int, const char *,
		    const char *, void *);

int
dsn_bounce(struct spool *sp, struct spool_msg *m, const char *mta,
    const struct dsn_rcpt *r, size_t n, int64_t now,
    char id[SPOOL_ID_SIZE], char *err, size_t errlen)
{
	struct spool_writer	 w;
	int			 rc;

	rc = dsn_write(sp, &w, m, mta, r, n, now, err, errlen);
	if (rc != 1)
		return rc;
	if (spool_commit(&w, id, err, errlen) != 0)
		return -1;
	return 1;
}

/*
 * Write the bounce into w, up to its commit.  Returns 1 ready to
 * commit, 0 when none is due (the null sender), -1 with the reason in
 * err (nothing is left).
 */
static int
dsn_write(struct spool *sp, struct spool_writer *w, struct spool_msg *m,
    const char *mta, const struct dsn_rcpt *r, size_t n, int64_t now,
    char *err, size_t errlen)
{
	struct spool_env	 env;
	struct out		 o;
	char			 date[64], arrival[64], last[64], bnd[80];
	char			 a[SPOOL_ADDR_MAX + 1], t[DSN_REASON_MAX];
	char			 mtab[256], env_id[128];
	char			 sess[SPOOL_SESSION_MAX];
	uint8_t			 rnd[6];
	size_t			 i;

	/* RFC 5321 6.1, RFC 3464 2.1: never bounce a bounce. */
	if (m->sender[0] == '\0')
		return 0;
	if (n == 0) {
		snprintf(err, errlen, "no failed recipient to report");
		return -1;
	}
	if (now == 0)
		now = (int64_t)time(NULL);
	ascii(mta != NULL && *mta ? mta : "localhost", mtab, sizeof(mtab));

	memset(w, 0, sizeof(*w));
	memset(&env, 0, sizeof(env));
	snprintf(sess, sizeof(sess), "dsn-%s", m->id);
	env.received = now;
	env.session = sess;
	env.client = "";
	env.helo = mtab;
	env.sender = "";
	/* The original's headers come back: its body type and SMTPUTF8. */
	env.body = m->body == SPOOL_BODY_NONE || m->body == SPOOL_BODY_7BIT ?
	    SPOOL_BODY_NONE : SPOOL_BODY_8BITMIME;
	env.flags = m->flags & SPOOL_F_SMTPUTF8;
	if (spool_begin(sp, w, &env) != 0 ||
	    spool_rcpt(w, m->sender, strlen(m->sender), NULL, 0) != 0) {
		snprintf(err, errlen, "bounce for %s: cannot spool it: %s",
		    m->id, strerror(spool_error(w) ? spool_error(w) :
		    EINVAL));
		spool_abort(w);
		return -1;
	}
	memset(&o, 0, sizeof(o));
	o.w = w;

	randombytes_buf(rnd, sizeof(rnd));
	snprintf(bnd, sizeof(bnd), "%s.%02x%02x%02x%02x%02x%02x/%.30s", m->id,
	    rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], mtab);
	rfc5322_date(now, date, sizeof(date));
	rfc5322_date(m->received, arrival, sizeof(arrival));
	ascii(m->sender, a, sizeof(a));

	/* The envelope of the bounce's own header. */
	putf(&o, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", mtab);
	putf(&o, "To: <%s>\r\n", a);
	putf(&o, "Subject: Undelivered Mail Returned to Sender\r\n");
	putf(&o, "Date: %s\r\n", date);
	putf(&o, "Message-ID: <%s.%02x%02x%02x@%s>\r\n", m->id, rnd[0],
	    rnd[1], rnd[2], mtab);
	putf(&o, "Auto-Submitted: auto-replied\r\n");
	putf(&o, "MIME-Version: 1.0\r\n");
	putf(&o, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n", bnd);
	putf(&o, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

	/* 1. For people. */
	putf(&o, "--%s\r\n", bnd);
	putf(&o, "Content-Description: Notification\r\n");
	putf(&o, "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	putf(&o, "This is the mail system at %s.\r\n\r\n", mtab);
	putf(&o, "Your message could not be delivered to %s of its "
	    "recipients.\r\nIts headers are attached below; the "
	    "reasons:\r\n\r\n", n == 1 ? "one" : "some");
	for (i = 0; i < n; i++) {
		ascii(r[i].addr, a, sizeof(a));
		if (r[i].reply != NULL && r[i].reason != NULL) {
			/* Our words, which quote the reply. */
			ascii(r[i].reason, t, sizeof(t));
			putf(&o, "<%s>: %s\r\n\r\n", a, t);
		} else if (r[i].reply != NULL) {
			ascii(r[i].reply, t, sizeof(t));
			if (r[i].remote_mta != NULL) {
				ascii(r[i].remote_mta, last, sizeof(last));
				putf(&o, "<%s>: %s said:\r\n    %s\r\n\r\n",
				    a, last, t);
			} else
				putf(&o, "<%s>: the next hop said:\r\n    %s"
				    "\r\n\r\n", a, t);
		} else {
			ascii(r[i].reason != NULL ? r[i].reason :
			    "delivery failed", t, sizeof(t));
			putf(&o, "<%s>: %s\r\n\r\n", a, t);
		}
	}
	putf(&o, "This message was sent automatically; please do not "
	    "reply to it.\r\n\r\n");

	/* 2. For programs (RFC 3464 2.2, 2.3). */
	putf(&o, "--%s\r\n", bnd);
	putf(&o, "Content-Description: Delivery report\r\n");
	putf(&o, "Content-Type: message/delivery-status\r\n\r\n");
	putf(&o, "Reporting-MTA: dns; %s\r\n", mtab);
	putf(&o, "X-Bastion-Queue-ID: %s\r\n", m->id);
	envid(m->params, env_id, sizeof(env_id));
	if (env_id[0] != '\0')
		putf(&o, "Original-Envelope-Id: %s\r\n", env_id);
	putf(&o, "Arrival-Date: %s\r\n", arrival);
	for (i = 0; i < n; i++) {
		if (is_utf8_addr(r[i].addr)) {
			/* RFC 6533 3: utf-8 with \x{HEX} escapes. */
			utf8_addr(r[i].addr, t, sizeof(t));
			putf(&o, "\r\nFinal-Recipient: utf-8; %s\r\n", t);
		} else {
			ascii(r[i].addr, a, sizeof(a));
			putf(&o, "\r\nFinal-Recipient: rfc822; %s\r\n", a);
		}
		putf(&o, "Action: failed\r\n");
		/* Failed is final: a 4.x.y that ran out of time is 5.x.y. */
		ascii(r[i].status != NULL && (r[i].status[0] == '5' ||
		    r[i].status[0] == '4') ? r[i].status : "5.0.0", t, 16);
		t[0] = '5';
		putf(&o, "Status: %s\r\n", t);
		if (r[i].remote_mta != NULL && r[i].remote_mta[0] != '\0') {
			ascii(r[i].remote_mta, t, 256);
			putf(&o, "Remote-MTA: dns; %s\r\n", t);
		}
		/*
		 * RFC 3464 2.3.6: the code the next hop issued, exactly.
		 * Without one (DNS, TLS, a loop, expiry) there is none to
		 * report: the field is left out rather than filled with
		 * our own words under a made-up diagnostic type, which a
		 * parser would take for a reply.  Our words go in
		 * X-Bastion-Reason (RFC 3464 2.4 extension field) and in
		 * the text part.
		 */
		if (r[i].reply != NULL) {
			ascii(r[i].reply, t, sizeof(t));
			putf(&o, "Diagnostic-Code: smtp; %s\r\n", t);
		}
		if (r[i].reason != NULL) {
			ascii(r[i].reason, t, sizeof(t));
			putf(&o, "X-Bastion-Reason: %s\r\n", t);
		}
		if (r[i].last_attempt != 0) {
			rfc5322_date(r[i].last_attempt, last, sizeof(last));
			putf(&o, "Last-Attempt-Date: %s\r\n", last);
		}
	}
	putf(&o, "\r\n");

	/* 3. The failed message's headers (RFC 6522 text/rfc822-headers). */
	putf(&o, "--%s\r\n", bnd);
	putf(&o, "Content-Description: Undelivered Message Headers\r\n");
	putf(&o, "Content-Type: text/rfc822-headers\r\n\r\n");
	headers(&o, m);
	putf(&o, "\r\n--%s--\r\n", bnd);
	flush(&o);
	if (o.failed) {
		snprintf(err, errlen, "bounce for %s: %s", m->id,
		    o.failed == 2 ? "cannot read the message" :
		    "cannot write the bounce");
		spool_abort(w);
		return -1;
	}
	return 1;
}

void
dsn_batch_init(struct dsn_batch *b, struct spool *sp, struct plog *log,
    const struct oplog *ol, const char *who)
{
	b->sp = sp;
	b->log = log;
	b->oplog = ol;
	b->who = who;
	b->n = 0;
}

/* A copy of s in buf (cut to fit), or NULL for NULL. */
static const char *
keep(char *buf, size_t bufsz, const char *s)
{
	if (s == NULL)
		return NULL;
	snprintf(buf, bufsz, "%s", s);
	return buf;
}

int
dsn_batch_add(struct dsn_batch *b, uint64_t rec, const struct dsn_rcpt *r)
{
	struct dsn_rcpt	*e;
	size_t		 i = b->n;

	if (i == DSN_BATCH_MAX)
		return -1;
	e = &b->r[i];
	memset(e, 0, sizeof(*e));
	e->addr = keep(b->buf[i].addr, sizeof(b->buf[i].addr), r->addr);
	e->status = keep(b->buf[i].status, sizeof(b->buf[i].status),
	    r->status);
	e->reply = keep(b->buf[i].text, sizeof(b->buf[i].text), r->reply);
	e->reason = keep(b->buf[i].reason, sizeof(b->buf[i].reason),
	    r->reason);
	e->remote_mta = keep(b->buf[i].mta, sizeof(b->buf[i].mta),
	    r->remote_mta);
	e->last_attempt = r->last_attempt;
	b->rec[i] = rec;
	b->n++;
	return 0;
}

/*
 * The batch's n recipients of m are over: the decision line (rc 1: a
 * bounce queued as id; 0: none due), then each marked failed, with an
 * fsync (durable) or for the caller's settle (spool_note).
 */
static void
batch_end(struct dsn_batch *b, struct spool_msg *m, size_t n, int rc,
    const char *id, int durable)
{
	struct spool_rcpt	 sr;
	char			 err[LIM_ERRMSG], line[PLOG_TEXT_MAX];
	size_t			 i;
	int			 len;

	if (rc == 1)
		len = snprintf(line, sizeof(line), "bounce for %zu "
		    "recipient%s queued as %s", n, n == 1 ? "" : "s", id);
	else
		len = snprintf(line, sizeof(line), "%zu recipient%s failed; "
		    "no bounce for a message from the null sender", n,
		    n == 1 ? "" : "s");
	plog_write(b->log, NULL, m->id, "-", b->who, PLOG_DECISION, line,
	    (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1);
	for (i = 0; i < n; i++) {
		memset(&sr, 0, sizeof(sr));
		sr.off = b->rec[i];
		if ((durable ? spool_mark(m, &sr, SPOOL_FAILED, err,
		    sizeof(err)) : spool_note(m, &sr, SPOOL_FAILED, err,
		    sizeof(err))) != 0)
			oplog_write(b->oplog, LOG_ERR, "queue %s: %s", m->id,
			    err);
	}
}

int
dsn_bounce_batch(struct dsn_batch *b, struct spool_msg *m, const char *mta,
    int64_t now, char id[SPOOL_ID_SIZE])
{
	char	 err[LIM_ERRMSG];
	size_t	 n = b->n;
	int	 rc;

	b->n = 0;
	if (n == 0)
		return 0;
	rc = dsn_bounce(b->sp, m, mta, b->r, n, now, id, err, sizeof(err));
	if (rc == -1) {
		oplog_write(b->oplog, LOG_ERR, "queue %s: cannot queue a "
		    "bounce: %s", m->id, err);
		return -1;
	}
	batch_end(b, m, n, rc, id, 1);
	return rc;
}

int
dsn_bounce_batch_start(struct dsn_batch *b, struct spool_msg *m,
    const char *mta, int64_t now, struct commit *eng, dsn_batch_fn *fn,
    void *arg)
{
	char	 err[LIM_ERRMSG];
	size_t	 n = b->n;
	int	 rc;

	b->id[0] = '\0';
	if (n == 0 || eng == NULL || !commit_started(eng)) {
		b->rc = dsn_bounce_batch(b, m, mta, now, b->id);
		return 1;
	}
	b->n = 0;
	rc = dsn_write(b->sp, &b->w, m, mta, b->r, n, now, err, sizeof(err));
	if (rc == 1) {
		b->m = m;
		b->inflight = n;
		b->fn = fn;
		b->arg = arg;
		if (spool_commit_start(&b->w, eng, batch_committed, b, err,
		    sizeof(err)) == 0)
			return 0;
		rc = -1;
	}
	if (rc == -1) {
		oplog_write(b->oplog, LOG_ERR, "queue %s: cannot queue a "
		    "bounce: %s", m->id, err);
		b->rc = -1;
		return 1;
	}
	batch_end(b, m, n, 0, NULL, 0);
	b->rc = 0;
	return 1;
}

/* From the loop: the bounce is queued, or could not be. */
static void
batch_committed(struct spool_writer *w, int rc, const char *id,
    const char *err, void *arg)
{
	struct dsn_batch	*b = arg;

	(void)w;
	if (rc != 0) {
		oplog_write(b->oplog, LOG_ERR, "queue %s: cannot queue a "
		    "bounce: %s", b->m->id, err);
		b->rc = -1;
	} else {
		snprintf(b->id, sizeof(b->id), "%s", id);
		batch_end(b, b->m, b->inflight, 1, b->id, 0);
		b->rc = 1;
	}
	b->fn(b, b->rc, b->id, b->arg);
}

/* Copy the header section (to the first empty line), bounded. */
static void
headers(struct out *o, struct spool_msg *m)
{
	char		 buf[1024];
	uint64_t	 off = 0, copied = 0;
	ssize_t		 got, i;
	int		 sol = 1, cr = 0, done = 0;

	while (!done && copied < DSN_HEADERS_MAX) {
		got = spool_body_read(m, off, buf, sizeof(buf));
		if (got < 0) {
			o->failed = 2;
			return;
		}
		if (got == 0)
			break;
		off += (uint64_t)got;
		for (i = 0; i < got && copied < DSN_HEADERS_MAX; i++) {
			/* A CR waits: the one of the empty line is dropped. */
			if (buf[i] == '\r') {
				if (cr)
					put(o, "\r", 1);
				cr = 1;
				continue;
			}
			if (buf[i] == '\n') {
				if (sol) {
					done = 1;
					break;
				}
				put(o, cr ? "\r\n" : "\n", cr ? 2 : 1);
				cr = 0;
				sol = 1;
				copied++;
				continue;
			}
			if (cr)
				put(o, "\r", 1);
			cr = 0;
			put(o, &buf[i], 1);
			sol = 0;
			copied++;
		}
	}
	if (!sol)
		put(o, "\r\n", 2);	/* cut, or no empty line at all */
}

static void
put(struct out *o, const char *s, size_t n)
{
	size_t	 k;

	while (n > 0) {
		if (o->len == sizeof(o->buf))
			flush(o);
		k = sizeof(o->buf) - o->len;
		if (k > n)
			k = n;
		memcpy(o->buf + o->len, s, k);
		o->len += k;
		s += k;
		n -= k;
	}
}

static void
putf(struct out *o, const char *fmt, ...)
{
	char	 line[1200];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		/* Cut, but keep the line ending. */
		n = sizeof(line) - 1;
		line[n - 2] = '\r';
		line[n - 1] = '\n';
	}
	put(o, line, (size_t)n);
}

static void
flush(struct out *o)
{
	if (o->len > 0 && !o->failed && spool_body(o->w, o->buf, o->len) != 0)
		o->failed = 1;
	o->len = 0;
}

/* "Tue, 01 May 2024 12:34:56 +0000", whatever the locale. */
static void
rfc5322_date(int64_t t, char *buf, size_t bufsz)
{
	static const char	*day[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
				    "Fri", "Sat" };
	static const char	*mon[] = { "Jan", "Feb", "Mar", "Apr", "May",
				    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
				    "Dec" };
	struct tm		 tm;
	time_t			 tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL) {
		snprintf(buf, bufsz, "Thu, 01 Jan 1970 00:00:00 +0000");
		return;
	}
	snprintf(buf, bufsz, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    day[tm.tm_wday % 7], tm.tm_mday, mon[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Printable ASCII only: anything else from the wire becomes '?'. */
static void
ascii(const char *s, char *out, size_t outsz)
{
	size_t	 i;

	for (i = 0; s[i] != '\0' && i + 1 < outsz; i++)
		out[i] = (unsigned char)s[i] < 0x20 ||
		    (unsigned char)s[i] > 0x7e ? '?' : s[i];
	out[i] = '\0';
}

static int
is_utf8_addr(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/*
 * An internationalized address for a message/delivery-status field:
 * every code point outside printable ASCII, and the backslash, as
 * \x{HEX} (RFC 6533 3, embedded-unicode-char); a byte that is not
 * UTF-8 as '?'.  Cut to fit out.
 */
static void
utf8_addr(const char *s, char *out, size_t outsz)
{
	const unsigned char	*p = (const unsigned char *)s;
	uint32_t		 cp;
	size_t			 o = 0, k, need;
	char			 esc[16];

	while (*p != '\0') {
		if (*p >= 0x21 && *p <= 0x7e && *p != '\\') {
			cp = *p++;
			if (o + 2 > outsz)
				break;
			out[o++] = (char)cp;
			continue;
		}
		need = *p >= 0xf0 && *p <= 0xf4 ? 3 : *p >= 0xe0 ? 2 :
		    *p >= 0xc2 ? 1 : 0;
		cp = need == 3 ? *p & 0x07u : need == 2 ? *p & 0x0fu :
		    need == 1 ? *p & 0x1fu : *p;
		for (k = 1; k <= need; k++) {
			if ((p[k] & 0xc0) != 0x80)
				break;
			cp = cp << 6 | (p[k] & 0x3fu);
		}
		if (*p >= 0x80 && (need == 0 || k <= need)) {
			snprintf(esc, sizeof(esc), "?");
			p++;
		} else {
			snprintf(esc, sizeof(esc), "\\x{%X}", (unsigned)cp);
			p += need + 1;
		}
		if (o + strlen(esc) + 1 > outsz)
			break;
		memcpy(out + o, esc, strlen(esc));
		o += strlen(esc);
	}
	out[o] = '\0';
}

/* The ENVID= of the MAIL parameters (RFC 3461 4.4), as given. */
static void
envid(const char *params, char *out, size_t outsz)
{
	const char	*p = params;
	size_t		 n;

	out[0] = '\0';
	while (p != NULL && *p != '\0') {
		while (*p == ' ')
			p++;
		if (strncasecmp(p, "ENVID=", 6) == 0) {
			p += 6;
			n = strcspn(p, " ");
			if (n >= outsz)
				n = outsz - 1;
			memcpy(out, p, n);
			out[n] = '\0';
			ascii(out, out, outsz);
			return;
		}
		p = strchr(p, ' ');
	}
}

int
dsn_expired(int64_t received, int64_t now, uint32_t lifetime)
{
	if (lifetime == 0)
		return 0;
	return now >= received && (uint64_t)(now - received) >= lifetime;
}

uint64_t
dsn_backoff(uint32_t retry, uint32_t lifetime, unsigned attempt)
{
	uint64_t	 d = retry > 0 ? retry : 1;
	unsigned	 k = attempt > 0 ? attempt - 1 : 0;

	/* Doubling saturates long before 2^63; the lifetime caps it. */
	if (k >= 40 || d > (UINT64_MAX >> k) >> 1)
		d = UINT64_MAX >> 1;
	else
		d <<= k;
	if (lifetime > 0 && d > lifetime)
		d = lifetime;
	return d;
}

int64_t
dsn_next_retry(int64_t received, int64_t now, uint32_t retry,
    uint32_t lifetime)
{
	int64_t	 t, gap, cap;

	if (retry == 0)
		retry = 1;
	cap = lifetime > 0 ? (int64_t)lifetime : (int64_t)1 << 40;
	gap = retry < cap ? (int64_t)retry : cap;
	if (now < received)	/* the clock went back: start over */
		return received + gap;
	t = received;
	while (t <= now) {
		if (gap >= cap) {
			/* Steady gaps from here: jump, no loop. */
			t += ((now - t) / cap + 1) * cap;
			break;
		}
		t += gap;
		gap = gap > cap / 2 ? cap : gap * 2;
	}
	if (lifetime > 0 && t > received + (int64_t)lifetime)
		t = received + (int64_t)lifetime;
	if (t <= now)
		t = now + 1;
	return t;
}
