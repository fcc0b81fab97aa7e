#!/bin/sh
# frontend-limits: the front end stops after LIM_ERRORS (100) errors and
# says so, and its input bounds hold: an over-long string or word is
# reported where it starts.
: "${POLICYC:?}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/frontend-limits.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
cd "$tmp" || exit 1

i=0
while [ $i -lt 150 ]; do
	echo "hots 192.0.2.$i deny"
	i=$((i + 1))
done >many.policy
"$POLICYC" -n many.policy >out 2>err
rc=$?
nerr=$(grep -c ': error: ' err)
if [ "$rc" -ne 1 ] || [ "$nerr" -ne 101 ] ||
    [ "$(tail -n 1 err)" != "many.policy: error: too many errors; stopping" ]
then
	echo "FAIL: 150 errors: exit $rc, $nerr error lines, last line:"
	tail -n 1 err
	fail=1
fi
if ! grep -q "^many.policy:100:1: error: unknown keyword 'hots'; did you mean 'host'?$" err ||
    grep -q '^many.policy:101:' err; then
	echo "FAIL: the first 100 errors, and only them, are reported"
	fail=1
fi

long=$(head -c 5000 /dev/zero | tr '\0' 'a')
printf 'server {\n\thostname "%s"\n}\nhost %s deny\n' "$long" "$long" \
    >long.policy
"$POLICYC" -n long.policy >out 2>err
rc=$?
if [ "$rc" -ne 1 ] ||
    ! grep -q '^long.policy:2:11: error: string is longer than 4096 bytes$' err ||
    ! grep -q '^long.policy:4:6: error: word is longer than 4096 bytes$' err
then
	echo "FAIL: over-long tokens: exit $rc, stderr:"
	head -c 2000 err
	fail=1
fi
[ "$fail" = 0 ] && echo "ok: error limit and token bounds hold"
exit $fail
