#!/usr/bin/python3
"""
out_peers: bastiond's outbound side against real third-party servers on
loopback.  Python's aiosmtpd takes relayed mail over STARTTLS with AUTH
PLAIN (`tls required`, next hop an address) and AUTH LOGIN (`tls
verify`, next hop a host name looked up in dnsmasq, its certificate
checked against `tls trust`); `accept for ... forward to` sends mail for
an accepted domain to the internal server; `via mx` finds the exchanger
through dnsmasq's MX and A records.  Each message must arrive byte for
byte apart from the Received: header bastiond puts first, with the
envelope and credentials the peer expects, and the protocol log must
never show the password, neither in clear nor in base64.  One message
for ten domains under one `via mx` rule, and one more whose exchanger
is down, reaches the ten at once (the one that defers holds up no
other); one message for 250 recipients on one route goes out in three
sessions of at most 100, in the same round.  A route's second message
may go over the session its first left, authenticated already.  8-bit
mail keeps BODY=8BITMIME; an IPv6 next hop ([::1], `tls required`)
works too.
The retry interval is an hour: nothing here may wait for a retry.
"""
import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Site, check, free_port, run
from out_lib import (PASSWORD, USER, AioPeer, Dnsmasq, alive, message,
                     queue_ids, seal, send, server_block, strip_received,
                     wait_for)


CONF = "queue lifetime 1h retry 1h\ntimeout connect 5s\nlimit recipients 300"
DOMAINS = ["d%02d.multi.example" % i for i in range(10)]


