/*
 * ptab: the compiled policy table, defined once for the writer
 * (policyc) and the reader (policyc dump/query/diff and bastiond).
 *
 * The image is little-endian and offset-based so that bastiond can map
 * it read-only and use the records in place: no parsing and no
 * allocation per connection.  doc/table-format.md describes it byte for
 * byte; this header is the definition that both sides compile against.
 *
 * Layout: a 64-byte header, a section directory, then the sections,
 * each starting on an 8-byte boundary.  Every record field is a
 * fixed-width little-endian integer at its natural alignment, so on a
 * little-endian host the structs below overlay the mapped bytes.  The
 * reader validates every offset, length, string reference, index and
 * ordering once, at load; after ptab_load() succeeds, lookups trust it.
 */
#ifndef BASTION_PTAB_H
#define BASTION_PTAB_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define PTAB_MAGIC		"BSTNPTAB"	/* 8 bytes, no NUL */
#define PTAB_VERSION		2
#define PTAB_HEADER_SIZE	64
#define PTAB_CHECKSUM_SIZE	32		/* BLAKE2b-256 */
#define PTAB_NONE		0xffffffffu	/* "no index" */
#define PTAB_MAX_SIZE		0xfffffff8u	/* offsets are 32 bits */

/* Section identifiers, in the order the writer lays them out. */
/* AUTH mechanisms a table lists at most (PLAIN, LOGIN, SCRAM, and 0). */
#define PTAB_MECHS_MAX	4

enum ptab_section {
	PTAB_SEC_STRINGS = 1,	/* NUL-terminated strings; offset 0 is "" */
	PTAB_SEC_SERVER,	/* one struct ptab_server_rec */
	PTAB_SEC_LISTENERS,	/* struct ptab_listener_rec[] */
	PTAB_SEC_RULES,		/* struct ptab_rule_rec[]; [0] is default */
	PTAB_SEC_LISTS,		/* struct ptab_list_rec[] */
	PTAB_SEC_V4_INDEX,	/* uint32_t[2^b + 1], see below */
	PTAB_SEC_V4_KEYS,	/* uint32_t[], sorted prefix starts */
	PTAB_SEC_V4_ENTRIES,	/* struct ptab_entry_rec[], parallel */
	PTAB_SEC_V6_INDEX,	/* uint32_t[2^b + 1] */
	PTAB_SEC_V6_KEYS,	/* struct ptab_v6key[], sorted */
	PTAB_SEC_V6_ENTRIES,	/* struct ptab_entry_rec[], parallel */
	PTAB_SEC_USERS,		/* struct ptab_user_rec[], sorted by name */
	PTAB_SEC_ACCEPT,	/* struct ptab_domain_rec[], sorted by domain */
	PTAB_SEC_OUTBOUND,	/* struct ptab_domain_rec[], sorted by domain */
	PTAB_SEC_BLOBS,		/* sealed secrets, opaque bytes */
	PTAB_SEC_RCPT_LISTS,	/* struct ptab_rcpt_rec[], sorted by name */
	PTAB_SEC_RCPT_SLOTS,	/* uint32_t[]: string or 0, hash slots */
	PTAB_SEC_SENDERS,	/* uint32_t[]: strings, by user */
	PTAB_SEC_PROXY,		/* struct ptab_proxy_rec[], by listener */
	PTAB_SEC_MAX
};

/* Record size of each section (1 for STRINGS and BLOBS), by id. */
extern const uint32_t ptab_recsize[PTAB_SEC_MAX];

struct ptab_header {
	char		magic[8];	/* PTAB_MAGIC */
	uint16_t	version;	/* PTAB_VERSION */
	uint16_t	header_size;	/* PTAB_HEADER_SIZE */
	uint32_t	nsections;	/* entries in the directory */
	uint64_t	size;		/* whole image, bytes */
	uint8_t		checksum[PTAB_CHECKSUM_SIZE];
			/* BLAKE2b-256 (unkeyed) of the whole image with
			 * this field taken as 32 zero bytes */
	uint32_t	flags;		/* 0 */
	uint32_t	reserved;	/* 0 */
};

