/*
 * bastiond: the SMTP gateway's runtime.  One process, one thread, one
 * event loop (server.h): this file reads the command line and runs the
 * server.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "bastion_limits.h"
#include "server.h"

#define EXIT_USER	1
#define EXIT_USAGE	2

static void	usage(FILE *);

static struct server	 server;

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: bastiond -t TABLE [-k KEY] [-f] [-v] [-n]\n"
	    "       bastiond --version\n");
}

int
main(int argc, char **argv)
{
	struct server	*srv = &server;
	const char	*tablepath = NULL, *keypath = NULL;
	char		 err[LIM_ERRMSG + PATH_MAX];
	int		 ch, check = 0, foreground = 0, verbose = 0, rc;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("bastiond (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	while ((ch = getopt(argc, argv, "ht:k:fvn")) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return 0;
		case 't':
			tablepath = optarg;
			break;
		case 'k':
			keypath = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'n':
			check = 1;
			foreground = 1;
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (tablepath == NULL || optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (server_init(srv, foreground, verbose, err, sizeof(err)) != 0 ||
	    server_load(srv, tablepath, keypath, err, sizeof(err)) != 0) {
		oplog_write(&srv->oplog, LOG_ERR, "%s", err);
		return EXIT_USER;
	}
	if (check) {
		server_describe(srv, tablepath, stdout);
		return 0;
	}
	if (server_start(srv, err, sizeof(err)) != 0) {
		oplog_write(&srv->oplog, LOG_ERR, "%s", err);
		return EXIT_USER;
	}
	/* The loop failing is fatal, and logged: not a clean stop. */
	rc = server_run(srv);
	server_free(srv);
	return rc == 0 ? 0 : EXIT_USER;
}
