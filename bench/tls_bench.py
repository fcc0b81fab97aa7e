#!/usr/bin/python3
"""
tls_bench: the STARTTLS handshake benchmark (bench/tls_run.sh runs it;
`make bench-tls`).  What a full TLS 1.2 handshake costs bastiond, set
against a private Postfix instance (smtpd over OpenSSL, from the same
Debian package as the load tools) in the same run, with the same
self-signed ECDSA P-256 certificate and the same client:

  1. the public-key steps alone (bench/tls_ecbench): one X25519 and one
     P-256 ECDHE, one ECDSA P-256 signature and one verification, with
     BearSSL's default code and with the code runtime/core/tls.c picks
  2. STARTTLS sessions back to back from bench/rt_tlsclient (connect,
     220, EHLO, STARTTLS, handshake, QUIT in TLS, 221; one process per
     client) at 1 and 4 clients: sessions/s, and the server's CPU time
     (user + system from /proc, Postfix's master with every daemon
     below it, reaped or live) divided by the sessions

Each round runs bastiond then Postfix at one concurrency, then the
other, so a change in the machine's load weighs on both alike; the
summary gives medians over the rounds and the ratio bastiond / Postfix.
With --baseline BASTIOND (BENCH_BASELINE), another build of bastiond
(an older commit, say) takes its turn in every round too, on the same
policy and certificate: a before/after comparison in one run.
It measures and prints; no figure fails the run.  It exits 1 only when
a step cannot run or a session fails.  Everything talks to 127.0.0.0/8
only and every server started is stopped by its process id (Postfix
with `postfix stop` first).  Standard library only.
"""

import argparse
import os
import platform
import signal
import subprocess
import sys
import time

import rt_bench
from rt_bench import Site, make_cert, run_tlsclient, median, loadavg, \
    machine, stop_pid
import relay_bench

ECBENCH = os.environ.get("BENCH_ECBENCH", "tls_ecbench")
STEP = 300          # seconds, any one external command

problems = []


def say(text=""):
    print(text, flush=True)


def problem(text):
    problems.append(text)
    say("PROBLEM: " + text)


class PostfixTLS(relay_bench.Postfix):
    """relay_bench's private instance with STARTTLS offered on the same
    certificate, and tlsmgr (smtpd asks it for PRNG seeds and session
    ticket keys).  Nothing is relayed: the sessions end with QUIT."""
    name = "Postfix"

    def __init__(self, root, work, certs):
        super().__init__(root, work, 9)
        if self.why is not None:
            return
        with open(os.path.join(self.conf, "main.cf"), "a") as f:
            f.write("# bench/tls_bench.py: STARTTLS with bastiond's"
                    " certificate.\n"
                    "smtpd_tls_security_level = may\n"
                    "smtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\n"
                    "smtpd_tls_loglevel = 0\n"
                    % (os.path.join(certs, "ec.crt"),
                       os.path.join(certs, "ec.key")))
        with open(os.path.join(self.conf, "master.cf"), "a") as f:
            f.write("%-20s %-10s %-3s %-3s %-3s %-4s %-3s %s\n" % (
                "tlsmgr", "unix", "-", "-", "n", "1000?", "1", "tlsmgr"))

    def cpu(self):
        return relay_bench.tree_cpu(self.master)


class BastiondSite(Site):
    def cpu(self):
        return rt_bench.cpu_seconds(self.proc.pid)


def start_bastiond(args, certs, name, prog):
    """A bastiond site; rt_bench.Site runs rt_bench.BASTIOND."""
    keep = rt_bench.BASTIOND
    rt_bench.BASTIOND = prog
    try:
        b = BastiondSite(args.work, certs, 1000, 100).start()
    finally:
        rt_bench.BASTIOND = keep
    b.name = name
    b.addr = "127.0.0.1"
    say("  %s: %s -f, pid %d, %s:%d" % (name, prog, b.proc.pid, b.addr,
                                       b.port))
    return b


def ecbench(args):
    say("== 1. Public-key steps of a handshake (bench/tls_ecbench)")
    argv = [ECBENCH] + (["-q"] if args.quick else [])
    try:
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=STEP)
    except (OSError, subprocess.SubprocessError) as e:
        problem("tls_ecbench: %s" % e)
        return
    say(r.stdout.rstrip())
    if r.returncode != 0:
        problem("tls_ecbench exited %d: %s" % (r.returncode,
                                               r.stderr.strip()))
    say()


def one_run(srv, addr, port, clients, secs):
    """(sessions/s, server CPU ms a session, sessions, suite) or None."""
    c0 = srv.cpu()
    o = run_tlsclient(port, clients, secs, addr)
    c1 = srv.cpu()
    if o["rc"] != 0 or o.get("errors", 1) > 0 or "rate" not in o:
        problem("rt_tlsclient -c %d against %s: %s" % (
            clients, srv.name, o["text"].strip()[:500]))
        if "rate" not in o:
            return None
    n = o.get("sessions", 0)
    ms = (c1 - c0) * 1000 / n if n else float("nan")
    return o["rate"], ms, n, o.get("suite", "?")


