"""Opening the SMTP relay: smtplib's clients with a greeting timeout of their own, AUTH
beyond ASCII, and why opening failed, in one line naming the setting to look at.

A relay that sends no greeting in plain text is usually an implicit-TLS port, and one that
answers a TLS hello in plain text a plain port: `misfit` tells each apart by a second, short
look, so that `SMTPTransport` can say which DIGEST_SMTP_SECURITY fits (and not retry).
"""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
from collections.abc import Callable

from digest.network import socket_failure, speaks_tls, text_of


class NotOffered(smtplib.SMTPException):
    """The relay does not offer an extension a setting asks for (smtplib's own error named
    neither: "SMTPNotSupportedError: STARTTLS extension not supported by server.")."""

    def __init__(self, extension: str, setting: str, hint: str = "") -> None:
        super().__init__(f"does not offer {extension}, which {setting} asks for{hint}")


class NoGreeting(smtplib.SMTPException):
    """The relay sent no greeting in time, and did not answer TLS either: maybe only slow."""


class Mismatch(smtplib.SMTPException):
    """The relay answers, but not in the way DIGEST_SMTP_SECURITY asks for (TLS on a port
    spoken to in plain text, or plain SMTP on one spoken to in TLS): trying again cannot
    help."""


class Plain(smtplib.SMTP):
    """smtplib's client, waiting `greeting` seconds (not the whole timeout) for the greeting."""

    def __init__(self, host: str, port: int, *, timeout: float, greeting: float) -> None:
        self.greeting: float | None = greeting
        super().__init__(host, port, timeout=timeout)

    def getreply(self) -> tuple[int, bytes]:
        """The next reply; the first one (the greeting) within the greeting's timeout."""
        return _reply(self, super().getreply)


class Implicit(smtplib.SMTP_SSL):
    """The same over implicit TLS: the handshake has the whole timeout, the greeting less."""

    def __init__(self, host: str, port: int, *, timeout: float, greeting: float,
                 context: ssl.SSLContext | None) -> None:
        self.greeting: float | None = greeting
        super().__init__(host, port, timeout=timeout, context=context)

    def getreply(self) -> tuple[int, bytes]:
        """The next reply; the first one (the greeting) within the greeting's timeout."""
        return _reply(self, super().getreply)


def _reply(smtp: Plain | Implicit, read: Callable[[], tuple[int, bytes]]) -> tuple[int, bytes]:
    """`read()` a reply, the greeting with its own timeout, then the usual one again."""
    if smtp.greeting is None or smtp.sock is None:
        return read()
    smtp.sock.settimeout(smtp.greeting)
    smtp.greeting = None
    try:
        return read()
    finally:
        if smtp.sock is not None:  # (smtplib closes it on a timeout)
            smtp.sock.settimeout(smtp.timeout)


def login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """AUTH as smtplib does it, or, for a user name or password beyond ASCII (which smtplib
    cannot encode: UnicodeEncodeError), AUTH PLAIN with both in UTF-8 (RFC 4616)."""
    if user.isascii() and password.isascii():
        smtp.login(user, password)
        return
    if "PLAIN" not in smtp.esmtp_features.get("auth", "").upper().split():
        raise NotOffered("AUTH PLAIN", "a DIGEST_SMTP_USERNAME or DIGEST_SMTP_PASSWORD beyond "
                         "ASCII", f" (it offers AUTH {smtp.esmtp_features.get('auth', '')})")
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode("ascii")
    code, reply = smtp.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def describe(exc: BaseException) -> str:
    """An exception as a status line; never includes the password (smtplib does not echo it)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {text_of(exc.smtp_error)}"
    return f"{exc.__class__.__name__}: {exc}"


def connect_failure(exc: BaseException, timeout: float) -> str:
    """Why a connection to the relay failed, as the end of 'relay HOST:PORT ...'."""
    if isinstance(exc, NotOffered | NoGreeting | Mismatch):
        return str(exc)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"refused the login: {describe(exc)}"
    if isinstance(exc, smtplib.SMTPConnectError):
        return f"answered the greeting with {describe(exc)}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"answered {describe(exc)}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "closed the connection before it was ready"
    return (socket_failure(exc, during="connect", timeout=timeout)
            or f"could not be used: {describe(exc)}") + certificate_hint(exc)


# OpenSSL's verify codes: the certificate is another host's, or from a CA nobody named.
_NAME_MISMATCH = frozenset({62, 64})  # X509_V_ERR_HOSTNAME_MISMATCH, _IP_ADDRESS_MISMATCH
_UNKNOWN_ISSUER = frozenset({18, 19, 20, 21})  # self-signed, no local issuer, ...


def certificate_hint(exc: BaseException) -> str:
    """Which setting a refused certificate points at, if any."""
    if not isinstance(exc, ssl.SSLCertVerificationError):
        return ""
    if exc.verify_code in _NAME_MISMATCH:
        return ": DIGEST_SMTP_HOST must be a name the relay's certificate holds"
    if exc.verify_code in _UNKNOWN_ISSUER:
        return ": for a private CA, name its certificate in DIGEST_SMTP_CA_FILE"
    return ""


def misfit(exc: BaseException, host: str, port: int, security: str,
            greeting: float) -> tuple[str, bool] | None:
    """Why opening the relay failed, when it may be DIGEST_SMTP_SECURITY not fitting its port
    (as the end of 'relay HOST:PORT ...'), and whether a second short look made sure of it;
    None for any other failure.

    No greeting within `greeting` seconds in plain text: does the port speak TLS? A TLS
    hello answered with something that is not TLS: is it an SMTP greeting in plain text?
    """
    if security != "tls" and isinstance(exc, smtplib.SMTPServerDisconnected) \
            and isinstance(exc.__context__, TimeoutError):
        if speaks_tls(host, port, greeting):
            return (f"sent no SMTP greeting within {greeting:g} s but answers TLS: it is an "
                    "implicit-TLS port, set DIGEST_SMTP_SECURITY=tls"), True
        return (f"sent no SMTP greeting within {greeting:g} s: is it an implicit-TLS port "
                "(DIGEST_SMTP_SECURITY=tls)? A slow relay needs a longer "
                "DIGEST_SMTP_GREETING_TIMEOUT"), False
    if security == "tls" and isinstance(exc, ssl.SSLError) \
            and not isinstance(exc, ssl.SSLCertVerificationError):
        offers = plain_greeting(host, port, greeting)
        if offers is None:
            return None
        plain = "answered the TLS hello in plain SMTP: it is a plain port, not an implicit-TLS one"
        if offers:
            return (f"{plain}: set DIGEST_SMTP_SECURITY=starttls (it offers STARTTLS), or use "
                    "the relay's implicit-TLS port (usually 465)"), True
        return (f"{plain}, and offers no STARTTLS: use the relay's implicit-TLS port (usually "
                "465), or DIGEST_SMTP_SECURITY=none (unencrypted)"), True
    return None


def plain_greeting(host: str, port: int, timeout: float) -> bool | None:
    """None unless host:port greets in plain SMTP; then whether its EHLO offers STARTTLS."""
    try:
        with socket.create_connection((host, port), timeout) as sock:
            file = sock.makefile("rb")
            if not file.readline(1024).startswith(b"220"):
                return None
            sock.sendall(b"EHLO digest.invalid\r\n")
            offers = False
            while line := file.readline(1024):
                offers = offers or line[4:].strip().upper() == b"STARTTLS"
                if line[3:4] != b"-":
                    break
            sock.sendall(b"QUIT\r\n")
            return offers
    except OSError:
        return None
