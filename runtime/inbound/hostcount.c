/*
 * hostcount: per-address session counts in a linear-probing table with
 * backward-shift deletion, so no tombstones pile up under churn.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hostcount.h"

static uint32_t	slot_of(const struct hostcount *, const struct addr *);
static int	same(const struct addr *, const struct addr *);

int
hostcount_init(struct hostcount *h, uint32_t max)
{
	uint32_t	 n = 16;

	memset(h, 0, sizeof(*h));
	while (n < 2 * (uint64_t)max && n < (1u << 30))
		n <<= 1;
	if ((h->slots = calloc(n, sizeof(*h->slots))) == NULL)
		return -1;
	h->mask = n - 1;
	randombytes_buf(h->key, sizeof(h->key));
	return 0;
}

void
hostcount_free(struct hostcount *h)
{
	free(h->slots);
	h->slots = NULL;
}

static uint32_t
slot_of(const struct hostcount *h, const struct addr *a)
{
	uint8_t		 out[crypto_shorthash_BYTES];
	uint8_t		 in[17];
	uint32_t	 v;

	in[0] = a->family;
	memcpy(in + 1, a->a, 16);
	crypto_shorthash(out, in, sizeof(in), h->key);
	memcpy(&v, out, sizeof(v));
	return v & h->mask;
}

static int
same(const struct addr *x, const struct addr *y)
{
	return x->family == y->family && memcmp(x->a, y->a, 16) == 0;
}

int
hostcount_add(struct hostcount *h, const struct addr *a, uint32_t limit)
{
	uint32_t	 i = slot_of(h, a);

	for (;;) {
		struct hostcount_slot *s = &h->slots[i];
		if (s->n == 0)
			break;
		if (same(&s->a, a)) {
			if (s->n >= limit)
				return 0;
			s->n++;
			return 1;
		}
		i = (i + 1) & h->mask;
	}
	/* Keep the load under a half so probes stay short. */
	if (limit == 0 || h->used >= (h->mask + 1) / 2)
		return 0;
	h->slots[i].a = *a;
	h->slots[i].a.len = 0;
	h->slots[i].n = 1;
	h->used++;
	return 1;
}

uint32_t
hostcount_get(const struct hostcount *h, const struct addr *a)
{
	uint32_t	 i = slot_of(h, a);

	while (h->slots[i].n != 0) {
		if (same(&h->slots[i].a, a))
			return h->slots[i].n;
		i = (i + 1) & h->mask;
	}
	return 0;
}

void
hostcount_del(struct hostcount *h, const struct addr *a)
{
	uint32_t	 i = slot_of(h, a), j, home;

	while (h->slots[i].n != 0 && !same(&h->slots[i].a, a))
		i = (i + 1) & h->mask;
	if (h->slots[i].n == 0)
		return;
	if (--h->slots[i].n != 0)
		return;
	h->used--;
	/* Backward shift: pull later members of the cluster into the gap. */
	j = i;
	for (;;) {
		j = (j + 1) & h->mask;
		if (h->slots[j].n == 0)
			break;
		home = slot_of(h, &h->slots[j].a);
		/* Move j to i if its home is not cyclically in (i, j]. */
		if (((j - home) & h->mask) >= ((j - i) & h->mask)) {
			h->slots[i] = h->slots[j];
			h->slots[j].n = 0;
			i = j;
		}
	}
	h->slots[i].n = 0;
}
