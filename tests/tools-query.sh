#!/bin/sh
# policyc query: which rule decides for an address or a domain, with
# its source line.  Each case is "TABLE ARGUMENT" followed by the exact
# lines query must print; tables are the good sources of tests/good/.
: "${top_srcdir:?}" "${POLICYC:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tools-query.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0

for t in backbone nested v6 mail; do
	"$POLICYC" -o "$tmp/$t.ptab" "$top_srcdir/tests/good/$t.policy" \
	    2>"$tmp/cc" || { cat "$tmp/cc" >&2; exit 1; }
done

# Run every case of the script on stdin: "= TABLE ARG" starts a case,
# the lines up to the next one are what query must print.
check() {
	awk -v dir="$tmp" '
	BEGIN { ncase = 0 }
	function flush(f) {
		if (table == "") return
		print table "\t" arg > (dir "/cases")
		f = dir "/want." ncase
		print want > f
		close(f)
		want = ""; ncase++
	}
	/^= / { flush(); table = $2; arg = $3; next }
	/^#/ || /^$/ { next }
	{ want = (want == "" ? $0 : want "\n" $0) }
	END { flush() }'
	i=0
	while IFS='	' read -r table arg; do
		"$POLICYC" query "$tmp/$table.ptab" "$arg" >"$tmp/got" 2>&1
		rc=$?
		if [ $rc -ne 0 ]; then
			echo "FAIL: query $table $arg: exit $rc" >&2
			fail=1
		fi
		if ! diff -u "$tmp/want.$i" "$tmp/got" >&2; then
			echo "FAIL: query $table $arg" >&2
			fail=1
		fi
		i=$((i + 1))
	done <"$tmp/cases"
}

check <<'CASES'
# IPv4: a list, a host inside it, the list's edges, just outside.
= backbone 192.0.2.77
192.0.2.77: line 37: host <partners> require auth+tls (matched 192.0.2.0/24)
= backbone 192.0.2.10
192.0.2.10: line 38: host 192.0.2.10 require auth+tls as "ims-ny"
= backbone 192.0.2.0
192.0.2.0: line 37: host <partners> require auth+tls (matched 192.0.2.0/24)
= backbone 192.0.2.255
192.0.2.255: line 37: host <partners> require auth+tls (matched 192.0.2.0/24)
= backbone 192.0.3.0
192.0.3.0: line 29: default require none (no host rule matches)
= backbone 192.0.1.255
192.0.1.255: line 29: default require none (no host rule matches)
= backbone 203.0.113.9
203.0.113.9: line 39: host <blocked> deny (matched 203.0.113.0/24)
# IPv4-mapped IPv6 clients are IPv4 clients.
= backbone ::ffff:192.0.2.77
::ffff:192.0.2.77: line 37: host <partners> require auth+tls (matched 192.0.2.0/24)
= backbone ::FFFF:10.9.9.9
::FFFF:10.9.9.9: line 41: host 10.9.9.9 deny
# Nested prefixes: both edges of each, and around the host inside.
= backbone 10.0.0.0
10.0.0.0: line 40: host 10.0.0.0/8 require none relay
= backbone 10.255.255.255
10.255.255.255: line 40: host 10.0.0.0/8 require none relay
= backbone 9.255.255.255
9.255.255.255: line 29: default require none (no host rule matches)
= backbone 11.0.0.0
11.0.0.0: line 29: default require none (no host rule matches)
= backbone 10.9.9.8
10.9.9.8: line 40: host 10.0.0.0/8 require none relay
= backbone 10.9.9.9
10.9.9.9: line 41: host 10.9.9.9 deny
= backbone 10.9.9.10
10.9.9.10: line 40: host 10.0.0.0/8 require none relay
= backbone 10.2.0.0
10.2.0.0: line 42: host 10.2.0.0/16 require auth auth cleartext
= backbone 10.2.255.255
10.2.255.255: line 42: host 10.2.0.0/16 require auth auth cleartext
= backbone 10.1.255.255
10.1.255.255: line 40: host 10.0.0.0/8 require none relay
= backbone 10.3.0.0
10.3.0.0: line 40: host 10.0.0.0/8 require none relay
# Written as an IPv4-mapped prefix, compiled as IPv4.
= backbone 172.31.255.255
172.31.255.255: line 43: host 172.16.0.0/12 require auth+tls relay auth cleartext
= backbone 0.0.0.0
0.0.0.0: line 29: default require none (no host rule matches)
= backbone 255.255.255.255
255.255.255.255: line 29: default require none (no host rule matches)
# IPv6.
= backbone 2001:db8:1::1
2001:db8:1::1: line 37: host <partners> require auth+tls (matched 2001:db8:1::/48)
= backbone 2001:db8:1:ffff:ffff:ffff:ffff:ffff
2001:db8:1:ffff:ffff:ffff:ffff:ffff: line 37: host <partners> require auth+tls (matched 2001:db8:1::/48)
= backbone 2001:db8:2::
2001:db8:2::: line 29: default require none (no host rule matches)
= backbone 2001:db8:dead:beef::1
2001:db8:dead:beef::1: line 39: host <blocked> deny (matched 2001:db8:dead::/48)
= backbone ::1
::1: line 29: default require none (no host rule matches)

