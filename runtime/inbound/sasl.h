/*
 * sasl: the server side of SMTP AUTH (RFC 4954), one small state
 * machine per session, in fixed buffers: PLAIN (RFC 4616), LOGIN
 * (draft-murchison-sasl-login) and SCRAM-SHA-256 (RFC 5802, 7677;
 * the exchange itself is lib/scram.h's server role).
 *
 * The session feeds it the AUTH command's mechanism and initial
 * response, then each line the client sends while the exchange runs,
 * and gets back what to do and the reply line to send (without CRLF):
 *
 *	SASL_CHALLENGE	send the reply ("334 ..."), feed the next line
 *			to sasl_step()
 *	SASL_VERIFY	PLAIN or LOGIN gave a user name and password:
 *			check them with pwcheck_start(), passing
 *			sasl_verifier() (NULL for a user that does not
 *			exist: pwcheck_start_unknown() does a known
 *			user's work, then "no match") and sasl_password() (which pwcheck_start
 *			wipes); on its callback, call sasl_verified()
 *	SASL_OK		"235 2.7.0 Authentication successful"; the
 *			user is sasl_user()
 *	SASL_FAIL	wrong credentials: "535 5.7.8 ..." (count it
 *			towards the auth-failure limit, delay the reply)
 *	SASL_BAD	the exchange is over without a verdict: cancelled
 *			by the client ("*": 501 5.7.0), undecodable or
 *			malformed input (501 5.5.2), an unknown or
 *			disabled mechanism (504 5.5.4), a line too long
 *			(500 5.5.6)
 *	SASL_TEMP	we could not check (the verifier child is gone):
 *			"454 4.7.0 Temporary authentication failure"
 * After SASL_OK, SASL_FAIL, SASL_BAD and SASL_TEMP the machine is idle
 * again (sasl_user() stays valid until the next start or reset).
 * A return of -1 is a caller bug (wrong state, reply buffer smaller
 * than SASL_REPLY_MAX); nothing is to be sent then but the session's
 * own "451 4.3.0" if it likes.
 *
 * Decisions worth knowing:
 *  - SCRAM's server-final message ("v=...") is sent as a last 334
 *    challenge, to which the client answers with an empty line, and
 *    only then 235.  RFC 4422 section 5 leaves "additional data with
 *    success" to each protocol, and this is the form every SMTP SASL
 *    client handles (a client library that would accept the data in
 *    the 235 also handles it as a challenge); Dovecot's submission
 *    service does the same.  A client that sends "*" there cancels,
 *    anything else is malformed.
 *  - No user enumeration: an unknown user gets the same replies after
 *    the same work as a wrong password.  PLAIN and LOGIN go through
 *    verify with a NULL verifier; SCRAM answers with a mock verifier
 *    whose salt is a keyed hash of the name under the per-process
 *    secret in struct sasl_ctx (scram_verifier_mock), so it is the
 *    same on every attempt, with the iteration count and salt length
 *    of the table's SCRAM users (sasl_set_model).  A user whose verifier is argon2id cannot
 *    do SCRAM (the server would need StoredKey): the exchange runs
 *    against a mock verifier and ends in 535 like a wrong password.
 *  - PLAIN's authzid must be empty or equal to the authcid; otherwise
 *    535 (without looking the user up: nothing is learnt from it).
 *    SCRAM's "a=" is refused by lib/scram (501).
 *  - Bounds, all here: a line of at most SASL_LINE_MAX bytes (RFC
 *    4954's 12288, the same constant the line reader uses), and per
 *    mechanism a decoded message of at most: PLAIN 2 * LIM_USERNAME +
 *    PWCHECK_PW_MAX + 2, LOGIN LIM_USERNAME or PWCHECK_PW_MAX, SCRAM
 *    SCRAM_MSG_MAX.  Base64 longer than that is refused before it is
 *    decoded (500 5.5.6).  Decoding happens into a stack buffer that
 *    is wiped before return.
 *  - Mechanism names are matched without regard to case (RFC 4954).
 */
#ifndef BASTION_SASL_H
#define BASTION_SASL_H

#include <stddef.h>
#include <stdint.h>

#include "b64.h"
#include "bastion_limits.h"
#include "scram.h"
#include "smtp_proto.h"
#include "pwcheck.h"

/* Mechanisms: the same numbers as enum ptab_mech in lib/ptab.h. */
#define SASL_MECH_PLAIN		1
#define SASL_MECH_LOGIN		2
#define SASL_MECH_SCRAM		3
#define SASL_MECHBIT(m)		(1u << (m))
#define SASL_MECHS_ALL		(SASL_MECHBIT(SASL_MECH_PLAIN) | \
				    SASL_MECHBIT(SASL_MECH_LOGIN) | \
				    SASL_MECHBIT(SASL_MECH_SCRAM))

