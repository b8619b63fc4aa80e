"""The relay port: one protocol every adapter implements (file, memory, SMTP).

Adapters are passed in, never patched; each lives in its own module beside this one.
"""

from __future__ import annotations

import enum
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


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
    # The relay itself could not be reached (refused, timed out, bad greeting, TLS or login
    # refused): nothing was attempted for this message, so it is no attempt to record.
    unreachable: bool = False


class Misfit(SendResult):
    """An unreachable relay that showed a setting does not fit it (plain text spoken to an
    implicit-TLS port...): the same on every try, so a send stops at the first."""


class Transport(Protocol):
    """Hands messages to a relay, in one step (`send`) or in two (`stage`, then `complete`).

    A send run stages the next message while the previous outcome is being committed: the relay
    has accepted nothing until `complete()` (SMTP: everything but the final dot has gone out).
    Adapters that deliver in one go inherit `OneStep`, which stages by holding the message.
    """

    def send(self, message: Outgoing) -> SendResult:
        """Transmit one message and report what the relay answered."""
        ...

    def stage(self, message: Outgoing,
              meanwhile: Callable[[], None] | None = None) -> SendResult | None:
        """Send all but the end of the message: None if staged, else the failure.

        `meanwhile` is called once, before this returns, while the relay works if the
        adapter can (it answers the envelope, or takes the body in).
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

    def close(self) -> None:
        """Release connections or files."""
        ...


# What each thread has staged on each one-step adapter: one adapter may serve every worker
# of a run (the file adapter does), so the staged message cannot live on the adapter itself.
_held = threading.local()


class OneStep:
    """`stage`/`complete`/`abandon` for an adapter that only has `send`: nothing reaches the
    relay before `complete()`, so abandoning delivers nothing."""

    def send(self, message: Outgoing) -> SendResult:
        """Deliver one message (each adapter's own)."""
        raise NotImplementedError

    @staticmethod
    def _staged() -> dict[int, Outgoing]:
        staged: dict[int, Outgoing] | None = getattr(_held, "staged", None)
        if staged is None:
            staged = _held.staged = {}
        return staged

    def stage(self, message: Outgoing,
              meanwhile: Callable[[], None] | None = None) -> SendResult | None:
        """Hold the message until `complete()`; `meanwhile` runs at once."""
        self._staged()[id(self)] = message
        if meanwhile is not None:
            meanwhile()
        return None

    def complete(self, upcoming: Outgoing | None = None) -> SendResult:
        """Deliver the message this thread staged."""
        return self.send(self._staged().pop(id(self)))

    def abandon(self) -> None:
        """Forget the message this thread staged."""
        self._staged().pop(id(self), None)