/* The directory follows the header: nsections of these. */
struct ptab_section_rec {
	uint32_t	id;		/* enum ptab_section; each once */
	uint32_t	count;		/* records (bytes for STRINGS, BLOBS) */
	uint32_t	offset;		/* from image start, 8-aligned */
	uint32_t	length;		/* bytes; count * record size */
};

/* Requirements are a set; deny beats everything. */
#define PTAB_REQ_TLS		0x01
#define PTAB_REQ_AUTH		0x02

enum ptab_action {
	PTAB_ACT_ALLOW = 0,	/* admit, subject to the requirements */
	PTAB_ACT_DENY = 1	/* 554 5.7.1 at the greeting */
};

/* Rule flags. */
#define PTAB_RULE_RELAY		0x01	/* may relay without AUTH */
#define PTAB_RULE_CLEARTEXT	0x02	/* AUTH allowed without TLS */

enum ptab_rule_kind {
	PTAB_RULE_DEFAULT = 0,	/* the `default` statement (rule 0 only) */
	PTAB_RULE_ADDR = 1,	/* host PREFIX ... */
	PTAB_RULE_LIST = 2	/* host <list> ... */
};

struct ptab_rule_rec {
	uint32_t	line;		/* source line; 0: implicit default */
	uint8_t		kind;		/* enum ptab_rule_kind */
	uint8_t		action;		/* enum ptab_action */
	uint8_t		require;	/* PTAB_REQ_* bits */
	uint8_t		flags;		/* PTAB_RULE_* bits */
	uint32_t	list;		/* LIST: index into LISTS; else NONE */
	uint32_t	as_user;	/* string: the only account, or 0 */
	uint8_t		family;		/* ADDR: ADDR_V4/ADDR_V6; else 0 */
	uint8_t		plen;		/* ADDR: prefix length */
	uint8_t		pad[2];		/* 0 */
	uint8_t		prefix[16];	/* ADDR: the prefix as written */
};					/* 36 bytes */

struct ptab_list_rec {
	uint32_t	name;		/* string, without the < > */
	uint32_t	line;		/* source line of the list statement */
};

/*
 * Longest-prefix match.  The KEYS arrays hold every prefix's first
 * address, sorted ascending; for equal starts the shorter prefix comes
 * first.  ENTRIES[i] describes KEYS[i].  Then the last key <= the
 * client address names the innermost candidate: if it contains the
 * client it is the most specific match, otherwise the answer is the
 * nearest enclosing prefix along the parent chain that contains it
 * (parents always come earlier and contain their children, so the
 * chain is at most 32 or 128 steps and always ends).
 *
 * INDEX has 2^b + 1 slots for some b in 0..16 (the writer picks b
 * from the number of keys, so that a small table stays small; the
 * reader takes b from the section's count).  INDEX[h] is the number of
 * keys whose top b bits are below h, for h = 0..2^b, so a lookup
 * binary-searches only keys[INDEX[h] .. INDEX[h+1]) and falls back to
 * key INDEX[h]-1 when none there is <= the address.
 */
#define PTAB_INDEX_MAXBITS	16
#define PTAB_INDEX_SLOTS	65537	/* at most: 2^16 + 1 */

struct ptab_entry_rec {
	uint32_t	parent;		/* enclosing prefix's index, or NONE */
	uint32_t	rule_len;	/* rule index << 8 | prefix length */
};

#define PTAB_ENTRY_RULE(e)	((e)->rule_len >> 8)
#define PTAB_ENTRY_LEN(e)	((e)->rule_len & 0xffu)
#define PTAB_MAX_RULES		0x00ffffffu

struct ptab_v6key {
	uint64_t	hi;		/* first 8 bytes, big-endian number */
	uint64_t	lo;		/* last 8 bytes, big-endian number */
};

/*
 * A user's senders are nsenders strings at SENDERS[senders], sorted by
 * strcmp without repeats, each lower case: "local@domain" or "@domain".
 * nsenders 0: the user may send as anyone (then senders is 0).
 */
struct ptab_user_rec {
	uint32_t	name;		/* string */
	uint32_t	verifier;	/* string: SCRAM or argon2id */
	uint32_t	line;
	uint32_t	nsenders;
	uint32_t	senders;	/* first index into SENDERS */
};					/* 20 bytes */

