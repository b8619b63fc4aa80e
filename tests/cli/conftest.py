"""Fixtures for the CLI tests: the real Dovecot IMAP server (see tests/bounces/dovecot.py)."""

from tests.bounces.dovecot import dovecot, dovecot_server  # noqa: F401
