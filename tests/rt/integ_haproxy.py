#!/usr/bin/python3
"""
integ_haproxy: two bastiond nodes behind HAProxy (TCP mode,
send-proxy-v2, option smtpchk), sharing one table, as in
examples/cluster.  The nodes listen on the same address and port, as
two machines would: each runs in a network namespace of its own, which
HAProxy reaches with its `namespace` server keyword.  Clients bound to
127.x addresses talk to HAProxy and must get the rules of their own
address, logged with it; health checks keep both nodes up; after
kill -9 of a node HAProxy sends new sessions to the other and no
message a node acknowledged is lost; a new table rolled out node by
node with SIGHUP while clients send refuses no session and delivers
every message once; a header sent straight to a node by no balancer
is refused.

Network namespaces need root: run as anyone else, the test skips.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BASTIOND, TOP_SRCDIR, Site, Dialogue, check, error,
                     expect, free_port, plain_token, run, skip, verifier)

NODE_PORT = 2525                # inside each node's namespace
BALANCER = "127.0.0.2"          # HAProxy's source, as the nodes see it
DENY, TLS, BOUND, PLAIN, LATE = ("127.0.0.20", "127.0.0.21", "127.0.0.22",
                                 "127.0.0.23", "127.0.0.24")


def policy(extra=""):
    return """server {
    hostname "mx.test.example"
    listen on 127.0.0.1 port %d proxy from <balancers>
    tls certificate "certs/ec.crt" key "certs/ec.key"
    spool "var/spool"
    log "var/protocol.log"
}
list balancers { %s }
default require none
host %s deny
host %s require tls
host %s require auth+tls as "alice"
%s
auth mechanisms plain
user "alice" "%s"
user "bob" "%s"
recipients staff { alice bob }
accept for test.example deliver maildir "var/mail/%%u" recipients <staff>
""" % (NODE_PORT, BALANCER, DENY, TLS, BOUND, extra,
       verifier("alice-pw", "scram-sha-256"), verifier("bob-pw"))


def haproxy_cfg(folder, port, ns):
    return """global
    stats socket %s/haproxy.sock mode 600 level admin
    log stdout format raw local0 info

defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch 1

frontend smtp
    bind 127.0.0.1:%d
    default_backend nodes

backend nodes
    balance roundrobin
    option smtpchk HELO lb.test.example
    default-server send-proxy-v2 check inter 300ms fall 2 rise 1 source %s
    server a 127.0.0.1:%d namespace %s
    server b 127.0.0.1:%d namespace %s
