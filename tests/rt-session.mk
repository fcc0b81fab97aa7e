# tests/rt-session.mk: the SMTP protocol parser and the daemon.
check_PROGRAMS += tests/unit/smtp_proto_test
tests_unit_smtp_proto_test_SOURCES = tests/unit/smtp_proto_test.c
tests_unit_smtp_proto_test_LDADD = runtime/librt.a $(LIBBASTION)
TESTS += tests/unit/smtp_proto_test
check_PROGRAMS += tests/unit/hostcount_test
tests_unit_hostcount_test_SOURCES = tests/unit/hostcount_test.c
tests_unit_hostcount_test_LDADD = runtime/librt.a $(LIBBASTION)
TESTS += tests/unit/hostcount_test
