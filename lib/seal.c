/*
 * seal: the runtime's X25519 key pair, its two key files, and secrets
 * sealed to it (libsodium's sealed box, prefixed by the key's id).
 * policyc makes the keys and seals, the front end checks tokens, and
 * only bastiond opens them.  The secret key is only ever held in
 * memory from sodium_malloc (guarded and locked) and is wiped before
 * that memory is given back.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "b64.h"
#include "fileio.h"
#include "seal.h"

#define SEAL_PUB_MAGIC	"bastion-x25519-pub"
#define SEAL_KEY_MAGIC	"bastion-x25519-key"
#define SEAL_PATH_MAX	4096
/* "MAGIC HEX BASE64\n" with a 32-byte key: 18+1+16+1+44+1 bytes. */
#define SEAL_LINE_LEN	(sizeof(SEAL_PUB_MAGIC) - 1 + 1 + \
			    SEAL_KEYID_HEXLEN + 1 + 44 + 1)
/* The line keygen writes, and its NUL. */
#define SEAL_FILE_MAX	(SEAL_LINE_LEN + 1)

static void	seal_keyid(const uint8_t *, uint8_t *);
static int	seal_absent(const char *, char *, size_t);
static int	seal_write_file(const char *, mode_t, const char *,
		    const uint8_t *, const uint8_t *, char *, size_t);
static int	seal_read_file(const char *, int, struct fileio_data *,
		    char *, size_t);
static int	seal_parse(const char *, const char *, const char *, size_t,
		    uint8_t *, uint8_t *, char *, size_t);

/* The key id: the first bytes of BLAKE2b-256 of the public key. */
static void
seal_keyid(const uint8_t *pk, uint8_t *id)
{
	uint8_t	 h[32];

	crypto_generichash(h, sizeof(h), pk, 32, NULL, 0);
	memcpy(id, h, SEAL_KEYID_SIZE);
}

void
seal_keyid_hex(const uint8_t *id, char *out)
{
	sodium_bin2hex(out, SEAL_KEYID_HEXLEN + 1, id, SEAL_KEYID_SIZE);
}