def main():
    port = free_port()
    site = Site(server_block(port, CONF),
                key=True, name="out-peers")
    peers, dns = [], None
    try:
        tok1, tok2 = seal(site, PASSWORD), seal(site, PASSWORD)
        auth_plain = AioPeer(site, tls=True, auth=True)
        auth_login = AioPeer(site, tls=True, auth=True)
        by_mx = AioPeer(site, tls=True)
        inside = AioPeer(site)
        domains = AioPeer(site)
        bulk = AioPeer(site)
        peers = [auth_plain, auth_login, by_mx, inside, domains, bulk]
        try:
            six = AioPeer(site, tls=True, host="::1")
            peers.append(six)
            v6 = "outbound six.example via ::1 port %d tls required\n" % \
                six.port
        except OSError:
            six, v6 = None, ""          # no IPv6 on loopback here
        dns = Dnsmasq(site.dir, [
            "--host-record=mx.test.example,127.0.0.1",
            "--mx-host=mxroute.example,mx.test.example,10",
            "--mx-host=mxroute.example,backup.mxroute.example,20",
            "--host-record=backup.mxroute.example,127.0.0.1",
            "--mx-host=down.multi.example,mx.down.example,10",
            "--host-record=mx.down.example,127.0.0.9"] +
            ["--mx-host=%s,mx.test.example,10" % d for d in DOMAINS])
        site.write_policy(server_block(port, CONF) + """
accept for inside.example forward to 127.0.0.1 port %d tls opportunistic recipients any
outbound plain.example via 127.0.0.1 port %d tls required \\
    auth plain user "%s" password %s
outbound secure.example via mx.test.example port %d tls verify \\
    auth login user "%s" password %s
outbound mxroute.example via mx port %d tls verify
outbound .multi.example via mx port %d tls none
outbound bulk.example via 127.0.0.1 port %d tls none
""" % (inside.port, auth_plain.port, USER, tok1, auth_login.port, USER,
       tok2, by_mx.port, domains.port, bulk.port) + v6)
        site.start([("127.0.0.1", port)], env=dns.env())

        msgs = {}
        for tag, rcpt in (("plain", "bob@plain.example"),
                          ("login", "carol@secure.example"),
                          ("mx", "dave@mxroute.example"),
                          ("fwd", "erin@inside.example")):
            msgs[tag] = message(tag, to=rcpt)
            refused = send(port, "alice@local.example", [rcpt], msgs[tag])
            check(refused == {}, "%s: bastiond accepts mail for %s"
                  % (tag, rcpt))
        # One message for three routes and a local mailbox at once.
        multi = message("multi", to="many")
        send(port, "alice@local.example",
             ["bob@plain.example", "carol@secure.example",
              "erin@inside.example", "frank@local.example"], multi)

        # 8-bit content, declared BODY=8BITMIME.
        eight = message("8bit", to="ivy@inside.example",
                        extra="caf\u00e9 \u00fcber na\u00efve\r\n"
                        .encode())
        send(port, "alice@local.example", ["ivy@inside.example"], eight,
             mail_options=["BODY=8BITMIME"])
        if six:
            msgs["six"] = message("six", to="v6@six.example")
            send(port, "alice@local.example", ["v6@six.example"],
                 msgs["six"])
        # Ten domains under one MX rule, the first one down.
        send(port, "alice@local.example",
             ["x@down.multi.example"] + ["y@" + d for d in DOMAINS],
             message("domains", to="many"))
        # 250 recipients on one route.
        many = ["r%03d@bulk.example" % i for i in range(250)]
        send(port, "alice@local.example", many, message("bulk", to="many"))

        for peer, n in ((auth_plain, 2), (auth_login, 2), (by_mx, 1),
                        (inside, 3), (domains, 10), (bulk, 3)):
            wait_for(lambda: len(peer.mails) >= n, 20)
        wait_for(lambda: len(queue_ids(site)) <= 1, 10)

        def arrived(peer, tag, rcpt, tls, auth):
            m = [x for x in peer.mails if b"Subject: outbound %s\r\n"
                 % tag.encode() in x["body"]]
            if not check(len(m) == 1, "%s: one copy at the next hop" % tag,
                         "(%d)" % len(m)):
                return
            m = m[0]
            check(strip_received(m["body"]) == msgs[tag],
                  "%s: arrives byte for byte apart from our Received:" % tag,
                  "(got %r)" % m["body"][:600])
            check(m["body"].startswith(b"Received: from client.test."
                                       b"example (") and
                  b"\tby gw.test.example (bastion) with ESMTP" in
                  m["body"].split(b"\r\n\r\n")[0],
                  "%s: bastiond's Received: header comes first" % tag,
                  "(got %r)" % m["body"][:200])
            check(m["from"] == "alice@local.example" and m["to"] == [rcpt],
                  "%s: envelope <alice@local.example> -> <%s>" % (tag, rcpt),
                  "(got %r %r)" % (m["from"], m["to"]))
            check(m["tls"] == tls, "%s: TLS %s" % (tag, "used" if tls else
                                                  "not offered, clear"))
            check(m["auth"] == auth, "%s: authenticated as %r" % (tag, auth),
                  "(got %r)" % m["auth"])

        arrived(auth_plain, "plain", "bob@plain.example", True, USER)
        arrived(auth_login, "login", "carol@secure.example", True, USER)
        arrived(by_mx, "mx", "dave@mxroute.example", True, None)
        arrived(inside, "fwd", "erin@inside.example", False, None)
        if six:
            wait_for(lambda: six.mails, 10)
            arrived(six, "six", "v6@six.example", True, None)
            check(site.wait_log(r",\[::1\]:%d,\+,connected" % six.port, 1),
                  "six: the session went to [::1]")
        m = [x for x in inside.mails if b"outbound 8bit" in x["body"]]
        check(len(m) == 1 and strip_received(m[0]["body"]) == eight and
              "BODY=8BITMIME" in m[0]["options"],
              "8bit: relayed with BODY=8BITMIME, bytes intact",
              "(%r)" % ([x["options"] for x in m]))
        msgs["multi"] = multi
        for peer, rcpt in ((auth_plain, "bob@plain.example"),
                           (auth_login, "carol@secure.example"),
                           (inside, "erin@inside.example")):
            m = [x for x in peer.mails if b"outbound multi" in x["body"]]
            check(len(m) == 1 and m[0]["to"] == [rcpt] and
                  strip_received(m[0]["body"]) == multi,
                  "multi: one copy for <%s> on its own route" % rcpt,
                  "(got %r)" % [(x["to"], x["body"][:80]) for x in m])
        got = sorted(a for m in domains.mails for a in m["to"])
        check(got == sorted("y@" + d for d in DOMAINS) and
              len(domains.mails) == 10,
              "ten MX domains: one session each, all delivered although "
              "the first one's exchanger is down", "(%r)" % got)
        check(site.wait_log(r"deferred <x@down\.multi\.example>: connect "
                            r"to mx\.down\.example \[127\.0\.0\.9:", 1),
              "ten MX domains: the one that is down defers")
        sizes = sorted(len(m["to"]) for m in bulk.mails)
        got = sorted(a for m in bulk.mails for a in m["to"])
        check(sizes == [50, 100, 100] and got == sorted(many),
              "250 recipients: three sessions of 100, 100 and 50, each "
              "recipient once", "(%r)" % sizes)
        mine = site.wait_mail("frank", 1)
        check(len(mine) == 1 and b"outbound multi" in mine[0],
              "multi: the local recipient's copy is in the Maildir")

        # What the servers saw of AUTH: once a connection (the second
        # message of a route may go over the session the first left).
        for peer, mech in ((auth_plain, "PLAIN"), (auth_login, "LOGIN")):
            a = peer.handler.auth
            check(1 <= len(a) <= 2 and a == [(mech, USER, PASSWORD)] *
                  len(a), "AUTH %s: the server saw the user and the "
                  "password" % mech, "(got %r)" % a)
            check(all(m["auth"] == USER for m in peer.mails),
                  "AUTH %s: every message came authenticated" % mech,
                  "(got %r)" % [m["auth"] for m in peer.mails])

        # The protocol log masks every form of the secret.
        log = site.log()
        secrets = [PASSWORD, base64.b64encode(PASSWORD.encode()).decode(),
                   base64.b64encode(("\0%s\0%s" % (USER, PASSWORD))
                                    .encode()).decode(),
                   base64.b64encode(("%s\0%s\0%s" % (USER, USER, PASSWORD))
                                    .encode()).decode()]
        check(not any(s in log for s in secrets) and
              "s3cret" not in log,
              "the protocol log never shows the password",
              "(found %r)" % [s for s in secrets if s in log])
        check(",>,AUTH PLAIN ****" in log and ",>,AUTH LOGIN" in log and
              ",>,****" in log, "the log shows AUTH with the payloads masked")
        check("certificate verified" in log,
              "tls verify: the next hop's certificate was checked")
        check(",-,relay,*,delivered <carol@secure.example>: 250 " in log,
              "the log says what was delivered")
        q = dns.queries()
        check("query[MX] mxroute.example" in q and
              "query[A] mx.test.example" in q,
              "the MX and host lookups went to dnsmasq", q[-600:])
        check(len(queue_ids(site)) == 1, "only the message for the "
              "domain that is down stays queued", "(%r)" % queue_ids(site))
        alive(site)
    finally:
        site.cleanup()
        for p in peers:
            p.stop()
        if dns:
            dns.stop()


run(main)
