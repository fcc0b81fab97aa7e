#!/usr/bin/python3
"""
integ_proxy: `proxy from` listeners, talked to by hand.  A client
bound to a balancer's address writes PROXY v1 and v2 headers itself:
whole, split across writes, followed at once by SMTP or a ClientHello,
missing, garbled, truncated, oversized, too late, LOCAL (a health
check), and from an address that is no balancer.  The header's source
must decide the rule, the per-host limit, the Received header and the
log; anything else must be closed without a greeting, and logged.
"""
import os
import re
import socket
import ssl
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, Dialogue, check, expect, free_port, run

LB, LB2, STRANGER = "127.0.0.10", "127.0.0.11", "127.0.0.12"
DENIED, MUST_TLS, CLIENT = "192.0.2.66", "198.51.100.7", "203.0.113.5"
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def policy(port, tport, dport):
    return """server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d proxy from <balancers>
    listen on 127.0.0.1 port %d tls proxy from <balancers>
    listen on 127.0.0.1 port %d
    tls certificate "certs/ec.crt" key "certs/ec.key"
    spool "var/spool"
    log "var/protocol.log"
    limit connections 100 per-host 2
}
list balancers { %s %s }
default require none
host %s deny
host %s require tls
recipients staff { alice }
accept for test.example deliver maildir "var/mail/%%u" recipients <staff>
""" % (port, tport, dport, LB, LB2, DENIED, MUST_TLS)


def v1(src, sport=40000, dst="127.0.0.1", dport=25):
    fam = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport,
                                          dport)).encode()


def v2(src, sport=40000, dst="127.0.0.1", dport=25, local=False,
       length=None):
    if local:
        return V2_SIG + b"\x20\x00" + struct.pack(">H", 0)
    body = (socket.inet_aton(src) + socket.inet_aton(dst) +
            struct.pack(">HH", sport, dport))
    return (V2_SIG + b"\x21\x11" +
            struct.pack(">H", len(body) if length is None else length) +
            body)


