#!/usr/bin/python3
"""dsn-parse.py: a bounce written by runtime/store/dsn.c (tests/unit/dsn_test
-o FILE) read by an independent parser, Python's email package: a
multipart/report with report-type=delivery-status, a text part, a
message/delivery-status part whose per-message and per-recipient fields
say what RFC 3464 wants, and the original headers as
text/rfc822-headers."""

import email
import email.policy
import email.utils
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check import TOP_BUILDDIR, check, finish  # noqa: E402

prog = os.path.join(TOP_BUILDDIR, "tests", "unit", "dsn_test")


with tempfile.TemporaryDirectory() as d:
    out = os.path.join(d, "bounce.eml")
    r = subprocess.run([prog, "-o", out], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60,
                       env=dict(os.environ, TMPDIR=d))
    check(r.returncode == 0, "dsn_test -o ran", r.stdout.decode()[-500:])
    with open(out, "rb") as f:
        raw = f.read()

msg = email.message_from_bytes(raw, policy=email.policy.SMTP)
check(not msg.defects, "no defects in the message", msg.defects)
check(msg.get_content_type() == "multipart/report" and
      msg.get_param("report-type") == "delivery-status",
      "multipart/report; report-type=delivery-status")
check(msg["To"].addresses[0].addr_spec == "alice@example.net" and
      "MAILER-DAEMON@mx.sf.example" in msg["From"], "From and To")
check(email.utils.parsedate_to_datetime(msg["Date"]) is not None, "Date")
check(msg["Auto-Submitted"] == "auto-replied", "Auto-Submitted")
parts = list(msg.iter_parts())
check([p.get_content_type() for p in parts] ==
      ["text/plain", "message/delivery-status", "text/rfc822-headers"],
      "three parts in order", [p.get_content_type() for p in parts])
for p in parts:
    check(not p.defects, "no defects in %s" % p.get_content_type(),
          p.defects)

text = parts[0].get_content()
check("bob@example.org" in text and "no such user" in text and
      "carol@example.org" in text, "the text part names both")

# message/delivery-status: a list of header blocks, per message first.
blocks = parts[1].get_payload()
check(isinstance(blocks, list) and len(blocks) == 4,
      "one per-message block and three per-recipient blocks",
      type(blocks))
if isinstance(blocks, list) and len(blocks) == 4:
    pm, bob, carol, dave = blocks
    check(pm["Reporting-MTA"] == "dns; mx.sf.example", "Reporting-MTA")
    check(email.utils.parsedate_to_datetime(pm["Arrival-Date"]).timestamp()
          == 1714566896, "Arrival-Date", pm["Arrival-Date"])
    check(pm["Original-Envelope-Id"] == "QQ314159", "Original-Envelope-Id")
    check(bob["Final-Recipient"] == "rfc822; bob@example.org" and
          bob["Action"] == "failed" and bob["Status"] == "5.1.1" and
          bob["Remote-MTA"] == "dns; mx.example.org" and
          bob["Diagnostic-Code"] ==
          "smtp; 550 5.1.1 <bob@example.org>: no such user",
          "bob: recipient, action, status, remote MTA, diagnostic",
          dict(bob.items()))
    check(email.utils.parsedate_to_datetime(bob["Last-Attempt-Date"])
          is not None, "bob: Last-Attempt-Date")
    check(carol["Final-Recipient"] == "rfc822; carol@example.org" and
          carol["Action"] == "failed" and carol["Status"] == "5.4.7" and
          carol["Diagnostic-Code"] is None and
          "connection timed out" in carol["X-Bastion-Reason"],
          "carol: failed 5.4.7, no diagnostic without a reply, our reason",
          dict(carol.items()))
    # RFC 3464 2.3.6: the type, then the next hop's reply, nothing else,
    # so that a parser looking for "smtp; 5xx" finds the code.
    diag = str(dave["Diagnostic-Code"])
    dtype, _, dtext = diag.partition(";")
    check(dtype.strip().lower() == "smtp" and
          dtext.strip() == "535 5.7.8 Error: authentication failed",
          "dave: Diagnostic-Code is smtp; and the reply exactly", diag)
    check(dave["X-Bastion-Reason"].startswith("authentication failed:"),
          "dave: our words in X-Bastion-Reason", dict(dave.items()))

hdrs = parts[2].get_payload()
orig = email.message_from_string(hdrs if isinstance(hdrs, str) else
                                 hdrs.decode())
check(orig["Subject"] == "lunch?" and "Alice" in orig["From"] and
      "Secret body" not in str(hdrs), "the original headers, not the body")

finish()