""" % (folder, port, BALANCER, NODE_PORT, ns[0], NODE_PORT, ns[1])


class Node:
    """A Site whose bastiond runs inside network namespace ns."""

    def __init__(self, site, ns):
        self.site, self.ns = site, ns

    def start(self, wait=True):
        s = self.site
        s.err = open(s.stderr_path, "ab")
        s.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, BASTIOND, "-f", "-t", s.table],
            stdout=s.err, stderr=s.err, stdin=subprocess.DEVNULL,
            cwd=s.dir)
        n = s.log().count("started, table ")
        deadline = time.time() + 15
        while s.log().count("started, table ") <= n:
            if s.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("node in %s did not start:\n%s" %
                                   (self.ns, s.stderr()))
            time.sleep(0.05)

    def install(self, table):
        """Copy the table in, as an operator would: whole, renamed."""
        tmp = self.site.table + ".new"
        shutil.copyfile(table, tmp)
        os.rename(tmp, self.site.table)

    def reload(self, checksum):
        n = self.site.log().count("table %s loaded" % checksum)
        self.site.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while self.site.log().count("table %s loaded" % checksum) <= n:
            if time.time() > deadline:
                return False
            time.sleep(0.05)
        return True


class Balancer:
    def __init__(self, folder, port, ns):
        self.dir, self.port = folder, port
        self.cfg = os.path.join(folder, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write(haproxy_cfg(folder, port, ns))
        self.out = open(os.path.join(folder, "haproxy.log"), "ab")
        self.proc = subprocess.Popen(["haproxy", "-f", self.cfg, "-db"],
                                     stdout=self.out, stderr=self.out,
                                     stdin=subprocess.DEVNULL)

    def stats(self):
        """{server: status} from the stats socket ('show stat')."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(os.path.join(self.dir, "haproxy.sock"))
            s.sendall(b"show stat\n")
            data = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
        except OSError:
            return {}
        finally:
            s.close()
        out = {}
        for line in data.decode(errors="replace").splitlines():
            f = line.split(",")
            if len(f) > 17 and f[0] == "nodes" and f[1] in ("a", "b"):
                out[f[1]] = f[17]
        return out

    def wait_status(self, want, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            st = self.stats()
            if all(st.get(k, "").startswith(v) for k, v in want.items()):
                return st
            time.sleep(0.1)
        return self.stats()

    def log(self):
        with open(os.path.join(self.dir, "haproxy.log"), errors="replace") \
                as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.out.close()


def mail(port, src, subject, rcpt="bob@test.example", ctx=None, user=None):
    """One message through the balancer from src.  Returns the reply to
    the end of DATA ('' if the session broke before it)."""
    try:
        d = Dialogue("127.0.0.1", port, source=src, timeout=20)
        if not d.reply().startswith("220"):
            return ""
        d.cmd("EHLO client.example")
        if ctx is not None:
            d.starttls(ctx)
            d.cmd("EHLO client.example")
        if user is not None:
            rep = d.cmd("AUTH PLAIN " + plain_token(user, user + "-pw"))
            if not rep.startswith("235"):
                d.close()
                return rep
        d.cmd("MAIL FROM:<sender@client.example>")
        d.cmd("RCPT TO:<%s>" % rcpt)
        d.cmd("DATA")
        rep = d.cmd("Subject: %s\r\n\r\nbody\r\n." % subject)
        d.cmd("QUIT")
        d.close()
        return rep
    except OSError:
        return ""


def subjects(nodes, user="bob"):
    """Every Subject in user's mailboxes on all nodes, with repeats."""
    out = []
    for n in nodes:
        for m in n.site.maildir(user):
            g = re.search(rb"^Subject: (\S+)", m, re.M)
            if g:
                out.append(g.group(1).decode())
    return out


class Sender(threading.Thread):
    """Clients that send one message a session until stopped."""

    def __init__(self, port, tag, src=PLAIN):
        super().__init__(daemon=True)
        self.port, self.tag, self.src = port, tag, src
        self.acked, self.failed = [], []
        self.halt = threading.Event()

    def run(self):
        i = 0
        while not self.halt.is_set():
            subj = "%s-%d" % (self.tag, i)
            rep = mail(self.port, self.src, subj)
            (self.acked if rep.startswith("250") else self.failed).append(
                (subj, rep))
            i += 1
            time.sleep(0.01)

    def stop(self):
        self.halt.set()
        self.join(60)


def main():
    if shutil.which("haproxy") is None:
        error("haproxy is not installed (tools/deps installs it)")
    if os.geteuid() != 0:
        skip("network namespaces need root")
    r = subprocess.run(["haproxy", "-c", "-f", os.path.join(
        TOP_SRCDIR, "examples", "cluster", "haproxy.cfg")],
        capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "examples/cluster/haproxy.cfg is valid",
          r.stdout + r.stderr)
    tag = "bastion-%d" % os.getpid()
    ns = (tag + "-a", tag + "-b")
    made, nodes, lb = [], [], None
    work = tempfile.mkdtemp(prefix="bastion-haproxy-")
    try:
        for n in ns:
            subprocess.run(["ip", "netns", "add", n], check=True)
            made.append(n)
            subprocess.run(["ip", "-n", n, "link", "set", "lo", "up"],
                           check=True)
        # One table, compiled once, copied to every node.
        a = Site(policy(), name="node-a")
        b = Site(policy(), certs=False, name="node-b")
        shutil.copytree(a.path("certs"), b.path("certs"))
        shutil.copyfile(a.table, os.path.join(work, "cluster.ptab"))
        nodes = [Node(a, ns[0]), Node(b, ns[1])]
        for n in nodes:
            n.install(os.path.join(work, "cluster.ptab"))
            n.start()
        port = free_port()
        lb = Balancer(work, port, ns)
        st = lb.wait_status({"a": "UP", "b": "UP"})
        check(st.get("a", "").startswith("UP") and
              st.get("b", "").startswith("UP"),
              "health checks: both nodes UP", "(stats %r)" % st)
        for n in nodes:
            check(n.site.wait_log(r",127\.0\.0\.2:\d+,\+,SMTP from the "
                                  r"balancer \(PROXY v2 LOCAL\)")
                  is not None, "node %s: health check served as the "
                  "balancer's own connection" % n.ns[-1])
        ctx = a.ctx()

        # Each client gets its own rule, on whichever node it lands.
        for i in range(2):
            d = Dialogue("127.0.0.1", port, source=DENY)
            expect(d.reply(), "554 ", "%s through HAProxy: denied (%d)" %
                   (DENY, i))
            d.close()
            d = Dialogue("127.0.0.1", port, source=TLS)
            d.reply()
            d.cmd("EHLO client.example")
            expect(d.cmd("MAIL FROM:<x@client.example>"), "530",
                   "%s through HAProxy: STARTTLS required (%d)" % (TLS, i))
            d.close()
            expect(mail(port, TLS, "tls-%d" % i, ctx=ctx), "250",
                   "%s: mail after STARTTLS through HAProxy (%d)" % (TLS, i))
            expect(mail(port, BOUND, "bound-bob-%d" % i, ctx=ctx,
                        user="bob"), "535",
                   "%s: bound to alice, bob's login is refused (%d)" %
                   (BOUND, i))
            expect(mail(port, BOUND, "bound-%d" % i, ctx=ctx, user="alice",
                        rcpt="alice@test.example"), "250",
                   "%s: alice over TLS through HAProxy (%d)" % (BOUND, i))
        logs = a.log() + b.log()
        for src, what in ((DENY, r'"?deny: '), (TLS, r'"?admit, require tls'),
                          (BOUND, r'"?admit, require auth\+tls.*one account')):
            check(re.search(r",%s:\d+,\*,%s" % (re.escape(src), what), logs)
                  is not None, "%s: decided and logged by its own address"
                  % src)
            check(re.search(r",%s:\d+,\+,SMTP via 127\.0\.0\.2:\d+" %
                            re.escape(src), logs) is not None,
                  "%s: connect line names the balancer" % src)
        check(re.search(r"AUTH PLAIN as bob: failed: this host may use only "
                        r"its bound account", logs) is not None,
              "the `as` binding holds for the real client")
        check(all(",%s:" % BALANCER not in ln for ln in logs.splitlines()
                  if ",*,deny" in ln or "require tls" in ln),
              "no decision is made on the balancer's address")
        check(a.log().count(",+,SMTP via ") > 0 and
              b.log().count(",+,SMTP via ") > 0,
              "sessions reached both nodes")

        # kill -9 node a while clients send.
        s = Sender(port, "kill")
        s.start()
        time.sleep(1.5)
        nodes[0].site.kill9()
        st = lb.wait_status({"a": "DOWN", "b": "UP"})
        check(st.get("a", "").startswith("DOWN"),
              "HAProxy marks the killed node DOWN", "(stats %r)" % st)
        time.sleep(1.0)
        s.stop()
        after = [mail(port, PLAIN, "after-kill-%d" % i) for i in range(8)]
        check(all(r.startswith("250") for r in after),
              "after the kill every new session is served by the other node",
              "(%r)" % after)
        # Delivered soon after the 250, not before it: wait a little.
        late = set("after-kill-%d" % i for i in range(8))
        deadline = time.time() + 10
        while time.time() < deadline and not late <= set(subjects(nodes[1:])):
            time.sleep(0.05)
        check(late <= set(subjects(nodes[1:])),
              "those sessions went to node b")
        nodes[0].start()
        st = lb.wait_status({"a": "UP", "b": "UP"})
        check(st.get("a", "").startswith("UP"),
              "the restarted node is UP again", "(stats %r)" % st)
        want = set(x[0] for x in s.acked) | set(
            "after-kill-%d" % i for i in range(8))
        deadline = time.time() + 30
        while time.time() < deadline and not want <= set(subjects(nodes)):
            time.sleep(0.2)
        lost = want - set(subjects(nodes))
        check(len(s.acked) > 10 and not lost,
              "kill -9: every message acknowledged with 250 is delivered "
              "(%d acknowledged, %d sessions broken)" % (len(s.acked),
                                                        len(s.failed)),
              "(lost %r)" % sorted(lost))

        # A new table, rolled out node by node while clients send.
        new = os.path.join(work, "cluster2.ptab")
        a.write_policy(policy("host %s deny" % LATE), table=new)
        before = set(subjects(nodes))
        senders = [Sender(port, "roll%d" % i) for i in range(2)]
        for t in senders:
            t.start()
        time.sleep(1.0)
        for n in nodes:
            n.install(new)
            # Certificates are found beside the table: ask in place.
            r = subprocess.run([BASTIOND, "-n", "-t", n.site.table],
                               capture_output=True, text=True, timeout=60)
            m = re.search(r"\(([0-9a-f]{16})\)", r.stdout)
            checksum = m.group(1) if m else "?"
            check(n.reload(checksum), "node %s: new table %s loaded" %
                  (n.ns[-1], checksum))
            time.sleep(1.0)
        time.sleep(1.0)
        for t in senders:
            t.stop()
        acked = [x[0] for t in senders for x in t.acked]
        failed = [x for t in senders for x in t.failed]
        check(len(acked) > 10 and not failed,
              "rollout: no session refused (%d messages)" % len(acked),
              "(failed %r)" % failed[:5])
        deadline = time.time() + 30
        while time.time() < deadline and \
                not set(acked) <= set(subjects(nodes)):
            time.sleep(0.2)
        got = [x for x in subjects(nodes) if x not in before]
        dup = sorted(set(x for x in got if got.count(x) > 1))
        check(set(got) == set(acked) and not dup,
              "rollout: every message delivered once",
              "(missing %r, duplicates %r)" % (sorted(set(acked) - set(got)),
                                               dup))
        for i in range(2):
            d = Dialogue("127.0.0.1", port, source=LATE)
            expect(d.reply(), "554 ", "the new table's rule holds on every "
                   "node (%d)" % i)
            d.close()

        # A header sent straight to a node, from no balancer.
        probe = r"""
import socket
s = socket.socket()
s.settimeout(8)
s.bind(("127.0.0.9", 0))
s.connect(("127.0.0.1", %d))
s.sendall(b"PROXY TCP4 127.0.0.23 127.0.0.1 40000 25\r\n")
got = b""
try:
    while True:
        d = s.recv(4096)
        if not d:
            break
        got += d
except OSError:
    pass
print(repr(got))
""" % NODE_PORT
        r = subprocess.run(["ip", "netns", "exec", ns[1], sys.executable,
                            "-c", probe], capture_output=True, text=True,
                           timeout=30)
        check(r.stdout.strip() == "b''",
              "a header straight to a node from no balancer: closed "
              "without a word", "(got %r %r)" % (r.stdout, r.stderr))
        check(b.wait_log(r",127\.0\.0\.9:\d+,-,\"?refused: not a PROXY "
                         r"sender") is not None,
              "a header from no balancer is logged as refused")
        check(lb.log().count("nodes/") > 0, "HAProxy logged the sessions")
    finally:
        if lb is not None:
            lb.stop()
        for n in nodes:
            n.site.cleanup()
        for n in made:
            subprocess.run(["ip", "netns", "del", n])
        if os.environ.get("KEEP_SITES"):
            print("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


run(main)
