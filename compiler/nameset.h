/*
 * nameset: the semantic pass's "defined once" check, written once for
 * lists, users, listeners and domains.  The items of an array are
 * sorted by key (stably, so that the first of equal keys is the one
 * defined first), every later item with a key already seen is handed to
 * a callback that reports it, and the first of each key is kept for
 * lookup by binary search.
 */
#ifndef BASTION_NAMESET_H
#define BASTION_NAMESET_H

#include <stddef.h>

struct nameset {
	void	**v;		/* the first item of each key, by key */
	size_t	  n;
};

/* Compare two items by key: <0, 0, >0. */
typedef int	(*nameset_cmp_fn)(const void *a, const void *b);
/* Compare a key with an item's key, for nameset_find(). */
typedef int	(*nameset_find_fn)(const void *key, const void *item);
/* item has the same key as first, which comes before it. */
typedef void	(*nameset_dup_fn)(void *arg, void *item, void *first);

/*
 * Build ns from the n items of size bytes at base, in source order,
 * calling dup(arg, item, first) for each repeated key.  Returns 0, or
 * -1 when out of memory (nothing reported, ns empty).
 */
int	nameset_build(struct nameset *ns, void *base, size_t n, size_t size,
	    nameset_cmp_fn cmp, nameset_dup_fn dup, void *arg)
	    __attribute__((warn_unused_result));

/* The first item whose key is key, or NULL. */
void	*nameset_find(const struct nameset *ns, const void *key,
	    nameset_find_fn find);

void	 nameset_free(struct nameset *ns);

#endif
