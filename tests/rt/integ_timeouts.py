#!/usr/bin/python3
"""
integ_timeouts: timeouts and connection limits.  With `timeout command
2s` and `timeout data 3s`: an idle client gets 421 4.4.2, a client that
drips a command one byte at a time does not stretch it past the
timeout, a stalled DATA ends at the data timeout and stores nothing.
With `limit connections 4 per-host 2`: the third connection from one
address and the fifth in all get 421 4.7.0.
"""
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, Dialogue, check, expect, free_port, run


def policy(port):
    # No hostname: bastiond names itself with gethostname().
    return """server {
    listen on 127.0.0.1 port %d
    spool "var/spool"
    log "var/protocol.log"
    timeout command 2s
    timeout data 3s
    limit connections 4 per-host 2
}
default require none
accept for test.example deliver maildir "var/mail/%%u" recipients any
""" % port


def timed_reply(d):
    t0 = time.time()
    rep = d.reply()
    return rep, time.time() - t0


def limits(site, port):
    opened = []
    try:
        a1 = Dialogue("127.0.0.1", port, source="127.0.0.20")
        a2 = Dialogue("127.0.0.1", port, source="127.0.0.20")
        opened += [a1, a2]
        expect(a1.reply(), "220", "per-host: first from .20")
        expect(a2.reply(), "220", "per-host: second from .20")
        a3 = Dialogue("127.0.0.1", port, source="127.0.0.20")
        opened.append(a3)
        expect(a3.reply(), r"421 4\.7\.0 Too many connections from your "
               r"address", "per-host: the third from .20 gets 421 4.7.0")
        check(a3.closed(), "per-host: and is closed")
        b1 = Dialogue("127.0.0.1", port, source="127.0.0.21")
        b2 = Dialogue("127.0.0.1", port, source="127.0.0.22")
        opened += [b1, b2]
        expect(b1.reply(), "220", "total: third session (from .21)")
        expect(b2.reply(), "220", "total: fourth session (from .22)")
        c = Dialogue("127.0.0.1", port, source="127.0.0.23")
        opened.append(c)
        expect(c.reply(), r"421 4\.7\.0 Too many connections",
               "total: the fifth gets 421 4.7.0")
        check(c.closed(), "total: and is closed")
        expect(a1.cmd("NOOP"), "250", "the admitted sessions go on")
        expect(a1.cmd("QUIT"), "221", "one leaves")
        check(a1.closed(), "it is closed")
        time.sleep(0.2)
        a4 = Dialogue("127.0.0.1", port, source="127.0.0.20")
        opened.append(a4)
        expect(a4.reply(), "220", "its place is free again")
    finally:
        for d in opened:
            d.close()
    check(site.wait_log(r"127\.0\.0\.20:\d+,-,refused") is not None,
          "refusals are in the protocol log")
    time.sleep(0.3)      # let the closes be seen before the next test


def no_hostname(site, port):
    """Without `hostname`, every reply that names us uses the system's."""
    me = socket.gethostname()
    d = Dialogue("127.0.0.1", port, source="127.0.0.34")
    expect(d.reply(), "220 %s ESMTP" % re.escape(me), "greeting names %s"
           % me)
    for i in range(9):
        d.cmd("BOGUS")
    expect(d.cmd("BOGUS"), r"500 5\.5\.1", "tenth bad command: 500")
    expect(d.reply(), r"421 4\.7\.0 %s Too many errors" % re.escape(me),
           "then 421 naming %s" % me)
    d.close()


def idle(site, port):
    d = Dialogue("127.0.0.1", port, source="127.0.0.30")
    expect(d.reply(), "220", "idle: greeted")
    rep, took = timed_reply(d)
    expect(rep, r"421 4\.4\.2 %s Timeout" % re.escape(socket.gethostname()),
           "idle: 421 4.4.2 after the command timeout")
    check(1.5 <= took < 6, "idle: after about 2 s (%.2fs)" % took)
    check(d.closed(), "idle: then closed")
    d.close()


def slow_drip(site, port):
    d = Dialogue("127.0.0.1", port, source="127.0.0.31")
    expect(d.reply(), "220", "drip: greeted")
    t0 = time.time()
    line = b"EHLO a-rather-long-name-dripped-slowly.example\r\n"
    got = b""
    d.s.settimeout(0.5)
    for i in range(len(line)):           # at most ~25 s, ends sooner
        try:
            d.s.send(line[i:i + 1])
        except OSError:
            break
        try:
            got += d.s.recv(4096)
        except OSError:
            pass
        if b"\r\n" in got:
            break
    took = time.time() - t0
    check(got.startswith(b"421 4.4.2"), "drip: one byte per 0.5 s still "
          "gets 421 4.4.2", "(%r)" % got)
    check(took < 6, "drip: the dripped bytes did not extend the timeout "
          "(%.2fs)" % took)
    d.close()


def data_timeout(site, port):
    d = Dialogue("127.0.0.1", port, source="127.0.0.32")
    d.reply()
    d.cmd("EHLO client.example")
    d.cmd("MAIL FROM:<a@client.example>")
    d.cmd("RCPT TO:<stalled@test.example>")
    expect(d.cmd("DATA"), "354", "data: DATA")
    d.send("Subject: stalled\r\n\r\nhalf a message\r\n")
    rep, took = timed_reply(d)
    expect(rep, r"421 4\.4\.2", "data: 421 4.4.2 when the body stalls")
    check(2.5 <= took < 8, "data: after the data timeout, about 3 s "
          "(%.2fs)" % took)
    check(d.closed(), "data: then closed")
    d.close()
    check(site.wait_log(r"127\.0\.0\.32:\d+,-,timeout during DATA")
          is not None, "data: the log says the timeout hit during DATA")

    # Dripping the body: the data timeout still holds in total.
    d = Dialogue("127.0.0.1", port, source="127.0.0.33")
    d.reply()
    d.cmd("EHLO client.example")
    d.cmd("MAIL FROM:<a@client.example>")
    d.cmd("RCPT TO:<stalled@test.example>")
    d.cmd("DATA")
    t0 = time.time()
    got = b""
    d.s.settimeout(0.5)
    for i in range(30):                  # at most ~15 s, ends sooner
        try:
            d.s.send(b"line %d\r\n" % i)
            got += d.s.recv(4096)
        except OSError:
            pass
        if b"\r\n" in got:
            break
    took = time.time() - t0
    check(got.startswith(b"421 4.4.2") and took < 8,
          "data: a dripped body ends at the data timeout (%.2fs)" % took,
          "(%r)" % got)
    d.close()
    time.sleep(0.3)
    check(site.maildir("stalled") == [], "data: nothing was stored")


def main():
    port = free_port()
    site = Site(policy(port), certs=False, name="timeouts")
    try:
        site.start([("127.0.0.1", port)])
        time.sleep(0.3)     # the start probe's session must be gone
        limits(site, port)
        no_hostname(site, port)
        threads = [threading.Thread(target=f, args=(site, port))
                   for f in (idle, slow_drip, data_timeout)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        site.cleanup()


if __name__ == "__main__":
    run(main)
