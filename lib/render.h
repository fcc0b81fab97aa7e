/*
 * render: the records of a compiled table written back as policy
 * source, one statement at a time.  `policyc dump` prints whole
 * policies with it, `policyc query` and `policyc diff` quote the rules
 * that decide, and bastiond's protocol log names them the same way, so
 * that the source form is spelled in one place.
 *
 * The spellings are the canonical ones of the dump form (see the
 * language spec): `require LEVEL` always printed for an allowing rule,
 * host rule clauses in the order require, as, relay, auth cleartext;
 * `port` always printed for listeners, forward and outbound; `tls
 * LEVEL` always printed for forward and outbound; sizes and durations
 * in the largest unit that is exact.
 *
 * Each function writes to fp and returns 0, or -1 when the table holds
 * something the language cannot spell (a string with a line break in
 * it, an unknown enum value): the text is still written, as closely as
 * it can be, and the caller decides whether that matters.  Write errors
 * on fp are left for the caller to find with ferror().
 */
#ifndef BASTION_RENDER_H
#define BASTION_RENDER_H

#include <stdint.h>
#include <stdio.h>

#include "ptab.h"

/* "none", "tls", "auth", "auth+tls" for a PTAB_REQ_* set. */
const char	*render_level(uint8_t require);

/* "none", "opportunistic", "required", "verify"; NULL if unknown. */
const char	*render_tls(uint8_t tls);

/* "plain", "login", "scram-sha-256"; NULL if unknown or none. */
const char	*render_mech(uint8_t mech);

/* A double-quoted string with \" and \\ escapes. */
int	render_string(FILE *fp, const char *s);

/* 25M, 512K, 1000 (bytes; powers of 1024, upper-case suffix). */
void	render_size(FILE *fp, uint64_t n);

/* 5d, 2h, 5m, 90s (seconds; the largest exact unit). */
void	render_duration(FILE *fp, uint32_t secs);

/*
 * A host rule's effect, without the `host X` or `default` in front:
 * "deny", or "require LEVEL [as STRING] [relay] [auth cleartext]".
 */
int	render_effect(FILE *fp, const struct ptab *t,
	    const struct ptab_rule_rec *r);

/*
 * Rule i as a statement: "default ...", "host PREFIX ...", or
 * "host <NAME> ...".
 */
int	render_rule(FILE *fp, const struct ptab *t, uint32_t i);

/* "list NAME { " with the entries and "}" left to the caller. */
int	render_list_name(FILE *fp, const struct ptab *t, uint32_t i);

/* Prefix i of the v4 or v6 entries, as "a.b.c.d/n" (host: no /n). */
void	render_entry(FILE *fp, const struct ptab *t, int family, uint32_t i);

/*
 * "accept for DOMAIN deliver maildir STRING" or "... forward to ...",
 * then " recipients <NAME>" or " recipients any" when the rule has one.
 */
int	render_accept(FILE *fp, const struct ptab *t,
	    const struct ptab_domain_rec *d);

/* "outbound DOMAIN via HOST|mx port N tls LEVEL [auth ...]". */
int	render_outbound(FILE *fp, const struct ptab *t,
	    const struct ptab_domain_rec *d);

/*
 * "listen on ADDRESS port N [tls] [require LEVEL]
 * [proxy from <NAME>|PREFIX]".
 */
int	render_listener(FILE *fp, const struct ptab *t,
	    const struct ptab_listener_rec *l);

/* A proxy prefix, as "a.b.c.d/n" (host: no /n). */
void	render_proxy(FILE *fp, const struct ptab_proxy_rec *x);

/* "recipients NAME { " with the parts and "}" left to the caller. */
int	render_rcpts_name(FILE *fp, const struct ptab *t, uint32_t i);

/* "user NAME VERIFIER [senders { ... }]". */
int	render_user(FILE *fp, const struct ptab *t,
	    const struct ptab_user_rec *u);

/*
 * Server setting which (enum ptab_setting) as its statement, from the
 * values in the server record: "limit message-size 25M", or for
 * PTAB_SET_MECHS the top-level "auth mechanisms ...".
 */
int	render_setting(FILE *fp, const struct ptab *t, int which);

/* "sealed:BASE64" for the len bytes of BLOBS at off. */
int	render_sealed(FILE *fp, const struct ptab *t, uint32_t off,
	    uint32_t len);

#endif
