#!/usr/bin/python3
"""
integ_hostile: hostile input gets a clear SMTP error and nothing is
lost or smuggled.  Bare CR and LF and NUL in commands; bare line ends in
a message, including the SMTP smuggling payloads, after which no second
message may ever appear; plaintext pipelined behind STARTTLS; a client
that talks before the greeting.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, Dialogue, check, expect, free_port, run

SRC = "127.0.0.2"


def policy(port):
    return """server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d
    tls certificate "certs/ec.crt" key "certs/ec.key"
    spool "var/spool"
    log "var/protocol.log"
    timeout command 60s
}
default require none
accept for test.example deliver maildir "var/mail/%%u" recipients any
""" % port


def fresh(port, src=SRC):
    d = Dialogue("127.0.0.1", port, source=src, timeout=20)
    expect(d.reply(), "220 ", "greeting")
    expect(d.cmd("EHLO client.example"), "250", "EHLO")
    return d


def commands(port):
    d = fresh(port)
    for what, line in (("bare LF", b"NOOP\n"),
                       ("bare CR", b"NO\rOP\r\n"),
                       ("bare CR before CRLF", b"NOOP\r\r\n"),
                       ("bare CR after CRLF", b"\rNOOP\r\n")):
        d.send(line)
        expect(d.reply(), r"500 5\.5\.2 Bare CR or LF not allowed",
               "%s in a command: 500 5.5.2" % what)
        expect(d.cmd("NOOP"), r"250 2\.0\.0", "the session goes on after "
               "the %s (nothing else was answered)" % what)
    # A bare LF ends the refused line; what follows is a line of its own.
    d.send(b"MAIL FROM:<a@client.example>\nRCPT TO:<bob@test.example>\r\n")
    expect(d.reply(), r"500 5\.5\.2 Bare CR or LF",
           "MAIL ending in a bare LF: 500 5.5.2")
    expect(d.reply(), r"503 5\.5\.1", "the MAIL was not taken: the RCPT "
           "behind it gets 503")
    d.send(b"NO\0OP\r\n")
    expect(d.reply(), r"500 5\.5\.2 NUL", "NUL in a command: 500 5.5.2")
    d.send(b"MAIL FROM:<a@client.example>\0\r\n")
    expect(d.reply(), r"500 5\.5\.2 NUL", "NUL after MAIL: 500 5.5.2")
    expect(d.cmd("RCPT TO:<bob@test.example>"), "503",
           "that MAIL was not taken either")
    expect(d.cmd("QUIT"), "221", "QUIT")
    d.close()


# Each payload: the body of the first message, with the attempt to end
# it early and start a second one.  A server that took "\n.\n" (or
# "\r\n.\n", "\n.\r\n", "\r.\r") as the end would queue a second message.
SMUGGLE = [
    ("LF.LF", b"\n.\n"),
    ("CRLF.LF", b"\r\n.\n"),
    ("LF.CRLF", b"\n.\r\n"),
    ("CR.CR", b"\r.\r"),
    ("CRLF.CR", b"\r\n.\r"),
]


def smuggling(site, port):
    for i, (name, end) in enumerate(SMUGGLE):
        d = fresh(port)
        expect(d.cmd("MAIL FROM:<a@client.example>"), "250", name + ": MAIL")
        expect(d.cmd("RCPT TO:<victim@test.example>"), "250", name + ": RCPT")
        expect(d.cmd("DATA"), "354", name + ": DATA")
        payload = (b"Subject: first " + name.encode() + b"\r\n\r\nhello" +
                   end +
                   b"MAIL FROM:<ceo@test.example>\r\n"
                   b"RCPT TO:<victim@test.example>\r\n"
                   b"DATA\r\n"
                   b"Subject: smuggled\r\n\r\nwire the money\r\n"
                   b".\r\n")
        d.send(payload)
        rep = d.reply()
        expect(rep, r"550 5\.6\.0 Message refused: bare CR or LF",
               "%s: refused with 550 at the true end" % name)
        expect(d.cmd("NOOP"), r"250 2\.0\.0 Ok$",
               "%s: nothing else was answered" % name)
        d.close()
    # A clean message afterwards, so that delivery has surely run.
    d = fresh(port)
    d.cmd("MAIL FROM:<a@client.example>")
    d.cmd("RCPT TO:<victim@test.example>")
    d.cmd("DATA")
    expect(d.cmd("Subject: clean\r\n\r\nlegit\r\n."), "250", "clean message")
    d.close()
    mails = site.wait_mail("victim", 1)
    time.sleep(0.5)
    mails = site.maildir("victim")
    check(len(mails) == 1 and b"legit" in mails[0],
          "only the clean message is in the Maildir (%d)" % len(mails))
    check(not any(b"smuggled" in m or b"first" in m for m in mails),
          "no smuggled or refused message was stored")
    check(os.listdir(site.path("var/spool/queue")) == [] if
          os.path.isdir(site.path("var/spool/queue")) else True,
          "nothing left in the spool")
    check(site.wait_log(r'message refused \(bare CR or LF\)') is not None,
          "the log says why the message was refused")

    # Bare CR or LF alone in a body, NUL in a body.
    for name, body, pat in (
            ("bare LF in a body", b"Subject: x\r\n\r\na\nb\r\n.\r\n",
             r"550 5\.6\.0"),
            ("bare CR in a body", b"Subject: x\r\n\r\na\rb\r\n.\r\n",
             r"550 5\.6\.0"),
            ("NUL in a body", b"Subject: x\r\n\r\na\0b\r\n.\r\n",
             r"550 5\.6\.0 Message refused: NUL")):
        d = fresh(port)
        d.cmd("MAIL FROM:<a@client.example>")
        d.cmd("RCPT TO:<victim2@test.example>")
        d.cmd("DATA")
        d.send(body)
        expect(d.reply(), pat, name + ": refused")
        d.close()
    time.sleep(0.3)
    check(site.maildir("victim2") == [], "none of them was stored")


def starttls_injection(site, port):
    d = fresh(port)
    d.send("STARTTLS\r\nNOOP\r\nMAIL FROM:<evil@client.example>\r\n")
    expect(d.reply(), r"220 2\.0\.0", "STARTTLS 220")
    d.tls_handshake(site.ctx())
    got = d.quiet(1.0)
    check(got == b"", "the commands sent in clear behind STARTTLS are "
          "never answered", "(got %r)" % got)
    d.s.settimeout(20)
    ehlo = d.cmd("EHLO client.example")
    expect(ehlo, "250-mx.test.example", "EHLO inside TLS is the first reply")
    expect(d.cmd("RCPT TO:<bob@test.example>"), "503",
           "the injected MAIL was not taken")
    d.close()
    check(site.wait_log(r"discarded 39 bytes sent after STARTTLS in the "
                        r"clear") is not None,
          "the log says the bytes behind STARTTLS were discarded")


def talk_first(site, port):
    """SIGSTOP the daemon, connect and talk, SIGCONT: 554 and close."""
    d = None
    site.signal(signal.SIGSTOP)
    try:
        d = Dialogue("127.0.0.1", port, source="127.0.0.9", timeout=20)
        d.send("EHLO early.example\r\n")
        time.sleep(0.2)
    finally:
        site.signal(signal.SIGCONT)
    expect(d.reply(), r"554 5\.5\.1 .*talking before the greeting",
           "talking before the greeting: 554")
    check(d.closed(), "then the connection is closed")
    d.close()
    check(site.wait_log(r"127\.0\.0\.9:\d+,-,talked before the greeting")
          is not None, "the log says why")


def main():
    port = free_port()
    site = Site(policy(port), name="hostile")
    try:
        site.start([("127.0.0.1", port)])
        commands(port)
        smuggling(site, port)
        starttls_injection(site, port)
        talk_first(site, port)
    finally:
        site.cleanup()


if __name__ == "__main__":
    run(main)
