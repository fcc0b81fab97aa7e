#!/usr/bin/python3
"""smtpc-hostile.py: the outbound client against scripted next hops
that misbehave, one way each: data injected behind the 220 to
STARTTLS, malformed and mixed-code replies, a 64 KiB reply, replies out
of turn, over-long lines, silence at every stage, connections dropped
in the middle, no STARTTLS or a 454 to it on a route that requires TLS,
broken handshakes, a SCRAM server that cannot prove itself or asks for
absurd work.  Each must end in a clear result with a reason (defer,
or bounce where the peer said 5xx), never a crash, never mail sent in
clear where TLS was required; and the well-behaved cases check that
PIPELINING, HELO fallback, failover to the next address and the edge
cases of the body work."""

import base64
import hashlib
import hmac
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check import closed_port
from smtpc_lib import (DEFAULT_BODY, Closed, Scratch, Server, check, drive,
                       finish, free_port)

T = ["-T", "1500"]          # every timeout, ms: silence is found fast


def ehlo_tls(c, ext=b"STARTTLS"):
    c.send(b"220 hostile.test ESMTP\r\n")
    c.expect("EHLO")
    c.send(b"250-hostile.test\r\n250 " + ext + b"\r\n")


def silent(c):
    """Read and never answer, until the client goes."""
    try:
        while True:
            c.recv_some()
    except Closed:
        pass


