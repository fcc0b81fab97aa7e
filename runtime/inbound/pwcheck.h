/*
 * pwcheck: check a password against a verifier (lib/verifier.h) without
 * stalling the event loop.  AUTH PLAIN and LOGIN end here; SCRAM
 * exchanges do not (they never see the password: sasl.c checks their
 * proof with lib/scram.h directly).
 *
 *  - SCRAM-SHA-256 verifiers: PBKDF2-HMAC-SHA-256 over the verifier's
 *    salt and iteration count (4096 as policyc makes them), run in
 *    slices of PWCHECK_SLICE iterations, one slice per loop turn on a
 *    zero-delay timer, at most PWCHECK_TURN_MAX iterations per turn for
 *    all jobs together, the state in the caller's job.  Then
 *    StoredKey = H(HMAC(SaltedPassword, "Client Key")) is compared in
 *    constant time with the verifier's.
 *  - argon2id verifiers: one argon2id hash cannot be sliced, so it runs
 *    in a small child process forked by pwcheck_init() at start, before
 *    privileges are dropped and before any secret is loaded.  Parent
 *    and child talk over a SOCK_SEQPACKET socketpair in fixed-size
 *    records (request: id, verifier, password; response: id, result),
 *    one at a time in order; the child does nothing else and exits
 *    when the socket closes.  Requests beyond what the socket or the
 *    in-flight window (PWCHECK_INFLIGHT) takes wait in a queue made of
 *    the jobs themselves.
 *  - No verifier (the user does not exist): pwcheck_start_unknown()
 *    does the work of a model verifier (one of the table's users'),
 *    by the same path with the same parameters, against a dummy of
 *    its kind (random salt for SCRAM, random hash for argon2id), then
 *    answers "no match", so that timing does not tell unknown users
 *    from wrong passwords.  XXX a policy that mixes kinds still leaks
 *    the kind of a known user: the caller picks one model.
 *
 * The password is copied into the job and the caller's copy wiped by
 * pwcheck_start(); the job's copy is wiped as soon as it is no longer
 * needed (after the HMAC key is set up, or once the request is sent),
 * and every request buffer on both sides is sodium_malloc'd and wiped
 * after use.
 *
 * Usage:
 *	struct pwcheck V;			(one per process)
 *	pwcheck_init(&V, &L, uid, gid, err, errlen);	(before setuid)
 *	...
 *	struct pwcheck_job job;			(in the session)
 *	pwcheck_job_init(&job);
 *	pwcheck_start(&V, &job, verifier, vlen, pw, pwlen, done, sess,
 *	    err, errlen);
 *	    -> later, from the loop, done(sess, 1 | 0 | -1), exactly once;
 *	pwcheck_cancel(&job);			(session freed meanwhile)
 *	...
 *	pwcheck_free(&V);
 */
#ifndef BASTION_VERIFY_H
#define BASTION_VERIFY_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "loop.h"
#include "scram.h"

/*
 * Longest password taken, in bytes.  RFC 4616 asks servers to take at
 * least 255 octets; longer ones are refused by pwcheck_start().
 */
#define PWCHECK_PW_MAX		255
/*
 * PBKDF2 iterations per slice (one job, one turn), and in all per loop
 * turn whatever the number of jobs: about 0.1 ms and 0.4 ms on a
 * current CPU.  Jobs beyond the turn's budget wait for the next turn,
 * in turn order, so the loop's stall stays bounded under a burst.
 */
#define PWCHECK_SLICE		256
#define PWCHECK_TURN_MAX		1024
/* argon2id requests sent to the child and not yet answered. */
#define PWCHECK_INFLIGHT		32
/* Longest argon2id verifier (libsodium's bound, with the NUL). */
#define VERIFY_ARGON2_MAX	crypto_pwhash_STRBYTES

/* result: 1 the password matches, 0 it does not, -1 it could not say. */
typedef void	pwcheck_done_fn(void *arg, int result);

struct pwcheck;

/* A verification in progress.  Caller-allocated; fields are private. */
struct pwcheck_job {
	struct pwcheck		*v;
	struct pwcheck_job	*next;	/* queue to the child */
	struct pwcheck_job	*prev;
	struct loop_timer	 slice;
	pwcheck_done_fn		*done;
	void			*arg;
	int			 state;
	int			 fake;	/* no such user: no match */
	int			 kind;	/* VERIFIER_* of the last start */
	uint32_t		 id;
	uint32_t		 left;	/* PBKDF2 iterations to go */
	union {
		struct {
			crypto_auth_hmacsha256_state	 key;
			uint8_t		 u[SCRAM_KEY_SIZE];
			uint8_t		 t[SCRAM_KEY_SIZE];
			uint8_t		 stored_key[SCRAM_KEY_SIZE];
		} pbkdf2;
		struct {
			size_t		 pwlen;
			size_t		 vlen;
			char		 pw[PWCHECK_PW_MAX];
			char		 v[VERIFY_ARGON2_MAX];
		} child;
	} u;
};

