#!/usr/bin/python3
"""smtpc-manners.py: how the outbound client ends and explains a
failure, seen from the next hop (scripted servers on Python's ssl):

- every failure that leaves the dialogue in order (a 5xx greeting, a
  4xx to EHLO, STARTTLS refused or missing on a `required' route, a
  535 to AUTH, a missing AUTH mechanism, an AUTH that fails in the
  middle of its exchange, a refused MAIL) ends with QUIT, and inside
  TLS with close_notify (RFC 5321 4.1.1.10); a 421 gets close_notify
  but no QUIT; a silent 221 is waited for a bounded time;
- the reply that made a failure is kept apart from our words, as a
  bounce's Diagnostic-Code quotes it;
- a certificate refused on a `verify' route is answered with the TLS
  alert that says why (unknown_ca, bad_certificate,
  certificate_expired), not a reset;
- a TLS-1.3-only next hop: on an `opportunistic' route the mail goes
  in clear with a warning naming the version the peer wanted, on a
  `required' route it is deferred and nothing goes in clear."""

import base64
import datetime
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smtpc_lib import (Closed, Scratch, Server, check, drive,  # noqa: E402
                       finish)

T = ["-T", "1500"]


def tls(c, ctx):
    """STARTTLS on the server's side, noticing a missing close_notify."""
    c.sock = ctx.wrap_socket(c.sock, server_side=True,
                             suppress_ragged_eofs=False)
    c.tls = True


def ehlo(c, ext):
    c.expect("EHLO")
    lines = [b"manners.test"] + list(ext)
    c.send(b"".join(b"250" + (b" " if i == len(lines) - 1 else b"-") + l +
                    b"\r\n" for i, l in enumerate(lines)))


def ending(c, quit_reply=b"221 2.0.0 Bye\r\n"):
    """After the failure: what the client says, then how it closes."""
    c.ended = {"quit": False, "close_notify": None, "extra": []}
    try:
        while True:
            line = c.readline()
            if line == b"*":
                c.send(b"501 5.7.0 Authentication cancelled\r\n")
                c.ended["extra"].append(line)
                continue
            if line[:4].upper() in (b"RCPT", b"DATA"):
                # Pipelined behind a refused MAIL.
                c.send(b"503 5.5.1 Error: need MAIL command\r\n")
                continue
            if line.upper() == b"QUIT":
                c.ended["quit"] = True
                if quit_reply:
                    c.send(quit_reply)
                break
            c.ended["extra"].append(line)
    except Closed:
        pass
    if c.tls:
        try:
            c.sock.settimeout(5)
            d = c.sock.recv(100)
            c.ended["close_notify"] = d == b""
        except (ssl.SSLError, OSError):
            c.ended["close_notify"] = False


