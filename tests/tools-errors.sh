#!/bin/sh
# policyc dump, query and diff on bad usage (exit 2, usage on stderr),
# -h (exit 0, usage on stdout), and on a missing, truncated, corrupted
# or foreign table (exit 1, one line: "policyc: TABLE: reason").
: "${top_srcdir:?}" "${POLICYC:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tools-errors.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0

"$POLICYC" -o "$tmp/good.ptab" "$top_srcdir/tests/good/nested.policy" \
    2>/dev/null || { echo "FAIL: nested.policy does not compile" >&2; exit 1; }

# run WANTRC WANTOUT ARGS...: exit status, whether stdout may have text
# (out, none), and stderr kept in $tmp/err.
run() {
	wantrc=$1 wantout=$2
	shift 2
	"$POLICYC" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc -ne "$wantrc" ]; then
		echo "FAIL: policyc $*: exit $rc, want $wantrc" >&2
		cat "$tmp/err" >&2
		fail=1
	fi
	if [ "$wantout" = none ] && [ -s "$tmp/out" ]; then
		echo "FAIL: policyc $*: wrote to stdout" >&2
		fail=1
	fi
	if [ "$wantout" = out ] && ! [ -s "$tmp/out" ]; then
		echo "FAIL: policyc $*: wrote nothing" >&2
		fail=1
	fi
}

# stderr_is TEXT-PREFIX: exactly one line, starting with the prefix.
stderr_is() {
	if [ "$(wc -l <"$tmp/err")" -ne 1 ] ||
	    [ "$(head -c ${#1} "$tmp/err")" != "$1" ]; then
		echo "FAIL: stderr should be one line starting '$1':" >&2
		cat "$tmp/err" >&2
		fail=1
	fi
}

for cmd in dump query diff; do
	run 0 out $cmd -h
	grep -q "usage: policyc $cmd" "$tmp/out" ||
	    { echo "FAIL: $cmd -h: no usage" >&2; fail=1; }
	run 2 none $cmd
	grep -q "usage: policyc $cmd" "$tmp/err" ||
	    { echo "FAIL: $cmd: no usage on stderr" >&2; fail=1; }
	run 2 none $cmd -x "$tmp/good.ptab" "$tmp/good.ptab"
	run 2 none $cmd "$tmp/good.ptab" "$tmp/good.ptab" "$tmp/good.ptab"
done
run 2 none query "$tmp/good.ptab"
run 2 none diff "$tmp/good.ptab"
run 2 none dump "$tmp/good.ptab" extra

# Broken tables of every kind.
cp "$tmp/good.ptab" "$tmp/corrupt.ptab"
printf 'ZZZZ' | dd of="$tmp/corrupt.ptab" bs=1 seek=200 conv=notrunc \
    2>/dev/null
cmp -s "$tmp/good.ptab" "$tmp/corrupt.ptab" &&
    { echo "FAIL: could not corrupt the table" >&2; fail=1; }
head -c 100 "$tmp/good.ptab" >"$tmp/short.ptab"
: >"$tmp/empty.ptab"
cp "$top_srcdir/tests/good/nested.policy" "$tmp/source.ptab"

for bad in missing corrupt short empty source; do
	t=$tmp/$bad.ptab
	run 1 none dump "$t"
	stderr_is "policyc: $t: "
	run 1 none query "$t" 192.0.2.1
	stderr_is "policyc: $t: "
	run 1 none query "$t" example.com
	stderr_is "policyc: $t: "
	run 1 none diff "$t" "$tmp/good.ptab"
	stderr_is "policyc: $t: "
	run 1 none diff "$tmp/good.ptab" "$t"
	stderr_is "policyc: $t: "
done

# The good table still works, from a folder and with "--".
run 0 out dump -- "$tmp/good.ptab"
run 0 out query "$tmp/good.ptab" 10.1.2.200
run 0 out diff "$tmp/good.ptab" "$tmp/good.ptab"
exit $fail
