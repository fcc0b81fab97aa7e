/*
 * dump: `policyc dump TABLE` prints a compiled table as policy source
 * that compiles back to the same table, byte for byte.
 *
 * The table records a source line for every item, so the dump puts each
 * item on its line and pads with empty lines: the recompiled table then
 * records the same lines.  Each item takes one physical line (a list
 * with all its prefixes included); the `server {` and `}` take lines of
 * their own where those are free and share the first and last
 * setting's line where they are not.
 *
 * The table does not keep lists as such: a list is the set of prefixes
 * whose entry names a rule that names the list.  One pass over the
 * entries groups them by list (a counting sort), so a table of a
 * million prefixes dumps in about the time it takes to print them.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "bastion_limits.h"
#include "ptab.h"
#include "render.h"

/* What an item is; also the order of items that share a line. */
enum dump_kind {
	DUMP_OPEN,		/* "server {" on a line of its own */
	DUMP_SETTING,		/* a server setting; idx: enum ptab_setting */
	DUMP_LISTENER,
	DUMP_CLOSE,		/* "}" on a line of its own */
	DUMP_MECHS,		/* auth mechanisms (top level) */
	DUMP_DEFAULT,
	DUMP_LIST,
	DUMP_RCPTS,		/* a recipients list */
	DUMP_RULE,
	DUMP_USER,
	DUMP_ACCEPT,
	DUMP_OUTBOUND
};

#define DUMP_F_OPEN	0x01	/* "server { " before the item */
#define DUMP_F_CLOSE	0x02	/* " }" after it */

struct dump_item {
	uint32_t	line;
	uint32_t	idx;
	uint8_t		kind;
	uint8_t		flags;
};

struct dump {
	const struct ptab	*t;
	const char		*path;
	struct dump_item	*items;
	size_t			 nitems, maxitems;
	uint32_t		*lstart;	/* nlists + 1 starts in lent */
	uint32_t		*lent;		/* v4 i, or nv4 + v6 i */
	const char		*lossy;		/* why the dump is not exact */
};

static void	dump_usage(FILE *);
static int	dump_add(struct dump *, uint32_t, enum dump_kind, uint32_t);
static int	dump_collect(struct dump *);
static void	dump_server_braces(struct dump *);
static int	dump_group_lists(struct dump *);
static int	dump_item_cmp(const void *, const void *);
static void	dump_print_item(struct dump *, const struct dump_item *);
static void	dump_print_list(struct dump *, uint32_t);
static void	dump_print_rcpts(struct dump *, uint32_t);
static int	dump_u32_cmp(const void *, const void *);
static void	dump_comment(struct dump *);
static void	dump_free(struct dump *);

static void
dump_usage(FILE *fp)
{
	fprintf(fp, "usage: %s dump TABLE\n", progname);
}

int
cmd_dump(int argc, char **argv)
{
	struct ptab	 t;
	struct dump	 d;
	char		 err[LIM_ERRMSG];
	uint32_t	 cur;
	size_t		 i;
	int		 a, rc = 0;

	if ((a = cmd_operands(argc, argv, 1, "dump", dump_usage, &rc)) == -1)
		return rc;
	if (ptab_open(&t, argv[a], err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s: %s\n", progname, argv[a], err);
		return EXIT_USER;
	}
	memset(&d, 0, sizeof(d));
	d.t = &t;
	d.path = argv[a];
	if (dump_collect(&d) == -1 || dump_group_lists(&d) == -1) {
		fprintf(stderr, "%s: %s: %s\n", progname, argv[a],
		    d.lossy != NULL ? d.lossy : "out of memory");
		dump_free(&d);
		ptab_close(&t);
		return EXIT_USER;
	}
	qsort(d.items, d.nitems, sizeof(d.items[0]), dump_item_cmp);

	/* A big buffer: a list of a million prefixes is one line. */
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	cur = 1;
	if (d.nitems == 0 || d.items[0].line > 1) {
		dump_comment(&d);
		cur = 2;
	}
	for (i = 0; i < d.nitems; i++) {
		if (d.items[i].line < cur)
			d.lossy = "two items share a source line";
		for (; cur < d.items[i].line; cur++)
			putchar('\n');
		dump_print_item(&d, &d.items[i]);
		putchar('\n');
		cur++;
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "%s: dump: write error: %s\n", progname,
		    strerror(errno));
		rc = EXIT_USER;
	} else if (d.lossy != NULL) {
		fprintf(stderr, "%s: %s: the dump will not compile to the "
		    "same table: %s\n", progname, argv[a], d.lossy);
		rc = EXIT_USER;
	}
	dump_free(&d);
	ptab_close(&t);
	return rc;
}