def connect(port, source, header=b"", pieces=1, timeout=10):
    """A Dialogue from source that first writes header, in pieces."""
    d = Dialogue("127.0.0.1", port, source=source, timeout=timeout)
    step = max(1, (len(header) + pieces - 1) // pieces)
    for i in range(0, len(header), step):
        d.send(header[i:i + step])
        if pieces > 1:
            time.sleep(0.05)
    return d


def log_lines(site, remote_prefix):
    return [ln for ln in site.log().splitlines()
            if ",%s:" % remote_prefix in ln]


def refused_silently(d, what):
    """No byte at all, then the close."""
    got = d.quiet(timeout=8)
    check(got == b"", "%s: nothing is said" % what, "(got %r)" % got)
    d.close()


def deliver(d, what, rcpt="alice@test.example"):
    expect(d.cmd("EHLO client.example"), "250", "%s: EHLO" % what)
    expect(d.cmd("MAIL FROM:<x@client.example>"), "250", "%s: MAIL" % what)
    expect(d.cmd("RCPT TO:<%s>" % rcpt), "250", "%s: RCPT" % what)
    expect(d.cmd("DATA"), "354", "%s: DATA" % what)
    expect(d.cmd("Subject: %s\r\n\r\nbody\r\n." % what), "250",
           "%s: queued" % what)
    d.cmd("QUIT")
    d.close()


def main():
    port, tport, dport = free_port(), free_port(), free_port()
    site = Site(policy(port, tport, dport), name="proxy")
    try:
        site.start([("127.0.0.1", dport)])
        ctx = site.ctx()

        # v2, one byte a write: the client is the header's source.
        d = connect(port, LB, v2(CLIENT, 40001), pieces=28)
        expect(d.reply(), "220 ", "v2 split in 28 writes: greeting")
        deliver(d, "v2 split")
        mail = site.wait_mail("alice", 1)
        check(len(mail) == 1 and b"[203.0.113.5]" in mail[0],
              "Received names the client of the header",
              "(got %r)" % (mail[-1][:300] if mail else None))
        check(b"127.0.0.10" not in (mail[0] if mail else b""),
              "the balancer is not in the message")
        lines = log_lines(site, CLIENT)
        check(any(re.search(r",\+,SMTP via 127\.0\.0\.10:\d+$", ln)
                  for ln in lines),
              "connect line: the client, via the balancer",
              "\n".join(lines[:3]))
        check(any(',*,"admit, require none' in ln for ln in lines),
              "decision logged against the client")

        # v1 in three writes; the header's client is denied.
        d = connect(port, LB2, v1(DENIED, 40002), pieces=3)
        expect(d.reply(), "554 ", "v1 split, denied client: 554")
        d.close()
        check(site.wait_log(r',192\.0\.2\.66:40002,\*,"?deny: ') is not None,
              "deny decided by the header's address")

        # The header's client must use TLS: the rule follows it.
        d = connect(port, LB, v1(MUST_TLS, 40003))
        expect(d.reply(), "220 ", "require-tls client: greeting")
        d.cmd("EHLO client.example")
        expect(d.cmd("MAIL FROM:<x@client.example>"), "530",
               "require-tls client: MAIL before STARTTLS is 530")
        expect(d.starttls(ctx), "220", "require-tls client: STARTTLS")
        deliver(d, "require-tls after STARTTLS")

        # Header and SMTP in one write: talking before the greeting.
        d = connect(port, LB, v2(CLIENT, 40004) + b"EHLO early\r\n")
        expect(d.reply(), "554 ", "SMTP right after the header: 554")
        d.close()

        # Missing header: the client speaks SMTP first.
        d = connect(port, LB, b"EHLO client.example\r\n")
        refused_silently(d, "missing header")
        check(site.wait_log(r",127\.0\.0\.10:\d+,-,\"?refused: .*PROXY")
              is not None, "missing header: logged with the reason")

        # Garbage.
        d = connect(port, LB, b"PROXY TCP4 1.2.3\r\n")
        refused_silently(d, "garbled v1")
        d = connect(port, LB, V2_SIG + b"\x29\x11\x00\x0c" + b"\0" * 12)
        refused_silently(d, "v2 with a bad version")
        # Oversized: a v2 length past the cap.
        d = connect(port, LB, v2(CLIENT, 40005, length=4000)[:16])
        refused_silently(d, "oversized v2")
        # Truncated: half a header, then the end.
        d = connect(port, LB, v1(CLIENT, 40006)[:20])
        d.s.shutdown(socket.SHUT_WR)
        refused_silently(d, "truncated v1")
        check(site.wait_log(r",-,\"?refused: .*truncated") is not None,
              "truncated header: logged")

        # Nothing at all: closed after the header's timeout.
        t0 = time.time()
        d = connect(port, LB, b"", timeout=15)
        got = d.quiet(timeout=12)
        took = time.time() - t0
        check(got == b"" and 4 <= took < 11,
              "no header: closed silently after about 5 s",
              "(%r after %.1f s)" % (got, took))
        d.close()
        check(site.wait_log(r",-,\"?refused: .*after 5 s") is not None,
              "no header: timeout logged")

        # v2 LOCAL: a health check, served as the balancer itself.
        d = connect(port, LB, v2(None, local=True))
        expect(d.reply(), "220 ", "v2 LOCAL: greeting")
        expect(d.cmd("HELO lb.example"), "250", "v2 LOCAL: HELO")
        expect(d.cmd("QUIT"), "221", "v2 LOCAL: QUIT")
        d.close()
        check(site.wait_log(r",127\.0\.0\.10:\d+,\+,SMTP from the "
                            r"balancer \(PROXY v2 LOCAL\)") is not None,
              "v2 LOCAL: logged as the balancer's own connection")

        # v1 UNKNOWN: a balancer that knows no client; the same.
        d = connect(port, LB2, b"PROXY UNKNOWN\r\n")
        expect(d.reply(), "220 ", "v1 UNKNOWN: greeting")
        d.cmd("QUIT")
        d.close()
        check(site.wait_log(r",127\.0\.0\.11:\d+,\+,SMTP from the "
                            r"balancer \(PROXY v1 UNKNOWN\)") is not None,
              "v1 UNKNOWN: logged as the balancer's own connection")

        # A stranger sending its own header straight to the node.
        d = connect(port, STRANGER, v1(CLIENT, 40007))
        refused_silently(d, "header from no balancer")
        check(site.wait_log(r",127\.0\.0\.12:\d+,-,\"?refused: not a PROXY "
                            r"sender") is not None,
              "header from no balancer: logged")
        check(not any(",203.0.113.5:40007," in ln
                      for ln in site.log().splitlines()),
              "the stranger's header is never believed")

        # Implicit TLS: the header, then the ClientHello at once.
        raw = socket.create_connection(("127.0.0.1", tport), timeout=10,
                                       source_address=(LB, 0))
        raw.sendall(v2(CLIENT, 40008))
        tls = ctx.wrap_socket(raw, server_hostname="mx.test.example")
        d = Dialogue.__new__(Dialogue)
        d.s, d.buf = tls, b""
        expect(d.reply(), "220 ", "implicit TLS after the header: greeting")
        deliver(d, "implicit TLS behind the header")
        check(site.wait_log(r",203\.0\.113\.5:40008,\+,implicit TLS via "
                            r"127\.0\.0\.10:") is not None,
              "implicit TLS: the client logged, via the balancer")

        # The per-host limit counts clients, not the balancer.
        held = [connect(port, LB, v1("203.0.113.9", 41000 + i))
                for i in range(2)]
        for i, h in enumerate(held):
            expect(h.reply(), "220 ", "client 203.0.113.9 session %d" % i)
        third = connect(port, LB, v1("203.0.113.9", 41002))
        expect(third.reply(), "421 .*from your address",
               "third session of one client behind the balancer: 421")
        third.close()
        other = connect(port, LB, v1("203.0.113.10", 41003))
        expect(other.reply(), "220 ",
               "another client through the same balancer: greeting")
        other.close()
        for h in held:
            h.close()

        # The direct listener is untouched.
        d = Dialogue("127.0.0.1", dport, source=STRANGER)
        expect(d.reply(), "220 ", "listener without proxy: greeting")
        d.close()
        check(len(site.wait_mail("alice", 3)) == 3,
              "three messages delivered")
    finally:
        site.cleanup()


run(main)
