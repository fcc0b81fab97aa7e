#!/usr/bin/python3
"""
integ_reload_sessions: a session keeps the certificate it began with,
as it keeps its table, and a reload refuses what the open log needs.

- A session that saw STARTTLS offered still gets TLS after a reload to
  a table without a certificate (before: 454 TLS not available, the
  offer broken); a session opened after that reload is offered none.
- After a reload that swaps the EC certificate for an RSA one, a
  session opened before it completes STARTTLS with the EC certificate,
  a new one with the RSA certificate.
- A table that moves the protocol log is refused ("needs a restart")
  and the log stays where it was.
"""
import os
import signal
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, Dialogue, check, expect, free_port, run


def policy(port, cert="ec", log="var/protocol.log"):
    return """server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d
%s    spool "var/spool"
    log "%s"
}
default require none
accept for test.example deliver maildir "var/mail/%%u" recipients any
""" % (port, '    tls certificate "certs/%s.crt" key "certs/%s.key"\n'
       % (cert, cert) if cert else "", log)


def reload(site, text):
    """Write and compile text, SIGHUP, return bastiond's verdict line."""
    n = site.stderr().count("reload:")
    site.write_policy(text)
    site.signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline and site.stderr().count("reload:") == n:
        time.sleep(0.05)
    lines = [l for l in site.stderr().splitlines() if "reload:" in l]
    return lines[-1] if len(lines) > n else ""


def opened(port):
    d = Dialogue("127.0.0.1", port)
    d.reply()
    return d, d.cmd("EHLO client.test.example")


def starttls(site, d, what):
    """STARTTLS on d; the cipher suite's name, or None."""
    try:
        rep = d.starttls(site.ctx())
        if not rep.startswith("220"):
            check(False, what, "(got %r)" % rep)
            return None
        expect(d.cmd("EHLO client.test.example"), r"^250", what +
               ": EHLO inside TLS")
        return d.s.cipher()[0]
    except (OSError, ssl.SSLError) as e:
        check(False, what, repr(e))
        return None


def main():
    port = free_port()
    site = Site(policy(port), name="reloadsess")
    try:
        site.start([("127.0.0.1", port)])

        a, ehlo = opened(port)
        check("STARTTLS" in ehlo, "STARTTLS offered at start")
        verdict = reload(site, policy(port, cert=None))
        check("reload: table" in verdict,
              "a table without a certificate (no TLS listener) is taken",
              verdict)
        b, ehlo = opened(port)
        check("STARTTLS" not in ehlo, "a new session is offered no TLS")
        expect(b.cmd("STARTTLS"), r"^454 ", "and STARTTLS there: 454")
        b.cmd("QUIT")
        b.close()
        check(starttls(site, a, "the older session still gets TLS")
              is not None, "the older session keeps its certificate")
        a.cmd("QUIT")
        a.close()

        verdict = reload(site, policy(port, cert="ec"))
        check("reload: table" in verdict, "the EC certificate back",
              verdict)
        c, ehlo = opened(port)
        verdict = reload(site, policy(port, cert="rsa"))
        check("reload: table" in verdict, "the RSA certificate taken",
              verdict)
        d, ehlo = opened(port)
        old, new = (starttls(site, c, "session opened before the swap"),
                    starttls(site, d, "session opened after the swap"))
        check(old is not None and "ECDSA" in old,
              "the session opened before the swap gets the EC "
              "certificate", repr(old))
        check(new is not None and "RSA" in new and "ECDSA" not in new,
              "a new session gets the RSA certificate", repr(new))
        for x in (c, d):
            x.cmd("QUIT")
            x.close()

        verdict = reload(site, policy(port, cert="rsa",
                                      log="var/elsewhere.log"))
        check("keeping table" in verdict and "needs a restart" in verdict
              and "log" in verdict,
              "a table that moves the protocol log is refused", verdict)
        e, ehlo = opened(port)
        e.cmd("QUIT")
        e.close()
        time.sleep(0.3)
        check(not os.path.exists(site.path("var/elsewhere.log")) and
              site.log().count("QUIT") >= 5,
              "the log stays where it was")
        check(site.proc.poll() is None, "bastiond still runs")
    finally:
        site.cleanup()


if __name__ == "__main__":
    run(main)
