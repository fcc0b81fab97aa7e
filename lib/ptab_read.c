/*
 * ptab_read: load a private copy of a compiled table, validate it once,
 * and answer the lookups bastiond makes per connection and per
 * recipient.
 *
 * The table arrives from disk and is treated as hostile: ptab_load()
 * checks every offset, length, string reference, enum, index and
 * ordering before anything points into it, in linear passes that touch
 * each byte about once (a table of a million prefixes must load in a
 * few milliseconds).  After that, the lookups trust the structure and
 * allocate nothing: the longest-prefix match is a 16-bit index step, a
 * short binary search and a walk up at most 33 or 129 parents.
 */
#define _GNU_SOURCE	/* memfd_create(2), file seals */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/sendfile.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "bastion_limits.h"
#include "ptab.h"
#include "seal.h"
#include "verifier.h"

#define PTAB_NSECTIONS	(PTAB_SEC_MAX - 1)

/* Linux: the image goes into a sealed memfd (see ptab_open). */
#if defined(__linux__) && defined(MFD_ALLOW_SEALING) && \
    defined(F_ADD_SEALS) && defined(F_SEAL_WRITE)
#define PTAB_HAVE_MEMFD	1
#endif

static int	ptab_bad(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static int	ptab_read_all(int, uint8_t *, size_t, char *, size_t);
#ifdef PTAB_HAVE_MEMFD
static void	*ptab_image_memfd(int, size_t, int, int *, char *, size_t);
#endif
static void	*ptab_image_anon(int, size_t, int, char *, size_t);
static int	ptab_check_dir(struct ptab *, char *, size_t);
static int	ptab_check_strings(const struct ptab *, char *, size_t);
static int	ptab_check_server(const struct ptab *, char *, size_t);
static int	ptab_check_listeners(const struct ptab *, char *, size_t);
static int	ptab_check_rules(const struct ptab *, char *, size_t);
static int	ptab_check_v4(const struct ptab *, char *, size_t);
static int	ptab_check_v6(const struct ptab *, char *, size_t);
static int	ptab_check_users(const struct ptab *, char *, size_t);
static int	ptab_check_rcpts(const struct ptab *, char *, size_t);
static int	ptab_check_local(const char *, size_t);
static int	ptab_check_proxy(const struct ptab_proxy_rec *);
static int	ptab_proxy_order(const struct ptab_proxy_rec *,
		    const struct ptab_proxy_rec *);
static int	ptab_check_sender(const char *);
static int	ptab_ieq(const char *, const char *, size_t);
static int	ptab_check_domains(const struct ptab *,
		    const struct ptab_domain_rec *, uint32_t, int, char *,
		    size_t);
static int	ptab_keycmp(const char *, size_t, const char *);
static const struct ptab_domain_rec *ptab_domain_find(const struct ptab *,
		    const struct ptab_domain_rec *, uint32_t, const char *,
		    size_t);
static const struct ptab_domain_rec *ptab_domain_lookup(const struct ptab *,
		    const struct ptab_domain_rec *, uint32_t, const char *,
		    size_t);
static uint32_t	ptab_v4_lookup(const struct ptab *, uint32_t, uint32_t *);
static uint32_t	ptab_v6_lookup(const struct ptab *, uint64_t, uint64_t,
		    uint32_t *);

static const char *const ptab_secname[PTAB_SEC_MAX] = {
	[PTAB_SEC_STRINGS] = "STRINGS",
	[PTAB_SEC_SERVER] = "SERVER",
	[PTAB_SEC_LISTENERS] = "LISTENERS",
	[PTAB_SEC_RULES] = "RULES",
	[PTAB_SEC_LISTS] = "LISTS",
	[PTAB_SEC_V4_INDEX] = "V4_INDEX",
	[PTAB_SEC_V4_KEYS] = "V4_KEYS",
	[PTAB_SEC_V4_ENTRIES] = "V4_ENTRIES",
	[PTAB_SEC_V6_INDEX] = "V6_INDEX",
	[PTAB_SEC_V6_KEYS] = "V6_KEYS",
	[PTAB_SEC_V6_ENTRIES] = "V6_ENTRIES",
	[PTAB_SEC_USERS] = "USERS",
	[PTAB_SEC_ACCEPT] = "ACCEPT",
	[PTAB_SEC_OUTBOUND] = "OUTBOUND",
	[PTAB_SEC_BLOBS] = "BLOBS",
	[PTAB_SEC_RCPT_LISTS] = "RCPT_LISTS",
	[PTAB_SEC_RCPT_SLOTS] = "RCPT_SLOTS",
	[PTAB_SEC_SENDERS] = "SENDERS",
	[PTAB_SEC_PROXY] = "PROXY",
};

const uint32_t ptab_recsize[PTAB_SEC_MAX] = {
	[PTAB_SEC_STRINGS] = 1,
	[PTAB_SEC_SERVER] = sizeof(struct ptab_server_rec),
	[PTAB_SEC_LISTENERS] = sizeof(struct ptab_listener_rec),
	[PTAB_SEC_RULES] = sizeof(struct ptab_rule_rec),
	[PTAB_SEC_LISTS] = sizeof(struct ptab_list_rec),
	[PTAB_SEC_V4_INDEX] = sizeof(uint32_t),
	[PTAB_SEC_V4_KEYS] = sizeof(uint32_t),
	[PTAB_SEC_V4_ENTRIES] = sizeof(struct ptab_entry_rec),
	[PTAB_SEC_V6_INDEX] = sizeof(uint32_t),
	[PTAB_SEC_V6_KEYS] = sizeof(struct ptab_v6key),
	[PTAB_SEC_V6_ENTRIES] = sizeof(struct ptab_entry_rec),
	[PTAB_SEC_USERS] = sizeof(struct ptab_user_rec),
	[PTAB_SEC_ACCEPT] = sizeof(struct ptab_domain_rec),
	[PTAB_SEC_OUTBOUND] = sizeof(struct ptab_domain_rec),
	[PTAB_SEC_BLOBS] = 1,
	[PTAB_SEC_RCPT_LISTS] = sizeof(struct ptab_rcpt_rec),
	[PTAB_SEC_RCPT_SLOTS] = sizeof(uint32_t),
	[PTAB_SEC_SENDERS] = sizeof(uint32_t),
	[PTAB_SEC_PROXY] = sizeof(struct ptab_proxy_rec),
};

/* ptab_mask32[l]: the network mask of an IPv4 prefix of length l. */
static const uint32_t ptab_mask32[33] = {
	0x00000000, 0x80000000, 0xc0000000, 0xe0000000, 0xf0000000,
	0xf8000000, 0xfc000000, 0xfe000000, 0xff000000, 0xff800000,
	0xffc00000, 0xffe00000, 0xfff00000, 0xfff80000, 0xfffc0000,
	0xfffe0000, 0xffff0000, 0xffff8000, 0xffffc000, 0xffffe000,
	0xfffff000, 0xfffff800, 0xfffffc00, 0xfffffe00, 0xffffff00,
	0xffffff80, 0xffffffc0, 0xffffffe0, 0xfffffff0, 0xfffffff8,
	0xfffffffc, 0xfffffffe, 0xffffffff
};

/* The mask of the top (or bottom) 64 bits of an IPv6 prefix of length l. */
static inline uint64_t
ptab_mask_hi(uint32_t l)
{
	if (l >= 64)
		return ~(uint64_t)0;
	return l == 0 ? 0 : ~(uint64_t)0 << (64 - l);
}

static inline uint64_t
ptab_mask_lo(uint32_t l)
{
	if (l <= 64)
		return 0;
	return l >= 128 ? ~(uint64_t)0 : ~(uint64_t)0 << (128 - l);
}

static int
ptab_bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---- Open and validate --------------------------------------------------- */

/*
 * Read the len bytes of fd into dst; a short read means the file
 * shrank since fstat.
 */
static int
ptab_read_all(int fd, uint8_t *dst, size_t len, char *err, size_t errlen)
{
	size_t	 done = 0;
	ssize_t	 n;

	while (done < len) {
		n = pread(fd, dst + done, len - done, (off_t)done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return ptab_bad(err, errlen, "cannot read: %s",
			    strerror(errno));
		if (n == 0)
			return ptab_bad(err, errlen, "the table shrank while "
			    "it was read (%zu of %zu bytes)", done, len);
		done += (size_t)n;
	}
	return 0;
}

#ifdef PTAB_HAVE_MEMFD
/*
 * The image in a sealed memfd: once the seals are on, no one (this
 * process included) can write, shrink or grow it, so the mapping stays
 * exactly what ptab_load() validated.  Returns the read-only mapping,
 * or MAP_FAILED with the reason in err; *fallback is set instead when
 * the kernel has no memfd or no sealing, and the caller then makes an
 * anonymous copy.
 */
static void *
ptab_image_memfd(int fd, size_t len, int mflags, int *fallback, char *err,
    size_t errlen)
{
	void	*p;
	off_t	 off = 0;
	size_t	 done = 0;
	ssize_t	 n;
	int	 mfd;

	*fallback = 0;
	mfd = memfd_create("bastion-ptab", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd == -1) {
		if (errno == ENOSYS || errno == EINVAL)
			*fallback = 1;
		else
			ptab_bad(err, errlen, "cannot make the table's copy: "
			    "%s", strerror(errno));
		return MAP_FAILED;
	}
	/*
	 * The kernel copies file to memfd, without a writable mapping of
	 * our own to fault in page by page.
	 */
	while (done < len) {
		n = sendfile(mfd, fd, &off, len - done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			ptab_bad(err, errlen, "cannot copy the table: %s",
			    strerror(errno));
			goto fail;
		}
		if (n == 0) {
			ptab_bad(err, errlen, "the table shrank while it was "
			    "read (%zu of %zu bytes)", done, len);
			goto fail;
		}
		done += (size_t)n;
	}
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_WRITE | F_SEAL_SEAL) == -1) {
		if (errno == EINVAL)
			*fallback = 1;
		else
			ptab_bad(err, errlen, "cannot seal the table's copy: "
			    "%s", strerror(errno));
		goto fail;
	}
	p = mmap(NULL, len, PROT_READ, MAP_SHARED | mflags, mfd, 0);
	if (p == MAP_FAILED) {
		ptab_bad(err, errlen, "cannot map the table's copy: %s",
		    strerror(errno));
		goto fail;
	}
	close(mfd);
	return p;
fail:
	close(mfd);
	return MAP_FAILED;
}
#endif

