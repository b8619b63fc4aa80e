"""A DIGEST_DATABASE_URL that names no database (a typo) is one line naming the setting and
the path or server, exit 78, and nothing is created: only `digest db upgrade` (and the demo)
makes a database. Through `digest.cli.main`, the console script itself."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.cli.console import bare_workdir, digest
from tests.conftest import PG_ADMIN_URL, empty_pg_database, new_database
from tests.nobody import digest_as_nobody, shared_folder

HINT = "(create it with `digest db upgrade`)"
# Every command that opens the database; none of them may create one.
COMMANDS = [
    ["issue", "list"], ["issue", "status", "2026-09"], ["issue", "status", "2026-09", "--json"],
    ["issue", "show", "2026-09"], ["issue", "plan", "--as-of", "2026-09-07"],
    ["issue", "approve", "2026-09"], ["issue", "send", "2026-09", "--dry-run"],
    ["issue", "preview", "2026-09"], ["report", "issue", "2026-09"], ["report", "year", "2026"],
    ["subscribers", "export"], ["subscribers", "show", "gwen@example.org"],
    ["subscribers", "export-person", "gwen@example.org"], ["subscribers", "import", "x.csv"],
    ["content", "sync"], ["bounces", "list"], ["bounces", "raw", "1"], ["bounces", "purge"],
    ["bounces", "process", "-"], ["scheduler", "jobs"], ["scheduler", "--once"],
]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current directory, a good key, the demo's CSV and content to hand."""
    bare_workdir(tmp_path, monkeypatch)
    (tmp_path / "x.csv").write_text("email,name,language\ngwen@example.org,Gwen,cy\n",
                                    encoding="utf-8")
    return tmp_path


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The one error line of a command refused for its database setting (exit 78)."""
    code, out, err = digest(capsys, *args)
    assert code == 78, (code, out, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("error: setting DIGEST_DATABASE_URL: "), err
    return err.strip()


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_mistyped_sqlite_path_is_refused_and_nothing_is_created(
        workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        command: list[str]) -> None:
    monkeypatch.setenv("DIGEST_DATABASE_URL", "sqlite:///vra/digset.db")
    before = tree(workdir)
    line = refused(capsys, *command)
    assert line == (f"error: setting DIGEST_DATABASE_URL: no database at "
                    f"{workdir / 'vra' / 'digset.db'} {HINT}")
    assert tree(workdir) == before  # no file, no folder


def test_the_default_database_is_not_created_by_a_read_either(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(capsys, "issue", "list")
    assert f"no database at {workdir / 'var' / 'digest.db'} {HINT}" in line
    assert not (workdir / "var").exists()


def test_serve_refuses_a_missing_database_before_listening(
        workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DIGEST_DATABASE_URL", "sqlite:///vra/digset.db")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for workers in ("1", "2"):
        line = refused(capsys, "serve", "--port", str(port), "--workers", workers)
        assert "no database at" in line
    assert not (workdir / "vra").exists()


def test_db_upgrade_creates_the_database_and_its_folders(
        workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DIGEST_DATABASE_URL", "sqlite:///new/place/digest.db")
    code, out, err = digest(capsys, "db", "upgrade")
    assert code == 0 and "at revision" in out, err
    assert (workdir / "new" / "place" / "digest.db").stat().st_size > 0
    code, out, err = digest(capsys, "issue", "list")  # and then it is there for the others
    assert code == 0, err


@pytest.mark.parametrize("command", [["issue", "list"], ["db", "upgrade"]], ids=" ".join)
@pytest.mark.parametrize(("make", "says"), [
    ("folder", "{path} is a folder, not an SQLite database file"),
    ("text", "{path} is not an SQLite database (it does not start with SQLite's header)"),
    ("fifo", "{path} is a FIFO (named pipe), not an SQLite database file"),
    ("dangling", "{path}: is a symbolic link to gone.db, which does not exist"),
    ("under-a-file", "{path}: no such file or folder (a part of the path is a file)"),
])
def test_a_path_that_is_no_sqlite_database_is_one_line(
        workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        command: list[str], make: str, says: str) -> None:
    path = workdir / "db"
    if make == "folder":
        path.mkdir()
    elif make == "text":
        path.write_text("DIGEST_DATABASE_URL=sqlite:///var/digest.db\n", encoding="utf-8")
    elif make == "fifo":
        os.mkfifo(path)
    elif make == "dangling":
        path.symlink_to("gone.db")
    else:
        path.write_text("", encoding="utf-8")
        path = path / "digest.db"
    monkeypatch.setenv("DIGEST_DATABASE_URL", f"sqlite:///{path}")
    before = tree(workdir)
    line = refused(capsys, *command)
    assert line.endswith(says.format(path=path)), line
    assert tree(workdir) == before


def test_a_device_is_no_database(workdir: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_DATABASE_URL", "sqlite:////dev/zero")
    assert refused(capsys, "issue", "list").endswith(
        "/dev/zero is a character device, not an SQLite database file")


def test_an_unreadable_database_file_is_one_line(
        workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with shared_folder() as folder:
        path = new_database(folder / "digest.db")
        path.chmod(0)
        monkeypatch.setenv("DIGEST_DATABASE_URL", f"sqlite:///{path}")
        code, out, err = digest_as_nobody(folder, "issue", "list")
    assert (code, out) == (78, ""), err
    assert err == (f"error: setting DIGEST_DATABASE_URL: {path}: cannot be read: permission "
                   "denied\n")


def test_an_empty_file_is_an_empty_database_and_is_migrated(
        workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SQLite takes an empty file for an empty database: it is there, so it is used."""
    path = new_database(workdir / "digest.db")
    monkeypatch.setenv("DIGEST_DATABASE_URL", f"sqlite:///{path}")
    code, _, err = digest(capsys, "issue", "list")
    assert code == 0 and path.stat().st_size > 0, err


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["issue", "list"], ["db", "upgrade"], ["bounces", "list"],
                                     ["bounces", "process", "-"]], ids=" ".join)
def test_a_postgresql_database_the_server_does_not_have_is_one_line(
        workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        command: list[str]) -> None:
    with empty_pg_database() as url:  # the server is there (or the test is skipped)
        pass
    import sqlalchemy as sa

    server = sa.engine.make_url(PG_ADMIN_URL)
    missing = sa.engine.make_url(url).render_as_string(hide_password=False)
    monkeypatch.setenv("DIGEST_DATABASE_URL", missing)
    name = sa.engine.make_url(url).database
    line = refused(capsys, *command)
    assert line == (f'error: setting DIGEST_DATABASE_URL: no database "{name}" on the '
                    f"PostgreSQL server {server.host}:{server.port or 5432} (create it there, "
                    f"e.g. `createdb {name}`, then run `digest db upgrade`)")
