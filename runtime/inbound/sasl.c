/*
 * sasl: the AUTH state machine.  Each call takes one client message,
 * checks its size before decoding it, decodes it into a stack buffer
 * that is wiped before returning, and says what the session does next
 * (see sasl.h).  The SCRAM arithmetic is lib/scram.c's; password
 * checks for PLAIN and LOGIN are verify.c's, driven by the session.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "b64.h"
#include "ptab.h"
#include "sasl.h"
#include "scram.h"

_Static_assert(SASL_MECH_PLAIN == PTAB_MECH_PLAIN, "mech numbers");
_Static_assert(SASL_MECH_LOGIN == PTAB_MECH_LOGIN, "mech numbers");
_Static_assert(SASL_MECH_SCRAM == PTAB_MECH_SCRAM_SHA_256, "mech numbers");

enum {
	SS_IDLE = 0,
	SS_PLAIN,		/* 334 sent, waiting for the PLAIN message */
	SS_LOGIN_USER,		/* 334 Username: sent */
	SS_LOGIN_PASS,		/* 334 Password: sent */
	SS_SCRAM_FIRST,		/* 334 sent, waiting for client-first */
	SS_SCRAM_FINAL,		/* server-first sent */
	SS_SCRAM_ACK,		/* server-final sent, waiting for "" */
	SS_VERIFY		/* the session is verifying a password */
};

/* Decoded sizes, per mechanism. */
#define SASL_PLAIN_MAX	(2 * LIM_USERNAME + PWCHECK_PW_MAX + 2)
#define SASL_LOGIN_MAX	(LIM_USERNAME > PWCHECK_PW_MAX ? LIM_USERNAME : \
			    PWCHECK_PW_MAX)

_Static_assert(SASL_PLAIN_MAX <= SASL_MSG_MAX, "PLAIN fits");
_Static_assert(SASL_LOGIN_MAX <= SASL_MSG_MAX, "LOGIN fits");

#define R_OK		"235 2.7.0 Authentication successful"
#define R_INVALID	"535 5.7.8 Authentication credentials invalid"
#define R_AUTHZ		"535 5.7.8 Authorization identity must be " \
			    "empty or the user name"
#define R_CANCEL	"501 5.7.0 Authentication cancelled"
#define R_DECODE	"501 5.5.2 Cannot decode the response " \
			    "(base64)"
#define R_MALFORMED	"501 5.5.2 Malformed authentication " \
			    "response"
#define R_UNKNOWN	"504 5.5.4 Unrecognized authentication " \
			    "type"
#define R_LONG		"500 5.5.6 Authentication exchange line " \
			    "is too long"
#define R_TEMP		"454 4.7.0 Temporary authentication failure"
#define R_USERNAME	"334 VXNlcm5hbWU6"	/* "Username:" */
#define R_PASSWORD	"334 UGFzc3dvcmQ6"	/* "Password:" */
#define R_EMPTY		"334 "

static const struct {
	const char	*name;
	int		 mech;
} sasl_mechs[] = {
	{ "PLAIN", SASL_MECH_PLAIN },
	{ "LOGIN", SASL_MECH_LOGIN },
	{ SCRAM_MECH, SASL_MECH_SCRAM }
};

static int	sasl_reply(struct sasl *, int, char *, size_t, const char *);
static int	sasl_challenge(struct sasl *, int, const char *, size_t,
		    char *, size_t);
static long	sasl_decode(const char *, size_t, uint8_t *, size_t);
static int	sasl_plain(struct sasl *, const uint8_t *, size_t, char *,
		    size_t);
static int	sasl_login(struct sasl *, const uint8_t *, size_t, char *,
		    size_t);
static int	sasl_scram_first(struct sasl *, const uint8_t *, size_t,
		    char *, size_t);
static int	sasl_scram_final(struct sasl *, const uint8_t *, size_t,
		    char *, size_t);