/* 0 if nothing, not even a dangling link, is at path; else -1. */
static int
seal_absent(const char *path, char *err, size_t errlen)
{
	struct stat	 st;

	if (lstat(path, &st) == 0) {
		snprintf(err, errlen, "%s already exists; refusing to "
		    "overwrite it", path);
		return -1;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "cannot create %s: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Write one key file, which must not exist yet, and fsync it.  The
 * line is built in locked memory because for the secret key it holds
 * the key in base64.  Returns 0 or -1; on -1 the file is removed if
 * this call created it.
 */
static int
seal_write_file(const char *path, mode_t mode, const char *magic,
    const uint8_t *id, const uint8_t *k, char *err, size_t errlen)
{
	char	*line;
	char	 hex[SEAL_KEYID_HEXLEN + 1];
	size_t	 len;
	int	 fd, rc = -1;

	if ((line = sodium_malloc(SEAL_FILE_MAX)) == NULL) {
		snprintf(err, errlen, "out of locked memory");
		return -1;
	}
	seal_keyid_hex(id, hex);
	len = strlen(magic);
	memcpy(line, magic, len);
	line[len++] = ' ';
	memcpy(line + len, hex, SEAL_KEYID_HEXLEN);
	len += SEAL_KEYID_HEXLEN;
	line[len++] = ' ';
	len += (size_t)b64_encode(k, 32, line + len, SEAL_FILE_MAX - len);
	line[len++] = '\n';

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (fd == -1) {
		if (errno == EEXIST)
			snprintf(err, errlen, "%s already exists; refusing to "
			    "overwrite it", path);
		else
			snprintf(err, errlen, "cannot create %s: %s", path,
			    strerror(errno));
		goto out;
	}
	if (fileio_write_all(fd, line, len) == -1) {
		snprintf(err, errlen, "cannot write %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (fsync(fd) == -1) {
		snprintf(err, errlen, "cannot write %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		snprintf(err, errlen, "cannot write %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	rc = 0;
	goto out;
fail:
	if (fd != -1)
		close(fd);
	unlink(path);
out:
	sodium_memzero(line, SEAL_FILE_MAX);
	sodium_free(line);
	return rc;
}

int
seal_keygen(const char *prefix, char *err, size_t errlen)
{
	char		 kpath[SEAL_PATH_MAX], ppath[SEAL_PATH_MAX];
	uint8_t		*sk;
	uint8_t		 pk[32], id[SEAL_KEYID_SIZE];
	size_t		 plen;
	int		 rc = -1;

	plen = strlen(prefix);
	if (plen == 0) {
		snprintf(err, errlen, "empty key file prefix");
		return -1;
	}
	if (plen + sizeof(".key") > sizeof(kpath)) {
		snprintf(err, errlen, "key file prefix is too long");
		return -1;
	}
	memcpy(kpath, prefix, plen);
	memcpy(kpath + plen, ".key", sizeof(".key"));
	memcpy(ppath, prefix, plen);
	memcpy(ppath + plen, ".pub", sizeof(".pub"));

	/*
	 * Look at both names before writing either: a half-made pair next
	 * to an old key is worse than no new pair at all.  O_EXCL below
	 * still closes the race.
	 */
	if (seal_absent(kpath, err, errlen) != 0 ||
	    seal_absent(ppath, err, errlen) != 0)
		return -1;

	if ((sk = sodium_malloc(32)) == NULL) {
		snprintf(err, errlen, "out of locked memory");
		return -1;
	}
	if (crypto_box_keypair(pk, sk) != 0) {
		snprintf(err, errlen, "cannot make a key pair");
		goto out;
	}
	seal_keyid(pk, id);
	if (seal_write_file(kpath, 0600, SEAL_KEY_MAGIC, id, sk, err,
	    errlen) != 0)
		goto out;
	if (seal_write_file(ppath, 0644, SEAL_PUB_MAGIC, id, pk, err,
	    errlen) != 0) {
		/* Without its public half the new secret key is no use. */
		unlink(kpath);
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(sk, 32);
	sodium_free(sk);
	return rc;
}

/*
 * Read a whole key file, at most SEAL_LINE_LEN bytes, into d.  The
 * secret one must be a regular file, not a symbolic link, that group
 * and others cannot touch; fstat(2) on the open file leaves no window
 * to swap it after the check.  Its bytes, the key in base64, go into
 * memory from sodium_malloc (locked, guarded), never to swap or the
 * ordinary heap, and are wiped when d is freed.
 */
static int
seal_read_file(const char *path, int secret, struct fileio_data *d,
    char *err, size_t errlen)
{
	const char	*what = secret ? "key file " : "";

	if (fileio_read_file(path, SEAL_LINE_LEN, secret ? FILEIO_REGULAR |
	    FILEIO_NOFOLLOW | FILEIO_LOCKED : 0, secret ? S_IRWXG | S_IRWXO :
	    0, d) == 0)
		return 0;
	switch (d->fail) {
	case FILEIO_OPEN:
		if (secret && errno == ELOOP)
			snprintf(err, errlen, "key file %s is a symbolic "
			    "link; refusing it", path);
		else
			snprintf(err, errlen, "cannot open %s%s: %s", what,
			    path, strerror(errno));
		break;
	case FILEIO_STAT:
		snprintf(err, errlen, "cannot stat %s%s: %s", what, path,
		    strerror(errno));
		break;
	case FILEIO_TYPE:
		if (secret) {
			snprintf(err, errlen, "key file %s is not a regular "
			    "file", path);
			break;
		}
		/* A directory: say what read(2) on it would. */
		/* FALLTHROUGH */
	case FILEIO_READ:
		snprintf(err, errlen, "cannot read %s: %s", path,
		    strerror(errno));
		break;
	case FILEIO_MODE:
		snprintf(err, errlen, "key file %s is readable by group or "
		    "others; chmod 600 it", path);
		break;
	case FILEIO_SIZE:
	case FILEIO_CHANGED:
		snprintf(err, errlen, "%s is too long for a bastion key file",
		    path);
		break;
	default:
		snprintf(err, errlen, secret ? "out of locked memory" :
		    "out of memory");
		break;
	}
	return -1;
}

/*
 * Parse "MAGIC KEYIDHEX BASE64\n" into the 32-byte key k and the id
 * written in the file.  The reasons name the file; none quotes the
 * key material.
 */
static int
seal_parse(const char *path, const char *magic, const char *buf,
    size_t len, uint8_t *k, uint8_t *id, char *err, size_t errlen)
{
	size_t	 mlen = strlen(magic);
	size_t	 i;
	long	 n;

	if (len != SEAL_LINE_LEN || buf[len - 1] != '\n' ||
	    memcmp(buf, magic, mlen) != 0 || buf[mlen] != ' ' ||
	    buf[mlen + 1 + SEAL_KEYID_HEXLEN] != ' ') {
		snprintf(err, errlen, "%s is not a %s file (expected one "
		    "line \"%s KEYID BASE64\")", path,
		    strcmp(magic, SEAL_KEY_MAGIC) == 0 ? "bastion secret key" :
		    "bastion public key", magic);
		return -1;
	}
	for (i = 0; i < SEAL_KEYID_HEXLEN; i++) {
		char	 c = buf[mlen + 1 + i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			snprintf(err, errlen, "%s: the key id is not "
			    "lower-case hex", path);
			return -1;
		}
	}
	if (sodium_hex2bin(id, SEAL_KEYID_SIZE, buf + mlen + 1,
	    SEAL_KEYID_HEXLEN, NULL, NULL, NULL) != 0) {
		snprintf(err, errlen, "%s: the key id is not hex", path);
		return -1;
	}
	/* Straight into k: for a secret key, that is locked memory. */
	n = b64_decode(buf + mlen + 2 + SEAL_KEYID_HEXLEN, 44, k, 32);
	if (n != 32) {
		sodium_memzero(k, 32);
		snprintf(err, errlen, "%s: the key is not 32 bytes of base64",
		    path);
		return -1;
	}
	return 0;
}

int
seal_pub_load(const char *path, struct seal_pub *pub, char *err,
    size_t errlen)
{
	struct fileio_data	 d;
	uint8_t			 fid[SEAL_KEYID_SIZE];
	int			 rc = -1;

	if (seal_read_file(path, 0, &d, err, errlen) != 0)
		return -1;
	if (d.len == SEAL_LINE_LEN && memcmp(d.buf, SEAL_KEY_MAGIC,
	    sizeof(SEAL_KEY_MAGIC) - 1) == 0) {
		snprintf(err, errlen, "%s is a secret key; give the .pub "
		    "file", path);
		goto out;
	}
	if (seal_parse(path, SEAL_PUB_MAGIC, d.buf, d.len, pub->pk, fid,
	    err, errlen) != 0)
		goto out;
	seal_keyid(pub->pk, pub->id);
	if (memcmp(fid, pub->id, SEAL_KEYID_SIZE) != 0) {
		snprintf(err, errlen, "%s: the key id does not match the key "
		    "(damaged file?)", path);
		goto out;
	}
	rc = 0;
out:
	fileio_data_free(&d);
	return rc;
}

int
seal_key_load(const char *path, struct seal_key **keyp, char *err,
    size_t errlen)
{
	struct fileio_data	 d;
	struct seal_key		*key = NULL;
	uint8_t			 fid[SEAL_KEYID_SIZE];
	int			 rc = -1;

	*keyp = NULL;
	if (seal_read_file(path, 1, &d, err, errlen) != 0)
		return -1;
	if ((key = sodium_malloc(sizeof(*key))) == NULL) {
		snprintf(err, errlen, "out of locked memory");
		goto out;
	}
	if (seal_parse(path, SEAL_KEY_MAGIC, d.buf, d.len, key->sk, fid,
	    err, errlen) != 0)
		goto out;
	if (crypto_scalarmult_base(key->pk, key->sk) != 0) {
		snprintf(err, errlen, "%s: not a usable X25519 key", path);
		goto out;
	}
	seal_keyid(key->pk, key->id);
	if (memcmp(fid, key->id, SEAL_KEYID_SIZE) != 0) {
		snprintf(err, errlen, "%s: the key id does not match the key "
		    "(damaged file?)", path);
		goto out;
	}
	*keyp = key;
	key = NULL;
	rc = 0;
out:
	fileio_data_free(&d);		/* wipes it */
	seal_key_free(key);
	return rc;
}

void
seal_key_free(struct seal_key *key)
{
	if (key == NULL)
		return;
	sodium_memzero(key, sizeof(*key));
	sodium_free(key);
}

int
seal_token(const struct seal_pub *pub, const uint8_t *secret, size_t n,
    char *out, size_t outsz, char *err, size_t errlen)
{
	uint8_t	 box[SEAL_MAX_SEALED];
	size_t	 plen = sizeof(SEAL_TOKEN_PREFIX) - 1;
	size_t	 blen;

	if (n == 0) {
		snprintf(err, errlen, "the secret is empty");
		return -1;
	}
	if (n > SEAL_MAX_SECRET) {
		snprintf(err, errlen, "the secret is longer than %d bytes",
		    SEAL_MAX_SECRET);
		return -1;
	}
	blen = SEAL_KEYID_SIZE + crypto_box_SEALBYTES + n;
	if (outsz < plen || outsz - plen < B64_ENCODED_SIZE(blen)) {
		snprintf(err, errlen, "no room for the sealed token");
		return -1;
	}
	memcpy(box, pub->id, SEAL_KEYID_SIZE);
	if (crypto_box_seal(box + SEAL_KEYID_SIZE, secret, n, pub->pk) != 0) {
		snprintf(err, errlen, "cannot seal the secret");
		return -1;
	}
	memcpy(out, SEAL_TOKEN_PREFIX, plen);
	if (b64_encode(box, blen, out + plen, outsz - plen) < 0) {
		snprintf(err, errlen, "no room for the sealed token");
		return -1;
	}
	return 0;
}

long
seal_token_decode(const char *tok, size_t n, uint8_t *out, size_t outsz,
    char *err, size_t errlen)
{
	/* Room for the longest text the bound below lets through. */
	uint8_t	 buf[SEAL_MAX_SEALED + 2];
	size_t	 plen = sizeof(SEAL_TOKEN_PREFIX) - 1;
	size_t	 blen;
	long	 r;

	if (n < plen || memcmp(tok, SEAL_TOKEN_PREFIX, plen) != 0) {
		snprintf(err, errlen, "a sealed secret starts with '%s'",
		    SEAL_TOKEN_PREFIX);
		return -1;
	}
	tok += plen;
	n -= plen;
	/* Bound the text before decoding: it may be a hostile line. */
	if (n > B64_ENCODED_SIZE(SEAL_MAX_SEALED) - 1) {
		snprintf(err, errlen, "sealed secret is too long (secrets "
		    "are at most %d bytes)", SEAL_MAX_SECRET);
		return -1;
	}
	if ((r = b64_decode(tok, n, buf, sizeof(buf))) < 0) {
		snprintf(err, errlen, "sealed secret is not valid base64 "
		    "(damaged or cut short?)");
		return -1;
	}
	blen = (size_t)r;
	if (blen < SEAL_KEYID_SIZE + crypto_box_SEALBYTES + 1) {
		snprintf(err, errlen, "sealed secret is too short to hold "
		    "a key id and a sealed box (cut short?)");
		return -1;
	}
	if (blen > SEAL_MAX_SEALED) {
		snprintf(err, errlen, "sealed secret is too long (secrets "
		    "are at most %d bytes)", SEAL_MAX_SECRET);
		return -1;
	}
	if (outsz < blen) {
		snprintf(err, errlen, "no room for the sealed secret (%zu "
		    "bytes)", blen);
		return -1;
	}
	memcpy(out, buf, blen);
	return r;
}

long
seal_open(const struct seal_key *key, const uint8_t *sealed, size_t n,
    uint8_t *out, size_t outsz, char *err, size_t errlen)
{
	char	 want[SEAL_KEYID_HEXLEN + 1], have[SEAL_KEYID_HEXLEN + 1];
	size_t	 mlen;

	if (n < SEAL_KEYID_SIZE + crypto_box_SEALBYTES + 1 ||
	    n > SEAL_MAX_SEALED) {
		snprintf(err, errlen, "sealed secret has a bad length (%zu "
		    "bytes)", n);
		return -1;
	}
	/* Name a key mismatch: "cannot decrypt" would send people astray. */
	if (memcmp(sealed, key->id, SEAL_KEYID_SIZE) != 0) {
		seal_keyid_hex(sealed, want);
		seal_keyid_hex(key->id, have);
		snprintf(err, errlen, "sealed for key %s, but the key is %s",
		    want, have);
		return -1;
	}
	mlen = n - SEAL_KEYID_SIZE - crypto_box_SEALBYTES;
	if (outsz < mlen) {
		snprintf(err, errlen, "no room for the secret (%zu bytes)",
		    mlen);
		return -1;
	}
	if (crypto_box_seal_open(out, sealed + SEAL_KEYID_SIZE,
	    n - SEAL_KEYID_SIZE, key->pk, key->sk) != 0) {
		sodium_memzero(out, mlen);
		seal_keyid_hex(key->id, have);
		snprintf(err, errlen, "sealed secret does not open with key "
		    "%s (damaged or tampered with)", have);
		return -1;
	}
	return (long)mlen;
}
