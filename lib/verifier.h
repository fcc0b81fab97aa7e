/*
 * verifier: password verifiers as the policy's `user` statements hold
 * them, never the password itself.
 *
 *   SCRAM-SHA-256$ITER:BASE64(SALT)$BASE64(STOREDKEY):BASE64(SERVERKEY)
 *       (RFC 5802/7677; the form PostgreSQL also uses)
 *   $argon2id$v=19$m=...,t=...,p=...$SALT$HASH
 *       (libsodium's crypto_pwhash_str)
 */
#ifndef BASTION_VERIFIER_H
#define BASTION_VERIFIER_H

#include <stddef.h>
#include <stdint.h>

enum verifier_kind {
	VERIFIER_SCRAM_SHA_256 = 1,
	VERIFIER_ARGON2ID = 2
};

#define VERIFIER_MAX		512	/* longest verifier string */
#define VERIFIER_SCRAM_ITER	4096	/* RFC 7677's minimum */

/*
 * Check the form of the n characters at s.  Returns the kind, or -1
 * with the reason in err.
 */
int	verifier_check(const char *s, size_t n, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/*
 * Make a verifier of the given kind for password pw (pwlen bytes) into
 * out.  Returns 0 or -1.
 */
int	verifier_make(enum verifier_kind kind, const char *pw, size_t pwlen,
	    char *out, size_t outsz) __attribute__((warn_unused_result));

/*
 * Does password pw match verifier v?  1 yes, 0 no, -1 bad verifier.
 * For SCRAM verifiers this runs PBKDF2 (ITER rounds); for argon2id the
 * full hash: callers on an event loop must not run it inline.
 */
int	verifier_match(const char *v, const char *pw, size_t pwlen);

#endif
