/*
 * sema_int: what the three parts of the semantic pass share, and no one
 * else sees.  sema.c walks the statements and calls the checks of
 * single values in sema_values.c; once every statement is in, it runs
 * the checks of the policy as a whole in sema_policy.c.  All of them
 * report through the messages below, into the pass's diagnostics.
 */
#ifndef BASTION_SEMA_INT_H
#define BASTION_SEMA_INT_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "grammar.h"
#include "ptab.h"
#include "sema.h"

#define SEMA_QUOTE	64	/* bytes of user text quoted in a message */

/* sema_domain() flags. */
#define SEMA_DOM_SUFFIX	1	/* a ".suffix" is allowed */
#define SEMA_DOM_ANY	2	/* "*" is allowed */

/* ---- Messages (sema_values.c) ---------------------------------------- */

/* An error, warning, or note on the one before, at loc in the policy. */
void	sema_err(struct sema *, const struct srcloc *loc, const char *fmt,
	    ...) __attribute__((format(printf, 3, 4)));
void	sema_warn(struct sema *, const struct srcloc *loc, const char *fmt,
	    ...) __attribute__((format(printf, 3, 4)));
void	sema_note(struct sema *, const struct srcloc *loc, const char *fmt,
	    ...) __attribute__((format(printf, 3, 4)));

/*
 * The n bytes of user text at s, printable and cut short with "...",
 * in buf (SEMA_QUOTE + 4 bytes); returns buf.
 */
const char *sema_q(char *buf, const char *s, size_t n);

/*
 * A clause or setting given twice in one place: 1 and *seen = n the
 * first time, else 0, reported.
 */
int	sema_once(struct sema *, struct ast_node **seen, struct ast_node *n,
	    const char *what)
	    __attribute__((warn_unused_result));

/* ---- Values (sema_values.c) ------------------------------------------ */

/*
 * Each checks one word: the value, or -1 / NULL with the error
 * reported.  Strings come back in the arena or as the word's own text.
 */

/* The index of w among names, or -1 with a suggestion. */
int	sema_oneof(struct sema *, const struct ast_word *w, const char *what,
	    const char *const *names, size_t n)
	    __attribute__((warn_unused_result));
/* A list's name: 1 if good, else 0 with an error naming what. */
int	sema_ident(struct sema *, const struct ast_word *name,
	    const char *what) __attribute__((warn_unused_result));
/* A decimal number in min..max. */
int	sema_u32(struct sema *, const struct ast_word *w, const char *what,
	    uint32_t min, uint32_t max, uint32_t *out)
	    __attribute__((warn_unused_result));
/* N, NK, NM, NG: bytes, powers of 1024. */
int	sema_size(struct sema *, const struct ast_word *w, uint64_t min,
	    uint64_t max, uint64_t *out)
	    __attribute__((warn_unused_result));
/* N (seconds), Ns, Nm, Nh, Nd. */
int	sema_duration(struct sema *, const struct ast_word *w,
	    uint32_t min, uint32_t max, uint32_t *out)
	    __attribute__((warn_unused_result));
/* none, tls, auth, auth+tls: PTAB_REQ_* bits. */
int	sema_level(struct sema *, const struct ast_word *w, uint8_t *out)
	    __attribute__((warn_unused_result));
/* The n bytes at p as an address or prefix, reported in source file. */
int	sema_prefix(struct sema *, int file, const char *p, size_t n,
	    const struct srcloc *loc, struct addr *out)
	    __attribute__((warn_unused_result));
/* A domain, lower-cased; flags: SEMA_DOM_*. */
const char *sema_domain(struct sema *, const struct ast_word *w, int flags,
	    const char *what);
/* A next hop: an address in its canonical form, or a host name. */
const char *sema_nexthop(struct sema *, const struct ast_word *w);
/* A file name in a setting: not empty. */
const char *sema_path(struct sema *, const struct ast_word *w,
	    const char *what);
/* A user name: not empty, at most LIM_USERNAME bytes. */
const char *sema_username(struct sema *, const struct ast_word *w,
	    const char *what);
/* A sealed password into in, checked against -k's key. */
int	sema_secret(struct sema *, const struct ast_word *w,
	    struct ptab_domain_in *in)
	    __attribute__((warn_unused_result));

/* ---- The policy as a whole (sema_policy.c) --------------------------- */

/*
 * Resolve the lists, then check users, listeners, domains,
 * requirements and open relay, in that order.
 */
void	sema_check_policy(struct sema *);

/* ---- Shared by the parts ------------------------------------------- */

/*
 * Reading a list file (sema.c): begin hears how many lines it has (at
 * most one entry each) and may refuse (-1); entry gets each entry with
 * its position in source fid and returns 0, -1 for a bad entry
 * (reported), or -2 to stop.  one names an entry: "one ONE a line".
 */
struct sema_file {
	int		(*begin)(struct sema *, void *ctx, size_t lines);
	int		(*entry)(struct sema *, void *ctx, int fid,
			    const char *p, size_t n, const struct srcloc *);
	const char	*one;
};

int	sema_file_read(struct sema *s, const struct ast_word *path,
	    const struct sema_file *f, void *ctx)
	    __attribute__((warn_unused_result));

/*
 * Why the n bytes at d are not a domain name (without the leading dot
 * of a suffix), or NULL if they are one; upper_ok: letters may be
 * upper case.  (sema_values.c)
 */
const char *sema_domain_reason(const char *d, size_t n, int upper_ok);

/*
 * Do the prefixes of family (ADDR_V4 or ADDR_V6) together cover the
 * whole address space?  (sema_policy.c)
 */
int	sema_covers(const struct addr *const *p, size_t n, int family);

/*
 * The mail-side statements of version 2 (sema_mail.c): recipients
 * lists and clauses, senders, proxy from.  sema_mail_init sizes the
 * arrays (-1: out of memory); the others report what they find and
 * return -1 when the statement must be left out.  sema_mail_resolve
 * runs once all statements are read, before the host lists are
 * resolved (a proxy list counts as used).
 */
int	sema_mail_init(struct sema *s, struct ast_node *stmts)
	    __attribute__((warn_unused_result));
void	sema_rcpts(struct sema *s, struct ast_node *n);
int	sema_mail_rcpt_clause(struct sema *s, struct sema_domain *d,
	    struct ast_node *c)
	    __attribute__((warn_unused_result));
int	sema_mail_senders(struct sema *s, struct sema_user *u,
	    struct ast_node *c)
	    __attribute__((warn_unused_result));
int	sema_mail_proxy(struct sema *s, struct sema_listener *l,
	    struct ast_node *c)
	    __attribute__((warn_unused_result));
void	sema_mail_resolve(struct sema *s);

#endif
