/*
 * addr: parsing, printing and comparing IPv4 and IPv6 addresses and
 * prefixes.  The compiler parses policy text with it and the runtime
 * folds accepted sockets with it, so that both agree on what an
 * IPv4-mapped IPv6 client is.  Parsing goes through inet_pton() on a
 * bounded, NUL-terminated copy of the input: nothing here trusts the
 * caller's buffer to end.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>

#include "addr.h"

/* Longest text we try: an IPv6 address with an embedded IPv4 and "/128". */
#define ADDR_TEXTMAX	(INET6_ADDRSTRLEN + 4)

static int	addr_is_mapped(const struct addr *);
static void	addr_quote(char *, size_t, const char *, size_t);

static const uint8_t addr_mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/*
 * Parse an address or prefix.  The reasons are written for a user who
 * typed the text, so they quote it back.
 */
int
addr_parse(const char *s, size_t n, int allow_hostbits, struct addr *out,
    char *err, size_t errlen)
{
	char		 buf[ADDR_TEXTMAX + 1], q[ADDR_TEXTMAX + 8];
	char		 masked[ADDR_STRLEN];
	const char	*slash;
	size_t		 alen, i;
	unsigned long	 plen;
	struct addr	 a, m;
	int		 has_len, maxlen;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	memset(&a, 0, sizeof(a));
	if (n == 0) {
		snprintf(err, errlen, "empty address");
		return -1;
	}
	if (n > ADDR_TEXTMAX) {
		/* Quote the start, without its closing quote. */
		addr_quote(q, sizeof(q), s, 40);
		q[strlen(q) - 1] = '\0';
		snprintf(err, errlen, "%s...' is not an IP address (too "
		    "long)", q);
		return -1;
	}
	/* inet_pton stops at a NUL: an embedded one must not hide junk. */
	if (memchr(s, '\0', n) != NULL) {
		snprintf(err, errlen, "address contains a NUL byte");
		return -1;
	}
	slash = memchr(s, '/', n);
	alen = slash != NULL ? (size_t)(slash - s) : n;
	memcpy(buf, s, alen);
	buf[alen] = '\0';

	if (memchr(buf, ':', alen) != NULL) {
		if (inet_pton(AF_INET6, buf, a.a) != 1)
			goto notaddr;
		a.family = ADDR_V6;
		maxlen = 128;
	} else {
		if (inet_pton(AF_INET, buf, a.a) != 1)
			goto notaddr;
		a.family = ADDR_V4;
		maxlen = 32;
	}

	has_len = slash != NULL;
	plen = (unsigned long)maxlen;
	if (has_len) {
		const char	*p = slash + 1;
		size_t		 plenlen = n - alen - 1;

		if (plenlen == 0) {
			addr_quote(q, sizeof(q), s, n);
			snprintf(err, errlen, "%s has no prefix length after "
			    "'/'", q);
			return -1;
		}
		plen = 0;
		for (i = 0; i < plenlen; i++) {
			if (p[i] < '0' || p[i] > '9') {
				addr_quote(q, sizeof(q), p, plenlen);
				snprintf(err, errlen, "%s is not a prefix "
				    "length", q);
				return -1;
			}
			/* Saturate: the digits are few but unbounded. */
			if (plen < 100000)
				plen = plen * 10 + (unsigned long)(p[i] - '0');
		}
		if (plen > (unsigned long)maxlen) {
			if (plen >= 100000)
				snprintf(err, errlen, "prefix length %.*s is "
				    "out of range for %s", (int)plenlen, p,
				    maxlen == 32 ? "IPv4" : "IPv6");
			else
				snprintf(err, errlen, "prefix length %lu is "
				    "out of range for %s", plen,
				    maxlen == 32 ? "IPv4" : "IPv6");
			return -1;
		}
	}
	a.len = (uint8_t)plen;

	/* ::ffff:a.b.c.d/96 and longer is an IPv4 prefix in disguise. */
	if (a.family == ADDR_V6 && a.len >= 96 && addr_is_mapped(&a))
		addr_unmap(&a);

	m = a;
	addr_mask(&m);
	if (memcmp(m.a, a.a, sizeof(a.a)) != 0) {
		if (!allow_hostbits) {
			/* inet_pton took it: the text is printable. */
			addr_format(&m, masked, sizeof(masked));
			snprintf(err, errlen, "%.*s has host bits set (did "
			    "you mean %s?)", (int)n, s, masked);
			return -1;
		}
	}
	*out = a;
	return 0;

notaddr:
	addr_quote(q, sizeof(q), buf, alen);
	snprintf(err, errlen, "%s is not an IP address", q);
	return -1;
}

