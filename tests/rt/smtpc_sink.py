"""smtpc_sink.py ROOT: run by tests/rt/smtpc-sink.sh with the folder
where Postfix's package is unpacked.  smtp-sink takes the messages and
dumps each one to a file (-d), with the envelope it saw as X- headers
and the body with LF line ends; the checks compare those with what was
sent: a large pipelined message to fifty recipients, HELO when ESMTP is
off, a 5xx to DATA, a hang-up after the final dot (deferred: never
counted as delivered), and a slow DATA reply against a short timeout."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import out_lib
from smtpc_lib import (Scratch, check, drive, finish, free_port, skip)

ROOT = sys.argv[1]


class Sink(out_lib.Sink):
    """out_lib's smtp-sink, in a test's scratch folder."""

    def __init__(self, scratch, *opts):
        super().__init__(ROOT, scratch.dir, *opts)

    def target(self):
        return "127.0.0.1:%d" % self.port


def split_dump(d):
    """smtp-sink's dump: X- envelope headers, its Received:, the message."""
    head, rest = [], d.split(b"\n")
    i = 0
    while i < len(rest) and rest[i].startswith(b"X-"):
        head.append(rest[i])
        i += 1
    # Skip smtp-sink's own Received: header (with its continuations).
    if i < len(rest) and rest[i].startswith(b"Received:"):
        i += 1
        while i < len(rest) and rest[i][:1] in (b" ", b"\t"):
            i += 1
    msg = b"\n".join(rest[i:])
    # The dump ends each message with an empty line of its own.
    return head, msg[:-1] if msg.endswith(b"\n\n") else msg


def main():
    sc = Scratch("smtpc-sink")
    try:
        # Fifty recipients, about 1 MB, pipelined.
        lines = [b"Subject: big one", b""]
        for i in range(16000):
            lines.append((b"." if i % 9 == 0 else b"") +
                         b"line %06d of a long message, some text to pad" % i)
        body = b"\r\n".join(lines) + b"\r\n"
        path = sc.path("big.eml")
        with open(path, "wb") as f:
            f.write(body)
        rcpts = ["user%02d@sink.test" % i for i in range(50)]
        opts = ["-T", "20000", "-m", path]
        for r in rcpts:
            opts += ["-r", r]
        s = Sink(sc)
        r = drive(sc, [s.target()], opts)
        time.sleep(0.3)
        dumps = s.dumps()
        s.stop()
        check(all(r.result(a) == "delivered" for a in rcpts),
              "sink: 50 recipients delivered", r.show())
        check(len(dumps) == 1, "sink: one message dumped", len(dumps))
        if dumps:
            head, got = split_dump(dumps[0])
            check(got == body.replace(b"\r\n", b"\n"),
                  "sink: %d bytes arrive intact" % len(body),
                  "got %d bytes" % len(got))
            check([h for h in head if h.startswith(b"X-Rcpt-Args")] ==
                  [b"X-Rcpt-Args: <%s>" % a.encode() for a in rcpts],
                  "sink: every RCPT, in order")
            check(b"X-Client-Proto: ESMTP" in head, "sink: ESMTP")
        check(r.log.count(",>,RCPT TO:") == 50 and ",>,DATA" in r.log,
              "sink: pipelined MAIL, RCPTs, DATA logged")

        # ESMTP off: EHLO is refused, HELO works.
        s = Sink(sc, "-e")
        r = drive(sc, [s.target()], ["-T", "10000"])
        time.sleep(0.2)
        dumps = s.dumps()
        s.stop()
        check(r.result() == "delivered" and ",>,HELO client.test" in r.log,
              "sink -e: HELO after a refused EHLO, delivered", r.show())
        check(dumps and b"X-Client-Proto: SMTP" in dumps[0],
              "sink -e: the sink saw plain SMTP")

        # A hard error to DATA: bounced with the sink's reply.
        s = Sink(sc, "-f", "data")
        r = drive(sc, [s.target()], ["-T", "10000"])
        s.stop()
        check(r.result() == "bounced" and r.text().startswith("5"),
              "sink -f data: bounced with the reply", r.show())

        # A soft error to RCPT: deferred.
        s = Sink(sc, "-r", "rcpt")
        r = drive(sc, [s.target()], ["-T", "10000"])
        s.stop()
        check(r.result() == "deferred" and r.text().startswith("4"),
              "sink -r rcpt: deferred with the reply", r.show())

        # Hang up after the final dot without a reply: never delivered.
        s = Sink(sc, "-q", ".")
        r = drive(sc, [s.target()], ["-T", "10000"])
        s.stop()
        check(r.result() == "deferred",
              "sink -q .: no reply to the dot is a deferral", r.show())

        # A slow DATA reply against a short timeout.
        s = Sink(sc, "-w", "3")
        t0 = time.monotonic()
        r = drive(sc, [s.target()], ["-T", "1000"])
        took = time.monotonic() - t0
        s.stop()
        check(r.result() == "deferred" and "timeout" in r.text() and
              took < 3, "sink -w 3: the DATA timeout defers (%.1f s)" % took,
              r.show())
    finally:
        sc.cleanup()
    finish()


main()