/* The fallback: a private anonymous copy, made read-only once filled. */
static void *
ptab_image_anon(int fd, size_t len, int mflags, char *err, size_t errlen)
{
	void	*p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS | mflags, -1, 0);
	if (p == MAP_FAILED) {
		ptab_bad(err, errlen, "cannot allocate the table's copy: %s",
		    strerror(errno));
		return MAP_FAILED;
	}
	if (ptab_read_all(fd, p, len, err, errlen) == -1) {
		munmap(p, len);
		return MAP_FAILED;
	}
	if (mprotect(p, len, PROT_READ) == -1) {
		ptab_bad(err, errlen, "cannot protect the table's copy: %s",
		    strerror(errno));
		munmap(p, len);
		return MAP_FAILED;
	}
	return p;
}

int
ptab_open(struct ptab *t, const char *path, char *err, size_t errlen)
{
	struct stat	 st;
	void		*p;
	size_t		 len;
	int		 fd, mflags = 0, fallback = 1;

	memset(t, 0, sizeof(*t));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return ptab_bad(err, errlen, "cannot open: %s",
		    strerror(errno));
	if (fstat(fd, &st) == -1) {
		close(fd);
		return ptab_bad(err, errlen, "cannot stat: %s",
		    strerror(errno));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return ptab_bad(err, errlen, "not a regular file");
	}
	if (st.st_size < PTAB_HEADER_SIZE) {
		close(fd);
		return ptab_bad(err, errlen, "the table is too short for a "
		    "header (%lld bytes)", (long long)st.st_size);
	}
	if ((uint64_t)st.st_size > PTAB_MAX_SIZE) {
		close(fd);
		return ptab_bad(err, errlen, "the table is too large (%lld "
		    "bytes)", (long long)st.st_size);
	}
	len = (size_t)st.st_size;
	/*
	 * A private image, never a mapping of the file: a file truncated
	 * or rewritten in place (": > t.ptab", "cp other.ptab t.ptab")
	 * would show through a mapping's pages as SIGBUS, or as records
	 * nobody validated.  The copy costs one read of the file per
	 * load; populating it up front keeps the page faults out of the
	 * first connections.
	 */
#ifdef MAP_POPULATE
	mflags = MAP_POPULATE;
#endif
	p = MAP_FAILED;
#ifdef PTAB_HAVE_MEMFD
	p = ptab_image_memfd(fd, len, mflags, &fallback, err, errlen);
#endif
	if (p == MAP_FAILED && fallback)
		p = ptab_image_anon(fd, len, mflags, err, errlen);
	close(fd);
	if (p == MAP_FAILED)
		return -1;
	if (ptab_load(t, p, len, err, errlen) == -1) {
		munmap(p, len);
		return -1;
	}
	t->mapped = 1;
	return 0;
}

void
ptab_close(struct ptab *t)
{
	if (t->mapped && t->base != NULL)
		munmap((void *)(uintptr_t)t->base, t->size);
	memset(t, 0, sizeof(*t));
}

int
ptab_load(struct ptab *t, const void *buf, size_t len, char *err,
    size_t errlen)
{
	static const uint8_t		 zero[PTAB_CHECKSUM_SIZE];
	static const char		 hex[] = "0123456789abcdef";
	crypto_generichash_state	 st;
	uint8_t				 sum[PTAB_CHECKSUM_SIZE];
	const struct ptab_header	*h = buf;
	const size_t			 co = offsetof(struct ptab_header,
					    checksum);
	size_t				 i;

	memset(t, 0, sizeof(*t));
	if (((uintptr_t)buf & 7) != 0)
		return ptab_bad(err, errlen, "the table is not 8-byte "
		    "aligned in memory");
	if (len < PTAB_HEADER_SIZE)
		return ptab_bad(err, errlen, "the table is too short for a "
		    "header (%zu bytes)", len);
	if (memcmp(h->magic, PTAB_MAGIC, sizeof(h->magic)) != 0)
		return ptab_bad(err, errlen, "not a bastion policy table "
		    "(bad magic)");
	if (h->version != PTAB_VERSION)
		return ptab_bad(err, errlen, "table format version %u is not "
		    "supported (this program reads version %u)", h->version,
		    PTAB_VERSION);
	if (h->header_size != PTAB_HEADER_SIZE)
		return ptab_bad(err, errlen, "bad header size %u",
		    h->header_size);
	if (h->size != len)
		return ptab_bad(err, errlen, "the header says %llu bytes but "
		    "the table has %zu (truncated?)",
		    (unsigned long long)h->size, len);
	if (len > PTAB_MAX_SIZE || (len & 7) != 0)
		return ptab_bad(err, errlen, "bad table size %zu", len);
	if (h->flags != 0 || h->reserved != 0)
		return ptab_bad(err, errlen, "unknown header flags 0x%x",
		    h->flags | h->reserved);

	/* The checksum field counts as zeros; hash around it, no copy. */
	if (sodium_init() < 0)
		return ptab_bad(err, errlen, "libsodium failed to start");
	crypto_generichash_init(&st, NULL, 0, sizeof(sum));
	crypto_generichash_update(&st, buf, co);
	crypto_generichash_update(&st, zero, sizeof(zero));
	crypto_generichash_update(&st, (const uint8_t *)buf + co +
	    PTAB_CHECKSUM_SIZE, len - co - PTAB_CHECKSUM_SIZE);
	crypto_generichash_final(&st, sum, sizeof(sum));
	if (memcmp(sum, h->checksum, sizeof(sum)) != 0)
		return ptab_bad(err, errlen, "bad checksum");

	t->base = buf;
	t->size = len;
	t->hdr = h;
	if (ptab_check_dir(t, err, errlen) == -1 ||
	    ptab_check_strings(t, err, errlen) == -1 ||
	    ptab_check_server(t, err, errlen) == -1 ||
	    ptab_check_listeners(t, err, errlen) == -1 ||
	    ptab_check_rules(t, err, errlen) == -1 ||
	    ptab_check_v4(t, err, errlen) == -1 ||
	    ptab_check_v6(t, err, errlen) == -1 ||
	    ptab_check_users(t, err, errlen) == -1 ||
	    ptab_check_rcpts(t, err, errlen) == -1 ||
	    ptab_check_domains(t, t->accept, t->naccept, 0, err,
	    errlen) == -1 ||
	    ptab_check_domains(t, t->outbound, t->noutbound, 1, err,
	    errlen) == -1) {
		memset(t, 0, sizeof(*t));
		return -1;
	}
	for (i = 0; i < 8; i++) {
		t->sum[2 * i] = hex[h->checksum[i] >> 4];
		t->sum[2 * i + 1] = hex[h->checksum[i] & 0xf];
	}
	t->sum[16] = '\0';
	return 0;
}

