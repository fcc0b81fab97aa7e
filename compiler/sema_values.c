/*
 * sema_values: the semantic pass's checks of single values, each a word
 * of the tree: numbers, sizes, durations, levels, addresses and
 * prefixes, domains and next hops, names and paths, sealed tokens; and
 * the messages every part of the pass reports with.  Each check says
 * what is wrong with the word in the words of the policy language and
 * returns the converted value; none looks beyond its word.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "bastion_limits.h"
#include "ptab.h"
#include "seal.h"
#include "sema.h"
#include "sema_int.h"

static const char *const sema_level_names[] = {
	"none", "tls", "auth", "auth+tls", "tls+auth"
};
static const uint8_t sema_level_bits[] = {
	0, PTAB_REQ_TLS, PTAB_REQ_AUTH, PTAB_REQ_TLS | PTAB_REQ_AUTH,
	PTAB_REQ_TLS | PTAB_REQ_AUTH
};

static size_t	sema_digits(const struct ast_word *, uint64_t *);

/* ---- Messages ----------------------------------------------------------- */

void
sema_err(struct sema *s, const struct srcloc *loc, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	diag_vreport(s->diag, DIAG_ERROR, s->file, loc, fmt, ap);
	va_end(ap);
}

void
sema_warn(struct sema *s, const struct srcloc *loc, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	diag_vreport(s->diag, DIAG_WARNING, s->file, loc, fmt, ap);
	va_end(ap);
}

void
sema_note(struct sema *s, const struct srcloc *loc, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	diag_vreport(s->diag, DIAG_NOTE, s->file, loc, fmt, ap);
	va_end(ap);
}

/*
 * User text for a message: printable, and cut short with "..." so that
 * a 4K string does not make a 4K line.  buf has SEMA_QUOTE + 4 bytes.
 */
const char *
sema_q(char *buf, const char *s, size_t n)
{
	size_t	 i, m = n > SEMA_QUOTE ? SEMA_QUOTE : n;

	for (i = 0; i < m; i++) {
		unsigned char	 c = (unsigned char)s[i];

		buf[i] = (c >= 0x20 && c != 0x7f) ? (char)c : '?';
	}
	if (m < n) {
		memcpy(buf + m, "...", 3);
		m += 3;
	}
	buf[m] = '\0';
	return buf;
}

/* A clause or setting given twice in one place. */
int
sema_once(struct sema *s, struct ast_node **seen, struct ast_node *n,
    const char *what)
{
	if (*seen == NULL) {
		*seen = n;
		return 1;
	}
	sema_err(s, &n->loc, "'%s' is given twice", what);
	sema_note(s, &(*seen)->loc, "the first is here");
	return 0;
}

/* ---- Values ------------------------------------------------------------- */

/* The index of w among names, or -1 with a message and a suggestion. */
int
sema_oneof(struct sema *s, const struct ast_word *w, const char *what,
    const char *const *names, size_t n)
{
	const char	*near;
	char		 q[SEMA_QUOTE + 4], list[128];
	size_t		 i, off = 0;

	for (i = 0; i < n; i++)
		if (strcmp(w->s, names[i]) == 0)
			return (int)i;
	near = ast_nearest(w->s, w->len, names, n);
	if (near != NULL) {
		sema_err(s, &w->loc, "unknown %s '%s'; did you mean '%s'?",
		    what, sema_q(q, w->s, w->len), near);
		return -1;
	}
	list[0] = '\0';
	for (i = 0; i < n && off < sizeof(list); i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off,
		    "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ",
		    names[i]);
	sema_err(s, &w->loc, "unknown %s '%s'; expected %s", what,
	    sema_q(q, w->s, w->len), list);
	return -1;
}

/* Leading decimal digits of w into *v (saturating); their count. */
static size_t
sema_digits(const struct ast_word *w, uint64_t *v)
{
	size_t	 i;

	*v = 0;
	for (i = 0; i < w->len && w->s[i] >= '0' && w->s[i] <= '9'; i++) {
		if (*v > (UINT64_MAX - 9) / 10)
			*v = UINT64_MAX;
		else
			*v = *v * 10 + (uint64_t)(w->s[i] - '0');
	}
	return i;
}

