#!/usr/bin/python3
"""
rt_bench: the runtime benchmark (bench/rt_run.sh runs it; `make
bench-runtime`).  Starts bastiond on the loopback, in the foreground,
from a policy of its own, loads it, and prints:

  1. sessions per second (connect, EHLO, MAIL, RCPT, DATA of 1 KiB,
     QUIT), spooled durably and delivered to a Maildir, driven by
     Postfix's smtp-source at 1 and 20 concurrent clients; the same
     load against Postfix's smtp-sink (no disk at all) as the client's
     upper bound; every message counted in the Maildir afterwards
  2. resident memory: bastiond idle, and its growth per 1,000 idle
     plain sessions and per 1,000 idle sessions after STARTTLS
  3. STARTTLS handshakes per second with an ECDSA P-256 certificate
     (bench/rt_tlsclient, the project's own TLS client side in C) at 1
     and 4 concurrent clients, and bastiond's CPU per handshake
  4. 10,000 concurrent idle sessions, and the connection limits: the
     total limit's next session and a host over its per-host limit get
     421 4.7.0 while other hosts are still served

It measures and prints; no figure fails the run.  It exits 1 when a step
cannot run, a message is lost, or a limit is not enforced (timings of
wrong behaviour mean nothing).  Every loop is bounded in count and
time, everything talks to 127.0.0.0/8 only, and every server started is
stopped by its process id.  Standard library only.
"""

import argparse
import os
import platform
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time

POLICYC = os.environ.get("POLICYC", "policyc")
BASTIOND = os.environ.get("BASTIOND", "bastiond")
TLSCLIENT = os.environ.get("BENCH_TLSCLIENT", "rt_tlsclient")
WAIT = 10           # seconds, any one network wait
STEP = 300          # seconds, any one external command
DOMAIN = "bench.example"
USER = "user"

# The summary: (section, figure, value, goal, verdict).
summary = []
problems = []       # wrong behaviour: makes the exit status 1
started = []        # processes to stop by pid if we are interrupted


def say(text=""):
    print(text, flush=True)


def median(v):
    return statistics.median(v) if v else float("nan")


def spread(v, fmt="%.0f"):
    """'a b c' of the individual runs, for the log."""
    return " ".join(fmt % x for x in v)


def note(section, figure, value, goal="", verdict=""):
    summary.append((section, figure, value, goal, verdict))


def problem(text):
    problems.append(text)
    say("PROBLEM: " + text)


# ---- processes -------------------------------------------------------------

def rss_kib(pid):
    """VmRSS of pid, in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User + system time of pid so far."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of stat(5); rest[0] is field 3.
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def stop_pid(proc, timeout=20):
    """SIGTERM by pid, SIGKILL if it does not go; the exit status."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
        except ProcessLookupError:
            pass
    if proc in started:
        started.remove(proc)
    return proc.returncode


