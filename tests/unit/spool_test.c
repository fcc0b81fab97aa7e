/*
 * Unit tests for runtime/store/spool.c: a message written, committed and read
 * back (envelope, recipients, body byte for byte), status flips that
 * survive reopening, abort and refused arguments leaving nothing
 * behind, the size limit, ids that rise, resume removing tmp/ leftovers
 * and listing queue/, and damaged queue files moved to corrupt/ with a
 * reason, never deleted.
 */
#include "spool_testutil.h"

#include "config.h"

#include <stdint.h>

#include "spool.h"

static char	top[512];

struct seen {
	int	queued, tmp, corrupt, skipped;
	char	reason[8][256];
	char	cname[8][256];
};

static void
seen_cb(void *ctx, int what, const char *name, const char *reason)
{
	struct seen	*s = ctx;

	switch (what) {
	case SPOOL_RESUME_QUEUED:
		s->queued++;
		break;
	case SPOOL_RESUME_TMP:
		s->tmp++;
		break;
	case SPOOL_RESUME_CORRUPT:
		if (s->corrupt < 8) {
			snprintf(s->reason[s->corrupt], 256, "%s", reason);
			snprintf(s->cname[s->corrupt], 256, "%s", name);
		}
		s->corrupt++;
		break;
	default:
		printf("skipped %s: %s\n", name, reason);
		s->skipped++;
		break;
	}
}

static void
fill(unsigned char *b, size_t n, uint32_t seed)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 17;
		seed ^= seed << 5;
		b[i] = (unsigned char)seed;
	}
}

static void
default_env(struct spool_env *e)
{
	memset(e, 0, sizeof(*e));
	e->received = 1700000000;
	e->session = "a1b2c3d4";
	e->client = "192.0.2.1:40000";
	e->helo = "client.example";
	e->auth = "alice";
	e->sender = "bob@x.example";
	e->params = "RET=HDRS ENVID=abc";
	e->size = 12345;
	e->body = SPOOL_BODY_8BITMIME;
	e->flags = SPOOL_F_SMTPUTF8;
}

/* Write a message with the given body; returns 0 and the id. */
static int
put_msg(struct spool *sp, const unsigned char *body, size_t len,
    char id[SPOOL_ID_SIZE])
{
	struct spool_writer	w;
	struct spool_env	e;
	char			err[256];
	size_t			o, k;
	static const size_t	chunks[] = { 1, 7, 1023, 1024, 1025, 3000 };
	int			i = 0;

	default_env(&e);
	if (spool_begin(sp, &w, &e) != 0 ||
	    spool_rcpt(&w, "one@sf.example", 14, NULL, 0) != 0 ||
	    spool_rcpt(&w, "two@sf.example", 14, "NOTIFY=NEVER", 12) != 0 ||
	    spool_rcpt(&w, "three@sf.example", 16, "", 0) != 0)
		return -1;
	for (o = 0; o < len; o += k) {
		k = chunks[i++ % 6];
		if (k > len - o)
			k = len - o;
		if (spool_body(&w, body + o, k) != 0)
			return -1;
	}
	if (spool_commit(&w, id, err, sizeof(err)) != 0) {
		printf("commit: %s\n", err);
		return -1;
	}
	return 0;
}

