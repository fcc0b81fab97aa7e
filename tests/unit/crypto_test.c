/*
 * crypto_test: unit tests for lib/b64.c, lib/scram.c, lib/verifier.c
 * and lib/seal.c, against published vectors where there are some
 * (RFC 4648 base64, RFC 7914 and the common PBKDF2-HMAC-SHA-256
 * vectors, RFC 7677's SCRAM-SHA-256 exchange) and against what a user
 * would be told otherwise.  Prints one line per failure; exits 0 if
 * all pass, 1 if not.
 */
#include "config.h"

#include "check.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "b64.h"
#include "bastion_limits.h"
#include "scram.h"
#include "seal.h"
#include "verifier.h"

/* A string literal and its length, as two arguments. */
#define L(s)		(s), strlen(s)

/* RFC 7677 section 3. */
#define RFC_USER	"user"
#define RFC_PASS	"pencil"
#define RFC_CNONCE	"rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE	"%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_C1		"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define RFC_S1		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0" \
			",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_C2		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)" \
			"hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_S2		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
/* The same user's verifier, as `policyc passwd` would write it. */
#define RFC_VERIFIER	"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" \
			"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:" \
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="

static void	test_b64(void);
static void	test_pbkdf2(void);
static void	test_scram_rfc_server(void);
static void	test_scram_rfc_client(void);
static void	test_scram_roundtrip(void);
static void	test_scram_refusals(void);
static void	test_verifier(void);
static void	test_seal(const char *);
static int	server_first(struct scram_server *, const char *, char *,
		    size_t);

