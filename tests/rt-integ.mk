# tests/rt-integ.mk
