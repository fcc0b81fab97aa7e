/*
 * Helpers shared by the unit tests of the runtime's sessions, queue
 * and relay: a small policy table built with the real builder and
 * mapped as the daemon maps one, a message committed to a spool, and
 * a way to turn the event loop until something has happened.
 * Header-only, like spool_testutil.h (include that one first).
 */
#ifndef RT_TESTUTIL_H
#define RT_TESTUTIL_H

#include <stdint.h>
#include <time.h>

#include "loop.h"
#include "oplog.h"
#include "plog.h"
#include "ptab.h"
#include "spool.h"
#include "table.h"

#define RT_HOSTNAME	"mx.test.example"

/*
 * The table: host name RT_HOSTNAME, spool "spool" beside it, clients
 * admitted without TLS or AUTH and not allowed to relay;
 * local.example delivered to Maildirs "mail/%u", broken.example to a
 * Maildir pattern that cannot work (every delivery fails for good),
 * remote.example relayed without TLS to 127.0.0.1:port.  Written into
 * dir and mapped; NULL on failure (printed).
 */
__attribute__((unused)) static struct table *
rt_table(const char *dir, uint16_t port)
{
	struct ptab_builder	*b;
	struct ptab_server_in	 s;
	struct ptab_domain_in	 d;
	struct table		*tb = NULL;
	uint8_t			*img = NULL;
	size_t			 len;
	char			 path[4096], err[256];

	if ((b = ptab_builder_new()) == NULL)
		return NULL;
	memset(&s, 0, sizeof(s));
	s.hostname = RT_HOSTNAME;
	s.spool = "spool";
	s.max_msgsize = 1024 * 1024;
	s.max_rcpts = 10;
	s.max_conns = 10;
	s.max_conns_host = 10;
	s.max_authfail = 3;
	s.to_command = 30;
	s.to_data = 30;
	s.to_connect = 5;
	s.lifetime = 86400;
	s.retry = 600;
	if (ptab_builder_server(b, &s) == -1 ||
	    ptab_builder_default(b, 1, PTAB_ACT_ALLOW, 0, 0, NULL) == -1)
		goto fail;
	memset(&d, 0, sizeof(d));
	d.domain = "local.example";
	d.line = 2;
	d.delivery = PTAB_DELIVER_MAILDIR;
	d.target = "mail/%u";
	if (ptab_builder_accept(b, &d) == -1)
		goto fail;
	d.domain = "broken.example";
	d.line = 3;
	d.target = "mail/%x";
	if (ptab_builder_accept(b, &d) == -1)
		goto fail;
	memset(&d, 0, sizeof(d));
	d.domain = "remote.example";
	d.line = 4;
	d.delivery = PTAB_DELIVER_RELAY;
	d.target = "127.0.0.1";
	d.port = port;
	d.tls = PTAB_TLS_NONE;
	if (ptab_builder_outbound(b, &d) == -1)
		goto fail;
	if (ptab_build(b, NULL, NULL, &img, &len, err, sizeof(err)) != 0) {
		printf("table: %s\n", err);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/test.ptab", dir);
	if (ptab_write_file(path, img, len, err, sizeof(err)) != 0 ||
	    (tb = table_load(path, "sysname.invalid", err,
	    sizeof(err))) == NULL)
		printf("table: %s\n", err);
	goto out;
fail:
	printf("table: a builder call failed\n");
out:
	free(img);
	ptab_builder_free(b);
	return tb;
}

/*
 * Commit a message from sender to the n recipients rcpts; the queue id
 * goes into id.  Returns 0, or -1 (printed).
 */
__attribute__((unused)) static int
rt_commit(struct spool *sp, const char *sender, const char **rcpts,
    size_t n, char id[SPOOL_ID_SIZE])
{
	static const char	 body[] = "Subject: test\r\n\r\nHello.\r\n";
	struct spool_writer	 w;
	struct spool_env	 env;
	char			 err[256];
	size_t			 i;

	memset(&w, 0, sizeof(w));
	memset(&env, 0, sizeof(env));
	env.session = "test";
	env.client = "127.0.0.1:1";
	env.helo = "client.example";
	env.sender = sender;
	if (spool_begin(sp, &w, &env) != 0) {
		printf("spool_begin failed\n");
		return -1;
	}
	for (i = 0; i < n; i++)
		if (spool_rcpt(&w, rcpts[i], strlen(rcpts[i]), NULL, 0) != 0) {
			printf("spool_rcpt failed\n");
			spool_abort(&w);
			return -1;
		}
	(void)spool_body(&w, body, sizeof(body) - 1);
	if (spool_commit(&w, id, err, sizeof(err)) != 0) {
		printf("spool_commit: %s\n", err);
		return -1;
	}
	return 0;
}

/* Keeps loop_once() from waiting long when nothing else is armed. */
static void
rt_tick(struct loop *L, void *arg)
{
	(void)L;
	(void)arg;
}

/*
 * Turn the loop until done(arg) says 1, for at most ms milliseconds.
 * Returns what done() said last.
 */
__attribute__((unused)) static int
rt_spin(struct loop *L, int (*done)(void *), void *arg, unsigned ms)
{
	struct loop_timer	 tick;
	struct timespec		 t0, t;
	int			 d;

	loop_timer_init(&tick, rt_tick, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!(d = done(arg))) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000 >= (long)ms)
			break;
		if (!loop_timer_armed(&tick) &&
		    loop_timer_arm(L, &tick, 20) != 0)
			break;
		if (loop_once(L, 1) != 0)
			break;
	}
	loop_timer_cancel(L, &tick);
	return d;
}

/*
 * What the server would own, for one test: a scratch folder with the
 * table (rt_table), the spool "spool" and the protocol log
 * "protocol.log" in it, and a loop.
 */
struct rt_site {
	char		 dir[512];
	struct table	*tb;
	struct spool	 sp;
	struct plog	 log;
	struct loop	 L;
	struct oplog	 ol;
};

/* Set up site for test name, remote.example at port.  0 or -1. */
__attribute__((unused)) static int
rt_site_open(struct rt_site *s, const char *name, uint16_t port)
{
	char	 path[4096], err[256];

	memset(s, 0, sizeof(*s));
	s->log.fd = -1;
	s->ol.name = name;
	s->ol.foreground = 1;
	tu_mkdtemp(s->dir, sizeof(s->dir), name);
	if ((s->tb = rt_table(s->dir, port)) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/spool", s->dir);
	if (spool_open(&s->sp, path, err, sizeof(err)) != 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/protocol.log", s->dir);
	if (plog_open(&s->log, path, err, sizeof(err)) != 0)
		goto fail;
	if (loop_init(&s->L, 256, 64, err, sizeof(err)) != 0)
		goto fail;
	return 0;
fail:
	printf("%s: %s\n", name, err);
	return -1;
}

__attribute__((unused)) static void
rt_site_close(struct rt_site *s)
{
	plog_close(&s->log);
	spool_close(&s->sp);
	table_unref(s->tb);
	loop_free(&s->L);
	tu_rmtree(s->dir);
}

/* 1 if the file at dir/rel (text or not) holds text. */
__attribute__((unused)) static int
rt_file_has(const char *dir, const char *rel, const char *text)
{
	static char	 buf[65536];
	char		 path[4096];
	size_t		 tl = strlen(text), i;
	long		 n;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if ((n = tu_read(path, buf, sizeof(buf))) < (long)tl)
		return 0;
	for (i = 0; i + tl <= (size_t)n; i++)
		if (memcmp(buf + i, text, tl) == 0)
			return 1;
	return 0;
}

#endif
