"""The SMTP adapter against a real server on loopback: replies, drops, reconnects, limits."""

from __future__ import annotations

import socket
import threading
import time
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult
from pydantic import SecretStr

from digest.delivery.transports.base import Misfit, Outcome, Outgoing, SendResult, dot_stuff
from digest.delivery.transports.smtp import MessageRateLimiter, SMTPTransport, classify
from digest.settings import Settings
from tests.smtp_server import SMTPServer, server_context


def message(rcpt: str, body: str = "Helo\r\n.leading dot\r\n") -> Outgoing:
    data = (f"From: a@example.org\r\nTo: {rcpt}\r\nSubject: t\r\nMessage-ID: <x@example.org>"
            f"\r\n\r\n{body}").encode()
    return Outgoing("<x@example.org>", "bounce@example.org", rcpt, data, dot_stuff(data))


@pytest.fixture
def smtp_settings(settings: Settings, smtp_server: SMTPServer) -> Settings:
    return settings.model_copy(update=smtp_server.smtp_settings())


@pytest.mark.parametrize("pipelining", [True, False])
def test_accepted_messages_arrive_intact_on_one_connection(
        smtp_settings: Settings, smtp_server: SMTPServer, pipelining: bool) -> None:
    smtp_server.behaviour.pipelining = pipelining
    transport = SMTPTransport(smtp_settings)
    results = [transport.send(message(f"r{i}@example.org")) for i in range(5)]
    transport.close()
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 5
    assert results[0].reply.startswith("250")
    assert smtp_server.handler.connections == 1
    got = smtp_server.received[0]
    assert got.mail_from == "bounce@example.org" and got.rcpt == "r0@example.org"
    # The server undoes the dot-stuffing: the line starting with a dot arrives as written.
    body = message_from_bytes(got.data, policy=default).get_content()
    assert body.replace("\r\n", "\n") == "Helo\n.leading dot\n"


@pytest.mark.parametrize(("where", "reply", "outcome"), [
    ("rcpt", "550 5.1.1 no such user", Outcome.PERMANENT),
    ("rcpt", "452 4.2.2 mailbox full", Outcome.TEMPORARY),
    ("data", "554 5.7.1 rejected", Outcome.PERMANENT),
    ("data", "451 4.7.1 greylisted", Outcome.TEMPORARY),
    ("data", "421 4.3.2 shutting down", Outcome.TEMPORARY),
])
def test_relay_replies_are_classified_and_the_connection_recovers(
        smtp_settings: Settings, smtp_server: SMTPServer, where: str, reply: str,
        outcome: Outcome) -> None:
    table = smtp_server.behaviour.rcpt_replies if where == "rcpt" else \
        smtp_server.behaviour.data_replies
    table["bad@example.org"] = [reply]
    transport = SMTPTransport(smtp_settings)
    bad = transport.send(message("bad@example.org"))
    good = transport.send(message("good@example.org"))
    transport.close()
    assert bad.outcome is outcome and bad.reply == reply
    assert good.outcome is Outcome.ACCEPTED
    assert [r.rcpt for r in smtp_server.received] == ["good@example.org"]


def test_a_connection_dropped_mid_data_is_temporary_and_reopened(
        smtp_settings: Settings, smtp_server: SMTPServer) -> None:
    smtp_server.behaviour.drop_mid_data["a@example.org"] = 1
    transport = SMTPTransport(smtp_settings)
    first = transport.send(message("a@example.org"))
    again = transport.send(message("a@example.org"))
    transport.close()
    assert first.outcome is Outcome.TEMPORARY and "connection" in first.reply
    assert again.outcome is Outcome.ACCEPTED
    assert smtp_server.handler.connections == 2


