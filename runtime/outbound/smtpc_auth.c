/*
 * smtpc_auth: outbound AUTH for the client session (smtpc.c): PLAIN
 * (RFC 4616), LOGIN, and SCRAM-SHA-256 (RFC 5802, RFC 7677) with the
 * server's proof checked.  The route's password stays sealed until
 * AUTH starts; then it is opened into locked memory (sodium_malloc),
 * with everything derived from it, and wiped and freed the moment
 * AUTH ends, or the connection does.  Every response goes to the log
 * as "****".
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "b64.h"
#include "bastion_limits.h"
#include "scram.h"
#include "seal.h"
#include "smtpc.h"
#include "smtpc_int.h"

/* The password and what is derived from it: locked memory, AUTH only. */
struct smtpc_secret {
	size_t			pwlen;
	uint8_t			pw[SEAL_MAX_SECRET];
	uint8_t			raw[LIM_USERNAME + SEAL_MAX_SECRET + 2];
	char			b64[B64_ENCODED_SIZE(LIM_USERNAME +
				    SEAL_MAX_SECRET + 2)];
	char			msg[SCRAM_MSG_MAX + 1];
	struct scram_client	scram;
};

static unsigned long	scram_iter(const char *, size_t);

/* Open the secret and send the first AUTH line. */
void
smtpc_auth_begin(struct smtpc *c)
{
	struct smtpc_secret	*s;
	char			 err[LIM_ERRMSG];
	const char		*user = c->rt->user != NULL ? c->rt->user : "";
	size_t			 ulen = strlen(user), n;
	long			 r;

	if (c->cf->key == NULL || c->rt->secret == NULL) {
		smtpc_fail(c, F_TEMP, "4.7.0", 0, "no %s to open the route's "
		    "password with", c->cf->key == NULL ? "key" : "sealed "
		    "secret");
		return;
	}
	if (ulen > LIM_USERNAME) {
		smtpc_fail(c, F_TEMP, "4.7.0", 0, "SASL user name too long");
		return;
	}
	if ((s = c->sec = sodium_malloc(sizeof(*s))) == NULL) {
		smtpc_fail(c, F_TEMP, "4.3.0", 0,
		    "out of locked memory for AUTH");
		return;
	}
	r = seal_open(c->cf->key, c->rt->secret, c->rt->secret_len, s->pw,
	    sizeof(s->pw), err, sizeof(err));
	if (r < 0) {
		smtpc_fail(c, F_TEMP, "4.7.0", 0,
		    "cannot open the route's password: %s", err);
		return;
	}
	s->pwlen = (size_t)r;
	c->state = C_AUTH;
	c->authstep = 1;
	switch (c->rt->mech) {
	case PTAB_MECH_PLAIN:
		/* RFC 4616: authzid NUL authcid NUL passwd. */
		s->raw[0] = '\0';
		memcpy(s->raw + 1, user, ulen);
		s->raw[1 + ulen] = '\0';
		memcpy(s->raw + 2 + ulen, s->pw, s->pwlen);
		n = 2 + ulen + s->pwlen;
		if (b64_encode(s->raw, n, s->b64, sizeof(s->b64)) < 0) {
			smtpc_fail(c, F_TEMP, "4.3.0", 0,
			    "AUTH PLAIN: no room");
			return;
		}
		(void)smtpc_cmd(c, "AUTH PLAIN ****", "AUTH PLAIN %s", s->b64);
		break;
	case PTAB_MECH_LOGIN:
		(void)smtpc_cmd(c, NULL, "AUTH LOGIN");
		break;
	default:
		scram_client_init(&s->scram);
		r = scram_client_start(&s->scram, user, ulen, s->msg,
		    sizeof(s->msg), err, sizeof(err));
		if (r < 0 || b64_encode((uint8_t *)s->msg, (size_t)r, s->b64,
		    sizeof(s->b64)) < 0) {
			smtpc_fail(c, F_TEMP, "4.7.0", 0, "SCRAM: %s",
			    r < 0 ? err :
			    "no room");
			return;
		}
		(void)smtpc_cmd(c, "AUTH " SCRAM_MECH " ****", "AUTH %s %s",
		    SCRAM_MECH, s->b64);
		break;
	}
	smtpc_arm(c, c->to.command);
}

/*
 * The iteration count a SCRAM server-first message asks for, or 0 if
 * it has none we can read (scram_client_respond() then says why).
 */
static unsigned long
scram_iter(const char *m, size_t n)
{
	unsigned long	 v = 0;
	size_t		 i;

	for (i = 0; i + 2 < n; i++) {
		if ((i == 0 || m[i - 1] == ',') && m[i] == 'i' &&
		    m[i + 1] == '=') {
			for (i += 2; i < n && m[i] >= '0' && m[i] <= '9'; i++) {
				if (v > 100000000)
					return v;
				v = v * 10 + (unsigned long)(m[i] - '0');
			}
			return v;
		}
	}
	return 0;
}

