#!/usr/bin/python3
"""
integ_policy: the host rules as clients on different 127.x addresses
see them.  deny, require tls, require auth, auth+tls, relay, `as`
bindings, a listener's floor, AUTH kept out of clear connections unless
`auth cleartext`, and the auth-failure limit with its delays.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Site, Dialogue, check, expect, free_port, run,
                     verifier, plain_token, b64)

DENY, TLS, AUTH, CLEAR, BOTH, RELAY, BOUND, NONE = (
    "127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14",
    "127.0.0.15", "127.0.0.16", "127.0.0.17")


def policy(port, fport):
    return """server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d
    listen on 127.0.0.1 port %d require auth+tls
    tls certificate "certs/ec.crt" key "certs/ec.key"
    spool "var/spool"
    log "var/protocol.log"
    limit auth-failures 2
}
default require none
host %s deny
host %s require tls
host %s require auth auth cleartext
host %s auth cleartext
host %s require auth+tls
host %s require none relay
host %s require auth+tls as "alice"
user "alice" "%s"
user "bob" "%s"
accept for test.example deliver maildir "var/mail/%%u" recipients any
""" % (port, fport, DENY, TLS, AUTH, CLEAR, BOTH, RELAY, BOUND,
       verifier("alice-pw"), verifier("bob-pw"))


def session(site, port, src, tls=False):
    """A session from src, greeted and after EHLO (and STARTTLS)."""
    d = Dialogue("127.0.0.1", port, source=src, timeout=20)
    d.greeting = d.reply()
    d.ehlo = d.cmd("EHLO client.example")
    if tls:
        expect(d.starttls(site.ctx()), "220", "%s: STARTTLS 220" % src)
        d.ehlo = d.cmd("EHLO client.example")
    return d


def send_one(d, what, rcpt="bob@test.example"):
    expect(d.cmd("MAIL FROM:<sender@client.example>"), "250",
           "%s: MAIL 250" % what)
    expect(d.cmd("RCPT TO:<%s>" % rcpt), "250", "%s: RCPT 250" % what)
    expect(d.cmd("DATA"), "354", "%s: DATA 354" % what)
    expect(d.cmd("Subject: %s\r\n\r\nbody\r\n." % what), r"250 2\.0\.0",
           "%s: message queued" % what)


def test_deny(site, port):
    d = Dialogue("127.0.0.1", port, source=DENY)
    expect(d.reply(), r"554 5\.7\.1 ", "deny: 554 5.7.1 greeting")
    check(d.closed(), "deny: then the connection is closed")
    d.close()
    # The same host on the floor listener is refused the same way.


def test_require_tls(site, port):
    d = session(site, port, TLS)
    expect(d.greeting, "220 mx.test.example", "tls: greeted")
    check("250-STARTTLS" in d.ehlo, "tls: STARTTLS offered")
    for cmd in ("NOOP", "RSET", "HELO client.example"):
        expect(d.cmd(cmd), "250", "tls: %s answered before TLS" % cmd)
    d.cmd("EHLO client.example")
    for cmd in ("MAIL FROM:<a@client.example>", "RCPT TO:<bob@test.example>",
                "DATA", "VRFY bob", "HELP", "AUTH PLAIN " +
                plain_token("alice", "alice-pw")):
        expect(d.cmd(cmd), r"530 5\.7\.0 Must issue a STARTTLS command first",
               "tls: %s refused before TLS" % cmd.split()[0])
    expect(d.cmd("QUIT"), "221", "tls: QUIT answered before TLS")
    d.close()
    d = session(site, port, TLS, tls=True)
    send_one(d, "tls after STARTTLS")
    d.close()


def test_require_auth(site, port):
    # AUTH in clear, allowed here by `auth cleartext`.
    d = session(site, port, AUTH)
    check("250-AUTH SCRAM-SHA-256 PLAIN LOGIN" in d.ehlo,
          "auth cleartext: AUTH offered without TLS", "(%r)" % d.ehlo)
    expect(d.cmd("MAIL FROM:<a@client.example>"),
           r"530 5\.7\.0 Authentication required", "auth: MAIL before AUTH")
    expect(d.cmd("RCPT TO:<bob@test.example>"), "503",
           "auth: RCPT without a MAIL")
    expect(d.cmd("AUTH PLAIN " + plain_token("bob", "bob-pw")),
           r"235 2\.7\.0", "auth: AUTH PLAIN in the clear (cleartext rule)")
    send_one(d, "auth after AUTH")
    d.close()
    # `auth cleartext` alone: AUTH offered in clear, not required.
    d = session(site, port, CLEAR)
    check("250-AUTH " in d.ehlo, "auth cleartext without require: offered")
    send_one(d, "cleartext host without AUTH")
    d.close()


def test_no_auth_in_clear(site, port):
    d = session(site, port, NONE)
    check("AUTH" not in d.ehlo, "no AUTH offered in clear", "(%r)" % d.ehlo)
    expect(d.cmd("AUTH PLAIN " + plain_token("alice", "alice-pw")),
           r"538 5\.7\.11", "AUTH in clear refused: 538 5.7.11")
    expect(d.cmd("AUTH LOGIN"), r"538 5\.7\.11", "AUTH LOGIN in clear: 538")
    expect(d.starttls(site.ctx()), "220", "STARTTLS")
    ehlo = d.cmd("EHLO client.example")
    check("250-AUTH SCRAM-SHA-256 PLAIN LOGIN" in ehlo,
          "AUTH offered inside TLS", "(%r)" % ehlo)
    d.close()


def test_auth_tls(site, port):
    d = session(site, port, BOTH)
    check("AUTH" not in d.ehlo, "auth+tls: no AUTH in clear")
    expect(d.cmd("MAIL FROM:<a@client.example>"),
           r"530 5\.7\.0 Must issue a STARTTLS", "auth+tls: MAIL in clear")
    expect(d.cmd("AUTH PLAIN " + plain_token("alice", "alice-pw")),
           r"530 5\.7\.0 Must issue a STARTTLS", "auth+tls: AUTH in clear")
    expect(d.starttls(site.ctx()), "220", "auth+tls: STARTTLS")
    d.cmd("EHLO client.example")
    expect(d.cmd("MAIL FROM:<a@client.example>"),
           r"530 5\.7\.0 Authentication required",
           "auth+tls: MAIL in TLS before AUTH")
    # LOGIN, step by step.
    expect(d.cmd("AUTH LOGIN"), "334 VXNlcm5hbWU6", "auth+tls: LOGIN asks")
    expect(d.cmd(b64("bob")), "334 UGFzc3dvcmQ6", "auth+tls: LOGIN password")
    expect(d.cmd(b64("bob-pw")), r"235 2\.7\.0", "auth+tls: LOGIN 235")
    expect(d.cmd("AUTH PLAIN " + plain_token("bob", "bob-pw")), "503",
           "auth+tls: AUTH twice is 503")
    send_one(d, "auth+tls")
    d.close()


def test_relay(site, port):
    d = session(site, port, RELAY)
    expect(d.cmd("MAIL FROM:<a@client.example>"), "250", "relay host: MAIL")
    expect(d.cmd("RCPT TO:<someone@elsewhere.example>"), r"250 2\.1\.5",
           "relay host: a foreign domain is taken")
    d.close()
    d = session(site, port, NONE)
    d.cmd("MAIL FROM:<a@client.example>")
    expect(d.cmd("RCPT TO:<someone@elsewhere.example>"),
           r"554 5\.7\.1 <someone@elsewhere\.example>: Relay access denied",
           "other host: 554 5.7.1 Relay access denied")
    expect(d.cmd("RCPT TO:<bob@test.example>"), "250",
           "other host: our own domain is taken")
    d.close()
    d = session(site, port, NONE, tls=True)
    expect(d.cmd("AUTH PLAIN " + plain_token("alice", "alice-pw")), "235",
           "authenticated: AUTH")
    d.cmd("MAIL FROM:<a@client.example>")
    expect(d.cmd("RCPT TO:<someone@elsewhere.example>"), r"250 2\.1\.5",
           "authenticated client may relay")
    d.close()
    check(site.wait_log(r'RCPT someone@elsewhere\.example: relay denied: '
                        r'rule line 10 \(default require none\)') is not None,
          "the log says why relaying was denied, with the rule's line")


def test_as_binding(site, port):
    d = session(site, port, BOUND, tls=True)
    check("250-AUTH" in d.ehlo, "as: AUTH offered inside TLS")
    expect(d.cmd("AUTH PLAIN " + plain_token("bob", "bob-pw")),
           r"535 5\.7\.8", "as: another valid account fails with 535")
    expect(d.cmd("MAIL FROM:<a@client.example>"), "530",
           "as: still not authenticated")
    expect(d.cmd("AUTH PLAIN " + plain_token("alice", "alice-pw")),
           r"235 2\.7\.0", "as: the bound account succeeds")
    send_one(d, "as alice")
    d.close()
    check(site.wait_log(r"AUTH PLAIN as bob: failed: this host may use only "
                        r"its bound account") is not None,
          "as: the log says the account is not the bound one")


def test_floor(site, fport):
    d = session(site, fport, NONE)
    check("AUTH" not in d.ehlo, "floor: no AUTH in clear")
    expect(d.cmd("MAIL FROM:<a@client.example>"),
           r"530 5\.7\.0 Must issue a STARTTLS command first",
           "floor: require tls from the listener")
    expect(d.starttls(site.ctx()), "220", "floor: STARTTLS")
    d.cmd("EHLO client.example")
    expect(d.cmd("MAIL FROM:<a@client.example>"),
           r"530 5\.7\.0 Authentication required",
           "floor: require auth from the listener")
    expect(d.cmd("AUTH PLAIN " + plain_token("alice", "alice-pw")), "235",
           "floor: AUTH")
    send_one(d, "floor")
    d.close()
    check(site.wait_log(r'127\.0\.0\.17:\d+,\+,SMTP \(listener floor\)')
          is not None, "floor: the connect line names the floor")
    # deny beats the floor too.
    d = Dialogue("127.0.0.1", fport, source=DENY)
    expect(d.reply(), r"554 5\.7\.1", "floor: deny still wins")
    d.close()


def test_auth_failures(site, port):
    d = session(site, port, NONE, tls=True)
    # Another session must stay responsive while the failure waits.
    other = session(site, port, "127.0.0.18")
    t0 = time.time()
    d.send("AUTH PLAIN " + plain_token("alice", "wrong-1") + "\r\n")
    time.sleep(0.2)
    t1 = time.time()
    expect(other.cmd("NOOP"), "250", "another session answers meanwhile")
    check(time.time() - t1 < 0.5, "and promptly (%.2fs)" % (time.time() - t1))
    rep = d.reply()
    took = time.time() - t0
    expect(rep, r"535 5\.7\.8", "first wrong password: 535")
    check(0.9 <= took < 5, "the 535 waited on a timer, about a second "
          "(%.2fs)" % took)
    expect(d.cmd("NOOP"), "250", "the session goes on after one failure")
    t0 = time.time()
    rep = d.cmd("AUTH PLAIN " + plain_token("alice", "wrong-2"))
    took = time.time() - t0
    expect(rep, r"535 5\.7\.8", "second wrong password: 535")
    check(1.9 <= took < 8, "the second waits longer (%.2fs)" % took)
    expect(d.reply(), r"421 4\.7\.0 .*Too many authentication failures",
           "limit auth-failures 2: 421")
    check(d.closed(), "then the connection is closed")
    d.close()
    expect(other.cmd("QUIT"), "221", "the other session is unharmed")
    other.close()
    # LOGIN with a wrong password counts the same way.
    d = session(site, port, NONE, tls=True)
    d.cmd("AUTH LOGIN")
    d.cmd(b64("alice"))
    expect(d.cmd(b64("nope")), r"535 5\.7\.8", "LOGIN wrong password: 535")
    d.close()


def test_pipelined_auth(site, port):
    """Commands pipelined behind AUTH wait for its verdict, then run."""
    d = session(site, port, AUTH)
    d.send("AUTH PLAIN " + plain_token("alice", "alice-pw") + "\r\n"
           "MAIL FROM:<a@client.example>\r\n"
           "RCPT TO:<bob@test.example>\r\n"
           "DATA\r\n")
    reps = d.replies(4)
    for rep, pat, what in zip(reps, ("235", r"250 2\.1\.0", r"250 2\.1\.5",
                                     "354"), ("AUTH", "MAIL", "RCPT", "DATA")):
        expect(rep, pat, "pipelined behind AUTH: %s" % what)
    expect(d.cmd("Subject: pipelined auth\r\n\r\nbody\r\n."), "250",
           "pipelined behind AUTH: queued")
    d.close()
    # Behind a failing AUTH, inside TLS: the 535 comes first, late.
    d = session(site, port, BOTH, tls=True)
    t0 = time.time()
    d.send("AUTH PLAIN " + plain_token("alice", "bad") + "\r\n"
           "MAIL FROM:<a@client.example>\r\nNOOP\r\n")
    reps = d.replies(3)
    expect(reps[0], "535", "pipelined behind a failing AUTH: 535 first")
    expect(reps[1], r"530 5\.7\.0 Authentication required",
           "then MAIL is refused")
    expect(reps[2], "250", "then NOOP")
    check(time.time() - t0 >= 0.9, "after the failure's delay")
    d.close()


def main():
    port, fport = free_port(), free_port()
    site = Site(policy(port, fport), name="policy")
    try:
        site.start([("127.0.0.1", port), ("127.0.0.1", fport)])
        test_deny(site, port)
        test_require_tls(site, port)
        test_require_auth(site, port)
        test_no_auth_in_clear(site, port)
        test_auth_tls(site, port)
        test_relay(site, port)
        test_as_binding(site, port)
        test_floor(site, fport)
        test_auth_failures(site, port)
        test_pipelined_auth(site, port)
        mails = site.wait_mail("bob", 7)
        check(len(mails) == 7, "all accepted messages delivered (%d)"
              % len(mails))
        log = site.log()
        for secret in ("alice-pw", "bob-pw", plain_token("alice", "alice-pw"),
                       plain_token("bob", "bob-pw"), b64("bob-pw"),
                       plain_token("alice", "wrong-1")):
            check(secret not in log and secret not in site.stderr(),
                  "the password or AUTH payload %s... is not logged"
                  % secret[:8])
        check(",<,AUTH PLAIN ****" in log, "AUTH payloads logged as ****")
    finally:
        site.cleanup()


if __name__ == "__main__":
    run(main)
