/*
 * seal: the runtime's X25519 key pair and secrets sealed to it with
 * libsodium's sealed box, so that a policy and its compiled table can
 * hold outbound credentials without holding them in the clear.
 *
 * A sealed secret is KEYID || crypto_box_seal(secret), where KEYID is
 * the first SEAL_KEYID_SIZE bytes of BLAKE2b-256 of the public key; in
 * a policy it is written "sealed:" followed by its base64.  The key id
 * lets a mismatch be named instead of failing as "cannot decrypt".
 *
 * Files (one line each, text):
 *   PREFIX.pub  "bastion-x25519-pub KEYIDHEX BASE64(pk)\n"
 *   PREFIX.key  "bastion-x25519-key KEYIDHEX BASE64(sk)\n", mode 0600
 */
#ifndef BASTION_SEAL_H
#define BASTION_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define SEAL_KEYID_SIZE		8
#define SEAL_KEYID_HEXLEN	(2 * SEAL_KEYID_SIZE)
#define SEAL_TOKEN_PREFIX	"sealed:"
#define SEAL_MAX_SECRET		1024	/* longest secret we seal, bytes */
#define SEAL_MAX_SEALED		(SEAL_KEYID_SIZE + 48 + SEAL_MAX_SECRET)

struct seal_pub {
	uint8_t	pk[32];
	uint8_t	id[SEAL_KEYID_SIZE];
};

/* The secret half lives in memory from sodium_malloc (locked, guarded). */
struct seal_key {
	uint8_t	pk[32];
	uint8_t	sk[32];
	uint8_t	id[SEAL_KEYID_SIZE];
};

/* Print a key id as lower-case hex into out (SEAL_KEYID_HEXLEN + 1). */
void	seal_keyid_hex(const uint8_t *id, char *out);

/*
 * Write PREFIX.key (0600, O_EXCL) and PREFIX.pub; refuse to overwrite
 * either.  Returns 0 or -1 with the reason in err.
 */
int	seal_keygen(const char *prefix, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

int	seal_pub_load(const char *path, struct seal_pub *pub, char *err,
	    size_t errlen) __attribute__((warn_unused_result));

/*
 * Load PREFIX.key into locked memory (sodium_malloc); refuse a file
 * that group or others may read.  *key is freed by seal_key_free(),
 * which wipes it.  Returns 0 or -1 with the reason in err.
 */
int	seal_key_load(const char *path, struct seal_key **key, char *err,
	    size_t errlen) __attribute__((warn_unused_result));
void	seal_key_free(struct seal_key *key);

/*
 * Seal n bytes of secret to pub as a NUL-terminated "sealed:..." token
 * in out.  Returns 0 or -1.
 */
int	seal_token(const struct seal_pub *pub, const uint8_t *secret,
	    size_t n, char *out, size_t outsz, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/*
 * Decode the n characters of a "sealed:..." token into its bytes
 * (KEYID || box) in out.  Checks the form only.  Returns the byte
 * count, or -1 with the reason.
 */
long	seal_token_decode(const char *tok, size_t n, uint8_t *out,
	    size_t outsz, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/*
 * Open the n sealed bytes with key into out (outsz bytes, which the
 * caller should have from sodium_malloc and wipe).  A secret sealed for
 * another key is refused naming both key ids.  Returns the secret's
 * length, or -1 with the reason.
 */
long	seal_open(const struct seal_key *key, const uint8_t *sealed,
	    size_t n, uint8_t *out, size_t outsz, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

#endif
