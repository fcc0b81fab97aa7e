/*
 * pem: load what the TLS layer needs from PEM files, with BearSSL's
 * decoders: a certificate chain (one or more CERTIFICATE blocks, end
 * entity first), a private key (RSA or EC, raw or PKCS#8, unencrypted)
 * and trust anchors (every certificate of a CA file).  Files are read
 * once, at start or on SIGHUP, never on a session path.
 *
 * Every file is bounded (PEM_FILE_MAX, PEM_TRUST_FILE_MAX), and so is
 * every object in it; failures name the file and say what is wrong,
 * for instance "certs/sf.key: no private key found" or "certs/sf.crt
 * is not a PEM file".  The *_parse variants take the bytes instead of
 * a path, with `name' used in the reasons (tests, fuzzing).
 *
 * Functions return 0 on success or -1 with the reason in err.
 */
#ifndef BASTION_PEM_H
#define BASTION_PEM_H

#include <stddef.h>

#include <bearssl.h>

#define PEM_FILE_MAX		(1024 * 1024)	/* chain or key file */
#define PEM_TRUST_FILE_MAX	(8 * 1024 * 1024) /* CA file (a bundle) */
#define PEM_OBJECT_MAX		(64 * 1024)	/* one decoded block */
#define PEM_CHAIN_MAX		16		/* certs in a chain */
#define PEM_ANCHORS_MAX		4096		/* in a CA file */
#define PEM_DN_MAX		4096		/* one subject DN */
/* Room for the elements of an RSA-4096 key, as BearSSL's decoder has. */
#define PEM_KEY_DATA_MAX	(3 * BR_X509_BUFSIZE_SIG)

/*
 * A certificate chain in TLS order (end entity first), as BearSSL's
 * server and client contexts take it.  Each certificate's DER is its
 * own allocation.
 */
struct pem_chain {
	br_x509_certificate	*certs;
	size_t			 n;
};

/*
 * A private key.  The key elements point into data; the whole object
 * comes from sodium_malloc (guarded, locked when the system lets us)
 * and is wiped when freed.
 */
struct pem_key {
	int		 type;		/* BR_KEYTYPE_RSA or _EC */
	union {
		br_rsa_private_key	rsa;
		br_ec_private_key	ec;
	} u;
	unsigned	 bits;		/* RSA modulus or EC curve size */
	unsigned char	 data[PEM_KEY_DATA_MAX];
};

/* Trust anchors; each anchor's DN and key bytes are one allocation. */
struct pem_anchors {
	br_x509_trust_anchor	*ta;
	size_t			 n;
};

/*
 * Load every CERTIFICATE block of path, in file order, which for a
 * server chain must be the end entity first.  Other blocks (a private
 * key in a combined file) are skipped.  Each certificate must decode;
 * at least one must be there.
 */
int	pem_chain_load(const char *path, struct pem_chain *chain, char *err,
	    size_t errlen) __attribute__((warn_unused_result));
int	pem_chain_parse(const char *name, const void *buf, size_t len,
	    struct pem_chain *chain, char *err, size_t errlen)
	    __attribute__((warn_unused_result));
void	pem_chain_free(struct pem_chain *chain);

/*
 * Load the one private key of path ("RSA PRIVATE KEY", "EC PRIVATE
 * KEY" or PKCS#8 "PRIVATE KEY"); certificate and "EC PARAMETERS" blocks
 * beside it are skipped.  A file that others (not owner, not group)
 * may read or write is refused, and so are encrypted keys, with a
 * hint.  The file's bytes are wiped after decoding.  *key is freed
 * with pem_key_free().
 */
int	pem_key_load(const char *path, struct pem_key **key, char *err,
	    size_t errlen) __attribute__((warn_unused_result));
int	pem_key_parse(const char *name, const void *buf, size_t len,
	    struct pem_key **key, char *err, size_t errlen)
	    __attribute__((warn_unused_result));
void	pem_key_free(struct pem_key *key);

/*
 * Load every certificate of a CA file as a trust anchor for BearSSL's
 * X.509 "minimal" engine: its subject DN and public key, flagged as a
 * CA when the certificate says it is one (otherwise the anchor only
 * serves for direct trust of that very certificate).  At least one
 * must be there.
 */
int	pem_anchors_load(const char *path, struct pem_anchors *anchors,
	    char *err, size_t errlen) __attribute__((warn_unused_result));
int	pem_anchors_parse(const char *name, const void *buf, size_t len,
	    struct pem_anchors *anchors, char *err, size_t errlen)
	    __attribute__((warn_unused_result));
void	pem_anchors_free(struct pem_anchors *anchors);

/* A short text for a BearSSL X.509 decoding error code. */
const char *pem_x509_strerror(int code);

#endif