/*
 * The directory: every section exactly once, in bounds, aligned, in
 * ascending order without overlap, zero padding between, and a length
 * that is exactly its count of records.
 */
static int
ptab_check_dir(struct ptab *t, char *err, size_t errlen)
{
	const struct ptab_section_rec	*dir, *d;
	const void			*sec[PTAB_SEC_MAX] = { NULL };
	uint32_t			 count[PTAB_SEC_MAX] = { 0 };
	uint64_t			 end, need, j;
	size_t				 size = t->size;
	uint32_t			 i, id, seen = 0;

	if (t->hdr->nsections != PTAB_NSECTIONS)
		return ptab_bad(err, errlen, "the directory has %u sections, "
		    "not %u", t->hdr->nsections, PTAB_NSECTIONS);
	if (size - PTAB_HEADER_SIZE < PTAB_NSECTIONS * sizeof(*d))
		return ptab_bad(err, errlen, "the section directory runs "
		    "past the end of the table");
	dir = (const void *)(t->base + PTAB_HEADER_SIZE);
	end = PTAB_HEADER_SIZE + PTAB_NSECTIONS * sizeof(*d);
	for (i = 0; i < PTAB_NSECTIONS; i++) {
		d = &dir[i];
		id = d->id;
		if (id == 0 || id >= PTAB_SEC_MAX)
			return ptab_bad(err, errlen, "directory entry %u has "
			    "unknown section id %u", i, id);
		if (seen & (1u << id))
			return ptab_bad(err, errlen, "section %u (%s) appears "
			    "twice", id, ptab_secname[id]);
		seen |= 1u << id;
		if ((d->offset & 7) != 0)
			return ptab_bad(err, errlen, "section %u (%s) is not "
			    "8-byte aligned", id, ptab_secname[id]);
		if (d->offset > size || size - d->offset < d->length)
			return ptab_bad(err, errlen, "section %u (%s) runs "
			    "past the end of the table", id,
			    ptab_secname[id]);
		if (d->offset < end)
			return ptab_bad(err, errlen, "section %u (%s) overlaps "
			    "what comes before it", id, ptab_secname[id]);
		need = (uint64_t)d->count * ptab_recsize[id];
		if (need != d->length)
			return ptab_bad(err, errlen, "section %u (%s) is %u "
			    "bytes long, but %u records take %llu", id,
			    ptab_secname[id], d->length, d->count,
			    (unsigned long long)need);
		for (j = end; j < d->offset; j++)
			if (t->base[j] != 0)
				return ptab_bad(err, errlen, "nonzero padding "
				    "before section %u (%s)", id,
				    ptab_secname[id]);
		end = (uint64_t)d->offset + d->length;
		sec[id] = t->base + d->offset;
		count[id] = d->count;
	}
	for (j = end; j < size; j++)
		if (t->base[j] != 0)
			return ptab_bad(err, errlen, "nonzero bytes after the "
			    "last section");
	/* As many distinct known ids as there are: all are present. */

	if (count[PTAB_SEC_SERVER] != 1)
		return ptab_bad(err, errlen, "section %u (SERVER) holds %u "
		    "records, not 1", PTAB_SEC_SERVER,
		    count[PTAB_SEC_SERVER]);
	for (id = PTAB_SEC_V4_INDEX; id <= PTAB_SEC_V6_INDEX;
	    id += PTAB_SEC_V6_INDEX - PTAB_SEC_V4_INDEX) {
		/* 2^b + 1 slots, b <= 16. */
		i = count[id];
		if (i < 2 || i > PTAB_INDEX_SLOTS || ((i - 1) & (i - 2)) != 0)
			return ptab_bad(err, errlen, "section %u (%s) holds %u "
			    "slots, not a power of two plus one", id,
			    ptab_secname[id], i);
	}
	if (count[PTAB_SEC_V4_KEYS] != count[PTAB_SEC_V4_ENTRIES])
		return ptab_bad(err, errlen, "%u v4 keys but %u v4 entries",
		    count[PTAB_SEC_V4_KEYS], count[PTAB_SEC_V4_ENTRIES]);
	if (count[PTAB_SEC_V6_KEYS] != count[PTAB_SEC_V6_ENTRIES])
		return ptab_bad(err, errlen, "%u v6 keys but %u v6 entries",
		    count[PTAB_SEC_V6_KEYS], count[PTAB_SEC_V6_ENTRIES]);
	if (count[PTAB_SEC_RULES] == 0)
		return ptab_bad(err, errlen, "the table has no default rule");
	if (count[PTAB_SEC_RULES] > PTAB_MAX_RULES + 1)
		return ptab_bad(err, errlen, "too many rules (%u)",
		    count[PTAB_SEC_RULES]);
	if (count[PTAB_SEC_V4_KEYS] == PTAB_NONE ||
	    count[PTAB_SEC_V6_KEYS] == PTAB_NONE)
		return ptab_bad(err, errlen, "too many prefixes");

	t->str = sec[PTAB_SEC_STRINGS];
	t->strsize = count[PTAB_SEC_STRINGS];
	t->server = sec[PTAB_SEC_SERVER];
	t->listeners = sec[PTAB_SEC_LISTENERS];
	t->nlisteners = count[PTAB_SEC_LISTENERS];
	t->rules = sec[PTAB_SEC_RULES];
	t->nrules = count[PTAB_SEC_RULES];
	t->lists = sec[PTAB_SEC_LISTS];
	t->nlists = count[PTAB_SEC_LISTS];
	t->v4index = sec[PTAB_SEC_V4_INDEX];
	t->v4keys = sec[PTAB_SEC_V4_KEYS];
	t->v4ent = sec[PTAB_SEC_V4_ENTRIES];
	t->nv4 = count[PTAB_SEC_V4_KEYS];
	t->v6index = sec[PTAB_SEC_V6_INDEX];
	t->v6keys = sec[PTAB_SEC_V6_KEYS];
	t->v6ent = sec[PTAB_SEC_V6_ENTRIES];
	t->nv6 = count[PTAB_SEC_V6_KEYS];
	t->v4shift = PTAB_INDEX_MAXBITS;
	for (i = count[PTAB_SEC_V4_INDEX] - 1; i > 1; i >>= 1)
		t->v4shift--;
	t->v6shift = PTAB_INDEX_MAXBITS;
	for (i = count[PTAB_SEC_V6_INDEX] - 1; i > 1; i >>= 1)
		t->v6shift--;
	t->users = sec[PTAB_SEC_USERS];
	t->nusers = count[PTAB_SEC_USERS];
	t->accept = sec[PTAB_SEC_ACCEPT];
	t->naccept = count[PTAB_SEC_ACCEPT];
	t->outbound = sec[PTAB_SEC_OUTBOUND];
	t->noutbound = count[PTAB_SEC_OUTBOUND];
	t->blobs = sec[PTAB_SEC_BLOBS];
	t->nblobs = count[PTAB_SEC_BLOBS];
	t->rcpts = sec[PTAB_SEC_RCPT_LISTS];
	t->nrcpts = count[PTAB_SEC_RCPT_LISTS];
	t->rslots = sec[PTAB_SEC_RCPT_SLOTS];
	t->nrslots = count[PTAB_SEC_RCPT_SLOTS];
	t->senders = sec[PTAB_SEC_SENDERS];
	t->nsenders = count[PTAB_SEC_SENDERS];
	t->proxy = sec[PTAB_SEC_PROXY];
	t->nproxy = count[PTAB_SEC_PROXY];
	return 0;
}

/* Every reference below is checked < strsize; this makes each one end. */
static int
ptab_check_strings(const struct ptab *t, char *err, size_t errlen)
{
	uint32_t	 i;
	size_t		 n;

	if (t->strsize == 0 || t->str[0] != '\0')
		return ptab_bad(err, errlen, "the string section does not "
		    "start with the empty string");
	if (t->str[t->strsize - 1] != '\0')
		return ptab_bad(err, errlen, "the string section does not "
		    "end with a NUL");
	/*
	 * No string policyc writes is longer than a quoted string may be;
	 * the runtime quotes some of them in replies and log lines.
	 */
	for (i = 0; i < t->strsize; i += (uint32_t)n + 1) {
		n = strlen(t->str + i);
		if (n > LIM_STRING)
			return ptab_bad(err, errlen, "the string at offset %u "
			    "is %zu bytes long, more than %u", i, n,
			    (unsigned)LIM_STRING);
	}
	return 0;
}

