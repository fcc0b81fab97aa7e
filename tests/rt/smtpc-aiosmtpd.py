#!/usr/bin/python3
"""smtpc-aiosmtpd.py: the outbound client (runtime/outbound/smtpc.c, through
tests/unit/smtpc_drive) against Python's aiosmtpd, a real SMTP server:
messages arrive byte for byte (dot-stuffing undone by the server), one
result per recipient (250, 450, 550), SIZE refused before MAIL,
STARTTLS at every level with certificates checked or not, AUTH PLAIN
and LOGIN with the credentials as the server saw them, SCRAM-SHA-256
against a server side written here with hashlib and hmac, and the
protocol log never showing a password."""

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smtpc_lib import (DEFAULT_BODY, Scratch, check, drive, finish, free_port,
                       skip)

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult
except ImportError:
    skip("python3-aiosmtpd is not installed")

logging.getLogger("mail.log").setLevel(logging.CRITICAL)

PASSWORD = "s3cret pass,with=odd chars"


class Handler:
    """Records what arrives; a few recipients are refused."""

    def __init__(self):
        self.mails = []
        self.mail_cmds = 0
        self.auth = []

    async def handle_MAIL(self, server, session, envelope, address,
                          mail_options):
        self.mail_cmds += 1
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 <%s>: no such user here" % address
        if address.startswith("later@"):
            return "450 4.2.1 <%s>: mailbox busy, try later" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.mails.append({"from": envelope.mail_from,
                           "to": list(envelope.rcpt_tos),
                           "options": list(envelope.mail_options),
                           "body": envelope.original_content,
                           "tls": session.ssl is not None,
                           "auth": session.auth_data})
        return "250 2.0.0 Ok: queued as AIO1"

    async def auth_SCRAM__SHA__256(self, server, args):
        """The server side of RFC 5802 / 7677, for one known user."""
        if len(args) == 2:              # ["SCRAM-SHA-256", initial]
            first = base64.b64decode(args[1])
        else:
            first = await server.challenge_auth("", encode_to_b64=False)
        parts = first.split(b",")
        if parts[0] != b"n" or len(parts) < 4:
            return AuthResult(success=False, handled=False)
        bare = b",".join(parts[2:])
        attrs = dict(p.split(b"=", 1) for p in parts[2:])
        user, cnonce = attrs[b"n"].decode(), attrs[b"r"]
        salt, it = os.urandom(16), 4096
        nonce = cnonce + base64.b64encode(os.urandom(18))
        sfirst = (b"r=" + nonce + b",s=" + base64.b64encode(salt) +
                  b",i=%d" % it)
        final = await server.challenge_auth(sfirst)
        if not isinstance(final, bytes) or b",p=" not in final:
            return AuthResult(success=False, handled=False)
        without, proof = final.rsplit(b",p=", 1)
        if not without.startswith(b"c=biws,r=" + nonce):
            return AuthResult(success=False, handled=False)
        msg = bare + b"," + sfirst + b"," + without
        salted = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), salt, it)
        ckey = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored = hashlib.sha256(ckey).digest()
        csig = hmac.new(stored, msg, hashlib.sha256).digest()
        got = bytes(a ^ b for a, b in zip(base64.b64decode(proof), csig))
        if user != "ims-sf" or hashlib.sha256(got).digest() != stored:
            self.auth.append(("SCRAM-SHA-256", user, False))
            return AuthResult(success=False, handled=False)
        skey = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        ssig = hmac.new(skey, msg, hashlib.sha256).digest()
        last = await server.challenge_auth(b"v=" + base64.b64encode(ssig))
        if last != b"":
            return AuthResult(success=False, handled=False)
        self.auth.append(("SCRAM-SHA-256", user, True))
        return AuthResult(success=True, auth_data=user)


def authenticator(handler):
    def auth(server, session, envelope, mechanism, data):
        login = data.login.decode() if data.login else ""
        pw = data.password.decode() if data.password else ""
        handler.auth.append((mechanism, login, pw))
        ok = login == "ims-sf" and pw == PASSWORD
        return AuthResult(success=ok, handled=False, auth_data=login)
    return auth


class Peer:
    def __init__(self, scratch, tls=False, auth=False, **kw):
        self.handler = Handler()
        self.port = free_port()
        args = dict(hostname="127.0.0.1", port=self.port, decode_data=False,
                    ident="aiosmtpd.test ESMTP")
        if tls:
            args["tls_context"] = scratch.server_ctx()
        if auth:
            args["authenticator"] = authenticator(self.handler)
            args["auth_required"] = True
            args["auth_require_tls"] = True
        args.update(kw)
        self.ctl = Controller(self.handler, **args)
        self.ctl.start()

    def target(self, name=None):
        t = "127.0.0.1:%d" % self.port
        return "%s=%s" % (name, t) if name else t

    def stop(self):
        self.ctl.stop()


