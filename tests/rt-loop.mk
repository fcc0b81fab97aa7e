# tests/rt-loop.mk: the event loop and the connection over it, password
# verification and SASL
# (runtime/core/loop*.c, core/conn.c, inbound/pwcheck.c, inbound/sasl.c).
RT_LOOP_LIBS = runtime/librt.a lib/libbastion.a $(SODIUM_LIBS) $(BEARSSL_LIBS)

check_PROGRAMS += tests/unit/loop_test
tests_unit_loop_test_SOURCES = tests/unit/loop_test.c
tests_unit_loop_test_LDADD = $(RT_LOOP_LIBS)
TESTS += tests/unit/loop_test

check_PROGRAMS += tests/unit/pwcheck_test
tests_unit_pwcheck_test_SOURCES = tests/unit/pwcheck_test.c
tests_unit_pwcheck_test_LDADD = $(RT_LOOP_LIBS)
TESTS += tests/unit/pwcheck_test

check_PROGRAMS += tests/unit/sasl_test
tests_unit_sasl_test_SOURCES = tests/unit/sasl_test.c
tests_unit_sasl_test_LDADD = $(RT_LOOP_LIBS)
TESTS += tests/unit/sasl_test

check_PROGRAMS += tests/unit/conn_test
tests_unit_conn_test_SOURCES = tests/unit/conn_test.c
tests_unit_conn_test_LDADD = $(RT_LOOP_LIBS)
TESTS += tests/unit/conn_test