/* The longest client line during AUTH, without CRLF (RFC 4954 4). */
#define SASL_LINE_MAX		(SMTP_AUTH_LINE_MAX - 2)
/* The longest decoded client message of any mechanism. */
#define SASL_MSG_MAX		SCRAM_MSG_MAX
/* Room the caller gives for a reply line ("334 " + base64 + NUL). */
#define SASL_REPLY_MAX		(4 + B64_ENCODED_SIZE(SCRAM_MSG_MAX))

enum sasl_status {
	SASL_CHALLENGE = 1,
	SASL_VERIFY,
	SASL_OK,
	SASL_FAIL,
	SASL_BAD,
	SASL_TEMP
};

/*
 * Per process: the secret that makes mock SCRAM salts.  Fill it with
 * sasl_ctx_init() once at start; it may live in sodium_malloc'd memory.
 */
struct sasl_ctx {
	uint8_t		 secret[SCRAM_KEY_SIZE];
};

/*
 * The session's verifier lookup: the verifier string of user (userlen
 * bytes, NUL-terminated) with its length in *vlen, or NULL if there is
 * no such user.  The string must stay valid while the session lives.
 */
typedef const char *sasl_lookup_fn(void *arg, const char *user,
	    size_t userlen, size_t *vlen);

/* Per session.  Caller-allocated; fields are private. */
struct sasl {
	const struct sasl_ctx	*ctx;
	sasl_lookup_fn		*lookup;
	void			*lookup_arg;
	unsigned		 mechs;	/* SASL_MECHBIT()s allowed */
	int			 mech;
	int			 state;
	const char		*verifier;	/* from lookup */
	size_t			 vlen;
	const char		*model;		/* see sasl_set_model() */
	size_t			 modellen;
	const char		*test_nonce;	/* fixed SCRAM nonce */
	size_t			 test_noncelen;
	size_t			 userlen;
	size_t			 pwlen;
	char			 user[LIM_USERNAME + 1];
	union {
		char			 pw[PWCHECK_PW_MAX];
		struct scram_server	 scram;
	} u;
};

void	sasl_ctx_init(struct sasl_ctx *ctx);
void	sasl_ctx_clear(struct sasl_ctx *ctx);

/* Set up s for a session; mechs is a mask of SASL_MECHBIT()s. */
void	sasl_init(struct sasl *s, const struct sasl_ctx *ctx,
	    unsigned mechs, sasl_lookup_fn *lookup, void *lookup_arg);

/* Wipe everything (passwords, SCRAM keys); idle again. */
void	sasl_reset(struct sasl *s);

/* The mechanism for a name (any case), or -1. */
int	sasl_mech_parse(const char *name, size_t len);
/* The name of a mechanism, as in EHLO ("SCRAM-SHA-256"), or NULL. */
const char *sasl_mech_name(int mech);

/*
 * AUTH mech [initial-response]: ir is NULL when the command had none,
 * else its irlen characters ("=" is an empty response).  Returns an
 * enum sasl_status with the line to send in reply, or -1.
 */
int	sasl_start(struct sasl *s, const char *mech, size_t mechlen,
	    const char *ir, size_t irlen, char *reply, size_t replysz);

/* A client line (without CRLF) during the exchange.  As sasl_start. */
int	sasl_step(struct sasl *s, const char *line, size_t len, char *reply,
	    size_t replysz);

/*
 * After SASL_VERIFY: the verify callback's result (1, 0, -1).  Returns
 * SASL_OK, SASL_FAIL or SASL_TEMP with the reply, or -1.
 */
int	sasl_verified(struct sasl *s, int result, char *reply,
	    size_t replysz);

/* The user name of the exchange (NUL-terminated), once known. */
const char *sasl_user(const struct sasl *s, size_t *len);

/* After SASL_VERIFY: the verifier (NULL: no such user) and password. */
const char *sasl_verifier(const struct sasl *s, size_t *vlen);
char	*sasl_password(struct sasl *s, size_t *pwlen);

/* Is an exchange in progress (between a challenge and a verdict)? */
int	sasl_busy(const struct sasl *s);

/*
 * A SCRAM verifier of the table (kept by pointer, NULL for none) whose
 * iteration count and salt length the mock verifier of an unknown user
 * takes, so that the server-first message ("i=", the salt's length)
 * does not tell such a user from a known one.
 */
void	sasl_set_model(struct sasl *s, const char *v, size_t vlen);

/* For tests: the server half of the SCRAM nonce (kept by pointer). */
void	sasl_set_test_nonce(struct sasl *s, const char *nonce, size_t n);

#endif
