#!/bin/sh
# policyc diff: the networks, domains, listeners, settings and users
# whose treatment changes between two tables, exactly as expected
# (tests/tools-diff/), both ways; rules that only moved are no change.
: "${top_srcdir:?}" "${POLICYC:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tools-diff.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
dir=$top_srcdir/tests/tools-diff
fail=0

compile() {
	"$POLICYC" -o "$2" "$1" 2>"$tmp/cc" || {
		echo "FAIL: $1 does not compile:" >&2
		cat "$tmp/cc" >&2
		exit 1
	}
}

# expect WANTFILE OLD NEW: diff prints WANTFILE exactly and exits 0.
expect() {
	"$POLICYC" diff "$2" "$3" >"$tmp/got" 2>"$tmp/err"
	rc=$?
	if [ $rc -ne 0 ] || [ -s "$tmp/err" ]; then
		echo "FAIL: diff $2 $3: exit $rc" >&2
		cat "$tmp/err" >&2
		fail=1
	fi
	if ! diff -u "$1" "$tmp/got" >&2; then
		echo "FAIL: diff $2 $3 differs from $1" >&2
		fail=1
	fi
}

compile "$dir/old.policy" "$tmp/old.ptab"
compile "$dir/new.policy" "$tmp/new.ptab"
expect "$dir/expected.out" "$tmp/old.ptab" "$tmp/new.ptab"
expect "$dir/expected-reverse.out" "$tmp/new.ptab" "$tmp/old.ptab"

# The same table, and the same policy with every line moved down.
echo "no change in treatment" >"$tmp/none.out"
expect "$tmp/none.out" "$tmp/new.ptab" "$tmp/new.ptab"
{ printf '\n\n\n# moved\n'; cat "$dir/new.policy"; } >"$tmp/moved.policy"
compile "$tmp/moved.policy" "$tmp/moved.ptab"
if cmp -s "$tmp/new.ptab" "$tmp/moved.ptab"; then
	echo "FAIL: moving every line did not change the table" >&2
	fail=1
fi
expect "$tmp/none.out" "$tmp/new.ptab" "$tmp/moved.ptab"

# Every good source against every other: exit 0, and against itself
# nothing (a smoke test of the walks over real tables).
for a in "$top_srcdir"/tests/good/*.policy; do
	compile "$a" "$tmp/a.ptab"
	expect "$tmp/none.out" "$tmp/a.ptab" "$tmp/a.ptab"
	for b in "$top_srcdir"/tests/good/*.policy; do
		compile "$b" "$tmp/b.ptab"
		if ! "$POLICYC" diff "$tmp/a.ptab" "$tmp/b.ptab" \
		    >"$tmp/out" 2>&1 || ! [ -s "$tmp/out" ]; then
			echo "FAIL: diff $a $b" >&2
			cat "$tmp/out" >&2
			fail=1
		fi
	done
done
exit $fail
