/*
 * ptab_sample: small tables built through the real builder, shared by
 * the unit tests and the generator of the fuzzer's seed tables.
 */
#ifndef BASTION_PTAB_SAMPLE_H
#define BASTION_PTAB_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#define SAMPLE_VARIANTS	4

/* Build sample table number v; returns 0, or -1 with err filled in. */
int	sample_table(int v, uint8_t **out, size_t *outlen, char *err,
	    size_t errlen);

/* Parse text as a prefix or abort: for test code only. */
struct addr;
void	sample_addr(const char *text, struct addr *a);

#endif
