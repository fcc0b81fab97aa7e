/*
 * scram: SCRAM-SHA-256 (RFC 5802 with RFC 7677's hash), both roles,
 * over libsodium's HMAC-SHA-256 and SHA-256.  The runtime's AUTH uses
 * the server role, its outbound client the client role, and the
 * verifier module the key derivation.  Messages are parsed in place
 * with explicit lengths, every field bounded before it is copied into
 * the fixed-size state; secrets on the stack are wiped before return.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "b64.h"
#include "bastion_limits.h"
#include "scram.h"

enum {
	SCRAM_ST_INIT = 0,	/* what scram_*_init leaves */
	SCRAM_ST_STARTED,	/* server: client-first read; client: sent */
	SCRAM_ST_CHALLENGED,	/* server: server-first made */
	SCRAM_ST_RESPONDED,	/* client: client-final made */
	SCRAM_ST_DONE,
	SCRAM_ST_FAILED		/* sticky: a failed exchange stays failed */
};

/* RFC 5802 section 7, server-error-value. */
#define E_INVALID_ENCODING	"invalid-encoding"
#define E_EXTENSIONS		"extensions-not-supported"
#define E_INVALID_PROOF		"invalid-proof"
#define E_CB_MISMATCH		"channel-bindings-dont-match"
#define E_CB_UNSUPPORTED	"channel-binding-not-supported"
#define E_USERNAME_ENCODING	"invalid-username-encoding"
#define E_OTHER			"other-error"

/* The longest base64 text of a salt, and of a key or proof. */
#define SCRAM_SALT_B64		(B64_ENCODED_SIZE(SCRAM_SALT_MAX) - 1)
#define SCRAM_KEY_B64		(B64_ENCODED_SIZE(SCRAM_KEY_SIZE) - 1)

struct scram_attr {
	char		 name;
	const char	*val;
	size_t		 len;
};

static int	scram_next(const char *, size_t, size_t *,
		    struct scram_attr *);
static int	scram_printable(const char *, size_t);
static int	scram_check_nonce(const char *, size_t);
static int	scram_name_decode(const char *, size_t, char *, size_t,
		    size_t *);
static long	scram_name_encode(const char *, size_t, char *, size_t);
static int	scram_parse_iter(const char *, size_t, uint32_t *);
static void	scram_hmac(const uint8_t *, size_t, const char *, size_t,
		    uint8_t *);
static void	scram_hmac_auth(const uint8_t *, const char *, size_t,
		    const char *, size_t, const char *, size_t, uint8_t *);
static int	scram_make_nonce(const char *, size_t, char *, size_t,
		    size_t *);
static void	scram_server_fail(struct scram_server *, const char *,
		    char *, size_t, size_t *);
static void	scram_reason(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
scram_reason(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * The next "x=value" attribute of m from *pos.  Returns 1 with it in
 * *a, 0 at the end, -1 if the text there is not an attribute.  *pos
 * past n marks the end, so that "a=1," (an empty last attribute) is
 * malformed rather than finished.
 */
static int
scram_next(const char *m, size_t n, size_t *pos, struct scram_attr *a)
{
	const char	*c;
	size_t		 end;
	char		 ch;

	if (*pos > n)
		return 0;
	c = memchr(m + *pos, ',', n - *pos);
	end = c != NULL ? (size_t)(c - m) : n;
	if (end - *pos < 2 || m[*pos + 1] != '=')
		return -1;
	ch = m[*pos];
	if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
		return -1;
	a->name = ch;
	a->val = m + *pos + 2;
	a->len = end - *pos - 2;
	*pos = end + 1;
	return 1;
}

/* No NUL, no control bytes: what any SCRAM message may hold. */
static int
scram_printable(const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* printable = %x21-2B / %x2D-7E: visible ASCII but ','. */
static int
scram_check_nonce(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ',')
			return -1;
	return 0;
}

/*
 * saslname -> name: "=2C" is ',', "=3D" is '=', any other '=' is an
 * error, and so is a control byte.  Returns 0, -1 on a bad encoding,
 * -2 if the name does not fit in outsz - 1 bytes.
 */
static int
scram_name_decode(const char *s, size_t n, char *out, size_t outsz,
    size_t *outlen)
{
	size_t	 i, o = 0;
	char	 c;

	for (i = 0; i < n; i++) {
		c = s[i];
		if (c == '=') {
			if (n - i < 3)
				return -1;
			if (s[i + 1] == '2' && s[i + 2] == 'C')
				c = ',';
			else if (s[i + 1] == '3' && s[i + 2] == 'D')
				c = '=';
			else
				return -1;
			i += 2;
		} else if ((unsigned char)c < 0x20 || c == 0x7f)
			return -1;
		if (o + 1 >= outsz)
			return -2;
		out[o++] = c;
	}
	out[o] = '\0';
	*outlen = o;
	return 0;
}

/* name -> saslname into out.  Returns the length, or -1 if no room. */
static long
scram_name_encode(const char *s, size_t n, char *out, size_t outsz)
{
	size_t	 i, o = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == ',' || s[i] == '=') {
			if (outsz - o < 4)
				return -1;
			out[o++] = '=';
			out[o++] = s[i] == ',' ? '2' : '3';
			out[o++] = s[i] == ',' ? 'C' : 'D';
		} else {
			if (outsz - o < 2)
				return -1;
			out[o++] = s[i];
		}
	}
	if (outsz - o < 1)
		return -1;
	out[o] = '\0';
	return (long)o;
}

