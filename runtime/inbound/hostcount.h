/*
 * hostcount: how many sessions each client address has open, for the
 * `limit connections N per-host M` policy.  A fixed open-addressing
 * table sized once at start (twice the total limit), keyed with a
 * per-process secret so that clients cannot aim collisions at it.
 */
#ifndef BASTION_HOSTCOUNT_H
#define BASTION_HOSTCOUNT_H

#include <stdint.h>

#include "addr.h"

struct hostcount_slot {
	struct addr	 a;
	uint32_t	 n;		/* 0: free */
};

struct hostcount {
	struct hostcount_slot	*slots;
	uint32_t		 mask;	/* slots - 1, a power of two */
	uint32_t		 used;
	uint8_t			 key[16];
};

/* Room for at least max distinct addresses.  Returns 0 or -1. */
int	hostcount_init(struct hostcount *h, uint32_t max)
	    __attribute__((warn_unused_result));
void	hostcount_free(struct hostcount *h);

/*
 * Count one more session from a unless it already has limit.  Returns
 * 1 if counted, 0 if a is at its limit (or the table is full).
 */
int	hostcount_add(struct hostcount *h, const struct addr *a,
	    uint32_t limit)
	    __attribute__((warn_unused_result));

/* One session from a ended. */
void	hostcount_del(struct hostcount *h, const struct addr *a);

/* Sessions open from a. */
uint32_t hostcount_get(const struct hostcount *h, const struct addr *a);

#endif
