/*
 * scram: SCRAM-SHA-256 (RFC 5802, RFC 7677), both roles, for SMTP AUTH.
 *
 * Everything lives in caller-allocated, fixed-size state structs: no
 * call here allocates, so a session can carry its SCRAM state in the
 * buffers it was given at setup.  Channel binding (-PLUS) is not
 * offered: a client that asks for it ("p=") is refused, one that could
 * have used it ("y,,") is accepted.
 *
 * Server role, one exchange:
 *	scram_server_init(&s);
 *	scram_server_start(&s, client_first, n, err, errlen);
 *	look up scram_server_user(&s, &len), parse its verifier with
 *	    scram_verifier_parse() (or scram_verifier_mock() if there is
 *	    no such user, so that the exchange looks the same);
 *	scram_server_challenge(&s, &v, out, ...)       -> server-first
 *	scram_server_finish(&s, client_final, n, out, ...)
 *	    -> 1 authenticated, out holds "v=..." to send;
 *	       0 wrong password, out holds "e=invalid-proof";
 *	       -1 protocol error, out holds "e=..." if it fits.
 *	scram_server_clear(&s);
 * The server role never runs PBKDF2: verifiers keep StoredKey and
 * ServerKey, so it is cheap enough for the event loop.
 *
 * Client role:
 *	scram_client_init(&c);
 *	scram_client_start(&c, user, ulen, out, ...)   -> client-first
 *	scram_client_respond(&c, server_first, n, pw, pwlen, out, ...)
 *	    -> client-final (runs PBKDF2 over the server's iteration count,
 *	       at most SCRAM_ITER_MAX)
 *	scram_client_verify(&c, server_final, n, ...)  -> 1 server proved
 *	    it knows the password, 0 it did not (or sent e=), -1 malformed
 *	scram_client_clear(&c);
 *
 * Every call that can fail puts a one-line reason in err.  The server
 * also keeps the RFC 5802 server-error-value for the failure
 * (scram_server_error()), so that a SASL front end can send "e=...".
 *
 * XXX Passwords are used as the bytes given, without SASLprep
 * (RFC 4013); ASCII passwords, the common case, are unaffected.
 */
#ifndef BASTION_SCRAM_H
#define BASTION_SCRAM_H

#include <stddef.h>
#include <stdint.h>

#include "bastion_limits.h"

#define SCRAM_MECH		"SCRAM-SHA-256"
#define SCRAM_KEY_SIZE		32	/* SHA-256 output */
#define SCRAM_SALT_MIN		1	/* bytes */
#define SCRAM_SALT_MAX		64	/* bytes */
#define SCRAM_SALT_SIZE		16	/* salts we make */
#define SCRAM_ITER_MIN		4096	/* RFC 7677 */
#define SCRAM_ITER_MAX		1000000	/* a hostile peer's PBKDF2 bound */
#define SCRAM_NONCE_MAX		128	/* characters of one side's nonce */
#define SCRAM_NONCE_RANDOM	24	/* random bytes in nonces we make */
#define SCRAM_MSG_MAX		1024	/* longest message taken or made */

/* What a verifier keeps (never the password or SaltedPassword). */
struct scram_verifier {
	uint32_t	iter;
	size_t		saltlen;
	uint8_t		salt[SCRAM_SALT_MAX];
	uint8_t		stored_key[SCRAM_KEY_SIZE];
	uint8_t		server_key[SCRAM_KEY_SIZE];
};

struct scram_server {
	int		 state;
	const char	*error;		/* RFC 5802 server-error-value */
	char		 cbind[8];	/* base64 of our gs2 header */
	char		 user[LIM_USERNAME + 1];	/* decoded */
	size_t		 userlen;
	char		 fixed[SCRAM_NONCE_MAX + 1];	/* test nonce */
	size_t		 fixedlen;
	char		 nonce[2 * SCRAM_NONCE_MAX + 1];	/* c + s */
	size_t		 cnoncelen, noncelen;
	char		 cfirst[SCRAM_MSG_MAX];	/* client-first-bare */
	size_t		 cfirstlen;
	char		 sfirst[SCRAM_MSG_MAX];	/* server-first */
	size_t		 sfirstlen;
	uint8_t		 stored_key[SCRAM_KEY_SIZE];
	uint8_t		 server_key[SCRAM_KEY_SIZE];
};