def free_port(addr="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


# ---- SMTP client pieces ----------------------------------------------------

def connect(port, source=None, timeout=WAIT):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def reply(s):
    """One whole reply; its last line, '' on EOF, '<timeout>' or the
    error.  The server sends nothing unasked, so nothing is over-read."""
    buf = b""
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if len(line) < 4 or line[3:4] != b"-":
                return line.rstrip(b"\r").decode(errors="replace")
        try:
            d = s.recv(4096)
        except socket.timeout:
            return "<timeout>"
        except OSError as e:
            return "<%s>" % e.strerror
        if not d:
            return buf.decode(errors="replace")
        buf += d


def cmd(s, line):
    s.sendall(line.encode() + b"\r\n")
    return reply(s)


def open_session(port, source=None):
    """Connect and read the greeting: (socket or None, reply)."""
    try:
        s = connect(port, source)
    except OSError as e:
        return None, "<connect: %s>" % e.strerror
    r = reply(s)
    if not r.startswith("220"):
        s.close()
        return None, r
    return s, r


def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def open_tls_session(ctx, port, source=None):
    """Greeting, EHLO, STARTTLS and the handshake: (ssl socket or None,
    what went wrong)."""
    s, r = open_session(port, source)
    if s is None:
        return None, r
    try:
        r = cmd(s, "EHLO client.bench.example")
        if r.startswith("250"):
            r = cmd(s, "STARTTLS")
        if not r.startswith("220"):
            s.close()
            return None, r
        t = ctx.wrap_socket(s, server_hostname="mx.bench.example")
        return t, t.cipher()[0]
    except (OSError, ssl.SSLError) as e:
        s.close()
        return None, "<%s>" % e


# ---- a site: policy, table, bastiond ---------------------------------------

class Site:
    count = 0

    def __init__(self, work, certs, conns, perhost):
        # A kept BENCH_DIR may hold earlier runs' sites: never reuse one.
        while True:
            Site.count += 1
            self.dir = os.path.join(work, "site%d" % Site.count)
            if not os.path.exists(self.dir):
                break
        os.makedirs(os.path.join(self.dir, "var"))
        self.port = free_port()
        self.proc = None
        self.policy = os.path.join(self.dir, "site.policy")
        self.table = os.path.join(self.dir, "site.ptab")
        with open(self.policy, "w") as f:
            f.write(
                "# bench/rt_bench.py: one listener, STARTTLS offered, mail"
                " for %s\n# into Maildirs.\n"
                "server {\n"
                "\thostname \"mx.bench.example\"\n"
                "\tlisten on 127.0.0.1 port %d\n"
                "\ttls certificate \"%s\" key \"%s\"\n"
                "\tspool \"var/spool\"\n"
                "\tlog \"var/protocol.log\"\n"
                "\tlimit connections %d per-host %d\n"
                "\ttimeout command 5m\n"
                "}\n"
                "accept for %s deliver maildir \"var/mail/%%u\" recipients any\n"
                % (DOMAIN, self.port, os.path.join(certs, "ec.crt"),
                   os.path.join(certs, "ec.key"), conns, perhost, DOMAIN))
        r = subprocess.run([POLICYC, "-o", self.table, self.policy],
                           capture_output=True, text=True, timeout=STEP)
        if r.returncode != 0:
            raise RuntimeError("policyc failed:\n" + r.stderr)

    def start(self):
        self.err = open(os.path.join(self.dir, "stderr.log"), "wb")
        self.proc = subprocess.Popen(
            [BASTIOND, "-f", "-t", self.table], stdout=self.err,
            stderr=self.err, stdin=subprocess.DEVNULL, cwd=self.dir)
        started.append(self.proc)
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("bastiond exited %d: %s" % (
                    self.proc.returncode, self.stderr()))
            s, r = open_session(self.port)
            if s is not None:
                cmd(s, "QUIT")
                s.close()
                break
            if time.monotonic() > deadline:
                raise RuntimeError("bastiond does not answer on port %d"
                                   % self.port)
            time.sleep(0.05)
        return self

    def stop(self):
        rc = stop_pid(self.proc)
        self.err.close()
        text = self.stderr()
        if rc != 0:
            say("  bastiond exited %s: %s" % (rc, text[-500:]))
        if "Sanitizer" in text or "runtime error:" in text:
            problem("bastiond (%s): sanitizer report:\n%s" % (
                self.dir, text[-2000:]))
        return rc

    def stderr(self):
        with open(os.path.join(self.dir, "stderr.log"), errors="replace") as f:
            return f.read()

    def rss(self):
        return rss_kib(self.proc.pid)

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def delivered(self):
        d = os.path.join(self.dir, "var/mail", USER, "new")
        return len(os.listdir(d)) if os.path.isdir(d) else 0

    def spooled(self):
        d = os.path.join(self.dir, "var/spool/queue")
        return len(os.listdir(d)) if os.path.isdir(d) else 0

    def settle(self, pred, limit):
        """Wait (bounded) until pred() holds; True if it did."""
        deadline = time.monotonic() + limit
        while not pred():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


def make_cert(work):
    """A self-signed ECDSA P-256 certificate: the figures are about the
    handshake, not about chains."""
    d = os.path.join(work, "certs")
    os.makedirs(d, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-keyout",
         os.path.join(d, "ec.key"), "-out", os.path.join(d, "ec.crt"),
         "-days", "30", "-subj", "/CN=mx.bench.example",
         "-addext", "subjectAltName=DNS:mx.bench.example,IP:127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        timeout=STEP)
    return d


# ---- 1. sessions per second ------------------------------------------------

class Prober(threading.Thread):
    """One more session that sends NOOP every 10 ms while the load runs:
    its round trips show how long the loop keeps every session waiting
    (bastiond's fsyncs happen on the loop)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.rtt = []
        self.err = None
        self.halt = threading.Event()
        self.port = port
        self.s, r = open_session(port, "127.0.0.2")
        if self.s is None or not cmd(self.s, "EHLO probe.bench.example"
                                     ).startswith("250"):
            raise RuntimeError("probe session: %s" % r)

    def run(self):
        # Bounded: the load stops it, and it never takes more samples
        # than STEP seconds of them.
        while not self.halt.is_set() and len(self.rtt) < STEP * 100:
            # bastiond closes a session after 100 commands that move
            # no mail: take a fresh one, outside the timing, before.
            if self.rtt and len(self.rtt) % 90 == 0 and not self.fresh():
                return
            t0 = time.perf_counter()
            r = cmd(self.s, "NOOP")
            if not r.startswith("250"):
                self.err = r
                return
            self.rtt.append((time.perf_counter() - t0) * 1000)
            self.halt.wait(0.01)

    def fresh(self):
        cmd(self.s, "QUIT")
        self.s.close()
        self.s, r = open_session(self.port, "127.0.0.2")
        if self.s is None or not cmd(self.s, "EHLO probe.bench.example"
                                     ).startswith("250"):
            self.err = "probe session: %s" % r
            return False
        return True

    def finish(self):
        self.halt.set()
        self.join(WAIT + 5)
        cmd(self.s, "QUIT")
        self.s.close()
        return self.rtt


def pct(v, q):
    s = sorted(v)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


class Postfix:
    def __init__(self, root, conf):
        self.root = root
        self.conf = conf
        self.env = dict(os.environ, MAIL_CONFIG=conf,
                        LD_LIBRARY_PATH=os.path.join(root, "usr/lib/postfix"))
        self.source = os.path.join(root, "usr/sbin/smtp-source")
        self.sink = os.path.join(root, "usr/sbin/smtp-sink")
        self.owner = None
        with open(os.path.join(conf, "main.cf")) as f:
            for line in f:
                k, _, v = line.partition("=")
                if k.strip() == "mail_owner":
                    self.owner = v.strip()

    def run_source(self, port, sessions, msgs):
        """smtp-source; (wall seconds, exit code, stderr, client CPU)."""
        argv = [self.source, "-s", str(sessions), "-m", str(msgs),
                "-l", "1024", "-M", "client.bench.example",
                "-f", "sender@client.bench.example",
                "-t", "%s@%s" % (USER, DOMAIN), "127.0.0.1:%d" % port]
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        try:
            p = subprocess.run(argv, env=self.env, capture_output=True,
                               text=True, timeout=STEP)
            rc, err = p.returncode, p.stderr
        except subprocess.TimeoutExpired:
            rc, err = -1, "smtp-source: timed out after %d s" % STEP
        t = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        ccpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        return t, rc, err, ccpu

    def start_sink(self, port):
        argv = [self.sink]
        if os.geteuid() == 0:
            argv += ["-u", self.owner or "nobody"]
        argv += ["127.0.0.1:%d" % port, "511"]
        err = open(os.devnull, "wb")
        p = subprocess.Popen(argv, env=self.env, stdout=err, stderr=err,
                             stdin=subprocess.DEVNULL)
        started.append(p)
        deadline = time.monotonic() + 10
        while True:
            if p.poll() is not None:
                raise RuntimeError("smtp-sink exited %d" % p.returncode)
            s, r = open_session(port)
            if s is not None:
                cmd(s, "QUIT")
                s.close()
                return p
            if time.monotonic() > deadline:
                stop_pid(p)
                raise RuntimeError("smtp-sink does not answer")
            time.sleep(0.05)


def disk_commit(work, n):
    """What one durable commit costs on this disk, the way the spool
    does it (write 1 KiB, fsync, rename, fsync the folder): ms each."""
    d = os.path.join(work, "fsync-probe")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "tmp"))
    os.makedirs(os.path.join(d, "queue"))
    qfd = os.open(os.path.join(d, "queue"), os.O_RDONLY | os.O_DIRECTORY)
    data = b"x" * 1024
    times = []
    try:
        for i in range(n):
            t0 = time.perf_counter()
            tmp = os.path.join(d, "tmp", str(i))
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
            os.rename(tmp, os.path.join(d, "queue", str(i)))
            os.fsync(qfd)
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        os.close(qfd)
        shutil.rmtree(d, ignore_errors=True)
    return times


def bench_sessions(args, certs):
    say("== 1. SMTP sessions per second (smtp-source -l 1024: connect,"
        " HELO, MAIL, RCPT, DATA, QUIT)")
    if not args.postfix_root:
        say("not measured: no smtp-source")
        note("1", "sessions/s", "not measured", "", "")
        return
    pf = Postfix(args.postfix_root, args.postfix_conf)
    for f in (pf.source, pf.sink):
        if not os.access(f, os.X_OK):
            say("not measured: %s missing" % f)
            note("1", "sessions/s", "not measured", "", "")
            return
    msgs = args.msgs
    dc = disk_commit(args.work, args.msgs // 10)
    say("this disk: write 1 KiB, fsync, rename, fsync the folder: median"
        " %.2f ms, p99 %.2f ms" % (median(dc), pct(dc, 0.99)))
    say("(%d commits one after the other, from Python: %.0f a second at"
        " most, one at a time)" % (len(dc), 1000 / median(dc)))
    note("1", "disk: durable 1 KiB commit", "%.2f ms" % median(dc), "",
         "%.0f/s one at a time" % (1000 / median(dc)))
    say("bastiond: 250 only after write, fsync, rename, fsync of queue/;"
        " then delivery")
    say("to var/mail/%%u (fsync of the file and of new/) in the same loop."
        "  %d run%s of" % (args.runs, "s" if args.runs > 1 else ""))
    say("%d messages at each concurrency, after %d untimed; 'accepted' is"
        " smtp-source's" % (msgs, args.warm))
    say("wall time, 'delivered' runs until the last one is in the Maildir."
        "  smtp-source")
    say("says HELO, not EHLO (it has no option for EHLO): bastiond's EHLO"
        " reply is 8 lines")
    say("instead of 1, otherwise the same session.")
    for conc in (1, 20):
        site = Site(args.work, certs, 1000, 100).start()
        t, rc, err, _ = pf.run_source(site.port, conc, args.warm)
        if rc != 0:
            problem("smtp-source -s %d (warm-up) exit %d: %s" % (
                conc, rc, err.strip()[:300]))
            site.stop()
            continue
        sent = args.warm
        site.settle(lambda: site.delivered() >= sent, 120)
        rss0 = site.rss()
        acc, dlv, cpu, ccpu, rtt = [], [], [], [], []
        for run in range(args.runs):
            probe = Prober(site.port)
            probe.start()
            c0 = site.cpu()
            t0 = time.perf_counter()
            t, rc, err, cc = pf.run_source(site.port, conc, msgs)
            c1 = site.cpu()
            if rc != 0 or err.strip():
                problem("smtp-source -s %d -m %d: exit %d: %s" % (
                    conc, msgs, rc, err.strip()[:300]))
                if rc != 0:
                    probe.finish()
                    break
            sent += msgs
            ok = site.settle(lambda: site.delivered() >= sent, 120)
            td = time.perf_counter() - t0
            rtt += probe.finish()
            if probe.err:
                problem("probe session: NOOP got %r" % probe.err)
            acc.append(msgs / t)
            dlv.append(msgs / td if ok else 0)
            cpu.append((c1 - c0) / t * 100)
            ccpu.append(cc / t * 100)
            say("  %2d client%s run %d: %6.0f accepted/s (%5.2f s),"
                " %6.0f delivered/s (%5.2f s); bastiond CPU %3.0f%%,"
                " smtp-source CPU %3.0f%%" % (
                    conc, "s" if conc > 1 else " ", run + 1, msgs / t, t,
                    dlv[-1], td, cpu[-1], ccpu[-1]))
            if not ok:
                problem("%d of %d messages delivered after 120 s" % (
                    site.delivered(), sent))
        # The spool file goes just after the Maildir copy is in.
        site.settle(lambda: site.spooled() == 0, WAIT)
        got, left = site.delivered(), site.spooled()
        rss1 = site.rss()
        site.stop()
        say("  %2d client%s: bastiond RSS %d KiB after the warm-up, %d KiB"
            " after the runs" % (conc, "s" if conc > 1 else " ", rss0, rss1))
        say("  %2d client%s: NOOP round trip on one more session during"
            " the runs: median %.2f ms, p99 %.2f ms, max %.1f ms (%d"
            " samples)" % (conc, "s" if conc > 1 else " ", median(rtt),
                           pct(rtt, 0.99), max(rtt or [0]), len(rtt)))
        say("  %2d client%s: median %.0f sessions/s accepted, %.0f"
            " delivered; Maildir holds %d of %d messages sent, %d left"
            " in the spool" % (conc, "s" if conc > 1 else " ", median(acc),
                               median(dlv), got, sent, left))
        if got != sent:
            problem("%d messages sent with 250, %d in the Maildir" % (
                sent, got))
        if left:
            problem("%d files left in the spool's queue/ after delivery"
                    % left)
        note("1", "bastiond sessions/s, %d client%s (durable)" % (
            conc, "s" if conc > 1 else ""), "%.0f" % median(acc), "",
            "runs: " + spread(acc))
        note("1", "  same, until delivered to the Maildir",
             "%.0f" % median(dlv), "", "%d/%d delivered" % (got, sent))
        note("1", "  bastiond CPU during the runs", "%.0f%%" % median(cpu))
        note("1", "  NOOP round trip meanwhile, p99", "%.2f ms" % pct(
            rtt, 0.99), "", "median %.2f, max %.1f ms" % (median(rtt),
                                                          max(rtt or [0])))

    say("smtp-sink (Postfix's test server: answers, stores nothing): the"
        " upper bound")
    say("of the client and the loopback, not a server to compare with.")
    for conc in (1, 20):
        port = free_port()
        try:
            sink = pf.start_sink(port)
        except RuntimeError as e:
            say("  smtp-sink: %s" % e)
            note("1", "smtp-sink sessions/s", "not measured")
            return
        rates = []
        pf.run_source(port, conc, args.warm)
        for run in range(args.runs):
            t, rc, err, cc = pf.run_source(port, conc, msgs)
            if rc != 0:
                say("  smtp-source against smtp-sink: exit %d: %s" % (
                    rc, err.strip()[:300]))
                break
            rates.append(msgs / t)
        stop_pid(sink)
        say("  %2d client%s: smtp-sink %s sessions/s, median %.0f" % (
            conc, "s" if conc > 1 else " ", spread(rates), median(rates)))
        note("1", "smtp-sink sessions/s, %d client%s (bound)" % (
            conc, "s" if conc > 1 else ""), "%.0f" % median(rates), "",
            "no disk")
    say()


# ---- 2. memory -------------------------------------------------------------

def hold(opener, n):
    """Open n sessions with opener(i): (list of sockets, first failure)."""
    socks, why = [], None
    for i in range(n):
        s, r = opener(i)
        if s is None:
            why = "session %d: %s" % (i + 1, r)
            break
        socks.append(s)
    return socks, why


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def source_addr(block, i, per):
    """The i-th session's source address: per sessions an address, in
    127.block.0.0/16."""
    h = i // per
    return "127.%d.%d.%d" % (block, h // 250, h % 250 + 1)


def bench_memory(args, certs):
    n = args.idle
    say("== 2. bastiond resident memory (VmRSS), idle sessions held open")
    say("%d sessions, each on a fresh bastiond, %d round%s; plain:"
        " greeting read; TLS:" % (n, args.runs, "s" if args.runs > 1 else ""))
    say("greeting, EHLO, STARTTLS, handshake done (Python's ssl).")
    r = subprocess.run([TLSCLIENT, "-z"], capture_output=True, text=True,
                       timeout=STEP)
    if r.returncode == 0:
        say("  runtime/core/tls.c: " + r.stdout.strip() + " bytes (one per TLS"
            " session, allocated at STARTTLS)")
    ctx = tls_context()
    idle, plain, tls = [], [], []
    suite = None
    for run in range(args.runs):
        for kind in ("plain", "tls"):
            site = Site(args.work, certs, n + 100, n + 100).start()
            time.sleep(0.2)
            r0 = site.rss()
            t0 = time.perf_counter()
            if kind == "plain":
                socks, why = hold(lambda i: open_session(site.port), n)
            else:
                socks, why = hold(lambda i: open_tls_session(ctx, site.port),
                                  n)
                if socks:
                    suite = socks[0].cipher()
            t = time.perf_counter() - t0
            time.sleep(0.2)
            r1 = site.rss()
            close_all(socks)
            site.stop()
            if why:
                problem("%s sessions: %s" % (kind, why))
                continue
            per = (r1 - r0) / n
            idle.append(r0)
            (plain if kind == "plain" else tls).append(per)
            say("  round %d %-5s: idle %5d KiB, with %d sessions %6d KiB:"
                " %5.2f KiB a session (opened in %.2f s)" % (
                    run + 1, kind, r0, n, r1, per, t))
    if suite:
        say("  TLS suite: %s %s" % (suite[1], suite[0]))
    say("  median: idle %d KiB; %.2f KiB per plain session, %.2f KiB per"
        " TLS session" % (median(idle), median(plain), median(tls)))
    say("  (user-space memory only: the kernel's socket buffers are not in"
        " VmRSS)")
    note("2", "RSS idle", "%d KiB" % median(idle))
    p, t = median(plain), median(tls)
    note("2", "RSS per idle plain session", "%.2f KiB" % p, "<= 8 KiB",
         "ok" if p <= 8 else "OVER")
    note("2", "RSS per idle TLS session", "%.2f KiB" % t, "<= 40 KiB",
         "ok" if t <= 40 else "OVER")
    say()


# ---- 3. STARTTLS handshakes ------------------------------------------------

def run_tlsclient(port, clients, secs, addr="127.0.0.1"):
    r = subprocess.run([TLSCLIENT, "-c", str(clients), "-d", str(secs),
                        addr, str(port)], capture_output=True,
                       text=True, timeout=STEP)
    out = {}
    words = r.stdout.split("\n", 1)[0].split()
    for k, v in zip(words[0::2], words[1::2]):
        out[k] = float(v)
    for line in r.stdout.splitlines():
        if line.startswith("suite "):
            out["suite"] = line[6:]
    out["text"] = r.stdout + r.stderr
    out["rc"] = r.returncode
    return out


def bench_tls(args, certs):
    say("== 3. STARTTLS handshakes per second (connect, 220, EHLO,"
        " STARTTLS, TLS 1.2")
    say("handshake, QUIT in TLS, 221), ECDSA P-256 certificate; client:"
        " bench/rt_tlsclient")
    say("(runtime/core/tls.c's client side, one process per client, sessions"
        " back to back),")
    say("%d run%s of %.1f s at each concurrency; %d CPUs for server and"
        " clients together." % (args.runs, "s" if args.runs > 1 else "",
                                args.tls_secs, os.cpu_count()))
    site = Site(args.work, certs, 1000, 100).start()
    o = run_tlsclient(site.port, 1, 0.3)
    rss0 = site.rss()
    say("  negotiated: %s" % o.get("suite", "?"))
    for clients in (1, 4):
        rates, ms = [], []
        for run in range(args.runs):
            c0 = site.cpu()
            o = run_tlsclient(site.port, clients, args.tls_secs)
            c1 = site.cpu()
            if o["rc"] != 0 or o.get("errors", 1) > 0 or "rate" not in o:
                problem("rt_tlsclient -c %d: %s" % (clients,
                                                     o["text"].strip()))
                if "rate" not in o:
                    break
            rates.append(o["rate"])
            n = o.get("sessions", 0)
            ms.append((c1 - c0) * 1000 / n if n else float("nan"))
            say("  %d client%s run %d: %5.0f handshakes/s (%d in %.2f s),"
                " bastiond CPU %.2f ms each" % (
                    clients, "s" if clients > 1 else " ", run + 1,
                    o["rate"], n, o.get("seconds", 0), ms[-1]))
        say("  %d client%s: median %.0f handshakes/s, bastiond %.2f ms CPU"
            " a handshake (%.0f/s per core)" % (
                clients, "s" if clients > 1 else " ", median(rates),
                median(ms), 1000 / median(ms) if ms else 0))
        note("3", "STARTTLS sessions/s, %d client%s" % (
            clients, "s" if clients > 1 else ""), "%.0f" % median(rates), "",
            "bastiond %.2f ms CPU each" % median(ms))
    say("  bastiond RSS %d KiB after the warm-up, %d KiB after the runs" % (
        rss0, site.rss()))
    site.stop()
    say()


# ---- 4. many concurrent sessions and the limits ----------------------------

def bench_concurrent(args, certs):
    want = args.concurrent
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    say("== 4. Concurrent idle sessions and the connection limits")
    say("RLIMIT_NOFILE here: soft %s, hard %s; `ulimit -n` was %s" % (
        soft, "unlimited" if hard == resource.RLIM_INFINITY else hard,
        soft))
    need = want + 200
    if soft < need:
        new = need if hard == resource.RLIM_INFINITY else min(hard, need)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        except (ValueError, OSError) as e:
            say("cannot raise RLIMIT_NOFILE: %s" % e)
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        say("raised the client's soft limit to %d (bastiond raises its own"
            " to its hard limit)" % soft)
    n = min(want, soft - 200)
    if n < want:
        say("only %d descriptors: holding %d sessions, not %d" % (
            soft, n, want))
    per = 50
    say("policy: limit connections %d per-host %d; sessions from 127.10/16"
        " etc.," % (n, per))
    say("%d an address, each one's greeting read before the next" % per)
    site = Site(args.work, certs, n, per).start()
    r0 = site.rss()
    held = []
    ok = True
    try:
        # A host at its per-host limit, while the total has room.
        a, b = "127.9.0.1", "127.9.0.2"
        socks, why = hold(lambda i: open_session(site.port, a), per)
        held += socks
        s, over = open_session(site.port, a)
        if s is not None:
            held.append(s)
        s2, other = open_session(site.port, b)
        if s2 is not None:
            held.append(s2)
        good = (why is None and s is None and over.startswith("421 4.7.0")
                and s2 is not None)
        say("  per-host: %d sessions from %s got 220; the next from %s got"
            " %r; then %s got %r" % (len(socks), a, a, over, b, other))
        note("4", "host over its per-host limit gets 421 4.7.0",
             "yes" if good else "no", "", "ok" if good else "FAILED")
        if not good:
            problem("per-host limit: %s" % (why or over))
            ok = False
        # Fill up to the total limit, many addresses.
        t0 = time.perf_counter()
        rest = n - len(held)
        socks, why = hold(lambda i: open_session(
            site.port, source_addr(10, i, per)), rest)
        held += socks
        t = time.perf_counter() - t0
        time.sleep(0.3)
        r1 = site.rss()
        addrs = (len(socks) + per - 1) // per + 2
        say("  opened %d sessions more in %.2f s (%.0f/s) from %d addresses;"
            " %d held" % (len(socks), t, len(socks) / t if t else 0,
                          addrs, len(held)))
        if why:
            problem("filling to %d sessions: %s" % (n, why))
            ok = False
        say("  bastiond RSS: %d KiB idle, %d KiB with %d sessions (%.2f KiB"
            " a session)" % (r0, r1, len(held), (r1 - r0) / max(1, len(held))))
        note("4", "concurrent idle sessions held", "%d" % len(held),
             "10000", "ok" if len(held) >= 10000 else "short")
        note("4", "  bastiond RSS with them", "%.1f MiB" % (r1 / 1024), "",
             "%.2f KiB a session" % ((r1 - r0) / max(1, len(held))))
        # The next session over the total.
        s, over = open_session(site.port, "127.20.0.1")
        if s is not None:
            held.append(s)
        good = s is None and over.startswith("421 4.7.0")
        say("  session %d (from 127.20.0.1) got %r" % (len(held) + 1 -
                                                       (s is not None), over))
        note("4", "session limit+1 gets 421 4.7.0", "yes" if good else "no",
             "", "ok" if good else "FAILED")
        if not good:
            problem("total limit: session %d got %r" % (n + 1, over))
            ok = False
        # One leaves: a place frees up (bastiond must see the close first).
        if held:
            held.pop().close()
        t0 = time.perf_counter()
        got = "<never tried>"
        for _ in range(100):
            s, got = open_session(site.port, "127.20.0.1")
            if s is not None:
                held.append(s)
                break
            time.sleep(0.02)
        good = s is not None
        say("  one session closed: a new one got %r after %.2f s" % (
            got, time.perf_counter() - t0))
        if not good:
            problem("after a close, still refused: %r" % got)
            ok = False
        # SIGTERM with all of them open: idle sessions get 421 at once.
        t0 = time.perf_counter()
        rc = site.stop()
        t = time.perf_counter() - t0
        told, missed, other = 0, 0, None
        for s in held:
            s.settimeout(0.5)
            r = reply(s)
            if r.startswith("421 4.3.2"):
                told += 1
                continue
            other = other or r
            missed += 1
            if missed > 10:     # each may cost a timeout: enough seen
                break
        say("  SIGTERM with %d sessions open: exit status %s after %.2f s;"
            " %d of them got %r" % (len(held), rc, t, told,
                                    "421 4.3.2 ... Service shutting down"))
        good = rc == 0 and told == len(held)
        note("4", "  SIGTERM with them: 421 4.3.2 to each, exit",
             "%.2f s" % t, "", "ok" if good else "FAILED")
        if not good:
            problem("SIGTERM: exit %s, %d of %d sessions told (other: %r)" %
                    (rc, told, len(held), other))
            ok = False
    finally:
        close_all(held)
        held = []
    if not args.quick:
        ceiling(args, certs, n)
    say()
    return ok


def ceiling(args, certs, done):
    """How many idle sessions the descriptor limits allow here: both
    processes inherit this one's hard limit, and each needs one
    descriptor a session plus a few."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    top = (soft if hard == resource.RLIM_INFINITY else min(soft, hard)) - 300
    if top <= done:
        return
    per = 100
    site = Site(args.work, certs, top, per).start()
    r0 = site.rss()
    t0 = time.perf_counter()
    socks, why = hold(lambda i: open_session(
        site.port, source_addr(30, i, per)), top)
    t = time.perf_counter() - t0
    time.sleep(0.3)
    r1 = site.rss()
    say("  ceiling probe (limit connections %d per-host %d, the most the"
        " descriptor limit allows): %d sessions held in %.2f s, bastiond"
        " RSS %.1f MiB%s" % (top, per, len(socks), t, r1 / 1024,
                             "; stopped: " + why if why else ""))
    note("4", "  most sessions held (fd limit %d)" % soft, "%d" % len(socks),
         "", "RSS %.1f MiB" % (r1 / 1024))
    # All gone: the daemon is still there, serves, and gave memory back.
    close_all(socks)
    s, got = None, "<never tried>"
    for _ in range(100):
        s, got = open_session(site.port, "127.21.0.1")
        if s is not None:
            cmd(s, "QUIT")
            s.close()
            break
        time.sleep(0.05)
    time.sleep(0.3)
    r2 = site.rss()
    say("  all %d closed: a new session got %r; RSS %d KiB" % (
        len(socks), got, r2))
    if s is None:
        problem("after closing all, a new session got %r" % got)
    site.stop()


# ---- main ------------------------------------------------------------------

def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return cpu


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--postfix-root", default="")
    ap.add_argument("--postfix-conf", default="")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sanitizers", action="store_true")
    ap.add_argument("--only", default="1234",
                    help="sections to run, e.g. 24")
    args = ap.parse_args()
    args.runs = 1 if args.quick else 3
    args.msgs = 200 if args.quick else 2000
    args.warm = 50 if args.quick else 200
    args.idle = 200 if args.quick else 1000
    args.tls_secs = 1.0 if args.quick else 2.0
    args.concurrent = 1000 if args.quick else 10000

    # A SIGTERM (timeout(1)) must still stop the daemons by pid.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))

    say("bastion runtime benchmark: %s, %s, %d CPUs" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        platform.machine(), os.cpu_count()))
    say("CPU: %s" % machine())
    say("kernel: %s %s" % (platform.system(), platform.release()))
    la0 = loadavg()
    say("load average at start: %s" % la0)
    st = os.statvfs(args.work)
    fs = "?"
    try:
        best = ""
        with open("/proc/mounts") as f:
            for line in f:
                dev, mnt, typ = line.split()[:3]
                if args.work.startswith(mnt) and len(mnt) >= len(best):
                    best, fs = mnt, "%s on %s (%s)" % (typ, mnt, dev)
    except OSError:
        pass
    say("work folder: %s, %s, %.0f GiB free" % (
        args.work, fs, st.f_bavail * st.f_frsize / 2 ** 30))
    if args.sanitizers:
        say("WARNING: this tree is built with sanitizers; figures are not"
            " representative")
    if args.quick:
        say("BENCH_QUICK: smoke run, small counts, one run each")
    say()

    rc = 0
    try:
        certs = make_cert(args.work)
        if "1" in args.only:
            bench_sessions(args, certs)
        if "2" in args.only:
            bench_memory(args, certs)
        if "3" in args.only:
            bench_tls(args, certs)
        if "4" in args.only:
            bench_concurrent(args, certs)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        say("rt_bench: %s" % e)
        rc = 1
    finally:
        for p in list(started):
            stop_pid(p)

    say("== Summary (medians; goals are not pass/fail for the run)")
    w = max([len(s[1]) for s in summary] + [10])
    say("%-2s  %-*s  %14s  %-9s  %s" % ("#", w, "figure", "value", "goal",
                                        "note"))
    for sec, fig, val, goal, verdict in summary:
        say("%-2s  %-*s  %14s  %-9s  %s" % (sec, w, fig, val, goal, verdict))
    say("load average at end: %s (at start: %s)" % (loadavg(), la0))
    if problems:
        say("%d problem%s (see above): %s" % (
            len(problems), "s" if len(problems) > 1 else "",
            "; ".join(problems)[:2000]))
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
