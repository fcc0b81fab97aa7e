"""
Test harness for bastiond: a site is a temporary folder with a policy,
certificates, a compiled table and a running bastiond in the foreground,
stopped by process id.  Clients are real ones (smtplib, ssl, swaks,
openssl s_client) or raw sockets for scripted dialogues.  Everything
talks to 127.0.0.0/8 or ::1 only, and every wait is bounded.
"""
import base64
import hashlib
import hmac
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

from check import (BASTIOND, POLICYC, TOP_BUILDDIR, TOP_SRCDIR,  # noqa: F401
                   check, error, finish, free_port, run, skip)


def free_udp_port():
    """A port free for both UDP and TCP on 127.0.0.1 (for a DNS server)."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            pass
        finally:
            t.close()
            u.close()
    skip("no free port for a DNS server")


def dns_probe(port):
    """Send one DNS question to 127.0.0.1:port; True if anything answers."""
    import struct
    q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
    q += b"\x05probe\x04test\x00" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    try:
        s.sendto(q, ("127.0.0.1", port))
        return len(s.recv(512)) > 0
    except OSError:
        return False
    finally:
        s.close()


def make_certs(folder):
    """A CA and server certificates (EC P-256 and RSA) in folder."""
    os.makedirs(folder, exist_ok=True)

    def ossl(*args):
        subprocess.run(["openssl"] + list(args), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ca_key, ca_crt = os.path.join(folder, "ca.key"), os.path.join(folder, "ca.crt")
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "30",
         "-subj", "/CN=bastion test CA")
    ext = os.path.join(folder, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,DNS:mx.test.example,IP:127.0.0.1,IP:::1\n"
                "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth,clientAuth\n")
    for name, alg in (("ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
                      ("rsa", ["-newkey", "rsa:2048"])):
        key, csr, crt = (os.path.join(folder, name + s) for s in (".key", ".csr", ".crt"))
        ossl("req", *alg, "-nodes", "-keyout", key, "-out", csr,
             "-subj", "/CN=mx.test.example")
        ossl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
             "-CAcreateserial", "-out", crt, "-days", "30", "-extfile", ext)
        with open(crt, "a") as out, open(ca_crt) as ca:
            out.write(ca.read())        # the chain, leaf first
    return folder


class Site:
    """A bastiond with its own folder, policy and table."""

    def __init__(self, policy, files=None, key=False, certs=True, name="site"):
        self.dir = tempfile.mkdtemp(prefix="bastion-%s-" % name)
        self.proc = None
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        if certs:
            make_certs(os.path.join(self.dir, "certs"))
        for rel, text in (files or {}).items():
            p = os.path.join(self.dir, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)
        # The spool, the log and the Maildirs live in var/.
        os.makedirs(os.path.join(self.dir, "var"), exist_ok=True)
        self.keyfile = None
        if key:
            subprocess.run([POLICYC, "keygen", os.path.join(self.dir, "site")],
                           check=True)
            self.keyfile = os.path.join(self.dir, "site.key")
        self.policy = os.path.join(self.dir, "site.policy")
        self.table = os.path.join(self.dir, "site.ptab")
        self.write_policy(policy)

    def path(self, rel):
        return os.path.join(self.dir, rel)

    def write_policy(self, text, table=None):
        with open(self.policy, "w") as f:
            f.write(text)
        r = subprocess.run([POLICYC, "-o", table or self.table, self.policy],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("policyc failed:\n" + r.stderr)
        return r

    def start(self, ports, extra=(), wait=True, env=None):
        """Run bastiond -f; wait until every (host, port) accepts.
        env: variables to add to bastiond's environment."""
        args = [BASTIOND, "-f", "-t", self.table]
        if self.keyfile:
            args += ["-k", self.keyfile]
        args += list(extra)
        mark = len(self.stderr())
        self.err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.err, stderr=self.err,
                                     stdin=subprocess.DEVNULL, cwd=self.dir,
                                     env=dict(os.environ, **(env or {})))
        if not wait:
            return self
        deadline = time.time() + 15
        for host, port in ports:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError("bastiond exited %d:\n%s" % (
                        self.proc.returncode, self.stderr()))
                try:
                    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
                    with socket.socket(fam, socket.SOCK_STREAM) as s:
                        s.settimeout(1)
                        s.connect((host, port))
                    # Connected is enough: an implicit-TLS listener
                    # says nothing until the handshake.
                    break
                except OSError:
                    if time.time() > deadline:
                        raise RuntimeError("bastiond does not listen on %s:%d"
                                           % (host, port))
                    time.sleep(0.05)
        # Listening comes before the drop of privileges and the signal
        # handlers: a SIGHUP or a look at the spool's owners right after
        # the port opens could come too early.  "started" is the last
        # word of the start-up.
        while "started: table" not in self.stderr()[mark:]:
            if self.proc.poll() is not None:
                raise RuntimeError("bastiond exited %d:\n%s" % (
                    self.proc.returncode, self.stderr()))
            if time.time() > deadline:
                raise RuntimeError("bastiond did not say it started")
            time.sleep(0.05)
        return self

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, timeout=20):
        """SIGTERM by pid; SIGKILL if it does not go.  Returns the status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        rc = self.proc.returncode
        self.proc = None
        self.err.close()
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait(5)
        self.proc = None
        self.err.close()

    def stderr(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log(self):
        try:
            with open(self.path("var/protocol.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def maildir(self, user):
        """Messages in var/mail/USER/new, as bytes, oldest name first."""
        d = self.path("var/mail/%s/new" % user)
        if not os.path.isdir(d):
            return []
        out = []
        for n in sorted(os.listdir(d)):
            with open(os.path.join(d, n), "rb") as f:
                out.append(f.read())
        return out

    def pid(self):
        return self.proc.pid

    def ctx(self):
        """A client TLS context that trusts this site's test CA."""
        return client_context(self.path("certs/ca.crt"))

    def checksum(self):
        """The table's checksum prefix, as bastiond -n prints it."""
        r = subprocess.run([BASTIOND, "-n", "-t", self.table],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"\(([0-9a-f]{16})\)", r.stdout)
        return m.group(1) if m else None

    def wait_log(self, pattern, timeout=10, text=None):
        """Wait until the protocol log (or text()) matches pattern."""
        deadline = time.time() + timeout
        while True:
            got = text() if text else self.log()
            m = re.search(pattern, got, re.M)
            if m or time.time() > deadline:
                return m
            time.sleep(0.05)

    def wait_mail(self, user, count, timeout=20):
        """Wait until var/mail/USER/new holds count messages."""
        deadline = time.time() + timeout
        while True:
            got = self.maildir(user)
            if len(got) >= count or time.time() > deadline:
                return got
            time.sleep(0.05)

    def wait_mail_with(self, user, needle, timeout=20):
        """Wait until a message of var/mail/USER/new holds the bytes
        needle; those that do.  Local delivery follows the 250 (the
        commit thread makes the copy durable), so wait for the very
        message, not for a count another message may already reach."""
        deadline = time.time() + timeout
        while True:
            got = [m for m in self.maildir(user) if needle in m]
            if got or time.time() > deadline:
                return got
            time.sleep(0.05)

    def rss_kib(self):
        """bastiond's resident set size, in KiB."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def sanitizer_clean(self):
        """No report from ASan, LSan or UBSan in bastiond's stderr."""
        err = self.stderr()
        bad = re.search(r"ERROR: (Address|Leak)Sanitizer|runtime error:|"
                        r"SUMMARY: \w+Sanitizer", err)
        return check(bad is None, "no sanitizer report from bastiond",
                     err[max(0, bad.start() - 200):bad.start() + 3000]
                     if bad else "")

    def cleanup(self):
        running = self.proc is not None
        rc = self.stop()
        if running:
            check(rc == 0, "bastiond stopped by SIGTERM exits 0",
                  "(status %r)\n%s" % (rc, self.stderr()[-3000:]))
        self.sanitizer_clean()
        if os.environ.get("KEEP_SITES"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


class Dialogue:
    """A raw SMTP conversation over a socket, for scripted tests."""

    def __init__(self, host, port, source=None, timeout=10):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.s = socket.socket(fam, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        if source:
            self.s.bind((source, 0))
        self.s.connect((host, port))
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    def reply(self):
        """One whole (possibly multi-line) reply, as text; '' on EOF."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                try:
                    chunk = self.s.recv(65536)
                except socket.timeout:
                    return "\n".join(lines + ["<timeout>"])
                if not chunk:
                    return "\n".join(lines)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            line = line.decode(errors="replace")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return "\n".join(lines)

    def cmd(self, data):
        self.send(data if data.endswith("\r\n") else data + "\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True if the server closes the connection within timeout."""
        self.s.settimeout(timeout)
        try:
            while True:
                d = self.s.recv(4096)
                if not d:
                    return True
        except (socket.timeout, ConnectionResetError):
            return False if isinstance(sys.exc_info()[1], socket.timeout) else True
        except OSError:
            return True

    def close(self):
        self.s.close()

    def starttls(self, ctx, hostname="mx.test.example"):
        """Send STARTTLS, expect 220, and go on inside TLS."""
        rep = self.cmd("STARTTLS")
        if not rep.startswith("220"):
            return rep
        self.tls_handshake(ctx, hostname)
        return rep

    def tls_handshake(self, ctx, hostname="mx.test.example"):
        if self.buf:
            raise RuntimeError("bytes after the 220: %r" % self.buf)
        self.s = ctx.wrap_socket(self.s, server_hostname=hostname)

    def quiet(self, timeout=1.0):
        """Bytes the server sends within timeout (b'' if none)."""
        got = self.buf
        self.buf = b""
        self.s.settimeout(timeout)
        try:
            while True:
                d = self.s.recv(4096)
                if not d:
                    break
                got += d
        except (socket.timeout, ssl.SSLError, OSError):
            pass
        return got

    def replies(self, n):
        return [self.reply() for _ in range(n)]


def expect(reply, pattern, what):
    return check(re.match(pattern, reply or "", re.S) is not None, what,
                 "(got %r)" % reply)


_verifiers = {}


def verifier(password, alg="scram-sha-256"):
    """A verifier for password, from policyc passwd (cached)."""
    key = (password, alg)
    if key not in _verifiers:
        r = subprocess.run([POLICYC, "passwd", "-a", alg],
                           input=password + "\n", capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("policyc passwd: " + r.stderr)
        _verifiers[key] = r.stdout.strip()
    return _verifiers[key]


def client_context(cafile):
    """A client TLS context that verifies the chain and the name."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    return ctx


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def plain_token(user, password):
    return b64("\0%s\0%s" % (user, password))


def scram_sha256(send, user, password, nonce=None):
    """
    SCRAM-SHA-256 (RFC 5802, 7677) as a client, with nothing but
    hashlib and hmac.  send(line) sends one command line and returns
    the reply text.  Returns (final reply, server signature ok).
    """
    nonce = nonce or b64(os.urandom(18))
    bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"),
                          nonce)
    rep = send("AUTH SCRAM-SHA-256 " + b64("n,," + bare))
    if not rep.startswith("334 "):
        return rep, False
    first = base64.b64decode(rep[4:]).decode()
    attrs = dict(a.split("=", 1) for a in first.split(","))
    if not attrs["r"].startswith(nonce):
        return "bad server nonce: " + first, False
    salt = base64.b64decode(attrs["s"])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt,
                                 int(attrs["i"]))
    ckey = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored = hashlib.sha256(ckey).digest()
    final_bare = "c=biws,r=" + attrs["r"]
    auth_msg = ("%s,%s,%s" % (bare, first, final_bare)).encode()
    csig = hmac.new(stored, auth_msg, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(ckey, csig))
    skey = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    ssig = hmac.new(skey, auth_msg, hashlib.sha256).digest()
    rep = send(b64(final_bare + ",p=" + b64(proof)))
    if not rep.startswith("334 "):
        return rep, False
    sfinal = base64.b64decode(rep[4:]).decode()
    ok = sfinal == "v=" + b64(ssig)
    return send(""), ok


def body_of(stored):
    """A Maildir file without the trace headers bastiond adds."""
    lines = stored.split(b"\n")
    i = 0
    while i < len(lines) and (lines[i].startswith(b"Return-Path:") or
                              lines[i].startswith(b"Received:") or
                              lines[i][:1] in (b"\t", b" ")):
        i += 1
    return b"\n".join(lines[i:])
