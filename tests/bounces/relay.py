"""A smarthost that accepts everything and returns mail later, as real relays do (test support).

It records each message like `tests.smtp_server.RecordingHandler`; for the recipients it is
told about it then writes what the recipient's side would send back (an RFC 3464 DSN, an
ARF complaint, an out-of-office) to the message's envelope sender, and delivers it into the
bounce mailbox on the real Dovecot, as the organisation's MTA would with
`recipient_delimiter = +`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.bounces import reports
from tests.bounces.dovecot import Dovecot
from tests.smtp_server import RecordingHandler

_MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>\r\n]+>)", re.M | re.I)
Returns = Callable[[str, str, str], bytes]  # (envelope sender, recipient, Message-ID) -> mail


def hard(sender: str, recipient: str, message_id: str) -> bytes:
    """The recipient's server says the mailbox does not exist."""
    return reports.dsn(sender, recipient, message_id)


def delayed(sender: str, recipient: str, message_id: str) -> bytes:
    """The recipient's server is full for now: a delay warning."""
    return reports.dsn(sender, recipient, message_id, status="4.2.2", action="delayed")


class BouncingRelay(RecordingHandler):
    """Accepts every message, then returns some of them into `mailbox`."""

    def __init__(self, mailbox: Dovecot, returns: dict[str, Returns]) -> None:
        super().__init__()
        self.mailbox = mailbox
        self.returns = returns  # recipient -> what comes back for each message to them
        self.returned: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        rcpt = envelope.rcpt_tos[0]
        make = self.returns.get(rcpt)
        if reply.startswith("250") and make is not None:
            found = _MESSAGE_ID.search(envelope.original_content or b"")
            message_id = found.group(1).decode() if found else ""
            raw = make(str(envelope.mail_from), rcpt, message_id)
            await asyncio.to_thread(self.mailbox.append, raw)  # IMAP APPEND, blocking
            with self.lock:
                self.returned.append(raw)
        return reply