struct pwcheck_req;

/* The per-process verifier.  Caller-allocated; fields are private. */
struct pwcheck {
	struct loop		*loop;
	int			 fd;		/* to the child, or -1 */
	pid_t			 pid;		/* the child, or -1 */
	int			 dead;		/* the child is gone */
	uint32_t		 nextid;
	struct pwcheck_job	*qhead;		/* waiting to be sent */
	struct pwcheck_job	*qtail;
	struct {
		uint32_t		 id;
		struct pwcheck_job	*job;	/* NULL once cancelled */
	}			 ring[PWCHECK_INFLIGHT];	/* sent */
	size_t			 rhead, rcount;
	struct pwcheck_req	*req;		/* sodium_malloc'd */
	uint64_t		 nchild;	/* jobs started: argon2id */
	uint64_t		 npbkdf2;	/* ... and SCRAM (PBKDF2) */
	uint64_t		 turn;	/* PBKDF2 budget: which turn */
	uint32_t		 budget;	/* iterations left in it */
	char			 err[128];
};

/*
 * Fork the argon2id child and register its socket in L.  uid and gid,
 * unless (uid_t)-1 and (gid_t)-1, are what the child switches to at
 * once (the `run as` user); it also closes every descriptor but its
 * socket and stderr, restores the default signal mask and ignores
 * SIGINT, SIGHUP, SIGTERM and SIGPIPE, so that only the parent (by
 * closing the socket, or by dying) ends it.  Returns 0, or -1 with the
 * reason in err.
 */
int	pwcheck_init(struct pwcheck *V, struct loop *L, uid_t uid, gid_t gid,
	    char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Close the socket and reap the child (killing it if it is still busy
 * after the socket closed).  Jobs still running are not called back:
 * cancel them first.  Not from a verify callback.
 */
void	pwcheck_free(struct pwcheck *V);

/* The child's pid, or -1 (for a daemon's SIGCHLD handler). */
pid_t	pwcheck_child_pid(const struct pwcheck *V);

/*
 * Tell verify that pid was reaped elsewhere (a daemon's waitpid(-1)
 * on SIGCHLD).  If it was the child, verify forgets it, so that
 * pwcheck_free() never signals a pid that may have been reused.
 */
void	pwcheck_child_reaped(struct pwcheck *V, pid_t pid);

/* Is the child gone (died, or the socket failed)? */
int	pwcheck_child_dead(const struct pwcheck *V);

void	pwcheck_job_init(struct pwcheck_job *j);

/*
 * Start checking pw (pwlen bytes, at most PWCHECK_PW_MAX) against the
 * verifier v (vlen characters, from the table; NULL for a user that
 * does not exist).  The password is copied and pw wiped, whatever the
 * outcome.  Returns 0: done(arg, result) will be called from the loop,
 * exactly once, unless the job is cancelled first.  Returns -1 (and
 * never calls done) with the reason in err if the verifier is not
 * usable, the password is too long, the job is busy, or the child is
 * gone.  done may free the job's memory, start a new verification on
 * the same job, or cancel others.
 */
int	pwcheck_start(struct pwcheck *V, struct pwcheck_job *j, const char *v,
	    size_t vlen, char *pw, size_t pwlen, pwcheck_done_fn *done,
	    void *arg, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/*
 * As pwcheck_start for a user that does not exist: the work of
 * checking pw against the verifier model (mlen characters: a real
 * user's, for its kind and parameters; NULL: a SCRAM verifier with
 * VERIFIER_SCRAM_ITER iterations), done against a dummy of the same
 * kind and parameters, by the same path; done() gets 0 (or -1 if the
 * check could not run).
 */
int	pwcheck_start_unknown(struct pwcheck *V, struct pwcheck_job *j,
	    const char *model, size_t mlen, char *pw, size_t pwlen,
	    pwcheck_done_fn *done, void *arg, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/* The VERIFIER_* kind j last ran (0 if none yet), for the log. */
int	pwcheck_kind(const struct pwcheck_job *j);

/*
 * Stop j: no callback will come, every secret in it is wiped, and its
 * memory may be freed on return.  Harmless on an idle job.
 */
void	pwcheck_cancel(struct pwcheck_job *j);

/* Is j running (started, not yet called back or cancelled)? */
int	pwcheck_busy(const struct pwcheck_job *j);

#endif
