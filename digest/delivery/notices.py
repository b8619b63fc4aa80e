"""Short plain-text notices: to editors (a draft is ready, an approval was missed) and to
people signing up (confirm, already subscribed)."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from digest.delivery import headers
from digest.delivery.transports.base import Outcome, Outgoing, Transport
from digest.settings import Settings


def send_notice(settings: Settings, transport: Transport, to: str, subject: str, body: str,
                lang: str | None = None) -> bool:
    """Send one short plain-text message (not an issue); True if the relay accepted it."""
    message_id = f"<digest-notice.{uuid.uuid4().hex}@{settings.sender_domain}>"
    # The stdlib writes the body and its MIME headers; the address fields and the subject
    # are ours (digest.delivery.headers), as in every issue.
    part = EmailMessage(policy=SMTP)
    part.set_content(body)
    head = [headers.mailbox("From", settings.sender_name, settings.sender_email),
            headers.mailbox("To", "", to), headers.unstructured("Subject", subject),
            headers.structured("Date", formatdate(usegmt=True)),
            headers.structured("Message-ID", message_id)]
    if lang:
        head.append(headers.structured("Content-Language", lang))
    result = transport.send(Outgoing(message_id, settings.envelope_sender, to,
                                     b"".join(head) + part.as_bytes()))
    return result.outcome is Outcome.ACCEPTED


def notify_editors(settings: Settings, transport: Transport, subject: str, body: str) -> int:
    """Send one notice to every editor; returns how many the relay accepted."""
    return sum(send_notice(settings, transport, address, subject, body)
               for address in settings.editor_addresses)


def preview_url(settings: Settings, issue_id: int) -> str:
    """Where editors preview and approve an issue."""
    return f"{settings.site_url.rstrip('/')}/editor/issues/{issue_id}"
