#!/usr/bin/python3
"""
out_retry: retries.  A next hop that is down, then comes up: with
`retry 1s` the message defers, the queue file is dated to its next
attempt, and it is delivered, intact and once, after a retry.  Then the
schedule survives a restart: a message deferred twice has its file
dated a few seconds ahead; bastiond is killed (SIGKILL) and started
again with the next hop up, and the delivery waits for that date, then
happens.  A local recipient of a deferred message gets one copy; and
when its Maildir defers (made immutable with chattr +i) and later takes
the message (it is tried again every retry interval, whatever the
outbound backoff), the outbound attempt keeps its date.
"""
import calendar
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, check, free_port, run
from out_lib import (AioPeer, alive, message, queue_ids, send, server_block,
                     strip_received, wait_for)

CONF = "queue lifetime 1h retry 1s\ntimeout connect 2s"


def mtime(site, qid):
    try:
        return os.stat(site.path("var/spool/queue/" + qid)).st_mtime
    except OSError:
        return None


def chattr(flag, path):
    """Make path immutable (+i) or not (-i): the one way to make a
    directory unwritable for root.  False if it cannot be done here."""
    try:
        return subprocess.run(["chattr", flag, path], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def stamp(line):
    """Seconds since the epoch of a protocol log line."""
    return calendar.timegm(time.strptime(line[:19], "%Y-%m-%dT%H:%M:%S")) \
        + float("0" + line[19:23])


def arrivals(peer, tag):
    return [m for m in peer.mails
            if b"Subject: outbound %s\r\n" % tag.encode() in m["body"]]


def main():
    port = free_port()
    hop = free_port()                   # down at first
    site = Site(server_block(port, CONF), name="out-retry")
    peer = None
    locked = [None]
    try:
        site.write_policy(server_block(port, CONF) +
                          "outbound later.example via 127.0.0.1 port %d "
                          "tls none\n" % hop)
        site.start([("127.0.0.1", port)])

        # 1. Down, then up.  A local recipient of the same message gets
        # its copy once, whatever the retries.
        msg = message("retry", to="x@later.example")
        send(port, "alice@local.example",
             ["frank@local.example", "x@later.example"], msg)
        m = site.wait_log(r"deferred <x@later\.example>: connect to "
                          r"127\.0\.0\.1 \[127\.0\.0\.1:%d\] failed" % hop, 10)
        check(m, "down: the first attempt defers (connection refused)",
              site.log()[-800:])
        ids = queue_ids(site)
        check(len(ids) == 1, "down: the message stays queued")
        check(site.wait_log(r"next attempt in \d+ s", 2),
              "down: the log says when the next attempt is")
        peer = AioPeer(site, port=hop)
        got = wait_for(lambda: arrivals(peer, "retry"), 15)
        check(len(got) == 1 and strip_received(got[0]["body"]) == msg,
              "up: delivered after a retry, intact", "(%d)" % len(got))
        wait_for(lambda: not queue_ids(site), 5)
        check(not queue_ids(site), "up: the queue is empty")
        log = site.log()
        check(log.count("deferred <x@later.example>") >= 1 and
              log.count("delivered <x@later.example>") == 1,
              "up: deferred first, delivered once")
        check(len(site.maildir("frank")) == 1,
              "the local recipient got one copy, whatever the retries",
              "(%d)" % len(site.maildir("frank")))
        peer.stop()
        peer = None

        # 2. The schedule holds across a restart.  retry 1s: attempts
        # at received + 0, 1, 3, 7 ... s; after the second failure the
        # file is dated received + 3.
        msg = message("restart", to="y@later.example")
        send(port, "alice@local.example", ["y@later.example"], msg)
        qid = wait_for(lambda: queue_ids(site), 5)
        qid = qid[0] if qid else ""
        check(wait_for(lambda: site.log().count("deferred <y@later.example>")
                       >= 2, 10), "restart: deferred twice while down")
        due = wait_for(lambda: (mtime(site, qid) or 0) > time.time() + 0.5, 2)
        due = mtime(site, qid)
        check(due is not None and due > time.time() + 0.5,
              "restart: the queue file is dated to the next attempt",
              "(mtime %r, now %.1f)" % (due, time.time()))
        site.kill9()
        peer = AioPeer(site, port=hop)
        site.start([("127.0.0.1", port)])
        t_start = time.time()
        got = wait_for(lambda: arrivals(peer, "restart"), 15)
        t_got = time.time()
        check(len(got) == 1 and strip_received(got[0]["body"]) == msg,
              "restart: delivered after the restart, intact",
              "(%d)" % len(got))
        if due is not None:
            check(t_got >= due - 0.2,
                  "restart: not before its date (%.1f s after the start, "
                  "due %.1f s after)" % (t_got - t_start, due - t_start))
            if due <= t_start:
                print("note: the restart took longer than the retry; the "
                      "date could not be seen to hold")
        wait_for(lambda: not queue_ids(site), 5)
        check(not queue_ids(site), "restart: the queue is empty")

        # 3. A local delivery that defers, then works, leaves the date of
        # the outbound attempt alone.
        tmp = site.path("var/mail/gina/tmp")
        for sub in ("tmp", "new", "cur"):
            os.makedirs(site.path("var/mail/gina/" + sub), exist_ok=True)
        if not chattr("+i", tmp):
            print("note: chattr +i does not work here; part 3 skipped")
        else:
            locked[0] = tmp
            # retry 3s: the outbound attempt is dated 3 s ahead.
            site.write_policy(server_block(port, CONF.replace(
                "retry 1s", "retry 3s")) +
                "outbound later.example via 127.0.0.1 port %d tls none\n"
                % free_port())
            site.signal(signal.SIGHUP)
            site.wait_log(r"table [0-9a-f]+ loaded", 5)
            send(port, "alice@local.example",
                 ["gina@local.example", "z@later.example"],
                 message("local", to="z@later.example"))
            check(wait_for(lambda: site.log().count(
                "deferred <z@later.example>") >= 1, 10) and
                site.wait_log(r"deferred <gina@local\.example>", 1),
                "local: the Maildir and the next hop both defer")
            # retry 3s: outbound attempts at received + 0, 3, 9 s.  The
            # Maildir is tried again a retry interval after it deferred,
            # whatever the outbound backoff: after the second outbound
            # failure it is taken at about + 6, before the next hop's + 9.
            check(wait_for(lambda: site.log().count(
                "deferred <z@later.example>") >= 2, 10),
                "local: the next hop defers again")
            qid = queue_ids(site)
            due = mtime(site, qid[0]) if qid else None
            chattr("-i", tmp)
            locked[0] = None
            m = site.wait_log(r"^(.*),local,\*,delivered <gina@local\."
                              r"example>", 10)
            check(m and len(site.maildir("gina")) == 1,
                  "local: delivered once the Maildir is writable again")
            check(due is not None and m and stamp(m.group(1)) < due - 0.3,
                  "local: that was before the outbound date",
                  "(%r %r)" % (due, m and stamp(m.group(1))))
            check(wait_for(lambda: site.log().count(
                "deferred <z@later.example>") >= 3, 10),
                "local: the next hop is tried again")
            after = [stamp(l) for l in site.log().splitlines()
                     if "1 recipient for later.example" in l and m and
                     stamp(l) >= stamp(m.group(1)) - 0.001]
            if m and due and after:
                nxt = after[0]
                check(nxt >= due - 0.05,
                      "local: the outbound attempt kept its date (%.1f s "
                      "after the local delivery, due %.1f s after)"
                      % (nxt - stamp(m.group(1)), due - stamp(m.group(1))))
        alive(site)
    finally:
        if locked[0]:
            chattr("-i", locked[0])
        site.cleanup()
        if peer:
            peer.stop()


run(main)
