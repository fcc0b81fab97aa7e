#!/usr/bin/python3
"""
integ_data_time: `timeout data` is the time DATA may go without
progress, not a cap on the whole of it.  With `timeout data 2s`: a
client that trickles a message over three times that is accepted and
stored whole; one that stalls is cut with 421 4.4.2 after about 2 s; one
that drips a byte a second, which never lets the timeout run out, is
cut with 421 4.4.2 when DATA has lasted ten times the timeout (20 s).
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, Dialogue, body_of, check, expect, free_port, run

TIMEOUT = 2
SPAN = 10        # SESSION_DATA_SPAN


def policy(port):
    return """server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d
    spool "var/spool"
    log "var/protocol.log"
    timeout command 60s
    timeout data %ds
}
default require none
accept for test.example deliver maildir "var/mail/%%u" recipients any
""" % (port, TIMEOUT)


def start_data(port, src, rcpt):
    d = Dialogue("127.0.0.1", port, source=src, timeout=60)
    d.reply()
    d.cmd("EHLO client.example")
    expect(d.cmd("MAIL FROM:<a@client.example>"), "250", "%s: MAIL" % rcpt)
    expect(d.cmd("RCPT TO:<%s@test.example>" % rcpt), "250",
           "%s: RCPT" % rcpt)
    expect(d.cmd("DATA"), "354", "%s: DATA" % rcpt)
    return d


def trickle(site, port):
    """A slow but steady client: 24 pieces 0.25 s apart (6 s)."""
    d = start_data(port, "127.0.0.40", "slow")
    msg = b"Subject: slow\r\n\r\n" + b"".join(
        b"line %02d of a message sent slowly\r\n" % i for i in range(40))
    step = len(msg) // 24 + 1
    t0 = time.time()
    for i in range(0, len(msg), step):
        d.send(msg[i:i + step])
        time.sleep(0.25)
    rep = d.cmd(".")
    took = time.time() - t0
    expect(rep, "250", "trickle: a message sent over %.1f s (timeout "
           "data %ds) is accepted" % (took, TIMEOUT))
    check(took > 2 * TIMEOUT, "trickle: it did take longer than the "
          "timeout (%.1f s)" % took)
    got = site.wait_mail("slow", 1)
    check(len(got) == 1 and body_of(got[0]) == msg.replace(b"\r\n", b"\n"),
          "trickle: stored whole")
    d.close()


def stall(site, port):
    d = start_data(port, "127.0.0.41", "stalled")
    d.send("Subject: stalled\r\n\r\nhalf a message\r\n")
    t0 = time.time()
    rep = d.reply()
    took = time.time() - t0
    expect(rep, r"421 4\.4\.2", "stall: 421 4.4.2 when the body stalls")
    check(TIMEOUT - 0.5 <= took < TIMEOUT + 3, "stall: after the data "
          "timeout (%.2f s)" % took)
    check(d.closed(), "stall: then closed")
    d.close()
    check(site.wait_log(r"127\.0\.0\.41:\d+,-,timeout during DATA")
          is not None, "stall: the log says the timeout hit during DATA")


def drip(site, port):
    """One byte a second: progress, but never enough to finish."""
    d = start_data(port, "127.0.0.42", "dripped")
    d.s.settimeout(1.0)
    t0 = time.time()
    got = b""
    limit = SPAN * TIMEOUT
    while time.time() - t0 < limit + 10:
        try:
            d.s.send(b"x")
        except OSError:
            break
        try:
            chunk = d.s.recv(4096)
            if not chunk:
                break
            got += chunk
        except OSError:
            pass
        if b"\r\n" in got:
            break
    took = time.time() - t0
    check(got.startswith(b"421 4.4.2"), "drip: a byte a second is cut "
          "with 421 4.4.2", "(%r)" % got)
    check(limit - 1 <= took < limit + 5, "drip: when DATA has lasted %d "
          "times the timeout (%.1f s)" % (SPAN, took))
    d.close()
    check(site.wait_log(r"127\.0\.0\.42:\d+,-,DATA over its time limit")
          is not None, "drip: the log says DATA took too long")
    check(site.maildir("dripped") == [], "drip: nothing stored")


def guarded(f, site, port):
    """Run one client; an exception (the server hung up) is a failure."""
    try:
        f(site, port)
    except Exception as e:
        check(False, "%s: ran to the end" % f.__name__, "(%r)" % e)


def main():
    port = free_port()
    site = Site(policy(port), certs=False, name="datatime")
    try:
        site.start([("127.0.0.1", port)])
        threads = [threading.Thread(target=guarded, args=(f, site, port))
                   for f in (drip, trickle, stall)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        check(site.maildir("stalled") == [], "stall: nothing stored")
    finally:
        site.cleanup()


if __name__ == "__main__":
    run(main)
