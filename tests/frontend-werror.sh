#!/bin/sh
# frontend-werror: a warning alone leaves the exit status 0 and still
# writes the table; under -W error the same warning is an error: exit 1,
# the message says so, and no table is written.
: "${POLICYC:?}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/frontend-werror.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0

cat >"$tmp/warn.policy" <<'POLICY'
# The only mistake: a list nobody uses.
default require none
list spare { 192.0.2.0/24 }
POLICY
cd "$tmp" || exit 1

"$POLICYC" -n warn.policy >out 2>err
rc=$?
if [ "$rc" -ne 0 ] || [ -s out ] ||
    ! grep -q "^warn.policy:3:6: warning: list 'spare' is never used$" err
then
	echo "FAIL: a warning without -W error: exit $rc, stderr:"
	cat err
	fail=1
fi
"$POLICYC" -o warn.ptab warn.policy 2>err
rc=$?
if [ "$rc" -ne 0 ] || [ ! -s warn.ptab ]; then
	echo "FAIL: a warning must not stop the compile (exit $rc)"
	cat err
	fail=1
fi

"$POLICYC" -n -W error warn.policy >out 2>err
rc=$?
if [ "$rc" -ne 1 ] || [ -s out ] || grep -q 'warning:' err ||
    ! grep -q "^warn.policy:3:6: error: list 'spare' is never used \[-W error\]$" err
then
	echo "FAIL: -W error: exit $rc (expected 1), stderr:"
	cat err
	fail=1
fi
rm -f warn.ptab
"$POLICYC" -W error -o warn.ptab warn.policy 2>err
rc=$?
if [ "$rc" -ne 1 ] || [ -e warn.ptab ]; then
	echo "FAIL: -W error wrote a table or exited $rc"
	fail=1
fi
[ "$fail" = 0 ] && echo "ok: -W error turns a warning into exit 1"
exit $fail
