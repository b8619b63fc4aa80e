"""Catalogs, plural forms and dates in Welsh and English."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from digest.i18n import LOCALE_DIR, event_time, long_date, month_label, translations
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


KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
# Each catalog and the extraction mapping that says which files are its own.
DOMAINS = {"digest": "babel.cfg", "editor": "babel-editor.cfg"}


def _source_dirs(path: str) -> bool:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return not name.startswith((".", "_")) and name not in {"node_modules", "tests", "var"}


def extracted(cfg: str) -> dict[str, set[str]]:
    """File -> the strings marked for translation in it, for the files `cfg` maps."""
    with (REPO_ROOT / cfg).open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, cfg)  # type: ignore[no-untyped-call]
    found: dict[str, set[str]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
            REPO_ROOT, method_map, options_map, keywords=KEYWORDS,
            directory_filter=_source_dirs):
        found.setdefault(filename, set()).add(message if isinstance(message, str)
                                              else message[0])
    return found


def welsh_catalog(domain: str) -> Catalog:
    with (LOCALE_DIR / "cy" / "LC_MESSAGES" / f"{domain}.po").open("rb") as fh:
        return read_po(fh, locale="cy", domain=domain)


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_welsh_catalog_is_complete(domain: str) -> None:
    """Every string in the templates and code has a Welsh translation (all plural forms) in
    its own catalog, and none is marked fuzzy (a fuzzy entry is not used)."""
    found = set().union(*extracted(DOMAINS[domain]).values())
    assert len(found) >= 10
    catalog = welsh_catalog(domain)
    done = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog
            if m.id and "fuzzy" not in m.flags and m.string
            and (isinstance(m.string, str) or all(m.string))}
    assert sorted(found - done) == []


def test_every_file_with_strings_belongs_to_one_catalog() -> None:
    """The editors' files are the editor catalog's only, and the digest catalog has the rest."""
    public, editors = extracted(DOMAINS["digest"]), extracted(DOMAINS["editor"])
    assert set(public) & set(editors) == set()
    assert {"digest/web/audience.py", "digest/web/login.py",  # editor.py's notices are codes
            "templates/web/editor_issue.html.j2", "templates/web/login.html.j2"} <= set(editors)
    assert {"templates/web/base.html.j2", "templates/email/block.mjml.j2"} <= set(public)


def test_the_editor_catalog_falls_back_to_the_digest_one() -> None:
    editor = translations("cy", "editor")
    assert editor.gettext("Side by side") == "Ochr yn ochr"  # its own
    assert editor.gettext("Social Work Research Digest") == (
        "Crynodeb Ymchwil Gwaith Cymdeithasol")  # the site's name, from `digest`
    assert translations("cy").gettext("Side by side") == "Side by side"  # not the other way
    assert editor.ngettext("{variant}: {n} image without alt text",
                           "{variant}: {n} images without alt text", 2).format(
        variant="cy", n=2) == "cy: 2 ddelwedd heb destun amgen"


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
