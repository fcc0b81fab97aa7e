#!/usr/bin/python3
"""
out_reuse: outbound sessions carry more than one message, as Postfix's
connection cache does under a backlog.  The next hop is a scripted
server on 127.0.0.1 that counts what a user of it would see:
connections, how many are open at once, RSET, QUIT, and over which
connection (and which AUTH) each message came.

1. Backlog: 30 messages for one next hop queue up while it is down;
   it comes up and the queue is flushed (bastionctl flush).  Every
   message arrives once, over far fewer connections than messages,
   with RSET before each transaction after a connection's first, never
   more than 8 sessions open at once (the per-next-hop bound); the log
   says when a session is reused, and `bastionctl stats` counts the
   sessions opened and reused.  On SIGTERM, every idle session says
   QUIT.
2. A kept session that the next hop answers RSET with 421: the message
   goes over a new connection and arrives (no deferral).
3. A kept session that the next hop closes while it is idle: the next
   message goes over a new connection and arrives.
4. Two routes to the same next hop with their own credentials: a
   session authenticated for one never carries the other's mail, and
   one reused keeps its TLS and AUTH (AUTH once a connection).
5. A reload (a new table): the session parked under the old one is not
   reused.
The retry interval is an hour: a message deferred by mistake would not
arrive within the test.
"""
import base64
import os
import signal
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, check, free_port, run
from ctl_lib import ctl
from out_lib import (PASSWORD, alive, message, queue_ids, seal, send,
                     server_block, wait_for)

CONF = "queue lifetime 1h retry 1h\ntimeout connect 2s"
NMSG = 30
DEST_MAX = 8            # RELAY_DEST_MAX


class Peer:
    """A next hop on a socket bound now and listened on at start(): a
    connection is refused until then.  One thread a connection.
    tls: an SSLContext for STARTTLS; users: AUTH PLAIN accounts (then
    required, inside TLS); rset: the reply to RSET (the connection is
    closed after a 4xx); drop: close a connection, unasked, after its
    first message; slow: seconds before the reply to the final dot."""

    def __init__(self, tls=None, users=(), rset="250 2.0.0 Ok", drop=False,
                 slow=0.0):
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.bind(("127.0.0.1", 0))
        self.port = self.ls.getsockname()[1]
        self.tls, self.users, self.rset = tls, set(users), rset
        self.drop, self.slow = drop, slow
        self.lock = threading.Lock()
        self.conns = 0
        self.open = 0
        self.max_open = 0
        self.rsets = 0
        self.quits = 0
        self.unreset = 0        # a MAIL after a transaction, no RSET
        self.auths = 0          # AUTH commands
        self.mails = []         # (connection, subject, auth user)
        self.threads = []
        self.stopping = False

    def start(self):
        self.ls.listen(64)
        self.ls.settimeout(0.2)
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)

    def _accept(self):
        while not self.stopping:
            try:
                s, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.conns += 1
                n = self.conns
                self.open += 1
                self.max_open = max(self.max_open, self.open)
            t = threading.Thread(target=self._serve, args=(s, n),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, s, n):
        try:
            s.settimeout(30)
            self._dialogue(s, n)
        except (OSError, ValueError):
            pass
        finally:
            with self.lock:
                self.open -= 1
            try:
                s.close()
            except OSError:
                pass

    def _dialogue(self, s, n):
        f = s.makefile("rb")

        def say(text):
            s.sendall(text.encode() + b"\r\n")

        say("220 reuse.test ESMTP")
        tls = user = None
        done = 0                # transactions on this connection
        clean = True            # no transaction since the last RSET
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.decode("latin-1").rstrip("\r\n")
            verb = cmd[:4].upper()
            if verb == "EHLO":
                ext = ["PIPELINING", "8BITMIME", "SIZE 10000000"]
                if self.tls and not tls:
                    ext.append("STARTTLS")
                if self.users and tls:
                    ext.append("AUTH PLAIN")
                say("\r\n".join("250-" + e for e in ["reuse.test"] +
                                ext[:-1]) + "\r\n250 " + ext[-1])
            elif verb == "STAR" and self.tls and not tls:
                say("220 2.0.0 Ready")
                s = self.tls.wrap_socket(s, server_side=True)
                f = s.makefile("rb")
                tls = True
            elif verb == "AUTH":
                with self.lock:
                    self.auths += 1
                parts = cmd.split()
                tok = parts[2] if len(parts) > 2 else None
                if tok is None:
                    say("334 ")
                    tok = f.readline().decode().strip()
                try:
                    _, u, p = base64.b64decode(tok).decode().split("\0")
                except (ValueError, UnicodeDecodeError):
                    u = p = None
                if tls and u in self.users and p == PASSWORD:
                    user = u
                    say("235 2.7.0 Authenticated")
                else:
                    say("535 5.7.8 Bad credentials")
            elif verb == "MAIL":
                if self.users and user is None:
                    say("530 5.7.0 Authentication required")
                    continue
                if not clean:
                    with self.lock:
                        self.unreset += 1
                clean = False
                say("250 2.1.0 Ok")
            elif verb == "RCPT":
                say("250 2.1.5 Ok")
            elif verb == "DATA":
                say("354 Go ahead")
                body = b""
                while True:
                    l = f.readline()
                    if not l or l == b".\r\n":
                        break
                    body += l
                subj = b""
                for h in body.split(b"\r\n"):
                    if h.startswith(b"Subject: "):
                        subj = h[9:]
                        break
                with self.lock:
                    self.mails.append((n, subj.decode(), user))
                if self.slow:
                    time.sleep(self.slow)
                say("250 2.0.0 Ok: queued")
                done += 1
                if self.drop:
                    return      # closed, unasked, while bastiond idles
            elif verb == "RSET":
                with self.lock:
                    self.rsets += 1
                say(self.rset)
                if self.rset.startswith("4"):
                    return
                clean = True
            elif verb == "QUIT":
                with self.lock:
                    self.quits += 1
                say("221 2.0.0 Bye")
                return
            elif verb == "NOOP":
                say("250 2.0.0 Ok")
            else:
                say("502 5.5.2 Unknown command")

    def subjects(self):
        with self.lock:
            return [m[1] for m in self.mails]

    def stop(self):
        self.stopping = True
        try:
            self.ls.close()
        except OSError:
            pass
        for t in self.threads:
            t.join(5)


