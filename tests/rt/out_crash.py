#!/usr/bin/python3
"""
out_crash: kill -9 of bastiond in the middle of outbound sessions.  The
next hop (aiosmtpd) delays its 250 to the final dot, so that when
SIGKILL comes many sessions are between the dot and the reply, others
in MAIL or DATA, others still queued.  bastiond is started again,
killed once more in the middle of the redelivery, started and stopped
with SIGTERM in the middle of it, then left to finish: every message
it accepted reaches the next hop at least once (a duplicate is
allowed, a loss is not), intact, the queue empties, and nothing is
left in tmp/ or corrupt/.  The retry interval is an hour, so all of it
happens without a single retry.
"""
import asyncio
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, check, free_port, run
from out_lib import (SLOW, AioPeer, alive, message, queue_ids, send,
                     server_block, strip_received, wait_for)

# An hour between retries: with 40 messages and 16 outbound jobs, the
# ones that find no free job must go as soon as one is, not at the next
# retry interval.
CONF = "queue lifetime 1h retry 1h\ntimeout connect 2s"
N = 40
DELAY = 0.6                             # before the 250 to the dot


class SlowPeer(AioPeer):
    def __init__(self, site):
        super().__init__(site)
        h = self.handler
        inner = h.handle_DATA

        # Closed until every message is in: on a slow build the
        # submissions could otherwise take longer than the deliveries,
        # and nothing would be in flight when the kill comes.
        self.gate = False

        async def slow_data(server, session, envelope):
            while not self.gate:
                await asyncio.sleep(0.05)
            await asyncio.sleep(DELAY)
            return await inner(server, session, envelope)
        h.handle_DATA = slow_data


def ids_of(peer):
    out = {}
    for m in peer.mails:
        g = re.search(rb"Message-ID: <(crash\d+)@", m["body"])
        if g:
            out.setdefault(g.group(1).decode(), []).append(m["body"])
    return out


def in_flight(site):
    """Sessions that sent the dot and have no result yet."""
    log = site.log()
    return log.count(",>,.\n") - log.count(",relay,*,delivered <")


def main():
    port = free_port()
    site = Site(server_block(port, CONF), name="out-crash")
    peer = None
    try:
        peer = SlowPeer(site)
        site.write_policy(server_block(port, CONF) +
                          "outbound slow.example via 127.0.0.1 port %d "
                          "tls none\n" % peer.port)
        site.start([("127.0.0.1", port)])

        sent = {}
        for i in range(N):
            tag = "crash%02d" % i
            rcpt = "u%02d@slow.example" % i
            sent[tag] = message(tag, to=rcpt)
            refused = send(port, "alice@local.example", [rcpt], sent[tag])
            check(refused == {}, "%s accepted" % tag)
        peer.gate = True
        # Kill while sessions wait for their 250, some mail delivered.
        wait_for(lambda: len(peer.mails) >= 3 and in_flight(site) >= 4, 10)
        flying = in_flight(site)
        site.kill9()
        before = len(peer.mails)
        check(flying >= 1 and before >= 1,
              "SIGKILL with %d sessions after the dot, %d messages "
              "delivered" % (flying, before))
        check(len(queue_ids(site)) > 0, "messages are left in the queue "
              "(%d)" % len(queue_ids(site)))

        # Start again, and kill again in the middle of the redelivery.
        site.start([("127.0.0.1", port)])
        wait_for(lambda: len(peer.mails) > before + 2, 10)
        site.kill9()
        # Once more, and this time SIGTERM in the middle: outbound
        # sessions are dropped at once (their mail stays queued), and
        # bastiond exits 0 without waiting for them.
        before = len(peer.mails)
        site.start([("127.0.0.1", port)])
        wait_for(lambda: len(peer.mails) > before + 2, 10)
        t0 = time.time()
        rc = site.stop()
        took = time.time() - t0
        check(rc == 0 and took < 5 * SLOW, "SIGTERM in the middle of "
              "outbound sessions: exits 0 (%.1f s)" % took, "(%r)" % rc)
        site.start([("127.0.0.1", port)])

        wait_for(lambda: not queue_ids(site) and len(ids_of(peer)) == N,
                 30)
        got = ids_of(peer)
        lost = sorted(set(sent) - set(got))
        check(not lost, "every accepted message reached the next hop",
              "(lost %r)" % lost)
        bad = [t for t, bodies in got.items()
               if any(strip_received(b) != sent[t] for b in bodies)]
        check(not bad, "every copy is intact", "(%r)" % bad)
        dups = sum(len(b) - 1 for b in got.values())
        print("note: %d duplicate%s (allowed), %d messages" %
              (dups, "" if dups == 1 else "s", N))
        check(not queue_ids(site), "the queue is empty at the end",
              "(%r)" % queue_ids(site))
        for sub in ("tmp", "corrupt"):
            left = os.listdir(site.path("var/spool/" + sub))
            check(not left, "nothing in var/spool/%s" % sub, "(%r)" % left)
        alive(site)
    finally:
        site.cleanup()
        if peer:
            peer.stop()


run(main)