/*
 * A decimal iteration count: digits only, no leading zero, within
 * SCRAM_ITER_MIN..SCRAM_ITER_MAX.  Returns 0, -1 if not a number,
 * -2 if out of range.
 */
static int
scram_parse_iter(const char *s, size_t n, uint32_t *iter)
{
	uint64_t	 v = 0;
	size_t		 i;

	if (n == 0 || (s[0] == '0' && n > 1))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v <= SCRAM_ITER_MAX)
			v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v < SCRAM_ITER_MIN || v > SCRAM_ITER_MAX)
		return -2;
	*iter = (uint32_t)v;
	return 0;
}

static void
scram_hmac(const uint8_t *key, size_t keylen, const char *m, size_t n,
    uint8_t *out)
{
	crypto_auth_hmacsha256_state	 st;

	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)m, n);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

/*
 * HMAC(key, AuthMessage) where AuthMessage is client-first-bare ","
 * server-first "," client-final-without-proof, fed in pieces so that
 * it is never assembled in a buffer.
 */
static void
scram_hmac_auth(const uint8_t *key, const char *a, size_t alen,
    const char *b, size_t blen, const char *c, size_t clen, uint8_t *out)
{
	crypto_auth_hmacsha256_state	 st;

	crypto_auth_hmacsha256_init(&st, key, SCRAM_KEY_SIZE);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)a, alen);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)",", 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)b, blen);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)",", 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)c, clen);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

int
scram_pbkdf2(const char *pw, size_t pwlen, const uint8_t *salt,
    size_t saltlen, uint32_t iter, uint8_t *out, size_t outlen)
{
	crypto_auth_hmacsha256_state	 key, st;
	uint8_t				 u[SCRAM_KEY_SIZE], t[SCRAM_KEY_SIZE];
	uint8_t				 be[4];
	uint32_t			 block, i;
	size_t				 off, k, take;

	if (iter == 0 || outlen == 0 ||
	    outlen / SCRAM_KEY_SIZE >= UINT32_MAX)
		return -1;
	/*
	 * The HMAC key is the same for every round: key it once and copy
	 * the keyed state, which halves the hashing PBKDF2 costs.
	 */
	crypto_auth_hmacsha256_init(&key, (const unsigned char *)pw, pwlen);
	for (block = 1, off = 0; off < outlen; block++) {
		be[0] = (uint8_t)(block >> 24);
		be[1] = (uint8_t)(block >> 16);
		be[2] = (uint8_t)(block >> 8);
		be[3] = (uint8_t)block;
		st = key;
		crypto_auth_hmacsha256_update(&st, salt, saltlen);
		crypto_auth_hmacsha256_update(&st, be, sizeof(be));
		crypto_auth_hmacsha256_final(&st, u);
		memcpy(t, u, sizeof(t));
		for (i = 1; i < iter; i++) {
			st = key;
			crypto_auth_hmacsha256_update(&st, u, sizeof(u));
			crypto_auth_hmacsha256_final(&st, u);
			for (k = 0; k < sizeof(t); k++)
				t[k] ^= u[k];
		}
		take = outlen - off < sizeof(t) ? outlen - off : sizeof(t);
		memcpy(out + off, t, take);
		off += take;
	}
	sodium_memzero(&key, sizeof(key));
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(u, sizeof(u));
	sodium_memzero(t, sizeof(t));
	return 0;
}

