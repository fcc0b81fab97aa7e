/*
 * fileio: whole reads and writes (see fileio.h).
 */
#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <unistd.h>

#include "fileio.h"

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
