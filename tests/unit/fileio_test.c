/*
 * test_fileio: the whole-file reader the compiler, the key files and
 * the PEM loader share: its bounds (a regular file by its size, a pipe
 * in steps), the checks it makes on the open file (type, permission
 * bits, symbolic links), and what it says when it refuses.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "check.h"
#include "fileio.h"

static char	 dir[] = "/tmp/fileio_test.XXXXXX";


static const char	*path_in(const char *);
static void		 put(const char *, size_t, mode_t);
static void		 test_regular(void);
static void		 test_checks(void);
static void		 test_pipe(void);
static void		 test_fd(void);
static void		 test_mkdirs(void);

static const char *
path_in(const char *name)
{
	static char	 buf[256];

	snprintf(buf, sizeof(buf), "%s/%s", dir, name);
	return buf;
}

/* A file of n bytes ('a', 'b', ... cycling) with the given mode. */
static void
put(const char *name, size_t n, mode_t mode)
{
	char	*b;
	size_t	 i;
	int	 fd;

	if ((b = malloc(n + 1)) == NULL)
		abort();
	for (i = 0; i < n; i++)
		b[i] = (char)('a' + i % 26);
	fd = open(path_in(name), O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd == -1 || fileio_write_all(fd, b, n) != 0 ||
	    fchmod(fd, mode) != 0 || close(fd) != 0)
		abort();
	free(b);
}

static void
test_regular(void)
{
	struct fileio_data	 d;

	put("small", 10, 0644);
	CHECK(fileio_read_file(path_in("small"), 10, 0, 0, &d) == 0);
	CHECK(d.len == 10 && memcmp(d.buf, "abcdefghij", 10) == 0);
	CHECK(d.buf[10] == '\0');
	fileio_data_free(&d);
	CHECK(d.buf == NULL);

	/* One byte over the bound. */
	CHECK(fileio_read_file(path_in("small"), 9, 0, 0, &d) == -1);
	CHECK(d.fail == FILEIO_SIZE && errno == EFBIG && d.buf == NULL);

	/* Empty, and larger than one step of the pipe reader. */
	put("empty", 0, 0644);
	CHECK(fileio_read_file(path_in("empty"), 10, 0, 0, &d) == 0);
	CHECK(d.len == 0 && d.buf[0] == '\0');
	fileio_data_free(&d);
	put("big", 200000, 0644);
	CHECK(fileio_read_file(path_in("big"), 200000,
	    FILEIO_REGULAR | FILEIO_SECRET, 0, &d) == 0);
	CHECK(d.len == 200000 && d.buf[199999] == (char)('a' + 199999 % 26));
	fileio_data_free(&d);

	/* Locked memory, as for the runtime's secret key. */
	CHECK(fileio_read_file(path_in("small"), 64, FILEIO_LOCKED, 0,
	    &d) == 0);
	CHECK(d.len == 10 && memcmp(d.buf, "abcdefghij", 10) == 0);
	fileio_data_free(&d);
}

static void
test_checks(void)
{
	struct fileio_data	 d;

	CHECK(fileio_read_file(path_in("absent"), 10, 0, 0, &d) == -1);
	CHECK(d.fail == FILEIO_OPEN && errno == ENOENT);

	CHECK(fileio_read_file(dir, 10, 0, 0, &d) == -1);
	CHECK(d.fail == FILEIO_TYPE && errno == EISDIR);
	CHECK(fileio_read_file("/dev/null", 10, FILEIO_REGULAR, 0,
	    &d) == -1);
	CHECK(d.fail == FILEIO_TYPE && errno == EINVAL);
	/* Not asked to be regular: a device is read to its end. */
	CHECK(fileio_read_file("/dev/null", 10, 0, 0, &d) == 0);
	CHECK(d.len == 0);
	fileio_data_free(&d);

	put("open", 10, 0604);
	CHECK(fileio_read_file(path_in("open"), 10, 0, S_IRWXO, &d) == -1);
	CHECK(d.fail == FILEIO_MODE && errno == EACCES);
	CHECK(fileio_read_file(path_in("open"), 10, 0, S_IRWXG, &d) == 0);
	fileio_data_free(&d);

	/* path_in() has one buffer: the target is relative. */
	CHECK(symlink("small", path_in("link")) == 0);
	CHECK(fileio_read_file(path_in("link"), 10, FILEIO_NOFOLLOW, 0,
	    &d) == -1);
	CHECK(d.fail == FILEIO_OPEN && errno == ELOOP);
	CHECK(fileio_read_file(path_in("link"), 10, 0, 0, &d) == 0);
	fileio_data_free(&d);
}

