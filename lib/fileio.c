/*
 * fileio: whole reads and writes (see fileio.h).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "fileio.h"

/* The first step when the size of what is read is not known. */
#define FILEIO_STEP	65536

static void	*fileio_alloc(size_t, int);
static void	 fileio_release(void *, size_t, int);
static int	 fileio_fail(struct fileio_data *, enum fileio_fail, int);

int
fileio_mkdirs(const char *path, uid_t uid, gid_t gid)
{
	char	 buf[PATH_MAX];
	char	*slash;
	size_t	 n;

	if ((n = strlen(path)) == 0 || n >= sizeof(buf)) {
		errno = n == 0 ? ENOENT : ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	/* Each prefix that ends a component, then the whole path. */
	for (slash = buf + 1; slash != NULL; ) {
		if ((slash = strchr(slash, '/')) != NULL)
			*slash = '\0';
		if (buf[strlen(buf) - 1] == '/')
			;	/* "a//b": "a" was made already */
		else if (mkdir(buf, 0700) == 0) {
			if (uid != (uid_t)-1 && chown(buf, uid, gid) == -1)
				return -1;
		} else if (errno != EEXIST)
			return -1;
		if (slash != NULL)
			*slash++ = '/';
	}
	return 0;
}

int
fileio_write_all(int fd, const void *buf, size_t len)
{
	const unsigned char	*p = buf;
	ssize_t			 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
fileio_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	unsigned char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = pread(fd, p, len, (off_t)off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int
fileio_read_fd(int fd, void *buf, size_t bufsz, size_t *lenp)
{
	unsigned char	*p = buf;
	ssize_t		 n;

	*lenp = 0;
	while (*lenp < bufsz) {
		n = read(fd, p + *lenp, bufsz - *lenp);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		*lenp += (size_t)n;
	}
	return 0;
}

/* size bytes for a buffer read with flags; NULL when out of memory. */
static void *
fileio_alloc(size_t size, int flags)
{
	if (flags & FILEIO_LOCKED)
		return sodium_malloc(size);
	return malloc(size);
}

/* Give back what fileio_alloc(size, flags) gave, wiped if secret. */
static void
fileio_release(void *p, size_t size, int flags)
{
	if (p == NULL)
		return;
	if (flags & (FILEIO_SECRET | FILEIO_LOCKED))
		sodium_memzero(p, size);
	if (flags & FILEIO_LOCKED)
		sodium_free(p);
	else
		free(p);
}

/* Record why, keeping errno e across the cleanup; returns -1. */
static int
fileio_fail(struct fileio_data *d, enum fileio_fail why, int e)
{
	d->fail = why;
	errno = e;
	return -1;
}

int
fileio_read_file(const char *path, size_t max, int flags, unsigned deny,
    struct fileio_data *d)
{
	struct stat	 st;
	char		*buf = NULL, *nb;
	size_t		 len = 0, n, cap;
	int		 fd, e, regular;

	d->buf = NULL;
	d->len = 0;
	d->flags = flags;
	d->fail = FILEIO_OK;
	if (max >= SIZE_MAX / 2)
		max = SIZE_MAX / 2 - 1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    ((flags & FILEIO_NOFOLLOW) ? O_NOFOLLOW : 0))) == -1)
		return fileio_fail(d, FILEIO_OPEN, errno);
	if (fstat(fd, &st) == -1) {
		e = errno;
		close(fd);
		return fileio_fail(d, FILEIO_STAT, e);
	}
	regular = S_ISREG(st.st_mode);
	if (S_ISDIR(st.st_mode) || (!regular && (flags & FILEIO_REGULAR))) {
		close(fd);
		return fileio_fail(d, FILEIO_TYPE,
		    S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
	}
	if ((st.st_mode & deny) != 0) {
		close(fd);
		return fileio_fail(d, FILEIO_MODE, EACCES);
	}
	if (regular && (st.st_size < 0 || (uintmax_t)st.st_size > max)) {
		close(fd);
		return fileio_fail(d, FILEIO_SIZE, EFBIG);
	}
	/* A pipe or a device has no size: read it in steps, bounded. */
	if (regular)
		cap = (size_t)st.st_size + 1;
	else
		cap = max < FILEIO_STEP ? max + 1 : FILEIO_STEP;
	if ((buf = fileio_alloc(cap + 1, flags)) == NULL) {
		close(fd);
		return fileio_fail(d, FILEIO_NOMEM, ENOMEM);
	}
	for (;;) {
		if (fileio_read_fd(fd, buf + len, cap - len, &n) == -1) {
			e = errno;
			goto fail_read;
		}
		len += n;
		if (len < cap)
			break;
		if (regular) {
			d->fail = FILEIO_CHANGED;
			e = EAGAIN;
			goto fail;
		}
		if (cap > max) {
			d->fail = FILEIO_SIZE;
			e = EFBIG;
			goto fail;
		}
		n = cap > max / 2 ? max + 1 : cap * 2;
		if ((nb = fileio_alloc(n + 1, flags)) == NULL) {
			d->fail = FILEIO_NOMEM;
			e = ENOMEM;
			goto fail;
		}
		memcpy(nb, buf, len);
		fileio_release(buf, cap + 1, flags);
		buf = nb;
		cap = n;
	}
	close(fd);
	buf[len] = '\0';
	d->buf = buf;
	d->len = len;
	return 0;
fail_read:
	d->fail = FILEIO_READ;
fail:
	fileio_release(buf, cap + 1, flags);
	close(fd);
	errno = e;
	return -1;
}

void
fileio_data_free(struct fileio_data *d)
{
	if (d->buf == NULL)
		return;
	/* The buffer may be larger than len + 1; its tail was never used. */
	fileio_release(d->buf, d->len + 1, d->flags);
	d->buf = NULL;
	d->len = 0;
}
