# tests/rt-proxy.mk: the PROXY protocol header parser
# (runtime/inbound/proxy.c).
check_PROGRAMS += tests/unit/proxy_test
tests_unit_proxy_test_SOURCES = tests/unit/proxy_test.c
tests_unit_proxy_test_LDADD = runtime/librt.a $(LIBBASTION)
TESTS += tests/unit/proxy_test

# `proxy from` listeners end to end: headers written by hand
# (integ_proxy.py), and HAProxy in front of two bastiond
# (integ_haproxy.py).
TESTS += tests/rt/integ_proxy.py
TESTS += tests/rt/integ_haproxy.py