def handshakes(args, certs):
    say("== 2. STARTTLS sessions (bench/rt_tlsclient: connect, 220, EHLO,"
        " STARTTLS, TLS 1.2")
    say("handshake, QUIT in TLS, 221; one process per client), %d round%s"
        " of %.1f s each," % (args.runs, "s" if args.runs > 1 else "",
                              args.secs))
    say("bastiond then Postfix at each concurrency; %d CPUs for servers and"
        " clients together." % os.cpu_count())
    servers = [start_bastiond(args, certs, "bastiond", rt_bench.BASTIOND)]
    if args.baseline:
        servers.append(start_bastiond(args, certs, "baseline",
                                      args.baseline))
    pf = None
    if args.postfix_root:
        pf = PostfixTLS(args.postfix_root, args.work, certs)
        if pf.why is None and pf.start():
            servers.append(pf)
            say("  Postfix %s: private instance under %s, smtpd on %s:%d,"
                " smtpd_tls_security_level = may," % (
                    args.postfix_version, pf.dir, pf.addr, pf.port))
            say("  the same certificate, OpenSSL's defaults otherwise (the"
                " client's curve order: X25519)")
        else:
            say("Postfix: NOT MEASURED: %s" % pf.why)
            pf.stop()
            pf = None
    else:
        say("Postfix: NOT MEASURED: its package is not unpacked")
    res = {}
    try:
        for s in servers:
            w = one_run(s, s.addr, s.port, 2, 0.5)     # warm-up
            if w is not None:
                say("  %s negotiated: %s" % (s.name, w[3]))
        for rnd in range(args.runs):
            for clients in (1, 4):
                for s in servers:
                    r = one_run(s, s.addr, s.port, clients, args.secs)
                    if r is None:
                        continue
                    res.setdefault((s.name, clients), []).append(r)
                    say("  round %d, %d client%s, %-8s: %5.0f sessions/s"
                        " (%d), server CPU %.2f ms a session" % (
                            rnd + 1, clients, "s" if clients > 1 else " ",
                            s.name, r[0], r[2], r[1]))
    finally:
        if pf is not None:
            pf.stop()
        for s in servers:
            if s is not pf:
                s.stop()
    say()
    return res


def summary(res):
    say("== Summary (medians over the rounds; server CPU from /proc, clock"
        " ticks of 10 ms)")
    say("%-10s %-9s %12s %12s %16s %12s" % (
        "clients", "server", "sessions/s", "ratio b/P", "CPU ms/session",
        "ratio b/P"))
    for clients in (1, 4):
        p = res.get(("Postfix", clients))
        for name in ("bastiond", "baseline", "Postfix"):
            v = res.get((name, clients))
            if not v:
                continue
            rate = median([x[0] for x in v])
            ms = median([x[1] for x in v])
            rr, rc = "", ""
            if name != "Postfix" and p:
                rr = "%.2f" % (rate / median([x[0] for x in p]))
                rc = "%.2f" % (ms / median([x[1] for x in p]))
            say("%-10d %-9s %12.0f %12s %16.2f %12s" % (
                clients, name, rate, rr, ms, rc))
    say("(sessions/s: above 1 bastiond is faster; CPU: below 1 bastiond"
        " spends less a session)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--postfix-root", default="")
    ap.add_argument("--baseline", default=os.environ.get("BENCH_BASELINE",
                                                         ""))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sanitizers", action="store_true")
    args = ap.parse_args()
    args.runs = 1 if args.quick else 5
    args.secs = 1.0 if args.quick else 3.0
    args.work = os.path.abspath(args.work)
    args.postfix_version = "?"

    # A SIGTERM (timeout(1)) must still stop the servers by pid.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))

    if args.postfix_root:
        try:
            v = subprocess.run(
                [os.path.join(args.postfix_root, "usr/sbin/postconf"), "-d",
                 "-h", "mail_version"], capture_output=True, text=True,
                env=dict(os.environ, LD_LIBRARY_PATH=os.path.join(
                    args.postfix_root, "usr/lib/postfix")), timeout=STEP)
            args.postfix_version = v.stdout.strip() or "?"
        except (OSError, subprocess.SubprocessError):
            pass
    say("bastion TLS handshake benchmark: %s, %s, %d CPUs" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        platform.machine(), os.cpu_count()))
    say("CPU: %s" % machine())
    say("kernel: %s %s" % (platform.system(), platform.release()))
    la0 = loadavg()
    say("load average at start: %s" % la0)
    if args.sanitizers:
        say("WARNING: this tree is built with sanitizers; figures are not"
            " representative")
    if args.quick:
        say("BENCH_QUICK: smoke run, one round")
    say()

    # Postfix's daemons (mail_owner) must reach their files under here.
    os.chmod(args.work, 0o711)
    res = {}
    try:
        ecbench(args)
        certs = make_cert(args.work)
        os.chmod(certs, 0o711)
        res = handshakes(args, certs)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        problem("tls_bench: %s" % e)
    finally:
        for p in list(rt_bench.started):
            stop_pid(p)
    summary(res)
    say("load average at end: %s (at start: %s)" % (loadavg(), la0))
    if problems:
        say("%d problem%s (see above): %s" % (
            len(problems), "s" if len(problems) > 1 else "",
            "; ".join(problems)[:2000]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
