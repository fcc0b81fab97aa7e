"""
out_lib: what the outbound integration tests (tests/rt/out_*.py) share.
bastiond runs as in tests/rt/harness.py (a Site: temporary folder,
policy, certificates, table, `bastiond -f` stopped by pid); the next
hops are real servers on 127.0.0.1: Python's aiosmtpd (STARTTLS, AUTH
PLAIN and LOGIN), Postfix's smtp-sink (unpacked by tools/deps),
dnsmasq serving MX and A records on a high port, and the scripted
servers of tests/rt/smtpc_lib.py for peers that misbehave on purpose.

Not a test itself (no #! line, not in TESTS).  Every server started
here is stopped by its process id or its thread; every wait is bounded.
"""
import logging
import os
import re
import smtplib
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import (POLICYC, TOP_BUILDDIR, TOP_SRCDIR, check,  # noqa: F401
                     error, free_port, skip)

# A password with characters that a careless encoder would mangle.
PASSWORD = "s3cret pass,with=odd:chars"
USER = "ims-sf"



def _sanitized():
    try:
        with open(os.path.join(TOP_BUILDDIR, "Makefile")) as f:
            return re.search(r"^SAN_CFLAGS = .*-fsanitize=", f.read(),
                             re.M) is not None
    except OSError:
        return False


# Under ASan/UBSan bastiond is several times slower: scale the waits.
SLOW = 3 if _sanitized() else 1


