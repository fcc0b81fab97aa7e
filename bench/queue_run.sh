#!/bin/sh
# queue_run.sh: the big-queue benchmark (`make bench-queue`).  Finds
# Postfix's smtp-source as tools/deps unpacked it, then runs
# bench/queue_bench.py: bastiond with 100,000 deferred messages against
# an empty spool (start to first 220, idle CPU, sessions/s at 20
# clients).  Figures never fail the run; it exits 1 only when a step
# cannot run, mail was lost, or a waiting message was tried early.
#
# Environment (make sets the first four):
#   top_srcdir, top_builddir   source and build trees (default: guessed)
#   POLICYC, BASTIOND          the programs (default: in $top_builddir)
#   BENCH_DIR                  keep the sites in BENCH_DIR/queue
#   BENCH_QUICK=1              smoke run: 10,000 messages, one run each
#   BENCH_QUEUE=N              messages in the big queue (100000)
#   BENCH_RUNS=N               starts of each bastiond (3)
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
peer=$(peer_root smtp-source)
[ -n "$peer" ] || die "smtp-source: $PEER_MISSING"

if [ -n "${BENCH_DIR:-}" ]; then
	work=$BENCH_DIR/queue
	mkdir -p "$work" || die "cannot create $work"
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/bastion-qbench.XXXXXX") ||
	    die "cannot create a temporary folder"
	trap 'rm -rf "$work"' EXIT
	trap 'exit 130' INT TERM
fi
"$PY" "$top_srcdir/bench/proc.py" postfix-conf "$work/postfix" ||
    die "cannot write a main.cf for Postfix's tools"
set -- --work "$work" --postfix-root "$peer" --postfix-conf "$work/postfix" \
    --messages "${BENCH_QUEUE:-100000}" --runs "${BENCH_RUNS:-3}"
[ "${BENCH_QUICK:-0}" = 1 ] && set -- "$@" --quick
[ -n "${BENCH_SAN:-}" ] && set -- "$@" --sanitizers

bounded "$PY" "$top_srcdir/bench/queue_bench.py" "$@"
