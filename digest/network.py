"""How a failed call to a server reads in one line, for every adapter that opens a socket.

The relay (SMTP) and the bounce mailbox (IMAP) fail in the same ways below their protocols:
the name does not resolve, nothing listens, nothing answers, TLS or its certificate fails.
Each adapter first names its protocol's own failures (a refused login, a reply code) and
then asks `socket_failure` for the rest, so both say the same thing for the same cause.
No text here can hold a password: the standard library's errors never carry one.
"""

from __future__ import annotations

import socket
import ssl


def socket_failure(exc: BaseException, *, during: str, timeout: float) -> str | None:
    """A failure below the protocol as the end of 'relay HOST:PORT …', or None if it is not one."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed ({exc.verify_message or exc.reason or exc})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed during {during} ({exc.reason or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "refused the connection"
    if isinstance(exc, TimeoutError):
        return f"did not answer within {timeout:g} s (during {during})"
    if isinstance(exc, ConnectionError):
        return f"closed the connection during {during} ({exc.strerror or exc})"
    if isinstance(exc, socket.gaierror):
        return f"could not be found ({exc.strerror or exc})"
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""  # ssl's CA-file errors lack it
        return f"{during} failed ({exc.strerror}{where})"
    return None


def text_of(raw: bytes | str) -> str:
    """A server's words as text: bytes are read as UTF-8, anything undecodable replaced."""
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def speaks_tls(host: str, port: int, timeout: float) -> bool:
    """Whether a TLS handshake with host:port completes (its certificate is not judged): how
    a port that sent no greeting in plain text is told to be an implicit-TLS one."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout) as sock, \
                context.wrap_socket(sock, server_hostname=host):
            return True
    except (OSError, ValueError):  # ssl.SSLError and timeouts are OSErrors
        return False