def main():
    sc = Scratch("smtpc-manners")
    ctx = sc.server_ctx()
    certs = sc.certs()
    ca = os.path.join(certs, "ca.crt")

    def run(script, opts=(), n=1, name=None, ctx_=None):
        srv = Server(script, n=n, ctx=ctx_ or ctx, timeout=10)
        r = drive(sc, [srv.target(name)], list(T) + list(opts))
        srv.wait()
        return srv, r

    def reply_of(r, addr="bob@example.org"):
        for line in r.out.splitlines():
            f = line.split("\t")
            if f[0] == "reply" and f[1] == addr:
                return f[2]
        return None

    try:
        # -- Failures in a dialogue still in order: QUIT, close_notify.
        def tls_up(c, ext=(b"AUTH PLAIN LOGIN",)):
            c.send(b"220 manners.test ESMTP\r\n")
            ehlo(c, [b"PIPELINING", b"STARTTLS"])
            c.expect("STARTTLS")
            c.send(b"220 2.0.0 go ahead\r\n")
            tls(c, ctx)
            ehlo(c, [b"PIPELINING"] + list(ext))

        def auth535(c):
            tls_up(c)
            c.expect("AUTH PLAIN")
            c.send(b"535 5.7.8 Error: authentication failed\r\n")
            ending(c)

        def nomech(c):
            tls_up(c, ext=(b"AUTH LOGIN",))
            ending(c)

        def scram_greedy(c):
            tls_up(c, ext=(b"AUTH SCRAM-SHA-256",))
            c.expect("AUTH SCRAM-SHA-256")
            # More PBKDF2 rounds than the client grants.
            c.send(b"334 " + base64.b64encode(
                b"r=abcSRV,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=99999999") + b"\r\n")
            ending(c)

        def mail550(c):
            tls_up(c, ext=())
            c.expect("MAIL")
            c.send(b"550 5.7.1 sender refused\r\n")
            ending(c)

        def ehlo421(c):
            c.send(b"220 manners.test ESMTP\r\n")
            ehlo(c, [b"STARTTLS"])
            c.expect("STARTTLS")
            c.send(b"220 2.0.0 go ahead\r\n")
            tls(c, ctx)
            c.expect("EHLO")
            c.send(b"421 4.3.2 shutting down\r\n")
            ending(c)

        def greet554(c):
            c.send(b"554 5.7.1 no service for you\r\n")
            ending(c)

        def ehlo451(c):
            c.send(b"220 manners.test ESMTP\r\n")
            c.expect("EHLO")
            c.send(b"451 4.3.0 try later\r\n")
            ending(c)

        def no_starttls(c):
            c.send(b"220 manners.test ESMTP\r\n")
            ehlo(c, [b"PIPELINING"])
            ending(c)

        def starttls454(c):
            c.send(b"220 manners.test ESMTP\r\n")
            ehlo(c, [b"STARTTLS"])
            c.expect("STARTTLS")
            c.send(b"454 4.7.0 TLS not available\r\n")
            ending(c)

        plain_auth = ["-t", "required", "-a", "plain", "-u", "u", "-p", "pw"]
        login_auth = ["-t", "required", "-a", "login", "-u", "u", "-p", "pw"]
        scram_auth = ["-t", "required", "-a", "scram-sha-256", "-u", "u",
                      "-p", "pw"]
        cases = (
            # name, script, options, result, QUIT?, TLS?, text has
            ("535 to AUTH", auth535, plain_auth, "deferred", True, True,
             "authentication failed"),
            ("AUTH mechanism missing", nomech, plain_auth, "deferred",
             True, True, "does not offer AUTH PLAIN"),
            ("SCRAM refused mid-exchange", scram_greedy, scram_auth,
             "deferred", True, True, "iterations"),
            ("MAIL refused", mail550, ["-t", "required"], "bounced", True,
             True, "sender refused"),
            ("421 to EHLO in TLS", ehlo421, ["-t", "required"], "deferred",
             False, True, "shutting down"),
            ("554 greeting", greet554, [], "bounced", True, False,
             "no service"),
            ("451 to EHLO", ehlo451, [], "deferred", True, False,
             "try later"),
            ("STARTTLS missing on a required route", no_starttls,
             ["-t", "required"], "deferred", True, False,
             "does not offer STARTTLS"),
            ("STARTTLS refused on a required route", starttls454,
             ["-t", "required"], "deferred", True, False,
             "STARTTLS was refused"),
        )
        for name, script, opts, result, want_quit, in_tls, text in cases:
            srv, r = run(script, opts)
            check(r.result() == result and text in r.text(),
                  "%s: %s" % (name, result), r.show())
            e = srv.conns[0].__dict__.get("ended") if srv.conns else None
            check(e is not None and e["quit"] == want_quit,
                  "%s: %s" % (name, "QUIT sent" if want_quit else
                              "no QUIT after 421"),
                  "%r %r" % (e, srv.errors))
            if in_tls:
                check(e is not None and e["close_notify"] is True,
                      "%s: TLS close_notify before closing" % name,
                      "%r %r" % (e, r.log[-800:]))
            check(not srv.saw("MAIL") or name == "MAIL refused",
                  "%s: no MAIL" % name)
        # RFC 4954 4: an exchange cut short is cancelled with "*".
        srv, r = run(scram_greedy, scram_auth)
        e = srv.conns[0].__dict__.get("ended") if srv.conns else None
        check(e is not None and e["extra"] == [b"*"] and e["quit"],
              "SCRAM refused mid-exchange: \"*\", then QUIT", repr(e))

        # -- The 221 is waited for, a bounded time.
        def mute221(c):
            c.send(b"220 manners.test ESMTP\r\n")
            c.expect("EHLO")
            c.send(b"451 4.3.0 try later\r\n")
            ending(c, quit_reply=None)
            try:
                while True:
                    c.recv_some()
            except Closed:
                pass
        t0 = time.monotonic()
        srv, r = run(mute221, ["-T", "20000"])
        took = time.monotonic() - t0
        e = srv.conns[0].__dict__.get("ended") if srv.conns else None
        check(r.result() == "deferred" and e is not None and e["quit"] and
              4 < took < 12, "a silent 221: the client leaves after a "
              "few seconds, not the QUIT timeout", "%.1f s %r" % (took, e))

        # -- The reply apart from our words.
        srv, r = run(auth535, plain_auth)
        check(r.text() == "authentication failed: 535 5.7.8 Error: "
              "authentication failed" and reply_of(r) ==
              "535 5.7.8 Error: authentication failed",
              "535 to AUTH: our words, and the reply alone for the "
              "bounce", r.out)
        srv, r = run(starttls454, ["-t", "required"])
        check(reply_of(r) == "454 4.7.0 TLS not available",
              "STARTTLS refused: the reply alone for the bounce", r.out)
        srv, r = run(no_starttls, ["-t", "required"])
        check(reply_of(r) is None and "local" in r.out,
              "STARTTLS missing: no reply to quote", r.out)

        # -- A refused certificate: the alert that says why.
        def alert_seen(c, sctx):
            c.send(b"220 manners.test ESMTP\r\n")
            ehlo(c, [b"STARTTLS"])
            c.expect("STARTTLS")
            c.send(b"220 2.0.0 go ahead\r\n")
            try:
                ctx_ = sctx
                c.sock = ctx_.wrap_socket(c.sock, server_side=True)
                c.alert = "handshake completed"
            except ssl.SSLError as ex:
                c.alert = ex.reason or str(ex)
            except OSError as ex:
                c.alert = "socket: %s" % ex

        other = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        other.load_cert_chain(os.path.join(certs, "other-chain.crt"),
                              os.path.join(certs, "ec.key"))
        expired = expired_ctx(sc, certs)
        verify = ["-t", "verify", "-A", ca]
        for name, sctx, host, want in (
                ("unknown CA", other, "localhost", "TLSV1_ALERT_UNKNOWN_CA"),
                ("name mismatch", ctx, "nomatch.test",
                 "SSLV3_ALERT_BAD_CERTIFICATE"),
                ("expired", expired, "localhost",
                 "SSLV3_ALERT_CERTIFICATE_EXPIRED")):
            if sctx is None:
                # tools/deps installs python3-cryptography: a machine
                # without it was not set up by the project.
                check(False, "%s: python3-cryptography is missing, run "
                      "tools/deps" % name)
                continue
            srv, r = run(lambda c, s=sctx: alert_seen(c, s), verify,
                         name=host)
            got = srv.conns[0].__dict__.get("alert") if srv.conns else None
            check(r.result() == "deferred" and not srv.saw("MAIL"),
                  "%s: deferred, nothing sent" % name, r.show())
            check(got == want, "%s: the peer is told %s" % (name, want),
                  "got %r" % got)

        # -- A TLS-1.3-only next hop.
        only13 = sc.server_ctx()
        only13.minimum_version = ssl.TLSVersion.TLSv1_3

        def tls13(c):
            c.send(b"220 manners.test ESMTP\r\n")
            ehlo(c, [b"PIPELINING", b"STARTTLS"])
            line = c.readline()
            if line.upper() != b"STARTTLS":
                c.server.errors.append("wanted STARTTLS, got %r" % line)
                return
            c.send(b"220 2.0.0 go ahead\r\n")
            try:
                c.sock = only13.wrap_socket(c.sock, server_side=True)
            except (ssl.SSLError, OSError) as ex:
                c.alert = getattr(ex, "reason", None) or str(ex)
                raise Closed()
            c.smtp(greet=False)

        def clear(c):
            c.send(b"220 manners.test ESMTP\r\n")
            c.smtp(greet=False, ext=("PIPELINING", "STARTTLS"))

        def tls13_then_clear(c):
            if not c.server.conns[:-1]:
                tls13(c)
            else:
                clear(c)

        srv, r = run(tls13_then_clear, ["-t", "opportunistic"], n=2)
        check(r.result() == "delivered" and len(srv.mails()) == 1 and
              not srv.conns[-1].tls,
              "TLS 1.3 only, opportunistic: delivered in clear", r.show())
        warn = "the peer wanted TLS 1.3 or newer (protocol_version alert)"
        check("warning: TLS handshake with" in r.log and warn in r.log,
              "TLS 1.3 only, opportunistic: the fallback is a warning in "
              "the protocol log, naming the version", r.log[-1500:])
        check(warn in r.err and "delivering in clear" in r.err,
              "TLS 1.3 only, opportunistic: and in the diagnostics",
              r.err[-800:])
        srv, r = run(tls13, ["-t", "required"])
        check(r.result() == "deferred" and not srv.saw("MAIL") and
              not srv.mails(), "TLS 1.3 only, required: deferred, "
              "nothing in clear", r.show())
        check("delivering in clear" not in r.log,
              "TLS 1.3 only, required: no fallback", r.log[-800:])
    finally:
        sc.cleanup()
    finish()


def expired_ctx(sc, certs):
    """A server context with an expired certificate for localhost,
    signed by the test root's EC intermediate (python3-cryptography,
    which tools/deps installs); None without it."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import NameOID
    except ImportError:
        return None
    with open(os.path.join(certs, "int-ec.key"), "rb") as f:
        ikey = serialization.load_pem_private_key(f.read(), None)
    with open(os.path.join(certs, "int-ec.crt"), "rb") as f:
        icert = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(certs, "ec.key"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(
                NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(icert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=60))
            .not_valid_after(now - datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           critical=True)
            .sign(ikey, hashes.SHA256()))
    path = sc.path("expired-chain.crt")
    with open(path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
        f.write(icert.public_bytes(serialization.Encoding.PEM))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(path, os.path.join(certs, "ec.key"))
    return ctx


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    main()
