"""The choice of adapter, from the settings."""

from __future__ import annotations

from collections.abc import Callable

from digest.delivery.transports.base import (
    Transport,
)
from digest.delivery.transports.file import FileTransport
from digest.settings import Settings


def transport_factory(settings: Settings) -> Callable[[], Transport]:
    """Transports for the configured kind: one SMTP connection per call, or the shared file.
    (DIGEST_SMTP_CA_FILE is judged when the settings load, and again at each connection.)"""
    if settings.transport == "smtp":
        from digest.delivery.transports.smtp import MessageRateLimiter, SMTPTransport

        limiter = MessageRateLimiter(settings.smtp_rate_limit)  # one budget for all connections
        return lambda: SMTPTransport(settings, limiter)
    shared = FileTransport(settings.outbox_dir)
    return lambda: shared
