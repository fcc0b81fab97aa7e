#!/bin/sh
# tls-unit.sh: run tests/unit/tls_test (our TLS server and client over
# a socketpair) on freshly made certificates, plus two odd ones for the
# client's IP address check:
#   critsan-chain.crt  subjectAltName marked critical (empty subject)
#   bigsan-chain.crt   an end entity of more than 8 KiB (many names)
set -u

: "${top_srcdir:=.}" "${top_builddir:=.}"
command -v openssl >/dev/null 2>&1 || { echo "no openssl: skip"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tls-unit.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
sh "$top_srcdir/tests/certs/make-certs.sh" "$tmp" || exit 1
cd "$tmp" || exit 1

# odd NAME SUBJECT SAN: an EC server certificate signed by int-ec.
odd() {
	printf '[x]\nbasicConstraints = critical, CA:FALSE\n' > "$1.cnf"
	printf 'keyUsage = critical, digitalSignature\n' >> "$1.cnf"
	printf 'subjectAltName = %s\n' "$3" >> "$1.cnf"
	openssl req -new -key ec.key -subj "$2" -out "$1.csr" 2>/dev/null &&
	openssl x509 -req -in "$1.csr" -CA int-ec.crt -CAkey int-ec.key \
	    -CAcreateserial -out "$1.crt" -days 2 -sha256 -extfile "$1.cnf" \
	    -extensions x 2>/dev/null &&
	cat "$1.crt" int-ec.crt > "$1-chain.crt" || exit 1
}
odd critsan / "critical, DNS:localhost, IP:127.0.0.1"
names=$(awk 'BEGIN { for (i = 0; i < 400; i++)
	printf "DNS:host%03d.many-names.example, ", i }')
odd bigsan /CN=bigsan "${names}DNS:localhost, IP:127.0.0.1"

exec "$top_builddir/tests/unit/tls_test" "$tmp"