struct scram_client {
	int		 state;
	char		 nonce[SCRAM_NONCE_MAX + 1];	/* ours */
	size_t		 noncelen;
	char		 cfirst[SCRAM_MSG_MAX];	/* client-first-bare */
	size_t		 cfirstlen;
	uint8_t		 server_sig[SCRAM_KEY_SIZE];
};

/*
 * PBKDF2-HMAC-SHA-256 (RFC 8018) of the password into outlen bytes.
 * SCRAM's Hi() is the 32-byte case.  Returns 0, or -1 on a zero
 * iteration count or length.
 */
int	scram_pbkdf2(const char *pw, size_t pwlen, const uint8_t *salt,
	    size_t saltlen, uint32_t iter, uint8_t *out, size_t outlen)
	    __attribute__((warn_unused_result));

/*
 * StoredKey and ServerKey for a password, salt and iteration count:
 * what a verifier holds.  Returns 0 or -1 (see scram_pbkdf2).
 */
int	scram_derive(const char *pw, size_t pwlen, const uint8_t *salt,
	    size_t saltlen, uint32_t iter, uint8_t *stored_key,
	    uint8_t *server_key) __attribute__((warn_unused_result));

/*
 * Parse the n characters of a verifier
 * "SCRAM-SHA-256$ITER:BASE64(SALT)$BASE64(STOREDKEY):BASE64(SERVERKEY)"
 * into v.  ITER is SCRAM_ITER_MIN..SCRAM_ITER_MAX, without leading
 * zeros; the salt SCRAM_SALT_MIN..SCRAM_SALT_MAX bytes; the keys 32
 * bytes each.  Returns 0 or -1 with the reason.
 */
int	scram_verifier_parse(const char *s, size_t n,
	    struct scram_verifier *v, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/* Write v in the text form above.  Returns its length, or -1. */
long	scram_verifier_format(const struct scram_verifier *v, char *out,
	    size_t outsz)
	    __attribute__((warn_unused_result));

/*
 * A verifier for a user who does not exist: the salt is a keyed hash
 * of the name (so it is the same on every try) and the keys are
 * random (so no proof matches).  secret is SCRAM_KEY_SIZE bytes the
 * server keeps for its lifetime.
 */
void	scram_verifier_mock(struct scram_verifier *v, const char *user,
	    size_t userlen, const uint8_t *secret);

/* Server role. */
void	scram_server_init(struct scram_server *);
/* For tests: our half of the nonce (printable, no ','), not random. */
int	scram_server_set_nonce(struct scram_server *, const char *, size_t)
	    __attribute__((warn_unused_result));
int	scram_server_start(struct scram_server *, const char *msg, size_t n,
	    char *err, size_t errlen) __attribute__((warn_unused_result));
/* The decoded user name after scram_server_start (NUL-terminated). */
const char *scram_server_user(const struct scram_server *, size_t *len);
long	scram_server_challenge(struct scram_server *,
	    const struct scram_verifier *v, char *out, size_t outsz,
	    char *err, size_t errlen) __attribute__((warn_unused_result));
int	scram_server_finish(struct scram_server *, const char *msg,
	    size_t n, char *out, size_t outsz, size_t *outlen, char *err,
	    size_t errlen) __attribute__((warn_unused_result));
/* The server-error-value of the last failure, or NULL. */
const char *scram_server_error(const struct scram_server *);
void	scram_server_clear(struct scram_server *);

/* Client role. */
void	scram_client_init(struct scram_client *);
/* For tests: our nonce (printable, no ','), not random. */
int	scram_client_set_nonce(struct scram_client *, const char *, size_t)
	    __attribute__((warn_unused_result));
long	scram_client_start(struct scram_client *, const char *user,
	    size_t userlen, char *out, size_t outsz, char *err,
	    size_t errlen) __attribute__((warn_unused_result));
long	scram_client_respond(struct scram_client *, const char *msg,
	    size_t n, const char *pw, size_t pwlen, char *out, size_t outsz,
	    char *err, size_t errlen) __attribute__((warn_unused_result));
int	scram_client_verify(struct scram_client *, const char *msg,
	    size_t n, char *err, size_t errlen)
	    __attribute__((warn_unused_result));
void	scram_client_clear(struct scram_client *);

#endif