def test_no_server_is_a_temporary_failure(settings: Settings) -> None:
    from tests.smtp_server import free_port

    cfg = settings.model_copy(update={"transport": "smtp", "smtp_port": free_port(),
                                      "smtp_timeout": 2})
    result = SMTPTransport(cfg).send(message("a@example.org"))
    assert result.outcome is Outcome.TEMPORARY and result.unreachable
    assert result.reply == f"relay 127.0.0.1:{cfg.smtp_port} refused the connection"


def test_connection_is_reopened_after_n_messages(smtp_settings: Settings,
                                                 smtp_server: SMTPServer) -> None:
    cfg = smtp_settings.model_copy(update={"smtp_messages_per_connection": 2})
    transport = SMTPTransport(cfg)
    for i in range(5):
        assert transport.send(message(f"r{i}@example.org")).outcome is Outcome.ACCEPTED
    transport.close()
    assert smtp_server.handler.connections == 3


def test_rate_limit_spaces_messages(smtp_settings: Settings, smtp_server: SMTPServer) -> None:
    limiter = MessageRateLimiter(20.0)
    transport = SMTPTransport(smtp_settings, limiter)
    start = time.monotonic()
    for i in range(6):
        transport.send(message(f"r{i}@example.org"))
    transport.close()
    assert time.monotonic() - start >= 5 / 20.0  # six messages need five full intervals


def send_chain(transport: SMTPTransport, messages: list[Outgoing]) -> list[SendResult]:
    """Stage and complete each message naming the next one, as the send's workers do."""
    results = []
    for i, m in enumerate(messages):
        early = transport.stage(m)
        upcoming = messages[i + 1] if i + 1 < len(messages) else None
        results.append(early if early is not None else transport.complete(upcoming))
    return results


@pytest.mark.parametrize("pipelining", [True, False])
def test_the_next_envelope_goes_out_behind_the_final_dot(
        smtp_settings: Settings, smtp_server: SMTPServer, pipelining: bool) -> None:
    smtp_server.behaviour.pipelining = pipelining
    messages = [message(f"r{i}@example.org") for i in range(5)]
    transport = SMTPTransport(smtp_settings)
    assert transport.stage(messages[0]) is None
    first = transport.complete(messages[1])
    # White-box: with PIPELINING the relay has the next MAIL/RCPT/DATA already.
    assert (transport._announced is messages[1]) is pipelining
    results = [first, *send_chain(transport, messages[1:])]
    transport.close()
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 5
    assert [r.rcpt for r in smtp_server.received] == [f"r{i}@example.org" for i in range(5)]
    assert smtp_server.handler.connections == 1
    for got in smtp_server.received:
        body = message_from_bytes(got.data, policy=default).get_content()
        assert body.replace("\r\n", "\n") == "Helo\n.leading dot\n"


@pytest.mark.parametrize(("where", "reply", "outcome", "connections"), [
    ("rcpt", "550 5.1.1 no such user", Outcome.PERMANENT, 1),
    ("data", "554 5.7.1 rejected", Outcome.PERMANENT, 1),
    ("data", "421 4.3.2 shutting down", Outcome.TEMPORARY, 2),
])
def test_refusals_around_an_announced_envelope(
        smtp_settings: Settings, smtp_server: SMTPServer, where: str, reply: str,
        outcome: Outcome, connections: int) -> None:
    table = smtp_server.behaviour.rcpt_replies if where == "rcpt" else \
        smtp_server.behaviour.data_replies
    table["bad@example.org"] = [reply]
    messages = [message(f"{n}@example.org") for n in ("a", "bad", "c", "d")]
    transport = SMTPTransport(smtp_settings)
    results = send_chain(transport, messages)
    transport.close()
    assert [r.outcome for r in results] == \
        [Outcome.ACCEPTED, outcome, Outcome.ACCEPTED, Outcome.ACCEPTED]
    assert results[1].reply == reply
    assert [r.rcpt for r in smtp_server.received] == \
        ["a@example.org", "c@example.org", "d@example.org"]
    assert smtp_server.handler.connections == connections


