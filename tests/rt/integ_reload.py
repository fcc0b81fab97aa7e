#!/usr/bin/python3
"""
integ_reload: SIGHUP and SIGTERM with sessions open.  A new table
(127.0.0.50 moved from `require none` to `deny`, written atomically by
policyc -o) takes effect for new sessions while the open ones finish
their mail; a bad table moved over the good one is refused and logged,
and the old one stays in force.  SIGTERM: idle sessions get 421 4.3.2,
a session in the middle of DATA finishes (250, then 421), and bastiond
exits 0.
"""
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Site, Dialogue, check, expect, free_port, run,
                     verifier, plain_token)

MOVED, OTHER = "127.0.0.50", "127.0.0.51"
SENDERS = 3
MESSAGES = 12


def policy(port, moved_rule):
    return """server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d
    spool "var/spool"
    log "var/protocol.log"
}
default require none
host %s %s
host 127.0.0.54 auth cleartext
user "alice" "%s"
accept for test.example deliver maildir "var/mail/%%u" recipients any
""" % (port, MOVED, moved_rule, verifier("alice-pw"))


class Sender(threading.Thread):
    """One session that sends MESSAGES messages, slowly, then QUITs."""

    def __init__(self, port, n, go):
        super().__init__(daemon=True)
        self.port, self.n, self.go = port, n, go
        self.replies = []
        self.error = None

    def run(self):
        try:
            d = Dialogue("127.0.0.1", self.port, source=MOVED, timeout=20)
            self.replies.append(d.reply())
            self.replies.append(d.cmd("EHLO sender%d.example" % self.n))
            self.go.wait(20)
            deadline = time.time() + 40
            for i in range(MESSAGES):
                if time.time() > deadline:
                    break
                self.replies.append(d.cmd("MAIL FROM:<s%d@client.example>"
                                          % self.n))
                self.replies.append(d.cmd("RCPT TO:<load@test.example>"))
                self.replies.append(d.cmd("DATA"))
                self.replies.append(d.cmd(
                    "Subject: s%d m%d\r\n\r\nsender %d message %d\r\n."
                    % (self.n, i, self.n, i)))
                time.sleep(0.05)
            self.replies.append(d.cmd("QUIT"))
            d.close()
        except OSError as e:
            self.error = e


def reload_under_load(site, port):
    sum1 = site.checksum()
    go = threading.Event()
    senders = [Sender(port, i, go) for i in range(SENDERS)]
    for s in senders:
        s.start()
    time.sleep(0.3)
    go.set()
    time.sleep(0.2)         # they are sending now

    # The new table, written atomically over the old one.
    site.write_policy(policy(port, "deny"))
    sum2 = site.checksum()
    check(sum1 != sum2, "the new table has another checksum")
    site.signal(signal.SIGHUP)
    check(site.wait_log(r"table %s loaded" % sum2) is not None,
          "SIGHUP: the log says the new table is loaded")
    d = Dialogue("127.0.0.1", port, source=MOVED)
    expect(d.reply(), r"554 5\.7\.1", "a new session from %s is denied now"
           % MOVED)
    d.close()
    d = Dialogue("127.0.0.1", port, source=OTHER)
    expect(d.reply(), "220", "another host is still served")
    d.close()

    for s in senders:
        s.join(60)
    for s in senders:
        ok = (s.error is None and len(s.replies) == 3 + 4 * MESSAGES and
              s.replies[-1].startswith("221") and
              all(r.startswith("250 2.0.0 Ok: queued")
                  for r in s.replies[5:-1:4]))
        check(ok, "open session %d was not dropped and sent all %d "
              "messages" % (s.n, MESSAGES),
              "(%s, %r)" % (s.error, s.replies[-3:]))
    mails = site.wait_mail("load", SENDERS * MESSAGES)
    check(len(mails) == SENDERS * MESSAGES, "all %d messages of the open "
          "sessions are delivered (%d)" % (SENDERS * MESSAGES, len(mails)))
    log = site.log()
    after = log[log.find("table %s loaded" % sum2):]
    check(re.search(r"127\.0\.0\.50:\d+,\*,\"queued as", after),
          "the open sessions from %s queued mail after the reload" % MOVED)
    check(re.search(r"127\.0\.0\.50:\d+,\*,\"deny: rule line 8 \(host "
                    r"127\.0\.0\.50 deny\), table %s\"" % sum2, log),
          "the denial names the new rule and the new table")
    return sum2


