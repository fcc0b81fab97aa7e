/*
 * pwcheck: password verification that never holds the loop for long.
 * SCRAM verifiers are checked by a PBKDF2 run in slices on zero-delay
 * timers; argon2id verifiers by a child process, over a socketpair of
 * fixed-size records.  See pwcheck.h for the contract.
 *
 * The sliced PBKDF2 is here rather than in lib/scram.c because
 * scram_pbkdf2() there runs all iterations in one call, which is right
 * for policyc and the outbound client but not for the loop.  Only the
 * one-block case SCRAM needs (dkLen = 32) is done here; lib/scram.c
 * parses the verifier (scram_verifier_parse) and lib/verifier.c does
 * the argon2id match in the child (verifier_match).
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "scram.h"
#include "verifier.h"
#include "pwcheck.h"

enum {
	VJ_IDLE = 0,
	VJ_PBKDF2,		/* slicing on the loop */
	VJ_QUEUED,		/* waiting to be sent to the child */
	VJ_SENT			/* with the child */
};

/* The records on the socket; both sides are this same binary. */
struct pwcheck_req {
	uint32_t	 id;
	uint32_t	 pwlen;
	uint32_t	 vlen;
	char		 v[VERIFY_ARGON2_MAX];
	char		 pw[PWCHECK_PW_MAX];
};

struct pwcheck_resp {
	uint32_t	 id;
	int32_t		 result;
};

static void	pwcheck_child(int, uid_t, gid_t, pid_t)
		    __attribute__((noreturn));
static void	pwcheck_child_fds(int);
static void	pwcheck_io(struct loop *, int, int, void *);
static void	pwcheck_flush(struct pwcheck *);
static void	pwcheck_broken(struct pwcheck *, const char *);
static void	pwcheck_finish(struct pwcheck_job *, int);
static void	pwcheck_slice(struct loop *, void *);
static int	pwcheck_pbkdf2_start(struct pwcheck *, struct pwcheck_job *,
		    const char *, size_t, const uint8_t *, size_t, uint32_t,
		    const uint8_t *);
static void	pwcheck_unqueue(struct pwcheck *, struct pwcheck_job *);
static int	pwcheck_run(struct pwcheck *, struct pwcheck_job *,
		    const char *, size_t, int, char *, size_t,
		    pwcheck_done_fn *, void *, char *, size_t);
static int	pwcheck_dummy_argon2(const char *, size_t, char *, size_t);

/* The child. */

/*
 * Leave the child only its socket (as descriptor 3) and stdio, so that
 * it holds no listener or file of the daemon's.
 */
static void
pwcheck_child_fds(int sock)
{
	struct rlimit	 rl;
	long		 fd, max = 65536;

	if (sock != 3) {
		if (dup2(sock, 3) != 3)
			_exit(1);
		if (sock > 3)
			close(sock);
	}
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 4U, ~0U, 0U) == 0)
		return;
#endif
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
	    && rl.rlim_cur < (rlim_t)max)
		max = (long)rl.rlim_cur;
	for (fd = 4; fd < max; fd++)
		close((int)fd);
}