enum ptab_tls_level {
	PTAB_TLS_NONE = 0,
	PTAB_TLS_OPPORTUNISTIC = 1,
	PTAB_TLS_REQUIRED = 2,		/* encrypt, no certificate check */
	PTAB_TLS_VERIFY = 3		/* chain to `tls trust`, name checked */
};

enum ptab_mech {
	PTAB_MECH_NONE = 0,
	PTAB_MECH_PLAIN = 1,
	PTAB_MECH_LOGIN = 2,
	PTAB_MECH_SCRAM_SHA_256 = 3
};

enum ptab_delivery {
	PTAB_DELIVER_MAILDIR = 1,	/* accept: target is a path with %u */
	PTAB_DELIVER_FORWARD = 2,	/* accept: target is the next hop */
	PTAB_DELIVER_RELAY = 3		/* outbound: target is host, 0 = mx */
};

/*
 * ACCEPT and OUTBOUND share one record.  domain is lower case: an exact
 * name ("sf.example"), a suffix that matches any subdomain
 * (".sf.example"), or "*".  Each array is sorted by strcmp of domain
 * with no repeats; lookup tries the exact name, then each suffix from
 * the longest, then "*".
 */
struct ptab_domain_rec {
	uint32_t	domain;		/* string */
	uint32_t	line;
	uint8_t		delivery;	/* enum ptab_delivery */
	uint8_t		tls;		/* enum ptab_tls_level */
	uint16_t	port;		/* FORWARD, RELAY: next hop port */
	uint32_t	target;		/* string: path, or host (0: mx) */
	uint8_t		mech;		/* enum ptab_mech, outbound auth */
	uint8_t		rcpts;		/* enum ptab_rcpts (accept only) */
	uint8_t		pad[2];		/* 0 */
	uint32_t	user;		/* string: outbound SASL user, or 0 */
	uint32_t	secret;		/* offset in BLOBS, or NONE */
	uint32_t	secret_len;	/* bytes of the sealed secret */
	uint32_t	rcpt_list;	/* RCPTS_LIST: index into RCPT_LISTS;
					 * else NONE */
};					/* 36 bytes */

/* Which local parts an accept rule takes. */
enum ptab_rcpts {
	PTAB_RCPTS_UNSET = 0,	/* no clause (forward only): every one */
	PTAB_RCPTS_ANY = 1,	/* `recipients any` */
	PTAB_RCPTS_LIST = 2	/* `recipients <NAME>`, and postmaster */
};

/*
 * A recipients list: an open-addressing hash set of local parts.  Its
 * nslots slots are RCPT_SLOTS[first .. first + nslots), each a string
 * offset (the local part, lower case) or 0 for an empty slot.  nslots
 * is a power of two, at least twice count (load factor <= 0.5).  A
 * local part lives at slot (ptab_rcpt_hash(part) + k) & (nslots - 1)
 * for the smallest free k, k <= maxprobe <= PTAB_RCPT_MAXPROBE: a
 * lookup stops at an empty slot or after maxprobe + 1 slots.  Lists
 * are sorted by name; their slot ranges follow each other in that
 * order, without gaps.  Quoted local parts keep their quotes.
 */
#define PTAB_RCPT_MAXPROBE	64
#define PTAB_RCPT_PARTMAX	64		/* RFC 5321 4.5.3.1.1 */
#define PTAB_RCPT_MAXSLOTS	0x40000000u	/* 2^30 */

struct ptab_rcpt_rec {
	uint32_t	name;		/* string, without the < > */
	uint32_t	line;		/* source line of the statement */
	uint32_t	first;		/* first slot in RCPT_SLOTS */
	uint32_t	nslots;		/* power of two */
	uint32_t	count;		/* local parts in the set */
	uint32_t	maxprobe;	/* longest probe distance */
};					/* 24 bytes */

/*
 * PROXY-protocol senders of a `proxy from` listener: nproxy prefixes at
 * PROXY[proxy], sorted (family, address, length) without repeats, host
 * bits clear, IPv4-mapped folded to IPv4.
 */
struct ptab_proxy_rec {
	uint8_t		addr[16];	/* network order; v4 in [0..3] */
	uint8_t		family;		/* ADDR_V4 or ADDR_V6 */
	uint8_t		plen;
	uint8_t		pad[2];		/* 0 */
};					/* 20 bytes */

