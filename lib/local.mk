# lib/: what the compiler and the runtime share (table format, reader
# and writer, addresses, sealed secrets, verifiers), linked by both.
noinst_LIBRARIES += lib/libbastion.a
lib_libbastion_a_SOURCES = \
	lib/addr.c lib/addr.h \
	lib/b64.c lib/b64.h \
	lib/bastion_limits.h \
	lib/fileio.c lib/fileio.h \
	lib/ptab.h lib/ptab_read.c lib/ptab_write.c \
	lib/render.c lib/render.h \
	lib/scram.c lib/scram.h \
	lib/seal.c lib/seal.h \
	lib/verifier.c lib/verifier.h
# lib/ sees itself only: it is under both the compiler and the runtime.
lib_libbastion_a_CPPFLAGS = $(BASE_CPPFLAGS) $(LIB_INCLUDES)

LIBBASTION = lib/libbastion.a $(SODIUM_LIBS)
