/*
 * table: a loaded policy table, shared by reference (see table.h).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "table.h"

struct table *
table_load(const char *path, const char *sysname, char *err, size_t errlen)
{
	struct table	*tb;
	uint32_t	 i;
	size_t		 len;
	FILE		*fp;

	if ((tb = calloc(1, sizeof(*tb))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (ptab_open(&tb->t, path, err, errlen) != 0) {
		free(tb);
		return NULL;
	}
	tb->refs = 1;
	snprintf(tb->sysname, sizeof(tb->sysname), "%s", sysname);
	tb->hostname = ptab_str(&tb->t, tb->t.server->hostname);
	if (*tb->hostname == '\0')
		tb->hostname = tb->sysname;
	if ((tb->rule_text = calloc(tb->t.nrules, sizeof(char *))) == NULL)
		goto oom;
	for (i = 0; i < tb->t.nrules; i++) {
		if ((fp = open_memstream(&tb->rule_text[i], &len)) == NULL)
			goto oom;
		if (tb->t.rules[i].line == 0 && i == 0)
			fputs("default require none", fp);
		else
			(void)render_rule(fp, &tb->t, i);
		if (fclose(fp) != 0)
			goto oom;
	}
	return tb;
oom:
	snprintf(err, errlen, "out of memory");
	table_unref(tb);
	return NULL;
}

void
table_ref(struct table *tb)
{
	tb->refs++;
}

void
table_unref(struct table *tb)
{
	uint32_t	 i;

	if (tb == NULL || --tb->refs > 0)
		return;
	if (tb->rule_text != NULL)
		for (i = 0; i < tb->t.nrules; i++)
			free(tb->rule_text[i]);
	free(tb->rule_text);
	ptab_close(&tb->t);
	free(tb);
}

const char *
table_rcpt_domain(const struct table *tb, const char *addr, int *bare)
{
	const char	*at = strrchr(addr, '@');

	if (bare != NULL)
		*bare = at == NULL;
	return at != NULL ? at + 1 : tb->hostname;
}