int
scram_derive(const char *pw, size_t pwlen, const uint8_t *salt,
    size_t saltlen, uint32_t iter, uint8_t *stored_key, uint8_t *server_key)
{
	uint8_t	 salted[SCRAM_KEY_SIZE], ckey[SCRAM_KEY_SIZE];

	if (scram_pbkdf2(pw, pwlen, salt, saltlen, iter, salted,
	    sizeof(salted)) != 0)
		return -1;
	scram_hmac(salted, sizeof(salted), "Client Key", 10, ckey);
	crypto_hash_sha256(stored_key, ckey, sizeof(ckey));
	scram_hmac(salted, sizeof(salted), "Server Key", 10, server_key);
	sodium_memzero(salted, sizeof(salted));
	sodium_memzero(ckey, sizeof(ckey));
	return 0;
}

int
scram_verifier_parse(const char *s, size_t n, struct scram_verifier *v,
    char *err, size_t errlen)
{
	static const char	 pfx[] = SCRAM_MECH "$";
	const char		*p, *end, *c, *salt, *sk;
	size_t			 saltlen, sklen;
	long			 r;
	int			 ir;

	memset(v, 0, sizeof(*v));
	if (n < sizeof(pfx) - 1 || memcmp(s, pfx, sizeof(pfx) - 1) != 0) {
		scram_reason(err, errlen, "a SCRAM verifier starts with "
		    "'%s'", pfx);
		return -1;
	}
	p = s + sizeof(pfx) - 1;
	end = s + n;
	/* ITER ':' SALT '$' STOREDKEY ':' SERVERKEY */
	if ((c = memchr(p, ':', (size_t)(end - p))) == NULL)
		goto form;
	ir = scram_parse_iter(p, (size_t)(c - p), &v->iter);
	if (ir == -1) {
		scram_reason(err, errlen, "SCRAM verifier: the iteration "
		    "count is not a decimal number");
		return -1;
	}
	if (ir == -2) {
		scram_reason(err, errlen, "SCRAM verifier: the iteration "
		    "count must be %d..%d", SCRAM_ITER_MIN, SCRAM_ITER_MAX);
		return -1;
	}
	salt = c + 1;
	if ((c = memchr(salt, '$', (size_t)(end - salt))) == NULL)
		goto form;
	saltlen = (size_t)(c - salt);
	sk = c + 1;
	if ((c = memchr(sk, ':', (size_t)(end - sk))) == NULL)
		goto form;
	sklen = (size_t)(c - sk);
	c++;
	if (saltlen > SCRAM_SALT_B64 ||
	    (r = b64_decode(salt, saltlen, v->salt, sizeof(v->salt))) < 0) {
		scram_reason(err, errlen, "SCRAM verifier: the salt is not "
		    "base64 of at most %d bytes", SCRAM_SALT_MAX);
		return -1;
	}
	if (r < SCRAM_SALT_MIN) {
		scram_reason(err, errlen, "SCRAM verifier: the salt is "
		    "empty");
		return -1;
	}
	v->saltlen = (size_t)r;
	if (sklen != SCRAM_KEY_B64 || b64_decode(sk, sklen, v->stored_key,
	    sizeof(v->stored_key)) != SCRAM_KEY_SIZE) {
		scram_reason(err, errlen, "SCRAM verifier: StoredKey is not "
		    "base64 of %d bytes", SCRAM_KEY_SIZE);
		return -1;
	}
	if ((size_t)(end - c) != SCRAM_KEY_B64 || b64_decode(c, SCRAM_KEY_B64,
	    v->server_key, sizeof(v->server_key)) != SCRAM_KEY_SIZE) {
		scram_reason(err, errlen, "SCRAM verifier: ServerKey is not "
		    "base64 of %d bytes", SCRAM_KEY_SIZE);
		return -1;
	}
	return 0;
form:
	scram_reason(err, errlen, "a SCRAM verifier has the form "
	    "%sITER:SALT$STOREDKEY:SERVERKEY", pfx);
	return -1;
}

long
scram_verifier_format(const struct scram_verifier *v, char *out,
    size_t outsz)
{
	char	 salt[B64_ENCODED_SIZE(SCRAM_SALT_MAX)];
	char	 stk[B64_ENCODED_SIZE(SCRAM_KEY_SIZE)];
	char	 svk[B64_ENCODED_SIZE(SCRAM_KEY_SIZE)];
	int	 r;

	if (v->saltlen < SCRAM_SALT_MIN || v->saltlen > SCRAM_SALT_MAX)
		return -1;
	if (b64_encode(v->salt, v->saltlen, salt, sizeof(salt)) < 0 ||
	    b64_encode(v->stored_key, SCRAM_KEY_SIZE, stk, sizeof(stk)) < 0 ||
	    b64_encode(v->server_key, SCRAM_KEY_SIZE, svk, sizeof(svk)) < 0)
		return -1;
	r = snprintf(out, outsz, "%s$%u:%s$%s:%s", SCRAM_MECH,
	    (unsigned)v->iter, salt, stk, svk);
	if (r < 0 || (size_t)r >= outsz)
		return -1;
	return r;
}

