"""Short notices to the editors (a draft is ready, an approval was missed), bilingual."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from digest.settings import Settings
from digest.transport import Outcome, Outgoing, Transport


def notify_editors(settings: Settings, transport: Transport, subject: str, body: str) -> int:
    """Send one plain-text notice to every editor; returns how many the relay accepted."""
    accepted = 0
    for address in settings.editor_addresses:
        msg = EmailMessage(policy=SMTP)
        msg["From"] = settings.sender_email
        msg["To"] = address
        msg["Subject"] = subject
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = f"<digest-notice.{uuid.uuid4().hex}@{settings.sender_domain}>"
        msg.set_content(body)
        result = transport.send(Outgoing(msg["Message-ID"], settings.envelope_sender, address,
                                         msg.as_bytes()))
        accepted += result.outcome is Outcome.ACCEPTED
    return accepted


def preview_url(settings: Settings, issue_id: int) -> str:
    """Where editors preview and approve an issue."""
    return f"{settings.site_url.rstrip('/')}/editor/issues/{issue_id}"
