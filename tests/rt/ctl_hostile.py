#!/usr/bin/python3
"""
ctl_hostile: the control socket against clients that misbehave.  A
user that is neither root nor the `run as` user (nobody, by runuser)
cannot connect while the socket is mode 0600, and is refused by its
credentials, and logged, when the socket is opened to everyone by
mistake.  Oversized, binary, unknown and malformed requests are
answered with a reason; a client that hangs up in the middle of a long
queue listing, one that does not read, and more idle clients than the
daemon serves at once change nothing and hold nobody up.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check import closed_port
from harness import Site, check, error, free_port, run
from out_lib import alive, queue_ids, send, server_block, wait_for
from ctl_lib import ctl, raw

NMSG, NRCPT = 20, 200


def main():
    port, hop = free_port(), closed_port()   # the hop is never up
    sockdir = tempfile.mkdtemp(prefix="bastion-ctlsock-")
    os.chmod(sockdir, 0o755)
    sock = os.path.join(sockdir, "ctl.sock")
    conf = ("queue lifetime 1h retry 1h\ntimeout connect 2s\n"
            "limit recipients 1000\ncontrol \"%s\"" % sock)
    site = Site(server_block(port, conf) +
                "outbound later.example via 127.0.0.1 port %d tls none\n"
                % hop, name="ctl-hostile")
    held = []
    try:
        site.start([("127.0.0.1", port)])
        check(os.path.exists(sock), "the socket is where `control` says")

        # Someone else.
        if shutil.which("runuser") is None:
            error("runuser is missing (util-linux): cannot run a client "
                  "as another user")
        rc, out, err = ctl(None, "status", sock=sock, user="nobody")
        check(rc == 1 and "ermission denied" in err,
              "nobody: mode 0600 keeps the connection out",
              "(%d %r)" % (rc, err))
        os.chmod(sock, 0o666)
        rc, out, err = ctl(None, "status", sock=sock, user="nobody")
        check(rc == 1 and "permission denied" in err and not out,
              "nobody: refused by its credentials", "(%d %r %r)"
              % (rc, out, err))
        check(site.wait_log(r",control,uid 65534 pid \d+,\*,control "
                            r"refused", 3), "the refusal is logged",
              site.log()[-400:])
        check(re.search(r"refused uid 65534", site.stderr()),
              "and reported", site.stderr()[-400:])
        os.chmod(sock, 0o600)

        # Requests no bastionctl sends.
        for what, data, want in (
                ("oversized", b"a" * 5000, b"NO request too long"),
                ("binary", b"\x00\xffstatus\n", b"NO bad request: bad byte"),
                ("unknown", b"frobnicate\n", b"NO unknown command"),
                ("upper case", b"STATUS\n", b"NO bad request"),
                ("too few", b"hold\n", b"NO hold: wrong number"),
                ("too many", b"status a b c d e f\n", b"NO bad request"),
                ("not an id", b"remove ../../etc/passwd\n",
                 b"NO \"../../etc/passwd\" is not a queue id"),
                ("empty", b"\n", b"NO bad request: empty")):
            try:
                got = raw(sock, data)
            except OSError as e:
                got = repr(e).encode()
            check(got.startswith(want) and got.endswith(b"\n") and
                  got.count(b"\n") == 1, "%s request: answered with a "
                  "reason" % what, repr(got[:200]))
        alive(site)

        # A long listing: NMSG messages of NRCPT recipients, deferred.
        for i in range(NMSG):
            rcpts = ["user%03d.with.a.longish.name@later.example" % j
                     for j in range(NRCPT)]
            send(port, "alice@local.example", rcpts,
                 b"Subject: many %d\r\n\r\nx\r\n" % i)
        check(wait_for(lambda: site.log().count("next attempt in") >= NMSG,
                       30), "%d messages deferred" % NMSG)
        full = raw(sock, b"queue\n", timeout=30)
        lines = full.split(b"\n")
        check(full.endswith(b"OK %d messages\n" % NMSG) and
              len(lines) == NMSG * (NRCPT + 1) + 2,
              "the whole listing (%d bytes) arrives" % len(full),
              "(%d lines) %r" % (len(lines), full[-200:]))

        # Hang up after the first bytes; then not reading at all.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        s.sendall(b"queue\n")
        first = s.recv(100)
        s.close()
        check(first.startswith(b"* "), "hang-up: the listing had begun")
        slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        slow.connect(sock)
        slow.sendall(b"queue -j\n")
        time.sleep(0.5)
        t0 = time.time()
        rc, out, err = ctl(None, "status", sock=sock, timeout=10)
        check(rc == 0 and time.time() - t0 < 5,
              "a client that does not read holds nobody up",
              "(%d, %.1f s)" % (rc, time.time() - t0))
        check(not send(port, "alice@local.example", ["bob@local.example"],
                       b"Subject: meanwhile\r\n\r\nx\r\n"),
              "SMTP is served meanwhile")
        slow.settimeout(10)
        got = b""
        while not got.endswith(b"messages\n"):
            d = slow.recv(65536)
            if not d:
                break
            got += d
        slow.close()
        check(got.endswith(b"OK %d messages\n" % NMSG) and
              got.count(b"\n") == NMSG * NRCPT + 1,
              "the slow client gets all of it, later",
              "(%d lines)" % got.count(b"\n"))

        # More idle clients than are served at once.
        for _ in range(8):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(sock)
            held.append(c)
        got = raw(sock, b"status\n")
        check(got.startswith(b"NO too many control clients"),
              "a ninth client is told why", repr(got))
        for c in held:
            c.close()
        held = []
        time.sleep(0.2)
        rc, out, err = ctl(None, "status", sock=sock)
        check(rc == 0 and "queue %d messages" % NMSG in out,
              "served again once they are gone", out + err)
        check(len(queue_ids(site)) == NMSG, "the queue is as it was")
        alive(site)
    finally:
        for c in held:
            c.close()
        site.cleanup()
        shutil.rmtree(sockdir, ignore_errors=True)


run(main)
