#!/usr/bin/python3
"""
relay_bench: the relay benchmark (bench/relay_run.sh runs it; `make
bench-relay`).  End-to-end relay throughput on the loopback, durable
spool to next hop, for bastiond and, in the same run, for a private
Postfix instance from the same Debian package as the load tools:

  smtp-source  ->  bastiond 127.0.0.1 (relay host, outbound rule)  -+
  smtp-source  ->  Postfix smtpd 127.0.0.4 (mynetworks, relayhost)  -+->
                                               smtp-sink 127.0.0.3

Both servers run at once; after a warm-up, three rounds of smtp-source
-s 20 and -s 1 (-m 2000 -l 1024, one message a session), bastiond and
Postfix in turn, so that a change in the machine's load weighs on both
alike; medians.  *accepted/s* is smtp-source's wall time (every message
got its 250, which both give only once the message is on disk,
fsynced); *delivered/s* runs until smtp-sink has counted every message
(its -c counter, read live) and the server's queue is empty.  Then the
ratio bastiond / Postfix.  Nothing may be lost: smtp-sink must count
exactly as many messages as were sent, the server's own log must agree,
and the queue must be empty; a message missing or delivered twice makes
the exit status 1.

bastiond runs with its default queue settings (retry 300 s).  A run
whose queue stops moving for 5 s before it is empty is reported as
STALLED (what is left is still spooled, not lost), and the next run gets
a fresh site; if any run stalled, one more round runs with `queue
lifetime 1d retry 1s`, a workaround that has a message turned away
retried within a second, and the summary shows it on rows of its own.

It measures and prints; no figure fails the run.  Every loop is bounded
in count and time, everything talks to 127.0.0.0/8 only, and every
server started is stopped by its process id (Postfix with `postfix
stop` first, its master by pid if that fails).  Standard library only.
"""

import argparse
import datetime
import grp
import os
import platform
import pwd
import re
import signal
import socket
import subprocess
import sys
import threading
import time

# Shared with the runtime benchmark (bench/rt_bench.py, same folder).
from rt_bench import free_port, loadavg, machine, stop_pid
from rt_bench import disk_commit as disk_commit_times

POLICYC = os.environ.get("POLICYC", "policyc")
BASTIOND = os.environ.get("BASTIOND", "bastiond")
WAIT = 10           # seconds, any one network wait or server start
STEP = 120          # seconds, any one external command
DOMAIN = "relay.example"
RCPT = "user@" + DOMAIN
SENDER = "sender@client.bench.example"
BASTIOND_ADDR = "127.0.0.1"     # its listener, and the relay host rule
POSTFIX_ADDR = "127.0.0.4"      # Postfix's smtpd
SINK_ADDR = "127.0.0.3"         # the next hop of both
QUEUE_DIRS = ("incoming", "active", "deferred", "hold", "maildrop")

started = []        # processes to stop by pid if we are interrupted
problems = []       # mail lost or doubled, a step that cannot run
results = {}        # (server, sessions) -> dict of figures
instances = []      # Postfix instances to stop if we are interrupted
LOADS = (20, 100, 1)    # smtp-source -s: concurrent client sessions
CRASH_CLIENTS = 20
DENIED = 1000       # networks both servers refuse, as a real edge would


