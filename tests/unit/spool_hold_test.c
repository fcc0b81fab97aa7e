/*
 * spool_hold_test: what bastionctl adds to the spool.  hold/ and
 * release move a message whole and refuse what they must (no such
 * message, a name that is not a queue id, a clash); a held message is
 * opened only from hold/ and removed from there with its state; the
 * state file reads back what was written, keeps the old one when a
 * round is aborted, survives hostile contents, and is pruned at resume
 * when its message is gone.
 */
#include "spool_testutil.h"

#include <stdint.h>

#include "spool.h"

static void
put(const char *path, const char *text)
{
	FILE	*fp = fopen(path, "w");

	if (fp == NULL) {
		printf("cannot write %s\n", path);
		exit(99);
	}
	fputs(text, fp);
	fclose(fp);
}

/* A message with three recipients; its id in id. */
static void
queue_one(struct spool *sp, char id[SPOOL_ID_SIZE])
{
	struct spool_writer	 w;
	struct spool_env	 env;
	char			 err[256];
	static const char	 body[] = "Subject: t\r\n\r\nhi\r\n";

	memset(&w, 0, sizeof(w));
	memset(&env, 0, sizeof(env));
	env.sender = "alice@example.test";
	env.session = "s1";
	env.client = "127.0.0.1:1";
	env.helo = "h";
	CHECK(spool_begin(sp, &w, &env) == 0);
	CHECK(spool_rcpt(&w, "a@x.test", 8, NULL, 0) == 0);
	CHECK(spool_rcpt(&w, "b@x.test", 8, NULL, 0) == 0);
	CHECK(spool_rcpt(&w, "c@x.test", 8, NULL, 0) == 0);
	CHECK(spool_body(&w, body, sizeof(body) - 1) == 0);
	CHECK(spool_commit(&w, id, err, sizeof(err)) == 0, "%s", err);
}

