/*
 * Unit tests for runtime/inbound/proxy.c: golden v1 and v2 headers fed
 * whole, cut at every point and byte by byte, with the bytes after the
 * header left alone; then one case per class of malformed header, each
 * refused with its reason however it is cut.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "check.h"
#include "proxy.h"

/* A literal with its length, NULs included. */
#define LIT(s)	s, sizeof(s) - 1

#define SIG	"\r\n\r\n\0\r\nQUIT\n"

struct golden {
	const char	*name;
	const char	*bytes;		/* the header, then what follows it */
	size_t		 n;
	size_t		 hdrlen;
	enum proxy_kind	 kind;
	int		 version;
	const char	*src, *dst;	/* PROXY_ADDRS only */
	unsigned	 sport, dport;
};

struct bad {
	const char	*name;
	const char	*bytes;
	size_t		 n;
	const char	*why;		/* a part of the reason */
};

static int	feed_cut(const char *, size_t, size_t, size_t *,
		    struct proxy_result *, char *, size_t);
static int	feed_bytes(const char *, size_t, size_t *,
		    struct proxy_result *, char *, size_t);
static int	same(const struct golden *, int, size_t,
		    const struct proxy_result *);

static char	max_v2[PROXY_HDR_MAX + 4];

static const struct golden goldens[] = {
	{ "v1 TCP4 with SMTP after it",
	    LIT("PROXY TCP4 192.0.2.1 198.51.100.7 40000 25\r\nEHLO x\r\n"),
	    44, PROXY_ADDRS, 1, "192.0.2.1", "198.51.100.7", 40000, 25 },
	{ "v1 TCP6 with a ClientHello after it",
	    LIT("PROXY TCP6 2001:db8::1 2001:db8::25 12345 587\r\n"
	    "\x16\x03\x01\x02\x00"),
	    47, PROXY_ADDRS, 1, "2001:db8::1", "2001:db8::25", 12345, 587 },
	{ "v1 TCP6 IPv4-mapped folds to IPv4",
	    LIT("PROXY TCP6 ::ffff:192.0.2.9 ::ffff:198.51.100.7 1 65535\r\n"),
	    57, PROXY_ADDRS, 1, "192.0.2.9", "198.51.100.7", 1, 65535 },
	{ "v1 TCP4 extremes",
	    LIT("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\nQUIT\r\n"),
	    44, PROXY_ADDRS, 1, "0.0.0.0", "255.255.255.255", 0, 65535 },
	{ "v1 TCP6 longest",
	    LIT("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
	    104, PROXY_ADDRS, 1, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 65535 },
	{ "v1 UNKNOWN",
	    LIT("PROXY UNKNOWN\r\nEHLO x\r\n"),
	    15, PROXY_UNKNOWN, 1, NULL, NULL, 0, 0 },
	{ "v1 UNKNOWN at 107 bytes",
	    LIT("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\nX"),
	    107, PROXY_UNKNOWN, 1, NULL, NULL, 0, 0 },
	{ "v2 TCP4 with SMTP after it",
	    LIT(SIG "\x21\x11\x00\x0c" "\xc0\x00\x02\x01" "\xc6\x33\x64\x07"
	    "\x9c\x40\x00\x19" "EHLO x\r\n"),
	    28, PROXY_ADDRS, 2, "192.0.2.1", "198.51.100.7", 40000, 25 },
	{ "v2 TCP6",
	    LIT(SIG "\x21\x21\x00\x24"
	    "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"
	    "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x25"
	    "\x30\x39\x02\x4b" "\x16\x03\x01"),
	    52, PROXY_ADDRS, 2, "2001:db8::1", "2001:db8::25", 12345, 587 },
	{ "v2 TCP6 IPv4-mapped folds to IPv4",
	    LIT(SIG "\x21\x21\x00\x24"
	    "\0\0\0\0\0\0\0\0\0\0\xff\xff\xc0\x00\x02\x09"
	    "\0\0\0\0\0\0\0\0\0\0\xff\xff\xc6\x33\x64\x07"
	    "\x00\x01\xff\xff"),
	    52, PROXY_ADDRS, 2, "192.0.2.9", "198.51.100.7", 1, 65535 },
	{ "v2 LOCAL",
	    LIT(SIG "\x20\x00\x00\x00" "EHLO x\r\n"),
	    16, PROXY_LOCAL, 2, NULL, NULL, 0, 0 },
	{ "v2 LOCAL ignores its family and block",
	    LIT(SIG "\x20\x31\x00\x03" "abc" "EHLO"),
	    19, PROXY_LOCAL, 2, NULL, NULL, 0, 0 },
	{ "v2 PROXY UNSPEC",
	    LIT(SIG "\x21\x00\x00\x00" "\x16"),
	    16, PROXY_UNKNOWN, 2, NULL, NULL, 0, 0 },
	{ "v2 TCP4 with authority, NOOP and CRC32C",
	    LIT(SIG "\x21\x11\x00\x23" "\xc0\x00\x02\x01" "\xc6\x33\x64\x07"
	    "\x9c\x40\x00\x19" "\x02\x00\x0a" "mx.example"
	    "\x04\x00\x00" "\x03\x00\x04\xc6\xca\xb2\x18" "EHLO x\r\n"),
	    51, PROXY_ADDRS, 2, "192.0.2.1", "198.51.100.7", 40000, 25 },
	{ "v2 at the length cap",
	    max_v2, sizeof(max_v2), PROXY_HDR_MAX, PROXY_ADDRS, 2,
	    "192.0.2.1", "198.51.100.7", 40000, 25 },
};

static const struct bad bads[] = {
	{ "EHLO first", LIT("EHLO client.example\r\n"),
	    "missing PROXY header" },
	{ "ClientHello first", LIT("\x16\x03\x01\x02\x00\x01"),
	    "missing PROXY header" },
	{ "HTTP", LIT("POST / HTTP/1.1\r\n"), "missing PROXY header" },
	{ "PROXY without space", LIT("PROXYTCP4 1.2.3.4\r\n"),
	    "missing PROXY header" },
	{ "v2 signature off", LIT("\r\n\r\n\0\r\nQUIX\n\x21\x11\0\0"),
	    "missing PROXY header" },
	{ "v1 lower case keyword",
	    LIT("PROXY tcp4 192.0.2.1 198.51.100.7 1 2\r\n"),
	    "bad protocol keyword" },
	{ "v1 UDP4", LIT("PROXY UDP4 192.0.2.1 198.51.100.7 1 2\r\n"),
	    "bad protocol keyword" },
	{ "v1 UNKNOWNX", LIT("PROXY UNKNOWNX\r\n"), "bad protocol keyword" },
	{ "v1 empty", LIT("PROXY \r\n"), "extra spaces" },
	{ "v1 TCP4 alone", LIT("PROXY TCP4\r\n"), "missing addresses" },
	{ "v1 double space",
	    LIT("PROXY TCP4 192.0.2.1  198.51.100.7 1 2\r\n"), "extra spaces" },
	{ "v1 space after PROXY",
	    LIT("PROXY  TCP4 192.0.2.1 198.51.100.7 1 2\r\n"), "extra spaces" },
	{ "v1 trailing space",
	    LIT("PROXY TCP4 192.0.2.1 198.51.100.7 1 2 \r\n"), "extra spaces" },
	{ "v1 tab", LIT("PROXY TCP4 192.0.2.1\t198.51.100.7 1 2\r\n"),
	    "control" },
	{ "v1 extra field",
	    LIT("PROXY TCP4 192.0.2.1 198.51.100.7 1 2 3\r\n"), "extra fields" },
	{ "v1 missing port", LIT("PROXY TCP4 192.0.2.1 198.51.100.7 1\r\n"),
	    "missing fields" },
	{ "v1 IPv4 three parts", LIT("PROXY TCP4 192.0.2 198.51.100.7 1 2\r\n"),
	    "bad IPv4 address" },
	{ "v1 IPv4 five parts",
	    LIT("PROXY TCP4 192.0.2.1.5 198.51.100.7 1 2\r\n"),
	    "bad IPv4 address" },
	{ "v1 IPv4 leading zero",
	    LIT("PROXY TCP4 192.0.2.01 198.51.100.7 1 2\r\n"),
	    "bad IPv4 address" },
	{ "v1 IPv4 octet 256", LIT("PROXY TCP4 192.0.2.1 198.51.100.256 1 2\r\n"),
	    "bad IPv4 address" },
	{ "v1 IPv4 empty part", LIT("PROXY TCP4 192..2.1 198.51.100.7 1 2\r\n"),
	    "bad IPv4 address" },
	{ "v1 IPv4 junk", LIT("PROXY TCP4 192.0.2.1x 198.51.100.7 1 2\r\n"),
	    "bad IPv4 address" },
	{ "v1 IPv4 four digits", LIT("PROXY TCP4 192.0.2.0001 198.51.100.7 1 2\r\n"),
	    "bad IPv4 address" },
	{ "v1 TCP4 with IPv6", LIT("PROXY TCP4 2001:db8::1 198.51.100.7 1 2\r\n"),
	    "TCP4 with an IPv6 address" },
	{ "v1 TCP6 with IPv4",
	    LIT("PROXY TCP6 2001:db8::1 198.51.100.7 1 2\r\n"),
	    "TCP6 with an IPv4 address" },
	{ "v1 bad IPv6", LIT("PROXY TCP6 2001:db8::g 2001:db8::1 1 2\r\n"),
	    "bad IPv6 address" },
	{ "v1 IPv6 scope", LIT("PROXY TCP6 fe80::1%eth0 2001:db8::1 1 2\r\n"),
	    "bad IPv6 address" },
	{ "v1 IPv6 two ::", LIT("PROXY TCP6 2001::db8::1 2001:db8::1 1 2\r\n"),
	    "bad IPv6 address" },
	{ "v1 IPv6 hostname", LIT("PROXY TCP6 localhost 2001:db8::1 1 2\r\n"),
	    "bad IPv6 address" },
	{ "v1 port 65536", LIT("PROXY TCP4 192.0.2.1 198.51.100.7 65536 25\r\n"),
	    "bad port" },
	{ "v1 port six digits",
	    LIT("PROXY TCP4 192.0.2.1 198.51.100.7 100000 25\r\n"), "bad port" },
	{ "v1 port sign", LIT("PROXY TCP4 192.0.2.1 198.51.100.7 +1 25\r\n"),
	    "bad port" },
	{ "v1 port negative", LIT("PROXY TCP4 192.0.2.1 198.51.100.7 1 -25\r\n"),
	    "bad port" },
	{ "v1 port leading zero",
	    LIT("PROXY TCP4 192.0.2.1 198.51.100.7 1 025\r\n"), "bad port" },
	{ "v1 port hex", LIT("PROXY TCP4 192.0.2.1 198.51.100.7 0x19 25\r\n"),
	    "bad port" },
	{ "v1 bare LF", LIT("PROXY TCP4 192.0.2.1 198.51.100.7 1 2\n"),
	    "bare LF" },
	{ "v1 CR alone", LIT("PROXY TCP4 192.0.2.1\r198.51.100.7 1 2\r\n"),
	    "CR not followed by LF" },
	{ "v1 NUL", LIT("PROXY TCP4 192.0.2.1\0 198.51.100.7 1 2\r\n"),
	    "control" },
	{ "v1 8-bit", LIT("PROXY UNKNOWN \xc3\xa9\r\n"), "non-ASCII" },
	{ "v1 108 bytes",
	    LIT("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655355\r\n"),
	    "longer than 107" },
	{ "v1 no CRLF in 107 bytes",
	    LIT("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535xx"),
	    "longer than 107" },
	{ "v2 version 1", LIT(SIG "\x11\x11\x00\x0c"), "wrong version" },
	{ "v2 version 3", LIT(SIG "\x31\x11\x00\x0c"), "wrong version" },
	{ "v2 command 2", LIT(SIG "\x22\x11\x00\x0c"), "unknown command" },
	{ "v2 command 15", LIT(SIG "\x2f\x00\x00\x00"), "unknown command" },
	{ "v2 AF_UNIX", LIT(SIG "\x21\x31\x00\xd8"), "AF_UNIX" },
	{ "v2 UDP4", LIT(SIG "\x21\x12\x00\x0c"), "datagram" },
	{ "v2 UDP6", LIT(SIG "\x21\x22\x00\x24"), "datagram" },
	{ "v2 family 4", LIT(SIG "\x21\x41\x00\x0c"), "unknown family" },
	{ "v2 INET without transport", LIT(SIG "\x21\x10\x00\x0c"),
	    "unknown family" },
	{ "v2 UNSPEC family, STREAM", LIT(SIG "\x21\x01\x00\x00"),
	    "unknown family" },
	{ "v2 TCP4 length 11", LIT(SIG "\x21\x11\x00\x0b"), "too short" },
	{ "v2 TCP6 length 35", LIT(SIG "\x21\x21\x00\x23"), "too short" },
	{ "v2 length 521", LIT(SIG "\x21\x11\x02\x09"), "longer than 536" },
	{ "v2 length 65535", LIT(SIG "\x20\x00\xff\xff"), "longer than 536" },
	{ "v2 TLV header cut",
	    LIT(SIG "\x21\x11\x00\x0e" "\xc0\x00\x02\x01" "\xc6\x33\x64\x07"
	    "\x9c\x40\x00\x19" "\x04\x00"), "truncated TLV" },
	{ "v2 TLV too long",
	    LIT(SIG "\x21\x11\x00\x10" "\xc0\x00\x02\x01" "\xc6\x33\x64\x07"
	    "\x9c\x40\x00\x19" "\x04\x00\x02" "x"), "TLV longer" },
	{ "v2 CRC32C mismatch",
	    LIT(SIG "\x21\x11\x00\x23" "\xc0\x00\x02\x01" "\xc6\x33\x64\x07"
	    "\x9c\x40\x00\x19" "\x02\x00\x0a" "mx.exampld"
	    "\x04\x00\x00" "\x03\x00\x04\xc6\xca\xb2\x18"), "CRC32C mismatch" },
	{ "v2 CRC32C of 3 bytes",
	    LIT(SIG "\x21\x11\x00\x12" "\xc0\x00\x02\x01" "\xc6\x33\x64\x07"
	    "\x9c\x40\x00\x19" "\x03\x00\x03" "abc"), "malformed CRC32C" },
};

/* Feed bytes [0, cut) then [cut, n); stop at the first non-zero result. */
static int
feed_cut(const char *b, size_t n, size_t cut, size_t *used,
    struct proxy_result *res, char *err, size_t errlen)
{
	struct proxy	 p;
	size_t		 u;
	int		 r;

	proxy_init(&p);
	r = proxy_feed(&p, b, cut, &u, res, err, errlen);
	*used = u;
	if (r != 0 || u != cut)
		return r != 0 ? r : -2;
	r = proxy_feed(&p, b + cut, n - cut, &u, res, err, errlen);
	*used += u;
	if (r == 0 && u != n - cut)
		return -2;
	return r;
}

/* Feed one byte at a time. */
static int
feed_bytes(const char *b, size_t n, size_t *used, struct proxy_result *res,
    char *err, size_t errlen)
{
	struct proxy	 p;
	size_t		 i, u;
	int		 r = 0;

	proxy_init(&p);
	for (i = 0; i < n && r == 0; i++) {
		r = proxy_feed(&p, b + i, 1, &u, res, err, errlen);
		if (u > 1 || (r == 0 && u != 1))
			return -2;
		*used = i + u;
	}
	return r;
}

static int
same(const struct golden *g, int r, size_t used,
    const struct proxy_result *res)
{
	char	 s[ADDR_STRLEN], d[ADDR_STRLEN];

	if (r != 1 || used != g->hdrlen || res->kind != g->kind ||
	    res->version != g->version)
		return 0;
	if (g->kind != PROXY_ADDRS)
		return 1;
	addr_format(&res->src, s, sizeof(s));
	addr_format(&res->dst, d, sizeof(d));
	return strcmp(s, g->src) == 0 && strcmp(d, g->dst) == 0 &&
	    res->sport == g->sport && res->dport == g->dport;
}

static void
test_goldens(void)
{
	const struct golden	*g;
	struct proxy_result	 res;
	char			 err[128];
	size_t			 i, cut, used;
	int			 r, bad;

	for (i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		g = &goldens[i];
		for (bad = 0, cut = 0; cut <= g->n && !bad; cut++) {
			r = feed_cut(g->bytes, g->n, cut, &used, &res, err,
			    sizeof(err));
			bad = !same(g, r, used, &res);
			CHECK(!bad, "%s: cut at %zu: r %d used %zu (%s)",
			    g->name, cut, r, used, err);
		}
		r = feed_bytes(g->bytes, g->n, &used, &res, err, sizeof(err));
		CHECK(same(g, r, used, &res), "%s: byte by byte: r %d used "
		    "%zu (%s)", g->name, r, used, err);
		/* Only the header: done on its last byte, not later. */
		r = feed_bytes(g->bytes, g->hdrlen, &used, &res, err,
		    sizeof(err));
		CHECK(same(g, r, used, &res), "%s: header alone: r %d",
		    g->name, r);
	}
}

static void
test_bads(void)
{
	const struct bad	*b;
	struct proxy_result	 res;
	char			 err[128], err1[128];
	size_t			 i, cut, used;
	int			 r, bad;

	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		b = &bads[i];
		for (bad = 0, cut = 0; cut <= b->n && !bad; cut++) {
			r = feed_cut(b->bytes, b->n, cut, &used, &res, err,
			    sizeof(err));
			bad = r != -1 || strstr(err, b->why) == NULL ||
			    used > b->n;
			CHECK(!bad, "%s: cut at %zu: r %d, \"%s\"", b->name,
			    cut, r, err);
		}
		r = feed_bytes(b->bytes, b->n, &used, &res, err1,
		    sizeof(err1));
		CHECK(r == -1 && strcmp(err, err1) == 0,
		    "%s: byte by byte: r %d, \"%s\"", b->name, r, err1);
		CHECK(res.kind == 0, "%s: result left filled", b->name);
	}
}