static int	sasl_set_user(struct sasl *, const char *, size_t);
static int	sasl_need_verify(struct sasl *, char *, size_t);
static void	sasl_end(struct sasl *);
static void	sasl_mock(struct sasl *, struct scram_verifier *);

void
sasl_ctx_init(struct sasl_ctx *ctx)
{
	randombytes_buf(ctx->secret, sizeof(ctx->secret));
}

void
sasl_ctx_clear(struct sasl_ctx *ctx)
{
	sodium_memzero(ctx->secret, sizeof(ctx->secret));
}

void
sasl_init(struct sasl *s, const struct sasl_ctx *ctx, unsigned mechs,
    sasl_lookup_fn *lookup, void *lookup_arg)
{
	sodium_memzero(s, sizeof(*s));
	s->ctx = ctx;
	s->mechs = mechs;
	s->lookup = lookup;
	s->lookup_arg = lookup_arg;
}

void
sasl_reset(struct sasl *s)
{
	sodium_memzero(&s->u, sizeof(s->u));
	sodium_memzero(s->user, sizeof(s->user));
	s->userlen = 0;
	s->pwlen = 0;
	s->verifier = NULL;
	s->vlen = 0;
	s->mech = 0;
	s->state = SS_IDLE;
}

void
sasl_set_model(struct sasl *s, const char *v, size_t vlen)
{
	s->model = v;
	s->modellen = vlen;
}

void
sasl_set_test_nonce(struct sasl *s, const char *nonce, size_t n)
{
	s->test_nonce = nonce;
	s->test_noncelen = n;
}

int
sasl_mech_parse(const char *name, size_t len)
{
	size_t	 i;

	for (i = 0; i < sizeof(sasl_mechs) / sizeof(sasl_mechs[0]); i++)
		if (strlen(sasl_mechs[i].name) == len &&
		    strncasecmp(sasl_mechs[i].name, name, len) == 0)
			return sasl_mechs[i].mech;
	return -1;
}

const char *
sasl_mech_name(int mech)
{
	size_t	 i;

	for (i = 0; i < sizeof(sasl_mechs) / sizeof(sasl_mechs[0]); i++)
		if (sasl_mechs[i].mech == mech)
			return sasl_mechs[i].name;
	return NULL;
}

const char *
sasl_user(const struct sasl *s, size_t *len)
{
	if (len != NULL)
		*len = s->userlen;
	return s->user;
}

const char *
sasl_verifier(const struct sasl *s, size_t *vlen)
{
	if (vlen != NULL)
		*vlen = s->vlen;
	return s->verifier;
}

char *
sasl_password(struct sasl *s, size_t *pwlen)
{
	if (pwlen != NULL)
		*pwlen = s->state == SS_VERIFY ? s->pwlen : 0;
	return s->u.pw;
}

int
sasl_busy(const struct sasl *s)
{
	return s->state != SS_IDLE;
}

/* The exchange is over: wipe the secrets, keep the user name. */
static void
sasl_end(struct sasl *s)
{
	sodium_memzero(&s->u, sizeof(s->u));
	s->pwlen = 0;
	s->verifier = NULL;
	s->vlen = 0;
	s->state = SS_IDLE;
}

/* Copy the fixed text of a reply; status passes through. */
static int
sasl_reply(struct sasl *s, int status, char *reply, size_t replysz,
    const char *text)
{
	size_t	 n = strlen(text);

	if (status != SASL_CHALLENGE && status != SASL_VERIFY)
		sasl_end(s);
	if (n >= replysz)
		return -1;
	memcpy(reply, text, n + 1);
	return status;
}

/* "334 " and the base64 of the n bytes of msg. */
static int
sasl_challenge(struct sasl *s, int state, const char *msg, size_t n,
    char *reply, size_t replysz)
{
	if (replysz < 4 || b64_encode((const uint8_t *)msg, n, reply + 4,
	    replysz - 4) < 0) {
		sasl_end(s);
		return -1;
	}
	memcpy(reply, "334 ", 4);
	s->state = state;
	return SASL_CHALLENGE;
}

