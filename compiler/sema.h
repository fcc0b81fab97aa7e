/*
 * sema: the semantic pass and the emitter, private to the front end.
 *
 * sema_run() walks the tree the parser built, checks every statement and
 * the policy as a whole, reads list files, and leaves the resolved
 * policy in a struct sema; statements with errors are reported and left
 * out.  emit_run() hands the resolved policy to a ptab builder and turns
 * the prefixes it finds shared between rules into diagnostics.
 */
#ifndef BASTION_SEMA_H
#define BASTION_SEMA_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "ast.h"
#include "compile.h"
#include "diag.h"
#include "ptab.h"
#include "seal.h"

struct sema_list {
	struct ast_node	*node;
	const char	*name;
	struct srcloc	 where;		/* the name, for messages */
	uint32_t	 line;
	struct addr	*pfx;		/* the good entries */
	size_t		 n;
	int		 used;
	int		 cover;		/* open relay: -1 not known */
	int		 dup;		/* defined again: left out */
	uint32_t	 id;		/* builder list id */
};

/* A recipients list: local parts, as given (checked). */
struct sema_rcpts {
	struct ast_node	*node;
	const char	*name;
	struct srcloc	 where;		/* the name, for messages */
	uint32_t	 line;
	const char	**parts;
	size_t		 n;
	int		 used;
	int		 dup;		/* defined again: left out */
	int		 bad;		/* an entry had an error */
	uint32_t	 id;		/* builder id */
};

struct sema_rule {
	struct ast_node	*node;		/* NULL: implicit */
	struct srcloc	 where;		/* the prefix or <list> */
	uint32_t	 line;
	uint8_t		 kind;		/* enum ptab_rule_kind */
	uint8_t		 action;	/* enum ptab_action */
	uint8_t		 require;	/* PTAB_REQ_* */
	uint8_t		 flags;		/* PTAB_RULE_* */
	const char	*as_user;	/* NULL: none */
	struct srcloc	 as_where, req_where, relay_where;
	const char	*req_text;	/* the level as written */
	struct addr	 prefix;	/* ADDR */
	struct ast_word	*listref;	/* LIST, before resolution */
	struct sema_list *list;		/* LIST */
	uint32_t	 id;		/* builder rule id */
};

struct sema_listener {
	struct ast_node	*node;
	struct addr	 addr;
	uint16_t	 port;
	int		 tls;
	uint8_t		 require;
	const char	*req_text;
	struct srcloc	 tls_where, req_where;
	uint32_t	 line;
	int		 dup;		/* left out of the table */
	/* proxy from <LIST> | PREFIX */
	int		 proxy;
	struct ast_word	*proxy_ref;	/* the <LIST>, before resolution */
	struct sema_list *proxy_list;
	struct addr	 proxy_pfx;	/* a prefix given directly */
	struct srcloc	 proxy_where;
};

struct sema_user {
	struct ast_node	*node;
	const char	*name;
	const char	*verifier;
	int		 kind;		/* enum verifier_kind */
	uint32_t	 line;
	int		 dup;		/* left out of the table */
	const char	**senders;	/* lower case; NULL: anyone */
	size_t		 nsenders;
};

struct sema_domain {
	struct ast_node		*node;
	struct srcloc		 where;		/* the domain */
	struct srcloc		 tls_where;
	struct ptab_domain_in	 in;
	struct ast_node		*rcpt_clause;	/* recipients ..., or NULL */
	struct sema_rcpts	*rcpts;		/* resolved <NAME> */
};

struct sema {
	struct ast_arena		*arena;
	struct diag			*diag;
	int				 file;	/* policy source */
	const char			*name;		/* as given */
	const struct compile_opts	*opts;

	struct ptab_server_in		 server;
	struct ast_node			*server_node;
	struct ast_node			*set_node[PTAB_SET_MAX];
	int				 mechs_explicit;

	struct sema_rule		 def;
	int				 have_default;
	struct sema_rule		*rules;
	size_t				 nrules;
	struct sema_list		*lists;
	size_t				 nlists;
	struct sema_listener		*listeners;
	size_t				 nlisteners;
	struct sema_user		*users;
	size_t				 nusers;
	struct sema_domain		*accept;
	size_t				 naccept;
	struct sema_domain		*outbound;
	size_t				 noutbound;

	struct sema_rcpts		*rcpts;
	size_t				 nrcpts;
	size_t				 parts;		/* all rcpts lists */

	size_t				 entries;	/* all lists */
	int				 pub_loaded;	/* -k: -1 bad */
	uint8_t				 pub_id[SEAL_KEYID_SIZE];
};

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
	    const struct sema_file *f, void *ctx);

/*
 * Why the n bytes at d are not a domain name (without the leading dot
 * of a suffix), or NULL if they are one; upper_ok: letters may be
 * upper case.  (sema.c)
 */
const char *sema_domain_reason(const char *d, size_t n, int upper_ok);

/*
 * Do the prefixes of family (ADDR_V4 or ADDR_V6) together cover the
 * whole address space?  (sema.c)
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
int	sema_mail_init(struct sema *s, struct ast_node *stmts);
void	sema_rcpts(struct sema *s, struct ast_node *n);
int	sema_mail_rcpt_clause(struct sema *s, struct sema_domain *d,
	    struct ast_node *c);
int	sema_mail_senders(struct sema *s, struct sema_user *u,
	    struct ast_node *c);
int	sema_mail_proxy(struct sema *s, struct sema_listener *l,
	    struct ast_node *c);
void	sema_mail_resolve(struct sema *s);

/* Check stmts and fill s (whose arena, diag, file, name, opts are set). */
void	sema_run(struct sema *s, struct ast_node *stmts);

/*
 * Build the table for s.  Shared prefixes become diagnostics.  If out
 * is not NULL and no error was reported, *out gets the image.
 * Returns 0, or -1 if the table could not be built (reported).
 */
int	emit_run(struct sema *s, uint8_t **out, size_t *outlen);

/*
 * Read the whole file at path, at most LIM_SOURCE_SIZE bytes, into a
 * malloc'd buffer with a NUL after it (compile.c).  Returns 0, or -1
 * with the reason in err.
 */
int	compile_readfile(const char *path, char **buf, size_t *len,
	    char *err, size_t errlen);

#endif
