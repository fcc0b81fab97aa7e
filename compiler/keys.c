/*
 * keys: policyc's subcommands for secrets.
 *   keygen PREFIX   the runtime's key pair, PREFIX.key (0600) and .pub
 *   seal PUBKEY     a secret from stdin, sealed to PUBKEY, as a token
 *   passwd [-a ALG] a password from stdin, as a verifier for `user`
 * Secrets and passwords are read with read(2) straight into memory
 * from sodium_malloc, never through stdio's buffers, and wiped before
 * that memory is freed.  From a terminal they are asked for twice,
 * with echo off.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "b64.h"
#include "cmds.h"
#include "fileio.h"
#include "bastion_limits.h"
#include "seal.h"
#include "verifier.h"

/*
 * The longest password passwd takes, bytes.  XXX belongs in
 * lib/limits.h (the runtime's AUTH PLAIN needs the same bound).
 */
#define KEYS_PASSWORD_MAX	1024

struct keys_sig {
	int			 sig;
	struct sigaction	 old;
};

static int	keys_getopt(int, char **, const char *);
static void	keys_usage(FILE *, const char *);
static int	keys_read(const char *, size_t, char **, size_t *);
static int	keys_read_tty(const char *, char *, size_t, size_t *, char *,
		    size_t);
static int	keys_line(const char *, char *, size_t, size_t, size_t *,
		    char *, size_t);
static void	keys_on_signal(int);

/*
 * The terminal's settings while echo is off, for the signal handler
 * to put back: the one piece of state a handler cannot be passed.
 */
static struct termios		keys_tio;
static volatile sig_atomic_t	keys_tio_saved;

static void
keys_usage(FILE *fp, const char *line)
{
	fprintf(fp, "usage: %s %s\n", progname, line);
}

/*
 * keygen and seal take no option but -h, which prints usage and exits
 * 0.  Returns -1 to go on, or the exit status.
 */
static int
keys_getopt(int argc, char **argv, const char *line)
{
	int	 ch;

	optind = 1;
	opterr = 0;
	while ((ch = getopt(argc, argv, ":h")) != -1) {
		if (ch == 'h') {
			keys_usage(stdout, line);
			return 0;
		}
		fprintf(stderr, "%s: unknown option -%c\n", progname, optopt);
		keys_usage(stderr, line);
		return EXIT_USAGE;
	}
	return -1;
}

