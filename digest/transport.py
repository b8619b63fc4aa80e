"""The relay port: one protocol, a file (.eml) adapter and an in-memory adapter.

The SMTP adapter implements the same protocol. Adapters are passed in, never patched.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable


class Outcome(enum.StrEnum):
    """What the relay said about one message."""

    ACCEPTED = "accepted"
    TEMPORARY = "temporary"  # 4xx or connection trouble: try again later
    PERMANENT = "permanent"  # 5xx: do not try this address again


_LEADING_DOT = re.compile(rb"(?m)^\.")


def dot_stuff(data: bytes) -> bytes:
    """SMTP transparency (RFC 5321 4.5.2): double a dot at the start of any line."""
    return _LEADING_DOT.sub(b"..", data)


@dataclass(frozen=True)
class Outgoing:
    """A finished message: envelope, the RFC 5322 bytes, and optionally them dot-stuffed."""

    message_id: str
    sender: str
    recipient: str
    data: bytes
    wire: bytes | None = None  # `data` dot-stuffed for SMTP, when prepared in advance


@dataclass(frozen=True)
class SendResult:
    """The outcome and the relay's reply text, kept for the status view."""

    outcome: Outcome
    reply: str


class Transport(Protocol):
    """Hands messages to a relay."""

    def send(self, message: Outgoing) -> SendResult:
        """Transmit one message and report what the relay answered."""
        ...

    def close(self) -> None:
        """Release connections or files."""
        ...


@runtime_checkable
class StagedTransport(Transport, Protocol):
    """A relay that can take a message in two steps (SMTP: the body, then the final dot).

    The sender stages the next message while the previous outcome is being committed; the
    relay has accepted nothing until `complete()`.
    """

    def stage(self, message: Outgoing,
              meanwhile: Callable[[], None] | None = None) -> SendResult | None:
        """Send all but the end of the message: None if staged, else the failure.

        `meanwhile` is called once, while waiting for the relay if the adapter can.
        """
        ...

    def complete(self, upcoming: Outgoing | None = None) -> SendResult:
        """Finish the staged message and report what the relay answered.

        `upcoming` is the message the caller will stage next, if known: the adapter may
        start it in the same exchange; staging any other message then costs a reconnect.
        """
        ...

    def abandon(self) -> None:
        """Drop the staged message unfinished: the relay discards it."""
        ...


class FileTransport:
    """Writes each message to `<root>/<message-id local part>.eml` (atomically)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path_for(self, message_id: str) -> Path:
        """Where a message with this Message-ID is written (a re-send overwrites it)."""
        local = message_id.strip("<>").partition("@")[0]
        return self.root / f"{local}.eml"

    def send(self, message: Outgoing) -> SendResult:
        """Write the file; accepted once it is on disk under its final name."""
        path = self.path_for(message.message_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(message.data)
        os.replace(tmp, path)
        return SendResult(Outcome.ACCEPTED, f"250 written {path.name}")

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class MemoryTransport:
    """Keeps messages in a list; `script` maps a recipient to a forced result (tests)."""

    sent: list[Outgoing] = field(default_factory=list)
    script: dict[str, SendResult] = field(default_factory=dict)

    def send(self, message: Outgoing) -> SendResult:
        """Record the message (unless scripted to fail) and return the result."""
        forced = self.script.get(message.recipient)
        if forced is not None and forced.outcome is not Outcome.ACCEPTED:
            return forced
        self.sent.append(message)
        return SendResult(Outcome.ACCEPTED, "250 OK (memory)")

    def close(self) -> None:
        """Nothing to release."""
