/*
 * fileio: whole reads and writes on file descriptors, through EINTR and
 * short counts, for everything that writes durable files (tables, keys,
 * the spool, Maildirs) so that the loop is written once.
 */
#ifndef BASTION_FILEIO_H
#define BASTION_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* write(2) all len bytes.  Returns 0, or -1 with errno (EIO: wrote 0). */
int	fileio_write_all(int fd, const void *buf, size_t len)
	    __attribute__((warn_unused_result));

/* pread(2) all len bytes at off.  Returns 0, or -1 (EIO: file too short). */
int	fileio_pread_all(int fd, void *buf, size_t len, uint64_t off)
	    __attribute__((warn_unused_result));

#endif
