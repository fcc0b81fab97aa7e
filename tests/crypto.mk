# tests/crypto.mk: base64, SCRAM-SHA-256, verifiers and sealed secrets
# (lib/b64.c, lib/scram.c, lib/verifier.c, lib/seal.c) as a unit test,
# and policyc's keygen, seal and passwd through the real program.
check_PROGRAMS += tests/unit/test_crypto
tests_unit_test_crypto_SOURCES = tests/unit/test_crypto.c
tests_unit_test_crypto_LDADD = lib/libbastion.a $(SODIUM_LIBS)

TESTS += tests/unit/test_crypto tests/crypto-cli.sh
