#!/usr/bin/python3
"""
queue_bench: bastiond with a big queue (bench/queue_run.sh runs it;
`make bench-queue`).  A next hop has been down for a day: 100,000
messages wait in the spool for their next attempt, dated from one to
twenty-four hours ahead.  Against the same bastiond with an empty
spool, it prints:

  1. start to first 220: from the start of the process to the greeting
     of a first connection (median of the starts), and how long the
     start-up scan of queue/ then takes, from the loop, and its CPU
  2. idle CPU: bastiond's CPU time over a quiet stretch (20 s) once the
     scan is over, as a percentage of one core
  3. accepted sessions per second at 20 concurrent clients (Postfix's
     smtp-source: connect, HELO, MAIL, RCPT, DATA of 1 KiB, QUIT, each
     spooled durably and delivered to a Maildir), and the ratio of the
     big queue's figure to the empty one's; bastiond's CPU per session
  4. resident memory of both, and so the schedule's cost per message

The queue is made fast: one message is deferred for real (its next hop
refuses connections), bastiond is stopped, and its queue file is copied
under the other ids (a queue id is only the file's name,
doc/spool-format.md) with dates spread ahead.  Medians of the runs; no
figure fails the run.  It exits 1 when a step cannot run, mail
acknowledged is not delivered, or a waiting message is delivered.
Loopback only; every process is stopped by its pid.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rt_bench  # noqa: E402
from rt_bench import (Postfix, cmd, cpu_seconds, free_port, median,  # noqa
                      open_session, problem, problems, rss_kib, say, spread,
                      started, stop_pid)

USER, DOMAIN = rt_bench.USER, rt_bench.DOMAIN
PARTNER = "partner.bench.example"


def scan_logged():
    """Whether this bastiond reads its queue from the loop and logs the
    end of that (an older one read it before it listened)."""
    try:
        with open(rt_bench.BASTIOND, "rb") as f:
            return b"due later" in f.read()
    except OSError:
        return True


SCAN_LOGGED = scan_logged()


class Node:
    """A bastiond of its own folder; its next hop for PARTNER is down."""

    def __init__(self, work, name):
        self.dir = os.path.join(work, name)
        os.makedirs(os.path.join(self.dir, "var"), exist_ok=True)
        self.port, self.hop = free_port(), free_port()
        self.table = os.path.join(self.dir, "node.ptab")
        self.proc = None
        policy = os.path.join(self.dir, "node.policy")
        with open(policy, "w") as f:
            f.write("server {\n"
                    "\thostname \"mx.bench.example\"\n"
                    "\tlisten on 127.0.0.1 port %d\n"
                    "\tspool \"var/spool\"\n"
                    "\tlog \"var/protocol.log\"\n"
                    "\tlimit connections 1000 per-host 100\n"
                    "\tqueue lifetime 5d retry 1h\n"
                    "\ttimeout connect 2s\n"
                    "}\n"
                    "default require none\n"
                    "host 127.0.0.0/8 require none relay\n"
                    "accept for %s deliver maildir \"var/mail/%%u\" "
                    "recipients any\n"
                    "outbound %s via 127.0.0.1 port %d tls none\n"
                    % (self.port, DOMAIN, PARTNER, self.hop))
        r = subprocess.run([rt_bench.POLICYC, "-o", self.table, policy],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("policyc: " + r.stderr)

    def qdir(self):
        return os.path.join(self.dir, "var/spool/queue")

    def start(self):
        """Start; seconds from the start to a first 220."""
        self.mark = len(self.stderr())
        self.err = open(os.path.join(self.dir, "stderr.log"), "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [rt_bench.BASTIOND, "-f", "-t", self.table], stdout=self.err,
            stderr=self.err, stdin=subprocess.DEVNULL, cwd=self.dir)
        started.append(self.proc)
        self.t0 = t0
        deadline = time.monotonic() + 60
        while True:
            s, _ = open_session(self.port)
            if s is not None:
                self.first = time.perf_counter() - t0
                cmd(s, "QUIT")
                s.close()
                return self.first
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("bastiond (%s) does not answer: %s"
                                   % (self.dir, self.stderr()[-500:]))
            time.sleep(0.002)

    def scanned(self, limit):
        """Wait for the end of the start-up scan; seconds since the
        start, or None.  An older bastiond (BASTIOND=...) read its whole
        queue before it listened: its scan was over at the first 220."""
        if not SCAN_LOGGED:
            return self.first
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if re.search(r"queue: \d+ messages?, \d+ due later",
                         self.stderr()[self.mark:]):
                return time.perf_counter() - self.t0
            time.sleep(0.01)
        return None

    def stop(self):
        if self.proc is not None:
            stop_pid(self.proc)
            self.err.close()
            self.proc = None

    def stderr(self):
        try:
            with open(os.path.join(self.dir, "stderr.log"),
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def delivered(self):
        d = os.path.join(self.dir, "var/mail", USER, "new")
        return len(os.listdir(d)) if os.path.isdir(d) else 0

    def log_count(self, text):
        try:
            with open(os.path.join(self.dir, "var/protocol.log"),
                      errors="replace") as f:
                return f.read().count(text)
        except OSError:
            return 0


def defer_one(node):
    """One message for PARTNER, deferred for real; its queue id."""
    s, r = open_session(node.port)
    if s is None:
        raise RuntimeError("no session: " + r)
    for line in ("HELO client.bench.example",
                 "MAIL FROM:<sender@client.bench.example>",
                 "RCPT TO:<someone@%s>" % PARTNER, "DATA"):
        cmd(s, line)
    r = cmd(s, "Subject: waiting\r\n\r\n" + ("x" * 70 + "\r\n") * 14 + ".")
    cmd(s, "QUIT")
    s.close()
    if not r.startswith("250"):
        raise RuntimeError("the model message was refused: " + r)
    deadline = time.monotonic() + 30
    while node.log_count("next attempt in") < 1:
        if time.monotonic() > deadline:
            raise RuntimeError("the model message was not deferred")
        time.sleep(0.05)
    ids = os.listdir(node.qdir())
    if len(ids) != 1:
        raise RuntimeError("queue/ holds %d files, not 1" % len(ids))
    return ids[0]


def fill(node, model, n):
    """n copies of the model under new ids, dated 1 h to 24 h ahead."""
    q = node.qdir()
    with open(os.path.join(q, model), "rb") as f:
        data = f.read()
    base, now = int(model[:14], 16), int(time.time())
    for i in range(n):
        fd = os.open(os.path.join(q, "%014x%08x" % (base + 1 + i,
                                                      0x7ffe0000)),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data)
        t = now + 3600 + (i * 7919) % (23 * 3600)
        os.utime(fd, (t, t))
        os.close(fd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--postfix-root", required=True)
    ap.add_argument("--postfix-conf", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sanitizers", action="store_true")
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    runs = 1 if args.quick else args.runs
    nq = 10000 if args.quick else args.messages
    idle = 5 if args.quick else 20
    msgs = 200 if args.quick else 2000
    conc = 20
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))

    say("bastion queue benchmark: %s, %d CPUs, load average %s" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(),
        rt_bench.loadavg()))
    if args.sanitizers:
        say("WARNING: this tree is built with sanitizers; figures are not"
            " representative")
    pf = Postfix(args.postfix_root, args.postfix_conf)
    rows = {}
    rc = 0
    nodes = []
    try:
        empty, big = Node(args.work, "empty"), Node(args.work, "big")
        nodes = [empty, big]
        big.start()
        model = defer_one(big)
        big.stop()
        t = time.perf_counter()
        fill(big, model, nq - 1)
        say("queue: %d deferred messages (1 real, %d copies made in %.1f s)"
            % (nq, nq - 1, time.perf_counter() - t))
        say("smtp-source -s %d -m %d -l 1024, %d run%s; idle CPU over %d s"
            % (conc, msgs, runs, "s" if runs > 1 else "", idle))
        cases = (("empty queue", empty), ("%d waiting" % nq, big))
        for label, _ in cases:
            rows[label] = {"first": [], "scan": [], "scancpu": [],
                           "idle": [], "rate": [], "cpu": [], "rss": []}
        # Runs interleaved: a machine that gets busier or quieter
        # meanwhile weighs on both alike.
        for run in range(runs):
            for label, node in cases:
                r = rows[label]
                r["first"].append(node.start())
                sc = node.scanned(300)
                if sc is None:
                    problem("%s: no end of the start-up scan in the log"
                            % label)
                    sc = float("nan")
                r["scan"].append(sc)
                r["scancpu"].append(cpu_seconds(node.proc.pid))
                c0, w0 = cpu_seconds(node.proc.pid), time.perf_counter()
                time.sleep(idle)
                r["idle"].append((cpu_seconds(node.proc.pid) - c0) /
                                 (time.perf_counter() - w0) * 100)
                r["rss"].append(rss_kib(node.proc.pid))
                d0 = node.delivered()
                pf.run_source(node.port, conc, msgs // 10)    # warm-up
                c0 = cpu_seconds(node.proc.pid)
                t, code, err, _ = pf.run_source(node.port, conc, msgs)
                if code != 0:
                    problem("%s: smtp-source exit %d: %s" % (
                        label, code, err.strip()[:300]))
                else:
                    r["rate"].append(msgs / t)
                    # bastiond's own work per session, deliveries
                    # included: what the queue could add to it.
                    r["cpu"].append((cpu_seconds(node.proc.pid) - c0) /
                                    msgs * 1e6)
                deadline = time.monotonic() + 120
                while node.delivered() < d0 + msgs + msgs // 10 and \
                        time.monotonic() < deadline:
                    time.sleep(0.05)
                if node.delivered() < d0 + msgs + msgs // 10:
                    problem("%s: messages acknowledged but not delivered"
                            % label)
                node.stop()
        if big.log_count("1 recipient for %s" % PARTNER) > 1:
            problem("a waiting message was tried before its time")
        for label, _ in cases:
            r = rows[label]
            say("  %-16s first 220 %6.3f s (runs %s); scan over %6.3f s,"
                " CPU %.2f s; idle CPU %.2f%%; %4.0f sessions/s (runs %s),"
                " CPU %.0f us each; RSS %d KiB" % (
                    label, median(r["first"]),
                    spread(r["first"], "%.3f"), median(r["scan"]),
                    median(r["scancpu"]), median(r["idle"]),
                    median(r["rate"]), spread(r["rate"]),
                    median(r["cpu"]), median(r["rss"])))
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        say("queue_bench: %s" % e)
        rc = 1
    finally:
        for n in nodes:
            n.stop()
        for p in list(started):
            stop_pid(p)
    say()
    say("== Summary (medians; no figure fails the run)")
    say("%-16s  %10s  %10s  %9s  %10s  %10s  %9s" % (
        "queue", "first 220", "scan done", "idle CPU", "sessions/s",
        "CPU us/ses", "RSS KiB"))
    for label, r in rows.items():
        say("%-16s  %9.3fs  %9.3fs  %8.2f%%  %10.0f  %10.0f  %9d" % (
            label, median(r["first"]), median(r["scan"]),
            median(r["idle"]), median(r["rate"]), median(r["cpu"]),
            median(r["rss"])))
    if len(rows) == 2:
        e, b = list(rows.values())
        if median(e["rate"]) > 0:
            ratio = median(b["rate"]) / median(e["rate"])
            say("sessions/s, big queue against empty: %.2f (goal: within"
                " 10%%: %s)" % (ratio, "ok" if ratio >= 0.9 else "OVER"))
        if median(e["cpu"]) > 0:
            say("bastiond CPU per session, big queue against empty: %.2f"
                % (median(b["cpu"]) / median(e["cpu"])))
        say("first 220 with the big queue: %.3f s (goal: under 1 s: %s)"
            % (median(b["first"]), "ok" if median(b["first"]) < 1 else
               "OVER"))
        say("idle CPU with the big queue: %.2f%% (goal: under 1%%: %s)"
            % (median(b["idle"]), "ok" if median(b["idle"]) < 1 else
               "OVER"))
        say("schedule memory: about %.0f bytes per waiting message"
            % ((median(b["rss"]) - median(e["rss"])) * 1024.0 / nq))
    if problems:
        say("PROBLEMS:")
        for p in problems:
            say("  " + p)
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
