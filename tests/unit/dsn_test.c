/*
 * dsn_test: runtime/store/dsn.c.  Bounces are written into a scratch spool
 * and read back through the spool reader: from the null sender, to
 * the original sender, with the report's fields and the original
 * headers (cut when huge); a message from the null sender gets none;
 * and the retry arithmetic on fixed numbers.
 *
 *	dsn_test		run the checks
 *	dsn_test -o FILE	also write one bounce's message to FILE, for
 *				tests/rt/dsn-parse.py to parse
 */
#include "spool_testutil.h"	/* first: it wants _XOPEN_SOURCE */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "dsn.h"
#include "spool.h"

static struct spool	 sp;

/* Spool a message; return its id in id. */
static void
make(const char *sender, const char *body, size_t len, char *id)
{
	struct spool_writer	 w;
	struct spool_env	 env;
	char			 err[256];

	memset(&w, 0, sizeof(w));
	memset(&env, 0, sizeof(env));
	env.received = 1714566896;	/* Wed, 01 May 2024 12:34:56 */
	env.session = "s1";
	env.client = "192.0.2.1:4321";
	env.helo = "client.example.net";
	env.sender = sender;
	env.params = "RET=HDRS ENVID=QQ314159";
	CHECK(spool_begin(&sp, &w, &env) == 0, "begin");
	CHECK(spool_rcpt(&w, "bob@example.org", 15, NULL, 0) == 0, "rcpt");
	CHECK(spool_rcpt(&w, "carol@example.org", 17, NULL, 0) == 0, "rcpt");
	CHECK(spool_body(&w, body, len) == 0, "body");
	CHECK(spool_commit(&w, id, err, sizeof(err)) == 0, "commit: %s", err);
}

/* Read a queued message's body into buf (NUL-terminated). */
static size_t
body_of(const char *id, struct spool_msg *m, char *buf, size_t bufsz)
{
	char	 err[256];
	size_t	 n = 0;
	ssize_t	 got;

	if (spool_msg_open(&sp, m, id, err, sizeof(err)) != 1) {
		CHECK(0, "open %s: %s", id, err);
		buf[0] = '\0';
		return 0;
	}
	while (n + 1 < bufsz &&
	    (got = spool_body_read(m, n, buf + n, bufsz - 1 - n)) > 0)
		n += (size_t)got;
	buf[n] = '\0';
	return n;
}

