#!/usr/bin/python3
"""dns-dnsmasq.py: runtime/outbound/dns.c (through tests/unit/dns_drive) against
dnsmasq serving a made-up zone on 127.0.0.1 at a high port: MX records
ordered by preference (equal ones shuffled), a null MX, a domain with
no MX falling back to its address, NXDOMAIN, an MX host with no
address, address literals, REFUSED, a resolver that never answers and
one that is not there, a lookup cancelled in flight; then the whole
path: MX lookup, then delivery by smtpc to the exchanger, with `tls
verify' checking the MX host's name."""

import os
import shutil
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from smtpc_lib import (TOP_BUILDDIR, Scratch, Server, check, drive, finish,
                       skip)

DNS_DRIVE = os.path.join(TOP_BUILDDIR, "tests", "unit", "dns_drive")


def lookup(servers, *args, timeout=30):
    cmd = [DNS_DRIVE, "-s", servers] + list(args)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    out = r.stdout.decode()
    if r.returncode != 0:
        check(False, "dns_drive %s exited %d" % (" ".join(args),
                                                 r.returncode),
              r.stderr.decode()[-2000:])
    res, cur = {}, None
    for line in out.splitlines():
        if line.startswith("  "):
            res[cur]["addrs"].append(line.split())
        else:
            f = line.split(" ", 2)
            cur = f[0]
            res[cur] = {"status": f[1], "rest": f[2] if len(f) > 2 else "",
                        "addrs": []}
    return r.returncode, res, out + r.stderr.decode()


