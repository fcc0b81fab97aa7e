#!/usr/bin/python3
"""
integ_recipients: recipients lists and senders, as smtplib sees them.
Random local parts are refused at RCPT with 550 5.1.1 and make no
Maildir folder; known ones are delivered whatever their case;
postmaster always passes; guessing names reaches the error limit (421).
After AUTH, a user with `senders` may send only as those addresses, at
those domains, or as <>; a user without them as anyone.
"""
import os
import random
import smtplib
import string
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Site, Dialogue, check, expect, free_port, run,
                     verifier)

CLIENT = "127.0.0.21"


def policy(port, sport):
    return """server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d
    listen on 127.0.0.1 port %d require auth+tls
    tls certificate "certs/ec.crt" key "certs/ec.key"
    spool "var/spool"
    log "var/protocol.log"
}
default require none
user "alice" "%s" senders { alice@test.example  @ny.example }
user "bob" "%s"
recipients staff { alice bob Carol }
accept for test.example deliver maildir "var/mail/%%u" recipients <staff>
""" % (port, sport, verifier("alice-pw"), verifier("bob-pw"))


def rand_local():
    return "".join(random.choice(string.ascii_lowercase + string.digits)
                   for _ in range(12))


def smtp(port):
    s = smtplib.SMTP("127.0.0.1", port, source_address=(CLIENT, 0),
                     timeout=20)
    s.ehlo("client.example")
    return s


def test_unknown(site, port):
    s = smtp(port)
    code, _ = s.mail("sender@client.example")
    check(code == 250, "MAIL 250")
    names = [rand_local() for _ in range(3)]
    for n in names:
        code, msg = s.rcpt("%s@test.example" % n)
        check(code == 550 and msg.startswith(
            b"5.1.1 <%s@test.example>: Recipient address rejected: "
            b"User unknown" % n.encode()),
            "random local part %s: 550 5.1.1 User unknown" % n,
            "(%d %r)" % (code, msg))
    code, msg = s.rcpt("alice@test.example")
    check(code == 250, "then a known one: 250", "(%d %r)" % (code, msg))
    code, msg = s.data(b"Subject: after unknown ones\r\n\r\nhello\r\n")
    check(code == 250, "the message is taken", "(%d %r)" % (code, msg))
    s.quit()
    site.wait_mail("alice", 1)
    for n in names:
        check(not os.path.exists(site.path("var/mail/%s" % n)),
              "no Maildir made for %s" % n)
    m = site.wait_log(r',\*,"?RCPT %s@test\.example: user unknown, '
                      r'line 13, recipients staff line 12, '
                      r'table [0-9a-f]{16}'
                      % names[0])
    check(m is not None, "the refusal is logged with the rule's line",
          site.log()[-2000:])


def test_known(site, port):
    s = smtp(port)
    s.sendmail("sender@client.example",
               ["bob@test.example", "BOB@Test.Example", "carol@test.example",
                "CAROL@test.example"],
               b"Subject: known\r\n\r\nto known recipients\r\n")
    s.quit()
    check(len(site.wait_mail("bob", 2)) == 2,
          "bob and BOB delivered to var/mail/bob")
    check(len(site.wait_mail("carol", 2)) == 2,
          "carol (listed as Carol) delivered to var/mail/carol")


def test_postmaster(site, port):
    s = smtp(port)
    s.mail("sender@client.example")
    code, msg = s.rcpt("PostMaster@test.example")
    check(code == 250, "postmaster@ (any case) is taken though not listed",
          "(%d %r)" % (code, msg))
    code, msg = s.data(b"Subject: to postmaster\r\n\r\nhello\r\n")
    check(code == 250, "the message to postmaster is taken",
          "(%d %r)" % (code, msg))
    s.quit()
    check(len(site.wait_mail("postmaster", 1)) == 1,
          "delivered to var/mail/postmaster")


def test_harvest(site, port):
    """A directory harvest ends at the session's error limit."""
    d = Dialogue("127.0.0.1", port, source=CLIENT, timeout=20)
    expect(d.reply(), "220", "harvest: greeted")
    d.cmd("EHLO harvester.example")
    expect(d.cmd("MAIL FROM:<h@harvester.example>"), "250", "harvest: MAIL")
    for i in range(10):
        expect(d.cmd("RCPT TO:<%s@test.example>" % rand_local()),
               r"550 5\.1\.1 ", "harvest: unknown recipient %d refused"
               % (i + 1))
    expect(d.reply(), r"421 4\.7\.0 ",
           "harvest: the tenth unknown recipient ends the session: 421")
    check(d.closed(), "harvest: the connection is closed")
    d.close()


def submission(site, sport, user):
    s = smtplib.SMTP("127.0.0.1", sport, source_address=(CLIENT, 0),
                     timeout=20)
    s.ehlo("client.example")
    s.starttls(context=site.ctx())
    s.ehlo("client.example")
    s.login(user, user + "-pw")
    return s


def test_senders(site, sport):
    s = submission(site, sport, "alice")
    code, msg = s.mail("bob@test.example")
    check(code == 553 and msg == b"5.7.1 Sender address rejected: not "
          b"owned by user alice", "alice as bob: 553 5.7.1",
          "(%d %r)" % (code, msg))
    for sender in ("alice@test.example", "ALICE@Test.Example",
                   "anyone@ny.example", ""):
        code, msg = s.mail(sender)
        check(code == 250, "alice as <%s>: 250" % sender,
              "(%d %r)" % (code, msg))
        s.rset()
    for sender in ("alice@sub.ny.example", "alice@test.example.org"):
        code, msg = s.mail(sender)
        check(code == 553, "alice as <%s>: 553" % sender,
              "(%d %r)" % (code, msg))
    s.mail("alice@test.example")
    code, _ = s.rcpt("friend@elsewhere.example")
    check(code == 250, "alice may relay once the sender is hers")
    s.quit()
    m = site.wait_log(r',\*,"?MAIL FROM <bob@test\.example>: sender not '
                      r'owned by user alice, line 10, table [0-9a-f]{16}')
    check(m is not None, "the refusal is logged with the user's line")
    s = submission(site, sport, "bob")
    code, msg = s.mail("someone@anywhere.example")
    check(code == 250, "bob has no senders: any sender",
          "(%d %r)" % (code, msg))
    s.quit()


def main():
    random.seed()
    port, sport = free_port(), free_port()
    site = Site(policy(port, sport), name="rcpts")
    try:
        site.start([("127.0.0.1", port), ("127.0.0.1", sport)])
        test_unknown(site, port)
        test_known(site, port)
        test_postmaster(site, port)
        test_harvest(site, port)
        test_senders(site, sport)
    finally:
        site.cleanup()


if __name__ == "__main__":
    run(main)
