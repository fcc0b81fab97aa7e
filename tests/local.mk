# tests/: run by `make check`.  Each part of the tree keeps its tests in
# its own fragment; scripts find the programs through the environment.
AM_TESTS_ENVIRONMENT = \
	top_srcdir='$(abs_top_srcdir)'; export top_srcdir; \
	top_builddir='$(abs_top_builddir)'; export top_builddir; \
	POLICYC='$(abs_top_builddir)/policyc'; export POLICYC; \
	BASTIOND='$(abs_top_builddir)/bastiond'; export BASTIOND; \
	FUZZ_CC='$(FUZZ_CC)'; export FUZZ_CC;

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
include tests/ctl.mk
include tests/modgraph.mk

# What ships: the data folders (tests write only into temporary ones),
# every script in TESTS, the helpers they import or run, and headers no
# _SOURCES names.  Named, not the whole of tests/, so that the products
# of a build beside the sources never ship.
EXTRA_DIST += tests/bad tests/good tests/tools-diff \
	tests/certs/make-certs.sh \
	$(filter %.sh %.py,$(TESTS)) \
	tests/rt/check.py tests/rt/harness.py tests/rt/out_lib.py \
	tests/rt/smtpc_lib.py tests/rt/smtpc_sink.py tests/rt/ctl_lib.py \
	tests/unit/check.h
