/*
 * query: `policyc query TABLE ADDRESS|DOMAIN` says which rule decides
 * for a client address, or which accept and outbound rules a domain
 * gets, quoting the rule in source form with its source line: the
 * question an administrator asks when a partner says "you refused us".
 * For user@domain it says whether the recipient is taken, and by which
 * accept rule and recipients list.
 * The lookups are the table's own (lib/ptab_read.c), the very ones
 * bastiond makes, so the answer cannot drift from the runtime's.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "cmds.h"
#include "bastion_limits.h"
#include "ptab.h"
#include "render.h"

static void	query_usage(FILE *);
static int	query_domain_check(const char *, char *, size_t);
static void	query_address(const struct ptab *, const char *,
		    const struct addr *);
static void	query_domain(const struct ptab *, const char *,
		    const char *);
static void	query_recipient(const struct ptab *, const char *,
		    const char *, size_t, const char *);

static void
query_usage(FILE *fp)
{
	fprintf(fp, "usage: %s query TABLE ADDRESS|DOMAIN|LOCAL@DOMAIN\n",
	    progname);
}

int
cmd_query(int argc, char **argv)
{
	struct ptab	 t;
	struct addr	 a;
	char		 err[LIM_ERRMSG], dom[LIM_DOMAIN + 1];
	const char	*arg, *at;
	size_t		 llen = 0;
	int		 i, isaddr, rc = 0;

	if ((i = cmd_operands(argc, argv, 2, "query", query_usage, &rc)) == -1)
		return rc;
	arg = argv[i + 1];

	/* local@domain: a recipient; the domain is checked as any. */
	if ((at = strrchr(arg, '@')) != NULL) {
		llen = (size_t)(at - arg);
		if (llen == 0 || llen > LIM_LOCALPART ||
		    query_domain_check(at + 1, dom, sizeof(dom)) == -1) {
			fprintf(stderr, "%s: query: '%s' is not a mail "
			    "address\n", progname, arg);
			return EXIT_USER;
		}
		if (ptab_open(&t, argv[i], err, sizeof(err)) == -1) {
			fprintf(stderr, "%s: %s: %s\n", progname, argv[i],
			    err);
			return EXIT_USER;
		}
		query_recipient(&t, arg, arg, llen, dom);
		goto out;
	}

	/* A host address, or failing that a domain name. */
	isaddr = strchr(arg, '/') == NULL &&
	    addr_parse(arg, strlen(arg), 0, &a, err, sizeof(err)) == 0;
	if (!isaddr && query_domain_check(arg, dom, sizeof(dom)) == -1) {
		fprintf(stderr, "%s: query: '%s' is neither an IP address "
		    "nor a domain name\n", progname, arg);
		return EXIT_USER;
	}
	if (ptab_open(&t, argv[i], err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s: %s\n", progname, argv[i], err);
		return EXIT_USER;
	}
	if (isaddr)
		query_address(&t, arg, &a);
	else
		query_domain(&t, arg, dom);
out:
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "%s: query: write error: %s\n", progname,
		    strerror(errno));
		rc = EXIT_USER;
	}
	ptab_close(&t);
	return rc;
}

/*
 * A host name as the language spells domains: labels of 1..63 letters,
 * digits and '-', not starting or ending with '-', at most LIM_DOMAIN
 * in all, the last label not all digits.  The lower-case copy goes to
 * out.
 */
static int
query_domain_check(const char *s, char *out, size_t outsz)
{
	size_t	 n, i, lab = 0;
	char	 c;

	n = strlen(s);
	if (n == 0 || n > LIM_DOMAIN || n >= outsz)
		return -1;
	for (i = 0; i < n; i++) {
		c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		out[i] = c;
		if (c == '.') {
			if (lab == 0 || out[i - 1] == '-')
				return -1;
			lab = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-'))
			return -1;
		if (c == '-' && lab == 0)
			return -1;
		if (++lab > LIM_LABEL)
			return -1;
	}
	if (lab == 0 || out[n - 1] == '-')
		return -1;
	/* No top-level domain is all digits: 256.1.1.1 is a bad address. */
	if (strspn(out + n - lab, "0123456789") == lab)
		return -1;
	out[n] = '\0';
	return 0;
}

static void
query_address(const struct ptab *t, const char *arg, const struct addr *a)
{
	const struct ptab_rule_rec	*r;
	uint32_t			 ri, entry;

	ri = ptab_host_lookup(t, a, &entry);
	r = &t->rules[ri];
	printf("%s: line %lu: ", arg, (unsigned long)r->line);
	render_rule(stdout, t, ri);
	if (ri == 0 || entry == PTAB_NONE)
		printf(" (%sno host rule matches)\n",
		    r->line == 0 ? "implicit; " : "");
	else if (r->kind == PTAB_RULE_LIST) {
		fputs(" (matched ", stdout);
		render_entry(stdout, t, a->family, entry);
		fputs(")\n", stdout);
	} else
		putchar('\n');
}

static void
query_domain(const struct ptab *t, const char *arg, const char *dom)
{
	const struct ptab_domain_rec	*acc, *out;
	size_t				 n = strlen(dom);

	acc = ptab_accept_lookup(t, dom, n);
	out = ptab_outbound_lookup(t, dom, n);
	if (acc == NULL && out == NULL) {
		printf("%s: no rule: not accepted here, and no outbound "
		    "route\n", arg);
		return;
	}
	if (acc != NULL) {
		printf("%s: line %lu: ", arg, (unsigned long)acc->line);
		render_accept(stdout, t, acc);
		putchar('\n');
	}
	if (out != NULL) {
		printf("%s: line %lu: ", arg, (unsigned long)out->line);
		render_outbound(stdout, t, out);
		putchar('\n');
	}
}

/*
 * The answer bastiond gives at RCPT: the accept rule, then the list
 * that has the local part, postmaster, or "User unknown".  A domain
 * that is not accepted here is relayed or refused by the host rules.
 */
static void
query_recipient(const struct ptab *t, const char *arg, const char *local,
    size_t llen, const char *dom)
{
	const struct ptab_domain_rec	*acc;
	const struct ptab_rcpt_rec	*r;

	acc = ptab_accept_lookup(t, dom, strlen(dom));
	if (acc == NULL) {
		printf("%s: not accepted here: no 'accept for' rule takes "
		    "%s (relayed only for relay hosts and authenticated "
		    "clients)\n", arg, dom);
		return;
	}
	printf("%s: line %lu: ", arg, (unsigned long)acc->line);
	render_accept(stdout, t, acc);
	putchar('\n');
	if (acc->rcpts != PTAB_RCPTS_LIST) {
		printf("%s: accepted: %s\n", arg, acc->rcpts ==
		    PTAB_RCPTS_ANY ? "'recipients any' takes every local "
		    "part" : "the rule has no recipients list (every local "
		    "part)");
		return;
	}
	r = &t->rcpts[acc->rcpt_list];
	if (ptab_rcpt_in(t, acc->rcpt_list, local, llen))
		printf("%s: accepted: in recipients list %s (line %lu)\n",
		    arg, ptab_str(t, r->name), (unsigned long)r->line);
	else if (ptab_rcpt_postmaster(local, llen))
		printf("%s: accepted: postmaster is always taken (RFC 5321 "
		    "4.5.1)\n", arg);
	else
		printf("%s: refused: 550 5.1.1 User unknown: not in "
		    "recipients list %s (line %lu)\n", arg,
		    ptab_str(t, r->name), (unsigned long)r->line);
}
