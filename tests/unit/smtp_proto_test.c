/*
 * Unit tests for runtime/inbound/smtp_proto.c: line framing, command parsing
 * and the DATA state machine, including the smuggling cases.
 */
#include "config.h"

#include "check.h"

#include <stdio.h>
#include <string.h>

#include "smtp_proto.h"

static void
test_lines(void)
{
	size_t		 len, used;
	enum smtp_line	 r;
	char		 big[600];

	r = smtp_line_scan("NOOP\r\nQUIT\r\n", 12, 512, &len, &used);
	CHECK(r == SMTP_LINE_OK && len == 4 && used == 6, "plain line");
	r = smtp_line_scan("NOOP\r", 5, 512, &len, &used);
	CHECK(r == SMTP_LINE_MORE, "CR at end waits");
	r = smtp_line_scan("NOOP", 4, 512, &len, &used);
	CHECK(r == SMTP_LINE_MORE, "partial waits");
	r = smtp_line_scan("NOOP\nQUIT\r\n", 11, 512, &len, &used);
	CHECK(r == SMTP_LINE_BARE_LF && used == 5, "bare LF %d", r);
	r = smtp_line_scan("NO\rOP\r\n", 7, 512, &len, &used);
	CHECK(r == SMTP_LINE_BARE_CR && used == 7, "bare CR %d", r);
	r = smtp_line_scan("NO\rOP", 5, 512, &len, &used);
	CHECK(r == SMTP_LINE_BARE_CR && used == 0, "bare CR, no LF yet");
	r = smtp_line_scan("NO\0OP\r\n", 7, 512, &len, &used);
	CHECK(r == SMTP_LINE_NUL && used == 7, "NUL");
	memset(big, 'a', sizeof(big));
	r = smtp_line_scan(big, sizeof(big), 512, &len, &used);
	CHECK(r == SMTP_LINE_LONG && used == 0, "long line");
	memcpy(big + 509, "\r\n", 2);
	r = smtp_line_scan(big, sizeof(big), 512, &len, &used);
	CHECK(r == SMTP_LINE_OK && len == 509, "509 + CRLF fits");
	memset(big, 'a', sizeof(big));
	memcpy(big + 510, "\r\n", 2);
	r = smtp_line_scan(big, sizeof(big), 512, &len, &used);
	CHECK(r == SMTP_LINE_OK && len == 510, "510 + CRLF is 512");
	memset(big, 'a', sizeof(big));
	memcpy(big + 511, "\r\n", 2);
	r = smtp_line_scan(big, sizeof(big), 512, &len, &used);
	CHECK(r == SMTP_LINE_LONG, "511 + CRLF is over 512");
}

static int
parse(const char *s, struct smtp_cmd *c, const char **reply)
{
	*reply = NULL;
	return smtp_cmd_parse(s, strlen(s), c, reply);
}

