#!/bin/sh
# modgraph.sh: the layering of lib/, grammar/, compiler/ and runtime/
# (tools/modgraph): no include from a layer to one above it or beside
# it, no include or call cycle between runtime modules.  The calls come
# from nm on this build's objects.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
command -v nm >/dev/null 2>&1 ||
    { echo "ERROR: nm not found: install the Debian package 'binutils'"; exit 99; }
exec /usr/bin/python3 "$top_srcdir/tools/modgraph" -b "$top_builddir" \
    "$top_srcdir"
