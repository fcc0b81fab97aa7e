/*
 * grammar: the policy language's scanner and parser (lexer.l,
 * parser.y) and the tree they build (ast.c), as one library under the
 * compiler.  This header is all the compiler sees of it: parse a buffer
 * into a tree, the tree, and the arena the tree lives in.
 *
 * The tree belongs here, with the grammar that builds it, and not to
 * the compiler that reads it: the grammar actions need its constructors
 * and the compiler needs its shape, so the one that makes it owns it
 * and the dependency runs one way, compiler -> grammar -> lib.  For the
 * same reason the grammar does not call the compiler's diagnostics:
 * the caller of grammar_parse() hands it a report callback, and a
 * source position (struct srcloc) is defined here, where positions are
 * made, for diagnostics to use.
 *
 * The tree is the policy as the parser read it, before any checking.
 * Grammar actions only build it (the semantic pass gives it meaning),
 * so a node keeps the words as written, each with its position, and
 * nothing is resolved here.  Everything is allocated from one arena and
 * freed at once: the parser needs no destructors and the compiler never
 * frees a node on its own.
 */
#ifndef BASTION_GRAMMAR_H
#define BASTION_GRAMMAR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* A place in a source: line 0 means "no position" (the whole file). */
struct srcloc {
	uint32_t	line;		/* 1-based */
	uint32_t	col;		/* 1-based byte column */
	uint32_t	len;		/* bytes to underline, >= 1 */
};

/* ---- Arena ----------------------------------------------------------- */

struct ast_arena;

struct ast_arena *ast_arena_new(void)
	    __attribute__((warn_unused_result));
void	 ast_arena_free(struct ast_arena *);
/* size zeroed bytes, aligned for any type; NULL when out of memory. */
void	*ast_alloc(struct ast_arena *, size_t size);
/* A NUL-terminated copy of the n bytes at s. */
char	*ast_strndup(struct ast_arena *, const char *s, size_t n);

/* ---- Tree ------------------------------------------------------------ */

enum ast_kind {
	/* Top-level statements. */
	AST_SERVER = 1,		/* sub: settings */
	AST_DEFAULT,		/* sub: clauses */
	AST_LIST,		/* arg[0] name, words: entries */
	AST_LIST_FILE,		/* arg[0] name, arg[1] path */
	AST_HOST,		/* arg[0] prefix or <list>, sub: clauses */
	AST_MECHS,		/* words: mechanisms */
	AST_USER,		/* arg[0] name, arg[1] verifier,
				 * sub: AST_C_SENDERS or NULL */
	AST_RCPTS_LIST,		/* arg[0] name, words: local parts */
	AST_RCPTS_FILE,		/* arg[0] name, arg[1] path */
	AST_ACCEPT_MAILDIR,	/* arg[0] domain, arg[1] path */
	AST_ACCEPT_FORWARD,	/* arg[0] domain, arg[1] host, sub */
	AST_OUTBOUND,		/* arg[0] domain, arg[1] host|mx, sub */

	/* Settings inside server { }. */
	AST_HOSTNAME,		/* arg[0] */
	AST_LISTEN,		/* arg[0] address, sub: clauses */
	AST_CERT,		/* arg[0] certificate, arg[1] key */
	AST_TRUST,		/* arg[0] */
	AST_SPOOL,		/* arg[0] */
	AST_LOG,		/* arg[0] */
	AST_RUNAS,		/* arg[0] */
	AST_MSGSIZE,		/* arg[0] */
	AST_RCPTS,		/* arg[0] */
	AST_CONNS,		/* arg[0] N, arg[1] per-host M or NULL */
	AST_AUTHFAIL,		/* arg[0] */
	AST_TO_COMMAND,		/* arg[0] */
	AST_TO_DATA,		/* arg[0] */
	AST_TO_CONNECT,		/* arg[0] */
	AST_QUEUE,		/* arg[0] lifetime, arg[1] retry or NULL */
	AST_CONTROL,		/* arg[0] path */

