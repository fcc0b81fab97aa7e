/*
 * verifier: the password verifiers a policy's `user` statements hold,
 * in the two forms verifier.h describes.  The compiler checks their
 * form (verifier_check), `policyc passwd` makes them (verifier_make),
 * and the runtime matches AUTH PLAIN and LOGIN passwords against them
 * (verifier_match); SCRAM exchanges use the keys directly (scram.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "b64.h"
#include "scram.h"
#include "verifier.h"

#define ARGON2ID_PREFIX		"$argon2id$"
#define ARGON2ID_OPSLIMIT	2			/* what passwd makes */
#define ARGON2ID_MEMLIMIT	(19u * 1024 * 1024)	/* bytes */

/*
 * Bounds on the parameters of verifiers we accept, so that a policy
 * cannot make each AUTH cost gigabytes or minutes.  m is in KiB.
 * XXX these belong in lib/limits.h, which is not this module's.
 */
#define ARGON2ID_M_MAX		(1024u * 1024)		/* 1 GiB */
#define ARGON2ID_T_MAX		64
#define ARGON2ID_P_MAX		64

static int	verifier_argon2id_check(const char *, size_t, char *, size_t);
static int	verifier_uint(const char **, const char *, const char *,
		    uint32_t, uint32_t *);
static int	verifier_b64nopad(const char **, const char *, size_t,
		    size_t);

/*
 * At *p, expect the text key (e.g. "m="), then a decimal number up to
 * max without leading zeros.  Advances *p past it.  Returns 0 or -1.
 */
static int
verifier_uint(const char **p, const char *end, const char *key,
    uint32_t max, uint32_t *out)
{
	size_t		 klen = strlen(key);
	const char	*s = *p;
	uint64_t	 v = 0;
	size_t		 nd = 0;

	if ((size_t)(end - s) < klen || memcmp(s, key, klen) != 0)
		return -1;
	s += klen;
	while (s < end && *s >= '0' && *s <= '9') {
		if (nd > 0 && v == 0)
			return -1;		/* leading zero */
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return -1;
		s++;
		nd++;
	}
	if (nd == 0)
		return -1;
	*out = (uint32_t)v;
	*p = s;
	return 0;
}

/*
 * At *p, unpadded base64 (the argon2 encoding) of min..max characters
 * up to '$' or the end.  Advances *p to that '$' or end.
 */
static int
verifier_b64nopad(const char **p, const char *end, size_t min, size_t max)
{
	const char	*s = *p;
	size_t		 n = 0;
	char		 c;

	while (s < end && *s != '$') {
		c = *s;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return -1;
		s++;
		n++;
	}
	if (n < min || n > max || n % 4 == 1)
		return -1;
	*p = s;
	return 0;
}

/*
 * "$argon2id$v=19$m=M,t=T,p=P$SALT$HASH", the form crypto_pwhash_str
 * writes.  We check the shape and bounds ourselves, for a reason a
 * person can act on, then let libsodium decode it in full.
 */
