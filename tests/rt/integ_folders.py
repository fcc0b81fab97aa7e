#!/usr/bin/python3
"""
integ_folders: the folders bastiond makes for its spool and its
protocol log.  A `spool' and a `log' several folders down a path that
does not exist yet are made at start, every folder mode 0700 even with
umask 0, and mail goes through them (smtplib in, Maildir out).  When
bastiond starts as root with a `run as' account, the folders it made
belong to that account, so that the log can be reopened by its path
after privileges are dropped (SIGHUP); folders that were there before
are left alone.  Before, a spool whose parent was missing stopped
bastiond at start.
"""
import os
import pwd
import signal
import smtplib
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, check, free_port, run

MADE = ("state", "state/a", "state/a/spool", "state/a/spool/tmp",
        "state/a/spool/queue", "state/a/spool/corrupt", "logs",
        "logs/b")


def policy(port, runas=""):
    return """server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d
    spool "state/a/spool"
    log "logs/b/protocol.log"
%s}
default require none
accept for test.example deliver maildir "var/mail/%%u" recipients any
""" % (port, runas)


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def modes(site):
    out = {}
    for rel in MADE:
        try:
            out[rel] = stat.S_IMODE(os.stat(site.path(rel)).st_mode)
        except OSError:
            out[rel] = None
    return out


def main():
    port = free_port()
    site = Site(policy(port), name="folders")
    old = os.umask(0)
    try:
        site.start([("127.0.0.1", port)])
    finally:
        os.umask(old)
    try:
        m = modes(site)
        check(all(v == 0o700 for v in m.values()),
              "spool and log folders made, mode 0700", repr(m))
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
            refused = c.sendmail("alice@test.example", ["bob@test.example"],
                                 b"Subject: folders\r\n\r\nHi.\r\n")
        check(refused == {}, "mail is taken into the new spool")
        check(len(site.wait_mail("bob", 1)) == 1, "and delivered")
        check("queued as" in site.wait_log("queued as", text=lambda: read(
              site.path("logs/b/protocol.log"))).group(0),
              "the protocol log is written in its new folder")
        check(site.stop() == 0, "bastiond stops")
    finally:
        site.cleanup()

    if os.geteuid() != 0:
        return
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        return
    port = free_port()
    site = Site(policy(port, '    run as "nobody"\n'), name="folders-runas")
    try:
        # The account must reach the site's folder to reopen its log.
        os.chmod(site.dir, 0o711)
        site.start([("127.0.0.1", port)])
        owners = {rel: os.stat(site.path(rel)).st_uid for rel in MADE}
        check(all(v == nobody.pw_uid for v in owners.values()),
              "the folders made belong to the `run as' account",
              repr(owners))
        check(os.stat(site.dir).st_uid == 0 and
              os.stat(site.path("var")).st_uid == 0,
              "folders that were there are left alone")
        n = site.stderr().count("protocol log")
        site.signal(signal.SIGHUP)
        time.sleep(1)
        check(site.stderr().count("protocol log") == n and
              site.proc.poll() is None,
              "SIGHUP reopens the log as the `run as' account",
              site.stderr()[-1500:])
    finally:
        site.cleanup()


if __name__ == "__main__":
    run(main)
