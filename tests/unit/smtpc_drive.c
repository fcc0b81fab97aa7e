/*
 * smtpc_drive: spool one message and deliver it with runtime/outbound/smtpc.c
 * in the real event loop, to the next hop(s) named on the command
 * line, then print what became of each recipient.  The Python tests
 * (tests/rt/smtpc-*.py) run it against real and hostile servers.
 *
 *	smtpc_drive [options] TARGET...
 *
 * TARGET is an address to try, in order: IP:PORT, [IPv6]:PORT, or
 * NAME=IP:PORT to give the host a name (for `tls verify' and logs);
 * or one of mx:DOMAIN or host:NAME, looked up with runtime/outbound/dns.c
 * against -s SERVERS first (port -P).
 *
 *	-f SENDER	envelope sender ("" for the null sender)
 *	-r RCPT		a recipient (repeat; default bob@example.org)
 *	-m FILE		the message as spooled (CRLF lines); default: a
 *			small message with a line that starts with a dot
 *	-8, -U		the message is 8BITMIME, SMTPUTF8
 *	-t LEVEL	none, opportunistic, required, verify
 *	-A CAFILE	trust anchors for verify
 *	-a MECH		plain, login, scram-sha-256; -u USER, -p PASSWORD
 *			(sealed to a fresh key, as a table holds it)
 *	-W		seal the password to another key than the one the
 *			session gets (it must refuse to open it)
 *	-T MS		every timeout, in milliseconds
 *	-k MS		abort the session after MS milliseconds
 *	-l LOG		protocol log file (default: stderr)
 *	-H NAME		our EHLO name (default client.test)
 *	-s SERVERS, -P PORT	resolver, MX port for mx: targets
 *	-n N		run N sessions of the same message at once, in the
 *			one loop (their results are printed one after the
 *			other)
 *
 * Output, one line per recipient, tab-separated:
 *	rcpt ADDR RESULT STATUS PEER|LOCAL TEXT
 * then, for each whose text holds the next hop's reply, "reply ADDR
 * REPLY" (the reply alone, as a bounce quotes it), then "peer NAME".
 * The daemon's diagnostics (oplog) go to stderr.  Exit 0 when the
 * session called back (or was aborted), 1 on a setup failure or a
 * stall (60 s).
 */
#include "spool_testutil.h"	/* first: it wants _XOPEN_SOURCE */
#include "config.h"

#include <sys/stat.h>

#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "dns.h"
#include "loop.h"
#include "plog.h"
#include "seal.h"
#include "smtpc.h"
#include "spool.h"
#include "tls.h"

#define MAXRCPT		64
#define MAXTARGET	16

#define MAXSESS		64

static struct loop	 L;
static int		 finished, nsess = 1, ndone;

static const char	 default_msg[] =
	"From: Alice <alice@example.net>\r\n"
	"To: Bob <bob@example.org>\r\n"
	"Subject: smtpc test\r\n"
	"Message-ID: <smtpc-drive@example.net>\r\n"
	"\r\n"
	"Hello Bob,\r\n"
	".a line that starts with a dot\r\n"
	"..and one with two\r\n"
	".\r\n"
	"\r\n"
	"the end.\r\n";

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "smtpc_drive: %s: %s\n", what, why);
	exit(1);
}

static void
on_done(struct smtpc *c, void *arg)
{
	(void)c;
	(void)arg;
	if (++ndone < nsess)
		return;
	finished = 1;
	loop_stop(&L);
}

static void
on_stall(struct loop *l, void *arg)
{
	(void)arg;
	fprintf(stderr, "smtpc_drive: stalled\n");
	loop_stop(l);
}

struct abort_ctx {
	struct smtpc	**c;
};

static void
on_abort(struct loop *l, void *arg)
{
	struct abort_ctx	*a = arg;
	int			 k;

	for (k = 0; k < nsess; k++)
		smtpc_abort(a->c[k], "aborted by the test");
	finished = 1;
	loop_stop(l);
}

static struct dns_query	 dq;
static int		 dns_done;

static void
on_dns(struct dns_query *q, void *arg)
{
	(void)q;
	(void)arg;
	dns_done = 1;
	loop_stop(&L);
}

