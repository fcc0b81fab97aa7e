#!/usr/bin/python3
"""
proc: the whole-process half of the table benchmark (bench/run.sh).

  proc.py time -n RUNS -k KEY -r RESULTS -- COMMAND...
      run COMMAND RUNS times, print the median wall time (policyc's
      compile time, say)
  proc.py postfix-conf DIR
      write DIR/main.cf, just enough for postmap to start without
      /etc/postfix and without a postfix account
  proc.py peer [options]
      `policyc query TABLE ADDR` against `postmap -q ADDR cidr:FILE` on
      the same rules: check they agree, then time both
  proc.py summary -r RESULTS
      the closing table, figures against their targets

Processes are started with posix_spawn and reaped with waitpid, timed
with the monotonic clock; their output goes to /dev/null while timed.
It never fails on a time: only when a command cannot run or two
programs disagree on an answer.  Standard library only.
"""

import argparse
import grp
import os
import pwd
import random
import re
import socket
import subprocess
import sys
import time

TIMEOUT = 120       # seconds, any one command


def result(path, key, value):
    if path:
        with open(path, "a") as f:
            f.write("%s %.6g\n" % (key, value))


def spawn_time(argv, env=None):
    """Wall and CPU (user + system) nanoseconds of one run of argv, and
    its exit code; output discarded."""
    devnull = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
               (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, env if env is not None else
                         os.environ, file_actions=devnull)
    _, status, ru = os.wait4(pid, 0)
    t1 = time.perf_counter_ns()
    cpu = int((ru.ru_utime + ru.ru_stime) * 1e9)
    return t1 - t0, cpu, os.waitstatus_to_exitcode(status)


def median(v):
    s = sorted(v)
    return s[len(s) // 2]


def cmd_time(args):
    argv = args.command
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("proc.py time: no command", file=sys.stderr)
        return 2
    # One run with its messages shown, so warnings and errors are seen.
    p = subprocess.run(argv, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, timeout=TIMEOUT)
    lines = p.stderr.splitlines()
    for line in lines[:5]:
        print("  | " + line)
    if len(lines) > 5:
        print("  | ... (%d more lines)" % (len(lines) - 5))
    if p.returncode != 0:
        print("  %s: exit %d" % (args.key, p.returncode))
        return 1
    times = []
    cpus = []
    for _ in range(args.runs):
        ns, cpu, rc = spawn_time(argv)
        if rc != 0:
            print("  %s: exit %d" % (args.key, rc))
            return 1
        times.append(ns)
        cpus.append(cpu)
    m = median(times)
    print("  %-34s %9.3f s (median of %d; min %.3f, max %.3f; CPU %.3f)"
          % (args.label or args.key, m / 1e9, len(times),
             min(times) / 1e9, max(times) / 1e9, median(cpus) / 1e9))
    result(args.results, args.key + ".median_s", m / 1e9)
    result(args.results, args.key + ".cpu_s", median(cpus) / 1e9)
    return 0


def cmd_postfix_conf(args):
    """main.cf naming accounts that exist here, all distinct, none root:
    postmap checks mail_owner, default_privs and setgid_group even for a
    query, and refuses shared or privileged ids."""
    users = [u for u in pwd.getpwall() if u.pw_uid != 0 and u.pw_gid != 0]
    users.sort(key=lambda u: u.pw_uid)
    pick = None
    for a in users:
        for b in users:
            if b.pw_uid == a.pw_uid or b.pw_gid == a.pw_gid:
                continue
            for g in sorted(grp.getgrall(), key=lambda g: g.gr_gid):
                if g.gr_gid not in (0, a.pw_gid, b.pw_gid):
                    pick = (a.pw_name, b.pw_name, g.gr_name)
                    break
            if pick:
                break
        if pick:
            break
    if pick is None:
        print("proc.py: no two unprivileged accounts for postmap's"
              " main.cf", file=sys.stderr)
        return 1
    os.makedirs(args.dir, exist_ok=True)
    with open(os.path.join(args.dir, "main.cf"), "w") as f:
        f.write("# for bench/run.sh: postmap -c here, not /etc/postfix\n"
                "compatibility_level = 3.6\n"
                "mail_owner = %s\ndefault_privs = %s\nsetgid_group = %s\n"
                % pick)
    return 0


def parse_net(text):
    """'a.b.c.d/n' or 'x::y/n' -> (family, int, len)."""
    addr, _, length = text.partition("/")
    if ":" in addr:
        return 6, int.from_bytes(socket.inet_pton(socket.AF_INET6, addr),
                                 "big"), int(length)
    return 4, int.from_bytes(socket.inet_aton(addr), "big"), int(length)


def load_rules(path):
    rules = []
    with open(path) as f:
        for line in f:
            net, label, src = line.split()
            fam, value, length = parse_net(net)
            bits = 32 if fam == 4 else 128
            mask = ((1 << bits) - 1) ^ ((1 << (bits - length)) - 1)
            rules.append((fam, value, mask, length, label, int(src), net))
    return rules


def first_match(rules, fam, value):
    for r in rules:
        if r[0] == fam and value & r[2] == r[1]:
            return r
    return None


def fmt(fam, value):
    if fam == 4:
        return socket.inet_ntoa(value.to_bytes(4, "big"))
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))


