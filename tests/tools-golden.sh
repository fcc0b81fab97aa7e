#!/bin/sh
# Dump goldens and the dump round trip.  For every good source in
# tests/good/ and every example in examples/: compile it to T, dump T
# (compared with tests/good/NAME.dump where there is one), compile the
# dump to T2 and require T2 to be byte-identical to T, its dump to be
# identical to T's, and `policyc diff T T2` to find nothing.
: "${top_srcdir:?}" "${POLICYC:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tools-golden.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/a" "$tmp/b"
fail=0
n=0

bad() {
	echo "FAIL: $*" >&2
	fail=1
}

for src in "$top_srcdir"/tests/good/*.policy "$top_srcdir"/examples/*.policy \
    "$top_srcdir"/examples/*/*.policy
do
	[ -f "$src" ] || continue
	n=$((n + 1))
	name=$(basename "$src" .policy)
	case $src in
	*/examples/*/*) name=example-$(basename "$(dirname "$src")")-$name ;;
	*/examples/*) name=example-$name ;;
	esac
	if ! "$POLICYC" -o "$tmp/a/$name.ptab" "$src" 2>"$tmp/$name.cc"; then
		bad "$src does not compile:"
		cat "$tmp/$name.cc" >&2
		continue
	fi
	# Dump from inside the folder: the comment names the table as given.
	if ! (cd "$tmp/a" && "$POLICYC" dump "$name.ptab") \
	    >"$tmp/$name.policy" 2>"$tmp/$name.err"; then
		bad "dump of $src failed:"
		cat "$tmp/$name.err" >&2
		continue
	fi
	if [ -s "$tmp/$name.err" ]; then
		bad "dump of $src wrote to stderr:"
		cat "$tmp/$name.err" >&2
	fi
	golden=${src%.policy}.dump
	case $src in
	*/examples/*) ;;
	*)
		if [ ! -f "$golden" ]; then
			bad "$golden is missing"
		else
			# The checksum changes with the table format, not
			# with the dump: the round trip below checks tables.
			sed 's/, checksum [0-9a-f]*$/, checksum X/' "$golden" \
			    >"$tmp/$name.want"
			sed 's/, checksum [0-9a-f]*$/, checksum X/' \
			    "$tmp/$name.policy" >"$tmp/$name.got"
			diff -u "$tmp/$name.want" "$tmp/$name.got" >&2 ||
			    bad "dump of $src differs from $golden"
		fi
		;;
	esac
	if ! "$POLICYC" -o "$tmp/b/$name.ptab" "$tmp/$name.policy" \
	    2>"$tmp/$name.cc2"; then
		bad "the dump of $src does not compile:"
		cat "$tmp/$name.cc2" >&2
		continue
	fi
	if ! cmp "$tmp/a/$name.ptab" "$tmp/b/$name.ptab" >&2; then
		bad "compile(dump($src)) is not byte-identical to its table"
	fi
	if ! (cd "$tmp/b" && "$POLICYC" dump "$name.ptab") \
	    >"$tmp/$name.policy2" 2>&1; then
		bad "dump of the recompiled $src failed"
	elif ! cmp -s "$tmp/$name.policy" "$tmp/$name.policy2"; then
		bad "dump(compile(dump($src))) differs from dump($src)"
		diff -u "$tmp/$name.policy" "$tmp/$name.policy2" >&2
	fi
	out=$("$POLICYC" diff "$tmp/a/$name.ptab" "$tmp/b/$name.ptab" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] || [ "$out" != "no change in treatment" ]; then
		bad "diff of $src and its round trip (exit $rc): $out"
	fi
done

# A good source without its golden, or a golden without its source.
for g in "$top_srcdir"/tests/good/*.dump; do
	[ -f "$g" ] || continue
	[ -f "${g%.dump}.policy" ] || bad "$g has no source"
done

[ $n -ge 4 ] || bad "only $n sources found"
exit $fail