static void
test_roundtrip(struct spool *sp, const char *root)
{
	static unsigned char	body[20000], back[20000];
	struct spool_msg	m;
	struct spool_rcpt	r;
	char			id[SPOOL_ID_SIZE], err[256], path[1024];
	uint64_t		o;
	ssize_t			n;
	int			rc, i;

	fill(body, sizeof(body), 42);
	memcpy(body, "Received: from client.example\r\n", 31);
	CHECK(put_msg(sp, body, sizeof(body), id) == 0, "put_msg");
	CHECK(spool_id_valid(id), "id %s", id);
	snprintf(path, sizeof(path), "%s/tmp", root);
	CHECK(tu_count(path) == 0, "tmp/ empty after commit");
	snprintf(path, sizeof(path), "%s/queue/%s", root, id);
	CHECK(access(path, F_OK) == 0, "queue/%s exists", id);

	rc = spool_msg_open(sp, &m, id, err, sizeof(err));
	CHECK(rc == 1, "open: %d %s", rc, err);
	if (rc != 1)
		return;
	CHECK(strcmp(m.id, id) == 0, "id");
	CHECK(m.received == 1700000000, "received %lld",
	    (long long)m.received);
	CHECK(strcmp(m.session, "a1b2c3d4") == 0, "session %s", m.session);
	CHECK(strcmp(m.client, "192.0.2.1:40000") == 0, "client");
	CHECK(strcmp(m.helo, "client.example") == 0, "helo");
	CHECK(strcmp(m.auth, "alice") == 0, "auth");
	CHECK(strcmp(m.sender, "bob@x.example") == 0, "sender");
	CHECK(strcmp(m.params, "RET=HDRS ENVID=abc") == 0, "params");
	CHECK(m.size == 12345, "size");
	CHECK(m.body == SPOOL_BODY_8BITMIME, "body type");
	CHECK(m.flags == SPOOL_F_SMTPUTF8, "flags");
	CHECK(m.nrcpt == 3, "nrcpt %u", (unsigned)m.nrcpt);
	CHECK(m.body_len == sizeof(body), "body_len %llu",
	    (unsigned long long)m.body_len);

	memset(&r, 0, sizeof(r));
	i = 0;
	while ((rc = spool_rcpt_next(&m, &r, err, sizeof(err))) == 1) {
		static const char *const want[] = { "one@sf.example",
		    "two@sf.example", "three@sf.example" };
		static const char *const wantp[] = { "", "NOTIFY=NEVER", "" };

		CHECK(i < 3 && strcmp(r.addr, want[i]) == 0, "rcpt %d %s",
		    i, r.addr);
		CHECK(i < 3 && strcmp(r.params, wantp[i]) == 0,
		    "rcpt params %d", i);
		CHECK(r.index == (uint32_t)i, "index %u", (unsigned)r.index);
		CHECK(r.status == SPOOL_PENDING, "status %c", r.status);
		i++;
	}
	CHECK(rc == 0 && i == 3, "rcpt iteration %d %d %s", rc, i, err);

	/* Body in odd chunks. */
	memset(back, 0, sizeof(back));
	for (o = 0; (n = spool_body_read(&m, o, back + o, 333)) > 0; o += n)
		continue;
	CHECK(n == 0 && o == sizeof(body), "body read %lld", (long long)o);
	CHECK(memcmp(back, body, sizeof(body)) == 0, "body byte-exact");
	n = spool_body_read(&m, 19990, back, 100);
	CHECK(n == 10 && memcmp(back, body + 19990, 10) == 0, "tail read");
	CHECK(spool_body_read(&m, 20000, back, 100) == 0, "read at end");
	spool_msg_close(&m);

	/* Status flips, then a fresh open sees them. */
	rc = spool_msg_open(sp, &m, id, err, sizeof(err));
	memset(&r, 0, sizeof(r));
	CHECK(spool_rcpt_next(&m, &r, err, sizeof(err)) == 1, "first");
	CHECK(spool_rcpt_next(&m, &r, err, sizeof(err)) == 1, "second");
	CHECK(spool_mark(&m, &r, SPOOL_DELIVERED, err, sizeof(err)) == 0,
	    "mark: %s", err);
	CHECK(spool_rcpt_next(&m, &r, err, sizeof(err)) == 1, "third");
	CHECK(spool_mark(&m, &r, SPOOL_FAILED, err, sizeof(err)) == 0,
	    "mark: %s", err);
	CHECK(spool_mark(&m, &r, 'X', err, sizeof(err)) == -1, "bad status");
	spool_msg_close(&m);

	rc = spool_msg_open(sp, &m, id, err, sizeof(err));
	CHECK(rc == 1, "reopen after marks: %s", err);
	if (rc != 1)
		return;
	memset(&r, 0, sizeof(r));
	i = 0;
	while (spool_rcpt_next(&m, &r, err, sizeof(err)) == 1) {
		static const int want[] = { SPOOL_PENDING, SPOOL_DELIVERED,
		    SPOOL_FAILED };

		CHECK(r.status == want[i], "status %d: %c", i, r.status);
		i++;
	}
	CHECK(i == 3, "three after reopen");
	spool_msg_close(&m);

	/* Remove. */
	rc = spool_msg_open(sp, &m, id, err, sizeof(err));
	CHECK(spool_msg_remove(sp, &m, err, sizeof(err)) == 0, "remove");
	CHECK(access(path, F_OK) == -1, "gone after remove");
	CHECK(spool_msg_open(sp, &m, id, err, sizeof(err)) == 0,
	    "open of a removed message says none");
}

