"""IMAPSource against a real Dovecot on loopback (tests/bounces/dovecot.py)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from digest.bounces.sources.base import Incoming, Source, SourceError
from digest.bounces.sources.imap import IMAPSource
from tests.bounces.dovecot import Dovecot, free_port

PROCESSED, HELD = "digest.processed", "digest.held"  # Dovecot's Maildir++ spelling of the names


def bounce(n: int, body: str = "The message could not be delivered.") -> bytes:
    """A small returned message, unique by `n`."""
    return (f"From: MAILER-DAEMON@example.net\r\nTo: bounces+t{n}@example.org\r\n"
            f"Subject: Undelivered Mail Returned to Sender ({n})\r\n"
            f"Message-ID: <bounce-{n}@example.net>\r\n\r\n{body}\r\n").encode()


def source(server: Dovecot, **options: Any) -> IMAPSource:
    """A source over implicit TLS, trusting the test CA."""
    settings: dict[str, Any] = {"port": server.tls_port, "security": "tls",
                                "ca_file": server.ca_file, "timeout": 10}
    return IMAPSource(server.host, username=server.user, password=server.password,
                      **(settings | options))


def one_line(error: pytest.ExceptionInfo[SourceError]) -> str:
    """The error's message, checked to be a single line without a traceback."""
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_is_a_source(dovecot: Dovecot) -> None:
    src: Source = source(dovecot)
    src.close()


def test_poll_finds_appended_messages_without_marking_them_read(dovecot: Dovecot) -> None:
    for n in range(3):
        dovecot.append(bounce(n))
    with source(dovecot) as src:
        items = list(src.poll())
    assert [item.raw for item in items] == [bounce(n) for n in range(3)]
    assert all(item.problem is None for item in items)
    assert [m.flags for m in dovecot.read()] == [frozenset()] * 3


@pytest.mark.parametrize("security", ["tls", "starttls", "none"])
def test_done_and_held_move_messages_out_of_the_inbox(dovecot: Dovecot, security: str) -> None:
    for n in range(3):
        dovecot.append(bounce(n))
    port = dovecot.tls_port if security == "tls" else dovecot.port
    with source(dovecot, security=security, port=port) as src:
        first, second, third = src.poll()
        src.done(first.key)
        src.held(second.key)
        src.done(third.key)
        assert list(src.poll()) == []
    assert dovecot.read() == []
    assert [(m.raw, m.flags) for m in dovecot.read(PROCESSED)] == [
        (bounce(0), frozenset({"\\Seen"})), (bounce(2), frozenset({"\\Seen"}))]
    assert [(m.raw, m.flags) for m in dovecot.read(HELD)] == [(bounce(1), frozenset())]
    assert (dovecot.maildir / f".{PROCESSED}").is_dir()  # "digest/processed" translated


def test_message_appended_between_polls_is_picked_up(dovecot: Dovecot) -> None:
    dovecot.append(bounce(1))
    with source(dovecot) as src:
        for item in src.poll():
            src.done(item.key)
        dovecot.append(bounce(2))
        assert [item.raw for item in src.poll()] == [bounce(2)]


def test_abandoned_mid_poll_the_next_poll_yields_exactly_the_rest(dovecot: Dovecot) -> None:
    for n in range(7):
        dovecot.append(bounce(n))
    crashed = source(dovecot, batch_messages=2)  # several batches: done() between fetches
    seen = []
    for item in crashed.poll():
        seen.append(item.raw)
        if len(seen) % 2:
            crashed.done(item.key)
        if len(seen) == 5:
            break  # the process "dies": no close(), no more done()
    with source(dovecot) as fresh:
        rest = list(fresh.poll())
    assert [item.raw for item in rest] == [bounce(1), bounce(3), bounce(5), bounce(6)]
    assert [m.raw for m in dovecot.read(PROCESSED)] == [bounce(0), bounce(2), bounce(4)]
    crashed.close()


def test_connection_lost_before_done_raises_one_line_and_loses_nothing(dovecot: Dovecot) -> None:
    dovecot.append(bounce(1))
    src = source(dovecot)
    (item,) = src.poll()
    src._client.socket().shutdown(socket.SHUT_RDWR)  # the network goes away under the source
    with pytest.raises(SourceError) as error:
        src.done(item.key)
    assert one_line(error).startswith(f"imap 127.0.0.1:{dovecot.tls_port}: ")
    assert error.value.temporary
    # The next poll reconnects; the key from before is still valid (same UIDVALIDITY).
    assert [again.raw for again in src.poll()] == [bounce(1)]
    src.done(item.key)
    assert list(src.poll()) == []
    src.close()
    src.close()