int
sema_u32(struct sema *s, const struct ast_word *w, const char *what,
    uint32_t min, uint32_t max, uint32_t *out)
{
	char		 q[SEMA_QUOTE + 4];
	uint64_t	 v;
	size_t		 n;

	n = sema_digits(w, &v);
	if (n == 0 || n != w->len) {
		sema_err(s, &w->loc, "%s must be a number, not '%s'", what,
		    sema_q(q, w->s, w->len));
		return -1;
	}
	if (v < min || v > max) {
		sema_err(s, &w->loc, "%s %s is out of range (%lu to %lu)",
		    what, sema_q(q, w->s, w->len), (unsigned long)min,
		    (unsigned long)max);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

/* N, NK, NM, NG: bytes, powers of 1024. */
int
sema_size(struct sema *s, const struct ast_word *w, uint64_t min,
    uint64_t max, uint64_t *out)
{
	char		 q[SEMA_QUOTE + 4];
	uint64_t	 v;
	size_t		 n;
	unsigned	 shift = 0;

	n = sema_digits(w, &v);
	if (n > 0 && n + 1 == w->len) {
		switch (w->s[n]) {
		case 'K':
			shift = 10;
			break;
		case 'M':
			shift = 20;
			break;
		case 'G':
			shift = 30;
			break;
		case 'k':
		case 'm':
		case 'g':
			sema_err(s, &w->loc, "bad size '%s': the units are "
			    "upper case (K, M, G)", sema_q(q, w->s, w->len));
			return -1;
		default:
			n = 0;
			break;
		}
	} else if (n != w->len)
		n = 0;
	if (n == 0) {
		sema_err(s, &w->loc, "bad size '%s': expected a number of "
		    "bytes with an optional K, M or G", sema_q(q, w->s,
		    w->len));
		return -1;
	}
	if (v > (max >> shift)) {
		sema_err(s, &w->loc, "size '%s' is too large",
		    sema_q(q, w->s, w->len));
		return -1;
	}
	if (v << shift < min) {
		sema_err(s, &w->loc, "size must be at least %llu byte%s",
		    (unsigned long long)min, min == 1 ? "" : "s");
		return -1;
	}
	*out = v << shift;
	return 0;
}

/* N (seconds), Ns, Nm, Nh, Nd. */
int
sema_duration(struct sema *s, const struct ast_word *w, uint32_t min,
    uint32_t max, uint32_t *out)
{
	char		 q[SEMA_QUOTE + 4];
	uint64_t	 v, mul = 1;
	size_t		 n;

	n = sema_digits(w, &v);
	if (n > 0 && n + 1 == w->len) {
		switch (w->s[n]) {
		case 's':
			break;
		case 'm':
			mul = 60;
			break;
		case 'h':
			mul = 3600;
			break;
		case 'd':
			mul = 86400;
			break;
		case 'S':
		case 'M':
		case 'H':
		case 'D':
			sema_err(s, &w->loc, "bad duration '%s': the units "
			    "are lower case (s, m, h, d)",
			    sema_q(q, w->s, w->len));
			return -1;
		default:
			n = 0;
			break;
		}
	} else if (n != w->len)
		n = 0;
	if (n == 0) {
		sema_err(s, &w->loc, "bad duration '%s': expected a number "
		    "of seconds, or a number with s, m, h or d",
		    sema_q(q, w->s, w->len));
		return -1;
	}
	if (v > max / mul) {
		sema_err(s, &w->loc, "duration '%s' is too long",
		    sema_q(q, w->s, w->len));
		return -1;
	}
	if (v * mul < min) {
		sema_err(s, &w->loc, "duration must be at least %lus",
		    (unsigned long)min);
		return -1;
	}
	*out = (uint32_t)(v * mul);
	return 0;
}

int
sema_level(struct sema *s, const struct ast_word *w, uint8_t *out)
{
	int	 i;

	i = sema_oneof(s, w, "level", sema_level_names,
	    sizeof(sema_level_names) / sizeof(sema_level_names[0]));
	if (i < 0)
		return -1;
	*out = sema_level_bits[i];
	return 0;
}

/* An address or prefix, host bits clear, in source file. */
int
sema_prefix(struct sema *s, int file, const char *p, size_t n,
    const struct srcloc *loc, struct addr *out)
{
	char	 err[LIM_ERRMSG];

	if (addr_parse(p, n, 0, out, err, sizeof(err)) == -1) {
		diag_error(s->diag, file, loc, "%s", err);
		return -1;
	}
	return 0;
}

/*
 * Why the n bytes at d are not a domain name (without the leading dot
 * of a suffix), or NULL if they are one.
 */
const char *
sema_domain_reason(const char *d, size_t n, int upper_ok)
{
	size_t	 i, label = 0;

	if (n == 0)
		return "it is empty";
	if (n > LIM_DOMAIN)
		return "it is longer than 253 characters";
	for (i = 0; i <= n; i++) {
		char	 c = i < n ? d[i] : '.';

		if (c == '.') {
			if (label == 0)
				return i == n ? "it ends with '.'" :
				    "it has an empty label";
			if (d[i - 1] == '-')
				return "a label ends with '-'";
			label = 0;
			continue;
		}
		if (label == 0 && c == '-')
			return "a label starts with '-'";
		if (++label > LIM_LABEL)
			return "a label is longer than 63 characters";
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || (upper_ok && c >= 'A' && c <= 'Z'))
			continue;
		return "only letters, digits, '-' and '.' may appear in it";
	}
	return NULL;
}

/*
 * A domain as written in accept, outbound or hostname: lower-cased copy
 * in the arena, or NULL (reported).  flags: SEMA_DOM_*.
 */
const char *
sema_domain(struct sema *s, const struct ast_word *w, int flags,
    const char *what)
{
	char		 q[SEMA_QUOTE + 4], *d;
	const char	*why, *p = w->s;
	size_t		 i, n = w->len;

	if (n == 1 && p[0] == '*') {
		if (!(flags & SEMA_DOM_ANY)) {
			sema_err(s, &w->loc, "%s cannot be '*'", what);
			return NULL;
		}
		return "*";
	}
	if (n > 0 && p[0] == '.') {
		if (!(flags & SEMA_DOM_SUFFIX)) {
			sema_err(s, &w->loc, "%s cannot be a '.suffix'",
			    what);
			return NULL;
		}
		p++;
		n--;
	}
	if ((why = sema_domain_reason(p, n, 1)) != NULL) {
		sema_err(s, &w->loc, "bad %s '%s': %s", what,
		    sema_q(q, w->s, w->len), why);
		return NULL;
	}
	if ((d = ast_strndup(s->arena, w->s, w->len)) == NULL)
		return NULL;
	for (i = 0; i < w->len; i++)
		if (d[i] >= 'A' && d[i] <= 'Z')
			d[i] = (char)(d[i] - 'A' + 'a');
	return d;
}

/* A next hop: an IP address (kept in its canonical form) or a name. */
const char *
sema_nexthop(struct sema *s, const struct ast_word *w)
{
	struct addr	 a;
	char		 buf[ADDR_STRLEN], q[SEMA_QUOTE + 4];
	size_t		 i;
	int		 ip = 1;

	for (i = 0; i < w->len; i++)
		if (w->s[i] != '.' && !(w->s[i] >= '0' && w->s[i] <= '9'))
			ip = 0;
	if (memchr(w->s, ':', w->len) != NULL)
		ip = 1;
	if (memchr(w->s, '/', w->len) != NULL) {
		sema_err(s, &w->loc, "a next hop is an address or a host "
		    "name, not a prefix like '%s'", sema_q(q, w->s, w->len));
		return NULL;
	}
	if (!ip)
		return sema_domain(s, w, 0, "host name");
	if (sema_prefix(s, s->file, w->s, w->len, &w->loc, &a) == -1)
		return NULL;
	addr_format(&a, buf, sizeof(buf));
	return ast_strndup(s->arena, buf, strlen(buf));
}

/* A file name in a setting: not empty. */
const char *
sema_path(struct sema *s, const struct ast_word *w, const char *what)
{
	if (w->len == 0) {
		sema_err(s, &w->loc, "%s cannot be an empty string", what);
		return NULL;
	}
	return w->s;
}

const char *
sema_username(struct sema *s, const struct ast_word *w, const char *what)
{
	if (w->len == 0) {
		sema_err(s, &w->loc, "%s cannot be an empty string", what);
		return NULL;
	}
	if (w->len > LIM_USERNAME) {
		sema_err(s, &w->loc, "%s is longer than %u bytes", what,
		    (unsigned)LIM_USERNAME);
		return NULL;
	}
	return w->s;
}

/* password sealed:...: decoded, and checked against -k's key. */
int
sema_secret(struct sema *s, const struct ast_word *w,
    struct ptab_domain_in *in)
{
	char		 err[LIM_ERRMSG], a[SEAL_KEYID_HEXLEN + 1];
	char		 b[SEAL_KEYID_HEXLEN + 1];
	uint8_t		*bytes;
	long		 n;

	if (w->string) {
		sema_err(s, &w->loc, "a password is never written in clear: "
		    "seal it with 'policyc seal' and write the sealed: "
		    "token, unquoted");
		return -1;
	}
	if ((bytes = ast_alloc(s->arena, SEAL_MAX_SEALED)) == NULL)
		return -1;
	n = seal_token_decode(w->s, w->len, bytes, SEAL_MAX_SEALED, err,
	    sizeof(err));
	if (n < 0) {
		sema_err(s, &w->loc, "bad sealed password: %s", err);
		return -1;
	}
	if (s->pub_loaded == 1 &&
	    memcmp(bytes, s->pub_id, SEAL_KEYID_SIZE) != 0) {
		seal_keyid_hex(bytes, a);
		seal_keyid_hex(s->pub_id, b);
		sema_err(s, &w->loc, "this password was sealed for key %s, "
		    "but %s is key %s", a, s->opts->pubkey, b);
		return -1;
	}
	in->secret = bytes;
	in->secret_len = (size_t)n;
	return 0;
}

/*
 * A list's name (lists of addresses and of recipients): a letter or
 * '_' first, then letters, digits, '_' or '-'.  what names the kind
 * in the error ("list", "recipients list").  1 if good, else 0,
 * reported.
 */
int
sema_ident(struct sema *s, const struct ast_word *name, const char *what)
{
	char	 q[SEMA_QUOTE + 4];
	size_t	 i;
	int	 ok;

	ok = name->len > 0 && name->len <= LIM_IDENT;
	for (i = 0; ok && i < name->len; i++) {
		char	 c = name->s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || (i > 0 && ((c >= '0' && c <= '9') ||
		    c == '-'))))
			ok = 0;
	}
	if (!ok)
		sema_err(s, &name->loc, "bad %s name '%s': a letter or '_' "
		    "first, then letters, digits, '_' or '-' (at most %u)",
		    what, sema_q(q, name->s, name->len), (unsigned)LIM_IDENT);
	return ok;
}
