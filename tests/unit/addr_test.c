/*
 * addr_test: address and prefix parsing as a policy author meets it
 * (the reasons are what policyc prints), printing, containment,
 * masking and the folding of IPv4-mapped IPv6.
 */
#include "config.h"

#include "check.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"

/* want: the printed result, or "!" then the exact reason. */
static const struct {
	const char	*in;
	int		 hostbits;
	const char	*want;
} cases[] = {
	{ "192.0.2.1", 0, "192.0.2.1" },
	{ "192.0.2.0/24", 0, "192.0.2.0/24" },
	{ "192.0.2.1/32", 0, "192.0.2.1" },
	{ "0.0.0.0/0", 0, "0.0.0.0/0" },
	{ "255.255.255.255", 0, "255.255.255.255" },
	{ "10.0.0.0/8", 0, "10.0.0.0/8" },
	{ "2001:db8::/32", 0, "2001:db8::/32" },
	{ "2001:DB8::1", 0, "2001:db8::1" },
	{ "::", 0, "::" },
	{ "::/0", 0, "::/0" },
	{ "::1", 0, "::1" },
	{ "fe80::/10", 0, "fe80::/10" },
	{ "2001:db8::1/128", 0, "2001:db8::1" },
	{ "::ffff:192.0.2.1", 0, "192.0.2.1" },
	{ "::ffff:192.0.2.0/120", 0, "192.0.2.0/24" },
	{ "::ffff:0:0/96", 0, "0.0.0.0/0" },
	{ "::ffff:c000:201", 0, "192.0.2.1" },
	{ "::ffff:0:0/95", 0,
	    "!::ffff:0:0/95 has host bits set (did you mean ::fffe:0:0/95?)" },
	{ "::fffe:0:0/95", 0, "::fffe:0:0/95" },
	{ "::192.0.2.1", 0, "::192.0.2.1" },	/* not mapped: kept */
	{ "192.0.2.1/24", 0,
	    "!192.0.2.1/24 has host bits set (did you mean 192.0.2.0/24?)" },
	{ "192.0.2.1/24", 1, "192.0.2.1/24" },
	{ "2001:db8::1/32", 0,
	    "!2001:db8::1/32 has host bits set (did you mean 2001:db8::/32?)" },
	{ "::ffff:192.0.2.1/120", 0, "!::ffff:192.0.2.1/120 has host bits "
	    "set (did you mean 192.0.2.0/24?)" },
	{ "1.2.3.4/33", 0, "!prefix length 33 is out of range for IPv4" },
	{ "::/129", 0, "!prefix length 129 is out of range for IPv6" },
	{ "1.2.3.4/99999999999999999999", 0, "!prefix length "
	    "99999999999999999999 is out of range for IPv4" },
	{ "300.1.1.1", 0, "!'300.1.1.1' is not an IP address" },
	{ "300.1.1.1/8", 0, "!'300.1.1.1' is not an IP address" },
	{ "1.2.3", 0, "!'1.2.3' is not an IP address" },
	{ "1.2.3.4.5", 0, "!'1.2.3.4.5' is not an IP address" },
	{ "01.2.3.4", 0, "!'01.2.3.4' is not an IP address" },
	{ " 1.2.3.4", 0, "!' 1.2.3.4' is not an IP address" },
	{ "1.2.3.4 ", 0, "!'1.2.3.4 ' is not an IP address" },
	{ "0x1.2.3.4", 0, "!'0x1.2.3.4' is not an IP address" },
	{ "2001:db8:::1", 0, "!'2001:db8:::1' is not an IP address" },
	{ "fe80::1%eth0", 0, "!'fe80::1%eth0' is not an IP address" },
	{ "host.example", 0, "!'host.example' is not an IP address" },
	{ "/24", 0, "!'' is not an IP address" },
	{ "1.2.3.0/", 0, "!'1.2.3.0/' has no prefix length after '/'" },
	{ "1.2.3.0/+8", 0, "!'+8' is not a prefix length" },
	{ "1.2.3.0/-1", 0, "!'-1' is not a prefix length" },
	{ "1.2.3.0/24/24", 0, "!'24/24' is not a prefix length" },
	{ "1.2.3.0/ 24", 0, "!' 24' is not a prefix length" },
	{ "1.2.3.0/024", 0, "1.2.3.0/24" },
	{ "", 0, "!empty address" },
	{ "1111:2222:3333:4444:5555:6666:255.255.255.255/128xxxxxxxxxxxxxxx",
	    0, "!'1111:2222:3333:4444:5555:6666:255.255.25...' is not an IP "
	    "address (too long)" },
};

static void
test_parse(void)
{
	struct addr	 a;
	char		 err[256], buf[ADDR_STRLEN];
	size_t		 i;
	int		 rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char	*w = cases[i].want;

		memset(&a, 0xaa, sizeof(a));
		rc = addr_parse(cases[i].in, strlen(cases[i].in),
		    cases[i].hostbits, &a, err, sizeof(err));
		if (w[0] == '!') {
			if (rc != -1 || strcmp(err, w + 1) != 0) {
				fprintf(stderr, "'%s': rc %d err '%s', want "
				    "'%s'\n", cases[i].in, rc,
				    rc == -1 ? err : "", w + 1);
				failures++;
			} else
				printf("%-24s  error: %s\n", cases[i].in, err);
			continue;
		}
		if (rc != 0) {
			fprintf(stderr, "'%s': %s\n", cases[i].in, err);
			failures++;
			continue;
		}
		addr_format(&a, buf, sizeof(buf));
		if (strcmp(buf, w) != 0) {
			fprintf(stderr, "'%s' printed as '%s', want '%s'\n",
			    cases[i].in, buf, w);
			failures++;
		}
	}
}