@pytest.mark.parametrize("pipelining", [True, False])
def test_meanwhile_runs_once_per_staging_before_the_relay_accepts_it(
        smtp_settings: Settings, smtp_server: SMTPServer, pipelining: bool) -> None:
    smtp_server.behaviour.pipelining = pipelining
    transport = SMTPTransport(smtp_settings)
    accepted_then: list[int] = []

    def meanwhile() -> None:
        accepted_then.append(len(smtp_server.received))

    a, b = message("a@example.org"), message("b@example.org")
    assert transport.stage(a, meanwhile) is None  # envelope sent now: runs during its reply
    assert transport.complete(b).outcome is Outcome.ACCEPTED
    assert transport.stage(b, meanwhile) is None  # announced when pipelining: after the body
    assert accepted_then == [0, 1]  # neither message accepted while it was staged
    assert transport.complete().outcome is Outcome.ACCEPTED
    transport.close()
    assert [r.rcpt for r in smtp_server.received] == ["a@example.org", "b@example.org"]


def test_staging_another_message_than_announced_reconnects(
        smtp_settings: Settings, smtp_server: SMTPServer) -> None:
    transport = SMTPTransport(smtp_settings)
    assert transport.stage(message("a@example.org")) is None
    assert transport.complete(message("never@example.org")).outcome is Outcome.ACCEPTED
    assert transport.send(message("other@example.org")).outcome is Outcome.ACCEPTED
    transport.close()
    assert [r.rcpt for r in smtp_server.received] == ["a@example.org", "other@example.org"]
    assert smtp_server.handler.connections == 2


def test_closing_with_an_announced_envelope_delivers_none_of_it(
        smtp_settings: Settings, smtp_server: SMTPServer) -> None:
    transport = SMTPTransport(smtp_settings)
    assert transport.stage(message("a@example.org")) is None
    assert transport.complete(message("b@example.org")).outcome is Outcome.ACCEPTED
    transport.close()  # the run stopped before b: its envelope is open, its dot never sent
    assert transport.send(message("c@example.org")).outcome is Outcome.ACCEPTED
    transport.close()
    assert [r.rcpt for r in smtp_server.received] == ["a@example.org", "c@example.org"]


def test_a_relay_that_stops_answering_times_out_as_temporary(
        smtp_settings: Settings, smtp_server: SMTPServer) -> None:
    smtp_server.behaviour.delay = 4.0  # before the reply to the final dot
    transport = SMTPTransport(smtp_settings.model_copy(update={"smtp_timeout": 1}))
    result = transport.send(message("slow@example.org"))  # the reply would come after 4 s
    transport.close()
    assert result.outcome is Outcome.TEMPORARY and "timed out" in result.reply


def test_a_multi_line_reply_is_read_whole(smtp_settings: Settings,
                                          smtp_server: SMTPServer) -> None:
    smtp_server.behaviour.rcpt_replies["bad@example.org"] = [
        "550-5.1.1 no such user\r\n550 5.1.1 see https://example.org/help"]
    transport = SMTPTransport(smtp_settings)
    bad = transport.send(message("bad@example.org"))
    good = transport.send(message("good@example.org"))
    transport.close()
    assert bad.outcome is Outcome.PERMANENT
    assert bad.reply == "550 5.1.1 no such user\n5.1.1 see https://example.org/help"
    assert good.outcome is Outcome.ACCEPTED


def test_classify() -> None:
    assert classify(250, "ok").outcome is Outcome.ACCEPTED
    assert classify(550, "no").outcome is Outcome.PERMANENT
    assert classify(421, "bye").outcome is Outcome.TEMPORARY
    assert classify(-1, "odd").outcome is Outcome.TEMPORARY


def check_login(server: Any, session: Any, envelope: Any, mechanism: str,
                auth_data: Any) -> AuthResult:
    ok = (auth_data.login, auth_data.password) == (b"digest", b"s3cret!")
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself


