# tests/table.mk
