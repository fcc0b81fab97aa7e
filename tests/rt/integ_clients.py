#!/usr/bin/python3
"""
integ_clients: bastiond against real clients on loopback.  Python's
smtplib (STARTTLS, implicit TLS, AUTH PLAIN and LOGIN), SCRAM-SHA-256
driven by hand (smtplib has none), swaks and `openssl s_client`.  Each
client sends a message and the test reads it back from the Maildir.
"""
import os
import select
import shutil
import smtplib
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Site, Dialogue, check, expect, free_port, run,
                     verifier, body_of, plain_token, scram_sha256)

PLAIN_SRC = "127.0.0.2"


def have_v6():
    try:
        free_port("::1")
        return True
    except OSError:
        return False


def policy(port, tport, v6port):
    v6 = ""
    if v6port:
        v6 = "    listen on ::1 port %d tls\n" % v6port
    return """server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d
    listen on 127.0.0.1 port %d tls
%s    tls certificate "certs/ec.crt" key "certs/ec.key"
    spool "var/spool"
    log "var/protocol.log"
    timeout command 30s
}
default require none
host ::1 require auth
user "alice" "%s"
user "carol" "%s"
accept for test.example deliver maildir "var/mail/%%u" recipients any
""" % (port, tport, v6, verifier("alice-pw"),
       verifier("carol-pw", "argon2id"))


def message(tag):
    return ("From: <sender@client.example>\r\n"
            "To: <bob@test.example>\r\n"
            "Subject: %s\r\n"
            "Message-ID: <%s@client.example>\r\n"
            "\r\n"
            "Hello from %s.\r\n"
            ".a line that starts with a dot\r\n"
            "\r\n"
            "last line\r\n" % (tag, tag, tag))


def stuff(text):
    """Dot-stuffing (RFC 5321 4.5.2), for raw dialogues."""
    return "\r\n".join("." + l if l.startswith(".") else l
                       for l in text.split("\r\n"))


def big_message(tag, n=400):
    lines = ["Message-ID: <%s@client.example>" % tag, "Subject: big", ""]
    for i in range(n):
        lines.append(("%05d " % i) + chr(65 + i % 26) * (i * 7 % 990))
    return "\r\n".join(lines) + "\r\n"


def delivered(site, tag, want_tls, want_auth):
    """The message tagged tag is in bob's Maildir, intact."""
    mails = site.maildir("bob")
    deadline = time.time() + 20
    found = []
    while time.time() < deadline:
        found = [m for m in site.maildir("bob")
                 if ("Message-ID: <%s@" % tag).encode() in m]
        if found:
            break
        time.sleep(0.05)
    if not check(len(found) == 1, "%s: delivered once" % tag,
                 "(%d copies of %d mails)" % (len(found), len(mails))):
        return
    m = found[0]
    want = message(tag).replace("\r\n", "\n").encode()
    check(body_of(m) == want, "%s: message intact" % tag,
          "(got %r)" % body_of(m))
    check(m.startswith(b"Return-Path: <sender@client.example>\n"),
          "%s: Return-Path first" % tag, "(got %r)" % m[:80])
    with_ = b"ESMTP" + (b"S" if want_tls else b"") + \
        (b"A" if want_auth else b"")
    check(b"Received: from " in m and b" with " + with_ + b"\n" in m,
          "%s: Received header says %s" % (tag, with_.decode()),
          "(got %r)" % m[:300])


