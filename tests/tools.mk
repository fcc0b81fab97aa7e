# tests/tools.mk: policyc dump, query and diff.  Good sources in
# tests/good/ each have the dump they must give (NAME.dump); every
# source there and in examples/ must round-trip through dump to a
# byte-identical table.
TESTS += tests/tools-golden.sh tests/tools-query.sh tests/tools-diff.sh \
	tests/tools-errors.sh
