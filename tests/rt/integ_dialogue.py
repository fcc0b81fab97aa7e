#!/usr/bin/python3
"""
integ_dialogue: scripted SMTP dialogues over raw sockets.  Command
sequencing, syntax errors, the informational commands, the recipient
and size limits, over-long command lines (the session survives and
memory stays put), pipelining, and a client that pipelines without
reading its replies.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, Dialogue, check, expect, free_port, run

SRC = "127.0.0.2"


def policy(port):
    return """server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d
    spool "var/spool"
    log "var/protocol.log"
    limit recipients 3
    limit message-size 4K
    timeout command 60s
}
default require none
accept for test.example deliver maildir "var/mail/%%u" recipients any
""" % port


def fresh(port):
    d = Dialogue("127.0.0.1", port, source=SRC, timeout=20)
    expect(d.reply(), "220 mx.test.example ESMTP", "greeting")
    return d


def sequencing(port):
    d = fresh(port)
    expect(d.cmd("MAIL FROM:<a@client.example>"), r"503 5\.5\.1",
           "MAIL before EHLO: 503")
    expect(d.cmd("EHLO client.example"), "250-mx.test.example", "EHLO")
    expect(d.cmd("RCPT TO:<bob@test.example>"), r"503 5\.5\.1",
           "RCPT before MAIL: 503")
    expect(d.cmd("DATA"), r"503 5\.5\.1", "DATA before MAIL: 503")
    expect(d.cmd("MAIL FROM:<a@client.example>"), "250", "MAIL")
    expect(d.cmd("DATA"), r"(503|554) 5\.5\.1", "DATA without RCPT: refused")
    expect(d.cmd("MAIL FROM:<a@client.example>"), r"503 5\.5\.1",
           "nested MAIL: 503")
    expect(d.cmd("RSET"), "250", "RSET")
    expect(d.cmd("RCPT TO:<bob@test.example>"), "503",
           "RSET ended the transaction")
    expect(d.cmd("MAIL FROM:<>"), "250", "null sender accepted")
    expect(d.cmd("RCPT TO:<bob@test.example>"), "250", "RCPT")
    expect(d.cmd("HELO client.example"), "250 mx.test.example",
           "HELO in a transaction")
    expect(d.cmd("RCPT TO:<bob@test.example>"), "503",
           "HELO reset the transaction")
    expect(d.cmd("AUTH PLAIN AAAA"), "503",
           "AUTH after HELO (not EHLO) is out of sequence")
    expect(d.cmd("QUIT"), r"221 2\.0\.0", "QUIT")
    check(d.closed(), "closed after QUIT")
    d.close()


def syntax(port):
    d = fresh(port)
    expect(d.cmd("HELO"), "501", "HELO without a name: 501")
    expect(d.cmd("EHLO bad..name"), "501", "EHLO with a bad name: 501")
    d.cmd("EHLO client.example")
    expect(d.cmd("MAIL FROM:nobody"), r"501 5\.1\.7", "MAIL without <>: 501")
    expect(d.cmd("MAIL TO:<a@client.example>"), "501", "MAIL TO: 501")
    expect(d.cmd("MAIL FROM:<a@client.example> FOO=BAR"), r"555 5\.5\.4",
           "unknown MAIL parameter: 555")
    expect(d.cmd("MAIL FROM:<a@client.example> SIZE=12x"), r"501 5\.5\.4",
           "bad SIZE: 501")
    expect(d.cmd("MAIL FROM:<a@client.example> BODY=8BITMIME"), "250",
           "BODY=8BITMIME accepted")
    expect(d.cmd("RCPT TO:<no at sign>"), r"501 5\.1\.3",
           "bad recipient: 501")
    expect(d.cmd("RCPT TO:<bob@test.example> NOTIFY=NEVER"), "555",
           "unknown RCPT parameter: 555")
    expect(d.cmd("DATA now"), "501", "DATA with an argument: 501")
    d.close()
    # A new session: ten errors would end this one (see below).
    d = fresh(port)
    expect(d.cmd("XYZZY"), r"500 5\.5\.1", "unknown command: 500")
    expect(d.cmd(""), r"500 5\.5\.1", "empty line: 500")
    expect(d.cmd("VRFY bob"), r"252 2\.5\.0", "VRFY: 252")
    expect(d.cmd("EXPN staff"), r"502 5\.5\.1", "EXPN: 502")
    expect(d.cmd("HELP"), r"214 2\.0\.0", "HELP: 214")
    expect(d.cmd("NOOP"), "250", "NOOP")
    expect(d.cmd("BDAT 10 LAST"), "502", "BDAT (no CHUNKING): 502")
    d.close()

    # Ten protocol errors end the session.
    d = fresh(port)
    reps = [d.cmd("BOGUS %d" % i) for i in range(10)]
    check(all(r.startswith("500") for r in reps[:9]),
          "nine bad commands: 500 each")
    expect(reps[9], r"500 5\.5\.1\n421 4\.7\.0 .*Too many errors|"
           r"500 5\.5\.1.*", "the tenth: 500")
    rest = d.reply() if "421" not in reps[9] else reps[9]
    check("421 4.7.0" in rest, "then 421 4.7.0 Too many errors", "(%r)" % rest)
    check(d.closed(), "and the connection is closed")
    d.close()


def limits(site, port):
    d = fresh(port)
    d.cmd("EHLO client.example")
    expect(d.cmd("MAIL FROM:<a@client.example> SIZE=5000"), r"552 5\.3\.4",
           "SIZE over the limit: 552")
    expect(d.cmd("MAIL FROM:<a@client.example> SIZE=100"), "250",
           "SIZE under the limit: 250")
    for i in range(3):
        expect(d.cmd("RCPT TO:<r%d@test.example>" % i), "250", "RCPT %d" % i)
    expect(d.cmd("RCPT TO:<r3@test.example>"), r"452 4\.5\.3",
           "fourth recipient over `limit recipients 3`: 452")
    expect(d.cmd("DATA"), "354", "DATA")
    body = "Subject: big\r\n\r\n" + ("x" * 70 + "\r\n") * 80
    expect(d.cmd(body + "."), r"552 5\.3\.4", "oversized body: 552 at the end")
    expect(d.cmd("NOOP"), "250", "the session goes on")
    # And a message under the limit still goes through.
    d.cmd("MAIL FROM:<a@client.example>")
    d.cmd("RCPT TO:<small@test.example>")
    d.cmd("DATA")
    expect(d.cmd("Subject: small\r\n\r\nfits\r\n."), "250", "small message")
    d.close()
    mails = site.wait_mail("small", 1)
    check(len(mails) == 1, "the small one is delivered")
    time.sleep(0.3)
    for r in ("r0", "r1", "r2", "r3"):
        check(site.maildir(r) == [], "nothing of the oversized one for %s" % r)


def bodies(site, port):
    """8-bit text and the null sender go through; an over-long text
    line is refused at the true end, and nothing of it is stored."""
    d = fresh(port)
    d.cmd("EHLO client.example")
    expect(d.cmd("MAIL FROM:<> BODY=8BITMIME"), "250", "8BITMIME: MAIL")
    expect(d.cmd("RCPT TO:<eight@test.example>"), "250", "8BITMIME: RCPT")
    expect(d.cmd("DATA"), "354", "8BITMIME: DATA")
    d.send(b"Subject: caf\xc3\xa9\r\n\r\nna\xc3\xafve \xe2\x82\xac\r\n"
           b"..leading dot\r\n.\r\n")
    expect(d.reply(), "250", "8BITMIME: queued")
    d.cmd("MAIL FROM:<a@client.example>")
    d.cmd("RCPT TO:<toolong@test.example>")
    d.cmd("DATA")
    d.send(b"Subject: long\r\n\r\n" + b"z" * 1500 + b"\r\n.\r\n")
    expect(d.reply(), r"5\d\d 5\.\d\.\d .*line", "a 1500-byte text line: "
           "refused at the end")
    expect(d.cmd("NOOP"), "250", "and the session goes on")
    d.cmd("MAIL FROM:<a@client.example>")
    d.cmd("RCPT TO:<dropped@test.example>")
    d.cmd("DATA")
    d.send("Subject: cut\r\n\r\nhalf a messa")
    d.close()
    mails = site.wait_mail("eight", 1)
    check(len(mails) == 1 and mails[0].startswith(b"Return-Path: <>\n") and
          mails[0].endswith(b"Subject: caf\xc3\xa9\n\nna\xc3\xafve "
                            b"\xe2\x82\xac\n.leading dot\n"),
          "8-bit message and null sender delivered intact",
          "(%r)" % mails[:1])
    time.sleep(0.3)
    check(site.maildir("toolong") == [], "nothing of the long-line message")
    check(site.maildir("dropped") == [], "nothing of the message whose "
          "client went away")
    check(site.wait_log(r"-,connection lost during DATA") is not None,
          "the log says the connection was lost during DATA")
    check(os.listdir(site.path("var/spool/tmp")) == [],
          "nothing left in the spool's tmp/")


def long_lines(site, port):
    d = fresh(port)
    d.cmd("EHLO client.example")
    expect(d.cmd("NOOP " + "x" * 600), r"500 5\.5\.2 Line too long",
           "a 606-byte command: 500 5.5.2")
    expect(d.cmd("NOOP"), "250", "the session survives")
    expect(d.cmd("MAIL FROM:<" + "a" * 500 + "@client.example>"), "500",
           "an over-long MAIL: 500")
    rss0 = site.rss_kib()
    # Four MiB without a line end: one reply, and nothing grows.
    d.send("NOOP ")
    chunk = b"y" * 65536
    for _ in range(64):
        d.send(chunk)
    d.send("\r\n")
    expect(d.reply(), r"500 5\.5\.2 Line too long",
           "a 4 MiB line: one 500 5.5.2")
    expect(d.cmd("NOOP"), r"250 2\.0\.0", "the session survives it "
           "(nothing else was answered)")
    grew = site.rss_kib() - rss0
    check(grew < 1024, "bastiond's memory did not grow with the line "
          "(%d KiB)" % grew)
    d.close()


def pipelining(site, port):
    d = fresh(port)
    d.send("EHLO client.example\r\n"
           "MAIL FROM:<a@client.example>\r\n"
           "RCPT TO:<pipe@test.example>\r\n"
           "RCPT TO:<nobody@elsewhere.example>\r\n"
           "RCPT TO:<pipe2@test.example>\r\n"
           "DATA\r\n"
           "Subject: pipelined\r\n\r\nall in one write\r\n.\r\n"
           "NOOP\r\n"
           "QUIT\r\n")
    got = [d.reply() for _ in range(8)]
    pats = [r"250-mx\.test\.example.*250 HELP", r"250 2\.1\.0", r"250 2\.1\.5",
            r"554 5\.7\.1", r"250 2\.1\.5", r"354", r"250 2\.0\.0 Ok: queued",
            r"250 2\.0\.0 Ok"]
    for i, (rep, pat) in enumerate(zip(got, pats)):
        expect(rep, pat, "pipelined reply %d in order" % (i + 1))
    expect(d.reply(), "221", "pipelined QUIT last")
    d.close()
    m1, m2 = site.wait_mail("pipe", 1), site.wait_mail("pipe2", 1)
    check(len(m1) == 1 and len(m2) == 1 and b"all in one write" in m1[0],
          "the pipelined message is delivered to both")


def flood(site, port):
    """Pipelining without reading: the server stops reading, not grows."""
    d = fresh(port)
    n = 20000
    rss0 = site.rss_kib()
    d.s.settimeout(30)
    # HELO, not NOOP: NOOPs past 100 close the session (junk commands).
    d.send(b"HELO flood.example\r\n" * n)
    time.sleep(0.5)
    grew = site.rss_kib() - rss0
    check(grew < 1024, "bastiond does not buffer replies without bound "
          "(%d KiB)" % grew)
    want = b"250 mx.test.example\r\n" * n
    got = b""
    deadline = time.time() + 60
    while len(got) < len(want) and time.time() < deadline:
        try:
            c = d.s.recv(65536)
        except socket.timeout:
            break
        if not c:
            break
        got += c
    check(got == want, "all %d pipelined HELOs answered, in order" % n,
          "(%d of %d bytes)" % (len(got), len(want)))
    expect(d.cmd("QUIT"), "221", "the session is still there")
    d.close()


def main():
    port = free_port()
    site = Site(policy(port), certs=False, name="dialogue")
    try:
        site.start([("127.0.0.1", port)])
        sequencing(port)
        syntax(port)
        limits(site, port)
        bodies(site, port)
        long_lines(site, port)
        pipelining(site, port)
        flood(site, port)
    finally:
        site.cleanup()


if __name__ == "__main__":
    run(main)
