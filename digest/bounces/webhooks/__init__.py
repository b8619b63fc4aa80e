"""Provider webhooks: verify a POST from SES (via SNS), Postmark, Mailgun or SendGrid.

Each provider is built from plain configuration values and exposes
`verify(headers, body, now) -> Verified`, raising `WebhookRejected(status, reason)`.
See docs/webhooks.md for the URL each is mounted at and how to configure the provider.
"""

from __future__ import annotations

from collections.abc import Mapping

from digest.bounces.webhooks.base import MAX_BODY_BYTES, Provider, Verified, WebhookRejected
from digest.bounces.webhooks.mailgun import MailgunProvider
from digest.bounces.webhooks.postmark import PostmarkProvider
from digest.bounces.webhooks.sendgrid import SendGridProvider
from digest.bounces.webhooks.ses import SesProvider

PROVIDERS: Mapping[str, type[Provider]] = {
    "ses": SesProvider,
    "postmark": PostmarkProvider,
    "mailgun": MailgunProvider,
    "sendgrid": SendGridProvider,
}

__all__ = [
    "MAX_BODY_BYTES",
    "PROVIDERS",
    "MailgunProvider",
    "PostmarkProvider",
    "Provider",
    "SendGridProvider",
    "SesProvider",
    "Verified",
    "WebhookRejected",
]