/* Fold ::ffff:a.b.c.d (prefix length >= 96) to a.b.c.d. */
void
addr_unmap(struct addr *a)
{
	if (a->family != ADDR_V6 || a->len < 96 || !addr_is_mapped(a))
		return;
	memmove(a->a, a->a + 12, 4);
	memset(a->a + 4, 0, 12);
	a->family = ADDR_V4;
	a->len = (uint8_t)(a->len - 96);
}

void
addr_format(const struct addr *a, char *buf, size_t bufsz)
{
	char	 txt[INET6_ADDRSTRLEN];
	int	 af, full;

	if (bufsz == 0)
		return;
	if (a->family == ADDR_V4) {
		af = AF_INET;
		full = 32;
	} else if (a->family == ADDR_V6) {
		af = AF_INET6;
		full = 128;
	} else {
		snprintf(buf, bufsz, "(bad address family %u)", a->family);
		return;
	}
	if (inet_ntop(af, a->a, txt, sizeof(txt)) == NULL) {
		snprintf(buf, bufsz, "(unprintable address)");
		return;
	}
	if (a->len < full)
		snprintf(buf, bufsz, "%s/%u", txt, a->len);
	else
		snprintf(buf, bufsz, "%s", txt);
}

int
addr_contains(const struct addr *p, const struct addr *x)
{
	unsigned	 full, bytes, bits;

	if (p->family != x->family)
		return 0;
	full = p->family == ADDR_V4 ? 32 : 128;
	if (p->len > full || x->len < p->len)
		return 0;
	bytes = p->len / 8;
	bits = p->len % 8;
	if (memcmp(p->a, x->a, bytes) != 0)
		return 0;
	if (bits != 0) {
		uint8_t	 mask = (uint8_t)(0xff << (8 - bits));

		if ((p->a[bytes] & mask) != (x->a[bytes] & mask))
			return 0;
	}
	return 1;
}

void
addr_mask(struct addr *a)
{
	unsigned	 full, bytes, bits, len;

	full = a->family == ADDR_V4 ? 32 : 128;
	len = a->len > full ? full : a->len;
	bytes = len / 8;
	bits = len % 8;
	if (bits != 0) {
		a->a[bytes] &= (uint8_t)(0xff << (8 - bits));
		bytes++;
	}
	if (bytes < sizeof(a->a))
		memset(a->a + bytes, 0, sizeof(a->a) - bytes);
}

static int
addr_is_mapped(const struct addr *a)
{
	return memcmp(a->a, addr_mapped_prefix, sizeof(addr_mapped_prefix))
	    == 0;
}

/*
 * 'text' for a message, with anything unprintable shown as '?', so
 * that a hostile list file cannot put control bytes on a terminal.
 */
static void
addr_quote(char *q, size_t qlen, const char *s, size_t n)
{
	size_t	 i, o = 0;

	if (qlen < 3) {
		if (qlen > 0)
			q[0] = '\0';
		return;
	}
	q[o++] = '\'';
	for (i = 0; i < n && o + 2 < qlen; i++) {
		unsigned char	 c = (unsigned char)s[i];

		q[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	q[o++] = '\'';
	q[o] = '\0';
}
