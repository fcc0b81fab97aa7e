#!/usr/bin/python3
"""
integ_durability: 250 means durable.  Four clients send 200 numbered
messages in all while bastiond is killed with SIGKILL part way; then it
is started again on the same spool.  Every message that got 250 must be
delivered, intact, byte for byte; no message whose end the client never
sent may appear.  A message whose final dot was sent but whose reply
never came may go either way (the classic lost-acknowledgement case,
RFC 1047): at most one per connection.
"""
import os
import random
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, Dialogue, check, expect, free_port, run

CLIENTS = 4
PER_CLIENT = 50
PER_CONNECTION = 10
KILL_AFTER = 70         # acknowledged messages before the kill


def policy(port):
    return """server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d
    spool "var/spool"
    log "var/protocol.log"
}
default require none
accept for test.example deliver maildir "var/mail/%%u" recipients any
""" % port


def message(serial):
    """A message with its serial everywhere; sizes from 100 B to ~40 KiB."""
    rnd = random.Random(serial)
    lines = ["Message-ID: <%d@durability.test>" % serial,
             "Subject: message %d" % serial, ""]
    for i in range(rnd.choice((1, 3, 20, 200, 600))):
        kind = rnd.random()
        if kind < 0.1:
            lines.append(".starts with a dot %d/%d" % (serial, i))
        elif kind < 0.2:
            lines.append("")
        else:
            lines.append(("%d:%d " % (serial, i)) * rnd.randint(1, 12))
    return "\r\n".join(lines) + "\r\n"


def stuffed(text):
    return "\r\n".join("." + l if l.startswith(".") else l
                       for l in text.split("\r\n"))


class Client(threading.Thread):
    def __init__(self, port, n, state, lock):
        super().__init__(daemon=True)
        self.port, self.n, self.state, self.lock = port, n, state, lock

    def mark(self, serial, what):
        with self.lock:
            self.state[serial] = what

    def run(self):
        serials = [self.n * PER_CLIENT + i for i in range(PER_CLIENT)]
        deadline = time.time() + 60
        try:
            for c in range(0, PER_CLIENT, PER_CONNECTION):
                d = Dialogue("127.0.0.1", self.port,
                             source="127.0.0.%d" % (40 + self.n), timeout=20)
                try:
                    if not d.reply().startswith("220"):
                        return
                    d.cmd("EHLO client%d.example" % self.n)
                    for serial in serials[c:c + PER_CONNECTION]:
                        if time.time() > deadline:
                            return
                        if not self.one(d, serial):
                            return
                    d.cmd("QUIT")
                finally:
                    d.close()
        except OSError:
            return

    def one(self, d, serial):
        d.send("MAIL FROM:<c%d@client.example>\r\n"
               "RCPT TO:<bob@test.example>\r\nDATA\r\n" % self.n)
        reps = [d.reply() for _ in range(3)]
        if not reps[2].startswith("354"):
            return False
        body = stuffed(message(serial)).encode()
        half = len(body) // 2
        self.mark(serial, "partial")
        d.send(body[:half])
        d.send(body[half:])
        self.mark(serial, "ended")
        d.send(".\r\n")
        rep = d.reply()
        if rep.startswith("250 2.0.0"):
            self.mark(serial, "acked")
            return True
        return False


def serial_of(stored):
    m = re.search(rb"^Message-ID: <(\d+)@durability\.test>$", stored, re.M)
    return int(m.group(1)) if m else None


def main():
    port = free_port()
    site = Site(policy(port), certs=False, name="durability")
    state, lock = {}, threading.Lock()
    try:
        site.start([("127.0.0.1", port)])
        clients = [Client(port, i, state, lock) for i in range(CLIENTS)]
        for c in clients:
            c.start()
        deadline = time.time() + 60
        while time.time() < deadline:
            with lock:
                acked = sum(1 for v in state.values() if v == "acked")
            if acked >= KILL_AFTER:
                break
            time.sleep(0.005)
        # And one client surely in the middle of its message.
        d = Dialogue("127.0.0.1", port, source="127.0.0.49", timeout=20)
        d.reply()
        d.cmd("EHLO halfway.example")
        d.cmd("MAIL FROM:<half@client.example>")
        d.cmd("RCPT TO:<bob@test.example>")
        expect(d.cmd("DATA"), "354", "a client is in the middle of DATA")
        d.send(stuffed(message(9999)))
        with lock:
            state[9999] = "partial"
        time.sleep(0.1)
        site.kill9()
        d.close()
        for c in clients:
            c.join(30)
        with lock:
            final = dict(state)
        acked = {s for s, v in final.items() if v == "acked"}
        ended = {s for s, v in final.items() if v == "ended"}
        partial = {s for s, v in final.items() if v == "partial"}
        print("killed with %d acknowledged, %d ended without a reply, "
              "%d partial" % (len(acked), len(ended), len(partial)))
        check(len(acked) >= KILL_AFTER, "the clients were sending when the "
              "kill came")

        site.start([("127.0.0.1", port)])
        # Wait until delivery settles: all acknowledged ones are there.
        deadline = time.time() + 60
        while time.time() < deadline:
            got = [serial_of(m) for m in site.maildir("bob")]
            if acked <= set(got):
                break
            time.sleep(0.1)
        time.sleep(0.5)
        mails = site.maildir("bob")
        seen = {}
        for m in mails:
            s = serial_of(m)
            seen.setdefault(s, []).append(m)
        missing = sorted(acked - set(seen))
        check(not missing, "every acknowledged message is delivered",
              "(missing %s)" % missing[:20])
        bad = []
        for s, copies in seen.items():
            if s is None:
                continue
            want = message(s).replace("\r\n", "\n").encode()
            for m in copies:
                if not m.endswith(b"\n" + want) and m[m.find(
                        b"Message-ID:"):] != want:
                    bad.append(s)
        check(not bad, "every delivered message is intact, byte for byte",
              "(%s)" % sorted(set(bad))[:20])
        check(None not in seen, "no stray message in the Maildir")
        never = sorted(s for s in seen if s not in acked and s not in ended)
        check(not never, "no message whose end was never sent is delivered",
              "(%s)" % never)
        maybe = sorted(s for s in seen if s in ended)
        print("%d of the %d unacknowledged ended messages were delivered"
              % (len(maybe), len(ended)))
        check(len(maybe) <= CLIENTS, "at most one unacknowledged message "
              "per connection is delivered (%d)" % len(maybe))
        dups = sorted(s for s, c in seen.items() if len(c) > 1)
        # A kill between the link into new/ and marking the spool makes
        # the one delivery in progress happen twice: at most one.
        check(len(dups) <= 1, "no message delivered twice (but the one "
              "being delivered at the kill)", "(%s)" % dups)
        check(os.listdir(site.path("var/spool/queue")) == [],
              "the spool's queue is empty once all is delivered")
        check(os.listdir(site.path("var/spool/tmp")) == [],
              "nothing is left in the spool's tmp/")
    finally:
        site.cleanup()


if __name__ == "__main__":
    run(main)
