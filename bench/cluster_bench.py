#!/usr/bin/python3
"""
cluster_bench: bastiond behind HAProxy (bench/cluster_run.sh runs it;
`make bench-cluster`).  Postfix's smtp-source sends 1 KiB messages
(connect, HELO, MAIL, RCPT, DATA, QUIT; each spooled durably and
delivered to a Maildir) at 20 concurrent clients:

  1. straight to one node, on a listener without `proxy from`
  2. through HAProxy to that listener (no PROXY header)
  3. through HAProxy with send-proxy-v2 to one node's `proxy from`
     listener
  4. the same, balanced over two nodes

2 against 3 is what the PROXY header costs the node; 1 against 2 what
the extra hop costs.  It prints the sessions per second (median of the
runs), each node's and HAProxy's CPU per message, and never fails on a
time; it exits 1 when a step cannot run or a message acknowledged with
250 is not delivered.

The two nodes run from one policy, compiled once per node only because
two processes on one machine cannot listen on the same port (the test
integ_haproxy.py shares one table through network namespaces, which
need root).  Loopback only; every process is stopped by its pid.
"""

import argparse
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rt_bench  # noqa: E402
from rt_bench import (Postfix, cpu_seconds, free_port, median,  # noqa: E402
                      problem, problems, say, spread, started, stop_pid)

BALANCER = "127.0.0.2"
USER, DOMAIN = rt_bench.USER, rt_bench.DOMAIN


