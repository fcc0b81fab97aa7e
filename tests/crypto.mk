# tests/crypto.mk