static void
test_commands(void)
{
	struct smtp_cmd	 c;
	const char	*reply;

	CHECK(parse("EHLO client.example", &c, &reply) == 0 &&
	    c.verb == SMTP_EHLO, "EHLO");
	CHECK(parse("ehlo [127.0.0.1]", &c, &reply) == 0, "EHLO literal");
	CHECK(parse("EHLO", &c, &reply) == -1 &&
	    strncmp(reply, "501", 3) == 0, "EHLO without name");
	CHECK(parse("EHLO bad..name", &c, &reply) == -1, "EHLO bad name");
	/* Address literals: IPv4 and IPv6 only, checked as addresses. */
	CHECK(parse("EHLO [IPv6:2001:db8::1]", &c, &reply) == 0,
	    "EHLO IPv6 literal");
	CHECK(parse("EHLO [ipv6:::1]", &c, &reply) == 0,
	    "EHLO IPv6 literal, tag in lower case");
	CHECK(parse("EHLO [\",'*!#;=(Received:x)]", &c, &reply) == -1 &&
	    strncmp(reply, "501", 3) == 0, "EHLO general literal refused");
	CHECK(parse("EHLO [x-tag:abc]", &c, &reply) == -1,
	    "EHLO unregistered tag refused");
	CHECK(parse("EHLO [127.0.0.256]", &c, &reply) == -1,
	    "EHLO IPv4 literal out of range");
	CHECK(parse("EHLO [127.0.0.01]", &c, &reply) == -1,
	    "EHLO IPv4 literal with a leading zero");
	CHECK(parse("EHLO [127.0.0.1 ]", &c, &reply) == -1,
	    "EHLO IPv4 literal with a space");
	CHECK(parse("EHLO [IPv6:1.2.3.4]", &c, &reply) == -1,
	    "EHLO IPv6 tag on an IPv4 address");
	CHECK(parse("EHLO [IPv6:::1)]", &c, &reply) == -1,
	    "EHLO IPv6 literal with a parenthesis");
	CHECK(parse("MAIL FROM:<a@[\"x;(]>", &c, &reply) == -1,
	    "MAIL general literal refused");
	CHECK(parse("RCPT TO:<a@[127.0.0.1]>", &c, &reply) == 0,
	    "RCPT IPv4 literal");
	CHECK(parse("FOO bar", &c, &reply) == -1 &&
	    strcmp(reply, "500 5.5.1 Command unrecognized") == 0, "unknown");
	CHECK(parse("MAIL FROM:<a@b.example>", &c, &reply) == 0 &&
	    c.pathlen == 11 && c.atpos == 1, "MAIL");
	CHECK(parse("mail from: <a@b.example> SIZE=1000 BODY=8BITMIME",
	    &c, &reply) == 0 && c.has_size && c.size == 1000 &&
	    c.body == SMTP_BODY_8BITMIME, "MAIL params");
	CHECK(parse("MAIL FROM:<>", &c, &reply) == 0 && c.pathlen == 0,
	    "null sender");
	CHECK(parse("MAIL FROM:<a@b.example> SIZE=x", &c, &reply) == -1 &&
	    strncmp(reply, "501", 3) == 0, "bad SIZE");
	CHECK(parse("MAIL FROM:<a@b.example> FOO=1", &c, &reply) == -1 &&
	    strncmp(reply, "555", 3) == 0, "unknown param");
	CHECK(parse("MAIL FROM:a@b.example", &c, &reply) == -1 &&
	    strncmp(reply, "501 5.1.7", 9) == 0, "no brackets");
	CHECK(parse("MAIL TO:<a@b>", &c, &reply) == -1, "MAIL TO");
	CHECK(parse("RCPT TO:<postmaster>", &c, &reply) == 0, "postmaster");
	CHECK(parse("RCPT TO:<>", &c, &reply) == -1 &&
	    strncmp(reply, "501 5.1.3", 9) == 0, "RCPT null");
	CHECK(parse("RCPT TO:<@relay.example:u@d.example>", &c, &reply) ==
	    0 && c.pathlen == 11, "source route dropped");
	CHECK(parse("RCPT TO:<\"a b\"@d.example>", &c, &reply) == 0,
	    "quoted local part");
	CHECK(parse("RCPT TO:<a..b@d.example>", &c, &reply) == -1,
	    "double dot");
	CHECK(parse("RCPT TO:<a@d.example> NOTIFY=NEVER", &c, &reply) == -1
	    && strncmp(reply, "555", 3) == 0, "RCPT params unsupported");
	CHECK(parse("DATA", &c, &reply) == 0 && c.verb == SMTP_DATA, "DATA");
	CHECK(parse("DATA x", &c, &reply) == -1, "DATA with args");
	CHECK(parse("STARTTLS", &c, &reply) == 0, "STARTTLS");
	CHECK(parse("AUTH PLAIN AGEAYg==", &c, &reply) == 0 &&
	    c.verb == SMTP_AUTH && c.arglen == 14, "AUTH");
	CHECK(parse("NOOP anything", &c, &reply) == 0, "NOOP args ok");
	CHECK(parse("VRFY", &c, &reply) == -1, "VRFY needs arg");
}

/* Feed s in pieces of step bytes; return body, flags, rest offset. */
static size_t
feed(const char *s, size_t n, size_t step, char *body, size_t *blen,
    int *flags, uint64_t max)
{
	struct smtp_data d;
	size_t		 off = 0, outn, used;
	int		 done = 0;

	smtp_data_init(&d, max);
	*blen = 0;
	while (off < n && !done) {
		size_t k = n - off < step ? n - off : step;
		used = smtp_data_feed(&d, s + off, k, body + *blen, &outn,
		    &done);
		*blen += outn;
		off += used;
	}
	*flags = d.flags;
	return done ? off : 0;
}

