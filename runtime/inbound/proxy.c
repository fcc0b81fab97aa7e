/*
 * proxy: parsing the PROXY protocol header, v1 (a text line) and v2
 * (binary), byte by byte into a fixed buffer.  The first byte tells
 * the versions apart ('P' or CR); each later byte is checked as soon
 * as it can be, so that garbage fails early and a header never takes
 * more than its own bytes or more than PROXY_HDR_MAX of memory.
 *
 * The reasons are fixed strings: they go to the log, and nothing the
 * peer sent is echoed into it.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>

#include "proxy.h"

enum {
	PROXY_RUNNING = 0,
	PROXY_DONE,
	PROXY_FAILED
};

/* v2 command (low nibble of byte 12) and family/transport (byte 13). */
#define PP2_VERSION		0x20
#define PP2_CMD_LOCAL		0x0
#define PP2_CMD_PROXY		0x1
#define PP2_FAM_UNSPEC		0x00
#define PP2_FAM_TCP4		0x11
#define PP2_FAM_UDP4		0x12
#define PP2_FAM_TCP6		0x21
#define PP2_FAM_UDP6		0x22
#define PP2_FAM_UNIX_STREAM	0x31
#define PP2_FAM_UNIX_DGRAM	0x32
#define PP2_ADDRLEN_INET	12	/* two IPv4 addresses, two ports */
#define PP2_ADDRLEN_INET6	36
#define PP2_TYPE_CRC32C		0x03

#define PROXY_V1_PREFIX		"PROXY "
#define PROXY_V1_PREFIXLEN	6

static int	proxy_fail(struct proxy *, const char *, char *, size_t);
static const char *proxy_v1_byte(struct proxy *, uint8_t);
static const char *proxy_v1_line(const struct proxy *,
		    struct proxy_result *);
static const char *proxy_v1_addr(const char *, size_t, int, struct addr *);
static int	proxy_v1_ipv4(const char *, size_t, uint8_t *);
static int	proxy_v1_port(const char *, size_t, uint16_t *);
static const char *proxy_v2_fixed(struct proxy *);
static const char *proxy_v2_block(struct proxy *, struct proxy_result *);
static const char *proxy_v2_tlvs(struct proxy *, size_t);
static uint32_t	proxy_crc32c(const uint8_t *, size_t);

static const uint8_t proxy_v2_sig[12] = {
	'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'
};

static const char proxy_missing[] = "missing PROXY header";

void
proxy_init(struct proxy *p)
{
	p->len = 0;
	p->want = 0;
	p->version = 0;
	p->state = PROXY_RUNNING;
	p->why = NULL;
}

/* Finish with a reason; later calls repeat it. */
static int
proxy_fail(struct proxy *p, const char *why, char *err, size_t errlen)
{
	p->state = PROXY_FAILED;
	p->why = why;
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", why);
	return -1;
}

int
proxy_feed(struct proxy *p, const void *data, size_t n, size_t *used,
    struct proxy_result *res, char *err, size_t errlen)
{
	const uint8_t	*b = data;
	const char	*why = NULL;
	size_t		 i = 0, k;
	int		 complete = 0;

	*used = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (p->state != PROXY_RUNNING)
		return proxy_fail(p, p->why != NULL ? p->why :
		    "PROXY header already read", err, errlen);
	memset(res, 0, sizeof(*res));

	while (i < n && !complete && why == NULL) {
		if (p->version == 0) {
			if (b[i] == proxy_v2_sig[0])
				p->version = 2;
			else if (b[i] == (uint8_t)PROXY_V1_PREFIX[0])
				p->version = 1;
			else
				why = proxy_missing;
			continue;
		}
		if (p->version == 1) {
			why = proxy_v1_byte(p, b[i++]);
			complete = p->len > 0 && p->buf[p->len - 1] == '\n';
			continue;
		}
		if (p->len < sizeof(proxy_v2_sig)) {
			if (b[i] != proxy_v2_sig[p->len])
				why = proxy_missing;
			else
				p->buf[p->len++] = b[i++];
			continue;
		}
		if (p->len < PROXY_V2_FIXED) {
			p->buf[p->len++] = b[i++];
			if (p->len == PROXY_V2_FIXED)
				why = proxy_v2_fixed(p);
			complete = why == NULL && p->len == p->want;
			continue;
		}
		/* The address block and TLVs: known length, no checks yet. */
		k = p->want - p->len;
		if (k > n - i)
			k = n - i;
		memcpy(p->buf + p->len, b + i, k);
		p->len += (uint16_t)k;
		i += k;
		complete = p->len == p->want;
	}
	*used = i;
	if (why != NULL)
		return proxy_fail(p, why, err, errlen);
	if (!complete)
		return 0;
	res->version = p->version;
	why = p->version == 1 ? proxy_v1_line(p, res) : proxy_v2_block(p, res);
	if (why != NULL) {
		memset(res, 0, sizeof(*res));
		return proxy_fail(p, why, err, errlen);
	}
	p->state = PROXY_DONE;
	return 1;
}

