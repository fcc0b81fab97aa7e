# tests/table.mk: unit tests of the compiled table (lib/ptab_*.c) and of
# address parsing (lib/addr.c).  gen_ptab_seeds rewrites the fuzzer's
# seed tables; ptab_test fails when they are stale.
check_PROGRAMS += tests/unit/addr_test tests/unit/ptab_test \
	tests/unit/gen_ptab_seeds
TESTS += tests/unit/addr_test tests/unit/ptab_test

tests_unit_addr_test_SOURCES = tests/unit/addr_test.c
tests_unit_addr_test_LDADD = lib/libbastion.a $(SODIUM_LIBS)

tests_unit_ptab_test_SOURCES = tests/unit/ptab_test.c \
	tests/unit/ptab_sample.c tests/unit/ptab_sample.h
tests_unit_ptab_test_LDADD = lib/libbastion.a $(SODIUM_LIBS)

tests_unit_gen_ptab_seeds_SOURCES = tests/unit/gen_ptab_seeds.c \
	tests/unit/ptab_sample.c tests/unit/ptab_sample.h
tests_unit_gen_ptab_seeds_LDADD = lib/libbastion.a $(SODIUM_LIBS)

# The whole-file reader (lib/fileio.c) behind policies, list files, key
# and PEM files.
check_PROGRAMS += tests/unit/fileio_test
TESTS += tests/unit/fileio_test
tests_unit_fileio_test_SOURCES = tests/unit/fileio_test.c
tests_unit_fileio_test_LDADD = lib/libbastion.a $(SODIUM_LIBS)
