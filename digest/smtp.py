"""The SMTP adapter of the transport port: smtplib on one reused connection per instance.

One instance per sending thread. Commands are pipelined (RFC 2920) when the relay offers
PIPELINING: MAIL, RCPT and DATA go in one write, so a message costs two round trips.
The message bytes arrive dot-stuffed from the template (`Outgoing.wire`), so the per-message
work here is the socket writes, not a regex over the whole body.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable

from digest.settings import Settings
from digest.transport import Outcome, Outgoing, SendResult, dot_stuff

log = logging.getLogger(__name__)
CONNECTION_ERRORS = (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError,
                     socket.timeout)


def classify(code: int, text: str) -> SendResult:
    """2xx accepted, 5xx permanent, anything else (4xx, odd codes) temporary."""
    reply = f"{code} {text}".strip()
    if 200 <= code < 300:
        return SendResult(Outcome.ACCEPTED, reply)
    if 500 <= code < 600:
        return SendResult(Outcome.PERMANENT, reply)
    return SendResult(Outcome.TEMPORARY, reply)


class RateLimiter:
    """A token bucket shared by all connections: at most `rate` messages per second."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until this caller may send one message."""
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(self._next, now)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


class SMTPTransport:
    """Sends through the configured relay on one connection, reopened when needed."""

    def __init__(self, settings: Settings, limiter: RateLimiter | None = None) -> None:
        self.settings = settings
        self.limiter = limiter or RateLimiter(settings.smtp_rate_limit)
        self._smtp: smtplib.SMTP | None = None
        self._sent_on_connection = 0
        self._last_send = 0.0
        self._pipelining = False

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context(
            cafile=str(s.smtp_ca_file) if s.smtp_ca_file else None)
        if s.smtp_security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=context)
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
        # The final dot goes out as its own small write after the body (see stage/complete):
        # without TCP_NODELAY, Nagle's algorithm holds it for the relay's delayed ACK (~40 ms).
        if smtp.sock is not None:
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        smtp.ehlo()
        if s.smtp_security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if s.smtp_username:
            password = s.smtp_password.get_secret_value() if s.smtp_password else ""
            smtp.login(s.smtp_username, password)
        self._pipelining = smtp.has_extn("pipelining")
        self._sent_on_connection = 0
        return smtp

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None

    def send(self, message: Outgoing) -> SendResult:
        """Transmit one message; connection trouble is a temporary failure, never raised."""
        failure = self.stage(message)
        return failure if failure is not None else self.complete()

    def stage(self, message: Outgoing,
              meanwhile: Callable[[], None] | None = None) -> SendResult | None:
        """Send all of a message but the final dot: None when staged, else the failure.

        The relay accepts nothing before `complete()`, so a sender may stage its next message
        while the previous outcome is being recorded without risking an unrecorded delivery.
        `meanwhile` runs while the relay answers the envelope commands (or, if they cannot
        be sent, before returning the failure).
        """
        self.limiter.wait()
        pacing = self.settings.smtp_pacing_seconds
        if pacing and (gap := self._last_send + pacing - time.monotonic()) > 0:
            time.sleep(gap)
        if self._smtp is None:
            try:
                self._smtp = self._connect()
            except (smtplib.SMTPException, OSError) as exc:
                # The relay's fault, not the recipient's (even a 5xx greeting or a refused
                # login): never a bounce, always a retry.
                self._drop()
                self._last_send = time.monotonic()
                if meanwhile is not None:
                    meanwhile()
                return SendResult(Outcome.TEMPORARY, f"relay unavailable: {_describe(exc)}")
        try:
            failure = self._begin(self._smtp, message, meanwhile)
        except smtplib.SMTPResponseException as exc:
            self._drop()
            failure = classify(exc.smtp_code, _text(exc.smtp_error))
        except CONNECTION_ERRORS as exc:
            self._drop()
            failure = SendResult(Outcome.TEMPORARY,
                                 f"connection: {exc.__class__.__name__}: {exc}")
        if failure is not None:
            self._last_send = time.monotonic()
            self._after(failure)
        return failure

    def complete(self) -> SendResult:
        """End the staged message with the final dot and return the relay's verdict."""
        assert self._smtp is not None, "complete() without a staged message"
        try:
            self._smtp.send(b".\r\n")
            code, text = self._smtp.getreply()
            result = classify(code, _text(text))
        except CONNECTION_ERRORS as exc:
            self._drop()
            result = SendResult(Outcome.TEMPORARY,
                                f"connection: {exc.__class__.__name__}: {exc}")
        self._last_send = time.monotonic()
        self._after(result)
        return result

    def abandon(self) -> None:
        """Drop the connection mid-DATA: a relay discards a message whose final dot never came."""
        self._drop()

    def _after(self, result: SendResult) -> None:
        """Count the transaction; reconnect after a 421 or every N messages."""
        self._sent_on_connection += 1
        if result.reply.startswith("421") or (
                self._sent_on_connection >= self.settings.smtp_messages_per_connection):
            self.close()

    def _begin(self, smtp: smtplib.SMTP, message: Outgoing,
               meanwhile: Callable[[], None] | None) -> SendResult | None:
        wire = message.wire if message.wire is not None else dot_stuff(message.data)
        mail = f"MAIL FROM:<{message.sender}>\r\n".encode("ascii")
        rcpt = f"RCPT TO:<{message.recipient}>\r\n".encode("ascii")
        if meanwhile is not None and not self._pipelining:
            meanwhile()
        if self._pipelining:
            try:
                smtp.send(mail + rcpt + b"DATA\r\n")
            finally:
                if meanwhile is not None:  # one round trip of the relay's time, put to use
                    meanwhile()
            replies = [smtp.getreply() for _ in range(3)]
        else:
            replies = []
            for command in (mail, rcpt, b"DATA\r\n"):
                smtp.send(command)
                replies.append(smtp.getreply())
                if replies[-1][0] >= 400:
                    break
        for code, text in replies[:2]:
            if code >= 400:
                if len(replies) == 3 and replies[2][0] == 354:
                    smtp.send(b".\r\n")  # the relay took DATA anyway: send an empty body
                    smtp.getreply()
                smtp.rset()
                return classify(code, _text(text))
        code, text = replies[-1]
        if code != 354:
            smtp.rset()
            return classify(code, _text(text))
        smtp.send(wire if wire.endswith(b"\r\n") else wire + b"\r\n")
        return None

    def close(self) -> None:
        """QUIT politely; ignore a relay that has already gone."""
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (*CONNECTION_ERRORS, smtplib.SMTPResponseException):
                pass
            finally:
                self._smtp = None


def _describe(exc: BaseException) -> str:
    """An exception as a status line; never includes the password (smtplib does not echo it)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return f"{exc.__class__.__name__}: {exc}"


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
