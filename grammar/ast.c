/*
 * ast: the arena the policy tree lives in, and the few constructors the
 * grammar actions call (grammar.h).  The arena hands out memory from large chunks
 * and frees them all at once, which is what a compiler pass wants: a
 * big policy makes many small nodes and none is freed early.
 */
#include "config.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bastion_limits.h"
#include "grammar.h"

static size_t	ast_distance(const char *, size_t, const char *, size_t);

#define AST_CHUNK	(64u * 1024)
#define AST_ALIGN	alignof(max_align_t)

struct ast_chunk {
	struct ast_chunk	*next;
	size_t			 size, used;
	alignas(max_align_t) unsigned char data[];
};

struct ast_arena {
	struct ast_chunk	*head;
};

struct ast_arena *
ast_arena_new(void)
{
	return calloc(1, sizeof(struct ast_arena));
}

void
ast_arena_free(struct ast_arena *a)
{
	struct ast_chunk	*c, *next;

	if (a == NULL)
		return;
	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}

void *
ast_alloc(struct ast_arena *a, size_t size)
{
	struct ast_chunk	*c = a->head;
	size_t			 need, csize;
	void			*p;

	if (size > SIZE_MAX / 2)
		return NULL;
	need = (size + AST_ALIGN - 1) & ~(AST_ALIGN - 1);
	if (need == 0)
		need = AST_ALIGN;
	if (c == NULL || c->size - c->used < need) {
		/* An outsized request gets a chunk of its own. */
		csize = need > AST_CHUNK / 4 ? need : AST_CHUNK;
		if ((c = malloc(sizeof(*c) + csize)) == NULL)
			return NULL;
		c->size = csize;
		c->used = 0;
		if (need > AST_CHUNK / 4 && a->head != NULL) {
			/* Keep filling the current chunk after this one. */
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
	}
	p = c->data + c->used;
	c->used += need;
	memset(p, 0, need);
	return p;
}

char *
ast_strndup(struct ast_arena *a, const char *s, size_t n)
{
	char	*p;

	if (n == SIZE_MAX || (p = ast_alloc(a, n + 1)) == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

struct ast_node *
ast_node_new(struct ast_arena *a, enum ast_kind kind,
    const struct srcloc *loc)
{
	struct ast_node	*n;

	if ((n = ast_alloc(a, sizeof(*n))) == NULL)
		return NULL;
	n->kind = kind;
	if (loc != NULL)
		n->loc = *loc;
	return n;
}

struct ast_word *
ast_word_new(struct ast_arena *a, const char *s, size_t len,
    const struct srcloc *loc)
{
	struct ast_word	*w;

	if (len > UINT32_MAX || (w = ast_alloc(a, sizeof(*w))) == NULL)
		return NULL;
	if ((w->s = ast_strndup(a, s, len)) == NULL)
		return NULL;
	w->len = (uint32_t)len;
	if (loc != NULL)
		w->loc = *loc;
	return w;
}

void
ast_seq_add(struct ast_seq *q, struct ast_node *n)
{
	if (n == NULL)
		return;
	if (q->tail == NULL)
		q->head = n;
	else
		q->tail->next = n;
	q->tail = n;
}

void
ast_wseq_add(struct ast_wseq *q, struct ast_word *w)
{
	if (w == NULL)
		return;
	if (q->tail == NULL)
		q->head = w;
	else
		q->tail->next = w;
	q->tail = w;
	q->n++;
}

/*
 * Edit distance with adjacent transpositions (optimal string alignment),
 * so that "tsl" is one step from "tls"; the words compared are short.
 */
static size_t
ast_distance(const char *a, size_t n, const char *b, size_t m)
{
	size_t	 r0[LIM_IDENT + 1], r1[LIM_IDENT + 1], r2[LIM_IDENT + 1];
	size_t	*pp = r0, *p = r1, *c = r2, *t, i, j, best;

	if (n > LIM_IDENT || m > LIM_IDENT)
		return SIZE_MAX;
	for (j = 0; j <= m; j++)
		p[j] = j;
	for (i = 1; i <= n; i++) {
		c[0] = i;
		for (j = 1; j <= m; j++) {
			best = p[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
			if (p[j] + 1 < best)
				best = p[j] + 1;
			if (c[j - 1] + 1 < best)
				best = c[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && pp[j - 2] + 1 < best)
				best = pp[j - 2] + 1;
			c[j] = best;
		}
		t = pp;
		pp = p;
		p = c;
		c = t;
	}
	return p[m];
}

const char *
ast_nearest(const char *s, size_t n, const char *const *cands,
    size_t ncands)
{
	const char	*best = NULL;
	size_t		 i, d, bestd = SIZE_MAX;

	for (i = 0; i < ncands; i++) {
		if (cands[i] == NULL)
			continue;
		d = ast_distance(s, n, cands[i], strlen(cands[i]));
		if (d < bestd) {
			bestd = d;
			best = cands[i];
		}
	}
	/* A third of the letters wrong is still a typo; more is a guess. */
	if (best == NULL || bestd > (n + 2) / 3 || bestd >= n)
		return NULL;
	return best;
}
