/*
 * tls: TLS for bastiond's sessions over BearSSL, driven by the event
 * loop on non-blocking sockets (never BearSSL's blocking br_sslio).
 *
 * Protocol: TLS 1.2 only; ECDHE key exchange with AEAD suites only
 * (ECDHE_ECDSA and ECDHE_RSA with AES-128-GCM, AES-256-GCM and
 * ChaCha20-Poly1305), the server's preference order (AES-GCM first on
 * CPUs with AES instructions, ChaCha20 first elsewhere), no
 * renegotiation, no session resumption.  The server's key type (RSA or
 * EC) picks the suites.
 *
 * Objects and lifetimes:
 *
 *   struct tls_server_creds  certificate chain and private key, loaded
 *	from PEM once, immutable afterwards, shared by every session.
 *	Reference counted: load returns one reference; each connection
 *	made from it takes another and drops it in tls_free().  On
 *	SIGHUP the daemon loads new credentials, uses them for new
 *	connections and drops its reference to the old ones, which live
 *	on until their last session ends.
 *
 *   struct tls_client_creds  trust anchors for outbound `verify', also
 *	reference counted the same way.
 *
 *   struct tls_conn  one TLS connection, allocated once when TLS
 *	starts (after STARTTLS's 220, on an implicit-TLS accept, or
 *	when an outbound session starts TLS), of fixed size, freed with
 *	the session.  After it is made, nothing allocates.
 *	tls_conn_size() gives its size.
 *
 * Driving a connection from the loop: tls_read(), tls_write(),
 * tls_flush(), tls_handshake() and tls_close() behave like their
 * system calls on a non-blocking socket: -1 with errno EAGAIN means
 * "the engine needs the socket first".  Then ask tls_events() which
 * socket events to wait for, set the loop's interest to exactly that,
 * and call again when one fires.  Two rules make this complete:
 *
 *   - Decrypted bytes can wait inside the engine while the socket has
 *     nothing to read; after tls_read() returns data, call it again
 *     until it says EAGAIN (or check tls_pending()) before waiting.
 *   - tls_write() may keep bytes in the engine; call tls_flush() once
 *     a reply is complete, and until it returns 0.
 *
 * A call does a bounded amount of work: it may say EAGAIN while the
 * socket still holds bytes (a peer streaming empty records must not
 * hold the loop).  With level-triggered interest that is harmless, the
 * socket stays readable; an edge-triggered loop must call again.
 *
 * The first send on a socket sets TCP_NODELAY on it: BearSSL gives
 * out one record at a time, and with Nagle's algorithm the second
 * record of a flight would wait some 40 ms for the peer's delayed ACK.
 *
 * The handshake runs by itself inside tls_read() / tls_write(); a
 * session that wants to log the negotiated suite or time the handshake
 * apart calls tls_handshake() until it returns 1.
 *
 * STARTTLS: the engine starts empty and reads only from the socket.
 * Plaintext the client pipelined behind STARTTLS is in the session's
 * own input buffer, never in the engine: the session must discard it
 * (RFC 3207, section 4.2), as it must discard everything it learned
 * before TLS.
 *
 * Errors are sticky: once a call fails (protocol error, socket error,
 * peer gone during the handshake), every later call fails the same
 * way and tls_error() says why, in a line fit for the protocol log.
 */
#ifndef BASTION_TLS_H
#define BASTION_TLS_H

#include <sys/types.h>

#include <stddef.h>

/* Outbound certificate checks (the policy's `tls required' / `verify'). */
#define TLS_LEVEL_REQUIRED	1	/* encrypt; accept any certificate */
#define TLS_LEVEL_VERIFY	2	/* chain to an anchor, name matches */

/* tls_events() bits: socket events the engine waits for. */
#define TLS_EV_READ		0x01
#define TLS_EV_WRITE		0x02

/* tls_conn_size() roles. */
#define TLS_ROLE_SERVER		0
#define TLS_ROLE_CLIENT		1

struct tls_server_creds;
struct tls_client_creds;
struct tls_conn;

/*
 * Server credentials.
 *
 * tls_server_creds_load() reads the PEM chain (end entity first, then
 * intermediates) and the private key, checks that the key is the
 * certificate's (RSA of at least 2048 bits, or EC on P-256, P-384 or
 * P-521), and returns them with one reference.  Returns 0, or -1 with
 * the reason in err ("certs/sf.key: no private key found").
 */
int	tls_server_creds_load(const char *certfile, const char *keyfile,
	    struct tls_server_creds **creds, char *err, size_t errlen)
	    __attribute__((warn_unused_result));
void	tls_server_creds_ref(struct tls_server_creds *creds);
/* Drop a reference; the last one wipes the key and frees everything. */
void	tls_server_creds_unref(struct tls_server_creds *creds);
/* "RSA-2048" or "EC P-256", for the log line that says what loaded. */
const char *tls_server_creds_describe(const struct tls_server_creds *creds);

/*
 * Client credentials: trustfile (PEM, one or more CA certificates) may
 * be NULL, in which case only TLS_LEVEL_REQUIRED connections can be
 * made.  Returns 0 or -1 with the reason.
 */
