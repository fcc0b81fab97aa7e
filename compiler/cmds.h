/*
 * cmds: policyc's subcommands.  Each takes the arguments after its
 * name (argv[0] is the subcommand) and returns the exit status:
 * 0 success, 1 user error (bad file, bad input), 2 bad usage.
 */
#ifndef BASTION_CMDS_H
#define BASTION_CMDS_H

#include <stdio.h>

#define EXIT_USER	1
#define EXIT_USAGE	2

int	cmd_keygen(int argc, char **argv)
	    __attribute__((warn_unused_result));	/* keys.c */
int	cmd_seal(int argc, char **argv)
	    __attribute__((warn_unused_result));	/* keys.c */
int	cmd_passwd(int argc, char **argv)
	    __attribute__((warn_unused_result));	/* keys.c */
int	cmd_dump(int argc, char **argv)
	    __attribute__((warn_unused_result));	/* dump.c */
int	cmd_query(int argc, char **argv)
	    __attribute__((warn_unused_result));	/* query.c */
int	cmd_diff(int argc, char **argv)
	    __attribute__((warn_unused_result));	/* diff.c */

/*
 * The operands of a subcommand that takes no option but -h: returns
 * the index of the first of exactly want operands, or -1 with the exit
 * status in *status (0 after -h, EXIT_USAGE otherwise, usage printed).
 */
int	cmd_operands(int argc, char **argv, int want, const char *name,
	    void (*usage)(FILE *), int *status)
	    __attribute__((warn_unused_result));

/* The program name for messages ("policyc"). */
extern const char *progname;

#endif
