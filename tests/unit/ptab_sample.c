/*
 * ptab_sample: a handful of small tables made with the real builder.
 * ptab_test checks them and attacks them byte by byte; gen_ptab_seeds
 * writes them out as the fuzzer's starting corpus.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "ptab.h"
#include "ptab_sample.h"

static int	sample_full(struct ptab_builder *);
static int	sample_nested(struct ptab_builder *);
static int	sample_v6(struct ptab_builder *);
static int	sample_rule(struct ptab_builder *, uint32_t, uint8_t,
		    uint8_t, uint8_t, uint8_t, uint32_t, const char *,
		    const char *);
static int	sample_listener(struct ptab_builder *, const char *,
		    uint16_t, int, uint8_t, uint32_t, const char *,
		    uint32_t);

void
sample_addr(const char *text, struct addr *a)
{
	char	 err[256];

	if (addr_parse(text, strlen(text), 0, a, err, sizeof(err)) == -1) {
		fprintf(stderr, "sample_addr: %s\n", err);
		abort();
	}
}

/* One host rule: ADDR when text is a prefix, LIST when list != NONE. */
static int
sample_rule(struct ptab_builder *b, uint32_t line, uint8_t kind,
    uint8_t action, uint8_t require, uint8_t flags, uint32_t list,
    const char *prefix, const char *as)
{
	struct ptab_rule_in	 r;
	uint32_t		 id;

	memset(&r, 0, sizeof(r));
	r.line = line;
	r.kind = kind;
	r.action = action;
	r.require = require;
	r.flags = flags;
	r.list = list;
	r.as_user = as;
	if (prefix != NULL)
		sample_addr(prefix, &r.prefix);
	if (ptab_builder_rule(b, &r, &id) == -1)
		return -1;
	return (int)id;
}

/* A listener; proxy (a prefix) or list (an id) makes it `proxy from`. */
static int
sample_listener(struct ptab_builder *b, const char *addr, uint16_t port,
    int tls, uint8_t require, uint32_t line, const char *proxy,
    uint32_t list)
{
	struct ptab_listener_in	 l;
	struct addr		 p;

	memset(&l, 0, sizeof(l));
	sample_addr(addr, &l.addr);
	l.port = port;
	l.tls = tls;
	l.require = require;
	l.line = line;
	l.proxy_list = PTAB_NONE;
	if (proxy != NULL) {
		sample_addr(proxy, &p);
		l.proxy = 1;
		l.proxy_list = list;
		l.proxy_pfx = &p;
		l.nproxy = 1;
	}
	return ptab_builder_listener(b, &l);
}

