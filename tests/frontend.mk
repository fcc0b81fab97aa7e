# tests/frontend.mk
