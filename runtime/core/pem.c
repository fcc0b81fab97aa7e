/*
 * pem: read PEM files into the structures BearSSL's TLS contexts use.
 * One walker feeds BearSSL's streaming PEM decoder and hands each
 * decoded object (DER) to a callback: the chain loader keeps the
 * certificates, the key loader runs the private key decoder, the
 * anchor loader runs the X.509 decoder for the subject DN and the
 * public key.  Nothing here is on a session path: files are loaded at
 * start and on SIGHUP, so plain allocation is fine; secrets (the key
 * file's bytes, decoded key elements) are wiped before release.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>
#include <sodium.h>

#include "fileio.h"
#include "pem.h"

/* One decoded object, collected chunk by chunk from the PEM decoder. */
struct pem_obj {
	unsigned char	*der;		/* PEM_OBJECT_MAX bytes */
	size_t		 len;
	int		 overflow;
};

/* Called once per complete object; returns 0 or -1 with a reason. */
typedef int (*pem_fn)(void *arg, const char *name, const char *objname,
    const unsigned char *der, size_t len, char *err, size_t errlen);

struct pem_keyctx {
	struct pem_key	*key;		/* once a key was decoded */
};

struct pem_dn {
	unsigned char	 buf[PEM_DN_MAX];
	size_t		 len;
	int		 overflow;
};

static int	pem_read_file(const char *, size_t, int,
		    struct fileio_data *, char *, size_t);
static void	pem_collect(void *, const void *, size_t);
static size_t	pem_lineno(const unsigned char *, size_t);
static int	pem_walk(const char *, const unsigned char *, size_t, pem_fn,
		    void *, char *, size_t);
static int	pem_is_cert(const char *);
static int	pem_contains(const unsigned char *, size_t, const char *);
static int	pem_chain_one(void *, const char *, const char *,
		    const unsigned char *, size_t, char *, size_t);
static int	pem_key_one(void *, const char *, const char *,
		    const unsigned char *, size_t, char *, size_t);
static int	pem_key_copy(struct pem_key *,
		    const br_skey_decoder_context *, const char *, char *,
		    size_t);
static void	pem_dn_append(void *, const void *, size_t);
static int	pem_anchor_one(void *, const char *, const char *,
		    const unsigned char *, size_t, char *, size_t);

/*
 * Read a whole regular file of at most max bytes into d (fileio's
 * reader: a file that grows while it is read is refused).  A secret
 * file must not be open to others, and its bytes are wiped when d is
 * freed.
 */
static int
pem_read_file(const char *path, size_t max, int secret,
    struct fileio_data *d, char *err, size_t errlen)
{
	if (fileio_read_file(path, max, FILEIO_REGULAR |
	    (secret ? FILEIO_SECRET : 0), secret ? S_IRWXO : 0, d) == 0)
		return 0;
	switch (d->fail) {
	case FILEIO_TYPE:
		snprintf(err, errlen, "%s: not a regular file", path);
		break;
	case FILEIO_MODE:
		snprintf(err, errlen, "%s: private key open to others; "
		    "chmod o-rwx it", path);
		break;
	case FILEIO_SIZE:
		snprintf(err, errlen, "%s: file too large (more than %zu "
		    "bytes)", path, max);
		break;
	case FILEIO_CHANGED:
		snprintf(err, errlen, "%s: file changed while being read",
		    path);
		break;
	case FILEIO_NOMEM:
		snprintf(err, errlen, "%s: out of memory", path);
		break;
	default:
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		break;
	}
	return -1;
}

/* PEM decoder sink: append, or remember that the object was too big. */
static void
pem_collect(void *arg, const void *src, size_t len)
{
	struct pem_obj	*o = arg;

	if (o->overflow || len > PEM_OBJECT_MAX - o->len) {
		o->overflow = 1;
		return;
	}
	memcpy(o->der + o->len, src, len);
	o->len += len;
}

/*
 * The line of the last byte before off: the decoder raises its events
 * once it has taken the whole line (BEGIN banner, bad data), newline
 * included, so that is the line to name.
 */
static size_t
pem_lineno(const unsigned char *buf, size_t off)
{
	size_t	 i, line;

	line = 1;
	for (i = 0; i + 1 < off; i++)
		if (buf[i] == '\n')
			line++;
	return line;
}