def smtplib_tests(site, port, tport):
    ctx = site.ctx()

    # STARTTLS, then AUTH PLAIN.
    with smtplib.SMTP("127.0.0.1", port, timeout=30,
                      source_address=(PLAIN_SRC, 0)) as c:
        code, _ = c.ehlo("client.example")
        check(code == 250, "smtplib: EHLO 250")
        check(c.has_extn("starttls"), "smtplib: STARTTLS offered")
        check(not c.has_extn("auth"), "smtplib: no AUTH in the clear")
        code, _ = c.starttls(context=ctx)
        check(code == 220, "smtplib: STARTTLS 220")
        c.ehlo("client.example")
        check(c.has_extn("auth") and "PLAIN" in c.esmtp_features["auth"]
              .upper(), "smtplib: AUTH PLAIN offered inside TLS",
              "(%r)" % c.esmtp_features)
        check(not c.has_extn("starttls"), "smtplib: no STARTTLS twice")
        c.user, c.password = "alice", "alice-pw"
        code, text = c.auth("PLAIN", c.auth_plain)
        check(code == 235, "smtplib: AUTH PLAIN alice 235", "(%d %r)"
              % (code, text))
        refused = c.sendmail("sender@client.example", ["bob@test.example"],
                             message("st-plain"))
        check(refused == {}, "smtplib: STARTTLS+PLAIN message accepted")
    delivered(site, "st-plain", True, True)

    # STARTTLS, then AUTH LOGIN (no initial response), argon2id user.
    with smtplib.SMTP("127.0.0.1", port, timeout=30,
                      source_address=(PLAIN_SRC, 0)) as c:
        c.starttls(context=ctx)
        c.ehlo("client.example")
        c.user, c.password = "carol", "carol-pw"
        code, text = c.auth("LOGIN", c.auth_login, initial_response_ok=False)
        check(code == 235, "smtplib: AUTH LOGIN carol (argon2id) 235",
              "(%d %r)" % (code, text))
        c.sendmail("sender@client.example", ["bob@test.example"],
                   message("st-login"))
    delivered(site, "st-login", True, True)

    # A wrong password through smtplib: 535, and smtplib says so.
    with smtplib.SMTP("127.0.0.1", port, timeout=30,
                      source_address=(PLAIN_SRC, 0)) as c:
        c.starttls(context=ctx)
        c.ehlo("client.example")
        c.user, c.password = "alice", "wrong"
        try:
            c.auth("PLAIN", c.auth_plain)
            check(False, "smtplib: wrong password refused")
        except smtplib.SMTPAuthenticationError as e:
            check(e.smtp_code == 535, "smtplib: wrong password 535",
                  "(%r)" % (e,))

    # Implicit TLS (RFC 8314), login() picks PLAIN.
    with smtplib.SMTP_SSL("127.0.0.1", tport, timeout=30, context=ctx,
                          source_address=(PLAIN_SRC, 0)) as c:
        c.ehlo("client.example")
        check(not c.has_extn("starttls"),
              "SMTP_SSL: no STARTTLS on an implicit-TLS port")
        code, _ = c.login("alice", "alice-pw")
        check(code == 235, "SMTP_SSL: login 235")
        c.sendmail("sender@client.example", ["bob@test.example"],
                   message("implicit"))
    delivered(site, "implicit", True, True)

    # Implicit TLS with LOGIN.
    with smtplib.SMTP_SSL("127.0.0.1", tport, timeout=30, context=ctx,
                          source_address=(PLAIN_SRC, 0)) as c:
        c.ehlo("client.example")
        c.user, c.password = "alice", "alice-pw"
        code, _ = c.auth("LOGIN", c.auth_login)
        check(code == 235, "SMTP_SSL: AUTH LOGIN with initial response 235")

    # A big message through TLS: records of 16 KiB, more than the
    # session's input buffer takes at once.  Counted from what is there
    # (the IPv6 part, when it runs, has left one more).
    before = len(site.maildir("bob"))
    with smtplib.SMTP_SSL("127.0.0.1", tport, timeout=30, context=ctx,
                          source_address=(PLAIN_SRC, 0)) as c:
        c.sendmail("sender@client.example", ["bob@test.example"],
                   big_message("big-tls"))
    found = [m for m in site.wait_mail("bob", before + 1)
             if b"Message-ID: <big-tls@" in m]
    check(len(found) == 1 and body_of(found[0]) ==
          big_message("big-tls").replace("\r\n", "\n").encode(),
          "a 300 KB message through TLS arrives intact")

    # No TLS, no AUTH: plain mail for our domain.
    with smtplib.SMTP("127.0.0.1", port, timeout=30,
                      source_address=(PLAIN_SRC, 0)) as c:
        c.sendmail("sender@client.example", ["bob@test.example"],
                   message("clear"))
    delivered(site, "clear", False, False)


