#!/usr/bin/python3
"""
integ_abuse: what a hostile client tries on the inbound side, each with
the rest of its kind.
 - <postmaster> without a domain is the hostname's postmaster (RFC 5321
   4.5.1): refused at RCPT when the hostname is no accept domain, even
   from a relay host, and stored as postmaster@hostname otherwise, so it
   is delivered where the hostname's rule says and never leaves by
   `outbound *`.
 - STARTTLS forgets a login made in the clear (RFC 3207 4.2).
 - No credential reaches the protocol log, even from a client that
   pipelines it behind a refused AUTH, sends it after a failed one, or
   sends a PLAIN token as a command.
 - Junk commands (NOOP, RSET, VRFY, HELP, refused commands) end the
   session with 421 4.7.0 after SESSION_JUNK_LIMIT; sending mail does not.
 - `timeout data` is the time allowed without progress: a slow, steady
   DATA gets through, a drip that averages too little is cut.
 - The size limit counts the client's bytes, not our Received header.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check import closed_port
from harness import (Site, Dialogue, b64, check, expect, free_port,
                     plain_token, run, verifier)

RELAY = "127.0.0.2"     # may relay
CLEAR = "127.0.0.3"     # require auth, auth cleartext
OTHER = "127.0.0.4"     # anyone
JUNK = 100              # SESSION_JUNK_LIMIT
SIZE = 10240            # limit message-size


def policy(port, dead, accept_host=False):
    return """server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d
    tls certificate "certs/ec.crt" key "certs/ec.key"
    spool "var/spool"
    log "var/protocol.log"
    limit message-size %d
    limit connections 100 per-host 50
    timeout command 60s
    timeout data 2s
}
default require none
host %s require none relay
host %s require auth auth cleartext
user "alice" "%s"
accept for test.example deliver maildir "var/mail/%%u" recipients any
%soutbound * via 127.0.0.1 port %d tls none
""" % (port, SIZE, RELAY, CLEAR, verifier("alice-pw"),
       'accept for .test.example deliver maildir "var/pm/%u" '
       'recipients any\n'
       if accept_host else "", dead)


def fresh(port, src=OTHER, ehlo=True):
    d = Dialogue("127.0.0.1", port, source=src, timeout=20)
    expect(d.reply(), "220 ", "%s: greeting" % src)
    if ehlo:
        d.ehlo = d.cmd("EHLO client.example")
    return d


# ---- 4: <postmaster> without a domain --------------------------------

def postmaster_refused(site, port):
    for src in (RELAY, OTHER):
        d = fresh(port, src)
        expect(d.cmd("MAIL FROM:<a@client.example>"), "250", "pm: MAIL")
        expect(d.cmd("RCPT TO:<postmaster>"), r"550 5\.1\.1",
               "pm: <postmaster> is refused when the hostname is no "
               "accept domain (from %s)" % src)
        expect(d.cmd("RCPT TO:<Postmaster>"), r"550 5\.1\.1",
               "pm: in any case (from %s)" % src)
        expect(d.cmd("DATA"), r"554", "pm: nothing to send to")
        d.cmd("QUIT")
        d.close()
    check(site.wait_log(r"RCPT <postmaster>: refused, mx\.test\.example is "
                        r"not a domain we accept mail for") is not None,
          "pm: the log says why")
    check(re.search(r"relay.*postmaster|postmaster.*relay \(",
                    site.log()) is None,
          "pm: nothing was relayed for <postmaster>", site.log()[-2000:])


def postmaster_local(port):
    site = Site(policy(port, free_port(), accept_host=True), name="pm")
    try:
        site.start([("127.0.0.1", port)])
        d = fresh(port, RELAY)
        expect(d.cmd("MAIL FROM:<a@client.example>"), "250", "pm local: MAIL")
        expect(d.cmd("RCPT TO:<postmaster>"), r"250",
               "pm local: <postmaster> taken: the hostname is ours")
        expect(d.cmd("DATA"), "354", "pm local: DATA")
        expect(d.cmd("Subject: to the postmaster\r\n\r\nhi\r\n."), "250",
               "pm local: queued")
        d.cmd("QUIT")
        d.close()
        new = site.path("var/pm/postmaster/new")
        deadline = time.time() + 20
        while not (os.path.isdir(new) and os.listdir(new)) and \
                time.time() < deadline:
            time.sleep(0.05)
        check(os.path.isdir(new) and len(os.listdir(new)) == 1, "pm local: delivered by the hostname's rule "
              "(var/pm/postmaster)", site.log()[-2000:])
        check(site.wait_log(r"delivered <postmaster@mx\.test\.example> to "
                            r"maildir") is not None,
              "pm local: stored as postmaster@hostname", site.log()[-2000:])
        check(re.search(r"relay,\*,.*postmaster", site.log()) is None,
              "pm local: never handed to the outbound side")
    finally:
        site.cleanup()


# ---- 7: STARTTLS forgets AUTH ------------------------------------------

def starttls_forgets_auth(site, port):
    d = fresh(port, CLEAR)
    check("250-AUTH" in d.ehlo, "tls: AUTH offered in clear here")
    expect(d.cmd("AUTH PLAIN " + plain_token("alice", "alice-pw")),
           r"235", "tls: AUTH in the clear")
    expect(d.cmd("MAIL FROM:<a@client.example>"), "250",
           "tls: authenticated, MAIL taken")
    expect(d.cmd("RSET"), "250", "tls: RSET")
    expect(d.starttls(site.ctx()), "220", "tls: STARTTLS")
    ehlo = d.cmd("EHLO client.example")
    check("250-AUTH" in ehlo, "tls: after STARTTLS, AUTH is offered again "
          "(the login was forgotten)", ehlo)
    expect(d.cmd("MAIL FROM:<a@client.example>"), r"530 5\.7\.0",
           "tls: after STARTTLS, MAIL needs AUTH again (RFC 3207 4.2)")
    expect(d.cmd("AUTH PLAIN " + plain_token("alice", "alice-pw")),
           r"235", "tls: AUTH again inside TLS")
    expect(d.cmd("MAIL FROM:<a@client.example>"), "250",
           "tls: then MAIL is taken")
    d.cmd("QUIT")
    d.close()
    # The transaction and the EHLO go too (they did before).
    d = fresh(port, OTHER)
    expect(d.starttls(site.ctx()), "220", "tls: STARTTLS")
    expect(d.cmd("MAIL FROM:<a@client.example>"), r"503",
           "tls: after STARTTLS, EHLO is needed again")
    d.close()


# ---- 10: no secret in the log ------------------------------------------

SECRETS = ["hunter2-pw", "alice-pw", "s3cret-login"]


def secrets_in(log):
    out = []
    for pw in SECRETS:
        for form in (pw, b64(pw), plain_token("alice", pw),
                     plain_token("nobody", pw)):
            if form in log:
                out.append(form)
    return out


def log_no_secrets(site, port):
    # AUTH refused in the clear (538), its response pipelined behind it.
    d = fresh(port, OTHER)
    d.send("AUTH PLAIN\r\n%s\r\n" % plain_token("alice", "hunter2-pw"))
    expect(d.reply(), r"538", "log: AUTH refused in clear")
    expect(d.reply(), r"500", "log: the pipelined response is no command")
    # AUTH LOGIN refused, user and password pipelined (no NUL in them).
    d.send("AUTH LOGIN\r\n%s\r\n%s\r\n" % (b64("alice"), b64("s3cret-login")))
    expect(d.reply(), r"538", "log: AUTH LOGIN refused in clear")
    expect(d.reply(), r"500", "log: user line: 500")
    expect(d.reply(), r"500", "log: password line: 500")
    # An unknown mechanism, then the rest pipelined.
    d.send("AUTH NOSUCH\r\n%s\r\n" % b64("hunter2-pw"))
    expect(d.reply(), r"5", "log: unknown mechanism")
    expect(d.reply(), r"500", "log: its response: 500")
    d.cmd("QUIT")
    d.close()
    # A PLAIN token as a command, with no AUTH before it.
    d = fresh(port, OTHER)
    expect(d.cmd("GET / HTTP/1.1"), r"500", "log: an HTTP probe")
    expect(d.cmd(plain_token("alice", "alice-pw")), r"500",
           "log: a bare PLAIN token: 500")
    d.cmd("QUIT")
    d.close()
    # After an AUTH that failed, the client sends its password again.
    d = fresh(port, CLEAR)
    expect(d.cmd("AUTH LOGIN"), r"334", "log: AUTH LOGIN")
    expect(d.cmd(b64("alice")), r"334", "log: user")
    expect(d.cmd(b64("hunter2-pw")), r"535", "log: wrong password: 535")
    expect(d.cmd(b64("s3cret-login")), r"500", "log: a stray password: 500")
    d.cmd("QUIT")
    d.close()
    site.wait_log(r"QUIT")
    time.sleep(0.3)
    log = site.log()
    found = secrets_in(log)
    check(not found, "log: no password, in clear or base64, in the log",
          "found %r" % found)
    check(re.search(r',<,"<unknown command, 14 bytes>"$', log, re.M)
          is not None, "log: an unknown command is logged by its size")
    check(re.search(r",<,AUTH PLAIN$", log, re.M) is not None,
          "log: AUTH lines themselves are still logged")


# ---- 11: junk commands ----------------------------------------------------

def junk_limit(site, port):
    for what, lines in (("NOOP", ["NOOP"]), ("RSET", ["RSET"]),
                        ("VRFY", ["VRFY bob"]), ("HELP", ["HELP"]),
                        ("EXPN", ["EXPN staff"]),
                        ("refused commands",
                         ["RCPT TO:<bob@test.example>", "DATA",
                          "AUTH PLAIN"])):
        d = fresh(port, OTHER)
        got = [d.cmd(lines[i % len(lines)]) for i in range(JUNK)]
        check(not any(r.startswith("421") for r in got),
              "junk: %s: %d are answered" % (what, JUNK), repr(got[-3:]))
        last = d.cmd(lines[JUNK % len(lines)])
        if not last.startswith("421"):
            last = d.reply()    # a refusal is answered, then counted
        expect(last, r"421 4\.7\.0 .*Too many commands without mail",
               "junk: %s: one more gets 421 4.7.0" % what)
        check(d.closed(), "junk: %s: then closed" % what)
        d.close()
    # MAIL, a refused RCPT, RSET, again and again: no mail moves.
    d = fresh(port, OTHER)
    n, last = 0, ""
    while n < 3 * JUNK and not last.startswith("421"):
        for line in ("MAIL FROM:<a@client.example>",
                     "RCPT TO:<x@elsewhere.example>", "RSET"):
            n += 1
            last = d.cmd(line)
            if last.startswith("421") or not last:
                break
    expect(last, r"421 4\.7\.0", "junk: a MAIL, relay denied, RSET loop "
           "ends in 421 (after %d commands)" % n)
    d.close()
    check(site.wait_log(r",-,too many junk commands") is not None,
          "junk: the log says why")
    # A session that moves mail is never junk, however long.
    d = fresh(port, OTHER)
    for round in range(3):
        for _ in range(JUNK // 2 + 10):
            expect(d.cmd("NOOP"), "250", "junk: NOOPs between messages")
        expect(d.cmd("MAIL FROM:<a@client.example>"), "250", "junk: MAIL")
        expect(d.cmd("RCPT TO:<bob@test.example>"), "250", "junk: RCPT")
        expect(d.cmd("DATA"), "354", "junk: DATA")
        expect(d.cmd("Subject: busy %d\r\n\r\nhi\r\n." % round), "250",
               "junk: message %d queued" % round)
    expect(d.cmd("QUIT"), "221", "junk: a busy session ends with QUIT")
    d.close()


# ---- 12: timeout data ---------------------------------------------------

def open_data(port, src=OTHER, rcpt="slow"):
    d = fresh(port, src)
    expect(d.cmd("MAIL FROM:<a@client.example>"), "250", "data: MAIL")
    expect(d.cmd("RCPT TO:<%s@test.example>" % rcpt), "250", "data: RCPT")
    expect(d.cmd("DATA"), "354", "data: DATA")
    return d


def data_timeout(site, port):
    # 5 s at about 1.6 KiB/s, with `timeout data 2s`: never idle 2 s.
    d = open_data(port)
    d.send("Subject: slow and steady\r\n\r\n")
    t0 = time.time()
    while time.time() - t0 < 5:
        d.send(("x" * 78 + "\r\n") * 10)
        time.sleep(0.5)
    expect(d.cmd("."), r"250", "data: a slow, steady DATA longer than "
           "`timeout data` is taken (%.1fs)" % (time.time() - t0))
    d.cmd("QUIT")
    d.close()
    # A drip: a byte every second, well under the timeout each time.
    d = open_data(port, rcpt="drip")
    d.s.settimeout(0.2)
    t0, got = time.time(), b""
    while time.time() - t0 < 15 and b"\r\n" not in got:
        try:
            d.s.send(b"x")
            got += d.s.recv(4096)
        except OSError:
            pass
        time.sleep(0.8)
    took = time.time() - t0
    check(got.startswith(b"421 4.4.2") and took < 6,
          "data: a drip is cut at `timeout data` plus its bytes' credit "
          "(%.1fs)" % took, repr(got))
    d.close()
    check(site.wait_log(r",-,DATA too slow") is not None,
          "data: the log says the DATA was too slow")


# ---- 13: the size limit counts the client's bytes ---------------------

def message(n):
    head = b"Subject: size\r\n\r\n"
    body = n - len(head)
    lines = [b"y" * 98 + b"\r\n"] * (body // 100)
    rest = body - 100 * len(lines)
    if rest:
        lines.append(b"z" * (rest - 2) + b"\r\n")
    m = head + b"".join(lines)
    assert len(m) == n, (len(m), n)
    return m


def size_limit(site, port):
    for n, code in ((SIZE, "250"), (SIZE + 1, "552")):
        d = fresh(port, OTHER)
        check("250-SIZE %d" % SIZE in d.ehlo, "size: SIZE %d advertised"
              % SIZE)
        expect(d.cmd("MAIL FROM:<a@client.example> SIZE=%d" % n), code,
               "size: MAIL SIZE=%d: %s" % (n, code))
        if code == "250":
            expect(d.cmd("RCPT TO:<size@test.example>"), "250", "size: RCPT")
            expect(d.cmd("DATA"), "354", "size: DATA")
            d.send(message(n))
            expect(d.cmd("."), r"250", "size: a message of exactly SIZE "
                   "bytes is taken (our Received header is not counted)")
        d.cmd("QUIT")
        d.close()
    # Over by one byte, without SIZE=: refused after DATA.
    d = fresh(port, OTHER)
    d.cmd("MAIL FROM:<a@client.example>")
    d.cmd("RCPT TO:<size@test.example>")
    expect(d.cmd("DATA"), "354", "size: DATA")
    d.send(message(SIZE + 1))
    expect(d.cmd("."), r"552 5\.3\.4", "size: one byte over: 552 5.3.4")
    d.cmd("QUIT")
    d.close()
    got = site.wait_mail("size", 1)
    check(len(got) == 1 and got[0].replace(b"\r\n", b"\n").endswith(
          message(SIZE)[-200:].replace(b"\r\n", b"\n")),
          "size: the message of exactly SIZE bytes was delivered whole")


def main():
    port, dead = free_port(), closed_port()
    site = Site(policy(port, dead), name="abuse")
    try:
        site.start([("127.0.0.1", port)])
        postmaster_refused(site, port)
        starttls_forgets_auth(site, port)
        log_no_secrets(site, port)
        junk_limit(site, port)
        data_timeout(site, port)
        size_limit(site, port)
    finally:
        site.cleanup()
    postmaster_local(free_port())


if __name__ == "__main__":
    run(main)