def probe_addresses(rules, rng, count):
    """Addresses inside random rule prefixes, plus two that match none."""
    out = []
    singles = [r for r in rules if r[4].endswith("partner1")]
    picks = [rng.choice(rules) for _ in range(count)]
    if singles:
        picks[0] = singles[0]
    for fam, value, mask, length, _, _, _ in picks:
        bits = 32 if fam == 4 else 128
        out.append((fam, value | (rng.getrandbits(bits) & ~mask
                                  & ((1 << bits) - 1))))
    misses = 0
    while misses < 2:
        fam = 4 if misses == 0 else 6
        value = rng.getrandbits(32) if fam == 4 else \
            (1 << 125) | rng.getrandbits(125)
        if first_match(rules, fam, value) is None:
            out.append((fam, value))
            misses += 1
    return out


# What `policyc query` must say for each Postfix value.
QUERY_WORDS = {
    "REJECT": "deny",
    "require_tls": "tls",
    "require_auth_tls": "auth+tls",
    "require_auth_tls_partner1": "partner1",
    "relay_ok": "relay",
}


def same_prefix(text, fam, value, length):
    """Does text ('a.b.c.d', 'x::y/n', ...) spell this prefix?"""
    addr, _, plen = text.partition("/")
    try:
        if ":" in addr:
            f, v = 6, int.from_bytes(socket.inet_pton(socket.AF_INET6, addr),
                                     "big")
        else:
            f, v = 4, int.from_bytes(socket.inet_aton(addr), "big")
        n = int(plen) if plen else (32 if f == 4 else 128)
    except (OSError, ValueError):
        return False
    return (f, v, n) == (fam, value, length)


def query_agrees(text, rule):
    """Does policyc query's answer ("ADDR: line N: RULE (matched P)")
    name the rule and the prefix gen.py wrote?"""
    low = text.lower()
    if rule is None:
        return "default" in low and "no host rule matches" in low
    fam, value, _, length, label, line, _ = rule
    if QUERY_WORDS[label] not in low:
        return False
    m = re.search(r"\bline (\d+):", text)
    if m is None or int(m.group(1)) != line:
        return False
    m = re.search(r"\(matched ([0-9A-Fa-f:./]+)\)", text) or \
        re.search(r"\bhost ([0-9A-Fa-f:./]+)", text)
    return m is not None and same_prefix(m.group(1), fam, value, length)


