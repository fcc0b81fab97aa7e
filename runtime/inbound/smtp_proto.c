/*
 * smtp_proto: command-line framing, command parsing and the DATA state
 * machine (see smtp_proto.h).  Nothing here allocates or keeps state
 * beyond what the caller hands in.
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>

#include <string.h>

#include "smtp_proto.h"

static int	ci_prefix(const char *, size_t, const char *);
static int	parse_path(const char *, size_t, int, struct smtp_cmd *,
		    size_t *);
static int	local_ok(const char *, size_t);
static int	literal_ok(const char *, size_t);
static int	parse_params(const char *, size_t, struct smtp_cmd *,
		    const char **);
static int	parse_envelope(struct smtp_cmd *, const char *, int,
		    const char *, const char *, const char **);
static void	data_hops(struct smtp_data *, const char *, size_t);

static const char *const verb_names[SMTP_NVERBS] = {
	"?", "HELO", "EHLO", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT",
	"VRFY", "EXPN", "HELP", "STARTTLS", "AUTH", "BDAT"
};

/* Verbs that take no argument at all. */
static const unsigned char no_args[SMTP_NVERBS] = {
	[SMTP_DATA] = 1, [SMTP_RSET] = 1, [SMTP_QUIT] = 1,
	[SMTP_STARTTLS] = 1
};

enum smtp_line
smtp_line_scan(const char *buf, size_t n, size_t max, size_t *len,
    size_t *used)
{
	const char	*lf, *nul;
	size_t		 i, scan;

	*len = 0;
	*used = 0;
	/* Look no further than the limit allows, plus the CRLF. */
	scan = n < max ? n : max;
	lf = memchr(buf, '\n', scan);
	nul = memchr(buf, '\0', lf != NULL ? (size_t)(lf - buf) : scan);
	if (lf == NULL) {
		if (nul != NULL)
			return SMTP_LINE_NUL;
		/* A CR that is not last can no longer be followed by LF. */
		for (i = 0; i + 1 < scan; i++)
			if (buf[i] == '\r')
				return SMTP_LINE_BARE_CR;
		if (n >= max)
			return SMTP_LINE_LONG;
		return SMTP_LINE_MORE;
	}
	i = (size_t)(lf - buf);
	*used = i + 1;
	if (nul != NULL)
		return SMTP_LINE_NUL;
	if (i == 0 || buf[i - 1] != '\r')
		return SMTP_LINE_BARE_LF;
	if (memchr(buf, '\r', i - 1) != NULL)
		return SMTP_LINE_BARE_CR;
	*len = i - 1;
	return SMTP_LINE_OK;
}

/* Does the n bytes at s begin with word w, ignoring case? */
static int
ci_prefix(const char *s, size_t n, const char *w)
{
	size_t	 i, wl = strlen(w);

	if (n < wl)
		return 0;
	for (i = 0; i < wl; i++) {
		char c = s[i];
		if (c >= 'a' && c <= 'z')
			c -= 'a' - 'A';
		if (c != w[i])
			return 0;
	}
	return 1;
}

/*
 * An address literal (RFC 5321 4.1.3): [IPv4] or [IPv6:...], nothing
 * else.  The General-address-literal form ("tag:dcontent") is refused:
 * no tag but IPv6 is registered, and its dcontent may hold quotes,
 * parentheses and semicolons, which would break the comment and the
 * structure of the Received header that names the client's EHLO.
 * Checking the address with inet_pton makes every literal that passes
 * a plain run of hex digits, dots and colons.
 */
static int
literal_ok(const char *d, size_t n)
{
	char		 buf[64];
	unsigned char	 bin[16];
	size_t		 i;

	if (n < 3 || d[0] != '[' || d[n - 1] != ']' || n - 2 >= sizeof(buf))
		return 0;
	memcpy(buf, d + 1, n - 2);
	buf[n - 2] = '\0';
	if (ci_prefix(buf, n - 2, "IPV6:"))
		return inet_pton(AF_INET6, buf + 5, bin) == 1;
	/*
	 * inet_pton takes only dotted quads of plain decimals; the digit
	 * check keeps a leading zero ("010") from meaning something else
	 * to a reader than it does to us.
	 */
	for (i = 0; buf[i] != '\0'; i++)
		if (buf[i] == '0' && (i == 0 || buf[i - 1] == '.') &&
		    buf[i + 1] >= '0' && buf[i + 1] <= '9')
			return 0;
	return inet_pton(AF_INET, buf, bin) == 1;
}

