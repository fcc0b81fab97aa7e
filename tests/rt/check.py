"""
check: what every Python test in tests/rt shares to say what it saw:
one line per assertion ("ok   WHAT" or "FAIL WHAT DETAIL"), a count at
the end, and the exit status automake reads (0 pass, 1 fail, 77 skip,
99 hard error).  Also where the trees and the programs are, from the
environment `make check` sets, and a free loopback port.
Not a test itself (no #! line, not in TESTS).
"""
import os
import socket
import sys
import threading
import traceback

TOP_SRCDIR = os.environ.get("top_srcdir", os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..")))
TOP_BUILDDIR = os.environ.get("top_builddir", TOP_SRCDIR)
POLICYC = os.environ.get("POLICYC", os.path.join(TOP_BUILDDIR, "policyc"))
BASTIOND = os.environ.get("BASTIOND", os.path.join(TOP_BUILDDIR, "bastiond"))

failures = 0
checks = 0
_lock = threading.Lock()


def check(cond, what, detail=""):
    """Record one assertion; print it so the log shows what was seen.
    Tests may call it from several client threads at once."""
    global failures, checks
    with _lock:
        checks += 1
        if cond:
            print("ok   %s" % what)
        else:
            failures += 1
            print("FAIL %s %s" % (what, detail))
        sys.stdout.flush()
    return cond


def finish():
    """Print the count and exit: 1 if any check failed."""
    print("%d checks, %d failed" % (checks, failures))
    sys.stdout.flush()
    sys.exit(1 if failures else 0)


def skip(why):
    print("SKIP: %s" % why)
    sys.stdout.flush()
    sys.exit(77)


def error(why):
    """Something the test needs is missing or broken: not a pass, not a
    skip, but a hard error (99) that says what to do."""
    print("ERROR: %s" % why)
    sys.stdout.flush()
    sys.exit(99)


def run(main):
    """Run main(), count an exception as a failure, then finish()."""
    global failures
    try:
        main()
    except Exception:
        traceback.print_exc()
        with _lock:
            failures += 1
    finish()


def free_port(host="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


_closed = []


def closed_port(host="127.0.0.1"):
    """A port where a connect is refused for as long as the test runs:
    bound and never listened on, so that no other test running at the
    same time can take it (a port that free_port() found free may be
    some other server's a moment later)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((host, 0))
    _closed.append(s)
    return s.getsockname()[1]
