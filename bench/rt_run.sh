#!/bin/sh
# rt_run.sh: the runtime benchmark (`make bench-runtime`, and the second
# half of `make bench`).  Finds Postfix's smtp-source and smtp-sink in
# Debian's package as tools/deps unpacked it (never installed), then runs bench/rt_bench.py, which starts bastiond
# on the loopback, loads it and prints the figures.  Figures never fail
# the run; it exits 1 only when a step cannot run or mail was lost.
#
# Environment (make sets the first five):
#   top_srcdir, top_builddir   source and build trees (default: guessed)
#   POLICYC, BASTIOND          the programs (default: in $top_builddir)
#   BENCH_TLSCLIENT            bench/rt_tlsclient (default: in the build)
#   BENCH_DIR                  keep the sites in BENCH_DIR/runtime
#                              (default: a temporary folder, removed at
#                              the end)
#   BASTION_POSTFIX            where tools/postfix-tools unpacked Postfix
#                              (default: /usr/local/lib/bastion/postfix)
#   BENCH_QUICK=1              smoke run: smaller counts, one run each
#   BENCH_TIMEOUT              seconds allowed to the whole run (900)
#   BENCH_SAN                  the sanitizer flags the tree was built with

set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(dirname "$here")}
top_builddir=${top_builddir:-$(pwd)}
POLICYC=${POLICYC:-$top_builddir/policyc}
BASTIOND=${BASTIOND:-$top_builddir/bastiond}
BENCH_TLSCLIENT=${BENCH_TLSCLIENT:-$top_builddir/bench/rt_tlsclient}
PY=/usr/bin/python3
export top_srcdir top_builddir POLICYC BASTIOND BENCH_TLSCLIENT

# die, bounded, and where Postfix's tools are.
bench_timeout=900
. "$top_srcdir/bench/peer.sh"

[ -x "$POLICYC" ] || die "$POLICYC: not built (run make first)"
[ -x "$BASTIOND" ] || die "$BASTIOND: not built (run make first)"
[ -x "$BENCH_TLSCLIENT" ] ||
    die "$BENCH_TLSCLIENT: not built (make bench-runtime builds it)"
[ -x "$PY" ] || die "$PY is needed"
command -v openssl >/dev/null 2>&1 ||
    die "openssl is needed to make the test certificate"

if [ -n "${BENCH_DIR:-}" ]; then
	# A folder of its own beside the table benchmark's files.
	work=$BENCH_DIR/runtime
	mkdir -p "$work" || die "cannot create $work"
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/bastion-rtbench.XXXXXX") ||
	    die "cannot create a temporary folder"
	trap 'rm -rf "$work"' EXIT
	trap 'exit 130' INT TERM
fi

# Postfix's smtp-source and smtp-sink, from the package run.sh caches.
peer=$(peer_root smtp-source)
set -- --work "$work"
if [ -n "$peer" ]; then
	# smtp-source and smtp-sink read a main.cf like postmap does.
	"$PY" "$top_srcdir/bench/proc.py" postfix-conf "$work/postfix" ||
	    die "cannot write a main.cf for Postfix's tools"
	set -- "$@" --postfix-root "$peer" \
	    --postfix-conf "$work/postfix"
else
	echo "smtp-source: not available ($PEER_MISSING):" \
	    "the session rates are not measured"
fi
[ "${BENCH_QUICK:-0}" = 1 ] && set -- "$@" --quick
[ -n "${BENCH_SAN:-}" ] && set -- "$@" --sanitizers

bounded "$PY" "$top_srcdir/bench/rt_bench.py" "$@"