def scram_tests(site, port, tport):
    ctx = site.ctx()
    d = Dialogue("127.0.0.1", port, source=PLAIN_SRC, timeout=30)
    d.reply()
    d.cmd("EHLO client.example")
    d.starttls(ctx)
    ehlo = d.cmd("EHLO client.example")
    check("250-AUTH SCRAM-SHA-256 PLAIN LOGIN" in ehlo,
          "SCRAM: offered inside TLS", "(%r)" % ehlo)
    final, sig = scram_sha256(d.cmd, "alice", "alice-pw")
    expect(final, r"235 2\.7\.0", "SCRAM-SHA-256: 235 for alice")
    check(sig, "SCRAM-SHA-256: the server signature verifies")
    expect(d.cmd("MAIL FROM:<sender@client.example>"), "250", "SCRAM: MAIL")
    expect(d.cmd("RCPT TO:<bob@test.example>"), "250", "SCRAM: RCPT")
    expect(d.cmd("DATA"), "354", "SCRAM: DATA")
    expect(d.cmd(stuff(message("scram")) + "."), "250 2.0.0",
           "SCRAM: queued")
    d.cmd("QUIT")
    d.close()
    delivered(site, "scram", True, True)

    # Wrong password: the proof does not verify: 535, after a delay.
    d = Dialogue("127.0.0.1", tport, source=PLAIN_SRC, timeout=30)
    d.tls_handshake(ctx)
    d.reply()
    d.cmd("EHLO client.example")
    final, sig = scram_sha256(d.cmd, "alice", "not-her-password")
    expect(final, r"535 5\.7\.8", "SCRAM-SHA-256: wrong password 535")
    # An unknown user runs the same exchange and fails the same way.
    final, sig = scram_sha256(d.cmd, "mallory", "whatever")
    expect(final, r"535 5\.7\.8", "SCRAM-SHA-256: unknown user 535")
    # `*` cancels (RFC 4954 4).
    rep = d.cmd("AUTH SCRAM-SHA-256")
    expect(rep, "334", "SCRAM without initial response: empty 334")
    expect(d.cmd("*"), r"501 5\.7\.0", "AUTH cancelled with *: 501")
    expect(d.cmd("NOOP"), "250", "session goes on after the cancel")
    d.close()


def tls_pipelining(site, tport):
    """Many commands in big TLS records, replies read only at the end."""
    d = Dialogue("127.0.0.1", tport, source=PLAIN_SRC, timeout=30)
    d.tls_handshake(site.ctx())
    expect(d.reply(), "220", "TLS pipelining: greeted")
    n = 5000
    # HELO, not NOOP: NOOPs past 100 close the session (junk commands).
    d.send("HELO pipe.example\r\n" * n + "QUIT\r\n")
    got = []
    for _ in range(n):
        rep = d.reply()
        if not rep.startswith("250 "):
            got.append(rep)
            break
        got.append(rep)
    check(len(got) == n and got[-1].startswith("250 "),
          "TLS pipelining: all %d HELOs answered (%d)" % (n, len(got)),
          "(last %r)" % got[-1:])
    expect(d.reply(), "221", "TLS pipelining: QUIT answered last")
    d.close()


def concurrent_tls(site, port, tport):
    """Eight TLS clients at once, each sending five sizeable messages."""
    ctx = site.ctx()
    errors = []

    def client(n):
        try:
            if n % 2:
                c = smtplib.SMTP_SSL("127.0.0.1", tport, timeout=30,
                                     context=ctx,
                                     source_address=("127.0.0.%d" % (20 + n),
                                                     0))
            else:
                c = smtplib.SMTP("127.0.0.1", port, timeout=30,
                                 source_address=("127.0.0.%d" % (20 + n), 0))
                c.starttls(context=ctx)
            with c:
                c.login("alice", "alice-pw")
                for i in range(5):
                    c.sendmail("sender@client.example", ["many@test.example"],
                               big_message("c%d-%d" % (n, i), 40 + n * 9))
        except Exception as e:      # reported below
            errors.append("client %d: %r" % (n, e))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check(not errors, "eight concurrent TLS clients: no error", "%s" % errors)
    mails = site.wait_mail("many", 40)
    check(len(mails) == 40, "their 40 messages are delivered (%d)"
          % len(mails))
    want = {}
    for n in range(8):
        for i in range(5):
            want["c%d-%d" % (n, i)] = big_message(
                "c%d-%d" % (n, i), 40 + n * 9).replace("\r\n", "\n").encode()
    bad = [m[:200] for m in mails if body_of(m) not in want.values()]
    check(not bad, "all of them intact", "(%r)" % bad[:1])


