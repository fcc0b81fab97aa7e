/*
 * addr: IPv4 and IPv6 addresses and prefixes, shared by the compiler
 * and the runtime.  An address is kept in network byte order in a
 * 16-byte array; IPv4 uses the first four bytes.  IPv4-mapped IPv6
 * addresses (::ffff:a.b.c.d) are folded to IPv4 when parsed, so that
 * one set of rules serves both spellings of the same client.
 */
#ifndef BASTION_ADDR_H
#define BASTION_ADDR_H

#include <stddef.h>
#include <stdint.h>

#define ADDR_V4		4
#define ADDR_V6		6
#define ADDR_STRLEN	64	/* enough for any prefix we print, with NUL */

struct addr {
	uint8_t	family;		/* ADDR_V4 or ADDR_V6 */
	uint8_t	len;		/* prefix length: 0..32 or 0..128 */
	uint8_t	a[16];		/* network byte order; v4 in a[0..3] */
};

/*
 * Parse "a.b.c.d", "a.b.c.d/n", an IPv6 address, or "x::y/n" from the
 * n bytes at s (no NUL needed).  Without a /n the prefix is a host
 * (32 or 128).  An IPv4-mapped IPv6 address or prefix of length >= 96
 * becomes the IPv4 one.  Host bits set below the prefix length are an
 * error unless allow_hostbits is set; the reason goes to err.
 * Returns 0 on success, -1 on error.
 */
int	addr_parse(const char *s, size_t n, int allow_hostbits,
	    struct addr *out, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/* Fold an IPv4-mapped IPv6 host address to IPv4 (for accepted sockets). */
void	addr_unmap(struct addr *);

/* Print a as text; "/len" only when len is short of a host address. */
void	addr_format(const struct addr *a, char *buf, size_t bufsz);

/* 1 if prefix p contains address (or prefix) x, 0 if not. */
int	addr_contains(const struct addr *p, const struct addr *x);

/* Clear the bits of a below its prefix length. */
void	addr_mask(struct addr *a);

#endif
