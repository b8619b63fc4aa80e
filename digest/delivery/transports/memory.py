"""The in-memory adapter: keeps what it was given, for tests and test sends."""

from __future__ import annotations

from dataclasses import dataclass, field

from digest.delivery.transports.base import OneStep, Outcome, Outgoing, SendResult


@dataclass
class MemoryTransport(OneStep):
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
