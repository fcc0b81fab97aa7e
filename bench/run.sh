#!/bin/sh
# run.sh: the table benchmark, end to end (`make bench` runs it from a
# configured build tree).  Generates the synthetic policies into a
# temporary folder, compiles them, runs the in-process measurements
# (bench/ptab_bench), times whole processes against Postfix's postmap,
# and prints a summary.  Figures never fail the run; it exits 1 only
# when a step cannot run or two lookups disagree.
#
# Environment (make sets the first four):
#   top_srcdir, top_builddir   source and build trees (default: guessed)
#   POLICYC                    the compiler (default: $top_builddir/policyc)
#   BENCH_PROG                 ptab_bench (default: $top_builddir/bench/...)
#   BENCH_DIR                  keep the generated files here (default: a
#                              temporary folder, removed at the end)
#   BASTION_POSTFIX            where tools/postfix-tools unpacked Postfix
#                              (default: /usr/local/lib/bastion/postfix)
#   BENCH_POSTMAP              a postmap to use instead of the cached one
#   BENCH_QUICK=1              smoke run: a tenth of the iterations
#   BENCH_TIMEOUT              seconds allowed to any one step (300)
#   BENCH_SAN                  the sanitizer flags the tree was built with

set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(dirname "$here")}
top_builddir=${top_builddir:-$(pwd)}
POLICYC=${POLICYC:-$top_builddir/policyc}
BENCH_PROG=${BENCH_PROG:-$top_builddir/bench/ptab_bench}
PY=/usr/bin/python3
bench_timeout=300
quick=
[ "${BENCH_QUICK:-0}" = 1 ] && quick=-q
status=0

# die, bounded, and where Postfix's tools are.
. "$top_srcdir/bench/peer.sh"

[ -x "$POLICYC" ] || die "$POLICYC: not built (run make first)"
[ -x "$BENCH_PROG" ] || die "$BENCH_PROG: not built (make bench builds it)"
[ -x "$PY" ] || die "$PY is needed for the generator"

if [ -n "${BENCH_DIR:-}" ]; then
	work=$BENCH_DIR
	mkdir -p "$work" || die "cannot create $work"
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/bastion-bench.XXXXXX") ||
	    die "cannot create a temporary folder"
	trap 'rm -rf "$work"' EXIT
	trap 'exit 130' INT TERM
fi
results=$work/results.txt
: > "$results"

echo "bastion table benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'),"\
    "$(uname -m), $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo ?) CPUs"
grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/^.*: /CPU: /'
# Other work on the machine shows in the latencies: say how busy it was.
[ -r /proc/loadavg ] &&
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "${BENCH_SAN:-}" ]; then
	echo "WARNING: this tree is built with sanitizers; figures are" \
	    "not representative"
fi
echo "work folder: $work"
echo

echo "== Generating the policies"
bounded "$PY" "$top_srcdir/bench/gen.py" -o "$work" ||
    die "generator failed"
echo

echo "== Compiling"
for n in 1000 10000 100000; do
	bounded "$PY" "$top_srcdir/bench/proc.py" time -n 1 \
	    -k "compile.p$n" -l "policyc p$n.policy" -r "$results" -- \
	    "$POLICYC" -o "$work/p$n.ptab" "$work/p$n.policy" ||
	    die "p$n.policy does not compile"
done
bounded "$PY" "$top_srcdir/bench/proc.py" time -n 3 -k compile.big \
    -l "policyc big.policy (target <= 2)" -r "$results" -- \
    "$POLICYC" -o "$work/big.ptab" "$work/big.policy" ||
    die "big.policy does not compile"
echo

bounded "$BENCH_PROG" $quick -r "$results" big "$work/big.ptab" ||
    die "ptab_bench big failed"
echo

# A recipients list of a million local parts: compile, then the check
# bastiond makes at RCPT.
awk 'BEGIN { for (i = 0; i < 1000000; i++) printf "user%07d\n", i }' \
    >"$work/rcpts.txt"
printf '%s\n' 'recipients big file "rcpts.txt"' \
    'accept for rcpt.example deliver maildir "mail/%u" recipients <big>' \
    >"$work/rcpts.policy"
bounded "$PY" "$top_srcdir/bench/proc.py" time -n 3 -k compile.rcpts \
    -l "policyc rcpts.policy, 1M recipients (target <= 2)" \
    -r "$results" -- "$POLICYC" -o "$work/rcpts.ptab" "$work/rcpts.policy" ||
    die "rcpts.policy does not compile"
bounded "$BENCH_PROG" $quick -r "$results" rcpts "$work/rcpts.ptab" 1000000 ||
    die "ptab_bench rcpts failed"
echo
bounded "$BENCH_PROG" $quick -r "$results" scan \
    "p1000:$work/p1000.rules:$work/p1000.ptab" \
    "p10000:$work/p10000.rules:$work/p10000.ptab" \
    "p100000:$work/p100000.rules:$work/p100000.ptab" || status=1
echo

# Postfix's postmap, unpacked from Debian's package, never installed.
postmap=${BENCH_POSTMAP:-}
libdir=
if [ -z "$postmap" ]; then
	peer=$(peer_root postmap)
	if [ -n "$peer" ]; then
		postmap=$peer/usr/sbin/postmap
		libdir=$peer/usr/lib/postfix
	else
		echo "postmap: not available ($PEER_MISSING):"\
		    "the postmap column is not measured"
	fi
fi
set -- --policyc "$POLICYC" --table "$work/p100000.ptab" \
    --big-table "$work/big.ptab" --rules "$work/p100000.rules" \
    --cidr "$work/p100000.cidr" -r "$results"
if [ -n "$postmap" ]; then
	"$PY" "$top_srcdir/bench/proc.py" postfix-conf "$work/postfix" ||
	    die "cannot write a main.cf for postmap"
	set -- "$@" --postmap "$postmap" --postmap-libdir "$libdir" \
	    --postfix-conf "$work/postfix"
fi
[ -n "$quick" ] && set -- "$@" --runs 5 --postmap-runs 3
bounded "$PY" "$top_srcdir/bench/proc.py" peer "$@" || status=1
echo

"$PY" "$top_srcdir/bench/proc.py" summary -r "$results"
[ -r /proc/loadavg ] &&
    echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$status" = 0 ] || echo "run.sh: some answers disagreed (see above)" >&2
exit "$status"
