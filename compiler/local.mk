# compiler/: policyc, its front end (tree, semantic pass, emitter) and
# its subcommands.
bin_PROGRAMS += policyc
policyc_SOURCES = \
	compiler/policyc.c compiler/cmds.c compiler/cmds.h \
	compiler/ast.c compiler/ast.h \
	compiler/diag.c compiler/diag.h \
	compiler/compile.c compiler/compile.h \
	compiler/sema.c compiler/sema.h compiler/sema_mail.c \
	compiler/emit.c \
	compiler/dump.c compiler/query.c compiler/diff.c \
	compiler/keys.c
policyc_LDADD = grammar/libgrammar.a $(LIBBASTION)
