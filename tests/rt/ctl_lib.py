"""
ctl_lib: what the bastionctl tests share: running bastionctl, talking
to the control socket by hand, and a parser of the Prometheus text
exposition format.  Not a test itself.
"""
import os
import re
import socket
import subprocess

from check import TOP_BUILDDIR

BASTIONCTL = os.environ.get("BASTIONCTL",
                            os.path.join(TOP_BUILDDIR, "bastionctl"))


def ctl(site, *args, sock=None, user=None, timeout=60):
    """Run bastionctl -t TABLE (or -s SOCK; neither if site is None)
    ARGS; (status, out, err).  user: run it as that user (runuser)."""
    cmd = [BASTIONCTL] + (["-s", sock] if sock else
                          ["-t", site.table] if site else [])
    cmd += list(args)
    if user:
        cmd = ["runuser", "-u", user, "--"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def raw(path, data, read=True, timeout=10):
    """Send data on the control socket; the whole answer, as bytes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass            # turned away at once: the answer says why
    got = b""
    if read:
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got += d
        except (socket.timeout, ConnectionResetError):
            pass
    s.close()
    return got


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?'
                    r' (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)( -?[0-9]+)?$')
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def prometheus(text):
    """Parse the text exposition format.  Returns (samples, problems):
    samples maps (name, frozenset of label pairs) to a float; every
    sample's metric family must have had its # HELP and # TYPE first,
    once, and a counter's name must end in _total."""
    samples, problems = {}, []
    helps, types = {}, {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            f = line.split(None, 3)
            if len(f) >= 3 and f[1] in ("HELP", "TYPE"):
                d = helps if f[1] == "HELP" else types
                if f[2] in d:
                    problems.append("line %d: a second %s for %s"
                                    % (n, f[1], f[2]))
                d[f[2]] = f[3] if len(f) > 3 else ""
                if f[1] == "TYPE" and d[f[2]] not in (
                        "counter", "gauge", "histogram", "summary",
                        "untyped"):
                    problems.append("line %d: bad type" % n)
            continue
        m = SAMPLE.match(line)
        if not m:
            problems.append("line %d: not a sample: %r" % (n, line))
            continue
        name, labels = m.group(1), {}
        if m.group(3):
            rest = m.group(3)
            while rest:
                lm = LABEL.match(rest)
                if not lm:
                    problems.append("line %d: bad labels" % n)
                    break
                labels[lm.group(1)] = lm.group(2)
                rest = rest[lm.end():]
        if name not in helps or name not in types:
            problems.append("line %d: %s before its HELP and TYPE"
                            % (n, name))
        elif types[name] == "counter" and not name.endswith("_total"):
            problems.append("line %d: counter %s without _total"
                            % (n, name))
        key = (name, frozenset(labels.items()))
        if key in samples:
            problems.append("line %d: a second sample %r" % (n, key))
        samples[key] = float(m.group(4))
    return samples, problems


def sample(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))
