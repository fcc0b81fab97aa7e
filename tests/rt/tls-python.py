#!/usr/bin/python3
"""tls-python.py: Python's ssl module (OpenSSL underneath, with TLS 1.3
enabled, as most clients are) against our TLS server, `tls-tool serve`.
The client verifies the chain and the name, sends a line, expects it
back and a clean close; the suite it reports must be the one our server
logged.  A client that insists on TLS 1.3 must be refused."""

import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check import TOP_BUILDDIR, TOP_SRCDIR, check, finish, skip  # noqa: E402

tool = os.path.join(TOP_BUILDDIR, "tests", "rt", "tls-tool")


def serve(certs, chain, key):
    """Start our server for one connection; return (process, port)."""
    p = subprocess.Popen([tool, "serve", "-n", "1",
                          os.path.join(certs, chain),
                          os.path.join(certs, key)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    ready, _, _ = select.select([p.stdout], [], [], 10)
    line = p.stdout.readline() if ready else ""
    if not line.startswith("port "):
        p.kill()
        raise RuntimeError("server did not start: %r" % line)
    return p, int(line.split()[1])


def server_line(p):
    out, _ = p.communicate(timeout=10)
    lines = [l for l in out.splitlines() if l.startswith("conn ")]
    return lines[0] if lines else "(nothing)"


def echo(certs, chain, key, hostname, sni):
    p, port = serve(certs, chain, key)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(certs, "ca.crt"))
    line = ("hello from python " + "x" * 900 + "\n").encode()
    label = "%s as %s" % (chain, hostname)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname=hostname) as t:
                version, suite = t.version(), t.cipher()[0]
                t.sendall(line)
                got = b""
                while not got.endswith(b"\n"):
                    chunk = t.recv(4096)
                    if not chunk:
                        break
                    got += chunk
                rest = t.recv(4096)     # our close_notify: b""
    except (OSError, ssl.SSLError) as e:
        check(False, "%s: %s; server: %s" % (label, e, server_line(p)))
        return
    srv = server_line(p)
    want = "conn %s %s sni=%s" % (version, suite, sni)
    if got != line:
        check(False, "%s: echo %r" % (label, got[:40]))
    elif rest != b"":
        check(False, "%s: data after the echo: %r" % (label, rest[:40]))
    elif version != "TLSv1.2":
        check(False, "%s: version %s" % (label, version))
    elif srv != want:
        check(False, "%s: server says %r, python %r" % (label, srv, want))
    else:
        check(True, "%s: verified, echoed, clean close; %s" % (label, srv))


def tls13_only(certs):
    p, port = serve(certs, "ec-chain.crt", "ec.key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(certs, "ca.crt"))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname="localhost"):
                pass
        check(False, "TLS 1.3 only client: handshake succeeded")
    except ssl.SSLError as e:
        srv = server_line(p)
        if srv.startswith("conn error: "):
            check(True, "TLS 1.3 only client refused (%s); %s"
                  % (e.reason, srv))
        else:
            check(False, "TLS 1.3 only client: server says %r" % srv)


def main():
    if not os.access(tool, os.X_OK) or shutil.which("openssl") is None:
        skip("no tls-tool or openssl")
    tmp = tempfile.mkdtemp(prefix="tls-python.")
    try:
        certs = os.path.join(tmp, "certs")
        subprocess.run(["sh", os.path.join(TOP_SRCDIR, "tests", "certs",
                                           "make-certs.sh"), certs],
                       check=True)
        echo(certs, "ec-chain.crt", "ec.key", "localhost", "localhost")
        echo(certs, "rsa-chain.crt", "rsa.key", "mx.sf.example",
             "mx.sf.example")
        echo(certs, "ec-chain.crt", "ec-sec1.key", "127.0.0.1", "")
        echo(certs, "rsa-chain.crt", "rsa-pkcs1.key", "localhost",
             "localhost")
        tls13_only(certs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
