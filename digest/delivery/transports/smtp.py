"""The SMTP adapter of the transport port: smtplib on one reused connection per instance.

One instance per sending thread. Commands are pipelined (RFC 2920) when the relay offers
PIPELINING: MAIL, RCPT and DATA go in one write, and when the sender names the message that
comes next, its MAIL, RCPT and DATA follow the final dot of the current one in the same write
(RFC 2920 lets a group start after the end of message data), so a message costs one write
and one read for the dot and its successor's envelope, and one write for its body.
The message bytes arrive dot-stuffed from the template (`Outgoing.wire`), so the per-message
work here is the socket writes, not a regex over the whole body.

smtplib opens the connection (greeting, EHLO, STARTTLS, AUTH: `smtp_connect`, which also
says why it failed, and which DIGEST_SMTP_SECURITY fits a port that does not fit the one
given: `Misfit`). The per-message commands and
their replies then go straight over the socket (`_Replies`), which is switched to blocking
mode with the timeout kept by the kernel (SO_RCVTIMEO/SO_SNDTIMEO): a Python-level timeout
costs a poll() and a GIL hand-off before every read and write, which with several sending
threads was most of the send's system time.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable

from digest.delivery.transports.base import Misfit, Outcome, Outgoing, SendResult, dot_stuff
from digest.delivery.transports.smtp_connect import (
    Implicit,
    Mismatch,
    NoGreeting,
    NotOffered,
    Plain,
    connect_failure,
    login,
    misfit,
)
from digest.settings import Settings, setting_file

log = logging.getLogger(__name__)
CONNECTION_ERRORS = (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError,
                     socket.timeout)
MAX_REPLY = 65536  # bytes of one reply, continuation lines included (smtplib: 8192 per line)


def classify(code: int, text: str) -> SendResult:
    """2xx accepted, 5xx permanent, anything else (4xx, odd codes) temporary."""
    reply = f"{code} {text}".strip()
    if 200 <= code < 300:
        return SendResult(Outcome.ACCEPTED, reply)
    if 500 <= code < 600:
        return SendResult(Outcome.PERMANENT, reply)
    return SendResult(Outcome.TEMPORARY, reply)


class MessageRateLimiter:
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

    def __init__(self, settings: Settings, limiter: MessageRateLimiter | None = None) -> None:
        self.settings = settings
        self.limiter = limiter or MessageRateLimiter(settings.smtp_rate_limit)
        self._smtp: smtplib.SMTP | None = None
        self._sent_on_connection = 0
        self._last_send = 0.0
        self._pipelining = False
        self._replies: _Replies | None = None
        # The message whose MAIL/RCPT/DATA went out behind the last final dot, unanswered yet.
        self._announced: Outgoing | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.smtp_ca_file is not None and s.smtp_security != "none":  # never wait on a FIFO
            setting_file("smtp_ca_file", s.smtp_ca_file, read=False)
        context = ssl.create_default_context(
            cafile=str(s.smtp_ca_file) if s.smtp_ca_file else None) \
            if s.smtp_security != "none" else None
        greeting = min(s.smtp_greeting_timeout, s.smtp_timeout)
        try:
            if s.smtp_security == "tls":
                smtp: smtplib.SMTP = Implicit(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout,
                                               greeting=greeting, context=context)
            else:
                smtp = Plain(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout,
                              greeting=greeting)
        except (smtplib.SMTPServerDisconnected, ssl.SSLError) as exc:
            found = misfit(exc, s.smtp_host, s.smtp_port, s.smtp_security, greeting)
            if found is None:
                raise
            why, certain = found
            raise (Mismatch if certain else NoGreeting)(why) from exc
        smtp.ehlo()
        if s.smtp_security == "starttls":
            assert context is not None
            if not smtp.has_extn("starttls"):
                raise NotOffered("STARTTLS", "DIGEST_SMTP_SECURITY=starttls")
            smtp.starttls(context=context)
            smtp.ehlo()
        if s.smtp_username:
            if not smtp.has_extn("auth"):
                after = s.smtp_security == "none" and smtp.has_extn("starttls")
                raise NotOffered("AUTH", "DIGEST_SMTP_USERNAME", (
                    " (it offers STARTTLS, and many relays offer AUTH only after it: "
                    "DIGEST_SMTP_SECURITY=starttls)") if after else "")
            password = s.smtp_password.get_secret_value() if s.smtp_password else ""
            login(smtp, s.smtp_username, password)
        # One round trip per connection (not per message): a relay that hangs up once it has
        # answered EHLO (or AUTH) is unreachable here, not a failure of the first message on it.
        code, reply = smtp.noop()
        if code == 421:
            raise smtplib.SMTPResponseException(code, reply)
        self._pipelining = smtp.has_extn("pipelining")
        self._sent_on_connection = 0
        assert smtp.sock is not None
        self._replies = _Replies(smtp.sock, s.smtp_timeout)
        return smtp

    def _why(self, exc: BaseException) -> str:
        return " ".join(connect_failure(exc, self.settings.smtp_timeout).split())

    def _drop(self) -> None:
        self._replies = self._announced = None
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
        `meanwhile` runs while the relay answers the envelope commands; with the envelope
        already answered (sent behind the last dot), once the body is sent, so that it runs
        while the relay takes the body in. It runs before this returns, failure or not.
        """
        self.limiter.wait()
        pacing = self.settings.smtp_pacing_seconds
        if pacing and (gap := self._last_send + pacing - time.monotonic()) > 0:
            time.sleep(gap)
        if self._announced is not None and self._announced is not message:
            self._drop()  # an envelope for another message is open: start afresh
        if self._smtp is None:
            try:
                self._smtp = self._connect()
            except (smtplib.SMTPException, OSError) as exc:
                # The relay's fault, not the recipient's (even a 5xx greeting or a refused
                # login): never a bounce, and not an attempt at this message.
                self._drop()
                self._last_send = time.monotonic()
                if meanwhile is not None:
                    meanwhile()
                where = f"relay {self.settings.smtp_host}:{self.settings.smtp_port}"
                kind = Misfit if isinstance(exc, Mismatch) else SendResult
                return kind(Outcome.TEMPORARY, f"{where} {self._why(exc)}", unreachable=True)
        try:
            failure = self._begin(message, meanwhile)
        except CONNECTION_ERRORS as exc:
            self._drop()
            failure = SendResult(Outcome.TEMPORARY,
                                 f"connection: {exc.__class__.__name__}: {exc}")
        if failure is not None:
            self._last_send = time.monotonic()
            self._after(failure)
        return failure

    def complete(self, upcoming: Outgoing | None = None) -> SendResult:
        """End the staged message with the final dot and return the relay's verdict.

        `upcoming`, the message the caller will stage next, has its envelope sent in the
        same write when the relay pipelines and nothing paces the sends.
        """
        assert self._replies is not None, "complete() without a staged message"
        ahead = upcoming is not None and self._pipelining and not self.limiter.interval \
            and not self.settings.smtp_pacing_seconds \
            and self._sent_on_connection + 1 < self.settings.smtp_messages_per_connection
        try:
            if ahead:
                assert upcoming is not None
                self._replies.sock.sendall(b".\r\n" + _envelope(upcoming))
            else:
                self._replies.sock.sendall(b".\r\n")
            result = classify(*self._replies.read())
            if ahead:
                self._announced = upcoming
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

    def _begin(self, message: Outgoing, meanwhile: Callable[[], None] | None) -> SendResult | None:
        assert self._replies is not None
        sock, read = self._replies.sock, self._replies.read
        wire = message.wire if message.wire is not None else dot_stuff(message.data)
        announced, self._announced = self._announced is message, None
        if meanwhile is not None and not self._pipelining:
            meanwhile()
        if self._pipelining:
            # Announced behind the last dot, the envelope is answered already: `meanwhile`
            # waits until the body is written, and runs while the relay takes it in.
            now, later = (None, meanwhile) if announced else (meanwhile, None)
            try:
                if not announced:
                    sock.sendall(_envelope(message))
            finally:
                if now is not None:  # one round trip of the relay's time, put to use
                    now()
            try:
                return self._data(wire, [read() for _ in range(3)])
            finally:
                if later is not None:
                    later()
        else:
            replies = []
            for command in _envelope(message).splitlines(keepends=True):
                sock.sendall(command)
                replies.append(read())
                if replies[-1][0] >= 400:
                    break
        return self._data(wire, replies)

    def _data(self, wire: bytes, replies: list[tuple[int, str]]) -> SendResult | None:
        """Judge the envelope's replies; send the body if the relay takes it."""
        assert self._replies is not None
        sock, read = self._replies.sock, self._replies.read
        for code, text in replies[:2]:
            if code >= 400:
                if len(replies) == 3 and replies[2][0] == 354:
                    sock.sendall(b".\r\n")  # the relay took DATA anyway: send an empty body
                    read()
                self._reset()
                return classify(code, text)
        code, text = replies[-1]
        if code != 354:
            self._reset()
            return classify(code, text)
        sock.sendall(wire if wire.endswith(b"\r\n") else wire + b"\r\n")
        return None

    def _reset(self) -> None:
        """RSET after a refused envelope (its reply, like smtplib's rset(), is not judged)."""
        assert self._replies is not None
        self._replies.sock.sendall(b"RSET\r\n")
        self._replies.read()

    def close(self) -> None:
        """QUIT politely; ignore a relay that has already gone.

        With an envelope announced the relay is reading message data, where QUIT is only
        text: the connection is dropped instead, and the relay discards the unfinished message.
        """
        if self._smtp is not None and self._replies is not None and self._announced is None:
            try:
                self._replies.sock.sendall(b"QUIT\r\n")
                self._replies.read()
            except CONNECTION_ERRORS:
                pass
        self._drop()


