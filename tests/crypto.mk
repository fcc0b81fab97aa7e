# tests/crypto.mk: base64, SCRAM-SHA-256, verifiers and sealed secrets
# (lib/b64.c, lib/scram.c, lib/verifier.c, lib/seal.c) as a unit test,
# and policyc's keygen, seal and passwd through the real program.
check_PROGRAMS += tests/unit/crypto_test
tests_unit_crypto_test_SOURCES = tests/unit/crypto_test.c
tests_unit_crypto_test_LDADD = lib/libbastion.a $(SODIUM_LIBS)

TESTS += tests/unit/crypto_test tests/crypto-cli.sh
