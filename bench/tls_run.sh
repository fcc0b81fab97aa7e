#!/bin/sh
# tls_run.sh: the STARTTLS handshake benchmark (`make bench-tls`).
# Finds the Postfix package tools/deps unpacked (never installed), then
# runs bench/tls_bench.py, which times the public-key steps
# (bench/tls_ecbench) and full STARTTLS sessions against bastiond and
# against a private Postfix instance with the same certificate.
# Figures never fail the run; it exits 1 only when a step cannot run or
# a session fails.  Without Postfix it measures bastiond alone.
#
# Environment (make sets the first six):
#   top_srcdir, top_builddir   source and build trees (default: guessed)
#   POLICYC, BASTIOND          the programs (default: in $top_builddir)
#   BENCH_TLSCLIENT            bench/rt_tlsclient (default: in the build)
#   BENCH_ECBENCH              bench/tls_ecbench (default: in the build)
#   BENCH_DIR                  keep the sites in BENCH_DIR/tls (default:
#                              a temporary folder, removed at the end)
#   BASTION_POSTFIX            where tools/postfix-tools unpacked Postfix
#                              (default: /usr/local/lib/bastion/postfix)
#   BENCH_QUICK=1              smoke run: one short round
#   BENCH_BASELINE=BASTIOND    also measure this other build of bastiond
#                              (an older commit), in every round
#   BENCH_TIMEOUT              seconds allowed to the whole run (300)
#   BENCH_SAN                  the sanitizer flags the tree was built with

set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(dirname "$here")}
top_builddir=${top_builddir:-$(pwd)}
POLICYC=${POLICYC:-$top_builddir/policyc}
BASTIOND=${BASTIOND:-$top_builddir/bastiond}
BENCH_TLSCLIENT=${BENCH_TLSCLIENT:-$top_builddir/bench/rt_tlsclient}
BENCH_ECBENCH=${BENCH_ECBENCH:-$top_builddir/bench/tls_ecbench}
PY=/usr/bin/python3
export top_srcdir top_builddir POLICYC BASTIOND BENCH_TLSCLIENT \
    BENCH_ECBENCH

# die, bounded, and where Postfix's tools are.
bench_timeout=300
. "$top_srcdir/bench/peer.sh"

[ -x "$POLICYC" ] || die "$POLICYC: not built (run make first)"
[ -x "$BASTIOND" ] || die "$BASTIOND: not built (run make first)"
for p in "$BENCH_TLSCLIENT" "$BENCH_ECBENCH"; do
	[ -x "$p" ] || die "$p: not built (make bench-tls builds it)"
done
[ -x "$PY" ] || die "$PY is needed"
command -v openssl >/dev/null 2>&1 ||
    die "openssl is needed to make the test certificate"

if [ -n "${BENCH_DIR:-}" ]; then
	work=$BENCH_DIR/tls
	mkdir -p "$work" || die "cannot create $work"
	rm -rf "$work/postfix" "$work/certs"
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/bastion-tlsbench.XXXXXX") ||
	    die "cannot create a temporary folder"
	trap 'rm -rf "$work"' EXIT
	trap 'exit 130' INT TERM
fi

set -- --work "$work"
peer=$(peer_root postfix)
if [ -n "$peer" ]; then
	set -- "$@" --postfix-root "$peer"
else
	echo "Postfix: not available ($PEER_MISSING): bastiond alone"
fi
[ "${BENCH_QUICK:-0}" = 1 ] && set -- "$@" --quick
[ -n "${BENCH_SAN:-}" ] && set -- "$@" --sanitizers

bounded "$PY" "$top_srcdir/bench/tls_bench.py" "$@"
