"""The file adapter: one `.eml` per message under a folder (the demo's outbox)."""

from __future__ import annotations

import contextlib
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
        """Write the file; accepted once it is on disk under its final name. A folder that
        cannot be written (permissions, a full disk, gone) is this relay being unreachable:
        no attempt against the recipient, and the run stops resumable, saying which folder."""
        path = self.path_for(message.message_id)
        tmp = path.with_suffix(".tmp")
        try:
            # The owner's only (0600): a message holds its reader's unsubscribe and
            # preferences links, which act for them.
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                           "wb") as fh:
                fh.write(message.data)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):  # a half-written file is no message
                tmp.unlink(missing_ok=True)
            return SendResult(Outcome.TEMPORARY, f"outbox folder {self.root} could not be "
                              f"written ({exc.strerror or exc})", unreachable=True)
        return SendResult(Outcome.ACCEPTED, f"250 written {path.name}")

    def close(self) -> None:
        """Nothing to release."""
