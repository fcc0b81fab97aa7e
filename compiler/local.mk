# compiler/: policyc, its front end (tree, semantic pass, emitter) and
# its subcommands.
bin_PROGRAMS += policyc
policyc_SOURCES = \
	compiler/policyc.c compiler/cmds.c compiler/cmds.h \
	compiler/diag.c compiler/diag.h \
	compiler/compile.c compiler/compile.h compiler/opts.h \
	compiler/sema.c compiler/sema.h compiler/sema_int.h \
	compiler/sema_values.c compiler/sema_policy.c compiler/sema_mail.c \
	compiler/nameset.c compiler/nameset.h compiler/emit.c \
	compiler/dump.c compiler/query.c compiler/diff.c \
	compiler/keys.c
# policyc sees lib/, the grammar's interface, and itself.
policyc_CPPFLAGS = $(BASE_CPPFLAGS) $(LIB_INCLUDES) $(GRAMMAR_INCLUDES) \
	$(COMPILER_INCLUDES)
policyc_LDADD = grammar/libgrammar.a $(LIBBASTION)
