# tests/rt-integ.mk: bastiond end to end, driven by real clients
# (smtplib, swaks, openssl s_client) and scripted dialogues on loopback.
# Each script starts its own bastiond on free ports, from 127.0.0.x
# sources, and stops it by process id.
TESTS += tests/rt/integ_clients.py
TESTS += tests/rt/integ_policy.py
TESTS += tests/rt/integ_recipients.py
TESTS += tests/rt/integ_dialogue.py
TESTS += tests/rt/integ_hostile.py
TESTS += tests/rt/integ_timeouts.py
TESTS += tests/rt/integ_durability.py
TESTS += tests/rt/integ_reload.py
TESTS += tests/rt/integ_reload_safety.py
TESTS += tests/rt/integ_hardening.py
TESTS += tests/rt/integ_reload_sessions.py
TESTS += tests/rt/integ_log.py
TESTS += tests/rt/integ_loops.py
TESTS += tests/rt/integ_folders.py
TESTS += tests/rt/integ_abuse.py
TESTS += tests/rt/integ_authtiming.py