def tls_server(certificate: tuple[Path, Path], **options: Any) -> SMTPServer:
    return SMTPServer(**{"tls_context": server_context(certificate), **options}).start()


def send_with_auth(settings: Settings, certificate: tuple[Path, Path], authenticator: Any,
                   user: str, password: str) -> tuple[SMTPServer, SendResult]:
    """One message through a STARTTLS relay that asks for AUTH: the (stopped) server, the result."""
    server = tls_server(certificate, require_starttls=True, authenticator=authenticator,
                        auth_require_tls=True)
    try:
        cfg = settings.model_copy(update={
            **server.smtp_settings(), "smtp_security": "starttls",
            "smtp_ca_file": certificate[0], "smtp_username": user,
            "smtp_password": SecretStr(password)})
        return server, SMTPTransport(cfg).send(message("a@example.org"))
    finally:
        server.stop()


@pytest.mark.parametrize(("password", "accepted"), [("s3cret!", True), ("wrong-pass", False)])
def test_starttls_and_auth(settings: Settings, certificate: tuple[Path, Path], password: str,
                           accepted: bool) -> None:
    server, result = send_with_auth(settings, certificate, check_login, "digest", password)
    if accepted:
        assert result.outcome is Outcome.ACCEPTED and len(server.received) == 1
    else:  # the relay's refusal is not the recipient's fault: retried, never a bounce
        assert result.outcome is Outcome.TEMPORARY and result.unreachable
        assert result.reply.startswith(f"relay {server.host}:{server.port} refused the login: 535")
        assert password not in result.reply and server.received == []


@pytest.mark.parametrize(("setting", "expected"), [
    ({"smtp_security": "starttls"}, "does not offer STARTTLS, which "
     "DIGEST_SMTP_SECURITY=starttls asks for"),
    ({"smtp_username": "digest", "smtp_password": SecretStr("s3cret!")},
     "does not offer AUTH, which DIGEST_SMTP_USERNAME asks for")])
def test_an_extension_the_relay_does_not_offer_is_named_with_its_setting(
        settings: Settings, setting: dict[str, Any], expected: str) -> None:
    """It was "could not be used: SMTPNotSupportedError: STARTTLS extension not supported by
    server.": a class name, and no word of the setting that asked for it."""
    server = SMTPServer(auth_require_tls=True).start()  # no TLS: no STARTTLS, no AUTH offered
    try:
        cfg = settings.model_copy(update={**server.smtp_settings(), **setting})
        result = SMTPTransport(cfg).send(message("a@example.org"))
    finally:
        server.stop()
    assert result.outcome is Outcome.TEMPORARY and result.unreachable
    assert result.reply == f"relay {server.host}:{server.port} {expected}"
    assert server.received == [] and "s3cret" not in result.reply


def test_implicit_tls(settings: Settings, certificate: tuple[Path, Path]) -> None:
    server = SMTPServer(ssl_context=server_context(certificate)).start()
    try:
        cfg = settings.model_copy(update={**server.smtp_settings(), "smtp_security": "tls",
                                          "smtp_ca_file": certificate[0]})
        assert SMTPTransport(cfg).send(message("a@example.org")).outcome is Outcome.ACCEPTED
        untrusted = settings.model_copy(update={**server.smtp_settings(),
                                                "smtp_security": "tls"})
        refused = SMTPTransport(untrusted).send(message("b@example.org"))
        assert refused.outcome is Outcome.TEMPORARY and refused.unreachable
        assert "certificate verify failed (" in refused.reply
        assert refused.reply.endswith(": for a private CA, name its certificate in "
                                      "DIGEST_SMTP_CA_FILE")
    finally:
        server.stop()
    assert [r.rcpt for r in server.received] == ["a@example.org"]


