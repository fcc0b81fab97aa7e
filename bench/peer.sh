# peer.sh: Postfix's tools from Debian's postfix package, fetched with
# `apt-get download` and unpacked with `dpkg -x` into a cache folder,
# never installed.  Sourced (POSIX sh) by bench/run.sh, bench/rt_run.sh
# and the tests that need smtp-sink; needs $top_srcdir and $top_builddir.
#
#   peer_root TOOL	prints the unpacked root whose usr/sbin/TOOL is
#			there, fetching the package first if needed;
#			prints nothing when it cannot be had.

peer_root() {
	_tool=$1
	_peer=${BENCH_PEER_DIR:-$top_srcdir/bench/.peer}
	if ! mkdir -p "$_peer" 2>/dev/null || [ ! -w "$_peer" ]; then
		_peer=$top_builddir/bench/.peer
		mkdir -p "$_peer" || return 0
	fi
	if [ ! -x "$_peer/root/usr/sbin/$_tool" ]; then
		_deb=$(ls "$_peer"/postfix_*.deb 2>/dev/null | head -n 1)
		if [ -z "$_deb" ] && command -v apt-get >/dev/null 2>&1; then
			echo "fetching Debian's postfix package into $_peer" >&2
			(cd "$_peer" && timeout 300 apt-get -q download postfix) \
			    >"$_peer/apt.log" 2>&1 ||
			    sed 's/^/  | /' "$_peer/apt.log" >&2
			_deb=$(ls "$_peer"/postfix_*.deb 2>/dev/null | head -n 1)
		fi
		if [ -n "$_deb" ] && command -v dpkg >/dev/null 2>&1; then
			dpkg -x "$_deb" "$_peer/root" ||
			    echo "peer.sh: dpkg -x $_deb failed" >&2
		fi
	fi
	[ -x "$_peer/root/usr/sbin/$_tool" ] && echo "$_peer/root"
	return 0
}
