"""The choice of adapter, from the settings."""

from __future__ import annotations

from collections.abc import Callable

from digest.delivery.transports.base import (
    Transport,
)
from digest.delivery.transports.file import FileTransport
from digest.settings import Settings, setting_file


def transport_factory(settings: Settings) -> Callable[[], Transport]:
    """Transports for the configured kind: one SMTP connection per call, or the shared file.
    SettingInvalid, before anything is sent, for a DIGEST_SMTP_CA_FILE that is no regular
    file it may read (a FIFO would block the first connection for ever)."""
    if settings.transport == "smtp":
        if settings.smtp_ca_file is not None:
            setting_file("smtp_ca_file", settings.smtp_ca_file, read=False)
        from digest.delivery.transports.smtp import MessageRateLimiter, SMTPTransport

        limiter = MessageRateLimiter(settings.smtp_rate_limit)  # one budget for all connections
        return lambda: SMTPTransport(settings, limiter)
    shared = FileTransport(settings.outbox_dir)
    return lambda: shared
