# doc/: manual pages and the table format.
dist_man_MANS += doc/policyc.1 doc/bastion.policy.5 doc/bastiond.8 \
	doc/bastionctl.8
EXTRA_DIST += doc/spool-format.md