class Node:
    def __init__(self, work, name):
        self.dir = os.path.join(work, name)
        os.makedirs(os.path.join(self.dir, "var"), exist_ok=True)
        self.plain, self.proxy = free_port(), free_port()
        self.table = os.path.join(self.dir, "node.ptab")
        policy = os.path.join(self.dir, "node.policy")
        with open(policy, "w") as f:
            f.write("server {\n"
                    "\thostname \"mx.bench.example\"\n"
                    "\tlisten on 127.0.0.1 port %d\n"
                    "\tlisten on 127.0.0.1 port %d proxy from %s\n"
                    "\tspool \"var/spool\"\n"
                    "\tlog \"var/protocol.log\"\n"
                    "\tlimit connections 1000 per-host 100\n"
                    "}\n"
                    "accept for %s deliver maildir \"var/mail/%%u\" "
                    "recipients any\n" % (self.plain, self.proxy, BALANCER,
                                          DOMAIN))
        r = subprocess.run([rt_bench.POLICYC, "-o", self.table, policy],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("policyc: " + r.stderr)
        self.err = open(os.path.join(self.dir, "stderr.log"), "ab")
        self.proc = subprocess.Popen(
            [rt_bench.BASTIOND, "-f", "-t", self.table], stdout=self.err,
            stderr=self.err, stdin=subprocess.DEVNULL, cwd=self.dir)
        started.append(self.proc)
        deadline = time.monotonic() + 15
        while True:
            s, _ = rt_bench.open_session(self.plain)
            if s is not None:
                rt_bench.cmd(s, "QUIT")
                s.close()
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("bastiond (%s) does not answer" % name)
            time.sleep(0.05)

    def delivered(self):
        d = os.path.join(self.dir, "var/mail", USER, "new")
        return len(os.listdir(d)) if os.path.isdir(d) else 0

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def stop(self):
        stop_pid(self.proc)
        self.err.close()


def haproxy_cfg(work, ports, nodes):
    """Frontends: direct-hop (no header), one node, two nodes."""
    a, b = nodes
    return """global
    maxconn 2000

defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch 1

frontend hop
    bind 127.0.0.1:%d
    default_backend hop
frontend one
    bind 127.0.0.1:%d
    default_backend one
frontend two
    bind 127.0.0.1:%d
    default_backend two

backend hop
    server a 127.0.0.1:%d source %s check inter 2s
backend one
    option smtpchk HELO lb.bench.example
    server a 127.0.0.1:%d source %s send-proxy-v2 check inter 2s
backend two
    balance roundrobin
    option smtpchk HELO lb.bench.example
    server a 127.0.0.1:%d source %s send-proxy-v2 check inter 2s
    server b 127.0.0.1:%d source %s send-proxy-v2 check inter 2s
""" % (ports[0], ports[1], ports[2], a.plain, BALANCER, a.proxy, BALANCER,
       a.proxy, BALANCER, b.proxy, BALANCER)


def settle(pred, limit):
    deadline = time.monotonic() + limit
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--postfix-root", required=True)
    ap.add_argument("--postfix-conf", required=True)
    ap.add_argument("--haproxy", default="haproxy")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sanitizers", action="store_true")
    args = ap.parse_args()
    runs = 1 if args.quick else 3
    msgs = 200 if args.quick else 2000
    conc = 20
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))

    say("bastion cluster benchmark: %s, %d CPUs, load average %s" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(),
        rt_bench.loadavg()))
    if args.sanitizers:
        say("WARNING: this tree is built with sanitizers; figures are not"
            " representative")
    pf = Postfix(args.postfix_root, args.postfix_conf)
    nodes, lb, rows = [], None, []
    rc = 0
    try:
        nodes = [Node(args.work, "node-a"), Node(args.work, "node-b")]
        fports = [free_port() for _ in range(3)]
        cfg = os.path.join(args.work, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(haproxy_cfg(args.work, fports, nodes))
        out = open(os.path.join(args.work, "haproxy.log"), "ab")
        lb = subprocess.Popen([args.haproxy, "-f", cfg, "-db"], stdout=out,
                              stderr=out, stdin=subprocess.DEVNULL)
        started.append(lb)
        for p in fports:
            if not settle(lambda: rt_bench.open_session(p)[0] is not None,
                          15):
                raise RuntimeError("HAProxy does not answer on %d" % p)
        say("smtp-source -s %d -m %d -l 1024, %d run%s each; messages are"
            " spooled durably" % (conc, msgs, runs, "s" if runs > 1 else ""))
        say("and delivered to a Maildir on the node that took them.")
        cases = (("direct to one node, no PROXY header", nodes[0].plain,
                  nodes[:1]),
                 ("HAProxy to one node, no PROXY header", fports[0],
                  nodes[:1]),
                 ("HAProxy to one node, PROXY v2", fports[1], nodes[:1]),
                 ("HAProxy to two nodes, PROXY v2", fports[2], nodes))
        sent = {id(n): n.delivered() for n in nodes}
        expect = sum(sent.values())
        for label, port, used in cases:
            pf.run_source(port, conc, msgs // 10)         # warm-up
            expect += msgs // 10
            if not settle(lambda: sum(n.delivered() for n in nodes) >=
                          expect, 120):
                problem("%s: warm-up messages not delivered" % label)
            rates, cpus, lbcpu = [], {id(n): [] for n in used}, []
            for run in range(runs):
                c0 = {id(n): n.cpu() for n in used}
                d0 = {id(n): n.delivered() for n in used}
                h0 = cpu_seconds(lb.pid)
                t, code, err, _ = pf.run_source(port, conc, msgs)
                if code != 0:
                    problem("%s: smtp-source exit %d: %s" % (
                        label, code, err.strip()[:300]))
                    break
                expect += msgs
                if not settle(lambda: sum(n.delivered() for n in nodes) >=
                              expect, 120):
                    problem("%s: messages acknowledged but not delivered"
                            % label)
                rates.append(msgs / t)
                # CPU per message a node took, delivery included.
                for n in used:
                    got = n.delivered() - d0[id(n)]
                    cpus[id(n)].append((n.cpu() - c0[id(n)]) /
                                       max(got, 1) * 1e6)
                lbcpu.append((cpu_seconds(lb.pid) - h0) / msgs * 1e6)
            per_node = " / ".join("%.0f" % median(cpus[id(n)])
                                  for n in used)
            say("  %-38s %6.0f sessions/s (runs %s); CPU per message:"
                " node %s us, HAProxy %.0f us" % (
                    label, median(rates), spread(rates), per_node,
                    median(lbcpu)))
            rows.append((label, median(rates), per_node, median(lbcpu)))
        total = sum(n.delivered() for n in nodes) - sum(sent.values())
        say("  delivered in all: %d messages, %d sent" % (
            total, expect - sum(sent.values())))
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        say("cluster_bench: %s" % e)
        rc = 1
    finally:
        if lb is not None:
            stop_pid(lb)
        for n in nodes:
            n.stop()
        for p in list(started):
            stop_pid(p)
    say()
    say("== Summary (medians; no figure fails the run)")
    say("%-38s  %10s  %16s  %12s" % ("case", "sessions/s", "node CPU us/msg",
                                     "HAProxy us/msg"))
    for label, rate, per_node, h in rows:
        say("%-38s  %10.0f  %16s  %12.0f" % (label, rate, per_node, h))
    if len(rows) >= 3 and rows[1][1] > 0:
        say("PROXY header: %+.1f%% sessions/s against the same hop without"
            " it" % ((rows[2][1] / rows[1][1] - 1) * 100))
    if problems:
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