def swaks_tests(site, port, tport):
    if shutil.which("swaks") is None:
        print("swaks not installed: its part skipped")
        return
    base = ["swaks", "--server", "127.0.0.1", "--from",
            "sender@client.example", "--to", "bob@test.example",
            "--helo", "swaks.example", "--timeout", "30"]
    runs = [
        ("swaks-tls-plain", ["--port", str(port), "--local-interface",
                             "127.0.0.3", "-tls", "-a", "PLAIN"]),
        ("swaks-tlsc-login", ["--port", str(tport), "--local-interface",
                              "127.0.0.4", "--tlsc", "-a", "LOGIN"]),
    ]
    for tag, args in runs:
        r = subprocess.run(base + args + [
            "--auth-user", "alice", "--auth-password", "alice-pw",
            "--header", "Message-ID: <%s@client.example>" % tag,
            "--body", "sent by swaks, %s" % tag],
            capture_output=True, text=True, timeout=60,
            stdin=subprocess.DEVNULL)
        out = r.stdout + r.stderr
        check(r.returncode == 0, "%s: swaks exits 0" % tag,
              "(%d)\n%s" % (r.returncode, out))
        if "-tls" in args:
            check("<-  220 2.0.0 Ready to start TLS" in out,
                  "%s: STARTTLS 220 seen by swaks" % tag, "\n" + out)
        check("=== TLS started with cipher TLSv1.2" in out,
              "%s: swaks negotiated TLS 1.2" % tag, "\n" + out)
        check("<~  235 2.7.0" in out, "%s: AUTH 235 inside TLS" % tag,
              "\n" + out)
        check("<~  250 2.0.0 Ok: queued as" in out,
              "%s: 250 queued inside TLS" % tag, "\n" + out)
        src = args[args.index("--local-interface") + 1]
        check(site.wait_log(r"127\.0\.0\.1:%d,%s:\d+,\*,\"AUTH %s as alice: "
                            r"success" % (port if tag.startswith(
                                "swaks-tls-") else tport,
                                src.replace(".", r"\."), args[-1]),
                            timeout=5) is not None,
              "%s: the log shows AUTH from %s" % (tag, src))
    for tag, _ in runs:
        found = site.wait_mail_with(
            "bob", ("<%s@client.example>" % tag).encode(), timeout=10)
        check(len(found) == 1 and b"sent by swaks, " + tag.encode() in
              found[0], "%s: delivered" % tag)

    # swaks with a wrong password: 535 and a non-zero exit.
    r = subprocess.run(base + ["--port", str(port), "--local-interface",
                               "127.0.0.3", "-tls", "-a", "PLAIN",
                               "--auth-user", "alice", "--auth-password",
                               "bad"], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    check(r.returncode != 0 and "<~* 535 5.7.8" in r.stdout + r.stderr,
          "swaks: wrong password 535", "(%d)\n%s" % (r.returncode,
                                                     r.stdout + r.stderr))


def s_client_tests(site, port):
    """openssl s_client -starttls smtp, fed one line at a time."""
    p = subprocess.Popen(
        ["openssl", "s_client", "-starttls", "smtp", "-connect",
         "127.0.0.1:%d" % port, "-bind", "127.0.0.5:0", "-quiet", "-crlf",
         "-ign_eof", "-CAfile", site.path("certs/ca.crt"),
         "-verify_hostname", "mx.test.example", "-verify_return_error"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    buf = b""
    out = []

    def read_reply(timeout=20):
        nonlocal buf
        deadline = time.time() + timeout
        while True:
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line = line.rstrip(b"\r").decode(errors="replace")
                out.append(line)
                if len(line) < 4 or line[3] != "-":
                    return line
            left = deadline - time.time()
            if left <= 0:
                return "<timeout>"
            r, _, _ = select.select([p.stdout], [], [], left)
            if not r:
                return "<timeout>"
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                return "<eof>"
            buf += chunk

    def send(line):
        p.stdin.write(line.encode() + b"\n")
        p.stdin.flush()

    try:
        # s_client has done EHLO and STARTTLS itself; TLS is up.
        send("EHLO sclient.example")
        expect(read_reply(), "250 HELP", "s_client: EHLO 250 inside TLS")
        check(any(l.startswith("250-AUTH ") for l in out),
              "s_client: AUTH offered inside TLS", "(%r)" % out)
        send("AUTH PLAIN " + plain_token("alice", "alice-pw"))
        expect(read_reply(), r"235 2\.7\.0", "s_client: AUTH PLAIN 235")
        send("MAIL FROM:<sender@client.example>")
        expect(read_reply(), r"250 2\.1\.0", "s_client: MAIL 250")
        send("RCPT TO:<bob@test.example>")
        expect(read_reply(), r"250 2\.1\.5", "s_client: RCPT 250")
        send("DATA")
        expect(read_reply(), "354", "s_client: DATA 354")
        for line in stuff(message("s-client")).split("\r\n")[:-1]:
            send(line)
        send(".")
        expect(read_reply(), r"250 2\.0\.0 Ok: queued as",
               "s_client: message queued")
        send("QUIT")
        expect(read_reply(), "221", "s_client: QUIT 221")
        p.stdin.close()
        rc = p.wait(20)
        check(rc == 0, "s_client: exits 0 (the certificate verified)",
              "(%d) %s" % (rc, p.stderr.read()[-500:]))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    delivered(site, "s-client", True, True)
    check(site.wait_log(r",127\.0\.0\.5:\d+,\*,TLS established: TLSv1\.2 ",
                        timeout=5) is not None,
          "s_client: the log names the TLS version for 127.0.0.5")


def v6_tests(site, v6port):
    """Implicit TLS on ::1, where `host ::1 require auth` applies."""
    with smtplib.SMTP_SSL("::1", v6port, timeout=30,
                          context=site.ctx()) as c:
        c.ehlo("client.example")
        code, text = c.docmd("MAIL", "FROM:<sender@client.example>")
        check(code == 530 and b"Authentication required" in text,
              "::1: the IPv6 host rule requires AUTH", "(%d %r)" % (code,
                                                                    text))
        c.login("alice", "alice-pw")
        c.sendmail("sender@client.example", ["bob@test.example"],
                   message("over-v6"))
    delivered(site, "over-v6", True, True)
    check(site.wait_log(r",\[::1\]:%d,\[::1\]:\d+,\*,\"admit, require auth: "
                        r"rule line \d+ \(host ::1 require auth\)" % v6port,
                        timeout=5) is not None,
          "::1: the log shows IPv6 endpoints and the rule")


def main():
    port, tport = free_port(), free_port()
    v6port = free_port("::1") if have_v6() else None
    site = Site(policy(port, tport, v6port), name="clients")
    try:
        site.start([("127.0.0.1", port), ("127.0.0.1", tport)] +
                   ([("::1", v6port)] if v6port else []))
        if v6port:
            v6_tests(site, v6port)
        else:
            print("no ::1 here: the IPv6 part is skipped")
        smtplib_tests(site, port, tport)
        scram_tests(site, port, tport)
        tls_pipelining(site, tport)
        concurrent_tls(site, port, tport)
        swaks_tests(site, port, tport)
        s_client_tests(site, port)
        log = site.log()
        for secret in ("alice-pw", "carol-pw", plain_token("alice",
                       "alice-pw")):
            check(secret not in log and secret not in site.stderr(),
                  "no password or AUTH payload in the logs (%s...)"
                  % secret[:6])
    finally:
        site.cleanup()


if __name__ == "__main__":
    run(main)