/* "IP:PORT", "[v6]:PORT", "NAME=IP:PORT" into res (appended). */
static void
add_target(struct dns_result *res, const char *t)
{
	char		 buf[300], *name = NULL, *hp, *colon;
	struct dns_result one;
	long		 port;

	if (strlen(t) >= sizeof(buf))
		die(t, "too long");
	memcpy(buf, t, strlen(t) + 1);
	hp = buf;
	if ((colon = strchr(buf, '=')) != NULL) {
		*colon = '\0';
		name = buf;
		hp = colon + 1;
	}
	if ((colon = strrchr(hp, ':')) == NULL)
		die(t, "no port");
	*colon = '\0';
	port = strtol(colon + 1, NULL, 10);
	if (port <= 0 || port > 65535)
		die(t, "bad port");
	if (!dns_result_literal(&one, hp, (uint16_t)port))
		die(t, "not an IP address");
	if (res->naddr >= DNS_ADDR_MAX || res->nhost >= DNS_MX_MAX)
		die(t, "too many targets");
	res->addr[res->naddr] = one.addr[0];
	res->addr[res->naddr].host = (uint8_t)res->nhost;
	snprintf(res->hosts[res->nhost], sizeof(res->hosts[0]), "%.253s",
	    name != NULL ? name : one.hosts[0]);
	res->naddr++;
	res->nhost++;
	res->status = DNS_OK;
}

