# tests/rt-tls.mk
