# tests/: run by `make check`.  Each part of the tree keeps its tests in
# its own fragment; scripts find the programs through the environment.
AM_TESTS_ENVIRONMENT = \
	top_srcdir='$(abs_top_srcdir)'; export top_srcdir; \
	top_builddir='$(abs_top_builddir)'; export top_builddir; \
	POLICYC='$(abs_top_builddir)/policyc'; export POLICYC; \
	BASTIOND='$(abs_top_builddir)/bastiond'; export BASTIOND; \
	FUZZ_CC='$(FUZZ_CC)'; export FUZZ_CC;
EXTRA_DIST += tests

include tests/frontend.mk
include tests/table.mk
include tests/crypto.mk
include tests/tools.mk
include tests/rt-loop.mk
include tests/rt-tls.mk
include tests/rt-store.mk
include tests/rt-session.mk
include tests/rt-proxy.mk
include tests/rt-integ.mk
include tests/rt-out.mk
include tests/rt-outinteg.mk
