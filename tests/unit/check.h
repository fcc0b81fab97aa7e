/*
 * check.h: the one assertion macro of the C unit tests.  CHECK(cond) or
 * CHECK(cond, fmt, ...) counts a check and, when cond is false, counts
 * a failure and prints "FAIL file:line: " then the message (or the
 * condition's text when there is none) on stdout, where the test's log
 * keeps it in order with the rest.  A test ends with
 * `return check_finish();`.  Header-only, so each test stays one
 * program; `failures` is there for the few tests that report a failure
 * in their own words.
 */
#ifndef CHECK_H
#define CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int	failures, checks;

static void	check_report(const char *, int, const char *, const char *, ...)
		    __attribute__((format(printf, 4, 5), unused));
static int	check_finish(void) __attribute__((unused));

/*
 * The message is pasted after a " ": CHECK(cond) then has a format of
 * one space, which check_report takes as "print the condition".
 */
#define CHECK(cond, ...) do {						\
	checks++;							\
	if (!(cond)) {							\
		failures++;						\
		check_report(__FILE__, __LINE__, #cond, " " __VA_ARGS__); \
	}								\
} while (0)

static void
check_report(const char *file, int line, const char *cond,
    const char *fmt, ...)
{
	va_list	 ap;

	printf("FAIL %s:%d:", file, line);
	if (strcmp(fmt, " ") == 0)
		printf(" %s", cond);
	else {
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
	}
	printf("\n");
	fflush(stdout);
}

/* The count, and the exit status: 1 if anything failed. */
static int
check_finish(void)
{
	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}

#endif