/*
 * Decode a client message of at most max bytes into out (max + 2
 * bytes).  Returns the length, -1 for bad base64, -2 for too long
 * ("=" alone is empty).
 */
static long
sasl_decode(const char *in, size_t n, uint8_t *out, size_t max)
{
	long	 r;

	if (n == 1 && in[0] == '=')
		return 0;
	if (n > B64_ENCODED_SIZE(max) - 1)
		return -2;
	/*
	 * The text may still be up to two bytes longer than max once
	 * decoded (base64 works in threes): out has room for that.
	 */
	r = b64_decode(in, n, out, max + 2);
	if (r > (long)max)
		return -2;
	return r;
}

int
sasl_start(struct sasl *s, const char *mech, size_t mechlen,
    const char *ir, size_t irlen, char *reply, size_t replysz)
{
	int	 m;

	if (replysz < SASL_REPLY_MAX || s->state != SS_IDLE)
		return -1;
	sasl_reset(s);
	m = sasl_mech_parse(mech, mechlen);
	if (m < 0 || (s->mechs & SASL_MECHBIT(m)) == 0)
		return sasl_reply(s, SASL_BAD, reply, replysz, R_UNKNOWN);
	s->mech = m;
	switch (m) {
	case SASL_MECH_PLAIN:
		s->state = SS_PLAIN;
		break;
	case SASL_MECH_LOGIN:
		s->state = SS_LOGIN_USER;
		break;
	case SASL_MECH_SCRAM:
		scram_server_init(&s->u.scram);
		if (s->test_nonce != NULL && scram_server_set_nonce(
		    &s->u.scram, s->test_nonce, s->test_noncelen) != 0) {
			sasl_end(s);
			return -1;
		}
		s->state = SS_SCRAM_FIRST;
		break;
	}
	if (ir == NULL) {
		if (m == SASL_MECH_LOGIN)
			return sasl_reply(s, SASL_CHALLENGE, reply, replysz,
			    R_USERNAME);
		return sasl_reply(s, SASL_CHALLENGE, reply, replysz,
		    R_EMPTY);
	}
	return sasl_step(s, ir, irlen, reply, replysz);
}

int
sasl_step(struct sasl *s, const char *line, size_t len, char *reply,
    size_t replysz)
{
	uint8_t	 msg[SASL_MSG_MAX + 2];
	size_t	 max;
	long	 n;
	int	 r;

	if (replysz < SASL_REPLY_MAX || s->state == SS_IDLE ||
	    s->state == SS_VERIFY)
		return -1;
	if (len == 1 && line[0] == '*')
		return sasl_reply(s, SASL_BAD, reply, replysz, R_CANCEL);
	if (len > SASL_LINE_MAX)
		return sasl_reply(s, SASL_BAD, reply, replysz, R_LONG);
	switch (s->state) {
	case SS_PLAIN:
		max = SASL_PLAIN_MAX;
		break;
	case SS_LOGIN_USER:
		max = LIM_USERNAME;
		break;
	case SS_LOGIN_PASS:
		max = PWCHECK_PW_MAX;
		break;
	case SS_SCRAM_ACK:
		/* Only an empty response ends the exchange. */
		if (len == 0 || (len == 1 && line[0] == '='))
			return sasl_reply(s, SASL_OK, reply, replysz, R_OK);
		return sasl_reply(s, SASL_BAD, reply, replysz, R_MALFORMED);
	default:
		max = SCRAM_MSG_MAX;
		break;
	}
	n = sasl_decode(line, len, msg, max);
	if (n == -2)
		return sasl_reply(s, SASL_BAD, reply, replysz, R_LONG);
	if (n < 0)
		return sasl_reply(s, SASL_BAD, reply, replysz, R_DECODE);
	switch (s->state) {
	case SS_PLAIN:
		r = sasl_plain(s, msg, (size_t)n, reply, replysz);
		break;
	case SS_LOGIN_USER:
	case SS_LOGIN_PASS:
		r = sasl_login(s, msg, (size_t)n, reply, replysz);
		break;
	case SS_SCRAM_FIRST:
		r = sasl_scram_first(s, msg, (size_t)n, reply, replysz);
		break;
	case SS_SCRAM_FINAL:
		r = sasl_scram_final(s, msg, (size_t)n, reply, replysz);
		break;
	default:
		r = -1;
		break;
	}
	sodium_memzero(msg, sizeof(msg));
	return r;
}

