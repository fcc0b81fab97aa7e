/*
 * Unit tests for runtime/store/maildir.c: a delivery creates the Maildir tree
 * and one file in new/ that holds Return-Path and the message with LF
 * line ends; slices of any size give the same file; hostile local parts
 * ("../../etc", ".hidden", "a/b", very long, empty, binary bytes) never
 * name a path outside the Maildir root; bad patterns and paths through
 * a file are refused for good.
 */
#include "spool_testutil.h"

#include "config.h"

#include <limits.h>
#include <stdint.h>

#include "maildir.h"
#include "spool.h"

static char	top[512];

/* Queue a message with this body; open it in m. */
static int
queue_msg(struct spool *sp, struct spool_msg *m, const char *sender,
    const void *body, size_t len)
{
	struct spool_writer	w;
	struct spool_env	e;
	char			id[SPOOL_ID_SIZE], err[256];

	memset(&e, 0, sizeof(e));
	e.sender = sender;
	if (spool_begin(sp, &w, &e) != 0 ||
	    spool_rcpt(&w, "alice@sf.example", 16, NULL, 0) != 0 ||
	    spool_body(&w, body, len) != 0 ||
	    spool_commit(&w, id, err, sizeof(err)) != 0 ||
	    spool_msg_open(sp, m, id, err, sizeof(err)) != 1) {
		printf("queue_msg: %s\n", err);
		return -1;
	}
	return 0;
}

/* CRLF to LF, as the delivery should do. */
static size_t
to_lf(const unsigned char *in, size_t n, unsigned char *out)
{
	size_t	i, o = 0;

	for (i = 0; i < n; i++)
		if (!(in[i] == '\r' && i + 1 < n && in[i + 1] == '\n'))
			out[o++] = in[i];
	return o;
}

