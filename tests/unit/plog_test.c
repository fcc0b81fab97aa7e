/*
 * Unit tests for runtime/core/plog.c: the line format (time, fields,
 * direction), CSV quoting and escaping, truncation with its marker,
 * endpoints, the decision text, AUTH masking, the file opened for
 * appending with one line per write, reopening after a rotation, and
 * stderr for -f.
 */
#include "spool_testutil.h"

#include "config.h"

#include <netinet/in.h>
#include <arpa/inet.h>

#include "plog.h"

static const struct timespec	when = { 1700000000, 123456789 };

/* Format a line and compare it with want. */
static void
expect(int dir, const char *text, size_t len, const char *want)
{
	char	line[PLOG_LINE_MAX];
	size_t	n;

	n = plog_format(line, sizeof(line), &when, "s1", "192.0.2.1:25",
	    "[2001:db8::1]:40000", dir, text, len);
	CHECK(n == strlen(want) && strcmp(line, want) == 0,
	    "\n got  %s want %s", line, want);
}

#define PFX	"2023-11-14T22:13:20.123Z,s1,192.0.2.1:25,[2001:db8::1]:40000,"

static void
test_format(void)
{
	char	line[PLOG_LINE_MAX], text[6000], small[80];
	size_t	n, i;

	expect('<', "EHLO client.example", 19, PFX "<,EHLO client.example\n");
	expect('>', "250 2.0.0 Ok", 12, PFX ">,250 2.0.0 Ok\n");
	expect('+', "", 0, PFX "+,\n");
	expect('-', NULL, 5, PFX "-,\n");
	expect('*', "x", 1, PFX "*,x\n");
	expect('!', "x", 1, PFX "?,x\n");
	/* Quoting and escaping. */
	expect('<', "MAIL FROM:<a,b@x>", 17, PFX "<,\"MAIL FROM:<a,b@x>\"\n");
	expect('<', "say \"hi\"", 8, PFX "<,\"say \"\"hi\"\"\"\n");
	expect('<', "a\r\nb", 4, PFX "<,\"a\\x0d\\x0ab\"\n");
	expect('<', "a\\b", 3, PFX "<,\"a\\\\b\"\n");
	expect('<', "nul\0x", 5, PFX "<,\"nul\\x00x\"\n");
	expect('<', "\x1b[2J\x7f\xc3\xa9", 7,
	    PFX "<,\"\\x1b[2J\\x7f\\xc3\\xa9\"\n");
	expect('<', "'single' ;semi|", 15, PFX "<,'single' ;semi|\n");

	/* Text at the limit, over it, and expanding past the line. */
	memset(text, 'A', sizeof(text));
	n = plog_format(line, sizeof(line), &when, "s1", "l", "r", '<', text,
	    PLOG_TEXT_MAX);
	CHECK(n == 34 + PLOG_TEXT_MAX + 1 && line[n - 1] == '\n' &&
	    strstr(line, PLOG_TRUNCATED) == NULL, "text at the limit: %zu",
	    n);
	n = plog_format(line, sizeof(line), &when, "s1", "l", "r", '<', text,
	    PLOG_TEXT_MAX + 1);
	CHECK(n == 34 + PLOG_TEXT_MAX + sizeof(PLOG_TRUNCATED) &&
	    strcmp(line + n - sizeof(PLOG_TRUNCATED), PLOG_TRUNCATED "\n") ==
	    0, "over the limit: %zu %s", n, line + n - 20);
	memset(text, '\n', sizeof(text));
	n = plog_format(line, sizeof(line), &when, "s1", "l", "r", '<', text,
	    sizeof(text));
	CHECK(n < sizeof(line) && n > 1900 && line[n - 1] == '\n' &&
	    strcmp(line + n - sizeof(PLOG_TRUNCATED) - 1,
	    PLOG_TRUNCATED "\"\n") == 0, "escapes past the line: %zu", n);
	for (i = 0; i + 1 < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			break;
	CHECK(i + 1 == n, "one line");
	/* Long fields are cut too; a tiny buffer still gets a line. */
	n = plog_format(line, sizeof(line), &when, text, text, text, '<',
	    "t", 1);
	CHECK(n < sizeof(line) && line[n - 1] == '\n', "long fields");
	n = plog_format(small, sizeof(small), &when, "session", "local",
	    "remote", '<', "a much longer text than fits here", 33);
	CHECK(n < sizeof(small) && n > 0 && small[n - 1] == '\n' &&
	    strstr(small, PLOG_TRUNCATED) != NULL, "small buffer: %s",
	    small);
	CHECK(plog_format(small, 10, &when, "s", "l", "r", '<', "t", 1) == 0,
	    "buffer too small for a line");
	/* Now, when NULL. */
	n = plog_format(line, sizeof(line), NULL, "s", "l", "r", '<', "t", 1);
	CHECK(n > 24 && line[4] == '-' && line[10] == 'T' && line[23] == 'Z',
	    "now: %s", line);
}

static void
test_helpers(void)
{
	struct sockaddr_in	s4;
	struct sockaddr_in6	s6;
	char			buf[PLOG_ENDPOINT_SIZE], d[256], m[64];
	size_t			n;

	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_port = htons(25);
	inet_pton(AF_INET, "192.0.2.1", &s4.sin_addr);
	CHECK(plog_endpoint((struct sockaddr *)&s4, sizeof(s4), buf,
	    sizeof(buf)) == 0 && strcmp(buf, "192.0.2.1:25") == 0, "v4 %s",
	    buf);
	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	s6.sin6_port = htons(40000);
	inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr);
	CHECK(plog_endpoint((struct sockaddr *)&s6, sizeof(s6), buf,
	    sizeof(buf)) == 0 && strcmp(buf, "[2001:db8::1]:40000") == 0,
	    "v6 %s", buf);
	inet_pton(AF_INET6, "::ffff:198.51.100.7", &s6.sin6_addr);
	CHECK(plog_endpoint((struct sockaddr *)&s6, sizeof(s6), buf,
	    sizeof(buf)) == 0 && strcmp(buf, "198.51.100.7:40000") == 0,
	    "mapped %s", buf);
	inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    &s6.sin6_addr);
	s6.sin6_port = htons(65535);
	CHECK(plog_endpoint((struct sockaddr *)&s6, sizeof(s6), buf,
	    sizeof(buf)) == 0, "longest v6 fits");
	s4.sin_family = AF_UNIX;
	CHECK(plog_endpoint((struct sockaddr *)&s4, sizeof(s4), buf,
	    sizeof(buf)) == -1 && strcmp(buf, "?") == 0, "unknown family");

	n = plog_decision(d, sizeof(d), 12, "host <partners> require auth+tls",
	    "3f2a9c0d11e84b7a");
	CHECK(strcmp(d, "rule line 12 (host <partners> require auth+tls), "
	    "table 3f2a9c0d11e84b7a") == 0 && n == strlen(d), "decision %s",
	    d);
	expect('*', d, n, PFX "*,\"rule line 12 (host <partners> require "
	    "auth+tls), table 3f2a9c0d11e84b7a\"\n");
	n = plog_decision(d, 20, 0, "default require none", "0123");
	CHECK(n == 19 && strlen(d) == 19, "decision cut");