static int
dump_add(struct dump *d, uint32_t line, enum dump_kind kind, uint32_t idx)
{
	struct dump_item	*n;
	size_t			 max;

	if (d->nitems == d->maxitems) {
		max = d->maxitems == 0 ? 256 : d->maxitems * 2;
		if (max > SIZE_MAX / sizeof(*n) ||
		    (n = realloc(d->items, max * sizeof(*n))) == NULL)
			return -1;
		d->items = n;
		d->maxitems = max;
	}
	/* No source has this many lines: printing them would be absurd. */
	if (line > LIM_SOURCE_SIZE) {
		d->lossy = "a source line number is out of range";
		return -1;
	}
	n = &d->items[d->nitems++];
	n->line = line;
	n->idx = idx;
	n->kind = (uint8_t)kind;
	n->flags = 0;
	return 0;
}

/* Every item that has a line; settings at line 0 were never written. */
static int
dump_collect(struct dump *d)
{
	const struct ptab	*t = d->t;
	uint32_t		 i;

	for (i = 0; i < PTAB_SET_MAX; i++) {
		if (t->server->line[i] == 0)
			continue;
		if (dump_add(d, t->server->line[i], i == PTAB_SET_MECHS ?
		    DUMP_MECHS : DUMP_SETTING, i) == -1)
			return -1;
	}
	for (i = 0; i < t->nlisteners; i++)
		if (dump_add(d, t->listeners[i].line, DUMP_LISTENER, i) == -1)
			return -1;
	for (i = 0; i < t->nrules; i++) {
		if (i == 0 && t->rules[0].line == 0)
			continue;	/* the implicit default */
		if (dump_add(d, t->rules[i].line, i == 0 ? DUMP_DEFAULT :
		    DUMP_RULE, i) == -1)
			return -1;
	}
	for (i = 0; i < t->nlists; i++)
		if (dump_add(d, t->lists[i].line, DUMP_LIST, i) == -1)
			return -1;
	for (i = 0; i < t->nrcpts; i++)
		if (dump_add(d, t->rcpts[i].line, DUMP_RCPTS, i) == -1)
			return -1;
	for (i = 0; i < t->nusers; i++)
		if (dump_add(d, t->users[i].line, DUMP_USER, i) == -1)
			return -1;
	for (i = 0; i < t->naccept; i++)
		if (dump_add(d, t->accept[i].line, DUMP_ACCEPT, i) == -1)
			return -1;
	for (i = 0; i < t->noutbound; i++)
		if (dump_add(d, t->outbound[i].line, DUMP_OUTBOUND, i) == -1)
			return -1;
	dump_server_braces(d);
	return 0;
}

/*
 * The server block spans its settings and listeners.  "server {" goes
 * on the line before the first of them unless that line is taken (or
 * there is none), and "}" on the line after the last unless that one
 * is taken; otherwise they share the first's and the last's line.
 */
static void
dump_server_braces(struct dump *d)
{
	size_t		 i, n = d->nitems, first = SIZE_MAX, last = SIZE_MAX;
	uint32_t	 lo = 0, hi = 0;
	int		 open_free, close_free;

	for (i = 0; i < n; i++) {
		if (d->items[i].kind != DUMP_SETTING &&
		    d->items[i].kind != DUMP_LISTENER)
			continue;
		if (first == SIZE_MAX || d->items[i].line < lo) {
			first = i;
			lo = d->items[i].line;
		}
		if (last == SIZE_MAX || d->items[i].line >= hi) {
			last = i;
			hi = d->items[i].line;
		}
	}
	if (first == SIZE_MAX)
		return;
	open_free = lo > 1;
	close_free = 1;
	for (i = 0; i < n; i++) {
		if (d->items[i].kind == DUMP_SETTING ||
		    d->items[i].kind == DUMP_LISTENER)
			continue;
		if (d->items[i].line == lo - 1)
			open_free = 0;
		if (d->items[i].line == hi + 1)
			close_free = 0;
	}
	/* Should a brace find no room in memory, it shares a line. */
	if (!open_free || dump_add(d, lo - 1, DUMP_OPEN, 0) == -1)
		d->items[first].flags |= DUMP_F_OPEN;
	if (!close_free || dump_add(d, hi + 1, DUMP_CLOSE, 0) == -1)
		d->items[last].flags |= DUMP_F_CLOSE;
}

/*
 * Group the entries of LIST rules by list: count, prefix sums, fill.
 * Entries come out in key order, v4 before v6, which is also the order
 * the compiler sorts them into, so the dump reads naturally.
 */
static int
dump_group_lists(struct dump *d)
{
	const struct ptab		*t = d->t;
	const struct ptab_entry_rec	*e;
	const struct ptab_rule_rec	*r;
	uint32_t			 i, k, l, total, *fill;
	int				 pass;

	if (t->nlists == 0)
		return 0;
	if (t->nv4 > UINT32_MAX - t->nv6)
		return -1;
	if ((d->lstart = calloc((size_t)t->nlists + 1,
	    sizeof(*d->lstart))) == NULL)
		return -1;
	/* pass 0 counts into lstart[l + 1], pass 1 fills */
	fill = NULL;
	for (pass = 0; pass < 2; pass++) {
		for (k = 0; k < t->nv4 + t->nv6; k++) {
			e = k < t->nv4 ? &t->v4ent[k] : &t->v6ent[k - t->nv4];
			i = PTAB_ENTRY_RULE(e);
			if (i >= t->nrules)
				continue;
			r = &t->rules[i];
			if (r->kind != PTAB_RULE_LIST || r->list >= t->nlists)
				continue;
			l = r->list;
			if (pass == 0)
				d->lstart[l + 1]++;
			else
				d->lent[fill[l]++] = k;
		}
		if (pass == 1)
			break;
		for (l = 0; l < t->nlists; l++)
			d->lstart[l + 1] += d->lstart[l];
		total = d->lstart[t->nlists];
		if ((d->lent = calloc(total == 0 ? 1 : total,
		    sizeof(*d->lent))) == NULL ||
		    (fill = calloc(t->nlists, sizeof(*fill))) == NULL)
			return -1;
		memcpy(fill, d->lstart, t->nlists * sizeof(*fill));
	}
	free(fill);
	return 0;
}