static int
verifier_argon2id_check(const char *s, size_t n, char *err, size_t errlen)
{
	char		 buf[crypto_pwhash_STRBYTES];
	const char	*p, *end = s + n;
	uint32_t	 v, m, t, par;

	if (n >= sizeof(buf)) {
		snprintf(err, errlen, "argon2id verifier longer than %d "
		    "characters", (int)sizeof(buf) - 1);
		return -1;
	}
	p = s + sizeof(ARGON2ID_PREFIX) - 1;
	if (verifier_uint(&p, end, "v=", 0xffff, &v) != 0 || v != 19 ||
	    p == end || *p++ != '$') {
		snprintf(err, errlen, "argon2id verifier: expected version "
		    "\"v=19$\" after \"%s\"", ARGON2ID_PREFIX);
		return -1;
	}
	if (verifier_uint(&p, end, "m=", UINT32_MAX, &m) != 0 ||
	    verifier_uint(&p, end, ",t=", UINT32_MAX, &t) != 0 ||
	    verifier_uint(&p, end, ",p=", UINT32_MAX, &par) != 0 ||
	    p == end || *p++ != '$') {
		snprintf(err, errlen, "argon2id verifier: expected "
		    "\"m=N,t=N,p=N$\" parameters");
		return -1;
	}
	if (m > ARGON2ID_M_MAX || t < 1 || t > ARGON2ID_T_MAX || par < 1 ||
	    par > ARGON2ID_P_MAX || m < 8 * par) {
		snprintf(err, errlen, "argon2id verifier: parameters out of "
		    "range (m up to %u KiB, t 1..%d, p 1..%d)",
		    ARGON2ID_M_MAX, ARGON2ID_T_MAX, ARGON2ID_P_MAX);
		return -1;
	}
	/* Salt at least 8 bytes, hash at least 12, as argon2 requires. */
	if (verifier_b64nopad(&p, end, 11, 64) != 0 || p == end ||
	    *p++ != '$' || verifier_b64nopad(&p, end, 16, 128) != 0 ||
	    p != end) {
		snprintf(err, errlen, "argon2id verifier: the salt or hash "
		    "is not valid base64");
		return -1;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (crypto_pwhash_str_needs_rehash(buf, ARGON2ID_OPSLIMIT,
	    ARGON2ID_MEMLIMIT) == -1) {
		snprintf(err, errlen, "argon2id verifier is malformed");
		return -1;
	}
	return VERIFIER_ARGON2ID;
}

int
verifier_check(const char *s, size_t n, char *err, size_t errlen)
{
	struct scram_verifier	 sv;
	size_t			 sl = sizeof(SCRAM_MECH "$") - 1;
	size_t			 al = sizeof(ARGON2ID_PREFIX) - 1;
	int			 r;

	if (n == 0) {
		snprintf(err, errlen, "empty verifier");
		return -1;
	}
	if (n > VERIFIER_MAX) {
		snprintf(err, errlen, "verifier longer than %d characters",
		    VERIFIER_MAX);
		return -1;
	}
	if (memchr(s, '\0', n) != NULL) {
		snprintf(err, errlen, "verifier contains a NUL byte");
		return -1;
	}
	if (n >= sl && memcmp(s, SCRAM_MECH "$", sl) == 0) {
		r = scram_verifier_parse(s, n, &sv, err, errlen);
		sodium_memzero(&sv, sizeof(sv));
		return r == 0 ? VERIFIER_SCRAM_SHA_256 : -1;
	}
	if (n >= al && memcmp(s, ARGON2ID_PREFIX, al) == 0)
		return verifier_argon2id_check(s, n, err, errlen);
	if (n >= 8 && memcmp(s, "$argon2", 7) == 0)
		snprintf(err, errlen, "only argon2id verifiers are accepted "
		    "(make one with 'policyc passwd -a argon2id')");
	else
		snprintf(err, errlen, "not a password verifier: expected "
		    "\"SCRAM-SHA-256$...\" or \"$argon2id$...\" (make one "
		    "with 'policyc passwd')");
	return -1;
}

int
verifier_make(enum verifier_kind kind, const char *pw, size_t pwlen,
    char *out, size_t outsz)
{
	struct scram_verifier	 sv;
	char			 buf[crypto_pwhash_STRBYTES];
	size_t			 len;
	long			 r;

	switch (kind) {
	case VERIFIER_SCRAM_SHA_256:
		memset(&sv, 0, sizeof(sv));
		sv.iter = VERIFIER_SCRAM_ITER;
		sv.saltlen = SCRAM_SALT_SIZE;
		randombytes_buf(sv.salt, sv.saltlen);
		if (scram_derive(pw, pwlen, sv.salt, sv.saltlen, sv.iter,
		    sv.stored_key, sv.server_key) != 0) {
			sodium_memzero(&sv, sizeof(sv));
			return -1;
		}
		r = scram_verifier_format(&sv, out, outsz);
		sodium_memzero(&sv, sizeof(sv));
		return r < 0 ? -1 : 0;
	case VERIFIER_ARGON2ID:
		if (crypto_pwhash_argon2id_str(buf, pw, pwlen,
		    ARGON2ID_OPSLIMIT, ARGON2ID_MEMLIMIT) != 0)
			return -1;
		len = strnlen(buf, sizeof(buf));
		if (len >= sizeof(buf) || len >= outsz)
			return -1;
		memcpy(out, buf, len + 1);
		return 0;
	}
	return -1;
}

int
verifier_match(const char *v, const char *pw, size_t pwlen)
{
	struct scram_verifier	 sv;
	uint8_t			 stored[SCRAM_KEY_SIZE];
	uint8_t			 server[SCRAM_KEY_SIZE];
	size_t			 n;
	int			 r;

	n = strnlen(v, VERIFIER_MAX + 1);
	switch (verifier_check(v, n, NULL, 0)) {
	case VERIFIER_SCRAM_SHA_256:
		if (scram_verifier_parse(v, n, &sv, NULL, 0) != 0)
			return -1;
		if (scram_derive(pw, pwlen, sv.salt, sv.saltlen, sv.iter,
		    stored, server) != 0) {
			sodium_memzero(&sv, sizeof(sv));
			return -1;
		}
		r = sodium_memcmp(stored, sv.stored_key, SCRAM_KEY_SIZE) == 0;
		sodium_memzero(&sv, sizeof(sv));
		sodium_memzero(stored, sizeof(stored));
		sodium_memzero(server, sizeof(server));
		return r;
	case VERIFIER_ARGON2ID:
		return crypto_pwhash_argon2id_str_verify(v, pw, pwlen) == 0;
	default:
		return -1;
	}
}
