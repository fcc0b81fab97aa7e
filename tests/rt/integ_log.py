#!/usr/bin/python3
"""
integ_log: what bastiond leaves on disk.  The protocol log: CSV lines of
six fields, a `*` decision line at each connect naming the rule's source
line (as `policyc query` gives it) and the table's checksum prefix, and
no AUTH payload or password ever, for PLAIN, LOGIN and SCRAM-SHA-256,
in the log or on stderr (with -v).  Maildir delivery: var/mail/%u/new,
Return-Path and Received headers, and hostile local parts that stay
inside var/mail.
"""
import csv
import io
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Site, Dialogue, check, expect, free_port, run, POLICYC,
                     verifier, plain_token, b64, scram_sha256)

PASSWORD = "Tr0ub4dor&3-horse"


def policy(port):
    return """# the protocol log test
server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d
    tls certificate "certs/ec.crt" key "certs/ec.key"
    spool "var/spool"
    log "var/protocol.log"
}

list partners { 127.0.0.64/28 }
default require none
host <partners> require none relay
host 127.0.0.70 require tls
host 127.0.0.71 require auth auth cleartext
user "alice" "%s"
accept for test.example deliver maildir "var/mail/%%u" recipients any
""" % (port, verifier(PASSWORD))


def parse(log):
    rows = []
    for line in log.splitlines():
        rows.append((line, next(csv.reader(io.StringIO(line)))))
    return rows