static int
dump_item_cmp(const void *a, const void *b)
{
	const struct dump_item	*x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->idx != y->idx)
		return x->idx < y->idx ? -1 : 1;
	return 0;
}

static void
dump_print_item(struct dump *d, const struct dump_item *it)
{
	const struct ptab	*t = d->t;
	int			 rc = 0;

	if (it->flags & DUMP_F_OPEN)
		fputs("server { ", stdout);
	else if (it->kind == DUMP_SETTING || it->kind == DUMP_LISTENER)
		putchar('\t');
	switch (it->kind) {
	case DUMP_OPEN:
		fputs("server {", stdout);
		break;
	case DUMP_CLOSE:
		putchar('}');
		break;
	case DUMP_SETTING:
	case DUMP_MECHS:
		rc = render_setting(stdout, t, (int)it->idx);
		break;
	case DUMP_LISTENER:
		rc = render_listener(stdout, t, &t->listeners[it->idx]);
		break;
	case DUMP_DEFAULT:
	case DUMP_RULE:
		rc = render_rule(stdout, t, it->idx);
		break;
	case DUMP_LIST:
		dump_print_list(d, it->idx);
		break;
	case DUMP_RCPTS:
		dump_print_rcpts(d, it->idx);
		break;
	case DUMP_USER:
		rc = render_user(stdout, t, &t->users[it->idx]);
		break;
	case DUMP_ACCEPT:
		rc = render_accept(stdout, t, &t->accept[it->idx]);
		break;
	case DUMP_OUTBOUND:
		rc = render_outbound(stdout, t, &t->outbound[it->idx]);
		break;
	}
	if (it->flags & DUMP_F_CLOSE)
		fputs(" }", stdout);
	if (rc == -1)
		d->lossy = "it holds a value the language cannot spell";
}

static void
dump_print_list(struct dump *d, uint32_t l)
{
	const struct ptab	*t = d->t;
	uint32_t		 k, e;

	render_list_name(stdout, t, l);
	for (k = d->lstart[l]; k < d->lstart[l + 1]; k++) {
		e = d->lent[k];
		if (e < t->nv4)
			render_entry(stdout, t, ADDR_V4, e);
		else
			render_entry(stdout, t, ADDR_V6, e - t->nv4);
		putchar(' ');
	}
	/* A list no host rule uses may still be a listener's proxy set. */
	for (k = 0; d->lstart[l] == d->lstart[l + 1] &&
	    k < t->nlisteners; k++) {
		if (t->listeners[k].proxy_list != l)
			continue;
		for (e = 0; e < t->listeners[k].nproxy; e++) {
			render_proxy(stdout,
			    &t->proxy[t->listeners[k].proxy_first + e]);
			putchar(' ');
		}
		break;
	}
	putchar('}');
}

static int
dump_u32_cmp(const void *a, const void *b)
{
	uint32_t	 x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The local parts of recipients list i, in string order: the strings
 * section is sorted, so their offsets are too.
 */
static void
dump_print_rcpts(struct dump *d, uint32_t i)
{
	const struct ptab		*t = d->t;
	const struct ptab_rcpt_rec	*r = &t->rcpts[i];
	uint32_t			*v, k, n = 0;

	render_rcpts_name(stdout, t, i);
	if ((v = calloc((size_t)r->count + 1, sizeof(*v))) == NULL) {
		d->lossy = "out of memory";
		putchar('}');
		return;
	}
	for (k = 0; k < r->nslots && n < r->count; k++)
		if (t->rslots[r->first + k] != 0)
			v[n++] = t->rslots[r->first + k];
	qsort(v, n, sizeof(*v), dump_u32_cmp);
	for (k = 0; k < n; k++) {
		fputs(ptab_str(t, v[k]), stdout);
		putchar(' ');
	}
	free(v);
	putchar('}');
}

/* The table's name may hold anything; a comment must stay one line. */
static void
dump_comment(struct dump *d)
{
	const char	*p;

	fputs("# dumped from ", stdout);
	for (p = d->path; *p != '\0'; p++)
		putchar((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p);
	printf(", checksum %s\n", d->t->sum);
}

static void
dump_free(struct dump *d)
{
	free(d->items);
	free(d->lstart);
	free(d->lent);
}
