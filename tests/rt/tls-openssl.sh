#!/bin/sh
# tls-openssl.sh: our TLS layer against OpenSSL over loopback.
#   server side: openssl s_client (TLS 1.2) talks to `tls-tool serve`;
#     clients that want only TLS 1.3, only CBC suites or TLS 1.1 are
#     refused with the reason in our log line.
#   client side: `tls-tool connect` against openssl s_server, at the
#     `verify' level (right name, address, wrong name, unknown CA) and
#     the `required' level.
#   rate: openssl s_time against our server, for the record.
set -u

: "${top_srcdir:=.}" "${top_builddir:=.}"
tool=$top_builddir/tests/rt/tls-tool
command -v openssl >/dev/null 2>&1 || { echo "no openssl: skip"; exit 77; }
to=""
command -v timeout >/dev/null 2>&1 && to="timeout 20"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tls-openssl.XXXXXX") || exit 1
pids=""
cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
sh "$top_srcdir/tests/certs/make-certs.sh" "$tmp/certs" || exit 1
C=$tmp/certs
fails=0

bad() {
	echo "FAIL $*"
	fails=$((fails + 1))
}

# wait_for FILE PATTERN: up to 10 s for a line to show up.
wait_for() {
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 100 ] && return 1
		sleep 0.1
	done
	return 0
}

# reap PID: wait up to 10 s for a process to end, then kill it, so that
# a client that never came cannot hang the test.
reap() {
	i=0
	while kill -0 "$1" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			kill "$1" 2>/dev/null
			bad "process $1 did not finish"
			break
		fi
		sleep 0.1
	done
	wait "$1" 2>/dev/null
}

# serve CHAIN KEY N: start our server for N connections; sets port and
# spid.  Each server gets a new output file: an old one would still
# show the previous server's port.
nsrv=0
serve() {
	nsrv=$((nsrv + 1))
	srvout=$tmp/srv$nsrv.out
	$to "$tool" serve -n "$3" "$C/$1" "$C/$2" > "$srvout" 2>&1 &
	pids="$pids $!"
	spid=$!
	wait_for "$srvout" '^port ' || { bad "server did not start"; return 1; }
	port=$(awk '/^port /{ print $2 }' "$srvout")
}

# Free port for s_server (it cannot tell us which one it got).
freeport() {
	/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# --- server side: openssl s_client -----------------------------------
for kind in ec rsa; do
	case $kind in
	ec)	want="ECDHE-ECDSA-AES128-GCM-SHA256"
		want="$want ECDHE-ECDSA-CHACHA20-POLY1305" ;;
	rsa)	want="ECDHE-RSA-AES128-GCM-SHA256"
		want="$want ECDHE-RSA-CHACHA20-POLY1305" ;;
	esac
	serve "$kind-chain.crt" "$kind.key" 1 || continue
	printf 'hello over %s\n' "$kind" | $to openssl s_client \
	    -connect "127.0.0.1:$port" -tls1_2 -CAfile "$C/ca.crt" \
	    -verify_return_error -servername localhost \
	    -verify_hostname localhost -ign_eof > "$tmp/cli.out" 2>&1
	rc=$?
	reap "$spid"
	suite=$(sed -n 's/.*Cipher is \([^ ]*\).*/\1/p' "$tmp/cli.out" |
	    head -1)
	srv=$(grep '^conn ' "$srvout")
	if [ $rc -ne 0 ]; then
		bad "s_client/$kind exit $rc"; cat "$tmp/cli.out"
	elif ! grep -qx "hello over $kind" "$tmp/cli.out"; then
		bad "s_client/$kind: no echo"; cat "$tmp/cli.out"
	elif ! grep -q 'Verify return code: 0 (ok)' "$tmp/cli.out"; then
		bad "s_client/$kind: chain did not verify"
	elif [ "$srv" != "conn TLSv1.2 $suite sni=localhost" ]; then
		bad "s_client/$kind: server says '$srv', s_client '$suite'"
	else
		case " $want " in
		*" $suite "*)
			echo "ok s_client/$kind: echo, chain verified, $srv" ;;
		*)	bad "s_client/$kind: suite $suite not preferred" ;;
		esac
	fi
done

# The server's preference wins over the client's.
prefs=ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305
prefs=$prefs:ECDHE-ECDSA-AES128-GCM-SHA256
serve ec-chain.crt ec.key 1 &&
printf 'x\n' | $to openssl s_client -connect "127.0.0.1:$port" -tls1_2 \
    -cipher "$prefs" -ign_eof > "$tmp/cli.out" 2>&1
reap "$spid"
srv=$(grep '^conn ' "$srvout")
case $srv in
"conn TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 sni="|\
"conn TLSv1.2 ECDHE-ECDSA-CHACHA20-POLY1305 sni=")
	echo "ok server preference: $srv" ;;
*)	bad "server preference: $srv" ;;
esac