/* A string reference's string is at most max bytes long. */
#define STRLEN(x, max, what, ...) do {					\
	size_t	 n_ = strlen(t->str + (x));				\
									\
	if (n_ > (max))							\
		return ptab_bad(err, errlen, what " is %zu bytes long, "	\
		    "more than %u", __VA_ARGS__, n_, (unsigned)(max));	\
} while (0)

#define STRREF(x, ...) do {						\
	if ((x) >= t->strsize)						\
		return ptab_bad(err, errlen, __VA_ARGS__);		\
} while (0)

/* The defaults the writer fills in must pass the reader's checks. */
_Static_assert(PTAB_DEF_MSGSIZE >= LIM_MSGSIZE_MIN &&
    PTAB_DEF_RCPTS >= LIM_RCPTS_MIN && PTAB_DEF_CONNS >= LIM_CONNS_MIN &&
    PTAB_DEF_CONNS_HOST >= LIM_CONNS_HOST_MIN &&
    PTAB_DEF_AUTHFAIL >= LIM_AUTHFAIL_MIN &&
    PTAB_DEF_TO_COMMAND >= LIM_TIMEOUT_MIN &&
    PTAB_DEF_TO_DATA >= LIM_TIMEOUT_MIN &&
    PTAB_DEF_TO_CONNECT >= LIM_TIMEOUT_MIN &&
    PTAB_DEF_LIFETIME >= LIM_LIFETIME_MIN &&
    PTAB_DEF_RETRY >= LIM_RETRY_MIN &&
    PTAB_DEF_PORT >= LIM_PORT_MIN && PTAB_DEF_PORT <= LIM_PORT_MAX,
    "a PTAB_DEF_* default is outside its LIM_* range");

/*
 * A number outside the range policyc accepts: the checksum only says
 * the bytes are whole, and a runtime handed a retry of 0 spins.  The
 * upper bounds are checked even where the field cannot exceed them
 * today, so that tightening a LIM_*_MAX tightens the reader too.
 */
#define RANGE(v, lim, ...) do {						\
	if ((uint64_t)(v) < (uint64_t)lim##_MIN ||			\
	    (uint64_t)(v) > (uint64_t)lim##_MAX)			\
		return ptab_bad(err, errlen, __VA_ARGS__);		\
} while (0)

