#!/usr/bin/python3
"""
integ_hardening: findings of an attack on bastiond, each as the
attacker tried it, and more of its class.

- A login made in the clear (`auth cleartext`) does not survive
  STARTTLS (RFC 3207 4.2): after the handshake MAIL needs AUTH again
  and relaying is denied; so does EHLO's knowledge (MAIL before EHLO).
- An EHLO address literal that is not an address ([",'*!#;=(...)],
  [x-tag:...]) is refused with 501; a real one ([IPv6:::1]) is taken and
  the Received header stays well formed.
- A base64 SASL response (or a password) sent after a refused AUTH is
  never in the log, however it is pipelined: lines that are no command
  are logged by size only.
- NOOPs (and RSET, VRFY, HELP, errors) cannot hold a session: past 100
  the session gets 421 and is closed; the count starts again once a
  message is taken, so a session that moves mail is not cut short.
"""
import base64
import email
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Site, Dialogue, check, expect, free_port, run,
                     verifier, plain_token, b64)

CLEAR, PLAIN = "127.0.0.81", "127.0.0.82"
PASSWORD = "s3cret-Pass-in-the-clear"


def policy(port):
    return """server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d
    tls certificate "certs/ec.crt" key "certs/ec.key"
    spool "var/spool"
    log "var/protocol.log"
}
default require none
host %s require auth auth cleartext
user "alice" "%s"
accept for test.example deliver maildir "var/mail/%%u" recipients any
""" % (port, CLEAR, verifier(PASSWORD))


def starttls_forgets_login(site, port):
    d = Dialogue("127.0.0.1", port, source=CLEAR, timeout=20)
    d.reply()
    d.cmd("EHLO client.example")
    expect(d.cmd("AUTH PLAIN " + plain_token("alice", PASSWORD)), "235",
           "cleartext AUTH: 235 in the clear")
    expect(d.starttls(site.ctx()), "220", "STARTTLS 220")
    expect(d.cmd("MAIL FROM:<alice@test.example>"), r"503|530",
           "after TLS: no EHLO yet, MAIL refused")
    ehlo = d.cmd("EHLO client.example")
    check("AUTH" in ehlo, "after TLS: AUTH offered again", ehlo)
    expect(d.cmd("MAIL FROM:<alice@test.example>"),
           r"530 5\.7\.0 Authentication required",
           "after TLS: the clear login is forgotten, MAIL needs AUTH")
    expect(d.cmd("AUTH PLAIN " + plain_token("alice", PASSWORD)), "235",
           "after TLS: AUTH again succeeds")
    expect(d.cmd("MAIL FROM:<alice@test.example>"), "250",
           "after TLS and AUTH: MAIL 250")
    expect(d.cmd("RCPT TO:<x@elsewhere.example>"), "250",
           "authenticated inside TLS: may relay")
    d.cmd("QUIT")
    d.close()


def literals(site, port):
    d = Dialogue("127.0.0.1", port, source=PLAIN, timeout=20)
    d.reply()
    for bad in ('[",\'*!#;=(Received:x)]', "[x-tag:abc]", "[127.0.0.01]",
                "[IPv6:1.2.3.4]", "[1.2.3.4 ]"):
        expect(d.cmd("EHLO " + bad), r"501 ",
               "EHLO %s: refused with 501" % bad)
    expect(d.cmd("EHLO [IPv6:::1]"), "250", "EHLO [IPv6:::1]: taken")
    expect(d.cmd("MAIL FROM:<a@[127.0.0.1]>"), "250", "MAIL from a literal")
    expect(d.cmd("RCPT TO:<lit@test.example>"), "250", "RCPT")
    expect(d.cmd("DATA"), "354", "DATA")
    expect(d.cmd("Subject: literal\r\n\r\nhello\r\n."), "250", "queued")
    d.cmd("QUIT")
    d.close()
    got = site.wait_mail("lit", 1)
    ok = False
    if got:
        m = email.message_from_bytes(got[0])
        rcv = " ".join(str(m["Received"]).split())
        ok = rcv.startswith("from [IPv6:::1] ([127.0.0.82])") and \
            rcv.count("(") == rcv.count(")")
    check(ok, "the Received header names the literal, balanced",
          repr(got[:1]))


def no_secret_in_log(site, port):
    token = plain_token("alice", PASSWORD)
    login_user = base64.b64encode(b"alice").decode()
    login_pw = base64.b64encode(PASSWORD.encode()).decode()
    # From a host where AUTH is not offered in the clear: refused, and
    # the client pipelines its responses anyway.
    d = Dialogue("127.0.0.1", port, source=PLAIN, timeout=20)
    d.reply()
    d.cmd("EHLO client.example")
    d.send("AUTH LOGIN\r\n%s\r\n%s\r\nAUTH PLAIN\r\n%s\r\n%s\r\n" % (
        login_user, login_pw, token, PASSWORD))
    reps = d.replies(6)
    check(reps[0].startswith("5"), "AUTH in the clear refused", reps[0])
    check(all(r.startswith("5") for r in reps[1:]),
          "what follows is no command: 5xx each", repr(reps))
    d.cmd("QUIT")
    d.close()
    time.sleep(0.3)
    log = site.log()
    for what, secret in (("the password", PASSWORD),
                         ("its base64", login_pw),
                         ("the PLAIN token", token)):
        check(secret not in log, "%s is not in the log" % what)
    check("<unknown command, %d bytes>" % len(login_pw) in log,
          "the log says a line of that size came")


def junk(site, port):
    d = Dialogue("127.0.0.1", port, source=PLAIN, timeout=20)
    d.reply()
    d.cmd("EHLO client.example")
    cmds = ["NOOP", "RSET", "VRFY x", "HELP"]
    n = 0
    rep = ""
    while n < 100:
        rep = d.cmd(cmds[n % 4])
        n += 1
        if not rep.startswith("2"):
            break
    check(n == 100 and rep.startswith("2"),
          "100 commands that move no mail are answered", "%d %r" % (n, rep))
    rep = d.cmd("NOOP")
    check(rep.startswith("421 4.7.0"), "the 101st: 421", rep)
    check(d.closed(), "and the session is closed")
    # Mail moves the session on: NOOPs between messages are fine.
    d = Dialogue("127.0.0.1", port, source=PLAIN, timeout=20)
    d.reply()
    d.cmd("EHLO client.example")
    ok = True
    for i in range(3):
        for _ in range(60):
            ok = d.cmd("NOOP").startswith("250") and ok
        ok = d.cmd("MAIL FROM:<a@client.example>").startswith("250") and ok
        ok = d.cmd("RCPT TO:<junk@test.example>").startswith("250") and ok
        ok = d.cmd("DATA").startswith("354") and ok
        ok = d.cmd("Subject: %d\r\n\r\nx\r\n." % i).startswith("250") and ok
    check(ok, "60 NOOPs before each of three messages: all answered (the count starts again after mail)")
    d.cmd("QUIT")
    d.close()


def main():
    port = free_port()
    site = Site(policy(port), name="hardening")
    try:
        site.start([("127.0.0.1", port)])
        starttls_forgets_login(site, port)
        literals(site, port)
        no_secret_in_log(site, port)
        junk(site, port)
    finally:
        site.cleanup()


if __name__ == "__main__":
    run(main)
