# tests/rt-out.mk: outbound delivery (runtime/outbound/smtpc.c, dns.c, dsn.c):
# unit tests, and real peers (aiosmtpd, Postfix's smtp-sink, dnsmasq,
# scripted hostile servers) driven through small programs.
RT_OUT_LIBS = runtime/librt.a lib/libbastion.a $(SODIUM_LIBS) \
	$(BEARSSL_LIBS) $(CARES_LIBS)

check_PROGRAMS += tests/unit/dns_drive
tests_unit_dns_drive_SOURCES = tests/unit/dns_drive.c
tests_unit_dns_drive_LDADD = $(RT_OUT_LIBS)
TESTS += tests/rt/dns-dnsmasq.py

check_PROGRAMS += tests/unit/smtpc_drive
tests_unit_smtpc_drive_SOURCES = tests/unit/smtpc_drive.c \
	tests/unit/spool_testutil.h
tests_unit_smtpc_drive_LDADD = $(RT_OUT_LIBS)

check_PROGRAMS += tests/unit/dsn_test
tests_unit_dsn_test_SOURCES = tests/unit/dsn_test.c \
	tests/unit/spool_testutil.h
tests_unit_dsn_test_LDADD = $(RT_OUT_LIBS)
TESTS += tests/unit/dsn_test tests/rt/dsn-parse.py
TESTS += tests/rt/smtpc-aiosmtpd.py tests/rt/smtpc-hostile.py \
	tests/rt/smtpc-manners.py tests/rt/smtpc-sink.sh

check_PROGRAMS += tests/unit/smtpc_test
tests_unit_smtpc_test_SOURCES = tests/unit/smtpc_test.c \
	tests/unit/ptab_sample.c tests/unit/ptab_sample.h \
	tests/unit/spool_testutil.h
tests_unit_smtpc_test_LDADD = $(RT_OUT_LIBS)
TESTS += tests/unit/smtpc_test

# The relay alone: a tiny next hop on loopback, bounces through the hook.
check_PROGRAMS += tests/unit/relay_test
tests_unit_relay_test_SOURCES = tests/unit/relay_test.c \
	tests/unit/spool_testutil.h tests/unit/rt_testutil.h
tests_unit_relay_test_LDADD = $(RT_OUT_LIBS)
TESTS += tests/unit/relay_test
