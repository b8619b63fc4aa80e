"""Placeholders for the personal links, spliced per recipient by `digest.delivery.messages`."""

from __future__ import annotations

# Alphanumeric so that no escaping (HTML, URL, quoted-printable) can alter them.
UNSUB_PLACEHOLDER = "ZZdigestUNSUBtokenZZ"
PREFS_PLACEHOLDER = "ZZdigestPREFStokenZZ"
