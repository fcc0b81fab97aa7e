/*
 * compile: the front end behind one call.  Read the policy (bounded by
 * LIM_SOURCE_SIZE), parse it into a tree, run the semantic pass, and
 * build the table; the diagnostics of all three stages are collected
 * and printed together, sorted, at the end.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ast.h"
#include "compile.h"
#include "diag.h"
#include "bastion_limits.h"
#include "sema.h"

int
compile_readfile(const char *path, char **bufp, size_t *lenp, char *err,
    size_t errlen)
{
	struct stat	 st;
	char		*buf = NULL;
	size_t		 len = 0, cap;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "it is a directory");
		goto fail;
	}
	/* A pipe or a device says size 0: read it in steps, bounded. */
	cap = S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (unsigned long long)st.st_size <= LIM_SOURCE_SIZE ?
	    (size_t)st.st_size + 1 : 65536;
	if ((unsigned long long)st.st_size > LIM_SOURCE_SIZE) {
		snprintf(err, errlen, "it is larger than %u bytes",
		    (unsigned)LIM_SOURCE_SIZE);
		goto fail;
	}
	if ((buf = malloc(cap + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (;;) {
		if (len == cap) {
			char	*nb;

			if (cap > LIM_SOURCE_SIZE) {
				snprintf(err, errlen, "it is larger than %u "
				    "bytes", (unsigned)LIM_SOURCE_SIZE);
				goto fail;
			}
			cap *= 2;
			if ((nb = realloc(buf, cap + 1)) == NULL) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s", strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > LIM_SOURCE_SIZE) {
		snprintf(err, errlen, "it is larger than %u bytes",
		    (unsigned)LIM_SOURCE_SIZE);
		goto fail;
	}
	close(fd);
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;
fail:
	free(buf);
	close(fd);
	return -1;
}

int
compile_file(const char *path, const struct compile_opts *o, uint8_t **out,
    size_t *outlen)
{
	char	 err[LIM_ERRMSG], *buf;
	size_t	 len;
	int	 r;

	if (compile_readfile(path, &buf, &len, err, sizeof(err)) == -1) {
		if (o->diag != NULL)
			fprintf(o->diag, "%s: error: cannot read: %s\n", path,
			    err);
		return -1;
	}
	r = compile_buffer(path, buf, len, o, out, outlen);
	free(buf);
	return r;
}

int
compile_buffer(const char *name, const char *buf, size_t len,
    const struct compile_opts *o, uint8_t **out, size_t *outlen)
{
	struct diag		*d;
	struct ast_parse	 p;
	struct sema		 s;
	int			 fid, r;

	if (out != NULL) {
		*out = NULL;
		*outlen = 0;
	}
	if ((d = diag_new(o->diag, o->werror)) == NULL)
		return 1;
	memset(&p, 0, sizeof(p));
	memset(&s, 0, sizeof(s));
	if ((fid = diag_source(d, name, buf, len)) == -1 ||
	    (p.arena = ast_arena_new()) == NULL) {
		if (o->diag != NULL)
			fprintf(o->diag, "%s: error: out of memory\n", name);
		diag_free(d);
		return 1;
	}
	if (len > LIM_SOURCE_SIZE) {
		diag_error(d, fid, NULL, "the policy is larger than %u bytes",
		    (unsigned)LIM_SOURCE_SIZE);
		goto done;
	}
	p.diag = d;
	p.file = fid;
	if (ast_parse_buffer(&p, buf, len) == -1 && !diag_stopped(d)) {
		diag_error(d, fid, NULL, "out of memory while parsing");
		goto done;
	}
	if (diag_stopped(d))
		goto done;
	s.arena = p.arena;
	s.diag = d;
	s.file = fid;
	s.name = name;
	s.opts = o;
	sema_run(&s, p.stmts.head);
	if (!diag_stopped(d))
		(void)emit_run(&s, out, outlen);
done:
	r = diag_errors(d) > 0 ? 1 : 0;
	if (r != 0 && out != NULL && *out != NULL) {
		free(*out);
		*out = NULL;
		*outlen = 0;
	}
	diag_flush(d);
	diag_free(d);
	ast_arena_free(p.arena);
	return r;
}
