#!/bin/sh
# smtpc-sink.sh: the outbound client against Postfix's smtp-sink, from
# Debian's postfix package unpacked by bench/peer.sh (never installed).
# Skips (77) when the package cannot be had.  The checks themselves are
# in smtpc_sink.py.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
export top_srcdir top_builddir
. "$top_srcdir/bench/peer.sh"
root=$(peer_root smtp-sink)
if [ -z "$root" ]; then
	echo "SKIP: smtp-sink is not available (no postfix package)"
	exit 77
fi
exec /usr/bin/python3 "$top_srcdir/tests/rt/smtpc_sink.py" "$root"
