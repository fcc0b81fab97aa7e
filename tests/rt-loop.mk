# tests/rt-loop.mk
