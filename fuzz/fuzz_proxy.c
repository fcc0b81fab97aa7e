/*
 * libFuzzer entry for the PROXY protocol header parser
 * (runtime/inbound/proxy.c).  The first byte chooses how the rest is
 * cut; each piece is handed over in a buffer of its exact size, so
 * that a read past it is caught.  Beyond "no crash", it checks what
 * the session will rely on: the parser takes no more than it was fed,
 * never more than a header may hold, a header is one whatever the
 * cuts, and a done result has addresses of a real family.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct run {
	int			 r;
	size_t			 used;	/* header bytes, over all pieces */
	struct proxy_result	 res;
	char			 err[128];
};

static void	feed(const uint8_t *, size_t, unsigned, struct run *);
static void	check_done(const uint8_t *, const struct run *);
static int	same(const struct run *, const struct run *);

/* Feed in pieces of 1..step bytes (step 0: all at once). */
static void
feed(const uint8_t *data, size_t size, unsigned step, struct run *out)
{
	struct proxy	 p;
	uint8_t		*piece;
	size_t		 off = 0, k, u;
	unsigned	 seed = step;

	proxy_init(&p);
	memset(out, 0, sizeof(*out));
	do {
		k = size - off;
		if (step != 0) {
			seed = seed * 1103515245u + 12345u;
			if (k > (seed >> 16) % step + 1)
				k = (seed >> 16) % step + 1;
		}
		if ((piece = malloc(k > 0 ? k : 1)) == NULL)
			abort();
		memcpy(piece, data + off, k);
		out->r = proxy_feed(&p, piece, k, &u, &out->res, out->err,
		    sizeof(out->err));
		free(piece);
		if (u > k || (out->r == 0 && u != k))
			abort();
		out->used += u;
		off += k;
	} while (out->r == 0 && off < size);
	if (out->used > PROXY_HDR_MAX)
		abort();
	if (out->r == -1 && out->err[0] == '\0')
		abort();
}

/* A done header: its version's shape and a family we know. */
static void
check_done(const uint8_t *data, const struct run *o)
{
	const struct proxy_result	*res = &o->res;
	int				 i;

	if (res->version == 1) {
		if (o->used > PROXY_V1_MAX || o->used < 8 ||
		    memcmp(data, "PROXY ", 6) != 0 ||
		    data[o->used - 2] != '\r' || data[o->used - 1] != '\n')
			abort();
	} else if (res->version == 2) {
		if (o->used < PROXY_V2_FIXED || data[0] != '\r')
			abort();
	} else
		abort();
	if (res->kind == PROXY_LOCAL || res->kind == PROXY_UNKNOWN)
		return;
	if (res->kind != PROXY_ADDRS)
		abort();
	for (i = 0; i < 2; i++) {
		const struct addr *a = i == 0 ? &res->src : &res->dst;

		if (!(a->family == ADDR_V4 && a->len == 32) &&
		    !(a->family == ADDR_V6 && a->len == 128))
			abort();
	}
}

static int
same(const struct run *a, const struct run *b)
{
	return a->r == b->r && a->used == b->used &&
	    strcmp(a->err, b->err) == 0 &&
	    a->res.kind == b->res.kind && a->res.version == b->res.version &&
	    memcmp(&a->res.src, &b->res.src, sizeof(a->res.src)) == 0 &&
	    memcmp(&a->res.dst, &b->res.dst, sizeof(a->res.dst)) == 0 &&
	    a->res.sport == b->res.sport && a->res.dport == b->res.dport;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run	 whole, cut, bytes;
	unsigned	 step;

	if (size == 0)
		return 0;
	step = data[0] % 32 + 1;
	data++;
	size--;
	feed(data, size, 0, &whole);
	feed(data, size, step, &cut);
	feed(data, size, 1, &bytes);
	if (!same(&whole, &cut) || !same(&whole, &bytes))
		abort();
	if (whole.r == 1)
		check_done(data, &whole);
	return 0;
}
