/*
 * cmds: what policyc's subcommands share (see cmds.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cmds.h"

int
cmd_operands(int argc, char **argv, int want, const char *name,
    void (*usage)(FILE *), int *status)
{
	int	 a;

	for (a = 1; a < argc && argv[a][0] == '-' && argv[a][1] != '\0';
	    a++) {
		if (strcmp(argv[a], "--") == 0) {
			a++;
			break;
		}
		if (strcmp(argv[a], "-h") == 0 ||
		    strcmp(argv[a], "--help") == 0) {
			usage(stdout);
			*status = 0;
			return -1;
		}
		fprintf(stderr, "%s: %s: unknown option %s\n", progname, name,
		    argv[a]);
		usage(stderr);
		*status = EXIT_USAGE;
		return -1;
	}
	if (argc - a != want) {
		usage(stderr);
		*status = EXIT_USAGE;
		return -1;
	}
	return a;
}