static int
ptab_check_server(const struct ptab *t, char *err, size_t errlen)
{
	const struct ptab_server_rec	*s = t->server;
	const uint32_t			 refs[] = { s->hostname, s->cert,
					    s->key, s->trust, s->spool,
					    s->log, s->runas, s->control };
	size_t				 i;
	int				 ended = 0;

	for (i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
		STRREF(refs[i], "server setting %zu has a bad string "
		    "reference %u", i, refs[i]);
	STRLEN(s->hostname, LIM_DOMAIN, "the server's %s", "hostname");
#define SRANGE(f, lim, what)						\
	RANGE(s->f, lim, "the server's %s is %llu, out of range (%llu to "  \
	    "%llu)", what, (unsigned long long)s->f,			\
	    (unsigned long long)lim##_MIN, (unsigned long long)lim##_MAX)
	SRANGE(max_msgsize, LIM_MSGSIZE, "message-size limit");
	SRANGE(max_rcpts, LIM_RCPTS, "recipient limit");
	SRANGE(max_conns, LIM_CONNS, "connection limit");
	SRANGE(max_conns_host, LIM_CONNS_HOST, "per-host connection limit");
	SRANGE(max_authfail, LIM_AUTHFAIL, "auth-failure limit");
	SRANGE(to_command, LIM_TIMEOUT, "command timeout");
	SRANGE(to_data, LIM_TIMEOUT, "data timeout");
	SRANGE(to_connect, LIM_TIMEOUT, "connect timeout");
	SRANGE(lifetime, LIM_LIFETIME, "queue lifetime");
	SRANGE(retry, LIM_RETRY, "queue retry");
#undef SRANGE
	for (i = 0; i < sizeof(s->mechs); i++) {
		if (s->mechs[i] > PTAB_MECH_SCRAM_SHA_256)
			return ptab_bad(err, errlen, "the server's auth "
			    "mechanisms include unknown mechanism %u",
			    s->mechs[i]);
		if (s->mechs[i] == 0)
			ended = 1;
		else if (ended || i >= PTAB_MAX_MECHS ||
		    memchr(s->mechs, s->mechs[i], i) != NULL)
			return ptab_bad(err, errlen, "the auth mechanism list "
			    "is malformed");
	}
	return 0;
}

static int
ptab_check_listeners(const struct ptab *t, char *err, size_t errlen)
{
	const struct ptab_listener_rec	*l;
	const struct ptab_proxy_rec	*x;
	uint32_t			 i, k, next = 0;
	size_t				 j;

	for (i = 0; i < t->nlisteners; i++) {
		l = &t->listeners[i];
		if (l->family != ADDR_V4 && l->family != ADDR_V6)
			return ptab_bad(err, errlen, "listener %u has unknown "
			    "address family %u", i, l->family);
		if (l->family == ADDR_V4)
			for (j = 4; j < sizeof(l->addr); j++)
				if (l->addr[j] != 0)
					return ptab_bad(err, errlen, "listener "
					    "%u: junk after the IPv4 address",
					    i);
		if (l->tls > 1)
			return ptab_bad(err, errlen, "listener %u has tls %u, "
			    "not 0 or 1", i, l->tls);
		if ((l->require & ~(PTAB_REQ_TLS | PTAB_REQ_AUTH)) != 0)
			return ptab_bad(err, errlen, "listener %u has unknown "
			    "require bits 0x%x", i, l->require);
		RANGE(l->port, LIM_PORT, "listener %u has port %u, out of "
		    "range (%u to %u)", i, l->port, LIM_PORT_MIN,
		    LIM_PORT_MAX);
		if (l->pad2 != 0)
			return ptab_bad(err, errlen, "nonzero padding in "
			    "listener %u", i);
		/* The sets follow each other in listener order. */
		if (l->proxy > 1 || (!l->proxy && (l->nproxy != 0 ||
		    l->proxy_list != PTAB_NONE)) ||
		    (l->proxy_list != PTAB_NONE &&
		    l->proxy_list >= t->nlists) ||
		    (l->nproxy == 0 ? l->proxy_first != 0 :
		    l->proxy_first != next) ||
		    l->nproxy > t->nproxy - next)
			return ptab_bad(err, errlen, "listener %u has a bad "
			    "proxy set", i);
		for (k = 0; k < l->nproxy; k++) {
			x = &t->proxy[next + k];
			if ((x->family != ADDR_V4 && x->family != ADDR_V6) ||
			    x->plen > (x->family == ADDR_V4 ? 32 : 128) ||
			    x->pad[0] != 0 || x->pad[1] != 0 ||
			    ptab_check_proxy(x) == -1)
				return ptab_bad(err, errlen, "proxy prefix %u "
				    "is malformed", next + k);
			if (k > 0 && ptab_proxy_order(x - 1, x) >= 0)
				return ptab_bad(err, errlen, "proxy prefix %u "
				    "is out of order", next + k);
		}
		next += l->nproxy;
	}
	if (next != t->nproxy)
		return ptab_bad(err, errlen, "%u proxy prefixes belong to no "
		    "listener", t->nproxy - next);
	return 0;
}

/* Host bits clear, nothing after an IPv4 address, not IPv4-mapped. */
static int
ptab_check_proxy(const struct ptab_proxy_rec *x)
{
	struct addr	 a, m;
	size_t		 j;

	memset(&a, 0, sizeof(a));
	a.family = x->family;
	a.len = x->plen;
	memcpy(a.a, x->addr, sizeof(a.a));
	if (x->family == ADDR_V4) {
		for (j = 4; j < sizeof(x->addr); j++)
			if (x->addr[j] != 0)
				return -1;
	}
	m = a;
	addr_mask(&m);
	return memcmp(a.a, m.a, sizeof(a.a)) == 0 ? 0 : -1;
}

static int
ptab_proxy_order(const struct ptab_proxy_rec *x,
    const struct ptab_proxy_rec *y)
{
	int	 c;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if ((c = memcmp(x->addr, y->addr, sizeof(x->addr))) != 0)
		return c;
	return x->plen < y->plen ? -1 : x->plen > y->plen;
}

static int
ptab_check_rules(const struct ptab *t, char *err, size_t errlen)
{
	const struct ptab_rule_rec	*r;
	struct addr			 a, m;
	uint32_t			 i;
	size_t				 j;

	for (i = 0; i < t->nlists; i++)
		STRREF(t->lists[i].name, "list %u has a bad name reference",
		    i);
	for (i = 0; i < t->nlists; i++)
		STRLEN(t->lists[i].name, LIM_IDENT, "list %u's name", i);
	for (i = 0; i < t->nrules; i++) {
		r = &t->rules[i];
		if ((i == 0) != (r->kind == PTAB_RULE_DEFAULT))
			return ptab_bad(err, errlen, i == 0 ? "rule 0 is not "
			    "the default" : "rule %u is a second default", i);
		if (r->kind > PTAB_RULE_LIST)
			return ptab_bad(err, errlen, "rule %u has unknown kind "
			    "%u", i, r->kind);
		if (r->action > PTAB_ACT_DENY)
			return ptab_bad(err, errlen, "rule %u has unknown "
			    "action %u", i, r->action);
		if ((r->require & ~(PTAB_REQ_TLS | PTAB_REQ_AUTH)) != 0)
			return ptab_bad(err, errlen, "rule %u has unknown "
			    "require bits 0x%x", i, r->require);
		if ((r->flags & ~(PTAB_RULE_RELAY | PTAB_RULE_CLEARTEXT)) != 0)
			return ptab_bad(err, errlen, "rule %u has unknown "
			    "flag bits 0x%x", i, r->flags);
		if (r->kind == PTAB_RULE_LIST ? r->list >= t->nlists :
		    r->list != PTAB_NONE)
			return ptab_bad(err, errlen, "rule %u has a bad list "
			    "index %u", i, r->list);
		STRREF(r->as_user, "rule %u has a bad account reference", i);
		STRLEN(r->as_user, LIM_USERNAME, "rule %u's account name", i);
		if (r->pad[0] != 0 || r->pad[1] != 0)
			return ptab_bad(err, errlen, "nonzero padding in rule "
			    "%u", i);
		if (r->kind != PTAB_RULE_ADDR) {
			if (r->family != 0 || r->plen != 0)
				return ptab_bad(err, errlen, "rule %u has a "
				    "prefix but is not an address rule", i);
			for (j = 0; j < sizeof(r->prefix); j++)
				if (r->prefix[j] != 0)
					return ptab_bad(err, errlen, "rule %u "
					    "has a prefix but is not an "
					    "address rule", i);
			continue;
		}
		if ((r->family != ADDR_V4 && r->family != ADDR_V6) ||
		    r->plen > (r->family == ADDR_V4 ? 32 : 128))
			return ptab_bad(err, errlen, "rule %u has a bad "
			    "prefix", i);
		memset(&a, 0, sizeof(a));
		a.family = r->family;
		a.len = r->plen;
		memcpy(a.a, r->prefix, sizeof(a.a));
		m = a;
		addr_mask(&m);
		if (memcmp(a.a, m.a, sizeof(a.a)) != 0)
			return ptab_bad(err, errlen, "rule %u's prefix has "
			    "host bits set", i);
	}
	return 0;
}

/*
 * One pass over the v4 keys: each in range with host bits clear, the
 * order strict, the rule real (and, for an address rule, its own
 * prefix), the parent exactly the nearest enclosing prefix (a stack of
 * the open prefixes finds it), and the index counting the keys.
 */
static int
ptab_check_v4(const struct ptab *t, char *err, size_t errlen)
{
	const uint32_t			*keys = t->v4keys, *idx = t->v4index;
	const struct ptab_entry_rec	*ent = t->v4ent;
	const struct ptab_rule_rec	*r;
	uint32_t			 skey[33], smask[33], sidx[33];
	uint32_t			 n = t->nv4, nrules = t->nrules;
	uint32_t			 shift = t->v4shift, sp = 0, i, k, l;
	uint32_t			 rule, last = PTAB_NONE, pk = 0, pl = 0;
	uint32_t			 h = 0;
	uint32_t			 want, rk;

	/* Locals, not t->...: the compiler cannot prove they stay put. */
	for (i = 0; i < n; i++) {
		k = keys[i];
		l = PTAB_ENTRY_LEN(&ent[i]);
		rule = PTAB_ENTRY_RULE(&ent[i]);
		if (l > 32)
			return ptab_bad(err, errlen, "v4 prefix %u has length "
			    "%u", i, l);
		if ((k & ~ptab_mask32[l]) != 0)
			return ptab_bad(err, errlen, "v4 prefix %u has host "
			    "bits set", i);
		if (i > 0 && (k < pk || (k == pk && l <= pl)))
			return ptab_bad(err, errlen, "v4 prefix %u is out of "
			    "order", i);
		/* Runs of one list rule are common: check a rule once. */
		if (rule != last) {
			if (rule == 0 || rule >= nrules)
				return ptab_bad(err, errlen, "v4 prefix %u "
				    "names rule %u, which is not a host rule",
				    i, rule);
			last = rule;
		}
		r = &t->rules[rule];
		if (r->kind == PTAB_RULE_ADDR) {
			rk = (uint32_t)r->prefix[0] << 24 |
			    (uint32_t)r->prefix[1] << 16 |
			    (uint32_t)r->prefix[2] << 8 | r->prefix[3];
			if (r->family != ADDR_V4 || r->plen != l || rk != k)
				return ptab_bad(err, errlen, "v4 prefix %u is "
				    "not the prefix of its rule %u", i, rule);
		}
		while (sp > 0 && ((k ^ skey[sp - 1]) & smask[sp - 1]) != 0)
			sp--;
		want = sp > 0 ? sidx[sp - 1] : PTAB_NONE;
		if (ent[i].parent != want)
			return ptab_bad(err, errlen, "v4 prefix %u has the "
			    "wrong parent", i);
		if (sp == 33)
			return ptab_bad(err, errlen, "v4 prefixes nest too "
			    "deep");
		skey[sp] = k;
		smask[sp] = ptab_mask32[l];
		sidx[sp++] = i;
		for (; h <= ((k >> 16) >> shift); h++)
			if (idx[h] != i)
				return ptab_bad(err, errlen, "v4 index slot %u "
				    "is wrong", h);
		pk = k;
		pl = l;
	}
	for (; h <= (0xffffu >> shift) + 1; h++)
		if (idx[h] != n)
			return ptab_bad(err, errlen, "v4 index slot %u is "
			    "wrong", h);
	return 0;
}

static int
ptab_check_v6(const struct ptab *t, char *err, size_t errlen)
{
	const struct ptab_v6key		*keys = t->v6keys;
	const uint32_t			*idx = t->v6index;
	const struct ptab_entry_rec	*ent = t->v6ent;
	const struct ptab_rule_rec	*r;
	uint64_t			 shi[129], slo[129], mhi[129], mlo[129];
	uint64_t			 hi, lo, khi, klo, phi = 0, plo = 0;
	uint32_t			 sidx[129], n = t->nv6;
	uint32_t			 nrules = t->nrules;
	uint32_t			 shift = t->v6shift, sp = 0, i, l, rule;
	uint32_t			 last = PTAB_NONE, pl = 0, h = 0, want;
	size_t				 j;

	for (i = 0; i < n; i++) {
		khi = keys[i].hi;
		klo = keys[i].lo;
		l = PTAB_ENTRY_LEN(&ent[i]);
		rule = PTAB_ENTRY_RULE(&ent[i]);
		if (l > 128)
			return ptab_bad(err, errlen, "v6 prefix %u has length "
			    "%u", i, l);
		if ((khi & ~ptab_mask_hi(l)) != 0 ||
		    (klo & ~ptab_mask_lo(l)) != 0)
			return ptab_bad(err, errlen, "v6 prefix %u has host "
			    "bits set", i);
		if (i > 0 && (khi < phi || (khi == phi && (klo < plo ||
		    (klo == plo && l <= pl)))))
			return ptab_bad(err, errlen, "v6 prefix %u is out of "
			    "order", i);
		if (rule != last) {
			if (rule == 0 || rule >= nrules)
				return ptab_bad(err, errlen, "v6 prefix %u "
				    "names rule %u, which is not a host rule",
				    i, rule);
			last = rule;
		}
		r = &t->rules[rule];
		if (r->kind == PTAB_RULE_ADDR) {
			hi = lo = 0;
			for (j = 0; j < 8; j++) {
				hi = hi << 8 | r->prefix[j];
				lo = lo << 8 | r->prefix[8 + j];
			}
			if (r->family != ADDR_V6 || r->plen != l ||
			    hi != khi || lo != klo)
				return ptab_bad(err, errlen, "v6 prefix %u is "
				    "not the prefix of its rule %u", i, rule);
		}
		while (sp > 0 && (((khi ^ shi[sp - 1]) & mhi[sp - 1]) != 0 ||
		    ((klo ^ slo[sp - 1]) & mlo[sp - 1]) != 0))
			sp--;
		want = sp > 0 ? sidx[sp - 1] : PTAB_NONE;
		if (ent[i].parent != want)
			return ptab_bad(err, errlen, "v6 prefix %u has the "
			    "wrong parent", i);
		if (sp == 129)
			return ptab_bad(err, errlen, "v6 prefixes nest too "
			    "deep");
		shi[sp] = khi;
		slo[sp] = klo;
		mhi[sp] = ptab_mask_hi(l);
		mlo[sp] = ptab_mask_lo(l);
		sidx[sp++] = i;
		for (; h <= ((khi >> 48) >> shift); h++)
			if (idx[h] != i)
				return ptab_bad(err, errlen, "v6 index slot %u "
				    "is wrong", h);
		phi = khi;
		plo = klo;
		pl = l;
	}
	for (; h <= (0xffffu >> shift) + 1; h++)
		if (idx[h] != n)
			return ptab_bad(err, errlen, "v6 index slot %u is "
			    "wrong", h);
	return 0;
}

static int
ptab_check_users(const struct ptab *t, char *err, size_t errlen)
{
	const struct ptab_user_rec	*u;
	const char			*v;
	char				 why[LIM_ERRMSG];
	uint32_t			 i, k, next = 0, ref;

	for (i = 0; i < t->nusers; i++) {
		u = &t->users[i];
		STRREF(u->name, "user %u has a bad name reference", i);
		STRLEN(u->name, LIM_USERNAME, "user %u's name", i);
		STRREF(u->verifier, "user %u has a bad verifier reference", i);
		/*
		 * The verifier's own numbers (SCRAM iterations, argon2id
		 * memory, passes and lanes) are bounded as policyc
		 * bounds them: AUTH must not be told to allocate 4 GiB.
		 */
		v = t->str + u->verifier;
		if (verifier_check(v, strlen(v), why, sizeof(why)) < 0)
			return ptab_bad(err, errlen, "user %u (%s) has a bad "
			    "verifier: %s", i, t->str + u->name, why);
		if ((u->nsenders == 0 ? u->senders != 0 :
		    u->senders != next) || u->nsenders > t->nsenders - next)
			return ptab_bad(err, errlen, "user %u has a bad "
			    "sender range", i);
		for (k = 0; k < u->nsenders; k++) {
			ref = t->senders[next + k];
			STRREF(ref, "sender %u has a bad string reference",
			    next + k);
			if (ptab_check_sender(t->str + ref) == -1 ||
			    (k > 0 && strcmp(t->str + t->senders[next + k -
			    1], t->str + ref) >= 0))
				return ptab_bad(err, errlen, "sender %u of "
				    "user %u is malformed or out of order",
				    next + k, i);
		}
		next += u->nsenders;
		if (t->str[u->name] == '\0' || (i > 0 &&
		    strcmp(t->str + t->users[i - 1].name, t->str + u->name)
		    >= 0))
			return ptab_bad(err, errlen, "user %u is out of order",
			    i);
	}
	if (next != t->nsenders)
		return ptab_bad(err, errlen, "%u senders belong to no user",
		    t->nsenders - next);
	return 0;
}

/*
 * A sender as the writer stores it: lower case, "local@domain" or
 * "@domain", printable, no space.
 */
static int
ptab_check_sender(const char *p)
{
	const char	*at = strrchr(p, '@');
	size_t		 i;

	if (at == NULL || at[1] == '\0' || strlen(at + 1) > LIM_DOMAIN ||
	    (size_t)(at - p) > PTAB_RCPT_PARTMAX)
		return -1;
	for (i = 0; p[i] != '\0'; i++)
		if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f ||
		    (p[i] >= 'A' && p[i] <= 'Z'))
			return -1;
	return 0;
}

/* A stored local part: 1..64 bytes, printable, lower case. */
static int
ptab_check_local(const char *p, size_t n)
{
	size_t	 i;

	if (n == 0 || n > PTAB_RCPT_PARTMAX)
		return -1;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f ||
		    (unsigned char)p[i] >= 0x80 ||
		    (p[i] >= 'A' && p[i] <= 'Z'))
			return -1;
	return 0;
}

