#!/bin/sh
# pem-load.sh: loading certificates, keys and trust anchors, and the
# reasons an administrator reads when a file is wrong.
set -u
umask 077	# the keys made below must be private to pass

: "${top_srcdir:=.}" "${top_builddir:=.}"
tool=$top_builddir/tests/rt/tls-tool
command -v openssl >/dev/null 2>&1 || { echo "no openssl: skip"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pem-load.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
sh "$top_srcdir/tests/certs/make-certs.sh" "$tmp/certs" || exit 1
cd "$tmp" || exit 1

fails=0
# ok LABEL EXPECTED-STDOUT COMMAND...
ok() {
	label=$1 want=$2
	shift 2
	got=$("$@" 2>&1)
	if [ $? -eq 0 ] && [ "$got" = "$want" ]; then
		echo "ok $label: $got"
	else
		echo "FAIL $label: got '$got', want '$want'"
		fails=$((fails + 1))
	fi
}
# err LABEL EXPECTED-STDERR COMMAND...: must fail with exactly that line
err() {
	label=$1 want=$2
	shift 2
	got=$("$@" 2>&1)
	if [ $? -eq 1 ] && [ "$got" = "$want" ]; then
		echo "ok $label: $got"
	else
		echo "FAIL $label: got '$got', want '$want'"
		fails=$((fails + 1))
	fi
}

ok "EC chain, PKCS#8 key" "ok EC P-256" \
    "$tool" load certs/ec-chain.crt certs/ec.key
ok "EC chain, SEC1 key" "ok EC P-256" \
    "$tool" load certs/ec-chain.crt certs/ec-sec1.key
ok "RSA chain, PKCS#8 key" "ok RSA-2048" \
    "$tool" load certs/rsa-chain.crt certs/rsa.key
ok "RSA chain, PKCS#1 key" "ok RSA-2048" \
    "$tool" load certs/rsa-chain.crt certs/rsa-pkcs1.key
cat certs/rsa-chain.crt certs/rsa.key > both.pem
ok "chain and key in one file" "ok RSA-2048" "$tool" load both.pem both.pem
sed 's/$/\r/' certs/ec-chain.crt > crlf.crt
sed 's/$/\r/' certs/ec.key > crlf.key
ok "CRLF line ends" "ok EC P-256" "$tool" load crlf.crt crlf.key
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 \
    -out p384.key 2>/dev/null
openssl req -new -x509 -key p384.key -out p384.crt -subj /CN=p384 \
    -days 2 2>/dev/null
ok "EC P-384" "ok EC P-384" "$tool" load p384.crt p384.key
ok "trust anchors" "ok 1 anchors" "$tool" anchors certs/ca.crt
cat certs/ca.crt certs/other-ca.crt certs/ec.crt > bundle.crt
ok "trust bundle" "ok 3 anchors" "$tool" anchors bundle.crt

err "missing file" "nope.crt: No such file or directory" \
    "$tool" load nope.crt certs/ec.key
err "directory" "certs: not a regular file" \
    "$tool" load certs certs/ec.key
echo "hello, world" > text.txt
err "text file as chain" "text.txt is not a PEM file" \
    "$tool" load text.txt certs/ec.key
err "text file as key" "text.txt is not a PEM file" \
    "$tool" load certs/ec-chain.crt text.txt
err "text file as anchors" "text.txt is not a PEM file" \
    "$tool" anchors text.txt
openssl x509 -in certs/ec.crt -outform DER -out ec.der
err "DER certificate" "ec.der is not a PEM file" \
    "$tool" load ec.der certs/ec.key
cp certs/ec-chain.crt chain.pem
err "no key in the key file" "chain.pem: no private key found" \
    "$tool" load certs/ec-chain.crt chain.pem
err "no certificate in the chain file" "certs/ec.key: no certificate found" \
    "$tool" load certs/ec.key certs/ec.key
err "anchors from a key file" "certs/ec.key: no certificate found" \
    "$tool" anchors certs/ec.key
err "key of another type" \
    "certs/rsa.key does not match the certificate in certs/ec-chain.crt" \
    "$tool" load certs/ec-chain.crt certs/rsa.key
err "key of another EC certificate" \
    "certs/ca.key does not match the certificate in certs/ec-chain.crt" \
    "$tool" load certs/ec-chain.crt certs/ca.key
err "key of another RSA certificate" \
    "certs/int-rsa.key does not match the certificate in certs/rsa-chain.crt" \
    "$tool" load certs/rsa-chain.crt certs/int-rsa.key
cp certs/ec.key open.key
chmod 644 open.key
err "key readable by others" \
    "open.key: private key open to others; chmod o-rwx it" \
    "$tool" load certs/ec-chain.crt open.key
chmod 640 open.key
ok "key readable by its group" "ok EC P-256" \
    "$tool" load certs/ec-chain.crt open.key
cat certs/ec.key certs/ec-sec1.key > twokeys.key
err "two keys" "twokeys.key: more than one private key" \
    "$tool" load certs/ec-chain.crt twokeys.key

hint="store it decrypted, readable only by the server"
hint="$hint (openssl pkey -in KEY -out NEWKEY)"
openssl pkey -in certs/ec.key -aes128 -passout pass:secret \
    -out enc8.key 2>/dev/null
err "encrypted PKCS#8 key" "enc8.key: the private key is encrypted; $hint" \
    "$tool" load certs/ec-chain.crt enc8.key
openssl rsa -in certs/rsa.key -traditional -aes128 -passout pass:secret \
    -out enc1.key 2>/dev/null
err "encrypted PKCS#1 key" "enc1.key: the private key is encrypted; $hint" \
    "$tool" load certs/rsa-chain.crt enc1.key

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 \
    -out small.key 2>/dev/null
openssl req -new -x509 -key small.key -out small.crt -subj /CN=small \
    -days 2 2>/dev/null
err "small RSA key" \
    "small.key: RSA key of 1024 bits is too small (at least 2048)" \
    "$tool" load small.crt small.key
if openssl genpkey -algorithm ED25519 -out ed.key 2>/dev/null; then
	err "Ed25519 key" \
	    "ed.key: unsupported private key type (RSA and EC keys are)" \
	    "$tool" load certs/ec-chain.crt ed.key
fi

# Line 5 of the certificate gets a character base64 does not have.
awk 'NR == 5 { $0 = "!" substr($0, 2) } { print }' certs/ec.crt > bad64.crt
err "bad base64" "bad64.crt:5: bad PEM data in a \"CERTIFICATE\" block" \
    "$tool" load bad64.crt certs/ec.key
sed '$d' certs/ec.crt > noend.crt
err "no END line" "noend.crt:1: \"CERTIFICATE\" block without an END line" \
    "$tool" load noend.crt certs/ec.key
{
	echo "-----BEGIN CERTIFICATE-----"
	echo "aGVsbG8gd29ybGQsIHRoaXMgaXMgbm90IGEgY2VydGlmaWNhdGUK"
	echo "-----END CERTIFICATE-----"
} > notcert.crt
err "not a certificate inside" \
    "notcert.crt: certificate 1 cannot be decoded (unsupported ASN.1 tag)" \
    "$tool" load notcert.crt certs/ec.key
head -c 1048577 /dev/zero > big.crt
err "file too large" "big.crt: file too large (more than 1048576 bytes)" \
    "$tool" load big.crt certs/ec.key
{
	echo "-----BEGIN CERTIFICATE-----"
	head -c 70000 /dev/zero | base64
	echo "-----END CERTIFICATE-----"
} > bigobj.crt
err "object too large" \
    "bigobj.crt:1: PEM object too large (more than 65536 bytes)" \
    "$tool" load bigobj.crt certs/ec.key
: > empty.crt
err "empty file" "empty.crt is not a PEM file" \
    "$tool" load empty.crt certs/ec.key

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all passed"
exit 0
