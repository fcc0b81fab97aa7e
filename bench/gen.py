#!/usr/bin/python3
"""
gen: the synthetic policies the table benchmark compiles and queries.

One random generation (fixed seed) of nested IPv4 and IPv6 prefixes,
written out at several sizes: "big" (every prefix) and the first N of
them for the smaller sets, so that the small tables are prefixes of the
big one in generation order (parents are always generated before their
children, so every subset is nested too).  Each size gets:

  SIZE.policy          server block, users, four lists, single host rules
  SIZE-deny.txt ...    the list files the policy references
  SIZE.rules           "PREFIX/LEN LABEL LINE", most specific first:
                       the same rules for the linear-scan comparison
  SIZE.cidr            the same rules as a Postfix cidr table (small sets)

No prefix appears twice (the compiler rejects the same prefix with two
effects and warns on duplicates) and host bits are always clear.  Relay
rules only ever take small prefixes, so the policy is never an open
relay.  Standard library only: it runs on a bare Debian python3.
"""

import argparse
import base64
import hashlib
import hmac
import os
import random
import socket
import sys
import time

V4_MASKS = [((1 << 32) - 1) ^ ((1 << (32 - n)) - 1) for n in range(33)]
V6_ALL = (1 << 128) - 1
V6_MASKS = [V6_ALL ^ ((1 << (128 - n)) - 1) for n in range(129)]

# The effects a prefix can get: list name, policy clause, Postfix value.
EFFECTS = {
    "deny": ("blocked", "deny", "REJECT"),
    "tls": ("tlsonly", "require tls", "require_tls"),
    "authtls": ("partners", "require auth+tls", "require_auth_tls"),
    "relay": ("relayers", "relay", "relay_ok"),
}
# Only single host rules use this one: auth+tls restricted to one account.
AS_EFFECT = ("require auth+tls as \"partner1\"", "require_auth_tls_partner1")

SMALL_V4 = 24       # relay only on prefixes at least this long
SMALL_V6 = 56


def scram_verifier(password, salt, iterations=4096):
    """An RFC 5802 SCRAM-SHA-256 verifier in the form the policy takes."""
    salted = hashlib.pbkdf2_hmac("sha256", password, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode("ascii")
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, b64(salt),
                                          b64(stored_key), b64(server_key))


def pick_len(rng, table):
    """A prefix length drawn from [(weight, lo, hi), ...]."""
    r = rng.random()
    for weight, lo, hi in table:
        if r < weight:
            return rng.randint(lo, hi)
        r -= weight
    return table[-1][2]


V4_FRESH = [(0.02, 8, 15), (0.28, 16, 23), (0.35, 24, 24),
            (0.10, 25, 31), (0.25, 32, 32)]
V6_FRESH = [(0.10, 19, 32), (0.40, 33, 48), (0.35, 49, 64),
            (0.10, 65, 127), (0.05, 128, 128)]


def gen_v4(rng, n, nest):
    """n distinct IPv4 prefixes (net, len); about nest of them children."""
    seen = set()
    out = []
    while len(out) < n:
        if out and rng.random() < nest:
            pnet, plen = out[rng.randrange(len(out))]
            if plen >= 32:
                continue
            length = min(32, plen + rng.randint(1, 8))
            net = pnet | rng.getrandbits(32 - plen)
        else:
            length = pick_len(rng, V4_FRESH)
            # Unicast space only: 1.0.0.0 to 223.255.255.255, not 127/8.
            net = rng.getrandbits(32)
            first = net >> 24
            if first == 0 or first == 127 or first >= 224:
                continue
        net &= V4_MASKS[length]
        key = (net << 6) | length
        if key in seen:
            continue
        seen.add(key)
        out.append((net, length))
    return out


def gen_v6(rng, n, nest):
    """n distinct IPv6 prefixes inside 2000::/3 (global unicast)."""
    seen = set()
    out = []
    while len(out) < n:
        if out and rng.random() < nest:
            pnet, plen = out[rng.randrange(len(out))]
            if plen >= 128:
                continue
            if rng.random() < 0.1:
                length = 128
            else:
                length = min(128, plen + rng.randint(4, 16))
            net = pnet | rng.getrandbits(128 - plen)
        else:
            length = pick_len(rng, V6_FRESH)
            net = (1 << 125) | rng.getrandbits(125)
        net &= V6_MASKS[length]
        key = (net << 8) | length
        if key in seen:
            continue
        seen.add(key)
        out.append((net, length))
    return out


def assign(rng, prefixes, small):
    """An effect for each prefix; relay only for prefixes >= small."""
    eff = []
    for _, length in prefixes:
        r = rng.random()
        if r < 0.50:
            e = "deny"
        elif r < 0.70:
            e = "tls"
        elif r < 0.85:
            e = "authtls"
        elif length >= small:
            e = "relay"
        else:
            e = "deny"
        eff.append(e)
    return eff


def fmt4(net, length, bare):
    s = socket.inet_ntoa(net.to_bytes(4, "big"))
    return s if bare and length == 32 else "%s/%d" % (s, length)


def fmt6(net, length, bare):
    s = socket.inet_ntop(socket.AF_INET6, net.to_bytes(16, "big"))
    return s if bare and length == 128 else "%s/%d" % (s, length)