void
smtpc_auth_reply(struct smtpc *c, int code)
{
	struct smtpc_secret	*s = c->sec;
	char			 err[LIM_ERRMSG], st[SMTPC_STATUS_MAX];
	const char		*user = c->rt->user != NULL ? c->rt->user : "";
	const char		*ch;
	long			 n, r;
	int			 mech = c->rt->mech;

	if (code / 100 == 2) {
		if (mech == PTAB_MECH_SCRAM_SHA_256 && c->authstep != 3) {
			/* RFC 5802: the server must prove itself. */
			smtpc_fail(c, F_TEMP, "4.7.0", 0, "%s accepted SCRAM "
			    "authentication without proving it knows the "
			    "password", c->hoptext);
			return;
		}
		smtpc_logfmt(c, PLOG_DECISION, "authenticated as %s", user);
		smtpc_auth_wipe(c);
		c->authed = 1;
		smtpc_tx_begin(c);
		return;
	}
	if (code != 334) {
		smtpc_reply_status(c->rtext, c->rtextlen, st);
		smtpc_fail(c, F_TEMP, st, 1, "authentication failed: %s",
		    c->rtext);
		return;
	}
	/* A challenge: "334 BASE64", kept whole by line(). */
	ch = s->b64;
	if (mech == PTAB_MECH_LOGIN && c->authstep <= 2) {
		if (c->authstep == 1)
			n = b64_encode((const uint8_t *)user, strlen(user),
			    s->b64, sizeof(s->b64));
		else
			n = b64_encode(s->pw, s->pwlen, s->b64, sizeof(s->b64));
		if (n < 0) {
			smtpc_fail(c, F_TEMP, "4.3.0", 0,
			    "AUTH LOGIN: no room");
			return;
		}
		c->authstep++;
		(void)smtpc_cmd(c, "****", "%s", s->b64);
		smtpc_arm(c, c->to.command);
		return;
	}
	if (mech == PTAB_MECH_SCRAM_SHA_256 && c->authstep <= 2) {
		n = b64_decode(ch, strlen(ch), (uint8_t *)s->msg,
		    sizeof(s->msg) - 1);
		sodium_memzero(s->b64, sizeof(s->b64));
		if (n < 0) {
			smtpc_fail(c, F_TEMP, "4.7.0", 0,
			    "SCRAM: bad base64 in the "
			    "challenge from %s", c->hoptext);
			return;
		}
		s->msg[n] = '\0';
		if (c->authstep == 1) {
			if (scram_iter(s->msg, (size_t)n) >
			    SMTPC_SCRAM_ITER_MAX) {
				smtpc_fail(c, F_TEMP, "4.7.0", 0,
				    "SCRAM: %s asks "
				    "for more than %d iterations", c->hoptext,
				    SMTPC_SCRAM_ITER_MAX);
				return;
			}
			/* Copy: respond() reads msg while writing b64. */
			r = scram_client_respond(&s->scram, s->msg, (size_t)n,
			    (const char *)s->pw, s->pwlen, (char *)s->raw,
			    sizeof(s->raw), err, sizeof(err));
			if (r < 0 || b64_encode(s->raw, (size_t)r, s->b64,
			    sizeof(s->b64)) < 0) {
				smtpc_fail(c, F_TEMP, "4.7.0", 0,
				    "SCRAM with %s: %s",
				    c->hoptext, r < 0 ? err : "no room");
				return;
			}
			c->authstep = 2;
			(void)smtpc_cmd(c, "****", "%s", s->b64);
		} else {
			if (scram_client_verify(&s->scram, s->msg, (size_t)n,
			    err, sizeof(err)) != 1) {
				smtpc_fail(c, F_TEMP, "4.7.0", 0,
				    "SCRAM: %s did not "
				    "prove it knows the password: %s",
				    c->hoptext, err);
				return;
			}
			c->authstep = 3;
			/* RFC 4954 4: an empty response to the last one. */
			(void)smtpc_cmd(c, "****", "%s", "");
		}
		smtpc_arm(c, c->to.command);
		return;
	}
	smtpc_fail(c, F_TEMP, "4.7.0", 0, "unexpected AUTH challenge from %s",
	    c->hoptext);
}

/*
 * The text of a 334 challenge, kept whole for smtpc_auth_reply() (the
 * reply text kept for results may cut it).
 */
void
smtpc_auth_challenge(struct smtpc *c, const char *text, size_t len)
{
	struct smtpc_secret	*s = c->sec;

	if (s == NULL)
		return;
	if (len >= sizeof(s->b64))
		len = 0;	/* cannot be; b64 holds a line */
	memcpy(s->b64, text, len);
	s->b64[len] = '\0';
}

void
smtpc_auth_wipe(struct smtpc *c)
{
	if (c->sec == NULL)
		return;
	scram_client_clear(&c->sec->scram);
	/* sodium_free() zeroes the region before it lets it go. */
	sodium_free(c->sec);
	c->sec = NULL;
}