def silent_listener() -> tuple[socket.socket, int]:
    """A port that accepts connections and never says a word (neither SMTP nor TLS)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.listen(8)  # the kernel completes the handshakes: nobody needs to accept()
    return listener, listener.getsockname()[1]


@pytest.mark.parametrize("security", ["none", "starttls"])
def test_plain_text_to_an_implicit_tls_port_is_named_with_the_setting_that_fits(
        settings: Settings, certificate: tuple[Path, Path], security: str) -> None:
    """It waited the whole DIGEST_SMTP_TIMEOUT for a greeting, then said "closed the
    connection before it was ready", and was tried twice more."""
    server = SMTPServer(ssl_context=server_context(certificate)).start()
    try:
        cfg = settings.model_copy(update={**server.smtp_settings(), "smtp_timeout": 30,
                                          "smtp_security": security,
                                          "smtp_greeting_timeout": 0.5,
                                          "smtp_ca_file": certificate[0]})
        started = time.monotonic()
        result = SMTPTransport(cfg).send(message("a@example.org"))
        took = time.monotonic() - started
    finally:
        server.stop()
    assert isinstance(result, Misfit) and result.unreachable
    assert result.reply == (f"relay 127.0.0.1:{server.port} sent no SMTP greeting within "
                            "0.5 s but answers TLS: it is an implicit-TLS port, set "
                            "DIGEST_SMTP_SECURITY=tls")
    assert took < 10  # the greeting's timeout, not the 30 s one (a generous bound)
    assert server.received == []


@pytest.mark.parametrize("offers_starttls", [True, False])
def test_tls_to_a_plain_port_is_named_with_the_setting_that_fits(
        settings: Settings, certificate: tuple[Path, Path], offers_starttls: bool) -> None:
    """It was "TLS failed during connect (WRONG_VERSION_NUMBER)": OpenSSL's words, no
    setting."""
    server = tls_server(certificate) if offers_starttls else SMTPServer().start()
    try:
        cfg = settings.model_copy(update={**server.smtp_settings(), "smtp_security": "tls",
                                          "smtp_ca_file": certificate[0]})
        result = SMTPTransport(cfg).send(message("a@example.org"))
    finally:
        server.stop()
    assert isinstance(result, Misfit) and result.unreachable
    plain = (f"relay 127.0.0.1:{server.port} answered the TLS hello in plain SMTP: it is a "
             "plain port, not an implicit-TLS one")
    assert result.reply == (
        f"{plain}: set DIGEST_SMTP_SECURITY=starttls (it offers STARTTLS), or use the "
        "relay's implicit-TLS port (usually 465)" if offers_starttls else
        f"{plain}, and offers no STARTTLS: use the relay's implicit-TLS port (usually 465), "
        "or DIGEST_SMTP_SECURITY=none (unencrypted)")
    assert server.received == []


def test_a_relay_that_never_greets_is_a_retry_with_the_greeting_timeout_named(
        settings: Settings) -> None:
    """Neither SMTP nor TLS: maybe only slow, so it is no misfit (the run tries again)."""
    listener, port = silent_listener()
    with listener:
        cfg = settings.model_copy(update={"transport": "smtp", "smtp_port": port,
                                          "smtp_greeting_timeout": 0.3})
        result = SMTPTransport(cfg).send(message("a@example.org"))
    assert result.unreachable and not isinstance(result, Misfit)
    assert result.reply == (f"relay 127.0.0.1:{port} sent no SMTP greeting within 0.3 s: is "
                            "it an implicit-TLS port (DIGEST_SMTP_SECURITY=tls)? A slow relay "
                            "needs a longer DIGEST_SMTP_GREETING_TIMEOUT")


def test_the_greeting_timeout_leaves_the_rest_of_the_session_the_usual_timeout(
        smtp_settings: Settings, smtp_server: SMTPServer) -> None:
    smtp_server.behaviour.delay = 0.6  # before the reply to the final dot: over the greeting's
    cfg = smtp_settings.model_copy(update={"smtp_greeting_timeout": 0.2})
    transport = SMTPTransport(cfg)
    assert transport.send(message("a@example.org")).outcome is Outcome.ACCEPTED
    transport.close()