	/* Clauses of host, default, listen, forward and outbound. */
	AST_C_PORT,		/* arg[0] */
	AST_C_TLS,		/* listen ... tls */
	AST_C_TLSLEVEL,		/* tls LEVEL: arg[0] */
	AST_C_REQUIRE,		/* arg[0] level */
	AST_C_AS,		/* arg[0] account */
	AST_C_RELAY,
	AST_C_CLEARTEXT,	/* auth cleartext */
	AST_C_DENY,
	AST_C_AUTH,		/* arg[0] mech, [1] user, [2] password */
	AST_C_RCPTS,		/* recipients <NAME>|any: arg[0] */
	AST_C_PROXY,		/* proxy from <NAME>|PREFIX: arg[0] */
	AST_C_SENDERS		/* senders { }: words */
};

/* A word, string or <list> as written (strings already unescaped). */
struct ast_word {
	const char	*s;		/* NUL-terminated, in the arena */
	uint32_t	 len;
	uint8_t		 string;	/* was a quoted string */
	uint8_t		 listref;	/* was <name> (s is the name);
					 * 2: a malformed one, reported */
	struct srcloc	 loc;
	struct ast_word	*next;
};

struct ast_node {
	enum ast_kind	 kind;
	struct srcloc	 loc;		/* the keyword starting it */
	struct ast_word	*arg[3];
	struct ast_word	*words;
	uint32_t	 nwords;
	struct ast_node	*sub;		/* clauses, or settings */
	struct ast_node	*next;
};

/* Sequences the grammar builds in order. */
struct ast_seq {
	struct ast_node	*head, *tail;
};

struct ast_wseq {
	struct ast_word	*head, *tail;
	uint32_t	 n;
};

struct ast_node	*ast_node_new(struct ast_arena *, enum ast_kind,
		    const struct srcloc *);
struct ast_word	*ast_word_new(struct ast_arena *, const char *s,
		    size_t len, const struct srcloc *);
void		 ast_seq_add(struct ast_seq *, struct ast_node *);
void		 ast_wseq_add(struct ast_wseq *, struct ast_word *);

/*
 * The candidate nearest to the n bytes at s by edit distance, if it is
 * close enough to be a plausible misspelling; NULL otherwise.  For
 * "did you mean" hints.
 */
const char	*ast_nearest(const char *s, size_t n,
		    const char *const *cands, size_t ncands);

/* ---- Parsing --------------------------------------------------------- */

enum grammar_sev {
	GRAMMAR_ERROR = 0,
	GRAMMAR_NOTE		/* about the error just before it */
};

/*
 * What the reentrant scanner and the pure parser share: the scanner's
 * position, the arena the tree goes in, where errors go, and the tree.
 * The caller sets arena, report, stopped and arg; the rest is the
 * parse's own.
 */
struct grammar {
	struct ast_arena *arena;
	/* Record an error or note at loc (line 0: the whole source). */
	void		(*report)(void *arg, enum grammar_sev,
			    const struct srcloc *loc, const char *fmt,
			    va_list ap) __attribute__((format(printf, 4, 0)));
	/* 1 once no more errors are wanted: the parse gives up. */
	int		(*stopped)(void *arg);
	void		*arg;
	struct ast_seq	 stmts;		/* the result */
	int		 oom;		/* an allocation failed */

	/* Scanner state. */
	uint32_t	 line, col;	/* where the next byte is */
	int		 last_nl;	/* last token was a line end */
	struct srcloc	 brace;		/* open '{'; line 0: none */
	int		 brace_noted;	/* "is the '}' missing?" said */
	const char	*tok;		/* text of the last token */
	size_t		 toklen;
};

/*
 * Parse len bytes of policy at buf into g->stmts.  Every syntax error
 * is reported, and the parse goes on at the next line.  Returns 0, or
 * -1 if the parse could not finish (out of memory, or the buffer is
 * larger than the scanner can take).
 */
int	grammar_parse(struct grammar *g, const char *buf, size_t len)
	    __attribute__((warn_unused_result));

#endif