def cmd_peer(args):
    rng = random.Random(args.seed)
    rules = load_rules(args.rules)
    probes = probe_addresses(rules, rng, 8)
    penv = dict(os.environ)
    if args.postmap:
        penv["LD_LIBRARY_PATH"] = args.postmap_libdir + (
            ":" + penv["LD_LIBRARY_PATH"] if penv.get("LD_LIBRARY_PATH")
            else "")
    cidr = "cidr:" + os.path.abspath(args.cidr)

    def pq(addr):
        return [args.policyc, "query", args.table, addr]

    def pm(addr):
        return [args.postmap, "-c", args.postfix_conf, "-q", addr, cidr]

    print("== Whole processes: one lookup each, %d rules (%s)"
          % (len(rules), os.path.basename(args.cidr)))
    bad = 0
    print("  %-39s %-25s %-25s %-9s" % ("address", "expected (gen.py)",
                                          "postmap -q", "policyc"))
    for fam, value in probes:
        addr = fmt(fam, value)
        rule = first_match(rules, fam, value)
        want = rule[4] if rule else "(none: default)"
        q = subprocess.run(pq(addr), capture_output=True, text=True,
                           timeout=TIMEOUT)
        ok_q = q.returncode == 0 and query_agrees(q.stdout, rule)
        got = "-"
        ok_p = True
        if args.postmap:
            p = subprocess.run(pm(addr), capture_output=True, text=True,
                               env=penv, timeout=TIMEOUT)
            if p.returncode == 0:
                got = p.stdout.strip()
            elif p.returncode == 1 and not p.stderr.strip():
                got = "(none: default)"
            else:
                got = "error: " + (p.stderr.strip().splitlines() or
                                   ["exit %d" % p.returncode])[0]
            ok_p = got == want
        m = re.search(r"\bline (\d+):", q.stdout)
        said = "line " + m.group(1) if m else "?"
        print("  %-39s %-25s %-25s %-9s %s" % (addr, want, got, said,
              "same" if ok_q and ok_p else "DIFFERENT"))
        if not ok_q:
            bad += 1
            print("    policyc query said: %s"
                  % (q.stdout.strip() or q.stderr.strip()))
        if not ok_p:
            bad += 1
    if bad:
        print("  the programs disagree: no timings")
        return 1

    addrs = [fmt(f, v) for f, v in probes]
    rows = [("/bin/true (spawn cost)", "true", ["/bin/true"], None,
             args.runs)]
    rows.append(("policyc query, %s" % os.path.basename(args.table),
                 "policyc", None, pq, args.runs))
    if args.big_table:
        rows.append(("policyc query, %s" % os.path.basename(args.big_table),
                     "policyc_big", None,
                     lambda a: [args.policyc, "query", args.big_table, a],
                     args.runs))
    if args.postmap:
        rows.append(("postmap -q, %s" % os.path.basename(args.cidr),
                     "postmap", None, pm, args.postmap_runs))
    print("  %-40s %10s %10s %10s %10s" % ("program", "median ms",
                                            "min ms", "max ms", "CPU ms"))
    med = {}
    for label, key, fixed, make, runs in rows:
        times = []
        cpus = []
        for i in range(runs):
            argv = fixed or make(addrs[i % len(addrs)])
            ns, cpu, rc = spawn_time(argv,
                                     penv if key == "postmap" else None)
            if rc not in (0, 1):
                print("  %s: exit %d" % (label, rc))
                return 1
            times.append(ns)
            cpus.append(cpu)
        med[key] = median(times)
        print("  %-40s %10.2f %10.2f %10.2f %10.2f   (%d runs)"
              % (label, med[key] / 1e6, min(times) / 1e6, max(times) / 1e6,
                 median(cpus) / 1e6, runs))
        result(args.results, "proc.%s.median_ms" % key, med[key] / 1e6)
        result(args.results, "proc.%s.cpu_ms" % key, median(cpus) / 1e6)
    if "postmap" in med:
        print("  postmap / policyc query: %.1fx"
              % (med["postmap"] / med["policyc"]))
    return 0


