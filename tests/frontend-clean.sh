#!/bin/sh
# frontend-clean: a clean policy is silent: `policyc -n` prints nothing
# and exits 0, and a real compile writes the table and nothing else.
# A file that cannot be read is one line and exit 1.
: "${POLICYC:?}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/frontend-clean.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0

cat >"$tmp/clean.policy" <<'POLICY'
# Every statement of the language, with nothing to warn about.
server {
	hostname "mx.example"
	listen on 127.0.0.1 port 2525
	listen on ::1 port 4650 tls
	listen on 127.0.0.1 port 5870 require auth+tls
	tls certificate "certs/mx.crt" key "certs/mx.key"
	tls trust "certs/ca.crt"
	spool "var/spool"
	log "var/protocol.log"
	run as "bastion"
	limit message-size 25M
	limit recipients 100
	limit connections 1000 per-host 20
	limit auth-failures 3
	timeout command 5m
	timeout data 10m
	timeout connect 30s
	queue lifetime 5d retry 5m
}

default require none

list partners {
	192.0.2.0/24  198.51.100.0/24
	2001:db8:1::/48 ::ffff:203.0.113.0/120
}
list blocked file "blocked.txt"
host <partners>		require auth+tls
host 192.0.2.10		require auth+tls as "ims-ny"
host <blocked>		deny
host 10.0.0.0/8		require none relay
host 10.9.9.9		deny
host 10.2.0.0/16	require tls
host 2001:db8:1:2::/64	relay require tls+auth

auth mechanisms scram-sha-256 plain login
user "ims-ny" "SCRAM-SHA-256$4096:7hdA+LMQwmrlolRYsi8kRw==$5rwzsqzyF8uPQ6R7BaPNr3fZb1rp1XRvLpAZQrQx2BA=:PPHHYS31oh9lVHiACe+LUwUNqZeALfwP52NDshOgAY4="

recipients staff { alice bob "john doe" }
accept for sf.example		deliver maildir "var/mail/%u" recipients <staff>
accept for .sf.example		forward to 10.0.0.5 port 25 tls required \
				recipients any
accept for Other.Example	forward to relay.other.example recipients any
outbound ny.example	via 127.0.0.3 port 2525 tls verify \
			auth scram-sha-256 user "ims-sf" \
			password sealed:LOV5O1JlG3okpuPk6xEZLlO6uJpFhWfqokc9EPM4fb3QA1dwHzNsarpSoq4dXCZ86BHnAJoPZvNt9OAZ/rUx
outbound .ny.example	via mx tls required
outbound *		via mx tls opportunistic
POLICY
printf '# blocked\n198.18.0.0/15\n\n  203.0.113.66   # one host\n2001:db8:bad::/48\n' \
    >"$tmp/blocked.txt"

cd "$tmp" || exit 1
"$POLICYC" -n clean.policy >out 2>err
rc=$?
if [ "$rc" -ne 0 ] || [ -s out ] || [ -s err ]; then
	echo "FAIL: policyc -n on a clean policy: exit $rc, output:"
	cat out err
	fail=1
fi
# -W error changes nothing when there is nothing to warn about.
"$POLICYC" -n -W error clean.policy >out 2>err
rc=$?
if [ "$rc" -ne 0 ] || [ -s out ] || [ -s err ]; then
	echo "FAIL: policyc -n -W error on a clean policy: exit $rc"
	cat out err
	fail=1
fi
"$POLICYC" clean.policy >out 2>err
rc=$?
if [ "$rc" -ne 0 ] || [ -s out ] || [ -s err ] || [ ! -s clean.ptab ]; then
	echo "FAIL: policyc clean.policy: exit $rc, or no clean.ptab"
	cat out err
	fail=1
fi
"$POLICYC" -n no-such.policy >out 2>err
rc=$?
if [ "$rc" -ne 1 ] || [ -s out ] || [ "$(wc -l <err)" -ne 1 ] ||
    ! grep -q '^no-such.policy: error: cannot read: ' err; then
	echo "FAIL: a missing policy: exit $rc, stderr:"
	cat err
	fail=1
fi
[ "$fail" = 0 ] && echo "ok: a clean policy compiles silently"
exit $fail