static int
count_queue(const char *dir)
{
	char		 path[600];
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	snprintf(path, sizeof(path), "%s/queue", dir);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static const char msg[] =
	"Received: from client.example.net ([192.0.2.1])\r\n"
	"\tby mx.sf.example with ESMTP id X; Wed, 1 May 2024 12:34:56 +0000\r\n"
	"From: Alice <alice@example.net>\r\n"
	"To: Bob <bob@example.org>\r\n"
	"Subject: lunch?\r\n"
	"\r\n"
	"Secret body text that must not come back.\r\n";

int
main(int argc, char **argv)
{
	struct spool_msg	 m, b;
	struct spool_rcpt	 r;
	struct dsn_rcpt		 fr[3];
	char			 dir[512], path[600], err[256];
	char			 id[SPOOL_ID_SIZE], bid[SPOOL_ID_SIZE];
	static char		 buf[256 * 1024];
	char			*big;
	size_t			 n, i;
	const char		*out = NULL;
	FILE			*f;

	if (argc == 3 && strcmp(argv[1], "-o") == 0)
		out = argv[2];
	tu_mkdtemp(dir, sizeof(dir), "dsn_test");
	snprintf(path, sizeof(path), "%s/spool", dir);
	if (spool_open(&sp, path, err, sizeof(err)) != 0) {
		printf("FAIL spool_open: %s\n", err);
		return 1;
	}

	/* A bounce for two recipients. */
	make("alice@example.net", msg, sizeof(msg) - 1, id);
	CHECK(spool_msg_open(&sp, &m, id, err, sizeof(err)) == 1, "%s", err);
	memset(fr, 0, sizeof(fr));
	fr[0].addr = "bob@example.org";
	fr[0].status = "5.1.1";
	fr[0].reply = "550 5.1.1 <bob@example.org>: no such user";
	fr[0].remote_mta = "mx.example.org";
	fr[0].last_attempt = 1714570496;
	fr[1].addr = "carol@example.org";
	fr[1].status = "4.4.7";		/* given as 4: reported as 5 */
	fr[1].reason = "delivery deferred for 5 days: connection timed out";
	/* A reply, and what it meant to us. */
	fr[2].addr = "dave@example.org";
	fr[2].status = "5.7.8";
	fr[2].reply = "535 5.7.8 Error: authentication failed";
	fr[2].reason = "authentication failed: 535 5.7.8 Error: "
	    "authentication failed";
	fr[2].remote_mta = "mx.example.org";
	CHECK(dsn_bounce(&sp, &m, "mx.sf.example", fr, 3, 1714999999, bid,
	    err, sizeof(err)) == 1, "bounce: %s", err);
	spool_msg_close(&m);
	CHECK(count_queue(path) == 2, "the bounce is queued");
	n = body_of(bid, &b, buf, sizeof(buf));
	CHECK(b.sender[0] == '\0', "bounce from <>: \"%s\"", b.sender);
	memset(&r, 0, sizeof(r));
	CHECK(spool_rcpt_next(&b, &r, err, sizeof(err)) == 1 &&
	    strcmp(r.addr, "alice@example.net") == 0 &&
	    r.status == SPOOL_PENDING, "bounce to the sender");
	CHECK(spool_rcpt_next(&b, &r, err, sizeof(err)) == 0,
	    "one recipient only");
	spool_msg_close(&b);
	CHECK(strstr(buf, "To: <alice@example.net>\r\n") != NULL, "To:");
	CHECK(strstr(buf, "Content-Type: multipart/report; "
	    "report-type=delivery-status;") != NULL, "multipart/report");
	CHECK(strstr(buf, "Reporting-MTA: dns; mx.sf.example\r\n") != NULL,
	    "Reporting-MTA");
	CHECK(strstr(buf, "Arrival-Date: Wed, 01 May 2024 12:34:56 +0000\r\n")
	    != NULL, "Arrival-Date");
	CHECK(strstr(buf, "Original-Envelope-Id: QQ314159\r\n") != NULL,
	    "Original-Envelope-Id");
	CHECK(strstr(buf, "Final-Recipient: rfc822; bob@example.org\r\n"
	    "Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; "
	    "mx.example.org\r\nDiagnostic-Code: smtp; 550 5.1.1 "
	    "<bob@example.org>: no such user\r\n") != NULL,
	    "bob's fields");
	CHECK(strstr(buf, "Final-Recipient: rfc822; carol@example.org\r\n"
	    "Action: failed\r\nStatus: 5.4.7\r\nX-Bastion-Reason: "
	    "delivery deferred for 5 days: connection timed out\r\n"
	    "\r\n") != NULL,
	    "carol's fields (no reply: no Diagnostic-Code, our reason)");
	CHECK(strstr(buf, "Final-Recipient: rfc822; dave@example.org\r\n"
	    "Action: failed\r\nStatus: 5.7.8\r\nRemote-MTA: dns; "
	    "mx.example.org\r\nDiagnostic-Code: smtp; 535 5.7.8 Error: "
	    "authentication failed\r\nX-Bastion-Reason: authentication "
	    "failed: 535 5.7.8 Error: authentication failed\r\n") != NULL,
	    "dave's fields (the reply exactly, our words apart)");
	CHECK(strstr(buf, "<dave@example.org>: authentication failed: 535 "
	    "5.7.8 Error: authentication failed\r\n") != NULL,
	    "dave's text explains the reply");
	CHECK(strstr(buf, "Subject: lunch?\r\n") != NULL &&
	    strstr(buf, "Secret body") == NULL,
	    "the headers come back, the body does not");
	CHECK(n > 0 && buf[n - 1] == '\n', "ends with a line end");
	for (i = 0; i < n; i++)
		if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r'))
			break;
	CHECK(i == n, "every line ends with CRLF");
	if (out != NULL) {
		if ((f = fopen(out, "wb")) == NULL ||
		    fwrite(buf, 1, n, f) != n || fclose(f) != 0)
			CHECK(0, "cannot write %s", out);
	}

	/* An internationalized recipient: RFC 6533 escapes. */
	make("alice@example.net", msg, sizeof(msg) - 1, id);
	CHECK(spool_msg_open(&sp, &m, id, err, sizeof(err)) == 1, "%s", err);
	fr[1].addr = "j\xc3\xb6se@\xe4\xbe\x8b\xe3\x81\x88.jp\xff";
	CHECK(dsn_bounce(&sp, &m, "mx", &fr[1], 1, 0, bid, err,
	    sizeof(err)) == 1, "utf-8: %s", err);
	spool_msg_close(&m);
	body_of(bid, &b, buf, sizeof(buf));
	spool_msg_close(&b);
	CHECK(strstr(buf, "Final-Recipient: utf-8; j\\x{F6}se@\\x{4F8B}"
	    "\\x{3048}.jp?\r\n") != NULL, "utf-8 Final-Recipient");
	fr[1].addr = "carol@example.org";

	/* Never bounce a bounce. */
	make("", msg, sizeof(msg) - 1, id);
	CHECK(spool_msg_open(&sp, &m, id, err, sizeof(err)) == 1, "%s", err);
	CHECK(dsn_bounce(&sp, &m, "mx.sf.example", fr, 1, 0, bid, err,
	    sizeof(err)) == 0, "null sender: no bounce");
	spool_msg_close(&m);
	CHECK(count_queue(path) == 5, "null sender: nothing spooled");

	/* No failed recipient: an error, nothing spooled. */
	make("alice@example.net", msg, sizeof(msg) - 1, id);
	CHECK(spool_msg_open(&sp, &m, id, err, sizeof(err)) == 1, "%s", err);
	CHECK(dsn_bounce(&sp, &m, "mx", fr, 0, 0, bid, err, sizeof(err)) == -1,
	    "no recipients: refused");
	spool_msg_close(&m);
	CHECK(count_queue(path) == 6, "no recipients: nothing spooled");

	/* Huge headers: cut at DSN_HEADERS_MAX, still well-formed. */
	n = 200 * 1024;
	big = malloc(n + 64);
	for (i = 0; i + 80 < n; i += 80) {
		memcpy(big + i, "X-Filler: ", 10);
		memset(big + i + 10, 'f', 68);
		memcpy(big + i + 78, "\r\n", 2);
	}
	memcpy(big + i, "\r\nbody\r\n", 8);
	make("alice@example.net", big, i + 8, id);
	CHECK(spool_msg_open(&sp, &m, id, err, sizeof(err)) == 1, "%s", err);
	CHECK(dsn_bounce(&sp, &m, "mx", fr, 1, 0, bid, err, sizeof(err)) == 1,
	    "huge headers: %s", err);
	spool_msg_close(&m);
	n = body_of(bid, &b, buf, sizeof(buf));
	spool_msg_close(&b);
	CHECK(n < DSN_HEADERS_MAX + 8192 && n > DSN_HEADERS_MAX,
	    "huge headers: cut (%zu bytes)", n);
	CHECK(n > 4 && strstr(buf + n - 120, "--\r\n") != NULL,
	    "huge headers: the closing boundary is there");
	free(big);

	/* Headers only, no empty line, no final CRLF. */
	make("alice@example.net", "Subject: only", 13, id);
	CHECK(spool_msg_open(&sp, &m, id, err, sizeof(err)) == 1, "%s", err);
	CHECK(dsn_bounce(&sp, &m, "mx", fr, 1, 0, bid, err, sizeof(err)) == 1,
	    "headers only: %s", err);
	spool_msg_close(&m);
	body_of(bid, &b, buf, sizeof(buf));
	spool_msg_close(&b);
	CHECK(strstr(buf, "text/rfc822-headers\r\n\r\nSubject: only\r\n\r\n--")
	    != NULL, "headers only: copied and ended");

	/* Expiry. */
	CHECK(dsn_expired(1000, 1000 + 432000, 432000) == 1, "expired at L");
	CHECK(dsn_expired(1000, 1000 + 431999, 432000) == 0, "not before");
	CHECK(dsn_expired(1000, 999, 432000) == 0, "clock behind");
	CHECK(dsn_expired(1000, 1 << 30, 0) == 0, "lifetime 0: never");

	/* Backoff: 300, 600, 1200 ... capped at the lifetime. */
	CHECK(dsn_backoff(300, 432000, 1) == 300, "backoff 1");
	CHECK(dsn_backoff(300, 432000, 2) == 600, "backoff 2");
	CHECK(dsn_backoff(300, 432000, 5) == 4800, "backoff 5");
	CHECK(dsn_backoff(300, 432000, 11) == 307200, "backoff 11");
	CHECK(dsn_backoff(300, 432000, 12) == 432000, "backoff capped");
	CHECK(dsn_backoff(300, 432000, 4000000000u) == 432000,
	    "backoff: no overflow");
	CHECK(dsn_backoff(0, 0, 0) == 1, "backoff never 0");
	CHECK(dsn_backoff(4000000000u, 0, 100) > 0, "backoff, no lifetime");

	/* The schedule: received + 300 * (2^k - 1). */
	CHECK(dsn_next_retry(1000, 1000, 300, 432000) == 1300, "next 1");
	CHECK(dsn_next_retry(1000, 1299, 300, 432000) == 1300, "next 1'");
	CHECK(dsn_next_retry(1000, 1300, 300, 432000) == 1900, "next 2");
	CHECK(dsn_next_retry(1000, 1900, 300, 432000) == 3100, "next 3");
	CHECK(dsn_next_retry(1000, 1000 + 300 * 511, 300, 432000) ==
	    1000 + 300 * 1023, "next 10");
	CHECK(dsn_next_retry(1000, 1000 + 300 * 1023, 300, 432000) ==
	    1000 + 432000, "next 11 would be late: the lifetime's end");
	CHECK(dsn_next_retry(1000, 1000 + 400000, 300, 432000) ==
	    1000 + 432000, "the last attempt at the lifetime");
	CHECK(dsn_next_retry(1000, 1000 + 500000, 300, 432000) ==
	    1000 + 500001, "after the lifetime: now + 1");
	CHECK(dsn_next_retry(1000, 1000 + 100000000, 1, 2) == 1000 + 100000001,
	    "a long past with a tiny lifetime: no long loop");
	CHECK(dsn_next_retry(1000, 500, 300, 432000) == 1300,
	    "clock behind the arrival");
	CHECK(dsn_next_retry(1000, 1000 + 3000000, 300, 0) > 1000 + 3000000,
	    "no lifetime: still later than now");

	spool_close(&sp);
	tu_rmtree(dir);
	return check_finish();
}
