/*
 * Helpers shared by the spool, maildir and plog unit tests: CHECK (from
 * check.h), a scratch directory that is removed at the end,
 * and small file helpers.  Header-only so that each test stays one
 * program.
 */
#ifndef SPOOL_TESTUTIL_H
#define SPOOL_TESTUTIL_H

/* nftw is an XSI function: include this header first. */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static int
tu_rm1(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		chmod(path, 0700);
	return remove(path) == -1 && errno != ENOENT ? -1 : 0;
}

/* rm -rf */
__attribute__((unused)) static void
tu_rmtree(const char *path)
{
	nftw(path, tu_rm1, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh scratch directory under $TMPDIR (or /tmp). */
__attribute__((unused)) static void
tu_mkdtemp(char *buf, size_t bufsz, const char *tag)
{
	const char	*t = getenv("TMPDIR");

	if (t == NULL || t[0] == '\0')
		t = "/tmp";
	snprintf(buf, bufsz, "%s/%s.XXXXXX", t, tag);
	if (mkdtemp(buf) == NULL) {
		printf("mkdtemp %s: %s\n", buf, strerror(errno));
		exit(99);
	}
}

/* Entries in a directory, "." and ".." aside; -1 if it cannot be read. */
__attribute__((unused)) static int
tu_count(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* The first entry's name in a directory, or "" if none. */
__attribute__((unused)) static void
tu_first(const char *dir, char *out, size_t outsz)
{
	struct dirent	*de;
	DIR		*d;

	out[0] = '\0';
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			snprintf(out, outsz, "%s", de->d_name);
			break;
		}
	closedir(d);
}

/* Read a whole file (up to max bytes) into buf; returns its length. */
__attribute__((unused)) static long
tu_read(const char *path, void *buf, size_t max)
{
	long	n = 0;
	ssize_t	r;
	int	fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return -1;
	while ((size_t)n < max && (r = read(fd, (char *)buf + n,
	    max - (size_t)n)) > 0)
		n += r;
	close(fd);
	return n;
}

__attribute__((unused)) static int
tu_write(const char *path, const void *buf, size_t len)
{
	int	fd, rc = 0;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		return -1;
	if (write(fd, buf, len) != (ssize_t)len)
		rc = -1;
	close(fd);
	return rc;
}

__attribute__((unused)) static int
tu_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, checks, failures);
	return failures == 0 ? 0 : 1;
}

#endif
