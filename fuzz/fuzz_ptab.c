/*
 * fuzz_ptab: libFuzzer entry for the table reader.  The input is a
 * table image; its checksum is recomputed first, or nearly every
 * mutation would stop at "bad checksum" and the fuzzer would never
 * reach the structural checks.  A table that loads is then used as
 * bastiond and the tools use it: host lookups, domain and user
 * lookups, and a walk over every record and string.  What the reader
 * promises the runtime about numbers (bastion_limits.h) is checked on
 * every table it accepts, and its sealed secrets are opened with no
 * key and with a key of zeros.
 *
 * Seeds: fuzz/seeds/ptab (tests/unit/gen_ptab_seeds writes them).
 *	make fuzz && ./fuzz/fuzz_ptab fuzz/seeds/ptab
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "addr.h"
#include "bastion_limits.h"
#include "ptab.h"
#include "seal.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static volatile unsigned	 sink;

#define IN(v, lim)	((uint64_t)(v) >= (uint64_t)lim##_MIN &&	\
			    (uint64_t)(v) <= (uint64_t)lim##_MAX)

/* A table the reader accepted holds only numbers policyc can write. */
static void
fuzz_ranges(const struct ptab *t)
{
	const struct ptab_server_rec	*s = t->server;
	const struct ptab_domain_rec	*d;
	uint32_t			 i;

	if (!IN(s->max_msgsize, LIM_MSGSIZE) || !IN(s->max_rcpts, LIM_RCPTS) ||
	    !IN(s->max_conns, LIM_CONNS) ||
	    !IN(s->max_conns_host, LIM_CONNS_HOST) ||
	    !IN(s->max_authfail, LIM_AUTHFAIL) ||
	    !IN(s->to_command, LIM_TIMEOUT) || !IN(s->to_data, LIM_TIMEOUT) ||
	    !IN(s->to_connect, LIM_TIMEOUT) ||
	    !IN(s->lifetime, LIM_LIFETIME) || !IN(s->retry, LIM_RETRY))
		abort();
	for (i = 0; i < t->nlisteners; i++)
		if (!IN(t->listeners[i].port, LIM_PORT))
			abort();
	for (i = 0; i < t->naccept + t->noutbound; i++) {
		d = i < t->naccept ? &t->accept[i] :
		    &t->outbound[i - t->naccept];
		if (d->delivery == PTAB_DELIVER_MAILDIR ? d->port != 0 :
		    !IN(d->port, LIM_PORT))
			abort();
		if (d->mech != PTAB_MECH_NONE && (d->tls < PTAB_TLS_REQUIRED ||
		    d->secret == PTAB_NONE || d->user == 0))
			abort();
	}
}

/* Open the sealed secrets with no key and with a key of zeros. */
static void
fuzz_secrets(const struct ptab *t)
{
	struct seal_key	 k;
	char		 err[LIM_ERRMSG];
	uint32_t	 i;
	int		 any = 0;

	for (i = 0; i < t->noutbound; i++)
		any |= t->outbound[i].secret != PTAB_NONE;
	err[0] = '\0';
	if ((ptab_open_secrets(t, NULL, err, sizeof(err)) == -1) != any ||
	    (any && err[0] == '\0'))
		abort();
	memset(&k, 0, sizeof(k));
	if (ptab_open_secrets(t, &k, err, sizeof(err)) == -1 &&
	    err[0] == '\0')
		abort();
}