def seal(site, secret):
    """A sealed: token for secret, for the site's key (Site(key=True))."""
    r = subprocess.run([POLICYC, "seal", site.path("site.pub")],
                       input=secret + "\n", capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0:
        raise RuntimeError("policyc seal: " + r.stderr)
    return r.stdout.strip()


def server_block(port, extra="", hostname="gw.test.example", relay=True):
    """A server block listening on 127.0.0.1:port, with TLS, a trust
    store for `tls verify', the spool and the log in var/; loopback
    clients may relay unless relay is false; local.example is
    delivered to var/mail/USER."""
    return """server {
    hostname "%s"
    listen on 127.0.0.1 port %d
    tls certificate "certs/ec.crt" key "certs/ec.key"
    tls trust "certs/ca.crt"
    spool "var/spool"
    log "var/protocol.log"
%s}
default require none
%saccept for local.example deliver maildir "var/mail/%%u" recipients any
""" % (hostname, port, "".join("    %s\n" % l for l in extra.split("\n")
                               if l.strip()),
       "host 127.0.0.0/8 require none relay\n" if relay else "")


def message(tag, sender="alice@local.example", to="bob@remote.example",
            extra=b""):
    """A small message with awkward lines: dots, an empty line, 8-bit
    free, CRLF throughout."""
    return (b"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
            b"From: Alice <%s>\r\n"
            b"To: <%s>\r\n"
            b"Subject: outbound %s\r\n"
            b"Message-ID: <%s@local.example>\r\n"
            b"\r\n"
            b"Hello from %s.\r\n"
            b".a line that starts with a dot\r\n"
            b"..and one with two\r\n"
            b"\r\n"
            b"%sthe end.\r\n" % (sender.encode(), to.encode(), tag.encode(),
                                 tag.encode(), tag.encode(), extra))


def send(port, sender, rcpts, msg, ehlo="client.test.example",
         mail_options=()):
    """Submit one message to bastiond with smtplib; the refused dict."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
        c.ehlo(ehlo)
        return c.sendmail(sender, rcpts, msg, list(mail_options))


def send_null(port, rcpt, msg):
    """Submit one message from the null sender (MAIL FROM:<>)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
        c.ehlo("client.test.example")
        code, text = c.docmd("MAIL FROM:<>")
        if code != 250:
            return code, text
        code, text = c.docmd("RCPT TO:<%s>" % rcpt)
        if code != 250:
            return code, text
        return c.data(msg)


def strip_received(body):
    """A message as bastiond relayed it, without the Received: header it
    put first (with its continuation lines)."""
    if not body.startswith(b"Received:"):
        return body
    i = body.find(b"\r\n") + 2
    while 0 < i < len(body) and body[i:i + 1] in (b" ", b"\t"):
        i = body.find(b"\r\n", i) + 2
    return body[i:] if i > 1 else body


def queue_ids(site):
    """Queue ids in var/spool/queue."""
    d = site.path("var/spool/queue")
    try:
        return sorted(n for n in os.listdir(d) if not n.startswith("."))
    except OSError:
        return []


def wait_for(cond, timeout):
    """Poll cond() until it is true or timeout seconds pass."""
    deadline = time.time() + timeout * SLOW
    while True:
        v = cond()
        if v or time.time() > deadline:
            return v
        time.sleep(0.05)


def log_lines(site, sid=None):
    """Protocol log lines, split on the first six commas; of one queue
    id if sid is given."""
    out = []
    for line in site.log().splitlines():
        f = line.split(",", 6)
        if len(f) == 7 and (sid is None or f[1] == sid):
            out.append(f)
    return out


def alive(site):
    return check(site.proc is not None and site.proc.poll() is None,
                 "bastiond is still running", site.stderr()[-2000:])


# ---- aiosmtpd -------------------------------------------------------------


class _Handler:
    """Records what arrives at an aiosmtpd peer."""

    def __init__(self, data_reply, rcpt_reply):
        self.mails = []
        self.mail_cmds = 0
        self.auth = []
        self.data_reply = data_reply
        self.rcpt_reply = rcpt_reply

    async def handle_MAIL(self, server, session, envelope, address,
                          mail_options):
        self.mail_cmds += 1
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if self.rcpt_reply:
            r = self.rcpt_reply(address)
            if r:
                return r
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.mails.append({"from": envelope.mail_from,
                           "to": list(envelope.rcpt_tos),
                           "options": list(envelope.mail_options),
                           "body": envelope.original_content,
                           "tls": session.ssl is not None,
                           "auth": session.auth_data})
        return self.data_reply


class AioPeer:
    """An aiosmtpd server on 127.0.0.1 (a thread of this process):
    STARTTLS with the site's certificate when tls, AUTH PLAIN and
    LOGIN (required, inside TLS only) for USER/PASSWORD when auth."""

    def __init__(self, site=None, tls=False, auth=False, port=None,
                 data_reply="250 2.0.0 Ok: queued as AIO1", rcpt_reply=None,
                 host="127.0.0.1"):
        try:
            from aiosmtpd.controller import Controller
            from aiosmtpd.smtp import AuthResult
        except ImportError:
            skip("python3-aiosmtpd is not installed")
        logging.getLogger("mail.log").setLevel(logging.CRITICAL)
        self.handler = h = _Handler(data_reply, rcpt_reply)
        self.port = port or free_port(host)
        args = dict(hostname=host, port=self.port, decode_data=False,
                    ident="aiosmtpd.test ESMTP")
        if tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(site.path("certs/ec.crt"),
                                site.path("certs/ec.key"))
            args["tls_context"] = ctx
        if auth:
            def authenticator(server, session, envelope, mechanism, data):
                login = data.login.decode() if data.login else ""
                pw = data.password.decode() if data.password else ""
                h.auth.append((mechanism, login, pw))
                return AuthResult(success=login == USER and pw == PASSWORD,
                                  handled=False, auth_data=login)
            args["authenticator"] = authenticator
            args["auth_required"] = True
            args["auth_require_tls"] = True
        self.ctl = Controller(h, **args)
        self.ctl.start()

    @property
    def mails(self):
        return self.handler.mails

    def stop(self):
        if self.ctl is not None:
            self.ctl.stop()
            self.ctl = None


# ---- dnsmasq --------------------------------------------------------------


class Dnsmasq:
    """dnsmasq on 127.0.0.1 at a high port, answering for *.example and
    *.test from the records given (dnsmasq options such as
    "--mx-host=a.example,mx.a.example,10"), refusing the rest.  env()
    is what bastiond needs in its environment to use it."""

    def __init__(self, folder, records):
        exe = "/usr/sbin/dnsmasq"
        if not os.access(exe, os.X_OK):
            skip("dnsmasq is not installed")
        self.port = harness.free_udp_port()
        self.logfile = os.path.join(folder, "dnsmasq.log")
        args = [exe, "--no-daemon", "--port=%d" % self.port,
                "--listen-address=127.0.0.1", "--bind-interfaces",
                "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                "--pid-file=", "--local=/test/", "--local=/example/",
                "--log-queries", "--log-facility=" + self.logfile]
        self.p = subprocess.Popen(args + list(records),
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        for _ in range(100):
            if harness.dns_probe(self.port) or self.p.poll() is not None:
                break
            time.sleep(0.05)
        if self.p.poll() is not None:
            skip("dnsmasq did not start: %r" % self.p.stdout.read()[-300:])

    def env(self):
        return {"BASTION_RESOLVERS": "127.0.0.1:%d" % self.port}

    def queries(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)


# ---- smtp-sink ------------------------------------------------------------


def sink_root():
    """The folder where tools/deps unpacked Postfix (bench/peer.sh says
    where); a hard error when it is not there: nothing is fetched here."""
    env = dict(os.environ, top_srcdir=TOP_SRCDIR, top_builddir=TOP_BUILDDIR)
    r = subprocess.run(["sh", "-c", '. "$top_srcdir/bench/peer.sh" && '
                        'peer_root smtp-sink || :; echo "$PEER_MISSING"'],
                       env=env, capture_output=True, text=True, timeout=30)
    lines = r.stdout.splitlines()
    if len(lines) == 2 and os.path.isdir(lines[0]):
        return lines[0]
    error("smtp-sink: %s" % (lines[-1] if lines else r.stderr))


class Sink:
    """Postfix's smtp-sink on 127.0.0.1, dumping each message into a
    folder (-d); as root it must drop to nobody (-u nobody)."""

    def __init__(self, root, folder, *opts):
        self.port = free_port()
        self.dump = os.path.join(folder, "dump%d" % self.port)
        os.mkdir(self.dump)
        os.chmod(folder, 0o711)
        os.chmod(self.dump, 0o777)
        args = [os.path.join(root, "usr", "sbin", "smtp-sink")]
        if os.geteuid() == 0:
            args += ["-u", "nobody"]
        args += ["-d", self.dump + "/%M."] + list(opts)
        args += ["127.0.0.1:%d" % self.port, "64"]
        env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(
            root, "usr", "lib", "postfix"))
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, env=env)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return
            except OSError:
                if self.p.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        skip("smtp-sink did not start")

    def dumps(self):
        out = []
        for n in sorted(os.listdir(self.dump)):
            with open(os.path.join(self.dump, n), "rb") as f:
                out.append(f.read())
        return out

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)


def split_sink_dump(d):
    """smtp-sink's dump: its X- envelope headers, then the message as it
    arrived (LF line ends), without smtp-sink's own Received: header."""
    rest = d.split(b"\n")
    head, i = [], 0
    while i < len(rest) and rest[i].startswith(b"X-"):
        head.append(rest[i])
        i += 1
    if i < len(rest) and rest[i].startswith(b"Received:"):
        i += 1
        while i < len(rest) and rest[i][:1] in (b" ", b"\t"):
            i += 1
    msg = b"\n".join(rest[i:])
    return head, msg[:-1] if msg.endswith(b"\n\n") else msg


def grep(pattern, text):
    return re.search(pattern, text, re.M) is not None
