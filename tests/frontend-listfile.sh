#!/bin/sh
# frontend-listfile: errors inside a list file are reported at
# LISTFILE:LINE:COL, the list file named relative to the policy's
# folder as the policy itself was named on the command line.  Run from
# tests/, so both names carry "bad/".
: "${top_srcdir:?}" "${POLICYC:?}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/frontend-listfile.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0

cd "$top_srcdir/tests" || exit 1
"$POLICYC" -n bad/listfile-errors.policy >"$tmp/out" 2>"$tmp/err"
rc=$?
sed 's|^listfile-errors\.|bad/listfile-errors.|' \
    bad/listfile-errors.err >"$tmp/want"
if [ "$rc" -ne 1 ]; then
	echo "FAIL: exit $rc, expected 1"
	fail=1
fi
if ! cmp -s "$tmp/want" "$tmp/err"; then
	echo "FAIL: diagnostics differ:"
	diff -u "$tmp/want" "$tmp/err"
	fail=1
fi
# Every error is in the list file, with a line and a column.
if grep ': error: ' "$tmp/err" |
    grep -qv '^bad/listfile-errors\.txt:[0-9][0-9]*:[0-9][0-9]*: error: '
then
	echo "FAIL: an error not placed in the list file:"
	cat "$tmp/err"
	fail=1
fi
[ "$fail" = 0 ] && echo "ok: list file errors say LISTFILE:LINE:COL"
exit $fail