static void
fuzz_lookups(const struct ptab *t, const uint8_t *data, size_t size)
{
	static const char *const doms[] = {
		"sf.example", "a.b.sf.example", "ny.example", "example", "*",
		"", ".example", "A.B.EXAMPLE",
	};
	const struct ptab_domain_rec	*d;
	struct addr			 a;
	uint32_t			 i, r, e;
	size_t				 k, n;
	char				 name[300];

	/* Addresses: the input's tail read as v4, v6 and v4-mapped. */
	for (k = 0; k < 3; k++) {
		memset(&a, 0, sizeof(a));
		n = size < 16 ? size : 16;
		memcpy(a.a, data + size - n, n);
		a.family = k == 0 ? ADDR_V4 : ADDR_V6;
		if (k == 0)
			memset(a.a + 4, 0, 12);
		if (k == 2) {
			memset(a.a, 0, 10);
			a.a[10] = a.a[11] = 0xff;
		}
		a.len = k == 0 ? 32 : 128;
		r = ptab_host_lookup(t, &a, &e);
		sink += t->rules[r].line + t->rules[r].action;
		sink += (unsigned char)ptab_str(t, t->rules[r].as_user)[0];
		if (e != PTAB_NONE) {
			ptab_entry_addr(t, a.family == ADDR_V4 || k == 2 ?
			    ADDR_V4 : ADDR_V6, e, &a);
			sink += a.len;
		}
	}
	/* Every prefix's own first address finds something. */
	for (i = 0; i < t->nv4; i++) {
		ptab_entry_addr(t, ADDR_V4, i, &a);
		sink += ptab_host_lookup(t, &a, &e);
	}
	for (i = 0; i < t->nv6; i++) {
		ptab_entry_addr(t, ADDR_V6, i, &a);
		sink += ptab_host_lookup(t, &a, &e);
	}

	/* Domains: fixed ones, and the input's head as a name. */
	n = size < sizeof(name) ? size : sizeof(name);
	memcpy(name, data, n);
	for (k = 0; k <= sizeof(doms) / sizeof(doms[0]); k++) {
		const char	*q = k < sizeof(doms) / sizeof(doms[0]) ?
				    doms[k] : name;
		size_t		 ql = k < sizeof(doms) / sizeof(doms[0]) ?
				    strlen(doms[k]) : n;

		if ((d = ptab_accept_lookup(t, q, ql)) != NULL)
			sink += (unsigned char)ptab_str(t, d->target)[0];
		if ((d = ptab_outbound_lookup(t, q, ql)) != NULL &&
		    d->secret != PTAB_NONE && d->secret_len > 0)
			sink += t->blobs[d->secret + d->secret_len - 1];
		if (ptab_user_lookup(t, q, ql) != NULL)
			sink++;
	}

	/*
	 * Recipients, senders and proxy sets: the input's head as a local
	 * part and as a sender, against every rule, user and listener.
	 */
	for (i = 0; i < t->naccept; i++)
		sink += (size_t)ptab_rcpt_known(t, &t->accept[i], name,
		    n < 80 ? n : 80) + (size_t)ptab_rcpt_known(t,
		    &t->accept[i], "alice", 5);
	for (i = 0; i < t->nusers; i++)
		sink += (size_t)ptab_sender_ok(t, &t->users[i], name, n) +
		    (size_t)ptab_sender_ok(t, &t->users[i], "a@ny.example",
		    12);
	for (i = 0; i < t->nlisteners; i++) {
		sink += (size_t)ptab_listener_proxy(t, &t->listeners[i], &a);
		sink += strlen(ptab_str(t, t->listeners[i].proxy_list <
		    t->nlists ? t->lists[t->listeners[i].proxy_list].name :
		    0));
	}
	for (i = 0; i < t->nrcpts; i++)
		sink += strlen(ptab_str(t, t->rcpts[i].name));
	sink += strlen(ptab_str(t, t->server->control));

	/* Everything dump prints. */
	for (i = 0; i < t->nrules; i++)
		sink += strlen(ptab_str(t, t->rules[i].as_user));
	for (i = 0; i < t->nlists; i++)
		sink += strlen(ptab_str(t, t->lists[i].name));
	for (i = 0; i < t->nusers; i++)
		sink += strlen(ptab_str(t, t->users[i].name)) +
		    strlen(ptab_str(t, t->users[i].verifier));
	for (i = 0; i < t->naccept; i++)
		sink += strlen(ptab_str(t, t->accept[i].domain));
	for (i = 0; i < t->noutbound; i++)
		sink += strlen(ptab_str(t, t->outbound[i].user));
	sink += strlen(ptab_str(t, t->server->hostname)) +
	    strlen(ptab_str(t, t->server->runas)) + t->server->line[0];
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ptab		 t;
	struct ptab_header	*h;
	uint8_t			*buf;
	char			 err[256];

	if (sodium_init() < 0)
		abort();
	/* malloc is suitably aligned, as a mapped file would be. */
	if ((buf = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	if (size >= sizeof(*h)) {
		h = (struct ptab_header *)buf;
		memset(h->checksum, 0, sizeof(h->checksum));
		crypto_generichash(h->checksum, sizeof(h->checksum), buf,
		    size, NULL, 0);
	}
	if (ptab_load(&t, buf, size, err, sizeof(err)) == 0) {
		fuzz_ranges(&t);
		fuzz_secrets(&t);
		fuzz_lookups(&t, data, size);
		ptab_close(&t);
	} else if (err[0] == '\0')
		abort();		/* every refusal has a reason */
	free(buf);
	return 0;
}
