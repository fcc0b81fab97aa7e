"""
Test harness for bastiond: a site is a temporary folder with a policy,
certificates, a compiled table and a running bastiond in the foreground,
stopped by process id.  Clients are real ones (smtplib, ssl, swaks,
openssl s_client) or raw sockets for scripted dialogues.  Everything
talks to 127.0.0.0/8 or ::1 only, and every wait is bounded.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TOP_SRCDIR = os.environ.get("top_srcdir", os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..")))
TOP_BUILDDIR = os.environ.get("top_builddir", TOP_SRCDIR)
POLICYC = os.environ.get("POLICYC", os.path.join(TOP_BUILDDIR, "policyc"))
BASTIOND = os.environ.get("BASTIOND", os.path.join(TOP_BUILDDIR, "bastiond"))

failures = 0
checks = 0


def check(cond, what, detail=""):
    """Record one assertion; print it so the log shows what was seen."""
    global failures, checks
    checks += 1
    if cond:
        print("ok   %s" % what)
    else:
        failures += 1
        print("FAIL %s %s" % (what, detail))
    sys.stdout.flush()
    return cond


def finish():
    print("%d checks, %d failed" % (checks, failures))
    sys.exit(1 if failures else 0)


def skip(why):
    print("SKIP: %s" % why)
    sys.exit(77)


def free_port(host="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


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

    def start(self, ports, extra=(), wait=True):
        """Run bastiond -f; wait until every (host, port) accepts."""
        args = [BASTIOND, "-f", "-t", self.table]
        if self.keyfile:
            args += ["-k", self.keyfile]
        args += list(extra)
        self.err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.err, stderr=self.err,
                                     stdin=subprocess.DEVNULL, cwd=self.dir)
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
                        s.recv(512)
                    break
                except OSError:
                    if time.time() > deadline:
                        raise RuntimeError("bastiond does not listen on %s:%d"
                                           % (host, port))
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

    def cleanup(self):
        self.stop()
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


def expect(reply, pattern, what):
    return check(re.match(pattern, reply or "", re.S) is not None, what,
                 "(got %r)" % reply)
