"""
smtpc_lib: what the outbound tests (tests/rt/smtpc-*.py) share:
throw-away certificates, running the tests/unit/smtpc_drive program
and reading its results and protocol log, and a scripted SMTP server (one thread, blocking sockets, TLS
through Python's ssl module) whose dialogue each test writes as a
function, so that a next hop can misbehave in exactly one way.

Everything listens on 127.0.0.1 only, and every wait is bounded.
Not a test itself (no #! line, not in TESTS).
"""
import base64
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from check import (TOP_BUILDDIR, TOP_SRCDIR, check, error,  # noqa: F401
                   finish, free_port, run, skip)

DRIVE = os.path.join(TOP_BUILDDIR, "tests", "unit", "smtpc_drive")

# The message smtpc_drive spools when no -m is given (keep in step).
DEFAULT_BODY = (b"From: Alice <alice@example.net>\r\n"
                b"To: Bob <bob@example.org>\r\n"
                b"Subject: smtpc test\r\n"
                b"Message-ID: <smtpc-drive@example.net>\r\n"
                b"\r\n"
                b"Hello Bob,\r\n"
                b".a line that starts with a dot\r\n"
                b"..and one with two\r\n"
                b".\r\n"
                b"\r\n"
                b"the end.\r\n")


class Scratch:
    """A temporary folder, with test certificates made on demand."""

    def __init__(self, tag):
        base = os.environ.get("TMPDIR", "/tmp")
        self.dir = tempfile.mkdtemp(prefix="%s." % tag, dir=base)
        self._certs = None

    def certs(self):
        if self._certs is None:
            d = os.path.join(self.dir, "certs")
            r = subprocess.run(["sh", os.path.join(TOP_SRCDIR, "tests",
                                                   "certs", "make-certs.sh"),
                                d], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=120)
            if r.returncode != 0:
                skip("cannot make certificates: %s" % r.stdout[-300:])
            self._certs = d
        return self._certs

    def server_ctx(self, chain="ec-chain.crt", key="ec.key"):
        c = self.certs()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(c, chain), os.path.join(c, key))
        return ctx

    def path(self, name):
        return os.path.join(self.dir, name)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Result:
    """What smtpc_drive printed and logged."""

    def __init__(self, rc, out, err, log):
        self.rc = rc
        self.out = out
        self.err = err
        self.log = log
        self.rcpts = {}
        self.peer = None
        for line in out.splitlines():
            if line.startswith("rcpt\t"):
                f = line.split("\t", 5)
                while len(f) < 6:
                    f.append("")
                self.rcpts[f[1]] = {"result": f[2], "status": f[3],
                                    "source": f[4], "text": f[5]}
            elif line.startswith("peer "):
                self.peer = line[5:]

    def result(self, addr="bob@example.org"):
        return self.rcpts.get(addr, {}).get("result", "(none)")

    def text(self, addr="bob@example.org"):
        return self.rcpts.get(addr, {}).get("text", "")

    def status(self, addr="bob@example.org"):
        return self.rcpts.get(addr, {}).get("status", "")

    def show(self):
        return "rc=%d out=%r err=%r log=...%s" % (
            self.rc, self.out[-600:], self.err[-300:], self.log[-1500:])


def drive(scratch, targets, opts=(), timeout=90):
    """Run smtpc_drive; return its Result."""
    log = scratch.path("protocol-%d.log" % time.monotonic_ns())
    args = [DRIVE, "-l", log] + list(opts) + list(targets)
    env = dict(os.environ)
    env["TMPDIR"] = scratch.dir
    try:
        r = subprocess.run(args, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, env=env)
        rc, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = -1, e.stdout or b"", (e.stderr or b"") + b" TIMEOUT"
    try:
        with open(log, "rb") as f:
            text = f.read().decode("ascii", "replace")
    except OSError:
        text = ""
    res = Result(rc, out.decode("utf-8", "replace"),
                 err.decode("utf-8", "replace"), text)
    # Whatever the case, the program itself must end well (a sanitizer
    # report makes it exit non-zero after its output).
    if rc != 0:
        check(False, "smtpc_drive %s exited %d" % (" ".join(targets), rc),
              res.err[-2000:])
    return res


# ---- a scripted server ---------------------------------------------------


class Closed(Exception):
    pass