def main():
    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not os.access(dnsmasq, os.X_OK):
        skip("dnsmasq is not installed")
    sc = Scratch("dns-dnsmasq")
    port = harness.free_udp_port()
    args = [dnsmasq, "--no-daemon", "--port=%d" % port,
            "--listen-address=127.0.0.1", "--bind-interfaces",
            "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
            "--pid-file=", "--local=/test/", "--log-queries",
            "--log-facility=" + sc.path("dnsmasq.log"),
            "--mx-host=a.test,mx1.a.test,10",
            "--mx-host=a.test,mx2.a.test,5",
            "--host-record=mx1.a.test,127.0.0.11",
            "--host-record=mx2.a.test,127.0.0.12,::1",
            "--mx-host=eq.test,e1.eq.test,10",
            "--mx-host=eq.test,e2.eq.test,10",
            "--mx-host=eq.test,e3.eq.test,10",
            "--host-record=e1.eq.test,127.0.1.1",
            "--host-record=e2.eq.test,127.0.1.2",
            "--host-record=e3.eq.test,127.0.1.3",
            "--dns-rr=null.test,15,000000",
            "--host-record=plain.test,127.0.0.20",
            "--host-record=six.test,::1",
            "--mx-host=nomx.test,gone.test,10",
            "--mx-host=half.test,gone.test,5",
            "--mx-host=half.test,mx1.a.test,20",
            "--mx-host=e2e.test,mx.sf.example,10",
            "--mx-host=sf.example,mx.sf.example,10",
            "--host-record=mx.sf.example,127.0.0.1"]
    d = subprocess.Popen(args, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            if harness.dns_probe(port) or d.poll() is not None:
                break
            time.sleep(0.05)
        if d.poll() is not None:
            skip("dnsmasq did not start: %r" % d.stdout.read()[-300:])
        srv = "127.0.0.1:%d" % port

        rc, res, out = lookup(srv, "-n", "mx:a.test", "mx:null.test",
                              "mx:plain.test", "mx:nx.test", "mx:nomx.test",
                              "mx:half.test", "mx:six.test",
                              "host:mx2.a.test", "host:127.0.0.1",
                              "host:[::1]", "mx:[127.0.0.5]",
                              "mx:[IPv6:::1]", "mx:bad..name",
                              "mx:other.example", "cancel:a.test",
                              "mx:A.TEST.")
        check(rc == 0, "all lookups answered", out)
        a = res.get("mx:a.test", {})
        check(a.get("status") == "ok" and
              [x[0] for x in a["addrs"]] == ["127.0.0.12:25", "[::1]:25",
                                             "127.0.0.11:25"] and
              [x[3] for x in a["addrs"]] == ["mx2.a.test", "mx2.a.test",
                                             "mx1.a.test"],
              "MX: by preference, IPv4 then IPv6 per host", out)
        check(res.get("mx:A.TEST.", {}).get("addrs") == a.get("addrs"),
              "MX: case and a trailing dot do not matter")
        n = res.get("mx:null.test", {})
        check(n.get("status") == "permfail" and "5.1.10" in n["rest"] and
              "null MX" in n["rest"], "null MX: permanent, 5.1.10", out)
        p = res.get("mx:plain.test", {})
        check(p.get("status") == "ok" and p["addrs"] ==
              [["127.0.0.20:25", "pref", "0", "plain.test"]],
              "no MX: the domain's own address", out)
        x = res.get("mx:nx.test", {})
        check(x.get("status") == "permfail" and "NXDOMAIN" in x["rest"] and
              "5.1.2" in x["rest"], "NXDOMAIN: permanent", out)
        g = res.get("mx:nomx.test", {})
        check(g.get("status") == "permfail" and "gone.test" in g["rest"],
              "an MX host without an address: permanent", out)
        h = res.get("mx:half.test", {})
        check(h.get("status") == "ok" and [x[0] for x in h["addrs"]] ==
              ["127.0.0.11:25"], "a dead MX beside a live one: the live "
              "one", out)
        s6 = res.get("mx:six.test", {})
        check(s6.get("status") == "ok" and [x[0] for x in s6["addrs"]] ==
              ["[::1]:25"], "no MX, AAAA only: the IPv6 address", out)
        hm = res.get("host:mx2.a.test", {})
        check(hm.get("status") == "ok" and [x[0] for x in hm["addrs"]] ==
              ["127.0.0.12:25", "[::1]:25"], "host lookup: A and AAAA", out)
        check(res.get("host:127.0.0.1", {}).get("addrs") ==
              [["127.0.0.1:25", "pref", "0", "127.0.0.1"]] and
              res.get("host:[::1]", {}).get("addrs") ==
              [["[::1]:25", "pref", "0", "::1"]],
              "IP literals need no lookup", out)
        check(res.get("mx:[127.0.0.5]", {}).get("addrs") ==
              [["127.0.0.5:25", "pref", "0", "127.0.0.5"]] and
              res.get("mx:[IPv6:::1]", {}).get("addrs") ==
              [["[::1]:25", "pref", "0", "::1"]],
              "address literal domains go straight to the address", out)
        check(res.get("mx:bad..name", {}).get("status") == "permfail",
              "a malformed name: permanent", out)
        check(res.get("mx:other.example", {}).get("status") == "tempfail",
              "REFUSED: temporary", out)
        check("cancel:a.test cancelled" in out,
              "a lookup cancelled in flight is dropped quietly", out)

        # Equal preferences: shuffled (RFC 5321 5.1), -n keeps them.
        firsts, fixed = set(), set()
        for _ in range(12):
            rc, res, out = lookup(srv, "mx:eq.test")
            firsts.add(res.get("mx:eq.test", {}).get("addrs",
                                                     [[""]])[0][0])
            rc, res, out = lookup(srv, "-n", "mx:eq.test")
            fixed.add(res.get("mx:eq.test", {}).get("addrs",
                                                    [[""]])[0][0])
        check(len(firsts) > 1 and firsts <= {"127.0.1.1:25", "127.0.1.2:25",
                                              "127.0.1.3:25"},
              "equal preferences are shuffled", repr(firsts))
        check(len(fixed) == 1, "-n keeps the answer's order", repr(fixed))

        # A resolver that never answers, and one that is not there.
        mute = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        mute.bind(("127.0.0.1", 0))
        t0 = time.monotonic()
        rc, res, out = lookup("127.0.0.1:%d" % mute.getsockname()[1],
                              "-t", "200", "-r", "2", "mx:a.test")
        took = time.monotonic() - t0
        mute.close()
        m = res.get("mx:a.test", {})
        check(m.get("status") == "tempfail" and "4.4.3" in m["rest"] and
              took < 5, "a silent resolver: temporary (%.1f s)" % took, out)
        dead = harness.free_udp_port()
        rc, res, out = lookup("127.0.0.1:%d" % dead, "-t", "200", "-r", "1",
                              "mx:a.test")
        check(res.get("mx:a.test", {}).get("status") == "tempfail",
              "no resolver at all: temporary", out)

        # The whole path: MX lookup, then delivery to the exchanger.
        mail = Server(lambda c: c.smtp(), timeout=10)
        r = drive(sc, ["mx:e2e.test"], ["-s", srv, "-P", str(mail.port),
                                        "-T", "5000"])
        mail.wait()
        check(r.result() == "delivered" and r.peer == "mx.sf.example" and
              len(mail.mails()) == 1, "MX lookup then delivery", r.show())

        # tls verify checks the MX host's name against the certificate.
        def tls_peer(c):
            c.send(b"220 mx.sf.example ESMTP\r\n")
            c.expect("EHLO")
            c.send(b"250-mx.sf.example\r\n250 STARTTLS\r\n")
            c.expect("STARTTLS")
            c.send(b"220 go\r\n")
            c.starttls()
            c.smtp(greet=False)
        ctx = sc.server_ctx()
        mail = Server(tls_peer, ctx=ctx, timeout=10)
        r = drive(sc, ["mx:sf.example"], ["-s", srv, "-P", str(mail.port),
                                          "-T", "5000", "-t", "verify", "-A",
                                          os.path.join(sc.certs(), "ca.crt")])
        mail.wait()
        check(r.result() == "delivered" and "certificate verified" in r.log,
              "tls verify against the MX name mx.sf.example", r.show())
        with open(sc.path("dnsmasq.log"), "rb") as f:
            qlog = f.read().decode("ascii", "replace")
        check("query[MX] sf.example" in qlog and
              "query[A] mx.sf.example" in qlog,
              "the questions went to the local dnsmasq")
    finally:
        d.terminate()
        try:
            d.wait(5)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()
        sc.cleanup()
    finish()


main()
