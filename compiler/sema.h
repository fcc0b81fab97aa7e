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
#include "opts.h"
#include "diag.h"
#include "fileio.h"
#include "grammar.h"
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

/* Check stmts and fill s (whose arena, diag, file, name, opts are set). */
void	sema_run(struct sema *s, struct ast_node *stmts);

/*
 * Build the table for s.  Shared prefixes become diagnostics.  If out
 * is not NULL and no error was reported, *out gets the image.
 * Returns 0, or -1 if the table could not be built (reported).
 */
int	emit_run(struct sema *s, uint8_t **out, size_t *outlen)
	    __attribute__((warn_unused_result));

/*
 * Read a policy or a list file, at most LIM_SOURCE_SIZE bytes, into d
 * (fileio_data_free() frees it).  Returns 0, or -1 with the reason in
 * err in the words "cannot read ...: " is followed by.
 */
int	sema_readfile(const char *path, struct fileio_data *d, char *err,
	    size_t errlen) __attribute__((warn_unused_result));

#endif