int
main(int argc, char **argv)
{
	struct smtpc_config	 cf;
	struct oplog		 oplog = { "smtpc_drive", 1, 0 };
	struct smtpc_route	 rt;
	struct smtpc_timeouts	 to;
	struct smtpc		*cs[MAXSESS];
	struct smtpc_rcpt	(*rcs)[MAXRCPT];
	const char		*rcpts[MAXRCPT];
	struct dns_result	 res;
	struct spool		 sp;
	struct spool_writer	 w;
	struct spool_env	 env;
	struct spool_msg	 m;
	struct plog		 log;
	struct tls_client_creds	*creds = NULL;
	struct seal_key		*key = NULL;
	struct seal_pub		 pub;
	struct loop_timer	 stall, abort_t;
	struct abort_ctx	 actx;
	struct dns		 D;
	struct dns_config	 dcf;
	char			 err[512], dir[256], path[300];
	char			 id[SPOOL_ID_SIZE];
	char			 token[2 * SEAL_MAX_SEALED];
	uint8_t			 sealed[SEAL_MAX_SEALED];
	const char		*sender = "alice@example.net", *msgfile = NULL;
	const char		*level = "none", *ca = NULL, *mech = NULL;
	const char		*user = NULL, *pass = NULL, *logpath = NULL;
	const char		*helo = "client.test", *servers = NULL;
	const char		*tmp;
	char			*body = NULL;
	size_t			 bodylen, nrcpt = 0, i;
	long			 sl = 0;
	int			 ch, eight = 0, utf8 = 0, tms = 0, kms = 0;
	int			 wrongkey = 0, mxport = 25, rcode, k;

	memset(&cf, 0, sizeof(cf));
	memset(&res, 0, sizeof(res));
	while ((ch = getopt(argc, argv, "f:r:m:8Ut:A:a:u:p:WT:k:l:H:s:P:n:"))
	    != -1) {
		switch (ch) {
		case 'f':
			sender = optarg;
			break;
		case 'r':
			if (nrcpt == MAXRCPT)
				die("-r", "too many recipients");
			rcpts[nrcpt++] = optarg;
			break;
		case 'm':
			msgfile = optarg;
			break;
		case '8':
			eight = 1;
			break;
		case 'U':
			utf8 = 1;
			break;
		case 't':
			level = optarg;
			break;
		case 'A':
			ca = optarg;
			break;
		case 'a':
			mech = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'p':
			pass = optarg;
			break;
		case 'W':
			wrongkey = 1;
			break;
		case 'T':
			tms = atoi(optarg);
			break;
		case 'k':
			kms = atoi(optarg);
			break;
		case 'l':
			logpath = optarg;
			break;
		case 'H':
			helo = optarg;
			break;
		case 's':
			servers = optarg;
			break;
		case 'P':
			mxport = atoi(optarg);
			break;
		case 'n':
			nsess = atoi(optarg);
			if (nsess < 1 || nsess > MAXSESS)
				die("-n", "1..64 sessions");
			break;
		default:
			fprintf(stderr, "usage: smtpc_drive [options] "
			    "TARGET...\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: smtpc_drive [options] TARGET...\n");
		return 2;
	}
	if (nrcpt == 0)
		rcpts[nrcpt++] = "bob@example.org";
	if (sodium_init() < 0)
		die("libsodium", "cannot start");
	if (loop_init(&L, 1024, 64, err, sizeof(err)) != 0)
		die("loop", err);
	if (plog_open(&log, logpath, err, sizeof(err)) != 0)
		die("log", err);

	/* A scratch spool with the message in it. */
	tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/smtpc_drive.XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp", strerror(errno));
	snprintf(path, sizeof(path), "%s/spool", dir);
	if (spool_open(&sp, path, err, sizeof(err)) != 0)
		die("spool", err);
	if (msgfile != NULL) {
		FILE	*f = fopen(msgfile, "rb");

		if (f == NULL || fseek(f, 0, SEEK_END) != 0 ||
		    (sl = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
			die(msgfile, strerror(errno));
		if ((body = malloc((size_t)sl + 1)) == NULL)
			die("malloc", "no memory");
		if (sl > 0 && fread(body, 1, (size_t)sl, f) != (size_t)sl)
			die(msgfile, "short read");
		fclose(f);
		bodylen = (size_t)sl;
	} else {
		body = strdup(default_msg);
		bodylen = strlen(default_msg);
	}
	memset(&env, 0, sizeof(env));
	memset(&w, 0, sizeof(w));
	env.session = "drive";
	env.client = "127.0.0.1:1";
	env.helo = "drive.test";
	env.sender = sender;
	env.body = eight ? SPOOL_BODY_8BITMIME : SPOOL_BODY_NONE;
	env.flags = utf8 ? SPOOL_F_SMTPUTF8 : 0;
	if (spool_begin(&sp, &w, &env) != 0)
		die("spool_begin", strerror(spool_error(&w)));
	for (i = 0; i < nrcpt; i++)
		if (spool_rcpt(&w, rcpts[i], strlen(rcpts[i]), NULL, 0) != 0)
			die("spool_rcpt", rcpts[i]);
	if (spool_body(&w, body, bodylen) != 0 ||
	    spool_commit(&w, id, err, sizeof(err)) != 0)
		die("spool", err);
	if (spool_msg_open(&sp, &m, id, err, sizeof(err)) != 1)
		die("spool_msg_open", err);

	/* Keys: the password travels sealed, as in a table. */
	memset(&rt, 0, sizeof(rt));
	rt.tls = strcmp(level, "verify") == 0 ? PTAB_TLS_VERIFY :
	    strcmp(level, "required") == 0 ? PTAB_TLS_REQUIRED :
	    strcmp(level, "opportunistic") == 0 ? PTAB_TLS_OPPORTUNISTIC :
	    PTAB_TLS_NONE;
	if (mech != NULL) {
		rt.mech = strcmp(mech, "plain") == 0 ? PTAB_MECH_PLAIN :
		    strcmp(mech, "login") == 0 ? PTAB_MECH_LOGIN :
		    PTAB_MECH_SCRAM_SHA_256;
		rt.user = user != NULL ? user : "";
		snprintf(path, sizeof(path), "%s/k1", dir);
		if (seal_keygen(path, err, sizeof(err)) != 0)
			die("keygen", err);
		snprintf(path, sizeof(path), "%s/k1.key", dir);
		if (seal_key_load(path, &key, err, sizeof(err)) != 0)
			die("key", err);
		snprintf(path, sizeof(path), "%s/k1.pub", dir);
		if (wrongkey) {
			snprintf(path, sizeof(path), "%s/k2", dir);
			if (seal_keygen(path, err, sizeof(err)) != 0)
				die("keygen", err);
			snprintf(path, sizeof(path), "%s/k2.pub", dir);
		}
		if (seal_pub_load(path, &pub, err, sizeof(err)) != 0)
			die("pub", err);
		if (seal_token(&pub, (const uint8_t *)(pass ? pass : ""),
		    pass ? strlen(pass) : 0, token, sizeof(token), err,
		    sizeof(err)) != 0)
			die("seal", err);
		if ((sl = seal_token_decode(token, strlen(token), sealed,
		    sizeof(sealed), err, sizeof(err))) < 0)
			die("seal", err);
		rt.secret = sealed;
		rt.secret_len = (size_t)sl;
	}
	if (rt.tls != PTAB_TLS_NONE &&
	    tls_client_creds_load(ca, &creds, err, sizeof(err)) != 0)
		die("trust", err);

	/* Where to: literals, or a lookup. */
	for (i = (size_t)optind; i < (size_t)argc; i++) {
		const char *t = argv[i];

		if (strncmp(t, "mx:", 3) == 0 || strncmp(t, "host:", 5) == 0) {
			memset(&dcf, 0, sizeof(dcf));
			dcf.servers = servers;
			dcf.shuffle_off = 1;
			if (dns_init(&D, &L, &dcf, err, sizeof(err)) != 0)
				die("dns", err);
			if ((t[0] == 'm' ? dns_lookup_mx(&D, &dq, t + 3,
			    (uint16_t)mxport, on_dns, NULL) :
			    dns_lookup_host(&D, &dq, t + 5, (uint16_t)mxport,
			    on_dns, NULL)) != 0)
				die("dns", dq.res.reason);
			if (loop_run(&L) != 0 || !dns_done)
				die("dns", "no answer");
			res = dq.res;
			dns_free(&D);
			printf("dns %s %s\n", res.status == DNS_OK ? "ok" :
			    "failed", res.reason);
			break;
		}
		add_target(&res, t);
	}

	cf.loop = &L;
	cf.log = &log;
	cf.sid = id;
	cf.helo = helo;
	cf.creds = creds;
	cf.key = key;
	cf.oplog = &oplog;
	if (tms > 0) {
		to.connect = to.greeting = to.command = to.mail = to.rcpt =
		    to.data_init = to.data_block = to.data_end = to.quit =
		    (uint32_t)tms;
		cf.to = &to;
	}
	if ((rcs = calloc((size_t)nsess, sizeof(*rcs))) == NULL)
		die("calloc", "no memory");
	for (k = 0; k < nsess; k++) {
		for (i = 0; i < nrcpt; i++)
			rcs[k][i].addr = rcpts[i];
		/* Sessions on the heap, so that ASan sees their edges. */
		if ((cs[k] = malloc(sizeof(*cs[k]))) == NULL)
			die("malloc", "no memory");
		if (smtpc_start(cs[k], &cf, &rt, &res, &m, rcs[k], nrcpt,
		    on_done, NULL, err, sizeof(err)) != 0)
			die("smtpc_start", err);
	}
	loop_timer_init(&stall, on_stall, NULL);
	if (loop_timer_arm(&L, &stall, 60000) != 0)
		die("loop", "timer");
	actx.c = cs;
	loop_timer_init(&abort_t, on_abort, &actx);
	if (kms > 0 && loop_timer_arm(&L, &abort_t, (uint64_t)kms) != 0)
		die("loop", "timer");
	if (loop_run(&L) != 0)
		die("loop", loop_error(&L));
	loop_timer_cancel(&L, &stall);
	loop_timer_cancel(&L, &abort_t);
	rcode = finished ? 0 : 1;
	for (k = 0; k < nsess; k++) {
		if (!finished)
			smtpc_abort(cs[k], "stalled");
		for (i = 0; i < nrcpt; i++)
			printf("rcpt\t%s\t%s\t%s\t%s\t%s\n", rcs[k][i].addr,
			    smtpc_result_name(rcs[k][i].result),
			    rcs[k][i].status, rcs[k][i].from_peer ? "peer" :
			    "local", rcs[k][i].text);
		for (i = 0; i < nrcpt; i++)
			if (rcs[k][i].from_peer)
				printf("reply\t%s\t%s\n", rcs[k][i].addr,
				    rcs[k][i].text + rcs[k][i].reply_at);
	}
	printf("peer %s\n", smtpc_peer_name(cs[0]));
	fflush(stdout);
	for (k = 0; k < nsess; k++) {
		memset(cs[k], 0xa5, sizeof(*cs[k]));
		free(cs[k]);
	}
	free(rcs);
	free(body);
	spool_msg_close(&m);
	spool_close(&sp);
	if (creds != NULL)
		tls_client_creds_unref(creds);
	if (key != NULL)
		seal_key_free(key);
	plog_close(&log);
	loop_free(&L);
	tu_rmtree(dir);
	return rcode;
}
