# tests/ctl.mk: bastionctl and the control socket: the request parser
# (a unit test with random requests), and every command against a
# running bastiond with real clients, a next hop (aiosmtpd) that is
# down and then up, kill -9, a peer that is neither root nor the `run
# as` user, and hostile requests.
check_PROGRAMS += tests/unit/ctl_test
tests_unit_ctl_test_SOURCES = tests/unit/ctl_test.c
tests_unit_ctl_test_LDADD = runtime/librt.a lib/libbastion.a $(SODIUM_LIBS)
TESTS += tests/unit/ctl_test

TESTS += tests/rt/ctl_commands.py
TESTS += tests/rt/ctl_hostile.py

check_PROGRAMS += tests/unit/spool_hold_test
tests_unit_spool_hold_test_SOURCES = tests/unit/spool_hold_test.c \
	tests/unit/spool_testutil.h
tests_unit_spool_hold_test_LDADD = runtime/librt.a lib/libbastion.a \
	$(SODIUM_LIBS)
TESTS += tests/unit/spool_hold_test