void
scram_verifier_mock(struct scram_verifier *v, const char *user,
    size_t userlen, const uint8_t *secret)
{
	memset(v, 0, sizeof(*v));
	v->iter = SCRAM_ITER_MIN;
	v->saltlen = SCRAM_SALT_SIZE;
	crypto_generichash(v->salt, v->saltlen, (const unsigned char *)user,
	    userlen, secret, SCRAM_KEY_SIZE);
	randombytes_buf(v->stored_key, sizeof(v->stored_key));
	randombytes_buf(v->server_key, sizeof(v->server_key));
}

/*
 * Our nonce: the fixed one a test set, or SCRAM_NONCE_RANDOM random
 * bytes in base64 (whose alphabet is all "printable" in RFC 5802's
 * sense).  Appended to out at *len.
 */
static int
scram_make_nonce(const char *fixed, size_t fixedlen, char *out,
    size_t outsz, size_t *len)
{
	uint8_t	 r[SCRAM_NONCE_RANDOM];
	long	 w;

	if (fixedlen > 0) {
		if (outsz - *len <= fixedlen)
			return -1;
		memcpy(out + *len, fixed, fixedlen);
		*len += fixedlen;
		out[*len] = '\0';
		return 0;
	}
	randombytes_buf(r, sizeof(r));
	w = b64_encode(r, sizeof(r), out + *len, outsz - *len);
	if (w < 0)
		return -1;
	*len += (size_t)w;
	return 0;
}

/* Server role. */

void
scram_server_init(struct scram_server *s)
{
	memset(s, 0, sizeof(*s));
}

void
scram_server_clear(struct scram_server *s)
{
	sodium_memzero(s, sizeof(*s));
}

int
scram_server_set_nonce(struct scram_server *s, const char *nonce,
    size_t n)
{
	if (n > SCRAM_NONCE_MAX || scram_check_nonce(nonce, n) != 0)
		return -1;
	memcpy(s->fixed, nonce, n);
	s->fixed[n] = '\0';
	s->fixedlen = n;
	return 0;
}

const char *
scram_server_user(const struct scram_server *s, size_t *len)
{
	if (len != NULL)
		*len = s->userlen;
	return s->user;
}

const char *
scram_server_error(const struct scram_server *s)
{
	return s->error;
}

/* Record a failure and, room permitting, its "e=..." message. */
static void
scram_server_fail(struct scram_server *s, const char *error, char *out,
    size_t outsz, size_t *outlen)
{
	int	 r;

	s->state = SCRAM_ST_FAILED;
	s->error = error;
	if (out == NULL || outsz == 0)
		return;
	r = snprintf(out, outsz, "e=%s", error);
	if (r < 0 || (size_t)r >= outsz) {
		out[0] = '\0';
		r = 0;
	}
	if (outlen != NULL)
		*outlen = (size_t)r;
}

