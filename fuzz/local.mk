# fuzz/: libFuzzer targets, built with clang by `make fuzz` from the
# same sources the programs use.  tests/fuzz-smoke runs each over its
# seed corpus for a few seconds.
# Named one by one: a directory "fuzz" in EXTRA_DIST would make `dist`
# depend on the phony target of the same name.
EXTRA_DIST += fuzz/fuzz_policy.c fuzz/fuzz_ptab.c fuzz/fuzz_smtp.c \
	fuzz/fuzz_sasl.c fuzz/fuzz_b64.c fuzz/fuzz_proxy.c fuzz/seeds
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -std=c11 $(AM_CPPFLAGS) -I$(top_builddir) \
	$(SODIUM_CFLAGS)
FUZZ_LIB_SRC = $(filter %.c,$(lib_libbastion_a_SOURCES))
FUZZ_TARGETS = fuzz/fuzz_policy fuzz/fuzz_ptab fuzz/fuzz_smtp fuzz/fuzz_sasl \
	fuzz/fuzz_b64 fuzz/fuzz_proxy

fuzz: $(FUZZ_TARGETS)
.PHONY: fuzz

fuzz/fuzz_ptab: $(srcdir)/fuzz/fuzz_ptab.c $(FUZZ_LIB_SRC:%=$(srcdir)/%)
	@test -n "$(FUZZ_CC)" || { echo "make fuzz needs clang: install the Debian package 'clang'" >&2; exit 1; }
	$(AM_V_CC)$(MKDIR_P) fuzz && $(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $^ $(SODIUM_LIBS)

FUZZ_COMPILER_SRC = $(filter-out compiler/policyc.c,$(filter %.c,$(policyc_SOURCES)))
fuzz/fuzz_policy: $(srcdir)/fuzz/fuzz_policy.c grammar/parser.c grammar/lexer.c \
		$(FUZZ_COMPILER_SRC:%=$(srcdir)/%) $(FUZZ_LIB_SRC:%=$(srcdir)/%)
	@test -n "$(FUZZ_CC)" || { echo "make fuzz needs clang: install the Debian package 'clang'" >&2; exit 1; }
	$(AM_V_CC)$(MKDIR_P) fuzz && $(FUZZ_CC) $(FUZZ_FLAGS) -Wno-unused-function -o $@ $^ $(SODIUM_LIBS)

fuzz/fuzz_smtp: $(srcdir)/fuzz/fuzz_smtp.c $(srcdir)/runtime/inbound/smtp_proto.c
	@test -n "$(FUZZ_CC)" || { echo "make fuzz needs clang: install the Debian package 'clang'" >&2; exit 1; }
	$(AM_V_CC)$(MKDIR_P) fuzz && $(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $^

fuzz/fuzz_sasl: $(srcdir)/fuzz/fuzz_sasl.c $(srcdir)/runtime/inbound/sasl.c $(FUZZ_LIB_SRC:%=$(srcdir)/%)
	@test -n "$(FUZZ_CC)" || { echo "make fuzz needs clang: install the Debian package 'clang'" >&2; exit 1; }
	$(AM_V_CC)$(MKDIR_P) fuzz && $(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $^ $(SODIUM_LIBS)

fuzz/fuzz_b64: $(srcdir)/fuzz/fuzz_b64.c $(srcdir)/lib/b64.c
	@test -n "$(FUZZ_CC)" || { echo "make fuzz needs clang: install the Debian package 'clang'" >&2; exit 1; }
	$(AM_V_CC)$(MKDIR_P) fuzz && $(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $^

fuzz/fuzz_proxy: $(srcdir)/fuzz/fuzz_proxy.c $(srcdir)/runtime/inbound/proxy.c $(srcdir)/lib/addr.c
	@test -n "$(FUZZ_CC)" || { echo "make fuzz needs clang: install the Debian package 'clang'" >&2; exit 1; }
	$(AM_V_CC)$(MKDIR_P) fuzz && $(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $^

CLEANFILES += $(FUZZ_TARGETS)
