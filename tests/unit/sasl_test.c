/*
 * Unit tests for runtime/inbound/sasl.c: scripted AUTH exchanges for PLAIN,
 * LOGIN and SCRAM-SHA-256 (RFC 7677's example with its fixed nonces,
 * and lib/scram.c's client against us), with PLAIN and LOGIN passwords
 * checked by verify.c through a real loop.  Also: cancel at every
 * step, bad base64, over-long lines, authzid mismatch, unknown users
 * answered like wrong passwords, argon2id users refused SCRAM cleanly.
 */
#include "config.h"

#include "check.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "b64.h"
#include "loop.h"
#include "sasl.h"
#include "scram.h"
#include "verifier.h"
#include "pwcheck.h"

/* RFC 7677 section 3. */
#define RFC_C1		"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE	"%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_S1		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)" \
			"hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_C2		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfu" \
			"xFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHg" \
			"sqmmiz7AndVQ="
#define RFC_S2		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
#define RFC_VERIFIER	"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" \
			"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:" \
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="

static struct loop	L;
static struct pwcheck	V;
static struct sasl_ctx	ctx;
static char		alice_v[VERIFIER_MAX + 1], bob_v[VERIFIER_MAX + 1];
static int		lookups;

/* alice: SCRAM ("alice-pw"); bob: argon2id ("bob-pw"); user: RFC. */
static const char *
lookup(void *arg, const char *user, size_t len, size_t *vlen)
{
	const char	*v = NULL;

	(void)arg;
	lookups++;
	if (len == 5 && memcmp(user, "alice", 5) == 0)
		v = alice_v;
	else if (len == 3 && memcmp(user, "bob", 3) == 0)
		v = bob_v;
	else if (len == 4 && memcmp(user, "user", 4) == 0)
		v = RFC_VERIFIER;
	if (v != NULL)
		*vlen = strlen(v);
	return v;
}

struct vres {
	int	 calls, result;
};

static void
on_verified(void *arg, int result)
{
	struct vres	*r = arg;

	r->calls++;
	r->result = result;
}

/*
 * Run the verification the machine asked for, through the loop, and
 * give the result back.  Checks that pwcheck_start wiped the password.
 */
static int
do_verify(struct sasl *s, char *reply, size_t replysz)
{
	struct pwcheck_job	 job;
	struct vres		 r = { 0, 0 };
	const char		*v;
	char			*pw, err[256];
	size_t			 vlen, pwlen, k;
	int			 i, zero = 1;

	pwcheck_job_init(&job);
	v = sasl_verifier(s, &vlen);
	pw = sasl_password(s, &pwlen);
	if (pwcheck_start(&V, &job, v, vlen, pw, pwlen, on_verified, &r, err,
	    sizeof(err)) != 0) {
		printf("  pwcheck_start: %s\n", err);
		return sasl_verified(s, -1, reply, replysz);
	}
	for (k = 0; k < pwlen; k++)
		if (pw[k] != 0)
			zero = 0;
	CHECK(zero, "the session's copy of the password is wiped");
	for (i = 0; i < 20000 && r.calls == 0; i++)
		(void)loop_once(&L, 1);
	return sasl_verified(s, r.result, reply, replysz);
}

/* Base64 of text in which '^' stands for NUL. */
static void
enc(const char *text, char *out, size_t outsz)
{
	uint8_t	 raw[4096];
	size_t	 n = strlen(text), i;

	for (i = 0; i < n && i < sizeof(raw); i++)
		raw[i] = text[i] == '^' ? 0 : (uint8_t)text[i];
	if (b64_encode(raw, i, out, outsz) < 0)
		out[0] = '\0';
}

/*
 * A scripted exchange.  Client steps:
 *	"AUTH MECH"		no initial response
 *	"AUTH MECH raw"		initial response as given
 *	"AUTH64 MECH text"	initial response base64(text), ^ = NUL
 *	"C raw" / "C64 text"	a line during the exchange
 *	"C"			an empty line
 * followed by the reply expected, "S text" (exact) or "S* text"
 * (prefix).  A SASL_VERIFY status is resolved through verify first.
 * Returns the last status.
 */