/* A domain: dot-separated LDH labels, or an address literal [..]. */
int
smtp_domain_ok(const char *d, size_t n)
{
	size_t	 i, label = 0;

	if (n == 0 || n > SMTP_DOMAIN_MAX)
		return 0;
	if (d[0] == '[')
		return literal_ok(d, n);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];
		if (c == '.') {
			if (label == 0 || d[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		/*
		 * Underscores are not LDH, but real hosts put them in
		 * their EHLO names; refusing them buys nothing.
		 */
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
		if (label == 0 && c == '-')
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && d[n - 1] != '-';
}

/* Dot-string or quoted-string (RFC 5321 4.1.2). */
static int
local_ok(const char *s, size_t n)
{
	static const char atext_extra[] = "!#$%&'*+-/=?^_`{|}~";
	size_t	 i;

	if (n == 0 || n > SMTP_LOCAL_MAX)
		return 0;
	if (s[0] == '"') {
		if (n < 2 || s[n - 1] != '"')
			return 0;
		for (i = 1; i < n - 1; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c == '\\') {
				if (++i >= n - 1 || (unsigned char)s[i] < 32 ||
				    (unsigned char)s[i] > 126)
					return 0;
			} else if (c < 32 || c > 126 || c == '"')
				return 0;
		}
		return 1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (i == 0 || i == n - 1 || s[i - 1] == '.')
				return 0;
			continue;
		}
		/* RFC 6531 lets UTF-8 in; we take 8-bit bytes as atext. */
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c >= 0x80 ||
		    strchr(atext_extra, c) != NULL))
			return 0;
	}
	return 1;
}

/*
 * Parse "<path>" at the start of the n bytes at s; *used gets the bytes
 * taken.  A source route (<@a,@b:user@d>) is dropped, as RFC 5321
 * 4.1.1.3 allows.  Returns 0 or -1.
 */
static int
parse_path(const char *s, size_t n, int empty_ok, struct smtp_cmd *cmd,
    size_t *used)
{
	const char	*end, *p, *at;
	size_t		 len;
	int		 inq = 0;
	size_t		 i;

	if (n < 2 || s[0] != '<')
		return -1;
	/* Find the closing '>' outside a quoted local part. */
	end = NULL;
	for (i = 1; i < n; i++) {
		if (inq && s[i] == '\\' && i + 1 < n) {
			i++;
			continue;
		}
		if (s[i] == '"')
			inq = !inq;
		else if (!inq && s[i] == '>') {
			end = s + i;
			break;
		}
	}
	if (end == NULL)
		return -1;
	*used = (size_t)(end - s) + 1;
	p = s + 1;
	len = (size_t)(end - p);
	if (len > SMTP_PATH_MAX)
		return -1;
	if (len > 0 && p[0] == '@') {
		const char *colon = memchr(p, ':', len);
		if (colon == NULL)
			return -1;
		len -= (size_t)(colon + 1 - p);
		p = colon + 1;
	}
	cmd->path = p;
	cmd->pathlen = len;
	cmd->atpos = len;
	if (len == 0)
		return empty_ok ? 0 : -1;
	/* The last '@' outside quotes splits local part and domain. */
	at = NULL;
	inq = 0;
	for (i = 0; i < len; i++) {
		if (inq && p[i] == '\\') {
			i++;
			continue;
		}
		if (p[i] == '"')
			inq = !inq;
		else if (!inq && p[i] == '@')
			at = p + i;
	}
	if (at == NULL) {
		/* Only <postmaster> may go without a domain (4.5.1). */
		if (len == 10 && ci_prefix(p, len, "POSTMASTER"))
			return 0;
		return -1;
	}
	cmd->atpos = (size_t)(at - p);
	if (!local_ok(p, cmd->atpos))
		return -1;
	if (!smtp_domain_ok(at + 1, len - cmd->atpos - 1))
		return -1;
	return 0;
}

