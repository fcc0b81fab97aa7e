/*
 * proxy: the PROXY protocol header (HAProxy's proxy-protocol.txt,
 * versions 1 and 2) that a load balancer sends before SMTP or the TLS
 * ClientHello, so that the gateway sees the client behind it.  An
 * incremental parser over a caller-owned struct: the session feeds it
 * whatever the socket gave, in any number of pieces, and it takes the
 * header's bytes and not one more.  It allocates nothing.
 *
 * Only listeners that trust their peer may run it: the header is what
 * the rest of the session will believe about the client.  Strictness
 * is deliberate (single spaces, no leading zeros, CRLF only, bounded
 * lengths), since a header that two parsers read differently is a
 * spoofed client address.
 */
#ifndef BASTION_PROXY_H
#define BASTION_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* The spec's longest v1 line, "PROXY " to CRLF included. */
#define PROXY_V1_MAX		107
/* The fixed part of a v2 header: signature, ver/cmd, family, length. */
#define PROXY_V2_FIXED		16
/*
 * Our cap on the v2 length field.  16 + 520 = 536 bytes, the smallest
 * MSS every IPv4 host must accept, so a conforming sender's header
 * arrives in one segment; it leaves 484 bytes of TLVs after IPv6
 * addresses, more than HAProxy sends (authority, ALPN, unique id up to
 * 128 bytes, SSL details).  The field itself allows 65535, which would
 * let any peer make every session hold 64 KiB for nothing.
 */
#define PROXY_V2_LEN_MAX	520
#define PROXY_HDR_MAX		(PROXY_V2_FIXED + PROXY_V2_LEN_MAX)

enum proxy_kind {
	PROXY_ADDRS = 1,	/* src/dst are the client and what it reached */
	PROXY_LOCAL,		/* v2 LOCAL (a health check): use the real peer */
	PROXY_UNKNOWN		/* v1 UNKNOWN, v2 UNSPEC: use the real peer */
};

struct proxy_result {
	enum proxy_kind	 kind;
	int		 version;	/* 1 or 2 */
	/*
	 * PROXY_ADDRS only: host addresses (len 32 or 128), IPv4-mapped
	 * IPv6 folded to IPv4 as for an accepted socket.
	 */
	struct addr	 src, dst;
	uint16_t	 sport, dport;
};

/* Parser state; the fields are private to proxy.c. */
struct proxy {
	uint8_t		 buf[PROXY_HDR_MAX];	/* the header so far */
	uint16_t	 len;		/* bytes in buf */
	uint16_t	 want;		/* v2: the whole header, once known */
	uint8_t		 version;	/* 0 before the first byte, 1 or 2 */
	uint8_t		 state;		/* running, done or failed */
	const char	*why;		/* the failure, repeated on later calls */
};

void	proxy_init(struct proxy *);

/*
 * Feed the n bytes at data, which follow the bytes of earlier calls.
 * *used is how many of them belong to the header; the rest (SMTP, a
 * ClientHello) stays the caller's.
 *  1: the header is complete and res is filled; *used <= n.
 *  0: more bytes are needed; all n were taken (*used == n).
 * -1: not a valid header; the reason, fit for the log, goes to err and
 *     the connection should be closed (*used then means nothing).  A first byte that cannot start
 *     a header fails at once, so a client that speaks first without one
 *     is refused on its first byte.
 * After 1 or -1 the parser is finished: further calls return -1.
 */
int	proxy_feed(struct proxy *, const void *data, size_t n, size_t *used,
	    struct proxy_result *res, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/*
 * The reason to log when the connection ends (EOF or timeout) while
 * proxy_feed still wants bytes: no header at all, or a truncated one.
 */
void	proxy_eof(const struct proxy *, char *err, size_t errlen);

#endif
