/*
 * libFuzzer entry for the SMTP command framing and parser and the DATA
 * state machine (runtime/inbound/smtp_proto.c).  Beyond "no crash", it checks
 * the properties the session relies on: a parsed path lies inside the
 * line, an accepted body never holds a bare CR or LF, and the hop count
 * (Received: fields of the header block) is what a plain count over
 * the whole accepted body finds, however the input was split.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp_proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

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

/* Received: fields before the first empty line, counted plainly. */
static uint32_t
count_hops(const char *b, size_t n)
{
	size_t		 i = 0;
	uint32_t	 hops = 0;

	while (i < n && !(n - i >= 2 && b[i] == '\r' && b[i + 1] == '\n')) {
		if (n - i >= 9 && strncasecmp(b + i, "received:", 9) == 0)
			hops++;
		while (i < n && b[i] != '\n')
			i++;
		i++;
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
	step = size > 0 ? (data[0] % 17) + 1 : 1;
	for (off = 0; off < size && !done; off += used) {
		k = size - off < step ? size - off : step;
		used = smtp_data_feed(&d, buf + off, k, out, &outn, &done);
		if (used > k || outn > k + 1)
			abort();
		memcpy(body + blen, out, outn);
		blen += outn;
	}
	if (d.flags == 0) {
		check_body(body, blen);
		if (d.hops != count_hops(body, blen) ||
		    d.hops > SMTP_HOPS_MAX)
			abort();
	}
	free(out);
	free(body);
	return 0;
}