#define MASK(in, want) do {						\
	n = plog_masked_auth(in, sizeof(in) - 1, m, sizeof(m));		\
	CHECK(strcmp(m, want) == 0 && n == strlen(want),		\
	    "mask \"%s\": \"%s\"", in, m);				\
} while (0)
	MASK("AUTH PLAIN dGVzdABhbGljZQBzZWNyZXQ=", "AUTH PLAIN ****");
	MASK("auth plain  dGVzdA==", "auth plain ****");
	MASK("AUTH SCRAM-SHA-256 biwsbj1hbGljZSxyPWZ5a28=",
	    "AUTH SCRAM-SHA-256 ****");
	MASK("AUTH PLAIN =", "AUTH PLAIN ****");
	MASK("AUTH\tLOGIN\tdXNlcg==", "AUTH\tLOGIN ****");
	MASK("AUTH LOGIN", "AUTH LOGIN");
	MASK("AUTH LOGIN  ", "AUTH LOGIN  ");
	MASK("AUTH", "AUTH");
	MASK("AUTHX PLAIN abc", "AUTHX PLAIN abc");
	MASK("334 VXNlcm5hbWU6", "334 ****");
	MASK("334 ", "334 ");
	MASK("MAIL FROM:<a@b>", "MAIL FROM:<a@b>");
	MASK("", "");
	n = plog_masked_auth("AUTH PLAIN secret", 17, m, 8);
	CHECK(strcmp(m, "AUTH PL") == 0 && n == 7, "tiny out: %s", m);
	n = plog_masked_auth("AUTH PLAIN secret", 17, m, 14);
	CHECK(strcmp(m, "AUTH PLAIN") == 0, "no room for stars: %s", m);
}