static void
test_empty_body_and_ids(struct spool *sp)
{
	struct spool_writer	w;
	struct spool_env	e;
	struct spool_msg	m;
	char			prev[SPOOL_ID_SIZE], id[SPOOL_ID_SIZE];
	char			err[256];
	int			i;

	prev[0] = '\0';
	for (i = 0; i < 20; i++) {
		memset(&e, 0, sizeof(e));	/* all NULL: "" fields */
		CHECK(spool_begin(sp, &w, &e) == 0, "begin");
		CHECK(spool_rcpt(&w, "x@y", 3, NULL, 0) == 0, "rcpt");
		CHECK(spool_commit(&w, id, err, sizeof(err)) == 0, "commit %s",
		    err);
		CHECK(strcmp(prev, id) < 0, "ids rise: %s then %s", prev, id);
		memcpy(prev, id, sizeof(id));
	}
	CHECK(spool_msg_open(sp, &m, id, err, sizeof(err)) == 1, "open");
	CHECK(m.body_len == 0 && m.sender[0] == '\0' && m.auth[0] == '\0',
	    "empty message");
	CHECK(m.received != 0, "received defaults to now");
	CHECK(spool_msg_remove(sp, &m, err, sizeof(err)) == 0, "remove");
}

static void
test_abort_and_refusals(struct spool *sp, const char *root)
{
	struct spool_writer	w;
	struct spool_env	e;
	char			tmp[1024], queue[1024], id[SPOOL_ID_SIZE];
	char			err[256], big[600];
	int			nq, fd;

	snprintf(tmp, sizeof(tmp), "%s/tmp", root);
	snprintf(queue, sizeof(queue), "%s/queue", root);
	nq = tu_count(queue);

	/* Abort at each stage. */
	default_env(&e);
	CHECK(spool_begin(sp, &w, &e) == 0, "begin");
	CHECK(tu_count(tmp) == 1, "a file in tmp/ while receiving");
	spool_abort(&w);
	CHECK(tu_count(tmp) == 0, "abort in envelope leaves nothing");
	spool_abort(&w);	/* twice is harmless */

	CHECK(spool_begin(sp, &w, &e) == 0, "begin");
	CHECK(spool_rcpt(&w, "a@b", 3, NULL, 0) == 0, "rcpt");
	CHECK(spool_body(&w, "hello\r\n", 7) == 0, "body");
	spool_abort(&w);
	CHECK(tu_count(tmp) == 0 && tu_count(queue) == nq,
	    "abort in body leaves nothing");

	/* A zeroed writer is inert: its fd 0 is not closed. */
	fd = open("/dev/null", O_RDONLY);
	if (fd != 0) {
		dup2(fd, 0);
		close(fd);
	}
	memset(&w, 0, sizeof(w));
	spool_abort(&w);
	CHECK(fcntl(0, F_GETFD) != -1, "zeroed abort left fd 0 alone");

	/* Commit without recipients. */
	CHECK(spool_begin(sp, &w, &e) == 0, "begin");
	CHECK(spool_body(&w, "x", 1) == 0, "body");
	CHECK(spool_commit(&w, id, err, sizeof(err)) == -1, "no rcpt commit");
	CHECK(spool_error(&w) == EINVAL, "EINVAL");
	CHECK(tu_count(tmp) == 0 && tu_count(queue) == nq,
	    "failed commit leaves nothing");

	/* Envelope bounds. */
	memset(big, 'h', sizeof(big));
	big[SPOOL_HELO_MAX + 1] = '\0';
	e.helo = big;
	CHECK(spool_begin(sp, &w, &e) == -1, "long helo refused");
	CHECK(spool_error(&w) == EINVAL, "EINVAL");
	CHECK(spool_commit(&w, id, err, sizeof(err)) == -1, "then commit");
	big[SPOOL_HELO_MAX] = '\0';
	CHECK(spool_begin(sp, &w, &e) == 0, "helo at the limit accepted");
	spool_abort(&w);
	e.helo = "bad\r\nhelo";
	CHECK(spool_begin(sp, &w, &e) == -1, "control byte refused");
	spool_abort(&w);
	CHECK(tu_count(tmp) == 0, "refused begin leaves nothing");

	/* Recipient bounds: refused, transaction goes on. */
	default_env(&e);
	CHECK(spool_begin(sp, &w, &e) == 0, "begin");
	memset(big, 'r', sizeof(big));
	CHECK(spool_rcpt(&w, big, SPOOL_ADDR_MAX + 1, NULL, 0) == -1 &&
	    spool_error(&w) == 0, "long rcpt refused, not fatal");
	CHECK(spool_rcpt(&w, "a\nb", 3, NULL, 0) == -1 &&
	    spool_error(&w) == 0, "LF in rcpt refused");
	CHECK(spool_rcpt(&w, "a\0b", 3, NULL, 0) == -1 &&
	    spool_error(&w) == 0, "NUL in rcpt refused");
	CHECK(spool_rcpt(&w, "", 0, NULL, 0) == -1, "empty rcpt refused");
	CHECK(spool_rcpt(&w, "ok@x", 4, big, SPOOL_PARAMS_MAX + 1) == -1,
	    "long rcpt params refused");
	CHECK(spool_rcpt(&w, big, SPOOL_ADDR_MAX, big, SPOOL_PARAMS_MAX) == 0,
	    "rcpt at the limits accepted");
	CHECK(spool_body(&w, "b", 1) == 0, "body");
	CHECK(spool_rcpt(&w, "late@x", 6, NULL, 0) == -1 &&
	    spool_error(&w) == EINVAL, "rcpt after body is fatal");
	CHECK(spool_commit(&w, id, err, sizeof(err)) == -1, "commit fails");
	CHECK(tu_count(tmp) == 0 && tu_count(queue) == nq, "nothing left");

	/* The size limit. */
	default_env(&e);
	e.limit = 100;
	CHECK(spool_begin(sp, &w, &e) == 0, "begin");
	CHECK(spool_rcpt(&w, "a@b", 3, NULL, 0) == 0, "rcpt");
	CHECK(spool_body(&w, big, 60) == 0, "60 bytes");
	CHECK(spool_body(&w, big, 40) == 0, "100 bytes");
	CHECK(spool_body_size(&w) == 100, "size 100");
	CHECK(spool_body(&w, big, 1) == -1, "101 bytes refused");
	CHECK(spool_body(&w, big, 1) == -1, "sticky");
	CHECK(spool_commit(&w, id, err, sizeof(err)) == -1 &&
	    spool_error(&w) == EMSGSIZE, "commit says EMSGSIZE: %s", err);
	CHECK(tu_count(tmp) == 0 && tu_count(queue) == nq, "nothing left");
}

