# peer.sh: what the benchmark scripts share (die, bounded), and where
# Postfix's tools are, as tools/postfix-tools unpacked
# them from Debian's postfix package (tools/deps runs it; nothing here
# fetches anything).  Sourced (POSIX sh) by bench/run.sh, bench/rt_run.sh,
# bench/relay_run.sh and the tests that need smtp-sink; needs
# $top_srcdir.
#
#   peer_root TOOL	prints the unpacked root whose usr/sbin/TOOL is
#			there; prints nothing when it is not.
#   PEER_MISSING	says why, for the callers' messages.
#   die MSG		the script's name and MSG on stderr, exit 1.
#   bounded CMD...	CMD, killed after $BENCH_TIMEOUT seconds (the
#			caller's bench_timeout by default) when coreutils'
#			timeout is there.

PEER_MISSING="Postfix's tools are not unpacked: run tools/deps (as root)"

peer_root() {
	_root=$(sh "$top_srcdir/tools/postfix-tools" -p)
	[ -x "$_root/usr/sbin/$1" ] && echo "$_root"
	return 0
}

die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

bounded() {
	if command -v timeout >/dev/null 2>&1; then
		timeout -k 10 "${BENCH_TIMEOUT:-${bench_timeout:-300}}" "$@"
	else
		"$@"
	fi
}
