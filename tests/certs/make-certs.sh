#!/bin/sh
# make-certs.sh DIR: make throw-away test certificates with openssl, so
# that no private key has to live in the repository.  Everything is
# valid from now for 30 days.
#
#   ca.crt            root CA (EC P-256): the trust anchor for `verify`
#   int-ec.crt        intermediate CA (EC P-256), signed by the root
#   int-rsa.crt       intermediate CA (RSA-2048), signed by the root
#   ec.crt  ec.key    server, EC P-256, signed by int-ec (key: PKCS#8)
#   rsa.crt rsa.key   server, RSA-2048, signed by int-rsa (key: PKCS#8)
#   ec-chain.crt      ec.crt followed by int-ec.crt
#   rsa-chain.crt     rsa.crt followed by int-rsa.crt
#   ec-sec1.key       ec.key in SEC1 form ("EC PRIVATE KEY")
#   rsa-pkcs1.key     rsa.key in PKCS#1 form ("RSA PRIVATE KEY")
#   other-ca.crt      an unrelated root CA (EC P-256)
#   other.crt         server, EC P-256, signed by other-ca (ec.key)
#   other-chain.crt   other.crt followed by nothing (the root is implied)
#
# Server names: DNS localhost, DNS mx.sf.example, IP 127.0.0.1, IP ::1.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: make-certs.sh DIR" >&2
	exit 2
fi
dir=$1
mkdir -p "$dir"
cd "$dir"
umask 077

days=30
san="DNS:localhost,DNS:mx.sf.example,IP:127.0.0.1,IP:::1"

cat > ext.cnf <<END
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ec_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $san

[rsa_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $san
END

ecgen() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$1" 2>/dev/null
}
rsagen() {
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	    -out "$1" 2>/dev/null
}
# sign KEY CRT SUBJECT CACRT CAKEY SECTION
sign() {
	openssl req -new -key "$1" -subj "$3" -out req.csr
	openssl x509 -req -in req.csr -CA "$4" -CAkey "$5" -CAcreateserial \
	    -out "$2" -days $days -sha256 -extfile ext.cnf -extensions "$6" \
	    2>/dev/null
	rm -f req.csr
}

ecgen ca.key
openssl req -new -x509 -key ca.key -out ca.crt -days $days -sha256 \
    -subj "/O=bastion test/CN=bastion test root" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"

ecgen int-ec.key
sign int-ec.key int-ec.crt "/O=bastion test/CN=bastion test EC intermediate" \
    ca.crt ca.key ca
rsagen int-rsa.key
sign int-rsa.key int-rsa.crt \
    "/O=bastion test/CN=bastion test RSA intermediate" ca.crt ca.key ca

ecgen ec.key
sign ec.key ec.crt "/O=bastion test/CN=mx.sf.example" \
    int-ec.crt int-ec.key ec_server
rsagen rsa.key
sign rsa.key rsa.crt "/O=bastion test/CN=mx.sf.example" \
    int-rsa.crt int-rsa.key rsa_server

cat ec.crt int-ec.crt > ec-chain.crt
cat rsa.crt int-rsa.crt > rsa-chain.crt
openssl ec -in ec.key -out ec-sec1.key 2>/dev/null
openssl rsa -in rsa.key -traditional -out rsa-pkcs1.key 2>/dev/null

ecgen other-ca.key
openssl req -new -x509 -key other-ca.key -out other-ca.crt -days $days \
    -sha256 -subj "/O=somebody else/CN=unrelated root" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
sign ec.key other.crt "/O=somebody else/CN=mx.sf.example" \
    other-ca.crt other-ca.key ec_server
cp other.crt other-chain.crt

rm -f ext.cnf ./*.srl
chmod 644 ./*.crt
