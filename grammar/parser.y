/*
 * parser: the pure bison grammar of the policy language, version 2.
 *
 * One statement a line; the actions only build the tree (grammar.h)
 * and every check of meaning is left to the semantic pass, so that the
 * grammar says what a statement looks like and nothing else.  Each
 * statement, and each line of the server block, has an `error NL` rule:
 * after a syntax error the parser resynchronises at the next line end
 * and carries on, and one run reports every syntax error.
 *
 * Syntax errors are phrased here (yyreport_syntax_error): a word where
 * a keyword belongs is "unknown keyword", with the nearest keyword that
 * would fit suggested.  With LAC the expected tokens are exact.
 *
 * Nothing needs a %destructor: tree nodes and words live in the arena,
 * which is freed as a whole whether or not the parse succeeds.
 */
%code requires {
#include "grammar.h"
}

/* What the scanner and the parser share, inside the library. */
%code provides {
int	yylex(YYSTYPE *, YYLTYPE *, void *);

/* The scanner's keyword table (lexer.l). */
int		 lex_keyword(const char *s, size_t len);	/* 0: none */
const char	*lex_keyword_name(int token);		/* NULL: none */
const char	*lex_keyword_at(size_t i);		/* NULL: end */

/* Report through the caller's callback (parser.y). */
void	grammar_error(struct grammar *, const struct srcloc *,
	    const char *, ...) __attribute__((format(printf, 3, 4)));
void	grammar_note(struct grammar *, const struct srcloc *,
	    const char *, ...) __attribute__((format(printf, 3, 4)));
}

%code {
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "bastion_limits.h"

static void	yyerror(YYLTYPE *, void *, struct grammar *, const char *);
static void	loc_of(const YYLTYPE *, struct srcloc *);
static struct ast_node *node(struct grammar *, enum ast_kind,
		    const YYLTYPE *);
static struct ast_node *node1(struct grammar *, enum ast_kind,
		    const YYLTYPE *, struct ast_word *);
static struct ast_node *node2(struct grammar *, enum ast_kind,
		    const YYLTYPE *, struct ast_word *, struct ast_word *);
static struct ast_word *kwword(struct grammar *, const char *,
		    const YYLTYPE *);
static struct ast_seq seq1(struct ast_node *);
static struct ast_seq seqadd(struct ast_seq, struct ast_node *);
static int	parse_stop(struct grammar *);
static const char *token_desc(yysymbol_kind_t, int, char *, size_t);
}

%define api.pure full
%define parse.error custom
%define parse.lac full
%locations
%expect 0
%param { void *scanner }
%parse-param { struct grammar *pp }

%union {
	struct ast_word	*word;
	struct ast_node	*node;
	struct ast_seq	 seq;
	struct ast_wseq	 wseq;
}

%token <word> WORD STRING LISTREF
%token NL
%token ACCEPT AS AUTH AUTH_FAILURES CERTIFICATE CLEARTEXT COMMAND CONNECT
%token CONNECTIONS CONTROL DATA DEFAULT DELIVER DENY FILE_ FOR FORWARD FROM
%token HOST HOSTNAME KEY LIFETIME LIMIT LIST LISTEN LOG MAILDIR MECHANISMS
%token MESSAGE_SIZE ON OUTBOUND PASSWORD PER_HOST PORT PROXY QUEUE
%token RECIPIENTS RELAY REQUIRE RETRY RUN SENDERS SERVER SPOOL TIMEOUT TLS
%token TO TRUST USER VIA

%type <node> stmt server setting setting_opt hclause lclause fclause
%type <node> oclause rclause
%type <seq> slines sbody hclauses lclauses fclauses oclauses mclauses
%type <wseq> lbody words
%type <word> level target lentry secret

%%

policy
	: lines
	;

lines
	: %empty
	| lines NL
	| lines stmt NL		{ ast_seq_add(&pp->stmts, $2); }
	| lines error NL	{ yyerrok; if (parse_stop(pp)) YYABORT; }
	;

