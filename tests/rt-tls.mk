# tests/rt-tls.mk: the TLS layer (runtime/core/tls.c, runtime/core/pem.c).  The
# certificates are made by tests/certs/make-certs.sh at test time.
check_PROGRAMS += tests/unit/tls_test tests/rt/tls-tool
tests_unit_tls_test_SOURCES = tests/unit/tls_test.c
tests_unit_tls_test_LDADD = runtime/librt.a lib/libbastion.a \
	$(SODIUM_LIBS) $(BEARSSL_LIBS)
tests_rt_tls_tool_SOURCES = tests/rt/tls-tool.c
tests_rt_tls_tool_LDADD = runtime/librt.a lib/libbastion.a \
	$(SODIUM_LIBS) $(BEARSSL_LIBS)
TESTS += tests/rt/tls-unit.sh tests/rt/pem-load.sh \
	tests/rt/tls-openssl.sh tests/rt/tls-python.py
