# grammar/: the reentrant flex scanner and pure bison parser, and the
# tree they build; grammar/grammar.h is its interface.  The generated C
# is built here, never shipped, and compiled with the warnings flex's
# skeleton cannot avoid turned off.  It sees lib/ and itself (the
# generated parser.h is in the build's grammar/), never compiler/.
noinst_LIBRARIES += grammar/libgrammar.a
grammar_libgrammar_a_SOURCES = grammar/ast.c grammar/grammar.h
grammar_libgrammar_a_CPPFLAGS = $(BASE_CPPFLAGS) $(LIB_INCLUDES) \
	$(GRAMMAR_INCLUDES) -iquote $(top_builddir)/grammar
EXTRA_DIST += grammar/lexer.l grammar/parser.y
nodist_grammar_libgrammar_a_SOURCES = grammar/parser.c grammar/parser.h \
	grammar/lexer.c grammar/lexer.h
grammar_libgrammar_a_CFLAGS = $(AM_CFLAGS) -Wno-unused-parameter \
	-Wno-sign-compare -Wno-unused-function -Wno-unused-but-set-variable
BUILT_SOURCES += grammar/parser.c grammar/parser.h grammar/lexer.c \
	grammar/lexer.h
CLEANFILES += grammar/parser.c grammar/parser.h grammar/lexer.c \
	grammar/lexer.h grammar/parser.output

grammar/parser.c grammar/parser.h: $(srcdir)/grammar/parser.y
	$(AM_V_GEN)$(MKDIR_P) grammar && \
	$(BISON) -Wall -Werror --defines=grammar/parser.h \
	    -o grammar/parser.c $(srcdir)/grammar/parser.y

grammar/lexer.c grammar/lexer.h: $(srcdir)/grammar/lexer.l grammar/parser.h
	$(AM_V_GEN)$(MKDIR_P) grammar && \
	$(FLEX) --header-file=grammar/lexer.h -o grammar/lexer.c \
	    $(srcdir)/grammar/lexer.l
