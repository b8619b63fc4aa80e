"""A user's mistake is one line naming the setting, file or server, with a documented exit
code; --debug (or DIGEST_DEBUG=1) shows the traceback instead. Through `digest.cli.main`, the
console script itself."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.cli import main
from digest.cli.errors import Exit, describe
from digest.settings import REPO_ROOT, Settings
from digest.store.db import HEAD
from tests.conftest import TEST_SECRET_KEY, new_database
from tests.smtp_server import free_port


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("DIGEST_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DIGEST_SECRET_KEY", TEST_SECRET_KEY)  # imports hash addresses with it
    new_database(tmp_path / "var" / "digest.db")  # the default DIGEST_DATABASE_URL's
    return tmp_path


def digest(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the console script; its exit code, stdout and stderr."""
    with pytest.raises(SystemExit) as done:
        main(list(args))
    captured = capsys.readouterr()
    code = done.value.code
    return (code if isinstance(code, int) else 0), captured.out, captured.err


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_a_bad_setting_names_the_variable(workdir: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SMTP_PORT", "abc")
    code, _, err = digest(capsys, "issue", "list")
    assert code == Exit.CONFIG and Exit.CONFIG.value == 78
    assert one_line(err) == ("error: setting DIGEST_SMTP_PORT: must be a whole number in ASCII "
                             "digits (e.g. 10) (got 'abc')")


def test_a_refused_setting_never_shows_a_password(workdir: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The line said `(got 'postgresql://u:hunter2@h:abc/db')`, password and all."""
    from digest.cli.errors import shown_value

    monkeypatch.setenv("DIGEST_DATABASE_URL", "postgresql://u:hunter2@h:abc/db")
    code, _, err = digest(capsys, "issue", "list")
    assert code == Exit.CONFIG and "hunter2" not in err
    assert "(got 'postgresql://u:***@h:abc/db')" in one_line(err)
    assert shown_value("smtp_password", "hunter2") == "***"  # a secret is never shown
    assert shown_value("bounce_imap_password", "x") == "***"
    assert shown_value("smtp_host", "mail.example") == "mail.example"
    assert shown_value("site_url", "https://a:b@h.example/") == "https://a:***@h.example/"


def test_a_bad_setting_in_dot_env_too(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / ".env").write_text("DIGEST_BATCH_SIZE=0\n", encoding="utf-8")
    code, _, err = digest(capsys, "db", "upgrade")
    assert code == 78 and one_line(err).startswith("error: setting DIGEST_BATCH_SIZE: ")


def test_a_database_with_no_server_names_the_server_not_the_password(
        workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("DIGEST_DATABASE_URL", f"postgresql://digest:s3cret@127.0.0.1:{port}/x")
    code, _, err = digest(capsys, "issue", "list")
    line = one_line(err)
    assert code == Exit.DATABASE and Exit.DATABASE.value == 69
    assert line.startswith(f"error: database postgresql://digest:***@127.0.0.1:{port}/x: ")
    assert "refused" in line.lower() and "s3cret" not in err


@pytest.mark.parametrize("url", ["nonsense", "mysql://x@localhost/db"])
def test_a_database_url_that_cannot_be_used(workdir: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DIGEST_DATABASE_URL", url)
    code, _, err = digest(capsys, "db", "upgrade")
    assert code == 78 and one_line(err).startswith("error: setting DIGEST_DATABASE_URL: ")


@pytest.mark.parametrize("command", [["db", "upgrade"], ["issue", "list"],
                                     ["subscribers", "export"], ["scheduler", "jobs"]])
def test_a_database_migrated_by_a_newer_version_is_one_line(
        workdir: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    assert digest(capsys, "db", "upgrade")[0] == 0
    with sqlite3.connect(workdir / "var" / "digest.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    code, out, err = digest(capsys, *command)
    assert code == Exit.CONFIG and out == ""
    assert one_line(err) == (
        f"error: database sqlite:///var/digest.db: schema revision '0099' is not one this "
        f"version of digest knows (its newest is '{HEAD}'): a newer digest migrated it. Run "
        "that version, or point DIGEST_DATABASE_URL at another database; nothing was changed")
    with sqlite3.connect(workdir / "var" / "digest.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0099",)]


def test_a_missing_csv_is_named_not_a_bad_line(workdir: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = digest(capsys, "subscribers", "import", "missing.csv")
    assert code == 1 and one_line(err) == "error: missing.csv: no such file or folder"
    assert "line" not in err


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_csv_that_is_not_a_readable_file(workdir: Path, capsys: pytest.CaptureFixture[str],
                                           kind: str) -> None:
    (workdir / "x.csv").mkdir() if kind == "folder" else None
    if kind == "file":
        (workdir / "x.csv").write_bytes(b"email,name,language\n")
        (workdir / "x.csv").chmod(0)
        if os.access(workdir / "x.csv", os.R_OK):  # root reads anything: use a folder then
            (workdir / "x.csv").unlink()
            (workdir / "x.csv").mkdir()
    code, _, err = digest(capsys, "subscribers", "import", "x.csv")
    assert code == 1 and one_line(err).startswith("error: x.csv: ")


def test_preview_into_a_file_names_it(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert digest(capsys, "content", "sync", str(REPO_ROOT / "content"))[0] == 0
    assert digest(capsys, "issue", "plan", "--as-of", "2026-09-07T09:00")[0] == 0
    (workdir / "taken").write_text("a file, not a folder", encoding="utf-8")
    code, _, err = digest(capsys, "issue", "preview", "2026-09", "--out-dir", "taken")
    assert code == 1 and one_line(err) == "error: taken: is a file, not a folder"


def test_debug_shows_the_traceback(workdir: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_DATABASE_URL", f"postgresql://x@127.0.0.1:{free_port()}/x")
    with pytest.raises(sa.exc.OperationalError):
        main(["--debug", "issue", "list"])
    monkeypatch.setenv("DIGEST_DEBUG", "1")
    with pytest.raises(sa.exc.OperationalError):
        main(["issue", "list"])


def test_a_read_only_sqlite_database_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "digest.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    engine = sa.create_engine("sqlite://", creator=lambda: sqlite3.connect(
        f"file:{path}?mode=ro", uri=True))
    with pytest.raises(sa.exc.OperationalError) as refused, engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    settings = Settings(_env_file=None, database_url=f"sqlite:///{path}")  # type: ignore[call-arg]
    line, code = describe(refused.value, settings)
    assert (line, code) == (
        f"database sqlite:///{path}: attempt to write a readonly database (SQLite writes "
        "digest.db, and digest.db-wal and digest.db-shm beside it: this user needs write "
        f"access to them and to the folder {tmp_path})", Exit.DATABASE)


def test_a_sqlite_database_in_a_folder_it_cannot_open_names_the_folder(tmp_path: Path) -> None:
    """The folder the database should be in is a file: SQLite says only "unable to open
    database file" (and for a folder this user may not write in, "readonly database")."""
    (tmp_path / "var").write_bytes(b"")
    path = tmp_path / "var" / "digest.db"
    with pytest.raises(sa.exc.OperationalError) as refused:
        sa.create_engine(f"sqlite:///{path}").connect()
    settings = Settings(_env_file=None, database_url=f"sqlite:///{path}")  # type: ignore[call-arg]
    line, code = describe(refused.value, settings)
    assert code == Exit.DATABASE and line.startswith(
        f"database sqlite:///{path}: unable to open database file (SQLite writes digest.db, ")
    assert line.endswith(f"to the folder {tmp_path / 'var'})")


def test_a_bug_is_one_line_that_points_at_debug() -> None:
    line, code = describe(KeyError("x"), None)
    assert code == Exit.INTERNAL and line == (
        "internal error: KeyError: 'x' (run again with --debug for the traceback)")


@pytest.mark.parametrize(("name", "value"), [("DIGEST_TIMEZONE", "Mars/Base"),
                                             ("DIGEST_SITE_URL", "ftp://digest.example.org")])
def test_a_setting_used_only_later_is_refused_at_the_start(
        workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    code, _, err = digest(capsys, "issue", "list")
    assert code == 78 and one_line(err).startswith(f"error: setting {name}: ")
