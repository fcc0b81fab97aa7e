#!/usr/bin/python3
"""
integ_auth_timing: AUTH for a user who does not exist does the work of
one who does, by the same path, so that timing does not tell them
apart.  With argon2id users, AUTH PLAIN for an unknown name goes
through the argon2id helper process (the protocol log says so, and the
helper's CPU time grows as much as for real users); with SCRAM users
of 10000 iterations, it runs the PBKDF2 slices, and a SCRAM-SHA-256
exchange for an unknown name is answered with the same iteration count
and salt length as for a real user.  The median times over 20 tries of
each are printed, not asserted.
"""
import base64
import hashlib
import hmac
import os
import re
import statistics
import sys
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Site, Dialogue, b64, check, free_port,
                     plain_token, run, verifier)

TRIES = 20


def scram_verifier(password, iters, saltlen):
    """A SCRAM-SHA-256 verifier with other parameters than policyc's."""
    salt = os.urandom(saltlen)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iters)
    ckey = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    skey = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    e = lambda b: base64.b64encode(b).decode()      # noqa: E731
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iters, e(salt),
                                          e(hashlib.sha256(ckey).digest()),
                                          e(skey))


def policy(port, users):
    return """server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d
    spool "var/spool"
    log "var/protocol.log"
    limit auth-failures 100
}
default require none auth cleartext
auth mechanisms plain login scram-sha-256
%saccept for test.example deliver maildir "var/mail/%%u" recipients any
""" % (port, "".join('user "%s" "%s"\n' % u for u in users))


def stamp(line):
    t = line.split(",", 1)[0]
    return datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def child_cpu(site):
    """CPU seconds of bastiond's children (the argon2id helper)."""
    pid = site.pid()
    total = 0.0
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            kids = f.read().split()
    except OSError:
        return None
    for k in kids:
        try:
            with open("/proc/%s/stat" % k) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / \
                os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def plain_try(site, port, user, password):
    """One AUTH PLAIN; the server-side time from the command to the
    verdict (protocol log), and the decision line."""
    d = Dialogue("127.0.0.1", port)
    d.reply()
    d.cmd("EHLO client.example")
    cport = d.s.getsockname()[1]
    d.send("AUTH PLAIN %s\r\n" % plain_token(user, password))
    pat = (r"^(\S+),\w+,[^,]+,127\.0\.0\.1:%d,\*,\"?(AUTH PLAIN as %s: "
           r"failed[^\n]*)" % (cport, re.escape(user)))
    m = site.wait_log(pat, timeout=20)
    d.close()
    if m is None:
        return None, ""
    start = re.search(r"^(\S+),\w+,[^,]+,127\.0\.0\.1:%d,<,AUTH PLAIN"
                      % cport, site.log(), re.M)
    if start is None:
        return None, m.group(2)
    return stamp(m.group(1)) - stamp(start.group(1)), m.group(2)


def plain_series(site, port, known, label):
    """TRIES failures each for a known user and an unknown one,
    interleaved; returns {who: ([seconds], [decision lines])}."""
    out = {"known": ([], []), "unknown": ([], [])}
    cpu = {"known": 0.0, "unknown": 0.0}
    for i in range(TRIES):
        for who, user in (("known", known), ("unknown", "nobody%d" % i)):
            c0 = child_cpu(site)
            took, line = plain_try(site, port, user, "wrong-%d" % i)
            c1 = child_cpu(site)
            if c0 is not None and c1 is not None:
                cpu[who] += c1 - c0
            if took is not None:
                out[who][0].append(took)
            out[who][1].append(line)
    for who in ("known", "unknown"):
        t = out[who][0]
        print("%s PLAIN, %s user: median %.1f ms over %d tries"
              % (label, who, statistics.median(t) * 1000 if t else -1,
                 len(t)))
    return out, cpu


def same_path(out, label, path):
    """Every failure of both users says the password took that path."""
    for who in ("known", "unknown"):
        lines = out[who][1]
        check(len(out[who][0]) == TRIES and
              all(", %s check (" % path in l for l in lines),
              "%s: every PLAIN failure for the %s user went through the "
              "%s check" % (label, who, path), "(%r)" % lines[:3])


def argon2id(port):
    site = Site(policy(port, [("carol", verifier("carol-pw", "argon2id"))]),
                certs=False, name="authtime-argon")
    try:
        site.start([("127.0.0.1", port)])
        out, cpu = plain_series(site, port, "carol", "argon2id")
        same_path(out, "argon2id", "argon2id")
        print("argon2id helper CPU: known %.3f s, unknown %.3f s"
              % (cpu["known"], cpu["unknown"]))
        check(cpu["known"] > 0 and cpu["unknown"] >= cpu["known"] / 2,
              "argon2id: the helper worked for the unknown user as for "
              "the known one (%.3f s vs %.3f s CPU)"
              % (cpu["unknown"], cpu["known"]))
    finally:
        site.cleanup()


def scram_first(port, user):
    """SCRAM-SHA-256 client-first; (server-first attributes, seconds)."""
    d = Dialogue("127.0.0.1", port)
    d.reply()
    d.cmd("EHLO client.example")
    bare = "n=%s,r=%s" % (user, b64(os.urandom(18)))
    t0 = time.perf_counter()
    rep = d.cmd("AUTH SCRAM-SHA-256 " + b64("n,," + bare))
    took = time.perf_counter() - t0
    d.cmd("*")
    d.close()
    if not rep.startswith("334 "):
        return {}, took
    first = base64.b64decode(rep[4:]).decode()
    return dict(a.split("=", 1) for a in first.split(",")), took


def scram(port):
    site = Site(policy(port, [("alice", scram_verifier("alice-pw", 10000,
                                                       20))]),
                certs=False, name="authtime-scram")
    try:
        site.start([("127.0.0.1", port)])
        out, _ = plain_series(site, port, "alice", "SCRAM")
        same_path(out, "SCRAM", "PBKDF2")

        # The exchange itself: server-first is alike for both.
        times = {"known": [], "unknown": []}
        attrs = {}
        for i in range(TRIES):
            for who, user in (("known", "alice"),
                              ("unknown", "nobody%d" % i)):
                a, took = scram_first(port, user)
                times[who].append(took)
                attrs.setdefault(who, []).append(a)
        for who in ("known", "unknown"):
            print("SCRAM-SHA-256 exchange, %s user: median %.2f ms to "
                  "server-first over %d tries"
                  % (who, statistics.median(times[who]) * 1000, TRIES))
        k, u = attrs["known"][0], attrs["unknown"][0]
        check(k.get("i") == "10000" and u.get("i") == "10000",
              "SCRAM: server-first says i=10000 for the unknown user too",
              "(%r %r)" % (k.get("i"), u.get("i")))
        check(len(base64.b64decode(u.get("s", ""))) == 20 and
              len(base64.b64decode(k.get("s", ""))) == 20,
              "SCRAM: and a salt of the same length (20 bytes)")
        check(len({a.get("s") for a in attrs["unknown"]}) == TRIES,
              "SCRAM: each unknown name has its own salt")
        again, _ = scram_first(port, "nobody0")
        check(again.get("s") == u.get("s"),
              "SCRAM: an unknown name gets the same salt every time")
    finally:
        site.cleanup()


def main():
    argon2id(free_port())
    scram(free_port())


if __name__ == "__main__":
    run(main)
