#!/usr/bin/python3
# doc/spool-format.md against the code: have runtime/store/spool.c write the
# document's example message (tests/unit/spool_test --sample), then read
# it with a reader written from the document alone, and compare it with
# the document's hex dump byte for byte.
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check import TOP_BUILDDIR, TOP_SRCDIR, check, finish, skip  # noqa: E402

prog = os.path.join(TOP_BUILDDIR, "tests", "unit", "spool_test")
doc = os.path.join(TOP_SRCDIR, "doc", "spool-format.md")


def u(b, off, n):
    return int.from_bytes(b[off:off + n], "little")


def read_spool(d):
    """A version 1 reader, from doc/spool-format.md."""
    if len(d) < 64:
        raise ValueError("short header")
    if d[0:8] != b"BSPOOL\r\n":
        raise ValueError("magic")
    if u(d, 8, 2) != 1 or u(d, 10, 2) != 64:
        raise ValueError("version or header size")
    if d[12] > 3 or d[13] & ~1 or u(d, 14, 2) or u(d, 60, 4):
        raise ValueError("flags or reserved")
    if u(d, 56, 4) != 1:
        raise ValueError("not committed")
    body_off, body_len, nrcpt = u(d, 32, 8), u(d, 40, 8), u(d, 48, 4)
    if not 64 <= body_off <= len(d) or body_len != len(d) - body_off:
        raise ValueError("body bounds")
    if not 1 <= nrcpt <= 10000:
        raise ValueError("nrcpt")
    crc = zlib.crc32(d[0:32])
    env = {}
    rcpts = []
    off = 64
    fields = [("S", 64), ("C", 64), ("H", 255), ("A", 256), ("F", 256),
              ("P", 512)]
    for i in range(6 + nrcpt):
        if body_off - off < 6:
            raise ValueError("record past body")
        tag, st, l1, l2 = chr(d[off]), d[off + 1], u(d, off + 2, 2), \
            u(d, off + 4, 2)
        if off + 6 + l1 + l2 > body_off:
            raise ValueError("record past body")
        v1 = d[off + 6:off + 6 + l1]
        v2 = d[off + 6 + l1:off + 6 + l1 + l2]
        if any(c < 0x20 or c == 0x7f for c in v1 + v2):
            raise ValueError("control byte")
        if i < 6:
            if tag != fields[i][0] or st != 0 or l2 != 0 or \
                    l1 > fields[i][1]:
                raise ValueError("envelope record %d" % i)
            env[tag] = v1.decode()
        else:
            if tag != "R" or st not in b"PDF" or not 1 <= l1 <= 256 or \
                    l2 > 512:
                raise ValueError("recipient record")
            rcpts.append((v1.decode(), v2.decode(), chr(st)))
        crc = zlib.crc32(d[off:off + 1] + b"\0" + d[off + 2:off + 6 + l1 + l2],
                         crc)
        off += 6 + l1 + l2
    if off != body_off:
        raise ValueError("records end before the body")
    if crc != u(d, 52, 4):
        raise ValueError("checksum")
    return {
        "body_type": d[12], "flags": d[13], "received": u(d, 16, 8),
        "size": u(d, 24, 8), "env": env, "rcpts": rcpts,
        "body": d[body_off:],
    }


def doc_dump():
    """The bytes of the hex dump in the document's example."""
    text = open(doc, encoding="utf-8").read()
    ex = text[text.index("## Example"):]
    out = bytearray()
    for line in ex.splitlines():
        m = re.match(r"^[0-9a-f]{8}  ((?:[0-9a-f]{2} {1,2})+)", line)
        if m:
            out += bytes(int(h, 16) for h in m.group(1).split())
    return bytes(out)


def main():
    if not os.access(prog, os.X_OK):
        skip("no %s" % prog)
    tmp = tempfile.mkdtemp(prefix="spool_format.")
    try:
        r = subprocess.run([prog, "--sample", os.path.join(tmp, "spool")],
                           capture_output=True, text=True)
        check(r.returncode == 0, "sample", r.stderr)
        path = r.stdout.strip()
        check(re.search(r"/queue/[0-9a-f]{22}$", path) is not None,
              "queue id in " + path)
        data = open(path, "rb").read()
        m = read_spool(data)
        check(m["received"] == 1700000000, "received")
        check(m["env"] == {"S": "s1", "C": "192.0.2.1:4000",
                           "H": "c.example", "A": "", "F": "bob@x.example",
                           "P": ""}, "envelope %r" % m["env"])
        check(m["rcpts"] == [("one@sf.example", "", "P")],
              "recipients %r" % m["rcpts"])
        check(m["body"] == b"Received: x\r\n\r\nhi\r\n", "body")
        check(data == doc_dump(), "file matches the document's hex dump")

        # The reader agrees with the code on damage: flip a status byte
        # (allowed), then an envelope byte (caught by the checksum).
        flipped = bytearray(data)
        flipped[0x8b] = ord("D")
        check(read_spool(bytes(flipped))["rcpts"][0][2] == "D",
              "status flip keeps the checksum")
        flipped[0x46] ^= 1
        try:
            read_spool(bytes(flipped))
            check(False, "damage not detected")
        except ValueError as e:
            check(str(e) == "checksum", "damage: %s" % e)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


main()