def denied_nets():
    """DENIED /24 networks in 10.0.0.0/8, none of them the loopback:
    both servers check every client against them, as a gateway with a
    block list does (bastiond with its table, Postfix with a cidr:
    table), so each pays what its lookup costs."""
    return ["10.%d.%d.0/24" % (i // 256, i % 256) for i in range(DENIED)]


def say(text=""):
    print(text, flush=True)


def problem(text):
    problems.append(text)
    say("PROBLEM: " + text)


def wait_until(pred, limit, step=0.02):
    """Poll pred() until it holds or limit seconds pass: True if it
    held.  Bounded."""
    deadline = time.monotonic() + limit
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def greets(addr, port):
    """Does addr:port answer with 220?  QUIT politely if so."""
    try:
        with socket.create_connection((addr, port), timeout=2) as s:
            s.settimeout(2)
            data = b""
            while b"\n" not in data:
                d = s.recv(512)
                if not d:
                    return False
                data += d
            s.sendall(b"QUIT\r\n")
            return data.startswith(b"220")
    except OSError:
        return False


def children(pid):
    """Process ids whose parent is pid (from /proc)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(rest[1]) == pid:
            out.append(int(name))
    return out


def tree_cpu(pid):
    """CPU seconds (user + system) of pid, its children that it has
    reaped, and the live processes below it: the whole server, however
    many processes it is (Postfix's master forks a daemon per task)."""
    tck = os.sysconf("SC_CLK_TCK")
    total = 0
    seen = set()
    todo = [(pid, True)]
    while todo and len(seen) < 10000:
        p, root = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open("/proc/%d/stat" % p) as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # Fields 14-17 of stat(5); rest[0] is field 3.
        total += int(rest[11]) + int(rest[12])
        if root:
            total += int(rest[13]) + int(rest[14])
        todo += [(c, True) for c in children(p)]
    return total / tck


# ---- Postfix's tools -------------------------------------------------------

class Tools:
    """smtp-source and smtp-sink from the unpacked package."""

    def __init__(self, root, conf):
        self.root = root
        self.env = dict(os.environ, MAIL_CONFIG=conf,
                        LD_LIBRARY_PATH=os.path.join(root, "usr/lib/postfix"))
        self.source = os.path.join(root, "usr/sbin/smtp-source")
        self.sink = os.path.join(root, "usr/sbin/smtp-sink")

    def run_source(self, addr, port, sessions, msgs):
        """smtp-source, one message a session; (wall s, rc, stderr)."""
        argv = [self.source, "-s", str(sessions), "-m", str(msgs),
                "-l", "1024", "-M", "client.bench.example",
                "-f", SENDER, "-t", RCPT, "%s:%d" % (addr, port)]
        t0 = time.perf_counter()
        try:
            p = subprocess.run(argv, env=self.env, capture_output=True,
                               text=True, timeout=STEP)
            rc, err = p.returncode, p.stderr
        except subprocess.TimeoutExpired:
            rc, err = -1, "smtp-source: timed out after %d s" % STEP
        return time.perf_counter() - t0, rc, err


class Sink(threading.Thread):
    """smtp-sink -c on SINK_ADDR: it prints running counters ("sess=N
    quit=N mesg=N", \\r between updates) whenever a message's final dot
    arrives, and this thread reads them as they come.  mesg counts the
    messages it answered 250 to; it stores nothing."""

    def __init__(self, tools):
        super().__init__(daemon=True)
        self.port = free_port(SINK_ADDR)
        argv = [tools.sink, "-c"]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]
        argv += ["%s:%d" % (SINK_ADDR, self.port), "511"]
        self.mesg = 0
        self.proc = subprocess.Popen(argv, env=tools.env,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        started.append(self.proc)
        self.start()
        if not wait_until(lambda: self.proc.poll() is not None or
                          greets(SINK_ADDR, self.port), WAIT, 0.05) or \
                self.proc.poll() is not None:
            stop_pid(self.proc)
            raise RuntimeError("smtp-sink does not answer on %s:%d" %
                               (SINK_ADDR, self.port))

    def run(self):
        tail = b""
        fd = self.proc.stdout.fileno()
        while True:
            try:
                d = os.read(fd, 65536)
            except OSError:
                return
            if not d:
                return
            tail = (tail + d)[-256:]
            m = re.findall(rb"mesg=(\d+)", tail)
            if m:
                self.mesg = int(m[-1])

    def count(self):
        return self.mesg

    def stop(self):
        stop_pid(self.proc)
        self.join(5)


# ---- bastiond --------------------------------------------------------------

class Bastiond:
    """A site: policy, table, spool and protocol log in a folder of its
    own, and `bastiond -f` on BASTIOND_ADDR, stopped by pid."""
    name = "bastiond"

    count = 0

    def __init__(self, work, sink_port, retry):
        # A kept BENCH_DIR may hold earlier runs' sites: never reuse one.
        while True:
            Bastiond.count += 1
            self.dir = os.path.join(work, "bastiond-%d" % Bastiond.count)
            if not os.path.exists(self.dir):
                break
        os.makedirs(os.path.join(self.dir, "var"))
        self.addr = BASTIOND_ADDR
        self.port = free_port(self.addr)
        self.proc = None
        self.retry = retry
        queue = "\tqueue lifetime 1d retry %s\n" % retry if retry else ""
        policy = os.path.join(self.dir, "site.policy")
        self.table = os.path.join(self.dir, "site.ptab")
        with open(policy, "w") as f:
            f.write(
                "# bench/relay_bench.py: a relay host on the loopback,"
                " mail for %s\n# relayed to smtp-sink.\n"
                "server {\n"
                "\thostname \"mx.bench.example\"\n"
                "\tlisten on %s port %d\n"
                "\tspool \"var/spool\"\n"
                "\tlog \"var/protocol.log\"\n"
                "\tlimit connections 1000 per-host 500\n"
                "%s"
                "}\n"
                "default require none\n"
                "list denied file \"denied.txt\"\n"
                "host <denied> deny\n"
                "host 127.0.0.0/8 require none relay\n"
                "outbound %s via %s port %d tls none\n"
                % (DOMAIN, self.addr, self.port, queue, DOMAIN, SINK_ADDR,
                   sink_port))
        with open(os.path.join(self.dir, "denied.txt"), "w") as f:
            f.write("".join(n + "\n" for n in denied_nets()))
        r = subprocess.run([POLICYC, "-o", self.table, policy],
                           capture_output=True, text=True, timeout=STEP)
        if r.returncode != 0:
            raise RuntimeError("policyc failed:\n" + r.stderr)
        self.log = os.path.join(self.dir, "var/protocol.log")
        self.queue_dir = os.path.join(self.dir, "var/spool/queue")

    def start(self):
        self.err = open(os.path.join(self.dir, "stderr.log"), "wb")
        self.proc = subprocess.Popen(
            [BASTIOND, "-f", "-t", self.table], stdout=self.err,
            stderr=self.err, stdin=subprocess.DEVNULL, cwd=self.dir)
        started.append(self.proc)
        if not wait_until(lambda: self.proc.poll() is not None or
                          greets(self.addr, self.port), 15, 0.05) or \
                self.proc.poll() is not None:
            raise RuntimeError("bastiond does not answer on %s:%d: %s" % (
                self.addr, self.port, self.stderr()[-500:]))
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

    def stderr(self):
        try:
            with open(os.path.join(self.dir, "stderr.log"),
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def pid(self):
        return self.proc.pid

    def queued(self):
        try:
            return len([n for n in os.listdir(self.queue_dir)
                        if not n.startswith(".")])
        except OSError:
            return 0

    def mark(self):
        """Where the protocol log is now, for delivered()/waits()."""
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0

    def _lines(self, since):
        with open(self.log, "rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace").splitlines()

    def delivered(self, since):
        """Recipients the protocol log says were delivered after since."""
        return sum(1 for l in self._lines(since)
                   if ",relay,*,delivered <" in l)

    def waits(self, since):
        """Seconds from each message's 250 ("queued as ID") to its first
        outbound attempt ("... recipient for ... via"), from the log."""
        queued, first = {}, {}
        for line in self._lines(since):
            f = line.split(",", 5)
            if len(f) < 6:
                continue
            try:
                t = datetime.datetime.strptime(
                    f[0][:23], "%Y-%m-%dT%H:%M:%S.%f").timestamp()
            except ValueError:
                continue
            m = re.search(r"queued as (\w+)", f[5])
            if m and f[4] == "*":
                queued[m.group(1)] = t
            elif f[3] == "relay" and " via " in f[5] and f[1] not in first:
                first[f[1]] = t
        return ([first[k] - queued[k] for k in queued if k in first],
                sum(1 for k in queued if k not in first))


# ---- Postfix ---------------------------------------------------------------

def postfix_accounts():
    """(mail_owner, default_privs, setgid_group) that exist here and that
    Postfix accepts: none root, owner and privs with different user and
    group ids, the setgid group none of theirs.  mail_owner `postfix` if
    there is one, else `nobody`.  None, reason when there is no such
    choice."""
    users = sorted((u for u in pwd.getpwall()
                    if u.pw_uid != 0 and u.pw_gid != 0),
                   key=lambda u: u.pw_uid)
    by = {u.pw_name: u for u in users}
    owner = by.get("postfix") or by.get("nobody")
    if owner is None:
        return None, "no unprivileged `postfix` or `nobody` account"
    privs = next((u for u in users if u.pw_uid != owner.pw_uid and
                  u.pw_gid != owner.pw_gid), None)
    if privs is None:
        return None, ("no second unprivileged account (default_privs) with"
                      " a user and group id other than %s's" % owner.pw_name)
    groups = sorted(grp.getgrall(), key=lambda g: g.gr_gid)
    bad = (0, owner.pw_gid, privs.pw_gid)
    ok = [g for g in groups if g.gr_gid not in bad]
    pick = next((g for g in ok if g.gr_name in ("postdrop", "mail")),
                ok[0] if ok else None)
    if pick is None:
        return None, "no group for setgid_group other than root's, %s's" \
            " and %s's" % (owner.pw_name, privs.pw_name)
    return (owner, privs, pick), None


class Postfix:
    """A private Postfix instance: its own config_directory,
    queue_directory and data_directory under the work folder, the
    programs from the unpacked package (never installed), smtpd on
    POSTFIX_ADDR with no chroot, everything relayed to the sink, no
    local delivery.  Started with `postfix -c DIR start`, stopped with
    `postfix -c DIR stop`, and by pid if that fails."""
    name = "Postfix"

    def __init__(self, root, work, sink_port):
        self.root = root
        self.dir = os.path.join(work, "postfix")
        self.conf = os.path.join(self.dir, "conf")
        self.queue_dir = os.path.join(self.dir, "queue")
        self.data = os.path.join(self.dir, "data")
        self.maillog = os.path.join(self.dir, "maillog")
        self.addr = POSTFIX_ADDR
        self.port = free_port(self.addr)
        self.master = None
        self.env = dict(os.environ,
                        LD_LIBRARY_PATH=os.path.join(root, "usr/lib/postfix"))
        self.env.pop("MAIL_CONFIG", None)
        self.why = None
        if os.geteuid() != 0:
            self.why = ("needs root: Postfix's master runs as root and its"
                        " daemons switch to mail_owner; this run is uid %d"
                        % os.geteuid())
            return
        acct, why = postfix_accounts()
        if acct is None:
            self.why = why
            return
        owner, privs, group = acct
        self.owner = owner
        for d in (self.conf, self.queue_dir):
            os.makedirs(d)
        os.makedirs(self.data, mode=0o700)
        os.chown(self.data, owner.pw_uid, owner.pw_gid)
        lib = os.path.join(root, "usr/lib/postfix")
        cidr = os.path.join(self.conf, "denied.cidr")
        with open(cidr, "w") as f:
            f.write("".join(n + " REJECT\n" for n in denied_nets()))
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(
                "# bench/relay_bench.py: a private Postfix that relays"
                " everything from\n# 127.0.0.0/8 to smtp-sink.\n"
                "compatibility_level = 3.6\n"
                "mail_owner = %s\ndefault_privs = %s\nsetgid_group = %s\n"
                "queue_directory = %s\ndata_directory = %s\n"
                "daemon_directory = %s\ncommand_directory = %s\n"
                "meta_directory = %s\nshlib_directory = %s\n"
                "# the daemons find the unpacked libraries too\n"
                "import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ"
                " LANG=C LD_LIBRARY_PATH=%s\n"
                "maillog_file = %s\nmaillog_file_prefixes = %s\n"
                "myhostname = pf.bench.example\nmydomain = bench.example\n"
                "myorigin = $myhostname\nmydestination =\n"
                "relay_domains =\nlocal_recipient_maps =\n"
                "local_transport = error:no local delivery here\n"
                "alias_maps =\nalias_database =\n"
                "# smtpd listens on %s (master.cf); Postfix insists that"
                " inet_interfaces\n# name an address of an interface, and"
                " lo has only 127.0.0.1.\n"
                "inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n"
                "mynetworks = 127.0.0.0/8\n"
                "smtpd_relay_restrictions = permit_mynetworks, reject\n"
                "smtpd_client_restrictions = check_client_access"
                " cidr:%s\n"
                "relayhost = [%s]:%d\n"
                "smtp_dns_support_level = disabled\n"
                "smtpd_peername_lookup = no\n"
                "smtp_tls_security_level = none\n"
                "smtpd_tls_security_level = none\n"
                "biff = no\nappend_dot_mydomain = no\nsmtputf8_enable = no\n"
                % (owner.pw_name, privs.pw_name, group.gr_name,
                   self.queue_dir, self.data,
                   os.path.join(root, "usr/lib/postfix/sbin"),
                   os.path.join(root, "usr/sbin"),
                   os.path.join(root, "etc/postfix"), lib, lib,
                   self.maillog, self.dir, self.addr, cidr, SINK_ADDR,
                   sink_port))
        # The `n` in the fifth column: no chroot anywhere.
        svc = [("%s:%d" % (self.addr, self.port), "inet", "n", "-", "n",
                "-", "-", "smtpd"),
               ("cleanup", "unix", "n", "-", "n", "-", "0", "cleanup"),
               ("qmgr", "unix", "n", "-", "n", "300", "1", "qmgr"),
               ("rewrite", "unix", "-", "-", "n", "-", "-",
                "trivial-rewrite"),
               ("bounce", "unix", "-", "-", "n", "-", "0", "bounce"),
               ("defer", "unix", "-", "-", "n", "-", "0", "bounce"),
               ("trace", "unix", "-", "-", "n", "-", "0", "bounce"),
               ("verify", "unix", "-", "-", "n", "-", "1", "verify"),
               ("proxymap", "unix", "-", "-", "n", "-", "-", "proxymap"),
               ("smtp", "unix", "-", "-", "n", "-", "-", "smtp"),
               ("relay", "unix", "-", "-", "n", "-", "-", "smtp"),
               ("showq", "unix", "n", "-", "n", "-", "-", "showq"),
               ("error", "unix", "-", "-", "n", "-", "-", "error"),
               ("retry", "unix", "-", "-", "n", "-", "-", "error"),
               ("discard", "unix", "-", "-", "n", "-", "-", "discard"),
               ("anvil", "unix", "-", "-", "n", "-", "1", "anvil"),
               ("scache", "unix", "-", "-", "n", "-", "1", "scache"),
               ("postlog", "unix-dgram", "n", "-", "n", "-", "1",
                "postlogd")]
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write("# bench/relay_bench.py: no pickup, no local, no"
                    " chroot.\n")
            for s in svc:
                f.write("%-20s %-10s %-3s %-3s %-3s %-4s %-3s %s\n" % s)

    def postfix(self, verb, limit=60):
        argv = [os.path.join(self.root, "usr/sbin/postfix"), "-c",
                self.conf, verb]
        try:
            p = subprocess.run(argv, env=self.env, capture_output=True,
                               text=True, timeout=limit)
            return p.returncode, (p.stdout + p.stderr).strip()
        except subprocess.TimeoutExpired:
            return -1, "postfix %s: timed out after %d s" % (verb, limit)

    def master_pid(self):
        try:
            with open(os.path.join(self.queue_dir, "pid/master.pid")) as f:
                pid = int(f.read().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def start(self):
        t0 = time.perf_counter()
        rc, text = self.postfix("start")
        self.master = self.master_pid()
        if rc != 0 or self.master is None:
            self.why = "`postfix -c DIR start` failed (exit %s): %s%s" % (
                rc, text.splitlines()[-1] if text else "no output",
                self.log_tail())
            self.kill()
            return False
        if not wait_until(lambda: greets(self.addr, self.port), WAIT, 0.05):
            self.why = "smtpd does not answer on %s:%d%s" % (
                self.addr, self.port, self.log_tail())
            self.stop()
            return False
        say("  postfix -c %s start: %.1f s (with its checks), master pid"
            " %d" % (self.conf, time.perf_counter() - t0, self.master))
        return True

    def log_tail(self):
        try:
            with open(self.maillog, errors="replace") as f:
                lines = [l.strip() for l in f if "fatal" in l or
                         "error" in l]
            return "; maillog: " + " | ".join(lines[-3:]) if lines else ""
        except OSError:
            return ""

    def stop(self):
        if self.master is None:
            return
        rc, text = self.postfix("stop", 30)
        gone = wait_until(lambda: not os.path.exists("/proc/%d"
                                                     % self.master), 15,
                          0.05)
        if rc != 0 or not gone:
            say("  postfix stop: exit %s (%s); stopping the master by pid"
                % (rc, text[-200:]))
            self.kill()
        self.master = None

    def kill(self):
        """Fallback: the master and its daemons, by pid."""
        pid = self.master or self.master_pid()
        if pid is None:
            return
        kids = children(pid)
        for p, sig in [(pid, signal.SIGTERM)] + \
                [(k, signal.SIGTERM) for k in kids]:
            try:
                os.kill(p, sig)
            except OSError:
                pass
        if not wait_until(lambda: not os.path.exists("/proc/%d" % pid), 5,
                          0.05):
            for p in [pid] + kids:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        self.master = None

    def pid(self):
        return self.master

    def queued(self):
        n = 0
        for d in QUEUE_DIRS:
            for _, _, files in os.walk(os.path.join(self.queue_dir, d)):
                n += len(files)
        return n

    def mark(self):
        try:
            return os.path.getsize(self.maillog)
        except OSError:
            return 0

    def delivered(self, since):
        """Deliveries the maillog records (status=sent) after since."""
        with open(self.maillog, "rb") as f:
            f.seek(since)
            return f.read().count(b" status=sent ")




def disk_commit(work, n):
    """One durable commit on this disk, bastiond's way: (median, p99) ms."""
    times = sorted(disk_commit_times(work, n))
    return times[len(times) // 2], times[int(len(times) * 0.99)]


# ---- the measurement -------------------------------------------------------

def drain(srv, sink, c0, msgs, limit, quiet):
    """Wait until the sink has msgs more than c0 and srv's queue is
    empty (True), or nothing moved (sink count and queue size) for quiet
    seconds, or limit seconds passed (False).  Bounded."""
    t0 = time.monotonic()
    last, t_last = None, t0
    while True:
        got, left = sink.count() - c0, srv.queued()
        if got >= msgs and left == 0:
            return True
        now = time.monotonic()
        if (got, left) != last:
            last, t_last = (got, left), now
        elif now - t_last > quiet or now - t0 > limit:
            return False
        time.sleep(0.02)


def measure(args, srv, tools, sink, sessions, msgs, label=None):
    """One load: smtp-source into srv, then wait until the sink has them
    all and srv's queue is empty.  The figures, with "stalled" set when
    the queue stopped moving (or the wait ran out) before that."""
    c0, m0, cpu0 = sink.count(), srv.mark(), tree_cpu(srv.pid())
    t0 = time.perf_counter()
    t_acc, rc, err = tools.run_source(srv.addr, srv.port, sessions, msgs)
    drained = drain(srv, sink, c0, msgs, args.limit, args.quiet)
    t_all = time.perf_counter() - t0
    cpu = tree_cpu(srv.pid()) - cpu0
    # A message sent twice shows as a count above msgs: give a late one
    # a moment to arrive.
    time.sleep(0.3)
    got, left = sink.count() - c0, srv.queued()
    # The server's own account (Postfix's postlogd writes a little later).
    wait_until(lambda: srv.delivered(m0) >= got, 3, 0.05)
    logged = srv.delivered(m0)
    tag = label or "%s -s %d -m %d" % (srv.name, sessions, msgs)
    errs = [l for l in err.splitlines() if l.strip()]
    if rc != 0 or errs:
        problem("%s: smtp-source exit %d: %s" % (tag, rc,
                                                 " | ".join(errs[:3])))
    r = {"acc": msgs / t_acc, "t_acc": t_acc, "t_all": t_all, "got": got,
         "left": left, "stalled": not drained,
         "cpu_ms": cpu * 1000 / msgs, "logged": logged, "since": m0}
    r["all"] = got / t_all
    if drained:
        say("  %-30s accepted %d in %6.2f s = %5.0f/s; delivered %d in"
            " %6.2f s = %5.0f/s" % (tag, msgs, t_acc, r["acc"], got, t_all,
                                    r["all"]))
    else:
        say("  %-30s accepted %d in %6.2f s = %5.0f/s; STALLED: %d at the"
            " sink, %d still queued after %.1f s" % (
                tag, msgs, t_acc, r["acc"], got, left, t_all))
    say("  %-30s server CPU %.3f ms a message; its log counts %d"
        " delivered; %d left in its queue" % ("", r["cpu_ms"], logged,
                                              left))
    if got > msgs:
        problem("%s: the sink got %d messages for %d sent (duplicates)"
                % (tag, got, msgs))
    elif got + left < msgs and rc == 0:
        problem("%s: %d sent, %d at the sink, %d queued: %d lost" % (
            tag, msgs, got, left, msgs - got - left))
    if logged != got:
        problem("%s: the sink counted %d, the server's log %d" % (
            tag, got, logged))
    return r


def waits_report(srv, since):
    """From bastiond's log: how long messages waited between their 250
    and their first outbound attempt."""
    w, never = srv.waits(since)
    w.sort()
    if not w:
        return
    late = [x for x in w if x > 0.5]
    say("  %-30s 250 to first outbound attempt: median %.1f ms, p90 %.0f"
        " ms, max %.2f s;" % ("", w[len(w) // 2] * 1000,
                             w[int(len(w) * 0.9)] * 1000, w[-1]))
    say("  %-30s %d of %d waited over 0.5 s (for a free outbound job)%s"
        % ("", len(late), len(w) + never,
           "; %d never tried" % never if never else ""))


STALL_WHY = """\
  STALLED: messages acknowledged with 250 sat in queue/ with nothing
  moving for %d s.  With the default `retry` (300 s) a message that
  relay_start() turns away (all RELAY_JOBS outbound jobs busy, or its
  new file dated ahead of time(NULL)) is tried again only at the next
  rescan of queue/, 300 s later."""


class BastiondSlot:
    """The bastiond under test: a run that stalls leaves its backlog
    behind, so the next run gets a fresh site."""
    name = "bastiond"

    def __init__(self, args, sink, retry):
        self.args, self.sink, self.retry = args, sink, retry
        self.site = None
        self.stalled = 0

    def run(self, tools, sessions, msgs, label=None):
        if self.site is None:
            self.site = Bastiond(self.args.work, self.sink.port,
                                 self.retry).start()
        r = measure(self.args, self.site, tools, self.sink, sessions, msgs,
                    label)
        waits_report(self.site, r["since"])
        if r["stalled"]:
            self.stalled += 1
            if r["left"]:
                say(STALL_WHY % self.args.quiet)
            self.stop()
        return r

    def stop(self):
        if self.site is not None:
            self.site.stop()
            self.site = None


def bastiond_intro(sink):
    say("bastiond: smtp-source -> bastiond %s (relay host rule, durable"
        " spool) -> smtp-sink %s" % (BASTIOND_ADDR, SINK_ADDR))
    say("  policy: host <denied> deny (%d networks); host 127.0.0.0/8"
        " require none relay;" % DENIED)
    say("  outbound %s via %s port %d tls none;" % (DOMAIN, SINK_ADDR,
                                                   sink.port))
    say("  defaults otherwise (queue lifetime 5d retry 300s), the protocol"
        " log on, as in production.")
    say("  250 only after write, fsync, link, fsync of queue/; out of"
        " the spool after the sink's")
    say("  250 to the dot (moved out, fsync of queue/); the fsyncs by the"
        " commit thread, the")
    say("  folder's shared by the messages of a batch; outbound sessions"
        " kept and reused.")


def start_postfix(args, sink):
    """The Postfix instance, started; None (and why, in results) if it
    cannot run here."""
    say("Postfix %s: smtp-source -> smtpd %s (mynetworks) -> qmgr -> smtp"
        " -> smtp-sink %s" % (args.postfix_version, POSTFIX_ADDR,
                              SINK_ADDR))
    pf = Postfix(args.postfix_root, args.work, sink.port)
    instances.append(pf)
    if pf.why is None:
        say("  a private instance: config, queue and data directories"
            " under %s;" % pf.dir)
        say("  mail_owner %s; relayhost = [%s]:%d, no chroot, no local"
            " delivery, TLS off," % (pf.owner.pw_name, SINK_ADDR, sink.port))
        say("  smtpd_client_restrictions = check_client_access cidr: (the"
            " same %d networks, REJECT);" % DENIED)
        say("  defaults otherwise (in_flow_delay 1s, connection cache on"
            " demand).  cleanup fsyncs")
        say("  the queue file before smtpd's 250: a 250 means on disk for"
            " both servers.")
        if pf.start():
            return pf
    say("Postfix: NOT MEASURED: %s" % pf.why)
    results["postfix_why"] = pf.why
    return None


def bench(args, tools, sink):
    """Both servers up at once, the runs interleaved (bastiond -s 20,
    Postfix -s 20, bastiond -s 1, Postfix -s 1, and again), so that a
    change in the machine's load weighs on both alike."""
    say("== The servers")
    bastiond_intro(sink)
    b = BastiondSlot(args, sink, None)
    pf = start_postfix(args, sink)
    say()
    try:
        say("== Warm-up, untimed: smtp-source -s 20 -m %d" % args.warm)
        b.run(tools, 20, args.warm, "bastiond warm-up")
        if pf is not None:
            measure(args, pf, tools, sink, 20, args.warm, "Postfix warm-up")
        say()
        for rnd in range(args.runs):
            say("== Round %d of %d: smtp-source -m %d -l 1024, one message"
                " a session" % (rnd + 1, args.runs, args.msgs))
            for sessions in LOADS:
                r = b.run(tools, sessions, args.msgs)
                results.setdefault(("bastiond", sessions), []).append(r)
                if pf is not None:
                    r = measure(args, pf, tools, sink, sessions, args.msgs)
                    results.setdefault(("Postfix", sessions), []).append(r)
            say()
    finally:
        b.stop()
        if pf is not None:
            pf.stop()
            say("postfix -c DIR stop: %s" % (
                "stopped" if pf.master_pid() is None else "STILL RUNNING"))
            say()
    if b.stalled:
        say("== bastiond again with `queue lifetime 1d retry 1s`, so that a"
            " message turned away is")
        say("tried again within a second (a workaround, not a setting for"
            " production); one round")
        w = BastiondSlot(args, sink, "1s")
        try:
            w.run(tools, 20, args.warm, "bastiond warm-up")
            for sessions in LOADS:
                r = w.run(tools, sessions, args.msgs)
                results.setdefault(("bastiond retry 1s", sessions),
                                   []).append(r)
        finally:
            w.stop()
        say()

# ---- kill -9 in the middle of a run ----------------------------------------

class TagSink:
    """A next hop that remembers what it got: a threaded SMTP server on
    SINK_ADDR that answers 250 to everything and records the X-Bench-Tag
    header of each message.  smtp-sink only counts, and a count cannot
    tell a lost message from a duplicate of another."""

    def __init__(self):
        import socketserver
        sink = self
        self.tags = []
        self.lock = threading.Lock()

        class Handler(socketserver.StreamRequestHandler):
            timeout = WAIT * 3

            def handle(self):
                w = self.wfile
                w.write(b"220 tagsink\r\n")
                data = None
                while True:
                    line = self.rfile.readline(1100)
                    if not line:
                        return
                    if data is not None:
                        if line in (b".\r\n", b".\n"):
                            m = re.search(rb"^X-Bench-Tag: (\S+)", data,
                                          re.M)
                            with sink.lock:
                                sink.tags.append(m.group(1).decode()
                                                 if m else "?")
                            data = None
                            w.write(b"250 ok\r\n")
                        elif len(data) < 65536:
                            data += line
                        continue
                    verb = line[:4].upper()
                    if verb == b"DATA":
                        data = b""
                        w.write(b"354 go\r\n")
                    elif verb == b"QUIT":
                        w.write(b"221 bye\r\n")
                        return
                    elif verb == b"EHLO":
                        w.write(b"250-tagsink\r\n250 PIPELINING\r\n")
                    else:
                        w.write(b"250 ok\r\n")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            # The default backlog of 5 overflows under 16 outbound
            # sessions at once, and a connection dropped from a full
            # accept queue looks established to the client, which then
            # waits minutes for a banner.
            request_queue_size = 512

            def handle_error(self, request, client_address):
                pass    # a session cut by the kill: expected here

        self.port = free_port(SINK_ADDR)
        self.srv = Server((SINK_ADDR, self.port), Handler)
        self.th = threading.Thread(target=self.srv.serve_forever,
                                   daemon=True)
        self.th.start()

    def got(self):
        with self.lock:
            return list(self.tags)

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def crash_client(site, c, n, acked, stop):
    """One client: up to n messages, one a session, each tagged; the tag
    of every message that got its 250 goes into acked.  Stops at the
    first failure (the server was killed) or when told to."""
    import smtplib
    for i in range(n):
        if stop.is_set():
            return
        tag = "c%d-m%d" % (c, i)
        msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: crash %s\r\n"
               "X-Bench-Tag: %s\r\n\r\n%s\r\n" % (
                   SENDER, RCPT, tag, tag, ("x" * 72 + "\r\n") * 14))
        try:
            with smtplib.SMTP(site.addr, site.port, timeout=WAIT) as s:
                s.sendmail(SENDER, [RCPT], msg)
        except (OSError, smtplib.SMTPException):
            return
        acked.append(tag)


def crash(args):
    """CRASH_CLIENTS clients send into bastiond (relaying to a TagSink);
    in the middle of it bastiond gets SIGKILL; it is started again on
    the same spool, and every message that got its 250 must reach the
    sink (a duplicate is allowed, a loss is not)."""
    say("== kill -9 in the middle of a %d-client run" % CRASH_CLIENTS)
    sink = TagSink()
    site = Bastiond(args.work, sink.port, None).start()
    acked, stop = [], threading.Event()
    n = 20 if args.quick else 100
    th = [threading.Thread(target=crash_client,
                           args=(site, c, n, acked, stop), daemon=True)
          for c in range(CRASH_CLIENTS)]
    try:
        for t in th:
            t.start()
        # Half-way, by the count acknowledged: a kill in full flow.
        wait_until(lambda: len(acked) >= CRASH_CLIENTS * n // 2, 60, 0.01)
        os.kill(site.pid(), signal.SIGKILL)
        site.proc.wait(10)
        at_kill = len(acked)
        stop.set()
        for t in th:
            t.join(WAIT * 2)
        acked = list(acked)
        site.err.close()
        site.start()
        want = set(acked)
        wait_until(lambda: want <= set(sink.got()) and
                   site.queued() == 0, 120, 0.1)
        got = sink.got()
        missing = want - set(got)
        dups = len(got) - len(set(got))
        text = ("%d acknowledged (%d at the kill), %d at the sink, %d"
                " missing, %d duplicates, %d left in queue/" % (
                    len(acked), at_kill, len(got), len(missing), dups,
                    site.queued()))
        say("  " + text)
        results["crash"] = text
        if missing:
            problem("kill -9: %d acknowledged messages never reached the"
                    " sink: %s" % (len(missing), sorted(missing)[:5]))
    finally:
        stop.set()
        site.stop()
        sink.stop()
    say()


def figure(runs, k):
    """(median, min, max, how many stalled) of figure k over the runs
    that did not stall (delivered/s); accepted/s counts them all."""
    if not runs:
        return None
    ok = [r[k] for r in runs if k == "acc" or not r["stalled"]]
    stalled = sum(1 for r in runs if r["stalled"])
    if not ok:
        return None, None, None, stalled
    ok.sort()
    return ok[len(ok) // 2], ok[0], ok[-1], stalled


def summary(args):
    say("== Summary: end-to-end relay, smtp-source -m %d -l 1024 (one"
        " message a session) -> server -> smtp-sink;" % args.msgs)
    say("medians of %d run%s (interleaved), min-max in brackets" % (
        args.runs, "s" if args.runs > 1 else ""))
    fmt = "%-17s %-9s %17s %17s %6s"
    say(fmt % ("load", "figure", "bastiond", "Postfix", "b/P"))
    keys = [k for k in ("bastiond", "bastiond retry 1s")
            if any((k, s) in results for s in LOADS)]

    def show(f, k):
        if f is None:
            return "not measured"
        med, lo, hi, stalled = f
        if med is None:
            return "stalled"
        text = "%.0f" % med if lo == hi else "%.0f [%.0f-%.0f]" % (
            med, lo, hi)
        return text + (" (%d stalled)" % stalled if stalled and k == "all"
                       else "")

    for key in keys:
        for s in LOADS:
            for k, name in (("acc", "accepted/s"), ("all", "delivered/s")):
                bf = figure(results.get((key, s)), k)
                pfig = figure(results.get(("Postfix", s)), k)
                ratio = "-"
                if bf and pfig and bf[0] is not None and \
                        pfig[0] is not None:
                    ratio = "%.2f" % (bf[0] / pfig[0])
                load = "-s %d" % s + (", retry 1s" if key != "bastiond"
                                      else "")
                say(fmt % (load, name, show(bf, k), show(pfig, k), ratio))
    for s in LOADS:
        bf = figure(results.get(("bastiond", s)), "cpu_ms")
        pfig = figure(results.get(("Postfix", s)), "cpu_ms")
        if bf and pfig and bf[0] is not None and pfig[0] is not None:
            say("server CPU a message, -s %-3d bastiond %.3f ms, Postfix"
                " %.3f ms (all its processes), b/P %.2f" % (
                    s, bf[0], pfig[0], bf[0] / pfig[0]))
    if "crash" in results:
        say("kill -9 during -s %d: %s" % (CRASH_CLIENTS, results["crash"]))
    for key in keys:
        for s in LOADS:
            for r in results.get((key, s), []):
                if r["stalled"]:
                    say("%s -s %d stalled: %d of %d at the sink, %d left in"
                        " queue/ after %.0f s" % (
                            key, s, r["got"], args.msgs, r["left"],
                            r["t_all"]))
    if "postfix_why" in results:
        say("Postfix: NOT MEASURED: %s" % results["postfix_why"])


def filesystem(path):
    fs, best = "?", ""
    try:
        with open("/proc/mounts") as f:
            for line in f:
                dev, mnt, typ = line.split()[:3]
                if (path + "/").startswith(mnt.rstrip("/") + "/") and \
                        len(mnt) >= len(best):
                    best, fs = mnt, "%s on %s (%s)" % (typ, mnt, dev)
    except OSError:
        pass
    return fs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--postfix-root", required=True)
    ap.add_argument("--postfix-conf", required=True,
                    help="a main.cf folder for smtp-source and smtp-sink")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sanitizers", action="store_true")
    args = ap.parse_args()
    args.msgs = 300 if args.quick else 2000
    args.warm = 50 if args.quick else 200
    args.runs = 1 if args.quick else 3
    args.limit = 30 if args.quick else 45   # seconds to drain, at most
    args.quiet = 5      # seconds with nothing moving: stalled
    args.work = os.path.abspath(args.work)

    # A SIGTERM (timeout(1)) must still stop the servers by pid.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))

    tools = Tools(args.postfix_root, args.postfix_conf)
    try:
        v = subprocess.run([os.path.join(args.postfix_root,
                                         "usr/sbin/postconf"), "-d", "-h",
                            "mail_version"], env=tools.env,
                           capture_output=True, text=True, timeout=STEP)
        args.postfix_version = v.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        args.postfix_version = "?"
    say("bastion relay benchmark: %s, %s, %d CPUs" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        platform.machine(), os.cpu_count()))
    say("CPU: %s" % machine())
    say("kernel: %s %s" % (platform.system(), platform.release()))
    la0 = loadavg()
    say("load average at start: %s" % la0)
    say("work folder: %s, %s" % (args.work, filesystem(args.work)))
    say("Postfix %s (smtp-source, smtp-sink and the server) from %s" % (
        args.postfix_version, args.postfix_root))
    if args.sanitizers:
        say("WARNING: this tree is built with sanitizers; figures are not"
            " representative")
    if args.quick:
        say("BENCH_QUICK: smoke run, small counts")
    say()

    rc = 0
    sink = None
    # Postfix's daemons (mail_owner) must reach their queue under here.
    os.chmod(args.work, 0o711)
    try:
        med, p99 = disk_commit(args.work, 200)
        say("one durable commit here (write 1 KiB, fsync, rename, fsync the"
            " folder; 200 of them):")
        say("median %.2f ms, p99 %.2f ms: the disk's floor under both"
            " servers' 250" % (med, p99))
        sink = Sink(tools)
        say("smtp-sink -c on %s:%d (pid %d), shared by all runs: it"
            " answers 250 and stores nothing" % (SINK_ADDR, sink.port,
                                                  sink.proc.pid))
        say()
        bench(args, tools, sink)
        crash(args)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        problem("relay_bench: %s" % e)
    finally:
        for pf in instances:
            pf.stop()
        if sink is not None:
            sink.stop()
        for p in list(started):
            stop_pid(p)
    summary(args)
    say("load average at end: %s (at start: %s)" % (loadavg(), la0))
    if problems:
        say("%d problem%s (see above): %s" % (
            len(problems), "s" if len(problems) > 1 else "",
            "; ".join(problems)[:2000]))
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
