/*
 * libFuzzer entry for the SMTP command framing and parser and the DATA
 * state machine (runtime/inbound/smtp_proto.c).  Beyond "no crash", it checks
 * the properties the session relies on: a parsed path lies inside the
 * line, an accepted body never holds a bare CR or LF, and the Received
 * headers counted in pieces are those of the whole header block.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	check_body(const char *, size_t);
static uint32_t	count_hops(const char *, size_t);

static void
check_body(const char *b, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (b[i] == '\n' && (i == 0 || b[i - 1] != '\r'))
			abort();
		if (b[i] == '\r' && (i + 1 == n || b[i + 1] != '\n'))
			abort();
	}
}

/*
 * The Received headers of a whole body, counted the plain way: lines
 * up to the first empty one, "received" in any case, blanks, ':'.
 */
static uint32_t
count_hops(const char *b, size_t n)
{
	static const char	 name[] = "received";
	const char		*p = b, *end = b + n, *eol;
	uint32_t		 hops = 0;
	size_t			 i;

	while (p < end) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		if (eol - p == 1 && p[0] == '\r')
			break;
		for (i = 0; i < sizeof(name) - 1 && p + i < eol &&
		    (p[i] | 0x20) == name[i]; i++)
			;
		if (i == sizeof(name) - 1) {
			while (p + i < eol && (p[i] == ' ' || p[i] == '\t'))
				i++;
			if (p + i < eol && p[i] == ':')
				hops++;
		}
		p = eol + 1;
	}
	return hops;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*buf = (const char *)data;
	size_t		 off = 0, len, used, outn, k, blen = 0, step;
	struct smtp_cmd	 cmd;
	struct smtp_data d;
	const char	*reply;
	char		*out, *body;
	int		 done = 0;

	/* Commands, as the session frames them. */
	while (off < size) {
		enum smtp_line r = smtp_line_scan(buf + off, size - off,
		    SMTP_CMD_LINE_MAX, &len, &used);
		if (r == SMTP_LINE_OK) {
			if (smtp_cmd_parse(buf + off, len, &cmd, &reply) == 0 &&
			    cmd.path != NULL &&
			    (cmd.path < buf + off ||
			    cmd.path + cmd.pathlen > buf + off + len))
				abort();
		}
		if (used == 0)
			break;
		off += used;
	}
	/* The same bytes as DATA, in uneven pieces. */
	if ((out = malloc(size + 1)) == NULL ||
	    (body = malloc(size + 1)) == NULL) {
		free(out);
		return 0;
	}
	smtp_data_init(&d, 1 << 20);
	d.maxhops = size > 1 ? data[1] % 8 : SMTP_HOPS_MAX;
	step = size > 0 ? (data[0] % 17) + 1 : 1;
	for (off = 0; off < size && !done; off += used) {
		k = size - off < step ? size - off : step;
		used = smtp_data_feed(&d, buf + off, k, out, &outn, &done);
		if (used > k || outn > k + 1)
			abort();
		memcpy(body + blen, out, outn);
		blen += outn;
	}
	if (d.flags == 0)
		check_body(body, blen);
	/*
	 * Refused for hops: the count went over within the last piece,
	 * which is all in the body.  Otherwise the count is the body's.
	 */
	if ((d.flags & ~SMTP_DATA_HOPS) == 0 &&
	    (d.flags ? count_hops(body, blen) <= d.maxhops ||
	    d.hops != d.maxhops + 1 : count_hops(body, blen) != d.hops ||
	    d.hops > d.maxhops))
		abort();
	free(out);
	free(body);
	return 0;
}
