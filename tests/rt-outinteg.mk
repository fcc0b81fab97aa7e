# tests/rt-outinteg.mk: bastiond's outbound side end to end, with real
# peers on loopback: aiosmtpd (STARTTLS, AUTH), Postfix's smtp-sink,
# dnsmasq for MX lookups, scripted hostile next hops; bounces read
# back from Maildirs; retries across restarts; a big queue of deferred
# mail that waits without cost; kill -9 in the middle of outbound
# sessions; sessions kept and reused under a backlog.  Also msmtp and
# curl as inbound clients.  Each script starts its own bastiond and
# peers and stops them by process id (helpers in tests/rt/out_lib.py).
TESTS += tests/rt/out_peers.py
TESTS += tests/rt/out_sink.py
TESTS += tests/rt/out_clients.py
TESTS += tests/rt/out_hostile.py
TESTS += tests/rt/out_bounce.py
TESTS += tests/rt/out_retry.py
TESTS += tests/rt/out_schedule.py
TESTS += tests/rt/out_crash.py
TESTS += tests/rt/out_reuse.py
