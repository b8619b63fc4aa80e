"""The provider webhooks the settings configure, built once (docs/webhooks.md).

A provider whose secret is not set is absent: its URL answers 404. A setting that is set but
unusable (a SendGrid key that is not a P-256 public key, an SNS topic that is not an ARN)
raises `ValueError` here, when the web app starts, not on the first request.
"""

from __future__ import annotations

from datetime import timedelta

from digest.bounces.webhooks import (
    MailgunProvider,
    PostmarkProvider,
    Provider,
    SendGridProvider,
    SesProvider,
)
from digest.bounces.webhooks.sns import Fetcher
from digest.settings import Settings


def configured(settings: Settings, fetch_cert: Fetcher) -> dict[str, Provider]:
    """Provider name -> provider, for every provider the settings give a secret."""
    found: dict[str, Provider] = {}
    if settings.ses_topic_arns:
        found["ses"] = SesProvider(settings.ses_topic_arns, fetch_cert,
                                   tolerance=timedelta(seconds=settings.webhook_ses_tolerance))
    user, password = settings.webhook_postmark_username, settings.webhook_postmark_password
    if user and password:
        found["postmark"] = PostmarkProvider(user, password.get_secret_value())
    if settings.webhook_mailgun_signing_key:
        found["mailgun"] = MailgunProvider(
            settings.webhook_mailgun_signing_key.get_secret_value(),
            tolerance=timedelta(seconds=settings.webhook_mailgun_tolerance))
    if settings.webhook_sendgrid_public_key:
        found["sendgrid"] = SendGridProvider(
            settings.webhook_sendgrid_public_key,
            tolerance=timedelta(seconds=settings.webhook_sendgrid_tolerance))
    return found
