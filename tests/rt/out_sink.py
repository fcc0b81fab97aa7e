#!/usr/bin/python3
"""
out_sink: bastiond relays to Postfix's smtp-sink (from Debian's postfix
package, unpacked by tools/deps, never installed; a hard error when
it is not there).  Thirty messages to three recipients each, one of them
about a megabyte with dotted lines, are each dumped once by the sink
with the right envelope and a body intact apart from our Received:
header; a sink that answers 4xx to RCPT leaves the message queued.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, check, free_port, run
from out_lib import (Sink, alive, message, queue_ids, send, server_block,
                     sink_root, split_sink_dump, strip_received, wait_for)

N = 30
# An hour between retries: a message that misses its first attempt
# (say, judged not due yet by a clock that lags the file's stamp) would
# fail the test instead of turning up at the next rescan.
CONF = "queue lifetime 1h retry 1h"


def big():
    lines = [b"From: <alice@local.example>", b"To: <x@sink.example>",
             b"Subject: outbound big", b"Message-ID: <big@local.example>",
             b""]
    for i in range(16000):
        lines.append((b"." if i % 9 == 0 else b"") +
                     b"line %06d of a long message, some text to pad" % i)
    return b"\r\n".join(lines) + b"\r\n"


def main():
    root = sink_root()
    port = free_port()
    site = Site(server_block(port, CONF),
                name="out-sink")
    sinks = []
    try:
        sink = Sink(root, site.dir)
        soft = Sink(root, site.dir, "-r", "rcpt")
        sinks = [sink, soft]
        site.write_policy(server_block(port, CONF) +
                          "outbound sink.example via 127.0.0.1 port %d "
                          "tls opportunistic\n"
                          "outbound soft.example via 127.0.0.1 port %d "
                          "tls none\n" % (sink.port, soft.port))
        site.start([("127.0.0.1", port)])

        sent = {}
        for i in range(N):
            tag = "sink%02d" % i
            rcpts = ["u%d.%d@sink.example" % (i, k) for k in range(3)]
            sent[tag] = (rcpts, big() if i == 7 else message(tag, to=rcpts[0]))
            send(port, "alice@local.example", rcpts, sent[tag][1])
        send(port, "alice@local.example", ["later@soft.example"],
             message("soft", to="later@soft.example"))

        wait_for(lambda: len(sink.dumps()) >= N and
                 len(queue_ids(site)) <= 1, 15)
        time.sleep(0.2)
        dumps = sink.dumps()
        check(len(dumps) == N, "the sink dumped %d messages" % N,
              "(%d)" % len(dumps))
        seen = {}
        for d in dumps:
            head, msg = split_sink_dump(d)
            msg = msg.replace(b"\n", b"\r\n")
            for tag, (rcpts, body) in sent.items():
                if strip_received(msg) == body:
                    seen.setdefault(tag, []).append(head)
        check(len(seen) == N and all(len(v) == 1 for v in seen.values()),
              "each message arrives once, intact apart from Received:",
              "(%d of %d matched)" % (len(seen), N))
        ok = all(
            [h for h in heads[0] if h.startswith(b"X-Rcpt-Args")] ==
            [b"X-Rcpt-Args: <%s>" % a.encode() for a in sent[tag][0]] and
            b"X-Mail-Args: <alice@local.example>" in b" ".join(
                x.split(b" SIZE=")[0] for x in heads[0])
            for tag, heads in seen.items())
        check(ok, "the sink saw each envelope: sender, three RCPTs in order")
        check(b"X-Client-Proto: ESMTP" in dumps[0],
              "the sink saw ESMTP")
        big_ok = "sink07" in seen
        check(big_ok, "the 1 MB message with dotted lines arrived intact")

        ids = queue_ids(site)
        check(len(ids) == 1, "only the deferred message stays queued",
              "(%r)" % ids)
        log = site.log()
        check("deferred <later@soft.example>: 4" in log,
              "a 4xx to RCPT defers, with the sink's reply in the log",
              log[-1500:])
        alive(site)
    finally:
        site.cleanup()
        for s in sinks:
            s.stop()


run(main)
