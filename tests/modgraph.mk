# tests/modgraph.mk: the module graph keeps its layers (tools/modgraph,
# run on the sources and on this build's objects).
TESTS += tests/modgraph.sh
