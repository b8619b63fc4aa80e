"""Catalogs, plural forms and dates in Welsh and English."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir

from digest.i18n import event_time, long_date, month_label, translations
from digest.settings import REPO_ROOT

WELSH_MONTHS = ["Ionawr", "Chwefror", "Mawrth", "Ebrill", "Mai", "Mehefin", "Gorffennaf",
                "Awst", "Medi", "Hydref", "Tachwedd", "Rhagfyr"]


@pytest.mark.parametrize(("n", "reviews", "items"), [
    (0, "Dim adolygiadau newydd", "Dim eitemau newyddion"),  # zero: "Dim" + plural noun
    (1, "1 adolygiad newydd", "1 eitem newyddion"),  # one
    (2, "2 adolygiad newydd", "2 eitem newyddion"),  # two
    (3, "3 adolygiad newydd", "3 eitem newyddion"),  # few
    (4, "4 adolygiad newydd", "4 eitem newyddion"),  # other: singular noun after a numeral
    (6, "6 adolygiad newydd", "6 eitem newyddion"),  # many
    (7, "7 adolygiad newydd", "7 eitem newyddion"),
])
def test_welsh_plural_forms(n: int, reviews: str, items: str) -> None:
    t = translations("cy")
    assert t.ngettext("{n} new review", "{n} new reviews", n).format(n=n) == reviews
    assert t.ngettext("{n} news item", "{n} news items", n).format(n=n) == items


def test_english_plural_forms() -> None:
    t = translations("en")
    assert [t.ngettext("{n} new review", "{n} new reviews", n).format(n=n) for n in (0, 1, 2)] \
        == ["0 new reviews", "1 new review", "2 new reviews"]


def _source_dirs(path: str) -> bool:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return not name.startswith((".", "_")) and name not in {"node_modules", "tests", "var"}


def test_welsh_catalog_is_complete() -> None:
    """Every string in the templates and code has a Welsh translation (all plural forms)."""
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    method_map = [("digest/**.py", "python"), ("templates/**.j2", "jinja2")]
    found = {msg[2] if isinstance(msg[2], str) else msg[2][0]
             for msg in extract_from_dir(REPO_ROOT, method_map, keywords=keywords,
                                         directory_filter=_source_dirs)}
    assert len(found) >= 10
    catalog = translations("cy")
    missing = [m for m in found if catalog.gettext(m) == m and catalog.ngettext(m, m, 5) == m]
    assert missing == []


@pytest.mark.parametrize("month", range(1, 13))
def test_welsh_month_names(month: int) -> None:
    assert month_label(date(2026, month, 1), "cy") == f"{WELSH_MONTHS[month - 1]} 2026"


def test_dates_and_event_times() -> None:
    assert long_date(date(2026, 9, 15), "cy") == "15 Medi 2026"
    assert long_date(date(2026, 9, 15), "en") == "15 September 2026"
    tz = ZoneInfo("Europe/London")
    start = datetime(2026, 12, 1, 13, tzinfo=UTC)
    assert event_time(start, None, tz, "cy") == "Dydd Mawrth 1 Rhagfyr 2026, 13:00"
    assert event_time(datetime(2026, 7, 1, 13, tzinfo=UTC), None, tz, "en") \
        == "Wednesday 1 July 2026, 14:00"
