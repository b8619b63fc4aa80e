"""Subscriber CSV import: validation with line numbers, all-or-nothing, idempotent re-import."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from digest.audience.csv_import import ImportInvalid, LineError, Row, import_file, read_csv
from digest.cli import app
from digest.settings import REPO_ROOT
from digest.store.db import make_engine, upgrade
from digest.store.models import Language, Subscriber, SubscriberState, now_utc
from tests.conftest import DATA as TEST_DATA
from tests.conftest import TEST_SECRET_KEY, new_database

DATA = TEST_DATA / "subscribers"
GOOD = DATA / "good.csv"  # BOM, odd header case, spaces, a blank line, a repeat, an empty row
MIXED = DATA / "mixed.csv"  # good lines 2, 7, 9; bad lines 3, 4, 5, 6, 8
MIXED_BAD = [(3, "email"), (4, "email"), (5, "language"), (6, "line"), (8, "email")]


def write(tmp_path: Path, text: str | bytes, name: str = "list.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def located(errors: list[LineError]) -> list[tuple[int, str]]:
    return [(e.line, e.field) for e in errors]


def people(session: Session) -> dict[str, tuple[str, Language, SubscriberState]]:
    session.expire_all()
    return {s.email: (s.name, s.language, s.state) for s in session.exec(select(Subscriber))}


def test_read_good_file_normalises(tmp_path: Path) -> None:
    rows, notes, errors = read_csv(GOOD)
    assert errors == []
    assert rows == [
        Row(2, "sian.evans@example.org", "Siân Evans", Language.BOTH),
        Row(3, "gwyn@example.org", "Gwŷn ap Siôn", Language.CY),
        Row(4, "rhys.price@example.org", "Rhys Price", Language.EN),
    ]
    assert notes == ["line 6: gwyn@example.org repeats line 3; ignored"]


def test_repeat_with_different_language_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "email,name,language\nA@example.org,A,cy\nx@example.org,X,en\n"
                           "a@EXAMPLE.org,A,en\n")
    rows, _, errors = read_csv(path)
    assert [r.email for r in rows] == ["a@example.org", "x@example.org"]
    assert located(errors) == [(4, "email")]
    assert "already on line 2" in errors[0].message
    assert str(errors[0]).startswith(f"{path}:4: email: ")


def test_every_bad_line_is_reported(tmp_path: Path) -> None:
    rows, _, errors = read_csv(MIXED)
    assert located(errors) == MIXED_BAD
    assert [r.line for r in rows] == [2, 7, 9]
    assert all(str(e).startswith(f"{MIXED}:{e.line}: {e.field}: ") for e in errors)


@pytest.mark.parametrize(("line", "field", "words"), [
    ("not-an-address,Nobody,en", "email", "@-sign"),
    ("a b@example.org,Nobody,en", "email", "invalid characters"),
    (",Empty Address,en", "email", "empty"),
    ("  ,Blank Address,cy", "email", "empty"),
    ("a@example.org,A,fr", "language", "'fr' is not one of cy, en, both"),
    ("a@example.org,A,", "language", "not one of"),
    ("a@example.org,A", "language", "missing: fewer fields than columns (2 fields, the "
                                    "header has 3: email,name,language)"),
    ("a@example.org", "name", "missing: fewer fields than columns (1 field,"),
    ("a@example.org,A,en,extra", "line", "more fields than columns (4 fields, the header has "
                                         "3: email,name,language); a value with a comma"),
    ("a@example.org,A,en,", "line", "more fields than columns (4 fields"),
])
def test_bad_line_names_line_and_field(tmp_path: Path, line: str, field: str,
                                       words: str) -> None:
    path = write(tmp_path, f"email,name,language\nok@example.org,OK,cy\n{line}\n")
    rows, _, errors = read_csv(path)
    assert [r.email for r in rows] == ["ok@example.org"]
    assert located(errors) == [(3, field)]
    assert words in errors[0].message


@pytest.mark.parametrize(("header", "words"), [
    ("email,name", "missing column(s): language"),
    ("name,language", "missing column(s): email"),
    ("email,name,language,phone", "unknown column(s): phone"),
    ("e-mail,name,language", "missing column(s): email; unknown column(s): e-mail"),
    ("", "missing column(s): email, language"),
])
def test_bad_header_is_reported_at_line_1(tmp_path: Path, header: str, words: str) -> None:
    path = write(tmp_path, f"{header}\na@example.org,A,cy\n" if header else "")
    rows, _, errors = read_csv(path)
    assert rows == [] and located(errors) == [(1, "header")]
    assert words in errors[0].message


def test_non_utf8_file_names_the_line(tmp_path: Path) -> None:
    text = "email,name,language\na@example.org,A,cy\nb@example.org,Siân,en\n"
    path = write(tmp_path, text.encode("latin-1"))
    rows, _, errors = read_csv(path)
    assert rows == [] and located(errors) == [(3, "file")]
    assert "UTF-8" in errors[0].message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as missing:  # the CLI names the file (tests/cli)
        read_csv(tmp_path / "nope.csv")
    assert missing.value.filename == str(tmp_path / "nope.csv")


def test_import_is_all_or_nothing(session: Session) -> None:
    with pytest.raises(ImportInvalid) as info:
        import_file(session, MIXED)
    assert located(info.value.errors) == MIXED_BAD
    session.commit()
    assert people(session) == {}


def test_skip_invalid_imports_the_good_lines(session: Session) -> None:
    report = import_file(session, MIXED, skip_invalid=True)
    session.commit()
    assert report.added == 3 and located(report.errors) == MIXED_BAD
    assert people(session) == {
        "angharad.jones@example.org": ("Angharad Jones", Language.CY, SubscriberState.ACTIVE),
        "sian.evans@example.org": ("Siân Evans", Language.BOTH, SubscriberState.ACTIVE),
        "dafydd.williams@example.org": ("Dafydd Williams", Language.CY, SubscriberState.ACTIVE),
    }


def test_skip_invalid_with_no_good_line_still_fails(session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "email,name,language\nnope,N,cy\n")
    with pytest.raises(ImportInvalid):
        import_file(session, path, skip_invalid=True)
    assert people(session) == {}


def test_reimport_is_idempotent_and_updates_changes(session: Session, tmp_path: Path) -> None:
    first = import_file(session, GOOD)
    session.commit()
    assert (first.added, first.updated, first.unchanged) == (3, 0, 0)
    assert first.duplicates == ["line 6: gwyn@example.org repeats line 3; ignored"]
    stamps = {s.email: s.updated_at for s in session.exec(select(Subscriber))}
    again = import_file(session, GOOD)
    session.commit()
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    assert {s.email: s.updated_at for s in session.exec(select(Subscriber))} == stamps
    changed = write(tmp_path, "email,name,language\nGWYN@example.org,Gwŷn ap Siôn,en\n")
    third = import_file(session, changed)
    session.commit()
    assert (third.added, third.updated, third.unchanged) == (0, 1, 0)
    after = people(session)
    assert after["gwyn@example.org"] == ("Gwŷn ap Siôn", Language.EN, SubscriberState.ACTIVE)
    assert after["rhys.price@example.org"][1] is Language.EN and len(after) == 3


@pytest.mark.parametrize("state", [SubscriberState.UNSUBSCRIBED, SubscriberState.BOUNCED])
def test_import_never_reactivates(session: Session, tmp_path: Path,
                                  state: SubscriberState) -> None:
    session.add(Subscriber(email="gwyn@example.org", name="Gwyn", language=Language.CY,
                           state=state))
    session.commit()
    report = import_file(session, GOOD)
    session.commit()
    assert (report.added, report.kept_inactive, report.updated) == (2, 1, 0)
    assert people(session)["gwyn@example.org"] == ("Gwyn", Language.CY, state)


EXPORT_HEADER = "email,name,language,state,subscribed_at,updated_at,consent_source,consent_at\n"


def test_an_exports_people_who_are_not_active_are_not_added(session: Session,
                                                            tmp_path: Path) -> None:
    """An export moved to a new database (or imported after a restore) added everyone in it
    as active: the unsubscribed, the bounced, the unconfirmed, even an erased row's state
    was read past. Now only an active (or empty) state is imported; any other word is a bad
    line naming the column."""
    lines = [("left@example.org", "Unsubscribed"), ("gone@example.org", "bounced"),
             ("asked@example.org", "pending"), ("erased-7@erased.invalid", "erased"),
             ("here@example.org", "active"), ("old@example.org", "")]
    path = write(tmp_path, EXPORT_HEADER + "".join(
        f"{email},Name,cy,{state},2026-01-01T00:00:00+00:00,,import,\n"
        for email, state in lines))
    report = import_file(session, path)
    session.commit()
    assert (report.added, report.not_active, report.errors) == (2, 4, [])
    assert report.summary().endswith(", 4 not active in the file (not imported)")
    assert {e: s for e, (_, _, s) in people(session).items()} == {
        "here@example.org": SubscriberState.ACTIVE, "old@example.org": SubscriberState.ACTIVE}

    bad = write(tmp_path, EXPORT_HEADER + "new@example.org,N,en,activ,,,,\n", "bad.csv")
    with pytest.raises(ImportInvalid) as refused:
        import_file(session, bad)
    assert [str(e) for e in refused.value.errors] == [
        f"{bad}:2: state: 'activ' is not one of pending, active, unsubscribed, bounced, "
        "erased (or empty)"]
    session.rollback()
    assert "new@example.org" not in people(session)


def test_example_list_imports_cleanly(session: Session) -> None:
    report = import_file(session, REPO_ROOT / "subscribers" / "example.csv")
    session.commit()
    assert report.errors == [] and report.added == 35
    assert report.duplicates == ["line 37: angharad.jones@example.org repeats line 2; ignored"]
    everyone = people(session)
    assert len(everyone) == 35
    assert {lang for _, lang, _ in everyone.values()} == set(Language)
    assert {state for _, _, state in everyone.values()} == {SubscriberState.ACTIVE}
    assert everyone["sian.evans@example.org"][:2] == ("Siân Evans", Language.BOTH)
    assert everyone["david.wilkins@example.org"][0] == "Wilkins, David"


def test_cli_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{new_database(tmp_path / 'cli.db')}"
    env = {"DIGEST_DATABASE_URL": url, "DIGEST_VAR_DIR": str(tmp_path / "var"),
           "DIGEST_SECRET_KEY": TEST_SECRET_KEY}  # imports hash addresses (suppression list)
    engine = make_engine(url)

    def count() -> int:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(Subscriber))
                       .scalar_one())

    bad = CliRunner().invoke(app, ["subscribers", "import", str(MIXED)], env=env)
    assert bad.exit_code == 1, bad.output
    flat = "".join(bad.output.split())  # rich wraps long lines at the console width
    for line, field in MIXED_BAD:
        assert f"{MIXED}:{line}:{field}:" in flat
    assert "nothingwasimported" in flat
    assert count() == 0
    good = CliRunner().invoke(app, ["subscribers", "import", str(MIXED), "--skip-invalid"],
                              env=env)
    assert good.exit_code == 0, good.output
    assert "3 added, 0 updated, 0 unchanged, 0 left unsubscribed/bounced, 5 skipped" in good.output
    assert f"skipped{MIXED}:3:email:" in "".join(good.output.split())
    assert count() == 3
    engine.dispose()


def test_a_bad_last_line_of_a_big_file_writes_nothing(session: Session, tmp_path: Path) -> None:
    body = "".join(f"p{i}@example.org,Person {i},{('cy', 'en', 'both')[i % 3]}\n"
                   for i in range(30_000))
    path = write(tmp_path, "email,name,language\n" + body + "last@example.org,Last,fr\n")
    with pytest.raises(ImportInvalid) as info:
        import_file(session, path)
    assert located(info.value.errors) == [(30_002, "language")]
    session.commit()
    assert people(session) == {}
    path.write_text("email,name,language\n" + body, encoding="utf-8")
    assert import_file(session, path).added == 30_000
    session.commit()
    assert len(people(session)) == 30_000


@pytest.mark.parametrize("path", [GOOD, MIXED, REPO_ROOT / "subscribers" / "example.csv"])
def test_the_streamed_import_reports_as_read_csv(session: Session, path: Path) -> None:
    rows, notes, errors = read_csv(path)
    report = import_file(session, path, skip_invalid=True)
    assert (report.added, report.duplicates, report.errors) == (len(rows), notes, errors)
    session.commit()
    assert set(people(session)) == {r.email for r in rows}


def test_a_write_during_the_load_does_not_fail_the_import(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    engine = make_engine(url)
    upgrade(engine)
    path = write(tmp_path, "email,name,language\n" + "".join(
        f"p{i}@example.org,P,cy\n" for i in range(2_000)))
    from digest.audience import csv_import

    rows = csv_import.parse(path)

    def parse_and_race(_: Path) -> Iterator[csv_import.Item]:
        for number, item in enumerate(rows):
            if number == 1_000:  # another writer commits while the file is being staged
                with engine.begin() as conn:
                    conn.execute(sa.insert(Subscriber.__table__).values(  # type: ignore[attr-defined]
                        email="web@example.org", name="W", language="en", state="active",
                        created_at=now_utc(), updated_at=now_utc()))
            yield item

    with Session(engine) as session:
        original = csv_import.parse
        csv_import.parse = parse_and_race  # type: ignore[assignment]
        try:
            assert import_file(session, path).added == 2_000
        finally:
            csv_import.parse = original  # type: ignore[assignment]
        session.commit()
        assert len(people(session)) == 2_001
    engine.dispose()


def test_a_short_line_is_refused_even_when_only_the_name_is_missing(
        session: Session, tmp_path: Path) -> None:
    """A line a comma short is shifted: its values may sit under the wrong columns."""
    path = write(tmp_path, "email,language,name\nok@example.org,cy,OK\nshort@example.org,en\n")
    with pytest.raises(ImportInvalid) as info:
        import_file(session, path)
    assert [str(e) for e in info.value.errors] == [
        f"{path}:3: name: missing: fewer fields than columns (2 fields, the header has 3: "
        "email,language,name)"]
    session.commit()
    assert people(session) == {}


def test_bom_crlf_and_one_address_in_two_cases_and_forms(session: Session,
                                                          tmp_path: Path) -> None:
    text = ("\ufeffemail,name,language\r\nAnna@Bücher.example,Anna,cy\r\n"
            "anna@XN--BCHER-KVA.example,Anna,cy\r\nBob@Example.org,\"Bob, Jr\",en\r\n"
            "\r\nbob@example.org,\"Bob, Jr\",EN\r\n")
    path = write(tmp_path, text.encode("utf-8"))
    rows, notes, errors = read_csv(path)
    assert (rows, errors) == ([Row(2, "anna@xn--bcher-kva.example", "Anna", Language.CY),
                               Row(4, "bob@example.org", "Bob, Jr", Language.EN)], [])
    assert notes == ["line 3: anna@xn--bcher-kva.example repeats line 2; ignored",
                     "line 6: bob@example.org repeats line 4; ignored"]
    report = import_file(session, path)
    assert (report.added, report.duplicates) == (2, notes)
    session.commit()
    assert set(people(session)) == {"anna@xn--bcher-kva.example", "bob@example.org"}


def test_one_address_in_two_forms_with_different_names_imports_nothing(
        session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "email,name,language\r\nanna@bücher.example,Anna,cy\r\n"
                           "x@example.org,X,en\r\nANNA@xn--bcher-kva.example,Ann,cy\r\n")
    with pytest.raises(ImportInvalid) as info:
        import_file(session, path)
    assert [str(e) for e in info.value.errors] == [
        f"{path}:4: email: anna@xn--bcher-kva.example is already on line 2 with a different "
        "name or language"]
    session.commit()
    assert people(session) == {}


def test_a_file_name_that_is_not_utf8_is_recorded_readably(session: Session,
                                                           tmp_path: Path) -> None:
    """The consent record and history keep the file's name: one with a byte that is not
    UTF-8 (held by Python as a lone surrogate) was an internal error at the insert (exit 70),
    and a line break in it went into the record as it was."""
    from digest.audience import history

    path = write(tmp_path, "email,name,language\nfile@example.org,F,cy\n",
                 os.fsdecode(b"list\xff\n\x1b[2J.csv"))
    assert import_file(session, path).added == 1
    session.commit()
    sub = session.exec(select(Subscriber)).one()
    consent = history.consent_of(session, sub.id or 0)
    assert consent is not None and consent.import_file == f"{tmp_path}/list\ufffd  [2J.csv"
    [event] = history.events_of(session, sub.id or 0)
    assert event.detail == f"{consent.import_file}:2"