static void
test_data(void)
{
	static const char msg[] =
	    "Subject: x\r\n\r\n..leading dot\r\nbody\r\n.\r\nQUIT\r\n";
	char	 body[2048];
	size_t	 blen, end, step;
	int	 flags;

	for (step = 1; step <= sizeof(msg); step++) {
		end = feed(msg, sizeof(msg) - 1, step, body, &blen, &flags,
		    1000);
		CHECK(end == sizeof(msg) - 1 - 6 && flags == 0 &&
		    blen == 34 && memcmp(body,
		    "Subject: x\r\n\r\n.leading dot\r\nbody\r\n", 34) == 0,
		    "unstuffing, step %zu", step);
	}
	end = feed(".\r\n", 3, 1, body, &blen, &flags, 10);
	CHECK(end == 3 && blen == 0, "empty body");
	/* Smuggling: none of these may end the message. */
	end = feed("a\r\n\n.\nMAIL FROM:<x@y>\r\n", 23, 5, body, &blen,
	    &flags, 1000);
	CHECK(end == 0 && (flags & SMTP_DATA_BARE), "\\n.\\n does not end");
	end = feed("a\r\n.\nX\r\n.\r\n", 11, 3, body, &blen, &flags, 1000);
	CHECK(end == 11 && (flags & SMTP_DATA_BARE), ".\\n flagged");
	end = feed("a\r\r\n.\r\r\n.\r\n", 11, 2, body, &blen, &flags, 1000);
	CHECK(end == 0 && (flags & SMTP_DATA_BARE), ".\\r\\r\\n does not end");
	end = feed("a\n.\r\nb\r\n.\r\n", 11, 4, body, &blen, &flags, 1000);
	CHECK(end == 11 && (flags & SMTP_DATA_BARE),
	    "bare LF before dot: only the true CRLF.CRLF ends");
	end = feed("0123456789\r\n.\r\n", 15, 4, body, &blen, &flags, 5);
	CHECK(end == 15 && (flags & SMTP_DATA_BIG) && blen == 5, "size cap");
	{
		static char longl[1200];
		memset(longl, 'x', 1100);
		memcpy(longl + 1100, "\r\n.\r\n", 5);
		end = feed(longl, 1105, 100, body, &blen, &flags, 1 << 20);
		CHECK(end == 1105 && (flags & SMTP_DATA_LONG), "long line");
		memset(longl, 'x', 998);
		memcpy(longl + 998, "\r\n.\r\n", 5);
		end = feed(longl, 1003, 100, body, &blen, &flags, 0);
		CHECK(end == 1003 && !(flags & SMTP_DATA_LONG),
		    "998 + CRLF is fine");
	}
}

/* Count the Received headers of s, fed in pieces of step bytes. */
static uint32_t
hops(const char *s, size_t step, uint32_t maxhops, int *flags)
{
	static char	 body[8192];
	struct smtp_data d;
	size_t		 n = strlen(s), off = 0, outn, k;
	int		 done = 0;

	smtp_data_init(&d, 1 << 20);
	d.maxhops = maxhops;
	while (off < n && !done) {
		k = n - off < step ? n - off : step;
		off += smtp_data_feed(&d, s + off, k, body, &outn, &done);
	}
	*flags = d.flags;
	return d.hops;
}

static void
test_hops(void)
{
	static const char msg[] =
	    "Received: from a\r\n"
	    "RECEIVED: from b\r\n"
	    "\treceived: a folded line is no header\r\n"
	    "received : from c\r\n"
	    "X-Received: not one\r\n"
	    "Received-SPF: not one\r\n"
	    "Subject: Received: not one\r\n"
	    "..\r\n"
	    "reCeived:from d\r\n"
	    "\r\n"
	    "Received: in the body, not counted\r\n"
	    ".\r\n";
	static char	 many[120 * 20 + 16];
	size_t		 step, o = 0;
	uint32_t	 n;
	int		 flags, i;

	for (step = 1; step <= sizeof(msg); step++) {
		n = hops(msg, step, SMTP_HOPS_MAX, &flags);
		CHECK(n == 4 && flags == 0, "4 Received headers, step %zu: %u",
		    step, n);
	}
	n = hops(msg, 7, 3, &flags);
	CHECK(flags == SMTP_DATA_HOPS, "over 3: refused (%u, flags %d)", n,
	    flags);
	n = hops(msg, 7, 4, &flags);
	CHECK(flags == 0, "4 is not over 4 (flags %d)", flags);
	/* The daemon's limit: 100 pass, 101 do not. */
	for (i = 0; i < 101; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o,
		    "Received: from h%d\r\n", i);
	memcpy(many + o, "\r\nx\r\n.\r\n", 9);
	n = hops(many, 13, SMTP_HOPS_MAX, &flags);
	CHECK(n == 101 && flags == SMTP_DATA_HOPS, "101 hops refused (%u)",
	    n);
	n = hops(strstr(many, "\r\n") + 2, 13, SMTP_HOPS_MAX, &flags);
	CHECK(n == 100 && flags == 0, "100 hops taken (%u)", n);
	n = hops("\r\nReceived: x\r\n.\r\n", 1, 0, &flags);
	CHECK(n == 0 && flags == 0, "no header block, nothing counted");
}

int
main(void)
{
	test_lines();
	test_hops();
	test_commands();
	test_data();
	return check_finish();
}
