# runtime/: bastiond.  The modules are gathered in a library so that
# unit tests and fuzz targets link the same objects as the daemon.
noinst_LIBRARIES += runtime/librt.a
runtime_librt_a_SOURCES = \
	runtime/loop.c runtime/loop.h runtime/loop_epoll.c \
	runtime/verify.c runtime/verify.h \
	runtime/sasl.c runtime/sasl.h \
	runtime/tls.c runtime/tls.h runtime/pem.c runtime/pem.h \
	runtime/spool.c runtime/spool.h \
	runtime/maildir.c runtime/maildir.h \
	runtime/plog.c runtime/plog.h \
	runtime/smtp_proto.c runtime/smtp_proto.h \
	runtime/hostcount.c runtime/hostcount.h \
	runtime/server.h runtime/session.c runtime/queue.c \
	runtime/smtpc.c runtime/smtpc.h runtime/dns.c runtime/dns.h \
	runtime/dsn.c runtime/dsn.h runtime/relay.c runtime/relay.h

sbin_PROGRAMS = bastiond
bastiond_SOURCES = runtime/bastiond.c
bastiond_LDADD = runtime/librt.a $(LIBBASTION) $(BEARSSL_LIBS) $(CARES_LIBS)
