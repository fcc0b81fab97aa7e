#!/bin/sh
# cluster_run.sh: the cluster benchmark (`make bench-cluster`).  Finds
# Postfix's smtp-source as tools/deps unpacked it and HAProxy, then runs
# bench/cluster_bench.py: sessions/s through HAProxy to one node and to
# two, and what the PROXY header costs.  Figures never fail the run; it
# exits 1 only when a step cannot run or mail was lost.
#
# Environment (make sets the first four):
#   top_srcdir, top_builddir   source and build trees (default: guessed)
#   POLICYC, BASTIOND          the programs (default: in $top_builddir)
#   BENCH_DIR                  keep the nodes in BENCH_DIR/cluster
#   BENCH_QUICK=1              smoke run: smaller counts, one run each
#   BENCH_TIMEOUT              seconds allowed to the whole run (900)
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
bench_timeout=900
. "$top_srcdir/bench/peer.sh"

[ -x "$POLICYC" ] || die "$POLICYC: not built (run make first)"
[ -x "$BASTIOND" ] || die "$BASTIOND: not built (run make first)"
[ -x "$PY" ] || die "$PY is needed"
haproxy=$(command -v haproxy) || die "haproxy is needed (tools/deps)"
peer=$(peer_root smtp-source)
[ -n "$peer" ] || die "smtp-source: $PEER_MISSING"

if [ -n "${BENCH_DIR:-}" ]; then
	work=$BENCH_DIR/cluster
	mkdir -p "$work" || die "cannot create $work"
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/bastion-clbench.XXXXXX") ||
	    die "cannot create a temporary folder"
	trap 'rm -rf "$work"' EXIT
	trap 'exit 130' INT TERM
fi
"$PY" "$top_srcdir/bench/proc.py" postfix-conf "$work/postfix" ||
    die "cannot write a main.cf for Postfix's tools"
set -- --work "$work" --postfix-root "$peer" --postfix-conf "$work/postfix" \
    --haproxy "$haproxy"
[ "${BENCH_QUICK:-0}" = 1 ] && set -- "$@" --quick
[ -n "${BENCH_SAN:-}" ] && set -- "$@" --sanitizers

if command -v timeout >/dev/null 2>&1; then
	timeout -k 10 "${BENCH_TIMEOUT:-900}" "$PY" \
	    "$top_srcdir/bench/cluster_bench.py" "$@"
else
	"$PY" "$top_srcdir/bench/cluster_bench.py" "$@"
fi