int
scram_server_start(struct scram_server *s, const char *msg, size_t n,
    char *err, size_t errlen)
{
	struct scram_attr	 a;
	const char		*bare;
	size_t			 blen, pos;
	int			 r;

	if (s->state != SCRAM_ST_INIT) {
		scram_reason(err, errlen, "SCRAM: client-first message out "
		    "of order");
		scram_server_fail(s, E_OTHER, NULL, 0, NULL);
		return -1;
	}
	if (n > SCRAM_MSG_MAX) {
		scram_reason(err, errlen, "SCRAM: client-first message "
		    "longer than %d bytes", SCRAM_MSG_MAX);
		goto bad_other;
	}
	if (memchr(msg, '\0', n) != NULL) {
		scram_reason(err, errlen, "SCRAM: NUL byte in the "
		    "client-first message");
		goto bad_encoding;
	}
	/* gs2-header: gs2-cbind-flag "," [authzid] "," */
	if (n >= 2 && msg[0] == 'p' && msg[1] == '=') {
		scram_reason(err, errlen, "SCRAM: the client asks for channel "
		    "binding, but SCRAM-SHA-256-PLUS is not offered");
		scram_server_fail(s, E_CB_UNSUPPORTED, NULL, 0, NULL);
		return -1;
	}
	if (n < 3 || (msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',') {
		scram_reason(err, errlen, "SCRAM: the client-first message "
		    "does not start with a gs2 header (\"n,,\")");
		goto bad_encoding;
	}
	if (msg[2] != ',') {
		if (msg[2] == 'a' && n > 3 && msg[3] == '=')
			scram_reason(err, errlen, "SCRAM: an authorization "
			    "identity (a=) is not supported");
		else
			scram_reason(err, errlen, "SCRAM: malformed gs2 "
			    "header");
		goto bad_other;
	}
	/*
	 * "y": the client could bind but thinks we cannot.  We cannot, so
	 * that is no downgrade; c= must then carry "y,," back.
	 */
	memcpy(s->cbind, msg[0] == 'n' ? "biws" : "eSws", 5);
	bare = msg + 3;
	blen = n - 3;

	pos = 0;
	if ((r = scram_next(bare, blen, &pos, &a)) != 1)
		goto malformed;
	if (a.name == 'm') {
		scram_reason(err, errlen, "SCRAM: mandatory extension (m=) "
		    "not supported");
		scram_server_fail(s, E_EXTENSIONS, NULL, 0, NULL);
		return -1;
	}
	if (a.name != 'n')
		goto malformed;
	r = scram_name_decode(a.val, a.len, s->user, sizeof(s->user),
	    &s->userlen);
	if (r == -2) {
		scram_reason(err, errlen, "SCRAM: user name longer than %d "
		    "bytes", LIM_USERNAME);
		goto bad_other;
	}
	if (r != 0 || s->userlen == 0) {
		scram_reason(err, errlen, "SCRAM: badly encoded user name");
		scram_server_fail(s, E_USERNAME_ENCODING, NULL, 0, NULL);
		return -1;
	}
	if (scram_next(bare, blen, &pos, &a) != 1 || a.name != 'r')
		goto malformed;
	if (a.len > SCRAM_NONCE_MAX || scram_check_nonce(a.val, a.len) != 0) {
		scram_reason(err, errlen, "SCRAM: the client nonce is empty, "
		    "too long or not printable");
		goto bad_encoding;
	}
	memcpy(s->nonce, a.val, a.len);
	s->nonce[a.len] = '\0';
	s->cnoncelen = s->noncelen = a.len;
	/* Extensions we do not know are ignored (RFC 5802 section 5.1). */
	while ((r = scram_next(bare, blen, &pos, &a)) == 1)
		;
	if (r != 0 || !scram_printable(bare, blen))
		goto malformed;
	memcpy(s->cfirst, bare, blen);
	s->cfirstlen = blen;
	s->state = SCRAM_ST_STARTED;
	return 0;

malformed:
	scram_reason(err, errlen, "SCRAM: malformed client-first message");
bad_encoding:
	scram_server_fail(s, E_INVALID_ENCODING, NULL, 0, NULL);
	return -1;
bad_other:
	scram_server_fail(s, E_OTHER, NULL, 0, NULL);
	return -1;
}

long
scram_server_challenge(struct scram_server *s,
    const struct scram_verifier *v, char *out, size_t outsz, char *err,
    size_t errlen)
{
	char	 salt[B64_ENCODED_SIZE(SCRAM_SALT_MAX)];
	int	 r;

	if (s->state != SCRAM_ST_STARTED) {
		scram_reason(err, errlen, "SCRAM: challenge out of order");
		scram_server_fail(s, E_OTHER, NULL, 0, NULL);
		return -1;
	}
	if (v->saltlen < SCRAM_SALT_MIN || v->saltlen > SCRAM_SALT_MAX ||
	    v->iter < SCRAM_ITER_MIN || v->iter > SCRAM_ITER_MAX ||
	    b64_encode(v->salt, v->saltlen, salt, sizeof(salt)) < 0) {
		scram_reason(err, errlen, "SCRAM: unusable verifier");
		scram_server_fail(s, E_OTHER, NULL, 0, NULL);
		return -1;
	}
	s->noncelen = s->cnoncelen;
	if (scram_make_nonce(s->fixed, s->fixedlen, s->nonce,
	    sizeof(s->nonce), &s->noncelen) != 0)
		goto nospace;
	r = snprintf(s->sfirst, sizeof(s->sfirst), "r=%s,s=%s,i=%u",
	    s->nonce, salt, (unsigned)v->iter);
	if (r < 0 || (size_t)r >= sizeof(s->sfirst) || (size_t)r >= outsz)
		goto nospace;
	s->sfirstlen = (size_t)r;
	memcpy(out, s->sfirst, s->sfirstlen + 1);
	memcpy(s->stored_key, v->stored_key, SCRAM_KEY_SIZE);
	memcpy(s->server_key, v->server_key, SCRAM_KEY_SIZE);
	s->state = SCRAM_ST_CHALLENGED;
	return r;
nospace:
	scram_reason(err, errlen, "SCRAM: no room for the server-first "
	    "message");
	scram_server_fail(s, E_OTHER, NULL, 0, NULL);
	return -1;
}

int
scram_server_finish(struct scram_server *s, const char *msg, size_t n,
    char *out, size_t outsz, size_t *outlen, char *err, size_t errlen)
{
	struct scram_attr	 a;
	uint8_t			 proof[SCRAM_KEY_SIZE + 2];
	uint8_t			 sig[SCRAM_KEY_SIZE], key[SCRAM_KEY_SIZE];
	uint8_t			 h[SCRAM_KEY_SIZE];
	size_t			 pos, start, woplen = 0, k;
	long			 plen = -1;
	int			 r, ok;

	*outlen = 0;
	if (outsz > 0)
		out[0] = '\0';
	if (s->state != SCRAM_ST_CHALLENGED) {
		scram_reason(err, errlen, "SCRAM: client-final message out "
		    "of order");
		scram_server_fail(s, E_OTHER, out, outsz, outlen);
		return -1;
	}
	if (n > SCRAM_MSG_MAX || !scram_printable(msg, n)) {
		scram_reason(err, errlen, "SCRAM: client-final message too "
		    "long or not printable");
		goto bad_encoding;
	}
	pos = 0;
	if (scram_next(msg, n, &pos, &a) != 1 || a.name != 'c')
		goto malformed;
	if (a.len != strlen(s->cbind) || memcmp(a.val, s->cbind, a.len)) {
		scram_reason(err, errlen, "SCRAM: channel binding data does "
		    "not match the gs2 header");
		scram_server_fail(s, E_CB_MISMATCH, out, outsz, outlen);
		return -1;
	}
	if (scram_next(msg, n, &pos, &a) != 1 || a.name != 'r')
		goto malformed;
	if (a.len != s->noncelen || memcmp(a.val, s->nonce, a.len) != 0) {
		scram_reason(err, errlen, "SCRAM: the nonce does not match");
		scram_server_fail(s, E_OTHER, out, outsz, outlen);
		return -1;
	}
	/* Extensions, then "p=", which must come last. */
	for (;;) {
		start = pos;
		if ((r = scram_next(msg, n, &pos, &a)) != 1)
			goto malformed;
		if (a.name == 'p')
			break;
	}
	if (pos <= n)
		goto malformed;
	woplen = start - 1;
	if (a.len == SCRAM_KEY_B64)
		plen = b64_decode(a.val, a.len, proof, sizeof(proof));
	if (plen != SCRAM_KEY_SIZE) {
		scram_reason(err, errlen, "SCRAM: the proof is not base64 of "
		    "%d bytes", SCRAM_KEY_SIZE);
		goto bad_encoding;
	}

	/* ClientKey = ClientProof ^ HMAC(StoredKey, AuthMessage). */
	scram_hmac_auth(s->stored_key, s->cfirst, s->cfirstlen, s->sfirst,
	    s->sfirstlen, msg, woplen, sig);
	for (k = 0; k < SCRAM_KEY_SIZE; k++)
		key[k] = proof[k] ^ sig[k];
	crypto_hash_sha256(h, key, sizeof(key));
	ok = sodium_memcmp(h, s->stored_key, SCRAM_KEY_SIZE) == 0;
	sodium_memzero(key, sizeof(key));
	sodium_memzero(h, sizeof(h));
	if (!ok) {
		sodium_memzero(sig, sizeof(sig));
		scram_reason(err, errlen, "SCRAM: wrong password (the proof "
		    "does not match)");
		scram_server_fail(s, E_INVALID_PROOF, out, outsz, outlen);
		return 0;
	}
	scram_hmac_auth(s->server_key, s->cfirst, s->cfirstlen, s->sfirst,
	    s->sfirstlen, msg, woplen, sig);
	if (outsz < 2 + B64_ENCODED_SIZE(SCRAM_KEY_SIZE)) {
		sodium_memzero(sig, sizeof(sig));
		scram_reason(err, errlen, "SCRAM: no room for the "
		    "server-final message");
		scram_server_fail(s, E_OTHER, NULL, 0, NULL);
		return -1;
	}
	out[0] = 'v';
	out[1] = '=';
	*outlen = 2 + (size_t)b64_encode(sig, sizeof(sig), out + 2,
	    outsz - 2);
	sodium_memzero(sig, sizeof(sig));
	sodium_memzero(s->stored_key, sizeof(s->stored_key));
	sodium_memzero(s->server_key, sizeof(s->server_key));
	s->state = SCRAM_ST_DONE;
	s->error = NULL;
	return 1;

malformed:
	scram_reason(err, errlen, "SCRAM: malformed client-final message");
bad_encoding:
	scram_server_fail(s, E_INVALID_ENCODING, out, outsz, outlen);
	return -1;
}

/* Client role. */

void
scram_client_init(struct scram_client *c)
{
	memset(c, 0, sizeof(*c));
}

void
scram_client_clear(struct scram_client *c)
{
	sodium_memzero(c, sizeof(*c));
}

int
scram_client_set_nonce(struct scram_client *c, const char *nonce,
    size_t n)
{
	if (n > SCRAM_NONCE_MAX || scram_check_nonce(nonce, n) != 0)
		return -1;
	memcpy(c->nonce, nonce, n);
	c->nonce[n] = '\0';
	c->noncelen = n;
	return 0;
}

long
scram_client_start(struct scram_client *c, const char *user,
    size_t userlen, char *out, size_t outsz, char *err, size_t errlen)
{
	size_t	 len;
	long	 w;

	if (c->state != SCRAM_ST_INIT) {
		scram_reason(err, errlen, "SCRAM: client started twice");
		goto fail;
	}
	if (userlen == 0 || userlen > LIM_USERNAME ||
	    !scram_printable(user, userlen)) {
		scram_reason(err, errlen, "SCRAM: the user name must be 1..%d "
		    "bytes without control characters", LIM_USERNAME);
		goto fail;
	}
	if (c->noncelen == 0) {
		if (scram_make_nonce(NULL, 0, c->nonce, sizeof(c->nonce),
		    &c->noncelen) != 0)
			goto nospace;
	}
	/* client-first-message-bare = "n=" saslname ",r=" nonce */
	memcpy(c->cfirst, "n=", 2);
	w = scram_name_encode(user, userlen, c->cfirst + 2,
	    sizeof(c->cfirst) - 2);
	if (w < 0)
		goto nospace;
	len = 2 + (size_t)w;
	if (sizeof(c->cfirst) - len < 3 + c->noncelen + 1)
		goto nospace;
	memcpy(c->cfirst + len, ",r=", 3);
	memcpy(c->cfirst + len + 3, c->nonce, c->noncelen);
	len += 3 + c->noncelen;
	c->cfirst[len] = '\0';
	c->cfirstlen = len;
	if (outsz < 3 + len + 1)
		goto nospace;
	memcpy(out, "n,,", 3);
	memcpy(out + 3, c->cfirst, len + 1);
	c->state = SCRAM_ST_STARTED;
	return (long)(3 + len);
nospace:
	scram_reason(err, errlen, "SCRAM: no room for the client-first "
	    "message");
fail:
	c->state = SCRAM_ST_FAILED;
	return -1;
}

long
scram_client_respond(struct scram_client *c, const char *msg, size_t n,
    const char *pw, size_t pwlen, char *out, size_t outsz, char *err,
    size_t errlen)
{
	struct scram_attr	 a;
	const char		*nonce;
	uint8_t			 salt[SCRAM_SALT_MAX + 2];
	uint8_t			 salted[SCRAM_KEY_SIZE], ckey[SCRAM_KEY_SIZE];
	uint8_t			 stored[SCRAM_KEY_SIZE], skey[SCRAM_KEY_SIZE];
	uint8_t			 sig[SCRAM_KEY_SIZE];
	size_t			 pos, noncelen, len, k;
	uint32_t		 iter;
	long			 saltlen = -1;
	int			 r;

	if (c->state != SCRAM_ST_STARTED) {
		scram_reason(err, errlen, "SCRAM: server-first message out "
		    "of order");
		goto fail;
	}
	if (n > SCRAM_MSG_MAX || !scram_printable(msg, n))
		goto malformed;
	pos = 0;
	if (scram_next(msg, n, &pos, &a) != 1)
		goto malformed;
	if (a.name == 'm') {
		scram_reason(err, errlen, "SCRAM: the server demands an "
		    "extension (m=) we do not support");
		goto fail;
	}
	if (a.name != 'r')
		goto malformed;
	nonce = a.val;
	noncelen = a.len;
	if (noncelen <= c->noncelen || noncelen > 2 * SCRAM_NONCE_MAX ||
	    memcmp(nonce, c->nonce, c->noncelen) != 0 ||
	    scram_check_nonce(nonce, noncelen) != 0) {
		scram_reason(err, errlen, "SCRAM: the server's nonce does "
		    "not extend ours");
		goto fail;
	}
	if (scram_next(msg, n, &pos, &a) != 1 || a.name != 's')
		goto malformed;
	if (a.len <= SCRAM_SALT_B64)
		saltlen = b64_decode(a.val, a.len, salt, sizeof(salt));
	if (saltlen < SCRAM_SALT_MIN || saltlen > SCRAM_SALT_MAX) {
		scram_reason(err, errlen, "SCRAM: the server's salt is not "
		    "base64 of 1..%d bytes", SCRAM_SALT_MAX);
		goto fail;
	}
	if (scram_next(msg, n, &pos, &a) != 1 || a.name != 'i')
		goto malformed;
	if ((r = scram_parse_iter(a.val, a.len, &iter)) != 0) {
		if (r == -2)
			scram_reason(err, errlen, "SCRAM: the server asks for "
			    "%.*s iterations (we take %d..%d)",
			    a.len > 12 ? 12 : (int)a.len, a.val,
			    SCRAM_ITER_MIN, SCRAM_ITER_MAX);
		else
			goto malformed;
		goto fail;
	}
	while ((r = scram_next(msg, n, &pos, &a)) == 1)
		;
	if (r != 0)
		goto malformed;

	/* client-final-message-without-proof, straight into out. */
	len = 9 + noncelen;
	if (outsz < len + 3 + B64_ENCODED_SIZE(SCRAM_KEY_SIZE)) {
		scram_reason(err, errlen, "SCRAM: no room for the "
		    "client-final message");
		goto fail;
	}
	memcpy(out, "c=biws,r=", 9);
	memcpy(out + 9, nonce, noncelen);

	if (scram_pbkdf2(pw, pwlen, salt, (size_t)saltlen, iter, salted,
	    sizeof(salted)) != 0) {
		scram_reason(err, errlen, "SCRAM: key derivation failed");
		goto fail;
	}
	scram_hmac(salted, sizeof(salted), "Client Key", 10, ckey);
	crypto_hash_sha256(stored, ckey, sizeof(ckey));
	scram_hmac(salted, sizeof(salted), "Server Key", 10, skey);
	scram_hmac_auth(stored, c->cfirst, c->cfirstlen, msg, n, out, len,
	    sig);
	for (k = 0; k < SCRAM_KEY_SIZE; k++)
		ckey[k] ^= sig[k];		/* now ClientProof */
	scram_hmac_auth(skey, c->cfirst, c->cfirstlen, msg, n, out, len,
	    c->server_sig);
	memcpy(out + len, ",p=", 3);
	len += 3;
	len += (size_t)b64_encode(ckey, sizeof(ckey), out + len, outsz - len);
	sodium_memzero(salted, sizeof(salted));
	sodium_memzero(ckey, sizeof(ckey));
	sodium_memzero(stored, sizeof(stored));
	sodium_memzero(skey, sizeof(skey));
	sodium_memzero(sig, sizeof(sig));
	c->state = SCRAM_ST_RESPONDED;
	return (long)len;

malformed:
	scram_reason(err, errlen, "SCRAM: malformed server-first message");
fail:
	c->state = SCRAM_ST_FAILED;
	return -1;
}

int
scram_client_verify(struct scram_client *c, const char *msg, size_t n,
    char *err, size_t errlen)
{
	struct scram_attr	 a;
	uint8_t			 v[SCRAM_KEY_SIZE + 2];
	size_t			 pos = 0;
	long			 vlen = -1;
	int			 r;

	if (c->state != SCRAM_ST_RESPONDED) {
		scram_reason(err, errlen, "SCRAM: server-final message out "
		    "of order");
		c->state = SCRAM_ST_FAILED;
		return -1;
	}
	c->state = SCRAM_ST_FAILED;
	if (n > SCRAM_MSG_MAX || !scram_printable(msg, n) ||
	    scram_next(msg, n, &pos, &a) != 1)
		goto malformed;
	if (a.name == 'e') {
		scram_reason(err, errlen, "SCRAM: the server refused: %.*s",
		    a.len > 64 ? 64 : (int)a.len, a.val);
		return 0;
	}
	if (a.name != 'v')
		goto malformed;
	if (a.len == SCRAM_KEY_B64)
		vlen = b64_decode(a.val, a.len, v, sizeof(v));
	if (vlen != SCRAM_KEY_SIZE)
		goto malformed;
	while ((r = scram_next(msg, n, &pos, &a)) == 1)
		;
	if (r != 0)
		goto malformed;
	if (sodium_memcmp(v, c->server_sig, SCRAM_KEY_SIZE) != 0) {
		scram_reason(err, errlen, "SCRAM: the server's signature "
		    "does not match (it does not know the password)");
		return 0;
	}
	sodium_memzero(c->server_sig, sizeof(c->server_sig));
	c->state = SCRAM_ST_DONE;
	return 1;
malformed:
	scram_reason(err, errlen, "SCRAM: malformed server-final message");
	return -1;
}