/* Overwrite len bytes at off in a file. */
static void
poke(const char *path, long off, const void *b, size_t len)
{
	int	fd = open(path, O_WRONLY);

	if (fd == -1 || pwrite(fd, b, len, off) != (ssize_t)len)
		printf("poke %s failed\n", path);
	if (fd != -1)
		close(fd);
}

static void
test_resume(const char *root)
{
	static unsigned char	body[5000];
	struct spool		sp;
	struct spool_writer	w, w2;
	struct spool_env	e;
	struct spool_msg	m;
	struct seen		s;
	char			ids[6][SPOOL_ID_SIZE], path[1024], p2[1024];
	char			err[256], buf[8192], name[256];
	long			n, len;
	int			i;

	CHECK(spool_open(&sp, root, err, sizeof(err)) == 0, "open: %s", err);
	fill(body, sizeof(body), 7);
	for (i = 0; i < 6; i++)
		CHECK(put_msg(&sp, body, sizeof(body), ids[i]) == 0, "put");

	/* Leftovers: a writer never finished, a stray file. */
	default_env(&e);
	CHECK(spool_begin(&sp, &w, &e) == 0, "begin");
	CHECK(spool_rcpt(&w, "a@b", 3, NULL, 0) == 0, "rcpt");
	CHECK(spool_body(&w, body, 3000) == 0, "body");
	CHECK(spool_begin(&sp, &w2, &e) == 0, "begin");
	snprintf(path, sizeof(path), "%s/tmp/stray", root);
	tu_write(path, "x", 1);

	/* Damage: 1 checksum, 2 truncated, 3 bad magic, 4 version, 5 mark. */
	snprintf(path, sizeof(path), "%s/queue/%s", root, ids[1]);
	poke(path, 64 + 6 + 2, "Z", 1);	/* inside the session id */
	snprintf(path, sizeof(path), "%s/queue/%s", root, ids[2]);
	CHECK(truncate(path, 3000) == 0, "truncate");
	snprintf(path, sizeof(path), "%s/queue/%s", root, ids[3]);
	poke(path, 0, "X", 1);
	snprintf(path, sizeof(path), "%s/queue/%s", root, ids[4]);
	poke(path, 8, "\2", 1);
	snprintf(path, sizeof(path), "%s/queue/%s", root, ids[5]);
	poke(path, 56, "\0", 1);
	/* Names that are not ids, and a file too short for a header. */
	snprintf(path, sizeof(path), "%s/queue/junk", root);
	tu_write(path, "not a message", 13);
	snprintf(path, sizeof(path), "%s/queue/0000000000000000000000", root);
	tu_write(path, "BSPOOL\r\n", 8);
	/* A corrupt/ name already taken: the move must not overwrite it. */
	snprintf(path, sizeof(path), "%s/corrupt/junk", root);
	tu_write(path, "older", 5);

	memset(&s, 0, sizeof(s));
	n = spool_resume(&sp, seen_cb, &s, err, sizeof(err));
	CHECK(n == 1, "one good message left: %ld (%s)", n, err);
	CHECK(s.queued == 1 && s.tmp == 3 && s.corrupt == 7 && s.skipped == 0,
	    "queued %d tmp %d corrupt %d skipped %d", s.queued, s.tmp,
	    s.corrupt, s.skipped);
	snprintf(path, sizeof(path), "%s/tmp", root);
	CHECK(tu_count(path) == 0, "tmp/ emptied");
	snprintf(path, sizeof(path), "%s/queue", root);
	tu_first(path, name, sizeof(name));
	CHECK(tu_count(path) == 1 && strcmp(name, ids[0]) == 0,
	    "only the good one stays in queue/");
	snprintf(path, sizeof(path), "%s/corrupt", root);
	CHECK(tu_count(path) == 15, "7 files, 7 reasons, and the older one: "
	    "%d", tu_count(path));

	for (i = 0; i < s.corrupt && i < 8; i++) {
		const char *want = "";

		if (strcmp(s.cname[i], ids[1]) == 0)
			want = "checksum";
		else if (strcmp(s.cname[i], ids[2]) == 0)
			want = "body length";
		else if (strcmp(s.cname[i], ids[3]) == 0)
			want = "bad magic";
		else if (strcmp(s.cname[i], ids[4]) == 0)
			want = "unsupported format version 2";
		else if (strcmp(s.cname[i], ids[5]) == 0)
			want = "never committed";
		else if (strcmp(s.cname[i], "junk") == 0)
			want = "not a queue id";
		else if (s.cname[i][0] == '0')
			want = "truncated header";
		CHECK(strstr(s.reason[i], want) != NULL, "%s: reason \"%s\", "
		    "want \"%s\"", s.cname[i], s.reason[i], want);
	}
	/* Content kept: the moved junk file and the older one both exist. */
	snprintf(path, sizeof(path), "%s/corrupt/junk", root);
	len = tu_read(path, buf, sizeof(buf));
	CHECK(len == 5 && memcmp(buf, "older", 5) == 0, "older kept");
	snprintf(path, sizeof(path), "%s/corrupt/junk.1", root);
	len = tu_read(path, buf, sizeof(buf));
	CHECK(len == 13, "junk moved to junk.1");
	snprintf(path, sizeof(path), "%s/corrupt/junk.1.reason", root);
	len = tu_read(path, buf, sizeof(buf) - 1);
	buf[len > 0 ? len : 0] = '\0';
	CHECK(strcmp(buf, "not a queue id\n") == 0, "reason file: %s", buf);
	snprintf(path, sizeof(path), "%s/corrupt/%s", root, ids[2]);
	CHECK(tu_read(path, buf, sizeof(buf)) == 3000, "truncated kept");
	snprintf(p2, sizeof(p2), "%s/corrupt/%s.reason", root, ids[1]);
	len = tu_read(p2, buf, sizeof(buf) - 1);
	buf[len > 0 ? len : 0] = '\0';
	CHECK(strstr(buf, "envelope checksum mismatch") != NULL,
	    "reason: %s", buf);

	/* The leftover writers' files are gone; aborting them is harmless. */
	spool_abort(&w);
	spool_abort(&w2);

	/* A damaged file found at delivery time is flagged as damage. */
	snprintf(path, sizeof(path), "%s/queue/%s", root, ids[0]);
	poke(path, 64 + 6 + 2, "Z", 1);
	CHECK(spool_msg_open(&sp, &m, ids[0], err, sizeof(err)) == -1 &&
	    m.damaged == 1, "damage at open");
	CHECK(spool_quarantine(&sp, ids[0], err, err, sizeof(err)) == 0,
	    "quarantine");
	memset(&s, 0, sizeof(s));
	CHECK(spool_resume(&sp, seen_cb, &s, err, sizeof(err)) == 0,
	    "queue now empty");

	/* System errors are not damage: make queue/ID unreadable. */
	CHECK(put_msg(&sp, body, 10, ids[0]) == 0, "put");
	snprintf(path, sizeof(path), "%s/queue/%s", root, ids[0]);
	spool_close(&sp);
	CHECK(spool_msg_open(&sp, &m, ids[0], err, sizeof(err)) == -1 &&
	    m.damaged == 0, "EBADF is not damage");
	CHECK(access(path, F_OK) == 0, "and the file stays");
}

