# tests/rt-store.mk: the spool, Maildir delivery and the protocol log
# (runtime/store/spool.c, maildir.c, plog.c).
RT_STORE_LIBS = runtime/librt.a lib/libbastion.a $(SODIUM_LIBS) $(BEARSSL_LIBS)

check_PROGRAMS += tests/unit/spool_test
tests_unit_spool_test_SOURCES = tests/unit/spool_test.c \
	tests/unit/spool_testutil.h
tests_unit_spool_test_LDADD = $(RT_STORE_LIBS)
TESTS += tests/unit/spool_test

check_PROGRAMS += tests/unit/spool_crash_test
tests_unit_spool_crash_test_SOURCES = tests/unit/spool_crash_test.c \
	tests/unit/spool_testutil.h
tests_unit_spool_crash_test_LDADD = $(RT_STORE_LIBS)
TESTS += tests/unit/spool_crash_test

check_PROGRAMS += tests/unit/spool_enospc_test
tests_unit_spool_enospc_test_SOURCES = tests/unit/spool_enospc_test.c \
	tests/unit/spool_testutil.h
tests_unit_spool_enospc_test_LDADD = $(RT_STORE_LIBS)
TESTS += tests/unit/spool_enospc_test

check_PROGRAMS += tests/unit/maildir_test
tests_unit_maildir_test_SOURCES = tests/unit/maildir_test.c \
	tests/unit/spool_testutil.h
tests_unit_maildir_test_LDADD = $(RT_STORE_LIBS)
TESTS += tests/unit/maildir_test

check_PROGRAMS += tests/unit/plog_test
tests_unit_plog_test_SOURCES = tests/unit/plog_test.c \
	tests/unit/spool_testutil.h
tests_unit_plog_test_LDADD = $(RT_STORE_LIBS)
TESTS += tests/unit/plog_test

check_PROGRAMS += tests/unit/plog_concurrent_test
tests_unit_plog_concurrent_test_SOURCES = tests/unit/plog_concurrent_test.c \
	tests/unit/spool_testutil.h
tests_unit_plog_concurrent_test_LDADD = $(RT_STORE_LIBS)
TESTS += tests/unit/plog_concurrent_test

# doc/spool-format.md checked by an independent reader (needs spool_test).
TESTS += tests/rt/spool_format.py

# The queue alone, with a loop, a spool and a table of its own.
check_PROGRAMS += tests/unit/queue_test
tests_unit_queue_test_SOURCES = tests/unit/queue_test.c \
	tests/unit/spool_testutil.h tests/unit/rt_testutil.h
tests_unit_queue_test_LDADD = $(RT_STORE_LIBS)
TESTS += tests/unit/queue_test

# The commit thread, and the spool's asynchronous commit through it.
check_PROGRAMS += tests/unit/commit_test
tests_unit_commit_test_SOURCES = tests/unit/commit_test.c \
	tests/unit/spool_testutil.h
tests_unit_commit_test_LDADD = $(RT_STORE_LIBS)
TESTS += tests/unit/commit_test

# Maildir delivery, with a loop and the commit thread.
check_PROGRAMS += tests/unit/local_test
tests_unit_local_test_SOURCES = tests/unit/local_test.c \
	tests/unit/spool_testutil.h tests/unit/rt_testutil.h
tests_unit_local_test_LDADD = $(RT_STORE_LIBS)
TESTS += tests/unit/local_test