void
proxy_eof(const struct proxy *p, char *err, size_t errlen)
{
	const char	*why;

	if (errlen == 0)
		return;
	if (p->state == PROXY_FAILED && p->why != NULL)
		why = p->why;
	else if (p->len == 0)
		why = proxy_missing;
	else if (p->version == 1)
		why = "PROXY v1: truncated header (no CRLF)";
	else
		why = "PROXY v2: truncated header";
	snprintf(err, errlen, "%s", why);
}

/*
 * Take one byte of a v1 line.  Everything that can be refused without
 * the rest of the line is refused here: a wrong prefix, a byte that is
 * not printable ASCII, a CR or LF out of place, a line too long.
 */
static const char *
proxy_v1_byte(struct proxy *p, uint8_t c)
{
	if (p->len < PROXY_V1_PREFIXLEN) {
		if (c != (uint8_t)PROXY_V1_PREFIX[p->len])
			return proxy_missing;
	} else if (p->buf[p->len - 1] == '\r') {
		if (c != '\n')
			return "PROXY v1: CR not followed by LF";
	} else if (c == '\n') {
		return "PROXY v1: line ends in a bare LF";
	} else if (c != '\r' && (c < 0x20 || c > 0x7e)) {
		return "PROXY v1: control or non-ASCII byte";
	}
	/* The LF may be the 107th byte, nothing else may. */
	if (c != '\n' && p->len + 1 >= PROXY_V1_MAX)
		return "PROXY v1: header longer than 107 bytes";
	p->buf[p->len++] = c;
	return NULL;
}

/*
 * A complete v1 line: "PROXY " TCP4|TCP6 SP src SP dst SP sport SP
 * dport CRLF, or "PROXY UNKNOWN" with anything up to the CRLF, which
 * the spec says to ignore.
 */
static const char *
proxy_v1_line(const struct proxy *p, struct proxy_result *res)
{
	const char	*s = (const char *)p->buf + PROXY_V1_PREFIXLEN;
	const char	*f[4], *sp, *end, *why;
	size_t		 n = p->len - PROXY_V1_PREFIXLEN - 2, fl[4], j;
	int		 fam, nf;

	if (n >= 7 && memcmp(s, "UNKNOWN", 7) == 0 &&
	    (n == 7 || s[7] == ' ')) {
		res->kind = PROXY_UNKNOWN;
		return NULL;
	}
	if (n == 0 || s[0] == ' ' || s[n - 1] == ' ')
		return "PROXY v1: extra spaces";
	for (j = 1; j < n; j++)
		if (s[j] == ' ' && s[j - 1] == ' ')
			return "PROXY v1: extra spaces";
	if (n >= 5 && memcmp(s, "TCP4 ", 5) == 0)
		fam = ADDR_V4;
	else if (n >= 5 && memcmp(s, "TCP6 ", 5) == 0)
		fam = ADDR_V6;
	else if (n == 4 && (memcmp(s, "TCP4", 4) == 0 ||
	    memcmp(s, "TCP6", 4) == 0))
		return "PROXY v1: missing addresses";
	else
		return "PROXY v1: bad protocol keyword";
	/* Single spaces now: split into fields, which must be four. */
	end = s + n;
	s += 5;
	for (nf = 0; s < end; nf++) {
		if ((sp = memchr(s, ' ', (size_t)(end - s))) == NULL)
			sp = end;
		if (nf == 4)
			return "PROXY v1: extra fields";
		f[nf] = s;
		fl[nf] = (size_t)(sp - s);
		s = sp < end ? sp + 1 : end;
	}
	if (nf < 4)
		return "PROXY v1: missing fields";
	if ((why = proxy_v1_addr(f[0], fl[0], fam, &res->src)) != NULL ||
	    (why = proxy_v1_addr(f[1], fl[1], fam, &res->dst)) != NULL)
		return why;
	if (proxy_v1_port(f[2], fl[2], &res->sport) == -1 ||
	    proxy_v1_port(f[3], fl[3], &res->dport) == -1)
		return "PROXY v1: bad port";
	res->kind = PROXY_ADDRS;
	return NULL;
}

