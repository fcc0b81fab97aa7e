#!/bin/sh
# crypto-cli: `policyc keygen`, `policyc seal` and `policyc passwd` as an
# administrator runs them: what they print, the files they write, their
# exit codes and one-line reasons.  Then the tokens and verifiers they
# make, in a policy checked with `policyc -n [-k PUB]`.
set -u

: "${POLICYC:?POLICYC is not set (run through make check)}"
if [ ! -x "$POLICYC" ]; then
	echo "crypto-cli: $POLICYC is not built" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/crypto-cli.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
cd "$tmp" || exit 1

fail=0
bad() {
	echo "FAIL: $*" >&2
	fail=1
}

# run EXPECTED-STATUS ARGS...: run policyc with stdin from ./in, output in
# ./out and ./err; complain if the status is not the one expected.
run() {
	want=$1
	shift
	"$POLICYC" "$@" <in >out 2>err
	got=$?
	if [ "$got" -ne "$want" ]; then
		bad "policyc $* exited $got, want $want; stderr: $(cat err)"
	fi
}

# one_reason PATTERN: stderr is one line "policyc: ..." matching PATTERN.
one_reason() {
	if [ "$(wc -l <err)" -ne 1 ] || ! grep -q '^policyc: ' err ||
	    ! grep -q -- "$1" err; then
		bad "expected one line 'policyc: ...$1...', got: $(cat err)"
	fi
}

: >in

# keygen: .key mode 0600, .pub, a line naming the key id.
run 0 keygen k
[ -f k.key ] || bad "keygen wrote no k.key"
[ -f k.pub ] || bad "keygen wrote no k.pub"
perm=$(ls -l k.key | cut -c1-10)
[ "$perm" = "-rw-------" ] || bad "k.key has mode $perm, want -rw-------"
grep -q '^bastion-x25519-pub [0-9a-f]\{16\} ' k.pub ||
	bad "k.pub is not a public key file: $(cat k.pub)"
grep -q '^bastion-x25519-key [0-9a-f]\{16\} ' k.key ||
	bad "k.key is not a secret key file"
kid=$(sed -n 's/^bastion-x25519-pub \([0-9a-f]*\) .*/\1/p' k.pub)
grep -q "$kid" out || bad "keygen does not name key $kid: $(cat out)"

# keygen refuses to overwrite either file, and writes nothing.
cp k.key k.key.orig
cp k.pub k.pub.orig
run 1 keygen k
one_reason 'k.key already exists'
cmp -s k.key k.key.orig || bad "keygen changed k.key"
cmp -s k.pub k.pub.orig || bad "keygen changed k.pub"
: >j.pub
run 1 keygen j
one_reason 'j.pub already exists'
[ -e j.key ] && bad "keygen wrote j.key although j.pub was there"

# keygen usage.
run 2 keygen
run 2 keygen a b
[ -e a.key ] && bad "keygen a b wrote a.key"
run 2 keygen -x k2
run 0 keygen -h
grep -q 'usage: policyc keygen PREFIX' out || bad "keygen -h: $(cat out)"
run 1 keygen nodir/k
one_reason 'nodir/k.key'

# seal: one line "sealed:...", different each time (random ephemeral key).
printf 'hunter2\n' >in
run 0 seal k.pub
[ "$(wc -l <out)" -eq 1 ] || bad "seal printed $(wc -l <out) lines"
grep -q '^sealed:[A-Za-z0-9+/]*=*$' out || bad "seal printed: $(cat out)"
tok1=$(cat out)
run 0 seal k.pub
[ "$(cat out)" != "$tok1" ] || bad "two seals gave the same token"
printf 'no newline' >in
run 0 seal k.pub
grep -q '^sealed:' out || bad "seal without a trailing newline"

# seal refusals.
: >in
run 1 seal k.pub
one_reason 'empty secret'
printf 'two\nlines\n' >in
run 1 seal k.pub
one_reason 'single line'
awk 'BEGIN { for (i = 0; i < 1025; i++) printf "x"; print "" }' >in
run 1 seal k.pub
one_reason 'longer than 1024 bytes'
awk 'BEGIN { for (i = 0; i < 1024; i++) printf "x"; print "" }' >in
run 0 seal k.pub
: >in
run 1 seal missing.pub
one_reason 'missing.pub'
run 1 seal k.key
one_reason 'secret key'
run 2 seal
run 2 seal k.pub extra
run 0 seal -h
grep -q 'usage: policyc seal PUBKEY' out || bad "seal -h: $(cat out)"

# passwd: SCRAM-SHA-256 by default, argon2id with -a.
b64='[A-Za-z0-9+/]*=*'
printf 'pencil\n' >in
run 0 passwd
grep -q "^SCRAM-SHA-256\\\$4096:$b64\\\$$b64:$b64\$" out ||
	bad "passwd printed: $(cat out)"
[ "$(wc -l <out)" -eq 1 ] || bad "passwd printed $(wc -l <out) lines"
scram=$(cat out)
run 0 passwd -a scram-sha-256
grep -q '^SCRAM-SHA-256\$4096:' out || bad "passwd -a scram-sha-256: $(cat out)"
[ "$(cat out)" != "$scram" ] || bad "two verifiers with the same salt"
run 0 passwd -a argon2id
grep -q '^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]*\$[A-Za-z0-9+/]*$' \
	out || bad "passwd -a argon2id printed: $(cat out)"
argon=$(cat out)

# passwd refusals and usage.
: >in
run 1 passwd
one_reason 'empty password'
printf 'a\nb\n' >in
run 1 passwd
one_reason 'single line'
run 2 passwd -a md5
grep -q "unknown algorithm 'md5'" err || bad "passwd -a md5: $(cat err)"
run 2 passwd -a
run 2 passwd extra
run 0 passwd -h
grep -q 'usage: policyc passwd' out || bad "passwd -h: $(cat out)"

# What they made, in a policy: `policyc -n -k` takes a token sealed for
# the key and names both key ids for a token sealed for another.
: >in
run 0 keygen other
oid=$(sed -n 's/^bastion-x25519-pub \([0-9a-f]*\) .*/\1/p' other.pub)
cat >p.policy <<EOF
user "alice" "$scram"
user "bob" "$argon"
auth mechanisms plain login
outbound ny.example via 127.0.0.3 port 2525 tls required \\
    auth plain user "ims-sf" password $tok1
EOF
run 0 -n -k k.pub p.policy
run 1 -n -k other.pub p.policy
grep -q "$kid" err && grep -q "$oid" err ||
	bad "token for another key: stderr names not $kid and $oid: $(cat err)"

exit $fail
