"""The file adapter: one `.eml` per message under a folder (the demo's outbox)."""

from __future__ import annotations

import os
from pathlib import Path

from digest.delivery.transports.base import OneStep, Outcome, Outgoing, SendResult


class FileTransport(OneStep):
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