def check_welsh_login(server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
    ok = (auth_data.login, auth_data.password) == ("dŵr".encode(), "cyfrinair-ŵy".encode())
    return AuthResult(success=ok, handled=False)


@pytest.mark.parametrize(("password", "accepted"), [("cyfrinair-ŵy", True), ("anghywir-ŷ", False)])
def test_a_user_name_and_password_beyond_ascii_log_in_with_utf8_plain(
        settings: Settings, certificate: tuple[Path, Path], password: str,
        accepted: bool) -> None:
    """smtplib encodes AUTH in ASCII: it raised UnicodeEncodeError out of the transport, and
    the send stopped as an internal error (exit 70)."""
    server, result = send_with_auth(settings, certificate, check_welsh_login, "dŵr", password)
    if accepted:
        assert result.outcome is Outcome.ACCEPTED and len(server.received) == 1
    else:
        assert result.unreachable and result.reply.startswith(
            f"relay {server.host}:{server.port} refused the login: 535")
        assert password not in result.reply and server.received == []


def test_auth_offered_only_after_starttls_says_so(settings: Settings,
                                                  certificate: tuple[Path, Path]) -> None:
    """It said only "does not offer AUTH": true of plain text, not of the relay."""
    server = tls_server(certificate, authenticator=check_login, auth_require_tls=True)
    try:
        cfg = settings.model_copy(update={
            **server.smtp_settings(), "smtp_username": "digest",
            "smtp_password": SecretStr("s3cret!")})
        result = SMTPTransport(cfg).send(message("a@example.org"))
    finally:
        server.stop()
    assert result.unreachable and result.reply == (
        f"relay {server.host}:{server.port} does not offer AUTH, which DIGEST_SMTP_USERNAME "
        "asks for (it offers STARTTLS, and many relays offer AUTH only after it: "
        "DIGEST_SMTP_SECURITY=starttls)")


def test_a_certificate_for_another_name_names_the_host_setting(
        settings: Settings, certificate: tuple[Path, Path]) -> None:
    """It ended at OpenSSL's words ("IP address mismatch, ..."), naming no setting."""
    server = SMTPServer(ssl_context=server_context(certificate)).start()
    try:
        cfg = settings.model_copy(update={**server.smtp_settings(), "smtp_host": "localhost",
                                          "smtp_security": "tls",
                                          "smtp_ca_file": certificate[0]})
        result = SMTPTransport(cfg).send(message("a@example.org"))
    finally:
        server.stop()
    assert result.unreachable and result.reply.startswith(
        f"relay localhost:{server.port} certificate verify failed (")
    assert result.reply.endswith(": DIGEST_SMTP_HOST must be a name the relay's certificate "
                                 "holds")


@pytest.mark.parametrize("last_words", [b"", b"421 4.7.0 go away\r\n"])
def test_a_relay_that_hangs_up_after_ehlo_is_unreachable_not_the_message(
        settings: Settings, last_words: bytes) -> None:
    """It was a temporary failure of the message ("connection: SMTPServerDisconnected"),
    counted against each subscriber in turn while the relay refused them all."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        with listener:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"220 hello\r\n")
                conn.recv(1024)
                conn.sendall(b"250-relay\r\n250 PIPELINING\r\n")
                conn.recv(1024)
                conn.sendall(last_words)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    cfg = settings.model_copy(update={"transport": "smtp", "smtp_port": port,
                                      "smtp_timeout": 5})
    result = SMTPTransport(cfg).send(message("a@example.org"))
    thread.join(5)
    assert result.unreachable and result.outcome is Outcome.TEMPORARY
    assert result.reply == (f"relay 127.0.0.1:{port} answered 421 4.7.0 go away" if last_words
                            else f"relay 127.0.0.1:{port} closed the connection before it was "
                            "ready")