stmt
	: server
	| DEFAULT hclauses
		{ $$ = node(pp, AST_DEFAULT, &@1);
		  if ($$ != NULL) $$->sub = $2.head; }
	| LIST WORD '{' lbody '}'
		{ $$ = node1(pp, AST_LIST, &@1, $2);
		  if ($$ != NULL) { $$->words = $4.head; $$->nwords = $4.n; } }
	| LIST WORD FILE_ STRING
		{ $$ = node2(pp, AST_LIST_FILE, &@1, $2, $4); }
	| HOST target hclauses
		{ $$ = node1(pp, AST_HOST, &@1, $2);
		  if ($$ != NULL) $$->sub = $3.head; }
	| AUTH MECHANISMS words
		{ $$ = node(pp, AST_MECHS, &@1);
		  if ($$ != NULL) { $$->words = $3.head; $$->nwords = $3.n; } }
	| RECIPIENTS WORD '{' lbody '}'
		{ $$ = node1(pp, AST_RCPTS_LIST, &@1, $2);
		  if ($$ != NULL) { $$->words = $4.head; $$->nwords = $4.n; } }
	| RECIPIENTS WORD FILE_ STRING
		{ $$ = node2(pp, AST_RCPTS_FILE, &@1, $2, $4); }
	| USER STRING STRING
		{ $$ = node2(pp, AST_USER, &@1, $2, $3); }
	| USER STRING STRING SENDERS '{' lbody '}'
		{ $$ = node2(pp, AST_USER, &@1, $2, $3);
		  if ($$ != NULL && ($$->sub = node(pp, AST_C_SENDERS,
		      &@4)) != NULL) {
			$$->sub->words = $6.head;
			$$->sub->nwords = $6.n;
		  } }
	| ACCEPT FOR WORD DELIVER MAILDIR STRING mclauses
		{ $$ = node2(pp, AST_ACCEPT_MAILDIR, &@1, $3, $6);
		  if ($$ != NULL) $$->sub = $7.head; }
	| ACCEPT FOR WORD FORWARD TO WORD fclauses
		{ $$ = node2(pp, AST_ACCEPT_FORWARD, &@1, $3, $6);
		  if ($$ != NULL) $$->sub = $7.head; }
	| OUTBOUND WORD VIA WORD oclauses
		{ $$ = node2(pp, AST_OUTBOUND, &@1, $2, $4);
		  if ($$ != NULL) $$->sub = $5.head; }
	;

/*
 * server { ... }: settings one a line; the first may share the line of
 * the '{' and the last the line of the '}'.
 */
server
	: SERVER '{' sbody '}'
		{ $$ = node(pp, AST_SERVER, &@1);
		  if ($$ != NULL) $$->sub = $3.head; }
	;

sbody
	: slines setting_opt	{ $$ = seqadd($1, $2); }
	| slines error		{ $$ = $1; if (parse_stop(pp)) YYABORT; }
	;

slines
	: %empty		{ $$.head = $$.tail = NULL; }
	| slines setting_opt NL	{ $$ = seqadd($1, $2); }
	| slines error NL
		{ $$ = $1; yyerrok; if (parse_stop(pp)) YYABORT; }
	;

setting_opt
	: %empty		{ $$ = NULL; }
	| setting
	;

setting
	: HOSTNAME STRING	{ $$ = node1(pp, AST_HOSTNAME, &@1, $2); }
	| LISTEN ON WORD lclauses
		{ $$ = node1(pp, AST_LISTEN, &@1, $3);
		  if ($$ != NULL) $$->sub = $4.head; }
	| TLS CERTIFICATE STRING KEY STRING
		{ $$ = node2(pp, AST_CERT, &@1, $3, $5); }
	| TLS TRUST STRING	{ $$ = node1(pp, AST_TRUST, &@1, $3); }
	| SPOOL STRING		{ $$ = node1(pp, AST_SPOOL, &@1, $2); }
	| LOG STRING		{ $$ = node1(pp, AST_LOG, &@1, $2); }
	| RUN AS STRING		{ $$ = node1(pp, AST_RUNAS, &@1, $3); }
	| LIMIT MESSAGE_SIZE WORD
		{ $$ = node1(pp, AST_MSGSIZE, &@1, $3); }
	| LIMIT RECIPIENTS WORD	{ $$ = node1(pp, AST_RCPTS, &@1, $3); }
	| LIMIT CONNECTIONS WORD
		{ $$ = node1(pp, AST_CONNS, &@1, $3); }
	| LIMIT CONNECTIONS WORD PER_HOST WORD
		{ $$ = node2(pp, AST_CONNS, &@1, $3, $5); }
	| LIMIT AUTH_FAILURES WORD
		{ $$ = node1(pp, AST_AUTHFAIL, &@1, $3); }
	| TIMEOUT COMMAND WORD
		{ $$ = node1(pp, AST_TO_COMMAND, &@1, $3); }
	| TIMEOUT DATA WORD	{ $$ = node1(pp, AST_TO_DATA, &@1, $3); }
	| TIMEOUT CONNECT WORD
		{ $$ = node1(pp, AST_TO_CONNECT, &@1, $3); }
	| QUEUE LIFETIME WORD	{ $$ = node1(pp, AST_QUEUE, &@1, $3); }
	| QUEUE LIFETIME WORD RETRY WORD
		{ $$ = node2(pp, AST_QUEUE, &@1, $3, $5); }
	| CONTROL STRING	{ $$ = node1(pp, AST_CONTROL, &@1, $2); }
	;