def test_oversized_message_is_yielded_as_headers_with_a_problem_then_held(
        dovecot: Dovecot) -> None:
    big = bounce(1, body="x" * 5000)
    dovecot.append(big)
    dovecot.append(bounce(2))
    with source(dovecot, max_message_bytes=2000) as src:
        large, small = src.poll()
        assert small == Incoming(small.key, bounce(2))
        assert large.problem is not None and "over the 2000-byte limit" in large.problem
        assert large.raw == big.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
        src.held(large.key)
        src.done(small.key)
    assert [m.raw for m in dovecot.read(HELD)] == [big]  # kept whole, for a person


class _WithoutMove(IMAPSource):
    """The same source talking to a server that lacks MOVE (and optionally UIDPLUS)."""

    uidplus = True

    def _ensure(self) -> Any:
        client = super()._ensure()
        self._can_move, self._uidplus = False, self.uidplus and self._uidplus
        return client


@pytest.mark.parametrize("uidplus", [True, False])
def test_without_move_copies_flags_and_expunges(dovecot: Dovecot, uidplus: bool) -> None:
    for n in range(3):
        dovecot.append(bounce(n))
    src = _WithoutMove(dovecot.host, port=dovecot.port, security="starttls",
                       ca_file=dovecot.ca_file, username=dovecot.user,
                       password=dovecot.password)
    src.uidplus = uidplus
    with src:
        first, second, _ = src.poll()
        src.done(first.key)
        src.held(second.key)
        assert [item.raw for item in src.poll()] == [bounce(2)]
    assert [m.raw for m in dovecot.read()] == [bounce(2)]
    assert [m.raw for m in dovecot.read(PROCESSED)] == [bounce(0)]
    assert [m.raw for m in dovecot.read(HELD)] == [bounce(1)]


def test_without_move_finishes_a_move_interrupted_before_expunge(dovecot: Dovecot) -> None:
    uid = dovecot.append(bounce(1))
    dovecot.append(bounce(2))
    with dovecot.client() as client:  # what a crash between COPY + \Deleted and EXPUNGE leaves
        client.create_folder(PROCESSED)
        client.select_folder("INBOX")
        client.copy([uid], PROCESSED)
        client.add_flags([uid], [b"\\Deleted"])
    with _WithoutMove(dovecot.host, port=dovecot.port, security="none",
                      username=dovecot.user, password=dovecot.password) as src:
        assert [item.raw for item in src.poll()] == [bounce(2)]
    assert [m.raw for m in dovecot.read()] == [bounce(2)]
    assert [m.raw for m in dovecot.read(PROCESSED)] == [bounce(1)]


def test_tls_without_the_test_ca_fails_certificate_verification(dovecot: Dovecot) -> None:
    with pytest.raises(SourceError) as error:
        list(source(dovecot, ca_file=None).poll())
    assert one_line(error).startswith(
        f"imap 127.0.0.1:{dovecot.tls_port}: certificate verify failed")
    assert not error.value.temporary  # a person must fix the CA file


def test_starttls_without_the_test_ca_fails_certificate_verification(dovecot: Dovecot) -> None:
    with pytest.raises(SourceError) as error:
        list(source(dovecot, security="starttls", port=dovecot.port, ca_file=None).poll())
    assert one_line(error).startswith(
        f"imap 127.0.0.1:{dovecot.port}: certificate verify failed")
    assert not error.value.temporary


def test_tls_to_the_plain_port_names_the_setting_that_fits(dovecot: Dovecot) -> None:
    """It said "TLS failed during connect (WRONG_VERSION_NUMBER)", as a temporary failure
    (exit 75) that every poll met again."""
    with pytest.raises(SourceError) as error:
        list(source(dovecot, port=dovecot.port).poll())
    assert one_line(error) == (
        f"imap 127.0.0.1:{dovecot.port}: answered the TLS hello in plain IMAP: it is a plain "
        "port, not an implicit-TLS one: set DIGEST_BOUNCE_IMAP_SECURITY=starttls, or use the "
        "server's implicit-TLS port (usually 993)")
    assert not error.value.temporary


@pytest.mark.parametrize("security", ["starttls", "none"])
def test_plain_text_to_the_tls_port_names_the_setting_that_fits(dovecot: Dovecot,
                                                                security: str) -> None:
    """It waited out the timeout and said the server did not answer, as a temporary failure."""
    with pytest.raises(SourceError) as error:
        list(source(dovecot, security=security, port=dovecot.tls_port, timeout=1).poll())
    assert one_line(error) == (
        f"imap 127.0.0.1:{dovecot.tls_port}: sent no IMAP greeting but answers TLS: it is an "
        "implicit-TLS port, set DIGEST_BOUNCE_IMAP_SECURITY=tls")
    assert not error.value.temporary


