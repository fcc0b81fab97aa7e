#!/usr/bin/python3
"""
integ_start: what bastiond makes for itself at start.  A policy whose
spool and protocol log sit in folders that do not exist yet: bastiond
creates them (the new ones mode 0700) and serves; mail is taken,
logged and delivered.
"""
import os
import shutil
import smtplib
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, check, free_port, run


def main():
    port = free_port()
    site = Site("""server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d
    spool "state/deep/er/spool"
    log "logs/bastion/protocol.log"
}
default require none
accept for test.example deliver maildir "var/mail/%%u" recipients any
""" % port, certs=False, name="start")
    try:
        shutil.rmtree(site.path("state"), ignore_errors=True)
        site.start([("127.0.0.1", port)])
        for rel in ("state", "state/deep", "state/deep/er",
                    "state/deep/er/spool", "logs", "logs/bastion"):
            p = site.path(rel)
            ok = os.path.isdir(p) and \
                stat.S_IMODE(os.stat(p).st_mode) & 0o077 == 0
            check(ok, "%s made, private" % rel)
        with smtplib.SMTP("127.0.0.1", port, timeout=20) as c:
            c.sendmail("a@client.example", ["u@test.example"],
                       b"Subject: t\r\n\r\nhello\r\n")
        got = site.wait_mail("u", 1)
        check(len(got) == 1, "mail delivered")
        with open(site.path("logs/bastion/protocol.log")) as f:
            check("queued as" in f.read(), "the log is written")
        check(site.stop() == 0, "bastiond exits 0")
    finally:
        site.cleanup()


if __name__ == "__main__":
    run(main)