/* The one file in DIR/new, read into buf; its length or -1. */
static long
read_new(const char *dir, char *buf, size_t max)
{
	char	path[1400], name[256];

	snprintf(path, sizeof(path), "%s/new", dir);
	if (tu_count(path) != 1)
		return -1;
	tu_first(path, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/new/%s", dir, name);
	return tu_read(path, buf, max);
}

static void
test_deliver(struct spool *sp)
{
	static const char	 small[] = "Received: from client.example\r\n"
	    "Subject: hi\r\n\r\nline one\r\nbare\rCR stays\r\n.dot\r\n";
	static const char	 small_lf[] = "Return-Path: <bob@x.example>\n"
	    "Received: from client.example\nSubject: hi\n\nline one\n"
	    "bare\rCR stays\n.dot\n";
	static unsigned char	 big[3 * MAILDIR_COPY_SIZE + 10];
	static unsigned char	 want[sizeof(big) + 64];
	static char		 got[sizeof(big) + 64];
	struct spool_msg	 m;
	struct maildir_delivery	 d;
	struct stat		 st;
	char			 dir[1024], path[1400], err[256], name[256];
	long			 n;
	size_t			 wl, i;
	uint64_t		 slices[] = { 0, 1, 1000, MAILDIR_COPY_SIZE - 1,
				     MAILDIR_COPY_SIZE };
	int			 rc, k;

	CHECK(queue_msg(sp, &m, "bob@x.example", small, sizeof(small) - 1) ==
	    0, "queue");
	rc = maildir_deliver(&m, "Alice@sf.example", "mail/%u", top, err,
	    sizeof(err));
	CHECK(rc == 1, "deliver: %d %s", rc, err);
	snprintf(dir, sizeof(dir), "%s/mail/alice", top);
	CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mode & 0777) == 0700, "maildir made 0700");
	snprintf(path, sizeof(path), "%s/cur", dir);
	CHECK(tu_count(path) == 0, "cur/ exists, empty");
	snprintf(path, sizeof(path), "%s/tmp", dir);
	CHECK(tu_count(path) == 0, "tmp/ exists, empty");
	n = read_new(dir, got, sizeof(got));
	CHECK(n == (long)sizeof(small_lf) - 1 && memcmp(got, small_lf,
	    sizeof(small_lf) - 1) == 0, "content (%ld): %.*s", n,
	    (int)(n > 0 ? n : 0), got);
	snprintf(path, sizeof(path), "%s/new", dir);
	tu_first(path, name, sizeof(name));
	CHECK(strchr(name, ':') == NULL && strchr(name, '/') == NULL &&
	    name[0] != '.' && strstr(name, ".M") != NULL &&
	    strstr(name, "P") != NULL, "file name %s", name);
	snprintf(path, sizeof(path), "%s/new/%s", dir, name);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
	    "file mode 0600");
	/* A second delivery: a second, distinct file. */
	rc = maildir_deliver(&m, "alice@sf.example", "mail/%u", top, err,
	    sizeof(err));
	snprintf(path, sizeof(path), "%s/new", dir);
	CHECK(rc == 1 && tu_count(path) == 2, "second file");
	spool_msg_close(&m);

	/* Null sender; absolute pattern ignores base. */
	CHECK(queue_msg(sp, &m, "", "x\r\n", 3) == 0, "queue");
	snprintf(path, sizeof(path), "%s/abs/%%u/Maildir", top);
	rc = maildir_deliver(&m, "carol@sf.example", path, "/nonexistent",
	    err, sizeof(err));
	CHECK(rc == 1, "absolute: %s", err);
	snprintf(dir, sizeof(dir), "%s/abs/carol/Maildir", top);
	n = read_new(dir, got, sizeof(got));
	CHECK(n == 18 && memcmp(got, "Return-Path: <>\nx\n", 18) == 0,
	    "null sender");
	spool_msg_close(&m);

	/* Slices: CRs at every slice boundary, the same file each time. */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)"ab\r\n\r\r\n\nc"[i % 9];
	big[MAILDIR_COPY_SIZE - 1] = '\r';
	big[MAILDIR_COPY_SIZE] = '\n';
	big[sizeof(big) - 1] = '\r';	/* a CR ends the message */
	memcpy(want, "Return-Path: <s@x>\n", 19);
	wl = 19 + to_lf(big, sizeof(big), want + 19);
	CHECK(queue_msg(sp, &m, "s@x", big, sizeof(big)) == 0, "queue");
	for (k = 0; k < 5; k++) {
		char	pat[32];

		snprintf(pat, sizeof(pat), "slices/%d", k);
		rc = maildir_begin(&d, pat, top, "u@x", m.sender, err,
		    sizeof(err));
		CHECK(rc == 1, "begin: %s", err);
		if (rc != 1)
			continue;
		while ((rc = maildir_copy(&d, &m, slices[k], err,
		    sizeof(err))) == 0)
			continue;
		CHECK(rc == 1, "copy: %s", err);
		CHECK(maildir_finish(&d, err, sizeof(err)) == 1, "finish: %s",
		    err);
		snprintf(dir, sizeof(dir), "%s/slices/%d", top, k);
		n = read_new(dir, got, sizeof(got));
		CHECK(n == (long)wl && memcmp(got, want, wl) == 0,
		    "slices of %llu: %ld bytes, want %zu",
		    (unsigned long long)slices[k], n, wl);
	}

	/* Abort leaves tmp/ empty and new/ untouched. */
	rc = maildir_begin(&d, "aborted", top, "u@x", "s@x", err,
	    sizeof(err));
	CHECK(rc == 1, "begin");
	CHECK(maildir_copy(&d, &m, 10, err, sizeof(err)) == 0, "partial");
	maildir_abort(&d);
	maildir_abort(&d);
	snprintf(path, sizeof(path), "%s/aborted/tmp", top);
	CHECK(tu_count(path) == 0, "abort cleans tmp/");
	snprintf(path, sizeof(path), "%s/aborted/new", top);
	CHECK(tu_count(path) == 0, "abort leaves new/ empty");
	memset(&d, 0, sizeof(d));
	maildir_abort(&d);	/* a zeroed delivery is inert */
	CHECK(fcntl(0, F_GETFD) != -1 || errno != EBADF, "fd 0 alone");
	spool_msg_close(&m);
}

