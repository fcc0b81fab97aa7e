#!/usr/bin/python3
"""
out_loop: mail loops (RFC 5321 6.3).  A route whose next hop is the
gateway's own listener (an address and port it listens on) bounces at
once with 5.4.6, "loops back to myself", instead of coming back in and
going out again; and a message that arrives with more than 100
Received header fields is refused at the final dot with 554 5.4.6 and
not stored, while 100 are taken.
"""
import os
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, check, free_port, run
from out_lib import message, send, server_block, wait_for

CONF = "queue lifetime 1h retry 1s\ntimeout connect 2s"


def hops(n):
    return b"".join(b"Received: from hop%d.example by x; "
                    b"Mon, 01 Jan 2024 00:00:00 +0000\r\n" % i
                    for i in range(n))


def main():
    port = free_port()
    policy = server_block(port, CONF) + (
        "outbound loop.example via 127.0.0.1 port %d tls none\n" % port)
    site = Site(policy, name="loop")
    try:
        site.start([("127.0.0.1", port)])
        refused = send(port, "alice@local.example", ["bob@loop.example"],
                       message("loop", to="bob@loop.example"))
        check(refused == {}, "the message for loop.example is taken")
        mails = wait_for(lambda: site.maildir("alice") or None, 15) or []
        text = b"".join(mails).decode("utf-8", "replace")
        check(len(mails) == 1 and "5.4.6" in text and
              "loops back to myself" in text,
              "one bounce to the sender, 5.4.6, loops back to myself",
              text[:400])
        time.sleep(1.5)
        log = site.log()
        check(log.count("bob@loop.example") <= 4 and
              len(site.maildir("alice")) == 1,
              "no second pass: the message did not come back in",
              "%d mentions" % log.count("bob@loop.example"))

        # Over 100 Received fields: a loop elsewhere, refused.
        body = message("hops100", to="carol@local.example")
        try:
            send(port, "x@client.example", ["carol@local.example"],
                 hops(100) + body)
            ok100 = True
        except smtplib.SMTPException as e:
            ok100 = False
            print(repr(e))
        check(ok100, "100 Received fields: taken")
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
            c.ehlo("client.test.example")
            c.mail("x@client.example")
            c.rcpt("carol@local.example")
            code, text = c.data(hops(101) + message(
                "hops101", to="carol@local.example"))
            check(code == 554 and text.startswith(b"5.4.6"),
                  "101 Received fields: 554 5.4.6", "%d %r" % (code, text))
            code, _ = c.noop()
            check(code == 250, "the session goes on")
        got = wait_for(lambda: site.maildir("carol") or None, 15) or []
        time.sleep(0.5)
        got = site.maildir("carol")
        check(len(got) == 1 and b"hops100" in got[0],
              "only the 100-hop message is delivered", "%d" % len(got))
    finally:
        site.cleanup()


if __name__ == "__main__":
    run(main)