/* MAIL parameters: SIZE=, BODY=, AUTH= (RFC 1870, 6152, 4954). */
static int
parse_params(const char *s, size_t n, struct smtp_cmd *cmd,
    const char **reply)
{
	size_t	 i = 0, j, k;

	while (i < n) {
		while (i < n && s[i] == ' ')
			i++;
		if (i == n)
			break;
		for (j = i; j < n && s[j] != ' '; j++)
			;
		if (cmd->verb == SMTP_MAIL && ci_prefix(s + i, j - i, "SIZE=")) {
			uint64_t v = 0;
			if (j - i == 5 || j - i > 5 + 20)
				goto bad;
			for (k = i + 5; k < j; k++) {
				if (s[k] < '0' || s[k] > '9')
					goto bad;
				if (v > (UINT64_MAX - 9) / 10)
					goto bad;
				v = v * 10 + (uint64_t)(s[k] - '0');
			}
			cmd->has_size = 1;
			cmd->size = v;
		} else if (cmd->verb == SMTP_MAIL &&
		    ci_prefix(s + i, j - i, "BODY=")) {
			if (j - i == 9 && ci_prefix(s + i, j - i, "BODY=7BIT"))
				cmd->body = SMTP_BODY_7BIT;
			else if (j - i == 13 &&
			    ci_prefix(s + i, j - i, "BODY=8BITMIME"))
				cmd->body = SMTP_BODY_8BITMIME;
			else
				goto bad;
		} else if (cmd->verb == SMTP_MAIL &&
		    ci_prefix(s + i, j - i, "AUTH=")) {
			/* The authorization identity is not relayed on. */
		} else {
			*reply = "555 5.5.4 Unsupported parameter";
			return -1;
		}
		i = j;
	}
	return 0;
bad:
	*reply = "501 5.5.4 Syntax error in parameters";
	return -1;
}

/*
 * MAIL FROM:<path> or RCPT TO:<path>, then parameters.  One space after
 * the colon is tolerated, as many clients send it.
 */
static int
parse_envelope(struct smtp_cmd *cmd, const char *kw, int empty_ok,
    const char *syntax, const char *badpath, const char **reply)
{
	size_t	 used = strlen(kw), pl;

	if (!ci_prefix(cmd->arg, cmd->arglen, kw)) {
		*reply = syntax;
		return -1;
	}
	if (used < cmd->arglen && cmd->arg[used] == ' ')
		used++;
	if (parse_path(cmd->arg + used, cmd->arglen - used, empty_ok, cmd,
	    &pl) != 0 || (used + pl < cmd->arglen &&
	    cmd->arg[used + pl] != ' ')) {
		*reply = badpath;
		return -1;
	}
	used += pl;
	return parse_params(cmd->arg + used, cmd->arglen - used, cmd, reply);
}

int
smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd,
    const char **reply)
{
	size_t	 vl;
	int	 v;

	memset(cmd, 0, sizeof(*cmd));
	for (vl = 0; vl < len && line[vl] != ' '; vl++)
		;
	for (v = 1; v < SMTP_NVERBS; v++)
		if (vl == strlen(verb_names[v]) &&
		    ci_prefix(line, vl, verb_names[v]))
			break;
	if (v == SMTP_NVERBS) {
		*reply = "500 5.5.1 Command unrecognized";
		return -1;
	}
	cmd->verb = (enum smtp_verb)v;
	if (vl < len) {
		cmd->arg = line + vl + 1;
		cmd->arglen = len - vl - 1;
	} else {
		cmd->arg = line + len;
		cmd->arglen = 0;
	}
	if (no_args[v] && cmd->arglen != 0) {
		*reply = "501 5.5.4 Syntax error: no parameters allowed";
		return -1;
	}
	switch (cmd->verb) {
	case SMTP_HELO:
	case SMTP_EHLO:
		if (!smtp_domain_ok(cmd->arg, cmd->arglen)) {
			*reply = cmd->arglen == 0 ?
			    "501 5.5.4 Syntax: EHLO hostname" :
			    "501 5.5.4 Invalid domain name";
			return -1;
		}
		return 0;
	case SMTP_MAIL:
		return parse_envelope(cmd, "FROM:", 1,
		    "501 5.5.4 Syntax: MAIL FROM:<address>",
		    "501 5.1.7 Bad sender address syntax", reply);
	case SMTP_RCPT:
		return parse_envelope(cmd, "TO:", 0,
		    "501 5.5.4 Syntax: RCPT TO:<address>",
		    "501 5.1.3 Bad recipient address syntax", reply);
	case SMTP_VRFY:
		if (cmd->arglen == 0) {
			*reply = "501 5.5.4 Syntax: VRFY address";
			return -1;
		}
		return 0;
	case SMTP_AUTH:
		if (cmd->arglen == 0) {
			*reply = "501 5.5.4 Syntax: AUTH mechanism";
			return -1;
		}
		return 0;
	default:
		return 0;
	}
}

/* DATA states: where we are relative to line starts and the end mark. */
enum {
	D_SOL = 0,	/* at the start of a line */
	D_MID,		/* inside a line */
	D_CR,		/* after a CR inside a line */
	D_DOT,		/* after a '.' at the start of a line */
	D_DOTCR		/* after ".\r" at the start of a line */
};

