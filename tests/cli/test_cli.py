"""The CLI end to end on the embedded default: the demo, plan, preview and send commands."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
import typer.main
from pydantic import SecretStr
from sqlmodel import Session, select
from typer.testing import CliRunner

from digest.cli import app
from digest.settings import REPO_ROOT, Settings, secret_key_problem
from digest.store.db import make_engine, upgrade
from digest.store.models import Delivery, DeliveryState, Issue, Subscriber
from digest.tokens import Purpose
from tests.conftest import TEST_SECRET_KEY, new_database
from tests.factories import add_review, add_sample_content, add_subscribers, approved_issue

runner = CliRunner()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current directory and an environment free of DIGEST_* settings."""
    monkeypatch.chdir(tmp_path)
    for key in [k for k in __import__("os").environ if k.startswith("DIGEST_")]:
        monkeypatch.delenv(key)
    return tmp_path


def expected_languages() -> dict[str, str]:
    with (REPO_ROOT / "subscribers" / "example.csv").open(encoding="utf-8") as fh:
        return {row["email"].lower(): row["language"] for row in csv.DictReader(fh)}


def test_demo_writes_one_message_per_subscriber_in_their_language(workdir: Path) -> None:
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "planned issue 2026-09" in result.output
    outbox = workdir / "var" / "outbox"
    files = sorted(outbox.glob("*.eml"))
    wanted = expected_languages()
    assert len(files) == len(wanted) == 35
    header = {"cy": "cy", "en": "en", "both": "cy, en"}
    for path in files:
        msg = message_from_bytes(path.read_bytes(), policy=default)
        email = msg["To"].addresses[0].addr_spec
        assert msg["Content-Language"] == header[wanted[email]], email
    for lang in ("cy", "en", "both"):
        html = (workdir / "var" / "preview" / f"2026-09-{lang}.html").read_text(encoding="utf-8")
        assert html.startswith("<!doctype html>")
        assert (workdir / "var" / "preview" / f"2026-09-{lang}.txt").exists()
    assert str(outbox) in result.output.replace("\n", "")

    again = runner.invoke(app, ["demo"])
    assert again.exit_code == 0, again.output
    assert "already exists" in again.output
    assert len(list(outbox.glob("*.eml"))) == 35