/*
 * spool_test --sample DIR: write the example of doc/spool-format.md to
 * the spool DIR and print the queue file's path, for
 * tests/rt/spool_format.py to read independently.
 */
static int
sample(const char *dir)
{
	static const char	body[] = "Received: x\r\n\r\nhi\r\n";
	struct spool		sp;
	struct spool_writer	w;
	struct spool_env	e;
	char			err[256], id[SPOOL_ID_SIZE];

	memset(&e, 0, sizeof(e));
	e.received = 1700000000;
	e.session = "s1";
	e.client = "192.0.2.1:4000";
	e.helo = "c.example";
	e.sender = "bob@x.example";
	if (spool_open(&sp, dir, err, sizeof(err)) == -1 ||
	    spool_begin(&sp, &w, &e) == -1 ||
	    spool_rcpt(&w, "one@sf.example", 14, NULL, 0) == -1 ||
	    spool_body(&w, body, sizeof(body) - 1) == -1 ||
	    spool_commit(&w, id, err, sizeof(err)) == -1) {
		fprintf(stderr, "sample: %s\n", err);
		return 1;
	}
	printf("%s/queue/%s\n", dir, id);
	spool_close(&sp);
	return 0;
}

int
main(int argc, char **argv)
{
	struct spool	sp;
	char		root[600], err[256];

	if (argc == 3 && strcmp(argv[1], "--sample") == 0)
		return sample(argv[2]);

	tu_mkdtemp(top, sizeof(top), "spool_test");
	snprintf(root, sizeof(root), "%s/spool", top);

	CHECK(spool_open(&sp, "/nonexistent/x/spool", err, sizeof(err)) == -1,
	    "missing parent refused");
	CHECK(spool_open(&sp, root, err, sizeof(err)) == 0, "open: %s", err);
	CHECK(!spool_id_valid("") && !spool_id_valid("../etc") &&
	    !spool_id_valid("0123456789abcdef01234G") &&
	    !spool_id_valid("0123456789abcdef012345x") &&
	    spool_id_valid("0123456789abcdef012345"), "id syntax");
	test_roundtrip(&sp, root);
	test_empty_body_and_ids(&sp);
	test_abort_and_refusals(&sp, root);
	spool_close(&sp);
	snprintf(root, sizeof(root), "%s/spool2", top);
	test_resume(root);

	tu_rmtree(top);
	return tu_done("spool_test");
}