/* Keep the user name (no NUL inside, 1..LIM_USERNAME bytes). */
static int
sasl_set_user(struct sasl *s, const char *user, size_t n)
{
	if (n == 0 || n > LIM_USERNAME || memchr(user, '\0', n) != NULL)
		return -1;
	memcpy(s->user, user, n);
	s->user[n] = '\0';
	s->userlen = n;
	return 0;
}

/* Look the user up and hand the password to the session. */
static int
sasl_need_verify(struct sasl *s, char *reply, size_t replysz)
{
	s->vlen = 0;
	s->verifier = s->lookup != NULL ? s->lookup(s->lookup_arg, s->user,
	    s->userlen, &s->vlen) : NULL;
	if (s->verifier == NULL)
		s->vlen = 0;
	s->state = SS_VERIFY;
	return sasl_reply(s, SASL_VERIFY, reply, replysz, "");
}

/* authzid NUL authcid NUL passwd (RFC 4616 section 2). */
static int
sasl_plain(struct sasl *s, const uint8_t *msg, size_t n, char *reply,
    size_t replysz)
{
	const char	*m = (const char *)msg, *z1, *z2;
	size_t		 zlen, clen, plen;

	if ((z1 = memchr(m, '\0', n)) == NULL ||
	    (z2 = memchr(z1 + 1, '\0', n - (size_t)(z1 + 1 - m))) == NULL)
		return sasl_reply(s, SASL_BAD, reply, replysz, R_MALFORMED);
	zlen = (size_t)(z1 - m);
	clen = (size_t)(z2 - (z1 + 1));
	plen = n - (size_t)(z2 + 1 - m);
	if (zlen > LIM_USERNAME || plen == 0 || plen > PWCHECK_PW_MAX ||
	    memchr(z2 + 1, '\0', plen) != NULL ||
	    sasl_set_user(s, z1 + 1, clen) != 0)
		return sasl_reply(s, SASL_BAD, reply, replysz, R_MALFORMED);
	if (zlen != 0 && (zlen != clen || memcmp(m, z1 + 1, clen) != 0))
		return sasl_reply(s, SASL_FAIL, reply, replysz, R_AUTHZ);
	memcpy(s->u.pw, z2 + 1, plen);
	s->pwlen = plen;
	return sasl_need_verify(s, reply, replysz);
}

static int
sasl_login(struct sasl *s, const uint8_t *msg, size_t n, char *reply,
    size_t replysz)
{
	if (s->state == SS_LOGIN_USER) {
		if (sasl_set_user(s, (const char *)msg, n) != 0)
			return sasl_reply(s, SASL_BAD, reply, replysz,
			    R_MALFORMED);
		s->state = SS_LOGIN_PASS;
		return sasl_reply(s, SASL_CHALLENGE, reply, replysz,
		    R_PASSWORD);
	}
	if (n == 0 || n > PWCHECK_PW_MAX)
		return sasl_reply(s, SASL_BAD, reply, replysz, R_MALFORMED);
	memcpy(s->u.pw, msg, n);
	s->pwlen = n;
	return sasl_need_verify(s, reply, replysz);
}

/*
 * client-first: look the user up and answer with server-first.  A
 * user with no SCRAM verifier (none at all, argon2id, or one that does
 * not parse) gets a mock one, so that the exchange runs on and fails
 * at the proof, as a wrong password does.
 */
