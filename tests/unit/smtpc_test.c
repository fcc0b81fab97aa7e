/*
 * smtpc_test: the parts of runtime/outbound/smtpc.c that need no peer: reply
 * status codes, routes read from a real table, the sessions that end
 * before connecting (a failed lookup, a route that would send a
 * password in clear, TLS without a TLS setup), the callback always on
 * a later loop turn and never after smtpc_abort(), and the memory a
 * session costs.
 */
#include "spool_testutil.h"	/* first: it wants _XOPEN_SOURCE */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "loop.h"
#include "ptab.h"
#include "ptab_sample.h"
#include "smtpc.h"
#include "spool.h"
#include "tls.h"

static int	 called;

static void
on_done(struct smtpc *c, void *arg)
{
	(void)c;
	(void)arg;
	called++;
}

/* Run the loop a few turns without blocking. */
static void
turns(struct loop *L, int n)
{
	while (n-- > 0)
		if (loop_once(L, 0) != 0)
			break;
}

static void
status(const char *reply, const char *want)
{
	char	 out[SMTPC_STATUS_MAX];

	smtpc_reply_status(reply, strlen(reply), out);
	CHECK(strcmp(out, want) == 0, "status of \"%s\": %s, want %s", reply,
	    out, want);
}

int
main(void)
{
	struct loop		 L;
	struct smtpc		 c;
	struct smtpc_config	 cf;
	struct smtpc_route	 rt;
	struct smtpc_rcpt	 rc[2];
	struct dns_result	 res;
	struct spool_msg	 m;
	struct ptab		 t;
	const struct ptab_domain_rec *d;
	uint8_t			*img;
	size_t			 imglen;
	char			 err[256];

	/* Enhanced codes, when they agree with the reply's class. */
	status("250 2.0.0 Ok: queued", "2.0.0");
	status("550 5.1.1 <bob@example.org>: no such user", "5.1.1");
	status("556 5.1.10 null MX", "5.1.10");
	status("451 4.3.0 try again", "4.3.0");
	status("550 4.1.1 class disagrees", "5.0.0");
	status("550 5.1 incomplete", "5.0.0");
	status("550 5.1.1234 too long", "5.0.0");
	status("550 no enhanced code", "5.0.0");
	status("421", "4.0.0");
	status("554 5.7.1", "5.7.1");
	status("", "4.0.0");

	CHECK(strcmp(smtpc_result_name(SMTPC_DELIVERED), "delivered") == 0 &&
	    strcmp(smtpc_result_name(SMTPC_BOUNCED), "bounced") == 0 &&
	    strcmp(smtpc_result_name(SMTPC_DEFERRED), "deferred") == 0,
	    "result names");

	/* Routes from a table built by the real builder. */
	CHECK(sample_table(1, &img, &imglen, err, sizeof(err)) == 0, "%s",
	    err);
	CHECK(ptab_load(&t, img, imglen, err, sizeof(err)) == 0, "%s", err);
	d = ptab_outbound_lookup(&t, "ny.example", 10);
	CHECK(d != NULL, "ny.example route");
	if (d != NULL) {
		smtpc_route_from_ptab(&rt, &t, d);
		CHECK(rt.tls == PTAB_TLS_VERIFY &&
		    rt.mech == PTAB_MECH_SCRAM_SHA_256 &&
		    rt.user != NULL && strcmp(rt.user, "ims-sf") == 0 &&
		    rt.secret_len == 19 &&
		    memcmp(rt.secret, "sealed-bytes-for-ny", 19) == 0,
		    "the ny.example route: verify, SCRAM, ims-sf, its secret");
	}
	d = ptab_outbound_lookup(&t, "elsewhere.example", 17);
	CHECK(d != NULL, "* route");
	if (d != NULL) {
		smtpc_route_from_ptab(&rt, &t, d);
		CHECK(rt.tls == PTAB_TLS_OPPORTUNISTIC &&
		    rt.mech == PTAB_MECH_NONE && rt.user == NULL &&
		    rt.secret == NULL, "the * route: opportunistic, no auth");
	}

	/* Sessions that end before any connection. */
	CHECK(loop_init(&L, 256, 16, err, sizeof(err)) == 0, "%s", err);
	memset(&cf, 0, sizeof(cf));
	cf.loop = &L;
	cf.sid = "test";
	cf.helo = "client.test";
	memset(&m, 0, sizeof(m));
	m.fd = -1;
	snprintf(m.sender, sizeof(m.sender), "alice@example.net");
	memset(rc, 0, sizeof(rc));
	rc[0].addr = "bob@example.org";
	rc[1].addr = "carol@example.org";
	memset(&rt, 0, sizeof(rt));

	memset(&res, 0, sizeof(res));
	res.status = DNS_PERMFAIL;
	snprintf(res.dsn, sizeof(res.dsn), "5.1.10");
	snprintf(res.reason, sizeof(res.reason), "example.org: null MX");
	called = 0;
	CHECK(smtpc_start(&c, &cf, &rt, &res, &m, rc, 2, on_done, NULL, err,
	    sizeof(err)) == 0, "start: %s", err);
	CHECK(called == 0, "no callback from inside smtpc_start");
	turns(&L, 2);
	CHECK(called == 1, "the callback came on a later turn");
	CHECK(rc[0].result == SMTPC_BOUNCED && rc[1].result == SMTPC_BOUNCED &&
	    strcmp(rc[0].status, "5.1.10") == 0 && !rc[0].from_peer &&
	    strstr(rc[0].text, "null MX") != NULL, "a permanent DNS failure "
	    "bounces with its status and reason");

	res.status = DNS_TEMPFAIL;
	snprintf(res.dsn, sizeof(res.dsn), "4.4.3");
	called = 0;
	CHECK(smtpc_start(&c, &cf, &rt, &res, &m, rc, 2, on_done, NULL, err,
	    sizeof(err)) == 0, "start: %s", err);
	turns(&L, 2);
	CHECK(called == 1 && rc[0].result == SMTPC_DEFERRED &&
	    strcmp(rc[0].status, "4.4.3") == 0, "a temporary DNS failure "
	    "defers");

	/* A password on a route without TLS: never sent, deferred. */
	dns_result_literal(&res, "127.0.0.1", 9);
	rt.tls = PTAB_TLS_OPPORTUNISTIC;
	rt.mech = PTAB_MECH_PLAIN;
	called = 0;
	CHECK(smtpc_start(&c, &cf, &rt, &res, &m, rc, 2, on_done, NULL, err,
	    sizeof(err)) == 0, "start: %s", err);
	turns(&L, 2);
	CHECK(called == 1 && rc[0].result == SMTPC_DEFERRED &&
	    strstr(rc[0].text, "credentials") != NULL,
	    "credentials below tls required: deferred (%s)", rc[0].text);

	/* TLS required and no TLS setup. */
	rt.tls = PTAB_TLS_REQUIRED;
	rt.mech = PTAB_MECH_NONE;
	called = 0;
	CHECK(smtpc_start(&c, &cf, &rt, &res, &m, rc, 2, on_done, NULL, err,
	    sizeof(err)) == 0, "start: %s", err);
	turns(&L, 2);
	CHECK(called == 1 && rc[1].result == SMTPC_DEFERRED,
	    "tls required without a TLS setup: deferred");

	/* Aborted before the callback: none comes, all deferred. */
	rt.tls = PTAB_TLS_NONE;
	memset(&res, 0, sizeof(res));
	res.status = DNS_OK;		/* but no address */
	called = 0;
	CHECK(smtpc_start(&c, &cf, &rt, &res, &m, rc, 2, on_done, NULL, err,
	    sizeof(err)) == 0, "start: %s", err);
	smtpc_abort(&c, "shutting down");
	turns(&L, 3);
	CHECK(called == 0, "no callback after smtpc_abort");
	CHECK(rc[0].result == SMTPC_DEFERRED, "aborted: deferred");
	smtpc_abort(&c, "again");	/* harmless */
	CHECK(loop_timer_count(&L) == 0, "no timer left armed");

	/* Bad arguments: -1, and no callback. */
	called = 0;
	CHECK(smtpc_start(&c, &cf, &rt, &res, &m, rc, 0, on_done, NULL, err,
	    sizeof(err)) == -1, "no recipients: refused");
	turns(&L, 2);
	CHECK(called == 0, "refused: no callback");

	/* Memory: fixed per session; TLS only while a connection has it. */
	printf("sizeof(struct smtpc) = %zu, TLS client engine = %zu\n",
	    sizeof(struct smtpc), tls_conn_size(TLS_ROLE_CLIENT));
	CHECK(sizeof(struct smtpc) <= 10 * 1024, "a session fits in 10 KiB");

	loop_free(&L);
	ptab_close(&t);
	free(img);
	return check_finish();
}