/* Received counter states, over the unstuffed header block. */
enum {
	H_SOL = 0,	/* at the start of a header line */
	H_NAME,		/* matching "received", then blanks and ':' */
	H_SKIP,		/* in the rest of a line */
	H_EMPTY,	/* after a CR at the start of a line */
	H_BODY		/* past the empty line: nothing more to count */
};

void
smtp_data_init(struct smtp_data *d, uint64_t max)
{
	memset(d, 0, sizeof(*d));
	d->state = D_SOL;
	d->max = max;
	d->hstate = H_SOL;
	d->maxhops = SMTP_HOPS_MAX;
}

/*
 * The Received counter, run over the unstuffed body (so its lines
 * end in CRLF: anything else is refused before it gets here).  Only
 * the header block counts: a message that quotes a bounce with its
 * trace headers in the body is not a loop.
 */
static void
data_hops(struct smtp_data *d, const char *b, size_t n)
{
	static const char	 name[] = "received";
	size_t			 i;

	/* A refused message needs no more counting. */
	for (i = 0; i < n && d->hstate != H_BODY && d->flags == 0; i++) {
		unsigned char c = (unsigned char)b[i];

		switch (d->hstate) {
		case H_EMPTY:
			d->hstate = c == '\n' ? H_BODY : H_SKIP;
			break;
		case H_SOL:
			if (c == '\r') {
				d->hstate = H_EMPTY;
				break;
			}
			if (c == ' ' || c == '\t') {
				d->hstate = H_SKIP;	/* folded */
				break;
			}
			d->hmatch = 0;
			d->hstate = H_NAME;
			/* FALLTHROUGH */
		case H_NAME:
			if (d->hmatch < sizeof(name) - 1) {
				if ((c | 0x20) == name[d->hmatch])
					d->hmatch++;
				else
					d->hstate = H_SKIP;
			} else if (c == ':') {
				if (++d->hops > d->maxhops)
					d->flags |= SMTP_DATA_HOPS;
				d->hstate = H_SKIP;
			} else if (c != ' ' && c != '\t')
				d->hstate = H_SKIP;
			break;
		case H_SKIP:
			if (c == '\n')
				d->hstate = H_SOL;
			break;
		}
	}
}

/* Emit one byte of body unless the message is already refused. */
#define EMIT(c) do {							\
	if (d->flags == 0) {						\
		if (d->size >= d->max)					\
			d->flags |= SMTP_DATA_BIG;			\
		else {							\
			out[(*outn)++] = (char)(c);			\
			d->size++;					\
		}							\
	}								\
} while (0)

size_t
smtp_data_feed(struct smtp_data *d, const char *in, size_t n, char *out,
    size_t *outn, int *done)
{
	size_t	 i;

	*outn = 0;
	*done = 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '\0')
			d->flags |= SMTP_DATA_NUL;
		if (c != '\r' && c != '\n' &&
		    ++d->linelen > SMTP_TEXT_LINE_MAX - 2)
			d->flags |= SMTP_DATA_LONG;
		switch (d->state) {
		case D_SOL:
			if (c == '.')
				d->state = D_DOT;
			else if (c == '\r')
				d->state = D_CR;
			else if (c == '\n') {
				/* Stay mid-line: "\n.\n" must not end DATA. */
				d->flags |= SMTP_DATA_BARE;
				d->state = D_MID;
			} else {
				EMIT(c);
				d->state = D_MID;
			}
			break;
		case D_DOT:
			if (c == '\r')
				d->state = D_DOTCR;
			else if (c == '\n') {
				d->flags |= SMTP_DATA_BARE;
				d->state = D_MID;
			} else {
				/* The leading dot is transparency (4.5.2). */
				EMIT(c);
				d->state = D_MID;
			}
			break;
		case D_DOTCR:
			if (c == '\n') {
				*done = 1;
				d->state = D_SOL;
				data_hops(d, out, *outn);
				return i + 1;
			}
			/* ".\r" then not LF: a bare CR, mid-line now. */
			d->flags |= SMTP_DATA_BARE;
			d->state = D_MID;
			break;
		case D_MID:
			if (c == '\r')
				d->state = D_CR;
			else if (c == '\n')
				d->flags |= SMTP_DATA_BARE;
			else
				EMIT(c);
			break;
		case D_CR:
			if (c == '\n') {
				EMIT('\r');
				EMIT('\n');
				d->linelen = 0;
				d->state = D_SOL;
			} else if (c == '\r') {
				d->flags |= SMTP_DATA_BARE;
			} else {
				d->flags |= SMTP_DATA_BARE;
				d->state = D_MID;
			}
			break;
		}
	}
	data_hops(d, out, *outn);
	return n;
}