static void
pwcheck_child(int sock, uid_t uid, gid_t gid, pid_t parent)
{
	struct pwcheck_req	*req;
	struct pwcheck_resp	 resp;
	struct sigaction	 sa;
	sigset_t		 none;
	ssize_t			 n;

	/* The parent's signalfd set is blocked; we want none of it. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	(void)sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);

	pwcheck_child_fds(sock);
	sock = 3;
	if (gid != (gid_t)-1 && (setgroups(0, NULL) != 0 ||
	    setgid(gid) != 0))
		_exit(1);
	if (uid != (uid_t)-1 && setuid(uid) != 0)
		_exit(1);
#ifdef __linux__
	/* Set after setuid, which clears it. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
	if (getppid() != parent)
		_exit(0);

	if ((req = sodium_malloc(sizeof(*req))) == NULL)
		_exit(1);
	for (;;) {
		n = recv(sock, req, sizeof(*req), 0);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		resp.id = req->id;
		resp.result = -1;
		if ((size_t)n == sizeof(*req) && req->pwlen <= PWCHECK_PW_MAX &&
		    req->vlen > 0 && req->vlen < sizeof(req->v)) {
			req->v[req->vlen] = '\0';
			resp.result = verifier_match(req->v, req->pw,
			    req->pwlen);
		}
		sodium_memzero(req, sizeof(*req));
		if (send(sock, &resp, sizeof(resp), MSG_NOSIGNAL) !=
		    (ssize_t)sizeof(resp))
			break;
	}
	sodium_free(req);
	_exit(0);
}

/* The parent. */

int
pwcheck_init(struct pwcheck *V, struct loop *L, uid_t uid, gid_t gid,
    char *err, size_t errlen)
{
	int	 sv[2];
	pid_t	 parent = getpid();

	memset(V, 0, sizeof(*V));
	V->fd = -1;
	V->pid = -1;
	V->loop = L;
	if (sodium_init() < 0) {
		snprintf(err, errlen, "pwcheck: libsodium failed to start");
		return -1;
	}
	if ((V->req = sodium_malloc(sizeof(*V->req))) == NULL) {
		snprintf(err, errlen, "pwcheck: out of locked memory");
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		snprintf(err, errlen, "pwcheck: socketpair: %s",
		    strerror(errno));
		goto fail;
	}
	V->pid = fork();
	if (V->pid < 0) {
		snprintf(err, errlen, "pwcheck: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		goto fail;
	}
	if (V->pid == 0) {
		close(sv[0]);
		pwcheck_child(sv[1], uid, gid, parent);
	}
	close(sv[1]);
	V->fd = sv[0];
	if (fcntl(V->fd, F_SETFL, fcntl(V->fd, F_GETFL) | O_NONBLOCK) != 0 ||
	    loop_fd_add(L, V->fd, LOOP_READ, pwcheck_io, V) != 0) {
		snprintf(err, errlen, "pwcheck: cannot watch the child's "
		    "socket: %s", loop_error(L));
		pwcheck_free(V);
		return -1;
	}
	return 0;
fail:
	sodium_free(V->req);
	V->req = NULL;
	return -1;
}

void
pwcheck_free(struct pwcheck *V)
{
	int	 st;

	if (V->fd >= 0) {
		loop_fd_del(V->loop, V->fd);
		close(V->fd);
		V->fd = -1;
	}
	if (V->pid > 0) {
		/* It may be hashing; it holds nothing worth a clean end. */
		(void)kill(V->pid, SIGKILL);
		while (waitpid(V->pid, &st, 0) < 0 && errno == EINTR)
			;
		V->pid = -1;
	}
	if (V->req != NULL)
		sodium_free(V->req);
	V->req = NULL;
	V->dead = 1;
}

pid_t
pwcheck_child_pid(const struct pwcheck *V)
{
	return V->pid;
}

void
pwcheck_child_reaped(struct pwcheck *V, pid_t pid)
{
	if (pid > 0 && pid == V->pid)
		V->pid = -1;
}

int
pwcheck_child_dead(const struct pwcheck *V)
{
	return V->dead;
}

/*
 * The child is unusable: stop talking to it and fail every job that
 * waits on it.  Each job is detached before its callback, which may
 * cancel or start others.
 */
static void
pwcheck_broken(struct pwcheck *V, const char *why)
{
	struct pwcheck_job	*j;

	snprintf(V->err, sizeof(V->err), "password checker: %s", why);
	V->dead = 1;
	if (V->fd >= 0) {
		loop_fd_del(V->loop, V->fd);
		close(V->fd);
		V->fd = -1;
	}
	while (V->rcount > 0) {
		j = V->ring[V->rhead].job;
		V->rhead = (V->rhead + 1) % PWCHECK_INFLIGHT;
		V->rcount--;
		if (j != NULL)
			pwcheck_finish(j, -1);
	}
	while ((j = V->qhead) != NULL) {
		pwcheck_unqueue(V, j);
		pwcheck_finish(j, -1);
	}
}

static void
pwcheck_unqueue(struct pwcheck *V, struct pwcheck_job *j)
{
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		V->qhead = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	else
		V->qtail = j->prev;
	j->next = j->prev = NULL;
}

/* Send what the window and the socket take. */
static void
pwcheck_flush(struct pwcheck *V)
{
	struct pwcheck_job	*j;
	struct pwcheck_req	*r = V->req;
	ssize_t			 n;
	size_t			 slot;
	int			 blocked = 0;

	while (!V->dead && (j = V->qhead) != NULL &&
	    V->rcount < PWCHECK_INFLIGHT) {
		memset(r, 0, sizeof(*r));
		r->id = j->id;
		r->pwlen = (uint32_t)j->u.child.pwlen;
		r->vlen = (uint32_t)j->u.child.vlen;
		memcpy(r->v, j->u.child.v, j->u.child.vlen);
		memcpy(r->pw, j->u.child.pw, j->u.child.pwlen);
		n = send(V->fd, r, sizeof(*r), MSG_DONTWAIT | MSG_NOSIGNAL);
		sodium_memzero(r, sizeof(*r));
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR)) {
			blocked = 1;
			break;
		}
		if (n != (ssize_t)sizeof(*r)) {
			pwcheck_broken(V, n < 0 ? strerror(errno) :
			    "short write");
			return;
		}
		pwcheck_unqueue(V, j);
		sodium_memzero(&j->u.child, sizeof(j->u.child));
		j->state = VJ_SENT;
		slot = (V->rhead + V->rcount) % PWCHECK_INFLIGHT;
		V->ring[slot].id = j->id;
		V->ring[slot].job = j;
		V->rcount++;
	}
	if (V->dead)
		return;
	if (loop_fd_set(V->loop, V->fd, blocked ? LOOP_READ | LOOP_WRITE :
	    LOOP_READ) != 0)
		pwcheck_broken(V, loop_error(V->loop));
}

