/*
 * nameset: sort, report the repeated keys, look up (see nameset.h).
 * The sort is a merge sort of pointers: qsort is not stable, and
 * stability is what makes "the first definition" the first written,
 * whatever the comparison looks at.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "nameset.h"

static void	nameset_sort(void **, void **, size_t, nameset_cmp_fn);

/* Stable sort of the n pointers at v by cmp, with tmp as scratch. */
static void
nameset_sort(void **v, void **tmp, size_t n, nameset_cmp_fn cmp)
{
	size_t	 h = n / 2, i = 0, j = h, k = 0;

	if (n < 2)
		return;
	nameset_sort(v, tmp, h, cmp);
	nameset_sort(v + h, tmp, n - h, cmp);
	while (i < h && j < n)
		tmp[k++] = cmp(v[j], v[i]) < 0 ? v[j++] : v[i++];
	while (i < h)
		tmp[k++] = v[i++];
	/* What is left of the right half is in place already. */
	memcpy(v, tmp, k * sizeof(*v));
}

int
nameset_build(struct nameset *ns, void *base, size_t n, size_t size,
    nameset_cmp_fn cmp, nameset_dup_fn dup, void *arg)
{
	unsigned char	*p = base;
	void		**tmp;
	size_t		  i;

	ns->n = 0;
	ns->v = calloc(n + 1, sizeof(*ns->v));
	tmp = calloc(n + 1, sizeof(*tmp));
	if (ns->v == NULL || tmp == NULL) {
		free(ns->v);
		free(tmp);
		ns->v = NULL;
		return -1;
	}
	for (i = 0; i < n; i++)
		ns->v[i] = p + i * size;
	nameset_sort(ns->v, tmp, n, cmp);
	free(tmp);
	for (i = 0; i < n; i++) {
		if (ns->n > 0 && cmp(ns->v[ns->n - 1], ns->v[i]) == 0) {
			dup(arg, ns->v[i], ns->v[ns->n - 1]);
			continue;
		}
		ns->v[ns->n++] = ns->v[i];
	}
	return 0;
}

void *
nameset_find(const struct nameset *ns, const void *key, nameset_find_fn find)
{
	size_t	 lo = 0, hi = ns->n, mid;
	int	 c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = find(key, ns->v[mid])) == 0)
			return ns->v[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

void
nameset_free(struct nameset *ns)
{
	free(ns->v);
	ns->v = NULL;
	ns->n = 0;
}
