#!/usr/bin/python3
"""
out_schedule: a big queue costs nothing until its time.  A message is
deferred (its next hop down) and bastiond stopped; its queue file is
copied under 3,000 more ids (the id is only the file's name), dated
hours ahead, one of them a few seconds ahead.  bastiond starts with the
next hop up: it answers 220 at once, delivers the one that becomes due
when it does, and leaves every other alone (no line of theirs in the
protocol log, their dates as they were, not even read); `bastionctl
flush ID` makes
one of them due now, and it is delivered; `bastionctl status` counts
them all.
"""
import os
import shutil
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, check, free_port, run
from ctl_lib import ctl
from out_lib import (AioPeer, alive, log_lines, message, queue_ids, send,
                     server_block, wait_for)

NCOPY = 3000
CONF = "queue lifetime 5d retry 1h\ntimeout connect 2s"


def policy(port, hop):
    return (server_block(port, CONF) +
            "outbound later.example via 127.0.0.1 port %d tls none\n" % hop)


def banner(port, timeout):
    """Seconds until a connection to port reads its 220, or None."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as s:
                s.settimeout(5)
                if s.recv(512).startswith(b"220"):
                    return time.time() - t0
        except OSError:
            time.sleep(0.01)
    return None


def main():
    port = free_port()
    hop = free_port()
    site = Site(policy(port, hop), name="out-schedule")
    peer = None
    try:
        site.start([("127.0.0.1", port)])
        send(port, "alice@local.example", ["x@later.example"],
             message("schedule", to="x@later.example"))
        check(site.wait_log(r"deferred <x@later\.example>", 10),
              "the model message defers (next hop down)")
        model = queue_ids(site)
        check(len(model) == 1, "one message queued", repr(model))
        site.stop()

        # Copies under new ids: the µs part of the id goes on from the
        # model's, the pid part is one no process here has.
        qdir = site.path("var/spool/queue")
        src = os.path.join(qdir, model[0])
        base = int(model[0][:14], 16)
        now = time.time()
        ids = ["%014x%08x" % (base + 1 + i, 0x7ffe0000) for i in range(NCOPY)]
        later = {}
        for i, qid in enumerate(ids):
            dst = os.path.join(qdir, qid)
            shutil.copyfile(src, dst)
            t = int(now) + 3600 + (i * 7) % 7200
            os.utime(dst, (t, t))
            later[qid] = t
        os.utime(src, (int(now) + 3600, int(now) + 3600))
        soon, flushed = ids[10], ids[20]
        peer = AioPeer(site, port=hop)
        due = int(time.time()) + 4
        os.utime(os.path.join(qdir, soon), (due, due))
        later[soon] = due
        t0 = time.time()
        site.start([("127.0.0.1", port)], wait=False)
        took = banner(port, 15)
        check(took is not None, "220 after the start with %d queued "
              "messages (%.3f s)" % (NCOPY + 1, took or -1))
        site.wait_log(r"started", 5)
        print("note: first 220 %.3f s after the start" % (took or -1))

        check(wait_for(lambda: len(peer.mails) >= 1, 15),
              "the message that became due is delivered")
        t_got = time.time()
        check(t_got >= due - 0.5, "not before its date (%.1f s after the "
              "start, due %.1f s after)" % (t_got - t0, due - t0))
        check(wait_for(lambda: soon not in queue_ids(site), 5),
              "it leaves the queue")
        check(len(peer.mails) == 1, "one delivery, not %d" % len(peer.mails))

        rc, out, err = ctl(site, "flush", flushed)
        check(rc == 0 and "due now" in out, "flush: one made due",
              out + err)
        check(wait_for(lambda: len(peer.mails) >= 2, 10),
              "the flushed message is delivered")
        check(wait_for(lambda: flushed not in queue_ids(site), 5),
              "it leaves the queue")

        time.sleep(0.5)
        check(len(peer.mails) == 2, "two deliveries in all, not %d"
              % len(peer.mails))
        touched = {f[1] for f in log_lines(site)} & set(ids)
        check(touched == {soon, flushed}, "the protocol log names only "
              "the two that were due", "(%d others)"
              % len(touched - {soon, flushed}))
        moved = [q for q in ids if q not in (soon, flushed) and
                 int(os.stat(os.path.join(qdir, q)).st_mtime) != later[q]]
        check(not moved, "the others' dates are as they were",
              "(%d changed)" % len(moved))
        # Their access times were set with their dates: a read would
        # have moved them to now (relatime does when atime <= mtime).
        read = [q for q in ids if q not in (soon, flushed) and
                int(os.stat(os.path.join(qdir, q)).st_atime) != later[q]]
        check(not read, "the others were not even read",
              "(%d were)" % len(read))
        check(len(queue_ids(site)) == NCOPY - 1, "the others are queued "
              "(%d)" % len(queue_ids(site)))
        rc, out, err = ctl(site, "status")
        check(rc == 0 and "queue %d messages" % (NCOPY - 1) in out,
              "status counts them", out + err)
        alive(site)
    finally:
        site.cleanup()
        if peer:
            peer.stop()


run(main)