/*
 * Run the PEM decoder over buf and call fn for each object.  Returns
 * the number of objects seen (0: not a PEM file), or -1.  The object
 * buffer is wiped after each object since it may hold a private key.
 */
static int
pem_walk(const char *name, const unsigned char *buf, size_t len, pem_fn fn,
    void *arg, char *err, size_t errlen)
{
	br_pem_decoder_context	 pc;
	struct pem_obj		 o;
	char			 objname[128];
	size_t			 off, n, k, objstart;
	int			 nobj, inobj, ev, rc, final;

	if ((o.der = malloc(PEM_OBJECT_MAX)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	o.len = 0;
	o.overflow = 0;
	objname[0] = '\0';
	br_pem_decoder_init(&pc);
	nobj = 0;
	inobj = 0;
	objstart = 0;
	rc = -1;
	off = 0;
	final = 0;
	for (;;) {
		/*
		 * After the file, one newline is pushed so that an END
		 * line without its own still closes the object.  The
		 * decoder takes at least one byte unless it raises an
		 * event, and every event is read at once, so this ends.
		 */
		if (off < len) {
			n = br_pem_decoder_push(&pc, buf + off, len - off);
			off += n;
		} else if (!final) {
			if ((n = br_pem_decoder_push(&pc, "\n", 1)) == 1)
				final = 1;
		} else
			n = 0;
		ev = br_pem_decoder_event(&pc);
		switch (ev) {
		case BR_PEM_BEGIN_OBJ:
			/*
			 * The decoder keeps names below 128 bytes and
			 * drops the dashes, but not the CR of a CRLF.
			 */
			snprintf(objname, sizeof(objname), "%s",
			    br_pem_decoder_name(&pc));
			objname[strcspn(objname, "\r")] = '\0';
			while ((k = strlen(objname)) > 0 &&
			    (objname[k - 1] == '-' || objname[k - 1] == ' '))
				objname[k - 1] = '\0';
			o.len = 0;
			o.overflow = 0;
			br_pem_decoder_setdest(&pc, pem_collect, &o);
			inobj = 1;
			objstart = off;
			break;
		case BR_PEM_END_OBJ:
			inobj = 0;
			nobj++;
			if (o.overflow) {
				snprintf(err, errlen, "%s:%zu: PEM object "
				    "too large (more than %d bytes)", name,
				    pem_lineno(buf, objstart),
				    PEM_OBJECT_MAX);
				goto out;
			}
			if (fn(arg, name, objname, o.der, o.len, err,
			    errlen) == -1)
				goto out;
			sodium_memzero(o.der, o.len);
			o.len = 0;
			break;
		case BR_PEM_ERROR:
			snprintf(err, errlen, "%s:%zu: bad PEM data in a "
			    "\"%s\" block", name, pem_lineno(buf, off),
			    objname);
			goto out;
		default:
			if (n == 0)
				goto done;
			break;
		}
	}
done:
	if (inobj) {
		snprintf(err, errlen, "%s:%zu: \"%s\" block without an END "
		    "line", name, pem_lineno(buf, objstart), objname);
		goto out;
	}
	rc = nobj;
out:
	sodium_memzero(o.der, PEM_OBJECT_MAX);
	free(o.der);
	return rc;
}

/* Whether the NUL-terminated s occurs in the len bytes at buf. */
static int
pem_contains(const unsigned char *buf, size_t len, const char *s)
{
	size_t	 i, n;

	n = strlen(s);
	for (i = 0; n <= len && i <= len - n; i++)
		if (buf[i] == (unsigned char)s[0] &&
		    memcmp(buf + i, s, n) == 0)
			return 1;
	return 0;
}

static int
pem_is_cert(const char *objname)
{
	return strcmp(objname, "CERTIFICATE") == 0 ||
	    strcmp(objname, "X509 CERTIFICATE") == 0;
}

/*
 * Certificate chains.
 */

static int
pem_chain_one(void *arg, const char *name, const char *objname,
    const unsigned char *der, size_t len, char *err, size_t errlen)
{
	struct pem_chain	*chain = arg;
	br_x509_decoder_context	 dc;
	unsigned char		*copy;
	int			 e;

	if (!pem_is_cert(objname))
		return 0;
	if (chain->n == PEM_CHAIN_MAX) {
		snprintf(err, errlen, "%s: more than %d certificates in the "
		    "chain", name, PEM_CHAIN_MAX);
		return -1;
	}
	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, der, len);
	if ((e = br_x509_decoder_last_error(&dc)) != 0) {
		snprintf(err, errlen, "%s: certificate %zu cannot be decoded "
		    "(%s)", name, chain->n + 1, pem_x509_strerror(e));
		return -1;
	}
	if (len == 0 || (copy = malloc(len)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	memcpy(copy, der, len);
	chain->certs[chain->n].data = copy;
	chain->certs[chain->n].data_len = len;
	chain->n++;
	return 0;
}

int
pem_chain_parse(const char *name, const void *buf, size_t len,
    struct pem_chain *chain, char *err, size_t errlen)
{
	int	 nobj;

	chain->n = 0;
	if ((chain->certs = calloc(PEM_CHAIN_MAX,
	    sizeof(*chain->certs))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	nobj = pem_walk(name, buf, len, pem_chain_one, chain, err, errlen);
	if (nobj == -1)
		goto fail;
	if (nobj == 0) {
		snprintf(err, errlen, "%s is not a PEM file", name);
		goto fail;
	}
	if (chain->n == 0) {
		snprintf(err, errlen, "%s: no certificate found", name);
		goto fail;
	}
	return 0;
fail:
	pem_chain_free(chain);
	return -1;
}

int
pem_chain_load(const char *path, struct pem_chain *chain, char *err,
    size_t errlen)
{
	struct fileio_data	 d;
	int			 rc;

	chain->certs = NULL;
	chain->n = 0;
	if (pem_read_file(path, PEM_FILE_MAX, 0, &d, err, errlen) == -1)
		return -1;
	rc = pem_chain_parse(path, d.buf, d.len, chain, err, errlen);
	fileio_data_free(&d);
	return rc;
}

void
pem_chain_free(struct pem_chain *chain)
{
	size_t	 i;

	if (chain->certs != NULL) {
		for (i = 0; i < chain->n; i++)
			free(chain->certs[i].data);
		free(chain->certs);
	}
	chain->certs = NULL;
	chain->n = 0;
}

/*
 * Private keys.
 */

/* Copy the decoded key elements out of the decoder, into key->data. */
static int
pem_key_copy(struct pem_key *key, const br_skey_decoder_context *kc,
    const char *name, char *err, size_t errlen)
{
	const br_rsa_private_key	*rk;
	const br_ec_private_key		*ek;
	size_t				 off, total;

	off = 0;
	switch (br_skey_decoder_key_type(kc)) {
	case BR_KEYTYPE_RSA:
		rk = br_skey_decoder_get_rsa(kc);
		total = rk->plen + rk->qlen + rk->dplen + rk->dqlen +
		    rk->iqlen;
		/* Each element is at most the decoder's buffer; so is all. */
		if (total > sizeof(key->data)) {
			snprintf(err, errlen, "%s: RSA key too large", name);
			return -1;
		}
		if (rk->n_bitlen < 2048) {
			snprintf(err, errlen, "%s: RSA key of %u bits is too "
			    "small (at least 2048)", name,
			    (unsigned)rk->n_bitlen);
			return -1;
		}
		key->type = BR_KEYTYPE_RSA;
		key->bits = rk->n_bitlen;
		key->u.rsa.n_bitlen = rk->n_bitlen;
#define PEM_CP(f) do {							\
		memcpy(key->data + off, rk->f, rk->f##len);		\
		key->u.rsa.f = key->data + off;				\
		key->u.rsa.f##len = rk->f##len;				\
		off += rk->f##len;					\
	} while (0)
		PEM_CP(p);
		PEM_CP(q);
		PEM_CP(dp);
		PEM_CP(dq);
		PEM_CP(iq);
#undef PEM_CP
		return 0;
	case BR_KEYTYPE_EC:
		ek = br_skey_decoder_get_ec(kc);
		switch (ek->curve) {
		case BR_EC_secp256r1:
			key->bits = 256;
			break;
		case BR_EC_secp384r1:
			key->bits = 384;
			break;
		case BR_EC_secp521r1:
			key->bits = 521;
			break;
		default:
			snprintf(err, errlen, "%s: EC key on an unsupported "
			    "curve (P-256, P-384 and P-521 are supported)",
			    name);
			return -1;
		}
		if (ek->xlen > sizeof(key->data)) {
			snprintf(err, errlen, "%s: EC key too large", name);
			return -1;
		}
		key->type = BR_KEYTYPE_EC;
		memcpy(key->data, ek->x, ek->xlen);
		key->u.ec.curve = ek->curve;
		key->u.ec.x = key->data;
		key->u.ec.xlen = ek->xlen;
		return 0;
	default:
		snprintf(err, errlen, "%s: unsupported private key type",
		    name);
		return -1;
	}
}

static int
pem_key_one(void *arg, const char *name, const char *objname,
    const unsigned char *der, size_t len, char *err, size_t errlen)
{
	struct pem_keyctx	*kx = arg;
	br_skey_decoder_context	 kc;
	int			 e, rc;

	if (strcmp(objname, "ENCRYPTED PRIVATE KEY") == 0) {
		snprintf(err, errlen, "%s: the private key is encrypted; "
		    "store it decrypted, readable only by the server "
		    "(openssl pkey -in KEY -out NEWKEY)", name);
		return -1;
	}
	if (strcmp(objname, "RSA PRIVATE KEY") != 0 &&
	    strcmp(objname, "EC PRIVATE KEY") != 0 &&
	    strcmp(objname, "PRIVATE KEY") != 0)
		return 0;
	if (kx->key != NULL) {
		snprintf(err, errlen, "%s: more than one private key", name);
		return -1;
	}
	br_skey_decoder_init(&kc);
	br_skey_decoder_push(&kc, der, len);
	if ((e = br_skey_decoder_last_error(&kc)) != 0) {
		if (e == BR_ERR_X509_UNSUPPORTED)
			snprintf(err, errlen, "%s: unsupported private key "
			    "type (RSA and EC keys are)", name);
		else
			snprintf(err, errlen, "%s: cannot decode the \"%s\" "
			    "block (%s)", name, objname,
			    pem_x509_strerror(e));
		sodium_memzero(&kc, sizeof(kc));
		return -1;
	}
	if ((kx->key = sodium_malloc(sizeof(*kx->key))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		sodium_memzero(&kc, sizeof(kc));
		return -1;
	}
	memset(kx->key, 0, sizeof(*kx->key));
	rc = pem_key_copy(kx->key, &kc, name, err, errlen);
	sodium_memzero(&kc, sizeof(kc));
	return rc;
}

int
pem_key_parse(const char *name, const void *buf, size_t len,
    struct pem_key **key, char *err, size_t errlen)
{
	struct pem_keyctx	 kx;
	static const char	 enc[] = "Proc-Type: 4,ENCRYPTED";
	int			 nobj;

	*key = NULL;
	if (sodium_init() < 0) {
		snprintf(err, errlen, "%s: libsodium cannot start", name);
		return -1;
	}
	/* An OpenSSL-style encrypted key fails in the decoder: say why. */
	if (pem_contains(buf, len, enc)) {
		snprintf(err, errlen, "%s: the private key is encrypted; "
		    "store it decrypted, readable only by the server "
		    "(openssl pkey -in KEY -out NEWKEY)", name);
		return -1;
	}
	kx.key = NULL;
	nobj = pem_walk(name, buf, len, pem_key_one, &kx, err, errlen);
	if (nobj == -1)
		goto fail;
	if (nobj == 0) {
		snprintf(err, errlen, "%s is not a PEM file", name);
		goto fail;
	}
	if (kx.key == NULL) {
		snprintf(err, errlen, "%s: no private key found", name);
		goto fail;
	}
	*key = kx.key;
	return 0;
fail:
	pem_key_free(kx.key);
	return -1;
}

int
pem_key_load(const char *path, struct pem_key **key, char *err,
    size_t errlen)
{
	struct fileio_data	 d;
	int			 rc;

	*key = NULL;
	if (pem_read_file(path, PEM_FILE_MAX, 1, &d, err, errlen) == -1)
		return -1;
	rc = pem_key_parse(path, d.buf, d.len, key, err, errlen);
	fileio_data_free(&d);		/* wipes it */
	return rc;
}

void
pem_key_free(struct pem_key *key)
{
	/* sodium_free wipes the whole allocation first. */
	if (key != NULL)
		sodium_free(key);
}

/*
 * Trust anchors.
 */

static void
pem_dn_append(void *arg, const void *src, size_t len)
{
	struct pem_dn	*dn = arg;

	if (dn->overflow || len > sizeof(dn->buf) - dn->len) {
		dn->overflow = 1;
		return;
	}
	memcpy(dn->buf + dn->len, src, len);
	dn->len += len;
}

static int
pem_anchor_one(void *arg, const char *name, const char *objname,
    const unsigned char *der, size_t len, char *err, size_t errlen)
{
	struct pem_anchors	*an = arg;
	br_x509_decoder_context	 dc;
	br_x509_trust_anchor	*ta, *nta;
	const br_x509_pkey	*pk;
	struct pem_dn		 dn;
	unsigned char		*blk;
	size_t			 need;
	int			 e;

	if (!pem_is_cert(objname))
		return 0;
	if (an->n == PEM_ANCHORS_MAX) {
		snprintf(err, errlen, "%s: more than %d certificates", name,
		    PEM_ANCHORS_MAX);
		return -1;
	}
	dn.len = 0;
	dn.overflow = 0;
	br_x509_decoder_init(&dc, pem_dn_append, &dn);
	br_x509_decoder_push(&dc, der, len);
	if ((e = br_x509_decoder_last_error(&dc)) != 0 ||
	    (pk = br_x509_decoder_get_pkey(&dc)) == NULL) {
		snprintf(err, errlen, "%s: certificate %zu cannot be decoded "
		    "(%s)", name, an->n + 1, pem_x509_strerror(e));
		return -1;
	}
	if (dn.overflow) {
		snprintf(err, errlen, "%s: certificate %zu: subject name too "
		    "long", name, an->n + 1);
		return -1;
	}
	/*
	 * Grow the array by doubling from 8 (so at 0, 8, 16, 32...);
	 * PEM_ANCHORS_MAX bounds it.
	 */
	if (an->n == 0 || (an->n >= 8 && (an->n & (an->n - 1)) == 0)) {
		nta = realloc(an->ta, (an->n == 0 ? 8 : an->n * 2) *
		    sizeof(*an->ta));
		if (nta == NULL)
			goto nomem;
		an->ta = nta;
	}
	ta = &an->ta[an->n];
	memset(ta, 0, sizeof(*ta));
	switch (pk->key_type) {
	case BR_KEYTYPE_RSA:
		need = dn.len + pk->key.rsa.nlen + pk->key.rsa.elen;
		if ((blk = malloc(need + 1)) == NULL)
			goto nomem;
		ta->pkey.key_type = BR_KEYTYPE_RSA;
		ta->pkey.key.rsa.n = blk + dn.len;
		ta->pkey.key.rsa.nlen = pk->key.rsa.nlen;
		memcpy(ta->pkey.key.rsa.n, pk->key.rsa.n, pk->key.rsa.nlen);
		ta->pkey.key.rsa.e = blk + dn.len + pk->key.rsa.nlen;
		ta->pkey.key.rsa.elen = pk->key.rsa.elen;
		memcpy(ta->pkey.key.rsa.e, pk->key.rsa.e, pk->key.rsa.elen);
		break;
	case BR_KEYTYPE_EC:
		need = dn.len + pk->key.ec.qlen;
		if ((blk = malloc(need + 1)) == NULL)
			goto nomem;
		ta->pkey.key_type = BR_KEYTYPE_EC;
		ta->pkey.key.ec.curve = pk->key.ec.curve;
		ta->pkey.key.ec.q = blk + dn.len;
		ta->pkey.key.ec.qlen = pk->key.ec.qlen;
		memcpy(ta->pkey.key.ec.q, pk->key.ec.q, pk->key.ec.qlen);
		break;
	default:
		snprintf(err, errlen, "%s: certificate %zu: unsupported "
		    "public key type", name, an->n + 1);
		return -1;
	}
	memcpy(blk, dn.buf, dn.len);
	ta->dn.data = blk;
	ta->dn.len = dn.len;
	ta->flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
	an->n++;
	return 0;
nomem:
	snprintf(err, errlen, "%s: out of memory", name);
	return -1;
}

int
pem_anchors_parse(const char *name, const void *buf, size_t len,
    struct pem_anchors *anchors, char *err, size_t errlen)
{
	int	 nobj;

	anchors->ta = NULL;
	anchors->n = 0;
	nobj = pem_walk(name, buf, len, pem_anchor_one, anchors, err,
	    errlen);
	if (nobj == -1)
		goto fail;
	if (nobj == 0) {
		snprintf(err, errlen, "%s is not a PEM file", name);
		goto fail;
	}
	if (anchors->n == 0) {
		snprintf(err, errlen, "%s: no certificate found", name);
		goto fail;
	}
	return 0;
fail:
	pem_anchors_free(anchors);
	return -1;
}

int
pem_anchors_load(const char *path, struct pem_anchors *anchors, char *err,
    size_t errlen)
{
	struct fileio_data	 d;
	int			 rc;

	anchors->ta = NULL;
	anchors->n = 0;
	if (pem_read_file(path, PEM_TRUST_FILE_MAX, 0, &d, err,
	    errlen) == -1)
		return -1;
	rc = pem_anchors_parse(path, d.buf, d.len, anchors, err, errlen);
	fileio_data_free(&d);
	return rc;
}

void
pem_anchors_free(struct pem_anchors *anchors)
{
	size_t	 i;

	if (anchors->ta != NULL) {
		/* The DN starts each anchor's one allocation. */
		for (i = 0; i < anchors->n; i++)
			free(anchors->ta[i].dn.data);
		free(anchors->ta);
	}
	anchors->ta = NULL;
	anchors->n = 0;
}

const char *
pem_x509_strerror(int code)
{
	switch (code) {
	case 0:
	case BR_ERR_X509_OK:
		return "no error";
	case BR_ERR_X509_INVALID_VALUE:
		return "invalid value in an ASN.1 structure";
	case BR_ERR_X509_TRUNCATED:
		return "truncated";
	case BR_ERR_X509_EMPTY_CHAIN:
		return "empty certificate chain";
	case BR_ERR_X509_INNER_TRUNC:
		return "inner element extends beyond outer element";
	case BR_ERR_X509_BAD_TAG_CLASS:
	case BR_ERR_X509_BAD_TAG_VALUE:
		return "unsupported ASN.1 tag";
	case BR_ERR_X509_INDEFINITE_LENGTH:
		return "indefinite length";
	case BR_ERR_X509_EXTRA_ELEMENT:
		return "extraneous ASN.1 element";
	case BR_ERR_X509_UNEXPECTED:
		return "unexpected ASN.1 element";
	case BR_ERR_X509_NOT_CONSTRUCTED:
	case BR_ERR_X509_NOT_PRIMITIVE:
	case BR_ERR_X509_PARTIAL_BYTE:
	case BR_ERR_X509_BAD_BOOLEAN:
		return "malformed DER";
	case BR_ERR_X509_OVERFLOW:
		return "value out of range";
	case BR_ERR_X509_BAD_DN:
		return "invalid distinguished name";
	case BR_ERR_X509_BAD_TIME:
		return "invalid date";
	case BR_ERR_X509_UNSUPPORTED:
		return "unsupported feature";
	case BR_ERR_X509_LIMIT_EXCEEDED:
		return "key or signature too large";
	case BR_ERR_X509_WRONG_KEY_TYPE:
		return "wrong key type";
	case BR_ERR_X509_BAD_SIGNATURE:
		return "bad certificate signature";
	case BR_ERR_X509_TIME_UNKNOWN:
		return "validation time unknown";
	case BR_ERR_X509_EXPIRED:
		return "certificate expired or not yet valid";
	case BR_ERR_X509_DN_MISMATCH:
		return "issuer/subject mismatch in the chain";
	case BR_ERR_X509_BAD_SERVER_NAME:
		return "certificate does not match the server name";
	case BR_ERR_X509_CRITICAL_EXTENSION:
		return "unknown critical extension";
	case BR_ERR_X509_NOT_CA:
		return "issuer is not a CA";
	case BR_ERR_X509_FORBIDDEN_KEY_USAGE:
		return "key usage forbids this use";
	case BR_ERR_X509_WEAK_PUBLIC_KEY:
		return "public key too weak";
	case BR_ERR_X509_NOT_TRUSTED:
		return "certificate chain not trusted (unknown CA)";
	default:
		return "certificate decoding error";
	}
}