def test_commands_one_by_one(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", TEST_SECRET_KEY)  # the import keys its hashes
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    synced = runner.invoke(app, ["content", "sync", str(REPO_ROOT / "content")])
    assert synced.exit_code == 0 and "created" in synced.output
    imported = runner.invoke(app, ["subscribers", "import",
                                   str(REPO_ROOT / "subscribers" / "example.csv")])
    assert imported.exit_code == 0 and "35 added" in imported.output

    nothing = runner.invoke(app, ["issue", "plan", "--as-of", "2020-01-06"])
    assert nothing.exit_code == 0 and "nothing new" in nothing.output
    bad = runner.invoke(app, ["issue", "plan", "--as-of", "next tuesday"])
    assert bad.exit_code != 0 and "2026-09-07" in bad.output

    planned = runner.invoke(app, ["issue", "plan", "--as-of", "2026-09-07T09:00"])
    assert planned.exit_code == 0 and "planned issue 2026-09" in planned.output
    preview = runner.invoke(app, ["issue", "preview", "2026-09", "--lang", "cy",
                                  "--out-dir", "prev"])
    assert preview.exit_code == 0
    assert "Medi 2026" in (workdir / "prev" / "2026-09-cy.txt").read_text(encoding="utf-8")
    missing = runner.invoke(app, ["issue", "preview", "1999-01"])
    assert missing.exit_code == 1 and "no issue" in missing.output

    monkeypatch.delenv("DIGEST_SECRET_KEY")
    keyless = runner.invoke(app, ["issue", "send", "2026-09"])
    assert keyless.exit_code == 78 and "DIGEST_SECRET_KEY is not set" in keyless.output
    monkeypatch.setenv("DIGEST_SECRET_KEY", TEST_SECRET_KEY)
    draft = runner.invoke(app, ["issue", "send", "2026-09"])
    assert draft.exit_code == 1 and "approve it first" in draft.output
    approved = runner.invoke(app, ["issue", "approve", "2026-09", "--as", "Siân"])
    assert approved.exit_code == 0 and "approved by Siân" in approved.output
    shown = runner.invoke(app, ["issue", "show", "2026-09"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0].startswith("issue 2026-09 (#1): approved; items published after 2026-08-07")
    assert [line.split(":")[0].strip() for line in lines[1:4]] == ["both", "cy", "en"]
    assert all("bytes HTML" in line for line in lines[1:4])
    assert ": Medi 2026 — 5 adolygiad newydd · 4 seminar i ddod · 2 eitem newyddion" in lines[2]
    titles = shown.output  # each item's Welsh title first, then " / " and the English
    assert ("  review adoption-sibling-relationships: "
            "Dylanwad mabwysiadu ar y berthynas rhwng brodyr a chwiorydd") in titles
    assert titles.index("Dylanwad mabwysiadu") < titles.index("The influence of adoption")
    assert "translation check: passes" in lines and lines[-1].endswith(" Siân: approved")
    assert runner.invoke(app, ["issue", "show", "1999-01"]).exit_code == 1
    sent = runner.invoke(app, ["issue", "send", "2026-09"])
    assert sent.exit_code == 0 and "35 new outbox row(s)" in sent.output
    assert len(list((workdir / "var" / "outbox").glob("*.eml"))) == 35


def command_paths() -> list[list[str]]:
    """Every group and command of `digest`, found by walking the app (new ones included)."""
    def walk(cmd: Any, path: list[str]) -> list[list[str]]:
        found = [path]
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):  # a group's commands
            found += walk(sub, [*path, name])
        return found
    return walk(typer.main.get_command(app), [])


def test_every_command_and_group_help_has_an_example(workdir: Path) -> None:
    paths = command_paths()
    groups = {"db", "content", "subscribers", "issue", "scheduler"}
    assert {p[0] for p in paths if p} >= groups | {"demo", "serve", "editor-password",
                                                   "secret-key"}
    assert len(paths) >= 20
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0 and "Example: digest" in result.output, path


def test_titles_and_replies_cannot_forge_lines_in_cli_output(workdir: Path) -> None:
    engine = make_engine(f"sqlite:///{new_database(workdir / 'var' / 'digest.db')}")
    upgrade(engine)
    with Session(engine) as session:
        add_sample_content(session)
        add_review(session, "forged", datetime(2026, 9, 1, tzinfo=UTC),
                   title="Real title\x1b[2J\nreview: [bold]forged[/bold] line\u202e")
        add_subscribers(session, 1)
        approved_issue(session, Settings(  # type: ignore[call-arg]
            _env_file=None, secret_key=SecretStr(TEST_SECRET_KEY)))
        issue_id = session.exec(select(Issue)).one().id
        sub = session.exec(select(Subscriber)).first()
        assert sub is not None
        session.add(Delivery(issue_id=issue_id or 0, subscriber_id=sub.id or 0,
                             state=DeliveryState.RETRY, last_error="451 \x1b[31mred\nforged"))
        session.commit()
    engine.dispose()
    shown = runner.invoke(app, ["issue", "show", "2026-09"])
    assert shown.exit_code == 0, shown.output
    assert "\x1b" not in shown.output and "\u202e" not in shown.output
    assert "Real title\\x1b[2J\\x0areview: [bold]forged[/bold] line\\u202e" in shown.output
    assert not [line for line in shown.output.splitlines() if line.startswith("review: ")]
    status = runner.invoke(app, ["issue", "status", "2026-09"])
    assert status.exit_code == 0, status.output
    assert "451 \\x1b[31mred\\x0aforged" in status.output and "\x1b" not in status.output


def test_secret_key_prints_a_new_strong_key(workdir: Path) -> None:
    keys = [runner.invoke(app, ["secret-key"]).output.strip() for _ in range(2)]
    assert keys[0] != keys[1] and all(secret_key_problem(k) is None for k in keys)
    assert "Example: digest secret-key" in runner.invoke(app, ["secret-key", "--help"]).output


@pytest.mark.parametrize(("key", "says"), [
    (None, "DIGEST_SECRET_KEY is not set"),
    ("change-me-in-production-this-is-only-for-the-demo", "a demo value"),
    ("test-secret", "a demo value"),
    ("short-but-not-a-demo-value", "too weak"),
])
@pytest.mark.parametrize("command", [["serve"], ["issue", "send", "2026-09"],
                                     ["scheduler", "--once"]])
def test_serve_send_and_scheduler_refuse_a_missing_public_or_weak_key(
        workdir: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], key: str | None,
        says: str) -> None:
    if key is not None:
        monkeypatch.setenv("DIGEST_SECRET_KEY", key)
    result = runner.invoke(app, command)
    assert result.exit_code == 78 and says in result.output  # EX_CONFIG, like any setting
    assert result.output.strip().count("\n") == 0  # one line: what is wrong and what to do
    assert "digest secret-key" in result.output and "Traceback" not in result.output
    assert not (workdir / "var").exists()  # refused before touching anything


def test_scheduler_starts_with_a_good_key(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", TEST_SECRET_KEY)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["scheduler", "--once"]).exit_code == 0


def test_the_demo_makes_its_own_key_under_var_and_keeps_it(workdir: Path) -> None:
    from digest.tokens import Tokens

    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    key_file = workdir / "var" / "secret-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_text().strip()
    assert secret_key_problem(key) is None and str(key_file) in result.output.replace("\n", "")
    message = message_from_bytes(next((workdir / "var" / "outbox").glob("*.eml")).read_bytes())
    unsub = message["List-Unsubscribe"].strip("<>").rsplit("/", 1)[1]
    tokens = Tokens(Settings(_env_file=None, secret_key=SecretStr(key)))  # type: ignore[call-arg]
    assert tokens.read(Purpose.UNSUBSCRIBE, unsub) > 0  # the messages are signed with it
    assert runner.invoke(app, ["demo"]).exit_code == 0
    assert key_file.read_text().strip() == key  # kept, not made again
