#!/usr/bin/python3
"""
out_hostile: next hops that misbehave on purpose (the scripted servers
of tests/rt/smtpc_lib.py), one outbound route each, all at once in one
bastiond.  Bytes injected after the 220 to STARTTLS, malformed replies,
a NUL in a reply, a multi-line reply with mixed codes, a 64 KiB
multi-line reply, an over-long line, a hang-up in the middle of a reply,
a peer that never answers the connection (`timeout connect 2s`), one
that accepts and stays silent, one without STARTTLS, one refusing it
and one speaking TLS 1.3 only on `tls required` routes.  Each defers
with a reason in the protocol log; bastiond neither crashes nor loses
anything: every message stays in var/spool/queue, nothing is sent in
clear where TLS is required, and mail to a sane peer still goes out
meanwhile.  The STARTTLS injection is the exception: as
runtime/outbound/smtpc.h says, the injected bytes are discarded (and
logged as a count), never read as a reply, and the session goes on
inside TLS and delivers; so does the TLS-1.3-only peer on an
`opportunistic` route, in clear, with a warning in the protocol log
and the diagnostics.  A SIGHUP while a `tls required` session waits
for its greeting must not pull the trust anchors from under it.
"""
import os
import socket
import signal
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, check, free_port, run
from out_lib import (AioPeer, alive, message, queue_ids, send,
                     server_block, wait_for)
from smtpc_lib import Server

EXT = b"250-hostile.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"


def greet_ehlo(c, reply):
    c.send(b"220 hostile.test ESMTP\r\n")
    c.expect("EHLO")
    c.send(reply)