static void
test_b64(void)
{
	static const struct {
		const char	*bin, *txt;
	} v[] = {
		{ "", "" },
		{ "f", "Zg==" },
		{ "fo", "Zm8=" },
		{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	static const char *bad[] = {
		"Zg=", "Zg", "Z", "Z===", "====", "Zh==", "Zm9=", "Zm 9v",
		"Zm9v\n", "=m9v", "Zm=v", "Zg==Zg==", "Zm9-", "Zm9_",
		"Zg=a",
	};
	char	 txt[64];
	uint8_t	 bin[64], all[256];
	size_t	 i;
	long	 r;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		r = b64_encode((const uint8_t *)v[i].bin, strlen(v[i].bin),
		    txt, sizeof(txt));
		CHECK(r == (long)strlen(v[i].txt) &&
		    strcmp(txt, v[i].txt) == 0, "b64_encode(\"%s\") = "
		    "\"%s\", want \"%s\"", v[i].bin, txt, v[i].txt);
		r = b64_decode(v[i].txt, strlen(v[i].txt), bin, sizeof(bin));
		CHECK(r == (long)strlen(v[i].bin) &&
		    memcmp(bin, v[i].bin, (size_t)r) == 0,
		    "b64_decode(\"%s\") = %ld", v[i].txt, r);
		/* Exactly big enough works; one byte less does not. */
		CHECK(b64_encode((const uint8_t *)v[i].bin, strlen(v[i].bin),
		    txt, B64_ENCODED_SIZE(strlen(v[i].bin))) >= 0,
		    "b64_encode into an exact buffer");
		CHECK(b64_encode((const uint8_t *)v[i].bin, strlen(v[i].bin),
		    txt, B64_ENCODED_SIZE(strlen(v[i].bin)) - 1) == -1,
		    "b64_encode into a short buffer must fail");
		if (strlen(v[i].bin) > 0)
			CHECK(b64_decode(v[i].txt, strlen(v[i].txt), bin,
			    strlen(v[i].bin) - 1) == -1,
			    "b64_decode(\"%s\") into a short buffer must "
			    "fail", v[i].txt);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(b64_decode(bad[i], strlen(bad[i]), bin, sizeof(bin))
		    == -1, "b64_decode(\"%s\") must fail", bad[i]);
	CHECK(b64_decode("Zm9\0", 4, bin, sizeof(bin)) == -1,
	    "b64_decode with a NUL must fail");

	/* Every byte value survives the round trip. */
	for (i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i;
	{
		char	 t[B64_ENCODED_SIZE(256)];
		uint8_t	 b[256];

		r = b64_encode(all, sizeof(all), t, sizeof(t));
		CHECK(r == (long)sizeof(t) - 1, "b64_encode(256 bytes)");
		r = b64_decode(t, (size_t)r, b, sizeof(b));
		CHECK(r == 256 && memcmp(b, all, 256) == 0,
		    "b64 round trip of all byte values");
	}
}

static void
test_pbkdf2(void)
{
	static const struct {
		const char	*pw;
		size_t		 pwlen;
		const char	*salt;
		size_t		 saltlen;
		uint32_t	 iter;
		size_t		 dklen;
		const char	*hex;
	} v[] = {
		{ "password", 8, "salt", 4, 1, 32,
		  "120fb6cffcf8b32c43e7225256c4f837"
		  "a86548c92ccc35480805987cb70be17b" },
		{ "password", 8, "salt", 4, 2, 32,
		  "ae4d0c95af6b46d32d0adff928f06dd0"
		  "2a303f8ef3c251dfd6e2d85a95474c43" },
		{ "password", 8, "salt", 4, 4096, 32,
		  "c5e478d59288c841aa530db6845c4c8d"
		  "962893a001ce4e11a4963873aa98134a" },
		{ "passwordPASSWORDpassword", 24,
		  "saltSALTsaltSALTsaltSALTsaltSALTsalt", 36, 4096, 40,
		  "348c89dbcbd32b2f32d814b8116e84cf2b17347e"
		  "bc1800181c4e2a1fb8dd53e1c635518c7dac47e9" },
		{ "pass\0word", 9, "sa\0lt", 5, 4096, 16,
		  "89b69d0516f829893c696226650a8687" },
		/* RFC 7914 section 11. */
		{ "passwd", 6, "salt", 4, 1, 64,
		  "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57"
		  "c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd5"
		  "09112041d3a19783" },
		{ "Password", 8, "NaCl", 4, 80000, 64,
		  "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff0887"
		  "6b34ab56a1d425a1225833549adb841b51c9b3176a272bdebba1d078"
		  "478f62b397f33c8d" },
	};
	uint8_t	 dk[64];
	char	 hex[129];
	size_t	 i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		CHECK(scram_pbkdf2(v[i].pw, v[i].pwlen,
		    (const uint8_t *)v[i].salt, v[i].saltlen, v[i].iter, dk,
		    v[i].dklen) == 0, "scram_pbkdf2 vector %zu", i);
		sodium_bin2hex(hex, sizeof(hex), dk, v[i].dklen);
		CHECK(strcmp(hex, v[i].hex) == 0, "PBKDF2 vector %zu: %s, "
		    "want %s", i, hex, v[i].hex);
	}
	CHECK(scram_pbkdf2("p", 1, (const uint8_t *)"s", 1, 0, dk, 32) == -1,
	    "PBKDF2 with 0 iterations must fail");
}

/* Feed the RFC client-first to a fresh server; return server-first. */
static int
server_first(struct scram_server *s, const char *c1, char *out,
    size_t outsz)
{
	struct scram_verifier	 v;
	char			 err[LIM_ERRMSG];

	scram_server_init(s);
	if (scram_server_set_nonce(s, RFC_SNONCE, strlen(RFC_SNONCE)) != 0)
		return -1;
	if (scram_server_start(s, c1, strlen(c1), err, sizeof(err)) != 0) {
		fprintf(stderr, "server_start: %s\n", err);
		return -1;
	}
	if (scram_verifier_parse(RFC_VERIFIER, strlen(RFC_VERIFIER), &v,
	    err, sizeof(err)) != 0) {
		fprintf(stderr, "verifier_parse: %s\n", err);
		return -1;
	}
	if (scram_server_challenge(s, &v, out, outsz, err, sizeof(err)) <
	    0) {
		fprintf(stderr, "server_challenge: %s\n", err);
		return -1;
	}
	return 0;
}

static void
test_scram_rfc_server(void)
{
	struct scram_server	 s;
	char			 out[SCRAM_MSG_MAX], err[LIM_ERRMSG];
	const char		*user;
	size_t			 ulen, olen;
	int			 r;
	char			 bad[] = RFC_C2;

	CHECK(server_first(&s, RFC_C1, out, sizeof(out)) == 0,
	    "RFC 7677 server: first step");
	user = scram_server_user(&s, &ulen);
	CHECK(ulen == 4 && strcmp(user, RFC_USER) == 0, "user is '%s'",
	    user);
	CHECK(strcmp(out, RFC_S1) == 0, "RFC 7677 server-first:\n  got  "
	    "%s\n  want %s", out, RFC_S1);
	r = scram_server_finish(&s, RFC_C2, strlen(RFC_C2), out, sizeof(out),
	    &olen, err, sizeof(err));
	CHECK(r == 1, "RFC 7677 client-final refused (%d): %s", r, err);
	CHECK(olen == strlen(RFC_S2) && strcmp(out, RFC_S2) == 0,
	    "RFC 7677 server-final:\n  got  %s\n  want %s", out, RFC_S2);
	CHECK(scram_server_error(&s) == NULL, "error after success");
	scram_server_clear(&s);

	/* A proof from another password: one flipped proof character. */
	CHECK(server_first(&s, RFC_C1, out, sizeof(out)) == 0,
	    "RFC 7677 server again");
	bad[strlen(bad) - 3] = bad[strlen(bad) - 3] == 'V' ? 'W' : 'V';
	r = scram_server_finish(&s, bad, strlen(bad), out, sizeof(out),
	    &olen, err, sizeof(err));
	CHECK(r == 0, "a wrong proof must give 0, got %d", r);
	CHECK(strcmp(out, "e=invalid-proof") == 0, "wrong proof sends "
	    "'%s'", out);
	CHECK(scram_server_error(&s) != NULL &&
	    strcmp(scram_server_error(&s), "invalid-proof") == 0,
	    "error value after a wrong proof");
	/* Sticky: no second try on the same exchange. */
	r = scram_server_finish(&s, RFC_C2, strlen(RFC_C2), out, sizeof(out),
	    &olen, err, sizeof(err));
	CHECK(r == -1, "a failed exchange must stay failed");
}

static void
test_scram_rfc_client(void)
{
	struct scram_client	 c;
	char			 out[SCRAM_MSG_MAX], err[LIM_ERRMSG];
	long			 n;
	int			 r;

	scram_client_init(&c);
	CHECK(scram_client_set_nonce(&c, RFC_CNONCE, strlen(RFC_CNONCE))
	    == 0, "client set nonce");
	n = scram_client_start(&c, RFC_USER, 4, out, sizeof(out), err,
	    sizeof(err));
	CHECK(n == (long)strlen(RFC_C1) && strcmp(out, RFC_C1) == 0,
	    "RFC 7677 client-first: %s", out);
	n = scram_client_respond(&c, RFC_S1, strlen(RFC_S1), RFC_PASS, 6,
	    out, sizeof(out), err, sizeof(err));
	CHECK(n == (long)strlen(RFC_C2) && strcmp(out, RFC_C2) == 0,
	    "RFC 7677 client-final:\n  got  %s\n  want %s", n < 0 ? err :
	    out, RFC_C2);
	r = scram_client_verify(&c, RFC_S2, strlen(RFC_S2), err,
	    sizeof(err));
	CHECK(r == 1, "RFC 7677 server-final refused (%d): %s", r, err);
	scram_client_clear(&c);

	/* Wrong password: another proof, and the server's v= is refused. */
	scram_client_init(&c);
	CHECK(scram_client_set_nonce(&c, RFC_CNONCE, strlen(RFC_CNONCE))
	    == 0, "client set nonce");
	n = scram_client_start(&c, RFC_USER, 4, out, sizeof(out), err,
	    sizeof(err));
	n = scram_client_respond(&c, RFC_S1, strlen(RFC_S1), "pencil2", 7,
	    out, sizeof(out), err, sizeof(err));
	CHECK(n > 0 && strcmp(out, RFC_C2) != 0, "wrong password, same "
	    "proof?");
	r = scram_client_verify(&c, RFC_S2, strlen(RFC_S2), err,
	    sizeof(err));
	CHECK(r == 0, "a server signature for another password must give "
	    "0, got %d", r);
	{
		struct scram_server	 s;
		char			 o2[SCRAM_MSG_MAX];
		size_t			 olen;

		CHECK(server_first(&s, RFC_C1, o2, sizeof(o2)) == 0,
		    "server");
		r = scram_server_finish(&s, out, strlen(out), o2, sizeof(o2),
		    &olen, err, sizeof(err));
		CHECK(r == 0, "server must refuse 'pencil2', got %d", r);
	}
	scram_client_clear(&c);

	/* The server's e= is reported. */
	scram_client_init(&c);
	n = scram_client_start(&c, RFC_USER, 4, out, sizeof(out), err,
	    sizeof(err));
	CHECK(n > 0, "client start with a random nonce");
	n = scram_client_respond(&c, RFC_S1, strlen(RFC_S1), RFC_PASS, 6,
	    out, sizeof(out), err, sizeof(err));
	CHECK(n == -1 && strstr(err, "nonce") != NULL, "a server nonce "
	    "that does not extend ours must be refused: %s", err);
}

static void
test_scram_roundtrip(void)
{
	static const char	*users[] = { "ims-ny", "a,b=c", "=2C" };
	struct scram_server	 s;
	struct scram_client	 c;
	struct scram_verifier	 v;
	char			 ver[VERIFIER_MAX + 1], err[LIM_ERRMSG];
	char			 m1[SCRAM_MSG_MAX], m2[SCRAM_MSG_MAX];
	char			 m3[SCRAM_MSG_MAX], m4[SCRAM_MSG_MAX];
	const char		*u;
	size_t			 i, ulen, olen;
	long			 n;

	CHECK(verifier_make(VERIFIER_SCRAM_SHA_256, "s3cret", 6, ver,
	    sizeof(ver)) == 0, "verifier_make");
	CHECK(scram_verifier_parse(ver, strlen(ver), &v, err, sizeof(err))
	    == 0, "parse our own verifier: %s", err);
	for (i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		scram_client_init(&c);
		scram_server_init(&s);
		n = scram_client_start(&c, users[i], strlen(users[i]), m1,
		    sizeof(m1), err, sizeof(err));
		CHECK(n > 0, "client start: %s", err);
		CHECK(scram_server_start(&s, m1, (size_t)n, err, sizeof(err))
		    == 0, "server start on '%s': %s", m1, err);
		u = scram_server_user(&s, &ulen);
		CHECK(ulen == strlen(users[i]) && strcmp(u, users[i]) == 0,
		    "user name '%s' came through as '%s'", users[i], u);
		n = scram_server_challenge(&s, &v, m2, sizeof(m2), err,
		    sizeof(err));
		CHECK(n > 0, "challenge: %s", err);
		n = scram_client_respond(&c, m2, (size_t)n, "s3cret", 6, m3,
		    sizeof(m3), err, sizeof(err));
		CHECK(n > 0, "respond: %s", err);
		CHECK(scram_server_finish(&s, m3, (size_t)n, m4, sizeof(m4),
		    &olen, err, sizeof(err)) == 1, "finish: %s", err);
		CHECK(scram_client_verify(&c, m4, olen, err, sizeof(err))
		    == 1, "verify: %s", err);
	}
}

static void
test_scram_refusals(void)
{
	static const struct {
		const char	*msg;
		const char	*error;
	} bad1[] = {
		{ "p=tls-unique,,n=user,r=abc",
		    "channel-binding-not-supported" },
		{ "n,a=admin,n=user,r=abc", "other-error" },
		{ "n,,m=ext,n=user,r=abc", "extensions-not-supported" },
		{ "n,,n=us=4Aer,r=abc", "invalid-username-encoding" },
		{ "n,,n=user=,r=abc", "invalid-username-encoding" },
		{ "n,,n=,r=abc", "invalid-username-encoding" },
		{ "n,,n=user,r=", "invalid-encoding" },
		{ "n,,n=user", "invalid-encoding" },
		{ "n,,r=abc,n=user", "invalid-encoding" },
		{ "n,,n=user,r=abc,", "invalid-encoding" },
		{ "x,,n=user,r=abc", "invalid-encoding" },
		{ "n,n=user,r=abc", "other-error" },
		{ "", "invalid-encoding" },
	};
	struct scram_server	 s;
	char			 err[LIM_ERRMSG], out[SCRAM_MSG_MAX];
	char			 longname[LIM_USERNAME + 32];
	size_t			 i, olen;
	int			 r;

	for (i = 0; i < sizeof(bad1) / sizeof(bad1[0]); i++) {
		scram_server_init(&s);
		err[0] = '\0';
		r = scram_server_start(&s, bad1[i].msg, strlen(bad1[i].msg),
		    err, sizeof(err));
		CHECK(r == -1 && err[0] != '\0', "client-first '%s' must be "
		    "refused with a reason", bad1[i].msg);
		CHECK(scram_server_error(&s) != NULL &&
		    strcmp(scram_server_error(&s), bad1[i].error) == 0,
		    "client-first '%s': error '%s', want '%s'", bad1[i].msg,
		    scram_server_error(&s) ? scram_server_error(&s) : "NULL",
		    bad1[i].error);
	}
	scram_server_init(&s);
	CHECK(scram_server_start(&s, L("p=tls-unique,,n=user,r=abc"), err,
	    sizeof(err)) == -1 && strstr(err, "channel binding") != NULL,
	    "p= reason: %s", err);

	/* A name of LIM_USERNAME bytes is taken, one more is not. */
	memcpy(longname, "n,,n=", 5);
	memset(longname + 5, 'x', LIM_USERNAME);
	memcpy(longname + 5 + LIM_USERNAME, ",r=abc", 7);
	scram_server_init(&s);
	CHECK(scram_server_start(&s, longname, strlen(longname), err,
	    sizeof(err)) == 0, "a %d-byte user name must be taken: %s",
	    LIM_USERNAME, err);
	memset(longname + 5, 'x', LIM_USERNAME + 1);
	memcpy(longname + 6 + LIM_USERNAME, ",r=abc", 7);
	scram_server_init(&s);
	CHECK(scram_server_start(&s, longname, strlen(longname), err,
	    sizeof(err)) == -1 && strstr(err, "longer") != NULL,
	    "a user name over LIM_USERNAME must be refused: %s", err);

	/* Decoding: =2C and =3D. */
	scram_server_init(&s);
	CHECK(scram_server_start(&s, L("n,,n=a=2Cb=3Dc,r=abc,x=ext"), err,
	    sizeof(err)) == 0 && strcmp(scram_server_user(&s, NULL),
	    "a,b=c") == 0, "saslname decoding: %s", err);

	/* "y,,": accepted, and c= must then say "y,," (eSws). */
	CHECK(server_first(&s, "y,,n=user,r=" RFC_CNONCE, out, sizeof(out))
	    == 0, "y,, must be accepted");
	r = scram_server_finish(&s, RFC_C2, strlen(RFC_C2), out, sizeof(out),
	    &olen, err, sizeof(err));
	CHECK(r == -1 && strcmp(out, "e=channel-bindings-dont-match") == 0,
	    "y,, with c=biws must be refused: %d %s", r, out);
	CHECK(server_first(&s, "y,,n=user,r=" RFC_CNONCE, out, sizeof(out))
	    == 0, "y,, must be accepted");
	r = scram_server_finish(&s, L("c=eSws,r=" RFC_CNONCE RFC_SNONCE
	    ",p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), out,
	    sizeof(out), &olen, err, sizeof(err));
	CHECK(r == 0, "y,, with c=eSws gets to the proof: %d %s", r, err);

	/* Client-final: a changed nonce, a missing or misplaced proof. */
	CHECK(server_first(&s, RFC_C1, out, sizeof(out)) == 0, "server");
	r = scram_server_finish(&s, L("c=biws,r=" RFC_CNONCE "x,p=dHzbZapWIk4j"
	    "UhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="), out, sizeof(out), &olen,
	    err, sizeof(err));
	CHECK(r == -1 && strstr(err, "nonce") != NULL, "changed nonce: %s",
	    err);
	CHECK(server_first(&s, RFC_C1, out, sizeof(out)) == 0, "server");
	r = scram_server_finish(&s, L("c=biws,r=" RFC_CNONCE RFC_SNONCE),
	    out, sizeof(out), &olen, err, sizeof(err));
	CHECK(r == -1, "client-final without a proof must be refused");
	CHECK(server_first(&s, RFC_C1, out, sizeof(out)) == 0, "server");
	r = scram_server_finish(&s, RFC_C2 ",x=y", strlen(RFC_C2) + 4, out,
	    sizeof(out), &olen, err, sizeof(err));
	CHECK(r == -1, "an attribute after the proof must be refused");
	CHECK(server_first(&s, RFC_C1, out, sizeof(out)) == 0, "server");
	r = scram_server_finish(&s, L("c=biws,r=" RFC_CNONCE RFC_SNONCE
	    ",p=dHzb"), out, sizeof(out), &olen, err, sizeof(err));
	CHECK(r == -1 && strcmp(out, "e=invalid-encoding") == 0,
	    "a short proof: %s", out);

	/* Out of order calls. */
	scram_server_init(&s);
	r = scram_server_finish(&s, RFC_C2, strlen(RFC_C2), out, sizeof(out),
	    &olen, err, sizeof(err));
	CHECK(r == -1, "finish before start must fail");

	/* Client: servers asking too little or too much work. */
	{
		struct scram_client	 c;
		char			 m[SCRAM_MSG_MAX];

		scram_client_init(&c);
		CHECK(scram_client_set_nonce(&c, RFC_CNONCE, 20) == 0, "nonce");
		CHECK(scram_client_start(&c, "user", 4, m, sizeof(m), err,
		    sizeof(err)) > 0, "start");
		CHECK(scram_client_respond(&c, L("r=" RFC_CNONCE "x,s=c2FsdA==,"
		    "i=1000"), "p", 1, m, sizeof(m), err, sizeof(err))
		    == -1 && strstr(err, "1000") != NULL,
		    "i=1000 must be refused: %s", err);
		scram_client_init(&c);
		CHECK(scram_client_set_nonce(&c, RFC_CNONCE, 20) == 0, "nonce");
		CHECK(scram_client_start(&c, "user", 4, m, sizeof(m), err,
		    sizeof(err)) > 0, "start");
		CHECK(scram_client_respond(&c, L("r=" RFC_CNONCE "x,s=c2FsdA==,"
		    "i=99999999999"), "p", 1, m, sizeof(m), err,
		    sizeof(err)) == -1, "i=99999999999 must be refused");
		scram_client_init(&c);
		CHECK(scram_client_set_nonce(&c, RFC_CNONCE, 20) == 0, "nonce");
		CHECK(scram_client_start(&c, "user", 4, m, sizeof(m), err,
		    sizeof(err)) > 0, "start");
		CHECK(scram_client_respond(&c, RFC_S1, strlen(RFC_S1), "x", 1,
		    m, sizeof(m), err, sizeof(err)) > 0, "respond");
		CHECK(scram_client_verify(&c, L("e=invalid-proof"), err,
		    sizeof(err)) == 0 && strstr(err, "invalid-proof") != NULL,
		    "e= must be reported: %s", err);
	}
}

static void
test_verifier(void)
{
	static const char *bad[] = {
		"",
		"pencil",
		"SCRAM-SHA-256$1000:W22ZaJ0SNY7soEsUEjb6gQ==$"
		    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$04096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$99999999999999999999:W22ZaJ0SNY7soEsUEjb6gQ==$"
		    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=$"
		    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:$"
		    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2d=",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=x",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
		"SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"$argon2i$v=19$m=4096,t=3,p=1$c29tZXNhbHQ$"
		    "iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A",
		"$argon2id$v=16$m=4096,t=3,p=1$c29tZXNhbHQ$"
		    "iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A",
		"$argon2id$v=19$m=99999999,t=3,p=1$c29tZXNhbHQ$"
		    "iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A",
		"$argon2id$v=19$m=4096,t=3,p=1$c29t!XNhbHQ$"
		    "iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A",
		"$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQ",
		"$argon2id$v=19$m=4096,t=3$c29tZXNhbHQ$"
		    "iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A",
	};
	char	 v[VERIFIER_MAX + 1], err[LIM_ERRMSG];
	char	 toolong[VERIFIER_MAX + 2];
	size_t	 i;
	int	 r;

	/* The RFC 7677 user as a verifier. */
	r = verifier_check(RFC_VERIFIER, strlen(RFC_VERIFIER), err,
	    sizeof(err));
	CHECK(r == VERIFIER_SCRAM_SHA_256, "RFC verifier refused: %s", err);
	CHECK(verifier_match(RFC_VERIFIER, RFC_PASS, 6) == 1,
	    "'pencil' must match the RFC verifier");
	CHECK(verifier_match(RFC_VERIFIER, "Pencil", 6) == 0,
	    "'Pencil' must not match the RFC verifier");

	/* SCRAM: made, checked, matched. */
	CHECK(verifier_make(VERIFIER_SCRAM_SHA_256, "correct horse", 13, v,
	    sizeof(v)) == 0, "verifier_make SCRAM");
	CHECK(strncmp(v, "SCRAM-SHA-256$4096:", 19) == 0, "SCRAM verifier "
	    "form: %s", v);
	CHECK(verifier_check(v, strlen(v), err, sizeof(err)) ==
	    VERIFIER_SCRAM_SHA_256, "made SCRAM verifier refused: %s", err);
	CHECK(verifier_match(v, "correct horse", 13) == 1, "SCRAM match");
	CHECK(verifier_match(v, "correct horsf", 13) == 0, "SCRAM mismatch");
	CHECK(verifier_match(v, "correct hors", 12) == 0, "SCRAM prefix");
	CHECK(verifier_make(VERIFIER_SCRAM_SHA_256, "x", 1, v, 50) == -1,
	    "verifier_make into a short buffer must fail");

	/* argon2id. */
	CHECK(verifier_make(VERIFIER_ARGON2ID, "correct horse", 13, v,
	    sizeof(v)) == 0, "verifier_make argon2id");
	CHECK(strncmp(v, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0,
	    "argon2id verifier form: %s", v);
	CHECK(verifier_check(v, strlen(v), err, sizeof(err)) ==
	    VERIFIER_ARGON2ID, "made argon2id verifier refused: %s", err);
	CHECK(verifier_match(v, "correct horse", 13) == 1, "argon2id match");
	CHECK(verifier_match(v, "correct horsf", 13) == 0,
	    "argon2id: a wrong password must be refused");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		r = verifier_check(bad[i], strlen(bad[i]), err, sizeof(err));
		CHECK(r == -1 && err[0] != '\0', "verifier '%s' must be "
		    "refused with a reason", bad[i]);
		CHECK(verifier_match(bad[i], "pencil", 6) == -1,
		    "verifier_match on bad verifier '%s'", bad[i]);
	}
	r = verifier_check(bad[2], strlen(bad[2]), err, sizeof(err));
	CHECK(strstr(err, "4096") != NULL, "low iteration reason: %s", err);
	r = verifier_check(bad[11], strlen(bad[11]), err, sizeof(err));
	CHECK(strstr(err, "argon2id") != NULL, "argon2i reason: %s", err);
	memset(toolong, 'a', sizeof(toolong) - 1);
	toolong[sizeof(toolong) - 1] = '\0';
	CHECK(verifier_check(toolong, strlen(toolong), err, sizeof(err)) ==
	    -1, "a verifier over VERIFIER_MAX must be refused");
	CHECK(verifier_check(RFC_VERIFIER, strlen(RFC_VERIFIER) - 1, err,
	    sizeof(err)) == -1, "n is honoured (one character short)");
}

static void
test_seal(const char *dir)
{
	struct seal_pub	 pa, pb;
	struct seal_key	*ka = NULL, *kb = NULL;
	struct stat	 st;
	char		 pfa[512], pfb[512], path[600], err[LIM_ERRMSG];
	char		 tok[B64_ENCODED_SIZE(SEAL_MAX_SEALED) + 8];
	char		 ida[SEAL_KEYID_HEXLEN + 1], idb[SEAL_KEYID_HEXLEN + 1];
	uint8_t		 sealed[SEAL_MAX_SEALED], out[SEAL_MAX_SECRET];
	uint8_t		 big[SEAL_MAX_SECRET + 1];
	static const char secret[] = "ims-sf's outbound password";
	long		 n, m;
	FILE		*fp;

	snprintf(pfa, sizeof(pfa), "%s/a", dir);
	snprintf(pfb, sizeof(pfb), "%s/b", dir);
	CHECK(seal_keygen(pfa, err, sizeof(err)) == 0, "keygen a: %s", err);
	CHECK(seal_keygen(pfb, err, sizeof(err)) == 0, "keygen b: %s", err);
	snprintf(path, sizeof(path), "%s.key", pfa);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
	    "a.key mode %o", (unsigned)(st.st_mode & 0777));
	CHECK(seal_keygen(pfa, err, sizeof(err)) == -1 &&
	    strstr(err, "already exists") != NULL, "keygen over a key: %s",
	    err);

	/* Only the .pub exists: refused, and no .key appears. */
	snprintf(path, sizeof(path), "%s/c.pub", dir);
	fp = fopen(path, "w");
	CHECK(fp != NULL, "create %s", path);
	if (fp != NULL)
		fclose(fp);
	snprintf(path, sizeof(path), "%s/c", dir);
	CHECK(seal_keygen(path, err, sizeof(err)) == -1 &&
	    strstr(err, "c.pub already exists") != NULL, "keygen over a "
	    ".pub: %s", err);
	snprintf(path, sizeof(path), "%s/c.key", dir);
	CHECK(access(path, F_OK) == -1, "keygen wrote c.key though c.pub "
	    "was there");
	snprintf(path, sizeof(path), "%s/c.pub", dir);
	unlink(path);

	snprintf(path, sizeof(path), "%s.pub", pfa);
	CHECK(seal_pub_load(path, &pa, err, sizeof(err)) == 0, "pub a: %s",
	    err);
	snprintf(path, sizeof(path), "%s.pub", pfb);
	CHECK(seal_pub_load(path, &pb, err, sizeof(err)) == 0, "pub b: %s",
	    err);
	snprintf(path, sizeof(path), "%s.key", pfa);
	CHECK(seal_key_load(path, &ka, err, sizeof(err)) == 0, "key a: %s",
	    err);
	CHECK(seal_pub_load(path, &pb, err, sizeof(err)) == -1 &&
	    strstr(err, "secret key") != NULL, "a .key as a .pub: %s", err);
	snprintf(path, sizeof(path), "%s.pub", pfb);
	CHECK(seal_pub_load(path, &pb, err, sizeof(err)) == 0, "pub b: %s",
	    err);
	snprintf(path, sizeof(path), "%s.key", pfb);
	CHECK(seal_key_load(path, &kb, err, sizeof(err)) == 0, "key b: %s",
	    err);
	if (ka == NULL || kb == NULL)
		return;
	CHECK(memcmp(ka->pk, pa.pk, 32) == 0 && memcmp(ka->id, pa.id,
	    SEAL_KEYID_SIZE) == 0, "key a and pub a disagree");

	/* Round trip. */
	CHECK(seal_token(&pa, (const uint8_t *)secret, strlen(secret), tok,
	    sizeof(tok), err, sizeof(err)) == 0, "seal: %s", err);
	CHECK(strncmp(tok, "sealed:", 7) == 0, "token: %s", tok);
	n = seal_token_decode(tok, strlen(tok), sealed, sizeof(sealed), err,
	    sizeof(err));
	CHECK(n == (long)(SEAL_KEYID_SIZE + 48 + strlen(secret)),
	    "decode: %ld %s", n, err);
	m = seal_open(ka, sealed, (size_t)n, out, sizeof(out), err,
	    sizeof(err));
	CHECK(m == (long)strlen(secret) && memcmp(out, secret, (size_t)m)
	    == 0, "open: %ld %s", m, err);

	/* Sealed for b, opened with a: both key ids named. */
	seal_keyid_hex(pa.id, ida);
	seal_keyid_hex(pb.id, idb);
	CHECK(seal_token(&pb, (const uint8_t *)secret, strlen(secret), tok,
	    sizeof(tok), err, sizeof(err)) == 0, "seal for b: %s", err);
	n = seal_token_decode(tok, strlen(tok), sealed, sizeof(sealed), err,
	    sizeof(err));
	m = seal_open(ka, sealed, (size_t)n, out, sizeof(out), err,
	    sizeof(err));
	CHECK(m == -1 && strstr(err, ida) != NULL && strstr(err, idb) !=
	    NULL, "wrong key: %s (a %s, b %s)", err, ida, idb);
	CHECK(strncmp(err, "sealed for key ", 15) == 0 && strstr(err,
	    idb) < strstr(err, ida), "the reason names the token's key "
	    "first: %s", err);
	m = seal_open(kb, sealed, (size_t)n, out, sizeof(out), err,
	    sizeof(err));
	CHECK(m == (long)strlen(secret), "open with b: %s", err);

	/* Tampered box: refused, not garbage. */
	sealed[n - 1] ^= 1;
	CHECK(seal_open(kb, sealed, (size_t)n, out, sizeof(out), err,
	    sizeof(err)) == -1 && strstr(err, "does not open") != NULL,
	    "tampered: %s", err);
	/* Short output buffer. */
	sealed[n - 1] ^= 1;
	CHECK(seal_open(kb, sealed, (size_t)n, out, 3, err, sizeof(err)) ==
	    -1, "seal_open into a short buffer must fail");

	/* Bounds on the secret. */
	memset(big, 'x', sizeof(big));
	CHECK(seal_token(&pa, big, SEAL_MAX_SECRET, tok, sizeof(tok), err,
	    sizeof(err)) == 0, "a %d-byte secret: %s", SEAL_MAX_SECRET, err);
	n = seal_token_decode(tok, strlen(tok), sealed, sizeof(sealed), err,
	    sizeof(err));
	CHECK(n == SEAL_MAX_SEALED, "decode the longest token: %s", err);
	CHECK(seal_token(&pa, big, SEAL_MAX_SECRET + 1, tok, sizeof(tok),
	    err, sizeof(err)) == -1, "a secret over SEAL_MAX_SECRET");
	CHECK(seal_token(&pa, big, 0, tok, sizeof(tok), err, sizeof(err)) ==
	    -1, "an empty secret");

	/* Token forms. */
	{
		static const char *badtok[] = {
			"sealed:", "sealed:abc", "sealed:AAAA", "seal:AAAA",
			"SEALED:AAAA", "sealed: AAAA",
		};
		size_t	 i;

		for (i = 0; i < sizeof(badtok) / sizeof(badtok[0]); i++) {
			err[0] = '\0';
			CHECK(seal_token_decode(badtok[i], strlen(badtok[i]),
			    sealed, sizeof(sealed), err, sizeof(err)) == -1 &&
			    err[0] != '\0', "token '%s' must be refused",
			    badtok[i]);
		}
		CHECK(seal_token(&pa, (const uint8_t *)secret, strlen(secret),
		    tok, sizeof(tok), err, sizeof(err)) == 0, "seal");
		CHECK(seal_token_decode(tok, strlen(tok) - 1, sealed,
		    sizeof(sealed), err, sizeof(err)) == -1,
		    "a token cut by one character must be refused");
		CHECK(seal_token_decode(tok, 7 + 72, sealed, sizeof(sealed),
		    err, sizeof(err)) == -1 && strstr(err, "too short") !=
		    NULL, "a token too short for a box: %s", err);
		CHECK(seal_token_decode(tok, strlen(tok), sealed, 20, err,
		    sizeof(err)) == -1, "decode into a short buffer");
	}

	/* A key file group may read is refused, naming the fix. */
	seal_key_free(kb);
	kb = NULL;
	snprintf(path, sizeof(path), "%s.key", pfb);
	CHECK(chmod(path, 0640) == 0, "chmod");
	CHECK(seal_key_load(path, &kb, err, sizeof(err)) == -1 && kb == NULL
	    && strstr(err, "readable by group or others; chmod 600") !=
	    NULL, "mode 0640: %s", err);
	CHECK(chmod(path, 0604) == 0, "chmod");
	CHECK(seal_key_load(path, &kb, err, sizeof(err)) == -1,
	    "mode 0604 must be refused");
	CHECK(chmod(path, 0400) == 0, "chmod");
	CHECK(seal_key_load(path, &kb, err, sizeof(err)) == 0,
	    "mode 0400 must be taken: %s", err);
	seal_key_free(kb);
	kb = NULL;

	/* A damaged key file. */
	snprintf(path, sizeof(path), "%s/d.key", dir);
	fp = fopen(path, "w");
	if (fp != NULL) {
		fputs("bastion-x25519-key 0011223344556677 "
		    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", fp);
		fclose(fp);
	}
	CHECK(chmod(path, 0600) == 0, "chmod");
	CHECK(seal_key_load(path, &kb, err, sizeof(err)) == -1 &&
	    strstr(err, "does not match") != NULL, "wrong key id: %s", err);
	unlink(path);
	snprintf(path, sizeof(path), "%s/nonexistent.key", dir);
	CHECK(seal_key_load(path, &kb, err, sizeof(err)) == -1 &&
	    strstr(err, "nonexistent.key") != NULL, "missing: %s", err);

	seal_key_free(ka);
	seal_key_free(kb);
	seal_key_free(NULL);
	snprintf(path, sizeof(path), "%s.key", pfa);
	unlink(path);
	snprintf(path, sizeof(path), "%s.pub", pfa);
	unlink(path);
	snprintf(path, sizeof(path), "%s.key", pfb);
	unlink(path);
	snprintf(path, sizeof(path), "%s.pub", pfb);
	unlink(path);
}

int
main(void)
{
	char		 dir[512];
	const char	*tmp;

	if (sodium_init() < 0) {
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/crypto_test.XXXXXX", tmp);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}

	test_b64();
	test_pbkdf2();
	test_scram_rfc_server();
	test_scram_rfc_client();
	test_scram_roundtrip();
	test_scram_refusals();
	test_verifier();
	test_seal(dir);

	if (rmdir(dir) != 0)
		fprintf(stderr, "note: could not remove %s\n", dir);
	return check_finish();
}
