/*
 * libFuzzer entry for the AUTH state machine (runtime/inbound/sasl.c): the
 * client lines of an exchange, for each mechanism, with the password
 * check's outcome chosen by the input instead of run.  Beyond "no
 * crash", it checks what the session relies on: every status comes
 * with a reply of the matching code that fits the buffer, the machine
 * is idle after a verdict, and a password handed out is bounded.
 *
 * Input: byte 0 chooses; the rest is client lines: each '\n' ends
 * one, and what follows the last '\n' is one more (so "x\n" is "x"
 * then an empty line, which SCRAM's last step wants).
 *	bits 0-1: 0 PLAIN, 1 LOGIN, 2 SCRAM-SHA-256, 3 the first line is
 *		  the mechanism name
 *	bit 2:	  the next line is the initial response
 *	bit 3:	  SCRAM uses RFC 7677's server nonce (reaches success)
 *	bits 4-5: what verification says: 1, 0, -1, 1
 *	bit 6:	  allow only the chosen mechanism
 * Links: fuzz/fuzz_sasl.c runtime/inbound/sasl.c and lib's sources, libsodium.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sasl.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* RFC 7677's user ("user", "pencil") and an argon2id user ("bob"). */
#define FUZZ_RFC_VERIFIER "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" \
			"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:" \
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
#define FUZZ_ARGON_VERIFIER "$argon2id$v=19$m=19456,t=2,p=1$" \
			"VYJBOGNPRqqaBKNEWNzthw$/k+KhNO/RBefYEkhxdwA+6DTOFher" \
			"O249ndLWtfw0oE"
#define FUZZ_SNONCE	"%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"

static struct sasl_ctx	 ctx;
static int		 ready;

/* The next line at *p, or 0 when there is none left. */
static int
fuzz_line(const char **p, const char *end, int *more, const char **line,
    size_t *len)
{
	const char	*nl;

	if (!*more)
		return 0;
	*line = *p;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	if (nl == NULL) {
		*len = (size_t)(end - *p);
		*p = end;
		*more = 0;
	} else {
		*len = (size_t)(nl - *p);
		*p = nl + 1;
	}
	return 1;
}

static const char *
fuzz_lookup(void *arg, const char *user, size_t len, size_t *vlen)
{
	const char	*v = NULL;

	(void)arg;
	if (user[len] != '\0' || strlen(user) != len)
		abort();
	if (len == 4 && memcmp(user, "user", 4) == 0)
		v = FUZZ_RFC_VERIFIER;
	else if (len == 3 && memcmp(user, "bob", 3) == 0)
		v = FUZZ_ARGON_VERIFIER;
	if (v != NULL)
		*vlen = strlen(v);
	return v;
}

/* The reply must suit the status. */
static void
fuzz_check(struct sasl *s, int st, const char *reply)
{
	size_t	 n = strnlen(reply, SASL_REPLY_MAX);

	if (n >= SASL_REPLY_MAX)
		abort();
	switch (st) {
	case SASL_CHALLENGE:
		if (strncmp(reply, "334 ", 4) != 0 || !sasl_busy(s))
			abort();
		return;
	case SASL_VERIFY:
		if (n != 0 || !sasl_busy(s))
			abort();
		return;
	case SASL_OK:
		if (strncmp(reply, "235 ", 4) != 0)
			abort();
		break;
	case SASL_FAIL:
		if (strncmp(reply, "535 ", 4) != 0)
			abort();
		break;
	case SASL_BAD:
		if (reply[0] != '5' || strncmp(reply, "535", 3) == 0)
			abort();
		break;
	case SASL_TEMP:
		if (strncmp(reply, "454 ", 4) != 0)
			abort();
		break;
	default:
		abort();
	}
	if (sasl_busy(s))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "PLAIN", "LOGIN", SCRAM_MECH };
	static const int results[] = { 1, 0, -1, 1 };
	struct sasl	 s;
	char		 reply[SASL_REPLY_MAX];
	const char	*p, *end, *mech, *line;
	size_t		 len, mlen, pwlen;
	unsigned	 mechs = SASL_MECHS_ALL;
	int		 sel, st, m, more;

	if (!ready) {
		if (sodium_init() < 0)
			abort();
		sasl_ctx_init(&ctx);
		ready = 1;
	}
	if (size == 0)
		return 0;
	sel = data[0];
	p = (const char *)data + 1;
	end = (const char *)data + size;
	more = p < end;

	if ((sel & 3) == 3) {
		if (!fuzz_line(&p, end, &more, &mech, &mlen))
			return 0;
	} else {
		mech = names[sel & 3];
		mlen = strlen(mech);
		if (sel & 0x40)
			mechs = SASL_MECHBIT((sel & 3) + 1);
	}
	sasl_init(&s, &ctx, mechs, fuzz_lookup, NULL);
	if (sel & 8)
		sasl_set_test_nonce(&s, FUZZ_SNONCE, strlen(FUZZ_SNONCE));

	if ((sel & 4) && fuzz_line(&p, end, &more, &line, &len))
		st = sasl_start(&s, mech, mlen, line, len, reply,
		    sizeof(reply));
	else
		st = sasl_start(&s, mech, mlen, NULL, 0, reply, sizeof(reply));
	m = sasl_mech_parse(mech, mlen);
	if (st == -1 || (m < 0 && st != SASL_BAD))
		abort();

	for (;;) {
		fuzz_check(&s, st, reply);
		if (st == SASL_VERIFY) {
			(void)sasl_verifier(&s, NULL);
			(void)sasl_password(&s, &pwlen);
			if (pwlen == 0 || pwlen > PWCHECK_PW_MAX)
				abort();
			st = sasl_verified(&s, results[(sel >> 4) & 3], reply,
			    sizeof(reply));
			fuzz_check(&s, st, reply);
		}
		if (st != SASL_CHALLENGE ||
		    !fuzz_line(&p, end, &more, &line, &len))
			break;
		st = sasl_step(&s, line, len, reply, sizeof(reply));
		if (st == -1)
			abort();
	}
	if (st == SASL_OK && sasl_user(&s, &len)[len] != '\0')
		abort();
	sasl_reset(&s);
	return 0;
}