/*
 * Recipients lists: sorted by name, slot ranges back to back, sizes a
 * power of two at least twice the count, every part a valid string at
 * most maxprobe slots past its hash's home, and no part twice on its
 * probe path (which is where a repeat would have to sit).
 */
static int
ptab_check_rcpts(const struct ptab *t, char *err, size_t errlen)
{
	const struct ptab_rcpt_rec	*r;
	const uint32_t			*sl;
	const char			*p;
	uint32_t			 i, k, j, h, d, n, next = 0, mask;
	size_t				 len;

	for (i = 0; i < t->nrcpts; i++) {
		r = &t->rcpts[i];
		STRREF(r->name, "recipients list %u has a bad name "
		    "reference", i);
		if (t->str[r->name] == '\0' || (i > 0 &&
		    strcmp(t->str + t->rcpts[i - 1].name, t->str + r->name)
		    >= 0))
			return ptab_bad(err, errlen, "recipients list %u is "
			    "out of order", i);
		if (r->nslots == 0 || (r->nslots & (r->nslots - 1)) != 0 ||
		    r->nslots > PTAB_RCPT_MAXSLOTS ||
		    r->first != next || r->nslots > t->nrslots - next ||
		    r->count > r->nslots / 2 ||
		    r->maxprobe > PTAB_RCPT_MAXPROBE ||
		    r->maxprobe >= r->nslots)
			return ptab_bad(err, errlen, "recipients list %u has "
			    "a bad slot range or size", i);
		sl = t->rslots + r->first;
		mask = r->nslots - 1;
		/*
		 * Every slot's string first: the probe path of a slot wraps
		 * around the end, so the check below compares with slots
		 * after it too, and each must be known good before use.
		 */
		for (k = 0; k < r->nslots; k++)
			if (sl[k] != 0)
				STRREF(sl[k], "recipients slot %u has a bad "
				    "string reference", r->first + k);
		for (k = 0, n = 0; k < r->nslots; k++) {
			if (sl[k] == 0)
				continue;
			n++;
			p = t->str + sl[k];
			len = strlen(p);
			if (ptab_check_local(p, len) == -1)
				return ptab_bad(err, errlen, "recipients slot "
				    "%u is not a lower-case local part",
				    r->first + k);
			h = ptab_rcpt_hash(p, len) & mask;
			d = (k - h) & mask;
			if (d > r->maxprobe)
				return ptab_bad(err, errlen, "recipients slot "
				    "%u is %u slots from its home (at most "
				    "%u)", r->first + k, d, r->maxprobe);
			for (j = 0; j < d; j++) {
				if (sl[(h + j) & mask] == 0)
					return ptab_bad(err, errlen,
					    "recipients slot %u cannot be "
					    "reached", r->first + k);
				if (strcmp(t->str + sl[(h + j) & mask], p) ==
				    0)
					return ptab_bad(err, errlen,
					    "recipients slot %u repeats a "
					    "local part", r->first + k);
			}
		}
		if (n != r->count)
			return ptab_bad(err, errlen, "recipients list %u holds "
			    "%u local parts, not %u", i, n, r->count);
		next += r->nslots;
	}
	if (next != t->nrslots)
		return ptab_bad(err, errlen, "%u recipients slots belong to "
		    "no list", t->nrslots - next);
	return 0;
}

