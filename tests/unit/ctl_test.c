/*
 * ctl_test: the control socket's request parser (ctl_parse), with the
 * requests bastionctl sends, the ones it never would, and a few
 * hundred thousand random ones (a seeded generator, so a failure can
 * be run again): it never reads or writes out of bounds, answers 0 or
 * -1, and whatever it accepts is well formed.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ctl.h"

static uint64_t	rng = 0x9e3779b97f4a7c15ULL;

static uint32_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static int
parse(const char *s, struct ctl_req *r, char *err, size_t errlen)
{
	return ctl_parse(s, strlen(s), r, err, errlen);
}

/* What an accepted request must look like. */
static int
well_formed(const struct ctl_req *r)
{
	const char	*p;
	size_t		 i;

	if (r->verb == NULL || r->verb[0] == '\0' || r->nargs > CTL_ARGS_MAX)
		return 0;
	for (p = r->verb; *p; p++)
		if (*p < 'a' || *p > 'z')
			return 0;
	for (i = 0; i < r->nargs; i++) {
		if (r->arg[i] == NULL || r->arg[i][0] == '\0')
			return 0;
		for (p = r->arg[i]; *p; p++)
			if (*p <= ' ' || *p > '~')
				return 0;
	}
	return 1;
}

int
main(void)
{
	struct ctl_req	 r;
	char		 err[128], buf[CTL_REQ_MAX + 64];
	size_t		 i, j, len;
	int		 rc, ok = 0;

	CHECK(parse("status", &r, err, sizeof(err)) == 0 &&
	    strcmp(r.verb, "status") == 0 && r.nargs == 0);
	CHECK(parse("queue -j", &r, err, sizeof(err)) == 0 &&
	    strcmp(r.verb, "queue") == 0 && r.nargs == 1 &&
	    strcmp(r.arg[0], "-j") == 0);
	CHECK(parse("  hold   0123abcd  ", &r, err, sizeof(err)) == 0 &&
	    r.nargs == 1 && strcmp(r.arg[0], "0123abcd") == 0,
	    "spaces around and between words");
	CHECK(parse("reload\r", &r, err, sizeof(err)) == 0,
	    "a CRLF client");
	CHECK(parse("", &r, err, sizeof(err)) == -1 &&
	    strstr(err, "empty") != NULL, "empty: %s", err);
	CHECK(parse("   ", &r, err, sizeof(err)) == -1, "blank");
	CHECK(parse("Status", &r, err, sizeof(err)) == -1 &&
	    strstr(err, "command name") != NULL, "upper case verb");
	CHECK(parse("st4tus", &r, err, sizeof(err)) == -1, "digit in verb");
	CHECK(parse("a b c d e", &r, err, sizeof(err)) == 0 && r.nargs == 4);
	CHECK(parse("a b c d e f", &r, err, sizeof(err)) == -1 &&
	    strstr(err, "too many") != NULL, "too many words: %s", err);
	CHECK(ctl_parse("show\0x", 6, &r, err, sizeof(err)) == -1 &&
	    strstr(err, "0x00") != NULL, "a NUL inside: %s", err);
	CHECK(parse("show \xff", &r, err, sizeof(err)) == -1 &&
	    strstr(err, "0xff") != NULL, "8-bit: %s", err);
	CHECK(parse("show\ta", &r, err, sizeof(err)) == -1, "a tab");
	CHECK(parse("show\r\n", &r, err, sizeof(err)) == -1,
	    "CR not at the end");
	memset(buf, 'a', sizeof(buf));
	CHECK(ctl_parse(buf, CTL_REQ_MAX - 1, &r, err, sizeof(err)) == 0,
	    "the longest request");
	CHECK(ctl_parse(buf, CTL_REQ_MAX, &r, err, sizeof(err)) == -1 &&
	    strstr(err, "too long") != NULL, "one byte more: %s", err);
	CHECK(ctl_parse(buf, sizeof(buf), &r, err, sizeof(err)) == -1);
	/* A tiny error buffer is still a string. */
	CHECK(parse("", &r, err, 4) == -1 && strlen(err) < 4);

	/* Random requests: mostly printable, some spaces, a few bad bytes. */
	for (i = 0; i < 300000; i++) {
		len = next() % (i % 10 == 0 ? sizeof(buf) : 48);
		for (j = 0; j < len; j++) {
			uint32_t x = next() % 100;
			buf[j] = x < 50 ? (char)('a' + next() % 26) :
			    x < 70 ? ' ' : x < 97 ? (char)(0x21 + next() % 94) :
			    (char)(next() & 0xff);
		}
		memset(err, 'X', sizeof(err));
		rc = ctl_parse(buf, len, &r, err, sizeof(err));
		if (rc == 0) {
			ok++;
			if (!well_formed(&r)) {
				CHECK(0, "accepted but malformed, case %zu", i);
				break;
			}
		} else if (rc != -1 || memchr(err, '\0', sizeof(err)) ==
		    NULL) {
			CHECK(0, "bad return or reason, case %zu", i);
			break;
		}
	}
	CHECK(ok > 1000, "some random requests were accepted (%d)", ok);
	return check_finish();
}
