/*
 * bastionctl: see and steer a running bastiond over its control socket
 * (ctl.h has the protocol: one request line, data lines, an end line).
 * The socket is named with -s, or found in the table bastiond runs
 * with (-t): its `control' path, else control.sock in its spool, both
 * taken from the table's folder when relative, as bastiond does.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bastion_limits.h"
#include "ctl.h"
#include "ptab.h"

#define EXIT_FAIL	1
#define EXIT_USAGE	2
#define READ_TIMEOUT_MS	60000

static void	usage(FILE *);
static int	check_command(int, char **);
static int	socket_from_table(const char *, char *, size_t);
static int	ask(const char *, const char *, int);

/* Each command and the words it takes. */
static const struct {
	const char	*name;
	int		 minargs, maxargs;
	const char	*option;	/* the one option it takes, or NULL */
	int		 id;		/* its argument is a queue id */
} commands[] = {
	{ "status",	0, 0, NULL, 0 },
	{ "queue",	0, 1, "-j", 0 },
	{ "show",	1, 1, NULL, 1 },
	{ "flush",	0, 1, NULL, 1 },
	{ "hold",	1, 1, NULL, 1 },
	{ "release",	1, 1, NULL, 1 },
	{ "remove",	1, 1, NULL, 1 },
	{ "bounce",	1, 1, NULL, 1 },
	{ "reload",	0, 0, NULL, 0 },
	{ "stats",	0, 1, "-p", 0 },
};

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: bastionctl [-s SOCKET | -t TABLE] COMMAND\n"
	    "commands: status | queue [-j] | show ID | flush [ID] | hold ID "
	    "| release ID\n"
	    "          | remove ID | bounce ID | reload | stats [-p]\n"
	    "       bastionctl --version\n");
}

/* Returns 0 if argv (the command and its words) is well formed. */
static int
check_command(int argc, char **argv)
{
	size_t	 i;
	int	 n = argc - 1;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[0], commands[i].name) != 0)
			continue;
		if (n < commands[i].minargs || n > commands[i].maxargs) {
			fprintf(stderr, "bastionctl: %s: wrong number of "
			    "arguments\n", argv[0]);
			return -1;
		}
		if (n == 1 && commands[i].option != NULL &&
		    strcmp(argv[1], commands[i].option) != 0) {
			fprintf(stderr, "bastionctl: %s: unknown option "
			    "\"%s\"\n", argv[0], argv[1]);
			return -1;
		}
		if (n == 1 && commands[i].id && (strlen(argv[1]) == 0 ||
		    strlen(argv[1]) > 64 || strspn(argv[1],
		    "0123456789abcdef") != strlen(argv[1]))) {
			fprintf(stderr, "bastionctl: %s: \"%s\" is not a "
			    "queue id\n", argv[0], argv[1]);
			return -1;
		}
		return 0;
	}
	fprintf(stderr, "bastionctl: unknown command \"%s\"\n", argv[0]);
	return -1;
}

