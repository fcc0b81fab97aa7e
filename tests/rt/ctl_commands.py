#!/usr/bin/python3
"""
ctl_commands: every bastionctl command against a running bastiond, as
an administrator uses them.  Mail for later.example goes to an aiosmtpd
next hop that is down at first: `queue` shows the deferral with its
reason, attempts and next attempt (text and JSON lines), `show` the
envelope and headers; `hold` keeps a message back through a kill -9 and
a `flush` of everything, `release` lets it go; `flush` delivers once
the hop is up; `remove` drops a message without a bounce and `bounce`
returns one to its sender's Maildir, both logged with who asked;
`reload` says accepted or refused (exit 1, with the reason) and a
refused table leaves the old one serving; `stats -p` is parsed as
Prometheus text; `status` adds it up.  Usage errors exit 2, a daemon
that is not there exits 1.
"""
import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, check, free_port, run
from out_lib import (AioPeer, alive, message, queue_ids, send, server_block,
                     wait_for)
from ctl_lib import ctl as ctl_once, prometheus, sample

# retry 1h: nothing is retried by itself while the test runs.
CONF = "queue lifetime 1h retry 1h\ntimeout connect 2s"


def ctl(site, *args, **kw):
    """ctl_lib.ctl, again while bastionctl says the message is being
    delivered: a round's end is made durable after its log lines, and
    the message is the relay's until then."""
    deadline = time.time() + 5
    while True:
        rc, out, err = ctl_once(site, *args, **kw)
        if "being delivered now" not in err or time.time() > deadline:
            return rc, out, err
        time.sleep(0.05)


def held_ids(site):
    try:
        return sorted(os.listdir(site.path("var/spool/hold")))
    except OSError:
        return []


def policy(port, hop, extra=""):
    return (server_block(port, CONF + extra) +
            "outbound later.example via 127.0.0.1 port %d tls none\n" % hop)


def arrived(peer, tag):
    return [m for m in peer.mails
            if b"Subject: outbound %s\r\n" % tag.encode() in m["body"]]


def submit(site, port, tag, rcpt):
    """Send one message; wait until it is deferred; its queue id."""
    before = set(queue_ids(site))
    send(port, "alice@local.example", [rcpt], message(tag, to=rcpt))
    got = wait_for(lambda: set(queue_ids(site)) - before, 5)
    check(site.wait_log(r"deferred <%s>" % re.escape(rcpt), 10),
          "%s: deferred while the next hop is down" % tag)
    qid = sorted(got)[0] if got else ""
    # The round's state is made durable by the commit thread, a moment
    # after the log line.
    wait_for(lambda: qid and os.path.exists(
        site.path("var/spool/state/" + qid)), 5)
    return qid