/* The policy of DESIGN.md, more or less. */
static int
sample_full(struct ptab_builder *b)
{
	static const uint8_t	 secret[] = "sealed-bytes-for-ny";
	static const char *const senders[] = { "alice@sf.example",
				    "@ny.example" };
	static const char *const staff[] = { "alice", "Bob", "carol" };
	struct ptab_server_in	 s;
	struct ptab_domain_in	 d;
	struct addr		 a;
	uint32_t		 partners, blocked, balancers, rcpts;
	int			 r;

	memset(&s, 0, sizeof(s));
	s.hostname = "mx.sf.example";
	s.control = "var/control.sock";
	s.line[PTAB_SET_CONTROL] = 17;
	s.cert = "certs/sf.crt";
	s.key = "certs/sf.key";
	s.trust = "certs/ca.crt";
	s.spool = "var/spool";
	s.log = "var/protocol.log";
	s.runas = "bastion";
	s.max_msgsize = 25u * 1024 * 1024;
	s.max_rcpts = 100;
	s.max_conns = 1000;
	s.max_conns_host = 20;
	s.max_authfail = 3;
	s.to_command = 300;
	s.lifetime = 5 * 86400;
	s.retry = 300;
	s.mechs[0] = PTAB_MECH_SCRAM_SHA_256;
	s.mechs[1] = PTAB_MECH_PLAIN;
	s.mechs[2] = PTAB_MECH_LOGIN;
	s.line[PTAB_SET_HOSTNAME] = 2;
	s.line[PTAB_SET_CERT] = 6;
	s.line[PTAB_SET_TRUST] = 7;
	s.line[PTAB_SET_SPOOL] = 8;
	s.line[PTAB_SET_LOG] = 9;
	s.line[PTAB_SET_RUNAS] = 10;
	s.line[PTAB_SET_MSGSIZE] = 11;
	s.line[PTAB_SET_RCPTS] = 12;
	s.line[PTAB_SET_CONNS] = 13;
	s.line[PTAB_SET_AUTHFAIL] = 14;
	s.line[PTAB_SET_TO_COMMAND] = 15;
	s.line[PTAB_SET_QUEUE] = 16;
	s.line[PTAB_SET_MECHS] = 34;
	if (ptab_builder_server(b, &s) == -1)
		return -1;
	if (ptab_builder_default(b, 20, PTAB_ACT_ALLOW, 0, 0, NULL) == -1)
		return -1;
	if (ptab_builder_list(b, "partners", 22, &partners) == -1 ||
	    ptab_builder_list(b, "blocked", 23, &blocked) == -1 ||
	    ptab_builder_list(b, "balancers", 24, &balancers) == -1)
		return -1;
	if (sample_listener(b, "127.0.0.1", 2525, 0, 0, 3, NULL,
	    PTAB_NONE) == -1 ||
	    sample_listener(b, "::1", 4650, 1, 0, 4, NULL, PTAB_NONE) == -1 ||
	    sample_listener(b, "127.0.0.1", 5870, 0,
	    PTAB_REQ_TLS | PTAB_REQ_AUTH, 5, NULL, PTAB_NONE) == -1 ||
	    sample_listener(b, "127.0.0.1", 2526, 0, 0, 6, "10.0.0.2",
	    balancers) == -1)
		return -1;
	if ((r = sample_rule(b, 25, PTAB_RULE_LIST, PTAB_ACT_ALLOW,
	    PTAB_REQ_TLS | PTAB_REQ_AUTH, 0, partners, NULL, NULL)) == -1)
		return -1;
	sample_addr("192.0.2.0/24", &a);
	if (ptab_builder_prefix(b, (uint32_t)r, &a) == -1)
		return -1;
	sample_addr("198.51.100.0/24", &a);
	if (ptab_builder_prefix(b, (uint32_t)r, &a) == -1)
		return -1;
	sample_addr("2001:db8:1::/48", &a);
	if (ptab_builder_prefix(b, (uint32_t)r, &a) == -1)
		return -1;
	if (sample_rule(b, 26, PTAB_RULE_ADDR, PTAB_ACT_ALLOW,
	    PTAB_REQ_TLS | PTAB_REQ_AUTH, 0, PTAB_NONE, "192.0.2.10",
	    "ims-ny") == -1)
		return -1;
	if ((r = sample_rule(b, 27, PTAB_RULE_LIST, PTAB_ACT_DENY, 0, 0,
	    blocked, NULL, NULL)) == -1)
		return -1;
	sample_addr("203.0.113.0/24", &a);
	if (ptab_builder_prefix(b, (uint32_t)r, &a) == -1)
		return -1;
	sample_addr("2001:db8:bad::/48", &a);
	if (ptab_builder_prefix(b, (uint32_t)r, &a) == -1)
		return -1;
	if (sample_rule(b, 28, PTAB_RULE_ADDR, PTAB_ACT_ALLOW, 0,
	    PTAB_RULE_RELAY, PTAB_NONE, "10.0.0.0/8", NULL) == -1 ||
	    sample_rule(b, 29, PTAB_RULE_ADDR, PTAB_ACT_DENY, 0, 0,
	    PTAB_NONE, "10.9.9.9", NULL) == -1 ||
	    sample_rule(b, 30, PTAB_RULE_ADDR, PTAB_ACT_ALLOW, PTAB_REQ_AUTH,
	    PTAB_RULE_CLEARTEXT, PTAB_NONE, "10.2.0.0/16", NULL) == -1)
		return -1;
	/* Well-formed verifiers (policyc passwd): the reader checks them. */
	if (ptab_builder_user(b, "ims-ny", "SCRAM-SHA-256$4096:"
	    "nN7MLL/keKvx06GZqurbtw==$"
	    "MN6WIEiZ4+usS+g1Ap0DSjAP62zJDlk1qlUv8I9k2iw=:"
	    "38QBifADxsa/DdaDorataMXtttJYmZ9JO25Oy1+Jc9g=", 35, NULL, 0) ==
	    -1 ||
	    ptab_builder_user(b, "alice", "$argon2id$v=19$m=4096,t=3,p=1$"
	    "4xW4K0Pefh1R1lWrpFSEyw$"
	    "bQtFCfnhBJjcQe/9spRLQSNi9R2sVeA7iamdNouFzmo", 36, senders, 2) ==
	    -1)
		return -1;
	if (ptab_builder_rcpts(b, "staff", 38, staff, 3, &rcpts) == -1)
		return -1;

	memset(&d, 0, sizeof(d));
	d.domain = "sf.example";
	d.line = 39;
	d.delivery = PTAB_DELIVER_MAILDIR;
	d.target = "var/mail/%u";
	d.rcpts = PTAB_RCPTS_LIST;
	d.rcpt_list = rcpts;
	if (ptab_builder_accept(b, &d) == -1)
		return -1;
	memset(&d, 0, sizeof(d));
	d.domain = ".sf.example";
	d.line = 40;
	d.delivery = PTAB_DELIVER_FORWARD;
	d.target = "10.0.0.5";
	d.port = 25;
	d.tls = PTAB_TLS_REQUIRED;
	if (ptab_builder_accept(b, &d) == -1)
		return -1;
	memset(&d, 0, sizeof(d));
	d.domain = "ny.example";
	d.line = 43;
	d.delivery = PTAB_DELIVER_RELAY;
	d.target = "127.0.0.3";
	d.port = 2525;
	d.tls = PTAB_TLS_VERIFY;
	d.mech = PTAB_MECH_SCRAM_SHA_256;
	d.user = "ims-sf";
	d.secret = secret;
	d.secret_len = sizeof(secret) - 1;
	if (ptab_builder_outbound(b, &d) == -1)
		return -1;
	memset(&d, 0, sizeof(d));
	d.domain = "*";
	d.line = 45;
	d.delivery = PTAB_DELIVER_RELAY;
	d.port = 25;
	d.tls = PTAB_TLS_OPPORTUNISTIC;
	if (ptab_builder_outbound(b, &d) == -1)
		return -1;
	return 0;
}

