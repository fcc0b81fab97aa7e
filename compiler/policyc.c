/*
 * policyc: compile a bastion policy into a table, and the tools around
 * tables and secrets.  This file only reads the command line and hands
 * over: compile.c does the compiling, the cmd_* functions the rest.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cmds.h"
#include "compile.h"
#include "bastion_limits.h"
#include "ptab.h"

const char *progname = "policyc";

static void	usage(FILE *);
static char	*default_output(const char *);
static int	compile_main(int, char **);

static const struct {
	const char	*name;
	int		(*fn)(int, char **);
} subcommands[] = {
	{ "keygen",	cmd_keygen },
	{ "seal",	cmd_seal },
	{ "passwd",	cmd_passwd },
	{ "dump",	cmd_dump },
	{ "query",	cmd_query },
	{ "diff",	cmd_diff },
};

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: policyc [-o OUT] [-W error] [-k PUBKEY] FILE\n"
	    "       policyc -n [-W error] [-k PUBKEY] FILE\n"
	    "       policyc keygen PREFIX\n"
	    "       policyc seal PUBKEY < secret\n"
	    "       policyc passwd [-a scram-sha-256|argon2id] < password\n"
	    "       policyc dump TABLE\n"
	    "       policyc query TABLE ADDRESS|DOMAIN\n"
	    "       policyc diff OLD NEW\n");
}

int
main(int argc, char **argv)
{
	size_t	 i;

	if (sodium_init() < 0) {
		fprintf(stderr, "%s: cannot initialise libsodium\n", progname);
		return EXIT_USER;
	}
	if (argc >= 2) {
		if (strcmp(argv[1], "--version") == 0) {
			printf("policyc (%s) %s\n", PACKAGE_NAME,
			    PACKAGE_VERSION);
			return 0;
		}
		if (strcmp(argv[1], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]);
		    i++)
			if (strcmp(argv[1], subcommands[i].name) == 0)
				return subcommands[i].fn(argc - 1, argv + 1);
	}
	return compile_main(argc, argv);
}

/* FILE.policy -> FILE.ptab; FILE -> FILE.ptab. */
static char *
default_output(const char *in)
{
	const char	*slash, *dot;
	size_t		 stem;
	char		*out;

	slash = strrchr(in, '/');
	dot = strrchr(in, '.');
	stem = (dot != NULL && (slash == NULL || dot > slash + 1)) ?
	    (size_t)(dot - in) : strlen(in);
	if ((out = malloc(stem + sizeof(".ptab"))) == NULL)
		return NULL;
	memcpy(out, in, stem);
	memcpy(out + stem, ".ptab", sizeof(".ptab"));
	return out;
}

static int
compile_main(int argc, char **argv)
{
	struct compile_opts	 o;
	const char		*outpath = NULL;
	char			*defout = NULL;
	char			 err[LIM_ERRMSG];
	uint8_t			*img = NULL;
	size_t			 len = 0;
	int			 ch, check_only = 0, r;

	memset(&o, 0, sizeof(o));
	o.diag = stderr;
	opterr = 0;
	while ((ch = getopt(argc, argv, ":hno:W:k:")) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return 0;
		case 'n':
			check_only = 1;
			break;
		case 'o':
			outpath = optarg;
			break;
		case 'W':
			if (strcmp(optarg, "error") != 0) {
				fprintf(stderr, "%s: unknown -W option '%s' "
				    "(only -W error)\n", progname, optarg);
				return EXIT_USAGE;
			}
			o.werror = 1;
			break;
		case 'k':
			o.pubkey = optarg;
			break;
		case ':':
			fprintf(stderr, "%s: option -%c needs an argument\n",
			    progname, optopt);
			usage(stderr);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "%s: unknown option -%c\n", progname,
			    optopt);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1 || (check_only && outpath != NULL)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	r = compile_file(argv[optind], &o, check_only ? NULL : &img, &len);
	if (r != 0)
		return EXIT_USER;
	if (check_only)
		return 0;
	if (outpath == NULL) {
		if ((defout = default_output(argv[optind])) == NULL) {
			fprintf(stderr, "%s: out of memory\n", progname);
			free(img);
			return EXIT_USER;
		}
		outpath = defout;
	}
	r = ptab_write_file(outpath, img, len, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "%s: %s: %s\n", progname, outpath, err);
	free(img);
	free(defout);
	return r != 0 ? EXIT_USER : 0;
}
