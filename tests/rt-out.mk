# tests/rt-out.mk