/* The socket a table names, resolved as bastiond resolves it. */
static int
socket_from_table(const char *table, char *out, size_t outsz)
{
	struct ptab	 t;
	char		 real[PATH_MAX], tmp[PATH_MAX], base[PATH_MAX];
	char		 err[LIM_ERRMSG];
	const char	*p;
	int		 n;

	if (realpath(table, real) == NULL) {
		fprintf(stderr, "bastionctl: %s: %s\n", table, strerror(errno));
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s", real);
	snprintf(base, sizeof(base), "%s", dirname(tmp));
	if (ptab_open(&t, real, err, sizeof(err)) != 0) {
		fprintf(stderr, "bastionctl: %s: %s\n", table, err);
		return -1;
	}
	if (t.server->control != 0) {
		p = ptab_str(&t, t.server->control);
		n = p[0] == '/' ? snprintf(out, outsz, "%s", p) :
		    snprintf(out, outsz, "%s/%s", base, p);
	} else if (t.server->spool != 0) {
		p = ptab_str(&t, t.server->spool);
		n = p[0] == '/' ? snprintf(out, outsz, "%s/control.sock", p) :
		    snprintf(out, outsz, "%s/%s/control.sock", base, p);
	} else {
		fprintf(stderr, "bastionctl: %s: the table names no spool "
		    "and no control socket\n", table);
		ptab_close(&t);
		return -1;
	}
	ptab_close(&t);
	if (n < 0 || (size_t)n >= outsz) {
		fprintf(stderr, "bastionctl: %s: the socket's path is too "
		    "long\n", table);
		return -1;
	}
	return 0;
}

/*
 * Send the request, print the answer.  quiet_ok: the end line's text
 * is not printed (machine-read output: JSON lines, Prometheus).
 * Returns the exit status.
 */
static int
ask(const char *path, const char *req, int quiet_ok)
{
	struct sockaddr_un	 sun;
	struct pollfd		 pfd;
	char			 buf[CTL_LINE_MAX + 2];
	size_t			 len = 0, rl = strlen(req);
	ssize_t			 n;
	char			*lf;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "bastionctl: %s: the path is too long\n", path);
		return EXIT_FAIL;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "bastionctl: socket: %s\n", strerror(errno));
		return EXIT_FAIL;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int e = errno;
		if (e == ENOENT || e == ECONNREFUSED)
			fprintf(stderr, "bastionctl: %s: bastiond is not "
			    "running (%s)\n", path, strerror(e));
		else
			fprintf(stderr, "bastionctl: %s: %s\n", path,
			    strerror(e));
		close(fd);
		return EXIT_FAIL;
	}
	while (rl > 0) {
		n = write(fd, req, rl);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 && (errno == EPIPE || errno == ECONNRESET))
			break;	/* turned away: its answer says why */
		if (n <= 0) {
			fprintf(stderr, "bastionctl: %s: %s\n", path,
			    strerror(errno));
			close(fd);
			return EXIT_FAIL;
		}
		req += n;
		rl -= (size_t)n;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		while ((lf = memchr(buf, '\n', len)) != NULL) {
			*lf = '\0';
			if (strncmp(buf, "* ", 2) == 0)
				printf("%s\n", buf + 2);
			else if (strncmp(buf, "OK", 2) == 0 &&
			    (buf[2] == '\0' || buf[2] == ' ')) {
				if (buf[2] == ' ' && buf[3] != '\0' &&
				    !quiet_ok)
					printf("%s\n", buf + 3);
				close(fd);
				return fflush(stdout) == 0 ? 0 : EXIT_FAIL;
			} else if (strncmp(buf, "NO ", 3) == 0) {
				fflush(stdout);
				fprintf(stderr, "bastionctl: %s\n", buf + 3);
				close(fd);
				return EXIT_FAIL;
			} else {
				fprintf(stderr, "bastionctl: a line bastiond "
				    "should not send: %.80s\n", buf);
				close(fd);
				return EXIT_FAIL;
			}
			len -= (size_t)(lf + 1 - buf);
			memmove(buf, lf + 1, len);
		}
		if (len == sizeof(buf)) {
			fprintf(stderr, "bastionctl: an answer line too long\n");
			close(fd);
			return EXIT_FAIL;
		}
		if (poll(&pfd, 1, READ_TIMEOUT_MS) == 0) {
			fprintf(stderr, "bastionctl: %s: no answer in %d s\n",
			    path, READ_TIMEOUT_MS / 1000);
			close(fd);
			return EXIT_FAIL;
		}
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			fflush(stdout);
			fprintf(stderr, "bastionctl: %s: the answer stopped "
			    "short%s%s\n", path, n == -1 ? ": " : "",
			    n == -1 ? strerror(errno) : "");
			close(fd);
			return EXIT_FAIL;
		}
		len += (size_t)n;
	}
}

int
main(int argc, char **argv)
{
	const char	*sock = NULL, *table = NULL;
	char		 path[PATH_MAX], req[CTL_REQ_MAX];
	size_t		 rl = 0;
	int		 ch, i, n;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("bastionctl (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	/* "+": options end at the command (queue -j is the command's). */
	while ((ch = getopt(argc, argv, "+hs:t:")) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return 0;
		case 's':
			sock = optarg;
			break;
		case 't':
			table = optarg;
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || (sock != NULL && table != NULL) ||
	    (sock == NULL && table == NULL)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (check_command(argc, argv) != 0)
		return EXIT_USAGE;
	for (i = 0; i < argc; i++) {
		n = snprintf(req + rl, sizeof(req) - rl, "%s%s", i ? " " : "",
		    argv[i]);
		if (n < 0 || (size_t)n >= sizeof(req) - rl - 1) {
			fprintf(stderr, "bastionctl: the request is too long\n");
			return EXIT_USAGE;
		}
		rl += (size_t)n;
	}
	req[rl++] = '\n';
	req[rl] = '\0';
	if (table != NULL) {
		if (socket_from_table(table, path, sizeof(path)) != 0)
			return EXIT_FAIL;
		sock = path;
	}
	return ask(sock, req, argc == 2 && argv[1][0] == '-');
}