/*
 * listen on ADDRESS [port N] [tls] [require LEVEL]
 * [proxy from <LIST>|PREFIX], any order.
 */
lclauses
	: %empty		{ $$.head = $$.tail = NULL; }
	| lclauses lclause	{ $$ = seqadd($1, $2); }
	;

lclause
	: PORT WORD		{ $$ = node1(pp, AST_C_PORT, &@$, $2); }
	| TLS			{ $$ = node(pp, AST_C_TLS, &@$); }
	| REQUIRE level	{ $$ = node1(pp, AST_C_REQUIRE, &@$, $2); }
	| PROXY FROM target	{ $$ = node1(pp, AST_C_PROXY, &@$, $3); }
	;

/* Host rules and the default: at least one clause, each checked later. */
hclauses
	: hclause		{ $$ = seq1($1); }
	| hclauses hclause	{ $$ = seqadd($1, $2); }
	;

hclause
	: REQUIRE level	{ $$ = node1(pp, AST_C_REQUIRE, &@$, $2); }
	| AS STRING		{ $$ = node1(pp, AST_C_AS, &@$, $2); }
	| RELAY			{ $$ = node(pp, AST_C_RELAY, &@$); }
	| AUTH CLEARTEXT	{ $$ = node(pp, AST_C_CLEARTEXT, &@$); }
	| DENY			{ $$ = node(pp, AST_C_DENY, &@$); }
	;

/* none, auth+tls and tls+auth are words; tls and auth are keywords. */
level
	: WORD
	| TLS			{ $$ = kwword(pp, "tls", &@1); }
	| AUTH			{ $$ = kwword(pp, "auth", &@1); }
	;

target
	: WORD
	| LISTREF
	;

/* Entries are checked later: a string or <list> here gets a message. */
lbody
	: %empty		{ $$.head = $$.tail = NULL; $$.n = 0; }
	| lbody NL		{ $$ = $1; }
	| lbody lentry		{ $$ = $1; ast_wseq_add(&$$, $2); }
	;

lentry
	: WORD
	| STRING
	| LISTREF
	;

words
	: WORD			{ $$.head = $$.tail = NULL; $$.n = 0;
				  ast_wseq_add(&$$, $1); }
	| words WORD		{ $$ = $1; ast_wseq_add(&$$, $2); }
	;

/* forward to HOST [port N] [tls LEVEL] [recipients <NAME>|any] */
fclauses
	: %empty		{ $$.head = $$.tail = NULL; }
	| fclauses fclause	{ $$ = seqadd($1, $2); }
	| fclauses rclause	{ $$ = seqadd($1, $2); }
	;

/* deliver maildir PATH [recipients <NAME>|any] */
mclauses
	: %empty		{ $$.head = $$.tail = NULL; }
	| mclauses rclause	{ $$ = seqadd($1, $2); }
	;

rclause
	: RECIPIENTS target	{ $$ = node1(pp, AST_C_RCPTS, &@$, $2); }
	;

fclause
	: PORT WORD		{ $$ = node1(pp, AST_C_PORT, &@$, $2); }
	| TLS WORD		{ $$ = node1(pp, AST_C_TLSLEVEL, &@$, $2); }
	;

/* via HOST|mx [port N] [tls LEVEL] [auth MECH user S password SEALED] */
oclauses
	: %empty		{ $$.head = $$.tail = NULL; }
	| oclauses oclause	{ $$ = seqadd($1, $2); }
	;

