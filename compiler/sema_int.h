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
	    const char *what);

/* ---- Values (sema_values.c) ------------------------------------------ */

/*
 * Each checks one word: the value, or -1 / NULL with the error
 * reported.  Strings come back in the arena or as the word's own text.
 */

/* The index of w among names, or -1 with a suggestion. */
int	sema_oneof(struct sema *, const struct ast_word *w, const char *what,
	    const char *const *names, size_t n);
/* A decimal number in min..max. */
int	sema_u32(struct sema *, const struct ast_word *w, const char *what,
	    uint32_t min, uint32_t max, uint32_t *out);
/* N, NK, NM, NG: bytes, powers of 1024. */
int	sema_size(struct sema *, const struct ast_word *w, uint64_t min,
	    uint64_t max, uint64_t *out);
/* N (seconds), Ns, Nm, Nh, Nd. */
int	sema_duration(struct sema *, const struct ast_word *w,
	    uint32_t min, uint32_t max, uint32_t *out);
/* none, tls, auth, auth+tls: PTAB_REQ_* bits. */
int	sema_level(struct sema *, const struct ast_word *w, uint8_t *out);
/* The n bytes at p as an address or prefix, reported in source file. */
int	sema_prefix(struct sema *, int file, const char *p, size_t n,
	    const struct srcloc *loc, struct addr *out);
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
	    struct ptab_domain_in *in);

/* ---- The policy as a whole (sema_policy.c) --------------------------- */

/*
 * Resolve the lists, then check users, listeners, domains,
 * requirements and open relay, in that order.
 */
void	sema_check_policy(struct sema *);

#endif