struct ptab_listener_rec {
	uint8_t		addr[16];	/* network order; v4 in [0..3] */
	uint8_t		family;		/* ADDR_V4 or ADDR_V6 */
	uint8_t		tls;		/* 1: implicit TLS (RFC 8314) */
	uint8_t		require;	/* PTAB_REQ_* floor for this port */
	uint8_t		proxy;		/* 1: PROXY header required */
	uint16_t	port;
	uint16_t	pad2;		/* 0 */
	uint32_t	line;
	uint32_t	proxy_list;	/* LISTS index the set came from, or
					 * NONE (a prefix, or no proxy) */
	uint32_t	nproxy;		/* proxy: prefixes at PROXY[...] */
	uint32_t	proxy_first;	/* first index into PROXY, or 0 */
};					/* 40 bytes */

/* Server settings, each with the source line that set it (0: default). */
enum ptab_setting {
	PTAB_SET_HOSTNAME = 0,
	PTAB_SET_CERT,		/* tls certificate "c" key "k" */
	PTAB_SET_TRUST,		/* tls trust "ca" */
	PTAB_SET_SPOOL,
	PTAB_SET_LOG,
	PTAB_SET_RUNAS,
	PTAB_SET_MSGSIZE,	/* limit message-size */
	PTAB_SET_RCPTS,		/* limit recipients */
	PTAB_SET_CONNS,		/* limit connections N per-host M */
	PTAB_SET_AUTHFAIL,	/* limit auth-failures */
	PTAB_SET_TO_COMMAND,	/* timeout command */
	PTAB_SET_TO_DATA,	/* timeout data */
	PTAB_SET_TO_CONNECT,	/* timeout connect (outbound) */
	PTAB_SET_QUEUE,		/* queue lifetime L retry R */
	PTAB_SET_MECHS,		/* top level: auth mechanisms ... */
	PTAB_SET_CONTROL,	/* control "path" */
	PTAB_SET_MAX
};

/* Defaults when the policy leaves a setting out. */
#define PTAB_DEF_PORT		25
#define PTAB_DEF_MSGSIZE	(10u * 1024 * 1024)
#define PTAB_DEF_RCPTS		100
#define PTAB_DEF_CONNS		100
#define PTAB_DEF_CONNS_HOST	10
#define PTAB_DEF_AUTHFAIL	3
#define PTAB_DEF_TO_COMMAND	300	/* RFC 5321 4.5.3.2, seconds */
#define PTAB_DEF_TO_DATA	600
#define PTAB_DEF_TO_CONNECT	30
#define PTAB_DEF_LIFETIME	(5u * 86400)
#define PTAB_DEF_RETRY		300
#define PTAB_MAX_MECHS		3

struct ptab_server_rec {
	uint32_t	hostname;	/* strings; 0 when unset */
	uint32_t	cert;
	uint32_t	key;
	uint32_t	trust;
	uint32_t	spool;
	uint32_t	log;
	uint32_t	runas;
	uint32_t	max_rcpts;
	uint64_t	max_msgsize;	/* bytes */
	uint32_t	max_conns;
	uint32_t	max_conns_host;
	uint32_t	max_authfail;
	uint32_t	to_command;	/* seconds */
	uint32_t	to_data;
	uint32_t	to_connect;
	uint32_t	lifetime;	/* seconds */
	uint32_t	retry;
	uint8_t		mechs[PTAB_MECHS_MAX];	/* enum ptab_mech, in
					 * order, 0-ended */
	uint32_t	control;	/* string: control socket, or 0 */
	uint32_t	line[PTAB_SET_MAX];
};					/* 144 bytes */

/* The record sizes are part of the format: doc/table-format.md. */
_Static_assert(sizeof(struct ptab_header) == 64, "ptab_header");
_Static_assert(sizeof(struct ptab_section_rec) == 16, "ptab_section_rec");
_Static_assert(sizeof(struct ptab_rule_rec) == 36, "ptab_rule_rec");
_Static_assert(sizeof(struct ptab_list_rec) == 8, "ptab_list_rec");
_Static_assert(sizeof(struct ptab_entry_rec) == 8, "ptab_entry_rec");
_Static_assert(sizeof(struct ptab_v6key) == 16, "ptab_v6key");
_Static_assert(sizeof(struct ptab_user_rec) == 20, "ptab_user_rec");
_Static_assert(sizeof(struct ptab_domain_rec) == 36, "ptab_domain_rec");
_Static_assert(sizeof(struct ptab_listener_rec) == 40, "ptab_listener_rec");
_Static_assert(sizeof(struct ptab_rcpt_rec) == 24, "ptab_rcpt_rec");
_Static_assert(sizeof(struct ptab_proxy_rec) == 20, "ptab_proxy_rec");
_Static_assert(sizeof(struct ptab_server_rec) == 144, "ptab_server_rec");