static void
test_file(const char *top)
{
	struct plog	l;
	struct stat	st;
	char		path[600], path1[600], err[256], buf[4096];
	long		n;
	int		fds[2], saved;

	snprintf(path, sizeof(path), "%s/protocol.log", top);
	snprintf(path1, sizeof(path1), "%s/protocol.log.1", top);
	CHECK(plog_open(&l, path, err, sizeof(err)) == 0, "open: %s", err);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640,
	    "mode 0640");
	CHECK(plog_write(&l, &when, "s1", "l", "r", '+', "", 0) == 0, "w");
	CHECK(plog_write(&l, &when, "s1", "l", "r", '<', "QUIT", 4) == 0, "w");
	CHECK(rename(path, path1) == 0, "rotate");
	CHECK(plog_reopen(&l, err, sizeof(err)) == 0, "reopen: %s", err);
	CHECK(plog_write(&l, &when, "s1", "l", "r", '-', "", 0) == 0, "w");
	plog_close(&l);
	n = tu_read(path1, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	CHECK(strcmp(buf, "2023-11-14T22:13:20.123Z,s1,l,r,+,\n"
	    "2023-11-14T22:13:20.123Z,s1,l,r,<,QUIT\n") == 0, "rotated: %s",
	    buf);
	n = tu_read(path, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	CHECK(strcmp(buf, "2023-11-14T22:13:20.123Z,s1,l,r,-,\n") == 0,
	    "new: %s", buf);

	/* Appends to what is there; a failed reopen keeps the old file. */
	CHECK(plog_open(&l, path, err, sizeof(err)) == 0, "open");
	CHECK(plog_write(&l, &when, "s2", "l", "r", '+', "", 0) == 0, "w");
	snprintf(l.path, sizeof(l.path), "%s/no/such/dir/log", top);
	CHECK(plog_reopen(&l, err, sizeof(err)) == -1, "bad reopen");
	CHECK(plog_write(&l, &when, "s2", "l", "r", '-', "", 0) == 0,
	    "still writing");
	plog_close(&l);
	CHECK(plog_write(&l, &when, "s2", "l", "r", '-', "", 0) == -1 &&
	    l.errors == 1, "closed counts an error");
	n = tu_read(path, buf, sizeof(buf) - 1);
	CHECK(n == 3 * 35, "three lines: %ld", n);
	CHECK(plog_open(&l, "", err, sizeof(err)) == -1, "empty path");
	snprintf(path1, sizeof(path1), "%s/nodir/x.log", top);
	CHECK(plog_open(&l, path1, err, sizeof(err)) == -1 &&
	    strstr(err, "cannot open") != NULL, "missing dir: %s", err);

	/* -f: stderr. */
	if (pipe(fds) == 0) {
		fflush(stderr);
		saved = dup(2);
		dup2(fds[1], 2);
		CHECK(plog_open(&l, NULL, err, sizeof(err)) == 0, "stderr");
		CHECK(plog_write(&l, &when, "s3", "l", "r", '>', "221 Bye",
		    7) == 0, "w");
		CHECK(plog_reopen(&l, err, sizeof(err)) == 0, "reopen no-op");
		plog_close(&l);
		dup2(saved, 2);
		close(saved);
		close(fds[1]);
		CHECK(fcntl(2, F_GETFD) != -1, "stderr not closed");
		n = read(fds[0], buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		close(fds[0]);
		CHECK(strcmp(buf, "2023-11-14T22:13:20.123Z,s3,l,r,>,221 Bye\n")
		    == 0, "stderr got: %s", buf);
	}
}

int
main(void)
{
	char	top[512];

	tu_mkdtemp(top, sizeof(top), "plog_test");
	test_format();
	test_helpers();
	test_file(top);
	tu_rmtree(top);
	return tu_done("plog_test");
}
