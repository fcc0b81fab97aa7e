# tests/table.mk: unit tests of the compiled table (lib/ptab_*.c) and of
# address parsing (lib/addr.c).  gen_ptab_seeds rewrites the fuzzer's
# seed tables; test_ptab fails when they are stale.
check_PROGRAMS += tests/unit/test_addr tests/unit/test_ptab \
	tests/unit/gen_ptab_seeds
TESTS += tests/unit/test_addr tests/unit/test_ptab

tests_unit_test_addr_SOURCES = tests/unit/test_addr.c
tests_unit_test_addr_LDADD = lib/libbastion.a $(SODIUM_LIBS)

tests_unit_test_ptab_SOURCES = tests/unit/test_ptab.c \
	tests/unit/ptab_sample.c tests/unit/ptab_sample.h
tests_unit_test_ptab_LDADD = lib/libbastion.a $(SODIUM_LIBS)

tests_unit_gen_ptab_seeds_SOURCES = tests/unit/gen_ptab_seeds.c \
	tests/unit/ptab_sample.c tests/unit/ptab_sample.h
tests_unit_gen_ptab_seeds_LDADD = lib/libbastion.a $(SODIUM_LIBS)

# The whole-file reader (lib/fileio.c) behind policies, list files, key
# and PEM files.
check_PROGRAMS += tests/unit/test_fileio
TESTS += tests/unit/test_fileio
tests_unit_test_fileio_SOURCES = tests/unit/test_fileio.c
tests_unit_test_fileio_LDADD = lib/libbastion.a $(SODIUM_LIBS)
