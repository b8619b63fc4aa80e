"""The issue and yearly reports on a generated year of data (time-machine), as values, CSV
and JSON."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.audience import reports
from digest.issue import service
from digest.settings import Settings
from tests.audience.yeardata import Ledger, generate_year


@pytest.fixture
def year(engine: Engine, db_settings: Settings, tmp_path: Path) -> Ledger:
    """2026, generated (about ten seconds per database)."""
    return generate_year(engine, db_settings.model_copy(update={"click_counts": True}),
                         tmp_path)


def _by_lang(line: reports.Line) -> Counter[str]:
    return Counter({k: v for k, v in (("cy", line.cy), ("en", line.en), ("both", line.both))
                    if v})


def test_the_year_report_matches_the_ledger(year: Ledger, session: Session,
                                            db_settings: Settings) -> None:
    report = reports.year_report(session, db_settings, 2026)
    active = report.tables["month_end_active"]
    assert [ln.key for ln in active.lines] == [f"2026-{m:02d}" for m in range(1, 13)]
    for line in active.lines:
        assert _by_lang(line) == +year.month_end[line.key], line.key
    for line in report.tables["signups"].lines:
        assert _by_lang(line) == +year.signups[line.key], line.key
    for line in report.tables["left"].lines:
        assert _by_lang(line) == +year.left[line.key], line.key
    assert report.facts["active_at_start"]["total"] == sum(year.at_start.values()) == 40
    end = year.month_end["2026-12"]
    assert report.facts["active_at_end"]["total"] == sum(end.values())
    assert report.facts["welsh_or_bilingual_share_at_end"] == round(
        (end["cy"] + end["both"]) / sum(end.values()), 4)
    assert report.facts["issues_sent"] == 12
    issues = report.tables["issues_sent"]
    for line in issues.lines:
        assert _by_lang(line) == +year.sent[line.key], line.key
    assert report.facts["reach"] == sum(sum(c.values()) for c in year.sent.values())


def test_the_issue_report_matches_the_ledger(year: Ledger, session: Session,
                                             db_settings: Settings) -> None:
    settings = db_settings.model_copy(update={"click_counts": True})
    for period in ("2026-03", "2026-06", "2026-11"):
        report = reports.issue_report(session, settings, service.get_issue(session, period))
        delivery = report.tables["delivery"]
        assert _by_lang(delivery.line("sent")) == +year.sent[period]
        assert _by_lang(delivery.line("failed")) == +year.bounced[period]  # each a 5xx
        assert _by_lang(delivery.line("bounced")) == +year.bounced[period]
        assert _by_lang(delivery.line("unsubscribed")) == +year.unsubscribed[period]
        assert _by_lang(delivery.line("complaints")) == +year.complaints[period]
        clicks = {(int(ln.key.split(":")[0]) - 1, lang): getattr(ln, lang)  # keys count from 1
                  for ln in report.tables["clicks"].lines for lang in ("cy", "en")
                  if getattr(ln, lang)}
        assert clicks == dict(year.clicks[period])
        assert report.facts["send_started"].startswith(f"{period}-06T09:00")


def test_csv_and_json_carry_the_same_values(year: Ledger, session: Session,
                                            db_settings: Settings) -> None:
    report = reports.year_report(session, db_settings, 2026)
    rows = list(csv.DictReader(io.StringIO(reports.to_csv(report))))
    march = next(r for r in rows if r["table"] == "month_end_active" and r["key"] == "2026-03")
    line = report.tables["month_end_active"].line("2026-03")
    assert (int(march["cy"]), int(march["en"]), int(march["both"]), int(march["total"])) == (
        line.cy, line.en, line.both, line.total)
    data = json.loads(reports.to_json(report))
    assert data["facts"] == json.loads(json.dumps(report.facts))
    assert data["tables"]["month_end_active"][2] == {
        "key": "2026-03", "cy": line.cy, "en": line.en, "both": line.both, "total": line.total}
    assert {r["table"] for r in rows} == {"month_end_active", "signups", "left", "issues_sent"}


def test_an_issue_never_sent_reports_zeros(session: Session, db_settings: Settings) -> None:
    from tests.factories import AS_OF, add_sample_content, add_subscribers

    add_sample_content(session)
    add_subscribers(session)
    issue = service.plan(session, db_settings, AS_OF).issue
    assert issue is not None
    report = reports.issue_report(session, db_settings, issue)
    assert all(ln.total == 0 for ln in report.tables["delivery"].lines)
    assert "clicks" not in report.tables and report.facts["send_started"] is None