# No default statement: the implicit one, at line 0.
= nested 172.32.0.0
172.32.0.0: line 0: default require none (implicit; no host rule matches)
= nested ::ffff:172.32.0.0
::ffff:172.32.0.0: line 0: default require none (implicit; no host rule matches)
= nested 2001:db8::1
2001:db8::1: line 0: default require none (implicit; no host rule matches)
# Lists nested in lists: the innermost prefix decides.
= nested 10.3.0.0
10.3.0.0: line 10: host <outer> deny (matched 10.0.0.0/8)
= nested 10.1.3.0
10.1.3.0: line 11: host <middle> require tls (matched 10.1.0.0/16)
= nested 10.1.2.1
10.1.2.1: line 12: host <inner> require none relay (matched 10.1.2.0/24)
= nested 10.1.2.127
10.1.2.127: line 12: host <inner> require none relay (matched 10.1.2.0/24)
= nested 10.1.2.128
10.1.2.128: line 12: host <inner> require none relay (matched 10.1.2.128/25)
= nested 10.1.2.200
10.1.2.200: line 13: host 10.1.2.200 deny
= nested 10.1.2.255
10.1.2.255: line 12: host <inner> require none relay (matched 10.1.2.128/25)
= nested 10.2.0.1
10.2.0.1: line 12: host <inner> require none relay (matched 10.2.0.1)
= nested 10.2.0.2
10.2.0.2: line 11: host <middle> require tls (matched 10.2.0.0/16)
= nested 172.16.5.5
172.16.5.5: line 11: host <middle> require tls (matched 172.16.5.0/24)
= nested 172.31.255.255
172.31.255.255: line 10: host <outer> deny (matched 172.16.0.0/12)
= nested 192.168.1.1
192.168.1.1: line 17: host <twice> require tls (matched 192.168.1.0/24)
= nested 192.168.2.1
192.168.2.1: line 17: host <twice> require tls (matched 192.168.0.0/16)

# IPv6 nesting, down to a /113 and a host.
= v6 2001:db8:100:1::8001
2001:db8:100:1::8001: line 22: host 2001:db8:100:1::8001 deny
= v6 2001:db8:100:1::8000
2001:db8:100:1::8000: line 21: host <v6lab> require none relay (matched 2001:db8:100:1::8000/113)
= v6 2001:db8:100:1::ffff
2001:db8:100:1::ffff: line 21: host <v6lab> require none relay (matched 2001:db8:100:1::8000/113)
= v6 2001:db8:100:1::7fff
2001:db8:100:1::7fff: line 21: host <v6lab> require none relay (matched 2001:db8:100:1::/64)
= v6 2001:db8:100:2::
2001:db8:100:2::: line 20: host <v6partners> require auth+tls as "carol" (matched 2001:db8:100::/40)
= v6 2001:db8:1ff:ffff:ffff:ffff:ffff:ffff
2001:db8:1ff:ffff:ffff:ffff:ffff:ffff: line 20: host <v6partners> require auth+tls as "carol" (matched 2001:db8:100::/40)
= v6 2001:db8:300::1
2001:db8:300::1: line 20: host <v6partners> require auth+tls as "carol" (matched 2001:db8:300::1)
= v6 2001:db8:300::2
2001:db8:300::2: line 23: host 2000::/3 require tls
= v6 3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff
3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff: line 23: host 2000::/3 require tls
= v6 4000::
4000::: line 26: host ::/0 require tls
= v6 fe80::1
fe80::1: line 24: host fe80::/10 deny
= v6 198.51.100.1
198.51.100.1: line 25: host 198.51.100.0/24 require auth
= v6 ::ffff:198.51.100.1
::ffff:198.51.100.1: line 25: host 198.51.100.0/24 require auth
= v6 198.51.101.1
198.51.101.1: line 15: default require tls (no host rule matches)