static void
test_bounds(void)
{
	struct addr	 a;
	char		 err[256], small[8];
	const char	 junk[] = "10.1.2.3/8garbage";
	char		 nul[] = "10.1.2.3\0/8";

	/* Only n bytes are read; nothing needs to end the text. */
	CHECK(addr_parse(junk, 8, 0, &a, err, sizeof(err)) == 0);
	CHECK(a.family == ADDR_V4 && a.len == 32 && a.a[3] == 3);
	CHECK(addr_parse(junk, 10, 1, &a, err, sizeof(err)) == 0);
	CHECK(a.len == 8 && a.a[3] == 3);	/* bits kept as written */
	addr_mask(&a);
	CHECK(a.a[1] == 0 && a.a[3] == 0 && a.a[0] == 10);
	CHECK(addr_parse(nul, sizeof(nul) - 1, 0, &a, err,
	    sizeof(err)) == -1);
	printf("embedded NUL: %s\n", err);
	/* A short error buffer is cut, never overrun. */
	CHECK(addr_parse("300.1.1.1", 9, 0, &a, small, sizeof(small)) == -1);
	CHECK(strlen(small) == sizeof(small) - 1);
	CHECK(addr_parse("300.1.1.1", 9, 0, &a, NULL, 0) == -1);
	/* Unprintable bytes are not echoed. */
	CHECK(addr_parse("1.2.\033[2J", 8, 0, &a, err, sizeof(err)) == -1);
	CHECK(strchr(err, '\033') == NULL);
	printf("control bytes: %s\n", err);
}

static void
test_ops(void)
{
	struct addr	 p, x;
	char		 err[256], buf[ADDR_STRLEN];

	CHECK(addr_parse("10.0.0.0/8", 10, 0, &p, err, sizeof(err)) == 0);
	CHECK(addr_parse("10.255.1.1", 10, 0, &x, err, sizeof(err)) == 0);
	CHECK(addr_contains(&p, &x) == 1);
	CHECK(addr_contains(&x, &p) == 0);
	CHECK(addr_contains(&p, &p) == 1);
	CHECK(addr_parse("11.0.0.0", 8, 0, &x, err, sizeof(err)) == 0);
	CHECK(addr_contains(&p, &x) == 0);
	CHECK(addr_parse("0.0.0.0/0", 9, 0, &p, err, sizeof(err)) == 0);
	CHECK(addr_contains(&p, &x) == 1);
	CHECK(addr_parse("::/0", 4, 0, &p, err, sizeof(err)) == 0);
	CHECK(addr_contains(&p, &x) == 0);	/* families differ */
	CHECK(addr_parse("2001:db8:8000::/33", 18, 0, &p, err,
	    sizeof(err)) == 0);
	CHECK(addr_parse("2001:db8:8000::1", 16, 0, &x, err,
	    sizeof(err)) == 0);
	CHECK(addr_contains(&p, &x) == 1);
	CHECK(addr_parse("2001:db8:7fff::1", 16, 0, &x, err,
	    sizeof(err)) == 0);
	CHECK(addr_contains(&p, &x) == 0);

	/* An accepted socket's ::ffff:a.b.c.d becomes a.b.c.d. */
	memset(&x, 0, sizeof(x));
	x.family = ADDR_V6;
	x.len = 128;
	x.a[10] = x.a[11] = 0xff;
	x.a[12] = 192;
	x.a[15] = 7;
	addr_unmap(&x);
	addr_format(&x, buf, sizeof(buf));
	CHECK(x.family == ADDR_V4 && x.len == 32 &&
	    strcmp(buf, "192.0.0.7") == 0);
	addr_unmap(&x);				/* v4 stays v4 */
	CHECK(x.family == ADDR_V4);
	CHECK(addr_parse("::1", 3, 0, &x, err, sizeof(err)) == 0);
	addr_unmap(&x);
	CHECK(x.family == ADDR_V6);

	CHECK(addr_parse("192.0.2.255/25", 14, 1, &x, err,
	    sizeof(err)) == 0);
	addr_mask(&x);
	addr_format(&x, buf, sizeof(buf));
	CHECK(strcmp(buf, "192.0.2.128/25") == 0);
	CHECK(addr_parse("ffff:ffff::/17", 14, 1, &x, err, sizeof(err)) == 0);
	addr_mask(&x);
	addr_format(&x, buf, sizeof(buf));
	CHECK(strcmp(buf, "ffff:8000::/17") == 0);

	/* Printing into a short buffer truncates. */
	addr_format(&x, buf, 5);
	CHECK(strcmp(buf, "ffff") == 0);
}

int
main(void)
{
	test_parse();
	test_bounds();
	test_ops();
	return check_finish();
}