def main():
    sc = Scratch("smtpc-hostile")
    ctx = sc.server_ctx()

    def run(script, opts=(), n=1, targets=None, extra=()):
        srv = Server(script, n=n, ctx=ctx, timeout=10)
        t = targets(srv) if targets else [srv.target()]
        r = drive(sc, t, list(T) + list(opts) + list(extra))
        srv.wait()
        return srv, r

    try:
        # -- STARTTLS injection: bytes behind the 220 are dropped.
        injected = b"250-INJECTED\r\n250 2.1.0 injected ok\r\n"

        def inject(c):
            ehlo_tls(c)
            c.expect("STARTTLS")
            c.send(b"220 2.0.0 go ahead\r\n" + injected)
            c.starttls()
            c.smtp(greet=False)
        srv, r = run(inject, ["-t", "required"])
        check(r.result() == "delivered", "injection: still delivered",
              r.show())
        check("discarded %d bytes sent after the 220 to STARTTLS" %
              len(injected) in r.log,
              "injection: the injected bytes are discarded and logged",
              r.log[-1500:])
        check(len(srv.mails()) == 1 and srv.mails()[0][2] == DEFAULT_BODY,
              "injection: exactly one message, intact", srv.errors)

        # -- Malformed replies.
        for name, greet in (
                ("no code", b"hello there\r\n"),
                ("bad separator", b"220_hostile\r\n"),
                ("code 1xx", b"120 wait\r\n"),
                ("a NUL", b"220 hostile\x00.test\r\n"),
                ("mixed codes", b"220-hostile.test\r\n250 and more\r\n")):
            def bad(c, greet=greet):
                c.send(greet)
                silent(c)
            srv, r = run(bad)
            check(r.result() == "deferred" and "malformed reply" in
                  r.text(), "malformed greeting (%s): deferred" % name,
                  r.show())
            check(not srv.saw("EHLO"), "malformed greeting (%s): no EHLO"
                  % name)

        def mixed_ehlo(c):
            c.send(b"220 hostile.test\r\n")
            c.expect("EHLO")
            c.send(b"250-hostile.test\r\n250-PIPELINING\r\n550 5.0.0 no\r\n")
            silent(c)
        srv, r = run(mixed_ehlo)
        check(r.result() == "deferred" and "codes 250 and 550" in r.text(),
              "mixed codes in EHLO reply: deferred", r.show())

        # -- A 64 KiB multi-line reply: refused, memory stays fixed.
        def huge(c):
            c.send(b"220 hostile.test\r\n")
            c.expect("EHLO")
            out = b"".join(b"250-X%s\r\n" % (b"y" * 60) for _ in range(1100))
            try:
                c.send(out + b"250 END\r\n")
            except OSError:
                pass
            silent(c)
        srv, r = run(huge)
        check(r.result() == "deferred" and "too long" in r.text(),
              "64 KiB reply: deferred as too long", r.show())
        check(r.log.count(",<,250-X") <= 30,
              "64 KiB reply: the log keeps a bounded part",
              "%d lines" % r.log.count(",<,250-X"))

        # -- A reply line without end.
        def longline(c):
            c.send(b"220 " + b"z" * 5000)
            silent(c)
        srv, r = run(longline)
        check(r.result() == "deferred" and "longer than 1000" in r.text(),
              "endless reply line: deferred", r.show())

        # -- A reply out of turn (before the command it would answer).
        def early(c):
            c.send(b"220 hostile.test\r\n250 2.0.0 pre-answered EHLO\r\n")
            silent(c)
        srv, r = run(early)
        check(r.result() == "deferred" and "out of turn" in r.text(),
              "reply out of turn: deferred", r.show())

        # -- Silence, at every stage.
        def mute_greeting(c):
            silent(c)
        srv, r = run(mute_greeting)
        check(r.result() == "deferred" and "timeout waiting for the "
              "greeting" in r.text(), "silent before 220: deferred",
              r.show())

        def mute_ehlo(c):
            c.send(b"220 hostile.test\r\n")
            silent(c)
        t0 = time.monotonic()
        srv, r = run(mute_ehlo)
        took = time.monotonic() - t0
        check(r.result() == "deferred" and "timeout" in r.text() and
              took < 8, "silent after EHLO: deferred in %.1f s" % took,
              r.show())

        def mute_dot(c):
            c.send(b"220 hostile.test\r\n")
            c.expect("EHLO")
            c.send(b"250 hostile.test\r\n")
            c.expect("MAIL")
            c.send(b"250 ok\r\n")
            c.expect("RCPT")
            c.send(b"250 ok\r\n")
            c.expect("DATA")
            c.send(b"354 go\r\n")
            c.read_data()
            silent(c)
        srv, r = run(mute_dot)
        check(r.result() == "deferred" and "end of the message" in r.text(),
              "silent after the final dot: deferred (not delivered)",
              r.show())

        def drop_data(c):
            c.send(b"220 hostile.test\r\n")
            c.expect("EHLO")
            c.send(b"250 hostile.test\r\n")
            c.expect("MAIL")
            c.send(b"250 ok\r\n")
            c.expect("RCPT")
            c.send(b"250 ok\r\n")
            c.expect("DATA")
            c.send(b"354 go\r\n")
            c.readline()
            raise Closed()
        srv, r = run(drop_data)
        check(r.result() == "deferred", "connection lost in DATA: deferred",
              r.show())

        def drop_greet(c):
            c.send(b"220 hostile.test\r\n")
            raise Closed()
        srv, r = run(drop_greet)
        check(r.result() == "deferred" and ("closed" in r.text() or
                                            "error" in r.text()),
              "connection closed after the greeting: deferred", r.show())

        # -- TLS required: no STARTTLS, or a 454: defer, nothing in clear.
        def no_starttls(c):
            c.smtp(ext=("PIPELINING", "SIZE 1000000"))
        srv, r = run(no_starttls, ["-t", "required"])
        check(r.result() == "deferred" and "does not offer STARTTLS" in
              r.text() and not srv.saw("MAIL") and not srv.saw("AUTH"),
              "required, no STARTTLS: deferred, no MAIL", r.show())

        def refuse_tls(c):
            ehlo_tls(c)
            c.expect("STARTTLS")
            c.send(b"454 4.7.0 TLS not available due to temporary reason\r\n")
            c.smtp(greet=False)
        for level in ("required", "verify"):
            srv, r = run(refuse_tls, ["-t", level, "-A",
                                      os.path.join(sc.certs(), "ca.crt")])
            check(r.result() == "deferred" and "454" in r.text() and
                  not srv.saw("MAIL"),
                  "%s, 454 to STARTTLS: deferred, no MAIL" % level, r.show())

        srv, r = run(refuse_tls, ["-t", "opportunistic"])
        check(r.result() == "delivered" and srv.saw("MAIL"),
              "opportunistic, 454 to STARTTLS: delivered in clear", r.show())

        # -- A broken handshake.
        def bad_handshake(c):
            ehlo_tls(c)
            c.expect("STARTTLS")
            c.send(b"220 go ahead\r\n")
            time.sleep(0.2)
            c.send(b"this is not TLS at all\r\n")
            raise Closed()

        def bad_then_clear(c):
            if not c.server.conns[:-1]:
                bad_handshake(c)
            else:
                c.smtp(ext=("STARTTLS", "PIPELINING"))
        srv, r = run(bad_then_clear, ["-t", "opportunistic"], n=2)
        check(r.result() == "delivered" and len(srv.conns) == 2 and
              not any(l.startswith(b"STARTTLS") for l in srv.conns[1].lines),
              "opportunistic, broken handshake: again in clear, delivered",
              r.show())
        srv, r = run(bad_handshake, ["-t", "required"])
        check(r.result() == "deferred" and "handshake" in r.text() and
              not srv.saw("MAIL"), "required, broken handshake: deferred",
              r.show())

        # -- 421, final-dot replies, MAIL refused.
        def say421(c):
            c.send(b"220 hostile.test\r\n")
            c.expect("EHLO")
            c.send(b"250 hostile.test\r\n")
            c.expect("MAIL")
            c.send(b"421 4.3.2 shutting down\r\n")
            raise Closed()
        srv, r = run(say421)
        check(r.result() == "deferred" and "421 4.3.2 shutting down" in
              r.text() and r.status() == "4.3.2", "421: deferred",
              r.show())

        for code, want in ((b"451 4.3.0 try again", "deferred"),
                           (b"554 5.6.0 content refused", "bounced"),
                           (b"252 2.0.0 maybe", "deferred")):
            def dot(c, code=code):
                c.smtp(data_reply=code)
            srv, r = run(dot)
            check(r.result() == want and r.text() == code.decode(),
                  "final dot %s: %s" % (code[:3].decode(), want), r.show())

        def mail_refused(c):
            c.send(b"220 hostile.test\r\n")
            c.expect("EHLO")
            c.send(b"250-hostile.test\r\n250 PIPELINING\r\n")
            c.expect("MAIL")
            c.expect("RCPT")
            c.expect("RCPT")
            c.expect("DATA")
            c.send(b"550 5.7.1 sender refused\r\n503 5.5.1 no MAIL\r\n"
                   b"503 5.5.1 no MAIL\r\n503 5.5.1 no valid recipients\r\n")
            c.expect("QUIT")
            c.send(b"221 bye\r\n")
        srv, r = run(mail_refused, extra=["-r", "bob@example.org",
                                          "-r", "carol@example.org"])
        check(r.result("bob@example.org") == "bounced" and
              r.result("carol@example.org") == "bounced" and
              "sender refused" in r.text("carol@example.org"),
              "MAIL 550 with PIPELINING: everyone bounced", r.show())

        # -- PIPELINING: MAIL, RCPTs and DATA in one write.
        seen = {}

        def pipelined(c):
            c.send(b"220 hostile.test\r\n")
            c.expect("EHLO")
            c.send(b"250-hostile.test\r\n250 PIPELINING\r\n")
            time.sleep(0.3)
            c.recv_some()
            seen["group"] = c.buf
            lines = c.buf.split(b"\r\n")
            c.buf = b""
            replies = b""
            for l in lines[:-1]:
                c.lines.append(l)
                if l.startswith(b"DATA"):
                    replies += b"354 go\r\n"
                else:
                    replies += b"250 ok\r\n"
            c.send(replies)
            body = c.read_data()
            c.mails.append((lines[0], lines[1:-2], body))
            c.send(b"250 queued\r\n")
            c.expect("QUIT")
            c.send(b"221 bye\r\n")
        srv, r = run(pipelined, extra=["-r", "a@example.org",
                                       "-r", "b@example.org",
                                       "-r", "c@example.org"])
        g = seen.get("group", b"")
        check(g.startswith(b"MAIL FROM:<alice@example.net>") and
              g.count(b"RCPT TO:") == 3 and g.endswith(b"DATA\r\n"),
              "pipelining: MAIL, 3 RCPT and DATA came in one write", repr(g))
        check(all(r.result(a) == "delivered" for a in
                  ("a@example.org", "b@example.org", "c@example.org")),
              "pipelining: all delivered", r.show())

        # -- Without PIPELINING the client waits for each reply.
        def lockstep(c):
            c.send(b"220 hostile.test\r\n")
            c.expect("EHLO")
            c.send(b"250 hostile.test\r\n")
            for verb in ("MAIL", "RCPT", "RCPT"):
                c.expect(verb)
                time.sleep(0.2)
                if c.buf:
                    seen["early"] = c.buf
                c.send(b"250 ok\r\n")
            c.expect("DATA")
            c.send(b"354 go\r\n")
            c.mails.append((b"", [], c.read_data()))
            c.send(b"250 queued\r\n")
            c.expect("QUIT")
        srv, r = run(lockstep, extra=["-r", "a@example.org",
                                      "-r", "b@example.org"])
        check(r.result("a@example.org") == "delivered" and
              "early" not in seen, "no pipelining: one command at a time",
              r.show() + repr(seen.get("early")))

        # -- EHLO refused: HELO.
        def old(c):
            c.send(b"220 old.test SMTP\r\n")
            c.expect("EHLO")
            c.send(b"502 5.5.2 what?\r\n")
            c.smtp(greet=False)
        srv, r = run(old)
        check(r.result() == "delivered" and srv.saw("HELO client.test") and
              not any(b"SIZE=" in l for l in srv.all_lines()),
              "EHLO 502: HELO, plain MAIL, delivered", r.show())

        # -- Failover: a refused port, a 554 greeting, then a good host.
        dead = closed_port()

        def greet554(c):
            c.send(b"554 5.7.1 go away\r\n")
            silent(c)
        bad = Server(greet554, ctx=ctx, timeout=10)
        good = Server(lambda c: c.smtp(), ctx=ctx, timeout=10)
        r = drive(sc, ["127.0.0.1:%d" % dead, bad.target("bad.test"),
                       good.target("good.test")], T)
        bad.wait()
        good.wait()
        check(r.result() == "delivered" and r.peer == "good.test" and
              len(good.mails()) == 1, "failover: refused, 554, then "
              "delivered to the third address", r.show())
        bad = Server(greet554, ctx=ctx, timeout=10)
        r = drive(sc, [bad.target()], T)
        bad.wait()
        check(r.result() == "bounced" and r.status() == "5.7.1",
              "a 554 greeting from the only address: bounced", r.show())
        r = drive(sc, ["127.0.0.1:%d" % dead], T)
        check(r.result() == "deferred" and "refused" in r.text(),
              "connection refused: deferred", r.show())

        # -- SCRAM servers that cannot prove themselves, or ask too much.
        def scram(c, bad_sig=False, iters=4096, pw=b"pw"):
            ehlo_tls(c)
            c.expect("STARTTLS")
            c.send(b"220 go\r\n")
            c.starttls()
            c.expect("EHLO")
            c.send(b"250-hostile.test\r\n250 AUTH SCRAM-SHA-256\r\n")
            line = c.expect("AUTH SCRAM-SHA-256 ")
            first = base64.b64decode(line.split()[2])
            bare = first[3:]
            cnonce = dict(p.split(b"=", 1) for p in bare.split(b","))[b"r"]
            salt, nonce = b"0123456789abcdef", cnonce + b"SRV"
            sfirst = b"r=%s,s=%s,i=%d" % (nonce, base64.b64encode(salt),
                                          iters)
            c.send(b"334 " + base64.b64encode(sfirst) + b"\r\n")
            line = c.readline()
            if line == b"*":
                # The client cancels (RFC 4954 4), then says QUIT.
                c.send(b"501 5.7.0 Authentication cancelled\r\n")
                c.expect("QUIT")
                c.send(b"221 2.0.0 Bye\r\n")
                return
            final = base64.b64decode(line)
            without = final.rsplit(b",p=", 1)[0]
            msg = bare + b"," + sfirst + b"," + without
            salted = hashlib.pbkdf2_hmac("sha256", pw, salt, iters)
            skey = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
            sig = hmac.new(skey, msg, hashlib.sha256).digest()
            if bad_sig:
                sig = bytes([sig[0] ^ 1]) + sig[1:]
            c.send(b"334 " + base64.b64encode(b"v=" + base64.b64encode(sig))
                   + b"\r\n")
            if c.readline() != b"":
                return
            c.send(b"235 2.7.0 ok\r\n")
            c.smtp(greet=False)
        auth = ["-t", "required", "-a", "scram-sha-256", "-u", "u",
                "-p", "pw"]
        srv, r = run(scram, auth)
        check(r.result() == "delivered", "scripted SCRAM: delivered",
              r.show())
        srv, r = run(lambda c: scram(c, bad_sig=True), auth)
        check(r.result() == "deferred" and "did not prove" in r.text() and
              not srv.saw("MAIL"), "SCRAM, a server that cannot prove "
              "itself: deferred", r.show())

        def greedy(c):
            try:
                scram(c, iters=50000000)
            except Closed:
                pass
        t0 = time.monotonic()
        srv, r = run(greedy, auth)
        check(r.result() == "deferred" and "iterations" in r.text() and
              time.monotonic() - t0 < 8, "SCRAM with 5e7 iterations: "
              "refused at once", r.show())

        # -- Bodies at the edges: empty, and without a final CRLF.
        for name, body in (("empty body", b""), ("no final CRLF",
                                                  b"Subject: x\r\n\r\nabc")):
            path = sc.path("edge.eml")
            with open(path, "wb") as f:
                f.write(body)
            srv, r = run(lambda c: c.smtp(), extra=["-m", path])
            want = body if body.endswith(b"\r\n") or not body else \
                body + b"\r\n"
            check(r.result() == "delivered" and srv.mails() and
                  srv.mails()[0][2] == want, "%s: delivered as %r" %
                  (name, want), r.show() + repr(srv.mails()))

        # -- The null sender goes out as MAIL FROM:<>.
        srv, r = run(lambda c: c.smtp(), extra=["-f", ""])
        check(r.result() == "delivered" and
              srv.saw("MAIL FROM:<> SIZE="), "null sender: MAIL FROM:<>",
              repr(srv.all_lines()[:3]))

        # -- Abort while the peer is silent.
        srv = Server(mute_ehlo, ctx=ctx, timeout=10)
        r = drive(sc, [srv.target()], ["-T", "20000", "-k", "300"])
        srv.wait()
        check(r.rc == 0 and r.result() == "deferred" and
              "aborted" in r.text(), "abort: deferred at once", r.show())
    finally:
        sc.cleanup()
    finish()


main()