# Domains: exact, suffix, deep suffix, "*", case, nothing.
= backbone sf.example
sf.example: line 51: accept for sf.example deliver maildir "var/mail/%u" recipients any
sf.example: line 60: outbound * via mx port 25 tls opportunistic
= backbone a.sf.example
a.sf.example: line 52: accept for .sf.example forward to 10.0.0.5 port 25 tls required recipients any
a.sf.example: line 60: outbound * via mx port 25 tls opportunistic
= backbone a.b.c.sf.example
a.b.c.sf.example: line 52: accept for .sf.example forward to 10.0.0.5 port 25 tls required recipients any
a.b.c.sf.example: line 60: outbound * via mx port 25 tls opportunistic
= backbone ny.example
ny.example: line 57: outbound ny.example via 127.0.0.3 port 2525 tls verify auth scram-sha-256 user "ims-sf" password sealed:KQPBIiIspGzKdRHTk1Fo5rgG0Zmj/oAGciAumUOOxmlQc2YdmdqAMGlvStWhxS6S2AKUIfEaFG/NLonj0LuqBpsYeN1dA4iO
= backbone mx1.ny.example
mx1.ny.example: line 59: outbound .ny.example via mx port 25 tls required auth plain user "ims-sf" password sealed:KQPBIiIspGy2qZTT+Uj4qOD6Hk0S63ZAX7RMAsN4p63XIQ993UAuEurOV2tRmJhRowZSLrr9+Ora5YLQjHCa347rj7xeE4ia
= backbone Odd.EXAMPLE
Odd.EXAMPLE: line 53: accept for odd.example deliver maildir "var/mail/\"odd\" \\ %u" recipients any
Odd.EXAMPLE: line 60: outbound * via mx port 25 tls opportunistic
= backbone la.example
la.example: line 54: accept for la.example forward to relay.la.example port 25 tls opportunistic recipients any
la.example: line 60: outbound * via mx port 25 tls opportunistic
= backbone other.example
other.example: line 60: outbound * via mx port 25 tls opportunistic
= backbone localhost
localhost: line 60: outbound * via mx port 25 tls opportunistic
= v6 v6.example
v6.example: line 31: accept for v6.example deliver maildir "mail/%u" recipients any
= v6 a.b.v6.example
a.b.v6.example: line 32: accept for .v6.example forward to 2001:db8::25 port 2525 tls verify recipients any
= v6 x.v6peer.example
x.v6peer.example: line 34: outbound .v6peer.example via mx port 25 tls verify
= v6 other.example
other.example: no rule: not accepted here, and no outbound route
= v6 example
example: no rule: not accepted here, and no outbound route
# Recipients: a list (any case), postmaster, unknown, a file list, any.
= mail alice@sf.example
alice@sf.example: line 17: accept for sf.example deliver maildir "var/mail/%u" recipients <staff>
alice@sf.example: accepted: in recipients list staff (line 14)
= mail BOB@SF.Example
BOB@SF.Example: line 17: accept for sf.example deliver maildir "var/mail/%u" recipients <staff>
BOB@SF.Example: accepted: in recipients list staff (line 14)
= mail PostMaster@sf.example
PostMaster@sf.example: line 17: accept for sf.example deliver maildir "var/mail/%u" recipients <staff>
PostMaster@sf.example: accepted: postmaster is always taken (RFC 5321 4.5.1)
= mail mallory@sf.example
mallory@sf.example: line 17: accept for sf.example deliver maildir "var/mail/%u" recipients <staff>
mallory@sf.example: refused: 550 5.1.1 User unknown: not in recipients list staff (line 14)
= mail erin@a.sf.example
erin@a.sf.example: line 18: accept for .sf.example forward to 10.0.0.5 port 25 tls required recipients <exchange>
erin@a.sf.example: accepted: in recipients list exchange (line 15)
= mail anyone@lab.example
anyone@lab.example: line 19: accept for lab.example deliver maildir "var/lab/%u" recipients any
anyone@lab.example: accepted: 'recipients any' takes every local part
= mail alice@elsewhere.example
alice@elsewhere.example: not accepted here: no 'accept for' rule takes elsewhere.example (relayed only for relay hosts and authenticated clients)
CASES

# Arguments that are neither: exit 1, one line on stderr, nothing out.
for arg in 10.0.0.0/8 192.0.2.10/32 'a..b' '.sf.example' '*' \
    'bad_name.example' 'x-.example' 256.1.1.1 ''; do
	"$POLICYC" query "$tmp/backbone.ptab" "$arg" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	want="policyc: query: '$arg' is neither an IP address nor a domain name"
	if [ $rc -ne 1 ] || [ -s "$tmp/out" ] ||
	    [ "$(cat "$tmp/err")" != "$want" ]; then
		echo "FAIL: query '$arg': exit $rc, stderr:" >&2
		cat "$tmp/err" >&2
		fail=1
	fi
done
exit $fail