static int
dialog(const char *name, struct sasl *s, const char *const *script)
{
	char		 line[SASL_LINE_MAX + 16];
	char		 reply[SASL_REPLY_MAX];
	const char	*c, *sp, *mech, *ir;
	size_t		 mlen, irlen;
	int		 st = -1, i;

	for (i = 0; script[i] != NULL; i += 2) {
		c = script[i];
		reply[0] = '\0';
		if (strncmp(c, "AUTH", 4) == 0) {
			int	 b64 = strncmp(c, "AUTH64 ", 7) == 0;

			mech = c + (b64 ? 7 : 5);
			sp = strchr(mech, ' ');
			mlen = sp != NULL ? (size_t)(sp - mech) : strlen(mech);
			ir = NULL;
			irlen = 0;
			if (sp != NULL && b64) {
				enc(sp + 1, line, sizeof(line));
				ir = line;
				irlen = strlen(line);
			} else if (sp != NULL) {
				ir = sp + 1;
				irlen = strlen(ir);
			}
			st = sasl_start(s, mech, mlen, ir, irlen, reply,
			    sizeof(reply));
		} else if (strncmp(c, "C64 ", 4) == 0) {
			enc(c + 4, line, sizeof(line));
			st = sasl_step(s, line, strlen(line), reply,
			    sizeof(reply));
		} else if (strcmp(c, "C") == 0) {
			st = sasl_step(s, "", 0, reply, sizeof(reply));
		} else {
			st = sasl_step(s, c + 2, strlen(c + 2), reply,
			    sizeof(reply));
		}
		if (st == SASL_VERIFY) {
			CHECK(reply[0] == '\0', "%s: nothing to send while "
			    "verifying", name);
			st = do_verify(s, reply, sizeof(reply));
		}
		if (script[i + 1] == NULL) {
			CHECK(0, "%s: script ends without a reply", name);
			break;
		}
		if (strncmp(script[i + 1], "S* ", 3) == 0)
			CHECK(strncmp(reply, script[i + 1] + 3,
			    strlen(script[i + 1] + 3)) == 0,
			    "%s step %d: got '%s', want '%s...'", name, i / 2,
			    reply, script[i + 1] + 3);
		else
			CHECK(strcmp(reply, script[i + 1] + 2) == 0,
			    "%s step %d: got '%s', want '%s'", name, i / 2,
			    reply, script[i + 1] + 2);
	}
	return st;
}

#define T_OK	"235 2.7.0 Authentication successful"
#define T_LONG	"500 5.5.6 Authentication exchange line is too long"
#define OK	"S " T_OK
#define BADPW	"S 535 5.7.8 Authentication credentials invalid"
#define CANCEL	"S 501 5.7.0 Authentication cancelled"
#define DECODE	"S 501 5.5.2 Cannot decode the response (base64)"
#define MALF	"S 501 5.5.2 Malformed authentication response"
#define LONG	"S " T_LONG
#define UNKNOWN	"S 504 5.5.4 Unrecognized authentication type"

