/*
 * cmds: policyc's subcommands.  Each takes the arguments after its
 * name (argv[0] is the subcommand) and returns the exit status:
 * 0 success, 1 user error (bad file, bad input), 2 bad usage.
 */
#ifndef BASTION_CMDS_H
#define BASTION_CMDS_H

#define EXIT_USER	1
#define EXIT_USAGE	2

int	cmd_keygen(int argc, char **argv);	/* keys.c */
int	cmd_seal(int argc, char **argv);	/* keys.c */
int	cmd_passwd(int argc, char **argv);	/* keys.c */
int	cmd_dump(int argc, char **argv);	/* dump.c */
int	cmd_query(int argc, char **argv);	/* query.c */
int	cmd_diff(int argc, char **argv);	/* diff.c */

/* The program name for messages ("policyc"). */
extern const char *progname;

#endif
