# tests/rt-session.mk: the SMTP protocol parser and the daemon.
check_PROGRAMS += tests/unit/test_smtp_proto
tests_unit_test_smtp_proto_SOURCES = tests/unit/test_smtp_proto.c
tests_unit_test_smtp_proto_LDADD = runtime/librt.a $(LIBBASTION)
TESTS += tests/unit/test_smtp_proto
check_PROGRAMS += tests/unit/test_hostcount
tests_unit_test_hostcount_SOURCES = tests/unit/test_hostcount.c
tests_unit_test_hostcount_LDADD = runtime/librt.a $(LIBBASTION)
TESTS += tests/unit/test_hostcount

# Sessions alone: a context built by the test, a client on loopback.
check_PROGRAMS += tests/unit/session_test
tests_unit_session_test_SOURCES = tests/unit/session_test.c \
	tests/unit/spool_testutil.h tests/unit/rt_testutil.h
tests_unit_session_test_LDADD = runtime/librt.a $(LIBBASTION) \
	$(SODIUM_LIBS) $(BEARSSL_LIBS)
TESTS += tests/unit/session_test