/* 1 if path is real_root or under it, resolved through symlinks. */
static int
under(const char *path, const char *real_root)
{
	char	rp[PATH_MAX];
	size_t	n = strlen(real_root);

	if (realpath(path, rp) == NULL)
		return 0;
	return strncmp(rp, real_root, n) == 0 && rp[n] == '/';
}

static void
test_hostile(struct spool *sp)
{
	static const struct {
		const char	*addr;
		size_t		 len;
		const char	*clean;
	} cases[] = {
		{ "../../etc@sf.example", 0, "_._.__etc" },
		{ "..@x", 0, "_." },
		{ ".@x", 0, "_" },
		{ ".hidden@x", 0, "_hidden" },
		{ "a/b@x", 0, "a_b" },
		{ "a\\b@x", 0, "a_b" },
		{ "A..B@x", 0, "a._b" },
		{ "Mixed.Case+Tag@x", 0, "mixed.case+tag" },
		{ "@x", 0, MAILDIR_EMPTY },
		{ "", 0, MAILDIR_EMPTY },
		{ "\"\"@x", 0, MAILDIR_EMPTY },
		{ "\"../../etc\"@x", 0, "_._.__etc" },
		{ "\"a\\\"b\"@x", 0, "a_b" },
		{ "\"x@y\"@z", 0, "x_y" },
		{ "nodomain", 0, "nodomain" },
		{ "\x01\x7f\x80\xff/..\x1b[31m@x", 0, "_____.___31m" },
		{ "a\0b@x", 5, "a_b" },
		{ "%u@x", 0, "_u" },
		{ "~root@x", 0, "_root" },
		{ "tmp@x", 0, "tmp" },
	};
	struct spool_msg	m;
	char			root[600], real_root[PATH_MAX], path[1400];
	char			clean[MAILDIR_LOCAL_MAX + 1], err[256];
	char			longaddr[400], dir[1024];
	size_t			i, n, j;
	int			rc;

	snprintf(root, sizeof(root), "%s/h/mail", top);
	CHECK(queue_msg(sp, &m, "s@x", "x\r\n", 3) == 0, "queue");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *a = cases[i].addr;

		n = cases[i].len != 0 ? cases[i].len : strlen(a);
		maildir_clean(a, n, clean);
		CHECK(strcmp(clean, cases[i].clean) == 0, "clean %zu: %s, "
		    "want %s", i, clean, cases[i].clean);
	}
	/* Deliver to each (the NUL case cannot pass as a string). */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].len != 0)
			continue;
		rc = maildir_deliver(&m, cases[i].addr, "h/mail/%u", top, err,
		    sizeof(err));
		CHECK(rc == 1, "deliver %zu: %s", i, err);
		CHECK(maildir_path("h/mail/%u", top, cases[i].addr, dir,
		    sizeof(dir), err, sizeof(err)) == 1, "path");
		snprintf(path, sizeof(path), "%s/%s", root, cases[i].clean);
		CHECK(strcmp(dir, path) == 0, "path %s", dir);
	}
	/* Very long. */
	memset(longaddr, 'L', 300);
	memcpy(longaddr + 300, "@x", 3);
	n = maildir_clean(longaddr, strlen(longaddr), clean);
	CHECK(n == MAILDIR_LOCAL_MAX && strspn(clean, "l") == n,
	    "long local part cut to %zu", n);
	CHECK(maildir_deliver(&m, longaddr, "h/mail/%u", top, err,
	    sizeof(err)) == 1, "long: %s", err);

	/* Everything made is under the root, and nothing else was made. */
	if (realpath(root, real_root) == NULL) {
		CHECK(0, "realpath %s", root);
		return;
	}
	snprintf(path, sizeof(path), "%s/h", top);
	CHECK(tu_count(path) == 1, "h/ holds only mail/");
	{
		struct dirent	*de;
		DIR		*d = opendir(root);

		j = 0;
		while (d != NULL && (de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			j++;
			snprintf(path, sizeof(path), "%s/%s/new", root,
			    de->d_name);
			CHECK(de->d_name[0] != '.', "hidden %s", de->d_name);
			CHECK(under(path, real_root), "escaped: %s", path);
			CHECK(tu_count(path) >= 1, "delivered into %s", path);
		}
		if (d != NULL)
			closedir(d);
		CHECK(j == 15, "15 distinct maildirs, got %zu", j);
	}
	snprintf(path, sizeof(path), "%s/etc", top);
	CHECK(access(path, F_OK) == -1, "no etc/ outside");
	spool_msg_close(&m);
}

