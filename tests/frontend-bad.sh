#!/bin/sh
# frontend-bad: every tests/bad/NAME.policy makes `policyc -n` print
# exactly NAME.err on stderr, nothing on stdout, and exit 1 if the
# golden holds an error (0 if only warnings).  NAME.flags, if present,
# holds extra options.  policyc runs inside tests/bad with a relative
# file name, so the goldens name files as a user would see them.
#
# BASTION_REGEN=1 rewrites the goldens from the current output instead
# (review the diff before committing it).
: "${top_srcdir:?}" "${POLICYC:?}"

cd "$top_srcdir/tests/bad" || exit 1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/frontend-bad.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

fail=0
n=0
for f in *.policy; do
	name=${f%.policy}
	flags=
	[ -f "$name.flags" ] && flags=$(cat "$name.flags")
	n=$((n + 1))
	# shellcheck disable=SC2086
	"$POLICYC" -n $flags "$f" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "${BASTION_REGEN:-0}" = 1 ]; then
		cp "$tmp/err" "$name.err"
		continue
	fi
	if [ ! -f "$name.err" ]; then
		echo "FAIL $name: no golden $name.err"
		fail=1
		continue
	fi
	want=0
	grep -q ': error: ' "$name.err" && want=1
	if [ "$rc" -ne "$want" ]; then
		echo "FAIL $name: exit $rc, expected $want"
		fail=1
	fi
	if [ -s "$tmp/out" ]; then
		echo "FAIL $name: policyc -n wrote to stdout:"
		cat "$tmp/out"
		fail=1
	fi
	if ! cmp -s "$name.err" "$tmp/err"; then
		echo "FAIL $name: diagnostics differ from $name.err:"
		diff -u "$name.err" "$tmp/err"
		fail=1
	fi
done
[ "$n" -gt 0 ] || { echo "FAIL: no policies in tests/bad"; exit 1; }
[ "$fail" = 0 ] && echo "ok: $n bad policies give their golden diagnostics"
exit $fail