def write_size(outdir, name, v4, e4, v6, e6, singles, verifier, cidr):
    """Write NAME.policy, its list files and (small sets) rules + cidr."""
    lines = [
        "# %s: %d IPv4 and %d IPv6 prefixes, generated by bench/gen.py"
        % (name, len(v4), len(v6)),
        "server {",
        "    hostname \"bench.example\"",
        "    listen on 127.0.0.1 port 2525",
        "    tls certificate \"bench.crt\" key \"bench.key\"",
        "}",
        "default require none",
        "auth mechanisms scram-sha-256 plain",
        "user \"partner1\" \"%s\"" % verifier,
        "user \"partner2\" \"%s\"" % verifier,
    ]
    # Bucket the prefixes: list members by effect, single rules apart.
    members = {k: [] for k in EFFECTS}
    single_rules = []
    for fam, pre, eff, small, fmt in ((4, v4, e4, SMALL_V4, fmt4),
                                      (6, v6, e6, SMALL_V6, fmt6)):
        for i, (net, length) in enumerate(pre):
            s = singles.get((fam, i))
            if s is None:
                members[eff[i]].append(fmt(net, length, True))
            else:
                single_rules.append((fam, net, length, s, fmt))
    rule_line = {}
    for key, (lname, clause, _) in EFFECTS.items():
        if not members[key]:
            continue
        fname = "%s-%s.txt" % (name, key)
        with open(os.path.join(outdir, fname), "w") as f:
            f.write("# %s: %d prefixes\n" % (lname, len(members[key])))
            f.write("\n".join(members[key]))
            f.write("\n")
        lines.append("list %s file \"%s\"" % (lname, fname))
        lines.append("host <%s> %s" % (lname, clause))
        rule_line[key] = len(lines)
    single_line = []
    for fam, net, length, s, fmt in single_rules:
        clause = AS_EFFECT[0] if s == "as" else EFFECTS[s][1]
        lines.append("host %s %s" % (fmt(net, length, False), clause))
        single_line.append(len(lines))
    with open(os.path.join(outdir, name + ".policy"), "w") as f:
        f.write("\n".join(lines))
        f.write("\n")
    if not cidr:
        return
    # The same rules, most specific first: first match == longest match.
    rows = []
    for fam, pre, eff, fmt, bits in ((4, v4, e4, fmt4, 32),
                                     (6, v6, e6, fmt6, 128)):
        for i, (net, length) in enumerate(pre):
            if (fam, i) in singles:
                continue
            rows.append((bits - length, fmt(net, length, False),
                         EFFECTS[eff[i]][2], rule_line[eff[i]]))
    for (fam, net, length, s, fmt), line in zip(single_rules, single_line):
        label = AS_EFFECT[1] if s == "as" else EFFECTS[s][2]
        rows.append(((32 if fam == 4 else 128) - length,
                     fmt(net, length, False), label, line))
    rows.sort(key=lambda r: r[0])
    with open(os.path.join(outdir, name + ".rules"), "w") as f:
        for _, p, label, line in rows:
            f.write("%s %s %d\n" % (p, label, line))
    with open(os.path.join(outdir, name + ".cidr"), "w") as f:
        f.write("# %s as a Postfix cidr table, most specific first\n" % name)
        for _, p, label, _ in rows:
            f.write("%s %s\n" % (p, label))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("-o", "--outdir", required=True)
    ap.add_argument("--seed", type=int, default=20250101)
    ap.add_argument("--v4", type=int, default=1000000)
    ap.add_argument("--v6", type=int, default=200000)
    ap.add_argument("--sizes", default="1000,10000,100000",
                    help="total prefixes of the smaller sets")
    ap.add_argument("--nest", type=float, default=0.45,
                    help="share of prefixes drawn inside an earlier one")
    args = ap.parse_args()

    t0 = time.monotonic()
    rng = random.Random(args.seed)
    v4 = gen_v4(rng, args.v4, args.nest)
    v6 = gen_v6(rng, args.v6, args.nest)
    e4 = assign(rng, v4, SMALL_V4)
    e6 = assign(rng, v6, SMALL_V6)

    # A few prefixes become rules of their own instead of list members.
    singles = {}
    kinds = ["deny", "tls", "authtls", "as", "relay"]
    for fam, pre, count, small in ((4, v4, 64, SMALL_V4),
                                   (6, v6, 16, SMALL_V6)):
        for j, i in enumerate(sorted(rng.sample(range(len(pre)), count))):
            k = kinds[j % len(kinds)]
            if k == "relay" and pre[i][1] < small:
                k = "deny"
            singles[(fam, i)] = k
    # One of each kind early on, so the small sets have single rules too.
    early = {0: "as", 3: "tls", 5: "deny"}
    for i, k in early.items():
        if i < len(v4):
            singles[(4, i)] = k

    verifier = scram_verifier(b"bench-password", b"bastion-bench-salt")
    os.makedirs(args.outdir, exist_ok=True)
    write_size(args.outdir, "big", v4, e4, v6, e6, singles, verifier, False)
    total = args.v4 + args.v6
    for size in (int(s) for s in args.sizes.split(",") if s):
        n4 = size * args.v4 // total
        n6 = size - n4
        write_size(args.outdir, "p%d" % size, v4[:n4], e4[:n4],
                   v6[:n6], e6[:n6], singles, verifier, True)
    print("generated %d IPv4 + %d IPv6 prefixes (seed %d) in %.1f s"
          % (len(v4), len(v6), args.seed, time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