static void
test_refusals(struct spool *sp)
{
	struct spool_msg	m;
	char			err[256], path[1100], pat[1200];
	int			rc;

	CHECK(queue_msg(sp, &m, "s@x", "x\r\n", 3) == 0, "queue");
	rc = maildir_deliver(&m, "a@x", "mail/%d", top, err, sizeof(err));
	CHECK(rc == 0 && strstr(err, "%u") != NULL, "bad pattern: %s", err);
	rc = maildir_deliver(&m, "a@x", "mail/%", top, err, sizeof(err));
	CHECK(rc == 0, "trailing %%");
	rc = maildir_deliver(&m, "a@x", "", top, err, sizeof(err));
	CHECK(rc == 0, "empty pattern");
	CHECK(maildir_path("100%%/%u", "/b", "a@x", path, sizeof(path), err,
	    sizeof(err)) == 1 && strcmp(path, "/b/100%/a") == 0,
	    "%%%% is a %%: %s", path);
	CHECK(maildir_path("m/%u", "/b/", "a@x", path, sizeof(path), err,
	    sizeof(err)) == 1 && strcmp(path, "/b/m/a") == 0, "base/ %s",
	    path);
	CHECK(maildir_path("m/%u", NULL, "a@x", path, sizeof(path), err,
	    sizeof(err)) == 1 && strcmp(path, "m/a") == 0, "no base");
	memset(pat, 'p', sizeof(pat));
	pat[sizeof(pat) - 1] = '\0';
	CHECK(maildir_path(pat, NULL, "a@x", path, sizeof(path), err,
	    sizeof(err)) == 0, "too long: %s", err);

	/* A path through a regular file: refused for good. */
	snprintf(path, sizeof(path), "%s/afile", top);
	tu_write(path, "x", 1);
	rc = maildir_deliver(&m, "a@x", "afile/%u", top, err, sizeof(err));
	CHECK(rc == 0, "through a file: %d %s", rc, err);
	/* The Maildir itself a file. */
	rc = maildir_deliver(&m, "a@x", "afile", top, err, sizeof(err));
	CHECK(rc == 0, "maildir is a file: %d %s", rc, err);

	/* Permission denied: for now, not for good (root ignores modes). */
	if (geteuid() != 0) {
		snprintf(path, sizeof(path), "%s/locked", top);
		mkdir(path, 0500);
		rc = maildir_deliver(&m, "a@x", "locked/%u", top, err,
		    sizeof(err));
		CHECK(rc == -1, "permission: %d %s", rc, err);
		chmod(path, 0700);
	}
	spool_msg_close(&m);
}

int
main(void)
{
	struct spool	sp;
	char		root[600], err[256];
	int		fd;

	fd = open("/dev/null", O_RDONLY);
	if (fd > 0) {
		dup2(fd, 0);
		close(fd);
	}
	tu_mkdtemp(top, sizeof(top), "maildir_test");
	snprintf(root, sizeof(root), "%s/spool", top);
	if (spool_open(&sp, root, err, sizeof(err)) == -1) {
		printf("spool_open: %s\n", err);
		return 1;
	}
	test_deliver(&sp);
	test_hostile(&sp);
	test_refusals(&sp);
	spool_close(&sp);
	tu_rmtree(top);
	return tu_done("maildir_test");
}
