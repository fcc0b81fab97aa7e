#!/usr/bin/python3
"""
integ_authtiming: AUTH PLAIN for a user that does not exist costs what
a wrong password for a known user costs, for each kind of verifier: the
unknown user's password goes through the same path (the argon2id child
with the table's argon2id parameters, or the sliced PBKDF2 with the
table's SCRAM iteration count), against a dummy verifier; and a SCRAM
exchange for an unknown user offers the table's iteration count and salt
length, as a known user's does.

The test asserts the path (the log names the kind of check a failed
AUTH ran), never the time; it prints the times it measured, from the
protocol log (the AUTH line in, the verdict out), median of 20 each.
"""
import base64
import csv
import hashlib
import hmac
import io
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Site, Dialogue, check, expect, free_port, plain_token,
                     run, verifier)

CLEAR = "127.0.0.3"
ROUNDS = 20
ITER = 16384        # not the default 4096: the dummy must follow the table


def scram_verifier(password, iterations):
    """A SCRAM-SHA-256 verifier with a chosen iteration count."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt,
                                 iterations)
    ck = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    sk = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    e = lambda b: base64.b64encode(b).decode()    # noqa: E731
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, e(salt),
                                          e(hashlib.sha256(ck).digest()),
                                          e(sk))


def policy(port, v):
    return """server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d
    spool "var/spool"
    log "var/protocol.log"
    limit connections 100 per-host 50
}
default require none
host %s auth cleartext
user "known" "%s"
accept for test.example deliver maildir "var/mail/%%u" recipients any
""" % (port, CLEAR, v)


def attempt(site, port, user):
    """One AUTH PLAIN with a wrong password; waits for its verdict."""
    before = site.log().count(": failed")
    d = Dialogue("127.0.0.1", port, source=CLEAR, timeout=20)
    expect(d.reply(), "220", "greeting")
    d.cmd("EHLO client.example")
    d.send("AUTH PLAIN %s\r\n" % plain_token(user, "wrong-password"))
    deadline = time.time() + 20
    while site.log().count(": failed") == before and time.time() < deadline:
        time.sleep(0.005)
    d.close()   # the 535 waits on its delay; we need not


def measure(site):
    """Per user: (times in ms, texts of the failed lines)."""
    start, out = {}, {}
    for row in csv.reader(io.StringIO(site.log())):
        if len(row) < 6:
            continue
        t = time.mktime(time.strptime(row[0][:19], "%Y-%m-%dT%H:%M:%S"))
        t += float(row[0][19:23]) if row[0][19] == "." else 0
        sid, text = row[1], row[5]
        if row[4] == "<" and text.startswith("AUTH PLAIN"):
            start[sid] = t
        elif row[4] == "*" and ": failed" in text and sid in start:
            user = text.split(" as ", 1)[1].split(":", 1)[0]
            ms, texts = out.setdefault(user, ([], []))
            ms.append((t - start[sid]) * 1000)
            texts.append(text)
    return out


def scram_first(port, user):
    """The server-first message's iteration count and salt length."""
    d = Dialogue("127.0.0.1", port, source=CLEAR, timeout=20)
    d.reply()
    d.cmd("EHLO client.example")
    rep = d.cmd("AUTH SCRAM-SHA-256 " + base64.b64encode(
        ("n,,n=%s,r=abcdefghijklmnop" % user).encode()).decode())
    d.cmd("*")
    d.close()
    if not rep.startswith("334 "):
        return rep
    attrs = dict(a.split("=", 1) for a in
                 base64.b64decode(rep[4:]).decode().split(","))
    return int(attrs["i"]), len(base64.b64decode(attrs["s"]))


def one_kind(kind, v, what):
    port = free_port()
    site = Site(policy(port, v), certs=False, name="timing")
    try:
        site.start([("127.0.0.1", port)])
        for _ in range(ROUNDS):
            attempt(site, port, "known")
            attempt(site, port, "nobody")
        got = measure(site)
        if kind == "scram-sha-256":
            k, u = scram_first(port, "known"), scram_first(port, "nobody")
            check(k == (ITER, 16) and u == k, "%s: SCRAM's server-first "
                  "gives an unknown user the table's iteration count and "
                  "salt length" % what, "(known %r, unknown %r)" % (k, u))
        known, unknown = got.get("known", ([], [])), got.get("nobody",
                                                              ([], []))
        check(len(known[0]) == ROUNDS and len(unknown[0]) == ROUNDS,
              "%s: %d failed AUTHs each" % (what, ROUNDS),
              "(%d, %d)" % (len(known[0]), len(unknown[0])))
        tag = "%s checked" % kind
        check(all(tag in t for t in known[1]),
              "%s: a known user's wrong password: %s" % (what, tag),
              repr(known[1][:1]))
        check(all(tag in t for t in unknown[1]),
              "%s: an unknown user goes the same way: %s" % (what, tag),
              repr(unknown[1][:1]))
        if known[0] and unknown[0]:
            print("# %s: known user %.1f ms, unknown user %.1f ms "
                  "(median of %d, from the protocol log)" % (
                      what, statistics.median(known[0]),
                      statistics.median(unknown[0]), ROUNDS))
    finally:
        site.cleanup()


def main():
    one_kind("argon2id", verifier("known-pw", "argon2id"),
             "argon2id table")
    one_kind("scram-sha-256", scram_verifier("known-pw", ITER),
             "SCRAM table (%d iterations)" % ITER)


if __name__ == "__main__":
    run(main)
