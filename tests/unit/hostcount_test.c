/*
 * Unit test for runtime/inbound/hostcount.c: random adds and removes against a
 * plain array, so that backward-shift deletion keeps every count.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hostcount.h"

#define NADDR	300
#define LIMIT	5

int
main(void)
{
	struct hostcount h;
	struct addr	 a[NADDR];
	uint32_t	 ref[NADDR];
	int		 i, k, bad = 0, r;

	if (sodium_init() < 0 || hostcount_init(&h, 200) != 0)
		return 1;
	srand(7);
	memset(ref, 0, sizeof(ref));
	for (i = 0; i < NADDR; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].family = (i % 3 == 0) ? ADDR_V6 : ADDR_V4;
		a[i].a[0] = 127;
		a[i].a[2] = (uint8_t)(i >> 8);
		a[i].a[3] = (uint8_t)i;
	}
	for (k = 0; k < 200000; k++) {
		i = rand() % NADDR;
		if (rand() % 2) {
			r = hostcount_add(&h, &a[i], LIMIT);
			if (r == 1)
				ref[i]++;
			else if (ref[i] < LIMIT && h.used < (h.mask + 1) / 2)
				bad++;
		} else if (ref[i] > 0) {
			hostcount_del(&h, &a[i]);
			ref[i]--;
		}
		if (hostcount_get(&h, &a[i]) != ref[i])
			bad++;
	}
	for (i = 0; i < NADDR; i++)
		if (hostcount_get(&h, &a[i]) != ref[i])
			bad++;
	printf("hostcount: %d mismatches after 200000 operations\n", bad);
	hostcount_free(&h);
	return bad != 0;
}
