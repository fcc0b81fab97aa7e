# bench/: the table benchmark.  `make bench` builds bench/ptab_bench and
# runs bench/run.sh, which prints figures and never fails on a time
# (bench/README.md says what each one means).  The program is not built
# by plain `make`.
EXTRA_DIST += bench/README.md bench/run.sh bench/gen.py bench/proc.py

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
.PHONY: bench