int	tls_client_creds_load(const char *trustfile,
	    struct tls_client_creds **creds, char *err, size_t errlen)
	    __attribute__((warn_unused_result));
void	tls_client_creds_ref(struct tls_client_creds *creds);
void	tls_client_creds_unref(struct tls_client_creds *creds);
size_t	tls_client_creds_anchors(const struct tls_client_creds *creds);

/*
 * Connections.
 *
 * tls_server_new() makes a server-side connection, ready for the
 * client's hello.  tls_client_new() makes a client-side one for the
 * next hop `peer' (a host name, or an IPv4/IPv6 literal), which it
 * sends as SNI (not for a literal, as RFC 6066 wants) and, at
 * TLS_LEVEL_VERIFY, checks against the certificate: a host name
 * against its DNS names (BearSSL's rules: case-insensitive, one
 * leading "*." wildcard), an address against its IP address entries.
 * Both return NULL with the reason in err (out of memory, no trust
 * anchors for `verify', a name too long).
 */
struct tls_conn *tls_server_new(struct tls_server_creds *creds, char *err,
	    size_t errlen) __attribute__((warn_unused_result));
struct tls_conn *tls_client_new(struct tls_client_creds *creds,
	    const char *peer, int level, char *err, size_t errlen)
	    __attribute__((warn_unused_result));
/* Wipe and free the connection, dropping its credentials reference. */
void	tls_free(struct tls_conn *c);

/*
 * Read up to n (> 0) plaintext bytes.  Returns the count; 0 at the end
 * of the stream (the peer's close_notify, or the socket closed after
 * the handshake; tls_truncated() tells them apart); -1 with errno
 * EAGAIN (wait for tls_events()), or another errno when the connection
 * failed (EPROTO for a TLS error; see tls_error()).
 */
ssize_t	tls_read(struct tls_conn *c, int fd, void *buf, size_t n);

/*
 * Give up to n plaintext bytes to the engine.  Returns how many it took
 * (at least 1 when n > 0), or -1 with errno EAGAIN (wait), EPIPE (the
 * connection was closed) or another errno on failure.  Bytes taken may
 * wait in the engine until tls_flush().
 */
ssize_t	tls_write(struct tls_conn *c, int fd, const void *buf, size_t n);

/*
 * Seal what tls_write() buffered into a record and send every pending
 * record.  Returns 0 once nothing is left to send, -1 with errno EAGAIN
 * (wait for tls_events()) or another errno on failure.
 */
int	tls_flush(struct tls_conn *c, int fd);

/*
 * Drive the handshake.  Returns 1 once it is complete, 0 when the
 * socket would block (errno EAGAIN; wait for tls_events()), -1 when it
 * failed (see tls_error()).  When the failure is the peer's certificate
 * (unknown CA, expired, wrong name), the peer is told with a fatal
 * alert (unknown_ca, certificate_expired, bad_certificate) before -1.
 */
int	tls_handshake(struct tls_conn *c, int fd);

/*
 * Best-effort close: flush what tls_write() buffered, send
 * close_notify, and do not wait for the peer's.  Returns 0 when all is
 * sent, -1 with errno EAGAIN when the socket is full (call again, or
 * just close the socket), or -1 with another errno.  Calling it again
 * only pushes what is left.
 */
int	tls_close(struct tls_conn *c, int fd);

/* Socket events (TLS_EV_READ | TLS_EV_WRITE) the engine waits for. */
unsigned tls_events(const struct tls_conn *c);

/* Decrypted bytes waiting in the engine (readable without the socket). */
size_t	tls_pending(const struct tls_conn *c);

/* 1 once the handshake has completed, else 0. */
int	tls_handshake_done(const struct tls_conn *c);

/*
 * The code the engines run, picked once at the first use: a line
 * naming it ("P-256 m31, X25519 libsodium, ..., AES x86ni, ..."), and
 * the elliptic-curve implementation itself (a const br_ec_impl *), for
 * the tests and the benchmarks.
 */
const char *tls_impl_describe(void);
const void *tls_ec_impl(void);

/*
 * Why the connection failed, e.g. "handshake failure: no common cipher
 * suite", "received fatal alert 48 (unknown_ca)", "certificate does
 * not match the server name", "peer closed the connection during the
 * handshake"; NULL while nothing failed.
 */
const char *tls_error(struct tls_conn *c);

/*
 * The fatal alert the peer sent (TLS_ALERT_PROTOCOL_VERSION: it wants a
 * version we do not speak), or -1 if none came.
 */
#define TLS_ALERT_PROTOCOL_VERSION	70
int	tls_peer_alert(const struct tls_conn *c);

/* 1 if the peer closed the socket without close_notify. */
int	tls_truncated(const struct tls_conn *c);

/*
 * For the protocol log once the handshake is done: "TLSv1.2", and the
 * suite in OpenSSL's spelling ("ECDHE-ECDSA-AES128-GCM-SHA256");
 * "none" before.  tls_sni() is the name the client asked for (server
 * side), or "" if it sent none.
 */
const char *tls_version_name(const struct tls_conn *c);
const char *tls_suite_name(const struct tls_conn *c);
const char *tls_sni(const struct tls_conn *c);

/* The size of one connection object, for memory accounting. */
size_t	tls_conn_size(int role);

#endif