def big_message():
    """About 300 KB: dots at line starts, empty lines, 998-byte lines."""
    lines = [b"From: a@example.net", b"To: b@example.org",
             b"Subject: big", b""]
    for i in range(3000):
        if i % 7 == 0:
            lines.append(b"." * (i % 5 + 1) + b" dotted line %d" % i)
        elif i % 11 == 0:
            lines.append(b"")
        elif i % 13 == 0:
            lines.append(b"x" * 998)
        else:
            lines.append(b"line %d of the big message, nothing special" % i)
    lines.append(b".")
    return b"\r\n".join(lines) + b"\r\n"


def main():
    sc = Scratch("smtpc-aiosmtpd")
    certs = sc.certs()
    ca = os.path.join(certs, "ca.crt")
    try:
        # 1. Plain delivery, byte for byte.
        p = Peer(sc)
        r = drive(sc, [p.target()], ["-T", "10000"])
        p.stop()
        m = p.handler.mails
        check(r.result() == "delivered", "plain: delivered", r.show())
        check(len(m) == 1 and m[0]["body"] == DEFAULT_BODY,
              "plain: body arrives byte for byte (dots unstuffed)",
              repr(m[0]["body"] if m else None))
        check(m and m[0]["from"] == "alice@example.net" and
              m[0]["to"] == ["bob@example.org"], "plain: envelope")
        check("250 2.0.0 Ok: queued as AIO1" in r.text(),
              "plain: the final reply is the result text", r.text())
        check(",>,QUIT" in r.log and ",<,221" in r.log, "plain: QUIT sent")

        # 2. A big message with many dotted lines, 8BITMIME.
        body = big_message() + "caf\u00e9 \u00fcber\r\n".encode()
        path = sc.path("big.eml")
        with open(path, "wb") as f:
            f.write(body)
        p = Peer(sc)
        r = drive(sc, [p.target()], ["-T", "20000", "-m", path, "-8"])
        p.stop()
        m = p.handler.mails
        check(r.result() == "delivered", "big: delivered", r.show())
        check(len(m) == 1 and m[0]["body"] == body,
              "big: %d bytes arrive byte for byte" % len(body),
              "got %d bytes" % (len(m[0]["body"]) if m else -1))
        check(m and "BODY=8BITMIME" in m[0]["options"] and
              "SIZE=%d" % len(body) in m[0]["options"],
              "big: MAIL carries SIZE and BODY=8BITMIME",
              repr(m[0]["options"] if m else None))

        # 3. One result per recipient.
        p = Peer(sc)
        r = drive(sc, [p.target()], ["-T", "10000", "-r", "bob@example.org",
                                     "-r", "nobody@example.org",
                                     "-r", "later@example.org",
                                     "-r", "carol@example.org"])
        p.stop()
        m = p.handler.mails
        check(r.result("bob@example.org") == "delivered" and
              r.result("carol@example.org") == "delivered",
              "rcpts: accepted ones delivered", r.show())
        check(r.result("nobody@example.org") == "bounced" and
              r.status("nobody@example.org") == "5.1.1" and
              "no such user here" in r.text("nobody@example.org"),
              "rcpts: 550 bounces with its reply and status",
              repr(r.rcpts.get("nobody@example.org")))
        check(r.result("later@example.org") == "deferred" and
              r.status("later@example.org") == "4.2.1",
              "rcpts: 450 defers", repr(r.rcpts.get("later@example.org")))
        check(len(m) == 1 and m[0]["to"] == ["bob@example.org",
                                             "carol@example.org"],
              "rcpts: one message, to the accepted two")

        # 4. SIZE: refused before MAIL, bounced.
        p = Peer(sc, data_size_limit=100)
        r = drive(sc, [p.target()], ["-T", "10000"])
        p.stop()
        check(r.result() == "bounced" and r.status() == "5.3.4" and
              "SIZE" in r.text(), "size: over the peer's SIZE bounces",
              r.show())
        check(p.handler.mail_cmds == 0, "size: no MAIL was sent")

        # 5. STARTTLS, opportunistic.
        p = Peer(sc, tls=True)
        r = drive(sc, [p.target()], ["-T", "10000", "-t", "opportunistic"])
        p.stop()
        m = p.handler.mails
        check(r.result() == "delivered" and m and m[0]["tls"],
              "opportunistic: delivered over TLS", r.show())
        check("TLS established" in r.log and r.log.count(",>,EHLO") == 2,
              "opportunistic: logged, EHLO again after TLS")

        # 6. verify: the right name, then the wrong one.
        p = Peer(sc, tls=True)
        r = drive(sc, [p.target("localhost")],
                  ["-T", "10000", "-t", "verify", "-A", ca])
        p.stop()
        check(r.result() == "delivered" and "certificate verified" in r.log,
              "verify: localhost's certificate chains and matches", r.show())
        p = Peer(sc, tls=True)
        r = drive(sc, [p.target("wrong.test")],
                  ["-T", "10000", "-t", "verify", "-A", ca])
        p.stop()
        check(r.result() == "deferred" and "TLS" in r.text() and
              p.handler.mail_cmds == 0,
              "verify: a name mismatch defers, nothing sent", r.show())

        # 7. required, and the server has no TLS: defer, nothing in clear.
        p = Peer(sc)
        r = drive(sc, [p.target()], ["-T", "10000", "-t", "required"])
        p.stop()
        check(r.result() == "deferred" and "STARTTLS" in r.text() and
              p.handler.mail_cmds == 0,
              "required: no STARTTLS offered defers, no MAIL", r.show())

        # 8. AUTH PLAIN and LOGIN, inside TLS.
        for mech, name in (("plain", "PLAIN"), ("login", "LOGIN")):
            p = Peer(sc, tls=True, auth=True)
            r = drive(sc, [p.target()], ["-T", "10000", "-t", "required",
                                         "-a", mech, "-u", "ims-sf",
                                         "-p", PASSWORD])
            p.stop()
            a = p.handler.auth
            check(r.result() == "delivered" and p.handler.mails and
                  p.handler.mails[0]["auth"] == "ims-sf",
                  "auth %s: delivered as ims-sf" % mech, r.show())
            check(a == [(name, "ims-sf", PASSWORD)],
                  "auth %s: the server saw the user and password" % mech,
                  repr(a))
            leaked = PASSWORD in r.log or any(
                x in r.log for x in (
                    base64.b64encode(PASSWORD.encode()).decode(),
                    base64.b64encode(b"\0ims-sf\0" +
                                     PASSWORD.encode()).decode()))
            masked = ("AUTH PLAIN ****" in r.log if mech == "plain" else
                      ",>,AUTH LOGIN" in r.log and ",>,****" in r.log)
            check(not leaked and masked,
                  "auth %s: the log masks it" % mech, r.log[-800:])

        # 9. A wrong password: 535, deferred (never bounced).
        p = Peer(sc, tls=True, auth=True)
        r = drive(sc, [p.target()], ["-T", "10000", "-t", "required",
                                     "-a", "plain", "-u", "ims-sf",
                                     "-p", "wrong"])
        p.stop()
        check(r.result() == "deferred" and "535" in r.text() and
              not p.handler.mails, "auth: 535 defers", r.show())

        # 10. SCRAM-SHA-256, against the server side above.
        p = Peer(sc, tls=True, auth=True)
        r = drive(sc, [p.target()], ["-T", "20000", "-t", "required",
                                     "-a", "scram-sha-256", "-u", "ims-sf",
                                     "-p", PASSWORD])
        p.stop()
        check(r.result() == "delivered" and
              p.handler.auth == [("SCRAM-SHA-256", "ims-sf", True)] and
              p.handler.mails and p.handler.mails[0]["auth"] == "ims-sf",
              "scram: authenticated and delivered", r.show() +
              repr(p.handler.auth))
        check("AUTH SCRAM-SHA-256 ****" in r.log and ",<,334 ****" in r.log
              and PASSWORD not in r.log, "scram: the log masks it")
        p = Peer(sc, tls=True, auth=True)
        r = drive(sc, [p.target()], ["-T", "20000", "-t", "required",
                                     "-a", "scram-sha-256", "-u", "ims-sf",
                                     "-p", "not the password"])
        p.stop()
        check(r.result() == "deferred" and not p.handler.mails,
              "scram: a wrong password defers", r.show())

        # 11. Many sessions at once in the one loop, over TLS.
        p = Peer(sc, tls=True)
        r = drive(sc, [p.target()], ["-T", "20000", "-n", "24",
                                     "-t", "opportunistic",
                                     "-r", "bob@example.org",
                                     "-r", "carol@example.org"])
        p.stop()
        done = [l for l in r.out.splitlines() if l.startswith("rcpt\t")]
        check(len(done) == 48 and all("\tdelivered\t" in l for l in done),
              "24 concurrent sessions: 48 deliveries", r.show())
        check(len(p.handler.mails) == 24 and
              all(m["body"] == DEFAULT_BODY and m["tls"]
                  for m in p.handler.mails),
              "24 concurrent sessions: 24 intact messages over TLS",
              len(p.handler.mails))

        # 12. A secret sealed for another key is never opened.
        p = Peer(sc, tls=True, auth=True)
        r = drive(sc, [p.target()], ["-T", "10000", "-t", "required",
                                     "-a", "plain", "-u", "ims-sf",
                                     "-p", PASSWORD, "-W"])
        p.stop()
        check(r.result() == "deferred" and "sealed for key" in r.text() and
              not p.handler.auth, "auth: a secret for another key defers",
              r.show())
    finally:
        sc.cleanup()
    finish()


main()