class Conn:
    """One accepted connection, seen from the server's script."""

    def __init__(self, sock, server):
        self.sock = sock
        self.server = server
        self.buf = b""
        self.lines = []         # every line received (commands, data)
        self.tls = False
        self.mails = []         # (sender, [rcpts], body) per message
        self.auth = None
        sock.settimeout(server.timeout)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def recv_some(self):
        try:
            d = self.sock.recv(65536)
        except (socket.timeout, ssl.SSLError, OSError):
            raise Closed()
        if not d:
            raise Closed()
        self.buf += d
        return d

    def readline(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 100000:
                raise Closed()
            self.recv_some()
        line, self.buf = self.buf.split(b"\r\n", 1)
        self.lines.append(line)
        return line

    def expect(self, verb):
        line = self.readline()
        if isinstance(verb, str):
            verb = verb.encode()
        if not line.upper().startswith(verb.upper()):
            self.server.errors.append("wanted %s, got %r" % (verb, line))
            raise Closed()
        return line

    def starttls(self, ctx=None):
        if self.buf:
            self.server.errors.append("client sent %r behind STARTTLS"
                                      % self.buf)
        ctx = ctx or self.server.ctx
        self.sock = ctx.wrap_socket(self.sock, server_side=True)
        self.tls = True

    def read_data(self):
        """DATA content up to the dot, unstuffed, as bytes."""
        out = []
        while True:
            line = self.readline()
            if line == b".":
                return b"".join(out)
            if line.startswith(b"."):
                line = line[1:]
            out.append(line + b"\r\n")

    def smtp(self, ext=("PIPELINING", "8BITMIME", "SIZE 1000000"),
             greet=True, data_reply=b"250 2.0.0 Ok: queued as X",
             rcpt_reply=None, helo_ext=True):
        """A plain, correct server from the greeting (or after TLS)."""
        if greet:
            self.send(b"220 scripted.test ESMTP\r\n")
        sender, rcpts = None, []
        while True:
            line = self.readline()
            verb = line[:4].upper()
            if verb == b"EHLO":
                lines = [b"scripted.test"] + [e.encode() for e in ext]
                out = b""
                for i, l in enumerate(lines):
                    sep = b" " if i == len(lines) - 1 else b"-"
                    out += b"250" + sep + l + b"\r\n"
                self.send(out)
            elif verb == b"HELO":
                self.send(b"250 scripted.test\r\n")
            elif verb == b"MAIL":
                sender, rcpts = line, []
                self.send(b"250 2.1.0 Ok\r\n")
            elif verb == b"RCPT":
                r = rcpt_reply(line) if rcpt_reply else None
                if r is None:
                    rcpts.append(line)
                    r = b"250 2.1.5 Ok"
                self.send(r + b"\r\n")
            elif verb == b"DATA":
                if not rcpts:
                    self.send(b"554 5.5.1 No valid recipients\r\n")
                    continue
                self.send(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                body = self.read_data()
                self.mails.append((sender, rcpts, body))
                self.send(data_reply + b"\r\n")
            elif verb == b"RSET" or verb == b"NOOP":
                self.send(b"250 2.0.0 Ok\r\n")
            elif verb == b"QUIT":
                self.send(b"221 2.0.0 Bye\r\n")
                return
            else:
                self.send(b"502 5.5.2 Error: command not recognized\r\n")


class Server:
    """Accept up to n connections on 127.0.0.1, run script(conn) on each."""

    def __init__(self, script, n=1, ctx=None, timeout=20):
        self.script = script
        self.ctx = ctx
        self.timeout = timeout
        self.conns = []
        self.errors = []
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.lsock.settimeout(timeout)
        self.port = self.lsock.getsockname()[1]
        self.n = n
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        for _ in range(self.n):
            try:
                s, _ = self.lsock.accept()
            except OSError:
                break
            c = Conn(s, self)
            self.conns.append(c)
            try:
                self.script(c)
            except Closed:
                pass
            except Exception as e:      # a bug in the script: say so
                self.errors.append("script: %r" % e)
            try:
                c.sock.close()
            except OSError:
                pass
        self.lsock.close()

    def wait(self):
        self.thread.join(self.timeout + 5)

    def target(self, name=None):
        t = "127.0.0.1:%d" % self.port
        return "%s=%s" % (name, t) if name else t

    def all_lines(self):
        return [l for c in self.conns for l in c.lines]

    def mails(self):
        return [m for c in self.conns for m in c.mails]

    def saw(self, verb):
        return any(l.upper().startswith(verb.upper().encode())
                   for l in self.all_lines())


def b64(s):
    return base64.b64encode(s if isinstance(s, bytes) else s.encode())