static void
pwcheck_io(struct loop *L, int fd, int events, void *arg)
{
	struct pwcheck		*V = arg;
	struct pwcheck_resp	 resp;
	struct pwcheck_job	*j;
	ssize_t			 n;
	int			 k;

	(void)L;
	if (events & LOOP_READ) {
		/* Bounded: one window's worth per turn. */
		for (k = 0; k < PWCHECK_INFLIGHT && !V->dead; k++) {
			n = recv(fd, &resp, sizeof(resp), MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK || errno == EINTR))
				break;
			if (n < 0) {
				pwcheck_broken(V, strerror(errno));
				return;
			}
			if (n == 0) {
				pwcheck_broken(V, "the child exited");
				return;
			}
			if (n != (ssize_t)sizeof(resp) || V->rcount == 0 ||
			    V->ring[V->rhead].id != resp.id) {
				pwcheck_broken(V, "unexpected answer");
				return;
			}
			j = V->ring[V->rhead].job;
			V->rhead = (V->rhead + 1) % PWCHECK_INFLIGHT;
			V->rcount--;
			if (j != NULL)
				pwcheck_finish(j, resp.result == 1 ? 1 :
				    resp.result == 0 ? 0 : -1);
		}
	}
	if (!V->dead)
		pwcheck_flush(V);
}

/* Sliced PBKDF2. */

/*
 * Set up PBKDF2-HMAC-SHA-256 for one 32-byte block (RFC 8018 5.2):
 * the HMAC key state is made once from the password, which is then
 * not needed, and U1 = HMAC(P, salt || INT(1)) is computed here.
 */