/* ---- Reader ---------------------------------------------------------- */

struct ptab {
	const uint8_t			*base;
	size_t				 size;
	int				 mapped;	/* munmap on close */
	const struct ptab_header	*hdr;
	const char			*str;
	uint32_t			 strsize;
	const struct ptab_server_rec	*server;
	const struct ptab_listener_rec	*listeners;
	uint32_t			 nlisteners;
	const struct ptab_rule_rec	*rules;
	uint32_t			 nrules;
	const struct ptab_list_rec	*lists;
	uint32_t			 nlists;
	const uint32_t			*v4index;	/* 2^b + 1 */
	const uint32_t			*v4keys;
	const struct ptab_entry_rec	*v4ent;
	uint32_t			 nv4;
	const uint32_t			*v6index;
	const struct ptab_v6key		*v6keys;
	const struct ptab_entry_rec	*v6ent;
	uint32_t			 nv6;
	uint8_t				 v4shift;	/* 16 - b */
	uint8_t				 v6shift;
	const struct ptab_user_rec	*users;
	uint32_t			 nusers;
	const struct ptab_domain_rec	*accept;
	uint32_t			 naccept;
	const struct ptab_domain_rec	*outbound;
	uint32_t			 noutbound;
	const uint8_t			*blobs;
	uint32_t			 nblobs;
	const struct ptab_rcpt_rec	*rcpts;
	uint32_t			 nrcpts;
	const uint32_t			*rslots;
	uint32_t			 nrslots;
	const uint32_t			*senders;
	uint32_t			 nsenders;
	const struct ptab_proxy_rec	*proxy;
	uint32_t			 nproxy;
	char				 sum[17];	/* checksum, 16 hex */
};

/*
 * Read the file at path into a private read-only image (a sealed
 * memfd, else an anonymous copy) and validate it (ptab_load): the file
 * may be truncated or rewritten in place afterwards without changing
 * what t answers.  On failure the reason ("bad checksum", "section 7
 * runs past the end", ...) goes to err and t is left closed.  Returns
 * 0 or -1.
 */
int	ptab_open(struct ptab *t, const char *path, char *err,
	    size_t errlen) __attribute__((warn_unused_result));

/*
 * Validate the len bytes at buf as a table and fill t to point into
 * them (the caller keeps buf alive).  Every offset, length, string
 * reference, index, ordering and the checksum are checked here, once.
 * Returns 0 or -1 with the reason in err.
 */
int	ptab_load(struct ptab *t, const void *buf, size_t len, char *err,
	    size_t errlen) __attribute__((warn_unused_result));

void	ptab_close(struct ptab *t);

/*
 * Open every sealed secret in t (the outbound routes' passwords) once
 * with key, to find a table that cannot send its credentials at start
 * rather than at the first delivery.  key may be NULL: a table that
 * holds a secret then fails with "no key given".  The first failure
 * names the route (domain and source line) and, for a key mismatch,
 * both key ids, the token's first.  The secrets are wiped at once.
 * Returns 0 when every secret opens (or there is none), -1 otherwise.
 */
struct seal_key;
int	ptab_open_secrets(const struct ptab *t, const struct seal_key *key,
	    char *err, size_t errlen) __attribute__((warn_unused_result));

/* The string at offset off (validated at load: always NUL-terminated). */
const char *ptab_str(const struct ptab *t, uint32_t off);

/*
 * The rule that decides for client address a (a host address; an
 * IPv4-mapped IPv6 one is looked up as IPv4).  Returns the rule index
 * (0, the default, when no prefix contains a); *entry gets the index
 * of the deciding prefix in the v4 or v6 arrays, or PTAB_NONE.
 */
