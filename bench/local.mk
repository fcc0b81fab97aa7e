# bench/: the table benchmark.  `make bench` builds bench/ptab_bench and
# runs bench/run.sh, which prints figures and never fails on a time
# (bench/README.md says what each one means).  The program is not built
# by plain `make`.
EXTRA_DIST += bench/README.md bench/run.sh bench/gen.py bench/proc.py bench/peer.sh

EXTRA_PROGRAMS = bench/ptab_bench
bench_ptab_bench_SOURCES = bench/ptab_bench.c
bench_ptab_bench_LDADD = $(LIBBASTION)
CLEANFILES += bench/ptab_bench$(EXEEXT)

bench: bench/ptab_bench$(EXEEXT) policyc$(EXEEXT)
	@top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	POLICYC='$(abs_top_builddir)/policyc$(EXEEXT)' \
	BENCH_PROG='$(abs_top_builddir)/bench/ptab_bench$(EXEEXT)' \
	BENCH_SAN='$(SAN_CFLAGS)' \
	$(SHELL) $(srcdir)/bench/run.sh
	@$(MAKE) $(AM_MAKEFLAGS) bench-runtime
	@$(MAKE) $(AM_MAKEFLAGS) bench-relay
.PHONY: bench

# The runtime benchmark (issue 3): `make bench-runtime` runs bastiond on
# the loopback under load (bench/rt_run.sh, bench/rt_bench.py;
# bench/README.md, "The runtime benchmark").  `make bench` runs it after
# the table benchmark.
EXTRA_DIST += bench/rt_run.sh bench/rt_bench.py
EXTRA_PROGRAMS += bench/rt_tlsclient
bench_rt_tlsclient_SOURCES = bench/rt_tlsclient.c
bench_rt_tlsclient_LDADD = runtime/librt.a $(LIBBASTION) $(BEARSSL_LIBS)
CLEANFILES += bench/rt_tlsclient$(EXEEXT)

bench-runtime: bench/rt_tlsclient$(EXEEXT) bastiond$(EXEEXT) \
	    policyc$(EXEEXT)
	@top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	POLICYC='$(abs_top_builddir)/policyc$(EXEEXT)' \
	BASTIOND='$(abs_top_builddir)/bastiond$(EXEEXT)' \
	BENCH_TLSCLIENT='$(abs_top_builddir)/bench/rt_tlsclient$(EXEEXT)' \
	BENCH_SAN='$(SAN_CFLAGS)' \
	$(SHELL) $(srcdir)/bench/rt_run.sh
.PHONY: bench-runtime

# The TLS handshake benchmark: `make bench-tls` times the public-key
# steps (bench/tls_ecbench) and STARTTLS sessions against bastiond and a
# private Postfix with the same certificate (bench/tls_run.sh,
# bench/tls_bench.py; bench/README.md, "The TLS handshake benchmark").
# Not part of `make bench`, whose runtime part has its own handshake
# figures.
EXTRA_DIST += bench/tls_run.sh bench/tls_bench.py
EXTRA_PROGRAMS += bench/tls_ecbench
bench_tls_ecbench_SOURCES = bench/tls_ecbench.c
bench_tls_ecbench_LDADD = runtime/librt.a $(LIBBASTION) $(BEARSSL_LIBS)
CLEANFILES += bench/tls_ecbench$(EXEEXT)

bench-tls: bench/tls_ecbench$(EXEEXT) bench/rt_tlsclient$(EXEEXT) \
	    bastiond$(EXEEXT) policyc$(EXEEXT)
	@top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	POLICYC='$(abs_top_builddir)/policyc$(EXEEXT)' \
	BASTIOND='$(abs_top_builddir)/bastiond$(EXEEXT)' \
	BENCH_TLSCLIENT='$(abs_top_builddir)/bench/rt_tlsclient$(EXEEXT)' \
	BENCH_ECBENCH='$(abs_top_builddir)/bench/tls_ecbench$(EXEEXT)' \
	BENCH_SAN='$(SAN_CFLAGS)' \
	$(SHELL) $(srcdir)/bench/tls_run.sh
.PHONY: bench-tls

# The relay benchmark (issue 4): `make bench-relay` relays mail from
# smtp-source through bastiond, and through a private Postfix instance,
# to smtp-sink on the loopback (bench/relay_run.sh, bench/relay_bench.py;
# bench/README.md, "The relay benchmark").  `make bench` runs it last.
EXTRA_DIST += bench/relay_run.sh bench/relay_bench.py

bench-relay: bastiond$(EXEEXT) policyc$(EXEEXT)
	@top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	POLICYC='$(abs_top_builddir)/policyc$(EXEEXT)' \
	BASTIOND='$(abs_top_builddir)/bastiond$(EXEEXT)' \
	BENCH_SAN='$(SAN_CFLAGS)' \
	$(SHELL) $(srcdir)/bench/relay_run.sh
.PHONY: bench-relay

# The cluster benchmark: `make bench-cluster` runs bastiond behind
# HAProxy, one node and two, with and without the PROXY header
# (bench/cluster_run.sh, bench/cluster_bench.py; bench/README.md, "The
# cluster benchmark").  Not part of `make bench`.
EXTRA_DIST += bench/cluster_run.sh bench/cluster_bench.py

bench-cluster: bastiond$(EXEEXT) policyc$(EXEEXT)
	@top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	POLICYC='$(abs_top_builddir)/policyc$(EXEEXT)' \
	BASTIOND='$(abs_top_builddir)/bastiond$(EXEEXT)' \
	BENCH_SAN='$(SAN_CFLAGS)' \
	$(SHELL) $(srcdir)/bench/cluster_run.sh
.PHONY: bench-cluster

# The big-queue benchmark: `make bench-queue` runs bastiond with 100,000
# deferred messages in its spool against an empty one: start to first
# 220, idle CPU, sessions/s at 20 clients (bench/queue_run.sh,
# bench/queue_bench.py; bench/README.md, "The queue benchmark").  Not
# part of `make bench`.
EXTRA_DIST += bench/queue_run.sh bench/queue_bench.py

bench-queue: bastiond$(EXEEXT) policyc$(EXEEXT)
	@top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	POLICYC='$(abs_top_builddir)/policyc$(EXEEXT)' \
	BASTIOND='$(abs_top_builddir)/bastiond$(EXEEXT)' \
	BENCH_SAN='$(SAN_CFLAGS)' \
	$(SHELL) $(srcdir)/bench/queue_run.sh
.PHONY: bench-queue