def stat(site, name, kind):
    """A counter of `bastionctl stats`, or None."""
    rc, out, _ = ctl(site, "stats")
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[0] == name and f[1] == kind:
            return int(f[2])
    return None


def backlog(port, site, peer):
    """Part 1."""
    tags = ["backlog %02d" % i for i in range(NMSG)]
    for t in tags:
        send(port, "alice@local.example", ["x@backlog.example"],
             message(t, to="x@backlog.example"))
    check(wait_for(lambda: site.log().count("deferred <x@backlog.example>")
                   >= NMSG, 30), "backlog: %d messages defer while the "
          "next hop is down" % NMSG)
    opened0 = stat(site, "outbound_sessions", "opened") or 0
    reused0 = stat(site, "outbound_sessions", "reused") or 0
    peer.start()
    rc, out, err = ctl(site, "flush")
    check(rc == 0, "backlog: bastionctl flush", out + err)
    wait_for(lambda: len(peer.mails) >= NMSG and not queue_ids(site), 60)
    got = sorted(peer.subjects())
    check(got == sorted("outbound " + t for t in tags),
          "backlog: every message arrives once",
          "(%d arrived, %d distinct)" % (len(got), len(set(got))))
    check(not queue_ids(site), "backlog: the queue is empty")
    check(peer.conns <= NMSG // 2,
          "backlog: far fewer connections than messages (%d for %d)"
          % (peer.conns, NMSG))
    check(peer.rsets >= NMSG - peer.conns and peer.unreset == 0,
          "backlog: RSET before every transaction after a connection's "
          "first", "(%d RSET, %d MAIL without)" % (peer.rsets,
                                                   peer.unreset))
    check(peer.max_open <= DEST_MAX,
          "backlog: never more than %d sessions open at once (%d)"
          % (DEST_MAX, peer.max_open))
    check(site.wait_log(r",\*,reusing session to 127\.0\.0\.1:%d "
                        r"\(message 2 on it\)" % peer.port, 1),
          "backlog: the log says when a session is reused")
    if "waiting for a session to 127.0.0.1:%d" % peer.port in site.log():
        print("note: messages waited for a session to the next hop")
    opened = (stat(site, "outbound_sessions", "opened") or 0) - opened0
    reused = (stat(site, "outbound_sessions", "reused") or 0) - reused0
    check(opened == peer.conns and reused == NMSG - peer.conns,
          "backlog: bastionctl stats counts the sessions opened (%r) and "
          "the messages over a reused one (%r)" % (opened, reused))


def one_by_one(port, site, peer, what, rcpt, closed=False):
    """Three messages for rcpt, each sent once the one before has
    arrived (and, if closed, once the peer has closed its connection):
    every one must arrive, none deferred."""
    peer.start()
    tag = rcpt.split("@")[1].split(".")[0]
    for i in range(3):
        send(port, "alice@local.example", [rcpt],
             message("%s %d" % (tag, i), to=rcpt))
        wait_for(lambda: len(peer.mails) > i, 20)
        if closed:
            wait_for(lambda: peer.open == 0, 5)
    check(sorted(peer.subjects()) == ["outbound %s %d" % (tag, i)
                                      for i in range(3)],
          "%s: every message arrives" % what, "(%r)" % peer.subjects())
    wait_for(lambda: not queue_ids(site), 5)
    check("deferred <%s>" % rcpt not in site.log() and
          not queue_ids(site), "%s: no message deferred" % what)


def rset_421(port, site, peer):
    """Part 2: RSET answered 421."""
    one_by_one(port, site, peer, "RSET 421", "y@rset.example")
    if peer.rsets == 0:
        print("note: no session was kept long enough to be reused here")
        return
    check(site.wait_log(r"the kept session failed: 421 .*; connecting "
                        r"again", 1),
          "RSET 421: the log says the kept session failed")
    conns = [m[0] for m in peer.mails]
    check(len(set(conns)) == 3, "RSET 421: each message over a new "
          "connection", "(%r)" % conns)


