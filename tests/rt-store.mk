# tests/rt-store.mk