def inject(c):
    """STARTTLS, then a fake EHLO reply in the same segment as the 220,
    before the handshake (RFC 3207 4.2; CVE-2011-0411's client side)."""
    greet_ehlo(c, b"250-hostile.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
    c.expect("STARTTLS")
    c.send(b"220 2.0.0 Ready to start TLS\r\n"
           b"250-injected.test\r\n250 AUTH PLAIN LOGIN\r\n")
    c.starttls()
    c.smtp(greet=False)


def malformed(c):
    greet_ehlo(c, b"hello, I am not an SMTP server\r\n")
    c.readline()


def nul(c):
    c.send(b"220 hostile.test\x00 ESMTP\r\n")
    c.readline()


def mixed(c):
    greet_ehlo(c, b"250-hostile.test\r\n550-5.0.0 a different code\r\n"
               b"250 PIPELINING\r\n")
    c.readline()


def huge(c):
    """A 64 KiB multi-line reply to EHLO: 1024 lines of 64 bytes."""
    lines = [b"250-" + b"%05d" % i + b"X" * 53 + b"\r\n"
             for i in range(1023)]
    lines.append(b"250 " + b"Y" * 58 + b"\r\n")
    data = b"".join(lines)
    assert len(data) == 65536
    c.send(b"220 hostile.test ESMTP\r\n")
    c.expect("EHLO")
    try:
        c.send(data)
    except OSError:
        pass                # bastiond may hang up before the end
    c.readline()


def longline(c):
    greet_ehlo(c, b"250-hostile.test\r\n250 " + b"L" * 4000 + b"\r\n")
    c.readline()


def hangup(c):
    """Half a reply to the end of the message, then the door."""
    c.send(b"220 hostile.test ESMTP\r\n")
    while True:
        line = c.readline()
        v = line[:4].upper()
        if v == b"EHLO":
            c.send(EXT)
        elif v in (b"MAIL", b"RCPT"):
            c.send(b"250 2.1.0 Ok\r\n")
        elif v == b"DATA":
            c.send(b"354 go on\r\n")
            c.read_data()
            c.send(b"250-2.0.0 half")
            return


def silent(c):
    """Accept the connection and never say a word."""
    c.sock.settimeout(60)
    try:
        c.sock.recv(1)
    except OSError:
        pass


def slowtls(c):
    """A slow greeting, STARTTLS, then a correct session: the test sends
    SIGHUP while it waits, which swaps the trust anchors that the
    session is about to use."""
    time.sleep(1.5)
    greet_ehlo(c, b"250-hostile.test\r\n250 STARTTLS\r\n")
    c.expect("STARTTLS")
    c.send(b"220 2.0.0 go ahead\r\n")
    c.starttls()
    c.smtp(greet=False)


def notls(c):
    """A peer without STARTTLS: it must never see MAIL."""
    greet_ehlo(c, EXT)
    while True:
        line = c.readline()
        if line.upper().startswith(b"QUIT"):
            c.send(b"221 bye\r\n")
            return
        c.send(b"250 2.0.0 ok\r\n")


def refuses_tls(c):
    """STARTTLS offered, then refused: nothing in clear either."""
    greet_ehlo(c, b"250-hostile.test\r\n250 STARTTLS\r\n")
    while True:
        line = c.readline()
        if line.upper().startswith(b"STARTTLS"):
            c.send(b"454 4.7.0 TLS not available now\r\n")
        elif line.upper().startswith(b"QUIT"):
            c.send(b"221 bye\r\n")
            return
        else:
            c.send(b"250 2.0.0 ok\r\n")


# A server context that speaks TLS 1.3 only (set up in main()).
CTX13 = []


def tls13(c):
    """STARTTLS offered, but only TLS 1.3 spoken, which bastion does not
    (BearSSL: TLS 1.2): the handshake fails with a protocol_version
    alert.  A client that comes back without STARTTLS gets a session in
    clear."""
    greet_ehlo(c, b"250-hostile.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
    line = c.readline()
    if line.upper() != b"STARTTLS":
        c.buf = line + b"\r\n" + c.buf
        c.lines.pop()
        c.smtp(greet=False)
        return
    c.send(b"220 2.0.0 go ahead\r\n")
    try:
        c.sock = CTX13[0].wrap_socket(c.sock, server_side=True)
    except (ssl.SSLError, OSError):
        return
    c.tls = True
    c.smtp(greet=False)


# domain: (script, TLS level, what the deferral must say)
CASES = {
    "malformed": (malformed, "none", r"malformed reply"),
    "nul": (nul, "none", r"malformed reply"),
    "mixed": (mixed, "none", r"codes 250 and 550 in one reply"),
    "huge": (huge, "none", r"too long \(over 100 lines"),
    "longline": (longline, "none", r"longer than 1000 bytes"),
    "hangup": (hangup, "none", r"connection closed by .* in the middle of "
               r"a reply"),
    "notls": (notls, "required", r"STARTTLS"),
    "refusetls": (refuses_tls, "required", r"454 4.7.0 TLS not available"),
    "tls13req": (tls13, "required", r"TLS handshake with .* failed: "
                 r"received fatal alert 70"),
}


def main():
    port = free_port()
    conf = "timeout connect 2s\nqueue lifetime 1h retry 1h"
    site = Site(server_block(port, conf), name="out-hostile")
    servers, held, good = {}, [], None
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(site.path("certs/ec.crt"),
                            site.path("certs/ec.key"))
        ctx13 = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx13.load_cert_chain(site.path("certs/ec.crt"),
                              site.path("certs/ec.key"))
        ctx13.minimum_version = ssl.TLSVersion.TLSv1_3
        CTX13.append(ctx13)
        routes = []
        for name, (script, tls, _) in CASES.items():
            servers[name] = Server(script, n=2, ctx=ctx, timeout=20)
            routes.append("outbound %s.example via 127.0.0.1 port %d tls %s"
                          % (name, servers[name].port, tls))
        servers["inject"] = Server(inject, n=2, ctx=ctx, timeout=20)
        routes.append("outbound inject.example via 127.0.0.1 port %d "
                      "tls required" % servers["inject"].port)
        servers["tls13"] = Server(tls13, n=2, ctx=ctx, timeout=20)
        routes.append("outbound tls13.example via 127.0.0.1 port %d "
                      "tls opportunistic" % servers["tls13"].port)
        servers["slowtls"] = Server(slowtls, n=1, ctx=ctx, timeout=20)
        routes.append("outbound slowtls.example via 127.0.0.1 port %d "
                      "tls required" % servers["slowtls"].port)
        servers["silent"] = Server(silent, n=1, timeout=60)
        routes.append("outbound silent.example via 127.0.0.1 port %d "
                      "tls none" % servers["silent"].port)
        # A listener whose queue is full: SYNs go unanswered.
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(0)
        for _ in range(4):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(lsock.getsockname())
            except BlockingIOError:
                pass
            held.append(s)
        held.append(lsock)
        routes.append("outbound blackhole.example via 127.0.0.1 port %d "
                      "tls none" % lsock.getsockname()[1])
        good = AioPeer(site)
        routes.append("outbound good.example via 127.0.0.1 port %d "
                      "tls none" % good.port)
        site.write_policy(server_block(port, conf) + "\n".join(routes) + "\n")
        site.start([("127.0.0.1", port)])

        names = list(CASES) + ["inject", "silent", "blackhole"]
        for name in names + ["slowtls", "tls13"]:
            send(port, "alice@local.example", ["x@%s.example" % name],
                 message(name, to="x@%s.example" % name))
        # A reload while a session waits for its greeting.
        site.wait_log(r"1 recipient for slowtls\.example", 5)
        time.sleep(0.3)
        site.signal(signal.SIGHUP)
        check(site.wait_log(r"table [0-9a-f]+ loaded", 5),
              "SIGHUP: the table is reloaded")

        def settled(name):
            return site.wait_log(r",relay,\*,\"?(deferred|delivered) "
                                 r"<x@%s\.example>: (.*?)\"?$" % name, 15)
        for name, (_, _, why) in CASES.items():
            m = settled(name)
            check(m is not None and m.group(1) == "deferred" and
                  site.wait_log(why, 1, text=lambda: m.group(2)),
                  "%s: deferred, the log says why" % name,
                  "(%r)" % (m.group(0) if m else site.log()[-1500:]))
        for name, srv in servers.items():
            check(not srv.errors, "%s: the scripted peer saw what it "
                  "expected" % name, "(%r)" % srv.errors)
        m = settled("slowtls")
        check(m is not None and m.group(1) == "delivered",
              "slowtls: a reload in the middle of the session is harmless",
              "(%r)" % (m.group(0) if m else None))
        m = settled("blackhole")
        check(m is not None and m.group(1) == "deferred" and
              "connect to 127.0.0.1" in m.group(2) and
              "timed out" in m.group(2),
              "blackhole: the connect timeout defers",
              "(%r)" % (m.group(0) if m else None))

        # STARTTLS injection: the bytes after the 220 are thrown away,
        # never read as the reply to the second EHLO.
        m = settled("inject")
        log = site.log()
        check(m is not None and ",<,250-injected.test" not in log and
              ",<,250 AUTH PLAIN LOGIN" not in log,
              "inject: the injected reply is never read as one",
              "(%r)" % (m.group(0) if m else None))
        check(",*,discarded" in log or "discard" in log,
              "inject: the log says bytes were discarded", log[-2000:])
        check(m is not None and m.group(1) == "delivered" and
              servers["inject"].conns and servers["inject"].conns[0].tls,
              "inject: the session goes on inside TLS and delivers",
              "(%r)" % (m.group(0) if m else None))

        # TLS 1.3 only: in clear where TLS is opportunistic, with a
        # warning that says what the peer wanted; never where required.
        m = settled("tls13")
        warn = (r"TLS handshake with .* failed \(received fatal alert 70 "
                r"\(protocol_version\)\); the peer wanted TLS 1\.3 or newer "
                r"\(protocol_version alert\); delivering in clear")
        check(m is not None and m.group(1) == "delivered" and
              len(servers["tls13"].conns) == 2 and
              not servers["tls13"].conns[1].tls,
              "tls13: opportunistic TLS with a TLS-1.3-only peer delivers "
              "in clear", "(%r)" % (m.group(0) if m else None))
        check(site.wait_log(r",\*,\"?warning: " + warn, 1),
              "tls13: the protocol log warns, naming the version",
              site.log()[-1500:])
        check(site.wait_log(r"queue \S+: warning: " + warn, 1,
                            text=site.stderr),
              "tls13: the diagnostics warn too", site.stderr()[-1500:])
        check(site.log().count("delivering in clear") == 1 and
              site.stderr().count("delivering in clear") == 1,
              "tls13req: no fallback where TLS is required")

        # Nothing in clear where TLS is required.
        for name in ("notls", "refusetls", "tls13req"):
            check(not servers[name].saw("MAIL") and
                  not servers[name].saw("AUTH"),
                  "%s: the peer never sees MAIL" % name,
                  "(%r)" % servers[name].all_lines())

        # The silent peer holds its session; the rest goes on.
        send(port, "alice@local.example", ["y@good.example"],
             message("good", to="y@good.example"))
        check(wait_for(lambda: good.mails, 15),
              "a sane next hop still gets its mail meanwhile")
        check(site.wait_log(r",relay,\*,1 recipient for silent\.example", 5)
              and not site.wait_log(r"(deferred|delivered) "
                                    r"<x@silent\.example>", 0.5),
              "silent: the session waits (RFC 5321 timeouts)")

        alive(site)
        ids = queue_ids(site)
        check(len(ids) == len(names) - 1,
              "every deferred message is still in var/spool/queue",
              "(%d queued, %d sent)" % (len(ids), len(names)))
        rc = site.stop()
        check(rc == 0, "SIGTERM with a session hanging: exits 0",
              "(%r)" % rc)
        check(len(queue_ids(site)) == len(ids),
              "the silent peer's message is still queued after the stop")
    finally:
        site.cleanup()
        for s in held:
            s.close()
        if good:
            good.stop()


run(main)
