"""How Debian's Chromium is launched, for the browser tests and scripts/screenshots.py alike.

No pytest here: the screenshot script imports this module outside the test run.
"""

from __future__ import annotations

import re
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Nothing leaves the machine: remote requests are aborted, loopback (a local server) is allowed.
REMOTE = re.compile(r"^(https?|wss?)://(?!(127\.0\.0\.1|localhost|\[::1\])[:/])")