static int
pwcheck_pbkdf2_start(struct pwcheck *V, struct pwcheck_job *j,
    const char *pw, size_t pwlen, const uint8_t *salt, size_t saltlen,
    uint32_t iter, const uint8_t *stored_key)
{
	crypto_auth_hmacsha256_state	 st;
	static const uint8_t		 one[4] = { 0, 0, 0, 1 };

	if (crypto_auth_hmacsha256_init(&j->u.pbkdf2.key,
	    (const unsigned char *)pw, pwlen) != 0)
		return -1;
	st = j->u.pbkdf2.key;
	crypto_auth_hmacsha256_update(&st, salt, saltlen);
	crypto_auth_hmacsha256_update(&st, one, sizeof(one));
	crypto_auth_hmacsha256_final(&st, j->u.pbkdf2.u);
	memcpy(j->u.pbkdf2.t, j->u.pbkdf2.u, SCRAM_KEY_SIZE);
	memcpy(j->u.pbkdf2.stored_key, stored_key, SCRAM_KEY_SIZE);
	j->left = iter - 1;
	j->state = VJ_PBKDF2;
	if (loop_soon(V->loop, &j->slice) != 0)
		return -1;
	return 0;
}

/* One slice: up to PWCHECK_SLICE iterations, then yield or finish. */
static void
pwcheck_slice(struct loop *L, void *arg)
{
	struct pwcheck_job		*j = arg;
	struct pwcheck			*V = j->v;
	crypto_auth_hmacsha256_state	 st;
	uint8_t				 ck[SCRAM_KEY_SIZE];
	uint8_t				 sk[SCRAM_KEY_SIZE];
	uint32_t			 n, i;
	size_t				 k;
	int				 match;

	if (V->turn != loop_turns(L)) {
		V->turn = loop_turns(L);
		V->budget = PWCHECK_TURN_MAX;
	}
	n = j->left < PWCHECK_SLICE ? j->left : PWCHECK_SLICE;
	if (n > V->budget)
		n = V->budget;
	if (n == 0 && j->left > 0) {
		/* This turn's budget is spent: to the back of the line. */
		if (loop_soon(L, &j->slice) != 0)
			pwcheck_finish(j, -1);
		return;
	}
	V->budget -= n;
	for (i = 0; i < n; i++) {
		st = j->u.pbkdf2.key;
		crypto_auth_hmacsha256_update(&st, j->u.pbkdf2.u,
		    SCRAM_KEY_SIZE);
		crypto_auth_hmacsha256_final(&st, j->u.pbkdf2.u);
		for (k = 0; k < SCRAM_KEY_SIZE; k++)
			j->u.pbkdf2.t[k] ^= j->u.pbkdf2.u[k];
	}
	j->left -= n;
	if (j->left > 0) {
		if (loop_soon(L, &j->slice) != 0)
			pwcheck_finish(j, -1);
		return;
	}
	/* t is SaltedPassword; StoredKey = H(HMAC(it, "Client Key")). */
	crypto_auth_hmacsha256(ck, (const unsigned char *)"Client Key", 10,
	    j->u.pbkdf2.t);
	crypto_hash_sha256(sk, ck, sizeof(ck));
	match = sodium_memcmp(sk, j->u.pbkdf2.stored_key, SCRAM_KEY_SIZE)
	    == 0;
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(&st, sizeof(st));
	pwcheck_finish(j, j->fake ? 0 : match);
}

/* Wipe j, make it idle, then call back (which may reuse or free it). */
static void
pwcheck_finish(struct pwcheck_job *j, int result)
{
	pwcheck_done_fn	*done = j->done;
	void		*arg = j->arg;

	if (j->fake && result == 1)
		result = 0;	/* a dummy never lets anyone in */
	sodium_memzero(&j->u, sizeof(j->u));
	j->state = VJ_IDLE;
	j->fake = 0;
	j->left = 0;
	j->done = NULL;
	j->arg = NULL;
	if (done != NULL)
		done(arg, result);
}

/* Jobs. */

void
pwcheck_job_init(struct pwcheck_job *j)
{
	memset(j, 0, sizeof(*j));
	loop_timer_init(&j->slice, pwcheck_slice, j);
}

int
pwcheck_busy(const struct pwcheck_job *j)
{
	return j->state != VJ_IDLE;
}

int
pwcheck_kind(const struct pwcheck_job *j)
{
	return j->kind;
}

