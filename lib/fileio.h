/*
 * fileio: whole reads and writes on file descriptors, through EINTR and
 * short counts, for everything that writes durable files (tables, keys,
 * the spool, Maildirs) or reads a whole one (policies, list files, PEM
 * and key files, a secret on standard input) so that each loop is
 * written once.
 */
#ifndef BASTION_FILEIO_H
#define BASTION_FILEIO_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

/* write(2) all len bytes.  Returns 0, or -1 with errno (EIO: wrote 0). */
int	fileio_write_all(int fd, const void *buf, size_t len)
	    __attribute__((warn_unused_result));

/* pread(2) all len bytes at off.  Returns 0, or -1 (EIO: file too short). */
int	fileio_pread_all(int fd, void *buf, size_t len, uint64_t off)
	    __attribute__((warn_unused_result));

/*
 * read(2) fd to its end or until bufsz bytes are in buf; *lenp gets the
 * count (bufsz: there may be more).  Returns 0, or -1 with errno.
 */
int	fileio_read_fd(int fd, void *buf, size_t bufsz, size_t *lenp)
	    __attribute__((warn_unused_result));

/*
 * mkdir -p: create each missing folder of path, path itself included,
 * mode 0700 (whatever the umask leaves of it), and give each one made
 * here to uid:gid unless uid is (uid_t)-1, so that an account the
 * process switches to later can still reach what is inside.  Folders
 * that exist are left as they are.  Returns 0, or -1 with errno.
 */
int	fileio_mkdirs(const char *path, uid_t uid, gid_t gid)
	    __attribute__((warn_unused_result));

/* How fileio_read_file() opens and checks a file (flags). */
#define FILEIO_REGULAR	0x01	/* a regular file only (else: not a
				 * directory; pipes are read in steps) */
#define FILEIO_NOFOLLOW	0x02	/* refuse a symbolic link (ELOOP) */
#define FILEIO_SECRET	0x04	/* wipe every buffer before it is freed */
#define FILEIO_LOCKED	0x08	/* buffers from sodium_malloc (locked,
				 * guarded; after sodium_init()); implies
				 * FILEIO_SECRET */

/*
 * Why fileio_read_file() failed, so that each caller can say it in its
 * own words; errno is set as well (EISDIR or EINVAL, EACCES, EFBIG,
 * EAGAIN, ENOMEM for the ones that are not a system call's).
 */
enum fileio_fail {
	FILEIO_OK = 0,
	FILEIO_OPEN,		/* open(2) failed */
	FILEIO_STAT,		/* fstat(2) failed */
	FILEIO_READ,		/* read(2) failed */
	FILEIO_TYPE,		/* a directory, or not a regular file */
	FILEIO_MODE,		/* a permission bit in deny is set */
	FILEIO_SIZE,		/* more than max bytes */
	FILEIO_CHANGED,		/* a regular file grew while being read */
	FILEIO_NOMEM		/* out of (locked) memory */
};

/* A whole file: len bytes at buf, followed by a NUL. */
struct fileio_data {
	char			*buf;
	size_t			 len;
	int			 flags;		/* as it was read */
	enum fileio_fail	 fail;		/* after -1 */
};

/*
 * Read the file at path, at most max bytes, into d.  A file whose
 * permission bits meet deny (e.g. S_IRWXO for a private key) is
 * refused after fstat(2) on the open file, so that it cannot be swapped
 * after the check.  A regular file is read in one buffer of its size,
 * and one byte more than that is asked for so that growth is caught.
 * Returns 0, or -1 with d->fail and errno; d->buf is NULL then.
 */
int	fileio_read_file(const char *path, size_t max, int flags,
	    unsigned deny, struct fileio_data *d)
	    __attribute__((warn_unused_result));

/* Free d->buf (wiped first if it was read as a secret); d may be empty. */
void	fileio_data_free(struct fileio_data *d);

#endif
