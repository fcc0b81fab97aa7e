# tests/rt-session.mk: the SMTP protocol parser and the daemon.
check_PROGRAMS += tests/unit/smtp_proto_test
tests_unit_smtp_proto_test_SOURCES = tests/unit/smtp_proto_test.c
tests_unit_smtp_proto_test_LDADD = runtime/librt.a $(LIBBASTION)
TESTS += tests/unit/smtp_proto_test
check_PROGRAMS += tests/unit/hostcount_test
tests_unit_hostcount_test_SOURCES = tests/unit/hostcount_test.c
tests_unit_hostcount_test_LDADD = runtime/librt.a $(LIBBASTION)
TESTS += tests/unit/hostcount_test

# Sessions alone: a context built by the test, a client on loopback.
check_PROGRAMS += tests/unit/session_test
tests_unit_session_test_SOURCES = tests/unit/session_test.c \
	tests/unit/spool_testutil.h tests/unit/rt_testutil.h
tests_unit_session_test_LDADD = runtime/librt.a $(LIBBASTION) \
	$(SODIUM_LIBS) $(BEARSSL_LIBS)
TESTS += tests/unit/session_test
