#!/usr/bin/python3
"""
out_bounce: bounces (RFC 3464) made by bastiond's outbound side, read
back from the sender's Maildir with Python's email package.  A 550 to
RCPT and a 554 to the final dot from an aiosmtpd next hop each give the
sender exactly one well-formed DSN (multipart/report,
report-type=delivery-status, Final-Recipient, Action: failed, Status
5.x.y, the next hop's reply as Diagnostic-Code, the original headers);
a domain without a route bounces at once, and so do a domain that does
not exist (NXDOMAIN from dnsmasq) and one with a null MX (RFC 7505); a
next hop that is never there, one that answers 450 to every RCPT, and
a local Maildir that cannot be written (chattr +i), each bounce exactly
once after `queue lifetime 3s`, with the last error; and a bounce that
cannot be delivered (MAIL FROM:<> to a 5xx next hop, or a bounce to a
sender whose domain refuses it) is never bounced again.
"""
import email
import email.policy
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check import closed_port
from harness import Site, check, free_port, run
from out_lib import (USER, AioPeer, Dnsmasq, alive, message, queue_ids,
                     seal, send, send_null, server_block, wait_for)

CONF = "queue lifetime 3s retry 1s\ntimeout connect 2s"


def rcpt_reply(addr):
    if addr.startswith("nobody"):
        return "550 5.1.1 <%s>: Recipient address rejected" % addr
    if addr.startswith("busy"):
        return "450 4.2.1 <%s>: Mailbox busy, try later" % addr
    return None