def test_a_silent_port_is_still_a_temporary_failure() -> None:
    """A server that never greets, in plain text or TLS, may be down: not a setting to fix."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        for security in ("tls", "starttls"):
            src = IMAPSource("127.0.0.1", port=port, security=security, username="u",
                             password="p", timeout=0.5)
            with pytest.raises(SourceError) as error:
                list(src.poll())
            assert error.value.temporary and "greeting" not in one_line(error), security


def test_missing_ca_file_is_one_line(dovecot: Dovecot) -> None:
    missing = dovecot.ca_file.with_name("nope.pem")
    with pytest.raises(SourceError) as error:
        list(source(dovecot, ca_file=missing).poll())
    assert str(missing) in one_line(error)
    assert not error.value.temporary


def test_wrong_password_is_one_line_without_the_password(dovecot: Dovecot) -> None:
    src = IMAPSource(dovecot.host, port=dovecot.tls_port, ca_file=dovecot.ca_file,
                     username=dovecot.user, password="not-the-password", timeout=10)
    with pytest.raises(SourceError) as error:
        list(src.poll())
    message = one_line(error)
    assert message.startswith(f"imap 127.0.0.1:{dovecot.tls_port}: login failed")
    assert "not-the-password" not in message and "b'" not in message
    assert not error.value.temporary


def test_nothing_listening_is_one_line() -> None:
    port = free_port()
    src = IMAPSource("127.0.0.1", port=port, username="u", password="p", timeout=5)
    with pytest.raises(SourceError) as error:
        list(src.poll())
    assert one_line(error) == f"imap 127.0.0.1:{port}: refused the connection"
    assert error.value.temporary


def test_server_that_never_greets_times_out_in_one_line() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        src = IMAPSource("127.0.0.1", port=port, security="none", username="u", password="p",
                         timeout=0.3)
        with pytest.raises(SourceError) as error:
            list(src.poll())
    assert one_line(error) == f"imap 127.0.0.1:{port}: did not answer within 0.3 s (during connect)"
    assert error.value.temporary


def test_plain_imap_is_refused_off_loopback() -> None:
    refused = r"^imap mail\.example\.org:143: security 'none'"
    with pytest.raises(SourceError, match=refused) as error:
        IMAPSource("mail.example.org", security="none", username="u", password="p")
    assert not error.value.temporary


@pytest.mark.parametrize("folders, said", [
    ({"processed_folder": "inbox"}, "processed folder 'inbox' is the same folder as the mailbox"),
    ({"held_folder": "INBOX/"}, "held folder 'INBOX/' is the same folder as the mailbox"),
    ({"processed_folder": "digest/x", "held_folder": "digest//x/"},
     "held folder 'digest//x/' is the same folder as the processed folder"),
    ({"mailbox": ""}, "mailbox '' is not a folder name"),
    ({"processed_folder": "/"}, "processed folder '/' is not a folder name"),
    ({"held_folder": "digest/\r\nheld"}, "held folder 'digest/\\r\\nheld' is not a folder name"),
])
def test_folders_that_collide_or_are_no_name_are_refused_before_connecting(
        folders: dict[str, Any], said: str) -> None:
    """Processed mail moved back into the mailbox (`inbox`, `INBOX/`) was read again on every
    poll, held mail moved among processed mail was never found, and an empty name failed only
    at the server, as a temporary failure (exit 75) that no retry would mend."""
    with pytest.raises(SourceError) as error:
        IMAPSource("mail.example.org", username="u", password="p", **folders)
    assert said in one_line(error) and not error.value.temporary


def test_a_folder_that_is_the_mailbox_on_this_server_is_refused(dovecot: Dovecot) -> None:
    """`INBOX/digest` and `INBOX.digest` are one folder on a server whose delimiter is "."."""
    src = IMAPSource(dovecot.host, username=dovecot.user, password=dovecot.password,
                     port=dovecot.tls_port, ca_file=dovecot.ca_file, mailbox="INBOX.digest",
                     processed_folder="INBOX/digest")
    with src, pytest.raises(SourceError) as error:
        list(src.poll())
    assert "mailbox 'INBOX.digest' is also the processed or held folder" in one_line(error)
    assert not error.value.temporary


def test_default_ports() -> None:
    assert IMAPSource("mail.example.org", username="u", password="p").port == 993
    assert IMAPSource("mail.example.org", security="starttls", username="u",
                      password="p").port == 143
