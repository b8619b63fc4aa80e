"""`digest bounces …`, the bounce lines of `digest issue status` and `digest subscribers show`,
on the embedded SQLite database (the IMAP commands against the real Dovecot)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from digest.cli import app
from digest.delivery import verp
from digest.settings import REPO_ROOT
from digest.store.db import make_engine
from digest.store.models import Delivery, Subscriber, SubscriberState
from tests.bounces import reports
from tests.bounces.dovecot import Dovecot, free_port
from tests.conftest import TEST_SECRET_KEY

runner = CliRunner()
SECRET = TEST_SECRET_KEY


@pytest.fixture
def sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The demo issue sent to the example subscribers with VERP; email -> envelope sender."""
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("DIGEST_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DIGEST_BOUNCE_ADDRESS", "bounces@example.org")
    monkeypatch.setenv("DIGEST_SECRET_KEY", SECRET)
    for args in (["db", "upgrade"], ["content", "sync"],
                 ["subscribers", "import", str(REPO_ROOT / "subscribers" / "example.csv")],
                 ["issue", "plan", "--as-of", "2026-09-07T09:00"], ["issue", "approve", "2026-09"],
                 ["issue", "send", "2026-09"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    key = verp.derive_key(SECRET)
    engine = make_engine("sqlite:///var/digest.db")
    with Session(engine) as session:
        emails = {s.id: s.email for s in session.exec(select(Subscriber))}
        senders = {emails[d.subscriber_id]: verp.envelope_sender(
            "bounces@example.org", verp.make_tag(d.id or 0, key))
            for d in session.exec(select(Delivery))}
    engine.dispose()
    yield senders


def state(email: str) -> SubscriberState:
    engine: Engine = make_engine("sqlite:///var/digest.db")
    with Session(engine) as session:
        sub = session.exec(select(Subscriber).where(Subscriber.email == email)).one()
    engine.dispose()
    return sub.state


def first_two(senders: dict[str, str]) -> tuple[tuple[str, str], tuple[str, str]]:
    (a, sa), (b, sb) = sorted(senders.items())[:2]
    return (a, sa), (b, sb)


def test_process_a_file_and_a_directory(sent: dict[str, str], tmp_path: Path) -> None:
    (hard, hard_from), (complainer, complainer_from) = first_two(sent)
    one = tmp_path / "one.eml"
    one.write_bytes(reports.dsn(hard_from, hard, None))
    result = runner.invoke(app, ["bounces", "process", str(one)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == ("1 message(s): 1 applied, 0 ignored, 0 unmatched, 0 held; "
                                     "1 subscriber(s) bounced, 0 unsubscribed; 0 held for a "
                                     "person")
    assert state(hard) is SubscriberState.BOUNCED
    folder = tmp_path / "returned"
    folder.mkdir()
    (folder / "a.eml").write_bytes(one.read_bytes())  # again: already recorded
    (folder / "b.eml").write_bytes(reports.arf(complainer_from, complainer, "<x@y>"))
    (folder / "c.eml").write_bytes(reports.person_writes("bounces@example.org"))
    result = runner.invoke(app, ["bounces", "process", str(folder)])
    assert result.exit_code == 0, result.output
    assert "3 message(s): 1 applied, 0 ignored, 0 unmatched, 1 held" in result.output
    assert "1 unsubscribed; 1 held for a person; 1 report(s) already recorded" in result.output
    assert state(complainer) is SubscriberState.UNSUBSCRIBED
    assert sorted(p.name for p in folder.iterdir()) == ["a.eml", "b.eml", "c.eml"]  # untouched


def test_piped_message_not_understood_is_kept_in_the_database(sent: dict[str, str]) -> None:
    raw = reports.person_writes("bounces@example.org")
    result = runner.invoke(app, ["bounces", "process", "-"], input=raw)
    assert result.exit_code == 0, result.output
    assert "1 held for a person" in result.output
    listed = runner.invoke(app, ["bounces", "list", "--outcome", "held"])
    assert listed.exit_code == 0 and listed.output.startswith("#1 ")
    assert "file unknown held" in listed.output
    shown = runner.invoke(app, ["bounces", "raw", "1"])
    assert shown.exit_code == 0 and shown.stdout_bytes == raw
    purged = runner.invoke(app, ["bounces", "purge"])
    assert purged.exit_code == 0 and "dropped 0 raw message(s)" in purged.output
    assert runner.invoke(app, ["bounces", "raw", "2"]).exit_code == 1
    assert runner.invoke(app, ["bounces", "list", "--outcome", "odd"]).exit_code == 2


def test_piped_message_when_the_database_is_down_is_a_temporary_failure(
        sent: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/x")
    result = runner.invoke(app, ["bounces", "process", "-"],
                           input=reports.dsn("bounces@example.org", "a@example.org", None))
    assert result.exit_code == 75, result.output
    assert result.output.startswith("error: database: ") and len(result.output.splitlines()) == 1


def test_a_missing_path_is_one_line_and_not_temporary(sent: dict[str, str]) -> None:
    result = runner.invoke(app, ["bounces", "process", "nowhere.eml"])
    assert (result.exit_code, result.output.strip()) == (
        1, "error: file nowhere.eml: no such file or directory")


@pytest.mark.parametrize("blank", ["", "  "])
def test_an_empty_path_is_refused_not_the_current_directory(
        sent: dict[str, str], tmp_path: Path, blank: str) -> None:
    # `digest bounces process "$MAILDIR"` with the variable unset: Path("") is ".", and the
    # current directory was read (a maildir there had its mail moved), exit 0.
    for sub in ("cur", "new", "tmp"):
        (tmp_path / sub).mkdir()
    (tmp_path / "new" / "1.msg").write_bytes(reports.person_writes("bounces@example.org"))
    result = runner.invoke(app, ["bounces", "process", blank])
    assert result.exit_code == 1
    assert result.output.startswith("error: no path given (an empty argument")
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["1.msg"]


@pytest.mark.timeout(60)
def test_a_path_that_is_no_mailbox_is_one_line_exit_1(sent: dict[str, str],
                                                      tmp_path: Path) -> None:
    # A FIFO blocked the command for ever; a device or a directory of anything else was
    # "0 message(s)" (or 10 MB of /dev/zero held), exit 0, as if the bounces had been read.
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("x")
    for path, problem in [
            ("pipe", "is a FIFO (named pipe), not a message file, mbox or directory "
                     "(for standard input, give -)"),
            ("/dev/zero", "is a character device, not a message file, mbox or directory"),
            ("plain", "is a directory with no .eml file, and not a maildir (no cur/ and new/)")]:
        result = runner.invoke(app, ["bounces", "process", path])
        assert (result.exit_code, result.output) == (1, f"error: file {path}: {problem}\n")


def test_issue_status_and_subscriber_show(sent: dict[str, str]) -> None:
    (hard, hard_from), (complainer, complainer_from) = first_two(sent)
    for raw in (reports.dsn(hard_from, hard, None), reports.arf(complainer_from, complainer,
                                                                "<x@y>")):
        assert runner.invoke(app, ["bounces", "process", "-"], input=raw).exit_code == 0
    table = runner.invoke(app, ["issue", "status", "2026-09"])
    assert table.exit_code == 0, table.output
    assert "bounces: 1 hard (2.86% of 35 sent), 0 soft, 0 refused by the relay; " \
           "1 subscriber(s) bounced" in table.output
    assert "complaints: 1 (2.86%), above Gmail's 0.3% line; 1 subscriber(s) unsubscribed" \
           in table.output
    data = json.loads(runner.invoke(app, ["issue", "status", "2026-09", "--json"]).output)
    assert data["feedback"]["complaints"] == 1 and data["feedback"]["over_complaint_line"]
    assert data["feedback"]["complaint_line"] == 0.003
    shown = runner.invoke(app, ["subscribers", "show", complainer.upper()])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0].startswith(f"{complainer} (#") and lines[0].endswith(": unsubscribed, cy")
    assert lines[1].startswith("why: ") and "complaint" in lines[1]
    assert lines[2].startswith("  reported: complaint: unsubscribed (file, issue 2026-09, ")
    at = lines.index("bounces and complaints: 1")
    assert " complaint applied file 2026-09 -: complaint: unsubscribed" in lines[at + 1]
    assert any("unsubscribed (complaint) by bounces" in line for line in lines)
    assert runner.invoke(app, ["subscribers", "show", "nobody@example.org"]).exit_code == 1


def test_poll_needs_a_mailbox(sent: dict[str, str]) -> None:
    result = runner.invoke(app, ["bounces", "poll"])
    assert result.exit_code == 78 and "DIGEST_BOUNCE_IMAP_HOST" in result.output


def mailbox_env(monkeypatch: pytest.MonkeyPatch, server: Dovecot, **changes: str) -> None:
    values = {"HOST": server.host, "PORT": str(server.tls_port), "SECURITY": "tls",
              "USERNAME": server.user, "PASSWORD": server.password,
              "CA_FILE": str(server.ca_file)} | changes
    for name, value in values.items():
        monkeypatch.setenv(f"DIGEST_BOUNCE_IMAP_{name}", value)


def test_poll_reads_the_mailbox_over_tls(sent: dict[str, str], dovecot: Dovecot,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (hard, hard_from), _ = first_two(sent)
    dovecot.append(reports.dsn(hard_from, hard, None))
    dovecot.append(reports.person_writes("bounces@example.org"))
    mailbox_env(monkeypatch, dovecot)
    result = runner.invoke(app, ["bounces", "poll"])
    assert result.exit_code == 0, result.output
    assert "2 message(s): 1 applied, 0 ignored, 0 unmatched, 1 held" in result.output
    assert state(hard) is SubscriberState.BOUNCED
    assert dovecot.read() == []
    assert len(dovecot.read("digest.processed")) == len(dovecot.read("digest.held")) == 1


def test_poll_errors_are_one_line_and_only_a_server_failure_is_temporary(
        sent: dict[str, str], dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    mailbox_env(monkeypatch, dovecot, PORT=str(free_port()))
    down = runner.invoke(app, ["bounces", "poll"])
    assert down.exit_code == 75
    assert down.output.strip().endswith("refused the connection")
    assert len(down.output.splitlines()) == 1
    mailbox_env(monkeypatch, dovecot, PASSWORD="wrong-password")
    refused = runner.invoke(app, ["bounces", "poll"])
    assert refused.exit_code == 1 and "login failed" in refused.output
    assert "wrong-password" not in refused.output


def test_every_bounce_command_help_has_an_example(sent: dict[str, str]) -> None:
    for cmd in (["bounces", "poll"], ["bounces", "process"], ["bounces", "purge"],
                ["bounces", "list"], ["bounces", "raw"], ["subscribers", "show"]):
        result = runner.invoke(app, [*cmd, "--help"])
        assert result.exit_code == 0 and "Example: digest" in result.output, cmd


def test_bounces_list_shows_a_strangers_text_escaped(sent: dict[str, str]) -> None:
    # Anyone can mail the bounce address: a subject (RFC 2047, so it survives the header)
    # with a terminal escape sequence and a right-to-left override.
    subject = "=?utf-8?b?" + base64.b64encode(
        "\x1b]0;owned\x07 \u202egnp.exe".encode()).decode() + "?="
    raw = (f"From: someone@example.net\r\nTo: bounces@example.org\r\nSubject: {subject}\r\n"
           "Message-ID: <odd-1@example.net>\r\n\r\nhello\r\n").encode()
    assert runner.invoke(app, ["bounces", "process", "-"], input=raw).exit_code == 0
    listed = runner.invoke(app, ["bounces", "list"])
    assert listed.exit_code == 0 and "owned" in listed.output
    assert "\x1b" not in listed.output and "\u202e" not in listed.output
    assert "\\u202e" in listed.output  # shown, as an escape