/* Deeply nested prefixes in both families, default deny. */
static int
sample_nested(struct ptab_builder *b)
{
	static const char *const v4[] = {
		"0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24",
		"10.1.2.128/25", "10.1.2.130", "10.1.3.0/24", "10.255.0.0/16",
		"11.0.0.0/8", "128.0.0.0/1", "255.255.255.255",
	};
	static const char *const v6[] = {
		"::/0", "2001:db8::/32", "2001:db8:1::/48", "2001:db8:1:2::/64",
		"2001:db8:1:2::1", "2001:db8:ffff::/48", "fe80::/10",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	};
	struct addr	 a;
	uint32_t	 l;
	size_t		 i;
	int		 r;

	if (ptab_builder_default(b, 1, PTAB_ACT_DENY, 0, 0, NULL) == -1 ||
	    ptab_builder_list(b, "nets", 2, &l) == -1)
		return -1;
	if ((r = sample_rule(b, 3, PTAB_RULE_LIST, PTAB_ACT_ALLOW,
	    PTAB_REQ_TLS, 0, l, NULL, NULL)) == -1)
		return -1;
	for (i = 0; i < sizeof(v4) / sizeof(v4[0]); i += 2) {
		sample_addr(v4[i], &a);
		if (ptab_builder_prefix(b, (uint32_t)r, &a) == -1)
			return -1;
	}
	for (i = 0; i < sizeof(v6) / sizeof(v6[0]); i += 2) {
		sample_addr(v6[i], &a);
		if (ptab_builder_prefix(b, (uint32_t)r, &a) == -1)
			return -1;
	}
	for (i = 1; i < sizeof(v4) / sizeof(v4[0]); i += 2)
		if (sample_rule(b, 4 + (uint32_t)i, PTAB_RULE_ADDR,
		    (uint8_t)(i % 4 == 1), 0, 0, PTAB_NONE, v4[i], NULL) == -1)
			return -1;
	for (i = 1; i < sizeof(v6) / sizeof(v6[0]); i += 2)
		if (sample_rule(b, 20 + (uint32_t)i, PTAB_RULE_ADDR,
		    (uint8_t)(i % 4 == 1), PTAB_REQ_AUTH, 0, PTAB_NONE, v6[i],
		    NULL) == -1)
			return -1;
	return 0;
}

/* IPv6 listeners, a mapped prefix folded to IPv4, suffix domains. */
static int
sample_v6(struct ptab_builder *b)
{
	static const char *const doms[] = {
		"example", ".example", "a.example", ".b.example", "*",
	};
	struct ptab_domain_in	 d;
	size_t			 i;

	if (sample_listener(b, "::", 25, 0, PTAB_REQ_TLS, 1, NULL,
	    PTAB_NONE) == -1 ||
	    ptab_builder_default(b, 2, PTAB_ACT_ALLOW, PTAB_REQ_TLS, 0,
	    NULL) == -1 ||
	    sample_rule(b, 3, PTAB_RULE_ADDR, PTAB_ACT_DENY, 0, 0, PTAB_NONE,
	    "::ffff:10.0.0.0/104", NULL) == -1 ||
	    sample_rule(b, 4, PTAB_RULE_ADDR, PTAB_ACT_ALLOW, 0,
	    PTAB_RULE_RELAY, PTAB_NONE, "2001:db8::/32", NULL) == -1)
		return -1;
	for (i = 0; i < sizeof(doms) / sizeof(doms[0]); i++) {
		memset(&d, 0, sizeof(d));
		d.domain = doms[i];
		d.line = 10 + (uint32_t)i;
		d.delivery = PTAB_DELIVER_RELAY;
		d.tls = (uint8_t)(i % 4);
		d.port = 25;
		d.target = i % 2 ? "relay.example" : NULL;
		if (ptab_builder_outbound(b, &d) == -1)
			return -1;
	}
	return 0;
}

int
sample_table(int v, uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	struct ptab_builder	*b;
	int			 rc = -1;

	if ((b = ptab_builder_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	switch (v) {
	case 0:
		rc = 0;		/* nothing at all: the implicit default */
		break;
	case 1:
		rc = sample_full(b);
		break;
	case 2:
		rc = sample_nested(b);
		break;
	case 3:
		rc = sample_v6(b);
		break;
	}
	if (rc == -1)
		snprintf(err, errlen, "sample %d: a builder call failed", v);
	else
		rc = ptab_build(b, NULL, NULL, out, outlen, err, errlen);
	ptab_builder_free(b);
	return rc;
}