int
cmd_keygen(int argc, char **argv)
{
	static const char	 line[] = "keygen PREFIX";
	struct seal_pub		 pub;
	char			 err[LIM_ERRMSG], path[4200];
	char			 hex[SEAL_KEYID_HEXLEN + 1];
	int			 r;

	if ((r = keys_getopt(argc, argv, line)) != -1)
		return r;
	if (argc - optind != 1) {
		keys_usage(stderr, line);
		return EXIT_USAGE;
	}
	if (seal_keygen(argv[optind], err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", progname, err);
		return EXIT_USER;
	}
	snprintf(path, sizeof(path), "%s.pub", argv[optind]);
	if (seal_pub_load(path, &pub, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", progname, err);
		return EXIT_USER;
	}
	seal_keyid_hex(pub.id, hex);
	printf("key %s: secret key in %s.key (keep it private), public key "
	    "in %s\n", hex, argv[optind], path);
	return 0;
}

int
cmd_seal(int argc, char **argv)
{
	static const char	 line[] = "seal PUBKEY < secret";
	struct seal_pub		 pub;
	char			 err[LIM_ERRMSG];
	char			 tok[sizeof(SEAL_TOKEN_PREFIX) +
				     B64_ENCODED_SIZE(SEAL_MAX_SEALED)];
	char			*secret = NULL;
	size_t			 len;
	int			 r;

	if ((r = keys_getopt(argc, argv, line)) != -1)
		return r;
	if (argc - optind != 1) {
		keys_usage(stderr, line);
		return EXIT_USAGE;
	}
	/* The key first: a wrong path should not cost typing a secret. */
	if (seal_pub_load(argv[optind], &pub, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", progname, err);
		return EXIT_USER;
	}
	if (keys_read("secret", SEAL_MAX_SECRET, &secret, &len) != 0)
		return EXIT_USER;
	r = seal_token(&pub, (const uint8_t *)secret, len, tok, sizeof(tok),
	    err, sizeof(err));
	sodium_memzero(secret, SEAL_MAX_SECRET + 2);
	sodium_free(secret);
	if (r != 0) {
		fprintf(stderr, "%s: %s\n", progname, err);
		return EXIT_USER;
	}
	printf("%s\n", tok);
	return fflush(stdout) == 0 ? 0 : EXIT_USER;
}

int
cmd_passwd(int argc, char **argv)
{
	static const char	 line[] =
	    "passwd [-a scram-sha-256|argon2id] < password";
	enum verifier_kind	 kind = VERIFIER_SCRAM_SHA_256;
	char			 v[VERIFIER_MAX + 1];
	char			*pw = NULL;
	size_t			 len;
	int			 ch, r;

	optind = 1;
	opterr = 0;
	while ((ch = getopt(argc, argv, ":ha:")) != -1) {
		switch (ch) {
		case 'h':
			keys_usage(stdout, line);
			return 0;
		case 'a':
			if (strcmp(optarg, "scram-sha-256") == 0)
				kind = VERIFIER_SCRAM_SHA_256;
			else if (strcmp(optarg, "argon2id") == 0)
				kind = VERIFIER_ARGON2ID;
			else {
				fprintf(stderr, "%s: unknown algorithm '%s' "
				    "(scram-sha-256 or argon2id)\n", progname,
				    optarg);
				keys_usage(stderr, line);
				return EXIT_USAGE;
			}
			break;
		case ':':
			fprintf(stderr, "%s: option -%c needs an argument\n",
			    progname, optopt);
			keys_usage(stderr, line);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "%s: unknown option -%c\n", progname,
			    optopt);
			keys_usage(stderr, line);
			return EXIT_USAGE;
		}
	}
	if (argc != optind) {
		keys_usage(stderr, line);
		return EXIT_USAGE;
	}
	if (keys_read("password", KEYS_PASSWORD_MAX, &pw, &len) != 0)
		return EXIT_USER;
	r = verifier_make(kind, pw, len, v, sizeof(v));
	sodium_memzero(pw, KEYS_PASSWORD_MAX + 2);
	sodium_free(pw);
	if (r != 0) {
		fprintf(stderr, "%s: cannot make a verifier (out of "
		    "memory?)\n", progname);
		return EXIT_USER;
	}
	printf("%s\n", v);
	return fflush(stdout) == 0 ? 0 : EXIT_USER;
}

/*
 * Read the secret or password (what) of at most cap bytes into
 * *out, cap + 2 bytes from sodium_malloc that the caller wipes and
 * frees.  From a terminal, ask twice with echo off.  Returns 0, or -1
 * with the reason printed.
 */
static int
keys_read(const char *what, size_t cap, char **out, size_t *len)
{
	char	 err[LIM_ERRMSG];
	char	*a, *b = NULL;
	size_t	 alen, blen;
	int	 rc = -1;

	*out = NULL;
	if ((a = sodium_malloc(cap + 2)) == NULL) {
		fprintf(stderr, "%s: out of locked memory\n", progname);
		return -1;
	}
	if (!isatty(STDIN_FILENO)) {
		if (fileio_read_fd(STDIN_FILENO, a, cap + 2, &alen) != 0) {
			snprintf(err, sizeof(err), "cannot read standard "
			    "input: %s", strerror(errno));
			goto fail;
		}
		if (keys_line(what, a, alen, cap, len, err, sizeof(err)) != 0)
			goto fail;
		*out = a;
		return 0;
	}
	if ((b = sodium_malloc(cap + 2)) == NULL) {
		snprintf(err, sizeof(err), "out of locked memory");
		goto fail;
	}
	if (keys_read_tty(what[0] == 's' ? "Secret: " : "Password: ", a,
	    cap + 2, &alen, err, sizeof(err)) != 0 ||
	    keys_line(what, a, alen, cap, len, err, sizeof(err)) != 0)
		goto fail;
	if (keys_read_tty("Again: ", b, cap + 2, &blen, err,
	    sizeof(err)) != 0 || keys_line(what, b, blen, cap, &blen, err,
	    sizeof(err)) != 0)
		goto fail;
	if (blen != *len || sodium_memcmp(a, b, blen) != 0) {
		snprintf(err, sizeof(err), "the two %ss do not match", what);
		goto fail;
	}
	*out = a;
	a = NULL;
	rc = 0;
fail:
	if (rc != 0)
		fprintf(stderr, "%s: %s\n", progname, err);
	if (a != NULL) {
		sodium_memzero(a, cap + 2);
		sodium_free(a);
	}
	if (b != NULL) {
		sodium_memzero(b, cap + 2);
		sodium_free(b);
	}
	return rc;
}

/*
 * One line from the terminal on stdin, echo off, prompt on stderr.
 * A signal while echo is off puts the terminal back before it acts.
 */
static int
keys_read_tty(const char *prompt, char *buf, size_t bufsz, size_t *total,
    char *err, size_t errlen)
{
	static const int	 sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct keys_sig		 old[sizeof(sigs) / sizeof(sigs[0])];
	struct sigaction	 sa;
	struct termios		 t;
	ssize_t			 r;
	size_t			 i;
	int			 rc = 0;

	if (tcgetattr(STDIN_FILENO, &keys_tio) != 0) {
		snprintf(err, errlen, "cannot read the terminal settings: %s",
		    strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = keys_on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		old[i].sig = sigs[i];
		sigaction(sigs[i], &sa, &old[i].old);
	}
	keys_tio_saved = 1;
	t = keys_tio;
	t.c_lflag &= ~(tcflag_t)ECHO;
	t.c_lflag |= ECHONL;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) != 0) {
		snprintf(err, errlen, "cannot turn echo off: %s",
		    strerror(errno));
		rc = -1;
		goto out;
	}
	if (write(STDERR_FILENO, prompt, strlen(prompt)) < 0) {
		/* No prompt is no reason to stop. */
	}
	*total = 0;
	while (*total < bufsz) {
		r = read(STDIN_FILENO, buf + *total, bufsz - *total);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			snprintf(err, errlen, "cannot read the terminal: %s",
			    strerror(errno));
			rc = -1;
			break;
		}
		if (r == 0)
			break;
		*total += (size_t)r;
		if (buf[*total - 1] == '\n')
			break;
	}
	/* A line too long for buf: drop the rest of it, unread. */
	if (*total == bufsz && buf[*total - 1] != '\n')
		tcflush(STDIN_FILENO, TCIFLUSH);
out:
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &keys_tio);
	keys_tio_saved = 0;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(old[i].sig, &old[i].old, NULL);
	return rc;
}

/* Put the terminal back, then die of the signal as we would have. */
static void
keys_on_signal(int sig)
{
	if (keys_tio_saved)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &keys_tio);
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * total bytes at buf as one line: strip one trailing newline, then it
 * must be 1..cap bytes with no newline or NUL left.
 */
static int
keys_line(const char *what, char *buf, size_t total, size_t cap,
    size_t *len, char *err, size_t errlen)
{
	size_t	 n = total;

	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > cap) {
		snprintf(err, errlen, "the %s is longer than %zu bytes", what,
		    cap);
		return -1;
	}
	if (memchr(buf, '\n', n) != NULL) {
		snprintf(err, errlen, "the %s must be a single line", what);
		return -1;
	}
	if (memchr(buf, '\0', n) != NULL) {
		snprintf(err, errlen, "the %s contains a NUL byte", what);
		return -1;
	}
	if (n == 0) {
		snprintf(err, errlen, "empty %s", what);
		return -1;
	}
	*len = n;
	return 0;
}
