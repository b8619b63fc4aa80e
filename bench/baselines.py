"""The baselines `bench/send.py` measures digest against: each message built the obvious way
(`EmailMessage`), smtplib loops, aiosmtplib, and digest's own `SMTPTransport` without the
database."""

from __future__ import annotations

import smtplib
import threading
import time
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from digest.delivery.messages import Recipient, Variant
from digest.delivery.transports.base import Outcome, Outgoing
from digest.delivery.transports.smtp import SMTPTransport
from digest.render.placeholders import PREFS_PLACEHOLDER, UNSUB_PLACEHOLDER
from digest.settings import Settings
from digest.store.models import IssueVariant, Language
from digest.tokens import Purpose, Tokens


def naive_message(settings: Settings, tokens: Tokens, issue_id: int, variant: Variant,
                  rcpt: Recipient) -> EmailMessage:
    """The same message built the obvious way: an EmailMessage per subscriber."""
    unsub = tokens.make(Purpose.UNSUBSCRIBE, rcpt.subscriber_id)
    prefs = tokens.make(Purpose.PREFERENCES, rcpt.subscriber_id)
    site = settings.site_url.rstrip("/")
    msg = EmailMessage()
    msg["From"] = Address(settings.sender_name, addr_spec=settings.sender_email)
    msg["To"] = Address(rcpt.name, addr_spec=rcpt.email)
    msg["Subject"] = variant.subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = f"<digest.{issue_id}.{rcpt.subscriber_id}@{settings.sender_domain}>"
    msg["List-Id"] = f"<{settings.list_id}>"
    msg["List-Unsubscribe"] = f"<{site}/u/{unsub}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(variant.text.replace(UNSUB_PLACEHOLDER, unsub)
                    .replace(PREFS_PLACEHOLDER, prefs))
    msg.add_alternative(variant.html.replace(UNSUB_PLACEHOLDER, unsub)
                        .replace(PREFS_PLACEHOLDER, prefs), subtype="html")
    return msg


def naive_assembly(settings: Settings, variants: dict[Language, IssueVariant],
                   rcpts: list[tuple[Language, Recipient]]) -> float:
    """Seconds to build and serialise (as_bytes) each message with EmailMessage."""
    tokens = Tokens(settings)
    start = time.perf_counter()
    for lang, rcpt in rcpts:
        v = variants[lang]
        naive_message(settings, tokens, v.issue_id, v, rcpt).as_bytes(policy=SMTP)
    return time.perf_counter() - start


def smtplib_naive_loop(settings: Settings, variants: dict[Language, IssueVariant],
                       rcpts: list[tuple[Language, Recipient]]) -> float:
    """Seconds for EmailMessage + smtplib send_message per message on one reused connection."""
    tokens = Tokens(settings)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port) as smtp:
        start = time.perf_counter()
        for lang, rcpt in rcpts:
            v = variants[lang]
            smtp.send_message(naive_message(settings, tokens, v.issue_id, v, rcpt),
                              from_addr=settings.envelope_sender, to_addrs=[rcpt.email])
        return time.perf_counter() - start


def smtplib_prebuilt_loop(settings: Settings, messages: list[Outgoing], count: int) -> float:
    """Seconds for smtplib sendmail of our prebuilt bytes (it re-stuffs dots and line ends)."""
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port) as smtp:
        start = time.perf_counter()
        for i in range(count):
            m = messages[i % len(messages)]
            smtp.sendmail(m.sender, [m.recipient], m.data)
        return time.perf_counter() - start


def transport_only(settings: Settings, messages: list[Outgoing], count: int,
                   connections: int) -> float:
    """Seconds for SMTPTransport alone (one thread per connection, no database), driven as
    the send's workers drive it: stage, then complete naming the next message."""
    share = [count // connections + (i < count % connections) for i in range(connections)]
    failures: list[str] = []

    def worker(k: int) -> None:
        transport = SMTPTransport(settings)
        mine = [messages[(i * connections + k) % len(messages)] for i in range(share[k])]
        try:
            for i, message in enumerate(mine):
                early = transport.stage(message)
                result = early if early is not None else transport.complete(
                    mine[i + 1] if i + 1 < len(mine) else None)
                if result.outcome is not Outcome.ACCEPTED:
                    failures.append(result.reply)
        finally:
            transport.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} messages not accepted, e.g. {failures[0]}")
    return seconds


def aiosmtplib_clients(settings: Settings, messages: list[Outgoing], count: int,
                       connections: int) -> float:
    """Seconds for aiosmtplib's sendmail of our prebuilt bytes: one asyncio task per
    connection, each on its own reused connection (no database)."""
    import asyncio

    import aiosmtplib

    share = [count // connections + (i < count % connections) for i in range(connections)]

    async def client(k: int) -> None:
        smtp = aiosmtplib.SMTP(hostname=settings.smtp_host, port=settings.smtp_port,
                               start_tls=False)
        await smtp.connect()
        try:
            for i in range(share[k]):
                m = messages[(i * connections + k) % len(messages)]
                await smtp.sendmail(m.sender, [m.recipient], m.data)
        finally:
            await smtp.quit()

    async def run() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(client(k) for k in range(connections)))
        return time.perf_counter() - start

    return asyncio.run(run())
