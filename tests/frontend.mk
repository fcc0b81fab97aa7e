# tests/frontend.mk: the policyc front end (scanner, parser, semantic
# pass, emitter).  tests/bad/ holds one policy per check with the exact
# diagnostics `policyc -n` prints for it (NAME.err; NAME.flags adds
# options); the scripts check exit codes and -W error.
TESTS += \
	tests/frontend-bad.sh \
	tests/frontend-clean.sh \
	tests/frontend-werror.sh \
	tests/frontend-listfile.sh \
	tests/frontend-limits.sh \
	tests/frontend-rcpts-large.sh