static void
test_plain(void)
{
	struct sasl	 s;

	sasl_init(&s, &ctx, SASL_MECHS_ALL, lookup, NULL);
	{
		const char *const sc[] = {
		    "AUTH64 PLAIN ^alice^alice-pw", OK, NULL };
		CHECK(dialog("plain ir", &s, sc) == SASL_OK, "status");
		CHECK(strcmp(sasl_user(&s, NULL), "alice") == 0, "user");
	}
	{
		const char *const sc[] = {
		    "AUTH plain", "S 334 ",
		    "C64 alice^alice^alice-pw", OK, NULL };
		CHECK(dialog("plain 334, authzid = authcid", &s, sc) ==
		    SASL_OK, "status");
	}
	{
		const char *const sc[] = {
		    "AUTH64 PLAIN ^alice^alice-pX", BADPW, NULL };
		CHECK(dialog("plain wrong", &s, sc) == SASL_FAIL, "status");
	}
	{
		const char *const sc[] = {
		    "AUTH64 PLAIN ^mallory^alice-pw", BADPW, NULL };
		CHECK(dialog("plain unknown user", &s, sc) == SASL_FAIL,
		    "unknown user: same reply as a wrong password");
	}
	{
		const char *const sc[] = {
		    "AUTH64 PLAIN ^bob^bob-pw", OK, NULL };
		CHECK(dialog("plain argon2id", &s, sc) == SASL_OK, "status");
	}
	{
		const char *const sc[] = {
		    "AUTH64 PLAIN ^bob^bob-pX", BADPW, NULL };
		dialog("plain argon2id wrong", &s, sc);
	}
	{
		const char *const sc[] = {
		    "AUTH64 PLAIN bob^alice^alice-pw",
		    "S 535 5.7.8 Authorization identity must be empty or "
		    "the user name", NULL };
		lookups = 0;
		CHECK(dialog("plain authzid mismatch", &s, sc) == SASL_FAIL,
		    "status");
		CHECK(lookups == 0, "no lookup for a mismatched authzid");
	}
	{
		const char *const sc[] = {
		    "AUTH PLAIN =", MALF,
		    "AUTH64 PLAIN alice-pw", MALF,
		    "AUTH64 PLAIN ^alice", MALF,
		    "AUTH64 PLAIN ^^pw", MALF,
		    "AUTH64 PLAIN ^alice^", MALF,
		    "AUTH64 PLAIN ^alice^pw^x", MALF,
		    "AUTH PLAIN AGFsaWNlAGFsaWNlLXB", DECODE,
		    "AUTH PLAIN AGFsaWNl!GFsaWNlLXB3", DECODE,
		    "AUTH PLAIN", "S 334 ",
		    "C *", CANCEL,
		    "AUTH PLAIN", "S 334 ",
		    "C", MALF,
		    "AUTH PLAINS", UNKNOWN,
		    "AUTH CRAM-MD5", UNKNOWN,
		    NULL };
		CHECK(dialog("plain bad input", &s, sc) == SASL_BAD,
		    "status");
	}
	/* A disabled mechanism is unknown. */
	sasl_init(&s, &ctx, SASL_MECHBIT(SASL_MECH_SCRAM), lookup, NULL);
	{
		const char *const sc[] = {
		    "AUTH64 PLAIN ^alice^alice-pw", UNKNOWN, NULL };
		dialog("plain disabled", &s, sc);
	}
	sasl_reset(&s);
}

static void
test_login(void)
{
	struct sasl	 s;

	sasl_init(&s, &ctx, SASL_MECHS_ALL, lookup, NULL);
	{
		const char *const sc[] = {
		    "AUTH LOGIN", "S 334 VXNlcm5hbWU6",
		    "C64 alice", "S 334 UGFzc3dvcmQ6",
		    "C64 alice-pw", OK, NULL };
		CHECK(dialog("login", &s, sc) == SASL_OK, "status");
	}
	{
		const char *const sc[] = {
		    "AUTH64 LOGIN bob", "S 334 UGFzc3dvcmQ6",
		    "C64 bob-pw", OK, NULL };
		CHECK(dialog("login with initial response", &s, sc) ==
		    SASL_OK, "status");
	}
	{
		const char *const sc[] = {
		    "AUTH LOGIN", "S 334 VXNlcm5hbWU6",
		    "C64 alice", "S 334 UGFzc3dvcmQ6",
		    "C64 wrong", BADPW,
		    "AUTH LOGIN", "S 334 VXNlcm5hbWU6",
		    "C64 nobody", "S 334 UGFzc3dvcmQ6",
		    "C64 wrong", BADPW,
		    "AUTH LOGIN", "S 334 VXNlcm5hbWU6",
		    "C *", CANCEL,
		    "AUTH LOGIN", "S 334 VXNlcm5hbWU6",
		    "C64 alice", "S 334 UGFzc3dvcmQ6",
		    "C *", CANCEL,
		    "AUTH LOGIN", "S 334 VXNlcm5hbWU6",
		    "C ####", DECODE,
		    "AUTH LOGIN", "S 334 VXNlcm5hbWU6",
		    "C", MALF,
		    "AUTH LOGIN", "S 334 VXNlcm5hbWU6",
		    "C64 al^ice", MALF,
		    NULL };
		dialog("login failures", &s, sc);
	}
	sasl_reset(&s);
}

