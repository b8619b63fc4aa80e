"""A lifecycle step that does not apply is one line, exit 1, and changes nothing: approving
or cancelling an issue in the wrong state (named), replanning to nothing new, approving an
issue with no items, a test send with no variant. Through `digest.cli.main`."""

from __future__ import annotations

import json
import sqlite3
import typing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.settings import REPO_ROOT
from tests.cli.console import bare_workdir, digest
from tests.conftest import new_database


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current directory, a SQLite database, a good key, the file transport."""
    bare_workdir(tmp_path, monkeypatch)
    monkeypatch.setenv("DIGEST_DATABASE_URL", f"sqlite:///{new_database(tmp_path / 'digest.db')}")
    return tmp_path


@pytest.fixture
def planned(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo content and subscribers, and the draft issue 2026-09."""
    for args in (["content", "sync", str(REPO_ROOT / "content")],
                 ["subscribers", "import", str(REPO_ROOT / "subscribers" / "example.csv")],
                 ["issue", "plan", "--as-of", "2026-09-07T09:00"]):
        code, out, err = digest(capsys, *args)
        assert code == 0, out + err


def shown(capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = digest(capsys, "issue", "show", "2026-09")
    assert code == 0, err
    return out


def status(capsys: pytest.CaptureFixture[str]) -> dict[str, typing.Any]:
    code, out, err = digest(capsys, "issue", "status", "2026-09", "--json")
    assert code == 0, err
    found: dict[str, typing.Any] = json.loads(out)
    return found


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The one error line of a refused command (exit 1, nothing on stdout, no traceback)."""
    code, out, err = digest(capsys, *args)
    assert (code, out) == (1, ""), out + err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err.removeprefix("error: ").rstrip("\n")


@pytest.mark.usefixtures("planned")
def test_approving_or_cancelling_in_the_wrong_state_names_the_state(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert digest(capsys, "issue", "approve", "2026-09", "--as", "Siân")[0] == 0
    before = shown(capsys)
    assert refused(capsys, "issue", "approve", "2026-09") == \
        "issue 2026-09 is approved; only a draft can be approved"
    assert refused(capsys, "issue", "approve", "2026-09", "--force", "--reason", "again") == \
        "issue 2026-09 is approved; only a draft can be approved"
    assert shown(capsys) == before
    assert digest(capsys, "issue", "cancel", "2026-09", "--reason", "merged")[0] == 0
    assert refused(capsys, "issue", "cancel", "2026-09", "--reason", "again") == \
        "issue 2026-09 is cancelled; only a draft or an approved issue can be cancelled"
    assert refused(capsys, "issue", "approve", "2026-09") == \
        "issue 2026-09 is cancelled; only a draft can be approved"
    assert status(capsys)["state"] == "cancelled"


@pytest.mark.usefixtures("planned")
def test_a_replan_to_nothing_new_is_one_line_and_changes_nothing(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    before = shown(capsys)
    monkeypatch.setenv("DIGEST_MIN_NEW_ITEMS", "1000")
    line = refused(capsys, "issue", "replan", "2026-09", "--as-of", "2026-09-08T09:00")
    assert line.startswith("nothing new for 2026-09 as of 2026-09-08 09:00 Europe/London: ")
    assert line.endswith(" new item(s), minimum 1000; the issue is unchanged")
    monkeypatch.delenv("DIGEST_MIN_NEW_ITEMS")
    assert shown(capsys) == before  # the items, the variants and the history as they were


@pytest.mark.usefixtures("planned")
def test_a_replan_out_of_the_month_says_the_date_as_given(
        capsys: pytest.CaptureFixture[str]) -> None:
    before = shown(capsys)
    assert refused(capsys, "issue", "replan", "2026-09", "--as-of", "2026-10-05") == (
        "2026-10-05 00:00 Europe/London is not in 2026-09; an issue is replanned only as of a "
        "moment in its own month")
    assert shown(capsys) == before


@pytest.mark.usefixtures("planned")
def test_approving_an_issue_with_no_items_is_refused(workdir: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with sqlite3.connect(workdir / "digest.db") as db:
        db.execute("DELETE FROM issue_item")
    before = shown(capsys)
    for extra in ([], ["--force", "--reason", "anyway"]):
        assert refused(capsys, "issue", "approve", "2026-09", *extra) == (
            "issue 2026-09 has no items; nothing to approve (replan it when there is something "
            "new, or cancel it)")
    assert shown(capsys) == before and status(capsys)["state"] == "draft"


@pytest.mark.usefixtures("planned")
def test_a_test_send_with_no_variant_is_refused(workdir: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with sqlite3.connect(workdir / "digest.db") as db:
        db.execute("DELETE FROM issue_variant")
    assert refused(capsys, "issue", "send", "2026-09", "--test-to", "qa@example.org") == \
        "issue 2026-09 (draft) has no variant to test; nothing was sent"
    assert not list((workdir / "var" / "outbox").glob("*.eml"))
    assert status(capsys)["counts"] == {}


def test_a_test_send_of_a_skipped_period_is_refused(workdir: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from digest.issue import service
    from digest.settings import Settings
    from digest.store.db import make_engine, session_scope, upgrade

    settings = Settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    with session_scope(engine, write=True) as session:  # as the scheduler records a quiet month
        outcome = service.plan(session, settings, datetime(2026, 10, 5, 8, tzinfo=UTC),
                               record_skip=True)
        assert outcome.issue is not None and outcome.issue.state.value == "skipped"
    engine.dispose()
    assert refused(capsys, "issue", "send", "2026-10", "--test-to", "qa@example.org") == \
        "issue 2026-10 (skipped) has no variant to test; nothing was sent"
    assert not list((workdir / "var" / "outbox").glob("*.eml"))


@pytest.mark.usefixtures("planned")
def test_a_withdrawn_item_holds_the_send_until_reopened_and_replanned(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Withdrawn after approval: `send` refuses (nothing written), `--dry-run` says so, and
    `reopen` makes it a draft again; a second reopen names the state."""
    assert digest(capsys, "issue", "approve", "2026-09")[0] == 0
    with sqlite3.connect(workdir / "digest.db") as db:
        (slug,) = db.execute("SELECT r.slug FROM review r JOIN issue_item i ON i.item_id = r.id "
                             "AND i.kind = 'review' ORDER BY i.position LIMIT 1").fetchone()
        db.execute("UPDATE review SET withdrawn_at = '2026-09-07 10:00:00' WHERE slug = ?",
                   (slug,))
    before = shown(capsys)
    held = (f"issue 2026-09 carries withdrawn item(s): review {slug}; nothing was sent; "
            "reopen it (digest issue reopen 2026-09 --reason ...), replan it and approve it "
            "again, or cancel it")
    assert refused(capsys, "issue", "send", "2026-09") == held
    code, out, err = digest(capsys, "issue", "send", "2026-09", "--dry-run")
    assert code == 0 and "dry run, nothing sent" in out, out + err
    assert f"warning: the send would be refused: {held}\n" in err
    assert shown(capsys) == before and status(capsys)["counts"] == {}
    assert not list((workdir / "var" / "outbox").glob("*.eml"))
    code, out, err = digest(capsys, "issue", "reopen", "2026-09", "--reason", "retracted",
                            "--as", "Siân")
    assert (code, out) == (0, "issue 2026-09 is a draft again; replan it and approve it to "
                              "send it\n"), err
    assert "Siân: reopened - retracted" in shown(capsys)
    assert refused(capsys, "issue", "reopen", "2026-09", "--reason", "again") == \
        "issue 2026-09 is draft; only an approved issue can be reopened"
    assert refused(capsys, "issue", "approve", "2026-09").startswith(
        f"issue 2026-09 carries withdrawn item(s): review {slug}; replan it")
    assert status(capsys)["state"] == "draft"