/* The end of the stream before the header is complete. */
static void
test_eof(void)
{
	struct proxy		 p;
	struct proxy_result	 res;
	char			 err[128];
	size_t			 used;
	int			 r;

	proxy_init(&p);
	proxy_eof(&p, err, sizeof(err));
	CHECK(strcmp(err, "missing PROXY header") == 0, "silent: %s", err);
	r = proxy_feed(&p, "", 0, &used, &res, err, sizeof(err));
	CHECK(r == 0 && used == 0, "nothing fed: r %d", r);
	r = proxy_feed(&p, LIT("PROXY TCP4 192.0.2.1"), &used, &res, err,
	    sizeof(err));
	CHECK(r == 0 && used == 20, "v1 part: r %d used %zu", r, used);
	proxy_eof(&p, err, sizeof(err));
	CHECK(strstr(err, "v1: truncated") != NULL, "v1 eof: %s", err);

	proxy_init(&p);
	r = proxy_feed(&p, LIT(SIG "\x21\x11\x00\x0c" "\xc0\x00"), &used,
	    &res, err, sizeof(err));
	CHECK(r == 0 && used == 18, "v2 part: r %d used %zu", r, used);
	proxy_eof(&p, err, sizeof(err));
	CHECK(strstr(err, "v2: truncated") != NULL, "v2 eof: %s", err);

	proxy_init(&p);
	r = proxy_feed(&p, LIT("\r\n\r\n"), &used, &res, err, sizeof(err));
	CHECK(r == 0, "v2 signature part: r %d", r);
	proxy_eof(&p, err, sizeof(err));
	CHECK(strstr(err, "v2: truncated") != NULL, "v2 sig eof: %s", err);
}

