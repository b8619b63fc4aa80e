"""The one-line wording of failures below the protocol, shared by the relay and the mailbox."""

from __future__ import annotations

import errno
import socket
import ssl

import pytest

from digest.network import socket_failure, text_of


def said(exc: BaseException) -> str | None:
    return socket_failure(exc, during="connect", timeout=2.5)


def test_refused_and_silent_servers() -> None:
    assert said(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")) == (
        "refused the connection")
    assert said(TimeoutError("timed out")) == "did not answer within 2.5 s (during connect)"


def test_a_name_that_does_not_resolve_says_so() -> None:
    with pytest.raises(socket.gaierror) as raised:
        socket.getaddrinfo("no-such-host.invalid", 25)
    line = said(raised.value)
    assert line is not None and line.startswith("could not be found (")


def test_a_dropped_connection_names_the_step() -> None:
    reset = ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    assert socket_failure(reset, during="fetch", timeout=1) == (
        "closed the connection during fetch (Connection reset by peer)")


def test_an_os_error_keeps_its_file_but_not_its_class_name() -> None:
    missing = FileNotFoundError(errno.ENOENT, "No such file or directory", "/etc/ca.pem")
    assert socket_failure(missing, during="loading CA file /etc/ca.pem", timeout=1) == (
        "loading CA file /etc/ca.pem failed (No such file or directory: /etc/ca.pem)")
    unreachable = OSError(errno.ENETUNREACH, "Network is unreachable")
    assert said(unreachable) == "connect failed (Network is unreachable)"


def test_tls_failures_are_told_apart_from_certificate_failures() -> None:
    context = ssl.create_default_context()
    with pytest.raises(ssl.SSLError) as raised:
        context.load_verify_locations(cadata="not a certificate")
    line = said(raised.value)
    assert line is not None and line.startswith("TLS failed during connect (")
    cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cert.verify_message = "self-signed certificate"
    assert said(cert) == "certificate verify failed (self-signed certificate)"


def test_protocol_errors_are_left_to_the_adapter() -> None:
    assert said(ValueError("bad reply")) is None
    assert said(OSError("no errno")) is None


def test_server_words_are_text() -> None:
    assert text_of(b"caf\xc3\xa9 \xff") == "café \ufffd"
    assert text_of("plain") == "plain"
