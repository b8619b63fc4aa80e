"""Short plain-text notices: to editors (a draft is ready, an approval was missed) and to
people signing up (confirm, already subscribed)."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from digest.delivery.transports.base import Outcome, Outgoing, Transport
from digest.settings import Settings


def send_notice(settings: Settings, transport: Transport, to: str, subject: str, body: str,
                lang: str | None = None) -> bool:
    """Send one short plain-text message (not an issue); True if the relay accepted it."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = settings.sender_email
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    if lang:
        msg["Content-Language"] = lang
    msg["Message-ID"] = f"<digest-notice.{uuid.uuid4().hex}@{settings.sender_domain}>"
    msg.set_content(body)
    result = transport.send(Outgoing(msg["Message-ID"], settings.envelope_sender, to,
                                     msg.as_bytes()))
    return result.outcome is Outcome.ACCEPTED


def notify_editors(settings: Settings, transport: Transport, subject: str, body: str) -> int:
    """Send one notice to every editor; returns how many the relay accepted."""
    return sum(send_notice(settings, transport, address, subject, body)
               for address in settings.editor_addresses)


def preview_url(settings: Settings, issue_id: int) -> str:
    """Where editors preview and approve an issue."""
    return f"{settings.site_url.rstrip('/')}/editor/issues/{issue_id}"
