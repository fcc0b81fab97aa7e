#!/usr/bin/python3
"""
integ_size: the message-size limit is the SIZE bastiond advertises, and
only the client's bytes count against it (RFC 1870): the Received
header bastiond adds does not.  With `limit message-size 4K`, smtplib
sends a message of exactly 4096 bytes (accepted, stored whole) and one
of 4097 (552 5.3.4); SIZE=4096 in MAIL is taken and SIZE=4097 refused.
A line of 998 characters that starts with a dot is within RFC 5321's
line limit: the dot a client doubles for transparency is not counted.
"""
import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, Dialogue, body_of, check, expect, free_port, run

LIMIT = 4096


def policy(port):
    return """server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d
    spool "var/spool"
    log "var/protocol.log"
    limit message-size 4K
}
default require none
accept for test.example deliver maildir "var/mail/%%u" recipients any
""" % port


def message(tag, size):
    """A message of exactly size bytes, CRLF lines, ending in CRLF."""
    head = ("Subject: %s\r\nFrom: a@client.example\r\n\r\n" % tag).encode()
    line = b"x" * 70 + b"\r\n"
    body = head
    while len(body) + len(line) <= size - 2:
        body += line
    body += b"y" * (size - 2 - len(body)) + b"\r\n"
    assert len(body) == size
    return body


def send(port, rcpt, msg, size=None):
    """smtplib: returns (code, reply) of the DATA phase."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30,
                      source_address=("127.0.0.2", 0)) as c:
        c.ehlo("client.example")
        check(c.has_extn("size") and
              c.esmtp_features["size"] == str(LIMIT),
              "EHLO advertises SIZE %d" % LIMIT,
              "(%r)" % c.esmtp_features.get("size"))
        opts = ["SIZE=%d" % size] if size is not None else []
        code, rep = c.mail("a@client.example", opts)
        if code != 250:
            return code, rep
        code, rep = c.rcpt(rcpt)
        if code != 250:
            return code, rep
        return c.data(msg)


def main():
    port = free_port()
    site = Site(policy(port), certs=False, name="size")
    try:
        site.start([("127.0.0.1", port)])
        exact = message("exact", LIMIT)
        code, rep = send(port, "exact@test.example", exact, LIMIT)
        check(code == 250, "a message of exactly SIZE bytes is accepted",
              "(%d %r)" % (code, rep))
        got = site.wait_mail("exact", 1)
        check(len(got) == 1 and
              body_of(got[0]) == exact.replace(b"\r\n", b"\n"),
              "and stored whole, after our Received header",
              "(%r)" % (got[:1],))
        check(site.wait_log(r"queued as \w+, %d bytes" % LIMIT) is not None,
              "the log counts the client's %d bytes" % LIMIT)

        code, rep = send(port, "over@test.example", message("over",
                         LIMIT + 1))
        check(code == 552 and rep.startswith(b"5.3.4"),
              "SIZE + 1 bytes: 552 5.3.4", "(%d %r)" % (code, rep))
        code, rep = send(port, "over@test.example", exact, LIMIT + 1)
        check(code == 552, "MAIL SIZE=%d: 552" % (LIMIT + 1),
              "(%d %r)" % (code, rep))
        check(site.maildir("over") == [], "nothing over the limit stored")

        # smtplib doubles the leading dot: 999 bytes on the wire.
        dotted = (b"Subject: dots\r\n\r\n." + b"d" * 997 + b"\r\n")
        code, rep = send(port, "dots@test.example", dotted)
        check(code == 250, "a 998-byte line starting with a dot is "
              "accepted", "(%d %r)" % (code, rep))
        got = site.wait_mail("dots", 1)
        check(len(got) == 1 and body_of(got[0]) ==
              dotted.replace(b"\r\n", b"\n"), "and stored unstuffed")
        d = Dialogue("127.0.0.1", port, source="127.0.0.2")
        d.reply()
        d.cmd("EHLO client.example")
        d.cmd("MAIL FROM:<a@client.example>")
        d.cmd("RCPT TO:<dots@test.example>")
        expect(d.cmd("DATA"), "354", "DATA")
        expect(d.cmd(".." + "d" * 998 + "\r\n."), r"500 5\.5\.2",
               "999 bytes after the stuffed dot: line too long")
        d.close()
        check(not re.search(r"5\.3\.4", site.log().split("exact")[0]),
              "no size refusal before the over-limit tries")
    finally:
        site.cleanup()


if __name__ == "__main__":
    run(main)