class _Replies:
    """SMTP replies read straight off a connected socket, several per recv when pipelined.

    Sets the socket up for the hot path: no Nagle delay, blocking mode with the kernel keeping
    the timeout. A read that times out raises TimeoutError, a write BlockingIOError (both
    OSErrors, connection trouble to the adapter), and a closed connection
    SMTPServerDisconnected.
    """

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        whole = int(timeout)
        limit = struct.pack("ll", whole, int((timeout - whole) * 1_000_000))
        sock.settimeout(None)
        # The final dot can go out as its own small write after the body (see stage/complete):
        # without TCP_NODELAY, Nagle's algorithm holds it for the relay's delayed ACK (~40 ms).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)
        self.sock = sock
        self._buffer = bytearray()

    def read(self) -> tuple[int, str]:
        """The next reply: its code (-1 if garbled) and its text, lines joined by newlines."""
        lines: list[bytes] = []
        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end < 0:
                self._fill()
                continue
            line = bytes(self._buffer[start:end + 1])
            start = end + 1
            lines.append(line[4:].strip(b" \t\r\n"))
            if line[3:4] != b"-":
                del self._buffer[:start]
                break
        try:
            code = int(line[:3])
        except ValueError:
            code = -1
        return code, b"\n".join(lines).decode("utf-8", "replace")

    def _fill(self) -> None:
        if len(self._buffer) > MAX_REPLY:
            raise smtplib.SMTPServerDisconnected("reply too long")
        try:
            chunk = self.sock.recv(65536)
        except (BlockingIOError, ssl.SSLWantReadError):  # SO_RCVTIMEO ran out
            raise TimeoutError("timed out") from None
        if not chunk:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        self._buffer += chunk


def _envelope(message: Outgoing) -> bytes:
    """MAIL, RCPT and DATA for one message, ready to pipeline."""
    return (f"MAIL FROM:<{message.sender}>\r\nRCPT TO:<{message.recipient}>\r\n"
            "DATA\r\n").encode("ascii")