static void
test_long_lines(void)
{
	struct sasl	 s;
	static char	 big[SASL_LINE_MAX + 2];
	char		 reply[SASL_REPLY_MAX];
	uint8_t		 raw[1200];
	int		 st;

	sasl_init(&s, &ctx, SASL_MECHS_ALL, lookup, NULL);
	/* Longer than RFC 4954's line bound. */
	memset(big, 'A', sizeof(big) - 1);
	st = sasl_start(&s, "PLAIN", 5, NULL, 0, reply, sizeof(reply));
	CHECK(st == SASL_CHALLENGE, "334");
	st = sasl_step(&s, big, SASL_LINE_MAX + 1, reply, sizeof(reply));
	CHECK(st == SASL_BAD && strcmp(reply, T_LONG) == 0,
	    "over-long line: %s", reply);
	/* Within the line bound, but more than PLAIN can carry. */
	memset(raw, 'a', sizeof(raw));
	raw[0] = 0;
	raw[6] = 0;
	CHECK(b64_encode(raw, sizeof(raw), big, sizeof(big)) > 0, "enc");
	st = sasl_start(&s, "PLAIN", 5, big, strlen(big), reply,
	    sizeof(reply));
	CHECK(st == SASL_BAD && strcmp(reply, T_LONG) == 0,
	    "PLAIN message too long: %s", reply);
	/* A password of PWCHECK_PW_MAX bytes is taken, one more is not. */
	memset(raw, 'p', sizeof(raw));
	raw[0] = 0;
	memcpy(raw + 1, "alice", 5);
	raw[6] = 0;
	CHECK(b64_encode(raw, 7 + PWCHECK_PW_MAX, big, sizeof(big)) > 0,
	    "enc");
	st = sasl_start(&s, "PLAIN", 5, big, strlen(big), reply,
	    sizeof(reply));
	CHECK(st == SASL_VERIFY, "255-byte password accepted (%d)", st);
	st = sasl_verified(&s, 0, reply, sizeof(reply));
	CHECK(st == SASL_FAIL, "fail");
	CHECK(b64_encode(raw, 8 + PWCHECK_PW_MAX, big, sizeof(big)) > 0,
	    "enc");
	st = sasl_start(&s, "PLAIN", 5, big, strlen(big), reply,
	    sizeof(reply));
	CHECK(st == SASL_BAD, "256-byte password refused: %s", reply);
	/* SCRAM: a client-first message over SCRAM_MSG_MAX. */
	memset(raw, 'x', sizeof(raw));
	memcpy(raw, "n,,n=alice,r=", 13);
	CHECK(b64_encode(raw, SCRAM_MSG_MAX + 1, big, sizeof(big)) > 0,
	    "enc");
	st = sasl_start(&s, SCRAM_MECH, strlen(SCRAM_MECH), big,
	    strlen(big), reply, sizeof(reply));
	CHECK(st == SASL_BAD && strcmp(reply, T_LONG) == 0,
	    "SCRAM message too long: %s", reply);
	/* Misuse is refused, not acted on. */
	CHECK(sasl_step(&s, "x", 1, reply, sizeof(reply)) == -1,
	    "step while idle");
	CHECK(sasl_start(&s, "PLAIN", 5, NULL, 0, reply, 16) == -1,
	    "small reply buffer");
	CHECK(sasl_verified(&s, 1, reply, sizeof(reply)) == -1,
	    "verified while idle");
	sasl_reset(&s);
}