/* One v1 address of the keyword's family. */
static const char *
proxy_v1_addr(const char *s, size_t n, int fam, struct addr *a)
{
	char	 txt[INET6_ADDRSTRLEN];
	int	 colon = memchr(s, ':', n) != NULL;

	memset(a, 0, sizeof(*a));
	if (fam == ADDR_V4) {
		if (colon)
			return "PROXY v1: TCP4 with an IPv6 address";
		if (proxy_v1_ipv4(s, n, a->a) == -1)
			return "PROXY v1: bad IPv4 address";
		a->family = ADDR_V4;
		a->len = 32;
		return NULL;
	}
	if (!colon) {
		uint8_t	 v4[4];

		return proxy_v1_ipv4(s, n, v4) == 0 ?
		    "PROXY v1: TCP6 with an IPv4 address" :
		    "PROXY v1: bad IPv6 address";
	}
	if (n >= sizeof(txt))
		return "PROXY v1: bad IPv6 address";
	memcpy(txt, s, n);
	txt[n] = '\0';
	if (inet_pton(AF_INET6, txt, a->a) != 1)
		return "PROXY v1: bad IPv6 address";
	a->family = ADDR_V6;
	a->len = 128;
	addr_unmap(a);
	return NULL;
}

/*
 * A dotted quad, four decimal parts of 0..255.  Done by hand rather
 * than with inet_pton so that the rule is ours on every libc: a
 * leading zero is refused, since elsewhere "010" means 8.
 */
static int
proxy_v1_ipv4(const char *s, size_t n, uint8_t *out)
{
	size_t		 i = 0, d;
	unsigned	 v;
	int		 part;

	for (part = 0; part < 4; part++) {
		if (part > 0) {
			if (i == n || s[i] != '.')
				return -1;
			i++;
		}
		for (d = 0, v = 0; i < n && s[i] >= '0' && s[i] <= '9' &&
		    d < 3; i++, d++)
			v = v * 10 + (unsigned)(s[i] - '0');
		if (d == 0 || v > 255 || (d > 1 && s[i - d] == '0'))
			return -1;
		out[part] = (uint8_t)v;
	}
	return i == n ? 0 : -1;
}