oclause
	: fclause
	| AUTH WORD USER STRING PASSWORD secret
		{ $$ = node2(pp, AST_C_AUTH, &@$, $2, $4);
		  if ($$ != NULL) $$->arg[2] = $6; }
	;

/* A quoted password parses, so that sema can say why it is refused. */
secret
	: WORD
	| STRING
	;

%%

static void
loc_of(const YYLTYPE *l, struct srcloc *out)
{
	out->line = (uint32_t)l->first_line;
	out->col = (uint32_t)l->first_column;
	out->len = l->last_line == l->first_line &&
	    l->last_column > l->first_column ?
	    (uint32_t)(l->last_column - l->first_column) : 1;
}

static struct ast_node *
node(struct grammar *p, enum ast_kind kind, const YYLTYPE *l)
{
	struct srcloc	 loc;
	struct ast_node	*n;

	loc_of(l, &loc);
	if ((n = ast_node_new(p->arena, kind, &loc)) == NULL)
		p->oom = 1;
	return n;
}

static struct ast_node *
node1(struct grammar *p, enum ast_kind kind, const YYLTYPE *l,
    struct ast_word *a)
{
	struct ast_node	*n;

	if ((n = node(p, kind, l)) != NULL)
		n->arg[0] = a;
	return n;
}

static struct ast_node *
node2(struct grammar *p, enum ast_kind kind, const YYLTYPE *l,
    struct ast_word *a, struct ast_word *b)
{
	struct ast_node	*n;

	if ((n = node(p, kind, l)) != NULL) {
		n->arg[0] = a;
		n->arg[1] = b;
	}
	return n;
}

static struct ast_word *
kwword(struct grammar *p, const char *s, const YYLTYPE *l)
{
	struct srcloc	 loc;
	struct ast_word	*w;

	loc_of(l, &loc);
	if ((w = ast_word_new(p->arena, s, strlen(s), &loc)) == NULL)
		p->oom = 1;
	return w;
}

static struct ast_seq
seq1(struct ast_node *n)
{
	struct ast_seq	 q = { NULL, NULL };

	ast_seq_add(&q, n);
	return q;
}

static struct ast_seq
seqadd(struct ast_seq q, struct ast_node *n)
{
	ast_seq_add(&q, n);
	return q;
}

/* Give up once the error limit is reached or memory ran out. */
static int
parse_stop(struct grammar *p)
{
	return p->oom || p->stopped(p->arg);
}

static void
yyerror(YYLTYPE *l, void *scanner, struct grammar *p, const char *msg)
{
	struct srcloc	 loc;

	(void)scanner;
	loc_of(l, &loc);
	grammar_error(p, &loc, "%s", msg);
}

/*
 * How a token is named: after "unexpected" (what it is) or after
 * "expected" (what would do).
 */
static const char *
token_desc(yysymbol_kind_t sym, int expected, char *buf, size_t bufsz)
{
	const char	*kw;

	switch (sym) {
	case YYSYMBOL_YYEOF:
		return "end of file";
	case YYSYMBOL_NL:
		return "end of line";
	case YYSYMBOL_WORD:
		return expected ? "a value" : "word";
	case YYSYMBOL_STRING:
		return expected ? "a string" : "string";
	case YYSYMBOL_LISTREF:
		return expected ? "a <list>" : "list reference";
	default:
		break;
	}
	kw = yysymbol_name(sym);
	if (kw[0] == '\'')		/* '{' and '}' */
		return kw;
	if (sym >= YYSYMBOL_ACCEPT && sym <= YYSYMBOL_VIA &&
	    (kw = lex_keyword_name((int)(sym - YYSYMBOL_ACCEPT) +
	    ACCEPT)) != NULL) {
		snprintf(buf, bufsz, "'%s'", kw);
		return buf;
	}
	return yysymbol_name(sym);
}

/*
 * "unexpected X; expected A, B or C", except that a word where only
 * keywords fit is an unknown keyword, and the nearest keyword that fits
 * is suggested.
 */
static int
yyreport_syntax_error(const yypcontext_t *ctx, void *scanner,
    struct grammar *p)
{
	yysymbol_kind_t	 exp[YYNTOKENS], la;
	const char	*kws[YYNTOKENS];
	struct srcloc	 loc;
	char		 msg[512], b1[64], b2[64], q[64];
	const char	*best, *kw;
	size_t		 len, off, nkw = 0;
	int		 n, i, word_ok = 0;

