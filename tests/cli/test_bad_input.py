"""A user's bad input is a usage error (exit 2) naming the option or argument and the value,
before the command runs: no traceback, no "internal error", nothing written. And every
command that opens the database migrates it first, as `digest db upgrade` would. Through
`digest.cli.main`, the console script itself."""

from __future__ import annotations

import json
import socket
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main

from digest.cli import MAX_PORT, MAX_WORKERS, app
from digest.cli.bounces import MAX_LIMIT
from digest.cli.common import bounded, recorded
from digest.settings import MAX_CONNECTIONS, REPO_ROOT, Settings
from digest.store.models.columns import ACTOR_LENGTH
from digest.tokens import MAX_ID
from tests.cli.console import bare_workdir, digest
from tests.conftest import new_database

HUGE = "99999999999999999999"  # past any C integer: the OverflowError of old


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current directory, a fresh (unmigrated, empty) SQLite database, a good key."""
    bare_workdir(tmp_path, monkeypatch)
    monkeypatch.setenv("DIGEST_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh' / 'digest.db'}")
    new_database(tmp_path / "fresh" / "digest.db")
    return tmp_path


def database(workdir: Path) -> Path:
    return workdir / "fresh" / "digest.db"


def untouched(workdir: Path) -> bool:
    """Nothing was written to the database (it is still the empty file it was made as)."""
    db = database(workdir)
    return db.stat().st_size == 0 and not db.with_name(db.name + "-wal").exists()


def usage_error(code: int, err: str) -> str:
    """The one error line of a usage error (Click prints the usage above it)."""
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err
    lines = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def approved(workdir: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """The demo content, subscribers and an approved issue 2026-09 (file transport)."""
    for args in (["content", "sync", str(REPO_ROOT / "content")],
                 ["subscribers", "import", str(REPO_ROOT / "subscribers" / "example.csv")],
                 ["issue", "plan", "--as-of", "2026-09-07T09:00"],
                 ["issue", "approve", "2026-09"]):
        code, out, err = digest(capsys, *args)
        assert code == 0, out + err
    yield


def status(capsys: pytest.CaptureFixture[str]) -> dict[str, typing.Any]:
    code, out, err = digest(capsys, "issue", "status", "2026-09", "--json")
    assert code == 0, err
    result: dict[str, typing.Any] = json.loads(out)
    return result


# Every whole-number parameter, its name in the error line, and values outside its range.
OUT_OF_RANGE = [
    (["issue", "send", "2026-09", "--connections"], "'--connections'",
     ["-3", "0", str(MAX_CONNECTIONS + 1), HUGE]),
    (["issue", "send", "2026-09", "--dry-run", "--connections"], "'--connections'", [HUGE]),
    (["bounces", "list", "--limit"], "'--limit'", ["-1", "0", str(MAX_LIMIT + 1), HUGE]),
    (["bounces", "raw"], "'record'", ["0", str(MAX_ID + 1), HUGE + "999"]),
    (["serve", "--port"], "'--port'", ["-1", "0", str(MAX_PORT + 1), "99999", HUGE]),
    (["serve", "--workers"], "'--workers'", ["0", "-2", str(MAX_WORKERS + 1), HUGE]),
    (["report", "year"], "'year'", ["1999", "3000", HUGE]),
    (["report", "year", "--"], "'year'", ["-2026"]),  # after --, not taken for an option
    (["bounces", "raw", "--"], "'record'", ["-1"]),
]


@pytest.mark.parametrize(("command", "name", "value"), [
    (command, name, value) for command, name, values in OUT_OF_RANGE for value in values])
def test_a_number_out_of_range_is_a_usage_error_naming_it_and_the_value(
        workdir: Path, capsys: pytest.CaptureFixture[str], command: list[str], name: str,
        value: str) -> None:
    code, out, err = digest(capsys, *command, value)
    line = usage_error(code, err)
    assert line.startswith(f"Error: Invalid value for {name}: {value} is not in the range ")
    assert out == ""
    assert untouched(workdir)  # refused before anything was opened


@pytest.mark.parametrize("value", ["x", "1.5", "1e3", "1_000", "", "0x10", "\u0663"])
@pytest.mark.parametrize("command", [["bounces", "list", "--limit"], ["bounces", "raw"],
                                     ["serve", "--port"], ["issue", "send", "1", "--connections"]])
def test_what_is_not_a_whole_number_is_a_usage_error(
        workdir: Path, capsys: pytest.CaptureFixture[str], command: list[str],
        value: str) -> None:
    code, _, err = digest(capsys, *command, value)
    assert "is not a whole number" in usage_error(code, err)
    assert untouched(workdir)


def test_a_number_too_long_for_python_is_still_one_short_line() -> None:
    with pytest.raises(typer.BadParameter) as refused:
        bounded(1, 10)("9" * 10_000)  # int() refuses more than 4300 digits
    assert "is not in the range 1 to 10" in str(refused.value)
    assert len(str(refused.value)) < 100


def test_the_bounds_themselves_are_accepted() -> None:
    parse = bounded(1, MAX_ID)
    assert (parse("1"), parse(str(MAX_ID)), parse(" +7 "), parse("007"), parse(20)) == (
        1, MAX_ID, 7, 7, 20)


def test_every_whole_number_parameter_has_a_range_that_names_the_value() -> None:
    """The class, not the cases: a new integer option without bounds fails here."""
    def params(command: typing.Any, path: list[str]) -> Iterator[tuple[str, typing.Any]]:
        for name, sub in getattr(command, "commands", {}).items():
            yield from params(sub, [*path, name])
        for param in getattr(command, "params", []):
            yield " ".join([*path, param.name]), param

    found = []
    for where, param in params(typer.main.get_command(app), []):
        annotation = param.type_descriptor.annotation
        if annotation is not int and not (isinstance(annotation, types.UnionType)
                                          and int in typing.get_args(annotation)):
            continue
        found.append(where)
        assert param.min is not None and param.max is not None, where
        assert param.type_descriptor.parameter_info.parser is not None, where  # bounded()
    assert sorted(found) == ["bounces list limit", "bounces raw record",
                             "issue send connections", "report year year", "serve port",
                             "serve workers"]


def test_connections_agree_with_the_setting() -> None:
    field = Settings.model_fields["smtp_connections"]
    assert [m.le for m in field.metadata if hasattr(m, "le")] == [MAX_CONNECTIONS]


def test_negative_connections_write_nothing_and_send_nothing(
        approved: None, capsys: pytest.CaptureFixture[str], workdir: Path) -> None:
    for value in ("-3", "0"):
        code, _, err = digest(capsys, "issue", "send", "2026-09", "--connections", value)
        usage_error(code, err)
        after = status(capsys)
        assert after["state"] == "approved" and after["counts"] == {}  # no outbox rows
    assert not (workdir / "var" / "outbox").exists() or not any(
        (workdir / "var" / "outbox").iterdir())
    code, out, err = digest(capsys, "issue", "send", "2026-09", "--dry-run",
                            "--connections", str(MAX_CONNECTIONS))
    assert code == 0 and "dry run, nothing sent" in out, err
    code, out, err = digest(capsys, "issue", "send", "2026-09", "--connections", "2")
    assert code == 0 and "0 left" in out, err
    assert status(capsys)["state"] == "sent"


def test_a_limit_and_a_record_in_range_work(workdir: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = digest(capsys, "bounces", "list", "--limit", str(MAX_LIMIT))
    assert code == 0 and out == "nothing recorded\n"
    code, _, err = digest(capsys, "bounces", "raw", str(MAX_ID))
    assert code == 1 and err == f"error: no raw message kept for #{MAX_ID} (unknown, or purged)\n"


@pytest.mark.parametrize("command", [
    ["issue", "show", "2026-09"], ["issue", "status", "2026-09"],
    ["issue", "status", "2026-09", "--json"], ["issue", "approve", "2026-09"],
    ["issue", "cancel", "2026-09", "--reason", "x"], ["issue", "replan", "2026-09"],
    ["issue", "preview", "2026-09"], ["issue", "send", "2026-09", "--dry-run"],
    ["report", "issue", "2026-09"], ["issue", "list"], ["bounces", "list"]])
def test_a_fresh_database_is_migrated_by_every_command(
        workdir: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    """A database that is there but empty (an empty file) is migrated, as `db upgrade` would;
    one that is not there is refused (tests/cli/test_no_database.py)."""
    code, out, err = digest(capsys, *command)
    assert "no such table" not in err and "Traceback" not in err
    if command[1] in ("list",):
        assert code == 0, err
    else:
        assert (code, err) == (1, "error: no issue '2026-09'\n"), out
    assert database(workdir).stat().st_size > 0
    assert digest(capsys, "db", "upgrade")[0] == 0


def test_a_bad_as_of_to_replan_changes_nothing(workdir: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = digest(capsys, "issue", "replan", "2026-09", "--as-of", "soon")
    assert "--as-of" in usage_error(code, err)
    assert untouched(workdir)


@pytest.mark.parametrize(("host", "says"), [
    ("999.1.1.1", "'999.1.1.1': "),
    ("no-such-host.invalid", "'no-such-host.invalid': "),
    ("a" * 70 + ".example", "is not a host name or an IP address"),
    ("", "empty"),
    ("192.0.2.1", "'192.0.2.1' is not an address of this machine"),  # TEST-NET-1
])
def test_a_bad_host_is_one_line_naming_it(workdir: Path, capsys: pytest.CaptureFixture[str],
                                          host: str, says: str) -> None:
    code, out, err = digest(capsys, "serve", "--host", host, "--port", "8000")
    line = usage_error(code, err)
    assert line.startswith("Error: Invalid value for --host: ") and says in line
    assert "uvicorn" not in err.lower() and out == ""
    assert untouched(workdir)


def test_a_port_in_use_is_one_line(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = digest(capsys, "serve", "--port", str(port))
    assert code == 1 and err.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert len(err.splitlines()) == 1 and untouched(workdir)


def test_uvicorn_failing_to_start_ends_with_an_error_line(
        workdir: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    def refuse(*_: object, **__: object) -> None:
        raise SystemExit(3)  # what uvicorn does when it cannot bind or start the app

    monkeypatch.setattr(uvicorn, "run", refuse)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = digest(capsys, "serve", "--port", str(port))
    assert code == 1 and err.splitlines()[-1] == (
        f"error: could not serve on 127.0.0.1:{port} (uvicorn's log above says why)")


RECORDED = [  # every option whose text goes into a history, with the rest of its command
    ["issue", "approve", "2026-09", "--as"],
    ["issue", "approve", "2026-09", "--force", "--reason"],
    ["issue", "cancel", "2026-09", "--reason", "why", "--as"],
    ["issue", "cancel", "2026-09", "--as", "Siân", "--reason"],
    ["issue", "replan", "2026-09", "--as"],
    ["subscribers", "erase", "a@example.org", "--yes", "--as"],
]


@pytest.mark.parametrize(("value", "says"), [
    ("", "must not be empty"), ("   ", "must not be empty"),
    ("x" * 501, "at most"), ("Siân\x1b[2J", "control character"),
    ("Siân\u202e", "bidirectional control"), ("two\nlines", "line break"),
])
@pytest.mark.parametrize("command", RECORDED)
def test_a_blank_long_or_hidden_name_or_reason_is_refused_before_anything_opens(
        workdir: Path, capsys: pytest.CaptureFixture[str], command: list[str], value: str,
        says: str) -> None:
    code, out, err = digest(capsys, *command, value)
    assert says in usage_error(code, err)
    assert out == "" and untouched(workdir)


def test_a_name_at_the_column_limit_is_kept_trimmed() -> None:
    assert recorded(ACTOR_LENGTH)(" " + "a" * ACTOR_LENGTH + " ") == "a" * ACTOR_LENGTH
    with pytest.raises(typer.BadParameter):
        recorded(ACTOR_LENGTH)("a" * (ACTOR_LENGTH + 1))
