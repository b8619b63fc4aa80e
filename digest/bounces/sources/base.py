"""The port every bounce source implements: messages in, one outcome per message back.

A source is read like this (the caller owns the database transaction)::

    with source:
        for item in source.poll():
            ...parse item.raw, record the result and commit...
            source.done(item.key)      # or source.held(item.key) if it was not understood

Delivery is **at least once**. A source forgets a message only when told `done` or `held`,
and that happens after the caller has committed. If the process dies in between, or the
connection drops, or `done` itself fails, the message is simply yielded again by a later poll.
The caller makes that safe by keying what it records on an event id derived from the raw bytes
(for example ``sha256(item.raw)``): recording the same message twice is a no-op, after which it
calls `done` again. Nothing is acknowledged before it is processed, so nothing is lost; a
message may be processed twice, so processing must be idempotent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, Self

HEADER_PREVIEW_BYTES = 64 * 1024  # what is kept of an oversized message: its first headers


class SourceError(Exception):
    """A source could not be read; the message is one line that names the source.

    For example ``imap 127.0.0.1:993: login failed`` or ``file /srv/x.eml: no such file``.
    Print it as it is: it never contains a password and never needs a traceback.
    `temporary` says whether trying again later may work (a server down or a lock held) or
    a person must change something first (credentials, a certificate, a setting, a path).
    """

    def __init__(self, message: str, *, temporary: bool = True) -> None:
        super().__init__(message)
        self.temporary = temporary


@dataclass(frozen=True, slots=True)
class Incoming:
    """One returned message, as read from a source.

    `key` is stable while the source is open and is what `done` and `held` take; it is not an
    event id (an IMAP UID changes when the message is moved) — hash `raw` for that.

    `problem` is set when the source could not hand over the whole message (it is larger than
    the source's size limit): then `raw` holds only the start of the header section, must not
    be parsed as a report, and the caller should record the problem and call `held`.
    `fingerprint` then tells it from another message with the same start (two oversized
    messages without headers both start with a blank line): a hash of all the bytes read, or
    the server's size and UID; it is part of the record's event id.
    """

    key: str
    raw: bytes
    problem: str | None = None
    fingerprint: str = ""


class Source(Protocol):
    """A bounce mailbox: yields messages and is told what became of each one."""

    def poll(self) -> Iterator[Incoming]:
        """Yield the messages waiting now, oldest first; raises `SourceError` if unreadable.

        A message is yielded again by a later poll until `done` or `held` is called for it.
        Messages that arrive while a poll is running may wait for the next poll.
        `done` and `held` may be called while the iterator is still being consumed.
        """
        ...

    def done(self, key: str) -> None:
        """Mark a message processed (its result is committed); this source won't yield it again."""
        ...

    def held(self, key: str) -> None:
        """Set a message aside for a person (it was not understood); it is never deleted."""
        ...

    def close(self) -> None:
        """Release the connection or files; safe to call twice. Unacknowledged mail stays."""
        ...


class ClosedOnExit:
    """`with source:` closes the source at the end, whatever happened (see `Source.close`)."""

    def close(self) -> None:
        """Release what the source holds."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def header_block(raw: bytes, limit: int = HEADER_PREVIEW_BYTES) -> bytes:
    """The header section of `raw` with its blank line, or the first `limit` bytes of it."""
    end = re.search(rb"\r?\n\r?\n", raw[:limit])
    return raw[:end.end()] if end else raw[:limit]
