/*
 * dns_drive: run lookups of runtime/outbound/dns.c in the real event loop, all
 * at once, and print what each found, for tests/rt/dns-dnsmasq.py.
 *
 *	dns_drive [-s SERVERS] [-t MS] [-r TRIES] [-p PORT] [-n] LOOKUP...
 *
 * A LOOKUP is "mx:DOMAIN", "host:NAME" or "cancel:DOMAIN" (an MX
 * lookup started, cancelled and its memory freed at once: its answer
 * must then be dropped quietly).  Output, in the order given:
 *
 *	mx:a.test ok
 *	  127.0.0.12:25 pref 5 mx2.a.test
 *	mx:nx.test permfail 5.1.2 nx.test: domain does not exist (NXDOMAIN)
 *
 * -n keeps equal MX preferences in answer order.  Exit 0 when every
 * lookup called back, 1 on a setup failure or a 20 s stall.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns.h"
#include "loop.h"

#define MAXQ	32

struct job {
	struct dns_query	 q;
	const char		*what;
	int			 done;
};

static struct loop	 L;
static struct job	 jobs[MAXQ];
static int		 njobs, left;

static void
on_done(struct dns_query *q, void *arg)
{
	struct job	*j = arg;

	(void)q;
	if (j == NULL) {
		printf("FAIL: a cancelled lookup called back\n");
		exit(1);
	}
	j->done = 1;
	if (--left == 0)
		loop_stop(&L);
}

static void
print(struct job *j)
{
	struct dns_result	*r = &j->q.res;
	char			 a[80];
	size_t			 i;

	if (r->status == DNS_OK) {
		printf("%s ok\n", j->what);
		for (i = 0; i < r->naddr; i++) {
			dns_addr_format(&r->addr[i], a, sizeof(a));
			printf("  %s pref %u %s\n", a, r->addr[i].pref,
			    r->hosts[r->addr[i].host]);
		}
	} else
		printf("%s %s %s %s\n", j->what, r->status == DNS_TEMPFAIL ?
		    "tempfail" : "permfail", r->dsn, r->reason);
}

static void
on_stall(struct loop *l, void *arg)
{
	(void)arg;
	if (left > 0)
		fprintf(stderr, "dns_drive: lookups stalled\n");
	loop_stop(l);
}

int
main(int argc, char **argv)
{
	struct dns		 D;
	struct dns_config	 cf;
	struct loop_timer	 stall;
	struct dns_query	*tmp;
	char			 err[256];
	int			 ch, i, port = 25, rc = 0;

	memset(&cf, 0, sizeof(cf));
	while ((ch = getopt(argc, argv, "s:t:r:p:n")) != -1) {
		switch (ch) {
		case 's':
			cf.servers = optarg;
			break;
		case 't':
			cf.timeout_ms = (unsigned)atoi(optarg);
			break;
		case 'r':
			cf.tries = (unsigned)atoi(optarg);
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'n':
			cf.shuffle_off = 1;
			break;
		default:
			fprintf(stderr, "usage: dns_drive [-s servers] [-t ms] "
			    "[-r tries] [-p port] [-n] mx:D|host:H|cancel:D"
			    "...\n");
			return 2;
		}
	}
	if (loop_init(&L, 1024, 64, err, sizeof(err)) != 0 ||
	    dns_init(&D, &L, &cf, err, sizeof(err)) != 0) {
		fprintf(stderr, "dns_drive: %s\n", err);
		return 1;
	}
	for (i = optind; i < argc && njobs < MAXQ; i++) {
		struct job	*j = &jobs[njobs];
		const char	*a = argv[i];
		int		 r;

		if (strncmp(a, "cancel:", 7) == 0) {
			if ((tmp = malloc(sizeof(*tmp))) == NULL)
				return 1;
			if (dns_lookup_mx(&D, tmp, a + 7, (uint16_t)port,
			    on_done, NULL) != 0)
				return 1;
			dns_cancel(tmp);
			memset(tmp, 0xa5, sizeof(*tmp));
			free(tmp);
			printf("%s cancelled\n", a);
			continue;
		}
		j->what = a;
		if (strncmp(a, "mx:", 3) == 0)
			r = dns_lookup_mx(&D, &j->q, a + 3, (uint16_t)port,
			    on_done, j);
		else if (strncmp(a, "host:", 5) == 0)
			r = dns_lookup_host(&D, &j->q, a + 5, (uint16_t)port,
			    on_done, j);
		else {
			fprintf(stderr, "dns_drive: bad lookup %s\n", a);
			return 2;
		}
		if (r != 0) {
			fprintf(stderr, "dns_drive: %s: %s\n", a,
			    j->q.res.reason);
			return 1;
		}
		njobs++;
		left++;
	}
	loop_timer_init(&stall, on_stall, NULL);
	if (loop_timer_arm(&L, &stall, 20000) != 0)
		return 1;
	if (left > 0 && loop_run(&L) != 0) {
		fprintf(stderr, "dns_drive: %s\n", loop_error(&L));
		return 1;
	}
	loop_timer_cancel(&L, &stall);
	for (i = 0; i < njobs; i++) {
		if (!jobs[i].done) {
			printf("%s no answer\n", jobs[i].what);
			rc = 1;
		} else
			print(&jobs[i]);
	}
	/*
	 * Let a cancelled lookup's answer arrive (and be dropped) before
	 * the resolver goes.
	 */
	if (loop_timer_arm(&L, &stall, 300) == 0 && loop_run(&L) != 0)
		rc = 1;
	dns_free(&D);
	loop_free(&L);
	return rc;
}
