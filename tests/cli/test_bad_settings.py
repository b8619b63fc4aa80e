"""Settings that load but cannot be used, and dates past the calendar: one line naming the
setting or the option, the right exit code, and nothing written. Through `digest.cli.main`."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.settings import unknown_variables
from tests.cli.console import digest
from tests.cli.test_bad_input import approved, status, untouched, usage_error, workdir

__all__ = ["approved", "workdir"]  # the fixtures, used by name


@pytest.mark.parametrize("as_of", ["0001-01-10", "0001-01-01", "0001-02-15", "9999-12-01",
                                   "9999-12-31", "1899-12-31T23:59", "2200-01-01"])
@pytest.mark.parametrize("command", [["issue", "plan"], ["demo"]])
def test_an_as_of_outside_the_calendar_is_a_usage_error(
        workdir: Path, capsys: pytest.CaptureFixture[str], as_of: str,
        command: list[str]) -> None:
    """Year 1's January hung the planner; year 9999 overflowed; both are refused at once."""
    line = usage_error(*digest(capsys, *command, "--as-of", as_of)[::2])
    assert "--as-of" in line and "outside 1900-2199" in line, line
    if command == ["issue", "plan"]:  # refused before the database is opened
        assert untouched(workdir)


@pytest.mark.parametrize(("as_of", "words"), [("2027-03-28T01:30", "does not exist"),
                                              ("2026-10-25T01:15", "happens twice")])
def test_an_as_of_the_clocks_skip_or_repeat_is_a_usage_error(
        workdir: Path, capsys: pytest.CaptureFixture[str], as_of: str, words: str) -> None:
    """A local time that is no one instant in Europe/London is not quietly moved an hour."""
    line = usage_error(*digest(capsys, "issue", "plan", "--as-of", as_of)[::2])
    assert "--as-of" in line and words in line and "Europe/London" in line, line
    assert untouched(workdir)


@pytest.mark.parametrize("dry_run", [True, False])
def test_an_unreadable_dkim_key_refuses_the_send_before_anything_is_written(
        approved: None, workdir: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, dry_run: bool) -> None:
    monkeypatch.setenv("DIGEST_DKIM_SELECTOR", "s")
    monkeypatch.setenv("DIGEST_DKIM_PRIVATE_KEY_PATH", str(workdir / "nowhere.pem"))
    code, _, err = digest(capsys, "issue", "send", "2026-09", *(["--dry-run"] * dry_run))
    assert code == 78 and "Traceback" not in err, err
    assert err.startswith("error: setting DIGEST_DKIM_PRIVATE_KEY_PATH: ") and "nowhere.pem" in err
    monkeypatch.delenv("DIGEST_DKIM_SELECTOR")
    monkeypatch.delenv("DIGEST_DKIM_PRIVATE_KEY_PATH")  # (half a DKIM setting is refused)
    after = status(capsys)
    assert after["state"] == "approved" and after["counts"] == {}, after  # no outbox rows


@pytest.mark.parametrize(("variable", "value", "words"), [
    ("DIGEST_SENDER_EMAIL", "nope", "is not an email address"),
    ("DIGEST_EDITORS", "not-an-address", "is not an email address"),
    ("DIGEST_SMTP_PORT", "70000", "less than or equal to 65535"),
    ("DIGEST_BOUNCE_IMAP_PORT", "0", "greater than or equal to 1"),
    ("DIGEST_SEMINAR_WINDOW_WEEKS", "999999999", "less than or equal to 520"),
    ("DIGEST_DATABASE_URL", "postgresql://u@127.0.0.1:abc/db", "port must be a number"),
    ("DIGEST_SITE_URL", "https://x.org:99999/", "port must be a number"),
    ("DIGEST_VAR_DIR", "", "must name a folder"),
    ("DIGEST_SMTP_HOST", "smtp.example.org:587", "the port is a setting of its own"),
    ("DIGEST_SMTP_CA_FILE", "/nonexistent/ca.pem", "no such file or folder"),
    ("DIGEST_DKIM_SELECTOR", "a b", "ASCII letters, digits and hyphens"),
    ("DIGEST_LIST_ID", "<digest.example.org>", "without the angle brackets"),
    ("DIGEST_TEMPLATES_DIR", "/", "has no email/, web/, feeds/ folder"),
    # loaded, but refused by APScheduler when the scheduler builds its triggers
    ("DIGEST_PLAN_SCHEDULE", "day=32", "higher than the maximum value (31)"),
    ("DIGEST_PLAN_SCHEDULE", "fortnight=1", "'fortnight' is not a field"),
    ("DIGEST_SEND_SCHEDULE", "blah", "'blah' is not field=value"),
])
def test_a_bad_setting_is_one_line_and_exit_78(workdir: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch, variable: str,
                                               value: str, words: str) -> None:
    monkeypatch.setenv(variable, value)
    code, _, err = digest(capsys, "scheduler", "jobs")
    assert code == 78 and err.count("\n") == 1, err
    assert err.startswith(f"error: setting {variable}: ") and words in err, err