def main():
    port, hop = free_port(), free_port()
    site = Site(policy(port, hop), name="ctl-cmd")
    peer = None
    try:
        rc, out, err = ctl(None, "-h")
        check(rc == 0 and "usage: bastionctl" in out, "-h prints the usage")
        rc, out, err = ctl(None, "--version")
        check(rc == 0 and out.startswith("bastionctl"), "--version")
        rc, out, err = ctl(site, "status")
        check(rc == 1 and "not running" in err,
              "no daemon: exit 1, 'not running'", "(%d %r)" % (rc, err))
        for bad in (["frob"], ["show"], ["queue", "-x"], ["hold", "xyz!"],
                    ["status", "extra"]):
            rc, out, err = ctl(site, *bad)
            check(rc == 2, "usage error exits 2: %s" % " ".join(bad),
                  "(%d %r)" % (rc, err))

        site.start([("127.0.0.1", port)])
        sock = site.path("var/spool/control.sock")
        st = os.stat(sock)
        check(oct(st.st_mode & 0o777) == "0o600",
              "the socket is in the spool, mode 0600",
              oct(st.st_mode))
        rc, out, err = ctl(site, "status")
        check(rc == 0 and site.checksum() in out and site.table in out,
              "status: the table's checksum and path", out + err)
        check(re.search(r"listener 127\.0\.0\.1:%d sessions 0" % port, out),
              "status: sessions by listener", out)
        check("queue 0 messages" in out, "status: an empty queue", out)
        rc2, out2, err2 = ctl(site, "status", sock=sock)
        check(rc2 == 0 and out2.splitlines()[0] == out.splitlines()[0],
              "-s SOCKET finds the same daemon")

        # Deferred: what queue says about it.
        a = submit(site, port, "one", "x@later.example")
        rc, out, err = ctl(site, "queue")
        check(rc == 0 and a in out and "<alice@local.example>" in out,
              "queue: the message, its sender", out + err)
        m = re.search(r"<x@later\.example> deferred, next (\S+), last: (.*)",
                      out)
        check(m and "connect to 127.0.0.1" in m.group(2),
              "queue: the recipient is deferred, with the last reason", out)
        check(m and re.match(r"\d{4}-\d\d-\d\dT", m.group(1)),
              "queue: the next attempt's time", out)
        check(re.search(r"%s \S+ \d+ bytes <alice@local\.example> attempts 1"
                        % a, out), "queue: age, size, attempts", out)
        rc, out, err = ctl(site, "queue", "-j")
        try:
            rows = [json.loads(l) for l in out.splitlines()]
        except ValueError:
            rows = []
        check(rc == 0 and len(rows) == 1, "queue -j: one JSON line",
              out + err)
        if rows:
            r = rows[0]
            check(r["id"] == a and r["recipient"] == "x@later.example" and
                  r["state"] == "deferred" and r["attempts"] == 1 and
                  "connect to" in (r["last_reply"] or "") and
                  r["next_attempt"] and r["sender"] == "alice@local.example"
                  and r["size"] > 100 and r["age"] >= 0,
                  "queue -j: the fields", repr(r))
        rc, out, err = ctl(site, "show", a)
        check(rc == 0 and "sender: <alice@local.example>" in out and
              "recipient: <x@later.example> pending" in out and
              "Subject: outbound one" in out and "Hello from" not in out,
              "show: envelope and headers, not the body", out + err)
        rc, out, err = ctl(site, "show", "0" * 22)
        check(rc == 1 and "no such message" in err, "show: unknown id")

        # Hold: survives kill -9 and a flush of everything.
        b = submit(site, port, "two", "y@later.example")
        rc, out, err = ctl(site, "hold", b)
        check(rc == 0 and b in held_ids(site) and b not in queue_ids(site),
              "hold: the message moves to hold/", out + err)
        rc, out, err = ctl(site, "queue")
        check(re.search(r"<y@later\.example> held", out), "queue: held",
              out)
        check(ctl(site, "flush", b)[0] == 1, "flush ID of a held message "
              "is refused")
        site.kill9()
        peer = AioPeer(site, port=hop)
        site.start([("127.0.0.1", port)])
        check(b in held_ids(site), "hold: still held after kill -9")
        rc, out, err = ctl(site, "queue")
        check(re.search(r"%s .* attempts 1\n.*<x@later\.example> deferred, "
                        r"next \S+, last: connect to" % a, out),
              "queue: attempts and the last reply survive kill -9", out)
        rc, out, err = ctl(site, "status")
        check(re.search(r"queue 2 messages, 2 recipients, 1 deferred, "
                        r"1 held", out), "status: queue counts", out)
        rc, out, err = ctl(site, "flush")
        check(rc == 0 and "1 deferred message due now" in out,
              "flush: one deferred message due now", out + err)
        got = wait_for(lambda: arrived(peer, "one"), 15)
        check(len(got) == 1, "flush: the deferred message is delivered")
        time.sleep(1)
        check(not arrived(peer, "two") and b in held_ids(site),
              "flush: the held one is not")
        rc, out, err = ctl(site, "release", b)
        check(rc == 0, "release", out + err)
        check(len(wait_for(lambda: arrived(peer, "two"), 15)) == 1,
              "release: delivered at once")
        check(wait_for(lambda: not queue_ids(site) and not held_ids(site), 5),
              "the queue is empty")
        check(not os.listdir(site.path("var/spool/state")),
              "no state is left behind")
        peer.stop()
        peer = None

        # Remove and bounce.
        c = submit(site, port, "three", "z@later.example")
        rc, out, err = ctl(site, "remove", c)
        check(rc == 0 and c not in queue_ids(site), "remove: gone",
              out + err)
        check(site.wait_log(r',%s,control,uid 0 pid \d+,\*,"?removed '
                            r'without a bounce' % c, 2),
              "remove: logged, with who asked", site.log()[-500:])
        d = submit(site, port, "four", "w@later.example")
        rc, out, err = ctl(site, "bounce", d)
        check(rc == 0 and d not in queue_ids(site) and
              "1 recipient returned" in out, "bounce: returned", out + err)
        mails = site.wait_mail("alice", 1)
        check(len(mails) == 1 and b"w@later.example" in mails[0] and
              b"multipart/report" in mails[0] and
              b"Subject: outbound four" in mails[0],
              "bounce: the DSN is in the sender's Maildir", "%r" % mails[:1])
        check(not any(b"z@later.example" in x for x in site.maildir("alice")),
              "remove: no bounce for the removed one")
        check(site.wait_log(r",%s,control,uid 0 pid \d+,\*,bounced 1 "
                            r"recipient" % d, 2), "bounce: logged")
        rc, out, err = ctl(site, "remove", d)
        check(rc == 1 and "no such message" in err, "remove: unknown id")

        # Reload: refused (a listener changed), then accepted.
        old = site.checksum()
        site.write_policy(policy(free_port(), hop))
        rc, out, err = ctl(site, "reload")
        check(rc == 1 and "refused" in err and "listener" in err and
              "restart" in err, "reload: refused, with the reason",
              "(%d %r %r)" % (rc, out, err))
        rc, out, err = ctl(site, "status")
        check(old in out and "reload refused" in out,
              "status: the old table, the refusal", out)
        check(not send(port, "alice@local.example", ["frank@local.example"],
                       message("five")), "still serving the old table")
        site.write_policy(policy(port, hop, "\nlimit recipients 50"))
        new = site.checksum()
        rc, out, err = ctl(site, "reload")
        check(rc == 0 and "accepted" in out and new in out,
              "reload: accepted, with the new checksum", out + err)

        # Counters.
        rc, out, err = ctl(site, "stats", "-p")
        samples, problems = prometheus(out)
        check(rc == 0 and not problems, "stats -p: valid exposition format",
              "%r %r" % (problems, out))
        adm = sample(samples, "bastion_connections_total",
                     decision="admitted")
        check(adm is not None and adm >= 3,
              "stats -p: connections admitted", repr(adm))
        check((sample(samples, "bastion_messages_accepted_total") or 0) >= 3,
              "stats -p: messages accepted")
        check((sample(samples, "bastion_recipients_total",
                      outcome="delivered") or 0) >= 2,
              "stats -p: recipients delivered (since the restart)")
        check((sample(samples, "bastion_recipients_total",
                      outcome="deferred") or 0) >= 1,
              "stats -p: recipients deferred")
        check((sample(samples, "bastion_accepted_bytes_total") or 0) > 300,
              "stats -p: bytes")
        rc, out, err = ctl(site, "stats")
        check(rc == 0 and re.search(r"^messages_accepted \d+$", out, re.M),
              "stats: text", out)
        alive(site)
    finally:
        site.cleanup()
        if peer:
            peer.stop()


run(main)