int
main(void)
{
	struct spool			 sp;
	struct spool_msg		 m;
	struct spool_state_writer	 w;
	struct spool_state		 st;
	char				 dir[256], path[512], err[256];
	char				 id[SPOOL_ID_SIZE], other[SPOOL_ID_SIZE];
	long				 n;

	tu_mkdtemp(dir, sizeof(dir), "spool-hold");
	snprintf(path, sizeof(path), "%s/spool", dir);
	CHECK(spool_open(&sp, path, err, sizeof(err)) == 0, "%s", err);
	queue_one(&sp, id);
	queue_one(&sp, other);

	/* hold and release */
	CHECK(spool_hold(&sp, id, err, sizeof(err)) == 1, "%s", err);
	CHECK(spool_msg_open(&sp, &m, id, err, sizeof(err)) == 0,
	    "a held message is not in queue/");
	CHECK(spool_hold(&sp, id, err, sizeof(err)) == 0, "held twice");
	CHECK(spool_release(&sp, other, err, sizeof(err)) == 0,
	    "release of a message that is not held");
	CHECK(spool_hold(&sp, "../queue", err, sizeof(err)) == -1 &&
	    strstr(err, "queue id") != NULL, "a path is no id");
	CHECK(spool_due_now(&sp, id) == 0, "a held message is never due");
	n = spool_resume(&sp, NULL, NULL, err, sizeof(err));
	CHECK(n == 1, "resume sees only queue/ (%ld)", n);
	snprintf(path, sizeof(path), "%s/spool/hold/%s", dir, id);
	CHECK(access(path, F_OK) == 0, "resume leaves hold/ alone");

	/* A clash is refused, never a replacement. */
	snprintf(path, sizeof(path), "%s/spool/queue/%s", dir, id);
	put(path, "not a message");
	CHECK(spool_release(&sp, id, err, sizeof(err)) == -1 &&
	    strstr(err, "exists") != NULL, "release onto a name taken: %s",
	    err);
	unlink(path);
	CHECK(spool_release(&sp, id, err, sizeof(err)) == 1, "%s", err);
	CHECK(spool_msg_open(&sp, &m, id, err, sizeof(err)) == 1);
	spool_msg_close(&m);
	CHECK(spool_due_now(&sp, id) == 1);

	/* state: written, read back in index order */
	CHECK(spool_state_open(&sp, id, &st) == 0, "no state yet");
	spool_state_close(&st);
	CHECK(spool_state_begin(&sp, &w, id, 3, 1700000000) == 0);
	spool_state_rcpt(&w, 0, "421 4.3.0 try\r\nlater");
	spool_state_rcpt(&w, 2, "connect failed");
	CHECK(spool_state_commit(&w, err, sizeof(err)) == 0, "%s", err);
	CHECK(spool_state_open(&sp, id, &st) == 1 && st.attempts == 3 &&
	    st.last == 1700000000);
	CHECK(spool_state_reply(&st, 0) == 1 &&
	    strcmp(st.text, "421 4.3.0 try??later") == 0, "%s", st.text);
	CHECK(spool_state_reply(&st, 1) == 0, "no reply for 1");
	CHECK(spool_state_reply(&st, 2) == 1 &&
	    strcmp(st.text, "connect failed") == 0);
	CHECK(spool_state_reply(&st, 3) == 0);
	spool_state_close(&st);

	/* An aborted round keeps the last state. */
	CHECK(spool_state_begin(&sp, &w, id, 4, 1700000100) == 0);
	spool_state_rcpt(&w, 1, "new");
	spool_state_abort(&w);
	CHECK(spool_state_open(&sp, id, &st) == 1 && st.attempts == 3);
	spool_state_close(&st);
	snprintf(path, sizeof(path), "%s/spool/state", dir);
	CHECK(tu_count(path) == 1, "no .new left");

	/* Hostile state files: read as far as they make sense. */
	snprintf(path, sizeof(path), "%s/spool/state/%s", dir, id);
	put(path, "bastion-state 1\nattempts 99999999999999999999\nlast -5\n"
	    "r x y\nr 4294967296 z\nr 1\nr 2 ok\n");
	CHECK(spool_state_open(&sp, id, &st) == 1 && st.attempts == 0 &&
	    st.last == 0, "absurd counts read as none");
	CHECK(spool_state_reply(&st, 1) == 0);
	CHECK(spool_state_reply(&st, 2) == 1 && strcmp(st.text, "ok") == 0);
	spool_state_close(&st);
	put(path, "something else\n");
	CHECK(spool_state_open(&sp, id, &st) == 0, "another format");
	spool_state_close(&st);
	{
		FILE *fp = fopen(path, "w");
		int i;
		fputs("bastion-state 1\nattempts 1\nlast 1\nr 0 ", fp);
		for (i = 0; i < 5000; i++)
			fputc('x', fp);
		fputs("\nr 1 short\n", fp);
		fclose(fp);
	}
	CHECK(spool_state_open(&sp, id, &st) == 1);
	CHECK(spool_state_reply(&st, 0) == 1 &&
	    strlen(st.text) < sizeof(st.text), "a long line is cut");
	CHECK(spool_state_reply(&st, 1) == 1 &&
	    strcmp(st.text, "short") == 0, "and the next one read: %s",
	    st.text);
	spool_state_close(&st);

	/* Removal takes the state along; resume prunes orphans. */
	CHECK(spool_hold(&sp, id, err, sizeof(err)) == 1);
	CHECK(spool_msg_open_held(&sp, &m, id, err, sizeof(err)) == 1 &&
	    m.held);
	CHECK(spool_msg_remove(&sp, &m, err, sizeof(err)) == 0, "%s", err);
	snprintf(path, sizeof(path), "%s/spool/hold", dir);
	CHECK(tu_count(path) == 0, "removed from hold/");
	snprintf(path, sizeof(path), "%s/spool/state", dir);
	CHECK(tu_count(path) == 0, "its state too");
	snprintf(path, sizeof(path), "%s/spool/state/%s", dir, id);
	put(path, "bastion-state 1\n");
	snprintf(path, sizeof(path), "%s/spool/state/%s.new", dir, other);
	put(path, "half");
	snprintf(path, sizeof(path), "%s/spool/state/%s", dir, other);
	put(path, "bastion-state 1\n");
	CHECK(spool_resume(&sp, NULL, NULL, err, sizeof(err)) == 1);
	snprintf(path, sizeof(path), "%s/spool/state", dir);
	CHECK(tu_count(path) == 1, "only the live message's state is left");

	spool_close(&sp);
	tu_rmtree(dir);
	return check_finish();
}
