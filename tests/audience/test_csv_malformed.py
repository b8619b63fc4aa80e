"""Malformed subscriber files, each beside a good line: one `file:line: field: what` per bad
line, and nothing written, on both databases (PostgreSQL refuses a NUL in text outright)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select

from digest.audience.csv_import import MAX_NAME, ImportInvalid, import_file
from digest.store.models import Subscriber

HEADER = "email,name,language\n"
GOOD = "good@example.org,Gwen,cy\n"

# (the bad line or lines, the field named, words in the message)
CASES = [
    ('nul@example.org,Si\x00n,cy\n', "name", "control character (U+0000) at character 3"),
    ('esc@example.org,"\x1b[31mRed",en\n', "name", "U+001B"),
    ('cr@example.org,"Two\r\nLines",en\n', "name", "U+000D"),
    ('lf@example.org,"Two\nLines",en\n', "name", "U+000A"),
    ("tab@example.org,Tab\there,both\n", "name", "U+0009"),
    ("del@example.org,Del\x7f,cy\n", "name", "U+007F"),
    ("c1@example.org,Next\x85Line,cy\n", "name", "U+0085"),
    ("ls@example.org,Line\u2028Sep,cy\n", "name", "U+2028"),
    ("rlo@example.org,Siân\u202enaJ,cy\n", "name", "a bidirectional control (U+202E) at "
     "character 5"),
    ("rli@example.org,\u2067Gwen,en\n", "name", "U+2067"),
    ("alm@example.org,Rhys\u061c,en\n", "name", "U+061C"),
    ("lrm\u200e@example.org,X,cy\n", "email", "U+200E"),
    ("nul\x00@example.org,X,cy\n", "email", "U+0000"),
    ("bell@example.org,X,c\x07y\n", "language", "U+0007"),
    (f"long@example.org,{'W' * (MAX_NAME + 1)},cy\n", "name", "longer than 200 characters"),
    (f"huge@example.org,{'ŵ' * 100_000},en\n", "name", "(100,000)"),
    ("a@example.org,\"unclosed,cy\n", "line", ""),
]


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "list.csv"
    path.write_text(HEADER + GOOD + body, encoding="utf-8", newline="")
    return path


@pytest.mark.parametrize(("line", "field", "words"), CASES,
                         ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_a_bad_field_is_refused_and_nothing_is_imported(
        session: Session, tmp_path: Path, line: str, field: str, words: str) -> None:
    path = write(tmp_path, line)
    with pytest.raises(ImportInvalid) as refused:
        import_file(session, path)
    [error] = refused.value.errors
    assert (error.line, error.field) == (3, field) and words in error.message
    assert str(error).startswith(f"{path}:3: {field}: ")
    assert len(str(error)) < 300  # one readable line, not the 100,000 characters
    session.rollback()
    assert session.exec(select(Subscriber)).all() == []


def test_a_name_of_exactly_the_limit_is_kept_whole(session: Session, tmp_path: Path) -> None:
    name = "Ŵ" * MAX_NAME
    import_file(session, write(tmp_path, f"max@example.org,{name},cy\n"))
    session.commit()
    got = session.exec(select(Subscriber).where(Subscriber.email == "max@example.org")).one()
    assert got.name == name


def test_skip_invalid_takes_the_good_lines_only(session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "".join(line for line, _, _ in CASES[:8]))
    report = import_file(session, path, skip_invalid=True)
    session.commit()
    assert report.added == 1 and len(report.errors) == 8
    assert [s.email for s in session.exec(select(Subscriber))] == ["good@example.org"]


@pytest.mark.parametrize(("header", "words"), [
    ("email,email,language", "column(s) given twice: email"),
    ("email,na\x00me,language", "unknown column(s): 'na\\x00me'"),
    ("email,,language", "unknown column(s): ''"),
    ("email;name;language", "missing column(s): email, language"),
])
def test_a_bad_header_is_refused(session: Session, tmp_path: Path, header: str,
                                 words: str) -> None:
    path = tmp_path / "list.csv"
    path.write_text(f"{header}\n{GOOD}", encoding="utf-8")
    with pytest.raises(ImportInvalid) as refused:
        import_file(session, path)
    [error] = refused.value.errors
    assert (error.line, error.field) == (1, "header") and words in error.message


def test_an_international_domain_is_stored_as_smtp_needs_it(session: Session,
                                                            tmp_path: Path) -> None:
    import_file(session, write(tmp_path, "sian@Bücher.de,Siân,cy\ngwen@Tŷ-Hywel.cymru,Gwen,en\n"))
    session.commit()
    emails = {s.email for s in session.exec(select(Subscriber))}
    assert emails == {"good@example.org", "sian@xn--bcher-kva.de", "gwen@xn--t-hywel-rvb.cymru"}
    assert all(e.isascii() for e in emails)


@pytest.mark.parametrize(("column", "value"), [("state", "active\x01"),
                                               ("updated_at", "2026-01-01\x1b[2J"),
                                               ("consent_source", "import\u202e")])
def test_an_unsafe_character_in_an_export_column_is_refused_not_dropped(
        session: Session, tmp_path: Path, column: str, value: str) -> None:
    """An export's columns are read past, but a line with a control character in one of them
    was dropped without a word (exit 0, "0 added"): now it is a bad line naming the column."""
    path = tmp_path / "export.csv"
    path.write_text(f"email,name,language,{column}\ngood@example.org,Gwen,cy,\n"
                    f"ctl@example.org,Ctl,cy,{value}\n", encoding="utf-8", newline="")
    with pytest.raises(ImportInvalid) as refused:
        import_file(session, path)
    [error] = refused.value.errors
    assert (error.line, error.field) == (3, column)
    assert error.message.startswith("contains ") and "at character" in error.message
    session.rollback()
    assert session.exec(select(Subscriber)).all() == []