/* A port: 0..65535 in decimal, no sign, no leading zero. */
static int
proxy_v1_port(const char *s, size_t n, uint16_t *port)
{
	size_t		 i;
	unsigned long	 v = 0;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/*
 * The 16 fixed bytes are in: check the version, command, family and
 * length, and learn how many bytes the header has.  A LOCAL header
 * carries no addresses that matter, so its family is not checked
 * (the spec says to ignore it), only its length.
 */
static const char *
proxy_v2_fixed(struct proxy *p)
{
	uint8_t		 vc = p->buf[12], fam = p->buf[13];
	size_t		 len = (size_t)p->buf[14] << 8 | p->buf[15], min = 0;

	if ((vc & 0xf0) != PP2_VERSION)
		return "PROXY v2: wrong version";
	if ((vc & 0x0f) != PP2_CMD_LOCAL && (vc & 0x0f) != PP2_CMD_PROXY)
		return "PROXY v2: unknown command";
	if ((vc & 0x0f) == PP2_CMD_PROXY) {
		switch (fam) {
		case PP2_FAM_UNSPEC:
			break;
		case PP2_FAM_TCP4:
			min = PP2_ADDRLEN_INET;
			break;
		case PP2_FAM_TCP6:
			min = PP2_ADDRLEN_INET6;
			break;
		case PP2_FAM_UDP4:
		case PP2_FAM_UDP6:
		case PP2_FAM_UNIX_DGRAM:
			return "PROXY v2: datagram transport";
		case PP2_FAM_UNIX_STREAM:
			return "PROXY v2: AF_UNIX addresses are not supported";
		default:
			return "PROXY v2: unknown family or transport";
		}
	}
	if (len > PROXY_V2_LEN_MAX)
		return "PROXY v2: header longer than 536 bytes";
	if (len < min)
		return "PROXY v2: length too short for the address family";
	p->want = (uint16_t)(PROXY_V2_FIXED + len);
	return NULL;
}

/* The whole v2 header is in: addresses, then TLVs. */
static const char *
proxy_v2_block(struct proxy *p, struct proxy_result *res)
{
	const uint8_t	*b = p->buf + PROXY_V2_FIXED;
	size_t		 alen;
	const char	*why;

	if ((p->buf[12] & 0x0f) == PP2_CMD_LOCAL) {
		res->kind = PROXY_LOCAL;
		return NULL;
	}
	if (p->buf[13] == PP2_FAM_UNSPEC) {
		/* No address length to tell where TLVs would start. */
		res->kind = PROXY_UNKNOWN;
		return NULL;
	}
	if (p->buf[13] == PP2_FAM_TCP4) {
		alen = PP2_ADDRLEN_INET;
		res->src.family = res->dst.family = ADDR_V4;
		res->src.len = res->dst.len = 32;
		memcpy(res->src.a, b, 4);
		memcpy(res->dst.a, b + 4, 4);
	} else {
		alen = PP2_ADDRLEN_INET6;
		res->src.family = res->dst.family = ADDR_V6;
		res->src.len = res->dst.len = 128;
		memcpy(res->src.a, b, 16);
		memcpy(res->dst.a, b + 16, 16);
		addr_unmap(&res->src);
		addr_unmap(&res->dst);
	}
	res->sport = (uint16_t)(b[alen - 4] << 8 | b[alen - 3]);
	res->dport = (uint16_t)(b[alen - 2] << 8 | b[alen - 1]);
	if ((why = proxy_v2_tlvs(p, PROXY_V2_FIXED + alen)) != NULL)
		return why;
	res->kind = PROXY_ADDRS;
	return NULL;
}

/*
 * Walk the TLVs from off to the end of the header: each must fit in
 * what is left.  Their contents are skipped, except a CRC32C, which is
 * checked over the whole header with its own value zeroed: cheap at
 * this size, and it turns a corrupted header into a refusal.
 */
static const char *
proxy_v2_tlvs(struct proxy *p, size_t off)
{
	uint8_t		 sum[4];
	size_t		 tl, crcoff = 0;
	uint32_t	 want, got;

	while (off < p->len) {
		if (p->len - off < 3)
			return "PROXY v2: truncated TLV";
		tl = (size_t)p->buf[off + 1] << 8 | p->buf[off + 2];
		if (tl > p->len - off - 3)
			return "PROXY v2: TLV longer than the header";
		if (p->buf[off] == PP2_TYPE_CRC32C) {
			if (tl != 4 || crcoff != 0)
				return "PROXY v2: malformed CRC32C TLV";
			crcoff = off + 3;
		}
		off += 3 + tl;
	}
	if (crcoff == 0)
		return NULL;
	memcpy(sum, p->buf + crcoff, 4);
	want = (uint32_t)sum[0] << 24 | (uint32_t)sum[1] << 16 |
	    (uint32_t)sum[2] << 8 | sum[3];
	memset(p->buf + crcoff, 0, 4);
	got = proxy_crc32c(p->buf, p->len);
	memcpy(p->buf + crcoff, sum, 4);
	return got == want ? NULL : "PROXY v2: CRC32C mismatch";
}

/*
 * CRC-32C (Castagnoli), bit by bit: at most PROXY_HDR_MAX bytes, once
 * per connection, so a table is not worth its 1 KiB.
 */
static uint32_t
proxy_crc32c(const uint8_t *b, size_t n)
{
	uint32_t	 c = 0xffffffffu;
	size_t		 i;
	int		 k;

	for (i = 0; i < n; i++) {
		c ^= b[i];
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
	}
	return c ^ 0xffffffffu;
}