static void
test_scram_rfc(void)
{
	struct sasl	 s;
	char		 c1[128], s1[256], c2[256], s2[128];

	sasl_init(&s, &ctx, SASL_MECHS_ALL, lookup, NULL);
	sasl_set_test_nonce(&s, RFC_SNONCE, strlen(RFC_SNONCE));
	snprintf(c1, sizeof(c1), "AUTH64 SCRAM-SHA-256 %s", RFC_C1);
	enc(RFC_S1, s1 + 6, sizeof(s1) - 6);
	memcpy(s1, "S 334 ", 6);
	snprintf(c2, sizeof(c2), "C64 %s", RFC_C2);
	enc(RFC_S2, s2 + 6, sizeof(s2) - 6);
	memcpy(s2, "S 334 ", 6);
	{
		const char *const sc[] = {
		    c1, s1,
		    c2, s2,
		    "C", OK, NULL };
		CHECK(dialog("RFC 7677, initial response", &s, sc) ==
		    SASL_OK, "status");
		CHECK(strcmp(sasl_user(&s, NULL), "user") == 0, "user");
	}
	{
		char	 c1b[128];

		snprintf(c1b, sizeof(c1b), "C64 %s", RFC_C1);
		const char *const sc[] = {
		    "AUTH SCRAM-SHA-256", "S 334 ",
		    c1b, s1,
		    c2, s2,
		    "C *", CANCEL,
		    "AUTH SCRAM-SHA-256", "S 334 ",
		    c1b, s1,
		    c2, s2,
		    "C dj1vdGhlcg==", MALF,
		    "AUTH SCRAM-SHA-256", "S 334 ",
		    c1b, s1,
		    "C *", CANCEL,
		    "AUTH SCRAM-SHA-256", "S 334 ",
		    "C *", CANCEL,
		    "AUTH SCRAM-SHA-256", "S 334 ",
		    "C64 n,a=admin,n=user,r=abc", MALF,
		    "AUTH SCRAM-SHA-256", "S 334 ",
		    "C64 p=tls-unique,,n=user,r=abc", MALF,
		    "AUTH SCRAM-SHA-256", "S 334 ",
		    "C 8J+Sqw=", DECODE,
		    "AUTH64 SCRAM-SHA-256 n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		    s1,
		    "C64 c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)"
		    "hNlF$k0,p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		    BADPW,
		    NULL };
		dialog("RFC 7677, 334 first, cancels and bad proofs", &s, sc);
	}
	sasl_reset(&s);
}

/*
 * lib/scram.c's client against the machine.  Returns the status and
 * leaves the base64 server-first (salt included) in sfirst.
 */
static int
scram_with_client(const char *user, const char *pw, char *sfirst,
    size_t sfsz)
{
	struct sasl		 s;
	struct scram_client	 c;
	char			 reply[SASL_REPLY_MAX], msg[2048], b[2048];
	uint8_t			 raw[2048];
	char			 err[256];
	long			 n;
	int			 st;

	sasl_init(&s, &ctx, SASL_MECHS_ALL, lookup, NULL);
	scram_client_init(&c);
	n = scram_client_start(&c, user, strlen(user), msg, sizeof(msg), err,
	    sizeof(err));
	if (n < 0 || b64_encode((uint8_t *)msg, (size_t)n, b, sizeof(b)) < 0)
		return -1;
	st = sasl_start(&s, "scram-sha-256", 13, b, strlen(b), reply,
	    sizeof(reply));
	if (st != SASL_CHALLENGE || strncmp(reply, "334 ", 4) != 0)
		return st;
	snprintf(sfirst, sfsz, "%s", reply + 4);
	n = b64_decode(reply + 4, strlen(reply + 4), raw, sizeof(raw));
	if (n < 0)
		return -1;
	n = scram_client_respond(&c, (char *)raw, (size_t)n, pw, strlen(pw),
	    msg, sizeof(msg), err, sizeof(err));
	if (n < 0 || b64_encode((uint8_t *)msg, (size_t)n, b, sizeof(b)) < 0)
		return -1;
	st = sasl_step(&s, b, strlen(b), reply, sizeof(reply));
	if (st != SASL_CHALLENGE)
		return st;
	n = b64_decode(reply + 4, strlen(reply + 4), raw, sizeof(raw));
	CHECK(n > 0 && scram_client_verify(&c, (char *)raw, (size_t)n, err,
	    sizeof(err)) == 1, "the client accepts our server-final");
	st = sasl_step(&s, "", 0, reply, sizeof(reply));
	CHECK(st != SASL_OK || strcmp(reply, T_OK) == 0, "235");
	scram_client_clear(&c);
	sasl_reset(&s);
	return st;
}