static int
ptab_check_domains(const struct ptab *t, const struct ptab_domain_rec *d,
    uint32_t n, int outbound, char *err, size_t errlen)
{
	const char	*what = outbound ? "outbound" : "accept";
	uint32_t	 i;

	for (i = 0; i < n; i++) {
		STRREF(d[i].domain, "%s %u has a bad domain reference", what,
		    i);
		STRREF(d[i].target, "%s %u has a bad target reference", what,
		    i);
		STRREF(d[i].user, "%s %u has a bad user reference", what, i);
		/* One more for the leading dot of a ".suffix". */
		STRLEN(d[i].domain, LIM_DOMAIN + 1, "%s %u's domain", what, i);
		STRLEN(d[i].user, LIM_USERNAME, "%s %u's user name", what, i);
		if (t->str[d[i].domain] == '\0' || (i > 0 &&
		    strcmp(t->str + d[i - 1].domain, t->str + d[i].domain)
		    >= 0))
			return ptab_bad(err, errlen, "%s %u is out of order",
			    what, i);
		if (outbound ? d[i].delivery != PTAB_DELIVER_RELAY :
		    (d[i].delivery != PTAB_DELIVER_MAILDIR &&
		    d[i].delivery != PTAB_DELIVER_FORWARD))
			return ptab_bad(err, errlen, "%s %u has bad delivery "
			    "%u", what, i, d[i].delivery);
		if (d[i].tls > PTAB_TLS_VERIFY)
			return ptab_bad(err, errlen, "%s %u has unknown tls "
			    "level %u", what, i, d[i].tls);
		if (d[i].mech > PTAB_MECH_SCRAM_SHA_256)
			return ptab_bad(err, errlen, "%s %u has unknown auth "
			    "mechanism %u", what, i, d[i].mech);
		if (d[i].pad[0] != 0 || d[i].pad[1] != 0)
			return ptab_bad(err, errlen, "nonzero padding in %s "
			    "%u", what, i);
		if ((outbound ? d[i].rcpts != PTAB_RCPTS_UNSET :
		    d[i].rcpts > PTAB_RCPTS_LIST) ||
		    (d[i].rcpts == PTAB_RCPTS_LIST ?
		    d[i].rcpt_list >= t->nrcpts :
		    d[i].rcpt_list != PTAB_NONE))
			return ptab_bad(err, errlen, "%s %u has a bad "
			    "recipients list", what, i);
		/* A maildir has no next hop: no port and no TLS. */
		if (d[i].delivery == PTAB_DELIVER_MAILDIR) {
			if (d[i].port != 0 || d[i].tls != PTAB_TLS_NONE)
				return ptab_bad(err, errlen, "%s %u delivers "
				    "to a maildir but has a port or a tls "
				    "level", what, i);
		} else
			RANGE(d[i].port, LIM_PORT, "%s %u has port %u, out "
			    "of range (%u to %u)", what, i, d[i].port,
			    LIM_PORT_MIN, LIM_PORT_MAX);
		/*
		 * Outbound auth is a mechanism, a user and a sealed
		 * password together, and only inside TLS; accept routes
		 * have none of it.
		 */
		if ((d[i].mech != PTAB_MECH_NONE) != (d[i].user != 0) ||
		    (d[i].mech != PTAB_MECH_NONE) !=
		    (d[i].secret != PTAB_NONE) ||
		    (!outbound && d[i].mech != PTAB_MECH_NONE))
			return ptab_bad(err, errlen, "%s %u has an incomplete "
			    "auth clause (mechanism %u, user, secret)", what,
			    i, d[i].mech);
		if (d[i].mech != PTAB_MECH_NONE &&
		    d[i].tls < PTAB_TLS_REQUIRED)
			return ptab_bad(err, errlen, "%s %u sends credentials "
			    "with tls level %u, below required", what, i,
			    d[i].tls);
		if (d[i].secret != PTAB_NONE && (d[i].secret_len == 0 ||
		    d[i].secret_len > SEAL_MAX_SEALED))
			return ptab_bad(err, errlen, "%s %u has a secret of "
			    "%u bytes, out of range (1 to %u)", what, i,
			    d[i].secret_len, (unsigned)SEAL_MAX_SEALED);
		if (d[i].secret == PTAB_NONE ? d[i].secret_len != 0 :
		    (d[i].secret > t->nblobs ||
		    t->nblobs - d[i].secret < d[i].secret_len))
			return ptab_bad(err, errlen, "%s %u has a secret "
			    "outside the blob section", what, i);
	}
	return 0;
}

#undef STRREF
#undef STRLEN
#undef RANGE

/* ---- Sealed secrets ------------------------------------------------------ */

int
ptab_open_secrets(const struct ptab *t, const struct seal_key *key,
    char *err, size_t errlen)
{
	const struct ptab_domain_rec	*d;
	char				 why[LIM_ERRMSG];
	char				 id[SEAL_KEYID_HEXLEN + 1];
	uint8_t				*out = NULL;
	uint32_t			 i;
	int				 rc = 0;

	for (i = 0; i < t->noutbound && rc == 0; i++) {
		d = &t->outbound[i];
		if (d->secret == PTAB_NONE)
			continue;
		if (key == NULL) {
			if (d->secret_len >= SEAL_KEYID_SIZE) {
				seal_keyid_hex(t->blobs + d->secret, id);
				snprintf(why, sizeof(why), "sealed for key "
				    "%s, but no key given", id);
			} else
				snprintf(why, sizeof(why), "no key given");
			rc = -1;
			break;
		}
		/* The secret's only copy outside the box: locked, wiped. */
		if (out == NULL &&
		    (out = sodium_malloc(SEAL_MAX_SECRET)) == NULL) {
			snprintf(why, sizeof(why), "out of memory");
			rc = -1;
			break;
		}
		if (seal_open(key, t->blobs + d->secret, d->secret_len, out,
		    SEAL_MAX_SECRET, why, sizeof(why)) < 0)
			rc = -1;
		else
			sodium_memzero(out, SEAL_MAX_SECRET);
	}
	if (out != NULL)
		sodium_free(out);
	if (rc == -1)
		return ptab_bad(err, errlen, "outbound route %s (line %u): "
		    "the password does not open: %s", ptab_str(t, d->domain),
		    d->line, why);
	return 0;
}

/* ---- Lookups ------------------------------------------------------------- */

const char *
ptab_str(const struct ptab *t, uint32_t off)
{
	if (t->str == NULL || off >= t->strsize)
		return "";
	return t->str + off;
}

/* Last key <= x, then up the parents to the first that contains x. */
static uint32_t
ptab_v4_lookup(const struct ptab *t, uint32_t x, uint32_t *entry)
{
	const struct ptab_entry_rec	*e;
	const uint32_t			*k;
	uint32_t			 lo, n, half, i, h;

	h = (x >> 16) >> t->v4shift;
	lo = t->v4index[h];
	n = t->v4index[h + 1] - lo;
	/*
	 * Branch-free search of the slot: the comparisons of a lookup of
	 * a random address are unpredictable, and a conditional move
	 * costs less than a mispredicted branch at every step.
	 */
	k = t->v4keys + lo;
	while (n > 1) {
		half = n >> 1;
		k = k[half] <= x ? k + half : k;
		n -= half;
	}
	/* The last key <= x; when none in the slot, the one before it. */
	i = (uint32_t)(k - t->v4keys);
	if (n == 0 || *k > x)
		i--;
	for (; i != PTAB_NONE; i = e->parent) {
		e = &t->v4ent[i];
		if (((t->v4keys[i] ^ x) &
		    ptab_mask32[PTAB_ENTRY_LEN(e)]) == 0) {
			*entry = i;
			return PTAB_ENTRY_RULE(e);
		}
	}
	*entry = PTAB_NONE;
	return 0;
}

static uint32_t
ptab_v6_lookup(const struct ptab *t, uint64_t xhi, uint64_t xlo,
    uint32_t *entry)
{
	const struct ptab_entry_rec	*e;
	const struct ptab_v6key		*k;
	uint32_t			 lo, hi, mid, i, l, h;

	h = (uint32_t)(xhi >> 48) >> t->v6shift;
	lo = t->v6index[h];
	hi = t->v6index[h + 1];
	while (lo < hi) {
		mid = lo + ((hi - lo) >> 1);
		k = &t->v6keys[mid];
		if (k->hi < xhi || (k->hi == xhi && k->lo <= xlo))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo - 1; lo > 0 && i != PTAB_NONE; i = e->parent) {
		e = &t->v6ent[i];
		k = &t->v6keys[i];
		l = PTAB_ENTRY_LEN(e);
		if (((k->hi ^ xhi) & ptab_mask_hi(l)) == 0 &&
		    ((k->lo ^ xlo) & ptab_mask_lo(l)) == 0) {
			*entry = i;
			return PTAB_ENTRY_RULE(e);
		}
	}
	*entry = PTAB_NONE;
	return 0;
}