uint32_t ptab_host_lookup(const struct ptab *t, const struct addr *a,
	    uint32_t *entry);

/* Prefix i of the v4 (family ADDR_V4) or v6 arrays, as an addr. */
void	ptab_entry_addr(const struct ptab *t, int family, uint32_t i,
	    struct addr *out);

/*
 * Domain lookups: exact, then the longest ".suffix", then "*".  The
 * domain need not be NUL-terminated nor lower case.  NULL: no match.
 */
const struct ptab_domain_rec *ptab_accept_lookup(const struct ptab *t,
	    const char *domain, size_t len);
const struct ptab_domain_rec *ptab_outbound_lookup(const struct ptab *t,
	    const char *domain, size_t len);

/* The user record for name, or NULL. */
const struct ptab_user_rec *ptab_user_lookup(const struct ptab *t,
	    const char *name, size_t len);

/*
 * The hash of a recipients list: FNV-1a of the bytes lower-cased
 * (ASCII), then mixed so the low bits depend on every byte.  Part of
 * the format: the writer places and the reader finds with it.
 */
uint32_t ptab_rcpt_hash(const char *local, size_t len);

/*
 * Is the local part (len bytes, any case) in recipients list i?
 * Returns 1 or 0.
 */
int	ptab_rcpt_in(const struct ptab *t, uint32_t i, const char *local,
	    size_t len);

/*
 * Does accept rule d take the local part (len bytes, any case)?  An
 * accept rule without a list, or with `recipients any`, takes every
 * one; a list takes its members and "postmaster" (RFC 5321 4.5.1).
 * Returns 1 or 0.
 */
int	ptab_rcpt_known(const struct ptab *t, const struct ptab_domain_rec *d,
	    const char *local, size_t len);

/* "postmaster" in any case? */
int	ptab_rcpt_postmaster(const char *local, size_t len);

/*
 * May user u use the address (len bytes, "local@domain" or "" for <>)
 * as MAIL FROM?  A user without senders may use any; <> is always
 * allowed; otherwise the address must equal one of the user's senders
 * or be at one of its "@domain"s, ASCII case-insensitively.  Returns 1
 * or 0.
 */
int	ptab_sender_ok(const struct ptab *t, const struct ptab_user_rec *u,
	    const char *addr, size_t len);

/*
 * Is client address a (the connection's source) one of listener l's
 * PROXY senders?  Returns 1 or 0 (0 as well for a listener without
 * `proxy from`).
 */
int	ptab_listener_proxy(const struct ptab *t,
	    const struct ptab_listener_rec *l, const struct addr *a);

/* ---- Writer ---------------------------------------------------------- */

/*
 * The compiler's semantic pass fills a builder with resolved, checked
 * values; ptab_build() sorts, lays out and checksums the image.  Strings
 * are copied; the caller's may go away after each call.
 */
struct ptab_builder;

struct ptab_server_in {
	const char	*hostname, *cert, *key, *trust;
	const char	*spool, *log, *runas;	/* NULL when unset */
	uint64_t	 max_msgsize;
	uint32_t	 max_rcpts, max_conns, max_conns_host, max_authfail;
	uint32_t	 to_command, to_data, to_connect;
	uint32_t	 lifetime, retry;
	uint8_t		 mechs[PTAB_MECHS_MAX];
	const char	*control;	/* NULL when unset */
	uint32_t	 line[PTAB_SET_MAX];
};

struct ptab_listener_in {
	struct addr	 addr;
	uint16_t	 port;
	int		 tls;
	uint8_t		 require;
	uint32_t	 line;
	int		 proxy;		/* `proxy from` given */
	uint32_t	 proxy_list;	/* its list's id, or PTAB_NONE */
	const struct addr *proxy_pfx;	/* the set */
	size_t		 nproxy;
};

struct ptab_rule_in {
	uint32_t	 line;
	uint8_t		 kind, action, require, flags;
	uint32_t	 list;		/* LIST: from ptab_builder_list() */
	const char	*as_user;	/* NULL for none */
	struct addr	 prefix;	/* ADDR: the prefix */
};

