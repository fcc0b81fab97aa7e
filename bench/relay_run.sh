#!/bin/sh
# relay_run.sh: the relay benchmark (`make bench-relay`, and the last
# part of `make bench`).  Finds Postfix in Debian's package as
# tools/deps unpacked it (never installed), then runs
# bench/relay_bench.py: smtp-source into bastiond and into a private
# Postfix instance, both relaying to one smtp-sink, and the ratio.
# Figures never fail the run; it exits 1 only when a step cannot run or
# mail was lost or doubled.  Without the package it says so and exits 0.
#
# Environment (make sets the first four):
#   top_srcdir, top_builddir   source and build trees (default: guessed)
#   POLICYC, BASTIOND          the programs (default: in $top_builddir)
#   BENCH_DIR                  keep the sites and Postfix's instance in
#                              BENCH_DIR/relay (default: a temporary
#                              folder, removed at the end)
#   BASTION_POSTFIX            where tools/postfix-tools unpacked Postfix
#                              (default: /usr/local/lib/bastion/postfix)
#   BENCH_QUICK=1              smoke run: smaller counts
#   BENCH_TIMEOUT              seconds allowed to the whole run (600)
#   BENCH_SAN                  the sanitizer flags the tree was built with

set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(dirname "$here")}
top_builddir=${top_builddir:-$(pwd)}
POLICYC=${POLICYC:-$top_builddir/policyc}
BASTIOND=${BASTIOND:-$top_builddir/bastiond}
PY=/usr/bin/python3
export top_srcdir top_builddir POLICYC BASTIOND

# die, bounded, and where Postfix's tools are.
bench_timeout=600
. "$top_srcdir/bench/peer.sh"

[ -x "$POLICYC" ] || die "$POLICYC: not built (run make first)"
[ -x "$BASTIOND" ] || die "$BASTIOND: not built (run make first)"
[ -x "$PY" ] || die "$PY is needed"

if [ -n "${BENCH_DIR:-}" ]; then
	# A folder of its own beside the other benchmarks' files.
	work=$BENCH_DIR/relay
	mkdir -p "$work" || die "cannot create $work"
	# Every run starts clean: a stale queue would be counted.
	rm -rf "$work"/bastiond-* "$work/postfix" "$work/tools" \
	    "$work/fsync-probe"
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/bastion-relaybench.XXXXXX") ||
	    die "cannot create a temporary folder"
	trap 'rm -rf "$work"' EXIT
	trap 'exit 130' INT TERM
fi

# smtp-source, smtp-sink and the Postfix server, from run.sh's package.
peer=$(peer_root postfix)
if [ -z "$peer" ] || [ ! -x "$peer/usr/sbin/smtp-source" ]; then
	echo "relay benchmark: NOT MEASURED: Postfix's package (smtp-source," \
	    "smtp-sink) is not available ($PEER_MISSING)"
	exit 0
fi
# smtp-source and smtp-sink read a main.cf like postmap does.
"$PY" "$top_srcdir/bench/proc.py" postfix-conf "$work/tools" ||
    die "cannot write a main.cf for Postfix's tools"
set -- --work "$work" --postfix-root "$peer" --postfix-conf "$work/tools"
[ "${BENCH_QUICK:-0}" = 1 ] && set -- "$@" --quick
[ -n "${BENCH_SAN:-}" ] && set -- "$@" --sanitizers

bounded "$PY" "$top_srcdir/bench/relay_bench.py" "$@"