	(void)scanner;
	loc_of(yypcontext_location(ctx), &loc);
	la = yypcontext_token(ctx);
	n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
	if (n < 0)
		n = 0;
	for (i = 0; i < n; i++) {
		if (exp[i] == YYSYMBOL_WORD)
			word_ok = 1;
		if (exp[i] < YYSYMBOL_ACCEPT || exp[i] > YYSYMBOL_VIA)
			continue;
		kw = lex_keyword_name((int)(exp[i] - YYSYMBOL_ACCEPT) +
		    ACCEPT);
		if (kw != NULL)
			kws[nkw++] = kw;
	}
	best = la == YYSYMBOL_WORD ? ast_nearest(p->tok, p->toklen, kws,
	    nkw) : NULL;

	/* Quote the offending text, bounded and printable. */
	len = p->toklen < 40 ? p->toklen : 40;
	for (off = 0; off < len; off++)
		q[off] = (p->tok[off] >= 0x20 && p->tok[off] < 0x7f) ?
		    p->tok[off] : '?';
	q[off] = '\0';

	/* A block left open runs into the end of the file. */
	if (la == YYSYMBOL_YYEOF && p->brace.line != 0) {
		grammar_error(p, &p->brace, "this '{' is not "
		    "closed before the end of the file");
		return 0;
	}

	/* Only a word that could be a keyword is an unknown keyword. */
	if (la == YYSYMBOL_WORD && nkw > 0 && !word_ok && p->toklen > 0 &&
	    ((p->tok[0] >= 'a' && p->tok[0] <= 'z') ||
	    (p->tok[0] >= 'A' && p->tok[0] <= 'Z'))) {
		/* Suggest only what is plausibly a misspelling. */
		if (best != NULL) {
			grammar_error(p, &loc, "unknown keyword "
			    "'%s%s'; did you mean '%s'?", q,
			    p->toklen > len ? "..." : "", best);
			return 0;
		}
		off = (size_t)snprintf(msg, sizeof(msg), "unknown keyword "
		    "'%s%s'", q, p->toklen > len ? "..." : "");
	} else if (la == YYSYMBOL_WORD || (la >= YYSYMBOL_ACCEPT &&
	    la <= YYSYMBOL_VIA))
		off = (size_t)snprintf(msg, sizeof(msg), "unexpected %s'%s%s'",
		    la == YYSYMBOL_WORD ? "" : word_ok ? "keyword " : "", q,
		    p->toklen > len ? "..." : "");
	else
		off = (size_t)snprintf(msg, sizeof(msg), "unexpected %s",
		    token_desc(la, 0, b1, sizeof(b1)));
	if (off >= sizeof(msg))
		off = sizeof(msg) - 1;

	/* Name what would fit, when that is a short list. */
	if (n > 0 && n <= 6) {
		off += (size_t)snprintf(msg + off, sizeof(msg) - off,
		    "; expected ");
		for (i = 0; i < n && off < sizeof(msg); i++)
			off += (size_t)snprintf(msg + off, sizeof(msg) - off,
			    "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ",
			    token_desc(exp[i], 1, b2, sizeof(b2)));
	}
	grammar_error(p, &loc, "%s", msg);
	/* A statement keyword inside a block: most likely a missing '}'. */
	if (p->brace.line != 0 && p->brace.line < loc.line &&
	    !p->brace_noted && la >= YYSYMBOL_ACCEPT && la <= YYSYMBOL_VIA)
		for (i = 0; i < n; i++)
			if (strcmp(yysymbol_name(exp[i]), "'}'") == 0) {
				grammar_note(p, &p->brace,
				    "is the '}' of this block missing?");
				p->brace_noted = 1;
				break;
			}
	return 0;
}

void
grammar_error(struct grammar *p, const struct srcloc *loc, const char *fmt,
    ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	p->report(p->arg, GRAMMAR_ERROR, loc, fmt, ap);
	va_end(ap);
}

void
grammar_note(struct grammar *p, const struct srcloc *loc, const char *fmt,
    ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	p->report(p->arg, GRAMMAR_NOTE, loc, fmt, ap);
	va_end(ap);
}