/* Finished is finished: a done or failed parser takes nothing more. */
static void
test_finished(void)
{
	struct proxy		 p;
	struct proxy_result	 res;
	char			 err[128];
	size_t			 used;
	int			 r;

	proxy_init(&p);
	r = proxy_feed(&p, LIT("PROXY UNKNOWN\r\nEHLO"), &used, &res, err,
	    sizeof(err));
	CHECK(r == 1 && used == 15, "unknown: r %d used %zu", r, used);
	r = proxy_feed(&p, LIT("EHLO"), &used, &res, err, sizeof(err));
	CHECK(r == -1 && used == 0, "after done: r %d used %zu", r, used);

	proxy_init(&p);
	r = proxy_feed(&p, LIT("EHLO"), &used, &res, err, sizeof(err));
	CHECK(r == -1, "EHLO: r %d", r);
	r = proxy_feed(&p, LIT("PROXY UNKNOWN\r\n"), &used, &res, err,
	    sizeof(err));
	CHECK(r == -1 && strcmp(err, "missing PROXY header") == 0 &&
	    used == 0, "sticky: r %d \"%s\"", r, err);
	proxy_eof(&p, err, sizeof(err));
	CHECK(strcmp(err, "missing PROXY header") == 0, "eof after: %s", err);
}

/*
 * The largest v2 header we take: TCP4 and one NOOP TLV filling the
 * length to the cap.
 */
static void
build_max_v2(void)
{
	static const char fixed[] = SIG "\x21\x11\x02\x08"
	    "\xc0\x00\x02\x01" "\xc6\x33\x64\x07" "\x9c\x40\x00\x19";
	size_t	 pad = PROXY_V2_LEN_MAX - 12 - 3;

	memset(max_v2, 'x', sizeof(max_v2));
	memcpy(max_v2, fixed, sizeof(fixed) - 1);
	max_v2[28] = 0x04;
	max_v2[29] = (char)(pad >> 8);
	max_v2[30] = (char)(pad & 0xff);
}

int
main(void)
{
	build_max_v2();
	test_goldens();
	test_bads();
	test_eof();
	test_finished();
	return check_finish();
}