uint32_t
ptab_host_lookup(const struct ptab *t, const struct addr *a, uint32_t *entry)
{
	static const uint8_t	 mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	const uint8_t		*p = a->a;
	uint32_t		 dummy, x;
	uint64_t		 hi, lo;
	size_t			 i;

	if (entry == NULL)
		entry = &dummy;
	*entry = PTAB_NONE;
	if (t->v4index == NULL)
		return 0;
	if (a->family == ADDR_V6 && memcmp(p, mapped, sizeof(mapped)) == 0)
		p += 12;
	else if (a->family == ADDR_V6) {
		hi = lo = 0;
		for (i = 0; i < 8; i++) {
			hi = hi << 8 | p[i];
			lo = lo << 8 | p[8 + i];
		}
		return ptab_v6_lookup(t, hi, lo, entry);
	} else if (a->family != ADDR_V4)
		return 0;
	x = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	return ptab_v4_lookup(t, x, entry);
}

void
ptab_entry_addr(const struct ptab *t, int family, uint32_t i,
    struct addr *out)
{
	const struct ptab_v6key	*k;
	uint32_t		 x;
	size_t			 j;

	memset(out, 0, sizeof(*out));
	if (family == ADDR_V4 && i < t->nv4) {
		x = t->v4keys[i];
		out->family = ADDR_V4;
		out->len = (uint8_t)PTAB_ENTRY_LEN(&t->v4ent[i]);
		out->a[0] = (uint8_t)(x >> 24);
		out->a[1] = (uint8_t)(x >> 16);
		out->a[2] = (uint8_t)(x >> 8);
		out->a[3] = (uint8_t)x;
	} else if (family == ADDR_V6 && i < t->nv6) {
		k = &t->v6keys[i];
		out->family = ADDR_V6;
		out->len = (uint8_t)PTAB_ENTRY_LEN(&t->v6ent[i]);
		for (j = 0; j < 8; j++) {
			out->a[j] = (uint8_t)(k->hi >> (56 - 8 * j));
			out->a[8 + j] = (uint8_t)(k->lo >> (56 - 8 * j));
		}
	}
}

/*
 * Compare the n bytes at k with the string s in strcmp order (bytes
 * unsigned, a proper prefix first), without reading s past its NUL.
 */
static int
ptab_keycmp(const char *k, size_t n, const char *s)
{
	size_t		 i;
	unsigned char	 a, b;

	for (i = 0; i < n; i++) {
		a = (unsigned char)k[i];
		b = (unsigned char)s[i];
		if (b == '\0' || a != b)
			return b == '\0' ? 1 : a < b ? -1 : 1;
	}
	return s[n] == '\0' ? 0 : -1;
}

static const struct ptab_domain_rec *
ptab_domain_find(const struct ptab *t, const struct ptab_domain_rec *d,
    uint32_t n, const char *k, size_t len)
{
	uint32_t	 lo = 0, hi = n, mid;
	int		 c;

	while (lo < hi) {
		mid = lo + ((hi - lo) >> 1);
		c = ptab_keycmp(k, len, t->str + d[mid].domain);
		if (c == 0)
			return &d[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Exact, then ".y.z" from the longest suffix, then "*". */
static const struct ptab_domain_rec *
ptab_domain_lookup(const struct ptab *t, const struct ptab_domain_rec *d,
    uint32_t n, const char *domain, size_t len)
{
	const struct ptab_domain_rec	*r;
	char				 buf[LIM_DOMAIN + 1] = { 0 };
	size_t				 i;

	if (n == 0)
		return NULL;
	/* No real domain is longer; such a name can only match "*". */
	if (domain != NULL && len <= LIM_DOMAIN) {
		for (i = 0; i < len; i++)
			buf[i] = (domain[i] >= 'A' && domain[i] <= 'Z') ?
			    (char)(domain[i] - 'A' + 'a') : domain[i];
		if ((r = ptab_domain_find(t, d, n, buf, len)) != NULL)
			return r;
		for (i = 1; i < len; i++)
			if (buf[i] == '.' &&
			    (r = ptab_domain_find(t, d, n, buf + i,
			    len - i)) != NULL)
				return r;
	}
	return ptab_domain_find(t, d, n, "*", 1);
}

const struct ptab_domain_rec *
ptab_accept_lookup(const struct ptab *t, const char *domain, size_t len)
{
	return ptab_domain_lookup(t, t->accept, t->naccept, domain, len);
}

const struct ptab_domain_rec *
ptab_outbound_lookup(const struct ptab *t, const char *domain, size_t len)
{
	return ptab_domain_lookup(t, t->outbound, t->noutbound, domain, len);
}

const struct ptab_user_rec *
ptab_user_lookup(const struct ptab *t, const char *name, size_t len)
{
	uint32_t	 lo = 0, hi = t->nusers, mid;
	int		 c;

	if (name == NULL && len > 0)
		return NULL;
	while (lo < hi) {
		mid = lo + ((hi - lo) >> 1);
		c = ptab_keycmp(name, len, t->str + t->users[mid].name);
		if (c == 0)
			return &t->users[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* ---- Recipients, senders, PROXY ------------------------------------------ */

static inline unsigned char
ptab_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

uint32_t
ptab_rcpt_hash(const char *local, size_t len)
{
	uint32_t	 h = 2166136261u;
	size_t		 i;

	for (i = 0; i < len; i++) {
		h ^= ptab_lower((unsigned char)local[i]);
		h *= 16777619u;
	}
	/* murmur3's finaliser: FNV's low bits alone cluster. */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* The n bytes at a, any case, equal the lower-case NUL-ended s? */
static int
ptab_ieq(const char *a, const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (s[i] == '\0' || ptab_lower((unsigned char)a[i]) !=
		    (unsigned char)s[i])
			return 0;
	return s[n] == '\0';
}

int
ptab_rcpt_in(const struct ptab *t, uint32_t i, const char *local,
    size_t len)
{
	const struct ptab_rcpt_rec	*r;
	const uint32_t			*sl;
	uint32_t			 h, k, mask;

	if (i >= t->nrcpts || len == 0 || len > PTAB_RCPT_PARTMAX)
		return 0;
	r = &t->rcpts[i];
	sl = t->rslots + r->first;
	mask = r->nslots - 1;
	h = ptab_rcpt_hash(local, len);
	for (k = 0; k <= r->maxprobe; k++) {
		if (sl[(h + k) & mask] == 0)
			return 0;
		if (ptab_ieq(local, t->str + sl[(h + k) & mask], len))
			return 1;
	}
	return 0;
}

int
ptab_rcpt_postmaster(const char *local, size_t len)
{
	return len == 10 && ptab_ieq(local, "postmaster", len);
}

int
ptab_rcpt_known(const struct ptab *t, const struct ptab_domain_rec *d,
    const char *local, size_t len)
{
	if (d->rcpts != PTAB_RCPTS_LIST)
		return 1;
	return ptab_rcpt_postmaster(local, len) ||
	    ptab_rcpt_in(t, d->rcpt_list, local, len);
}

int
ptab_sender_ok(const struct ptab *t, const struct ptab_user_rec *u,
    const char *addr, size_t len)
{
	const char	*s;
	size_t		 at;
	uint32_t	 k;

	if (u->nsenders == 0 || len == 0)
		return 1;
	for (at = len; at > 0 && addr[at - 1] != '@'; at--)
		;
	if (at == 0)
		return 0;		/* no domain: never one of ours */
	at--;
	for (k = 0; k < u->nsenders; k++) {
		s = t->str + t->senders[u->senders + k];
		if (s[0] == '@' ? ptab_ieq(addr + at, s, len - at) :
		    ptab_ieq(addr, s, len))
			return 1;
	}
	return 0;
}

int
ptab_listener_proxy(const struct ptab *t, const struct ptab_listener_rec *l,
    const struct addr *a)
{
	const struct ptab_proxy_rec	*x;
	struct addr			 c, m;
	uint32_t			 k;

	c = *a;
	addr_unmap(&c);
	for (k = 0; k < l->nproxy; k++) {
		x = &t->proxy[l->proxy_first + k];
		if (x->family != c.family)
			continue;
		m = c;
		m.len = x->plen;
		addr_mask(&m);
		if (memcmp(m.a, x->addr, x->family == ADDR_V4 ? 4 : 16) == 0)
			return 1;
	}
	return 0;
}
