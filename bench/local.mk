# bench/: benchmarks; `make bench` builds and runs them.  They print
# figures and never fail on a time.
EXTRA_DIST += bench
