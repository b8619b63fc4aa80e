"""A real SMTP server on loopback (aiosmtpd) that records messages and misbehaves on request."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Received:
    """One accepted message."""

    mail_from: str
    rcpt: str
    data: bytes
    arrived: float = 0.0  # time.monotonic() when its final dot came in (before any delay)


@dataclass
class Behaviour:
    """What the server does; tests change it between (or during) sends."""

    rcpt_replies: dict[str, list[str]] = field(default_factory=dict)  # replies used in turn
    data_replies: dict[str, list[str]] = field(default_factory=dict)
    drop_mid_data: dict[str, int] = field(default_factory=dict)  # recipient -> times to drop
    delay: float = 0.0  # seconds before answering DATA
    pipelining: bool = True


class RecordingHandler:
    """aiosmtpd handler: applies the behaviour, records what it accepts."""

    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.received: list[Received] = []
        self.connections = 0
        self.lock = threading.Lock()

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        with self.lock:
            self.connections += 1
        if self.behaviour.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    @staticmethod
    def _next(replies: dict[str, list[str]], key: str) -> str | None:
        queue = replies.get(key)
        return queue.pop(0) if queue else None

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        reply = self._next(self.behaviour.rcpt_replies, address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        arrived = time.monotonic()
        rcpt = envelope.rcpt_tos[0]
        if self.behaviour.delay:
            await asyncio.sleep(self.behaviour.delay)
        drops = self.behaviour.drop_mid_data.get(rcpt, 0)
        if drops:
            self.behaviour.drop_mid_data[rcpt] = drops - 1
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()  # the client sees the connection vanish before a reply
            return "451 dropped"
        reply = self._next(self.behaviour.data_replies, rcpt)
        if reply:
            return reply
        data = envelope.original_content or b""
        with self.lock:
            self.received.append(Received(str(envelope.mail_from), rcpt, data, arrived))
        return "250 2.0.0 queued"

    def per_recipient(self) -> Counter[str]:
        """How many messages each address received."""
        with self.lock:
            return Counter(r.rcpt for r in self.received)


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """A server-side TLS context for the (certificate, key) files."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def free_port() -> int:
    """A TCP port that is free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SMTPServer:
    """Starts and stops the recording server; `host`/`port` for the settings."""

    def __init__(self, handler: RecordingHandler | None = None,
                 **controller_options: Any) -> None:
        self.handler = handler or RecordingHandler()
        self.host, self.port = "127.0.0.1", free_port()
        self.controller = Controller(self.handler, hostname=self.host, port=self.port,
                                     decode_data=False, data_size_limit=10_000_000,
                                     **controller_options)

    def start(self) -> SMTPServer:
        """Begin listening."""
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        self.controller.stop()

    @property
    def behaviour(self) -> Behaviour:
        """The server's current behaviour (mutable)."""
        return self.handler.behaviour

    @property
    def received(self) -> list[Received]:
        """Messages accepted so far."""
        return self.handler.received

    def smtp_settings(self) -> dict[str, Any]:
        """Settings fields that point the SMTP transport at this server."""
        return {"transport": "smtp", "smtp_host": self.host, "smtp_port": self.port,
                "smtp_timeout": 5}