def chattr(flag, path):
    """chattr +i / -i: the one way to make a directory unwritable for
    root.  False if it cannot be done here."""
    try:
        return subprocess.run(["chattr", flag, path], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def dsns(site, user, tag):
    """The bounces in USER's Maildir about message tag."""
    out = []
    for raw in site.maildir(user):
        m = email.message_from_bytes(raw, policy=email.policy.compat32)
        if m.get_content_type() == "multipart/report" and \
                ("Subject: outbound %s\n" % tag) in raw.decode(
                    "utf-8", "replace").replace("\r\n", "\n"):
            out.append((raw, m))
    return out


def well_formed(raw, m, rcpt, status, diag, what):
    """One DSN, checked part by part."""
    parts = m.get_payload() if m.is_multipart() else []
    check(m.get_param("report-type") == "delivery-status" and
          len(parts) == 3, "%s: multipart/report; report-type="
          "delivery-status, three parts" % what,
          "(%r, %d parts)" % (m.get("Content-Type"), len(parts)))
    if len(parts) != 3:
        return
    check(raw.startswith(b"Return-Path: <>\n"),
          "%s: sent from the null sender" % what, "(%r)" % raw[:60])
    check(parts[0].get_content_type() == "text/plain" and
          rcpt in parts[0].get_payload(decode=True).decode("utf-8",
                                                           "replace"),
          "%s: a text part naming the recipient" % what)
    check(parts[1].get_content_type() == "message/delivery-status",
          "%s: a message/delivery-status part" % what,
          "(%r)" % parts[1].get_content_type())
    # email parses message/delivery-status into header blocks: the
    # per-message block, then one per recipient.
    blocks = parts[1].get_payload()
    if not isinstance(blocks, list) or len(blocks) < 2:
        check(False, "%s: per-message and per-recipient fields" % what,
              "(%r)" % blocks)
        return
    per_msg, per_rcpt = blocks[0], blocks[1:]
    check(per_msg.get("Reporting-MTA", "").startswith("dns;") and
          per_msg.get("Arrival-Date"),
          "%s: Reporting-MTA and Arrival-Date" % what,
          "(%r)" % per_msg.items())
    check(len(per_rcpt) == 1, "%s: one recipient reported" % what,
          "(%d)" % len(per_rcpt))
    r = per_rcpt[0]
    check(r.get("Final-Recipient", "").lower() == "rfc822; " + rcpt and
          r.get("Action") == "failed",
          "%s: Final-Recipient: rfc822; %s, Action: failed" % (what, rcpt),
          "(%r)" % r.items())
    check(r.get("Status", "").startswith(status),
          "%s: Status %s" % (what, status), "(%r)" % r.get("Status"))
    # RFC 3464 2.3.6: "smtp; " and the next hop's reply, nothing of
    # ours before it (parsers look for "smtp; 5xx"); without a reply,
    # no Diagnostic-Code, and our words in X-Bastion-Reason.
    dc = " ".join(r.get("Diagnostic-Code", "").split())
    if diag:
        check(dc.startswith("smtp; " + diag) and
              re.match(r"smtp; [245][0-9][0-9][ -]", dc),
              "%s: Diagnostic-Code is smtp; and the next hop's reply" % what,
              "(%r)" % r.get("Diagnostic-Code"))
    else:
        check(r.get("Diagnostic-Code") is None and
              r.get("X-Bastion-Reason"),
              "%s: no reply, no Diagnostic-Code; our reason apart" % what,
              "(%r)" % r.items())
    check(parts[2].get_content_type() == "text/rfc822-headers",
          "%s: the original headers come back" % what,
          "(%r)" % parts[2].get_content_type())


def main():
    port = free_port()
    site = Site(server_block(port, CONF), key=True, name="out-bounce")
    hard = dotfail = dns = authfail = None
    locked = None
    try:
        for sub in ("tmp", "new", "cur"):
            os.makedirs(site.path("var/mail/hank/" + sub))
        if chattr("+i", site.path("var/mail/hank/tmp")):
            locked = site.path("var/mail/hank/tmp")
        else:
            print("note: chattr +i does not work here; no Maildir expiry")
        dns = Dnsmasq(site.dir, ["--dns-rr=nullmx.dns.example,15,000000"])
        hard = AioPeer(site, rcpt_reply=rcpt_reply)
        dotfail = AioPeer(site, data_reply="554 5.6.0 Content rejected: "
                          "we do not like it")
        authfail = AioPeer(site, tls=True, auth=True)
        dead = closed_port()            # nothing listens there
        site.write_policy(server_block(port, CONF) + """
outbound hard.example via 127.0.0.1 port %d tls none
outbound dotfail.example via 127.0.0.1 port %d tls none
outbound dead.example via 127.0.0.1 port %d tls none
outbound .dns.example via mx port %d tls none
outbound authfail.example via 127.0.0.1 port %d tls required \\
    auth plain user "%s" password %s
""" % (hard.port, dotfail.port, dead, hard.port, authfail.port, USER,
       seal(site, "not the password")))
        site.start([("127.0.0.1", port)], env=dns.env())
        t0 = time.time()

        send(port, "alice@local.example", ["nobody@hard.example"],
             message("rcpt550", to="nobody@hard.example"))
        send(port, "bob@local.example", ["x@dotfail.example"],
             message("dot554", to="x@dotfail.example"))
        send(port, "dave@local.example", ["x@noroute.example"],
             message("noroute", to="x@noroute.example"))
        send(port, "carol@local.example", ["x@dead.example"],
             message("expire", to="x@dead.example"))
        send(port, "erin@local.example", ["busy@hard.example"],
             message("busy", to="busy@hard.example"))
        send(port, "frank@local.example", ["x@nx.dns.example"],
             message("nxdomain", to="x@nx.dns.example"))
        send(port, "gina@local.example", ["x@nullmx.dns.example"],
             message("nullmx", to="x@nullmx.dns.example"))
        send(port, "judy@local.example", ["x@authfail.example"],
             message("authfail", to="x@authfail.example"))
        if locked:
            send(port, "ivan@local.example", ["hank@local.example"],
                 message("maildir", to="hank@local.example"))
        code, _ = send_null(port, "nobody@hard.example",
                            message("null", sender="", to="nobody@"
                                    "hard.example"))
        check(code == 250, "MAIL FROM:<> to a refused recipient: accepted")
        # A sender whose own domain refuses the bounce.
        send(port, "nobody@hard.example", ["nobody2@hard.example"],
             message("double", sender="nobody@hard.example",
                     to="nobody2@hard.example"))

        for user, tag, rcpt, status, diag in (
                ("alice", "rcpt550", "nobody@hard.example", "5.1.1",
                 "550 5.1.1 <nobody@hard.example>: Recipient address "
                 "rejected"),
                ("bob", "dot554", "x@dotfail.example", "5.6.0",
                 "554 5.6.0 Content rejected"),
                ("dave", "noroute", "x@noroute.example", "5.4.4", None),
                ("frank", "nxdomain", "x@nx.dns.example", "5.1.2", None),
                ("gina", "nullmx", "x@nullmx.dns.example", "5.1.10",
                 None)):
            got = wait_for(lambda: dsns(site, user, tag), 10)
            if check(len(got) == 1, "%s: one bounce in %s's Maildir"
                     % (tag, user), "(%d)" % len(got)):
                well_formed(got[0][0], got[0][1], rcpt, status, diag, tag)

        # Expiry: nothing before the lifetime (counted from the whole
        # second of arrival, so more than 2 s after t0), one bounce after.
        got = wait_for(lambda: dsns(site, "carol", "expire"), 10)
        took = time.time() - t0
        check(len(got) == 1 and took >= 2.0,
              "expire: one bounce, after the 3 s lifetime (%.1f s)" % took,
              "(%d)" % len(got))
        if got:
            well_formed(got[0][0], got[0][1], "x@dead.example", "5.4.7",
                        None, "expire")
            text = got[0][1].get_payload()[0].get_payload(decode=True)
            check(b"delivery time expired" in text and
                  b"Connection refused" in text,
                  "expire: the DSN says the time ran out, and the last "
                  "error", text[-400:])
        # A 535 deferred until the lifetime ran out: the bounce quotes
        # the reply alone, and explains it in its text.
        got = wait_for(lambda: dsns(site, "judy", "authfail"), 10)
        if check(len(got) == 1, "authfail: one bounce after the lifetime",
                 "(%d)" % len(got)):
            well_formed(got[0][0], got[0][1], "x@authfail.example", "5.7.8",
                        "535 5.7.8", "authfail")
            r = got[0][1].get_payload()[1].get_payload()[1]
            text = got[0][1].get_payload()[0].get_payload(decode=True)
            check(r.get("X-Bastion-Reason", "").startswith(
                "authentication failed: 535") and
                  b"authentication failed: 535" in text,
                  "authfail: our words in X-Bastion-Reason and the text",
                  "(%r)" % r.items())
        check(site.wait_log(r"expired <x@dead\.example>", 1),
              "expire: the log says the lifetime is over")
        got = wait_for(lambda: dsns(site, "erin", "busy"), 5)
        if check(len(got) == 1, "busy: one bounce after the lifetime",
                 "(%d)" % len(got)):
            well_formed(got[0][0], got[0][1], "busy@hard.example", "5.2.1",
                        "450 4.2.1 <busy@hard.example>: Mailbox busy",
                        "busy")
        check(site.wait_log(r"deferred <x@dead\.example>: connect to "
                            r"127\.0\.0\.1 \[127\.0\.0\.1:%d\] failed" % dead,
                            1), "expire: deferred while the lifetime ran")

        if locked:
            got = wait_for(lambda: dsns(site, "ivan", "maildir"), 5)
            if check(len(got) == 1, "maildir: a Maildir that defers past "
                     "the lifetime bounces once", "(%d)" % len(got)):
                well_formed(got[0][0], got[0][1], "hank@local.example",
                            "5.4.7", None, "maildir")
                text = got[0][1].get_payload()[0].get_payload(decode=True)
                check(b"delivery time expired" in text and
                      b"var/mail/hank" in text,
                      "maildir: the DSN says the time ran out, and why",
                      text[-400:])

        # Bounces of bounces: none.
        check(site.wait_log(r"no bounce for a message from the null sender",
                            5), "null sender: the log says no bounce is made")
        wait_for(lambda: not queue_ids(site), 10)
        nulls = site.log().count("no bounce for a message from the null "
                                 "sender")
        check(nulls == 2, "null sender: twice (MAIL FROM:<>, and the bounce "
              "of the double failure)", "(%d)" % nulls)
        tries = [a for m in hard.mails for a in m["to"]]
        check(tries == [], "the refusing next hop accepted nothing",
              "(%r)" % tries)

        # Wait a little more: no second bounce, nothing left queued.
        time.sleep(2)
        users = (("alice", "rcpt550"), ("bob", "dot554"),
                 ("dave", "noroute"), ("carol", "expire"), ("erin", "busy"),
                 ("frank", "nxdomain"), ("gina", "nullmx"),
                 ("judy", "authfail")) + \
            ((("ivan", "maildir"),) if locked else ())
        for user, tag in users:
            check(len(dsns(site, user, tag)) == 1,
                  "%s: still exactly one bounce" % tag)
        total = sum(len(site.maildir(u)) for u, _ in users) + \
            len(site.maildir("nobody"))
        check(total == len(users), "%d bounces in all, no bounce of a "
              "bounce" % len(users), "(%d)" % total)
        check(not queue_ids(site), "the queue is empty",
              "(%r)" % queue_ids(site))
        alive(site)
    finally:
        if locked:
            chattr("-i", locked)
        site.cleanup()
        for p in (hard, dotfail, dns, authfail):
            if p:
                p.stop()


run(main)
