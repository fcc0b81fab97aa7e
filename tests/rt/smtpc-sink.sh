#!/bin/sh
# smtpc-sink.sh: the outbound client against Postfix's smtp-sink, from
# Debian's postfix package as tools/deps unpacked it (never installed;
# nothing is fetched here).  A hard error (99) when it is missing.  The
# checks themselves are in smtpc_sink.py.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
export top_srcdir top_builddir
. "$top_srcdir/bench/peer.sh"
root=$(peer_root smtp-sink)
if [ -z "$root" ]; then
	echo "ERROR: smtp-sink: $PEER_MISSING"
	exit 99
fi
exec /usr/bin/python3 "$top_srcdir/tests/rt/smtpc_sink.py" "$root"
