#!/bin/sh
# frontend-rcpts-large: a recipients list of 1,000,000 local parts, read
# from a file this test writes, compiles, dumps and answers queries in
# any case.  The compile time is printed, never judged: the machine may
# be busy (bench/ measures it properly).
: "${POLICYC:?}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/frontend-rcpts.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
cd "$tmp" || exit 1

awk 'BEGIN { print "# generated"; for (i = 0; i < 1000000; i++)
    printf "user%07d\n", i }' >users.txt
cat >big.policy <<'POLICY'
recipients big file "users.txt"
accept for big.example deliver maildir "mail/%u" recipients <big>
POLICY
t0=$(date +%s%N)
if ! "$POLICYC" -o big.ptab big.policy 2>err; then
	echo "FAIL: 1,000,000 recipients do not compile:"
	cat err
	exit 1
fi
t1=$(date +%s%N)
echo "compiled 1,000,000 recipients in $(( (t1 - t0) / 1000000 )) ms," \
    "$(wc -c <big.ptab) bytes"
[ -s err ] && { echo "FAIL: diagnostics for a clean list:"; cat err; fail=1; }

q() {	# q ADDRESS WANT: the last line of the query matches WANT
	got=$("$POLICYC" query big.ptab "$1" 2>&1 | tail -n 1)
	case $got in
	*"$2"*) ;;
	*) echo "FAIL: query $1: $got"; fail=1 ;;
	esac
}
q user0000000@big.example "accepted: in recipients list big (line 1)"
q USER0999999@Big.Example "accepted: in recipients list big (line 1)"
q user0500000@big.example "accepted: in recipients list big (line 1)"
q user1000000@big.example "refused: 550 5.1.1 User unknown"
q postmaster@big.example "accepted: postmaster is always taken"

# The dump lists every part once; it compiles back to the same bytes.
"$POLICYC" dump big.ptab >dump.policy || { echo "FAIL: dump"; exit 1; }
n=$(sed -n 's/^recipients big { \(.*\) }$/\1/p' dump.policy | wc -w)
[ "$n" -eq 1000000 ] || { echo "FAIL: the dump lists $n parts"; fail=1; }
"$POLICYC" -o again.ptab dump.policy 2>err || { cat err; fail=1; }
cmp -s big.ptab again.ptab ||
    { echo "FAIL: compile(dump) differs from the table"; fail=1; }
[ "$fail" = 0 ] && echo "ok: 1,000,000 recipients"
exit $fail