def cmd_summary(args):
    r = {}
    with open(args.results) as f:
        for line in f:
            k, _, v = line.partition(" ")
            try:
                r[k] = float(v)
            except ValueError:
                pass

    def row(name, key, unit, scale=1.0, fmtv="%.2f", target=None):
        if key not in r:
            print("  %-44s %14s" % (name, "not measured"))
            return
        v = r[key] * scale
        tgt = verdict = ""
        if target is not None:
            tgt = "<= %g %s" % (target, unit)
            verdict = "ok" if v <= target else "OVER"
        print("  %-44s %10s %-3s %12s  %s"
              % (name, fmtv % v, unit, tgt, verdict))

    print("== Summary (targets are goals: figures never fail the run)")
    n = int(r.get("big.nv4", 0) + r.get("big.nv6", 0))
    row("compile big.policy (%d prefixes), median" % n,
        "compile.big.median_s", "s", target=2)
    row("compile big.policy, CPU time, median", "compile.big.cpu_s", "s")
    row("table size", "big.size", "MiB", 1 / 1048576.0, "%.1f")
    row("bytes per prefix", "big.bpp", "B", target=16)
    row("ptab_open + ptab_close, median", "open.median_ms", "ms",
        target=30)
    row("ptab_open + ptab_close, CPU time, median", "open.cpu_ms", "ms")
    row("  of which BLAKE2b of the image, median", "blake2b.median_ms", "ms")
    row("lookup, dependent, random: median", "lat.random.median_ns", "ns",
        fmtv="%.1f", target=100)
    row("lookup, dependent, random: p99", "lat.random.p99_ns", "ns",
        fmtv="%.1f")
    row("lookup, dependent, inside prefixes: median",
        "lat.inside.median_ns", "ns", fmtv="%.1f")
    row("lookup, dependent, inside prefixes: p99", "lat.inside.p99_ns",
        "ns", fmtv="%.1f")
    row("lookup, dependent, 4096 addresses (cached)", "lat.hot.median_ns",
        "ns", fmtv="%.1f")
    row("lookups per second, independent", "tput.mlps", "M")
    for size in ("p1000", "p10000", "p100000"):
        k = "scan.%s." % size
        if k + "linear_ns" in r and k + "ptab_ns" in r:
            print("  %-44s %10.1f ns vs %.1f ns: %.0fx"
                  % ("linear scan vs ptab, %d prefixes"
                     % int(r[k + "n"]), r[k + "linear_ns"],
                     r[k + "ptab_ns"],
                     r[k + "linear_ns"] / r[k + "ptab_ns"]))
        else:
            print("  %-44s %14s" % ("linear scan vs ptab, " + size,
                                    "not measured"))
    row("compile rcpts.policy (1M recipients), median",
        "compile.rcpts.median_s", "s", target=2)
    row("compile rcpts.policy, CPU time, median", "compile.rcpts.cpu_s", "s")
    row("recipients: ptab_open (1M), median", "rcpts.open_ms", "ms")
    row("recipients: RCPT check, member", "rcpts.hit_ns", "ns",
        fmtv="%.1f", target=500)
    row("recipients: RCPT check, stranger", "rcpts.miss_ns", "ns",
        fmtv="%.1f", target=500)
    row("process: policyc query (100k), median", "proc.policyc.median_ms",
        "ms")
    row("process: postmap -q cidr (100k), median",
        "proc.postmap.median_ms", "ms")
    row("process: policyc query (100k), CPU time", "proc.policyc.cpu_ms",
        "ms")
    row("process: postmap -q cidr (100k), CPU time",
        "proc.postmap.cpu_ms", "ms")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("time")
    t.add_argument("-n", "--runs", type=int, default=3)
    t.add_argument("-k", "--key", required=True)
    t.add_argument("-l", "--label")
    t.add_argument("-r", "--results")
    t.add_argument("command", nargs=argparse.REMAINDER)
    c = sub.add_parser("postfix-conf")
    c.add_argument("dir")
    p = sub.add_parser("peer")
    p.add_argument("--policyc", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--big-table")
    p.add_argument("--rules", required=True)
    p.add_argument("--cidr", required=True)
    p.add_argument("--postmap", help="absent: policyc only")
    p.add_argument("--postmap-libdir", default="")
    p.add_argument("--postfix-conf", default="")
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--postmap-runs", type=int, default=15)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("-r", "--results")
    s = sub.add_parser("summary")
    s.add_argument("-r", "--results", required=True)
    args = ap.parse_args()
    try:
        return {"time": cmd_time, "postfix-conf": cmd_postfix_conf,
                "peer": cmd_peer, "summary": cmd_summary}[args.cmd](args)
    except subprocess.TimeoutExpired as e:
        print("proc.py: %s: timed out after %d s" % (e.cmd[0], TIMEOUT),
              file=sys.stderr)
        return 1
    except OSError as e:
        print("proc.py: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