static int
sasl_scram_first(struct sasl *s, const uint8_t *msg, size_t n,
    char *reply, size_t replysz)
{
	struct scram_verifier	 v;
	char			 sfirst[SCRAM_MSG_MAX + 1];
	const char		*user, *ver;
	size_t			 ulen, vlen = 0;
	long			 r;
	int			 ok = 0;

	if (scram_server_start(&s->u.scram, (const char *)msg, n, NULL,
	    0) != 0)
		return sasl_reply(s, SASL_BAD, reply, replysz, R_MALFORMED);
	user = scram_server_user(&s->u.scram, &ulen);
	if (sasl_set_user(s, user, ulen) != 0)
		return sasl_reply(s, SASL_BAD, reply, replysz, R_MALFORMED);
	ver = s->lookup != NULL ? s->lookup(s->lookup_arg, s->user,
	    s->userlen, &vlen) : NULL;
	/* An argon2id verifier does not parse as SCRAM: mock too. */
	if (ver != NULL && scram_verifier_parse(ver, vlen, &v, NULL, 0) == 0)
		ok = 1;
	if (!ok)
		sasl_mock(s, &v);
	r = scram_server_challenge(&s->u.scram, &v, sfirst, sizeof(sfirst),
	    NULL, 0);
	sodium_memzero(&v, sizeof(v));
	if (r < 0)
		return sasl_reply(s, SASL_BAD, reply, replysz, R_MALFORMED);
	return sasl_challenge(s, SS_SCRAM_FINAL, sfirst, (size_t)r, reply,
	    replysz);
}

/*
 * The mock verifier of a user with no SCRAM verifier, shaped like the
 * table's model: its iteration count, a salt of its length (the same
 * keyed hash of the name, so the same on every attempt).
 */
static void
sasl_mock(struct sasl *s, struct scram_verifier *v)
{
	struct scram_verifier	 m;
	uint8_t			 salt[SCRAM_SALT_MAX];

	scram_verifier_mock(v, s->user, s->userlen, s->ctx->secret);
	if (s->model == NULL || scram_verifier_parse(s->model, s->modellen,
	    &m, NULL, 0) != 0)
		return;
	v->iter = m.iter;
	if (m.saltlen != v->saltlen && m.saltlen <= sizeof(salt) &&
	    crypto_generichash(salt, sizeof(salt),
	    (const unsigned char *)s->user, s->userlen, s->ctx->secret,
	    sizeof(s->ctx->secret)) == 0) {
		memcpy(v->salt, salt, m.saltlen);
		v->saltlen = m.saltlen;
	}
	sodium_memzero(&m, sizeof(m));
}

/* client-final: the proof decides; server-final goes out as a 334. */
static int
sasl_scram_final(struct sasl *s, const uint8_t *msg, size_t n,
    char *reply, size_t replysz)
{
	char	 sfinal[SCRAM_MSG_MAX + 1];
	size_t	 flen = 0;
	int	 r;

	r = scram_server_finish(&s->u.scram, (const char *)msg, n, sfinal,
	    sizeof(sfinal), &flen, NULL, 0);
	if (r == 0) {
		sodium_memzero(sfinal, sizeof(sfinal));
		return sasl_reply(s, SASL_FAIL, reply, replysz, R_INVALID);
	}
	if (r < 0) {
		sodium_memzero(sfinal, sizeof(sfinal));
		return sasl_reply(s, SASL_BAD, reply, replysz, R_MALFORMED);
	}
	r = sasl_challenge(s, SS_SCRAM_ACK, sfinal, flen, reply, replysz);
	sodium_memzero(sfinal, sizeof(sfinal));
	/* Nothing secret is needed for the last step. */
	scram_server_clear(&s->u.scram);
	return r;
}

int
sasl_verified(struct sasl *s, int result, char *reply, size_t replysz)
{
	if (replysz < SASL_REPLY_MAX || s->state != SS_VERIFY)
		return -1;
	if (result == 1)
		return sasl_reply(s, SASL_OK, reply, replysz, R_OK);
	if (result == 0)
		return sasl_reply(s, SASL_FAIL, reply, replysz, R_INVALID);
	return sasl_reply(s, SASL_TEMP, reply, replysz, R_TEMP);
}