struct ptab_domain_in {
	const char	*domain;	/* lower case, checked */
	uint32_t	 line;
	uint8_t		 delivery, tls, mech;
	uint8_t		 rcpts;		/* enum ptab_rcpts (accept) */
	uint32_t	 rcpt_list;	/* LIST: from ptab_builder_rcpts() */
	uint16_t	 port;
	const char	*target;	/* NULL: mx */
	const char	*user;		/* NULL for none */
	const uint8_t	*secret;	/* sealed bytes, or NULL */
	size_t		 secret_len;
};

/*
 * Called by ptab_build() for each prefix that two rules share.  The
 * rule with the lower line keeps it; same_effect says whether the two
 * rules treat a client alike (then it is only redundant).
 */
typedef void ptab_conflict_fn(void *ctx, const struct addr *prefix,
	    uint32_t kept_rule, uint32_t dropped_rule, int same_effect);

struct ptab_builder *ptab_builder_new(void)
	    __attribute__((warn_unused_result));
void	ptab_builder_free(struct ptab_builder *b);

/*
 * Each returns 0, or -1 on allocation failure, a full table or a value
 * the reader would refuse.  A numeric server setting of 0 means "left
 * out" and gets its PTAB_DEF_* default; mechs[0] == 0 keeps the default
 * "scram-sha-256 plain login".
 */
int	ptab_builder_server(struct ptab_builder *b,
	    const struct ptab_server_in *s) __attribute__((warn_unused_result));
int	ptab_builder_listener(struct ptab_builder *b,
	    const struct ptab_listener_in *l)
	    __attribute__((warn_unused_result));
/* Rule 0, the default; call once (else an implicit "require none"). */
int	ptab_builder_default(struct ptab_builder *b, uint32_t line,
	    uint8_t action, uint8_t require, uint8_t flags,
	    const char *as_user) __attribute__((warn_unused_result));
/* Returns the new list's index in *id. */
int	ptab_builder_list(struct ptab_builder *b, const char *name,
	    uint32_t line, uint32_t *id) __attribute__((warn_unused_result));
/*
 * Returns the new rule's index (>= 1) in *id.  An ADDR rule's own
 * prefix goes in with it: no ptab_builder_prefix() call is needed.
 */
int	ptab_builder_rule(struct ptab_builder *b,
	    const struct ptab_rule_in *r, uint32_t *id)
	    __attribute__((warn_unused_result));
/*
 * A prefix that LIST rule id applies to (host bits are cleared, a
 * mapped ::ffff:a.b.c.d/96+ is folded).  The same prefix twice for one
 * rule is harmless; for an ADDR rule only its own prefix is accepted.
 */
int	ptab_builder_prefix(struct ptab_builder *b, uint32_t rule,
	    const struct addr *prefix) __attribute__((warn_unused_result));
/*
 * senders: nsenders lower-case "local@domain" or "@domain" strings
 * (nsenders 0: the user may send as anyone).
 */
int	ptab_builder_user(struct ptab_builder *b, const char *name,
	    const char *verifier, uint32_t line,
	    const char *const *senders, size_t nsenders)
	    __attribute__((warn_unused_result));
/*
 * A recipients list of n local parts (ASCII letters are folded to
 * lower case; repeats are harmless).  Returns its id in *id, for
 * ptab_domain_in.rcpt_list.
 */
int	ptab_builder_rcpts(struct ptab_builder *b, const char *name,
	    uint32_t line, const char *const *parts, size_t n, uint32_t *id)
	    __attribute__((warn_unused_result));
int	ptab_builder_accept(struct ptab_builder *b,
	    const struct ptab_domain_in *d) __attribute__((warn_unused_result));
int	ptab_builder_outbound(struct ptab_builder *b,
	    const struct ptab_domain_in *d) __attribute__((warn_unused_result));

/*
 * Lay out the image into a malloc'd buffer (*out, *outlen).  conflict
 * (may be NULL) hears of every shared prefix.  Returns 0, or -1 with
 * the reason in err.
 */
int	ptab_build(struct ptab_builder *b, ptab_conflict_fn *conflict,
	    void *ctx, uint8_t **out, size_t *outlen, char *err,
	    size_t errlen) __attribute__((warn_unused_result));

/*
 * Write buf to path atomically: a temporary file beside it, fsync,
 * rename, fsync of the directory.  Returns 0 or -1 with the reason.
 */
int	ptab_write_file(const char *path, const uint8_t *buf, size_t len,
	    char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
