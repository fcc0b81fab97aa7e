#!/usr/bin/python3
"""
integ_loops: mail loops (RFC 5321 6.3) end at the gateway.

- Inbound: a message whose header block holds more than 100 Received
  headers is refused at the final dot with 554 5.4.6 and not stored,
  whether it comes in one piece (smtplib) or split anywhere, even
  inside the word "Received", with folded lines, any case and blanks
  before the colon (a raw dialogue); 100 are taken, and so are any
  number of Received lines in the body.
- Outbound: a next hop that is the gateway itself (a `via' address
  and port it listens on, an MX that resolves to it, the best MX when
  a worse one is another host) bounces at once with 5.4.6 "mail for D
  loops back to myself"; the gateway never connects to itself.  An MX
  better than the gateway's own is still used.  Before, such a route
  went round the gateway until the hop count ran out.
"""
import email
import email.policy
import os
import re
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, Dialogue, check, expect, free_port, run
from out_lib import AioPeer, Dnsmasq, alive, send, wait_for


def policy(port, extra=""):
    return """server {
    hostname "gw.test.example"
    listen on 127.0.0.1 port %d
    spool "var/spool"
    log "var/protocol.log"
    queue lifetime 1h retry 1m
}
default require none
host 127.0.0.0/8 require none relay
accept for test.example deliver maildir "var/mail/%%u" recipients any
outbound loop.example via 127.0.0.1 port %d tls none
outbound mxloop.example via mx port %d tls none
outbound mixed.example via mx port %d tls none
outbound worst.example via mx port %d tls none
%s""" % (port, port, port, port, port, extra)


def hops_message(n, body_hops=0, tag="hops"):
    head = b"".join(b"Received: from h%d.example by h%d.example; "
                    b"Mon, 1 Jan 2024 00:00:00 +0000\r\n" % (i, i + 1)
                    for i in range(n))
    body = b"".join(b"Received: quoted in the body %d\r\n" % i
                    for i in range(body_hops))
    return (head + b"From: <alice@test.example>\r\n"
            b"Subject: %s\r\n\r\n" % tag.encode() + body + b"Hello.\r\n")


def inbound(site, port):
    # 101 in one piece: refused, nothing stored.
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
        c.ehlo("client.test.example")
        try:
            c.sendmail("alice@test.example", ["bob@test.example"],
                       hops_message(101, tag="many"))
            got = None
        except smtplib.SMTPDataError as e:
            got = (e.smtp_code, e.smtp_error.decode())
        check(got is not None and got[0] == 554 and
              got[1].startswith("5.4.6 Too many hops"),
              "101 Received headers: 554 5.4.6 Too many hops", repr(got))
        # The session goes on: 100 are taken.
        refused = c.sendmail("alice@test.example", ["bob@test.example"],
                             hops_message(100, tag="hundred"))
        check(refused == {}, "100 Received headers are taken")
        refused = c.sendmail("alice@test.example", ["bob@test.example"],
                             hops_message(3, body_hops=150, tag="quoted"))
        check(refused == {}, "Received lines in the body do not count")

    # Split anywhere, folded, any case: 101 counted the same.
    lines = []
    for i in range(101):
        name = ("Received", "RECEIVED", "received ", "ReCeIvEd\t")[i % 4]
        lines.append(b"%s: from h%d.example\r\n\t(folded; Received: no)"
                     b"\r\n" % (name.encode(), i))
        lines.append(b"X-Received: not one\r\n Received: nor this\r\n")
    data = b"".join(lines) + b"Subject: split\r\n\r\nHi.\r\n.\r\n"
    d = Dialogue("127.0.0.1", port)
    expect(d.reply(), r"^220 ", "greeting")
    expect(d.cmd("EHLO client.test.example"), r"^250", "EHLO")
    expect(d.cmd("MAIL FROM:<alice@test.example>"), r"^250", "MAIL")
    expect(d.cmd("RCPT TO:<bob@test.example>"), r"^250", "RCPT")
    expect(d.cmd("DATA"), r"^354", "DATA")
    cut = data.index(b"Received: from h48.") + 4      # inside the name
    for piece in (data[:cut], data[cut:cut + 3], data[cut + 3:]):
        d.send(piece)
        time.sleep(0.2)
    expect(d.reply(), r"^554 5\.4\.6 ", "split, folded, any case: 554")
    expect(d.cmd("QUIT"), r"^221", "QUIT")
    d.close()

    got = site.wait_mail("bob", 2)
    time.sleep(0.5)
    got = site.maildir("bob")
    subjects = sorted(re.search(rb"^Subject: (\S+)", m, re.M).group(1)
                      for m in got)
    check(subjects == [b"hundred", b"quoted"],
          "only the messages taken are delivered", repr(subjects))
    check(site.log().count("too many Received headers") == 2,
          "the protocol log says why, once a refusal", site.log()[-2000:])


def bounces(site):
    out = {}
    for raw in site.maildir("alice"):
        m = email.message_from_bytes(raw, policy=email.policy.compat32)
        if m.get_content_type() == "multipart/report":
            text = raw.decode("utf-8", "replace").replace("\r\n", "\n")
            for dom in ("loop.example", "mxloop.example", "mixed.example",
                        "worst.example"):
                if "Final-Recipient: rfc822; x@%s\n" % dom in text:
                    out[dom] = text
    return out


def outbound(site, port, peer):
    before = connects(site, port)
    for dom in ("loop.example", "mxloop.example", "worst.example",
                "mixed.example"):
        refused = send(port, "alice@test.example", ["x@" + dom],
                       b"Subject: to %s\r\n\r\nHi.\r\n" % dom.encode())
        check(refused == {}, "mail for %s taken" % dom)
    wait_for(lambda: len(bounces(site)) >= 3 and len(peer.mails) >= 1, 20)
    time.sleep(0.5)
    b = bounces(site)
    for dom in ("loop.example", "mxloop.example", "worst.example"):
        text = b.get(dom, "")
        check("Status: 5.4.6" in text and
              "mail for %s loops back to myself" % dom in text,
              "%s: bounced at once, 5.4.6, loops back to myself" % dom,
              text[-1500:])
    check("mixed.example" not in b and len(peer.mails) == 1 and
          peer.mails[0]["to"] == ["x@mixed.example"],
          "an MX better than the gateway is still used",
          repr(peer.mails)[:500])
    n = connects(site, port) - before
    check(n == 4, "the gateway never connected to itself (%d inbound "
          "sessions for 4 messages)" % n, site.log()[-3000:])


def connects(site, port):
    """Inbound connections to the gateway's listener."""
    return len([l for l in site.log().splitlines()
                if l.split(",")[2:5:2] == ["127.0.0.1:%d" % port, "+"]])


def main():
    port = free_port()
    site = Site(policy(port), name="loops")
    dns = peer = None
    try:
        peer = AioPeer(host="127.0.0.2", port=port)
        dns = Dnsmasq(site.dir, [
            "--host-record=gw.test.example,127.0.0.1",
            "--host-record=other.test.example,127.0.0.2",
            "--mx-host=mxloop.example,gw.test.example,10",
            "--mx-host=mixed.example,other.test.example,10",
            "--mx-host=mixed.example,gw.test.example,20",
            "--mx-host=worst.example,gw.test.example,10",
            "--mx-host=worst.example,other.test.example,20"])
        site.start([("127.0.0.1", port)], env=dns.env())
        inbound(site, port)
        outbound(site, port, peer)
        alive(site)
    finally:
        if dns:
            dns.stop()
        if peer:
            peer.stop()
        site.cleanup()


if __name__ == "__main__":
    run(main)
