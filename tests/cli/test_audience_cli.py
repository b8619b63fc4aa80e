"""`digest subscribers export|export-person|erase|show` end to end on SQLite."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digest.cli import app
from digest.settings import REPO_ROOT
from tests.conftest import TEST_SECRET_KEY

runner = CliRunner()


@pytest.fixture
def imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory whose database holds the example subscribers."""
    monkeypatch.chdir(tmp_path)
    for key in [k for k in __import__("os").environ if k.startswith("DIGEST_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DIGEST_SECRET_KEY", TEST_SECRET_KEY)  # imports hash addresses with it
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    done = runner.invoke(app, ["subscribers", "import",
                               str(REPO_ROOT / "subscribers" / "example.csv")])
    assert done.exit_code == 0, done.output
    return tmp_path


def test_export_to_a_file_and_to_standard_output(imported: Path) -> None:
    done = runner.invoke(app, ["subscribers", "export", "subs.csv"])
    assert done.exit_code == 0, done.output
    assert "35 subscriber(s) written to subs.csv" in done.output
    rows = list(csv.DictReader((imported / "subs.csv").open(encoding="utf-8")))
    assert len(rows) == 35 and rows[0]["state"] == "active"
    assert rows[0]["consent_source"] == "import"
    stdout = runner.invoke(app, ["subscribers", "export", "--language", "cy"])
    assert stdout.exit_code == 0
    cy = list(csv.DictReader(io.StringIO(stdout.output)))
    assert cy and {r["language"] for r in cy} == {"cy"}


def test_show_export_person_and_erase(imported: Path) -> None:
    email = "eleri.thomas@example.org"
    shown = runner.invoke(app, ["subscribers", "show", email.upper()])
    assert shown.exit_code == 0, shown.output
    assert "why: active since" in shown.output and "subscribed (import) by import" in shown.output
    assert "consent: import from " in shown.output and "example.csv:" in shown.output
    person = runner.invoke(app, ["subscribers", "export-person", email])
    assert person.exit_code == 0
    data = json.loads(person.output)
    assert data["subscriber"]["email"] == email and data["consent"]["source"] == "import"

    refused = runner.invoke(app, ["subscribers", "erase", email], input="n\n")
    assert refused.exit_code == 1 and "nothing erased" in refused.output
    assert runner.invoke(app, ["subscribers", "show", email]).exit_code == 0
    erased = runner.invoke(app, ["subscribers", "erase", email], input="y\n")
    assert erased.exit_code == 0 and "on the suppression list" in erased.output

    gone = runner.invoke(app, ["subscribers", "show", email])
    assert gone.exit_code == 1
    assert "was erased on " in gone.output and "Traceback" not in gone.output
    again = runner.invoke(app, ["subscribers", "import",
                                str(REPO_ROOT / "subscribers" / "example.csv")])
    assert again.exit_code == 1
    assert f"{email}: this address was erased at the person's request" in again.output
    assert "nothing was imported" in again.output
    unknown = runner.invoke(app, ["subscribers", "erase", "nobody@example.org", "--yes"])
    assert unknown.exit_code == 1
    assert unknown.output.strip() == "error: no subscriber with the address nobody@example.org"


def test_every_command_has_an_example() -> None:
    for command in ("export", "export-person", "erase", "show"):
        done = runner.invoke(app, ["subscribers", command, "--help"])
        assert done.exit_code == 0 and f"Example: digest subscribers {command}" in done.output


def test_reports_as_table_json_and_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for key in [k for k in __import__("os").environ if k.startswith("DIGEST_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DIGEST_SECRET_KEY", TEST_SECRET_KEY)  # imports hash addresses with it
    assert runner.invoke(app, ["demo"]).exit_code == 0
    table = runner.invoke(app, ["report", "issue", "2026-09"])
    assert table.exit_code == 0 and "issue report 2026-09" in table.output
    data = json.loads(runner.invoke(app, ["report", "issue", "2026-09", "--json"]).output)
    sent = next(ln for ln in data["tables"]["delivery"] if ln["key"] == "sent")
    assert sent["total"] == 35 and data["facts"]["clicks_counted"] is False
    rows = list(csv.DictReader(io.StringIO(
        runner.invoke(app, ["report", "year", "2026", "--csv"]).output)))
    assert next(r for r in rows if r["table"] == "issues_sent")["total"] == "35"
    assert next(r for r in rows if r["key"] == "2026-12" and
                r["table"] == "month_end_active")["total"] == "35"
    missing = runner.invoke(app, ["report", "issue", "2031-01"])
    assert missing.exit_code == 1 and "no issue '2031-01'" in missing.output
    odd = runner.invoke(app, ["report", "issue", "\udcff"])  # not UTF-8 in argv
    assert (odd.exit_code, odd.output) == (1, "error: no issue '\\udcff'\n")
    both = runner.invoke(app, ["report", "year", "2026", "--json", "--csv"])
    assert both.exit_code == 1 and "choose one" in both.output
    for command in ("issue", "year"):
        assert f"Example: digest report {command}" in runner.invoke(
            app, ["report", command, "--help"]).output


def test_an_idn_address_is_found_in_either_form(imported: Path) -> None:
    (imported / "idn.csv").write_text("email,name,language\nanna@bücher.example,Anna,en\n"
                                      "bob@xn--bcher-kva.example,Bob,cy\n", encoding="utf-8")
    assert runner.invoke(app, ["subscribers", "import", "idn.csv"]).exit_code == 0
    for typed, stored in (("ANNA@XN--BCHER-KVA.EXAMPLE", "anna@xn--bcher-kva.example"),
                          ("Bob@Bücher.example", "bob@xn--bcher-kva.example")):
        shown = runner.invoke(app, ["subscribers", "show", typed])
        assert shown.exit_code == 0, shown.output
        assert shown.output.startswith(f"{stored} (#")
        person = runner.invoke(app, ["subscribers", "export-person", typed])
        assert person.exit_code == 0, person.output
        assert json.loads(person.output)["subscriber"]["email"] == stored
    erased = runner.invoke(app, ["subscribers", "erase", "anna@BÜCHER.example", "--yes"])
    assert erased.exit_code == 0, erased.output
    for typed in ("anna@bücher.example", "anna@xn--bcher-kva.example"):
        gone = runner.invoke(app, ["subscribers", "show", typed])
        assert gone.exit_code == 1 and f"{typed} was erased on " in gone.output, gone.output


def test_an_erasure_that_finds_the_person_erased_meanwhile_is_one_line(
        imported: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from digest.audience import gdpr

    def erased_meanwhile(*_: object) -> gdpr.Erased:
        raise gdpr.NotFound("no subscriber #3 to erase")

    monkeypatch.setattr(gdpr, "erase", erased_meanwhile)
    done = runner.invoke(app, ["subscribers", "erase", "eleri.thomas@example.org", "--yes"])
    assert (done.exit_code, done.output) == (1, "error: no subscriber #3 to erase\n")


def test_an_erased_row_by_its_placeholder_and_an_empty_address(imported: Path) -> None:
    """`show` of an erased row was an internal error (exit 70), and an erasure of it asked to
    confirm, then said there was nobody; an empty address named nothing."""
    done = runner.invoke(app, ["subscribers", "erase", "eleri.thomas@example.org", "--yes"])
    assert done.exit_code == 0, done.output
    sid = done.output.split("#")[1].split(":")[0]
    placeholder = f"erased-{sid}@erased.invalid"
    shown = runner.invoke(app, ["subscribers", "show", placeholder.upper()])
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith(f"{placeholder} (#{sid}) : erased, ")
    assert "erased by cli" in shown.output and "eleri" not in shown.output.lower()
    person = runner.invoke(app, ["subscribers", "export-person", placeholder])
    assert person.exit_code == 0 and json.loads(person.output)["subscriber"]["state"] == "erased"
    again = runner.invoke(app, ["subscribers", "erase", placeholder], input="y\n")
    assert again.exit_code == 1
    assert again.output.startswith(f"error: subscriber #{sid} was already erased on ")
    assert "Erase" not in again.output  # refused before asking
    for command in ("show", "export-person", "erase"):
        yes = ["--yes"] if command == "erase" else []
        empty = runner.invoke(app, ["subscribers", command, "  ", *yes])
        assert (empty.exit_code, empty.output) == (
            1, "error: no address given (it is empty)\n"), command


def test_an_export_never_writes_over_the_database_and_is_whole_or_nothing(
        imported: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before, `export var/digest.db` truncated the database before reading it (every later
    command: "not an SQLite database"), and an export that failed part way left half a file
    in place of the old one."""
    database = imported / "var" / "digest.db"
    before = database.read_bytes()
    (imported / "link.db").symlink_to(database)
    for named in ("var/digest.db", str(database), "link.db", "var/digest.db-wal"):
        done = runner.invoke(app, ["subscribers", "export", named])
        assert done.exit_code == 1, named
        assert done.output == (f"error: {named}: is the database (DIGEST_DATABASE_URL) or its "
                               "journal; nothing was written\n")
    assert database.read_bytes() == before
    assert runner.invoke(app, ["subscribers", "show", "eleri.thomas@example.org"]).exit_code == 0

    old = imported / "old.csv"
    old.write_text("what was there\n", encoding="utf-8")
    old.chmod(0o640)
    from digest.audience import export

    def breaks(*_: object) -> Iterator[str]:
        yield "email,name,language\r\n"
        raise OSError(5, "Input/output error")

    with monkeypatch.context() as patched:
        patched.setattr(export, "stream_csv", breaks)
        failed = runner.invoke(app, ["subscribers", "export", "old.csv"])
    assert failed.exit_code == 1
    assert failed.output == "error: old.csv: Input/output error; nothing was written\n"
    assert old.read_text(encoding="utf-8") == "what was there\n"
    assert sorted(p.name for p in imported.iterdir()) == ["link.db", "old.csv", "var"]
    done = runner.invoke(app, ["subscribers", "export", "old.csv"])
    assert done.exit_code == 0, done.output
    assert old.read_text(encoding="utf-8").startswith("email,name,language,state")
    assert old.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("typed", ["\udcff@example.org", "eleri.thomas@example.org\x1b[2J",
                                   "\u202eeleri.thomas@example.org"])
def test_an_address_that_names_nobody_is_a_usage_error(imported: Path, typed: str) -> None:
    """An address with a byte that is not UTF-8 (a lone surrogate in argv) was an internal
    error at the lookup (exit 70); a control or bidi character is refused the same way."""
    for command in ("show", "export-person", "erase"):
        done = runner.invoke(app, ["subscribers", command, typed, "--yes"][
            :4 if command == "erase" else 3])
        assert done.exit_code == 2, (command, done.output)
        assert "Invalid value for 'email': '" in done.output and " at character " in done.output
        assert "internal error" not in done.output and "Traceback" not in done.output
    assert runner.invoke(app, ["subscribers", "show", "eleri.thomas@example.org"]).exit_code == 0


def test_the_file_an_export_names_is_shown_as_it_is(imported: Path) -> None:
    """The line after an export read the file name as rich markup (`[bold]x.csv` was shown as
    `x.csv`) and wrote its control characters to the terminal raw."""
    for name, shown in (("[bold]x.csv", "[bold]x.csv"), ("e\x1b[31m.csv", "e\\x1b[31m.csv")):
        done = runner.invoke(app, ["subscribers", "export", name])
        assert done.exit_code == 0, done.output
        assert done.output == f"35 subscriber(s) written to {shown}\n"
        assert (imported / name).read_text(encoding="utf-8").startswith("email,")


def test_a_new_export_file_is_the_owner_s_only_whatever_the_umask(
        imported: Path) -> None:
    """The list is personal data: before, a new FILE got the umask's mode (0644 with the usual
    022), readable by every account on the machine. An existing FILE keeps its own mode."""
    old_umask = os.umask(0)
    try:
        done = runner.invoke(app, ["subscribers", "export", "new.csv"])
    finally:
        os.umask(old_umask)
    assert done.exit_code == 0, done.output
    assert (imported / "new.csv").stat().st_mode & 0o777 == 0o600
    kept = imported / "shared.csv"
    kept.write_text("", encoding="utf-8")
    kept.chmod(0o644)
    assert runner.invoke(app, ["subscribers", "export", "shared.csv"]).exit_code == 0
    assert kept.stat().st_mode & 0o777 == 0o644