def log_format(site):
    rows = parse(site.log())
    check(len(rows) > 20, "the protocol log has lines (%d)" % len(rows))
    bad = [l for l, r in rows if len(r) != 6]
    check(not bad, "every line has 6 CSV fields", "(%r)" % bad[:3])
    bad = [l for l, r in rows if len(r) == 6 and not re.match(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", r[0])]
    check(not bad, "every line starts with an ISO 8601 UTC time",
          "(%r)" % bad[:3])
    bad = [l for l, r in rows if len(r) == 6 and r[4] not in "+-<>*"]
    check(not bad, "every direction is one of + - < > *", "(%r)" % bad[:3])
    sessions = [r for l, r in rows if len(r) == 6 and r[4] == "+"]
    check(sessions and all(re.match(r"[0-9a-f]{16}$", r[1]) and
                           re.match(r"127\.0\.0\.1:\d+$", r[2]) and
                           re.match(r"127\.0\.0\.\d+:\d+$", r[3])
                           for r in sessions),
          "connect lines name the session and both endpoints")
    # Every session that connected also says goodbye.
    ids = {r[1] for r in sessions}
    gone = {r[1] for l, r in rows if len(r) == 6 and r[4] == "-"}
    check(ids <= gone, "every session has a disconnect line",
          "(%s)" % sorted(ids - gone)[:5])
    # Hostile bytes in a command stay on one printable line.
    evil = [r for l, r in rows if len(r) == 6 and r[4] == "<" and
            "NOOP" in r[5] and "\\x1b" in r[5]]
    check(evil and evil[0][5] == 'NOOP \\x1b[31m "quoted, with comma" '
          '\\xc3\\xa9 \\\\ \\x07', "control, 8-bit, quote, comma and "
          "backslash are escaped on one line", "(%r)" % evil[:1])


def decisions(site, port, checksum):
    for src in ("127.0.0.2", "127.0.0.65", "127.0.0.70", "127.0.0.71"):
        d = Dialogue("127.0.0.1", port, source=src)
        expect(d.reply(), "220", "%s: greeted" % src)
        d.cmd("QUIT")
        d.close()
        q = subprocess.run([POLICYC, "query", site.table, src],
                           capture_output=True, text=True, timeout=60)
        m = re.match(r"[\d.]+: line (\d+): (.*?)( \(no host rule matches\)|"
                     r" \(matched [\d./]+\))?$", q.stdout.strip())
        if not check(q.returncode == 0 and m, "policyc query %s" % src,
                     "(%r)" % q.stdout):
            continue
        line, rule = m.group(1), m.group(2)
        pat = (r"^[^,]+,([0-9a-f]{16}),127\.0\.0\.1:%d,%s:\d+,\*,"
               r"\"admit, [^\"]*: rule line %s \(%s\), table %s\"$" % (
                   port, re.escape(src), line, re.escape(rule), checksum))
        check(site.wait_log(pat, timeout=5) is not None,
              "%s: the connect decision names line %s (%s) and table %s"
              % (src, line, rule, checksum))


def secrets(site, port):
    ctx = site.ctx()
    # PLAIN with an initial response, in clear (auth cleartext host).
    d = Dialogue("127.0.0.1", port, source="127.0.0.71")
    d.reply()
    d.cmd("EHLO client.example")
    expect(d.cmd("AUTH PLAIN " + plain_token("alice", PASSWORD)), "235",
           "PLAIN with an initial response")
    d.close()
    # PLAIN without, inside TLS.
    d = Dialogue("127.0.0.1", port, source="127.0.0.2")
    d.reply()
    d.cmd("EHLO client.example")
    d.starttls(ctx)
    d.cmd("EHLO client.example")
    expect(d.cmd("AUTH PLAIN"), "334", "PLAIN without: 334")
    expect(d.cmd(plain_token("alice", PASSWORD)), "235", "PLAIN: 235")
    d.close()
    # LOGIN, and a wrong password too.
    d = Dialogue("127.0.0.1", port, source="127.0.0.71")
    d.reply()
    d.cmd("EHLO client.example")
    d.cmd("AUTH LOGIN " + b64("alice"))
    expect(d.cmd(b64(PASSWORD + "-wrong")), "535", "LOGIN wrong: 535")
    d.cmd("AUTH LOGIN")
    d.cmd(b64("alice"))
    expect(d.cmd(b64(PASSWORD)), "235", "LOGIN: 235")
    d.close()
    # SCRAM-SHA-256: its messages are payloads too.
    sent = []

    def send(line):
        sent.append(line)
        return d.cmd(line)
    d = Dialogue("127.0.0.1", port, source="127.0.0.71")
    d.reply()
    d.cmd("EHLO client.example")
    final, ok = scram_sha256(send, "alice", PASSWORD)
    expect(final, "235", "SCRAM-SHA-256: 235")
    d.close()
    time.sleep(0.3)

    log, err = site.log(), site.stderr()
    payloads = [PASSWORD, b64(PASSWORD), plain_token("alice", PASSWORD),
                b64(PASSWORD + "-wrong"), b64("alice")]
    payloads += [s.split(" ")[-1] for s in sent if len(s) > 12]
    for p in payloads:
        check(p not in log, "not in the protocol log: %s..." % p[:10])
        check(p not in err, "not on stderr: %s..." % p[:10])
    rows = parse(log)
    auth_in = [r[5] for l, r in rows if len(r) == 6 and r[4] == "<" and
               r[3].startswith("127.0.0.71:")]
    check("AUTH PLAIN ****" in auth_in, "AUTH PLAIN's response as ****")
    check("AUTH LOGIN ****" in auth_in, "AUTH LOGIN's response as ****")
    check(auth_in.count("****") >= 4, "the lines during AUTH as ****")
    check(any(r[5] == "334 ****" for l, r in rows if len(r) == 6 and
              r[4] == ">"), "the server's challenges as 334 ****")


def maildir(site, port):
    d = Dialogue("127.0.0.1", port, source="127.0.0.2")
    d.reply()
    d.cmd("EHLO client.example")
    d.cmd("MAIL FROM:<sender@client.example>")
    rcpts = ['"../../etc"@test.example', '"a/b"@test.example',
             '"..\\/..\\/x"@test.example', '".hidden"@test.example',
             'Carol.Smith@test.example', '"  "@test.example']
    taken = []
    for r in rcpts:
        rep = d.cmd("RCPT TO:<%s>" % r)
        if rep.startswith("250"):
            taken.append(r)
        else:
            check(rep.startswith("501"), "RCPT %s: 250 or a syntax error"
                  % r, "(%r)" % rep)
    check(len(taken) >= 4, "the hostile quoted local parts are taken (%d)"
          % len(taken))
    expect(d.cmd("DATA"), "354", "DATA")
    expect(d.cmd("Subject: where does this go\r\n\r\nhere\r\n."), "250",
           "queued")
    d.close()
    mail = os.path.realpath(site.path("var/mail"))
    deadline = time.time() + 20
    while time.time() < deadline:
        n = len(re.findall(r",-,local,\*,\"?(delivered|failed) <",
                           site.log()))
        if n >= len(taken):
            break
        time.sleep(0.05)
    found = []
    for root, dirs, files in os.walk(site.dir):
        for f in files:
            p = os.path.realpath(os.path.join(root, f))
            if p.startswith(mail + os.sep):
                found.append(os.path.relpath(p, mail))
            elif "/var/spool/" not in p and "/certs/" not in p and \
                    os.path.dirname(p) not in (
                        os.path.realpath(site.dir),
                        os.path.realpath(site.path("var"))):
                check(False, "no file outside var/mail: %s" % p)
    check(not os.path.exists(os.path.join(site.dir, "etc")) and
          not os.path.exists(os.path.join(os.path.dirname(site.dir), "etc")),
          "no etc/ was made next to var/ or the site")
    boxes = sorted({f.split(os.sep)[0] for f in found})
    print("Maildirs:", boxes)
    check(all(b not in ("", ".", "..") and not b.startswith(".") and
              "/" not in b for b in boxes),
          "every Maildir is one plain name under var/mail", "(%r)" % boxes)
    news = [f for f in found if f.split(os.sep)[1:2] == ["new"]]
    check(len(news) == len(taken), "one delivery in a new/ per recipient "
          "(%d of %d)" % (len(news), len(taken)), "(%r)" % found)
    check("carol.smith" in boxes, "the local part is folded to lower case")
    for n in news:
        with open(os.path.join(mail, n), "rb") as f:
            m = f.read()
        check(re.match(rb"Return-Path: <sender@client\.example>\n"
                       rb"Received: from client\.example \(\[127\.0\.0\.2\]\)"
                       rb"\n\tby mx\.test\.example \(bastion\) with ESMTP\n"
                       rb"\tid [0-9a-f]+;\n\t\w\w\w, \d\d \w\w\w \d{4} "
                       rb"\d\d:\d\d:\d\d \+0000\nSubject: where does this go"
                       rb"\n\nhere\n$", m) is not None,
              "%s: Return-Path, Received, then the message" % n, "(%r)" % m)
    tmps = [f for f in found if f.split(os.sep)[1:2] == ["tmp"]]
    check(not tmps, "nothing left in a tmp/")


def main():
    port = free_port()
    site = Site(policy(port), name="log")
    try:
        site.start([("127.0.0.1", port)], extra=["-v"])
        checksum = site.checksum()
        check(checksum is not None and site.wait_log(
            r"^[^,]+,-,-,-,\*,\"started, table %s\"$" % checksum) is not None,
            "the start line names the table's checksum prefix")
        decisions(site, port, checksum)
        secrets(site, port)
        d = Dialogue("127.0.0.1", port, source="127.0.0.2")
        d.reply()
        d.send(b'NOOP \x1b[31m "quoted, with comma" \xc3\xa9 \\ \x07\r\n')
        expect(d.reply(), "250", "NOOP with odd bytes")
        d.close()
        maildir(site, port)
        time.sleep(0.2)
        log_format(site)
    finally:
        site.cleanup()


if __name__ == "__main__":
    run(main)
