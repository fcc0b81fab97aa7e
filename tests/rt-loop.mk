# tests/rt-loop.mk: the event loop, password verification and SASL
# (runtime/loop*.c, verify.c, sasl.c).
RT_LOOP_LIBS = runtime/librt.a lib/libbastion.a $(SODIUM_LIBS) $(BEARSSL_LIBS)

check_PROGRAMS += tests/unit/loop_test
tests_unit_loop_test_SOURCES = tests/unit/loop_test.c
tests_unit_loop_test_LDADD = $(RT_LOOP_LIBS)
TESTS += tests/unit/loop_test

check_PROGRAMS += tests/unit/verify_test
tests_unit_verify_test_SOURCES = tests/unit/verify_test.c
tests_unit_verify_test_LDADD = $(RT_LOOP_LIBS)
TESTS += tests/unit/verify_test

check_PROGRAMS += tests/unit/sasl_test
tests_unit_sasl_test_SOURCES = tests/unit/sasl_test.c
tests_unit_sasl_test_LDADD = $(RT_LOOP_LIBS)
TESTS += tests/unit/sasl_test
