"""The access log without subscribers' tokens: they are keys to one person's subscription."""

from __future__ import annotations

import logging
import re

# The first segment of every route whose next segment is a subscriber's token (`{token}` in
# the route): the access log hides it, and the guard marks the page no-store.
TOKEN_ROOTS = ("u", "p", "confirm", "privacy")
TOKEN_PATH = re.compile(rf"^/({'|'.join(TOKEN_ROOTS)})/[^/?#]+")


def redact(path: str) -> str:
    """`/u/17.Ab3...` -> `/u/[token]`, the same for every root in TOKEN_ROOTS (other paths
    unchanged)."""
    return TOKEN_PATH.sub(r"/\1/[token]", path)


class RedactTokens(logging.Filter):
    """A filter for uvicorn's access log, whose arguments are (client, method, path, ...)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the path argument; never drops a record."""
        if isinstance(record.args, tuple) and len(record.args) >= 3 and \
                isinstance(record.args[2], str):
            record.args = (*record.args[:2], redact(record.args[2]), *record.args[3:])
        return True


def install() -> None:
    """Attach the filter to uvicorn's access logger (call before the server starts)."""
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
