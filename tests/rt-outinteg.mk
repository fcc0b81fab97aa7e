# tests/rt-outinteg.mk