def dropped(port, site, peer):
    """Part 3: the next hop closes a kept session while it idles."""
    one_by_one(port, site, peer, "closed by the peer", "z@drop.example",
               closed=True)
    check(peer.conns == 3, "closed by the peer: a new connection for "
          "each message", "(%d)" % peer.conns)


def routes(port, site, peer):
    """Part 4: two routes, their own credentials, one next hop."""
    peer.start()
    order = ["a", "b", "a", "b"]
    for i, r in enumerate(order):
        send(port, "alice@local.example", ["u@%s.auth.example" % r],
             message("auth %d %s" % (i, r), to="u@%s.auth.example" % r))
        wait_for(lambda: len(peer.mails) > i, 20)
    wait_for(lambda: not queue_ids(site), 5)
    got = {m[1]: m for m in peer.mails}
    check(len(got) == 4 and all(
        got.get("outbound auth %d %s" % (i, r), (0, "", ""))[2] ==
        "ims-" + r for i, r in enumerate(order)),
        "two routes: each message came authenticated for its own route",
        "(%r)" % peer.mails)
    by_conn = {}
    for c, subj, user in peer.mails:
        by_conn.setdefault(c, set()).add(user)
    check(all(len(u) == 1 for u in by_conn.values()),
          "two routes: no connection carried both routes' mail",
          "(%r)" % by_conn)
    check(peer.auths == len(by_conn),
          "two routes: AUTH once a connection, a reused one keeps it",
          "(%d AUTH, %d connections)" % (peer.auths, len(by_conn)))
    if len(by_conn) < len(order):
        print("note: %d messages over TLS and AUTH already set up"
              % (len(order) - len(by_conn)))


def reload(port, site, peer, policy):
    """Part 5: a new table; the session parked under the old one is not
    reused."""
    peer.start()
    send(port, "alice@local.example", ["w@reload.example"],
         message("reload 0", to="w@reload.example"))
    wait_for(lambda: len(peer.mails) >= 1, 20)
    site.write_policy(policy + "# changed\n")
    rc, out, err = ctl(site, "reload")
    check(rc == 0 and "accepted" in out, "reload: the new table is "
          "accepted", out + err)
    send(port, "alice@local.example", ["w@reload.example"],
         message("reload 1", to="w@reload.example"))
    wait_for(lambda: len(peer.mails) >= 2, 20)
    check(sorted(peer.subjects()) == ["outbound reload 0",
                                      "outbound reload 1"],
          "reload: both messages arrive", "(%r)" % peer.subjects())
    check(peer.conns == 2 and peer.rsets == 0,
          "reload: the message after it goes over a new connection",
          "(%d connections, %d RSET)" % (peer.conns, peer.rsets))
    if ",-,the policy changed" in site.log():
        print("note: the reload closed the parked session")


def main():
    port = free_port()
    site = Site(server_block(port, CONF), key=True, name="out-reuse")
    peers = []
    try:
        tokens = seal(site, PASSWORD), seal(site, PASSWORD)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(site.path("certs/ec.crt"),
                            site.path("certs/ec.key"))
        # The backlog's next hop is slow to take each message, so that
        # the jobs would open more sessions than the bound if they could.
        slow = Peer(slow=0.05)
        rset = Peer(rset="421 4.3.2 Closing, come back later")
        drop = Peer(drop=True)
        auth = Peer(tls=ctx, users=("ims-a", "ims-b"))
        again = Peer()
        peers = [slow, rset, drop, auth, again]
        policy = server_block(port, CONF) + """
outbound reload.example via 127.0.0.1 port %d tls none
outbound backlog.example via 127.0.0.1 port %d tls none
outbound rset.example via 127.0.0.1 port %d tls none
outbound drop.example via 127.0.0.1 port %d tls none
outbound a.auth.example via 127.0.0.1 port %d tls required \\
    auth plain user "ims-a" password %s
outbound b.auth.example via 127.0.0.1 port %d tls required \\
    auth plain user "ims-b" password %s
""" % (again.port, slow.port, rset.port, drop.port, auth.port,
            tokens[0], auth.port, tokens[1])
        site.write_policy(policy)
        site.start([("127.0.0.1", port)])

        rset_421(port, site, rset)
        dropped(port, site, drop)
        routes(port, site, auth)
        reload(port, site, again, policy)
        backlog(port, site, slow)

        # SIGTERM: the idle sessions say QUIT (or had already, idle).
        alive(site)
        site.stop()
        if ",-,shutting down" in site.log():
            print("note: sessions were idle at SIGTERM")
        wait_for(lambda: slow.open == 0, 5)
        check(slow.quits == slow.conns,
              "stop: every session to the next hop ended with QUIT "
              "(%d of %d)" % (slow.quits, slow.conns))
        log = site.log()
        check(PASSWORD not in log and
              base64.b64encode(("\0ims-a\0" + PASSWORD).encode()).decode()
              not in log, "the log never shows the password")
    finally:
        site.cleanup()
        for p in peers:
            p.stop()


run(main)