# refused LABEL WANT S_CLIENT-OPTIONS...: handshake must fail.
refused() {
	label=$1 want=$2
	shift 2
	serve ec-chain.crt ec.key 1 || return
	printf 'x\n' | $to openssl s_client -connect "127.0.0.1:$port" "$@" \
	    -ign_eof > "$tmp/cli.out" 2>&1
	rc=$?
	reap "$spid"
	srv=$(grep '^conn ' "$srvout")
	if [ $rc -eq 0 ]; then
		bad "$label: s_client succeeded"
	elif [ "$srv" != "conn error: $want" ]; then
		bad "$label: server says '$srv', want 'conn error: $want'"
	else
		echo "ok $label: $srv"
	fi
}
refused "TLS 1.3 only client" "sent fatal alert 40 (handshake_failure)" \
    -tls1_3
refused "CBC suites only" "sent fatal alert 40 (handshake_failure)" \
    -tls1_2 -cipher AES128-SHA:AES256-SHA:ECDHE-ECDSA-AES128-SHA
refused "TLS 1.1 client" "sent fatal alert 70 (protocol_version)" \
    -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'

# --- client side: openssl s_server ----------------------------------
# s_server PREFIX N: openssl s_server with our PREFIX chain, N accepts.
s_server() {
	sport=$(freeport)
	nsrv=$((nsrv + 1))
	ssout=$tmp/ss$nsrv.out
	$to openssl s_server -accept "127.0.0.1:$sport" -naccept "$2" -rev \
	    -cert "$C/$1.crt" -key "$C/$1.key" -cert_chain "$C/int-$1.crt" \
	    > "$ssout" 2>&1 &
	pids="$pids $!"
	sspid=$!
	wait_for "$ssout" '^ACCEPT' || bad "s_server did not start"
}

# connect LABEL WANT PEER LEVEL [CAFILE]; in WANT, SUITE-ECDSA and
# SUITE-RSA stand for our first choice (AES-GCM, or ChaCha20 on CPUs
# without AES instructions), since s_server follows the client's order.
connect() {
	label=$1
	want=$(echo "$2" | sed "s/SUITE-ECDSA/$ecdsa1/; s/SUITE-RSA/$rsa1/")
	shift 2
	got=$($to "$tool" connect "$sport" "$@")
	case $got in
	"$want")
		echo "ok $label: $got" ;;
	*)	bad "$label: got '$got', want '$want'" ;;
	esac
}

rev="reply=noitsab morf olleh"
if grep -qw aes /proc/cpuinfo 2>/dev/null; then
	ecdsa1=ECDHE-ECDSA-AES128-GCM-SHA256 rsa1=ECDHE-RSA-AES128-GCM-SHA256
else
	ecdsa1=ECDHE-ECDSA-CHACHA20-POLY1305 rsa1=ECDHE-RSA-CHACHA20-POLY1305
fi
s_server ec 7
connect "verify localhost (EC)" \
    "ok TLSv1.2 SUITE-ECDSA $rev" localhost verify "$C/ca.crt"
connect "verify MX.SF.EXAMPLE. (EC)" \
    "ok TLSv1.2 SUITE-ECDSA $rev" MX.SF.EXAMPLE. verify \
    "$C/ca.crt"
connect "verify 127.0.0.1 (EC)" \
    "ok TLSv1.2 SUITE-ECDSA $rev" 127.0.0.1 verify "$C/ca.crt"
connect "verify wrong name (EC)" \
    "error: certificate does not match the server name" wrong.example verify \
    "$C/ca.crt"
connect "verify wrong address (EC)" \
    "error: certificate does not match the server name" 127.0.0.2 verify \
    "$C/ca.crt"
connect "verify unknown CA (EC)" \
    "error: certificate chain not trusted (unknown CA)" localhost verify \
    "$C/other-ca.crt"
connect "required, no anchors (EC)" \
    "ok TLSv1.2 SUITE-ECDSA $rev" wrong.example required
reap "$sspid"

s_server rsa 4
connect "verify localhost (RSA)" \
    "ok TLSv1.2 SUITE-RSA $rev" localhost verify "$C/ca.crt"
connect "verify ::1 (RSA)" \
    "ok TLSv1.2 SUITE-RSA $rev" ::1 verify "$C/ca.crt"
connect "verify wrong name (RSA)" \
    "error: certificate does not match the server name" mx.other.example \
    verify "$C/ca.crt"
connect "verify unknown CA (RSA)" \
    "error: certificate chain not trusted (unknown CA)" localhost verify \
    "$C/other-ca.crt"
reap "$sspid"

# --- rate, for the record (not a pass/fail criterion) -----------------
serve ec-chain.crt ec.key 0 &&
$to openssl s_time -connect "127.0.0.1:$port" -new -time 2 -tls1_2 \
    2>/dev/null | grep 'connections in' |
    sed 's/^/rate ECDSA P-256, our server, openssl s_time: /'
kill "$spid" 2>/dev/null

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all passed"
exit 0
