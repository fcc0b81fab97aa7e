#!/usr/bin/python3
"""
integ_postmaster: the RCPT decision and routing see one domain for a
recipient.  A bare RCPT TO:<postmaster> is the local postmaster (RFC
5321 4.5.1): with `accept for HOSTNAME forward to ...` it reaches that
internal server as postmaster@HOSTNAME, never the `outbound *` route;
when the hostname is no accept domain it is refused at RCPT with 550
5.1.1, even for a client that may relay.  MAIL FROM:<postmaster> has no
domain and is refused.  An '@' in a quoted local part, the domain's
case, a trailing dot and an address literal are each decided and routed
alike.  The next hops are aiosmtpd servers on loopback.
"""
import os
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, Dialogue, check, expect, free_port, run
from out_lib import AioPeer, server_block, wait_for

HOST = "gw.test.example"


def policy(port, fwd, star, accept_host=True, relay=False):
    text = server_block(port, hostname=HOST, relay=relay)
    if accept_host:
        text += ("accept for %s forward to 127.0.0.1 port %d tls none "
                 "recipients any\n" % (HOST, fwd))
    text += "outbound * via 127.0.0.1 port %d tls none\n" % star
    return text


def msg(tag):
    return (b"From: a@client.example\r\nSubject: %s\r\n\r\nbody of %s\r\n"
            % (tag.encode(), tag.encode()))


def sent(peer, tag):
    return [m for m in peer.mails if b"Subject: %s\r\n" % tag.encode()
            in m["body"]]


def submit(port, rcpt, tag, sender="a@client.example"):
    """smtplib, with the RCPT sent verbatim: (code, text) of the first
    refusal, or of DATA."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
        c.ehlo("client.example")
        code, text = c.docmd("MAIL FROM:<%s>" % sender)
        if code != 250:
            return code, text
        code, text = c.docmd("RCPT TO:<%s>" % rcpt)
        if code != 250:
            return code, text
        return c.data(msg(tag))


def accepted_host(port, fwd, star):
    """The hostname is an accept domain, forwarded: postmaster goes there."""
    code, text = submit(port, "postmaster", "bare")
    check(code == 250, "bare postmaster from a client that may not relay: "
          "accepted", "(%d %r)" % (code, text))
    got = wait_for(lambda: sent(fwd, "bare"), 20)
    check(got and got[0]["to"] == ["postmaster@%s" % HOST],
          "it reaches the hostname's forward target as postmaster@%s"
          % HOST, "(%r)" % (got and got[0]["to"]))
    code, text = submit(port, "PostMaster", "bare2")
    check(code == 250, "PostMaster in any case: accepted")
    got = wait_for(lambda: sent(fwd, "bare2"), 20)
    check(got and got[0]["to"] == ["postmaster@%s" % HOST],
          "as postmaster@%s too" % HOST, "(%r)" % (got and got[0]["to"]))

    # The same domain whatever the spelling: decided and routed alike.
    code, text = submit(port, '"x@elsewhere.example"@%s' % HOST, "quoted")
    check(code == 250, "an '@' in a quoted local part: accepted for "
          "the domain after the last '@'", "(%d %r)" % (code, text))
    got = wait_for(lambda: sent(fwd, "quoted"), 20)
    check(len(got) == 1, "and routed by that same domain")
    code, text = submit(port, "Bob@GW.Test.EXAMPLE", "case")
    check(code == 250, "the domain in another case: accepted")
    got = wait_for(lambda: sent(fwd, "case"), 20)
    check(len(got) == 1, "and forwarded like the lower-case one")

    code, text = submit(port, "bob@%s." % HOST, "dot")
    check(code == 501, "a trailing dot: 501", "(%d %r)" % (code, text))
    code, text = submit(port, "postmaster@[127.0.0.1]", "literal")
    check(code == 554, "an address literal is no accept domain: relay "
          "denied", "(%d %r)" % (code, text))
    code, text = submit(port, "bob@%s" % HOST, "nosender",
                        sender="postmaster")
    check(code == 501, "MAIL FROM:<postmaster>, no domain: 501",
          "(%d %r)" % (code, text))
    check(star.mails == [], "nothing went out by outbound *",
          "(%r)" % [m["to"] for m in star.mails])


def other_host(port, star):
    """The hostname is no accept domain: postmaster is refused at RCPT."""
    d = Dialogue("127.0.0.1", port)
    d.reply()
    d.cmd("EHLO client.example")
    expect(d.cmd("MAIL FROM:<a@client.example>"), "250", "MAIL")
    expect(d.cmd("RCPT TO:<postmaster>"), r"550 5\.1\.1 <postmaster>",
           "no accept rule for the hostname: bare postmaster 550 5.1.1, "
           "even from a relay host")
    expect(d.cmd("RCPT TO:<someone@remote.example>"), "250",
           "while the client may relay otherwise")
    d.cmd("QUIT")
    d.close()
    check(star.mails == [], "nothing went out by outbound *")


def main():
    fwd = star = None
    sites = []
    try:
        fwd, star = AioPeer(), AioPeer()
        port = free_port()
        a = Site(policy(port, fwd.port, star.port), name="postmaster")
        sites.append(a)
        a.start([("127.0.0.1", port)])
        accepted_host(port, fwd, star)
        check(a.wait_log(r"RCPT postmaster: accept") is not None,
              "the log has the decision")

        port2 = free_port()
        b = Site(policy(port2, fwd.port, star.port, accept_host=False,
                        relay=True), name="postmaster2")
        sites.append(b)
        b.start([("127.0.0.1", port2)])
        other_host(port2, star)
        check(b.wait_log(r"RCPT <postmaster>: refused, %s is not a domain "
                         r"we accept mail for" % HOST.replace(".", r"\."))
              is not None,
              "the log says why")
    finally:
        for s in sites:
            s.cleanup()
        for p in (fwd, star):
            if p is not None:
                p.stop()


if __name__ == "__main__":
    run(main)
