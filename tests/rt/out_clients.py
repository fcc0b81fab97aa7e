#!/usr/bin/python3
"""
out_clients: bastiond takes mail from msmtp and curl, two clients the
other integration tests do not use.  msmtp with STARTTLS (--tls, the
test CA as tls_trust_file in a msmtprc of its own) and --auth=plain;
curl with smtp:// and --ssl-reqd (STARTTLS), smtps:// (implicit TLS),
--cacert and AUTH PLAIN and LOGIN.  The messages land in the Maildir
byte for byte; an authenticated client may relay (its mail reaches an
aiosmtpd next hop), an unauthenticated one may not.
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, body_of, check, free_port, run, skip, verifier
from out_lib import AioPeer, alive, message, queue_ids, server_block, wait_for


def mine(site, user, tag, n=1):
    """The copies of message tag in USER's Maildir."""
    got = wait_for(lambda: [m for m in site.maildir(user)
                            if b"outbound %s\n" % tag.encode() in m], 15)
    return got or []


def intact(site, user, tag, msg, how):
    got = mine(site, user, tag)
    if not check(len(got) == 1, "%s: one copy in %s's Maildir" % (tag, user),
                 "(%d)" % len(got)):
        return
    check(body_of(got[0]) == msg.replace(b"\r\n", b"\n"),
          "%s: the message is intact" % tag, "(got %r)" % got[0][:400])
    check(b" with %s\n" % how.encode() in got[0],
          "%s: the Received: header says %s" % (tag, how),
          "(got %r)" % got[0][:300])


def main():
    for prog in ("msmtp", "curl"):
        if shutil.which(prog) is None:
            skip("%s is not installed" % prog)
    port, tport = free_port(), free_port()
    peer = None
    site = Site(server_block(port, relay=False), name="out-clients")
    try:
        peer = AioPeer(site)
        site.write_policy(server_block(port, "listen on 127.0.0.1 port %d tls"
                                       % tport, relay=False) + """
user "alice" "%s"
user "carol" "%s"
outbound remote.example via 127.0.0.1 port %d tls opportunistic
""" % (verifier("alice-pw"), verifier("carol-pw", "argon2id"), peer.port))
        site.start([("127.0.0.1", port), ("127.0.0.1", tport)])
        ca = site.path("certs/ca.crt")

        # msmtp: STARTTLS, AUTH PLAIN, from a msmtprc of its own.
        rc = site.path("msmtprc")
        with open(rc, "w") as f:
            f.write("defaults\n"
                    "tls_trust_file %s\n"
                    "logfile %s\n"
                    "account gw\n"
                    "host 127.0.0.1\n"
                    "port %d\n"
                    "domain client.test.example\n"
                    "from alice@local.example\n"
                    "user alice\n"
                    "password alice-pw\n"
                    "account default : gw\n"
                    % (ca, site.path("msmtp.log"), port))
        os.chmod(rc, 0o600)
        msg = message("msmtp", to="bob@local.example")
        r = subprocess.run(["msmtp", "-C", rc, "--tls=on",
                            "--tls-starttls=on", "--auth=plain",
                            "bob@local.example"],
                           input=msg, capture_output=True, timeout=60)
        check(r.returncode == 0, "msmtp --tls --auth=plain exits 0",
              "(%d %r)" % (r.returncode, r.stderr[-500:]))
        intact(site, "bob", "msmtp", msg, "ESMTPSA")

        # msmtp without AUTH may not relay: 554 5.7.1.
        r = subprocess.run(["msmtp", "-C", rc, "--tls=on",
                            "--tls-starttls=on", "--auth=off",
                            "dave@remote.example"],
                           input=message("msmtp-norelay",
                                         to="dave@remote.example"),
                           capture_output=True, timeout=60)
        check(r.returncode != 0 and b"554" in r.stderr and
              b"Relay access denied" in r.stderr,
              "msmtp without AUTH is refused relaying: 554",
              "(%d %r)" % (r.returncode, r.stderr[-500:]))

        # curl, smtp:// with STARTTLS required, AUTH PLAIN.
        path = site.path("curl.eml")
        msg = message("curl-starttls", to="bob@local.example")
        with open(path, "wb") as f:
            f.write(msg)
        base = ["curl", "-sS", "--max-time", "60", "--cacert", ca,
                "--mail-from", "alice@local.example", "--upload-file", path]
        r = subprocess.run(base + [
            "smtp://127.0.0.1:%d/client.test.example" % port, "--ssl-reqd",
            "--user", "alice:alice-pw", "--login-options", "AUTH=PLAIN",
            "--mail-rcpt", "bob@local.example"],
            capture_output=True, timeout=90)
        check(r.returncode == 0, "curl smtp:// --ssl-reqd AUTH PLAIN exits 0",
              "(%d %r)" % (r.returncode, r.stderr[-500:]))
        intact(site, "bob", "curl-starttls", msg, "ESMTPSA")

        # curl, smtps:// (implicit TLS), AUTH LOGIN with the argon2id
        # user, one local recipient and one relayed.
        msg = message("curl-smtps", to="bob@local.example")
        with open(path, "wb") as f:
            f.write(msg)
        r = subprocess.run(base + [
            "smtps://127.0.0.1:%d/client.test.example" % tport,
            "--user", "carol:carol-pw", "--login-options", "AUTH=LOGIN",
            "--mail-rcpt", "bob@local.example",
            "--mail-rcpt", "dave@remote.example"],
            capture_output=True, timeout=90)
        check(r.returncode == 0, "curl smtps:// AUTH LOGIN exits 0",
              "(%d %r)" % (r.returncode, r.stderr[-500:]))
        intact(site, "bob", "curl-smtps", msg, "ESMTPSA")
        wait_for(lambda: peer.mails, 15)
        check(len(peer.mails) == 1 and peer.mails[0]["to"] ==
              ["dave@remote.example"] and
              b"outbound curl-smtps" in peer.mails[0]["body"],
              "curl: the authenticated client's relayed copy reaches the "
              "next hop", "(%r)" % [m["to"] for m in peer.mails])

        # curl without TLS and without AUTH to a local mailbox: fine.
        msg = message("curl-clear", to="bob@local.example")
        with open(path, "wb") as f:
            f.write(msg)
        r = subprocess.run(base + [
            "smtp://127.0.0.1:%d/client.test.example" % port,
            "--mail-rcpt", "bob@local.example"],
            capture_output=True, timeout=90)
        check(r.returncode == 0, "curl smtp:// in clear exits 0",
              "(%d %r)" % (r.returncode, r.stderr[-500:]))
        intact(site, "bob", "curl-clear", msg, "ESMTP")
        wait_for(lambda: not queue_ids(site), 10)
        check(not queue_ids(site), "the queue is empty")
        log = site.log()
        check("alice-pw" not in log and "carol-pw" not in log,
              "the log shows no client password")
        alive(site)
    finally:
        site.cleanup()
        if peer:
            peer.stop()


run(main)
