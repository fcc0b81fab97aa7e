#!/usr/bin/python3
"""
integ_reload_safety: a reload never leaves a listener or a session
without what it needs, and sealed secrets are opened before bastiond
starts.

- A table without a certificate (and so without the implicit-TLS
  listener), mapped by SIGHUP while that listener (bound at start) is
  open, is refused: the old table and its certificate stay, and a
  client still completes a TLS handshake on that port and on STARTTLS
  (the next connection crashed the daemon before).
- Listener changes (another port, TLS or a floor added) and a new spool
  are refused with "needs a restart"; a table that changes rules only
  is taken.
- A new table whose sealed password the key cannot open is refused.
- bastiond -n: the right key passes; another key, or none, fails with
  exit 1 and a reason naming the route and the key ids.
"""
import os
import signal
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Site, Dialogue, check, expect, free_port, run,
                     client_context, BASTIOND, POLICYC)
from out_lib import seal


def policy(port, tport, cert=True, extra_listen="", token=None,
           spool="var/spool", rule="none"):
    return """server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d
    listen on 127.0.0.1 port %d tls
%s%s    spool "%s"
    log "var/protocol.log"
}
default require %s
accept for test.example deliver maildir "var/mail/%%u" recipients any
%s""" % (port, tport, extra_listen,
         '    tls certificate "certs/ec.crt" key "certs/ec.key"\n'
         if cert else "", spool, rule,
         ('outbound partner.example via 127.0.0.9 port 2525 tls required '
          'auth plain user "u" password %s\n' % token) if token else "")


def reload_and_wait(site, marker):
    """SIGHUP, then wait for the verdict line after the marker count."""
    site.signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline:
        text = site.stderr()
        if text.count("reload:") > marker:
            return text
        time.sleep(0.05)
    return site.stderr()


def tls_works(site, port, tport):
    ctx = client_context(site.path("certs/ca.crt"))
    ok = True
    try:
        d = Dialogue("127.0.0.1", tport)
        d.tls_handshake(ctx)
        ok = expect(d.reply(), r"^220 ", "implicit TLS: greeting") and ok
        d.cmd("QUIT")
        d.close()
    except (OSError, ssl.SSLError) as e:
        check(False, "implicit TLS handshake", repr(e))
        ok = False
    try:
        d = Dialogue("127.0.0.1", port)
        d.reply()
        d.cmd("EHLO c.example")
        d.starttls(ctx)
        ok = expect(d.cmd("EHLO c.example"), r"^250", "EHLO after "
                    "STARTTLS") and ok
        d.cmd("QUIT")
        d.close()
    except (OSError, ssl.SSLError) as e:
        check(False, "STARTTLS handshake", repr(e))
        ok = False
    return ok


def refused(site, port, tport, text, what, reason):
    n = site.stderr().count("reload:")
    site.write_policy(text)
    err = reload_and_wait(site, n)
    last = err.strip().splitlines()[-1] if err.strip() else ""
    check("keeping table" in last and reason in last,
          "%s: reload refused, saying why" % what, last)
    check(site.proc.poll() is None, "%s: bastiond still runs" % what)
    check(tls_works(site, port, tport),
          "%s: TLS still served on both listeners" % what)


def main():
    port, tport, other = free_port(), free_port(), free_port()
    site = Site(policy(port, tport), key=True, name="reloadsafe")
    try:
        site.start([("127.0.0.1", port), ("127.0.0.1", tport)])
        check(tls_works(site, port, tport), "TLS served at start")
        good = site.checksum()

        # The attack: the TLS listener and the certificate gone from
        # the table, while the listener bound at start stays open.
        refused(site, port, tport, policy(port, tport, cert=False).replace(
                "    listen on 127.0.0.1 port %d tls\n" % tport, ""),
                "no certificate, no TLS listener", "needs a restart")
        refused(site, port, tport, policy(port, tport, extra_listen=
                "    listen on 127.0.0.1 port %d\n" % other),
                "a new listener", "needs a restart")
        refused(site, port, tport, policy(port, tport).replace(
                "port %d\n" % port, "port %d require tls\n" % port),
                "a new floor", "needs a restart")
        refused(site, port, tport, policy(port, tport, spool="var/other"),
                "another spool", "needs a restart")

        # A token sealed for another key: the reload is refused.
        subprocess.run([POLICYC, "keygen", site.path("other")], check=True)
        r = subprocess.run([POLICYC, "seal", site.path("other.pub")],
                           input="pw\n", capture_output=True, text=True)
        alien = r.stdout.strip()
        refused(site, port, tport, policy(port, tport, token=alien),
                "a password sealed for another key", "does not open")

        # Rules only: taken, and TLS still served.
        n = site.stderr().count("reload:")
        site.write_policy(policy(port, tport, token=seal(site, "pw"),
                                 rule="tls"))
        err = reload_and_wait(site, n)
        last = err.strip().splitlines()[-1]
        check("reload: table" in last and site.checksum() != good,
              "a table that changes rules only is taken", last)
        check(tls_works(site, port, tport), "TLS served after the reload")
        check(site.stop() == 0, "bastiond exits 0 on SIGTERM")

        # bastiond -n opens every sealed token with the key given.
        def dry(*extra):
            return subprocess.run([BASTIOND, "-n", "-t", site.table] +
                                  list(extra), capture_output=True,
                                  text=True, timeout=30)
        r = dry("-k", site.keyfile)
        check(r.returncode == 0, "-n with the right key: exit 0",
              r.stderr)
        def keyid(pub):
            with open(site.path(pub)) as f:
                return f.read().split()[1]
        r = dry("-k", site.path("other.key"))
        check(r.returncode == 1 and "partner.example" in r.stderr and
              keyid("site.pub") in r.stderr and
              keyid("other.pub") in r.stderr and
              len(r.stderr.strip().splitlines()) == 1,
              "-n with another key: exit 1, one line naming the route "
              "and both key ids", r.stderr)
        r = dry()
        check(r.returncode == 1 and "no key given" in r.stderr and
              "partner.example" in r.stderr and
              keyid("site.pub") in r.stderr,
              "-n without a key: exit 1, saying no key was given",
              r.stderr)
        site.proc = None
        r = subprocess.run([BASTIOND, "-f", "-t", site.table, "-k",
                            site.path("other.key")], capture_output=True,
                           text=True, timeout=30)
        check(r.returncode == 1, "start with another key: refused",
              r.stderr)
    finally:
        site.cleanup()


if __name__ == "__main__":
    run(main)
