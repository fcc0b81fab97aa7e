# fuzz/: libFuzzer targets, built with clang by `make fuzz` from the
# same sources the programs use.  tests/fuzz-smoke runs each over its
# seed corpus for a few seconds.
# Named one by one: a directory "fuzz" in EXTRA_DIST would make `dist`
# depend on the phony target of the same name.
EXTRA_DIST += fuzz/fuzz_policy.c fuzz/fuzz_ptab.c fuzz/fuzz_smtp.c \
	fuzz/fuzz_sasl.c fuzz/fuzz_b64.c fuzz/fuzz_proxy.c fuzz/fuzz_ctl.c \
	fuzz/seeds
# _FORTIFY_SOURCE off: it would hide overflows from ASan's interceptors.
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -std=c11 $(AM_CPPFLAGS) \
	$(SODIUM_CFLAGS) -Wall -Wextra $(WARN_CFLAGS) -U_FORTIFY_SOURCE
FUZZ_LIB_SRC = $(filter %.c,$(lib_libbastion_a_SOURCES))
FUZZ_COMPILER_SRC = $(filter-out compiler/policyc.c,$(filter %.c,$(policyc_SOURCES)))
FUZZ_GRAMMAR_SRC = $(filter %.c,$(grammar_libgrammar_a_SOURCES))
FUZZ_TARGETS = fuzz/fuzz_policy fuzz/fuzz_ptab fuzz/fuzz_smtp fuzz/fuzz_sasl \
	fuzz/fuzz_b64 fuzz/fuzz_proxy fuzz/fuzz_ctl

# Each target's sources, from the source tree (the generated parser and
# scanner come from the build tree), and its own flags.
fuzz_policy_SRC = fuzz/fuzz_policy.c $(FUZZ_GRAMMAR_SRC) \
	$(FUZZ_COMPILER_SRC) $(FUZZ_LIB_SRC)
fuzz_ptab_SRC = fuzz/fuzz_ptab.c $(FUZZ_LIB_SRC)
fuzz_smtp_SRC = fuzz/fuzz_smtp.c runtime/inbound/smtp_proto.c
fuzz_sasl_SRC = fuzz/fuzz_sasl.c runtime/inbound/sasl.c $(FUZZ_LIB_SRC)
fuzz_b64_SRC = fuzz/fuzz_b64.c lib/b64.c
fuzz_proxy_SRC = fuzz/fuzz_proxy.c runtime/inbound/proxy.c lib/addr.c
fuzz_ctl_SRC = fuzz/fuzz_ctl.c runtime/core/ctl.c runtime/core/loop.c \
	runtime/core/loop_epoll.c runtime/core/oplog.c
# The compiler, the grammar and its generated parser in one compile.
fuzz_policy_FLAGS = $(GRAMMAR_INCLUDES) -iquote $(top_builddir)/grammar \
	$(COMPILER_INCLUDES) -Wno-unused-function

fuzz/fuzz_policy: grammar/parser.c grammar/lexer.c \
	$(fuzz_policy_SRC:%=$(srcdir)/%)
fuzz/fuzz_ptab: $(fuzz_ptab_SRC:%=$(srcdir)/%)
fuzz/fuzz_smtp: $(fuzz_smtp_SRC:%=$(srcdir)/%)
fuzz/fuzz_sasl: $(fuzz_sasl_SRC:%=$(srcdir)/%)
fuzz/fuzz_b64: $(fuzz_b64_SRC:%=$(srcdir)/%)
fuzz/fuzz_proxy: $(fuzz_proxy_SRC:%=$(srcdir)/%)
fuzz/fuzz_ctl: $(fuzz_ctl_SRC:%=$(srcdir)/%)

# One rule for all of them: each links its own list above.
$(FUZZ_TARGETS):
	@test -n "$(FUZZ_CC)" || { echo "make fuzz needs clang: install the Debian package 'clang'" >&2; exit 1; }
	$(AM_V_CC)$(MKDIR_P) fuzz && $(FUZZ_CC) $(FUZZ_FLAGS) \
	    $($(@F)_FLAGS) -o $@ $^ $(SODIUM_LIBS)

fuzz: $(FUZZ_TARGETS)
.PHONY: fuzz

CLEANFILES += $(FUZZ_TARGETS)