static void
test_scram_client(void)
{
	char	 sf1[2048], sf2[2048], sf3[2048];
	char	 salt1[128], salt2[128];
	char	*p;

	CHECK(scram_with_client("alice", "alice-pw", sf1, sizeof(sf1)) ==
	    SASL_OK, "alice, right password");
	CHECK(scram_with_client("alice", "wrong", sf1, sizeof(sf1)) ==
	    SASL_FAIL, "alice, wrong password");
	CHECK(scram_with_client("bob", "bob-pw", sf1, sizeof(sf1)) ==
	    SASL_FAIL, "bob has an argon2id verifier: SCRAM fails cleanly");
	CHECK(scram_with_client("nobody", "x", sf2, sizeof(sf2)) ==
	    SASL_FAIL, "unknown user fails like a wrong password");
	CHECK(scram_with_client("nobody", "y", sf3, sizeof(sf3)) ==
	    SASL_FAIL, "again");
	/* The mock salt is the same on every try (decoded, ",s=" field). */
	{
		uint8_t	 r1[512], r2[512];
		long	 n1, n2;

		n1 = b64_decode(sf2, strlen(sf2), r1, sizeof(r1) - 1);
		n2 = b64_decode(sf3, strlen(sf3), r2, sizeof(r2) - 1);

		salt1[0] = salt2[0] = '\0';
		if (n1 > 0 && n2 > 0) {
			r1[n1] = r2[n2] = 0;
			if ((p = strstr((char *)r1, ",s=")) != NULL)
				snprintf(salt1, sizeof(salt1), "%s", p);
			if ((p = strstr((char *)r2, ",s=")) != NULL)
				snprintf(salt2, sizeof(salt2), "%s", p);
		}
		CHECK(salt1[0] != '\0' && strcmp(salt1, salt2) == 0,
		    "unknown user's salt is stable: '%s' '%s'", salt1,
		    salt2);
	}
}

int
main(void)
{
	char	 err[256];

	signal(SIGPIPE, SIG_IGN);
	alarm(300);
	if (sodium_init() < 0)
		return 1;
	if (verifier_make(VERIFIER_SCRAM_SHA_256, "alice-pw", 8, alice_v,
	    sizeof(alice_v)) != 0 ||
	    verifier_make(VERIFIER_ARGON2ID, "bob-pw", 6, bob_v,
	    sizeof(bob_v)) != 0) {
		printf("FAIL verifier_make\n");
		return 1;
	}
	sasl_ctx_init(&ctx);
	if (loop_init(&L, 256, 64, err, sizeof(err)) != 0 ||
	    pwcheck_init(&V, &L, (uid_t)-1, (gid_t)-1, err,
	    sizeof(err)) != 0) {
		printf("FAIL init: %s\n", err);
		return 1;
	}
	test_plain();
	test_login();
	test_long_lines();
	test_scram_rfc();
	test_scram_client();
	printf("sizes: struct sasl %zu bytes, struct pwcheck_job %zu bytes\n",
	    sizeof(struct sasl), sizeof(struct pwcheck_job));
	pwcheck_free(&V);
	loop_free(&L);
	sasl_ctx_clear(&ctx);
	return check_finish();
}