/* A pipe has no size: read in steps, up to the bound and no further. */
static void
test_pipe(void)
{
	struct fileio_data	 d;
	const char		*fifo = path_in("fifo");
	size_t			 sizes[] = { 0, 5, 65536, 65537, 150000 };
	size_t			 i, max = 150000;
	pid_t			 pid;
	int			 st, fd;
	static char		 b[150001];

	memset(b, 'x', sizeof(b));
	CHECK(mkfifo(fifo, 0600) == 0);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]) + 1; i++) {
		size_t	 n = i < sizeof(sizes) / sizeof(sizes[0]) ?
			    sizes[i] : max + 1;

		if ((pid = fork()) == -1)
			abort();
		if (pid == 0) {
			if ((fd = open(fifo, O_WRONLY)) == -1 ||
			    fileio_write_all(fd, b, n) != 0)
				_exit(1);
			_exit(0);
		}
		if (n <= max) {
			CHECK(fileio_read_file(fifo, max, 0, 0, &d) == 0);
			CHECK(d.len == n);
			fileio_data_free(&d);
		} else {
			CHECK(fileio_read_file(fifo, max, 0, 0, &d) == -1);
			CHECK(d.fail == FILEIO_SIZE);
		}
		/* The writer may see EPIPE once the reader gave up. */
		waitpid(pid, &st, 0);
	}
}

static void
test_fd(void)
{
	char	 buf[8];
	size_t	 n;
	int	 fd;

	put("nine", 9, 0644);
	CHECK((fd = open(path_in("nine"), O_RDONLY)) != -1);
	CHECK(fileio_read_fd(fd, buf, sizeof(buf), &n) == 0 && n == 8);
	CHECK(fileio_read_fd(fd, buf, sizeof(buf), &n) == 0 && n == 1);
	CHECK(fileio_read_fd(fd, buf, sizeof(buf), &n) == 0 && n == 0);
	close(fd);
	CHECK(fileio_read_fd(-1, buf, sizeof(buf), &n) == -1 &&
	    errno == EBADF);
}

/* mkdir -p: every missing folder, 0700 whatever the umask. */
static void
test_mkdirs(void)
{
	struct stat	 st;
	char		 p[300];
	mode_t		 old = umask(0);

	snprintf(p, sizeof(p), "%s/m1//m2/m3/", dir);
	CHECK(fileio_mkdirs(p, (uid_t)-1, (gid_t)-1) == 0, "mkdirs %s", p);
	CHECK(stat(path_in("m1/m2/m3"), &st) == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mode & 07777) == 0700, "m1/m2/m3 made, 0700");
	CHECK(stat(path_in("m1"), &st) == 0 && (st.st_mode & 07777) == 0700,
	    "m1 made, 0700");
	CHECK(fileio_mkdirs(path_in("m1/m2"), (uid_t)-1, (gid_t)-1) == 0,
	    "folders that exist are fine");
	CHECK(fileio_mkdirs(path_in("small/x"), (uid_t)-1, (gid_t)-1) == -1 &&
	    errno == ENOTDIR, "a file on the way: ENOTDIR (%d)", errno);
	umask(old);
	rmdir(path_in("m1/m2/m3"));
	rmdir(path_in("m1/m2"));
	rmdir(path_in("m1"));
}

int
main(void)
{
	const char	*names[] = { "small", "empty", "big", "open", "link",
			    "fifo", "nine" };
	size_t		 i;

	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0) {
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_regular();
	test_checks();
	test_pipe();
	test_fd();
	test_mkdirs();
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(path_in(names[i]));
	rmdir(dir);
	return check_finish();
}