int
pwcheck_start(struct pwcheck *V, struct pwcheck_job *j, const char *v,
    size_t vlen, char *pw, size_t pwlen, pwcheck_done_fn *done, void *arg,
    char *err, size_t errlen)
{
	return pwcheck_run(V, j, v, vlen, 0, pw, pwlen, done, arg, err,
	    errlen);
}

/*
 * A dummy argon2id verifier like model (same version, parameters and
 * salt length), with a random hash of the same length, into out.  The
 * hash is encoded from random bytes rather than made of random
 * characters: argon2's decoder refuses base64 with stray low bits,
 * which would end the check early, and its cost would tell.
 */
static int
pwcheck_dummy_argon2(const char *model, size_t mlen, char *out,
    size_t outsz)
{
	uint8_t		 h[64];
	const char	*last;
	size_t		 keep, hlen;

	if (mlen >= outsz)
		return -1;
	for (last = model + mlen; last > model && last[-1] != '$'; last--)
		;
	if (last == model)
		return -1;
	keep = (size_t)(last - model);
	hlen = (mlen - keep) * 3 / 4;
	if (hlen == 0 || hlen > sizeof(h) ||
	    sodium_base64_ENCODED_LEN(hlen,
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING) > outsz - keep)
		return -1;
	memcpy(out, model, keep);
	randombytes_buf(h, hlen);
	sodium_bin2base64(out + keep, outsz - keep, h, hlen,
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	return 0;
}

int
pwcheck_start_unknown(struct pwcheck *V, struct pwcheck_job *j,
    const char *model, size_t mlen, char *pw, size_t pwlen,
    pwcheck_done_fn *done, void *arg, char *err, size_t errlen)
{
	char	 dummy[VERIFY_ARGON2_MAX] = "";

	if (model != NULL && verifier_check(model, mlen, err, errlen) ==
	    VERIFIER_ARGON2ID) {
		if (j->state == VJ_IDLE && pwcheck_dummy_argon2(model, mlen,
		    dummy, sizeof(dummy)) != 0) {
			snprintf(err, errlen, "pwcheck: cannot make a dummy "
			    "argon2id verifier");
			sodium_memzero(pw, pwlen);
			return -1;
		}
		return pwcheck_run(V, j, dummy, strlen(dummy), 1, pw, pwlen,
		    done, arg, err, errlen);
	}
	if (model != NULL && verifier_check(model, mlen, err, errlen) !=
	    VERIFIER_SCRAM_SHA_256)
		model = NULL;
	/* SCRAM: the work of model's iterations, with a salt of our own. */
	return pwcheck_run(V, j, model, model ? mlen : 0, 1, pw, pwlen, done,
	    arg, err, errlen);
}

/* pwcheck_start; dummy: the work only, then "no match". */
static int
pwcheck_run(struct pwcheck *V, struct pwcheck_job *j, const char *v,
    size_t vlen, int dummy, char *pw, size_t pwlen, pwcheck_done_fn *done,
    void *arg, char *err, size_t errlen)
{
	struct scram_verifier	 sv;
	uint8_t			 fake[SCRAM_KEY_SIZE];
	int			 kind, r = -1;

	if (j->state != VJ_IDLE) {
		/* Leave the running verification alone. */
		snprintf(err, errlen, "pwcheck: the job is already running");
		sodium_memzero(pw, pwlen);
		return -1;
	}
	if (pwlen > PWCHECK_PW_MAX) {
		snprintf(err, errlen, "password longer than %d bytes",
		    PWCHECK_PW_MAX);
		goto out;
	}
	sodium_memzero(&j->u, sizeof(j->u));
	j->v = V;
	j->done = done;
	j->arg = arg;
	j->fake = dummy || v == NULL;
	loop_timer_init(&j->slice, pwcheck_slice, j);

	if (v == NULL) {
		/* No such user and no model: a SCRAM verifier's work. */
		memset(&sv, 0, sizeof(sv));
		sv.iter = VERIFIER_SCRAM_ITER;
		sv.saltlen = SCRAM_SALT_SIZE;
		randombytes_buf(sv.salt, sv.saltlen);
		randombytes_buf(fake, sizeof(fake));
		j->kind = VERIFIER_SCRAM_SHA_256;
		V->npbkdf2++;
		r = pwcheck_pbkdf2_start(V, j, pw, pwlen, sv.salt, sv.saltlen,
		    sv.iter, fake);
		if (r != 0)
			snprintf(err, errlen, "pwcheck: %s",
			    loop_error(V->loop));
		goto out;
	}
	kind = verifier_check(v, vlen, err, errlen);
	if (kind == VERIFIER_SCRAM_SHA_256) {
		if (scram_verifier_parse(v, vlen, &sv, err, errlen) != 0)
			goto out;
		if (j->fake) {
			/* A model: its cost, nobody's salt or key. */
			randombytes_buf(sv.salt, sv.saltlen);
			randombytes_buf(sv.stored_key, sizeof(sv.stored_key));
		}
		j->kind = kind;
		V->npbkdf2++;
		r = pwcheck_pbkdf2_start(V, j, pw, pwlen, sv.salt, sv.saltlen,
		    sv.iter, sv.stored_key);
		sodium_memzero(&sv, sizeof(sv));
		if (r != 0)
			snprintf(err, errlen, "pwcheck: %s",
			    loop_error(V->loop));
		goto out;
	}
	if (kind != VERIFIER_ARGON2ID)
		goto out;	/* verifier_check said why */
	if (V->dead || V->fd < 0) {
		snprintf(err, errlen, "pwcheck: the argon2id child is gone%s%s",
		    V->err[0] ? ": " : "", V->err);
		goto out;
	}
	if (vlen >= sizeof(j->u.child.v)) {
		snprintf(err, errlen, "argon2id verifier too long");
		goto out;
	}
	j->kind = kind;
	V->nchild++;
	memcpy(j->u.child.v, v, vlen);
	j->u.child.vlen = vlen;
	memcpy(j->u.child.pw, pw, pwlen);
	j->u.child.pwlen = pwlen;
	j->id = V->nextid++;
	j->state = VJ_QUEUED;
	j->next = NULL;
	j->prev = V->qtail;
	if (V->qtail != NULL)
		V->qtail->next = j;
	else
		V->qhead = j;
	V->qtail = j;
	/*
	 * Sent from the loop on the next turn, never from here: a send
	 * that finds the child gone fails every waiting job, and this
	 * caller must not be called back before we return.
	 */
	if (loop_fd_set(V->loop, V->fd, LOOP_READ | LOOP_WRITE) != 0) {
		pwcheck_unqueue(V, j);
		snprintf(err, errlen, "pwcheck: %s", loop_error(V->loop));
		goto out;
	}
	r = 0;
out:
	sodium_memzero(pw, pwlen);
	sodium_memzero(fake, sizeof(fake));
	sodium_memzero(&sv, sizeof(sv));
	if (r != 0) {
		sodium_memzero(&j->u, sizeof(j->u));
		j->state = VJ_IDLE;
		j->done = NULL;
		j->arg = NULL;
	}
	return r;
}

void
pwcheck_cancel(struct pwcheck_job *j)
{
	struct pwcheck	*V = j->v;
	size_t		 i, slot;

	switch (j->state) {
	case VJ_PBKDF2:
		loop_timer_cancel(V->loop, &j->slice);
		break;
	case VJ_QUEUED:
		pwcheck_unqueue(V, j);
		break;
	case VJ_SENT:
		/* Its answer will come and be dropped. */
		for (i = 0; i < V->rcount; i++) {
			slot = (V->rhead + i) % PWCHECK_INFLIGHT;
			if (V->ring[slot].job == j)
				V->ring[slot].job = NULL;
		}
		break;
	default:
		return;
	}
	sodium_memzero(&j->u, sizeof(j->u));
	j->state = VJ_IDLE;
	j->done = NULL;
	j->arg = NULL;
}
