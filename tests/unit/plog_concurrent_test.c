/*
 * runtime/core/plog.c from several processes at once: each child opens the
 * same protocol log and appends its own numbered lines of many lengths
 * (some with bytes that expand when escaped, some cut at the limit).
 * Every line in the file must then be exactly one line a child wrote,
 * whole, and each child's lines must all be there, in order.
 */
#include "spool_testutil.h"

#include "config.h"

#include <sys/wait.h>

#include "plog.h"

#define NCHILD	4
#define NLINES	2000

static const struct timespec	when = { 1700000000, 5000000 };

/* The text of line i of child c, into t; returns its length. */
static size_t
text_for(int c, int i, char *t, size_t tsz)
{
	size_t	n, len, k;

	n = (size_t)snprintf(t, tsz, "child %d seq %d ", c, i);
	len = n + (size_t)(i * 37 + c * 11) % 1200;
	if (len > tsz)
		len = tsz;
	for (k = n; k < len; k++)
		t[k] = "abc,de\"f\r\n\\ghi xyz"[(k + (size_t)i) % 19];
	return len;
}

static void
child(const char *path, int c, int gate)
{
	struct plog	l;
	char		err[256], t[1400], sid[16], x;
	size_t		len;
	int		i;

	if (plog_open(&l, path, err, sizeof(err)) == -1)
		_exit(2);
	/* Start together: wait for the parent to close the gate's pipe. */
	while (read(gate, &x, 1) == -1 && errno == EINTR)
		continue;
	snprintf(sid, sizeof(sid), "c%d", c);
	for (i = 0; i < NLINES; i++) {
		len = text_for(c, i, t, sizeof(t));
		if (plog_write(&l, &when, sid, "192.0.2.1:25",
		    "[2001:db8::2]:1025", '<', t, len) == -1)
			_exit(3);
	}
	plog_close(&l);
	_exit(0);
}

int
main(void)
{
	static char	 file[NCHILD * NLINES * 2100];
	char		 top[512], path[600], want[PLOG_LINE_MAX], t[1400];
	char		*p, *nl, *q, sid[16];
	int		 next[NCHILD], c, i, st, bad = 0, lines = 0;
	int		 gate[2], last = -1, switches = 0;
	long		 n;
	pid_t		 pid[NCHILD];
	size_t		 wl, tl;

	tu_mkdtemp(top, sizeof(top), "plog_concurrent_test");
	snprintf(path, sizeof(path), "%s/protocol.log", top);
	fflush(stdout);
	if (pipe(gate) == -1)
		return 99;
	for (c = 0; c < NCHILD; c++) {
		if ((pid[c] = fork()) == -1)
			return 99;
		if (pid[c] == 0) {
			close(gate[1]);
			child(path, c, gate[0]);
		}
	}
	close(gate[0]);
	close(gate[1]);
	for (c = 0; c < NCHILD; c++) {
		CHECK(waitpid(pid[c], &st, 0) == pid[c] && WIFEXITED(st) &&
		    WEXITSTATUS(st) == 0, "child %d", c);
		next[c] = 0;
	}

	n = tu_read(path, file, sizeof(file) - 1);
	CHECK(n > 0 && (size_t)n < sizeof(file) - 1, "read %ld", n);
	file[n > 0 ? n : 0] = '\0';
	for (p = file; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		lines++;
		q = strstr(p, ",c");
		if (q == NULL || q > nl || sscanf(q, ",c%d,", &c) != 1 ||
		    c < 0 || c >= NCHILD) {
			if (bad++ < 5)
				printf("bad line %d: %.80s\n", lines, p);
			continue;
		}
		if (c != last)
			switches++;
		last = c;
		i = next[c]++;
		tl = text_for(c, i, t, sizeof(t));
		snprintf(sid, sizeof(sid), "c%d", c);
		wl = plog_format(want, sizeof(want), &when, sid,
		    "192.0.2.1:25", "[2001:db8::2]:1025", '<', t, tl);
		if ((size_t)(nl + 1 - p) != wl || memcmp(p, want, wl) != 0) {
			if (bad++ < 5)
				printf("line %d is not child %d's line %d: "
				    "%.80s\n", lines, c, i, p);
		}
	}
	printf("%d lines, writers took turns %d times\n", lines, switches);
	CHECK(*p == '\0', "the file ends with a newline");
	CHECK(bad == 0, "%d bad lines", bad);
	CHECK(lines == NCHILD * NLINES, "%d lines", lines);
	for (c = 0; c < NCHILD; c++)
		CHECK(next[c] == NLINES, "child %d: %d lines", c, next[c]);
	tu_rmtree(top);
	return tu_done("plog_concurrent_test");
}