def test_a_digest_variable_that_is_no_setting_is_a_warning(
        workdir: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_DATABSE_URL", "sqlite:////tmp/typo.db")  # the typo of old
    monkeypatch.setenv("DIGEST_TEST_ANYTHING", "1")  # the test suite's own: not reported
    code, _, err = digest(capsys, "issue", "list")
    assert code == 0
    assert err.splitlines() == [
        "warning: DIGEST_DATABSE_URL is not a setting (a typo?); it is ignored"]


def test_a_typo_in_the_env_file_is_a_warning_too(
        workdir: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A .env is where settings are usually written, and where its typos went unreported."""
    (workdir / ".env").write_text("# relay\nDIGEST_SMTP_HOTS_ENV=relay.example.org\n"
                                  "export DIGEST_SEMINAR_WINDOW_WEKS=4\n"
                                  "DIGEST_SMTP_HOST=relay.example.org\n"
                                  "DIGEST_BOTH_PLACES=1\n", encoding="utf-8")
    monkeypatch.setenv("DIGEST_BOTH_PLACES", "1")
    code, _, err = digest(capsys, "issue", "list")
    assert code == 0
    assert err.splitlines() == [
        "warning: DIGEST_BOTH_PLACES is not a setting (a typo?); it is ignored",
        "warning: DIGEST_SEMINAR_WINDOW_WEKS in .env is not a setting (a typo?); it is ignored",
        "warning: DIGEST_SMTP_HOTS_ENV in .env is not a setting (a typo?); it is ignored"]


@pytest.mark.parametrize(("data", "words"), [
    ("DIGEST_SMTP_HOST=relay\n".encode("utf-16"), "not valid UTF-8 (invalid start byte at "
                                                   "byte 1)"),
    (b"DIGEST_POSTAL_ADDRESS=Caerdydd \xa9 2026\n", "not valid UTF-8"),
], ids=["utf-16", "latin-1"])
def test_an_env_file_that_is_not_utf8_is_one_line_and_exit_78(
        workdir: Path, capsys: pytest.CaptureFixture[str], data: bytes, words: str) -> None:
    """It was `internal error: UnicodeDecodeError` (exit 70) from pydantic-settings."""
    (workdir / ".env").write_bytes(data)
    code, out, err = digest(capsys, "issue", "list")
    assert (code, out, err.count("\n")) == (78, "", 1), err
    assert err.startswith("error: .env: ") and words in err and "save it as UTF-8" in err, err
    assert untouched(workdir)


def test_unknown_variables_knows_every_setting() -> None:
    env = {"DIGEST_SMTP_HOST": "x", "digest_smtp_port": "25", "DIGEST_DEBUG": "1",
           "DIGEST_TEST_PG_URL": "x", "DIGEST_SMTP_HOTS": "x", "PATH": "/bin"}
    assert unknown_variables(env) == ["DIGEST_SMTP_HOTS"]


@pytest.mark.parametrize(("value", "words"), [
    ("bounces+x@example.org", "must not contain '+'"),
    ("b" * 38 + "@example.org", "at most 37 characters"),
    ("bounces", "is not an email address"),
    ("bounces@", "is not an email address"),
])
@pytest.mark.parametrize("flags", [[], ["--dry-run"], ["--test-to", "qa@example.org"]])
def test_a_bounce_address_no_verp_sender_can_be_made_from_refuses_the_send_before_writing(
        approved: None, workdir: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, value: str, words: str, flags: list[str]) -> None:
    monkeypatch.setenv("DIGEST_BOUNCE_ADDRESS", value)
    code, out, err = digest(capsys, "issue", "send", "2026-09", *flags)
    assert code == 78 and err.count("\n") == 1 and out == "", out + err
    assert err.startswith("error: setting DIGEST_BOUNCE_ADDRESS: ") and words in err, err
    monkeypatch.delenv("DIGEST_BOUNCE_ADDRESS")
    after = status(capsys)
    assert after["state"] == "approved" and after["counts"] == {}, after  # no outbox rows
    assert not list((workdir / "var" / "outbox").glob("*.eml"))


def test_a_password_without_a_user_name_is_one_line_that_never_shows_it(
        workdir: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "s3cret-pass")
    code, _, err = digest(capsys, "scheduler", "jobs")
    assert code == 78 and err.count("\n") == 1, err
    assert err.startswith("error: setting DIGEST_SMTP_USERNAME: ") and "s3cret" not in err