def bad_reload(site, port, good_sum):
    bad = site.path("site.ptab.new")
    with open(bad, "wb") as f:
        f.write(b"this is not a table\n" * 100)
    os.replace(bad, site.table)
    # The log is rotated at the same time: SIGHUP reopens it anyway.
    os.replace(site.path("var/protocol.log"), site.path("var/protocol.1"))
    site.signal(signal.SIGHUP)
    check(site.wait_log(r"reload refused, old table kept") is not None,
          "a bad table: the new protocol log says the reload was refused")
    with open(site.path("var/protocol.1")) as f:
        old = f.read()
    check("reload refused" not in old and "table %s loaded" % good_sum in old,
          "the rotated log has what came before")
    check(site.wait_log(r"reload: .*keeping table %s" % good_sum,
                        text=site.stderr) is not None,
          "a bad table: stderr says why and which table stays",
          site.stderr()[-500:])
    d = Dialogue("127.0.0.1", port, source=MOVED)
    expect(d.reply(), r"554 5\.7\.1", "the old table stays in force (deny)")
    d.close()
    d = Dialogue("127.0.0.1", port, source=OTHER)
    expect(d.reply(), "220", "and serves the others")
    expect(d.cmd("QUIT"), "221", "bastiond is still running")
    d.close()
    # A good table again, for what follows.
    site.write_policy(policy(port, "require none"))
    site.signal(signal.SIGHUP)
    check(site.wait_log(r"table %s loaded" % site.checksum()) is not None,
          "a good table after a bad one is taken")


def sigterm(site, port):
    idle = Dialogue("127.0.0.1", port, source=OTHER, timeout=20)
    idle.reply()
    idle.cmd("EHLO idle.example")
    busy = Dialogue("127.0.0.1", port, source="127.0.0.52", timeout=20)
    busy.reply()
    busy.cmd("EHLO busy.example")
    busy.cmd("MAIL FROM:<busy@client.example>")
    busy.cmd("RCPT TO:<term@test.example>")
    expect(busy.cmd("DATA"), "354", "SIGTERM: a session is in DATA")
    busy.send("Subject: in flight\r\n\r\nfirst half\r\n")
    intx = Dialogue("127.0.0.1", port, source="127.0.0.53", timeout=20)
    intx.reply()
    intx.cmd("EHLO intx.example")
    expect(intx.cmd("MAIL FROM:<tx@client.example>"), "250",
           "SIGTERM: a session has begun a transaction")
    authing = Dialogue("127.0.0.1", port, source="127.0.0.54", timeout=20)
    authing.reply()
    authing.cmd("EHLO authing.example")
    authing.send("AUTH PLAIN " + plain_token("alice", "wrong") + "\r\n")
    time.sleep(0.2)
    t0 = time.time()
    site.signal(signal.SIGTERM)
    expect(idle.reply(), r"421 4\.3\.2", "SIGTERM: the idle session gets "
           "421 4.3.2")
    check(idle.closed(), "SIGTERM: and is closed")
    busy.send("second half\r\n.\r\n")
    expect(busy.reply(), r"250 2\.0\.0 Ok: queued",
           "SIGTERM: the message in flight is taken (250)")
    expect(busy.reply(), r"421 4\.3\.2", "SIGTERM: then 421 4.3.2")
    check(busy.closed(), "SIGTERM: and the session is closed")
    expect(intx.cmd("RCPT TO:<term@test.example>"), "250",
           "SIGTERM: the transaction goes on")
    intx.cmd("DATA")
    expect(intx.cmd("Subject: second\r\n\r\nbody\r\n."), "250",
           "SIGTERM: and its message is taken")
    expect(intx.reply(), r"421 4\.3\.2", "SIGTERM: then 421 4.3.2")
    expect(authing.reply(), r"535 5\.7\.8", "SIGTERM: a failing AUTH gets "
           "its 535")
    expect(authing.reply(), r"421 4\.3\.2", "SIGTERM: then 421 4.3.2")
    for d in (idle, busy, intx, authing):
        d.close()
    try:
        rc = site.proc.wait(20)
    except Exception:
        rc = None
    took = time.time() - t0
    check(rc == 0, "SIGTERM: bastiond exits 0", "(%r)" % rc)
    check(took < 10, "SIGTERM: once the sessions are done, not after the "
          "grace period (%.1fs)" % took)
    # The two messages are in the spool; the next start delivers them.
    site.proc = None
    site.err.close()
    site.start([("127.0.0.1", port)])
    mails = site.wait_mail("term", 2)
    check(len(mails) == 2 and any(b"second half" in m for m in mails),
          "what was taken during shutdown is delivered after a restart")


def main():
    port = free_port()
    site = Site(policy(port, "require none"), certs=False, name="reload")
    try:
        site.start([("127.0.0.1", port)])
        good = reload_under_load(site, port)
        bad_reload(site, port, good)
        sigterm(site, port)
    finally:
        site.cleanup()


if __name__ == "__main__":
    run(main)
