# runtime/: bastiond.  The modules are gathered in a library so that
# unit tests and fuzz targets link the same objects as the daemon.  It
# links alone: layers look down only (core <- store <- inbound and
# outbound), and the server that wires them together (server.c) is the
# daemon's, with main() in bastiond.c.
noinst_LIBRARIES += runtime/librt.a
runtime_librt_a_SOURCES = \
	runtime/core/loop.c runtime/core/loop.h runtime/core/loop_epoll.c \
	runtime/core/conn.c runtime/core/conn.h \
	runtime/core/plog.c runtime/core/plog.h \
	runtime/core/tls.c runtime/core/tls.h \
	runtime/core/pem.c runtime/core/pem.h \
	runtime/core/oplog.c runtime/core/oplog.h \
	runtime/core/table.c runtime/core/table.h \
	runtime/core/ctl.c runtime/core/ctl.h runtime/core/stats.h \
	runtime/store/spool.c runtime/store/spool.h \
	runtime/store/spool_state.c \
	runtime/store/spool_settle.c \
	runtime/store/commit.c runtime/store/commit.h \
	runtime/store/maildir.c runtime/store/maildir.h \
	runtime/store/dsn.c runtime/store/dsn.h \
	runtime/store/local.c runtime/store/local.h \
	runtime/store/queue.c runtime/store/queue.h \
	runtime/inbound/smtp_proto.c runtime/inbound/smtp_proto.h \
	runtime/inbound/pwcheck.c runtime/inbound/pwcheck.h \
	runtime/inbound/sasl.c runtime/inbound/sasl.h \
	runtime/inbound/hostcount.c runtime/inbound/hostcount.h \
	runtime/inbound/proxy.c runtime/inbound/proxy.h \
	runtime/inbound/session.c runtime/inbound/session.h \
	runtime/outbound/dns.c runtime/outbound/dns.h \
	runtime/outbound/smtpc.c runtime/outbound/smtpc.h \
	runtime/outbound/smtpc_auth.c runtime/outbound/smtpc_int.h \
	runtime/outbound/relay.c runtime/outbound/relay.h

sbin_PROGRAMS = bastiond
bastiond_SOURCES = runtime/bastiond.c runtime/server.c runtime/server.h \
	runtime/server_ctl.c
bastiond_LDADD = runtime/librt.a $(LIBBASTION) $(BEARSSL_LIBS) $(CARES_LIBS)

# bastionctl: the control socket's client.  It reads the table (to find
# the socket) and shares the protocol's limits (ctl.h), nothing else.
sbin_PROGRAMS += bastionctl
bastionctl_SOURCES = runtime/bastionctl.c
bastionctl_LDADD = $(LIBBASTION)
